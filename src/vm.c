/* vm.c - the QEMU runner (see vm.h).
 *
 * Starts QEMU with the console on the first serial port and the framed
 * channel (ktpack/channel.h) on a virtio-serial port and on the second
 * serial port, each a socket pair with us; watches the console for init's
 * start, a kernel panic and an archive that did not unpack; forwards the
 * host's stdin; stops the VM at the timeout.  Writes nothing but the
 * command's output and the trace.  QEMU dies with this process
 * (PR_SET_PDEATHSIG).
 */
#include <ktpack/vm.h>

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <ktpack/channel.h>

#include "guest/proto.h"

#define LINE_MAX_KEPT	1024
#define ERR_KEPT	2048

int kt_accel_parse(const char *s, enum kt_accel *out)
{
	static const char *const names[] = { "auto", "kvm", "tcg" };
	int i = kt_name_index(names, KT_ARRAY_SIZE(names), s);

	if (i < 0)
		return i;
	*out = (enum kt_accel)i;
	return 0;
}

const char *kt_accel_name(enum kt_accel a)
{
	return a == KT_ACCEL_KVM ? "KVM" : a == KT_ACCEL_TCG ? "TCG" : "auto";
}

int kt_channel_parse(const char *s, enum kt_channel *out)
{
	static const char *const names[] = { "auto", "virtio", "serial" };
	int i = kt_name_index(names, KT_ARRAY_SIZE(names), s);

	if (i < 0)
		return i;
	*out = (enum kt_channel)i;
	return 0;
}

const char *kt_channel_name(enum kt_channel c)
{
	return c == KT_CHANNEL_VIRTIO ? "virtio" : c == KT_CHANNEL_SERIAL ? "serial" : "auto";
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

int kt_find_qemu(const char *q, enum kt_arch arch, char *qemu, size_t sz,
		 struct kt_err *err)
{
	const struct kt_arch_info *ai = kt_arch_info(arch);
	int r;

	if (!ai)
		return kt_err_set(err, -ENOTSUP, "ktpack cannot boot a guest on this machine");
	if (!q)
		q = ai->qemu;
	if (!*q)
		return kt_err_set(err, -EINVAL, "the QEMU program's name is empty");
	r = kt_find_program(q, qemu, sz);
	if (r && strchr(q, '/'))
		return kt_err_set(err, r, "QEMU '%s': %s", q, strerror(-r));
	if (r)
		return kt_err_set(err, -ENOENT,
				  "%s not found in PATH: install QEMU (Debian: apt-get install %s)",
				  q, ai->qemu_pkg);
	return 0;
}

int kt_vm_preflight(const struct kt_vm_opts *o, char *qemu, size_t sz,
		    struct kt_err *err)
{
	/* A kernel the caller resolved and holds open was checked then. */
	int r = o->kernel_fd > 2 ? 0 : kt_kernel_check(o->kernel, err);

	if (!r && !kt_arch_info(o->arch))
		return kt_err_set(err, -ENOTSUP, "ktpack cannot boot a guest on this machine");
	if (!r && o->channel == KT_CHANNEL_SERIAL && !kt_arch_info(o->arch)->serial_channel)
		r = kt_err_set(err, -EINVAL,
			       "--channel serial: an %s guest has no second serial port (its channel is virtio)",
			       kt_arch_name(kt_arch_or_native(o->arch)));
	return r ? r : kt_find_qemu(o->qemu, o->arch, qemu, sz, err);
}

/* ---- a child process with pipes ----------------------------------------------- */

struct kt_proc {
	pid_t pid;
	int out;	/* its stdout, or -1 */
	int err;	/* its stderr */
};

/* Starts @argv with its stdout and stderr on pipes to us, its stdin on
 * /dev/null; the @nkeep descriptors @keep (those above 2) are inherited. */
static int vm_spawn(char *const argv[], const int *keep, size_t nkeep, struct kt_proc *p)
{
	pid_t parent = getpid();
	int out[2], errp[2];

	if (pipe2(out, O_CLOEXEC))
		return -errno;
	if (pipe2(errp, O_CLOEXEC)) {
		close(out[0]);
		close(out[1]);
		return -errno;
	}
	p->pid = fork();
	if (p->pid < 0) {
		int r = -errno;

		close(out[0]);
		close(out[1]);
		close(errp[0]);
		close(errp[1]);
		return r;
	}
	if (!p->pid) {
		/* QEMU must not outlive us, whatever kills us. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		int nul = open("/dev/null", O_RDONLY);

		if (nul >= 0)
			dup2(nul, 0);
		dup2(out[1], 1);
		dup2(errp[1], 2);
		/* nothing else of ours: only what it is given */
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		for (size_t i = 0; i < nkeep; i++)
			if (keep[i] > 2)
				fcntl(keep[i], F_SETFD, 0);
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(errp[1]);
	p->out = out[0];
	p->err = errp[0];
	return 0;
}

/* Appends to a bounded buffer, keeping the last bytes. */
static void vm_keep(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (n >= cap) {
		s += n - (cap - 1);
		n = cap - 1;
	}
	if (*len + n >= cap) {
		size_t drop = *len + n - (cap - 1);

		memmove(buf, buf + drop, *len - drop);
		*len -= drop;
	}
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

/* Whether a line of QEMU's stderr says something about a failure: the
 * fw_cfg name warning that our own -fw_cfg option causes does not. */
static bool vm_telling(const char *line)
{
	return !strstr(line, "fw_cfg");
}

/* The last non-empty line of @s, for an error message. */
static const char *vm_last_line(char *s)
{
	char *end = s + strlen(s);

	for (;;) {
		while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
			*--end = '\0';
		while (end > s && end[-1] != '\n')
			end--;
		if (end == s || vm_telling(end))
			return vm_telling(end) ? end : "";
		*end = '\0';
	}
}

/* ---- the KVM probe --------------------------------------------------------------- */

/* "file=IMG,format=raw,if=ide": QEMU splits options on ',', so a comma in
 * the path is doubled. */
static int vm_drive_arg(char *out, size_t sz, const char *img)
{
	size_t o = 0;

	if (kt_snprintf(out, sz, "file="))
		return -ENAMETOOLONG;
	o = strlen(out);
	for (const char *p = img; *p; p++) {
		if (o + 3 >= sz)
			return -ENAMETOOLONG;
		if (*p == ',')
			out[o++] = ',';
		out[o++] = *p;
	}
	out[o] = '\0';
	return kt_snprintf(out + o, sz - o, ",format=raw,if=ide");
}

/* Writes the boot sector the probe runs into @img. */
static int vm_probe_image(const char *img)
{
	/* mov al, 0x2a; out 0xf4, al; hlt; jmp $-1: isa-debug-exit makes
	 * QEMU exit with (0x2a << 1) | 1 = 85 once the sector has run. */
	static const unsigned char code[] = { 0xb0, 0x2a, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd };
	unsigned char mbr[512] = { 0 };
	int fd, r;

	memcpy(mbr, code, sizeof(code));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	fd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = kt_write_all(fd, mbr, sizeof(mbr));
	if (close(fd) && !r)
		r = -errno;
	return r;
}

/* Waits for the probe's QEMU until its deadline; its stderr kept in @errs. */
static int vm_probe_wait(struct kt_proc *p, volatile sig_atomic_t *stop, char *errs,
			 size_t errsz, struct kt_err *err)
{
	uint64_t deadline = kt_now_ms() + KT_KVM_PROBE_TIMEOUT_S * 1000ULL;
	size_t elen = 0;
	int st = 0;

	for (;;) {
		struct pollfd pf = { .fd = p->err, .events = POLLIN };
		uint64_t now = kt_now_ms();
		char buf[512];
		ssize_t n;

		if (now >= deadline || (stop && *stop)) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			if (stop && *stop)
				return kt_err_set(err, -EINTR, "interrupted: the KVM probe was stopped");
			return kt_err_set(err, -ETIMEDOUT,
					  "a QEMU guest under KVM did not run within %d s",
					  KT_KVM_PROBE_TIMEOUT_S);
		}
		if (poll(&pf, 1, deadline - now < 200 ? (int)(deadline - now) : 200) <= 0)
			continue;
		n = read(p->err, buf, sizeof(buf));
		if (n > 0) {
			vm_keep(errs, errsz, &elen, buf, (size_t)n);
			continue;
		}
		waitpid(p->pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 85)
			return 0;
		return kt_err_set(err, -EIO, "QEMU with -accel kvm failed: %s",
				  *errs ? vm_last_line(errs) : "no message");
	}
}

int kt_kvm_probe(const char *qemu, volatile sig_atomic_t *stop, struct kt_err *err)
{
	char img[PATH_MAX], drive[PATH_MAX + 32], errs[ERR_KEPT] = "";
	struct kt_workdir dir;
	char *argv[] = {
		/* The same CPU model as a real run: on nested hosts it is what
		 * breaks (MSRs the outer hypervisor refuses). */
		(char *)qemu, "-accel", "kvm", "-cpu", "host", "-display", "none", "-nodefaults",
		"-no-reboot", "-m", "16", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-drive", drive, NULL,
	};
	struct kt_proc p = { .pid = -1, .out = -1, .err = -1 };
	int r;

	if (access("/dev/kvm", R_OK | W_OK))
		return kt_err_set(err, -ENODEV, "/dev/kvm: %s", strerror(errno));
	r = kt_workdir_new(&dir, "ktpack-kvm", err);
	if (r)
		return r;
	if (kt_snprintf(img, sizeof(img), "%s/probe.img", dir.path) ||
	    vm_drive_arg(drive, sizeof(drive), img)) {
		r = kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", dir.path);
		goto out;
	}
	r = vm_probe_image(img);
	if (r) {
		kt_err_set(err, r, "cannot write the probe image: %s", strerror(-r));
		goto out;
	}
	r = vm_spawn(argv, NULL, 0, &p);
	if (r) {
		kt_err_set(err, r, "cannot start %s: %s", qemu, strerror(-r));
		goto out;
	}
	close(p.out);
	r = vm_probe_wait(&p, stop, errs, sizeof(errs), err);
	close(p.err);
out:
	kt_workdir_remove(&dir);
	return r;
}

/* The probe's cache entry: this QEMU binary, this /dev/kvm, this host
 * kernel.  A change of any of them probes again. */
static int vm_probe_name(const char *qemu, char *name, size_t sz)
{
	struct stat q, k = { 0 };
	struct utsname u;
	uint64_t h = 0xcbf29ce484222325ULL;
	int usable = !access("/dev/kvm", R_OK | W_OK);
	const void *parts[9];
	size_t lens[9];

	if (stat(qemu, &q) || uname(&u))
		return -errno;
	stat("/dev/kvm", &k);
	parts[0] = &q.st_ino, lens[0] = sizeof(q.st_ino);
	parts[1] = &q.st_mtim, lens[1] = sizeof(q.st_mtim);
	parts[2] = &q.st_size, lens[2] = sizeof(q.st_size);
	parts[3] = &k.st_rdev, lens[3] = sizeof(k.st_rdev);
	/* who may use it: a user added to the kvm group probes again */
	parts[4] = &k.st_mode, lens[4] = sizeof(k.st_mode);
	parts[5] = &k.st_uid, lens[5] = sizeof(k.st_uid);
	parts[6] = &k.st_gid, lens[6] = sizeof(k.st_gid);
	parts[7] = &usable, lens[7] = sizeof(usable);
	parts[8] = u.release, lens[8] = strlen(u.release);
	for (size_t i = 0; i < KT_ARRAY_SIZE(parts); i++)
		for (size_t b = 0; b < lens[i]; b++)
			h = (h ^ ((const unsigned char *)parts[i])[b]) * 0x100000001b3ULL;
	return kt_snprintf(name, sz, "kvm-probe-%016llx", (unsigned long long)h);
}


static int vm_probe_fill(void *ctx, int fd, struct kt_err *err)
{
	const struct kt_err *why = ctx;
	int r = kt_write_all(fd, why->code ? why->msg : "ok", strlen(why->code ? why->msg : "ok"));

	return r ? kt_err_set(err, r, "cannot record the KVM probe: %s", strerror(-r)) : 0;
}

/*
 * The probe's result, from the cache when a recent one is there (0, or
 * -ENODEV with its reason in @why); 1 when there is none.
 */
static int vm_probe_cached(struct kt_cache *c, const char *name, struct kt_err *why)
{
	struct stat st;
	char buf[sizeof(why->msg)];
	ssize_t n;
	int fd;

	if (!c || kt_cache__open_file(c, name, 0600, UINT64_MAX, &fd))
		return 1;
	n = fstat(fd, &st) ? -1 : kt_pread_full(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n <= 0 || time(NULL) - st.st_mtime > KT_KVM_PROBE_CACHE_S ||
	    time(NULL) < st.st_mtime) {
		unlinkat(kt_cache__fd(c), name, 0);
		return 1;
	}
	buf[n] = '\0';
	if (!strcmp(buf, "ok"))
		return 0;
	return kt_err_set(why, -ENODEV, "%s", buf);
}

/* Chooses the accelerator: KVM when asked or when the probe passes.  The
 * probe's result is kept in the cache for a while: a run does not pay it,
 * or repeat its warning, every time. */
static int vm_pick_accel(const struct kt_vm_opts *o, const char *qemu,
			 enum kt_accel *out, struct kt_err *err)
{
	struct kt_err why = { 0 };
	char name[64];
	bool named;
	int r = 1;

	*out = KT_ACCEL_TCG;
	if (o->accel == KT_ACCEL_TCG)
		return 0;
	/* KVM runs guests of this machine's architecture only. */
	if (kt_arch_or_native(o->arch) != kt_arch_native()) {
		if (o->accel == KT_ACCEL_KVM)
			return kt_err_set(err, -ENODEV, "KVM cannot run an %s guest on this %s machine",
					  kt_arch_name(o->arch), kt_arch_name(kt_arch_native()));
		return 0;
	}
	named = !vm_probe_name(qemu, name, sizeof(name));
	if (named)
		r = vm_probe_cached(o->cache, name, &why);
	/* --accel kvm asks again: a failure it remembers may be gone. */
	if (r && o->accel == KT_ACCEL_KVM)
		r = 1;
	if (r == 1) {
		why = (struct kt_err){ 0 };	/* not the remembered failure */
		r = kt_kvm_probe(qemu, o->stop, &why);
		/* Only an answer is kept: a probe that timed out, or could not
		 * start, says nothing about KVM. */
		if ((!r || r == -EIO || r == -ENODEV) && o->cache && named) {
			unlinkat(kt_cache__fd(o->cache), name, 0);
			kt_cache__publish(o->cache, name, 0600, 0, vm_probe_fill, &why, NULL);
		}
		if (r && o->accel != KT_ACCEL_KVM)
			kt_log(&o->log, KT_LOG_WARN,
			       "KVM is not usable (%s): falling back to TCG, which is much slower",
			       why.msg);
	}
	if (!r) {
		*out = KT_ACCEL_KVM;
		return 0;
	}
	if (r == -EINTR)
		return kt_err_set(err, r, "%s", why.msg);
	if (o->accel == KT_ACCEL_KVM)
		return kt_err_set(err, -ENODEV, "KVM does not work here: %s", why.msg);
	return 0;
}


/* ---- the run ------------------------------------------------------------------------ */

/* Bytes on their way to a socket that may not take them all at once. */
struct vm_pend {
	size_t len, off;
	unsigned char buf[KT_CH_FRAME_MAX];
};

enum { PORT_VIRTIO, PORT_SERIAL, PORT_N };

struct vm_run {
	const struct kt_vm_opts *o;
	struct kt_vm_result *res;
	struct kt_proc p;
	int con;			/* our end of the console */
	int port[PORT_N];		/* our ends of the channel's ports */
	struct kt_ch_host *h[PORT_N];
	int active;			/* the port init said HELLO on, or -1 */
	struct vm_pend to_con, to_port;
	uint64_t stdin_sent;		/* STDIN bytes sent: the guest's window */
	bool acked;			/* the guest's end was acknowledged */
	/* the console, watched a line at a time */
	char line[LINE_MAX_KEPT];
	size_t len;
	bool started;			/* /init is running */
	char panic[LINE_MAX_KEPT];
	char unpack[LINE_MAX_KEPT];	/* the kernel could not unpack the archive */
	/* the console's last bytes, for the caller to show on failure */
	char tail[16384];
	size_t tlen;
	/* the host's stdin */
	int in;				/* -1 once it ended */
	bool own_in;			/* in is our /dev/null */
	bool tty;			/* it is a terminal, put in raw mode */
	struct termios saved;
	bool escape;			/* Ctrl-A was typed */
	bool quit;			/* Ctrl-A x was typed */
	struct winsize ws;
	char errs[ERR_KEPT];		/* QEMU's stderr */
	size_t elen;
};

/* The caller's descriptor: 0 means @std, -1 none. */
static int vm_fd(int fd, int std)
{
	return fd == 0 ? std : fd;
}

/* Looks at one complete console line. */
static void vm_line(struct vm_run *v)
{
	const char *m;

	while (v->len && (v->line[v->len - 1] == '\r' || v->line[v->len - 1] == '\n'))
		v->line[--v->len] = '\0';
	if (!v->started && strstr(v->line, KT_INIT_STARTED))
		v->started = true;
	else if (!*v->panic && (m = strstr(v->line, "Kernel panic - not syncing")))
		snprintf(v->panic, sizeof(v->panic), "%s", m);
	/* the kernel's, before init: a command cannot end a run with it */
	else if (!v->started && v->active < 0 && !*v->unpack &&
		 (m = strstr(v->line, "Initramfs unpacking failed")))
		snprintf(v->unpack, sizeof(v->unpack), "%s", m);
}

static void vm_console(struct vm_run *v, const char *buf, size_t n)
{
	int fd = vm_fd(v->o->console_fd, STDOUT_FILENO);

	if (fd >= 0)
		kt_write_all(fd, buf, n);
	vm_keep(v->tail, sizeof(v->tail), &v->tlen, buf, n);
	for (size_t i = 0; i < n; i++) {
		/* A long line keeps its end; a NUL must not hide what follows. */
		if (v->len == sizeof(v->line) - 1) {
			memmove(v->line, v->line + v->len / 2, v->len - v->len / 2);
			v->len -= v->len / 2;
		}
		v->line[v->len++] = buf[i] ? buf[i] : ' ';
		v->line[v->len] = '\0';
		if (buf[i] == '\n') {
			vm_line(v);
			v->len = 0;
		}
	}
}

/* The console's last lines, printable, into the result. */
static void vm_tail(struct vm_run *v)
{
	char *out = v->res->console_tail, *s = v->tail;
	size_t cap = sizeof(v->res->console_tail), n = 0, lines = 0;
	char *start = s + v->tlen;

	while (start > s && lines <= KT_VM_TAIL_LINES && (size_t)(s + v->tlen - start) < cap - 1)
		if (*--start == '\n')
			lines++;
	if (*start == '\n')
		start++;
	for (char *p = start; p < s + v->tlen && n < cap - 1; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\r')
			continue;
		out[n++] = c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f) ? (char)c : '?';
	}
	out[n] = '\0';
}

/* init's words: its warnings for the user, the rest for debugging; the
 * guest's bytes made printable. */
static void vm_diag(void *ctx, const char *line, size_t len)
{
	struct vm_run *v = ctx;
	size_t wl = strlen(KT_CH_WARNING);
	bool warning = len > wl && !memcmp(line, KT_CH_WARNING, wl);
	char text[512];
	size_t n = 0;

	if (warning) {
		line += wl;
		len -= wl;
	}
	for (size_t i = 0; i < len && n < sizeof(text) - 1; i++)
		text[n++] = (unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i];
	text[n] = '\0';
	kt_log(&v->o->log, warning ? KT_LOG_WARN : KT_LOG_DEBUG, "guest: %s", text);
}

/* Queues one frame for the active port. */
static bool vm_frame(struct vm_run *v, enum kt_ch_type type, const void *p, size_t len)
{
	if (v->active < 0 || v->to_port.len)
		return false;
	v->to_port.len = kt_ch_encode(v->to_port.buf, type, p, len);
	v->to_port.off = 0;
	return true;
}

/* Writes what it can of @pd to @fd; false when the peer is gone. */
static bool vm_flush(int fd, struct vm_pend *pd)
{
	while (pd->off < pd->len) {
		/* a socket: no SIGPIPE when QEMU is gone */
		ssize_t n = send(fd, pd->buf + pd->off, pd->len - pd->off, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		pd->off += (size_t)n;
	}
	pd->len = pd->off = 0;
	return true;
}

/* The terminal's size, to the guest when it changed. */
static void vm_winsize(struct vm_run *v)
{
	struct winsize ws;
	unsigned char p[4];

	if (!v->tty || ioctl(v->in, TIOCGWINSZ, &ws) || !ws.ws_row ||
	    (ws.ws_row == v->ws.ws_row && ws.ws_col == v->ws.ws_col))
		return;
	p[0] = (unsigned char)ws.ws_row;
	p[1] = (unsigned char)(ws.ws_row >> 8);
	p[2] = (unsigned char)ws.ws_col;
	p[3] = (unsigned char)(ws.ws_col >> 8);
	if (vm_frame(v, KT_CH_WINSZ, p, sizeof(p)))
		v->ws = ws;
}

/* How much more stdin the guest takes now: its window less what it has
 * not credited back. */
static size_t vm_window(const struct vm_run *v)
{
	uint64_t credited = v->active >= 0 ? kt_ch_host__credited(v->h[v->active]) : 0;
	uint64_t out = v->stdin_sent > credited ? v->stdin_sent - credited : 0;

	return out >= KT_CH_STDIN_WINDOW ? 0 : (size_t)(KT_CH_STDIN_WINDOW - out);
}

/*
 * Reads the host's stdin into the next frame (a command's) or console
 * bytes (a shell's).  On a terminal Ctrl-A x stops the VM and Ctrl-A
 * Ctrl-A sends one Ctrl-A, as in QEMU; the end of a shell's input is a
 * Ctrl-D, which ends the shell.
 */
static void vm_stdin(struct vm_run *v)
{
	struct vm_pend *pd = v->o->interactive ? &v->to_con : &v->to_port;
	unsigned char buf[KT_CH_PAYLOAD_MAX];
	size_t want = v->o->interactive ? 4096 : vm_window(v);
	ssize_t n = read(v->in, buf, want < sizeof(buf) ? want : sizeof(buf));
	size_t k = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (v->own_in)
			close(v->in);
		v->own_in = false;
		v->in = -1;
		if (!v->o->interactive) {
			vm_frame(v, KT_CH_STDIN, NULL, 0);
		} else {
			pd->buf[0] = 0x04;
			pd->len = 1;
			pd->off = 0;
		}
		return;
	}
	if (!v->o->interactive) {
		vm_frame(v, KT_CH_STDIN, buf, (size_t)n);
		v->stdin_sent += (size_t)n;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = buf[i];

		if (v->tty && v->escape) {
			v->escape = false;
			if (c == 'x' || c == 'X') {
				v->quit = true;
				break;
			}
			if (c != 0x01)
				pd->buf[k++] = 0x01;
		} else if (v->tty && c == 0x01) {
			v->escape = true;
			continue;
		}
		pd->buf[k++] = c;
	}
	pd->len = k;
	pd->off = 0;
}

/* Reads a port; init's HELLO on it makes it the channel. */
static int vm_port(struct vm_run *v, int i, struct kt_err *err)
{
	unsigned char buf[65536];
	ssize_t n = read(v->port[i], buf, sizeof(buf));
	int r;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		close(v->port[i]);
		v->port[i] = -1;
		return 0;
	}
	/* Once init chose a port, the other one is not listened to. */
	if (v->active >= 0 && v->active != i)
		return 0;
	r = kt_ch_host__feed(v->h[i], buf, (size_t)n, err);
	if (!r && v->active < 0 && kt_ch_host__hello(v->h[i])) {
		v->active = i;
		v->res->channel = i == PORT_VIRTIO ? KT_CHANNEL_VIRTIO : KT_CHANNEL_SERIAL;
		if (i != PORT_VIRTIO && v->o->channel == KT_CHANNEL_VIRTIO)
			return kt_err_set(err, -ENODEV,
					  "the guest has no virtio console for the channel (--channel virtio): its kernel needs virtio_console, built in or as a module of its tree (--modules DIR)");
		if (i != PORT_VIRTIO && v->o->channel == KT_CHANNEL_AUTO)
			kt_log(&v->o->log, KT_LOG_WARN,
			       "the channel fell back to the serial port, over 100 times slower: the guest has no virtio_console (built in, or a module of its tree: --modules DIR)");
	}
	return r;
}

/* Whether the guest said how it ended. */
static bool vm_ended(const struct vm_run *v)
{
	int st;
	const char *why;

	return v->active >= 0 && kt_ch_host__end(v->h[v->active], &st, &why);
}

/* Reads the console, the ports and QEMU's stderr, and feeds stdin, until
 * QEMU ends, a deadline passes or the caller asks to stop. */
static int vm_watch(struct vm_run *v, struct kt_err *err)
{
	const struct kt_vm_opts *o = v->o;
	uint64_t t0 = kt_now_ms(), deadline = 0, boot_deadline;

	if (o->timeout_s)
		deadline = t0 + o->timeout_s * 1000ULL;
	boot_deadline = t0 + (o->boot_timeout_s ? o->boot_timeout_s : KT_VM_BOOT_TIMEOUT_S) * 1000ULL;
	for (;;) {
		struct kt_ch_host *h = v->active >= 0 ? v->h[v->active] : NULL;
		/* the command's output waiting for its reader: the guest waits */
		bool full = h && kt_ch_host__pending(h) >= KT_VM_OUT_QUEUE;
		bool up = v->started || v->active >= 0;
		/* stdin is read once the guest can take it, a frame at a time */
		bool want_in = v->in >= 0 && (o->interactive ? !v->to_con.len :
					      v->active >= 0 && !v->to_port.len && !vm_ended(v) &&
					      vm_window(v) > 0);
		struct pollfd pf[7] = {
			{ .fd = v->con, .events = POLLIN | (v->to_con.len ? POLLOUT : 0) },
			/* a full queue: the active port is not read (its hang-up
			 * neither), but a frame for the guest still goes */
			{ .fd = v->active == 0 && full && !v->to_port.len ? -1 : v->port[0],
			  .events = (v->active == 0 && full ? 0 : POLLIN) |
				(v->active == 0 && v->to_port.len ? POLLOUT : 0) },
			{ .fd = v->active == 1 && full && !v->to_port.len ? -1 : v->port[1],
			  .events = (v->active == 1 && full ? 0 : POLLIN) |
				(v->active == 1 && v->to_port.len ? POLLOUT : 0) },
			{ .fd = v->p.err, .events = POLLIN },
			{ .fd = v->p.out, .events = POLLIN },
			{ .fd = want_in ? v->in : -1, .events = POLLIN },
			{ .fd = h ? kt_ch_host__wait_fd(h) : -1, .events = POLLOUT },
		};
		uint64_t now = kt_now_ms(), until = up ? deadline : boot_deadline;
		char buf[4096];
		ssize_t n;
		int r;

		/* QEMU is gone and everything it said is read and written */
		if (v->con < 0 && v->port[0] < 0 && v->port[1] < 0 && v->p.err < 0 &&
		    (!h || !kt_ch_host__pending(h)))
			break;
		if (o->stop && *o->stop)
			return kt_err_set(err, -EINTR, "interrupted: the VM was stopped");
		if (o->signal && *o->signal) {
			/* Before the guest is up, or for a shell (whose terminal
			 * sends its own), a signal stops the VM. */
			if (v->active < 0 || o->interactive)
				return kt_err_set(err, -EINTR, "interrupted: the VM was stopped");
			if (!v->to_port.len) {
				unsigned char le[4];

				kt_put_le32(le, (uint32_t)*o->signal);
				vm_frame(v, KT_CH_SIGNAL, le, sizeof(le));
				*o->signal = 0;
			}
		}
		if (v->quit)
			return kt_err_set(err, -EINTR, "stopped with Ctrl-A x");
		if (*v->unpack)
			return kt_err_set(err, -ENOSPC,
					  "the guest could not unpack its initramfs (%s): give it more memory",
					  v->unpack);
		if (!up && deadline && deadline < until)
			until = deadline;
		if (until && now >= until) {
			if (!up)
				return kt_err_set(err, -ETIMEDOUT,
						  "the guest did not reach /init within %llu s: the VM was stopped",
						  (unsigned long long)((until - t0) / 1000));
			return kt_err_set(err, -ETIMEDOUT,
					  "the guest command did not finish within %u s: the VM was stopped",
					  o->timeout_s);
		}
		if (poll(pf, KT_ARRAY_SIZE(pf), 200) < 0) {
			if (errno == EINTR)
				continue;
			return kt_err_set(err, -errno, "poll: %s", strerror(errno));
		}
		if (pf[0].revents & POLLOUT && !vm_flush(v->con, &v->to_con))
			v->to_con.len = 0;
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(v->con, buf, sizeof(buf));
			if (n > 0)
				vm_console(v, buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(v->con);
				v->con = -1;
			}
		}
		for (int i = 0; i < PORT_N; i++) {
			if (pf[1 + i].revents & POLLOUT && !vm_flush(v->port[i], &v->to_port))
				v->to_port.len = 0;
			if (!(v->active == i && full) &&
			    pf[1 + i].revents & (POLLIN | POLLHUP | POLLERR)) {
				r = vm_port(v, i, err);
				if (r)
					return r;
			}
		}
		for (int i = 3; i < 5; i++) {
			int *fd = i == 3 ? &v->p.err : &v->p.out;

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(*fd, buf, sizeof(buf));
			if (n > 0)
				vm_keep(v->errs, sizeof(v->errs), &v->elen, buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(*fd);
				*fd = -1;
			}
		}
		if (pf[5].revents)
			vm_stdin(v);
		if (pf[6].revents && v->active >= 0) {
			r = kt_ch_host__flush(v->h[v->active], err);
			if (r)
				return r;
		}
		/* the guest waits for this before it powers off */
		if (v->active >= 0 && !v->acked && vm_ended(v) && vm_frame(v, KT_CH_ACK, NULL, 0))
			v->acked = true;
		if (v->active >= 0) {
			vm_winsize(v);
			if (v->to_port.len && !vm_flush(v->port[v->active], &v->to_port))
				v->to_port.len = 0;
		}
		if (v->to_con.len && v->con >= 0 && !vm_flush(v->con, &v->to_con))
			v->to_con.len = 0;
	}
	return 0;
}

/* What the guest's end says, once QEMU is gone. */
static int vm_outcome(struct vm_run *v, int st, struct kt_err *err)
{
	const char *why = NULL;
	int status = -1, end = v->active >= 0 ? kt_ch_host__end(v->h[v->active], &status, &why) : 0;

	/* A command may print a panic-looking line and still end well: init's
	 * status says it did. */
	if (end > 0) {
		v->res->end = KT_VM_EXITED;
		v->res->exit_status = status;
		return 0;
	}
	if (end < 0)
		return kt_err_set(err, -EIO, "the guest init could not run the command: %s", why);
	if (*v->panic) {
		v->res->end = KT_VM_PANIC;
		return kt_err_set(err, -EIO, "the guest kernel panicked: %s", v->panic);
	}
	if (!v->started)
		return kt_err_set(err, -EIO, "the guest never reached /init (QEMU exited with status %d%s%s)",
				  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
				  *v->errs ? ": " : "", *v->errs ? vm_last_line(v->errs) : "");
	return kt_err_set(err, -EIO, "the VM stopped before the guest command finished%s%s",
			  *v->errs ? ": " : "", *v->errs ? vm_last_line(v->errs) : "");
}

/* A socket pair: ours nonblocking, QEMU's to be inherited. */
static int vm_socket(int *ours, int *theirs)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	*ours = sv[0];
	*theirs = sv[1];
	return 0;
}

/* QEMU with the console on the first serial port, the channel on a
 * virtio-serial port and on the second serial port (an arm64 guest has
 * none: QEMU's virt has one PL011); each a socket pair whose other end is
 * ours. */
static int vm_start(struct vm_run *v, const char *qemu, enum kt_accel accel, const int qfd[3])
{
	const struct kt_vm_opts *o = v->o;
	const struct kt_arch_info *ai = kt_arch_info(o->arch);
	char mem[32], smp[16], con[64], ser[64], vio[64];
	char *argv[64];
	size_t n = 0;
	char **full;
	int r;

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)o->memory_mib);
	snprintf(smp, sizeof(smp), "%u", o->cpus ? o->cpus : 1);
	snprintf(con, sizeof(con), "socket,id=con,fd=%d", qfd[0]);
	snprintf(ser, sizeof(ser), "socket,id=chs,fd=%d", qfd[1]);
	snprintf(vio, sizeof(vio), "socket,id=chv,fd=%d", qfd[2]);
	{
		char *base[] = {
			(char *)qemu, "-accel", accel == KT_ACCEL_KVM ? "kvm" : "tcg",
			/* max gives programs under test every CPU feature TCG
			 * has */
			"-machine", (char *)ai->qemu_machine,
			"-cpu", accel == KT_ACCEL_KVM ? "host" : ai->tcg_cpu ? (char *)ai->tcg_cpu : "max",
			"-m", mem, "-smp", smp,
			"-kernel", (char *)o->kernel, "-initrd", (char *)o->initrd,
			"-append", (char *)o->cmdline,
			"-display", "none", "-nodefaults", "-no-reboot", "-monitor", "none",
			"-chardev", con, "-serial", "chardev:con",
		};

		memcpy(argv, base, sizeof(base));
		n = KT_ARRAY_SIZE(base);
	}
	if (ai->serial_channel) {
		/* SeaBIOS: no banner and screen codes on the console */
		argv[n++] = "-fw_cfg";
		argv[n++] = "name=etc/sercon-port,string=0";
		argv[n++] = "-chardev";
		argv[n++] = ser;
		argv[n++] = "-serial";
		argv[n++] = "chardev:chs";
	}
	if (o->channel != KT_CHANNEL_SERIAL) {
		argv[n++] = "-device";
		argv[n++] = "virtio-serial-pci,id=ktvser";
		argv[n++] = "-chardev";
		argv[n++] = vio;
		argv[n++] = "-device";
		argv[n++] = "virtserialport,bus=ktvser.0,chardev=chv,name=" KT_CH_PORT_NAME;
	}
	/* The caller's own options last: QEMU lets a later one win. */
	full = calloc(n + o->nqemu_opts + 1, sizeof(*full));
	if (!full)
		return -ENOMEM;
	memcpy(full, argv, n * sizeof(*argv));
	for (size_t i = 0; i < o->nqemu_opts; i++)
		full[n + i] = (char *)o->qemu_opts[i];
	{
		int keep[] = { o->kernel_fd, qfd[0], qfd[1], qfd[2] };

		r = vm_spawn(full, keep, KT_ARRAY_SIZE(keep), &v->p);
	}
	free(full);
	return r;
}

/* The host's stdin for the guest: a terminal in raw mode for a shell. */
static void vm_stdin_open(struct vm_run *v)
{
	const struct kt_vm_opts *o = v->o;

	v->in = vm_fd(o->stdin_fd, STDIN_FILENO);
	/* A command reading no stdin, or a terminal this process group does
	 * not own (a background job would stop on reading it), reads an
	 * end of file. */
	if (v->in < 0 || fcntl(v->in, F_GETFD) < 0 ||
	    (!o->interactive && isatty(v->in) && tcgetpgrp(v->in) != getpgrp())) {
		v->in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		v->own_in = v->in >= 0;
		return;
	}
	if (isatty(v->in) && !tcgetattr(v->in, &v->saved)) {
		struct termios t = v->saved;

		v->tty = true;
		if (o->interactive) {
			cfmakeraw(&t);
			/* the host's newlines stay as the guest's tty makes them */
			t.c_oflag |= OPOST;
			tcsetattr(v->in, TCSANOW, &t);
		}
	}
}

static void vm_stdin_close(struct vm_run *v)
{
	int fd = vm_fd(v->o->stdin_fd, STDIN_FILENO);

	if (v->tty && v->o->interactive)
		tcsetattr(fd, TCSANOW, &v->saved);
	if (v->own_in && v->in >= 0)
		close(v->in);
}

int kt_vm_run(const struct kt_vm_opts *o, struct kt_vm_result *res,
	      struct kt_err *err)
{
	struct vm_run *v;
	char qemu[PATH_MAX];
	enum kt_accel accel;
	int qfd[3] = { -1, -1, -1 }, st = 0, r;

	memset(res, 0, sizeof(*res));
	res->exit_status = -1;
	res->end = KT_VM_FAILED;
	r = kt_vm_preflight(o, qemu, sizeof(qemu), err);
	if (!r)
		r = vm_pick_accel(o, qemu, &accel, err);
	if (r)
		return r;
	res->accel = accel;
	v = calloc(1, sizeof(*v));
	if (!v)
		return kt_err_set(err, -ENOMEM, "out of memory");
	*v = (struct vm_run){
		.o = o, .res = res, .p = { .pid = -1, .out = -1, .err = -1 }, .con = -1,
		.port = { -1, -1 }, .active = -1, .in = -1,
	};
	for (int i = 0; i < PORT_N && !r; i++) {
		struct kt_ch_host_opts ho = {
			.out_fd = vm_fd(o->out_fd, STDOUT_FILENO),
			.err_fd = vm_fd(o->err_fd, STDERR_FILENO),
			.trace_out = o->trace_out, .trace_max = o->memory_mib << 20,
			.nonce = o->nonce, .diag = vm_diag, .diag_ctx = v,
		};

		r = kt_ch_host__new(&ho, &v->h[i]);
	}
	if (!r)
		r = vm_socket(&v->con, &qfd[0]);
	if (!r)
		r = vm_socket(&v->port[PORT_SERIAL], &qfd[1]);
	if (!r)
		r = vm_socket(&v->port[PORT_VIRTIO], &qfd[2]);
	if (!r)
		r = vm_start(v, qemu, accel, qfd);
	for (int i = 0; i < 3; i++)
		if (qfd[i] >= 0)
			close(qfd[i]);
	if (r) {
		kt_err_set(err, r, "cannot start %s: %s", qemu, strerror(-r));
		goto out;
	}
	kt_log(&o->log, KT_LOG_INFO, "booting %s: %s, %u CPUs, %llu MiB, %s%s",
	       o->kernel_label ? o->kernel_label : o->kernel, kt_arch_name(kt_arch_or_native(o->arch)),
	       o->cpus ? o->cpus : 1, (unsigned long long)o->memory_mib, kt_accel_name(accel),
	       o->pvh ? ", vmlinux through PVH" : "");
	vm_stdin_open(v);
	r = vm_watch(v, err);
	vm_stdin_close(v);
	if (r)
		kill(v->p.pid, SIGKILL);
	waitpid(v->p.pid, &st, 0);
	if (v->len)
		vm_line(v);
	if (!r)
		r = vm_outcome(v, st, err);
	else if (r == -ETIMEDOUT && (v->started || v->active >= 0))
		res->end = KT_VM_TIMEOUT;
	else if (r == -EINTR || (o->stop && *o->stop))
		res->end = KT_VM_STOPPED;	/* (a write to a closed stdout, and SIGPIPE) */
	if (!r && o->trace_out) {
		r = kt_ch_host__trace(v->h[v->active], &res->trace_bytes, err);
		res->trace_written = !r;
	}
	{
		uint64_t skipped = kt_ch_host__skipped(v->h[v->active >= 0 ? v->active : 0]);

		if (skipped)
			kt_log(&o->log, KT_LOG_WARN,
			       "%llu bytes of corrupt frames from the guest were skipped",
			       (unsigned long long)skipped);
	}
out:
	vm_tail(v);
	for (int i = 0; i < PORT_N; i++) {
		kt_ch_host__free(v->h[i]);
		if (v->port[i] >= 0)
			close(v->port[i]);
	}
	if (v->con >= 0)
		close(v->con);
	if (v->p.out >= 0)
		close(v->p.out);
	if (v->p.err >= 0)
		close(v->p.err);
	free(v);
	return r;
}
