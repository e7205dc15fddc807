/* parse.c - option parsing, error reporting and the helpers several
 * commands share (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#define CLI_MAX_OPTS 48

/* ---- standard error, never waited on ------------------------------------------ */

/* ktpack's own lines that standard error does not take now (a full pipe,
 * a stopped terminal) wait here: a run's loop calls the log and must not
 * wait on its reader.  Beyond this, the oldest lines go, and a line says
 * so where they were. */
#define CLI_ERR_QUEUE		(64u << 10)
/* At exit, how long lines may still wait for standard error: without it
 * taking any, and in all. */
#define CLI_ERR_IDLE_MS		2000
#define CLI_ERR_TOTAL_MS	10000

static struct kt_writer cli_err_w = { .fd = -1, .wfd = -1 };
static struct kt_outq cli_err_q;
static bool cli_err_opened;

static int cli_err_note(char *buf, size_t sz, uint64_t bytes, uint64_t lines)
{
	(void)bytes;
	return snprintf(buf, sz,
			"ktpack: warning: %llu of ktpack's lines were dropped here: standard error did not take them\n",
			(unsigned long long)lines);
}

static void cli_err_write(const char *line, size_t n)
{
	if (!cli_err_opened) {
		kt_writer_open(&cli_err_w, STDERR_FILENO);
		cli_err_opened = true;
	}
	/* a standard error that fails (a closed pipe) takes nothing more */
	if (kt_outq_flush(&cli_err_q, NULL) ||
	    kt_outq_write_lossy(&cli_err_q, &cli_err_w, line, n, CLI_ERR_QUEUE, cli_err_note))
		kt_outq_clear(&cli_err_q);
}

void cli_stderr_finish(void)
{
	uint64_t start = kt_now_ms(), last = start;

	while (cli_err_q.pending) {
		struct pollfd pf = { .fd = kt_outq_wait_fd(&cli_err_q), .events = POLLOUT };
		uint64_t now = kt_now_ms();
		size_t before = cli_err_q.pending;

		if (now - last >= CLI_ERR_IDLE_MS || now - start >= CLI_ERR_TOTAL_MS)
			break;
		if (poll(&pf, 1, 100) < 0 && errno != EINTR)
			break;
		if (kt_outq_flush(&cli_err_q, NULL))
			break;
		if (cli_err_q.pending < before)
			last = kt_now_ms();
	}
	kt_outq_clear(&cli_err_q);
	kt_writer_close(&cli_err_w);
	cli_err_opened = false;
}

/* One line on stderr, control bytes escaped, in one write when stderr
 * takes it (a pipe takes PIPE_BUF bytes whole or not at all): a line of
 * ours is not cut into a command's output. */
/* @msg into @out (@sz > 5), a newline as \n and another control byte as
 * \xNN: one line a terminal shows as it is; the bytes written. */
static size_t cli_escape(char *out, size_t sz, const char *msg)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)msg; *p && n + 5 < sz; p++) {
		if (*p == '\n')
			n += (size_t)snprintf(out + n, 3, "\\n");
		else if (*p < 0x20 || *p == 0x7f)
			n += (size_t)snprintf(out + n, 5, "\\x%02x", *p);
		else
			out[n++] = (char)*p;
	}
	out[n] = '\0';
	return n;
}

void cli_print(const char *label, const char *value)
{
	char v[4 * PATH_MAX];

	cli_escape(v, sizeof(v), value);
	printf("%s%s\n", label, v);
}

void cli_line(const char *prefix, const char *msg, const char *suffix)
{
	char line[4 * 16384 + 256];
	size_t n = 0;

	fflush(stdout);
	n += (size_t)snprintf(line, 128, "%s", prefix);
	n += cli_escape(line + n, sizeof(line) - 192 - n, msg);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%s\n", suffix);
	fflush(stderr);
	cli_err_write(line, n < sizeof(line) ? n : sizeof(line) - 1);
}

void cli_say(const char *fmt, ...)
{
	char msg[16384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_line("ktpack: ", msg, "");
}

int cli_error(const char *fmt, ...)
{
	char msg[16384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_say("%s", msg);
	return -1;
}

int cli_usage_error(const struct kt_cmd *c, const char *fmt, ...)
{
	char prefix[64], suffix[64], msg[16384];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "ktpack %s: ", c->name);
	snprintf(suffix, sizeof(suffix), " (see 'ktpack %s --help')", c->name);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_line(prefix, msg, suffix);
	return -2;
}

int cli_exit_code(int ret)
{
	return ret == CLI_HELP ? KT_EXIT_OK : ret == -2 ? KT_EXIT_USAGE :
	       ret < 0 ? KT_EXIT_FAIL : ret;
}

int cli_flush(void)
{
	if (fflush(stdout) || ferror(stdout))
		return cli_error("cannot write output: %s", strerror(errno));
	return 0;
}

/* Debug lines are shown when KTPACK_DEBUG is set (not empty). */
static void cli_log_fn(void *ctx, enum kt_log_level level, const char *msg)
{
	const char *dbg = getenv("KTPACK_DEBUG");

	(void)ctx;
	if (level == KT_LOG_DEBUG && (!dbg || !*dbg))
		return;
	cli_line(level == KT_LOG_WARN ? "ktpack: warning: " :
		 level == KT_LOG_DEBUG ? "ktpack: debug: " : "ktpack: ", msg, "");
}

const struct kt_log cli_log = { .fn = cli_log_fn };

/* ---- the option table ------------------------------------------------------------ */

static int cli_take(const struct kt_cmd *c, const struct cli_opt *o, const char *arg)
{
	uint64_t v;

	switch (o->kind) {
	case CLI_BOOL:
		*(bool *)o->value = true;
		return 0;
	case CLI_STR:
		*(const char **)o->value = arg;
		return 0;
	case CLI_UINT:
		if (kt_parse_u64(arg, &v) || v < o->min || v > o->max)
			return cli_usage_error(c, "invalid --%s '%s': expected a number from %" PRIu64
					       " to %" PRIu64, o->name, arg, o->min, o->max);
		*(unsigned *)o->value = (unsigned)v;
		return 0;
	case CLI_LIST: {
		struct cli_list *l = o->value;

		if (kt_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
			return cli_error("out of memory");
		l->v[l->n++] = arg;
		return 0;
	}
	case CLI_FN:
		return o->fn(c, arg, o->value);
	case CLI_MIB:
		if (kt_parse_size_mib(arg, &v) || v < o->min || v > o->max)
			return cli_usage_error(c, "invalid --%s '%s': expected MiB, or a size with K, M, G or T (rounded up to whole MiB), above 0 and below 4 PiB",
					       o->name, arg);
		*(uint64_t *)o->value = v;
		return 0;
	case CLI_BYTES:
		if (kt_parse_size(arg, &v) || v < o->min || v > o->max)
			return cli_usage_error(c, "invalid --%s '%s': expected bytes, or a size with K, M, G or T, above 0 and below 8 EiB",
					       o->name, arg);
		*(uint64_t *)o->value = v;
		return 0;
	}
	return -1;
}

void cli_list_release(struct cli_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* The option getopt stopped at, as the user typed it: a short one by its
 * letter (it may sit in a cluster, "-xy"), a long one as typed. */
static const char *cli_bad_opt(char **argv, char *buf, size_t sz)
{
	if (optopt > 0 && optopt < 256 && optopt != '?') {
		snprintf(buf, sz, "-%c", optopt);
		return buf;
	}
	return argv[optind - 1];
}

int cli_parse(const struct kt_cmd *c, int argc, char **argv,
	      const struct cli_opt *opts)
{
	struct option lo[CLI_MAX_OPTS + 2];
	char shorts[2 * CLI_MAX_OPTS + 4] = ":h", buf[8];
	size_t n = 0, sl = 2;
	int o, idx, r;

	for (; opts[n].name; n++) {
		bool arg;

		/* a table that outgrew lo[] is the program's bug: said, not run */
		if (n == CLI_MAX_OPTS)
			return cli_error("ktpack %s: more than %d options: raise CLI_MAX_OPTS",
					 c->name, CLI_MAX_OPTS);
		arg = opts[n].kind != CLI_BOOL && !(opts[n].kind == CLI_FN && opts[n].flag);

		lo[n] = (struct option){ opts[n].name, arg ? required_argument : no_argument, NULL, 256 + (int)n };
		if (opts[n].short_name) {
			shorts[sl++] = (char)opts[n].short_name;
			if (arg)
				shorts[sl++] = ':';
		}
	}
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	shorts[sl] = '\0';
	/* "+": options stop at the first operand (the guest command's own). */
	memmove(shorts + 1, shorts, sl + 1);
	shorts[0] = '+';

	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, shorts, lo, &idx)) != -1) {
		const struct cli_opt *op = NULL;

		if (o == 'h') {
			printf("usage: %s", c->usage);
			return cli_flush() ? -1 : CLI_HELP;
		}
		if (o == ':')
			return cli_usage_error(c, "option '%s' needs a value",
					       cli_bad_opt(argv, buf, sizeof(buf)));
		if (o == '?')
			return cli_usage_error(c, "invalid option '%s'",
					       cli_bad_opt(argv, buf, sizeof(buf)));
		if (o >= 256)
			op = &opts[o - 256];
		for (size_t i = 0; !op && opts[i].name; i++)
			if (opts[i].short_name == o)
				op = &opts[i];
		r = cli_take(c, op, optarg);
		if (r)
			return r;
	}
	return optind;
}

int cli_parse_all(const struct kt_cmd *c, int argc, char **argv, const struct cli_opt *opts)
{
	int i = cli_parse(c, argc, argv, opts);

	if (i >= 0 && i < argc)
		return cli_usage_error(c, "unexpected argument '%s'", argv[i]);
	return i < 0 ? i : 0;
}

/* ---- shared options -------------------------------------------------------------- */

int cli_opt_topology(const struct kt_cmd *c, const char *arg, void *value)
{
	struct kt_err err = { 0 };

	if (kt_topology_parse(arg, value, &err))
		return cli_usage_error(c, "invalid --topology: %s", err.msg);
	return 0;
}

int cli_opt_wprof(const struct kt_cmd *c, const char *arg, void *value)
{
	(void)c;
	(void)arg;
	((struct cli_wprof *)value)->on = true;
	return 0;
}

int cli_opt_wprof_args(const struct kt_cmd *c, const char *arg, void *value)
{
	struct cli_wprof *w = value;

	(void)c;
	w->on = true;
	w->args = arg;
	return 0;
}

int cli_opt_words(const struct kt_cmd *c, const char *arg, void *value)
{
	struct cli_list *l = value;
	struct kt_err err = { 0 };
	char **words = NULL;
	size_t n;

	if (kt_split_ws(arg, &words, &n))
		return cli_error("out of memory");
	/* A word the kernel would read otherwise is a usage error, now. */
	if (kt_cmdline_tokens_check((const char *const *)words, n, "word", &err)) {
		for (size_t i = 0; i < n; i++)
			free(words[i]);
		free(words);
		return cli_usage_error(c, "invalid --append '%s': %s", arg, err.msg);
	}
	for (size_t i = 0; i < n; i++) {
		if (kt_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v))) {
			while (i < n)
				free(words[i++]);
			free(words);
			return cli_error("out of memory");
		}
		l->v[l->n++] = words[i];
	}
	free(words);	/* the strings now belong to the list */
	return 0;
}

void cli_list_free_strings(struct cli_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->v[i]);
	cli_list_release(l);
}

int cli_opt_include(const struct kt_cmd *c, const char *arg, void *value)
{
	char host[PATH_MAX], guest[PATH_MAX];
	struct cli_opt o = { .kind = CLI_LIST, .value = value };
	int r = kt_include_split(arg, host, guest, sizeof(host));

	/* a HOST that PATH does not have is the library's to say */
	if (r && r != -ENOENT && r != -EEXIST)
		return cli_usage_error(c, "invalid --include '%s': expected HOST[:GUEST]", arg);
	return cli_take(c, &o, arg);
}

int cli_opt_qemu_opt(const struct kt_cmd *c, const char *arg, void *value)
{
	struct cli_opt o = { .kind = CLI_LIST, .value = value };
	struct kt_err err = { 0 };

	if (kt_vm_check_qemu_opts(&arg, 1, &err))
		return cli_usage_error(c, "%s", err.msg);
	return cli_take(c, &o, arg);
}

int cli_opt_require_config(const struct kt_cmd *c, const char *arg, void *value)
{
	struct cli_opt o = { .kind = CLI_LIST, .value = value };
	struct kt_err err = { 0 };

	if (kt_kconfig_spec_check(arg, &err))
		return cli_usage_error(c, "invalid --require-config: %s", err.msg);
	return cli_take(c, &o, arg);
}

int cli_opt_arch(const struct kt_cmd *c, const char *arg, void *value)
{
	if (kt_arch_parse(arg, value))
		return cli_usage_error(c, "invalid --arch '%s': expected x86_64 or aarch64 (arm64)", arg);
	return 0;
}

int cli_check_dir(const char *opt, const char *path)
{
	struct stat st;

	if (!*path)
		return cli_error("%s: an empty folder name", opt);
	if (stat(path, &st))
		return cli_error("%s '%s': %s", opt, path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cli_error("%s '%s': not a folder", opt, path);
	return 0;
}

bool cli_embedded_any(const char *name)
{
	for (size_t i = 0; i < kt_embedded_blobs.count; i++)
		if (!strcmp(kt_embedded_blobs.blobs[i].name, name) &&
		    kt_blob__embedded(&kt_embedded_blobs.blobs[i]))
			return true;
	return false;
}

int cli_load_wprof(const struct cli_wprof *w, struct kt_wprof_config **out)
{
	const struct kt_blob *b = kt_blob_table__find(&kt_embedded_blobs, "wprof");
	struct kt_wprof_config *cfg = NULL;
	struct kt_err err = { 0 };
	char **argv = NULL, *preset = NULL;
	size_t n;
	int r;

	/* A preset, checked as install_env checks it, or the embedded bytes. */
	if (b && kt_blob_preset(b, &preset, &err))
		return cli_error("%s", err.msg);
	/* (the guest's architecture's wprof is the library's to check) */
	if (!preset && !cli_embedded_any("wprof"))
		return cli_error("wprof is not embedded: rebuild with 'make %s=/path/to/wprof' or set %s",
				 b ? b->make_var : "WPROF", KT_WPROF_PATH_ENV);
	r = kt_wprof_config__new(preset, &cfg);
	free(preset);
	if (r)
		return cli_error("out of memory");
	r = 0;
	if (w->args) {
		r = kt_split_ws(w->args, &argv, &n);
		if (r)
			r = cli_error("cannot split --wprof-args: %s", strerror(-r));
		else if (kt_wprof_config__set_args(cfg, (const char *const *)argv, n, &err))
			r = cli_error("%s", err.msg);
	}
	kt_strv_free(argv);
	if (r) {
		kt_wprof_config__free(cfg);
		return r;
	}
	*out = cfg;
	return 0;
}

/* The length of the valid UTF-8 sequence at @p, or 0. */
static size_t cli_utf8_len(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;

	if (p[0] >= 0xf5)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* overlong three-byte forms, surrogates, beyond U+10FFFF */
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

/* A JSON string: escaped, and valid UTF-8 whatever the bytes (a byte that
 * is not part of a valid sequence becomes U+FFFD). */
void cli_json_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	putchar('"');
	while (*p) {
		size_t n;

		if (*p == '"' || *p == '\\') {
			printf("\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p++);
		} else if (*p < 0x80) {
			putchar(*p++);
		} else if ((n = cli_utf8_len(p))) {
			fwrite(p, 1, n, stdout);
			p += n;
		} else {
			fputs("\\ufffd", stdout);
			p++;
		}
	}
	putchar('"');
}
