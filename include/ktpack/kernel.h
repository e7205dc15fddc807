/* ktpack/kernel.h - kernel images: the x86 bzImage's setup header, its
 * compressed payload, the uncompressed vmlinux inside it and its PVH entry
 * point (which lets QEMU skip the bzImage's self-decompression, half of
 * every boot under TCG), cached like a blob. */
#ifndef KTPACK_KERNEL_H
#define KTPACK_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ktpack/arch.h>
#include <ktpack/cache.h>
#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the payload of a bzImage is compressed with (its magic says). */
enum kt_kcomp {
	KT_KCOMP_NONE,		/* an ELF as it is */
	KT_KCOMP_GZIP,
	KT_KCOMP_XZ,
	KT_KCOMP_ZSTD,
	KT_KCOMP_LZ4,		/* lz4's legacy frame, as the kernel makes it */
	KT_KCOMP_BZIP2,
	KT_KCOMP_LZMA,
	KT_KCOMP_LZO,		/* recognised, not supported */
	KT_KCOMP_UNKNOWN,
};

/* "gzip", "xz", ... */
const char *kt_kcomp_name(enum kt_kcomp c);

/* What the setup header says, every offset checked against the file. */
struct kt_bzimage {
	uint16_t version;	/* boot protocol, 0x20f for 2.15 */
	uint64_t setup_size;	/* bytes before the protected-mode code */
	uint64_t payload_off;	/* in the file */
	uint64_t payload_len;
	enum kt_kcomp comp;
	char release[65];	/* "6.1.0-56-amd64": the version string's first word */
};

/*
 * Reads the setup header of the bzImage in @buf (@len bytes of the file;
 * @name labels messages).  -ENOEXEC when it is not a bzImage, -EINVAL when
 * a length or offset lies.
 */
int kt_bzimage__parse(const void *buf, size_t len, const char *name,
		      struct kt_bzimage *out, struct kt_err *err);

/*
 * Decompresses @len bytes at @in compressed with @c into @fd, at most
 * @max bytes (a larger result is -EFBIG).  -ENOTSUP for LZO or unknown.
 */
int kt_kernel_decompress(const void *in, size_t len, enum kt_kcomp c, int fd,
			 uint64_t max, struct kt_err *err);

/*
 * Whether the ELF in @buf has the PVH entry point (the Xen ELF note
 * XEN_ELFNOTE_PHYS32_ENTRY) QEMU boots a vmlinux through.  0 with *@entry,
 * -ENOENT when it has none, -ENOEXEC when it is not ELF.
 */
int kt_elf_pvh_entry(const void *buf, size_t len, uint64_t *entry);

/* What a kernel image is for. */
struct kt_kernel_info {
	enum kt_arch arch;
	bool elf;		/* a vmlinux, not a boot image */
	char release[65];	/* "6.1.0-57-arm64"; "" when unknown */
};
/*
 * Recognises the kernel in @buf (@len bytes of the file; @name labels
 * messages): an x86 bzImage (its setup header), an arm64 Image (its
 * header's magic), gzip-compressed or not, or an ELF vmlinux (its
 * machine).  The release comes from the bzImage's version string or the
 * Image's banner.  -ENOEXEC for anything else, -EINVAL for a corrupt one.
 */
int kt_kernel_identify_buf(const void *buf, size_t len, const char *name,
			   struct kt_kernel_info *out, struct kt_err *err);
/* The same for the file @path. */
int kt_kernel_identify(const char *path, struct kt_kernel_info *out, struct kt_err *err);
/* Checks that @path is a kernel QEMU boots: a bzImage, an x86 ELF with a
 * PVH entry, an arm64 Image or ELF, before QEMU says something less
 * clear. */
int kt_kernel_check(const char *path, struct kt_err *err);
/* The same for a file or a build tree, with the kernel's architecture in
 * *@arch (when not NULL). */
int kt_kernel_check_arch(const char *kernel, enum kt_arch *arch, struct kt_err *err);

/* What the runner boots. */
struct kt_kernel_boot {
	char path[4096];	/* the file for QEMU's -kernel */
	int fd;			/* held open (a cached vmlinux), or -1 */
	bool pvh;		/* a vmlinux booted through its PVH entry */
	bool extracted;		/* this call decompressed it (a cold cache) */
	char release[65];	/* from the bzImage, Image or vmlinux; "" when unknown */
	enum kt_arch arch;	/* the kernel's */
};

struct kt_kernel_opts {
	/* Where the vmlinux is cached; NULL: the bzImage is booted. */
	struct kt_cache *cache;
	bool no_pvh;		/* boot the bzImage even when a vmlinux could be */
	/* One line when the bzImage is booted instead, saying why. */
	struct kt_log log;
};

/*
 * Resolves @kernel, a bzImage, a vmlinux ELF, an arm64 Image or a kernel
 * build tree (its vmlinux, else arch/x86/boot/bzImage, else
 * arch/arm64/boot/Image), into what QEMU boots (an arm64 kernel as it
 * is), with its architecture and release.  For x86: the
 * vmlinux inside a bzImage when it has a PVH entry, extracted once and
 * cached under the bzImage's SHA-256 (published as blobs are, old ones
 * pruned), else the bzImage.  Release @b's fd with kt_kernel_boot__close().
 */
int kt_kernel_resolve(const char *kernel, const struct kt_kernel_opts *o,
		      struct kt_kernel_boot *b, struct kt_err *err);
void kt_kernel_boot__close(struct kt_kernel_boot *b);

/* The kind of file a kernel is. */
enum kt_kernel_format {
	KT_KFORMAT_BZIMAGE,	/* an x86 bzImage */
	KT_KFORMAT_VMLINUX,	/* an ELF vmlinux */
	KT_KFORMAT_IMAGE,	/* an arm64 Image, gzip-compressed or not */
};

/* "bzImage", "vmlinux", "Image" */
const char *kt_kernel_format_name(enum kt_kernel_format f);

struct kt_kconfig;

/*
 * What a kernel is and has, before it boots (see kt_kernel_facts()).
 * The library allocates it, so fields may be added at its end.
 */
struct kt_kernel_facts {
	char *file;		/* the kernel file: @kernel, or the one of a build tree */
	char *release;		/* "6.1.0-57-amd64"; "" when unknown */
	enum kt_arch arch;
	enum kt_kernel_format format;
	/* A bzImage's payload's compression (a gzip'd Image's: gzip);
	 * KT_KCOMP_NONE otherwise. */
	enum kt_kcomp comp;
	/* What boots: a vmlinux through its PVH entry (a bzImage's,
	 * extracted into the cache), else the file as it is. */
	bool pvh;
	/* The config kt_kconfig_find() found, parsed (kt_kconfig__from()
	 * says where it came from); NULL when there is none. */
	struct kt_kconfig *config;
	/* Where it was looked for (kt_kconfig_places()). */
	char *looked;
};

/*
 * The facts of @kernel, what kt_run() takes (a bzImage, a vmlinux, an
 * arm64 Image or a build tree), resolved as kt_run() resolves it with @o
 * (kt_kernel_resolve(): with a cache, a bzImage's vmlinux is extracted
 * into it, which also lets the config it embeds be read), with its
 * config found as kt_run() finds the guest's.  A config that cannot be
 * parsed is an error (kt_kconfig__parse()).  Free *@out with
 * kt_kernel_facts__free().
 */
int kt_kernel_facts(const char *kernel, const struct kt_kernel_opts *o,
		    struct kt_kernel_facts **out, struct kt_err *err);
void kt_kernel_facts__free(struct kt_kernel_facts *f);

#ifdef __cplusplus
}
#endif

#endif
