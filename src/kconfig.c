/* kconfig.c - the kernel's configuration for the guest (see
 * ktpack/kconfig.h).  Reads config files only where no other user could
 * have put them, and the kernel image it is given. */
#include <ktpack/kconfig.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

/* kernel/configs.c: the gzip'd .config follows this marker. */
#define IKCFG_ST	"IKCFG_ST"
#define IKCFG_ST_LEN	(sizeof(IKCFG_ST) - 1)
/* The largest image read for its embedded config (kernel.c's bound on
 * a vmlinux). */
#define KCONFIG_IMAGE_MAX	(1ULL << 30)

/* Inflates the gzip stream at the start of @in, growing the buffer up to
 * KT_KCONFIG_MAX; -EINVAL unless the stream is whole. */
static int kconfig_inflate(const unsigned char *in, size_t len, char **out, size_t *outlen)
{
	size_t cap = 64u << 10, n = 0;
	char *buf = malloc(cap + 1);
	z_stream z = { 0 };
	int zr = Z_OK, r = 0;

	if (!buf || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
	while (zr != Z_STREAM_END) {
		if (n == cap) {
			char *nb;

			if (cap >= KT_KCONFIG_MAX) {
				r = -EFBIG;
				break;
			}
			cap = cap * 2 > KT_KCONFIG_MAX ? KT_KCONFIG_MAX : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		z.next_out = (Bytef *)buf + n;
		z.avail_out = (uInt)(cap - n);
		zr = inflate(&z, Z_NO_FLUSH);
		n = cap - z.avail_out;
		/* (Z_BUF_ERROR: the input ended before the stream did) */
		if (zr != Z_OK && zr != Z_STREAM_END) {
			r = zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
			break;
		}
	}
	inflateEnd(&z);
	if (r) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

int kt_kconfig_embedded(const void *buf, size_t len, char **out, size_t *outlen)
{
	const unsigned char *p = buf, *m;
	size_t off = 0;
	int r = -ENOENT;

	/* The marker's bytes may occur elsewhere: each is tried. */
	while (off < len && (m = memmem(p + off, len - off, IKCFG_ST, IKCFG_ST_LEN))) {
		off = (size_t)(m - p) + IKCFG_ST_LEN;
		r = kconfig_inflate(p + off, len - off, out, outlen);
		if (r != -EINVAL)
			return r;
	}
	return r;
}

/*
 * Opens @name in the folder @dir when no other user could have put it
 * there or changed it.  -ENOENT when it is not there; else -errno with
 * @why.
 */
static int kconfig_open(const char *dir, const char *name, int *fd, char *why, size_t sz)
{
	char reason[512];
	struct stat st;
	int dfd, f, r;

	r = kt_dir_trusted(dir, &dfd, reason, sizeof(reason));
	if (r) {
		char path[PATH_MAX];

		/* an untrusted folder matters only when the file is there */
		if (r == -ENOENT || kt_snprintf(path, sizeof(path), "%s/%s", dir, name) ||
		    lstat(path, &st))
			return -ENOENT;
		snprintf(why, sz, "its folder cannot be trusted: %s", reason);
		return r;
	}
	f = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	r = f < 0 ? -errno : 0;
	close(dfd);
	if (r == -ENOENT)
		return r;
	if (r) {
		snprintf(why, sz, "%s", r == -ELOOP ? "it is a symlink" : strerror(-r));
		return r;
	}
	if (fstat(f, &st)) {
		r = -errno;
		snprintf(why, sz, "%s", strerror(-r));
	} else {
		const char *bad = !S_ISREG(st.st_mode) ? "it is not a regular file" :
				  st.st_uid != 0 && st.st_uid != geteuid() ? "it is owned by another user" :
				  (st.st_mode & (S_IWGRP | S_IWOTH)) ? "it is writable by other users" :
				  (uint64_t)st.st_size > KT_KCONFIG_MAX ? "it is too large for a config" :
				  NULL;

		if (bad) {
			r = -EPERM;
			snprintf(why, sz, "%s", bad);
		}
	}
	if (r) {
		close(f);
		return r;
	}
	fcntl(f, F_SETFL, 0);
	*fd = f;
	return 0;
}

/* The whole of @fd, at most @max bytes, NUL-terminated. */
static int kconfig_read(int fd, uint64_t max, char **out, size_t *len)
{
	struct stat st;
	ssize_t n;
	char *buf;

	if (fstat(fd, &st))
		return -errno;
	if (st.st_size < 0 || (uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	n = kt_pread_full(fd, buf, (size_t)st.st_size, 0);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* @dir/@name as the config, when it is there and trusted: 0, -ENOENT
 * (a file that is there and is refused is said on @log), -ENOMEM. */
static int kconfig_try(const char *dir, const char *name, const struct kt_log *log,
		       char **out, size_t *len, char *from, size_t fromsz)
{
	char path[PATH_MAX], why[600];
	int fd, r;

	if (kt_snprintf(path, sizeof(path), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name))
		return -ENOENT;
	r = kconfig_open(dir, name, &fd, why, sizeof(why));
	if (r == -ENOENT)
		return r;
	if (!r) {
		r = kconfig_read(fd, KT_KCONFIG_MAX, out, len);
		close(fd);
		if (r == -ENOMEM)
			return r;
		if (r)
			snprintf(why, sizeof(why), "%s", strerror(-r));
	}
	if (r) {
		kt_log(log, KT_LOG_WARN, "ignoring the kernel config '%s': %s", path, why);
		return -ENOENT;
	}
	kt_snprintf_cut(from, fromsz, "%s", path);
	return 0;
}

/* The config embedded in the image @image (of the kernel @kernel). */
static int kconfig_image(const char *kernel, const char *image, const struct kt_log *log,
			 char **out, size_t *len, char *from, size_t fromsz)
{
	char *buf = NULL;
	size_t blen = 0;
	int fd, r;

	if (kt_open_regular(image, "kernel", &fd, NULL))
		return -ENOENT;
	r = kconfig_read(fd, KCONFIG_IMAGE_MAX, &buf, &blen);
	close(fd);
	if (!r)
		r = kt_kconfig_embedded(buf, blen, out, len);
	free(buf);
	if (r == -ENOMEM || r == -ENOENT)
		return r;
	if (r) {
		kt_log(log, KT_LOG_WARN, "ignoring the config embedded in the kernel '%s': %s", kernel,
		       r == -EINVAL ? "its gzip stream is corrupt" : strerror(-r));
		return -ENOENT;
	}
	kt_snprintf_cut(from, fromsz, "the config embedded in '%s'", kernel);
	return 0;
}

int kt_kconfig_find(const char *kernel, const char *release, const char *image,
		    const struct kt_log *log, char **out, size_t *len, char *from,
		    size_t fromsz)
{
	char real[PATH_MAX], name[NAME_MAX + 1];
	bool named = release && *release &&
		     !kt_snprintf(name, sizeof(name), "config-%s", release);
	struct stat st;
	int r = -ENOENT;

	*out = NULL;
	*len = 0;
	/* (the folders as they are: the trust checks follow no link) */
	if (realpath(kernel, real) && !stat(real, &st)) {
		if (S_ISDIR(st.st_mode)) {
			r = kconfig_try(real, ".config", log, out, len, from, fromsz);
		} else if (named) {
			char *slash = strrchr(real, '/');

			*slash = '\0';
			r = kconfig_try(*real ? real : "/", name, log, out, len, from, fromsz);
		}
	}
	if (r == -ENOENT && named && realpath("/boot", real))
		r = kconfig_try(real, name, log, out, len, from, fromsz);
	if (r == -ENOENT && image)
		r = kconfig_image(kernel, image, log, out, len, from, fromsz);
	return r;
}
