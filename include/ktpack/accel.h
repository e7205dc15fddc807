/* ktpack/accel.h - KVM or TCG: which accelerator boots a guest, proven
 * by a probe and by the boot itself, and remembered in the cache folder
 * (see the README, "KVM or TCG"). */
#ifndef KTPACK_ACCEL_H
#define KTPACK_ACCEL_H

#include <signal.h>

#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum kt_accel {
	KT_ACCEL_AUTO,	/* KVM while it proves to work, else TCG */
	KT_ACCEL_KVM,	/* KVM, or a failure */
	KT_ACCEL_TCG,
};

/* "auto", "kvm", "tcg" -> 0, or -EINVAL. */
int kt_accel_parse(const char *s, enum kt_accel *out);
/* "KVM", "TCG", "auto". */
const char *kt_accel_name(enum kt_accel a);

/* The KVM probe must finish by then, or KVM counts as broken. */
#define KT_KVM_PROBE_TIMEOUT_S	10
/* How long a verdict on KVM (the probe's, a boot's) is trusted. */
#define KT_KVM_PROBE_CACHE_S	(24 * 3600)
/*
 * A KVM boot that shows no sign of life (a byte on the console or the
 * channel) by then cannot boot: a working KVM reaches the guest's init in
 * about a second, a nested one under TCG in 4.5 to 5 s (the README, "KVM
 * or TCG", has the figures).  Under --accel auto the run starts again under
 * TCG; under --accel kvm it fails.
 */
#define KT_KVM_LIFE_S		20
/* The same for a KVM boot that has not started init by then (a kernel
 * whose console talks, stuck under a KVM that cannot run it). */
#define KT_KVM_INIT_S		60

/*
 * Whether QEMU can run a guest under KVM here: /dev/kvm must exist and a
 * 512-byte boot sector must run to its end under QEMU (the program at path
 * @qemu) with -accel kvm within KT_KVM_PROBE_TIMEOUT_S.  0 when it does;
 * else -errno with @err saying why (-EIO: QEMU failed under KVM; -ENODEV:
 * no usable /dev/kvm; -ETIMEDOUT; -EINTR when @stop, which may be NULL,
 * was set).  A passing probe does not prove that KVM boots a kernel: the
 * runner's boot does.  Its scratch file goes to a private folder.
 */
int kt_kvm_probe(const char *qemu, volatile sig_atomic_t *stop, struct kt_err *err);

#ifdef __cplusplus
}
#endif

#endif
