/* cpio.h - a writer of "newc" cpio archives (the kernel's initramfs format),
 * straight or through gzip or zstd.  Output is a pure function of the calls
 * made: no host uid, time or inode number leaks into it. */
#ifndef KTPACK_CPIO_H
#define KTPACK_CPIO_H

#include <stddef.h>
#include <stdint.h>

#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* newc's filesize field is 32 bits wide. */
#define KT_CPIO_MAX_FILE	0xffffffffULL

enum kt_compress {
	KT_COMPRESS_NONE,
	KT_COMPRESS_GZIP,
	KT_COMPRESS_ZSTD,
};

/* "none", "gzip", "zstd" -> 0, or -EINVAL. */
int kt_compress_parse(const char *s, enum kt_compress *out);

struct kt_cpio;

/*
 * A writer appending to @fd (which it does not close).  Every entry gets
 * uid/gid 0, mtime @mtime and the next inode number, from 1.  Names are
 * archive names: relative ("bin/sh"), no "..", not empty.
 */
int kt_cpio__new(int fd, enum kt_compress c, uint32_t mtime, struct kt_cpio **out);
void kt_cpio__free(struct kt_cpio *w);

int kt_cpio__add_dir(struct kt_cpio *w, const char *name, uint32_t mode);
int kt_cpio__add_symlink(struct kt_cpio *w, const char *name, const char *target);
/* A character or block device node; @mode includes S_IFCHR or S_IFBLK. */
int kt_cpio__add_node(struct kt_cpio *w, const char *name, uint32_t mode,
		      uint32_t major, uint32_t minor);
int kt_cpio__add_data(struct kt_cpio *w, const char *name, uint32_t mode,
		      const void *buf, size_t len);
/*
 * @size bytes from @src_fd's current position; copy_file_range or sendfile
 * when the archive is not compressed.  -EIO when the file ends early.
 */
int kt_cpio__add_file(struct kt_cpio *w, const char *name, uint32_t mode,
		      int src_fd, uint64_t size);
/* Writes the trailer, pads to 512 bytes and flushes the compressor. */
int kt_cpio__finish(struct kt_cpio *w);

/* 0 when @name may be an archive name, else -EINVAL. */
int kt_cpio_check_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif
