/* cmd-ldd.c - ktpack ldd: the closure of ELF programs, as glibc's loader
 * would find it, without running anything. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

struct ldd_args {
	bool json;
	const char *ldcache;
	enum kt_arch arch;
	const char *sysroot;
};

static void ldd_json(const char *file, const struct kt_closure *cl)
{
	const char *interp = kt_closure__interp(cl);
	size_t n = kt_closure__count(cl);

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
}

static void ldd_text(const char *file, const struct kt_closure *cl, bool header)
{
	const char *interp = kt_closure__interp(cl);
	size_t n = kt_closure__count(cl);

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

int cmd_ldd(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	struct ldd_args a = { 0 };
	const struct cli_opt opts[] = {
		OPT_BOOL("json", &a.json),
		OPT_STR(0, "ldcache", &a.ldcache),
		OPT_FN("arch", &a.arch, cli_opt_arch),
		OPT_STR(0, "sysroot", &a.sysroot),
		OPT_END,
	};
	struct kt_elfdeps_opts eo = { .ld_library_path = getenv("LD_LIBRARY_PATH") };
	struct kt_resolver *r = NULL;
	struct kt_ldcache *lc = NULL;
	struct kt_err err = { 0 };
	bool first = true;
	int i, ret = 0;

	(void)ctx;
	i = cli_parse(c, argc, argv, opts);
	if (i < 0)
		return i;
	if (i >= argc)
		return cli_usage_error(c, "no ELF file given");
	/* A cache named on the command line must be readable and sane; the
	 * default one is used only when it is, as the loader does. */
	if (a.ldcache && kt_ldcache__open(a.ldcache, &lc, &err))
		return cli_error("%s", err.msg);
	kt_ldcache__free(lc);
	eo.ldcache_path = a.ldcache;
	eo.arch = a.arch;
	eo.sysroot = a.sysroot;
	if (a.sysroot && cli_check_dir("--sysroot", a.sysroot))
		return -1;
	if (kt_resolver__new(&eo, &r))
		return cli_error("out of memory");
	if (a.json)
		putchar('[');
	for (int k = i; k < argc; k++) {
		struct kt_closure *cl = NULL;

		if (kt_resolver__closure(r, argv[k], NULL, &cl, &err)) {
			ret = cli_error("%s", err.msg);
			/* JSON says which file failed and why, in its place. */
			if (a.json) {
				printf("%s{\"file\":", first ? "" : ",");
				cli_json_str(argv[k]);
				fputs(",\"error\":", stdout);
				cli_json_str(err.msg);
				putchar('}');
				first = false;
			}
			continue;
		}
		if (a.json && !first)
			putchar(',');
		if (a.json)
			ldd_json(argv[k], cl);
		else
			ldd_text(argv[k], cl, argc - i > 1);
		first = false;
		kt_closure__free(cl);
	}
	if (a.json)
		puts("]");
	kt_resolver__free(r);
	return cli_flush() ? -1 : ret;
}
