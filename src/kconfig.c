/* kconfig.c - the kernel's configuration (see ktpack/kconfig.h): found
 * for the guest, and parsed to tell what the kernel has.  Reads config
 * files only where no other user could have put them, and the kernel
 * image it is given; a config's text is untrusted. */
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

/* A file kt_kconfig_find() tries: a folder (its links resolved) and a
 * name in it. */
struct kconfig_place {
	char dir[PATH_MAX];
	const char *name;
};

/* The files of @kernel's config, in the order they are tried; @name
 * holds "config-<release>" for them. */
static size_t kconfig_places(const char *kernel, const char *release, char name[NAME_MAX + 1],
			     struct kconfig_place p[2])
{
	char real[PATH_MAX];
	bool named = release && *release &&
		     !kt_snprintf(name, NAME_MAX + 1, "config-%s", release);
	struct stat st;
	size_t n = 0;

	/* (the folders as they are: the trust checks follow no link) */
	if (realpath(kernel, real) && !stat(real, &st)) {
		if (S_ISDIR(st.st_mode)) {
			memcpy(p[n].dir, real, sizeof(real));
			p[n++].name = ".config";
		} else if (named) {
			char *slash = strrchr(real, '/');

			*slash = '\0';
			snprintf(p[n].dir, sizeof(p[n].dir), "%s", *real ? real : "/");
			p[n++].name = name;
		}
	}
	if (named && realpath("/boot", p[n].dir))
		p[n++].name = name;
	return n;
}

int kt_kconfig_find(const char *kernel, const char *release, const char *image,
		    const struct kt_log *log, char **out, size_t *len, char *from,
		    size_t fromsz)
{
	struct kconfig_place p[2];
	char name[NAME_MAX + 1];
	size_t n = kconfig_places(kernel, release, name, p);
	int r = -ENOENT;

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < n && r == -ENOENT; i++)
		r = kconfig_try(p[i].dir, p[i].name, log, out, len, from, fromsz);
	if (r == -ENOENT && image)
		r = kconfig_image(kernel, image, log, out, len, from, fromsz);
	return r;
}

char *kt_kconfig_places(const char *kernel, const char *release, const char *image)
{
	struct kconfig_place p[2];
	char name[NAME_MAX + 1], *s = NULL;
	size_t n = kconfig_places(kernel, release, name, p), sz;
	FILE *f = open_memstream(&s, &sz);

	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s'%s%s%s'", !i ? "" : i + 1 == n && !image ? " and " : ", ", p[i].dir,
			strcmp(p[i].dir, "/") ? "/" : "", p[i].name);
	if (image)
		fprintf(f, "%sthe config embedded in '%s'", n ? " and " : "", kernel);
	if (!n && !image)
		fputs("nothing: the kernel's release is not known", f);
	if (fclose(f)) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- the .config ---------------------------------------------------------------------- */

#define KCONFIG_PREFIX		"CONFIG_"
#define KCONFIG_PREFIX_LEN	(sizeof(KCONFIG_PREFIX) - 1)
#define KCONFIG_UNSET		" is not set"

struct kconfig_sym {
	const char *name;	/* without CONFIG_ */
	const char *value;	/* NULL: not set */
	size_t line;		/* a later line wins */
};

struct kt_kconfig {
	char *from;
	char *buf;		/* the text, each name and value cut in place */
	struct kconfig_sym *v;
	size_t n, cap;
};

/* The length of the symbol name at @p (at most @len bytes). */
static size_t kconfig_name_len(const char *p, size_t len)
{
	size_t n = 0;

	while (n < len && (p[n] == '_' || (p[n] >= 'A' && p[n] <= 'Z') ||
			   (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9')))
		n++;
	return n;
}

static int kconfig_add(struct kt_kconfig *c, const char *name, const char *value, size_t line)
{
	if (kt_grow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v)))
		return -ENOMEM;
	c->v[c->n++] = (struct kconfig_sym){ .name = name, .value = value, .line = line };
	return 0;
}

/*
 * Line @no, @l bytes at @p (a NUL may follow it: the buffer holds one
 * more byte), with its CR dropped.  What is not an assignment or an
 * unset is passed over, as confdata.c does.
 */
static int kconfig_line(struct kt_kconfig *c, char *p, size_t l, size_t no, struct kt_err *err)
{
	size_t n;

	if (l && p[l - 1] == '\r')
		l--;
	if (l > KCONFIG_PREFIX_LEN && !memcmp(p, KCONFIG_PREFIX, KCONFIG_PREFIX_LEN)) {
		char *name = p + KCONFIG_PREFIX_LEN, *value;

		n = kconfig_name_len(name, l - KCONFIG_PREFIX_LEN);
		if (!n || KCONFIG_PREFIX_LEN + n + 1 >= l || name[n] != '=')
			return 0;
		value = name + n + 1;
		/* (what is printed must not drive a terminal: no C0 or C1
		 * control, no bidi override, nothing that is not UTF-8) */
		{
			size_t vl = (size_t)(p + l - value);
			char *shown = malloc(vl + 1);
			bool bad = !shown ||
				   kt_printable(shown, vl + 1, value, vl, true) != vl ||
				   memcmp(shown, value, vl);

			free(shown);
			if (bad)
				return kt_err_set(err, -EINVAL,
						  "%s: line %zu: a control byte in the value of CONFIG_%.*s: not a kernel config",
						  c->from, no, (int)n, name);
		}
		name[n] = '\0';
		p[l] = '\0';
		return kconfig_add(c, name, value, no);
	}
	if (l > 2 + KCONFIG_PREFIX_LEN && !memcmp(p, "# " KCONFIG_PREFIX, 2 + KCONFIG_PREFIX_LEN)) {
		char *name = p + 2 + KCONFIG_PREFIX_LEN;
		size_t rest = l - 2 - KCONFIG_PREFIX_LEN;

		n = kconfig_name_len(name, rest);
		if (!n || rest - n < sizeof(KCONFIG_UNSET) - 1 ||
		    memcmp(name + n, KCONFIG_UNSET, sizeof(KCONFIG_UNSET) - 1))
			return 0;
		name[n] = '\0';
		return kconfig_add(c, name, NULL, no);
	}
	return 0;
}

static int kconfig_cmp(const void *a, const void *b)
{
	const struct kconfig_sym *x = a, *y = b;
	int d = strcmp(x->name, y->name);

	return d ? d : x->line < y->line ? -1 : x->line > y->line;
}

/* Sorted by name for lookups, the last line of each name kept. */
static void kconfig_index(struct kt_kconfig *c)
{
	size_t k = 0;

	if (c->n)
		qsort(c->v, c->n, sizeof(*c->v), kconfig_cmp);
	for (size_t i = 0; i < c->n; i++) {
		if (k && !strcmp(c->v[k - 1].name, c->v[i].name))
			k--;
		c->v[k++] = c->v[i];
	}
	c->n = k;
}

int kt_kconfig__parse(const char *text, size_t len, const char *from, struct kt_kconfig **out,
		      struct kt_err *err)
{
	struct kt_kconfig *c;
	size_t no = 0;
	char *p, *end;
	int r = 0;

	*out = NULL;
	if (len > KT_KCONFIG_MAX)
		return kt_err_set(err, -EFBIG, "%s: larger than a kernel config (%u MiB)", from,
				  KT_KCONFIG_MAX >> 20);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->from = strdup(from)) || !(c->buf = malloc(len + 1))) {
		kt_kconfig__free(c);
		return kt_err_set(err, -ENOMEM, "out of memory");
	}
	if (len)
		memcpy(c->buf, text, len);
	c->buf[len] = '\0';
	for (p = c->buf, end = c->buf + len; !r && p < end; ) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (l > KT_KCONFIG_LINE_MAX)
			r = kt_err_set(err, -EINVAL, "%s: line %zu is over %u bytes: not a kernel config",
				       from, no + 1, KT_KCONFIG_LINE_MAX);
		else
			r = kconfig_line(c, p, l, ++no, err);
		p += l + 1;
	}
	if (r == -ENOMEM)
		kt_err_set(err, r, "out of memory");
	if (r) {
		kt_kconfig__free(c);
		return r;
	}
	kconfig_index(c);
	*out = c;
	return 0;
}

void kt_kconfig__free(struct kt_kconfig *c)
{
	if (!c)
		return;
	free(c->v);
	free(c->buf);
	free(c->from);
	free(c);
}

const char *kt_kconfig__from(const struct kt_kconfig *c)
{
	return c->from;
}

/* The symbol @name (@len bytes, without CONFIG_), or NULL. */
static const struct kconfig_sym *kconfig_lookup(const struct kt_kconfig *c, const char *name,
						size_t len)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *s = c->v[mid].name;
		int d = strncmp(name, s, len);

		if (!d && s[len])
			d = -1;	/* @name is a prefix of s */
		if (!d)
			return &c->v[mid];
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *kt_kconfig__value(const struct kt_kconfig *c, const char *name)
{
	const struct kconfig_sym *s;

	if (!strncmp(name, KCONFIG_PREFIX, KCONFIG_PREFIX_LEN))
		name += KCONFIG_PREFIX_LEN;
	s = kconfig_lookup(c, name, strlen(name));
	return s ? s->value : NULL;
}

/* The name of @spec (without CONFIG_) and what it asks: 'y', 'm' or 0
 * (either). */
static int kconfig_spec(const char *spec, const char **name, size_t *len, char *want,
			struct kt_err *err)
{
	const char *p = strncmp(spec, KCONFIG_PREFIX, KCONFIG_PREFIX_LEN) ? spec :
			spec + KCONFIG_PREFIX_LEN;
	size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

	if (!n || (p[n] && strcmp(p + n, "=y") && strcmp(p + n, "=m")))
		return kt_err_set(err, -EINVAL,
				  "'%s' is not a config requirement: expected CONFIG_NAME, CONFIG_NAME=y or CONFIG_NAME=m (NAME of A-Z, 0-9 and _)",
				  spec);
	*name = p;
	*len = n;
	*want = p[n] ? p[n + 1] : 0;
	return 0;
}

int kt_kconfig_spec_check(const char *spec, struct kt_err *err)
{
	const char *name;
	size_t len;
	char want;

	return kconfig_spec(spec, &name, &len, &want, err);
}

int kt_kconfig__require(const struct kt_kconfig *c, const char *spec, struct kt_err *err)
{
	const struct kconfig_sym *s;
	const char *name, *v;
	size_t len;
	char want;
	bool ym;
	int r = kconfig_spec(spec, &name, &len, &want, err);

	if (r)
		return r;
	s = kconfig_lookup(c, name, len);
	v = s ? s->value : NULL;
	if (!v)
		return kt_err_set(err, -ENOENT, "has no CONFIG_%.*s (not set in %s)", (int)len, name,
				  c->from);
	ym = !strcmp(v, "y") || !strcmp(v, "m");
	if (ym && (!want || v[0] == want))
		return 0;
	return kt_err_set(err, -ENOENT, "has CONFIG_%.*s=%s (in %s), %s", (int)len, name, v,
			  c->from, !ym ? "neither y nor m" : want == 'y' ? "not built in" :
			  "not as a module");
}

const char *const *kt_kconfig_tracing(void)
{
	static const char *const names[] = {
		"CONFIG_SCHED_CLASS_EXT", "CONFIG_BPF_SYSCALL", "CONFIG_DEBUG_INFO_BTF",
		"CONFIG_FTRACE", "CONFIG_KPROBES", "CONFIG_VIRTIO_CONSOLE", "CONFIG_KVM_GUEST",
		NULL,
	};

	return names;
}
