/* cli.c - subcommands of ktpack.  Each parses its options from one table,
 * calls the library and reports: one line per error on stderr, exit 0 on
 * success, 1 on a runtime failure, 2 on a usage error. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob.h"
#include "common.h"
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
       OPT_MEMORY, OPT_OVERRIDE };

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
