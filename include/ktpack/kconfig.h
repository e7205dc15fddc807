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

/*
 * Where kt_kconfig_find() looks for the config of @kernel with the same
 * @release and @image, in its order, for a message that says so:
 * "'/k/config-6.1.0' and '/boot/config-6.1.0'".  A new string the
 * caller frees; NULL when out of memory.
 */
char *kt_kconfig_places(const char *kernel, const char *release, const char *image);

/* A line of a config longer than this is refused: no value comes near. */
#define KT_KCONFIG_LINE_MAX	16384

/* A kernel's .config, parsed. */
struct kt_kconfig;

/*
 * Parses the @len bytes of a kernel .config at @text (untrusted: any
 * bytes); @from says where they came from, for messages and
 * kt_kconfig__from().  As the kernel's own reader (scripts/kconfig/
 * confdata.c) does, a line "CONFIG_X=value" sets X and
 * "# CONFIG_X is not set" unsets it, a later line wins, a trailing CR is
 * dropped, and every other line is passed over.  -EINVAL, with @err
 * naming the line, for a line over KT_KCONFIG_LINE_MAX bytes or a
 * value holding a control byte; -EFBIG past KT_KCONFIG_MAX; -ENOMEM.
 * Free *@out with kt_kconfig__free().
 */
int kt_kconfig__parse(const char *text, size_t len, const char *from, struct kt_kconfig **out,
		      struct kt_err *err);
void kt_kconfig__free(struct kt_kconfig *c);
/* Where the config came from, as given to kt_kconfig__parse(). */
const char *kt_kconfig__from(const struct kt_kconfig *c);
/*
 * The value of @name ("CONFIG_BPF"; the prefix may be left out) as the
 * file has it: "y", "m", a number, a string with its quotes; NULL when it
 * is not set or not there at all (which Kconfig reads as n).
 */
const char *kt_kconfig__value(const struct kt_kconfig *c, const char *name);

/*
 * Checks the form of a requirement: CONFIG_NAME (built in or a module),
 * CONFIG_NAME=y (built in) or CONFIG_NAME=m (a module), NAME of A-Z, 0-9
 * and _, the prefix CONFIG_ optional.  -EINVAL with @err saying the form
 * otherwise.
 */
int kt_kconfig_spec_check(const char *spec, struct kt_err *err);
/*
 * Whether @c meets the requirement @spec (see kt_kconfig_spec_check()).
 * 0 when it does; -ENOENT when it does not, with @err saying what the
 * config has, to follow "the kernel 6.1.0": "has no CONFIG_X (not set
 * in FROM)", "has CONFIG_X=m (in FROM), not built in"; -EINVAL for a
 * spec of another form.
 */
int kt_kconfig__require(const struct kt_kconfig *c, const char *spec, struct kt_err *err);

/* The configs a tracing user asks about first, NULL-terminated:
 * CONFIG_SCHED_CLASS_EXT, CONFIG_BPF_SYSCALL, CONFIG_DEBUG_INFO_BTF, ... */
const char *const *kt_kconfig_tracing(void);

#ifdef __cplusplus
}
#endif

#endif
