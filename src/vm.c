/* vm.c - the QEMU runner (see vm.h).
 *
 * Starts QEMU with the console on the first serial port (a pipe to us) and
 * the trace on the second (a file in the run's work folder), watches the
 * console for init's start, a kernel panic and the exit marker, and stops
 * the VM at the timeout.  Writes only its private work folder and the
 * trace output.  QEMU dies with this process (PR_SET_PDEATHSIG).
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

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

int kt_find_qemu(const char *q, char *qemu, size_t sz, struct kt_err *err)
{
	int r;

	if (!q)
		q = KT_QEMU;
	if (!*q)
		return kt_err_set(err, -EINVAL, "the QEMU program's name is empty");
	r = kt_find_program(q, qemu, sz);
	if (r && strchr(q, '/'))
		return kt_err_set(err, r, "QEMU '%s': %s", q, strerror(-r));
	if (r)
		return kt_err_set(err, -ENOENT,
				  "%s not found in PATH: install QEMU (Debian: apt-get install qemu-system-x86)",
				  q);
	return 0;
}

int kt_vm_preflight(const struct kt_vm_opts *o, char *qemu, size_t sz,
		    struct kt_err *err)
{
	/* A kernel the caller resolved and holds open was checked then. */
	int r = o->kernel_fd > 2 ? 0 : kt_kernel_check(o->kernel, err);

	return r ? r : kt_find_qemu(o->qemu, qemu, sz, err);
}

/* ---- a child process with pipes ----------------------------------------------- */

struct kt_proc {
	pid_t pid;
	int out;	/* its stdout, or -1 */
	int err;	/* its stderr */
};

/* Starts @argv with its stdout and stderr on pipes to us; @keep_fd (when
 * above 2) is inherited. */
static int vm_spawn(char *const argv[], bool inherit_stdin, int keep_fd, struct kt_proc *p)
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
		if (!inherit_stdin) {
			int nul = open("/dev/null", O_RDONLY);

			if (nul >= 0)
				dup2(nul, 0);
		}
		dup2(out[1], 1);
		dup2(errp[1], 2);
		if (keep_fd > 2)
			fcntl(keep_fd, F_SETFD, 0);
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
	r = vm_spawn(argv, false, -1, &p);
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

/* ---- the run ------------------------------------------------------------------------ */

struct kt_watch {
	const struct kt_vm_opts *o;
	char line[LINE_MAX_KEPT];
	size_t len;
	bool started;		/* /init is running */
	bool ended;		/* the exit marker was seen */
	int status;
	char panic[LINE_MAX_KEPT];
	uint64_t t0;
};

/* Looks at one complete console line. */
static void vm_line(struct kt_watch *w)
{
	const char *m;
	size_t ml = strlen(KT_EXIT_MARKER);

	while (w->len && (w->line[w->len - 1] == '\r' || w->line[w->len - 1] == '\n'))
		w->line[--w->len] = '\0';
	if (!w->started && strstr(w->line, KT_INIT_STARTED)) {
		w->started = true;
		return;
	}
	if (!*w->panic && (m = strstr(w->line, "Kernel panic - not syncing"))) {
		snprintf(w->panic, sizeof(w->panic), "%s", m);
		return;
	}
	/* The last marker counts: init prints it once every other process of
	 * the guest is dead, so nothing can print one after it. */
	m = strstr(w->line, KT_EXIT_MARKER);
	if (m && w->o->nonce && !strncmp(m + ml, w->o->nonce, strlen(w->o->nonce)) &&
	    m[ml + strlen(w->o->nonce)] == ':') {
		uint64_t v;

		if (!kt_parse_u64(m + ml + strlen(w->o->nonce) + 2, &v) && v <= 255) {
			w->ended = true;
			w->status = (int)v;
		}
		return;
	}
}

static void vm_console(struct kt_watch *w, const char *buf, size_t n)
{
	if (w->o->console_fd >= 0)
		kt_write_all(w->o->console_fd ? w->o->console_fd : STDOUT_FILENO, buf, n);
	for (size_t i = 0; i < n; i++) {
		/* A long line keeps its end, where a marker would be; a NUL
		 * must not hide what follows it. */
		if (w->len == sizeof(w->line) - 1) {
			memmove(w->line, w->line + w->len / 2, w->len - w->len / 2);
			w->len -= w->len / 2;
		}
		w->line[w->len++] = buf[i] ? buf[i] : ' ';
		w->line[w->len] = '\0';
		if (buf[i] == '\n') {
			vm_line(w);
			w->len = 0;
		}
	}
}

/* Inflates @zlen bytes at @off of @in into @fd: exactly @len bytes whose
 * CRC-32 is @crc, or an error. */
static int vm_inflate_trace(int in, off_t off, uint64_t zlen, int fd, uint64_t len,
			  uint32_t crc, struct kt_err *err)
{
	unsigned char ibuf[65536], obuf[65536];
	uint32_t got_crc = (uint32_t)crc32(0L, Z_NULL, 0);
	uint64_t got = 0, done = 0;
	z_stream z = { 0 };
	int zr = Z_OK, r = 0;

	if (inflateInit(&z) != Z_OK)
		return kt_err_set(err, -ENOMEM, "out of memory");
	while (!r && zr != Z_STREAM_END && done < zlen) {
		size_t want = zlen - done < sizeof(ibuf) ? (size_t)(zlen - done) : sizeof(ibuf);
		ssize_t n = kt_pread_full(in, ibuf, want, off + (off_t)done);

		if (n != (ssize_t)want) {
			r = kt_err_set(err, -EIO, "cannot read the trace from the guest");
			break;
		}
		done += want;
		z.next_in = ibuf;
		z.avail_in = (uInt)want;
		do {
			size_t have;

			z.next_out = obuf;
			z.avail_out = sizeof(obuf);
			zr = inflate(&z, Z_NO_FLUSH);
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
				r = kt_err_set(err, -EIO, "the trace from the guest is corrupt (%s)",
					       z.msg ? z.msg : "bad zlib stream");
				break;
			}
			have = sizeof(obuf) - z.avail_out;
			/* Never more than announced: a corrupt stream cannot
			 * fill the disk. */
			if (have > len - got) {
				r = kt_err_set(err, -EIO, "the trace from the guest is corrupt (longer than announced)");
				break;
			}
			got_crc = (uint32_t)crc32(got_crc, obuf, (uInt)have);
			got += have;
			r = kt_write_all(fd, obuf, have);
			if (r)
				kt_err_set(err, r, "cannot write the trace: %s", strerror(-r));
		} while (!r && z.avail_out == 0 && zr != Z_STREAM_END);
	}
	inflateEnd(&z);
	if (!r && (zr != Z_STREAM_END || got != len))
		r = kt_err_set(err, -EIO, "the trace from the guest is truncated (%llu of %llu bytes)",
			       (unsigned long long)got, (unsigned long long)len);
	if (!r && got_crc != crc)
		r = kt_err_set(err, -EIO, "the trace from the guest is corrupt (CRC-32 mismatch)");
	return r;
}

/*
 * Where init's frame starts: the last one that ends exactly where the file
 * does (init sends it last, once everything else in the guest is dead;
 * bytes a command wrote to the port before are skipped).  -ENOENT without
 * a frame, -EIO when none ends there.
 */
static int vm_find_frame(int in, uint64_t fsize, uint64_t *at, uint64_t *announced)
{
	unsigned char buf[65536 + 8];
	bool seen = false, found = false;
	uint64_t off = 0;

	while (off < fsize) {
		ssize_t n = kt_pread_full(in, buf, sizeof(buf), (off_t)off);

		if (n <= 0)
			break;
		for (unsigned char *p = buf; (p = memmem(p, (size_t)n - (size_t)(p - buf),
						       KT_TRACE_MAGIC, 8)); p++) {
			uint64_t pos = off + (uint64_t)(p - buf);
			unsigned char hdr[KT_TRACE_HDR];
			uint64_t zlen;

			if (kt_pread_full(in, hdr, sizeof(hdr), (off_t)pos) != (ssize_t)sizeof(hdr))
				continue;
			zlen = kt_get_le64(hdr + 8);
			*announced = zlen;
			seen = true;
			if (fsize - pos >= KT_TRACE_HDR + KT_TRACE_TAIL &&
			    zlen == fsize - pos - KT_TRACE_HDR - KT_TRACE_TAIL) {
				*at = pos;
				found = true;
			}
		}
		if ((size_t)n < sizeof(buf))
			break;
		off += (uint64_t)n - 8;	/* a magic across the seam is seen */
	}
	return found ? 0 : seen ? -EIO : -ENOENT;
}

int kt_vm_take_trace(const char *serial, const char *out, uint64_t max, uint64_t *bytes,
		     struct kt_err *err)
{
	unsigned char hdr[KT_TRACE_HDR], tail[KT_TRACE_TAIL];
	struct kt_out o;
	struct stat st;
	uint64_t zlen, len, fsize, at = 0, announced = 0;
	int in, r;

	if (!max || max > KT_TRACE_MAX)
		max = KT_TRACE_MAX;
	in = open(serial, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st)) {
		r = -errno;
		if (in >= 0)
			close(in);
		return kt_err_set(err, r, "no trace came back from the guest");
	}
	fsize = (uint64_t)st.st_size;
	r = fsize < KT_TRACE_HDR + KT_TRACE_TAIL ? -ENOENT :
	    vm_find_frame(in, fsize, &at, &announced);
	if (r) {
		close(in);
		if (r == -ENOENT)
			return kt_err_set(err, r, "no trace came back from the guest");
		return kt_err_set(err, -EIO,
				  "the trace from the guest is truncated (%llu bytes of a frame that announces %llu)",
				  (unsigned long long)fsize, (unsigned long long)announced);
	}
	if (kt_pread_full(in, hdr, sizeof(hdr), (off_t)at) != (ssize_t)sizeof(hdr)) {
		close(in);
		return kt_err_set(err, -EIO, "cannot read the trace from the guest");
	}
	zlen = kt_get_le64(hdr + 8);
	len = kt_get_le64(hdr + 16);
	/* The trace lived in the guest's memory: it cannot be larger. */
	if (len > max ||
	    kt_pread_full(in, tail, sizeof(tail), (off_t)(at + KT_TRACE_HDR + zlen)) !=
	    (ssize_t)sizeof(tail)) {
		close(in);
		return kt_err_set(err, -EIO,
				  "the trace from the guest announces %llu bytes, more than its %llu MiB of memory",
				  (unsigned long long)len, (unsigned long long)(max >> 20));
	}
	r = kt_out_open(&o, out, err);
	if (r) {
		close(in);
		return r;
	}
	r = vm_inflate_trace(in, (off_t)(at + KT_TRACE_HDR), zlen, o.fd, len, kt_get_le32(tail), err);
	if (!r)
		r = kt_out_commit(&o, 0644, err);
	else
		kt_out_abort(&o);
	close(in);
	if (!r)
		*bytes = len;
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

/* QEMU with the console on the first serial port (our pipe) and the trace
 * on the second (a file in the work folder). */
static int vm_start(const struct kt_vm_opts *o, const char *qemu, enum kt_accel accel,
		    const char *serial, struct kt_proc *p)
{
	char serial_arg[PATH_MAX + 8], mem[32], smp[16];
	char *argv[] = {
		(char *)qemu, "-accel", accel == KT_ACCEL_KVM ? "kvm" : "tcg",
		/* pc: microvm reaches the command sooner, but its second
		 * serial port failed traces (the README, "Booting", has
		 * the figures); max gives programs under test every CPU
		 * feature TCG has. */
		"-machine", "pc",
		"-cpu", accel == KT_ACCEL_KVM ? "host" : "max",
		"-m", mem, "-smp", smp,
		"-kernel", (char *)o->kernel, "-initrd", (char *)o->initrd,
		"-append", (char *)o->cmdline,
		"-nographic", "-nodefaults", "-no-reboot", "-monitor", "none",
		/* SeaBIOS: no banner and screen codes on the console */
		"-fw_cfg", "name=etc/sercon-port,string=0",
		"-serial", "stdio", "-serial", serial_arg,
	};
	size_t n = KT_ARRAY_SIZE(argv);
	char **v;
	int r;

	if (kt_snprintf(serial_arg, sizeof(serial_arg), "file:%s", serial))
		return -ENAMETOOLONG;
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)o->memory_mib);
	snprintf(smp, sizeof(smp), "%u", o->cpus ? o->cpus : 1);
	/* The caller's own options last: QEMU lets a later one win. */
	v = calloc(n + o->nqemu_opts + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, argv, sizeof(argv));
	for (size_t i = 0; i < o->nqemu_opts; i++)
		v[n + i] = (char *)o->qemu_opts[i];
	r = vm_spawn(v, o->interactive, o->kernel_fd, p);
	free(v);
	return r;
}

/* Reads the console and QEMU's stderr until QEMU ends, a deadline passes
 * or the caller asks to stop. */
static int vm_watch(struct kt_watch *w, struct kt_proc *p, char *errs, size_t errsz,
		    struct kt_err *err)
{
	const struct kt_vm_opts *o = w->o;
	uint64_t deadline = 0, boot_deadline;
	bool out_open = true, err_open = true;
	size_t elen = 0;

	w->t0 = kt_now_ms();
	if (o->timeout_s)
		deadline = w->t0 + o->timeout_s * 1000ULL;
	boot_deadline = w->t0 + (o->boot_timeout_s ? o->boot_timeout_s : KT_VM_BOOT_TIMEOUT_S) * 1000ULL;
	while (out_open || err_open) {
		struct pollfd pf[2] = {
			{ .fd = out_open ? p->out : -1, .events = POLLIN },
			{ .fd = err_open ? p->err : -1, .events = POLLIN },
		};
		uint64_t now = kt_now_ms(), until = w->started ? deadline : boot_deadline;
		char buf[4096];
		ssize_t n;

		if (o->stop && *o->stop)
			return kt_err_set(err, -EINTR, "interrupted: the VM was stopped");
		if (!w->started && deadline && deadline < until)
			until = deadline;
		if (until && now >= until) {
			if (!w->started)
				return kt_err_set(err, -ETIMEDOUT,
						  "the guest did not reach /init within %llu s: the VM was stopped",
						  (unsigned long long)((until - w->t0) / 1000));
			return kt_err_set(err, -ETIMEDOUT,
					  "the guest command did not finish within %u s: the VM was stopped",
					  o->timeout_s);
		}
		if (poll(pf, 2, until ? (int)(until - now < 1000 ? until - now : 1000) : 1000) < 0) {
			if (errno == EINTR)
				continue;
			return kt_err_set(err, -errno, "poll: %s", strerror(errno));
		}
		if (out_open && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = read(p->out, buf, sizeof(buf));
			if (n > 0)
				vm_console(w, buf, (size_t)n);
			else if (n == 0 || errno != EINTR)
				out_open = false;
		}
		if (err_open && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = read(p->err, buf, sizeof(buf));
			if (n > 0)
				vm_keep(errs, errsz, &elen, buf, (size_t)n);
			else if (n == 0 || errno != EINTR)
				err_open = false;
		}
	}
	return 0;
}

/* What the guest's end says, once QEMU is gone. */
static int vm_outcome(const struct kt_watch *w, int st, char *errs,
		      struct kt_err *err)
{
	/* A command may print a panic-looking line and still end well:
	 * init's marker says it did. */
	if (w->ended)
		return 0;
	if (*w->panic)
		return kt_err_set(err, -EPIPE, "the guest kernel panicked: %s", w->panic);
	if (!w->started)
		return kt_err_set(err, -EIO, "the guest never reached /init (QEMU exited with status %d%s%s)",
				  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
				  *errs ? ": " : "", *errs ? vm_last_line(errs) : "");
	return kt_err_set(err, -EIO, "the VM stopped before the guest command finished%s%s",
			  *errs ? ": " : "", *errs ? vm_last_line(errs) : "");
}

int kt_vm_run(const struct kt_vm_opts *o, struct kt_vm_result *res,
	      struct kt_err *err)
{
	char qemu[PATH_MAX], serial[PATH_MAX], errs[ERR_KEPT] = "";
	struct kt_workdir dir;
	struct kt_watch w = { .o = o };
	struct kt_proc p = { .pid = -1, .out = -1, .err = -1 };
	enum kt_accel accel;
	int st = 0, r;

	res->exit_status = -1;
	res->trace_written = false;
	res->end = KT_VM_FAILED;
	r = kt_vm_preflight(o, qemu, sizeof(qemu), err);
	if (!r)
		r = vm_pick_accel(o, qemu, &accel, err);
	if (r)
		return r;
	res->accel = accel;
	r = kt_workdir_new(&dir, "ktpack-vm", err);
	if (r)
		return r;
	if (kt_snprintf(serial, sizeof(serial), "%s/ttyS1", dir.path)) {
		r = kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", dir.path);
		goto out;
	}
	r = vm_start(o, qemu, accel, serial, &p);
	if (r) {
		kt_err_set(err, r, "cannot start %s: %s", qemu, strerror(-r));
		goto out;
	}
	kt_log(&o->log, KT_LOG_INFO, "booting %s: %u CPUs, %llu MiB, %s%s",
	       o->kernel_label ? o->kernel_label : o->kernel, o->cpus ? o->cpus : 1,
	       (unsigned long long)o->memory_mib, kt_accel_name(accel),
	       o->pvh ? ", vmlinux through PVH" : "");
	r = vm_watch(&w, &p, errs, sizeof(errs), err);
	if (r)
		kill(p.pid, SIGKILL);
	close(p.out);
	close(p.err);
	waitpid(p.pid, &st, 0);
	if (w.len)
		vm_line(&w);
	if (!r)
		r = vm_outcome(&w, st, errs, err);
	res->end = r == -ETIMEDOUT && w.started ? KT_VM_TIMEOUT :
		   r == -EINTR ? KT_VM_STOPPED : r == -EPIPE ? KT_VM_PANIC :
		   r ? KT_VM_FAILED : KT_VM_EXITED;
	if (!r) {
		res->exit_status = w.status;
		if (o->trace_out) {
			r = kt_vm_take_trace(serial, o->trace_out, o->memory_mib << 20,
					     &res->trace_bytes, err);
			res->trace_written = !r;
		}
	}
out:
	kt_workdir_remove(&dir);
	return r;
}
