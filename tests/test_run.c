/* Unit tests of run.c that need no VM: the options kt_run refuses before
 * anything is built, and the base archive's cache (its key follows what
 * is packed; a torn cached archive is rebuilt, a good one reused). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/run.h>

static const unsigned char bb_bytes[] = "#!/bin/sh\necho not busybox\n";
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct kt_blob blobs[] = {
	{ "busybox", "KT_TEST_BB", "BUSYBOX", bb_bytes, bb_bytes + sizeof(bb_bytes),
	  sizeof(bb_bytes), SHA_A, NULL },
};
static const struct kt_blob_table table = { blobs, 1 };

static char root[64], dir[128], inc[128], spec[160];
static struct kt_cache *cache;

/* @cmd run by sh in this test's own folder (never another run's). */
static int in_root(const char *cmd)
{
	char line[512];

	snprintf(line, sizeof(line), "cd '%s' && %s", root, cmd);
	return system(line);
}

static int setup(void **state)
{
	struct kt_cache_opts co = { 0 };
	int fd;

	(void)state;
	strcpy(root, "/tmp/kt-test-run.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(dir, sizeof(dir), "%s/cache", root);
	snprintf(inc, sizeof(inc), "%s/data", root);
	snprintf(spec, sizeof(spec), "%s:/etc/data", inc);
	fd = open(inc, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || kt_write_all(fd, "one\n", 4))
		return -1;
	close(fd);
	co.dir = dir;
	blobs[0].sha256 = SHA_A;
	return kt_cache__open(&co, &cache, NULL);
}

static int teardown(void **state)
{
	(void)state;
	kt_cache__close(cache);
	return rm_tree(root);
}

static void test_required_options(void **state)
{
	const char *empty[] = { NULL };
	const char *bad[] = { "" };
	const char *q[] = { "-rtc", "base=utc", "-smp", "4" };
	KT_RUN_OPTS(o);
	struct kt_run_result res;
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "no kernel given");
	assert_int_equal(res.end, KT_VM_FAILED);
	assert_true(res.invalid);
	assert_int_equal(kt_run_exit_status(&res, e.code, 0), KT_RUN_EXIT_USAGE);
	o.kernel = "/nonexistent/vmlinuz";
	o.cmd = empty;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "the command is empty");
	assert_true(res.invalid);
	/* an empty name: refused here, not after a boot */
	o.cmd = bad;
	assert_int_equal(kt_run(&o, &res, &e), -ENOENT);
	assert_string_equal(e.msg, "the command's name is empty");
	assert_true(res.invalid);
	o.cmd = NULL;
	o.includes = bad;
	o.nincludes = 1;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_str_contains(e.msg, "invalid include ''");
	o.nincludes = 0;
	/* QEMU must not size the guest behind the boot line's back */
	o.qemu_opts = q;
	o.nqemu_opts = KT_ARRAY_SIZE(q);
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "--qemu-opt -smp: the guest's CPUs are ktpack's: use --cpus or --topology");
	o.nqemu_opts = 2;
	assert_int_equal(kt_run(&o, &res, &e), -ENOENT);
	assert_str_contains(e.msg, "cannot open kernel '/nonexistent/vmlinuz'");
	/* a file that is not there is no usage error */
	assert_false(res.invalid);
	assert_int_equal(kt_run_exit_status(&res, e.code, 0), KT_RUN_EXIT_FAILED);
	/* --repro of a shell is one */
	{
		struct kt_wprof_config *w = NULL;

		assert_int_equal(kt_wprof_config__new(NULL, &w), 0);
		o.repro = KT_REPRO_ON;
		o.repro_wprof = w;
		assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
		assert_string_equal(e.msg, "--repro is for a command, not a shell");
		assert_true(res.invalid);
		o.repro = 0;
		o.repro_wprof = NULL;
		kt_wprof_config__free(w);
	}
}

/* sz, libbpf's way: 0 refused, an older (smaller) caller's missing
 * fields read as zero, a newer (larger) one's unknown bytes must be
 * zero, a caller built without sz (a pointer where sz is) refused. */
static void test_opts_size(void **state)
{
	const char *empty[] = { NULL };
	struct {
		struct kt_run_opts o;
		uint64_t newer;
	} big;
	struct kt_run_opts o = { 0 };
	struct kt_run_result res;
	struct kt_err e;
	char *line = NULL;

	(void)state;
	o.kernel = "/nonexistent/vmlinuz";
	o.cmd = empty;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "struct kt_run_opts: sz is 0: set it to sizeof(struct kt_run_opts) (KT_OPTS does)");
	assert_int_equal(res.end, KT_VM_FAILED);
	assert_int_equal(kt_run_cmdline(&o, &line, &e), -EINVAL);
	assert_str_contains(e.msg, "sz is 0");
	assert_null(line);
	o.sz = sizeof(o);
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "the command is empty");
	/* an older caller knows nothing from cmd on: it reads as NULL */
	o.sz = offsetof(struct kt_run_opts, cmd);
	assert_int_equal(kt_run(&o, &res, &e), -ENOENT);
	assert_str_contains(e.msg, "cannot open kernel");
	o.sz = (size_t)&o;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_str_contains(e.msg, "is not the size of an options struct");
	o.sz = 4;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);

	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.o.kernel = "/nonexistent/vmlinuz";
	assert_int_equal(kt_run(&big.o, &res, &e), -ENOENT);
	big.newer = 1;
	assert_int_equal(kt_run(&big.o, &res, &e), -EINVAL);
	assert_str_contains(e.msg, "struct kt_run_opts: the caller sets options this libktpack does not know");
	assert_int_equal(kt_run(NULL, &res, &e), -EINVAL);
}

/* A count without its array is refused, never read; so is a NULL entry. */
static void test_opts_arrays(void **state)
{
	const char *one[] = { "x", NULL };
	KT_RUN_OPTS(o, .kernel = "/nonexistent/vmlinuz");
	struct kt_run_result res;
	struct kt_err e;
	char *line = NULL;

	(void)state;
	o.nincludes = 1;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "struct kt_run_opts: nincludes is 1 but includes is NULL");
	o.nincludes = 0;
	o.nqemu_opts = 2;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "struct kt_run_opts: nqemu_opts is 2 but qemu_opts is NULL");
	o.nqemu_opts = 0;
	o.nappend = 1;
	assert_int_equal(kt_run_cmdline(&o, &line, &e), -EINVAL);
	assert_string_equal(e.msg, "struct kt_run_opts: nappend is 1 but append is NULL");
	assert_null(line);
	o.append = one;
	o.nappend = 2;
	assert_int_equal(kt_run_cmdline(&o, &line, &e), -EINVAL);
	assert_string_equal(e.msg, "struct kt_run_opts: append[1] is NULL");
	o.nappend = 0;
	o.nmodules = 1;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "struct kt_run_opts: nmodules is 1 but modules is NULL");
	o.nmodules = 0;
	o.noptional_modules = 1;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg,
			    "struct kt_run_opts: noptional_modules is 1 but optional_modules is NULL");
	o.noptional_modules = 0;
	assert_int_equal(kt_run(&o, &res, &e), -ENOENT);
}

/* kt_run's error for @o, which must fail before anything is built. */
static int run_fails(const struct kt_run_opts *o, struct kt_err *e)
{
	struct kt_run_result res;
	int r = kt_run(o, &res, e);

	assert_true(r < 0);
	assert_int_equal(res.end, KT_VM_FAILED);
	kt_run_result__release(&res);
	return r;
}

/* Where the trace goes is checked before the kernel is even opened: an
 * output that cannot be written, and the command's own streams or the
 * console by any name, judged by the file. */
static void test_trace_out_checked_first(void **state)
{
	struct kt_wprof_config *w = NULL;
	KT_RUN_OPTS(o, .kernel = "/nonexistent/vmlinuz");
	char path[128], link[160], file[160], want[256];
	const char *cmd[] = { "true", NULL };
	int out[2], err[2], con[2], fd, null, saved, r;
	struct kt_run_result res;
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_wprof_config__new(NULL, &w), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	assert_int_equal(pipe2(con, O_CLOEXEC), 0);
	o.wprof = w;
	o.out_fd = out[1];
	o.err_fd = err[1];
	o.console_fd = con[1];

	o.trace_out = "";
	assert_int_equal(run_fails(&o, &e), -EINVAL);
	assert_string_equal(e.msg, "cannot write '': an empty path");
	close(99);
	o.trace_out = "/proc/self/fd/99";
	assert_int_equal(run_fails(&o, &e), -EBADF);
	assert_string_equal(e.msg, "cannot write '/proc/self/fd/99': not an open descriptor");
	snprintf(path, sizeof(path), "/dev/fd/%d", out[0]);
	o.trace_out = path;
	assert_int_equal(run_fails(&o, &e), -EBADF);
	assert_str_contains(e.msg, "open only for reading");
	o.trace_out = "/nonexistent/t.pb";
	assert_int_equal(run_fails(&o, &e), -ENOENT);
	assert_string_equal(e.msg, "cannot write '/nonexistent/t.pb': No such file or directory");

	/* the command's streams and the console, by any name */
	snprintf(path, sizeof(path), "/dev/fd/%d", out[1]);
	o.trace_out = path;
	assert_int_equal(run_fails(&o, &e), -EINVAL);
	snprintf(want, sizeof(want),
		 "the trace cannot go to '/dev/fd/%d': the command's standard output goes there", out[1]);
	assert_string_equal(e.msg, want);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", err[1]);
	assert_int_equal(run_fails(&o, &e), -EINVAL);
	assert_str_contains(e.msg, "the command's standard error goes there");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", con[1]);
	assert_int_equal(run_fails(&o, &e), -EINVAL);
	assert_str_contains(e.msg, "the guest console goes there");

	/* a file the output is sent to, by its name or through a link */
	snprintf(file, sizeof(file), "%s/out", root);
	snprintf(link, sizeof(link), "%s/link", root);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(symlink(file, link), 0);
	o.out_fd = fd;
	o.trace_out = file;
	assert_int_equal(run_fails(&o, &e), -EINVAL);
	assert_str_contains(e.msg, "the command's standard output goes there");
	o.trace_out = link;
	assert_int_equal(run_fails(&o, &e), -EINVAL);
	assert_str_contains(e.msg, "the command's standard output goes there");

	/* a command's console goes nowhere by default (console_fd 0 is not
	 * descriptor 0): the file on stdin is none of its outputs */
	saved = dup(STDIN_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	o.out_fd = -1;
	o.console_fd = 0;
	o.cmd = cmd;
	o.trace_out = file;
	r = kt_run(&o, &res, &e);
	kt_run_result__release(&res);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	assert_int_equal(r, -ENOENT);
	assert_str_contains(e.msg, "cannot open kernel");
	o.cmd = NULL;
	o.console_fd = con[1];

	/* /dev/null mixes with nothing; a dropped stream is no output */
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(null >= 0);
	o.out_fd = null;
	o.trace_out = "/dev/null";
	assert_int_equal(run_fails(&o, &e), -ENOENT);
	assert_str_contains(e.msg, "cannot open kernel");
	o.out_fd = -1;
	o.console_fd = -1;
	snprintf(path, sizeof(path), "/dev/fd/%d", out[1]);
	o.trace_out = path;
	assert_int_equal(run_fails(&o, &e), -ENOENT);
	assert_str_contains(e.msg, "cannot open kernel");

	close(null);
	close(fd);
	for (int i = 0; i < 2; i++) {
		close(out[i]);
		close(err[i]);
		close(con[i]);
	}
	kt_wprof_config__free(w);
}

/* kt_run's error for @o with descriptor @fd standing for @target (dup2,
 * put back after): what the trace check makes of KT_FD_* options. */
static int run_with_fd(const struct kt_run_opts *o, int fd, int target, struct kt_err *e)
{
	struct kt_run_result res;
	int saved = dup(target), r;

	assert_true(saved >= 0);
	fflush(stdout);
	assert_int_equal(dup2(fd, target), target);
	r = kt_run(o, &res, e);
	fflush(stdout);
	assert_int_equal(dup2(saved, target), target);
	close(saved);
	kt_run_result__release(&res);
	return r;
}

/*
 * Each meaning of a descriptor option, told by the trace check (a trace
 * that goes where an output goes is refused): KT_FD_DEFAULT (0) is this
 * process's stream of the kind, KT_FD_ZERO descriptor 0 itself,
 * KT_FD_NONE nothing, a descriptor itself; another value is refused.
 */
static void test_fd_options(void **state)
{
	struct kt_wprof_config *w = NULL;
	const char *cmd[] = { "true", NULL };
	KT_RUN_OPTS(o, .kernel = "/nonexistent/vmlinuz", .cmd = cmd, .out_fd = KT_FD_NONE,
		    .err_fd = KT_FD_NONE, .stdin_fd = KT_FD_NONE, .console_fd = KT_FD_NONE);
	char file[160];
	struct kt_err e;
	int fd, pty;

	(void)state;
	assert_int_equal(KT_FD_DEFAULT, 0);
	assert_int_equal(kt_wprof_config__new(NULL, &w), 0);
	o.wprof = w;
	snprintf(file, sizeof(file), "%s/trace", root);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	o.trace_out = file;

	/* all dropped: the trace goes to none of them */
	assert_int_equal(run_with_fd(&o, fd, STDIN_FILENO, &e), -ENOENT);
	assert_str_contains(e.msg, "cannot open kernel");
	/* the command's output on descriptor 0, on 1 by default, or given */
	o.out_fd = KT_FD_ZERO;
	assert_int_equal(run_with_fd(&o, fd, STDIN_FILENO, &e), -EINVAL);
	assert_str_contains(e.msg, "the command's standard output goes there");
	assert_int_equal(run_with_fd(&o, fd, STDOUT_FILENO, &e), -ENOENT);
	o.out_fd = KT_FD_DEFAULT;
	assert_int_equal(run_with_fd(&o, fd, STDOUT_FILENO, &e), -EINVAL);
	assert_str_contains(e.msg, "the command's standard output goes there");
	assert_int_equal(run_with_fd(&o, fd, STDIN_FILENO, &e), -ENOENT);
	o.out_fd = fd;
	assert_int_equal(run_fails(&o, &e), -EINVAL);
	o.out_fd = KT_FD_NONE;
	/* its error stream: 2 by default, or 0 */
	o.err_fd = KT_FD_DEFAULT;
	assert_int_equal(run_with_fd(&o, fd, STDERR_FILENO, &e), -EINVAL);
	assert_str_contains(e.msg, "the command's standard error goes there");
	o.err_fd = KT_FD_ZERO;
	assert_int_equal(run_with_fd(&o, fd, STDIN_FILENO, &e), -EINVAL);
	assert_str_contains(e.msg, "the command's standard error goes there");
	o.err_fd = KT_FD_NONE;
	/* a command's console: nowhere by default, descriptor 0 when asked */
	o.console_fd = KT_FD_DEFAULT;
	assert_int_equal(run_with_fd(&o, fd, STDOUT_FILENO, &e), -ENOENT);
	o.console_fd = KT_FD_ZERO;
	assert_int_equal(run_with_fd(&o, fd, STDIN_FILENO, &e), -EINVAL);
	assert_str_contains(e.msg, "the guest console goes there");

	/* a shell's stdin: a terminal makes it a console shell, whose
	 * console is on standard output by default; none makes it sh */
	pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (pty >= 0 && !grantpt(pty) && !unlockpt(pty)) {
		int tty = open(ptsname(pty), O_RDWR | O_NOCTTY | O_CLOEXEC);

		assert_true(tty >= 0);
		o.cmd = NULL;
		o.console_fd = KT_FD_DEFAULT;
		o.stdin_fd = tty;
		assert_int_equal(run_with_fd(&o, fd, STDOUT_FILENO, &e), -EINVAL);
		assert_str_contains(e.msg, "the guest console goes there");
		o.stdin_fd = KT_FD_NONE;
		assert_int_equal(run_with_fd(&o, fd, STDOUT_FILENO, &e), -ENOENT);
		o.stdin_fd = KT_FD_ZERO;
		assert_int_equal(run_with_fd(&o, tty, STDIN_FILENO, &e), -ENOENT);
		/* (descriptor 0 is the terminal while the console is checked) */
		o.console_fd = KT_FD_ZERO;
		o.stdin_fd = KT_FD_DEFAULT;
		assert_int_equal(run_with_fd(&o, tty, STDIN_FILENO, &e), -ENOENT);
		close(tty);
		o.cmd = cmd;
	}
	if (pty >= 0)
		close(pty);

	/* any other negative value is no descriptor */
	o.console_fd = KT_FD_NONE;
	o.stdin_fd = -3;
	assert_int_equal(run_fails(&o, &e), -EINVAL);
	assert_string_equal(e.msg,
			    "struct kt_run_opts: stdin_fd is -3: a descriptor, KT_FD_DEFAULT, KT_FD_NONE or KT_FD_ZERO");
	o.stdin_fd = KT_FD_NONE;
	o.out_fd = -7;
	assert_int_equal(run_fails(&o, &e), -EINVAL);
	assert_str_contains(e.msg, "out_fd is -7");
	close(fd);
	kt_wprof_config__free(w);
}

/* The result owns the trace's name: the opts' string may be gone (its
 * bytes overwritten, then freed: ASan sees a read of it) before the
 * result is read, and releasing is safe on every path. */
static void test_result_owns_its_strings(void **state)
{
	struct kt_wprof_config *w = NULL;
	const char *cmd[] = { "true", NULL };
	KT_RUN_OPTS(o, .kernel = "/nonexistent/vmlinuz", .cmd = cmd, .out_fd = KT_FD_NONE,
		    .err_fd = KT_FD_NONE, .stdin_fd = KT_FD_NONE);
	struct kt_run_result res;
	char want[160], *name;
	struct kt_err e;

	(void)state;
	memset(&res, 0, sizeof(res));
	kt_run_result__release(&res);
	kt_run_result__release(&res);
	kt_run_result__release(NULL);

	assert_int_equal(kt_wprof_config__new(NULL, &w), 0);
	o.wprof = w;
	snprintf(want, sizeof(want), "%s/named.pb", root);
	name = strdup(want);
	assert_non_null(name);
	o.trace_out = name;
	assert_int_equal(kt_run(&o, &res, &e), -ENOENT);
	memset(name, 'x', strlen(name));
	free(name);
	o.trace_out = NULL;
	assert_non_null(res.trace_out);
	assert_string_equal(res.trace_out, want);
	assert_null(res.repro.trace_out);
	kt_run_result__release(&res);
	assert_null(res.trace_out);
	kt_run_result__release(&res);

	/* the default's name is a copy too; none without wprof */
	assert_int_equal(kt_run(&o, &res, &e), -ENOENT);
	assert_string_equal(res.trace_out, KT_RUN_DEFAULT_TRACE);
	kt_run_result__release(&res);
	o.wprof = NULL;
	assert_int_equal(kt_run(&o, &res, &e), -ENOENT);
	assert_null(res.trace_out);
	kt_run_result__release(&res);
	/* refused before anything: nothing to free, and freeing is safe */
	o.nincludes = 1;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_null(res.trace_out);
	assert_null(res.collected.files);
	assert_null(res.collected.refusals);
	kt_run_result__release(&res);
	kt_wprof_config__free(w);
}

/* The files back are the result's: released with it (ASan sees a leak
 * otherwise), and zeroed. */
static void test_result_owns_its_files(void **state)
{
	struct kt_run_result res;
	struct kt_collected *c = &res.collected;

	(void)state;
	memset(&res, 0, sizeof(res));
	c->files = calloc(1, sizeof(*c->files));
	c->refusals = calloc(1, sizeof(*c->refusals));
	assert_non_null(c->files);
	assert_non_null(c->refusals);
	c->files[0].path = strdup("r/a");
	c->refusals[0] = strdup("a file named '../x' refused: a '.' or '..' component");
	assert_non_null(c->files[0].path);
	assert_non_null(c->refusals[0]);
	c->nfiles = c->nrefusals = c->refused = 1;
	kt_run_result__release(&res);
	assert_null(c->files);
	assert_null(c->refusals);
	assert_int_equal(c->nfiles, 0);
	assert_int_equal(c->nrefusals, 0);
	kt_run_result__release(&res);
}

/* The base's name for the inputs with include @inc_spec cached in it,
 * and its inode. */
static void base_with(const char *inc_spec, char *name, size_t sz, ino_t *ino)
{
	const char *incs[] = { inc_spec };
	KT_RUN_OPTS(o, .blobs = &table, .includes = incs, .nincludes = 1, .cache_includes = true);
	struct kt_err e;
	struct stat st;
	int fd = -1;

	if (kt_run_base(&o, cache, &fd, name, sz, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(fstat(fd, &st), 0);
	*ino = st.st_ino;
	close(fd);
}

/* The base's name for the current inputs, and its inode. */
static void base(char *name, size_t sz, ino_t *ino)
{
	base_with(spec, name, sz, ino);
}

static void rewrite(const char *path, const char *data, bool keep_mtime)
{
	struct stat st;
	struct timespec ts[2];
	int fd;

	assert_int_equal(stat(path, &st), 0);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_int_equal(kt_write_all(fd, data, strlen(data)), 0);
	close(fd);
	if (keep_mtime) {
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
}

/* @path with @data only, created when missing. */
static void rewrite_new(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(kt_write_all(fd, data, strlen(data)), 0);
	close(fd);
}

static void test_base_key_follows_the_inputs(void **state)
{
	char n1[64], n2[64], n3[64], n4[64], n5[64], n6[64], other[160];
	ino_t i1, i2, i3, i4, i5, i6;

	(void)state;
	base(n1, sizeof(n1), &i1);
	base(n2, sizeof(n2), &i2);
	assert_string_equal(n1, n2);		/* same inputs: reused */
	assert_int_equal(i1, i2);
	rewrite(inc, "two\n", true);		/* content, same size and mtime */
	base(n3, sizeof(n3), &i3);
	assert_string_not_equal(n3, n1);
	/* A file changed within 2 s is keyed by its bytes, as all of these
	 * are: what its times and inode say does not count then. */
	rewrite(inc, "two\n", false);		/* mtime alone */
	base(n4, sizeof(n4), &i4);
	assert_string_equal(n4, n3);
	snprintf(other, sizeof(other), "%s.new", inc);	/* a new inode */
	{
		char cmd[1024];

		snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s' && mv '%s' '%s'", inc, other, other, inc);
		assert_int_equal(system(cmd), 0);
	}
	base(n5, sizeof(n5), &i5);
	assert_string_equal(n5, n4);
	rewrite(inc, "six\n", true);		/* new bytes again */
	base(n5, sizeof(n5), &i5);
	assert_string_not_equal(n5, n4);
	blobs[0].sha256 = SHA_B;		/* another embedded busybox */
	base(n6, sizeof(n6), &i6);
	assert_string_not_equal(n6, n5);
}

/* Whether the cached base @name holds @bytes. */
static bool base_holds(const char *name, const char *bytes)
{
	char path[256], *buf;
	struct stat st;
	bool found;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(kt_pread_full(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	found = memmem(buf, (size_t)st.st_size, bytes, strlen(bytes));
	free(buf);
	return found;
}

static int teardown_coarse(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "umount '%s/coarse' 2> /dev/null", root);
	if (system(cmd)) {
		/* not mounted */
	}
	return teardown(state);
}

/*
 * An include on a file system with whole-second times (ext4 with 128-byte
 * inodes), rewritten with as many bytes within the same second and its
 * mtime set back: its inode, size, mtime and ctime are all as before, and
 * still the new bytes are packed.  Needs root, for a loop mount.
 */
static void test_base_key_coarse_times(void **state)
{
	char mnt[128], file[160], cspec[192], cmd[1024], n1[64], n2[64], n3[64];
	struct stat a, b;
	ino_t ino;

	(void)state;
	snprintf(mnt, sizeof(mnt), "%s/coarse", root);
	snprintf(file, sizeof(file), "%s/data", mnt);
	snprintf(cspec, sizeof(cspec), "%s:/etc/data", file);
	snprintf(cmd, sizeof(cmd),
		 "mkdir '%s' && truncate -s 4M '%s.img' && mkfs.ext4 -q -F -I 128 '%s.img' 2> /dev/null && "
		 "mount -o loop '%s.img' '%s' 2> /dev/null", mnt, mnt, mnt, mnt, mnt);
	if (geteuid() || system(cmd))
		skip();
	/* The rewrite must fall in the second of the first write: start at
	 * the beginning of one, and try again should a slow machine cross
	 * into the next. */
	for (int tries = 0; tries < 3; tries++) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		usleep((useconds_t)((1000000000L - now.tv_nsec) / 1000 + 1000));
		rewrite_new(file, "first-bytes\n");
		assert_int_equal(stat(file, &a), 0);
		base_with(cspec, n1, sizeof(n1), &ino);
		rewrite(file, "other-bytes\n", true);
		assert_int_equal(stat(file, &b), 0);
		if (!memcmp(&a.st_ctim, &b.st_ctim, sizeof(a.st_ctim)))
			break;
	}
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_size, b.st_size);
	assert_memory_equal(&a.st_mtim, &b.st_mtim, sizeof(a.st_mtim));
	assert_memory_equal(&a.st_ctim, &b.st_ctim, sizeof(a.st_ctim));
	assert_true(base_holds(n1, "first-bytes\n"));
	base_with(cspec, n2, sizeof(n2), &ino);
	assert_string_not_equal(n2, n1);
	assert_true(base_holds(n2, "other-bytes\n"));
	/* the same bytes again: the same base */
	base_with(cspec, n3, sizeof(n3), &ino);
	assert_string_equal(n3, n2);
}

/* A wprof as a build embeds it, and its digest. */
static const char wprof_bytes[] = "#!/bin/sh\necho embedded wprof\n";
#define WPROF_SHA "d97a3901e4d629f9d5d298f6dc88ea3a2a501875a52856ecc3e1bdae6e19406a"
#define LIBS_MARK "the-embedded-closure\n"

/* The base's name with the wprof at @path (NULL: the blob of @t). */
static void base_wprof(const struct kt_blob_table *t, const char *path, char *name, size_t sz)
{
	struct kt_wprof_config *w = NULL;
	KT_RUN_OPTS(o, .blobs = t);
	struct kt_err e;
	int fd = -1;

	assert_int_equal(kt_wprof_config__new(path, &w), 0);
	o.wprof = w;
	if (kt_run_base(&o, cache, &fd, name, sz, &e))
		fail_msg("%s", e.msg);
	close(fd);
	kt_wprof_config__free(w);
}

/*
 * A config that names a file with the embedded wprof's bytes (what
 * kt_install_env installs and kt_wprof_config__from_env loads) packs the
 * blob and its embedded closure: the very base a NULL path gives.  A
 * file with other bytes, even as many, is packed as a file.
 */
static void test_base_wprof_file_of_the_blob(void **state)
{
	struct kt_initramfs *b = NULL;
	struct kt_blob wb[2] = {
		{ "wprof", "KT_TEST_WPROF", "WPROF", (const unsigned char *)wprof_bytes,
		  (const unsigned char *)wprof_bytes + strlen(wprof_bytes), strlen(wprof_bytes),
		  WPROF_SHA, NULL },
		{ "wprof_libs", "-", "WPROF", NULL, NULL, 0, SHA_B, NULL },
	};
	const struct kt_blob_table wt = { wb, 2 };
	char libs[160], same[160], other[160], n0[64], n1[64], n2[64], n3[64];
	unsigned char *cpio;
	size_t len;

	(void)state;
	/* the closure: a newc archive, as the build makes it */
	snprintf(libs, sizeof(libs), "%s/libs.cpio", root);
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/lib/libmark.so", LIBS_MARK, strlen(LIBS_MARK),
						0644, NULL), 0);
	assert_int_equal(kt_initramfs__write(b, libs, NULL), 0);
	kt_initramfs__free(b);
	cpio = slurp(libs, &len);
	wb[1].start = cpio;
	wb[1].end = cpio + len;
	wb[1].size = len;

	snprintf(same, sizeof(same), "%s/wprof-" WPROF_SHA, root);
	rewrite_new(same, wprof_bytes);
	snprintf(other, sizeof(other), "%s/other-wprof", root);
	rewrite_new(other, "#!/bin/sh\necho embedded wprog\n");	/* as many bytes */

	base_wprof(&wt, NULL, n0, sizeof(n0));
	assert_true(base_holds(n0, LIBS_MARK));
	base_wprof(&wt, same, n1, sizeof(n1));
	assert_string_equal(n1, n0);
	base_wprof(&wt, other, n2, sizeof(n2));
	assert_string_not_equal(n2, n0);
	assert_false(base_holds(n2, LIBS_MARK));
	rewrite_new(other, "#!/bin/sh\necho another\n");		/* another size */
	base_wprof(&wt, other, n3, sizeof(n3));
	assert_string_not_equal(n3, n0);
	assert_false(base_holds(n3, LIBS_MARK));
	free(cpio);
}

/* Whether @path ends with the archive's trailer, as a complete one does. */
static bool has_trailer(const char *path, off_t size)
{
	char tail[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	assert_true(fd >= 0);
	ok = kt_pread_full(fd, tail, sizeof(tail), size - (off_t)sizeof(tail)) ==
	     (ssize_t)sizeof(tail) && memmem(tail, sizeof(tail), "TRAILER!!!", 10);
	close(fd);
	return ok;
}

static void test_torn_base_is_rebuilt(void **state)
{
	static const char zero[1024];
	char name[64], again[64], path[256];
	struct stat st, st2;
	ino_t ino;
	int fd;

	(void)state;
	base(name, sizeof(name), &ino);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	assert_true(has_trailer(path, st.st_size));
	/* Truncated: a different size. */
	assert_int_equal(truncate(path, st.st_size / 2), 0);
	base(again, sizeof(again), &ino);
	assert_string_equal(again, name);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st2.st_size, st.st_size);
	assert_true(has_trailer(path, st.st_size));
	/* The right size, but its end zeroed as a torn write leaves it. */
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_int_equal(kt_pwrite_all(fd, zero, sizeof(zero), st.st_size - 1024), 0);
	close(fd);
	assert_false(has_trailer(path, st.st_size));
	base(again, sizeof(again), &ino);
	assert_true(has_trailer(path, st.st_size));
	/* Nothing but the base is left behind. */
	assert_int_equal(in_root("test -z \"$(ls -A cache | grep -v '^initramfs-')\""), 0);
}

/* The cached bases: how many, and their names one after another. */
static size_t bases(char *names, size_t sz)
{
	char cmd[256];
	FILE *f;
	size_t n = 0, len = 0;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep '^initramfs-'", dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	names[0] = '\0';
	while (len + 1 < sz && fgets(names + len, (int)(sz - len), f)) {
		len += strlen(names + len);
		n++;
	}
	pclose(f);
	return n;
}

/* A run's includes are not in the cached base unless cache_includes
 * says so: a second run with others reuses the base and adds no file to
 * the cache. */
static void test_includes_stay_out_of_the_base(void **state)
{
	char other[160], ospec[200], n1[64], n2[64], listed[1024];
	const char *incs[] = { spec };
	KT_RUN_OPTS(o, .blobs = &table, .includes = incs, .nincludes = 1);
	struct kt_err e;
	int fd;

	(void)state;
	snprintf(other, sizeof(other), "%s/other", root);
	snprintf(ospec, sizeof(ospec), "%s:/etc/other", other);
	rewrite_new(other, "other include\n");
	if (kt_run_base(&o, cache, &fd, n1, sizeof(n1), &e))
		fail_msg("%s", e.msg);
	close(fd);
	assert_int_equal(bases(listed, sizeof(listed)), 1);
	assert_false(base_holds(n1, "one\n"));
	incs[0] = ospec;
	if (kt_run_base(&o, cache, &fd, n2, sizeof(n2), &e))
		fail_msg("%s", e.msg);
	close(fd);
	assert_string_equal(n1, n2);
	assert_int_equal(bases(listed, sizeof(listed)), 1);
	/* cached: each set of includes has its base */
	o.cache_includes = true;
	if (kt_run_base(&o, cache, &fd, n2, sizeof(n2), &e))
		fail_msg("%s", e.msg);
	close(fd);
	assert_string_not_equal(n1, n2);
	assert_true(base_holds(n2, "other include\n"));
	assert_int_equal(bases(listed, sizeof(listed)), 2);
}

/* More distinct bases at once than the cache keeps: every run still gets
 * a whole base, though others prune it while the run holds it. */
static void test_concurrent_bases_survive_pruning(void **state)
{
	enum { RUNS = 2 * KT_RUN_BASE_KEEP };
	pid_t pids[RUNS];
	char check[256];

	(void)state;
	for (int i = 0; i < RUNS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (!pids[i]) {
			char file[160], spec_i[200], name[64], buf[4096];
			const char *incs[] = { spec_i };
			KT_RUN_OPTS(o, .blobs = &table, .includes = incs, .nincludes = 1,
				    .cache_includes = true);
			struct kt_err e;
			struct stat st;
			ssize_t n;
			off_t off = 0;
			int fd;

			snprintf(file, sizeof(file), "%s/in%d", root, i);
			snprintf(spec_i, sizeof(spec_i), "%s:/etc/in", file);
			fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			if (fd < 0 || dprintf(fd, "input %d\n", i) < 0)
				_exit(2);
			close(fd);
			if (kt_run_base(&o, cache, &fd, name, sizeof(name), &e))
				_exit(3);
			usleep(300000);	/* the others build and prune meanwhile */
			if (fstat(fd, &st))
				_exit(4);
			while ((n = pread(fd, buf, sizeof(buf), off)) > 0)
				off += n;
			if (off != st.st_size || st.st_size < 1024 ||
			    pread(fd, buf, 1024, st.st_size - 1024) != 1024)
				_exit(5);
			_exit(memmem(buf, 1024, "TRAILER!!!", 10) ? 0 : 6);
		}
	}
	for (int i = 0; i < RUNS; i++) {
		int st;

		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	/* Pruning kept what it should (the last prune began after the last
	 * base was published), and left no staging file. */
	snprintf(check, sizeof(check),
		 "test $(ls -A cache | grep -c '^initramfs-') -le %d && "
		 "test -z \"$(ls -A cache | grep -v '^initramfs-')\"", KT_RUN_BASE_KEEP);
	assert_int_equal(in_root(check), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_required_options),
		cmocka_unit_test(test_opts_size),
		cmocka_unit_test(test_opts_arrays),
		cmocka_unit_test_setup_teardown(test_trace_out_checked_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_owns_its_strings, setup, teardown),
		cmocka_unit_test(test_result_owns_its_files),
		cmocka_unit_test_setup_teardown(test_base_key_follows_the_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_base_key_coarse_times, setup, teardown_coarse),
		cmocka_unit_test_setup_teardown(test_base_wprof_file_of_the_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_base_is_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_includes_stay_out_of_the_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_bases_survive_pruning, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
