/* init.c - the guest's /init, built static and embedded in ktpack.
 *
 * Mounts the pseudo file systems, installs the busybox applets, starts
 * /bin/wprof when the kernel command line carries KTSTR_WPROF_ARGS, runs
 * the command of the per-run archive (/ktpack/cmd) or a shell, sends the
 * trace to the host over /dev/ttyS1, prints the command's exit status in a
 * marker line and powers the VM off.  As pid 1 it must never exit: every
 * failure is reported on the console and ends in a power-off.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"
#include "guest/proto.h"
#include <ktpack/wprof.h>

#define CMDLINE_MAX	4096
/* The root of an initramfs: rootfs is ramfs or tmpfs. */
#define RAMFS_MAGIC_	0x858458f6
#define TMPFS_MAGIC_	0x01021994

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on the console, prefixed so the host and the user can tell
 * init's words from the command's. */
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("ktpack-init: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static __attribute__((noreturn)) void power_off(void)
{
	fflush(NULL);
	sync();
	reboot(RB_POWER_OFF);
	/* Not reached on a working kernel; pid 1 must not exit. */
	for (;;)
		pause();
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* What a distribution mounts, in order (a parent before what is in it):
 * tracing tools need tracefs, debugfs, bpffs and cgroup2.  A mount that
 * fails is said on the console, and the guest goes on without it. */
static const struct guest_mount {
	const char *src, *dir, *type, *opts;
	unsigned long flags;
} guest_mounts[] = {
	{ "proc", "/proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "sysfs", "/sys", "sysfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "devtmpfs", "/dev", "devtmpfs", "mode=0755", MS_NOSUID },
	{ "devpts", "/dev/pts", "devpts", "mode=0620,ptmxmode=0666", MS_NOSUID | MS_NOEXEC },
	{ "tmpfs", "/dev/shm", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV },
	{ "tmpfs", "/tmp", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV },
	{ "tmpfs", "/run", "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV },
	{ "tracefs", "/sys/kernel/tracing", "tracefs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "debugfs", "/sys/kernel/debug", "debugfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "bpf", "/sys/fs/bpf", "bpf", "mode=0700", MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "cgroup2", "/sys/fs/cgroup", "cgroup2", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
};

static void mount_all(void)
{
	for (size_t i = 0; i < KT_ARRAY_SIZE(guest_mounts); i++) {
		const struct guest_mount *m = &guest_mounts[i];

		mkdir(m->dir, 0755);
		if (mount(m->src, m->dir, m->type, m->flags, m->opts) && errno != EBUSY)
			say("cannot mount %s on %s: %s", m->type, m->dir, strerror(errno));
	}
}

/* The whole of a file written, unless something is there already (the
 * archive may bring its own /etc). */
static void write_new(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0)
		return;
	if (kt_write_all(fd, text, strlen(text)))
		say("cannot write %s: %s", path, strerror(errno));
	close(fd);
}

/* The links every program expects in /dev, root's account, a host name,
 * loopback up, no limit on locked memory (BPF maps are charged to it). */
static void setup_userland(void)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" },
	};
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct ifreq ifr = { 0 };
	int s;

	for (size_t i = 0; i < KT_ARRAY_SIZE(links); i++)
		symlink(links[i][0], links[i][1]);
	mkdir("/etc", 0755);
	write_new("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
		  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0644);
	write_new("/etc/group", "root:x:0:\nnogroup:x:65534:\n", 0644);
	write_new("/etc/hosts", "127.0.0.1\tlocalhost ktpack\n::1\tlocalhost ip6-localhost\n", 0644);
	write_new("/etc/hostname", "ktpack\n", 0644);
	mkdir("/root", 0700);
	if (sethostname("ktpack", 6))
		say("cannot set the host name: %s", strerror(errno));
	if (setrlimit(RLIMIT_MEMLOCK, &unlimited))
		say("cannot lift RLIMIT_MEMLOCK: %s", strerror(errno));
	/* lo up with an ioctl: no ip or ifconfig needed in the guest. */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) ||
	    (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl(s, SIOCSIFFLAGS, &ifr)))
		say("cannot bring lo up: %s", strerror(errno));
	if (s >= 0)
		close(s);
}

static char *slurp(const char *path, size_t max, size_t *len);

/* Every controller the kernel has, enabled for the root's children. */
static void enable_controllers(void)
{
	size_t len;
	char *avail = slurp("/sys/fs/cgroup/cgroup.controllers", 4096, &len), *tok, *save;
	int fd;

	if (!avail)
		return;
	fd = open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
	for (tok = strtok_r(avail, " \n", &save); fd >= 0 && tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		char word[64];

		snprintf(word, sizeof(word), "+%s", tok);
		/* one at a time: one the kernel refuses must not stop the rest */
		if (write(fd, word, strlen(word)) < 0)
			say("cannot enable the %s controller: %s", tok, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(avail);
}

static void setup_system(void)
{
	static const char *const dirs[] = { "/sbin", "/usr", "/usr/bin", "/usr/sbin" };
	int fd;

	mount_all();
	/* The kernel gave us the archive's /dev/console; devtmpfs has its own. */
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < KT_ARRAY_SIZE(dirs); i++)
		mkdir(dirs[i], 0755);
	setup_userland();
	enable_controllers();
	clearenv();
	setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
	setenv("HOME", "/root", 1);
	setenv("TERM", "linux", 1);
}

static pid_t spawn(char *const argv[], bool ctty)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (ctty) {
		setsid();
		ioctl(0, TIOCSCTTY, 1);
	}
	execv(argv[0], argv);
	if (errno == ENOENT || errno == EACCES)
		execvp(argv[0], argv);
	say("cannot run '%s': %s", argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* Waits for @pid, reaping any other child on the way (we are pid 1). */
static int wait_for(pid_t pid)
{
	int st;

	for (;;) {
		pid_t p = waitpid(-1, &st, 0);

		if (p == pid)
			return st;
		if (p < 0 && errno != EINTR)
			return -1;
	}
}

static int exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

static void install_applets(void)
{
	char *argv[] = { "/bin/busybox", "--install", "-s", NULL };
	pid_t pid;

	if (access("/bin/busybox", X_OK)) {
		say("/bin/busybox is missing: no shell applets");
		return;
	}
	pid = spawn(argv, false);
	if (pid > 0)
		wait_for(pid);
}

/* The whole of a small file, NUL-terminated; NULL when absent. */
static char *slurp(const char *path, size_t max, size_t *len)
{
	char *buf = malloc(max + 1);
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	n = kt_pread_full(fd, buf, max, 0);
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/*
 * The value of the first "KEY=" token of the command line, or NULL.  A
 * token ends at a blank; the value is copied out.
 */
static char *cmdline_value(const char *cmdline, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = cmdline; *p; ) {
		size_t tl;

		while (*p == ' ' || *p == '\n' || *p == '\t')
			p++;
		tl = strcspn(p, " \n\t");
		if (tl > kl && !strncmp(p, key, kl) && p[kl] == '=')
			return strndup(p + kl + 1, tl - kl - 1);
		p += tl;
	}
	return NULL;
}

/* Splits @s (modified) on 0x1F into @argv[first...]; returns the count.
 * @argv has room for every piece (count_args). */
static size_t split_args(char *s, char **argv, size_t first)
{
	size_t n = first;

	if (!*s)
		return n;
	for (char *p = s; ; ) {
		char *sep = strchr(p, KT_WPROF_ARG_SEP);

		argv[n++] = p;
		if (!sep)
			break;
		*sep = '\0';
		p = sep + 1;
	}
	return n;
}

/* Deflates @in into @out; the CRC-32 and size of what was read. */
static int deflate_file(int in, int out, uint32_t *crc, uint64_t *len)
{
	unsigned char ibuf[65536], obuf[65536];
	z_stream z = { 0 };
	int flush, zr = Z_OK;

	*crc = (uint32_t)crc32(0L, Z_NULL, 0);
	*len = 0;
	if (deflateInit(&z, Z_BEST_SPEED) != Z_OK)
		return -1;
	do {
		ssize_t n = read(in, ibuf, sizeof(ibuf));

		if (n < 0) {
			deflateEnd(&z);
			return -1;
		}
		*crc = (uint32_t)crc32(*crc, ibuf, (uInt)n);
		*len += (uint64_t)n;
		flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
		z.next_in = ibuf;
		z.avail_in = (uInt)n;
		do {
			z.next_out = obuf;
			z.avail_out = sizeof(obuf);
			zr = deflate(&z, flush);
			if (zr == Z_STREAM_ERROR ||
			    kt_write_all(out, obuf, sizeof(obuf) - z.avail_out)) {
				deflateEnd(&z);
				return -1;
			}
		} while (z.avail_out == 0);
	} while (flush != Z_FINISH);
	deflateEnd(&z);
	return zr == Z_STREAM_END ? 0 : -1;
}

static int send_trace(const char *path)
{
	unsigned char hdr[KT_TRACE_HDR], tail[KT_TRACE_TAIL];
	char zpath[64];
	struct termios t;
	struct stat st;
	uint64_t len;
	uint32_t crc;
	int in, z = -1, out = -1, r = -1;

	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		say("wprof wrote no trace (%s: %s)", path, strerror(errno));
		return -1;
	}
	if (fstat(in, &st) || st.st_size == 0) {
		say("the wprof trace %s is empty", path);
		close(in);
		return -1;
	}
	snprintf(zpath, sizeof(zpath), "%s.z", path);
	z = open(zpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (z < 0 || deflate_file(in, z, &crc, &len) || fstat(z, &st) ||
	    lseek(z, 0, SEEK_SET)) {
		say("cannot compress the trace: %s", strerror(errno));
		goto out;
	}
	out = open(KT_TRACE_TTY, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (out < 0) {
		say("cannot open %s: %s", KT_TRACE_TTY, strerror(errno));
		goto out;
	}
	/* Raw: no newline translation, no flow control, 8 bits. */
	if (!tcgetattr(out, &t)) {
		cfmakeraw(&t);
		cfsetspeed(&t, B115200);
		tcsetattr(out, TCSANOW, &t);
	}
	kt_trace_header(hdr, (uint64_t)st.st_size, len);
	kt_put_le32(tail, crc);
	if (kt_write_all(out, hdr, sizeof(hdr)) ||
	    kt_copy_fd(z, out, (uint64_t)st.st_size) ||
	    kt_write_all(out, tail, sizeof(tail))) {
		say("cannot send the trace: %s", strerror(errno));
		goto out;
	}
	tcdrain(out);
	say("sent the wprof trace (%llu bytes, %llu compressed)",
	    (unsigned long long)len, (unsigned long long)st.st_size);
	r = 0;
out:
	if (out >= 0)
		close(out);
	if (z >= 0)
		close(z);
	unlink(zpath);
	close(in);
	return r;
}

/* Waits for wprof until @deadline, then SIGTERM, then SIGKILL. */
static void finish_wprof(pid_t pid, uint64_t deadline)
{
	int st;

	for (;;) {
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p == pid) {
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				say("wprof exited with status %d", exit_code(st));
			return;
		}
		if (kt_now_ms() >= deadline)
			break;
		sleep_ms(50);
	}
	say("wprof did not finish in time: sending SIGTERM");
	kill(pid, SIGTERM);
	deadline = kt_now_ms() + KT_WPROF_TERM_GRACE_MS;
	while (kt_now_ms() < deadline) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		sleep_ms(50);
	}
	say("wprof ignored SIGTERM: sending SIGKILL");
	kill(pid, SIGKILL);
	wait_for(pid);
}

/*
 * Whether this is PID 1 of a guest booted from an initramfs: anywhere else
 * (a host, a container, a PID namespace) init would mount over the host's
 * folders and power it off.  Checked before anything is touched: a guest's
 * initramfs root is ramfs or tmpfs and has no /proc mounted yet.
 */
static const char *not_a_guest(void)
{
	struct statfs sf;
	struct stat st;

	if (getpid() != 1)
		return "not PID 1";
	if (statfs("/", &sf) || (sf.f_type != RAMFS_MAGIC_ && sf.f_type != TMPFS_MAGIC_))
		return "the root is not an initramfs";
	if (!stat("/proc/self", &st))
		return "/proc is already mounted";
	return NULL;
}

/* The kernel command line's settings for wprof. */
static void read_cmdline(char **wargs, uint64_t *grace_ms)
{
	size_t len;
	char *cmdline = slurp("/proc/cmdline", CMDLINE_MAX, &len), *grace;

	*wargs = NULL;
	if (!cmdline)
		return;
	*wargs = cmdline_value(cmdline, KT_WPROF_ARGS_KEY);
	grace = cmdline_value(cmdline, KT_WPROF_GRACE_KEY);
	if (grace && kt_parse_u64(grace, grace_ms))
		say("ignoring %s='%s': not a number", KT_WPROF_GRACE_KEY, grace);
	free(grace);
	free(cmdline);
}

/* Starts /bin/wprof with @wargs split on 0x1F; its deadline in @deadline. */
static pid_t start_wprof(char *wargs, uint64_t grace_ms, uint64_t *deadline)
{
	char **wargv;
	uint64_t dur_ms;
	size_t n = 1;
	pid_t pid;

	if (access(KT_GUEST_WPROF, X_OK)) {
		say("%s is missing: running without wprof", KT_GUEST_WPROF);
		return -1;
	}
	for (const char *p = wargs; *p; p++)
		n += *p == KT_WPROF_ARG_SEP;
	/* argv[0], the args, "-T", the trace, NULL */
	wargv = calloc(n + 4, sizeof(*wargv));
	if (!wargv) {
		say("out of memory for wprof's %zu arguments", n);
		return -1;
	}
	n = split_args(wargs, wargv, 1);
	wargv[0] = KT_GUEST_WPROF;
	if (kt_wprof_duration_ms((const char *const *)wargv + 1, n - 1, &dur_ms, NULL))
		dur_ms = 1000;
	wargv[n++] = "-T";
	wargv[n++] = KT_GUEST_TRACE;
	wargv[n] = NULL;
	unlink(KT_GUEST_TRACE);
	pid = spawn(wargv, false);
	free(wargv);
	*deadline = kt_now_ms() + dur_ms + grace_ms;
	say("started wprof (deadline %llu ms)", (unsigned long long)(dur_ms + grace_ms));
	return pid;
}

/* Runs the command of the per-run archive (NUL-separated argv, any
 * number of arguments), or a shell when there is none; its status. */
static int run_command(void)
{
	size_t clen, n = 0;
	char *cmd = slurp(KT_GUEST_CMD, KT_GUEST_CMD_MAX, &clen), **cargv;
	pid_t pid;

	if (!cmd || !clen) {
		char *sh[] = { "/bin/sh", NULL };

		pid = spawn(sh, true);
		return pid > 0 ? exit_code(wait_for(pid)) : 127;
	}
	for (size_t off = 0; off < clen; off += strlen(cmd + off) + 1)
		n++;
	cargv = calloc(n + 1, sizeof(*cargv));
	if (!cargv) {
		say("out of memory for the command's %zu arguments", n);
		return 126;
	}
	n = 0;
	for (size_t off = 0; off < clen; off += strlen(cmd + off) + 1)
		cargv[n++] = cmd + off;
	/* No controlling terminal: when a session leader exits, the console
	 * is hung up and output it left queued is dropped. */
	pid = spawn(cargv, false);
	return pid > 0 ? exit_code(wait_for(pid)) : 127;
}

int main(void)
{
	uint64_t grace_ms = KT_WPROF_DEFAULT_GRACE_MS, wdeadline = 0;
	char *wargs, *nonce;
	const char *why;
	size_t nlen;
	pid_t wpid = -1;
	int status;

	why = not_a_guest();
	if (why) {
		fprintf(stderr, "ktpack-init: refusing to run: %s (this is a guest's /init, not a host program)\n",
			why);
		return 2;
	}
	setup_system();
	say("started");
	install_applets();
	/* Nothing else may read the nonce and forge a marker. */
	nonce = slurp(KT_GUEST_NONCE, 64, &nlen);
	unlink(KT_GUEST_NONCE);
	read_cmdline(&wargs, &grace_ms);
	if (wargs)
		wpid = start_wprof(wargs, grace_ms, &wdeadline);
	status = run_command();
	if (wpid > 0)
		finish_wprof(wpid, wdeadline);
	/* Nothing the command left behind may write to the ports after
	 * this: the trace and the marker are init's last words. */
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	if (wpid > 0)
		send_trace(KT_GUEST_TRACE);
	/* On a line of its own, whatever the command left unfinished. */
	printf("\n%s%s: %d\n", KT_EXIT_MARKER, nonce ? nonce : "", status);
	power_off();
}
