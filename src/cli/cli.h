/* cli.h - what the commands of ktpack share: the command table entry, the
 * option table (one entry binds an option to a variable, as git's
 * parse-options does), error reporting, and the state main set up.  The
 * CLI is the only code that prints and chooses exit codes. */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ktpack/ktpack.h>

#include "internal.h"

/* Exit codes: 0 success, 1 runtime failure, 2 usage. */
#define KT_EXIT_OK	0
#define KT_EXIT_FAIL	1
#define KT_EXIT_USAGE	2

/* What main did before the command: the blobs installed and exported. */
struct cli_ctx {
	struct kt_installed *installed;	/* NULL unless the command needs it */
};

struct kt_cmd {
	const char *name;
	/* Returns the exit status, or what cli_error() / cli_usage_error()
	 * returned. */
	int (*fn)(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
	bool needs_env;		/* install_env runs before it */
	const char *usage;	/* grammar, then what it does */
};

/* What cli_parse() returns after printing the usage for --help (exit 0). */
#define CLI_HELP	(-3)

/* "ktpack: <problem>" on stderr, one line; returns -1 (exit 1). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "ktpack CMD: <problem> (see 'ktpack CMD --help')"; returns -2 (exit 2). */
int cli_usage_error(const struct kt_cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The exit code for a command's return value. */
int cli_exit_code(int ret);
/* Flushes stdout; a write error (a full disk, a closed pipe) is one. */
int cli_flush(void);
/* The library's log, printed as "ktpack: warning: ..." / "ktpack: ...". */
extern const struct kt_log cli_log;
/*
 * @prefix, @msg with its control bytes escaped, @suffix: one line on
 * stderr, and "ktpack: <msg>".  Never waited on: what stderr does not
 * take now is held (the oldest lines dropped beyond 64 KiB, and said),
 * and written by the next line or by cli_stderr_finish().
 */
void cli_line(const char *prefix, const char *msg, const char *suffix);
/* "@label@value" and a newline on stdout, @value's control bytes
 * escaped as cli_line() does (a file name, a guest's text). */
void cli_print(const char *label, const char *value);
void cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* At exit: the lines held, written while stderr takes them (at most 2 s
 * without progress, 10 s in all); what it does not take is dropped. */
void cli_stderr_finish(void);

/* ---- options ---------------------------------------------------------------- */

enum cli_opt_kind { CLI_BOOL, CLI_STR, CLI_UINT, CLI_LIST, CLI_FN, CLI_MIB, CLI_BYTES };

/* A repeatable option's values, in order. */
struct cli_list {
	const char **v;
	size_t n, cap;
};

struct cli_opt {
	const char *name;	/* long name, without "--" */
	int short_name;		/* 0: none */
	enum cli_opt_kind kind;
	void *value;		/* bool, const char *, uint64_t, unsigned, cli_list */
	uint64_t min, max;	/* numbers: the accepted range */
	/* CLI_FN: takes the value (NULL for a flag), returns 0 or a usage
	 * error's return. */
	int (*fn)(const struct kt_cmd *c, const char *arg, void *value);
	bool flag;		/* CLI_FN: takes no value */
};

#define OPT_BOOL(l, v)		{ (l), 0, CLI_BOOL, (v), 0, 0, NULL, true }
#define OPT_STR(s, l, v)	{ (l), (s), CLI_STR, (v), 0, 0, NULL, false }
#define OPT_UINT(l, v, lo, hi)	{ (l), 0, CLI_UINT, (v), (lo), (hi), NULL, false }
#define OPT_LIST(l, v)		{ (l), 0, CLI_LIST, (v), 0, 0, NULL, false }
/* A memory size: MiB, or with K, M, G, T (kt_parse_size_mib), into a uint64_t. */
#define OPT_MIB(s, l, v)	{ (l), (s), CLI_MIB, (v), 1, UINT32_MAX, NULL, false }
/* A size in bytes (K, M, G, T suffixes), from 1 to @max. */
#define OPT_BYTES(s, l, v, max)	{ (l), (s), CLI_BYTES, (v), 1, (max), NULL, false }
#define OPT_FN(l, v, f)		{ (l), 0, CLI_FN, (v), 0, 0, (f), false }
#define OPT_FN_FLAG(l, v, f)	{ (l), 0, CLI_FN, (v), 0, 0, (f), true }
#define OPT_END			{ NULL, 0, CLI_BOOL, NULL, 0, 0, NULL, false }

/*
 * Parses the options of @argv (argv[0] is the command's name) up to the
 * first operand or "--".  Returns the index of the first operand; or
 * CLI_HELP after printing the usage for --help; or a usage error's return.
 */
int cli_parse(const struct kt_cmd *c, int argc, char **argv,
	      const struct cli_opt *opts);
/* The same for a command that takes no operand: 0, CLI_HELP, or a usage
 * error's return (an operand is one). */
int cli_parse_all(const struct kt_cmd *c, int argc, char **argv, const struct cli_opt *opts);
/* Frees a list's vector (not the strings, which are argv's). */
void cli_list_release(struct cli_list *l);

/* ---- what several commands share -------------------------------------------- */

/* --wprof and --wprof-args. */
struct cli_wprof {
	bool on;
	const char *args;	/* NULL: the default args */
};
/* --topology NnNlNcNt into a struct kt_topology. */
int cli_opt_topology(const struct kt_cmd *c, const char *arg, void *value);
int cli_opt_wprof(const struct kt_cmd *c, const char *arg, void *value);
int cli_opt_wprof_args(const struct kt_cmd *c, const char *arg, void *value);
/* Words of one string split on blanks, each appended to a cli_list of
 * strings the list owns (cli_list_free_strings). */
int cli_opt_words(const struct kt_cmd *c, const char *arg, void *value);
void cli_list_free_strings(struct cli_list *l);
/* --include HOST[:GUEST], checked and appended to a cli_list. */
int cli_opt_include(const struct kt_cmd *c, const char *arg, void *value);
/* --qemu-opt ARG, appended to a cli_list unless it sizes the guest
 * (kt_vm_check_qemu_opts). */
int cli_opt_qemu_opt(const struct kt_cmd *c, const char *arg, void *value);
/* --require-config CONFIG_X[=y|m], its form checked
 * (kt_kconfig_spec_check), appended to a cli_list. */
int cli_opt_require_config(const struct kt_cmd *c, const char *arg, void *value);
/* @opt's @path is a folder: else an error line, -1. */
int cli_check_dir(const char *opt, const char *path);
/* Whether a slot of @name is embedded, for any architecture. */
bool cli_embedded_any(const char *name);
/* --arch NAME into an enum kt_arch. */
int cli_opt_arch(const struct kt_cmd *c, const char *arg, void *value);

/*
 * The wprof config for the selection: a preset wprof, or the embedded one,
 * and the chosen args.  Says which make variable embeds wprof when the
 * binary carries none.
 */
int cli_load_wprof(const struct cli_wprof *w, struct kt_wprof_config **out);

void cli_json_str(const char *s);


/* The commands, one file each. */
int cmd_blobs(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_env(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_exec(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_cmdline(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_memory(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_doctor(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_kernel(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_ldd(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_initramfs(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_run(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);
int cmd_shell(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx);

#endif
