/* cli.c - subcommands of ktpack.  Each parses its options from one table,
 * calls the library and reports: one line per error on stderr, exit 0 on
 * success, 1 on a runtime failure, 2 on a usage error. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "common.h"
#include "elfdeps.h"
#include "initramfs.h"
#include "ldcache.h"
#include "extract.h"
#include "vmconfig.h"
#include "wprof.h"

struct kt_cmd {
	const char *name;
	int (*fn)(const struct kt_cmd *c, int argc, char **argv);
	bool needs_env;		/* install_env runs before it */
	const char *usage;	/* grammar, then what it does */
};

static int _error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int _usage_error(const struct kt_cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "ktpack: <problem>", one line; returns the runtime-failure code. */
static int _error(const char *fmt, ...)
{
	va_list ap;

	fputs("ktpack: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return KT_EXIT_FAIL;
}

static int _usage_error(const struct kt_cmd *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ktpack %s: ", c->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'ktpack %s --help')\n", c->name);
	return KT_EXIT_USAGE;
}

static void _warn_cb(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ktpack: warning: %s\n", msg);
}

int kt_cli_install_env(void)
{
	struct kt_install_opts o = { .sz = sizeof(o), .warn = _warn_cb };
	struct kt_err err = { 0 };

	if (kt_install_env(&kt_embedded_blobs, &o, &err)) {
		_error("%s", err.msg);
		return -1;
	}
	return 0;
}

/* ---- shared option handling ----------------------------------------------- */

static int _parse_num(const struct kt_cmd *c, const char *opt, const char *v,
		      uint64_t min, uint64_t max, uint64_t *out)
{
	if (kt_parse_u64(v, out) || *out < min || *out > max)
		return _usage_error(c, "invalid %s '%s': expected a number from %" PRIu64 " to %" PRIu64,
				    opt, v, min, max);
	return 0;
}

/* What --wprof and --wprof-args select. */
struct kt_wprof_sel {
	bool on;
	const char *args;	/* NULL: the default args */
};

/*
 * Loads the wprof config from KTSTR_WPROF_PATH (exported by install_env)
 * with the selected args.  Says which make variable embeds wprof when the
 * binary carries none.
 */
static int _load_wprof(const struct kt_wprof_sel *w, struct kt_wprof_config **out)
{
	const struct kt_blob *b = kt_blob_table__find_env(&kt_embedded_blobs,
							  KT_WPROF_PATH_ENV);
	struct kt_wprof_config *cfg = NULL;
	struct kt_err err = { 0 };
	char **argv = NULL;
	size_t n;
	int r;

	if (!getenv(KT_WPROF_PATH_ENV) && b && !kt_blob__embedded(b))
		return _error("wprof is not embedded: rebuild with 'make %s=/path/to/wprof' or set %s",
			      b->make_var, KT_WPROF_PATH_ENV);
	r = kt_wprof_config__from_env(&cfg, &err);
	if (r)
		return _error("%s", err.msg);
	if (w->args) {
		r = kt_split_ws(w->args, &argv, &n);
		if (r) {
			_error("cannot split --wprof-args: %s", strerror(-r));
			goto out;
		}
		r = kt_wprof_config__set_args(cfg, (const char *const *)argv, n, &err);
		if (r) {
			_error("%s", err.msg);
			goto out;
		}
	}
	*out = cfg;
	cfg = NULL;
out:
	kt_strv_free(argv);
	kt_wprof_config__free(cfg);
	return r ? KT_EXIT_FAIL : 0;
}

/* Runs getopt_long; --help prints the usage and ends with 0. */
enum { OPT_HELP = 'h', OPT_JSON = 256, OPT_WPROF, OPT_WPROF_ARGS, OPT_CPUS,
       OPT_MEMORY, OPT_OVERRIDE, OPT_COMPRESS, OPT_NO_BUSYBOX, OPT_NO_WPROF,
       OPT_INCLUDE, OPT_INIT, OPT_LDCACHE };

static int _next_opt(const struct kt_cmd *c, int argc, char **argv,
		     const struct option *lo, int *done)
{
	int o = getopt_long(argc, argv, "+h", lo, NULL);

	*done = 0;
	if (o == 'h') {
		printf("usage: %s", c->usage);
		*done = 1;
		return 0;
	}
	if (o == '?' || o == ':') {
		*done = 1;
		return _usage_error(c, "invalid option '%s'", argv[optind - 1]);
	}
	return o;
}

/* ---- ktpack blobs ----------------------------------------------------------- */

static void _json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static int cmd_blobs(const struct kt_cmd *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct kt_blob_table *t = &kt_embedded_blobs;
	bool json = false;
	int o, done;

	while ((o = _next_opt(c, argc, argv, lo, &done)) != -1) {
		if (done)
			return o;
		json = true;
	}
	if (optind < argc)
		return _usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (kt_blob_table__check(t))
		return _error("the blob table does not match the embedded objects");

	if (json)
		putchar('[');
	for (size_t i = 0; i < t->count; i++) {
		const struct kt_blob *b = &t->blobs[i];

		if (!json) {
			if (kt_blob__embedded(b))
				printf("%-8s %10" PRIu64 "  %s  %s\n", b->name,
				       b->size, b->sha256, b->env);
			else
				printf("%-8s %10d  %-64s  %s  (make %s=...)\n",
				       b->name, 0, "not embedded", b->env,
				       b->make_var);
			continue;
		}
		printf("%s{\"name\":", i ? "," : "");
		_json_str(b->name);
		printf(",\"embedded\":%s,\"size\":%" PRIu64 ",\"sha256\":",
		       kt_blob__embedded(b) ? "true" : "false", b->size);
		if (kt_blob__embedded(b))
			_json_str(b->sha256);
		else
			fputs("null", stdout);
		fputs(",\"env\":", stdout);
		_json_str(b->env);
		fputs(",\"make_var\":", stdout);
		_json_str(b->make_var);
		putchar('}');
	}
	if (json)
		puts("]");
	return fflush(stdout) ? _error("cannot write output: %s", strerror(errno)) : 0;
}

/* ---- ktpack env / exec ------------------------------------------------------ */

/* A value in single quotes, as sh reads it back. */
static void _sh_quote(const char *s)
{
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

static int cmd_env(const struct kt_cmd *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct kt_blob_table *t = &kt_embedded_blobs;
	int o, done;

	while ((o = _next_opt(c, argc, argv, lo, &done)) != -1)
		if (done)
			return o;
	if (optind < argc)
		return _usage_error(c, "unexpected argument '%s'", argv[optind]);
	for (size_t i = 0; i < t->count; i++) {
		const char *v = getenv(t->blobs[i].env);

		if (!v)
			continue;
		printf("export %s=", t->blobs[i].env);
		_sh_quote(v);
		putchar('\n');
	}
	return fflush(stdout) ? _error("cannot write output: %s", strerror(errno)) : 0;
}

static int cmd_exec(const struct kt_cmd *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o, done;

	while ((o = _next_opt(c, argc, argv, lo, &done)) != -1)
		if (done)
			return o;
	if (optind >= argc)
		return _usage_error(c, "no command given");
	fflush(NULL);
	execvp(argv[optind], argv + optind);
	o = errno;
	_error("cannot run '%s': %s", argv[optind], strerror(o));
	return o == ENOENT ? 127 : 126;
}

/* ---- ktpack cmdline / memory -------------------------------------------------- */

static int cmd_cmdline(const struct kt_cmd *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "wprof", no_argument, NULL, OPT_WPROF },
		{ "wprof-args", required_argument, NULL, OPT_WPROF_ARGS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_wprof_config *cfg = NULL;
	struct kt_wprof_sel w = { 0 };
	struct kt_err err = { 0 };
	char *tok = NULL, *line = NULL;
	int o, done, ret = KT_EXIT_FAIL;

	while ((o = _next_opt(c, argc, argv, lo, &done)) != -1) {
		if (done)
			return o;
		w.on = true;
		if (o == OPT_WPROF_ARGS)
			w.args = optarg;
	}
	if (optind < argc)
		return _usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (w.on) {
		const char *const *args;
		size_t n;

		if (_load_wprof(&w, &cfg))
			goto out;
		args = kt_wprof_config__args(cfg, &n);
		if (kt_wprof_args_cmdline(args, n, &tok, &err)) {
			_error("%s", err.msg);
			goto out;
		}
	}
	if (kt_vm_cmdline(KT_VM_BASE_CMDLINE, (const char *const *)&tok,
			  tok ? 1 : 0, &line, &err)) {
		_error("%s", err.msg);
		goto out;
	}
	puts(line);
	ret = fflush(stdout) ? _error("cannot write output: %s", strerror(errno)) : 0;
out:
	free(line);
	free(tok);
	kt_wprof_config__free(cfg);
	return ret;
}

static int cmd_memory(const struct kt_cmd *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "override", required_argument, NULL, OPT_OVERRIDE },
		{ "wprof", no_argument, NULL, OPT_WPROF },
		{ "wprof-args", required_argument, NULL, OPT_WPROF_ARGS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_memory_opts m = { .sz = sizeof(m) };
	struct kt_wprof_config *cfg = NULL;
	struct kt_wprof_sel w = { 0 };
	struct kt_err err = { 0 };
	uint64_t v, mib;
	bool below;
	int o, done, ret = KT_EXIT_FAIL;

	while ((o = _next_opt(c, argc, argv, lo, &done)) != -1) {
		if (done)
			return o;
		switch (o) {
		case OPT_CPUS:
			if (_parse_num(c, "--cpus", optarg, 1, 4096, &v))
				return KT_EXIT_USAGE;
			m.cpus = (unsigned)v;
			break;
		case OPT_MEMORY:
			if (_parse_num(c, "--memory", optarg, 1, UINT32_MAX, &m.requested_mib))
				return KT_EXIT_USAGE;
			break;
		case OPT_OVERRIDE:
			if (_parse_num(c, "--override", optarg, 1, UINT32_MAX, &m.override_mib))
				return KT_EXIT_USAGE;
			break;
		case OPT_WPROF_ARGS:
			w.args = optarg;
			/* fall through */
		case OPT_WPROF:
			w.on = true;
			break;
		}
	}
	if (optind < argc)
		return _usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (!m.cpus)
		return _usage_error(c, "--cpus is required");
	if (w.on) {
		const char *const *args;
		size_t n;

		if (_load_wprof(&w, &cfg))
			goto out;
		args = kt_wprof_config__args(cfg, &n);
		if (kt_wprof_memory_floor_mib(args, n, m.cpus, &m.wprof_floor_mib, &err)) {
			_error("%s", err.msg);
			goto out;
		}
	}
	if (kt_derive_test_memory_mib(&m, &mib, &below, &err)) {
		_error("%s", err.msg);
		goto out;
	}
	if (below)
		fprintf(stderr, "ktpack: warning: --override %" PRIu64 " MiB is below the %" PRIu64 " MiB that wprof's ring buffers need\n",
			m.override_mib, m.wprof_floor_mib);
	printf("%" PRIu64 "\n", mib);
	ret = fflush(stdout) ? _error("cannot write output: %s", strerror(errno)) : 0;
out:
	kt_wprof_config__free(cfg);
	return ret;
}

/* ---- ktpack ldd ------------------------------------------------------------------ */

static void _print_closure(const char *file, const struct kt_closure *cl,
			   bool json, bool header)
{
	const char *interp = kt_closure__interp(cl);
	size_t n = kt_closure__count(cl);

	if (json) {
		fputs("{\"file\":", stdout);
		_json_str(file);
		fputs(",\"interpreter\":", stdout);
		if (interp)
			_json_str(interp);
		else
			fputs("null", stdout);
		fputs(",\"libraries\":[", stdout);
		for (size_t i = 0; i < n; i++) {
			const struct kt_dep *d = kt_closure__dep(cl, i);

			printf("%s{\"name\":", i ? "," : "");
			_json_str(d->name);
			fputs(",\"path\":", stdout);
			_json_str(d->path);
			fputs(",\"needed_by\":", stdout);
			_json_str(d->needed_by);
			putchar('}');
		}
		fputs("]}", stdout);
		return;
	}
	if (header)
		printf("%s:\n", file);
	if (!interp && !n)
		puts("\tstatically linked");
	if (interp)
		printf("\tinterpreter %s\n", interp);
	for (size_t i = 0; i < n; i++) {
		const struct kt_dep *d = kt_closure__dep(cl, i);

		printf("\t%s => %s\n", d->name, d->path);
	}
}

/* An ld.so.cache named on the command line must be readable and sane; the
 * default one is used only when it is, as the loader does. */
static int _check_ldcache(const char *path)
{
	struct kt_ldcache *lc = NULL;
	struct kt_err err = { 0 };

	if (!path || kt_ldcache__open(path, &lc, &err) == 0) {
		kt_ldcache__free(lc);
		return 0;
	}
	return _error("%s", err.msg);
}

static int cmd_ldd(const struct kt_cmd *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "ldcache", required_argument, NULL, OPT_LDCACHE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_elfdeps_opts eo = {
		.sz = sizeof(eo), .ld_library_path = getenv("LD_LIBRARY_PATH"),
	};
	struct kt_resolver *r = NULL;
	bool json = false, first = true;
	int o, done, ret = 0;

	while ((o = _next_opt(c, argc, argv, lo, &done)) != -1) {
		if (done)
			return o;
		if (o == OPT_LDCACHE)
			eo.ldcache_path = optarg;
		else
			json = true;
	}
	if (optind >= argc)
		return _usage_error(c, "no ELF file given");
	if (_check_ldcache(eo.ldcache_path))
		return KT_EXIT_FAIL;
	if (kt_resolver__new(&eo, &r))
		return _error("out of memory");
	if (json)
		putchar('[');
	for (int i = optind; i < argc; i++) {
		struct kt_closure *cl = NULL;
		struct kt_err err = { 0 };

		if (kt_resolver__closure(r, argv[i], NULL, &cl, &err)) {
			/* stdout first, so the lines keep their order on a tty */
			fflush(stdout);
			ret = _error("%s", err.msg);
			continue;
		}
		if (json && !first)
			putchar(',');
		_print_closure(argv[i], cl, json, argc - optind > 1);
		first = false;
		kt_closure__free(cl);
	}
	if (json)
		puts("]");
	kt_resolver__free(r);
	if (fflush(stdout))
		return _error("cannot write output: %s", strerror(errno));
	return ret;
}

/* ---- ktpack initramfs ----------------------------------------------------------- */

/* SOURCE_DATE_EPOCH, for reproducible archives; 0 when unset. */
static int _source_date_epoch(uint32_t *out)
{
	const char *v = getenv("SOURCE_DATE_EPOCH");
	uint64_t t = 0;

	if (v && *v && (kt_parse_u64(v, &t) || t > UINT32_MAX))
		return _error("invalid SOURCE_DATE_EPOCH '%s': expected seconds since 1970 below 2^32", v);
	*out = (uint32_t)t;
	return 0;
}

/*
 * HOST[:GUEST] -> the two paths; GUEST defaults to HOST made absolute.
 * The split is at the last ':' followed by '/', so a HOST may hold ':'.
 */
static int _split_include(const char *spec, char *host, char *guest, size_t sz)
{
	const char *colon = NULL;

	for (const char *p = spec; (p = strchr(p, ':')); p++)
		if (p[1] == '/')
			colon = p;
	if (colon) {
		if ((size_t)(colon - spec) >= sz || colon == spec)
			return -EINVAL;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		return kt_snprintf(guest, sz, "%s", colon + 1);
	}
	if (kt_snprintf(host, sz, "%s", spec))
		return -ENAMETOOLONG;
	if (spec[0] == '/')
		return kt_snprintf(guest, sz, "%s", spec);
	if (!getcwd(guest, sz))
		return -errno;
	return kt_snprintf(guest + strlen(guest), sz - strlen(guest), "/%s", spec);
}

/* The embedded blob @name at @guest, or a message naming the make variable. */
static int _add_blob(struct kt_initramfs *b, const char *name, const char *guest,
		     bool required, const char *skip_opt)
{
	const struct kt_blob *bl = kt_blob_table__find(&kt_embedded_blobs, name);
	const char *path = bl ? getenv(bl->env) : NULL;
	struct kt_err err = { 0 };

	if (!path || !*path) {
		if (!required)
			return 0;
		return _error("%s is not embedded: rebuild with 'make %s=/path/to/%s', set %s, or pass %s",
			      name, bl ? bl->make_var : "?", name, bl ? bl->env : "?", skip_opt);
	}
	if (kt_initramfs__add_file(b, path, guest, 0755, &err))
		return _error("%s", err.msg);
	return 0;
}

static int cmd_initramfs(const struct kt_cmd *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "no-busybox", no_argument, NULL, OPT_NO_BUSYBOX },
		{ "no-wprof", no_argument, NULL, OPT_NO_WPROF },
		{ "include", required_argument, NULL, OPT_INCLUDE },
		{ "init", required_argument, NULL, OPT_INIT },
		{ "ldcache", required_argument, NULL, OPT_LDCACHE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_elfdeps_opts eo = { .sz = sizeof(eo) };
	struct kt_initramfs_opts io = {
		.sz = sizeof(io), .dev_console = true, .elf = &eo,
	};
	const char *out = NULL, *init = NULL;
	bool busybox = true, wprof = true;
	struct kt_initramfs *b = NULL;
	struct kt_err err = { 0 };
	int o, ret = KT_EXIT_FAIL;
	char **inc;
	size_t ninc = 0;

	inc = calloc((size_t)argc, sizeof(*inc));
	if (!inc)
		return _error("out of memory");
	optind = 1;
	while ((o = getopt_long(argc, argv, "+ho:", lo, NULL)) != -1) {
		switch (o) {
		case 'h':
			printf("usage: %s", c->usage);
			free(inc);
			return 0;
		case 'o':
			out = optarg;
			break;
		case OPT_COMPRESS:
			if (kt_compress_parse(optarg, &io.compress)) {
				free(inc);
				return _usage_error(c, "invalid --compress '%s': expected none, gzip or zstd", optarg);
			}
			break;
		case OPT_NO_BUSYBOX:
			busybox = false;
			break;
		case OPT_NO_WPROF:
			wprof = false;
			break;
		case OPT_INCLUDE:
			inc[ninc++] = optarg;
			break;
		case OPT_INIT:
			init = optarg;
			break;
		case OPT_LDCACHE:
			eo.ldcache_path = optarg;
			break;
		default:
			free(inc);
			return _usage_error(c, "invalid option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		free(inc);
		return _usage_error(c, "unexpected argument '%s'", argv[optind]);
	}
	if (!out) {
		free(inc);
		return _usage_error(c, "-o FILE is required");
	}
	if (!init) {
		free(inc);
		return _usage_error(c, "--init FILE is required");
	}
	if (_source_date_epoch(&io.mtime) || _check_ldcache(eo.ldcache_path))
		goto out;
	if (kt_initramfs__new(&io, &b)) {
		_error("out of memory");
		goto out;
	}
	if (kt_initramfs__add_file(b, init, "/init", 0755, &err)) {
		_error("%s", err.msg);
		goto out;
	}
	if ((busybox && _add_blob(b, "busybox", "/bin/busybox", true, "--no-busybox")) ||
	    (wprof && _add_blob(b, "wprof", "/bin/wprof", false, "--no-wprof")))
		goto out;
	for (size_t i = 0; i < ninc; i++) {
		char host[PATH_MAX], guest[PATH_MAX];
		struct stat st;

		if (_split_include(inc[i], host, guest, sizeof(host))) {
			ret = _usage_error(c, "invalid --include '%s': expected HOST[:GUEST]", inc[i]);
			goto out;
		}
		if (stat(host, &st)) {
			_error("cannot include '%s': %s", host, strerror(errno));
			goto out;
		}
		if ((S_ISDIR(st.st_mode) ? kt_initramfs__add_tree(b, host, guest, &err)
					 : kt_initramfs__add_file(b, host, guest, 0, &err))) {
			_error("%s", err.msg);
			goto out;
		}
	}
	if (kt_initramfs__write(b, out, &err)) {
		_error("%s", err.msg);
		goto out;
	}
	ret = 0;
out:
	kt_initramfs__free(b);
	free(inc);
	return ret;
}

/* ---- dispatch ---------------------------------------------------------------- */

static const struct kt_cmd kt_cmds[] = {
	{ "blobs", cmd_blobs, false,
	  "ktpack blobs [--json]\n\n"
	  "Lists the embedded blobs: name, size in bytes, SHA-256, env var.\n" },
	{ "env", cmd_env, true,
	  "ktpack env\n\n"
	  "Installs the blobs in the cache folder and prints export lines:\n"
	  "  eval \"$(ktpack env)\"\n" },
	{ "exec", cmd_exec, true,
	  "ktpack exec -- CMD [ARG...]\n\n"
	  "Installs the blobs and runs CMD with their paths exported;\n"
	  "exits with CMD's status.\n" },
	{ "cmdline", cmd_cmdline, true,
	  "ktpack cmdline [--wprof] [--wprof-args ARGS]\n\n"
	  "Prints the kernel command line a guest gets.  With --wprof it carries\n"
	  "KTSTR_WPROF_ARGS=<args joined with 0x1F>; ARGS is one string split on\n"
	  "whitespace (default: -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8).\n" },
	{ "ldd", cmd_ldd, false,
	  "ktpack ldd [--json] [--ldcache FILE] ELF...\n\n"
	  "Prints the interpreter and the shared libraries each ELF program needs,\n"
	  "in load order, found as glibc's loader would, without running it\n"
	  "(LD_LIBRARY_PATH is honoured; --ldcache replaces /etc/ld.so.cache).\n" },
	{ "initramfs", cmd_initramfs, true,
	  "ktpack initramfs -o FILE --init FILE [--compress none|gzip|zstd]\n"
	  "                 [--no-busybox] [--no-wprof] [--include HOST[:GUEST]]...\n"
	  "                 [--ldcache FILE]\n\n"
	  "Packs a guest initramfs: /init, /bin/busybox, /bin/wprof (when embedded),\n"
	  "each --include at its guest path (a folder is taken whole), and for every\n"
	  "ELF program among them its interpreter and shared libraries where the\n"
	  "guest's loader looks for them (the guest has no LD_LIBRARY_PATH and no\n"
	  "ld.so.cache).  Honours SOURCE_DATE_EPOCH.  Example:\n"
	  "  ktpack initramfs -o initrd.zst --compress zstd --init init.sh \\\n"
	  "      --include ./mytest:/usr/bin/mytest\n" },
	{ "memory", cmd_memory, true,
	  "ktpack memory --cpus N [--memory MIB] [--wprof] [--wprof-args ARGS] [--override MIB]\n\n"
	  "Prints the guest memory in MiB: max(N*64, 256, MIB), raised to what\n"
	  "wprof's ring buffers need with --wprof; --override is used as given.\n" },
};

static void _main_usage(FILE *f)
{
	fputs("usage: ktpack [--version] [--help] COMMAND [ARGS]\n\n"
	      "Carries helper binaries (wprof, busybox) inside one executable and\n"
	      "installs them for guest VMs.  Commands:\n", f);
	for (size_t i = 0; i < KT_ARRAY_SIZE(kt_cmds); i++)
		fprintf(f, "  %s\n", strtok(strdupa(kt_cmds[i].usage), "\n"));
	fputs("\n'ktpack COMMAND --help' tells more.\n", f);
}

const struct kt_cmd *kt_cli_lookup(int argc, char **argv)
{
	if (argc < 2)
		return NULL;
	for (size_t i = 0; i < KT_ARRAY_SIZE(kt_cmds); i++)
		if (!strcmp(argv[1], kt_cmds[i].name))
			return &kt_cmds[i];
	return NULL;
}

bool kt_cli_needs_env(const struct kt_cmd *cmd, int argc, char **argv)
{
	if (!cmd || !cmd->needs_env)
		return false;
	/* --help only prints. */
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return false;
	return true;
}

int kt_cli_run(const struct kt_cmd *cmd, int argc, char **argv)
{
	if (!cmd) {
		if (argc < 2) {
			_main_usage(stderr);
			return KT_EXIT_USAGE;
		}
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
		    !strcmp(argv[1], "help")) {
			_main_usage(stdout);
			return KT_EXIT_OK;
		}
		if (!strcmp(argv[1], "--version")) {
			puts("ktpack " KTPACK_VERSION);
			return KT_EXIT_OK;
		}
		fprintf(stderr, "ktpack: unknown command '%s' (see 'ktpack --help')\n",
			argv[1]);
		return KT_EXIT_USAGE;
	}
	optind = 1;
	opterr = 0;
	return cmd->fn(cmd, argc - 1, argv + 1);
}
