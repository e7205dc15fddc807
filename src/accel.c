/* accel.c - KVM or TCG for a boot (see ktpack/accel.h and the README,
 * "KVM or TCG").
 *
 * KVM is used when a boot-sector probe passes and, per kernel, until a
 * boot under it shows no sign of life.  Both verdicts are kept in the cache
 * folder for a while, each under a lock, so that concurrent cold runs
 * share one probe and one trial boot, and the run that finds a verdict is
 * the one that says it.  Touches the cache folder and the probe's private
 * work folder.
 */
#include <ktpack/accel.h>

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ktpack/cache.h>

/* Boot verdicts kept, one per kernel, most recent first. */
#define ACCEL_BOOT_KEEP	32
/* How long a run waits for another run's probe, and for its trial boot
 * (its bounds, and its QEMU's start): past that the holder is taken for
 * stuck (stopped with SIGSTOP, say) and this run decides alone. */
#define ACCEL_PROBE_WAIT_MS	((KT_KVM_PROBE_TIMEOUT_S + 10) * 1000u)
#define ACCEL_BOOT_WAIT_MS	((KT_KVM_INIT_S + 30) * 1000u)

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

/* ---- the probe ---------------------------------------------------------------- */

/* Writes the boot sector the probe runs into a new file "probe.img" of
 * folder @dfd, left open for QEMU to inherit: 0 and *@fd, or -errno. */
static int accel_probe_image(int dfd, int *fd)
{
	/* mov al, 0x2a; out 0xf4, al; hlt; jmp $-1: isa-debug-exit makes
	 * QEMU exit with (0x2a << 1) | 1 = 85 once the sector has run. */
	static const unsigned char code[] = { 0xb0, 0x2a, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd };
	unsigned char mbr[512] = { 0 };
	int r;

	memcpy(mbr, code, sizeof(code));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	*fd = openat(dfd, "probe.img", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0)
		return -errno;
	r = kt_write_all(*fd, mbr, sizeof(mbr));
	if (r) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

static int accel_kvm_probe(const char *qemu, const struct kt_stop *stop, struct kt_err *err);

int kt_kvm_probe(const char *qemu, volatile sig_atomic_t *stop, struct kt_err *err)
{
	return accel_kvm_probe(qemu, &(struct kt_stop){ .stop = stop }, err);
}

static int accel_kvm_probe(const char *qemu, const struct kt_stop *stop, struct kt_err *err)
{
	char drive[64], errs[2048], last[512];
	struct kt_workdir dir;
	char *argv[] = {
		/* The same CPU model as a real run: on nested hosts it is what
		 * breaks (MSRs the outer hypervisor refuses). */
		(char *)qemu, "-accel", "kvm", "-cpu", "host", "-display", "none", "-nodefaults",
		"-no-reboot", "-m", "16", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-drive", drive, NULL,
	};
	int img = -1, r;
	struct kt_capture c = {
		.keep = &img, .nkeep = 1, .stop = stop, .timeout_ms = KT_KVM_PROBE_TIMEOUT_S * 1000u,
		.errs = errs, .errsz = sizeof(errs),
	};

	if (access("/dev/kvm", R_OK | W_OK))
		return kt_err_set(err, -ENODEV, "/dev/kvm: %s", strerror(errno));
	r = kt_workdir_new(&dir, "ktpack-kvm", err);
	if (r)
		return r;
	r = accel_probe_image(dir.dfd, &img);
	if (r) {
		kt_err_set(err, r, "cannot write the probe image: %s", strerror(-r));
		goto out;
	}
	/* (QEMU opens what it inherits: a path in the folder is never used) */
	snprintf(drive, sizeof(drive), "file=/proc/self/fd/%d,format=raw,if=ide", img);
	r = kt_proc_capture(argv, &c);
	if (r == -EINTR)
		kt_err_set(err, r, "interrupted: the KVM probe was stopped");
	else if (r == -ETIMEDOUT)
		kt_err_set(err, r, "a QEMU guest under KVM did not run within %d s",
			   KT_KVM_PROBE_TIMEOUT_S);
	else if (r)
		kt_err_set(err, r, "cannot start %s: %s", qemu, strerror(-r));
	else if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 85)
		r = kt_err_set(err, -EIO, "QEMU with -accel kvm failed: %s",
			       kt_last_line(errs, last, sizeof(last)) ? last : "no message");
out:
	if (img >= 0)
		close(img);
	kt_workdir_remove(&dir);
	return r;
}

/* ---- verdicts in the cache -------------------------------------------------------- */

/* The probe's key: this QEMU binary, this /dev/kvm and who may use it,
 * this host kernel.  A change of any of them asks again. */
static int accel_host_key(const char *qemu, uint64_t *key)
{
	struct stat q, k = { 0 };
	struct utsname u;
	int usable = !access("/dev/kvm", R_OK | W_OK);

	if (stat(qemu, &q) || uname(&u))
		return -errno;
	stat("/dev/kvm", &k);
	*key = KT_FNV1A_INIT;
	kt_fnv1a(key, &q.st_dev, sizeof(q.st_dev));
	kt_fnv1a(key, &q.st_ino, sizeof(q.st_ino));
	kt_fnv1a(key, &q.st_mtim, sizeof(q.st_mtim));
	kt_fnv1a(key, &q.st_size, sizeof(q.st_size));
	kt_fnv1a(key, &k.st_rdev, sizeof(k.st_rdev));
	/* a user added to the kvm group asks again */
	kt_fnv1a(key, &k.st_mode, sizeof(k.st_mode));
	kt_fnv1a(key, &k.st_uid, sizeof(k.st_uid));
	kt_fnv1a(key, &k.st_gid, sizeof(k.st_gid));
	kt_fnv1a(key, &usable, sizeof(usable));
	kt_fnv1a(key, u.release, strlen(u.release));
	return 0;
}

/*
 * A boot verdict's key adds the kernel QEMU boots, and how.  A cached
 * vmlinux (held open) is named by its bzImage's digest, which is its
 * identity in any cache folder; a user's file is its inode as it is now
 * (a rewrite changes its time).
 */
static int accel_kernel_key(const struct kt_accel_req *q, uint64_t host, uint64_t *key)
{
	char fdpath[64], target[PATH_MAX];
	const char *base;
	struct stat st;
	ssize_t n = -1;

	*key = host;
	kt_fnv1a(key, &q->pvh, sizeof(q->pvh));
	if (q->kernel_fd > 2) {
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", q->kernel_fd);
		n = readlink(fdpath, target, sizeof(target) - 1);
	}
	if (n > 0) {
		target[n] = '\0';
		base = strrchr(target, '/');
		base = base ? base + 1 : target;
		if (!strncmp(base, "vmlinux-", 8) && strlen(base + 8) == 64 &&
		    strspn(base + 8, "0123456789abcdef") == 64) {
			kt_fnv1a(key, base, strlen(base));
			return 0;
		}
	}
	if (q->kernel_fd > 2 ? fstat(q->kernel_fd, &st) : stat(q->kernel, &st))
		return -errno;
	kt_fnv1a(key, &st.st_dev, sizeof(st.st_dev));
	kt_fnv1a(key, &st.st_ino, sizeof(st.st_ino));
	kt_fnv1a(key, &st.st_size, sizeof(st.st_size));
	kt_fnv1a(key, &st.st_mtim, sizeof(st.st_mtim));
	return 0;
}

static int accel_verdict_fill(void *ctx, int fd, struct kt_err *err)
{
	const char *v = ctx;
	int r = kt_write_all(fd, v, strlen(v));

	return r ? kt_err_set(err, r, "cannot record a verdict on KVM: %s", strerror(-r)) : 0;
}

static int accel_verdict_read(struct kt_cache *c, const char *name, char *why, size_t sz);

/* Records @why ("ok" when KVM worked) under @name, replacing what was;
 * a name that something else holds (a folder) is said, once a run. */
static void accel_verdict_write(struct kt_cache *c, const char *name, const char *why,
				const struct kt_log *log)
{
	char back[400];
	int r;

	if (!c)
		return;
	unlinkat(kt_cache__fd(c), name, 0);
	r = kt_cache__publish(c, name, 0600, 0, accel_verdict_fill, (void *)why, NULL);
	if (!r && accel_verdict_read(c, name, back, sizeof(back)) == (strcmp(why, "ok") ? -ENODEV : 0))
		return;
	kt_log(log, KT_LOG_WARN, "cannot keep a verdict on KVM in '%s/%s'%s: every run will ask again",
	       kt_cache__path(c), name, r ? "" : " (something else has that name)");
}

/*
 * The verdict @name: 0 when it says KVM worked, -ENODEV with the reason
 * in @why when it says it did not, 1 when there is none (or it is too old,
 * or from the future: then it goes).
 */
static int accel_verdict_read(struct kt_cache *c, const char *name, char *why, size_t sz)
{
	struct stat st;
	char buf[512];
	time_t now = time(NULL);
	ssize_t n;
	int fd;

	if (!c || kt_cache__open_file(c, name, 0600, UINT64_MAX, &fd))
		return 1;
	n = fstat(fd, &st) ? -1 : kt_pread_full(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n <= 0 || now - st.st_mtime > KT_KVM_PROBE_CACHE_S || now < st.st_mtime) {
		unlinkat(kt_cache__fd(c), name, 0);
		return 1;
	}
	buf[n] = '\0';
	if (!strcmp(buf, "ok"))
		return 0;
	kt_snprintf_cut(why, sz, "%s", buf);
	return -ENODEV;
}

/* ---- the plan for a run ------------------------------------------------------------ */

/*
 * Takes the lock of the verdict @name, saying so when another run holds
 * it (@what: what that run is doing), and going on without it when that
 * run holds it past @wait_ms.  0 with *@fd (-1: not held), or -EINTR.
 */
static int accel_lock(const struct kt_accel_req *q, const char *name, const char *what,
		      unsigned wait_ms, int *fd)
{
	int r;

	*fd = -1;
	if (!q->cache || !*name)
		return 0;
	r = kt_cache_lock(q->cache, name, &q->stop, 0, fd);
	if (r == -EWOULDBLOCK) {
		kt_log(&q->log, KT_LOG_INFO, "waiting for another run to be done %s (at most %u s)",
		       what, wait_ms / 1000);
		r = kt_cache_lock(q->cache, name, &q->stop, wait_ms, fd);
		if (r == -ETIMEDOUT)
			kt_log(&q->log, KT_LOG_WARN, "another run is still %s after %u s: going on without it",
			       what, wait_ms / 1000);
	}
	if (r == -EINTR)
		return r;
	if (r)
		*fd = -1;	/* (no lock: concurrent runs each decide, no worse) */
	return 0;
}

/* The probe's answer, from the cache or asked now (under the probe's lock,
 * so that cold runs at once probe once).  0, or -errno with @why. */
static int accel_probe(const struct kt_accel_req *q, const char *name, char *why, size_t sz)
{
	struct kt_err e = { 0 };
	int lock = -1, r = 1;

	if (accel_lock(q, name, "probing KVM", ACCEL_PROBE_WAIT_MS, &lock))
		return -EINTR;
	if (*name)
		r = accel_verdict_read(q->cache, name, why, sz);
	/* --accel kvm asks again: a failure it remembers may be gone. */
	if (r && q->want == KT_ACCEL_KVM)
		r = 1;
	if (r == 1) {
		r = accel_kvm_probe(q->qemu, &q->stop, &e);
		kt_snprintf_cut(why, sz, "%s", e.msg);
		/* Only an answer is kept: a probe that timed out, or could not
		 * start, says nothing about KVM. */
		if ((!r || r == -EIO || r == -ENODEV) && *name)
			accel_verdict_write(q->cache, name, r ? e.msg : "ok", &q->log);
		if (r && r != -EINTR && q->want != KT_ACCEL_KVM)
			kt_log(&q->log, KT_LOG_WARN,
			       "KVM is not usable (%s): falling back to TCG, which is much slower", why);
	}
	kt_cache_unlock(q->cache, name, lock);
	return r;
}

/* The verdicts' names for @q: the probe's ("" when its QEMU cannot be
 * read) and, when @boot is not NULL and @q names a kernel, the boot's
 * ("" when that kernel cannot be read). */
static void accel_names(const struct kt_accel_req *q, char *probe, size_t psz, char *boot,
			size_t bsz)
{
	uint64_t host, kern;

	*probe = '\0';
	if (boot)
		*boot = '\0';
	if (accel_host_key(q->qemu, &host))
		return;
	snprintf(probe, psz, "kvm-probe-%016llx", (unsigned long long)host);
	if (boot && (q->kernel || q->kernel_fd > 2) && !accel_kernel_key(q, host, &kern))
		snprintf(boot, bsz, "kvm-boot-%016llx-%016llx", (unsigned long long)host,
			 (unsigned long long)kern);
}

int kt_accel_plan(const struct kt_accel_req *q, struct kt_accel_plan *p, struct kt_err *err)
{
	char probe_name[40], why[400] = "";
	int r;

	*p = (struct kt_accel_plan){ .want = q->want, .accel = KT_ACCEL_TCG, .lock = -1,
				     .cache = q->cache, .log = q->log };
	if (q->want == KT_ACCEL_TCG)
		return 0;
	/* KVM runs guests of this machine's architecture only. */
	if (kt_arch_or_native(q->arch) != kt_arch_native()) {
		if (q->want == KT_ACCEL_KVM)
			return kt_err_set(err, -ENODEV, "KVM cannot run an %s guest on this %s machine",
					  kt_arch_name(q->arch), kt_arch_name(kt_arch_native()));
		return 0;
	}
	accel_names(q, probe_name, sizeof(probe_name), p->boot_name, sizeof(p->boot_name));
	r = accel_probe(q, probe_name, why, sizeof(why));
	if (r == -EINTR)
		return kt_err_set(err, r, "interrupted: the KVM probe was stopped");
	if (r && q->want == KT_ACCEL_KVM)
		return kt_err_set(err, -ENODEV, "KVM does not work here: %s", why);
	if (r) {
		kt_snprintf_cut(p->why, sizeof(p->why), "its probe failed: %s", why);
		return 0;
	}
	p->accel = KT_ACCEL_KVM;
	if (!*p->boot_name)
		return 0;
	/* Held until this run's boot decides, unless a verdict is there: the
	 * other cold runs wait for it instead of each trying. */
	if (accel_lock(q, p->boot_name, "trying this kernel under KVM", ACCEL_BOOT_WAIT_MS,
		       &p->lock))
		return kt_err_set(err, -EINTR, "interrupted: nothing was booted");
	r = accel_verdict_read(q->cache, p->boot_name, why, sizeof(why));
	p->kvm_ok_known = !r;
	if (r == 1 || (r && q->want == KT_ACCEL_KVM))
		return 0;	/* this run's boot decides (a success clears a failure) */
	kt_cache_unlock(q->cache, p->boot_name, p->lock);
	p->lock = -1;
	if (r) {
		p->accel = KT_ACCEL_TCG;
		kt_snprintf_cut(p->why, sizeof(p->why), "it did not boot this kernel: %s", why);
	}
	return 0;
}

int kt_accel_recall(const struct kt_accel_req *q, struct kt_accel_memory *m)
{
	char probe[40], boot[64];

	*m = (struct kt_accel_memory){ .probe = 1, .boot = 1 };
	accel_names(q, probe, sizeof(probe), boot, sizeof(boot));
	if (!q->cache || !*probe)
		return -ENOENT;
	m->probe = accel_verdict_read(q->cache, probe, m->probe_why, sizeof(m->probe_why));
	if (*boot)
		m->boot = accel_verdict_read(q->cache, boot, m->boot_why, sizeof(m->boot_why));
	return 0;
}

void kt_accel_forget(const struct kt_accel_req *q)
{
	char probe[40], boot[64];

	accel_names(q, probe, sizeof(probe), boot, sizeof(boot));
	if (q->cache && *probe)
		unlinkat(kt_cache__fd(q->cache), probe, 0);
	if (q->cache && *boot)
		unlinkat(kt_cache__fd(q->cache), boot, 0);
}

int kt_accel_ask(const struct kt_accel_req *q, char *why, size_t sz)
{
	char probe[40];

	accel_names(q, probe, sizeof(probe), NULL, 0);
	return accel_probe(q, probe, why, sz);
}

int kt_accel_kvm_verdict(struct kt_accel_plan *p, const char *failure, struct kt_err *err)
{
	if (*p->boot_name && (failure || !p->kvm_ok_known)) {
		accel_verdict_write(p->cache, p->boot_name, failure ? failure : "ok", &p->log);
		if (p->cache)
			kt_cache__prune(p->cache, "kvm-boot-", ACCEL_BOOT_KEEP, NULL);
	}
	p->kvm_ok_known = !failure;
	kt_cache_unlock(p->cache, p->boot_name, p->lock);
	p->lock = -1;
	if (!failure)
		return 0;
	if (p->want == KT_ACCEL_KVM)
		return kt_err_set(err, -ENODEV, "KVM cannot boot this kernel: %s", failure);
	kt_log(&p->log, KT_LOG_WARN, "KVM cannot boot this kernel (%s): using TCG", failure);
	kt_snprintf_cut(p->why, sizeof(p->why), "it could not boot this kernel: %s", failure);
	p->accel = KT_ACCEL_TCG;
	p->fell_back = true;
	return 0;
}

void kt_accel_plan_release(struct kt_accel_plan *p)
{
	kt_cache_unlock(p->cache, p->boot_name, p->lock);
	p->lock = -1;
}
