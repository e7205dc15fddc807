/* wprof.c - wprof configuration, command-line token and memory floor (see
 * wprof.h).  Reads only the environment; the arguments are untrusted text. */
#include <ktpack/wprof.h>

#include "internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* wprof 0.3's ring buffer size when --ringbuf-size is absent. */
#define KT_WPROF_DEFAULT_RINGBUF_BYTES (16ULL << 20)
#define KT_WPROF_DEFAULT_DURATION_MS 1000

struct kt_wprof_config {
	char *path;
	char **args;		/* NULL-terminated */
	size_t nargs;
};

static const char *const kt_default_args[] = {
	"-d", "500", "-e", "sched", "--ringbuf-size=256000", "--ringbuf-cnt=8",
	NULL,
};

const char *const *kt_wprof_default_args(size_t *n)
{
	*n = KT_ARRAY_SIZE(kt_default_args) - 1;
	return kt_default_args;
}

int kt_wprof_config__new(const char *path, struct kt_wprof_config **out)
{
	struct kt_wprof_config *c = calloc(1, sizeof(*c));
	const char *const *def;
	size_t n;

	if (!c)
		return -ENOMEM;
	def = kt_wprof_default_args(&n);
	c->path = path ? strdup(path) : NULL;
	c->args = kt_strv_dup(def, n);
	c->nargs = n;
	if ((path && !c->path) || !c->args) {
		kt_wprof_config__free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

int kt_wprof_config__from_env(struct kt_wprof_config **out, struct kt_err *err)
{
	const char *p = getenv(KT_WPROF_PATH_ENV);
	int r;

	if (!p || !*p)
		return kt_err_set(err, -ENOENT,
				  "%s is not set: no wprof was installed (set it to a wprof binary)",
				  KT_WPROF_PATH_ENV);
	r = kt_wprof_config__new(p, out);
	if (r)
		return kt_err_set(err, r, "cannot load the wprof config: %s",
				  strerror(-r));
	return 0;
}

void kt_wprof_config__free(struct kt_wprof_config *c)
{
	if (!c)
		return;
	free(c->path);
	kt_strv_free(c->args);
	free(c);
}

int kt_wprof_config__set_args(struct kt_wprof_config *c,
			      const char *const *args, size_t n,
			      struct kt_err *err)
{
	char **v;
	int r;

	uint64_t ms;

	r = kt_wprof_args_check(args, n, err);
	/* A duration wprof would refuse fails here, not in the guest. */
	if (!r)
		r = kt_wprof_duration_ms(args, n, &ms, err);
	if (r)
		return r;
	v = kt_strv_dup(args, n);
	if (!v)
		return kt_err_set(err, -ENOMEM, "cannot copy the wprof args");
	kt_strv_free(c->args);
	c->args = v;
	c->nargs = n;
	return 0;
}

const char *kt_wprof_config__path(const struct kt_wprof_config *c)
{
	return c->path;
}

const char *const *kt_wprof_config__args(const struct kt_wprof_config *c,
					 size_t *n)
{
	*n = c->nargs;
	return (const char *const *)c->args;
}

/* ---- the command-line token ---------------------------------------------- */

int kt_wprof_args_check(const char *const *args, size_t n, struct kt_err *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *why = kt_token_why(args[i], KT_WPROF_ARG_SEP);

		if (why)
			return kt_err_set(err, -EINVAL,
					  "wprof argument %zu '%s' %s", i + 1,
					  args[i], why);
	}
	return 0;
}

int kt_wprof_args_cmdline(const char *const *args, size_t n, char **out,
			  struct kt_err *err)
{
	int r;

	r = kt_wprof_args_check(args, n, err);
	if (r)
		return r;
	r = kt_join(KT_WPROF_ARGS_KEY "=", args, n, KT_WPROF_ARG_SEP, out, NULL);
	if (r)
		return kt_err_set(err, r, "cannot render the wprof args: %s", strerror(-r));
	return 0;
}

/* ---- reading wprof's options ---------------------------------------------- */

/*
 * The value of the last occurrence of an option, in any of the spellings
 * argp accepts: "--long=V", "--long V", and for a short one "-xV", "-x V".
 * NULL when absent; -EINVAL when it ends the list without a value.
 */
static int wprof_opt_value(const char *const *args, size_t n, char shrt,
		      const char *lng, const char **val, const char **spelled)
{
	size_t ll = strlen(lng);

	*val = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *a = args[i];
		bool next = false;

		if (a[0] == '-' && a[1] == '-' && !strncmp(a + 2, lng, ll)) {
			if (a[2 + ll] == '=')
				*val = a + 3 + ll;
			else if (a[2 + ll] == '\0')
				next = true;
			else
				continue;
		} else if (shrt && a[0] == '-' && a[1] == shrt) {
			if (a[2])
				*val = a + 2;
			else
				next = true;
		} else if (!strcmp(a, "--")) {
			break;
		} else {
			continue;
		}
		*spelled = a;
		if (next) {
			if (i + 1 >= n)
				return -EINVAL;
			*val = args[++i];
		}
	}
	return 0;
}

/* "256000" (KB), "4096b", "512kb", "256mb", "1gb"; any case. */
static int wprof_parse_size(const char *s, uint64_t *bytes)
{
	static const struct kt_unit units[] = {
		{ "", 10 }, { "b", 0 }, { "kb", 10 }, { "mb", 20 }, { "gb", 30 },
	};
	int r = kt_parse_scaled(s, units, KT_ARRAY_SIZE(units), bytes);

	return r ? r : *bytes ? 0 : -EINVAL;
}

static int wprof_round_pow2(uint64_t v, uint64_t *out)
{
	uint64_t p = 1;

	while (p < v) {
		if (p > (UINT64_MAX >> 1))
			return -ERANGE;
		p <<= 1;
	}
	*out = p;
	return 0;
}

int kt_wprof_memory_floor_mib(const char *const *args, size_t n,
			      unsigned cpus, uint64_t *mib, struct kt_err *err)
{
	const char *v, *sp = "--ringbuf-size";
	uint64_t sz = KT_WPROF_DEFAULT_RINGBUF_BYTES, cnt, total;

	if (!cpus)
		return kt_err_set(err, -EINVAL, "the CPU count must be at least 1");
	if (wprof_opt_value(args, n, 0, "ringbuf-size", &v, &sp))
		return kt_err_set(err, -EINVAL, "wprof option '%s' needs a value", sp);
	if (v && (wprof_parse_size(v, &sz) || wprof_round_pow2(sz, &sz)))
		return kt_err_set(err, -EINVAL,
				  "wprof option '%s': invalid ring buffer size '%s'",
				  sp, v);

	sp = "--ringbuf-cnt";
	if (wprof_opt_value(args, n, 0, "ringbuf-cnt", &v, &sp))
		return kt_err_set(err, -EINVAL, "wprof option '%s' needs a value", sp);
	if (v) {
		if (kt_parse_u64(v, &cnt) || !cnt)
			return kt_err_set(err, -EINVAL,
					  "wprof option '%s': invalid ring buffer count '%s'",
					  sp, v);
	} else {
		cnt = ((uint64_t)cpus + 7) / 8;
		if (cnt < KT_WPROF_MIN_RINGBUF_CNT)
			cnt = KT_WPROF_MIN_RINGBUF_CNT;
	}

	if (__builtin_mul_overflow(sz, cnt, &total))
		return kt_err_set(err, -ERANGE, "wprof ring buffers too large");
	*mib = total / (1ULL << 20) + (total % (1ULL << 20) != 0);
	return 0;
}

int kt_wprof_duration_ms(const char *const *args, size_t n, uint64_t *ms,
			 struct kt_err *err)
{
	const char *v, *sp = "-d";

	if (wprof_opt_value(args, n, 'd', "dur-ms", &v, &sp))
		return kt_err_set(err, -EINVAL, "wprof option '%s' needs a value", sp);
	if (!v) {
		*ms = KT_WPROF_DEFAULT_DURATION_MS;
		return 0;
	}
	if (kt_parse_u64(v, ms) || !*ms)
		return kt_err_set(err, -EINVAL,
				  "wprof option '%s': invalid duration '%s'", sp, v);
	return 0;
}
