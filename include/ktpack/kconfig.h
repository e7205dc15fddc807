/* ktpack/kconfig.h - the kernel's configuration for the guest's
 * /boot/config-<release>, where tools (bpftool feature probe) read it:
 * found in the kernel's build tree, beside the kernel, in the host's
 * /boot, or embedded in the image (see the README, "Kernel config"). */
#ifndef KTPACK_KCONFIG_H
#define KTPACK_KCONFIG_H

#include <stddef.h>

#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A config is a few hundred KB; nothing larger is taken. */
#define KT_KCONFIG_MAX		(4u << 20)
/* Where the guest finds it: this, then the kernel's release. */
#define KT_KCONFIG_GUEST	"/boot/config-"

/*
 * The config the kernel image in @buf (@len bytes) embeds when it was
 * built with CONFIG_IKCONFIG: the marker "IKCFG_ST", then a gzip stream,
 * inflated (zlib) into a new NUL-terminated buffer in *@out that the
 * caller frees, its size in *@outlen.  -ENOENT when it holds none (a
 * compressed image hides it), -EINVAL when the stream after every marker
 * is corrupt, -EFBIG past KT_KCONFIG_MAX, -ENOMEM.
 */
int kt_kconfig_embedded(const void *buf, size_t len, char **out, size_t *outlen);

/*
 * The config of the kernel @kernel (a file or a build tree, as
 * kt_kernel_resolve takes it) whose release is @release ("" when
 * unknown), the first found of:
 *   - the build tree's .config, when @kernel is a folder;
 *   - config-<release> beside the kernel file (its links followed);
 *   - /boot/config-<release>;
 *   - the config embedded in @image (kt_kconfig_embedded), the
 *     uncompressed kernel that boots (NULL: none).
 * A file is read only when no other user could have put it there or
 * changed it: its folder passes the cache folder's checks (from / without
 * a link, each component changeable by root or this user only), and it is
 * a regular file, no link, owned by root or this user, writable by no one
 * else; one that exists and fails them is skipped with a warning on @log.
 * 0 with a new NUL-terminated buffer in *@out (the caller frees it), its
 * size in *@len and where it came from in @from; -ENOENT when there is
 * none; -ENOMEM.
 */
int kt_kconfig_find(const char *kernel, const char *release, const char *image,
		    const struct kt_log *log, char **out, size_t *len, char *from,
		    size_t fromsz);

#ifdef __cplusplus
}
#endif

#endif
