/* cmd-kernel.c - ktpack kernel: what a kernel is and has (kt_kernel_facts),
 * before minutes are spent booting it. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

struct kernel_args {
	bool json;
};

/* What boots: "vmlinux (PVH)", or the file as it is. */
static const char *kernel_boot(const struct kt_kernel_facts *f)
{
	return f->pvh ? "vmlinux (PVH)" : kt_kernel_format_name(f->format);
}

/* A config's value as both outputs say it: "unknown" without a config. */
static const char *kernel_value(const struct kt_kernel_facts *f, const char *name)
{
	const char *v;

	if (!f->config)
		return "unknown";
	v = kt_kconfig__value(f->config, name);
	return v ? v : "not set";
}

static void kernel_print(const struct kt_kernel_facts *f)
{
	cli_print("kernel ", f->file);
	cli_print("version ", *f->release ? f->release : "unknown");
	printf("arch %s\n", kt_arch_name(f->arch));
	if (f->comp != KT_KCOMP_NONE)
		printf("format %s (%s)\n", kt_kernel_format_name(f->format), kt_kcomp_name(f->comp));
	else
		printf("format %s\n", kt_kernel_format_name(f->format));
	printf("boot %s\n", kernel_boot(f));
	if (f->config)
		cli_print("config ", kt_kconfig__from(f->config));
	else
		cli_print("config none: looked for ", f->looked);
	for (const char *const *n = kt_kconfig_tracing(); *n; n++)
		printf("%s %s\n", *n, kernel_value(f, *n));
}

static void kernel_json(const struct kt_kernel_facts *f)
{
	fputs("{\"kernel\":", stdout);
	cli_json_str(f->file);
	fputs(",\"version\":", stdout);
	if (*f->release)
		cli_json_str(f->release);
	else
		fputs("null", stdout);
	fputs(",\"arch\":", stdout);
	cli_json_str(kt_arch_name(f->arch));
	fputs(",\"format\":", stdout);
	cli_json_str(kt_kernel_format_name(f->format));
	fputs(",\"compression\":", stdout);
	if (f->comp != KT_KCOMP_NONE)
		cli_json_str(kt_kcomp_name(f->comp));
	else
		fputs("null", stdout);
	fputs(",\"boot\":", stdout);
	cli_json_str(kernel_boot(f));
	printf(",\"pvh\":%s,\"config\":", f->pvh ? "true" : "false");
	if (f->config)
		cli_json_str(kt_kconfig__from(f->config));
	else
		fputs("null", stdout);
	fputs(",\"looked\":", stdout);
	cli_json_str(f->looked);
	fputs(",\"configs\":{", stdout);
	for (const char *const *n = kt_kconfig_tracing(); *n; n++) {
		if (n != kt_kconfig_tracing())
			putchar(',');
		cli_json_str(*n);
		putchar(':');
		cli_json_str(kernel_value(f, *n));
	}
	puts("}}");
}

int cmd_kernel(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	struct kernel_args a = { 0 };
	const struct cli_opt opts[] = {
		OPT_BOOL("json", &a.json),
		OPT_END,
	};
	struct kt_cache_opts co = { .log = cli_log };
	struct kt_kernel_facts *f = NULL;
	struct kt_cache *cache = NULL;
	struct kt_err err = { 0 }, why = { 0 };
	const char *kernel;
	int i, ret;

	(void)ctx;
	i = cli_parse(c, argc, argv, opts);
	if (i < 0)
		return i;
	if (argc - i > 1)
		return cli_usage_error(c, "unexpected argument '%s'", argv[i + 1]);
	kernel = i < argc ? argv[i] : getenv("KTSTR_KERNEL");
	if (!kernel || !*kernel)
		return cli_usage_error(c, "no kernel given: ktpack kernel [--json] KERNEL (or set KTSTR_KERNEL)");
	/* As a run resolves it: a bzImage's vmlinux from the cache. */
	if (kt_cache__open(&co, &cache, &why))
		cli_say("warning: %s: nothing is cached, the bzImage is read as it is", why.msg);
	{
		struct kt_kernel_opts ko = { .cache = cache, .log = cli_log };

		ret = kt_kernel_facts(kernel, &ko, &f, &err);
	}
	kt_cache__close(cache);
	if (ret)
		return cli_error("%s", err.msg);
	if (a.json)
		kernel_json(f);
	else
		kernel_print(f);
	kt_kernel_facts__free(f);
	return cli_flush();
}
