/* init.c - the guest's /init, built static and embedded in ktpack.
 *
 * Mounts the pseudo file systems, loads the modules the host packed,
 * installs the busybox applets, opens the framed channel to the host (the
 * virtio-serial port, else /dev/ttyS1), starts /bin/wprof when the kernel
 * command line carries KTSTR_WPROF_ARGS, runs the command of the per-run
 * archive with its stdin, stdout and stderr on the channel (or a shell on
 * the console), streams the trace back, sends the exit status and powers
 * the VM off.  As pid 1 it must never exit: every failure is reported and
 * ends in a power-off.
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
#include <sys/syscall.h>
#include <poll.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"
#include "guest/proto.h"
#include <ktpack/channel.h>
#include <ktpack/wprof.h>

#define CMDLINE_MAX	4096
/* The root of an initramfs: rootfs is ramfs or tmpfs. */
#define RAMFS_MAGIC_	0x858458f6
#define TMPFS_MAGIC_	0x01021994

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The channel to the host, once open (non-blocking: init must read the
 * host's frames, a signal among them, while the host is not reading). */
static int ch_fd = -1;
/* A frame on its way out that the port has not taken whole yet. */
static unsigned char ch_out[KT_CH_FRAME_MAX];
static size_t ch_out_len, ch_out_off;

/* Writes what the port takes of the pending frame now; -1 when the port
 * is gone. */
static int ch_push(void)
{
	while (ch_out_off < ch_out_len) {
		ssize_t n = write(ch_fd, ch_out + ch_out_off, ch_out_len - ch_out_off);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			ch_out_len = ch_out_off = 0;
			return -1;
		}
		ch_out_off += (size_t)n;
	}
	ch_out_len = ch_out_off = 0;
	return 0;
}

/* The pending frame, whole, waiting for the port. */
static int ch_wait(void)
{
	while (ch_out_len) {
		struct pollfd pf = { .fd = ch_fd, .events = POLLOUT };

		if (ch_push())
			return -1;
		if (ch_out_len && poll(&pf, 1, -1) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

/* Queues one frame (a payload over the cap is cut) after the pending one,
 * which is waited for; it is sent as far as the port takes it now. */
static int ch_queue(enum kt_ch_type type, const void *p, size_t len)
{
	if (ch_fd < 0 || ch_wait())
		return -1;
	if (len > KT_CH_PAYLOAD_MAX)
		len = KT_CH_PAYLOAD_MAX;
	ch_out_len = kt_ch_encode(ch_out, type, p, len);
	ch_out_off = 0;
	return ch_push();
}

/* Sends one frame, waiting for the port to take it. */
static int ch_send(enum kt_ch_type type, const void *p, size_t len)
{
	return ch_queue(type, p, len) ? -1 : ch_wait();
}

static void sleep_ms(unsigned ms);

/* The run's nonce, once read: what the host knows init's last frames by. */
static char *run_nonce;
static size_t run_nonce_len;

/* Sends a frame whose payload is @fixed bytes of @p then the nonce (or,
 * for a failure, the nonce then @p): a command cannot make one. */
static int ch_send_signed(enum kt_ch_type type, const void *p, size_t fixed)
{
	static unsigned char buf[KT_CH_NONCE_MAX + KT_CH_WHY_MAX];
	size_t nl = run_nonce_len;

	if (fixed > KT_CH_WHY_MAX)
		fixed = KT_CH_WHY_MAX;
	if (type == KT_CH_FAIL) {
		memcpy(buf, run_nonce, nl);
		memcpy(buf + nl, p, fixed);
	} else {
		memcpy(buf, p, fixed);
		memcpy(buf + fixed, run_nonce, nl);
	}
	return ch_send(type, buf, fixed + nl);
}

/*
 * Before init's last frames: every other process is killed (a command
 * that took the port's descriptor, or opened the serial port, cannot
 * write after this), and KT_CH_PAD bytes without the magic's first byte
 * end whatever frame one of them began (the host would hold it and wait
 * for its payload).  Processes in the kernel's uninterruptible sleep may
 * take a while to die: waited for, within a bound.
 */
static void ch_quiesce(void)
{
	uint64_t until = kt_now_ms() + 5000;

	kill(-1, SIGKILL);
	while (kt_now_ms() < until) {
		pid_t p = waitpid(-1, NULL, WNOHANG);

		if (p < 0 && errno == ECHILD)
			break;
		if (p <= 0)
			sleep_ms(20);
	}
	if (ch_fd < 0 || ch_wait())
		return;
	memset(ch_out, 0, KT_CH_PAD);
	ch_out_len = KT_CH_PAD;
	ch_out_off = 0;
	ch_wait();
}

/* Where the module loader's words go too, for init to pass them on. */
static int say_fd = -1;

static void vsay(const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];

	if (snprintf(line, sizeof(line), "%s", prefix) < 0 ||
	    vsnprintf(line + strlen(line), sizeof(line) - strlen(line), fmt, ap) < 0)
		return;
	/* the loader's words are said once, by init, as warnings */
	if (say_fd >= 0) {
		dprintf(say_fd, "%s\n", line + strlen(prefix));
		return;
	}
	fprintf(stderr, "ktpack-init: %s\n", line);
	ch_send(KT_CH_LOG, line, strlen(line));
}

/* One line on the console, prefixed so the user can tell init's words
 * from the kernel's, and on the channel for the host's log. */
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay("", fmt, ap);
	va_end(ap);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same, for something the user must hear of: the host shows it. */
static void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(KT_CH_WARNING, fmt, ap);
	va_end(ap);
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

/* The mounts of kt_guest_mounts (proto.h), in order. */
static void mount_all(void)
{
	for (size_t i = 0; i < KT_ARRAY_SIZE(kt_guest_mounts); i++) {
		const struct kt_guest_mount *m = &kt_guest_mounts[i];

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

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid)
		return pid;
	signal(SIGPIPE, SIG_DFL);	/* init ignores it; programs must not */
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
	pid = spawn(argv);
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

/* Sends @size bytes of @in in frames of @type, never whole in memory;
 * their CRC-32 in @crc.  @what names the file in a LOG line. */
static int send_body(int in, uint64_t size, enum kt_ch_type type, const char *what, uint32_t *crc)
{
	static unsigned char buf[KT_CH_PAYLOAD_MAX];
	uint64_t sent = 0;
	int r = 0;

	*crc = (uint32_t)crc32(0L, Z_NULL, 0);
	while (!r && sent < size) {
		size_t want = size - sent < sizeof(buf) ? (size_t)(size - sent) : sizeof(buf);
		ssize_t n = read(in, buf, want);

		if (n <= 0) {
			say("cannot read %s: %s", what, n ? strerror(errno) : "it shrank");
			return -1;
		}
		*crc = (uint32_t)crc32(*crc, buf, (uInt)n);
		sent += (uint64_t)n;
		r = ch_send(type, buf, (size_t)n);
	}
	return r;
}

/* Streams the trace wprof wrote to the host in frames: its size, its
 * bytes, its CRC-32. */
static int send_trace(const char *path)
{
	unsigned char le[8];
	uint32_t crc;
	uint64_t size;
	struct stat st;
	int in, r = 0;

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
	size = (uint64_t)st.st_size;
	kt_put_le64(le, size);
	r = ch_send_signed(KT_CH_TRACE_BEGIN, le, 8);
	if (!r)
		r = send_body(in, size, KT_CH_TRACE, path, &crc);
	close(in);
	if (r)
		return -1;
	kt_put_le32(le, crc);
	if (ch_send_signed(KT_CH_TRACE_END, le, 4))
		return -1;
	say("sent the wprof trace (%llu bytes)", (unsigned long long)size);
	return 0;
}

/* ---- files back (--collect) ---- */

/* Where the collected path's relative name starts: after its parent. */
static size_t collect_skip;
/* Files announced, and sent whole; the bytes the host still takes (as
 * it counts them: the sizes of the files it was sent). */
static unsigned collect_begun, collect_sent;
static uint64_t collect_left;

/* Sends the regular file @path as @name: size, mode, nonce and name;
 * its bytes; its CRC-32 and nonce.  Never a link followed.  A file over
 * what the host still takes is announced only: the host refuses it by
 * name, and its bytes (a sparse file's, /proc/kcore's) never cross. */
static void collect_file(const char *path, const char *name)
{
	static unsigned char hdr[12 + KT_CH_NONCE_MAX + KT_CH_NAME_MAX];
	size_t nl = strlen(name);
	unsigned char le[4];
	struct stat st;
	uint64_t size;
	uint32_t crc;
	int in;

	if (nl > KT_CH_NAME_MAX) {
		say("collect: %s skipped: its name is too long", path);
		return;
	}
	in = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) || !S_ISREG(st.st_mode)) {
		say("collect: %s skipped: %s", path, in < 0 ? strerror(errno) : "not a regular file");
		if (in >= 0)
			close(in);
		return;
	}
	size = (uint64_t)st.st_size;
	kt_put_le64(hdr, size);
	kt_put_le32(hdr + 8, (uint32_t)(st.st_mode & 07777));
	memcpy(hdr + 12, run_nonce, run_nonce_len);
	memcpy(hdr + 12 + run_nonce_len, name, nl);
	collect_begun++;
	/* a name the host refuses costs nothing of its cap (as it counts):
	 * announced, that it says so, and no byte sent */
	if (ch_send(KT_CH_FILE_BEGIN, hdr, 12 + run_nonce_len + nl) ||
	    kt_collect_name_why(name, nl) || size > collect_left) {
		close(in);
		return;
	}
	collect_left -= size;
	/* what the file holds past the size announced (a /proc file that
	 * grows) is not read */
	if (!send_body(in, size, KT_CH_FILE, path, &crc)) {
		kt_put_le32(le, crc);
		if (!ch_send_signed(KT_CH_FILE_END, le, 4))
			collect_sent++;
	}
	close(in);
}

static int collect_walk(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (collect_begun >= KT_CH_COLLECT_FILES_MAX)
		return 1;
	if (type == FTW_F && S_ISREG(st->st_mode))
		collect_file(path, path + collect_skip);
	else if (type == FTW_SL || type == FTW_SLN)
		say("collect: %s skipped: a symbolic link", path);
	else if (type == FTW_F)
		say("collect: %s skipped: not a regular file", path);
	else if (type == FTW_DNR || type == FTW_NS)
		say("collect: %s skipped: %s", path, strerror(errno));
	return 0;
}

/*
 * Sends each path of the list the host packed, after its cap (the first
 * line), one a line: a file as its own name, a folder walked (nftw, no
 * link followed) with names relative to its parent; at most
 * KT_CH_COLLECT_FILES_MAX files.  The host checked the paths; it checks
 * the names again.
 */
static char *collect_list;

static void send_collected(void)
{
	char *list = collect_list, *line, *next, *end;
	int r;

	if (!list)
		return;
	next = list + strcspn(list, "\n");
	if (*next)
		*next++ = '\0';
	errno = 0;
	collect_left = strtoull(list, &end, 10);
	if (errno || end == list || *end) {
		say("collect: the list has no cap on its first line: nothing sent");
		*next = '\0';
	}
	for (line = next; *line; line = next) {
		char *slash;

		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		slash = strrchr(line, '/');
		if (!slash || !slash[1])
			continue;
		collect_skip = (size_t)(slash - line) + 1;
		r = nftw(line, collect_walk, 16, FTW_PHYS);
		if (r < 0)
			say("collect: %s: %s", line, strerror(errno));
		if (r > 0) {
			warn("collect: stopped after %u files, the most the host takes",
			     collect_begun);
			break;
		}
	}
	free(list);
	collect_list = NULL;
	say("collect: sent %u files", collect_sent);
}

/* Waits for wprof until @deadline, then SIGTERM, then SIGKILL. */
static int signal_frame(void *ctx, enum kt_ch_type type, const unsigned char *p, size_t len)
{
	(void)p;
	(void)len;
	if (type == KT_CH_SIGNAL)
		*(bool *)ctx = true;
	return 0;
}

/* Waits up to @ms for the host's frames: whether a SIGNAL came (the
 * host's timeout fell). */
static bool host_signalled(struct kt_ch_reader *rd, unsigned ms)
{
	struct pollfd pf = { .fd = ch_fd, .events = POLLIN };
	unsigned char buf[4096];
	bool sig = false;
	ssize_t n;

	if (ch_fd < 0 || !rd) {
		sleep_ms(ms);
		return false;
	}
	if (poll(&pf, 1, (int)ms) <= 0)
		return false;
	n = read(ch_fd, buf, sizeof(buf));
	if (n > 0)
		kt_ch_reader__feed(rd, buf, (size_t)n, signal_frame, &sig);
	else
		sleep_ms(ms);
	return sig;
}

/* Waits for wprof until @deadline, or until the host's timeout falls (a
 * SIGNAL from it once the command has ended), then SIGTERM, then
 * SIGKILL. */
static void finish_wprof(pid_t pid, uint64_t deadline)
{
	struct kt_ch_reader *rd = NULL;
	bool stop = false;
	int st;

	kt_ch_reader__new(&rd);
	for (;;) {
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p == pid) {
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				say("wprof exited with status %d", exit_code(st));
			kt_ch_reader__free(rd);
			return;
		}
		if (stop || kt_now_ms() >= deadline)
			break;
		stop = host_signalled(rd, 50);
	}
	kt_ch_reader__free(rd);
	if (stop)
		say("the host's timeout fell: stopping wprof (SIGTERM)");
	else
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
	pid = spawn(wargv);
	free(wargv);
	*deadline = kt_now_ms() + dur_ms + grace_ms;
	say("started wprof (deadline %llu ms)", (unsigned long long)(dur_ms + grace_ms));
	return pid;
}

/* ---- modules ------------------------------------------------------------------ */

/* A line of the loader's words that starts with this is a required
 * module's failure: it ends the run. */
#define MODULE_FATAL	'!'

/* Why the run cannot go on, set once the loader's words are read: a
 * required module did not load (or the loader could not start). */
static char modules_fatal[512];

/*
 * Loads the module at @line of the list (after KT_GUEST_MODULE_OPTIONAL
 * when it may fail).  A failure is said on the loader's pipe: a warning
 * for an optional module, MODULE_FATAL and the kernel's reason for one
 * that must load.
 */
/* Whether the module of file @base ("kvm-amd.ko") is in the kernel. */
static bool module_loaded(const char *base)
{
	char dir[128];
	size_t n = strcspn(base, ".");

	if (snprintf(dir, sizeof(dir), "/sys/module/%.*s", (int)n, base) >= (int)sizeof(dir))
		return false;
	for (char *c = dir + strlen("/sys/module/"); *c; c++)
		if (*c == '-')
			*c = '_';
	return !access(dir, F_OK);
}

static void load_module(const char *line)
{
	bool optional = *line == KT_GUEST_MODULE_OPTIONAL;
	const char *path = line + optional, *base = strrchr(path, '/');
	int fd = open(path, O_RDONLY | O_CLOEXEC), e = errno;

	base = base ? base + 1 : path;
	if (fd >= 0) {
		int r = (int)syscall(SYS_finit_module, fd, "", 0);

		e = errno;
		close(fd);
		/* EEXIST is a module already in, or one whose init refused
		 * with it (kvm_intel once kvm_amd is in): the kernel's list
		 * tells */
		if (!r || (e == EEXIST && module_loaded(base)))
			return;
	}
	if (optional)
		say("cannot load the kernel module %s: %s", path, strerror(e));
	else
		dprintf(say_fd, "%cmodule %.*s did not load in the guest: %s\n", MODULE_FATAL,
			(int)strcspn(base, "."), base, strerror(e));
}

/*
 * Loads the modules the host listed: level by level (a blank line ends
 * one), the modules of a level at once, each in a child of its own (what
 * a level needs is loaded before it; a probe that waits on a device does
 * not hold the others back).
 */
static void load_modules(void)
{
	size_t len, n = 0;
	char *list = slurp(KT_GUEST_MODULES, KT_GUEST_MODULES_MAX, &len), *line = list;

	while (line && *line) {
		char *end = strchr(line, '\n');

		if (end)
			*end = '\0';
		if (*line) {
			pid_t pid = fork();

			if (pid == 0) {
				load_module(line);
				_exit(0);
			}
			if (pid < 0)
				load_module(line);
			else
				n++;
		}
		/* a blank line ends a level: it is loaded before the next */
		if (!*line || !end)
			for (; n && waitpid(-1, NULL, 0) > 0; n--)
				;
		if (!end)
			break;
		line = end + 1;
	}
	for (; n && waitpid(-1, NULL, 0) > 0; n--)
		;
	free(list);
}

/* Loads the modules in a child while init sets the system up: a PCI
 * device's probe is slow under TCG, and the guest has two CPUs.  What
 * fails is said in @words, for init to pass on once the channel is up.
 * A loader that cannot start ends the run: a module that must load
 * would go unchecked. */
static pid_t start_modules(int *words)
{
	int p[2];
	pid_t pid;

	*words = -1;
	if (access(KT_GUEST_MODULES, F_OK))
		return -1;
	if (pipe2(p, O_CLOEXEC)) {
		snprintf(modules_fatal, sizeof(modules_fatal),
			 "cannot start the kernel module loader: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		say_fd = p[1];
		load_modules();
		_exit(0);
	}
	if (pid < 0) {
		snprintf(modules_fatal, sizeof(modules_fatal),
			 "cannot start the kernel module loader: %s", strerror(errno));
		close(p[0]);
	} else {
		*words = p[0];
	}
	close(p[1]);
	return pid;
}

/*
 * The loader's words, whole: read to their end, which comes once the
 * loader and its children are done (the pipe never fills while init
 * waits for them).  What does not fit @buf is dropped.
 */
static void read_modules(int words, char *buf, size_t sz)
{
	char sink[4096];
	size_t len = 0;

	buf[0] = '\0';
	if (words < 0)
		return;
	for (;;) {
		bool room = len < sz - 1;
		ssize_t n = room ? read(words, buf + len, sz - 1 - len) :
			    read(words, sink, sizeof(sink));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (room)
			len += (size_t)n;
	}
	close(words);
	buf[len] = '\0';
}

/* The loader's failures: an optional module's are warnings for the host;
 * the first required module's is why the run ends (modules_fatal), the
 * others' are warnings too. */
static void finish_modules(char *words)
{
	char *line, *save;

	for (line = strtok_r(words, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (*line != MODULE_FATAL)
			warn("%s", line);
		else if (!*modules_fatal)
			snprintf(modules_fatal, sizeof(modules_fatal), "%s", line + 1);
		else
			warn("%s", line + 1);
	}
}

/* ---- the channel ----------------------------------------------------------------- */

/* Whether a virtio console device (PCI 1af4:1003 or 1af4:1043) is there. */
static bool virtio_console_device(void)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d))) {
		char path[300], *v, *dev;
		size_t l;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		v = slurp(path, 16, &l);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
		dev = slurp(path, 16, &l);
		found = v && dev && !strncmp(v, "0x1af4", 6) &&
			(!strncmp(dev, "0x1003", 6) || !strncmp(dev, "0x1043", 6));
		free(v);
		free(dev);
	}
	if (d)
		closedir(d);
	return found;
}

/* The /dev node of the virtio port named KT_CH_PORT_NAME, or -1. */
static int open_virtio_port(void)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int fd = -1;

	while (d && fd < 0 && (e = readdir(d))) {
		char path[300], *name;
		size_t l;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		name = slurp(path, 64, &l);
		if (name && !strcmp(name, KT_CH_PORT_NAME "\n")) {
			snprintf(path, sizeof(path), "/dev/%s", e->d_name);
			fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		}
		free(name);
	}
	if (d)
		closedir(d);
	return fd;
}

/*
 * The virtio port when the host gave the device (its driver may take a
 * moment to announce the port), else the second serial port in raw mode.
 */
static void open_channel(void)
{
	struct termios t;

	/* Without the driver (not built in, no module loaded) no port comes. */
	if (virtio_console_device() && !access("/sys/bus/virtio/drivers/virtio_console", F_OK)) {
		uint64_t until = kt_now_ms() + KT_CH_PORT_WAIT_MS;

		while ((ch_fd = open_virtio_port()) < 0 && kt_now_ms() < until)
			sleep_ms(2);
		if (ch_fd >= 0)
			return;
#ifdef KT_CH_SERIAL
		say("no virtio port '%s' (is virtio_console loaded?): using %s",
		    KT_CH_PORT_NAME, KT_CH_SERIAL);
#endif
	}
#ifndef KT_CH_SERIAL
	say("no channel: no virtio port '%s' (is virtio_console loaded?), and this guest has no second serial port",
	    KT_CH_PORT_NAME);
	(void)t;
#else
	ch_fd = open(KT_CH_SERIAL, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (ch_fd < 0) {
		say("cannot open %s: %s", KT_CH_SERIAL, strerror(errno));
		return;
	}
	/* Raw: no newline translation, no flow control, 8 bits. */
	if (!tcgetattr(ch_fd, &t)) {
		cfmakeraw(&t);
		cfsetspeed(&t, B115200);
		tcsetattr(ch_fd, TCSANOW, &t);
	}
#endif
}

/* The channel, once the modules it may need are loaded (install_applets
 * may have reaped the loader: then it is done); init's HELLO on it, then
 * what the loader had to say. */
static void open_channel_after(pid_t mods, int words)
{
	static char said[65536];

	read_modules(words, said, sizeof(said));
	if (mods > 0)
		waitpid(mods, NULL, 0);
	open_channel();
	if (ch_fd >= 0)
		fcntl(ch_fd, F_SETFL, fcntl(ch_fd, F_GETFL) | O_NONBLOCK);
	ch_send(KT_CH_HELLO, NULL, 0);
	finish_modules(said);
}

static int ack_frame(void *ctx, enum kt_ch_type type, const unsigned char *p, size_t len)
{
	(void)p;
	(void)len;
	if (type == KT_CH_ACK)
		*(bool *)ctx = true;
	return 0;
}

/*
 * Waits until the host says it has everything up to the last frame (its
 * ACK of the status): a virtio port's write returns once the bytes are
 * queued, not once the host has them, and a power-off drops what QEMU
 * holds.  The host reads as fast as the command's stdout is read: no
 * time limit here (the host's timeout ends the VM).
 */
static void ch_end(void)
{
	struct kt_ch_reader *rd;
	bool acked = false;

	if (ch_fd < 0 || ch_wait() || kt_ch_reader__new(&rd))
		return;
	while (!acked) {
		struct pollfd pf = { .fd = ch_fd, .events = POLLIN };
		unsigned char buf[4096];
		ssize_t n;

		if (poll(&pf, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n = read(ch_fd, buf, sizeof(buf));
		if (n > 0)
			kt_ch_reader__feed(rd, buf, (size_t)n, ack_frame, &acked);
		else if (n == 0 || (errno != EINTR && errno != EAGAIN))
			break;
	}
	kt_ch_reader__free(rd);
}

/* ---- the command ----------------------------------------------------------------- */

/* What the command's loop holds: stdin from the host on its way. */
struct io {
	struct kt_ch_reader *rd;
	unsigned char *in;		/* bytes for the command's stdin */
	size_t inlen;
	/* stdin bytes taken (written, or dropped) and not yet credited back:
	 * the host sends no more than KT_CH_STDIN_WINDOW ahead of them */
	size_t credit;
	bool in_eof;			/* the host's stdin ended */
	int in_fd;			/* the write end of the command's stdin, or -1 */
	int tty;			/* the shell's terminal, for its size, or -1 */
	pid_t pid;			/* the command, leader of its process group */
};

static int io_frame(void *ctx, enum kt_ch_type type, const unsigned char *p, size_t len)
{
	struct io *io = ctx;

	if (type == KT_CH_STDIN) {
		if (!len) {
			io->in_eof = true;
		} else if (io->in_fd >= 0 && !io->in_eof &&
			   io->inlen + len <= KT_CH_STDIN_WINDOW) {
			/* the host keeps to its window: bounded */
			unsigned char *n = realloc(io->in, io->inlen + len);

			if (!n)
				return -1;
			memcpy(n + io->inlen, p, len);
			io->in = n;
			io->inlen += len;
		} else {
			io->credit += len;	/* nobody reads it: dropped */
		}
	} else if (type == KT_CH_SIGNAL && len == 4 && io->pid > 0) {
		uint32_t sig = kt_get_le32(p);

		/* what a terminal or a job controller sends, and the host's
		 * end of a command it fails (--fail-on); nothing else */
		if (sig == SIGINT || sig == SIGQUIT || sig == SIGTERM || sig == SIGHUP ||
		    sig == SIGKILL)
			kill(-io->pid, (int)sig);
	} else if (type == KT_CH_WINSZ && len == 4 && io->tty >= 0) {
		struct winsize ws = {
			.ws_row = (unsigned short)(p[0] | p[1] << 8),
			.ws_col = (unsigned short)(p[2] | p[3] << 8),
		};

		ioctl(io->tty, TIOCSWINSZ, &ws);
	}
	return 0;
}

/* Writes what it can of the pending stdin; closes it at its end. */
static void io_flush_stdin(struct io *io)
{
	ssize_t n = io->inlen ? write(io->in_fd, io->in, io->inlen) : 0;

	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		/* the command closed its stdin: the rest goes nowhere */
		io->credit += io->inlen;
		io->inlen = 0;
		io->in_eof = true;
	} else if (n > 0) {
		memmove(io->in, io->in + n, io->inlen - (size_t)n);
		io->inlen -= (size_t)n;
		io->credit += (size_t)n;
	}
	if (!io->inlen && io->in_eof) {
		close(io->in_fd);
		io->in_fd = -1;
	}
}

/* Queues what @fd has now as a @type frame; false at its end. */
static bool io_pump(int fd, enum kt_ch_type type)
{
	static unsigned char buf[KT_CH_PAYLOAD_MAX];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	ch_queue(type, buf, (size_t)n);
	return true;
}

/* Sends what @fd holds now, without waiting for more. */
static void io_drain(int fd, enum kt_ch_type type)
{
	static unsigned char buf[KT_CH_PAYLOAD_MAX];
	ssize_t n;

	if (fd < 0)
		return;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			ch_send(type, buf, (size_t)n);
}

/*
 * Forwards the channel to the command and its output to the channel until
 * it exits; what its pipes hold then is sent too.  @out and @err are -1
 * for a shell (its terminal is the console); @err is -1 too when stdout
 * and stderr share @out.  The port is always read (a signal must get
 * through); the command's output is read only when the port took the last
 * frame, so a host that stops reading makes the command wait.
 */
static int io_loop(struct io *io, pid_t pid, int out, int err)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), st = 0;
	bool alive = true, ch_open = ch_fd >= 0;

	while (alive) {
		bool room = !ch_out_len;
		struct pollfd pf[5] = {
			{ .fd = room ? out : -1, .events = POLLIN },
			{ .fd = room ? err : -1, .events = POLLIN },
			{ .fd = ch_open ? ch_fd : -1, .events = POLLIN | (room ? 0 : POLLOUT) },
			{ .fd = io->inlen ? io->in_fd : -1, .events = POLLOUT },
			{ .fd = pidfd, .events = POLLIN },
		};

		if (poll(pf, 5, pidfd < 0 ? 100 : -1) < 0 && errno != EINTR)
			break;
		if (pf[2].revents & POLLOUT && ch_push())
			ch_open = false;
		if (pf[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			unsigned char buf[4096];
			ssize_t n = read(ch_fd, buf, sizeof(buf));

			if (n > 0)
				kt_ch_reader__feed(io->rd, buf, (size_t)n, io_frame, io);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				ch_open = false;
		}
		if (io->in_fd >= 0 && (io->inlen || io->in_eof))
			io_flush_stdin(io);
		/* the host's window opens again: credits go before output */
		if (!ch_out_len && io->credit && (io->credit >= KT_CH_STDIN_WINDOW / 4 || !io->inlen)) {
			unsigned char le[4];

			kt_put_le32(le, (uint32_t)io->credit);
			io->credit = 0;
			ch_queue(KT_CH_CREDIT, le, sizeof(le));
		}
		if (!ch_out_len && pf[0].revents && !io_pump(out, KT_CH_STDOUT))
			out = -1;
		if (!ch_out_len && pf[1].revents && !io_pump(err, KT_CH_STDERR))
			err = -1;
		if (waitpid(pid, &st, WNOHANG) == pid)
			alive = false;
	}
	if (alive)
		st = wait_for(pid);
	/* What it wrote before it ended; not what a child it left writes. */
	io_drain(out, KT_CH_STDOUT);
	io_drain(err, KT_CH_STDERR);
	if (pidfd >= 0)
		close(pidfd);
	return exit_code(st);
}

/* Tells the host the command could not be executed: the exec's errno,
 * the nonce (a command that exits 127 by itself cannot send this), the
 * path tried, cut to KT_CH_EXEC_PATH_MAX. */
static void ch_send_exec_fail(int e, const char *path)
{
	static unsigned char buf[4 + KT_CH_NONCE_MAX + KT_CH_EXEC_PATH_MAX];
	size_t pl = strnlen(path, KT_CH_EXEC_PATH_MAX);

	kt_put_le32(buf, (uint32_t)e);
	memcpy(buf + 4, run_nonce, run_nonce_len);
	memcpy(buf + 4 + run_nonce_len, path, pl);
	ch_send(KT_CH_EXEC_FAIL, buf, 4 + run_nonce_len + pl);
}

/*
 * The errno of the child's failed exec, or 0 when it started: the child
 * writes it on the pipe of @fd, whose write end it holds with O_CLOEXEC,
 * so that a successful exec closes it and an end of file comes instead.
 */
static int exec_result(int fd)
{
	int e = 0;
	ssize_t n;

	do
		n = read(fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == (ssize_t)sizeof(e) ? e : 0;
}

/* The command of the per-run archive (NUL-separated argv, any number of
 * arguments) with its standard streams on pipes to the channel.  When
 * it cannot be executed its status is 127 (ENOENT) or 126, as env(1)'s,
 * and init tells the host why (KT_CH_EXEC_FAIL), which says it once. */
static int run_command(char *cmd, size_t clen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, ex[2] = { -1, -1 };
	struct io io = { .in_fd = -1, .tty = -1 };
	size_t n = 0;
	char **cargv;
	bool merged;
	pid_t pid;
	int status, e;

	for (size_t off = 0; off < clen; off += strlen(cmd + off) + 1)
		n++;
	cargv = calloc(n + 1, sizeof(*cargv));
	/* stdout and stderr one file on the host (2>&1): one pipe keeps
	 * their order */
	merged = !access(KT_GUEST_MERGED, F_OK);
	if (!cargv || kt_ch_reader__new(&io.rd) || pipe2(in, O_CLOEXEC) ||
	    pipe2(out, O_CLOEXEC) || (!merged && pipe2(err, O_CLOEXEC)) || pipe2(ex, O_CLOEXEC)) {
		say("cannot start the command: %s", strerror(errno));
		return -1;
	}
	n = 0;
	for (size_t off = 0; off < clen; off += strlen(cmd + off) + 1)
		cargv[n++] = cmd + off;
	pid = fork();
	if (!pid) {
		signal(SIGPIPE, SIG_DFL);	/* init ignores it; programs must not */
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(merged ? out[1] : err[1], 2);
		/* its own session, no terminal: the console is not its */
		setsid();
		execv(cargv[0], cargv);
		if (errno == ENOENT || errno == EACCES)
			execvp(cargv[0], cargv);
		e = errno;
		/* init says it to the host; the line is for when it cannot */
		if (write(ex[1], &e, sizeof(e)) != (ssize_t)sizeof(e))
			fprintf(stderr, "ktpack-init: cannot run '%s': %s\n", cargv[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	e = errno;
	close(in[0]);
	close(out[1]);
	if (!merged)
		close(err[1]);
	close(ex[1]);
	if (pid < 0) {
		close(ex[0]);
		free(cargv);
		say("cannot start the command: %s", strerror(e));
		return -1;
	}
	e = exec_result(ex[0]);
	/* the file is there: what is missing is its interpreter or loader */
	if (e == ENOENT && strchr(cargv[0], '/') && !access(cargv[0], F_OK))
		ch_send_exec_fail((int)((unsigned)e | KT_CH_EXEC_INTERP), cargv[0]);
	else if (e)
		ch_send_exec_fail(e, cargv[0]);
	free(cargv);
	io.in_fd = in[1];
	io.pid = pid;
	fcntl(io.in_fd, F_SETFL, O_NONBLOCK);
	status = io_loop(&io, pid, out[0], merged ? -1 : err[0]);
	close(out[0]);
	if (!merged)
		close(err[0]);
	if (io.in_fd >= 0)
		close(io.in_fd);
	free(io.in);
	kt_ch_reader__free(io.rd);
	return status;
}

/* A shell on the console, with it as its controlling terminal: Ctrl-C
 * reaches what runs in it.  The host's terminal size follows. */
static int run_shell(void)
{
	struct io io = { .in_fd = -1, .tty = open(KT_GUEST_CONSOLE, O_RDWR | O_NOCTTY | O_CLOEXEC) };
	pid_t pid;
	int status;

	kt_ch_reader__new(&io.rd);
	pid = fork();
	if (!pid) {
		char *sh[] = { "/bin/sh", NULL };
		int fd;

		signal(SIGPIPE, SIG_DFL);	/* init ignores it; programs must not */
		setsid();
		fd = open(KT_GUEST_CONSOLE, O_RDWR);
		if (fd >= 0) {
			ioctl(fd, TIOCSCTTY, 1);
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		execv(sh[0], sh);
		fprintf(stderr, "ktpack-init: cannot run /bin/sh: %s\n", strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		say("cannot start the shell: %s", strerror(errno));
		return -1;
	}
	status = io.rd ? io_loop(&io, pid, -1, -1) : exit_code(wait_for(pid));
	/* What the shell wrote last reaches the host before the power-off. */
	if (io.tty >= 0) {
		tcdrain(io.tty);
		close(io.tty);
	}
	kt_ch_reader__free(io.rd);
	return status;
}

/* Says why nothing ran, to the host too (which ignores it without the
 * nonce: an archive that did not unpack is seen on the console), and
 * powers off. */
static __attribute__((noreturn)) void fail(const char *why)
{
	say("%s", why);
	if (run_nonce) {
		ch_quiesce();
		ch_send_signed(KT_CH_FAIL, why, strlen(why));
		ch_end();
	}
	power_off();
}

int main(void)
{
	uint64_t grace_ms = KT_WPROF_DEFAULT_GRACE_MS, wdeadline = 0;
	char *wargs, *cmd = NULL;
	unsigned char le[4];
	size_t clen = 0;
	const char *why;
	bool shell;
	pid_t wpid = -1, mods;
	int status, mod_words;

	why = not_a_guest();
	if (why) {
		fprintf(stderr, "ktpack-init: refusing to run: %s (this is a guest's /init, not a host program)\n",
			why);
		return 2;
	}
	mods = start_modules(&mod_words);
	setup_system();
	say("started");
	/* Nothing lives on after init: a write to a closed pipe is an error. */
	signal(SIGPIPE, SIG_IGN);
	install_applets();
	open_channel_after(mods, mod_words);
	/* Nothing else may read the nonce and forge a status. */
	run_nonce = slurp(KT_GUEST_NONCE, KT_CH_NONCE_MAX, &run_nonce_len);
	unlink(KT_GUEST_NONCE);
	/* read before the command runs: it could rewrite the file (the host
	 * takes only names under the paths it asked for anyway) */
	{
		size_t len;

		collect_list = slurp(KT_GUEST_COLLECT, KT_GUEST_COLLECT_MAX, &len);
		unlink(KT_GUEST_COLLECT);
	}
	if (!run_nonce)
		fail("the per-run archive did not unpack whole (no " KT_GUEST_NONCE "): too little memory?");
	/* a module that had to load did not: nothing runs */
	if (*modules_fatal)
		fail(modules_fatal);
	shell = !access(KT_GUEST_SHELL, F_OK);
	if (!shell) {
		cmd = slurp(KT_GUEST_CMD, KT_GUEST_CMD_MAX, &clen);
		if (!cmd || !clen)
			fail("the command is missing from the per-run archive (" KT_GUEST_CMD ")");
	}
	read_cmdline(&wargs, &grace_ms);
	if (wargs)
		wpid = start_wprof(wargs, grace_ms, &wdeadline);
	status = shell ? run_shell() : run_command(cmd, clen);
	if (status < 0)
		fail("the command could not be started");
	/* the command's status as soon as it is known: wprof, its trace and
	 * the files to collect may outlive the host's timeout */
	kt_put_le32(le, (uint32_t)status);
	ch_send_signed(KT_CH_DONE, le, 4);
	if (wpid > 0) {
		struct statvfs sv;

		finish_wprof(wpid, wdeadline);
		if (!statvfs("/tmp", &sv) && !sv.f_bavail)
			warn("the guest's /tmp is full: the trace may be cut short (give the guest more memory)");
	}
	/* Nothing the command left behind may write to the port after this:
	 * the trace and the status are init's last words. */
	ch_quiesce();
	if (wpid > 0)
		send_trace(KT_GUEST_TRACE);
	send_collected();
	kt_put_le32(le, (uint32_t)status);
	ch_send_signed(KT_CH_STATUS, le, 4);
	ch_end();
	power_off();
}
