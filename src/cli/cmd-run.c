/* cmd-run.c - ktpack run and ktpack shell: parse the options into
 * kt_run_opts, call kt_run(), report. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#define RUN_DEFAULT_TIMEOUT_S 600

struct run_args {
	const char *kernel;
	enum kt_arch arch;
	const char *sysroot;
	unsigned cpus;
	uint64_t memory, override;
	struct cli_wprof w;
	unsigned grace_s;
	bool grace_set;
	const char *trace_out;
	struct cli_list inc;
	bool cache_includes;
	unsigned timeout_s, boot_timeout_s;
	const char *accel;
	bool no_pvh;
	const char *qemu;
	struct cli_list qemu_opts;
	struct cli_list append;		/* owns its strings */
	const char *channel;
	struct cli_list modules;
	struct cli_list optional_modules;
	const char *modules_dir;
	bool console;
	unsigned fail_on;
	struct kt_topology topology;
	int timeout_signal;
	unsigned kill_after_s;
	bool repro, repro_panic;
	struct cli_list require_config;
	struct cli_list collect;
	const char *out_dir;
	uint64_t collect_max;
};

static volatile sig_atomic_t run_stop, run_signal, run_last, run_forwarded, run_qemu_pgid,
	run_paused_ms;

static void run_on_signal(int sig)
{
	run_stop = sig;
}

/* Ctrl-C and Ctrl-\ go to the guest command (a tool prints its result on
 * SIGINT); the third of them stops the VM, for a command that ignores
 * them. */
#define RUN_FORWARD_MAX 2

static void run_on_terminal_signal(int sig)
{
	run_last = sig;
	if (run_forwarded++ >= RUN_FORWARD_MAX)
		run_stop = sig;
	else
		run_signal = sig;
}

/* @title, then each line of @text after "  | ". */
static void run_show_lines(const char *title, const char *text)
{
	cli_say("%s:", title);
	for (const char *p = text; *p; ) {
		size_t l = strcspn(p, "\n");
		char line[4096];

		snprintf(line, sizeof(line), "%.*s", (int)l, p);
		cli_line("  | ", line, "");
		p += l + (p[l] == '\n');
	}
}

/* Whether QEMU's lines @q say more than the one line @msg quotes. */
static bool run_qemu_said_more(const char *q, const char *msg)
{
	size_t l = strcspn(q, "\n");
	char first[2048];

	if (!*q)
		return false;
	if (q[l] && q[l + 1])
		return true;
	snprintf(first, sizeof(first), "%.*s", (int)l, q);
	return !strstr(msg, first);
}

/*
 * Ctrl-Z (and a background read or write of the terminal): QEMU, in a
 * group of its own, stops with us and goes on when we do, as one job.
 */
static void run_on_job_stop(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, again = { .sa_handler = run_on_job_stop };
	struct timespec t0, t1;
	int e = errno;
	sigset_t s;

	if (run_qemu_pgid > 0)
		kill(-run_qemu_pgid, SIGSTOP);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sigaction(sig, &dfl, NULL);
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(sig);
	/* here once continued (fg, bg, kill -CONT): the time stopped does
	 * not count against the run's deadlines */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	run_paused_ms += (sig_atomic_t)((t1.tv_sec - t0.tv_sec) * 1000 +
					(t1.tv_nsec - t0.tv_nsec) / 1000000);
	sigaction(sig, &again, NULL);
	if (run_qemu_pgid > 0)
		kill(-run_qemu_pgid, SIGCONT);
	errno = e;
}

/* Where the run's time went: a debug line (KTPACK_DEBUG=1). */
static void run_report_timings(const struct kt_run_result *res)
{
	const struct kt_vm_timings *t = &res->timings;
	char line[256];

	snprintf(line, sizeof(line),
		 "timings: prepare %llu ms, KVM given up %llu ms, boot %llu ms, command %llu ms, end %llu ms",
		 (unsigned long long)res->prepare_ms, (unsigned long long)t->fallback_ms,
		 (unsigned long long)t->boot_ms, (unsigned long long)t->command_ms,
		 (unsigned long long)t->end_ms);
	cli_log.fn(cli_log.ctx, KT_LOG_DEBUG, line);
}

/* One line for the files back, and a warning for each refused. */
static void run_report_collect(const struct kt_run_result *res, const struct run_args *a)
{
	const struct kt_collected *c = &res->collected;

	/* said when the command ran to its end or its timeout, or a file came */
	if (!a->collect.n || (res->end != KT_VM_EXITED && res->end != KT_VM_TIMEOUT &&
			      !c->nfiles && !c->refused))
		return;
	for (size_t i = 0; i < c->nrefusals; i++)
		cli_line("ktpack: warning: collect: ", c->refusals[i], "");
	if (c->refused)
		cli_say("collected %zu file%s (%llu bytes) into '%s', %zu refused", c->nfiles,
			c->nfiles == 1 ? "" : "s", (unsigned long long)c->bytes,
			a->out_dir ? a->out_dir : ".", c->refused);
	else
		cli_say("collected %zu file%s (%llu bytes) into '%s'", c->nfiles,
			c->nfiles == 1 ? "" : "s", (unsigned long long)c->bytes,
			a->out_dir ? a->out_dir : ".");
}

static int run_report(const struct kt_run_result *res)
{
	/* worded as env(1)'s; said once: init does not write it on the
	 * command's stderr */
	if (res->exec_errno && res->exec_interp)
		cli_say("the guest could not run '%s': its #! interpreter or its ELF loader is missing",
			res->exec_path);
	else if (res->exec_errno)
		cli_say("the guest could not run '%s': %s", res->exec_path,
			strerror(res->exec_errno));
	run_report_timings(res);
	if (res->trace_written)
		cli_say("wrote the wprof trace to '%s' (%llu bytes)", res->trace_out,
			(unsigned long long)res->trace_bytes);
	return res->status;
}

/* The exit status for a run that did not end with the command's; the
 * console's last lines when the guest failed (not shown live), and
 * QEMU's when it said more than the error line. */
static int run_failed(const struct kt_run_result *res, const struct kt_err *err, bool shown)
{
	run_report(res);
	if (res->end == KT_VM_EXITED)	/* the trace failed */
		cli_error("%s (the command exited with status %d)", err->msg, res->status);
	else
		cli_error("%s", err->msg);
	if (res->end == KT_VM_STOPPED)
		return kt_run_exit_status(res, err->code, run_stop ? run_stop : run_last);
	if (run_qemu_said_more(res->qemu_stderr, err->msg))
		run_show_lines("QEMU's last lines", res->qemu_stderr);
	if (!shown && *res->console_tail)
		run_show_lines("the guest console's last lines", res->console_tail);
	return kt_run_exit_status(res, err->code, run_stop ? run_stop : run_last);
}

/* --signal: a name (TERM, SIGTERM, any case) or a number, of those the
 * guest sends on (kt_run refuses others). */
static int run_opt_signal(const struct kt_cmd *c, const char *arg, void *value)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGKILL };
	const char *name = strncasecmp(arg, "SIG", 3) ? arg : arg + 3;
	uint64_t n = 0;

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!strcasecmp(name, sigabbrev_np(sigs[i])) ||
		    (!kt_parse_u64(arg, &n) && n == (uint64_t)sigs[i])) {
			*(int *)value = sigs[i];
			return 0;
		}
	return cli_usage_error(c, "invalid --signal '%s': expected TERM, INT, QUIT, HUP or KILL", arg);
}

static int run_opt_fail_on(const struct kt_cmd *c, const char *arg, void *value)
{
	struct kt_err err = { 0 };

	if (kt_vm_events_parse(arg, value, &err))
		return cli_usage_error(c, "invalid --fail-on: %s", err.msg);
	return 0;
}

static int run_opt_grace(const struct kt_cmd *c, const char *arg, void *value)
{
	struct run_args *a = value;
	uint64_t v;

	if (kt_parse_u64(arg, &v) || v > 86400)
		return cli_usage_error(c, "invalid --wprof-grace '%s': expected a number from 0 to 86400",
				       arg);
	a->grace_s = (unsigned)v;
	a->grace_set = true;
	return 0;
}

/* The busybox and wprof to pack: a KTSTR_*_PATH the user set, else the
 * embedded bytes (kt_run takes them from the table). */
static int run_blobs(const struct run_args *a, struct kt_run_opts *o, char **bb,
		     struct kt_wprof_config **cfg)
{
	const struct kt_blob *b = kt_blob_table__find(&kt_embedded_blobs, "busybox");
	struct kt_err err = { 0 };

	if (b && kt_blob_preset(b, bb, &err))
		return cli_error("%s", err.msg);
	/* (the guest's architecture's busybox is the library's to check) */
	if (!*bb && !cli_embedded_any("busybox"))
		return cli_error("busybox is not embedded: rebuild with 'make %s=/path/to/busybox' or set %s",
				 b ? b->make_var : "BUSYBOX", b ? b->env : "KTSTR_BUSYBOX_PATH");
	o->busybox_path = *bb;
	/* --repro without --wprof: a wprof for the second run, with the
	 * default args (or --wprof-args's, which turn wprof on at once) */
	if ((a->w.on || a->repro || a->repro_panic) && cli_load_wprof(&a->w, cfg))
		return -1;
	if (a->w.on)
		o->wprof = *cfg;
	else
		o->repro_wprof = *cfg;
	if (a->repro || a->repro_panic)
		o->repro = KT_REPRO_ON | (a->repro_panic ? KT_REPRO_PANIC : 0);
	return 0;
}

/* What the second run of --repro did, in a line, after the first's. */
static void run_report_repro(const struct kt_run_result *res, const struct run_args *a)
{
	char how[600];

	if (!res->repro.ran) {
		/* (the line before said why) */
		if ((a->repro || a->repro_panic) && res->exec_errno)
			cli_say("--repro: a command the guest could not run is not run again");
		return;
	}
	if (res->repro.r) {
		/* its error says what did not come back */
		cli_say("--repro: run again under wprof: %s", res->repro.why);
		return;
	}
	snprintf(how, sizeof(how), "the command exited with status %d", res->repro.status);
	if (res->repro.trace_written)
		cli_say("--repro: run again under wprof, %s; wrote the wprof trace to '%s' (%llu bytes)",
			how, res->repro.trace_out, (unsigned long long)res->repro.trace_bytes);
	else
		cli_say("--repro: run again under wprof, %s; no trace came back", how);
}

static int run_vm(const struct kt_cmd *c, struct run_args *a, char **cmd)
{
	KT_RUN_OPTS(o,
		.kernel = a->kernel, .arch = a->arch, .sysroot = a->sysroot,
		.cpus = a->cpus, .memory_mib = a->memory,
		.memory_override_mib = a->override, .trace_out = a->trace_out,
		.blobs = &kt_embedded_blobs, .includes = a->inc.v, .nincludes = a->inc.n,
		.cache_includes = a->cache_includes,
		.cmd = (const char *const *)cmd, .timeout_s = a->timeout_s,
		.boot_timeout_s = a->boot_timeout_s,
		.log = cli_log, .stop = &run_stop, .signal = &run_signal, .qemu_pgid = &run_qemu_pgid,
		.paused_ms = &run_paused_ms,
		.no_pvh = a->no_pvh, .qemu = a->qemu,
		.qemu_opts = a->qemu_opts.v, .nqemu_opts = a->qemu_opts.n,
		.append = a->append.v, .nappend = a->append.n,
		.wprof_grace_s = !a->grace_set ? 0 : a->grace_s ? a->grace_s : KT_RUN_GRACE_NONE,
		.modules = a->modules.v, .nmodules = a->modules.n, .modules_dir = a->modules_dir,
		.fail_on = a->fail_on, .topology = a->topology,
		.timeout_signal = a->timeout_signal, .kill_after_s = a->kill_after_s,
		.optional_modules = a->optional_modules.v,
		.noptional_modules = a->optional_modules.n,
		.require_config = a->require_config.v, .nrequire_config = a->require_config.n,
		.collect = a->collect.v, .ncollect = a->collect.n, .out_dir = a->out_dir,
		.collect_max = a->collect_max,
		/* a command's console live on stderr, a shell's on stdout */
		.console_fd = cmd && a->console ? STDERR_FILENO : KT_FD_DEFAULT,
	);
	struct sigaction sa = { .sa_handler = run_on_signal };
	struct sigaction fwd = { .sa_handler = run_on_terminal_signal };
	struct sigaction job = { .sa_handler = run_on_job_stop };
	struct kt_wprof_config *cfg = NULL;
	struct kt_run_result res;
	struct kt_err err = { 0 };
	char *bb = NULL;
	int ret;

	if (a->topology.nodes && a->cpus && a->cpus != kt_topology_cpus(&a->topology))
		return cli_usage_error(c, "--cpus %u and --topology (%u CPUs) disagree: give one of them",
				       a->cpus, kt_topology_cpus(&a->topology));
	if (a->accel && kt_accel_parse(a->accel, &o.accel))
		return cli_usage_error(c, "invalid --accel '%s': expected kvm, tcg or auto", a->accel);
	if (a->channel && kt_channel_parse(a->channel, &o.channel))
		return cli_usage_error(c, "invalid --channel '%s': expected virtio, serial or auto",
				       a->channel);
	ret = run_blobs(a, &o, &bb, &cfg);
	if (!ret) {
		/* Whatever ends us ends the run, which then removes its files
		 * (QEMU dies with us even on SIGKILL). */
		sigaction(SIGINT, &fwd, NULL);
		sigaction(SIGQUIT, &fwd, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		/* (kt_run blocks it while it runs: a closed stdout is its
		 * EPIPE, 141 as if SIGPIPE had killed us) */
		sigaction(SIGPIPE, &sa, NULL);
		sigaction(SIGTSTP, &job, NULL);
		sigaction(SIGTTIN, &job, NULL);
		sigaction(SIGTTOU, &job, NULL);
		ret = kt_run(&o, &res, &err) ? run_failed(&res, &err, o.console_fd > 0 || !cmd) :
		      run_report(&res);
		run_report_collect(&res, a);
		run_report_repro(&res, a);
		kt_run_result__release(&res);
	} else if (ret == -1) {
		ret = KT_RUN_EXIT_FAILED;
	}
	kt_wprof_config__free(cfg);
	free(bb);
	return ret;
}

static int run_cmd(const struct kt_cmd *c, int argc, char **argv, bool shell)
{
	struct run_args a = {
		.kernel = getenv("KTSTR_KERNEL"),
		.timeout_s = shell ? 0 : RUN_DEFAULT_TIMEOUT_S,
	};
	const struct cli_opt opts[] = {
		OPT_STR(0, "kernel", &a.kernel),
		OPT_FN("arch", &a.arch, cli_opt_arch),
		OPT_STR(0, "sysroot", &a.sysroot),
		/* QEMU's pc machine takes at most 255. */
		OPT_UINT("cpus", &a.cpus, 1, 255),
		OPT_FN("topology", &a.topology, cli_opt_topology),
		OPT_MIB('m', "memory", &a.memory),
		OPT_MIB(0, "exact-memory", &a.override),
		OPT_MIB(0, "override", &a.override),	/* the old name */
		OPT_FN_FLAG("wprof", &a.w, cli_opt_wprof),
		OPT_FN("wprof-args", &a.w, cli_opt_wprof_args),
		OPT_FN("wprof-grace", &a, run_opt_grace),
		OPT_STR(0, "trace-out", &a.trace_out),
		OPT_FN("include", &a.inc, cli_opt_include),
		OPT_BOOL("cache-includes", &a.cache_includes),
		OPT_UINT("timeout", &a.timeout_s, 0, 86400 * 7),
		OPT_UINT("boot-timeout", &a.boot_timeout_s, 1, 86400),
		OPT_FN("signal", &a.timeout_signal, run_opt_signal),
		OPT_UINT("kill-after", &a.kill_after_s, 1, 86400),
		OPT_STR(0, "accel", &a.accel),
		OPT_BOOL("no-pvh", &a.no_pvh),
		OPT_STR(0, "qemu", &a.qemu),
		OPT_FN("qemu-opt", &a.qemu_opts, cli_opt_qemu_opt),
		OPT_FN("append", &a.append, cli_opt_words),
		OPT_STR(0, "channel", &a.channel),
		OPT_LIST("module", &a.modules),
		OPT_LIST("module-optional", &a.optional_modules),
		OPT_STR(0, "modules", &a.modules_dir),
		OPT_BOOL("console", &a.console),
		OPT_FN("fail-on", &a.fail_on, run_opt_fail_on),
		OPT_BOOL("repro", &a.repro),
		OPT_BOOL("repro-panic", &a.repro_panic),
		OPT_FN("require-config", &a.require_config, cli_opt_require_config),
		OPT_LIST("collect", &a.collect),
		OPT_STR(0, "out-dir", &a.out_dir),
		OPT_BYTES(0, "collect-max", &a.collect_max, UINT64_MAX >> 1),
		OPT_END,
	};
	int i, ret;

	i = cli_parse(c, argc, argv, opts);
	if (i >= 0 && (!a.kernel || !*a.kernel))
		i = cli_usage_error(c, "--kernel FILE is required (or set KTSTR_KERNEL)");
	else if (i >= 0 && a.qemu && !*a.qemu)
		i = cli_usage_error(c, "--qemu: an empty program name");
	else if (i >= 0 && a.trace_out && !a.w.on && !a.repro && !a.repro_panic)
		i = cli_usage_error(c, "--trace-out needs --wprof or --repro");
	else if (i >= 0 && a.trace_out && !*a.trace_out)
		i = cli_usage_error(c, "--trace-out: an empty path");
	else if (i >= 0 && a.cache_includes && !a.inc.n)
		i = cli_usage_error(c, "--cache-includes needs --include");
	else if (i >= 0 && a.grace_set && !a.w.on)
		i = cli_usage_error(c, "--wprof-grace needs --wprof");
	else if (i >= 0 && (a.out_dir || a.collect_max) && !a.collect.n)
		i = cli_usage_error(c, "--%s needs --collect", a.out_dir ? "out-dir" : "collect-max");
	else if (i >= 0 && a.out_dir && !*a.out_dir)
		i = cli_usage_error(c, "--out-dir: an empty path");
	else if (i >= 0 && shell && i < argc)
		i = cli_usage_error(c, "unexpected argument '%s'", argv[i]);
	else if (i >= 0 && !shell && i >= argc)
		i = cli_usage_error(c, "no command given: ktpack run [OPTIONS] -- CMD [ARG...]");
	for (size_t m = 0; i >= 0 && m < a.modules.n; m++)
		if (!*a.modules.v[m] || strchr(a.modules.v[m], '/'))
			i = cli_usage_error(c, "invalid --module '%s': expected a module name",
					    a.modules.v[m]);
	for (size_t m = 0; i >= 0 && m < a.optional_modules.n; m++)
		if (!*a.optional_modules.v[m] || strchr(a.optional_modules.v[m], '/'))
			i = cli_usage_error(c, "invalid --module-optional '%s': expected a module name",
					    a.optional_modules.v[m]);
	ret = i < 0 ? i : run_vm(c, &a, shell ? NULL : argv + i);
	cli_list_release(&a.inc);
	cli_list_release(&a.qemu_opts);
	cli_list_release(&a.modules);
	cli_list_release(&a.optional_modules);
	cli_list_release(&a.require_config);
	cli_list_release(&a.collect);
	cli_list_free_strings(&a.append);
	return ret;
}

int cmd_run(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	(void)ctx;
	return run_cmd(c, argc, argv, false);
}

int cmd_shell(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	(void)ctx;
	return run_cmd(c, argc, argv, true);
}
