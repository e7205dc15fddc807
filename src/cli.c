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
#include <signal.h>
#include <sys/random.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <ktpack/blob.h>
#include "internal.h"
#include <ktpack/elfdeps.h>
#include <ktpack/initramfs.h>
#include <ktpack/ldcache.h>
#include <ktpack/extract.h>
#include <ktpack/vm.h>
#include <ktpack/vmconfig.h>
#include <ktpack/wprof.h>
#include "guest/proto.h"

struct kt_cmd {
	const char *name;
	int (*fn)(const struct kt_cmd *c, int argc, char **argv);
	bool needs_env;		/* install_env runs before it */
	const char *usage;	/* grammar, then what it does */
};

static int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cli_usage_error(const struct kt_cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "ktpack: <problem>", one line; returns the runtime-failure code. */
static int cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ktpack: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return KT_EXIT_FAIL;
}

static int cli_usage_error(const struct kt_cmd *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ktpack %s: ", c->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'ktpack %s --help')\n", c->name);
	return KT_EXIT_USAGE;
}

static void cli_warn_cb(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ktpack: warning: %s\n", msg);
}

int kt_cli_install_env(void)
{
	struct kt_install_opts o = { .sz = sizeof(o), .warn = cli_warn_cb };
	struct kt_err err = { 0 };

	if (kt_install_env(&kt_embedded_blobs, &o, &err)) {
		cli_error("%s", err.msg);
		return -1;
	}
	return 0;
}

/* ---- shared option handling ----------------------------------------------- */

static int cli_parse_num(const struct kt_cmd *c, const char *opt, const char *v,
		      uint64_t min, uint64_t max, uint64_t *out)
{
	if (kt_parse_u64(v, out) || *out < min || *out > max)
		return cli_usage_error(c, "invalid %s '%s': expected a number from %" PRIu64 " to %" PRIu64,
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
static int cli_load_wprof(const struct kt_wprof_sel *w, struct kt_wprof_config **out)
{
	const struct kt_blob *b = kt_blob_table__find_env(&kt_embedded_blobs,
							  KT_WPROF_PATH_ENV);
	struct kt_wprof_config *cfg = NULL;
	struct kt_err err = { 0 };
	char **argv = NULL;
	size_t n;
	int r;

	if (!getenv(KT_WPROF_PATH_ENV) && b && !kt_blob__embedded(b))
		return cli_error("wprof is not embedded: rebuild with 'make %s=/path/to/wprof' or set %s",
			      b->make_var, KT_WPROF_PATH_ENV);
	r = kt_wprof_config__from_env(&cfg, &err);
	if (r)
		return cli_error("%s", err.msg);
	if (w->args) {
		r = kt_split_ws(w->args, &argv, &n);
		if (r) {
			cli_error("cannot split --wprof-args: %s", strerror(-r));
			goto out;
		}
		r = kt_wprof_config__set_args(cfg, (const char *const *)argv, n, &err);
		if (r) {
			cli_error("%s", err.msg);
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
       OPT_INCLUDE, OPT_INIT, OPT_LDCACHE, OPT_KERNEL, OPT_TRACE_OUT,
       OPT_TIMEOUT, OPT_ACCEL, OPT_WPROF_GRACE };

static int cli_next_opt(const struct kt_cmd *c, int argc, char **argv,
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
		return cli_usage_error(c, "invalid option '%s'", argv[optind - 1]);
	}
	return o;
}

/* ---- ktpack blobs ----------------------------------------------------------- */

static void cli_json_str(const char *s)
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

	while ((o = cli_next_opt(c, argc, argv, lo, &done)) != -1) {
		if (done)
			return o;
		json = true;
	}
	if (optind < argc)
		return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (kt_blob_table__check(t))
		return cli_error("the blob table does not match the embedded objects");

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
		cli_json_str(b->name);
		printf(",\"embedded\":%s,\"size\":%" PRIu64 ",\"sha256\":",
		       kt_blob__embedded(b) ? "true" : "false", b->size);
		if (kt_blob__embedded(b))
			cli_json_str(b->sha256);
		else
			fputs("null", stdout);
		fputs(",\"env\":", stdout);
		cli_json_str(b->env);
		fputs(",\"make_var\":", stdout);
		cli_json_str(b->make_var);
		putchar('}');
	}
	if (json)
		puts("]");
	return fflush(stdout) ? cli_error("cannot write output: %s", strerror(errno)) : 0;
}

/* ---- ktpack env / exec ------------------------------------------------------ */

/* A value in single quotes, as sh reads it back. */
static void cli_sh_quote(const char *s)
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

	while ((o = cli_next_opt(c, argc, argv, lo, &done)) != -1)
		if (done)
			return o;
	if (optind < argc)
		return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
	for (size_t i = 0; i < t->count; i++) {
		const char *v = getenv(t->blobs[i].env);

		if (!v)
			continue;
		printf("export %s=", t->blobs[i].env);
		cli_sh_quote(v);
		putchar('\n');
	}
	return fflush(stdout) ? cli_error("cannot write output: %s", strerror(errno)) : 0;
}

static int cmd_exec(const struct kt_cmd *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o, done;

	while ((o = cli_next_opt(c, argc, argv, lo, &done)) != -1)
		if (done)
			return o;
	if (optind >= argc)
		return cli_usage_error(c, "no command given");
	fflush(NULL);
	execvp(argv[optind], argv + optind);
	o = errno;
	cli_error("cannot run '%s': %s", argv[optind], strerror(o));
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

	while ((o = cli_next_opt(c, argc, argv, lo, &done)) != -1) {
		if (done)
			return o;
		w.on = true;
		if (o == OPT_WPROF_ARGS)
			w.args = optarg;
	}
	if (optind < argc)
		return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (w.on) {
		const char *const *args;
		size_t n;

		if (cli_load_wprof(&w, &cfg))
			goto out;
		args = kt_wprof_config__args(cfg, &n);
		if (kt_wprof_args_cmdline(args, n, &tok, &err)) {
			cli_error("%s", err.msg);
			goto out;
		}
	}
	if (kt_vm_cmdline(KT_VM_BASE_CMDLINE, (const char *const *)&tok,
			  tok ? 1 : 0, &line, &err)) {
		cli_error("%s", err.msg);
		goto out;
	}
	puts(line);
	ret = fflush(stdout) ? cli_error("cannot write output: %s", strerror(errno)) : 0;
out:
	free(line);
	free(tok);
	kt_wprof_config__free(cfg);
	return ret;
}

/*
 * The guest memory for @m: the floor of @cfg's wprof args (when wprof is
 * on), the derivation, and a warning for an override below the floor.
 */
static int cli_guest_memory(struct kt_memory_opts *m, const struct kt_wprof_config *cfg,
			 uint64_t *mib)
{
	struct kt_err err = { 0 };
	bool below;

	if (cfg) {
		size_t n;
		const char *const *args = kt_wprof_config__args(cfg, &n);

		if (kt_wprof_memory_floor_mib(args, n, m->cpus, &m->wprof_floor_mib, &err))
			return cli_error("%s", err.msg);
	}
	if (kt_derive_test_memory_mib(m, mib, &below, &err))
		return cli_error("%s", err.msg);
	if (below)
		fprintf(stderr, "ktpack: warning: --override %" PRIu64 " MiB is below the %" PRIu64 " MiB that wprof's ring buffers need\n",
			m->override_mib, m->wprof_floor_mib);
	return 0;
}

/*
 * The options memory, run and shell share: --cpus (into @cpus), --memory,
 * --override, --wprof, --wprof-args.  1 when @o is not one of them, 0 when
 * taken, KT_EXIT_USAGE after a usage error.
 */
static int cli_memory_opt(const struct kt_cmd *c, int o, unsigned *cpus,
		       struct kt_memory_opts *m, struct kt_wprof_sel *w)
{
	uint64_t v;

	switch (o) {
	case OPT_CPUS:
		if (cli_parse_num(c, "--cpus", optarg, 1, 4096, &v))
			return KT_EXIT_USAGE;
		*cpus = (unsigned)v;
		return 0;
	case OPT_MEMORY:
		return cli_parse_num(c, "--memory", optarg, 1, UINT32_MAX, &m->requested_mib) ?
		       KT_EXIT_USAGE : 0;
	case OPT_OVERRIDE:
		return cli_parse_num(c, "--override", optarg, 1, UINT32_MAX, &m->override_mib) ?
		       KT_EXIT_USAGE : 0;
	case OPT_WPROF_ARGS:
		w->args = optarg;
		/* fall through */
	case OPT_WPROF:
		w->on = true;
		return 0;
	}
	return 1;
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
	uint64_t mib = 0;
	int o, done, ret = KT_EXIT_FAIL;

	while ((o = cli_next_opt(c, argc, argv, lo, &done)) != -1) {
		if (done)
			return o;
		if (cli_memory_opt(c, o, &m.cpus, &m, &w))
			return KT_EXIT_USAGE;
	}
	if (optind < argc)
		return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (!m.cpus)
		return cli_usage_error(c, "--cpus is required");
	if ((w.on && cli_load_wprof(&w, &cfg)) || cli_guest_memory(&m, cfg, &mib))
		goto out;
	printf("%" PRIu64 "\n", mib);
	ret = fflush(stdout) ? cli_error("cannot write output: %s", strerror(errno)) : 0;
out:
	kt_wprof_config__free(cfg);
	return ret;
}

/* ---- ktpack ldd ------------------------------------------------------------------ */

static void cli_print_closure(const char *file, const struct kt_closure *cl,
			   bool json, bool header)
{
	const char *interp = kt_closure__interp(cl);
	size_t n = kt_closure__count(cl);

	if (json) {
		fputs("{\"file\":", stdout);
		cli_json_str(file);
		fputs(",\"interpreter\":", stdout);
		if (interp)
			cli_json_str(interp);
		else
			fputs("null", stdout);
		fputs(",\"libraries\":[", stdout);
		for (size_t i = 0; i < n; i++) {
			const struct kt_dep *d = kt_closure__dep(cl, i);

			printf("%s{\"name\":", i ? "," : "");
			cli_json_str(d->name);
			fputs(",\"path\":", stdout);
			cli_json_str(d->path);
			fputs(",\"needed_by\":", stdout);
			cli_json_str(d->needed_by);
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
static int cli_check_ldcache(const char *path)
{
	struct kt_ldcache *lc = NULL;
	struct kt_err err = { 0 };

	if (!path || kt_ldcache__open(path, &lc, &err) == 0) {
		kt_ldcache__free(lc);
		return 0;
	}
	return cli_error("%s", err.msg);
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

	while ((o = cli_next_opt(c, argc, argv, lo, &done)) != -1) {
		if (done)
			return o;
		if (o == OPT_LDCACHE)
			eo.ldcache_path = optarg;
		else
			json = true;
	}
	if (optind >= argc)
		return cli_usage_error(c, "no ELF file given");
	if (cli_check_ldcache(eo.ldcache_path))
		return KT_EXIT_FAIL;
	if (kt_resolver__new(&eo, &r))
		return cli_error("out of memory");
	if (json)
		putchar('[');
	for (int i = optind; i < argc; i++) {
		struct kt_closure *cl = NULL;
		struct kt_err err = { 0 };

		if (kt_resolver__closure(r, argv[i], NULL, &cl, &err)) {
			/* stdout first, so the lines keep their order on a tty */
			fflush(stdout);
			ret = cli_error("%s", err.msg);
			continue;
		}
		if (json && !first)
			putchar(',');
		cli_print_closure(argv[i], cl, json, argc - optind > 1);
		first = false;
		kt_closure__free(cl);
	}
	if (json)
		puts("]");
	kt_resolver__free(r);
	if (fflush(stdout))
		return cli_error("cannot write output: %s", strerror(errno));
	return ret;
}

/* ---- ktpack initramfs ----------------------------------------------------------- */

/* SOURCE_DATE_EPOCH, for reproducible archives; 0 when unset. */
static int cli_source_date_epoch(uint32_t *out)
{
	const char *v = getenv("SOURCE_DATE_EPOCH");
	uint64_t t = 0;

	if (v && *v && (kt_parse_u64(v, &t) || t > UINT32_MAX))
		return cli_error("invalid SOURCE_DATE_EPOCH '%s': expected seconds since 1970 below 2^32", v);
	*out = (uint32_t)t;
	return 0;
}

/*
 * HOST[:GUEST] -> the two paths; GUEST defaults to HOST made absolute.
 * The split is at the last ':' followed by '/', so a HOST may hold ':'.
 */
static int cli_split_include(const char *spec, char *host, char *guest, size_t sz)
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
static int cli_add_blob(struct kt_initramfs *b, const char *name, const char *guest,
		     bool required, const char *skip_opt)
{
	const struct kt_blob *bl = kt_blob_table__find(&kt_embedded_blobs, name);
	const char *path = bl ? getenv(bl->env) : NULL;
	struct kt_err err = { 0 };

	if (!path || !*path) {
		if (!required)
			return 0;
		return cli_error("%s is not embedded: rebuild with 'make %s=/path/to/%s' or set %s%s%s",
			      name, bl ? bl->make_var : "?", name, bl ? bl->env : "?",
			      skip_opt ? ", or pass " : "", skip_opt ? skip_opt : "");
	}
	if (kt_initramfs__add_file(b, path, guest, 0755, &err))
		return cli_error("%s", err.msg);
	return 0;
}

/* HOST[:GUEST] at its guest path: a folder whole, a file with its ELF
 * closure.  The spec was checked by cli_check_include() already. */
static int cli_add_include(struct kt_initramfs *b, const char *spec)
{
	char host[PATH_MAX], guest[PATH_MAX];
	struct kt_err err = { 0 };
	struct stat st;

	if (cli_split_include(spec, host, guest, sizeof(host)))
		return cli_error("invalid --include '%s'", spec), -1;
	if (stat(host, &st))
		return cli_error("cannot include '%s': %s", host, strerror(errno)), -1;
	if (S_ISDIR(st.st_mode) ? kt_initramfs__add_tree(b, host, guest, &err)
				: kt_initramfs__add_file(b, host, guest, 0, &err))
		return cli_error("%s", err.msg), -1;
	return 0;
}

static int cli_check_include(const struct kt_cmd *c, const char *spec)
{
	char host[PATH_MAX], guest[PATH_MAX];

	if (cli_split_include(spec, host, guest, sizeof(host)))
		return cli_usage_error(c, "invalid --include '%s': expected HOST[:GUEST]", spec);
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
		return cli_error("out of memory");
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
				return cli_usage_error(c, "invalid --compress '%s': expected none, gzip or zstd", optarg);
			}
			break;
		case OPT_NO_BUSYBOX:
			busybox = false;
			break;
		case OPT_NO_WPROF:
			wprof = false;
			break;
		case OPT_INCLUDE:
			if (cli_check_include(c, optarg)) {
				free(inc);
				return KT_EXIT_USAGE;
			}
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
			return cli_usage_error(c, "invalid option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		free(inc);
		return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
	}
	if (!out) {
		free(inc);
		return cli_usage_error(c, "-o FILE is required");
	}
	if (cli_source_date_epoch(&io.mtime) || cli_check_ldcache(eo.ldcache_path))
		goto out;
	if (kt_initramfs__new(&io, &b)) {
		cli_error("out of memory");
		goto out;
	}
	if (init ? kt_initramfs__add_file(b, init, "/init", 0755, &err) :
		   cli_add_blob(b, "init", "/init", true, "--init FILE")) {
		if (init)
			cli_error("%s", err.msg);
		goto out;
	}
	if ((busybox && cli_add_blob(b, "busybox", "/bin/busybox", true, "--no-busybox")) ||
	    (wprof && cli_add_blob(b, "wprof", "/bin/wprof", false, "--no-wprof")))
		goto out;
	for (size_t i = 0; i < ninc; i++)
		if (cli_add_include(b, inc[i]))
			goto out;
	if (kt_initramfs__write(b, out, &err)) {
		cli_error("%s", err.msg);
		goto out;
	}
	ret = 0;
out:
	kt_initramfs__free(b);
	free(inc);
	return ret;
}

/* ---- ktpack run / shell ------------------------------------------------------------- */

struct kt_run {
	const char *kernel;
	unsigned cpus;
	struct kt_memory_opts mem;
	struct kt_wprof_sel w;
	uint64_t wprof_grace_s;
	const char *trace_out;
	char **inc;
	size_t ninc;
	unsigned timeout_s;
	enum kt_accel accel;
	char **cmd;		/* NULL for the shell */
};

/* Base archives kept in the cache folder. */
#define KT_BASE_KEEP 8

static volatile sig_atomic_t kt_stop;

static void cli_on_signal(int sig)
{
	(void)sig;
	kt_stop = 1;
}

static void cli_console_cb(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	fwrite(buf, 1, len, stdout);
	fflush(stdout);
}

static void cli_note_cb(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ktpack: %s\n", msg);
}

/* 64-bit FNV-1a: a cache key, not a security boundary (the cache folder
 * is private). */
static void cli_fnv(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 0x100000001b3ULL;
	}
}

/* What a host path contributes to the key: name, type, size, mtime, inode
 * of it and of everything below it. */
static void cli_fnv_path(uint64_t *h, const char *path, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	cli_fnv(h, path, strlen(path) + 1);
	if (lstat(path, &st))
		return;
	cli_fnv(h, &st.st_mode, sizeof(st.st_mode));
	cli_fnv(h, &st.st_size, sizeof(st.st_size));
	cli_fnv(h, &st.st_mtim, sizeof(st.st_mtim));
	cli_fnv(h, &st.st_ino, sizeof(st.st_ino));
	if (!S_ISDIR(st.st_mode) || depth > 32 || !(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];

		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    !kt_snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name))
			cli_fnv_path(h, sub, depth + 1);
	}
	closedir(d);
}

/* Adds busybox, wprof, init and the includes: the cacheable base. */
static int cli_fill_base(struct kt_initramfs *b, const struct kt_run *run)
{
	/* wprof is in every guest that can have it (ktpack shell offers it);
	 * --wprof, which cli_load_wprof checked, only makes init start it. */
	if (cli_add_blob(b, "init", "/init", true, NULL) ||
	    cli_add_blob(b, "busybox", "/bin/busybox", true, NULL) ||
	    cli_add_blob(b, "wprof", "/bin/wprof", false, NULL))
		return -1;
	for (size_t i = 0; i < run->ninc; i++)
		if (cli_add_include(b, run->inc[i]))
			return -1;
	return 0;
}

/*
 * The base archive from the cache folder, built on a miss.  The key covers
 * the blobs' digests (or preset paths' metadata) and every --include.
 */
static int cli_base_initramfs(const struct kt_run *run, char *out, size_t sz)
{
	/* install_env already warned about any folder it skipped. */
	struct kt_install_opts io = { .sz = sizeof(io) };
	struct kt_initramfs_opts o = { .sz = sizeof(o), .dev_console = true };
	const struct kt_blob_table *t = &kt_embedded_blobs;
	uint64_t h = 0xcbf29ce484222325ULL;
	struct kt_initramfs *b = NULL;
	struct kt_err err = { 0 };
	char dir[PATH_MAX];
	int ret = -1;

	if (kt_cache_dir(dir, sizeof(dir), &io, &err))
		return cli_error("%s", err.msg), -1;
	cli_fnv(&h, KTPACK_VERSION, sizeof(KTPACK_VERSION));
	for (size_t i = 0; i < t->count; i++) {
		const char *v = getenv(t->blobs[i].env);

		if (v)
			cli_fnv_path(&h, v, 0);
		cli_fnv(&h, t->blobs[i].sha256, strlen(t->blobs[i].sha256) + 1);
	}
	for (size_t i = 0; i < run->ninc; i++) {
		char host[PATH_MAX], guest[PATH_MAX];

		cli_fnv(&h, run->inc[i], strlen(run->inc[i]) + 1);
		if (!cli_split_include(run->inc[i], host, guest, sizeof(host)))
			cli_fnv_path(&h, host, 0);
	}
	if (kt_snprintf(out, sz, "%s/initramfs-%016llx.cpio", dir, (unsigned long long)h))
		return cli_error("cache folder path too long"), -1;
	if (!access(out, R_OK)) {
		utimensat(AT_FDCWD, out, NULL, 0);	/* recently used */
		return 0;
	}
	if (kt_initramfs__new(&o, &b))
		return cli_error("out of memory"), -1;
	if (cli_fill_base(b, run))
		goto done;
	if (kt_initramfs__write(b, out, &err)) {
		cli_error("%s", err.msg);
		goto done;
	}
	/* One base per set of inputs: keep the recent ones only. */
	kt_cache_prune(dir, "initramfs-", KT_BASE_KEEP);
	ret = 0;
done:
	kt_initramfs__free(b);
	return ret;
}

/* The run's archive: the base with the per-run archive (command, nonce)
 * after it. */
static int cli_run_initramfs(const char *base, const char *path, char *const *cmd,
			  const char *nonce)
{
	struct kt_initramfs_opts o = { .sz = sizeof(o) };
	struct kt_initramfs *b = NULL;
	struct kt_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	int ret = -1;

	for (size_t i = 0; cmd && cmd[i]; i++)
		len += strlen(cmd[i]) + 1;
	buf = malloc(len ? len : 1);
	if (!buf || kt_initramfs__new(&o, &b)) {
		cli_error("out of memory");
		goto done;
	}
	len = 0;
	for (size_t i = 0; cmd && cmd[i]; i++) {
		memcpy(buf + len, cmd[i], strlen(cmd[i]) + 1);
		len += strlen(cmd[i]) + 1;
	}
	if ((cmd && kt_initramfs__add_data(b, KT_GUEST_CMD, buf, len, 0644, &err)) ||
	    kt_initramfs__add_data(b, KT_GUEST_NONCE, nonce, strlen(nonce), 0644, &err) ||
	    kt_initramfs__write_after(b, base, path, &err)) {
		cli_error("%s", err.msg);
		goto done;
	}
	ret = 0;
done:
	kt_initramfs__free(b);
	free(buf);
	return ret;
}

static void cli_rm_workdir(const char *dir)
{
	static const char *const files[] = { "initrd", "ttyS1", "kvm-probe.img" };
	char p[PATH_MAX];

	for (size_t i = 0; i < KT_ARRAY_SIZE(files); i++)
		if (!kt_snprintf(p, sizeof(p), "%s/%s", dir, files[i]))
			unlink(p);
	rmdir(dir);
}

static int cli_run_vm(struct kt_run *run)
{
	struct kt_vm_opts vo = {
		.sz = sizeof(vo), .kernel = run->kernel, .cpus = run->cpus,
		.accel = run->accel, .timeout_s = run->timeout_s,
		.interactive = !run->cmd, .console = cli_console_cb, .note = cli_note_cb,
		.stop = &kt_stop,
	};
	struct kt_wprof_config *cfg = NULL;
	struct kt_vm_result res = { 0 };
	struct kt_err err = { 0 };
	char qemu[PATH_MAX], base[PATH_MAX], work[PATH_MAX], initrd[PATH_MAX];
	char nonce[17], grace[64], *tok = NULL, *cmdline = NULL;
	const char *tokens[2], *tmpdir;
	size_t ntok = 0;
	unsigned char rnd[8];
	struct sigaction sa = { .sa_handler = cli_on_signal };
	bool have_work = false;
	int ret = KT_EXIT_FAIL;

	/* What can be checked before anything is built or booted. */
	if (kt_kernel_check(run->kernel, &err))
		return cli_error("%s", err.msg);
	if (kt_find_program(KT_QEMU, qemu, sizeof(qemu)))
		return cli_error("%s not found in PATH: install QEMU (Debian: apt-get install qemu-system-x86)",
			      KT_QEMU);
	run->mem.cpus = run->cpus;
	if (run->w.on && cli_load_wprof(&run->w, &cfg))
		return KT_EXIT_FAIL;
	if (cli_guest_memory(&run->mem, cfg, &vo.memory_mib))
		goto out;
	if (cfg) {
		size_t n;
		const char *const *args = kt_wprof_config__args(cfg, &n);

		if (kt_wprof_args_cmdline(args, n, &tok, &err)) {
			cli_error("%s", err.msg);
			goto out;
		}
		tokens[ntok++] = tok;
		snprintf(grace, sizeof(grace), "%s=%llu", KT_WPROF_GRACE_KEY,
			 (unsigned long long)run->wprof_grace_s * 1000);
		tokens[ntok++] = grace;
		if (!run->trace_out)
			run->trace_out = "wprof.pb";
	}
	if (kt_vm_cmdline(KT_VM_BASE_CMDLINE, tokens, ntok, &cmdline, &err)) {
		cli_error("%s", err.msg);
		goto out;
	}

	if (cli_base_initramfs(run, base, sizeof(base)))
		goto out;
	tmpdir = getenv("TMPDIR");
	if (!tmpdir || *tmpdir != '/')
		tmpdir = "/tmp";
	if (kt_snprintf(work, sizeof(work), "%s/ktpack-run.XXXXXX", tmpdir) ||
	    !mkdtemp(work)) {
		cli_error("cannot create a work folder in '%s': %s", work, strerror(errno));
		goto out;
	}
	have_work = true;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		cli_error("getrandom: %s", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
	if (kt_snprintf(initrd, sizeof(initrd), "%s/initrd", work)) {
		cli_error("'%s': path too long", work);
		goto out;
	}
	if (cli_run_initramfs(base, initrd, run->cmd, nonce))
		goto out;

	vo.initrd = initrd;
	vo.cmdline = cmdline;
	vo.nonce = nonce;
	vo.workdir = work;
	vo.trace_out = run->trace_out;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (kt_vm_run(&vo, &res, &err)) {
		fflush(stdout);
		cli_error("%s", err.msg);
		goto out;
	}
	if (res.trace_written)
		fprintf(stderr, "ktpack: wrote the wprof trace to '%s' (%llu bytes)\n",
			run->trace_out, (unsigned long long)res.trace_bytes);
	ret = res.exit_status;
out:
	if (have_work)
		cli_rm_workdir(work);
	free(tok);
	free(cmdline);
	kt_wprof_config__free(cfg);
	return ret;
}

static int cli_cmd_vm(const struct kt_cmd *c, int argc, char **argv, bool shell)
{
	static const struct option lo[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "override", required_argument, NULL, OPT_OVERRIDE },
		{ "wprof", no_argument, NULL, OPT_WPROF },
		{ "wprof-args", required_argument, NULL, OPT_WPROF_ARGS },
		{ "wprof-grace", required_argument, NULL, OPT_WPROF_GRACE },
		{ "trace-out", required_argument, NULL, OPT_TRACE_OUT },
		{ "include", required_argument, NULL, OPT_INCLUDE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_run run = {
		.kernel = getenv("KTSTR_KERNEL"), .cpus = 2,
		.mem = { .sz = sizeof(run.mem) },
		.wprof_grace_s = KT_WPROF_DEFAULT_GRACE_MS / 1000,
		.timeout_s = shell ? 0 : 600,
	};
	uint64_t v;
	int o, ret;

	run.inc = calloc((size_t)argc, sizeof(*run.inc));
	if (!run.inc)
		return cli_error("out of memory");
	optind = 1;
	while ((o = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		ret = cli_memory_opt(c, o, &run.cpus, &run.mem, &run.w);
		if (ret != 1) {
			if (ret)
				goto out;
			continue;
		}
		ret = KT_EXIT_USAGE;
		switch (o) {
		case 'h':
			printf("usage: %s", c->usage);
			ret = 0;
			goto out;
		case OPT_KERNEL:
			run.kernel = optarg;
			break;
		case OPT_WPROF_GRACE:
			if (cli_parse_num(c, "--wprof-grace", optarg, 0, 86400, &run.wprof_grace_s))
				goto out;
			break;
		case OPT_TRACE_OUT:
			run.trace_out = optarg;
			break;
		case OPT_INCLUDE:
			if (cli_check_include(c, optarg))
				goto out;
			run.inc[run.ninc++] = optarg;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_num(c, "--timeout", optarg, 0, 86400 * 7, &v))
				goto out;
			run.timeout_s = (unsigned)v;
			break;
		case OPT_ACCEL:
			if (kt_accel_parse(optarg, &run.accel)) {
				ret = cli_usage_error(c, "invalid --accel '%s': expected kvm, tcg or auto", optarg);
				goto out;
			}
			break;
		default:
			ret = cli_usage_error(c, "invalid option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (!run.kernel || !*run.kernel) {
		ret = cli_usage_error(c, "--kernel FILE is required (or set KTSTR_KERNEL)");
		goto out;
	}
	if (run.trace_out && !run.w.on) {
		ret = cli_usage_error(c, "--trace-out needs --wprof");
		goto out;
	}
	if (shell && optind < argc) {
		ret = cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!shell) {
		if (optind >= argc) {
			ret = cli_usage_error(c, "no command given: ktpack run [OPTIONS] -- CMD [ARG...]");
			goto out;
		}
		run.cmd = argv + optind;
	}
	ret = cli_run_vm(&run);
out:
	free(run.inc);
	return ret;
}

static int cmd_run(const struct kt_cmd *c, int argc, char **argv)
{
	return cli_cmd_vm(c, argc, argv, false);
}

static int cmd_shell(const struct kt_cmd *c, int argc, char **argv)
{
	return cli_cmd_vm(c, argc, argv, true);
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
	  "ktpack initramfs -o FILE [--init FILE] [--compress none|gzip|zstd]\n"
	  "                 [--no-busybox] [--no-wprof] [--include HOST[:GUEST]]...\n"
	  "                 [--ldcache FILE]\n\n"
	  "Packs a guest initramfs: /init (ktpack's guest init unless --init is\n"
	  "given), /bin/busybox, /bin/wprof (when embedded),\n"
	  "each --include at its guest path (a folder is taken whole), and for every\n"
	  "ELF program among them its interpreter and shared libraries where the\n"
	  "guest's loader looks for them (the guest has no LD_LIBRARY_PATH and no\n"
	  "ld.so.cache).  Honours SOURCE_DATE_EPOCH.  Example:\n"
	  "  ktpack initramfs -o initrd.zst --compress zstd --init init.sh \\\n"
	  "      --include ./mytest:/usr/bin/mytest\n" },
	{ "run", cmd_run, true,
	  "ktpack run --kernel FILE [--cpus N] [--memory MIB] [--override MIB]\n"
	  "           [--wprof] [--wprof-args ARGS] [--wprof-grace SECONDS] [--trace-out FILE]\n"
	  "           [--include HOST[:GUEST]]... [--timeout SECONDS] [--accel kvm|tcg|auto]\n"
	  "           -- CMD [ARG...]\n\n"
	  "Boots FILE (default $KTSTR_KERNEL) under QEMU with an initramfs holding\n"
	  "busybox, wprof and the includes, runs CMD in the guest and exits with its\n"
	  "status.  With --wprof, /bin/wprof traces the run and the trace comes back\n"
	  "to --trace-out (default ./wprof.pb); it may run --wprof-grace seconds\n"
	  "(default 30) past its -d duration.  KVM is used when a probe shows it\n"
	  "works, TCG otherwise.  --timeout (default 600, 0 for none) stops the VM.\n"
	  "Example:\n"
	  "  ktpack run --kernel /boot/vmlinuz --wprof -- /bin/busybox echo hello\n" },
	{ "shell", cmd_shell, true,
	  "ktpack shell --kernel FILE [same options as run, without CMD]\n\n"
	  "An interactive busybox shell in the same guest, wprof and its libraries\n"
	  "present.  'poweroff -f' or exit ends it.\n" },
	{ "memory", cmd_memory, true,
	  "ktpack memory --cpus N [--memory MIB] [--wprof] [--wprof-args ARGS] [--override MIB]\n\n"
	  "Prints the guest memory in MiB: max(N*64, 256, MIB), raised to what\n"
	  "wprof's ring buffers need with --wprof; --override is used as given.\n" },
};

static void cli_main_usage(FILE *f)
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
			cli_main_usage(stderr);
			return KT_EXIT_USAGE;
		}
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
		    !strcmp(argv[1], "help")) {
			cli_main_usage(stdout);
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
