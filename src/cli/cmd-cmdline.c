/* cmd-cmdline.c - ktpack cmdline and ktpack memory: what a guest gets,
 * computed without booting anything. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>


int cmd_cmdline(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	struct cli_wprof w = { 0 };
	struct cli_list append = { 0 };
	enum kt_arch arch = KT_ARCH_NONE;
	const struct cli_opt opts[] = {
		OPT_FN("arch", &arch, cli_opt_arch),
		OPT_FN_FLAG("wprof", &w, cli_opt_wprof),
		OPT_FN("wprof-args", &w, cli_opt_wprof_args),
		OPT_FN("append", &append, cli_opt_words),
		OPT_END,
	};
	struct kt_wprof_config *cfg = NULL;
	struct kt_err err = { 0 };
	char *line = NULL;
	int i, ret;

	(void)ctx;
	i = cli_parse_all(c, argc, argv, opts);
	ret = i ? i : w.on ? cli_load_wprof(&w, &cfg) : 0;
	if (!ret) {
		KT_RUN_OPTS(o, .wprof = cfg, .append = append.v, .nappend = append.n, .arch = arch);

		if (kt_run_cmdline(&o, &line, &err))
			ret = cli_error("%s", err.msg);
	}
	if (!ret) {
		puts(line);
		ret = cli_flush();
	}
	free(line);
	kt_wprof_config__free(cfg);
	cli_list_free_strings(&append);
	return ret;
}

struct memory_args {
	struct kt_memory_opts m;
	struct cli_wprof w;
};

int cmd_memory(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	struct memory_args a = { 0 };
	const struct cli_opt opts[] = {
		OPT_UINT("cpus", &a.m.cpus, 1, 4096),
		OPT_MIB('m', "memory", &a.m.requested_mib),
		OPT_MIB(0, "exact-memory", &a.m.override_mib),
		OPT_MIB(0, "override", &a.m.override_mib),	/* the old name */
		OPT_FN_FLAG("wprof", &a.w, cli_opt_wprof),
		OPT_FN("wprof-args", &a.w, cli_opt_wprof_args),
		OPT_END,
	};
	struct kt_wprof_config *cfg = NULL;
	struct kt_err err = { 0 };
	uint64_t mib = 0;
	bool below;
	int i, ret;

	(void)ctx;
	i = cli_parse_all(c, argc, argv, opts);
	if (i)
		return i;
	if (!a.m.cpus)
		return cli_usage_error(c, "--cpus is required");
	ret = a.w.on ? cli_load_wprof(&a.w, &cfg) : 0;
	if (!ret && cfg) {
		size_t n;
		const char *const *args = kt_wprof_config__args(cfg, &n);

		if (kt_wprof_memory_floor_mib(args, n, a.m.cpus, &a.m.wprof_floor_mib, &err))
			ret = cli_error("%s", err.msg);
	}
	if (!ret && kt_derive_test_memory_mib(&a.m, &mib, &below, &err))
		ret = cli_error("%s", err.msg);
	if (!ret && below)
		cli_say("warning: the exact memory of %" PRIu64 " MiB is below the %" PRIu64
			" MiB that wprof's ring buffers need", a.m.override_mib, a.m.wprof_floor_mib);
	if (!ret) {
		printf("%" PRIu64 "\n", mib);
		ret = cli_flush();
	}
	kt_wprof_config__free(cfg);
	return ret;
}
