/* ktpack/host.h - whether this host can run guests, and how: QEMU per
 * architecture, its firmware and modules, KVM and what is remembered of
 * it, the kernel, the cache folder, the embedded blobs.  What `ktpack
 * doctor` shows (see the README, "What a runner needs"). */
#ifndef KTPACK_HOST_H
#define KTPACK_HOST_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <ktpack/accel.h>
#include <ktpack/arch.h>
#include <ktpack/blob.h>
#include <ktpack/cache.h>
#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum kt_check_state {
	KT_CHECK_OK,		/* there, and it works */
	KT_CHECK_NOTE,		/* worth knowing; nothing is wrong */
	KT_CHECK_WARN,		/* runs work, slower or with less */
	KT_CHECK_MISSING,	/* runs cannot work without it */
};

/* "ok", "note", "warn", "missing". */
const char *kt_check_state_name(enum kt_check_state s);

struct kt_check {
	const char *area;	/* "system", "qemu", "firmware", "kvm", "kernel", "cache", "blobs" */
	enum kt_arch arch;	/* the guests it is for; KT_ARCH_NONE: all */
	char *name;		/* what was checked: "/dev/kvm", "pvh.bin" */
	enum kt_check_state state;
	char *detail;		/* what was found, or why it is missing */
	const char *package;	/* the Debian package that has it; NULL */
};

struct kt_host_report {
	struct kt_check *checks;
	size_t n;
	/* A guest of @arch (the kernel's; without one, this machine's) can
	 * boot here, under TCG at least: no check for it is MISSING. */
	bool ok;
	enum kt_arch arch;
	/* What its run would use: KVM when its probe passed and it booted
	 * the kernel, TCG when either failed or there is no usable
	 * /dev/kvm, AUTO when that is not known (no kernel named, or not
	 * tried yet). */
	enum kt_accel accel;
};

struct kt_host_opts {
	/* The kernel a run would boot (a file or a build tree); NULL: none
	 * known, this machine's architecture is checked. */
	const char *kernel;
	/* The QEMU program for the kernel's architecture; NULL: each
	 * architecture's from PATH. */
	const char *qemu;
	/* Ask KVM again instead of reading what is remembered: the probe,
	 * and with a kernel a boot of it under KVM (what it finds is kept,
	 * as a run's would be).  Needs @blobs for the boot's busybox. */
	bool probe;
	const struct kt_blob_table *blobs;	/* what is embedded; NULL: none */
	struct kt_cache *cache;	/* NULL: kt_cache__open(), its failure reported */
	struct kt_log log;
	volatile sig_atomic_t *stop;
};

/*
 * Looks at everything a run needs, without running a guest (unless
 * @o->probe with a kernel) and without writing anything but the cache
 * folder's verdicts and vmlinux.  0 with a report to free with
 * kt_host_report__free(), whatever it finds; -ENOMEM, or -EINTR when
 * @o->stop is set.
 */
int kt_host_check(const struct kt_host_opts *o, struct kt_host_report **out,
		  struct kt_err *err);
void kt_host_report__free(struct kt_host_report *r);

#ifdef __cplusplus
}
#endif

#endif
