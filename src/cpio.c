/* cpio.c - newc writer (see cpio.h).
 *
 * Layout per entry: "070701", 13 eight-digit hex fields, the name and its
 * NUL padded to 4 bytes (counting the 110-byte header), the data padded to
 * 4 bytes.  The archive ends with a "TRAILER!!!" entry and is padded to a
 * multiple of 512 bytes.
 */
#include <ktpack/cpio.h>

#include "internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define NEWC_MAGIC	"070701"
#define NEWC_HDR	110
#define CHUNK		(256u << 10)

struct kt_cpio {
	int fd;
	enum kt_compress kind;
	uint32_t mtime;
	uint32_t next_ino;
	uint64_t off;		/* archive bytes so far, before compression */
	z_stream z;
	bool z_init;
	ZSTD_CCtx *zc;
	unsigned char *buf;	/* compressor output, then read buffer */
	unsigned char *in;
};

int kt_compress_parse(const char *s, enum kt_compress *out)
{
	static const char *const names[] = { "none", "gzip", "zstd" };
	int i = kt_name_index(names, KT_ARRAY_SIZE(names), s);

	if (i < 0)
		return i;
	*out = (enum kt_compress)i;
	return 0;
}

int kt_cpio_check_name(const char *name)
{
	const char *p = name;

	/* The trailer's name would end the archive there. */
	if (!*name || *name == '/' || !strcmp(name, "TRAILER!!!"))
		return -EINVAL;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (!l || (l == 2 && p[0] == '.' && p[1] == '.') ||
		    (l == 1 && p[0] == '.'))
			return -EINVAL;
		p += l + (e ? 1 : 0);
		if (e && !*p)
			return -EINVAL;	/* trailing slash */
	}
	return 0;
}

/* ---- output ---------------------------------------------------------------- */

static int cpio_out_raw(struct kt_cpio *w, const void *buf, size_t len)
{
	return kt_write_all(w->fd, buf, len);
}

static int cpio_deflate(struct kt_cpio *w, const void *buf, size_t len, int flush)
{
	w->z.next_in = (Bytef *)(uintptr_t)buf;
	w->z.avail_in = (uInt)len;
	do {
		int zr, r;

		w->z.next_out = w->buf;
		w->z.avail_out = CHUNK;
		zr = deflate(&w->z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		r = cpio_out_raw(w, w->buf, CHUNK - w->z.avail_out);
		if (r)
			return r;
		if (flush == Z_FINISH && zr == Z_STREAM_END)
			return 0;
	} while (w->z.avail_out == 0 || w->z.avail_in || flush == Z_FINISH);
	return 0;
}

static int cpio_zstd(struct kt_cpio *w, const void *buf, size_t len, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	size_t left;

	do {
		ZSTD_outBuffer out = { w->buf, CHUNK, 0 };
		int r;

		left = ZSTD_compressStream2(w->zc, &out, &in, end);
		if (ZSTD_isError(left))
			return -EIO;
		r = cpio_out_raw(w, w->buf, out.pos);
		if (r)
			return r;
	} while (end == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

static int cpio_put(struct kt_cpio *w, const void *buf, size_t len)
{
	int r;

	if (!len)
		return 0;
	switch (w->kind) {
	case KT_COMPRESS_GZIP:
		r = cpio_deflate(w, buf, len, Z_NO_FLUSH);
		break;
	case KT_COMPRESS_ZSTD:
		r = cpio_zstd(w, buf, len, ZSTD_e_continue);
		break;
	default:
		r = cpio_out_raw(w, buf, len);
	}
	if (!r)
		w->off += len;
	return r;
}

static int cpio_pad(struct kt_cpio *w, unsigned align)
{
	static const char zeros[512];
	size_t n = (size_t)((align - w->off % align) % align);

	return cpio_put(w, zeros, n);
}

/* ---- entries ---------------------------------------------------------------- */

struct kt_newc {
	uint32_t ino, mode, nlink, filesize, rmajor, rminor;
};

static int cpio_header(struct kt_cpio *w, const char *name, const struct kt_newc *h)
{
	char hdr[NEWC_HDR + 1];
	size_t namesize = strlen(name) + 1;
	int r;

	if (namesize > 4096)
		return -ENAMETOOLONG;
	snprintf(hdr, sizeof(hdr),
		 "%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 NEWC_MAGIC,
		 h->ino,		/* c_ino */
		 h->mode,		/* c_mode */
		 0u,			/* c_uid */
		 0u,			/* c_gid */
		 h->nlink,		/* c_nlink */
		 w->mtime,		/* c_mtime */
		 h->filesize,		/* c_filesize */
		 0u, 0u,		/* c_devmajor, c_devminor */
		 h->rmajor, h->rminor,	/* c_rdevmajor, c_rdevminor */
		 (uint32_t)namesize,	/* c_namesize */
		 0u);			/* c_check */
	r = cpio_put(w, hdr, NEWC_HDR);
	if (!r)
		r = cpio_put(w, name, namesize);
	if (!r)
		r = cpio_pad(w, 4);
	return r;
}

static int cpio_entry(struct kt_cpio *w, const char *name, struct kt_newc *h)
{
	if (kt_cpio_check_name(name))
		return -EINVAL;
	h->ino = w->next_ino++;
	return cpio_header(w, name, h);
}

int kt_cpio__add_dir(struct kt_cpio *w, const char *name, uint32_t mode)
{
	struct kt_newc h = { .mode = S_IFDIR | (mode & 07777), .nlink = 2 };

	return cpio_entry(w, name, &h);
}

int kt_cpio__add_symlink(struct kt_cpio *w, const char *name, const char *target)
{
	size_t len = strlen(target);
	struct kt_newc h = {
		.mode = S_IFLNK | 0777, .nlink = 1, .filesize = (uint32_t)len,
	};
	int r;

	if (!len || len >= 4096)
		return -EINVAL;
	r = cpio_entry(w, name, &h);
	if (!r)
		r = cpio_put(w, target, len);
	if (!r)
		r = cpio_pad(w, 4);
	return r;
}

int kt_cpio__add_node(struct kt_cpio *w, const char *name, uint32_t mode,
		      uint32_t major, uint32_t minor)
{
	struct kt_newc h = {
		.mode = mode, .nlink = 1, .rmajor = major, .rminor = minor,
	};

	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		return -EINVAL;
	return cpio_entry(w, name, &h);
}

int kt_cpio__add_data(struct kt_cpio *w, const char *name, uint32_t mode,
		      const void *buf, size_t len)
{
	struct kt_newc h = {
		.mode = S_IFREG | (mode & 07777), .nlink = 1,
		.filesize = (uint32_t)len,
	};
	int r;

	if ((uint64_t)len > KT_CPIO_MAX_FILE)
		return -EFBIG;
	r = cpio_entry(w, name, &h);
	if (!r)
		r = cpio_put(w, buf, len);
	if (!r)
		r = cpio_pad(w, 4);
	return r;
}

/* Straight into the output file, in the kernel: no copy through memory. */
static int cpio_copy_raw(struct kt_cpio *w, int src, uint64_t size)
{
	int r = kt_copy_fd(src, w->fd, size);

	if (!r)
		w->off += size;
	return r;
}

static int cpio_copy_read(struct kt_cpio *w, int src, uint64_t size)
{
	uint64_t done = 0;

	while (done < size) {
		size_t want = size - done > CHUNK ? CHUNK : (size_t)(size - done);
		ssize_t n = read(src, w->in, want);
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		r = cpio_put(w, w->in, (size_t)n);
		if (r)
			return r;
		done += (uint64_t)n;
	}
	return 0;
}

int kt_cpio__add_file(struct kt_cpio *w, const char *name, uint32_t mode,
		      int src_fd, uint64_t size)
{
	struct kt_newc h = {
		.mode = S_IFREG | (mode & 07777), .nlink = 1,
		.filesize = (uint32_t)size,
	};
	int r;

	if (size > KT_CPIO_MAX_FILE)
		return -EFBIG;
	r = cpio_entry(w, name, &h);
	if (r)
		return r;
	/* Everything before is in the file already: a raw archive has no
	 * buffer between cpio_put and the descriptor. */
	r = w->kind == KT_COMPRESS_NONE ? cpio_copy_raw(w, src_fd, size)
					: cpio_copy_read(w, src_fd, size);
	if (!r)
		r = cpio_pad(w, 4);
	return r;
}

int kt_cpio__finish(struct kt_cpio *w)
{
	struct kt_newc h = { .nlink = 1 };
	int r;

	r = cpio_header(w, "TRAILER!!!", &h);
	if (!r)
		r = cpio_pad(w, 512);
	if (!r && w->kind == KT_COMPRESS_GZIP)
		r = cpio_deflate(w, NULL, 0, Z_FINISH);
	if (!r && w->kind == KT_COMPRESS_ZSTD)
		r = cpio_zstd(w, NULL, 0, ZSTD_e_end);
	return r;
}

int kt_cpio__new(int fd, enum kt_compress c, uint32_t mtime, struct kt_cpio **out)
{
	struct kt_cpio *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->kind = c;
	w->mtime = mtime;
	w->next_ino = 1;
	if (c != KT_COMPRESS_NONE) {
		w->buf = malloc(CHUNK);
		w->in = malloc(CHUNK);
		if (!w->buf || !w->in)
			goto nomem;
	}
	if (c == KT_COMPRESS_GZIP) {
		/* windowBits 16 + 15: a gzip stream; its header's mtime is 0. */
		if (deflateInit2(&w->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + 15,
				 8, Z_DEFAULT_STRATEGY) != Z_OK)
			goto nomem;
		w->z_init = true;
	} else if (c == KT_COMPRESS_ZSTD) {
		w->zc = ZSTD_createCCtx();
		if (!w->zc || ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1)))
			goto nomem;
	}
	*out = w;
	return 0;
nomem:
	kt_cpio__free(w);
	return -ENOMEM;
}

void kt_cpio__free(struct kt_cpio *w)
{
	if (!w)
		return;
	if (w->z_init)
		deflateEnd(&w->z);
	ZSTD_freeCCtx(w->zc);
	free(w->buf);
	free(w->in);
	free(w);
}
