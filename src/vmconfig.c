/* vmconfig.c - guest memory and kernel command line (see vmconfig.h). */
#include <ktpack/vmconfig.h>

#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int kt_vm_cmdline(const char *base, const char *const *tokens, size_t n,
		  char **out, struct kt_err *err)
{
	size_t len = strlen(base), off;
	char *s;

	/* Counted as it is joined below: a blank before every piece but the first. */
	for (size_t i = 0; i < n; i++)
		if (__builtin_add_overflow(len, strlen(tokens[i]) + (len != 0), &len))
			return kt_err_set(err, -E2BIG, "kernel command line too long");
	if (len + 1 > KT_CMDLINE_MAX)
		return kt_err_set(err, -E2BIG,
				  "kernel command line is %zu bytes, over the kernel's limit of %d",
				  len, KT_CMDLINE_MAX - 1);
	s = malloc(len + 1);
	if (!s)
		return kt_err_set(err, -ENOMEM, "cannot render the kernel command line");
	off = strlen(base);
	memcpy(s, base, off);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(tokens[i]);

		if (off)
			s[off++] = ' ';
		memcpy(s + off, tokens[i], l);
		off += l;
	}
	s[off] = '\0';
	*out = s;
	return 0;
}
