/* proc.c - the child processes the library starts (QEMU, and QEMU asked
 * about itself): found in PATH, started with pipes, tied to this process's
 * life, and read with a deadline.  Touches nothing but the child. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ktpack/vm.h>

#define PROC_SUPER_MAGIC 0x9fa0

int kt_proc_check(struct kt_err *err)
{
	struct statfs sf;

	if (statfs("/proc", &sf) || sf.f_type != PROC_SUPER_MAGIC)
		return kt_err_set(err, -ENOENT,
				  "/proc is not mounted: QEMU is given the kernel as /proc/self/fd/N (mount -t proc proc /proc)");
	return 0;
}

int kt_find_program(const char *name, char *out, size_t sz)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/')) {
		struct stat st;

		if (stat(name, &st) || access(name, X_OK))
			return -errno;
		if (!S_ISREG(st.st_mode))
			return S_ISDIR(st.st_mode) ? -EISDIR : -EACCES;
		return kt_snprintf(out, sz, "%s", name);
	}
	if (!path)
		path = "/usr/bin:/bin";
	for (const char *p = path; ; ) {
		const char *e = strchr(p, ':');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		struct stat st;

		if (l && !kt_snprintf(out, sz, "%.*s/%s", (int)l, p, name) &&
		    !stat(out, &st) && S_ISREG(st.st_mode) && !access(out, X_OK))
			return 0;
		if (!e)
			break;
		p = e + 1;
	}
	return -ENOENT;
}

static void proc_close_pipe(int p[2])
{
	close(p[0]);
	close(p[1]);
}

int kt_proc_spawn(char *const argv[], const int *keep, size_t nkeep, struct kt_proc *p)
{
	pid_t parent = getpid();
	int out[2], errp[2];

	p->pid = -1;
	p->out = p->err = -1;
	if (pipe2(out, O_CLOEXEC))
		return -errno;
	if (pipe2(errp, O_CLOEXEC)) {
		int r = -errno;

		proc_close_pipe(out);
		return r;
	}
	p->pid = fork();
	if (p->pid < 0) {
		int r = -errno;

		proc_close_pipe(out);
		proc_close_pipe(errp);
		return r;
	}
	if (!p->pid) {
		sigset_t pipe_set;
		int nul;

		/* It must not outlive us, whatever kills us; and the terminal's
		 * Ctrl-C and Ctrl-\ are for the guest command, which we send
		 * them to: not for QEMU, whose group is its own. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent || setpgid(0, 0))
			_exit(127);
		/* the mask is inherited: SIGPIPE is blocked only while we
		 * write (kt_sigpipe_block), not for the program's life */
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		sigprocmask(SIG_UNBLOCK, &pipe_set, NULL);
		nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(out[1], 1);
		dup2(errp[1], 2);
		/* nothing else of ours: only what it is given (before Linux
		 * 5.11 close_range cannot mark, and each one is marked) */
		if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC))
			for (int fd = 3; fd < 65536; fd++)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
		for (size_t i = 0; i < nkeep; i++)
			if (keep[i] > 2)
				fcntl(keep[i], F_SETFD, 0);
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* (here too: a signal sent to the group at once finds it) */
	setpgid(p->pid, p->pid);
	close(out[1]);
	close(errp[1]);
	p->out = out[0];
	p->err = errp[0];
	return 0;
}

void kt_sigpipe_block(struct kt_sigpipe *s)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	*s = (struct kt_sigpipe){ .blocked = false };
	if (pthread_sigmask(SIG_BLOCK, &set, &s->old))
		return;
	s->blocked = !sigismember(&s->old, SIGPIPE);
	s->pending = !sigpending(&pending) && sigismember(&pending, SIGPIPE);
}

void kt_sigpipe_restore(const struct kt_sigpipe *s)
{
	static const struct timespec now;
	sigset_t set, pending;
	int e = errno;

	if (!s->blocked)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	/* (pending for the thread or the process: a kill -PIPE that came
	 * meanwhile is taken too, as it would have been while blocked) */
	if (!s->pending && !sigpending(&pending) && sigismember(&pending, SIGPIPE))
		while (sigtimedwait(&set, NULL, &now) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &s->old, NULL);
	errno = e;
}

void kt_proc_close(struct kt_proc *p)
{
	if (p->out >= 0)
		close(p->out);
	if (p->err >= 0)
		close(p->err);
	p->out = p->err = -1;
}

/* Appends @n bytes of @in to @buf (NUL-terminated, cut at @sz - 1; none
 * when @sz is 0). */
static void proc_take(char *buf, size_t sz, size_t *len, const char *in, size_t n)
{
	size_t take = *len + 1 < sz ? sz - 1 - *len : 0;

	if (!sz)
		return;

	if (take > n)
		take = n;
	memcpy(buf + *len, in, take);
	*len += take;
	buf[*len] = '\0';
}

int kt_proc_capture(char *const argv[], struct kt_capture *c)
{
	uint64_t deadline = kt_now_ms() + c->timeout_ms;
	size_t len[2] = { 0, 0 };
	struct kt_proc p;
	int r = kt_proc_spawn(argv, c->keep, c->nkeep, &p), st = 0;

	if (r)
		return r;
	if (c->outsz)
		c->out[0] = '\0';
	if (c->errsz)
		c->errs[0] = '\0';
	while (p.out >= 0 || p.err >= 0) {
		struct pollfd pf[2] = { { .fd = p.out, .events = POLLIN },
					{ .fd = p.err, .events = POLLIN } };
		uint64_t now = kt_now_ms();
		char buf[4096];

		if (now >= deadline || kt_stopped(c->stop)) {
			r = now >= deadline ? -ETIMEDOUT : -EINTR;
			break;
		}
		/* (a stop is looked at five times a second) */
		if (poll(pf, 2, deadline - now < 200 ? (int)(deadline - now) : 200) < 0 &&
		    errno != EINTR) {
			r = -errno;
			break;
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i ? &p.err : &p.out;
			ssize_t n;

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(*fd, buf, sizeof(buf));
			if (n > 0)
				proc_take(i ? c->errs : c->out, i ? c->errsz : c->outsz, &len[i], buf,
					  (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	if (r)
		kill(p.pid, SIGKILL);
	waitpid(p.pid, &st, 0);
	kt_proc_close(&p);
	c->status = st;
	return r;
}
