/* frontend.c - an example front end of libktpack, the shape of a
 * ktstr-like test runner: it carries its own wprof and busybox (embedded
 * by the installed ktpack-embed.mk), installs them at start-up as ktstr's
 * install_env does, and boots a kernel with a host program.
 *
 *   frontend [--repro] [--topology SPEC] [--collect PATH]... KERNEL PROGRAM [ARG...]
 *
 * packs PROGRAM (and every library it links) at /usr/bin/<its name> and
 * runs it in the guest with its stdin, stdout and stderr as ours and the
 * guest console live on stderr; it exits with the program's status (or
 * 124, 125 as ktpack run does).  By default wprof traces the run into
 * ./frontend.pb.  --repro runs it without wprof and, when it fails, once
 * more under wprof, as ktstr's auto-repro does; --topology gives the guest
 * NUMA nodes, LLCs, cores and threads (as "1n2l1c1t"); --collect brings a
 * guest file or folder back into the current folder.  Built from the
 * installed tree only, through pkg-config (examples/Makefile); it compiles
 * as C11 and as C++17.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* sigaction, getopt_long under -std=c11 */
#endif
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ktpack/ktpack.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void log_line(void *ctx, enum kt_log_level level, const char *msg)
{
	(void)ctx;
	if (level != KT_LOG_DEBUG)
		fprintf(stderr, "frontend: %s%s\n", level == KT_LOG_WARN ? "warning: " : "", msg);
}

static int usage(void)
{
	fprintf(stderr, "usage: frontend [--repro] [--topology SPEC] [--collect PATH]... "
			"KERNEL PROGRAM [ARG...]\n");
	return 2;
}

/* The options before KERNEL into @o (the PROGRAM's own are its: '+' stops
 * at the first operand); the index of KERNEL, or -1 after a usage error. */
static int parse_options(int argc, char **argv, struct kt_run_opts *o, const char ***collect)
{
	static const struct option longopts[] = {
		{ "repro", no_argument, NULL, 'r' },
		{ "topology", required_argument, NULL, 't' },
		{ "collect", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct kt_err err;
	int c;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->repro = KT_REPRO_ON;
			break;
		case 't':
			if (kt_topology_parse(optarg, &o->topology, &err)) {
				fprintf(stderr, "frontend: invalid --topology: %s\n", err.msg);
				return -1;
			}
			break;
		case 'c':
			/* at most argc of them: one array, allocated once */
			if (!*collect)
				*collect = (const char **)calloc((size_t)argc, sizeof(**collect));
			if (!*collect) {
				fprintf(stderr, "frontend: out of memory\n");
				return -1;
			}
			(*collect)[o->ncollect++] = optarg;
			break;
		default:	/* getopt_long said what */
			usage();
			return -1;
		}
	}
	if (argc - optind < 2) {
		usage();
		return -1;
	}
	o->collect = *collect;
	return optind;
}

/* "PROGRAM:/usr/bin/NAME", the include spec that packs it. */
static char *include_spec(const char *program)
{
	const char *name = strrchr(program, '/');
	size_t len = strlen(program) + strlen("/usr/bin/") + strlen(name ? name + 1 : program) + 2;
	char *spec = (char *)malloc(len);

	if (spec)
		snprintf(spec, len, "%s:/usr/bin/%s", program, name ? name + 1 : program);
	return spec;
}

/* The guest's argv: PROGRAM (@argv[0]) by its path in the guest, the
 * part of its include @spec after "PROGRAM:", then its arguments. */
static const char **guest_argv(int argc, char **argv, const char *spec)
{
	const char **v = (const char **)calloc((size_t)argc + 1, sizeof(*v));

	if (!v)
		return NULL;
	v[0] = spec + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		v[i] = argv[i];
	return v;
}

/* The files back: a line for each that came and each refused, then
 * how many came. */
static void report_collect(const struct kt_run_result *res)
{
	const struct kt_collected *c = &res->collected;

	for (size_t i = 0; i < c->nfiles; i++)
		fprintf(stderr, "frontend: collected '%s' (%llu bytes)\n", c->files[i].path,
			(unsigned long long)c->files[i].size);
	for (size_t i = 0; i < c->nrefusals; i++)
		fprintf(stderr, "frontend: collect: %s\n", c->refusals[i]);
	fprintf(stderr, "frontend: collected %zu file%s (%llu bytes) into '.', %zu refused\n",
		c->nfiles, c->nfiles == 1 ? "" : "s", (unsigned long long)c->bytes, c->refused);
}

/* How the second, traced run of --repro ended, worded as ktpack run's. */
static void report_repro(const struct kt_run_result *res)
{
	if (!res->repro.ran)
		return;
	if (res->repro.r) {
		/* its error says what did not come back */
		fprintf(stderr, "frontend: --repro: run again under wprof: %s\n", res->repro.why);
		return;
	}
	fprintf(stderr, "frontend: --repro: run again under wprof, the command exited with status %d",
		res->repro.status);
	if (res->repro.trace_written)
		fprintf(stderr, "; wrote the wprof trace to '%s' (%llu bytes)\n", res->repro.trace_out,
			(unsigned long long)res->repro.trace_bytes);
	else
		fprintf(stderr, "; no trace came back\n");
}

int main(int argc, char **argv)
{
	struct kt_log log = { log_line, NULL };
	struct kt_install_opts io = { sizeof(io), NULL, NULL, log };
	struct kt_wprof_config *wprof = NULL;
	struct kt_run_opts o;
	struct kt_run_result res;
	struct kt_err err;
	struct sigaction sa;
	const char **collect = NULL, **cmd = NULL;
	char *spec = NULL;
	uint64_t mib;
	int ret = 125, first;

	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	first = parse_options(argc, argv, &o, &collect);
	if (first < 0) {
		free(collect);
		return 2;
	}
	/* First, before any thread: install the blobs, export their paths. */
	if (kt_install_env(&kt_embedded_blobs, &io, &err)) {
		fprintf(stderr, "frontend: %s\n", err.msg);
		goto out;
	}
	/* ktstr's config loader: the installed wprof, default args. */
	if (kt_wprof_config__from_env(&wprof, &err)) {
		fprintf(stderr, "frontend: %s\n", err.msg);
		goto out;
	}
	spec = include_spec(argv[first + 1]);
	cmd = spec ? guest_argv(argc - first - 1, argv + first + 1, spec) : NULL;
	if (!cmd) {
		fprintf(stderr, "frontend: out of memory\n");
		goto out;
	}

	o.kernel = argv[first];
	o.cpus = o.topology.nodes ? 0 : 2;
	/* a test runner traces only the failure it runs again */
	if (o.repro)
		o.repro_wprof = wprof;
	else
		o.wprof = wprof;
	o.trace_out = "frontend.pb";
	o.blobs = &kt_embedded_blobs;
	o.includes = (const char *const *)&spec;
	o.nincludes = 1;
	o.cmd = cmd;
	o.timeout_s = 300;
	/* the files back land beside the trace: out_dir NULL is the
	 * current folder */
	o.out_dir = NULL;
	/* the command's streams are ours (0 would be the default too);
	 * the guest console goes to stderr */
	o.stdin_fd = KT_FD_DEFAULT;
	o.out_fd = KT_FD_DEFAULT;
	o.err_fd = KT_FD_DEFAULT;
	o.console_fd = STDERR_FILENO;
	o.log = log;
	o.stop = &stop;

	if (o.topology.nodes) {
		if (kt_run_memory_mib(&o, &mib, &err)) {
			fprintf(stderr, "frontend: %s\n", err.msg);
			goto out;
		}
		fprintf(stderr, "frontend: %u CPUs on %u node%s, %llu MiB\n",
			kt_topology_cpus(&o.topology), o.topology.nodes,
			o.topology.nodes == 1 ? "" : "s", (unsigned long long)mib);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (kt_run(&o, &res, &err)) {
		fprintf(stderr, "frontend: %s\n", err.msg);
		ret = kt_run_exit_status(&res, err.code, 0);
	} else {
		if (res.trace_written)
			fprintf(stderr, "frontend: trace in %s (%llu bytes), %llu MiB, %s\n",
				res.trace_out, (unsigned long long)res.trace_bytes,
				(unsigned long long)res.memory_mib, kt_accel_name(res.accel));
		fprintf(stderr, "frontend: status %d over the %s channel\n", res.status,
			kt_channel_name(res.channel));
		ret = res.status;
	}
	/* (when the command ran to its end or its timeout, or a file came) */
	if (o.ncollect && (res.end == KT_VM_EXITED || res.end == KT_VM_TIMEOUT ||
			   res.collected.nfiles || res.collected.refused))
		report_collect(&res);
	report_repro(&res);
	kt_run_result__release(&res);
out:
	free(cmd);
	free(spec);
	free(collect);
	kt_wprof_config__free(wprof);
	return ret;
}
