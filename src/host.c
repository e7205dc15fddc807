/* host.c - what this host has for running guests (see ktpack/host.h and
 * the README, "What a runner needs"): one check per piece, each with what
 * was found or the Debian package that provides it.  Reads the system;
 * writes only the cache folder's verdicts and vmlinux (and, with a probe,
 * boots the kernel as a run would). */
#include <ktpack/host.h>

#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ktpack/kernel.h>
#include <ktpack/modules.h>
#include <ktpack/run.h>


const char *kt_check_state_name(enum kt_check_state s)
{
	static const char *const names[] = { "ok", "note", "warn", "missing" };

	return (unsigned)s < KT_ARRAY_SIZE(names) ? names[s] : "?";
}

struct host_ctx {
	const struct kt_host_opts *o;
	struct kt_host_report *r;
	size_t cap;
	bool oom;
	struct kt_cache *cache;		/* the caller's or own_cache */
	struct kt_cache *own_cache;
	struct kt_kernel_boot kernel;	/* .fd -1 until resolved */
	bool have_kernel;
};

/* One check; its detail formatted. */
__attribute__((format(printf, 7, 8)))
static void host_add(struct host_ctx *h, const char *area, enum kt_arch arch,
		     enum kt_check_state st, const char *pkg, const char *name,
		     const char *fmt, ...)
{
	struct kt_check *c;
	va_list ap;
	int n;

	if (h->oom || kt_grow((void **)&h->r->checks, &h->cap, h->r->n + 1, sizeof(*c))) {
		h->oom = true;
		return;
	}
	c = &h->r->checks[h->r->n];
	*c = (struct kt_check){ .area = area, .arch = arch, .state = st, .package = pkg };
	c->name = strdup(name);
	va_start(ap, fmt);
	n = vasprintf(&c->detail, fmt, ap);
	va_end(ap);
	if (!c->name || n < 0) {
		free(c->name);
		if (n >= 0)
			free(c->detail);
		h->oom = true;
		return;
	}
	h->r->n++;
}

/* ---- the system ---------------------------------------------------------------- */

/* The bytes and files in the cache folder. */
static void host_cache_size(struct kt_cache *c, uint64_t *bytes, size_t *files)
{
	int fd = openat(kt_cache__fd(c), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	*bytes = 0;
	*files = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!fstatat(kt_cache__fd(c), de->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
		    S_ISREG(st.st_mode)) {
			*bytes += (uint64_t)st.st_size;
			(*files)++;
		}
	}
	closedir(d);
}

static void host_system(struct host_ctx *h)
{
	/* (a folder skipped is said in the report, not also as a warning) */
	struct kt_cache_opts co = { 0 };
	struct kt_workdir w = { .dfd = -1, .parent = -1, .lock = -1 };
	struct kt_err e = { 0 };
	uint64_t bytes;
	size_t files;

	if (kt_proc_check(NULL))
		host_add(h, "system", KT_ARCH_NONE, KT_CHECK_MISSING, NULL, "/proc",
			 "not mounted: QEMU is given the kernel as /proc/self/fd/N (mount -t proc proc /proc)");
	else
		host_add(h, "system", KT_ARCH_NONE, KT_CHECK_OK, NULL, "/proc", "mounted");
	if (kt_workdir_new(&w, "ktpack-doctor", &e))
		host_add(h, "system", KT_ARCH_NONE, KT_CHECK_MISSING, NULL, "work folder", "%s", e.msg);
	else
		host_add(h, "system", KT_ARCH_NONE, KT_CHECK_OK, NULL, "work folder",
			 "%s is writable (TMPDIR)", kt_tmpdir());
	kt_workdir_remove(&w);
	h->cache = h->o->cache;
	if (!h->cache && kt_cache__open(&co, &h->own_cache, &e)) {
		host_add(h, "cache", KT_ARCH_NONE, KT_CHECK_WARN, NULL, "cache folder",
			 "%s: nothing is kept, every run extracts its vmlinux and probes KVM", e.msg);
		return;
	}
	if (!h->cache)
		h->cache = h->own_cache;
	host_cache_size(h->cache, &bytes, &files);
	host_add(h, "cache", KT_ARCH_NONE, KT_CHECK_OK, NULL, "cache folder", "%s, %zu files, %.1f MiB",
		 kt_cache__path(h->cache), files, (double)bytes / (1 << 20));
}

/* ---- the kernel ------------------------------------------------------------------- */

static void host_kernel(struct host_ctx *h)
{
	struct kt_kernel_opts ko = { .cache = h->cache };
	struct kt_err e = { 0 };
	char dir[PATH_MAX], kreal[PATH_MAX];
	enum kt_arch a = KT_ARCH_NONE;
	const char *k = h->o->kernel;

	h->r->arch = kt_arch_native();
	if (!k || !*k) {
		host_add(h, "kernel", KT_ARCH_NONE, KT_CHECK_NOTE, NULL, "kernel",
			 "none given: a run names it (--kernel FILE, or KTSTR_KERNEL)");
		return;
	}
	if (kt_kernel_check_arch(k, &a, &e) || kt_kernel_resolve(k, &ko, &h->kernel, &e)) {
		host_add(h, "kernel", KT_ARCH_NONE, KT_CHECK_MISSING, NULL, k, "%s", e.msg);
		return;
	}
	h->have_kernel = true;
	h->r->arch = a;
	host_add(h, "kernel", a, KT_CHECK_OK, NULL, k, "%s kernel%s%s%s", kt_arch_name(a),
		 *h->kernel.release ? " " : "", h->kernel.release,
		 h->kernel.pvh ? ", its vmlinux boots through PVH" : "");
	if (!kt_modules_find(NULL, realpath(k, kreal) ? kreal : k, h->kernel.release, dir,
			     sizeof(dir), &e))
		host_add(h, "kernel", a, KT_CHECK_OK, NULL, "module tree", "%s", dir);
	else if (kt_arch_info(a) && kt_arch_info(a)->serial_channel)
		host_add(h, "kernel", a, KT_CHECK_WARN, NULL, "module tree",
			 "%s: the channel falls back to the serial port unless virtio_console is built in",
			 e.msg);
	else
		host_add(h, "kernel", a, KT_CHECK_MISSING, NULL, "module tree",
			 "%s: an %s guest's channel needs virtio_console from it", e.msg, kt_arch_name(a));
}

/* ---- QEMU, per architecture ----------------------------------------------------------- */

static void host_firmware(struct host_ctx *h, enum kt_arch a, const struct kt_qemu_facts *f)
{
	const struct kt_arch_info *ai = kt_arch_info(a);
	char where[PATH_MAX];

	if (ai->nfirmware && !f->ndatadir) {
		host_add(h, "firmware", a, KT_CHECK_NOTE, NULL, "data folders",
			 "%s does not list them (-L help): its firmware is not checked", f->path);
		return;
	}
	for (size_t i = 0; i < ai->nfirmware; i++) {
		const struct kt_firmware *fw = &ai->firmware[i];
		bool opt = fw->need & KT_FW_OPTIONAL;

		if (!kt_qemu_find_firmware(f, fw->file, where, sizeof(where)))
			host_add(h, "firmware", a, KT_CHECK_OK, NULL, fw->file, "%s", where);
		else
			host_add(h, "firmware", a, opt ? KT_CHECK_WARN : KT_CHECK_MISSING, fw->pkg,
				 fw->file, "not in %s's data folders (%s%s)%s", f->path, f->datadir[0],
				 f->ndatadir > 1 ? ", ..." : "",
				 opt ? ": QEMU says so and boots" :
				 fw->need & KT_FW_PVH ? ": a vmlinux cannot boot through PVH" :
				 fw->need & KT_FW_BZIMAGE ? ": a bzImage cannot boot" : "");
	}
	if (!ai->nfirmware)
		host_add(h, "firmware", a, KT_CHECK_OK, NULL, "firmware",
			 "none needed (-machine %s loads the kernel itself)", ai->qemu_machine);
}

static void host_qemu(struct host_ctx *h, enum kt_arch a)
{
	const struct kt_arch_info *ai = kt_arch_info(a);
	struct kt_qemu_facts *f = malloc(sizeof(*f));
	struct kt_err e = { 0 };
	char path[PATH_MAX], ver[64];
	const char *q = a == h->r->arch ? h->o->qemu : NULL;

	if (!f) {
		h->oom = true;
		return;
	}
	if (kt_find_qemu(q, a, path, sizeof(path), &e)) {
		host_add(h, "qemu", a, a == h->r->arch ? KT_CHECK_MISSING : KT_CHECK_NOTE,
			 q ? NULL : ai->qemu_pkg, q ? q : ai->qemu, "%s%s",
			 e.code == -ENOENT && !q ? "not found in PATH" : e.msg,
			 a == h->r->arch ? "" : ": no guests of this architecture");
		goto out;
	}
	host_add(h, "qemu", a, KT_CHECK_OK, NULL, ai->qemu, "%s (QEMU %s)", path,
		 kt_qemu_version(path, ver, sizeof(ver)) ? "of unknown version" : ver);
	if (kt_qemu_inspect(path, a, NULL, 0, f, &e)) {
		host_add(h, "qemu", a, KT_CHECK_MISSING, NULL, ai->qemu, "%s", e.msg);
		goto out;
	}
	host_firmware(h, a, f);
	if (!f->tcg_modular)
		host_add(h, "qemu", a, KT_CHECK_OK, NULL, "TCG", "built into %s", path);
	else if (*f->tcg_module)
		host_add(h, "qemu", a, KT_CHECK_OK, NULL, "TCG", "the module %s", f->tcg_module);
	else
		host_add(h, "qemu", a, KT_CHECK_MISSING, ai->tcg_module_pkg, "TCG",
			 "the module accel-tcg-%s.so is in none of %s", ai->name, f->tcg_looked);
out:
	free(f);
}

/* ---- KVM ------------------------------------------------------------------------------ */

/* Boots the kernel under KVM as a run would: what it finds is kept. */
static int host_boot(struct host_ctx *h, char *why, size_t sz)
{
	const struct kt_blob *bb = h->o->blobs ?
		kt_blob_table__find_arch(h->o->blobs, "busybox", kt_arch_native()) : NULL;
	static const char *const with_bb[] = { "/bin/busybox", "true", NULL };
	/* without busybox init still reports the command's 127: it ran */
	static const char *const without[] = { "/ktpack-doctor", NULL };
	KT_RUN_OPTS(ro,
		.kernel = h->o->kernel, .blobs = h->o->blobs, .accel = KT_ACCEL_KVM,
		.qemu = h->o->qemu, .cmd = bb && kt_blob__embedded(bb) ? with_bb : without,
		.out_fd = -1, .err_fd = -1, .stdin_fd = -1, .console_fd = -1, .timeout_s = 300,
		.cache = h->cache, .log = h->o->log, .stop = h->o->stop,
	);
	struct kt_run_result *res = calloc(1, sizeof(*res));
	struct kt_err e = { 0 };
	int r;

	if (!res)
		return -ENOMEM;
	r = kt_run(&ro, res, &e);
	if (r)
		kt_snprintf_cut(why, sz, "%s", e.msg);
	free(res);
	return r;
}

static void host_kvm(struct host_ctx *h, const char *qemu)
{
	struct kt_accel_req q = {
		.qemu = qemu, .arch = kt_arch_native(), .cache = h->cache, .stop = { h->o->stop, NULL },
		.kernel = h->have_kernel ? h->kernel.path : NULL, .kernel_fd = h->kernel.fd,
		.pvh = h->kernel.pvh,
	};
	struct kt_accel_memory m;
	char why[512];
	const char *k = h->o->kernel;

	if (access("/dev/kvm", F_OK)) {
		host_add(h, "kvm", q.arch, KT_CHECK_WARN, NULL, "/dev/kvm",
			 "absent: guests run under TCG, many times slower");
		return;
	}
	if (access("/dev/kvm", R_OK | W_OK)) {
		host_add(h, "kvm", q.arch, KT_CHECK_WARN, NULL, "/dev/kvm",
			 "not usable by this user (%s): guests run under TCG", strerror(errno));
		return;
	}
	host_add(h, "kvm", q.arch, KT_CHECK_OK, NULL, "/dev/kvm", "usable");
	if (h->o->probe) {
		int r;

		kt_accel_forget(&q);
		r = kt_accel_ask(&q, why, sizeof(why));
		if (!r && h->have_kernel && h->r->arch == q.arch)
			r = host_boot(h, why, sizeof(why));
		if (r == -EINTR)
			return;
	}
	kt_accel_recall(&q, &m);
	if (!m.probe)
		host_add(h, "kvm", q.arch, KT_CHECK_OK, NULL, "probe", "a boot sector runs under KVM%s",
			 h->o->probe ? "" : " (remembered)");
	else if (m.probe < 0)
		host_add(h, "kvm", q.arch, KT_CHECK_WARN, NULL, "probe", "%s%s: guests run under TCG",
			 m.probe_why, h->o->probe ? "" : " (remembered)");
	else
		host_add(h, "kvm", q.arch, KT_CHECK_NOTE, NULL, "probe",
			 "not asked yet: the first run asks (or ktpack doctor --probe)");
	/* KVM only once it booted the kernel: a probe proves less */
	if (h->r->arch == q.arch && m.probe >= 0 && m.boot != -ENODEV)
		h->r->accel = !m.probe && h->have_kernel && !m.boot ? KT_ACCEL_KVM : KT_ACCEL_AUTO;
	if (!h->have_kernel || h->r->arch != q.arch || m.probe)
		return;
	if (!m.boot)
		host_add(h, "kvm", q.arch, KT_CHECK_OK, NULL, "boot", "KVM booted %s%s", k,
			 h->o->probe ? "" : " (remembered)");
	else if (m.boot < 0)
		host_add(h, "kvm", q.arch, KT_CHECK_WARN, NULL, "boot",
			 "KVM cannot boot %s (%s)%s: its runs use TCG", k, m.boot_why,
			 h->o->probe ? "" : ", remembered");
	else
		host_add(h, "kvm", q.arch, KT_CHECK_NOTE, NULL, "boot",
			 "not tried yet: the first run tries it within %d s (or ktpack doctor --probe)",
			 KT_KVM_LIFE_S);
}

/* ---- the blobs -------------------------------------------------------------------------- */

static void host_blobs(struct host_ctx *h)
{
	const struct kt_blob *init = kt_blob_table__find_arch(&kt_guest_blobs, "init", h->r->arch);

	if (init && kt_blob__embedded(init))
		host_add(h, "blobs", h->r->arch, KT_CHECK_OK, NULL, "init", "the guest's init, %llu bytes",
			 (unsigned long long)init->size);
	else
		host_add(h, "blobs", h->r->arch, KT_CHECK_MISSING, NULL, "init",
			 "this libktpack was built without the %s guest init", kt_arch_name(h->r->arch));
	for (size_t i = 0; h->o->blobs && i < h->o->blobs->count; i++) {
		const struct kt_blob *b = &h->o->blobs->blobs[i];
		enum kt_arch a = kt_blob__arch(b);
		bool bb = !strncmp(b->name, "busybox", 7);

		if (kt_blob__embedded(b))
			host_add(h, "blobs", a, KT_CHECK_OK, NULL, b->name, "embedded, %llu bytes",
				 (unsigned long long)b->size);
		else if (!strncmp(b->name, "wprof_libs", 10))
			continue;	/* (empty with a static wprof, or none) */
		else
			host_add(h, "blobs", a, bb && a == h->r->arch ? KT_CHECK_WARN : KT_CHECK_NOTE,
				 NULL, b->name, "not embedded (make %s=/path/to/%s)%s", b->make_var,
				 bb ? "busybox" : b->name,
				 bb ? ": the guest has no shell and no applets" : "");
	}
}

int kt_host_check(const struct kt_host_opts *o, struct kt_host_report **out,
		  struct kt_err *err)
{
	struct host_ctx h = { .o = o, .kernel = { .fd = -1 } };
	char qemu[PATH_MAX];

	h.r = calloc(1, sizeof(*h.r));
	if (!h.r)
		return kt_err_set(err, -ENOMEM, "out of memory");
	h.r->accel = KT_ACCEL_TCG;
	host_system(&h);
	host_kernel(&h);
	/* the kernel's architecture first: it is the one a run needs */
	host_qemu(&h, h.r->arch);
	for (enum kt_arch a = KT_ARCH_X86_64; a <= KT_ARCH_AARCH64; a++)
		if (a != h.r->arch)
			host_qemu(&h, a);
	if (kt_arch_info(KT_ARCH_NONE) &&
	    !kt_find_qemu(h.r->arch == kt_arch_native() ? o->qemu : NULL, kt_arch_native(), qemu,
			  sizeof(qemu), NULL))
		host_kvm(&h, qemu);
	host_blobs(&h);
	h.r->ok = true;
	for (size_t i = 0; i < h.r->n; i++)
		if (h.r->checks[i].state == KT_CHECK_MISSING &&
		    (!h.r->checks[i].arch || h.r->checks[i].arch == h.r->arch))
			h.r->ok = false;
	kt_kernel_boot__close(&h.kernel);
	kt_cache__close(h.own_cache);
	if (h.oom || (o->stop && *o->stop)) {
		int r = h.oom ? -ENOMEM : -EINTR;

		kt_host_report__free(h.r);
		return kt_err_set(err, r, h.oom ? "out of memory" : "interrupted");
	}
	*out = h.r;
	return 0;
}

void kt_host_report__free(struct kt_host_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->checks[i].name);
		free(r->checks[i].detail);
	}
	free(r->checks);
	free(r);
}
