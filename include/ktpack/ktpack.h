/* ktpack/ktpack.h - libktpack, everything: include this one header.
 *
 * libktpack carries helper binaries (wprof, busybox, its own guest init)
 * for guest VMs: it installs embedded blobs into a private cache folder
 * (extract.h, cache.h), configures wprof (wprof.h), finds ELF closures
 * (elfdeps.h, elfinfo.h, ldcache.h), writes initramfs archives (cpio.h,
 * initramfs.h), and boots a kernel under QEMU with a command and brings
 * back its status and trace (vm.h, run.h).  A call that can fail returns
 * 0 or a negative errno (a pointer call NULL and errno), most with a
 * struct kt_err that says what failed; none prints or exits (see
 * common.h).  The README is the contract.
 */
#ifndef KTPACK_KTPACK_H
#define KTPACK_KTPACK_H

#define KTPACK_VERSION_MAJOR	0
#define KTPACK_VERSION_MINOR	2
#define KTPACK_VERSION_PATCH	0
#define KTPACK_VERSION		"0.2.0"

#include <ktpack/common.h>
#include <ktpack/accel.h>
#include <ktpack/arch.h>
#include <ktpack/blob.h>
#include <ktpack/cache.h>
#include <ktpack/extract.h>
#include <ktpack/wprof.h>
#include <ktpack/vmconfig.h>
#include <ktpack/elfinfo.h>
#include <ktpack/ldcache.h>
#include <ktpack/elfdeps.h>
#include <ktpack/cpio.h>
#include <ktpack/initramfs.h>
#include <ktpack/modules.h>
#include <ktpack/kconfig.h>
#include <ktpack/channel.h>
#include <ktpack/vm.h>
#include <ktpack/run.h>
#include <ktpack/host.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library linked in: KTPACK_VERSION when it was built. */
const char *kt_version(void);

#ifdef __cplusplus
}
#endif

#endif
