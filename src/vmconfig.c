/* vmconfig.c - guest memory and kernel command line (see vmconfig.h). */
#include <ktpack/vmconfig.h>

#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ktpack/wprof.h>

int kt_derive_test_memory_mib(const struct kt_memory_opts *o, uint64_t *mib,
			      bool *below_floor, struct kt_err *err)
{
	uint64_t m;

	if (below_floor)
		*below_floor = false;
	if (!o->cpus)
		return kt_err_set(err, -EINVAL, "the CPU count must be at least 1");
	if (o->override_mib) {
		if (below_floor)
			*below_floor = o->override_mib < o->wprof_floor_mib;
		*mib = o->override_mib;
		return 0;
	}
	if (__builtin_mul_overflow((uint64_t)o->cpus, KT_VM_MEMORY_PER_CPU_MIB, &m))
		return kt_err_set(err, -EOVERFLOW, "memory for %u CPUs overflows",
				  o->cpus);
	if (m < KT_VM_MIN_MEMORY_MIB)
		m = KT_VM_MIN_MEMORY_MIB;
	if (m < o->requested_mib)
		m = o->requested_mib;
	*mib = kt_apply_wprof_memory_floor(m, o->wprof_floor_mib);
	return 0;
}

int kt_cmdline_tokens_check(const char *const *tokens, size_t n, const char *what,
			    struct kt_err *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *why = kt_token_why(tokens[i], 0);

		if (why)
			return kt_err_set(err, -EINVAL, "%s %zu '%s' %s", what, i + 1,
					  tokens[i], why);
	}
	return 0;
}

int kt_parse_size(const char *s, uint64_t *bytes)
{
	static const struct kt_unit units[] = {
		{ "", 0 }, { "k", 10 }, { "kib", 10 }, { "m", 20 }, { "mib", 20 },
		{ "g", 30 }, { "gib", 30 }, { "t", 40 }, { "tib", 40 },
	};

	return kt_parse_scaled(s, units, KT_ARRAY_SIZE(units), bytes);
}

int kt_parse_size_mib(const char *s, uint64_t *mib)
{
	static const struct kt_unit units[] = {
		{ "", 20 }, { "k", 10 }, { "kib", 10 }, { "m", 20 }, { "mib", 20 },
		{ "g", 30 }, { "gib", 30 }, { "t", 40 }, { "tib", 40 },
	};
	uint64_t bytes;
	int r = kt_parse_scaled(s, units, KT_ARRAY_SIZE(units), &bytes);

	if (r)
		return r;
	/* a size in KiB rounds up to whole MiB */
	*mib = bytes / (1ULL << 20) + (bytes % (1ULL << 20) != 0);
	return 0;
}

int kt_vm_cmdline(const char *base, const char *const *tokens, size_t n,
		  char **out, struct kt_err *err)
{
	const char **v = calloc(n + 1, sizeof(*v));
	size_t len, k = 0;
	int r;

	if (!v)
		return kt_err_set(err, -ENOMEM, "cannot render the kernel command line");
	if (*base)
		v[k++] = base;
	for (size_t i = 0; i < n; i++)
		v[k++] = tokens[i];
	r = kt_join("", v, k, ' ', out, &len);
	free(v);
	if (r)
		return kt_err_set(err, r, "kernel command line too long");
	if (len + 1 > KT_CMDLINE_MAX) {
		free(*out);
		*out = NULL;
		return kt_err_set(err, -E2BIG,
				  "kernel command line is %zu bytes, over the kernel's limit of %d",
				  len, KT_CMDLINE_MAX - 1);
	}
	return 0;
}
