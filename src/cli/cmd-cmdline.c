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
	unsigned cpus;
	struct kt_topology topology;
	uint64_t memory, exact;
	struct cli_wprof w;
};

/* The memory kt_run() gives the guest (kt_run_memory_mib): one rule. */
int cmd_memory(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	struct memory_args a = { 0 };
	const struct cli_opt opts[] = {
		OPT_UINT("cpus", &a.cpus, 1, 4096),
		OPT_FN("topology", &a.topology, cli_opt_topology),
		OPT_MIB('m', "memory", &a.memory),
		OPT_MIB(0, "exact-memory", &a.exact),
		OPT_MIB(0, "override", &a.exact),	/* the old name */
		OPT_FN_FLAG("wprof", &a.w, cli_opt_wprof),
		OPT_FN("wprof-args", &a.w, cli_opt_wprof_args),
		OPT_END,
	};
	struct kt_wprof_config *cfg = NULL;
	struct kt_err err = { 0 };
	uint64_t mib = 0;
	int i, ret;

	(void)ctx;
	i = cli_parse_all(c, argc, argv, opts);
	if (i)
		return i;
	if (!a.cpus && !a.topology.nodes)
		return cli_usage_error(c, "--cpus or --topology is required");
	if (a.topology.nodes && a.cpus && a.cpus != kt_topology_cpus(&a.topology))
		return cli_usage_error(c, "--cpus %u and --topology (%u CPUs) disagree: give one of them",
				       a.cpus, kt_topology_cpus(&a.topology));
	ret = a.w.on ? cli_load_wprof(&a.w, &cfg) : 0;
	if (!ret) {
		KT_RUN_OPTS(o, .cpus = a.cpus, .topology = a.topology, .memory_mib = a.memory,
			    .memory_override_mib = a.exact, .wprof = cfg, .log = cli_log);

		if (kt_run_memory_mib(&o, &mib, &err))
			ret = cli_error("%s", err.msg);
	}
	if (!ret) {
		printf("%" PRIu64 "\n", mib);
		ret = cli_flush();
	}
	kt_wprof_config__free(cfg);
	return ret;
}
