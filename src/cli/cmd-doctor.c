/* cmd-doctor.c - ktpack doctor: whether this host can run guests, and
 * what is missing (kt_host_check), for a user or an offline runner. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

struct doctor_args {
	const char *kernel;
	const char *qemu;
	bool probe;
	bool json;
};

static volatile sig_atomic_t doctor_stop;

static void doctor_on_signal(int sig)
{
	doctor_stop = sig;
}

static void doctor_print(const struct kt_host_report *r)
{
	if (!r->ok)
		printf("%s guests cannot run here: see the lines that say missing\n",
		       kt_arch_name(r->arch));
	else if (r->accel == KT_ACCEL_AUTO)
		printf("%s guests can run here, under KVM when it proves to work, else TCG\n",
		       kt_arch_name(r->arch));
	else
		printf("%s guests can run here, under %s\n", kt_arch_name(r->arch),
		       kt_accel_name(r->accel));
	for (size_t i = 0; i < r->n; i++) {
		const struct kt_check *c = &r->checks[i];

		printf("%-7s  %-8s  %-7s  %-18s  %s", kt_check_state_name(c->state), c->area,
		       c->arch ? kt_arch_name(c->arch) : "-", c->name, c->detail);
		if (c->package && c->state != KT_CHECK_OK)
			printf(" (Debian: apt-get install %s)", c->package);
		putchar('\n');
	}
}

static void doctor_json(const struct kt_host_report *r)
{
	printf("{\"ok\":%s,\"arch\":", r->ok ? "true" : "false");
	cli_json_str(kt_arch_name(r->arch));
	fputs(",\"accel\":", stdout);
	cli_json_str(r->accel == KT_ACCEL_AUTO ? "unknown" : kt_accel_name(r->accel));
	fputs(",\"checks\":[", stdout);
	for (size_t i = 0; i < r->n; i++) {
		const struct kt_check *c = &r->checks[i];

		printf("%s{\"state\":", i ? "," : "");
		cli_json_str(kt_check_state_name(c->state));
		fputs(",\"area\":", stdout);
		cli_json_str(c->area);
		fputs(",\"arch\":", stdout);
		if (c->arch)
			cli_json_str(kt_arch_name(c->arch));
		else
			fputs("null", stdout);
		fputs(",\"name\":", stdout);
		cli_json_str(c->name);
		fputs(",\"detail\":", stdout);
		cli_json_str(c->detail);
		fputs(",\"package\":", stdout);
		if (c->package)
			cli_json_str(c->package);
		else
			fputs("null", stdout);
		putchar('}');
	}
	puts("]}");
}

int cmd_doctor(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	struct doctor_args a = { .kernel = getenv("KTSTR_KERNEL") };
	const struct cli_opt opts[] = {
		OPT_STR(0, "kernel", &a.kernel),
		OPT_STR(0, "qemu", &a.qemu),
		OPT_BOOL("probe", &a.probe),
		OPT_BOOL("json", &a.json),
		OPT_END,
	};
	struct sigaction sa = { .sa_handler = doctor_on_signal };
	struct kt_host_report *r = NULL;
	struct kt_err err = { 0 };
	int i, ret;

	(void)ctx;
	i = cli_parse_all(c, argc, argv, opts);
	if (i)
		return i;
	if (a.qemu && !*a.qemu)
		return cli_usage_error(c, "--qemu: an empty program name");
	{
		struct kt_host_opts o = {
			.kernel = a.kernel && *a.kernel ? a.kernel : NULL, .qemu = a.qemu,
			.probe = a.probe, .blobs = &kt_embedded_blobs, .log = cli_log,
			.stop = &doctor_stop,
		};

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		if (kt_host_check(&o, &r, &err))
			return cli_error("%s", err.msg);
	}
	if (a.json)
		doctor_json(r);
	else
		doctor_print(r);
	ret = cli_flush();
	if (!ret && !r->ok)
		ret = KT_EXIT_FAIL;
	kt_host_report__free(r);
	return ret;
}
