/* frontend.c - an example front end of libktpack, the shape of a
 * ktstr-like tool: it carries its own wprof and busybox (embedded by the
 * installed ktpack-embed.mk), installs them at start-up as ktstr's
 * install_env does, and boots a kernel with a host program and wprof.
 *
 *   frontend KERNEL PROGRAM [ARG...]
 *
 * packs PROGRAM (and every library it links) at /usr/bin/<its name>, runs
 * it in the guest under wprof with its stdin, stdout and stderr as ours
 * and the guest console live on stderr, writes the trace to
 * ./frontend.pb and exits with the program's status (or 124, 125 as
 * ktpack run does).  Built from the installed tree only, through
 * pkg-config (examples/Makefile); it compiles as C and as C++.
 */
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

/* The guest's argv: PROGRAM's name in /usr/bin, then its arguments. */
static const char **guest_argv(int argc, char **argv)
{
	const char **v = (const char **)calloc((size_t)argc, sizeof(*v));
	const char *name = strrchr(argv[2], '/');
	static char path[4096];

	if (!v)
		return NULL;
	snprintf(path, sizeof(path), "/usr/bin/%s", name ? name + 1 : argv[2]);
	v[0] = path;
	for (int i = 3; i < argc; i++)
		v[i - 2] = argv[i];
	v[argc - 2] = NULL;
	return v;
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
	const char **cmd = NULL;
	char *spec = NULL;
	int ret = 125;

	if (argc < 3) {
		fprintf(stderr, "usage: frontend KERNEL PROGRAM [ARG...]\n");
		return 2;
	}
	/* First, before any thread: install the blobs, export their paths. */
	if (kt_install_env(&kt_embedded_blobs, &io, &err)) {
		fprintf(stderr, "frontend: %s\n", err.msg);
		return 125;
	}
	/* ktstr's config loader: the installed wprof, default args. */
	if (kt_wprof_config__from_env(&wprof, &err)) {
		fprintf(stderr, "frontend: %s\n", err.msg);
		return 125;
	}
	spec = include_spec(argv[2]);
	cmd = guest_argv(argc, argv);
	if (!spec || !cmd) {
		fprintf(stderr, "frontend: out of memory\n");
		goto out;
	}

	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	o.kernel = argv[1];
	o.cpus = 2;
	o.wprof = wprof;
	o.trace_out = "frontend.pb";
	o.blobs = &kt_embedded_blobs;
	o.includes = (const char *const *)&spec;
	o.nincludes = 1;
	o.cmd = cmd;
	o.timeout_s = 300;
	/* the command's streams are ours (0 would be the default too);
	 * the guest console goes to stderr */
	o.stdin_fd = KT_FD_DEFAULT;
	o.out_fd = KT_FD_DEFAULT;
	o.err_fd = KT_FD_DEFAULT;
	o.console_fd = STDERR_FILENO;
	o.log = log;
	o.stop = &stop;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (kt_run(&o, &res, &err)) {
		fprintf(stderr, "frontend: %s\n", err.msg);
		ret = kt_run_exit_status(&res, err.code, 0);
		kt_run_result__release(&res);
		goto out;
	}
	if (res.trace_written)
		fprintf(stderr, "frontend: trace in %s (%llu bytes), %llu MiB, %s\n",
			res.trace_out, (unsigned long long)res.trace_bytes,
			(unsigned long long)res.memory_mib, kt_accel_name(res.accel));
	fprintf(stderr, "frontend: status %d over the %s channel\n", res.status,
		kt_channel_name(res.channel));
	ret = res.status;
	kt_run_result__release(&res);
out:
	free(cmd);
	free(spec);
	kt_wprof_config__free(wprof);
	return ret;
}
