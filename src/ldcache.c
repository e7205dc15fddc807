/* ldcache.c - glibc's ld.so.cache reader (see ldcache.h).
 *
 * No library reads this file (it is glibc-private), so it is parsed here,
 * from the layout in glibc's elf/dl-cache.h: a 48-byte header, nlibs
 * 24-byte entries, then strings; string offsets count from the start of the
 * new-format header.  A file may start with the old "ld.so-1.7.0" table,
 * with the new one after it, 8-byte aligned.
 */
#include <ktpack/ldcache.h>

#include "internal.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OLD_MAGIC	"ld.so-1.7.0"
#define NEW_MAGIC	"glibc-ld.so.cache1.1"
#define OLD_HDR_SIZE	16	/* magic[11], pad, uint32 nlibs */
#define OLD_ENTRY_SIZE	12
#define NEW_HDR_SIZE	48
#define NEW_ENTRY_SIZE	24
#define NEW_ALIGN	8

/* Header byte 28: ldconfig records the byte order since glibc 2.33. */
#define ENDIAN_UNSET	0
#define ENDIAN_LITTLE	2
#define ENDIAN_BIG	3

/* From dl-cache.h: the low byte says "ELF, libc6", the next the ABI. */
#define FLAG_ELF_LIBC6		0x0003
#define FLAG_SPARC_LIB64	0x0100
#define FLAG_IA64_LIB64		0x0200
#define FLAG_X8664_LIB64	0x0300
#define FLAG_S390_LIB64		0x0400
#define FLAG_POWERPC_LIB64	0x0500
#define FLAG_AARCH64_LIB64	0x0a00
#define FLAG_RISCV_FLOAT_ABI_DOUBLE 0x1000

struct kt_ldentry {
	uint32_t flags;
	const char *key;
	const char *value;
	uint64_t hwcap;
	size_t order;		/* position in the file */
};

struct kt_ldcache {
	char *data;
	size_t size;
	struct kt_ldentry *e;	/* sorted by key, then file order */
	size_t n;
};

static int ldcache_cmp_entry(const void *a, const void *b)
{
	const struct kt_ldentry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static uint32_t ldcache_u32(const unsigned char *p, bool big)
{
	return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
		   : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t ldcache_u64(const unsigned char *p, bool big)
{
	uint64_t lo = ldcache_u32(p, big), hi = ldcache_u32(p + 4, big);

	return big ? lo << 32 | hi : hi << 32 | lo;
}

void kt_ldcache__free(struct kt_ldcache *c)
{
	if (!c)
		return;
	free(c->data);
	free(c->e);
	free(c);
}

size_t kt_ldcache__count(const struct kt_ldcache *c)
{
	return c->n;
}

/* A NUL-terminated string at @off of the new-format area. */
static const char *ldcache_str(const char *base, size_t len, uint32_t off)
{
	if (off >= len || !memchr(base + off, '\0', len - off))
		return NULL;
	return base + off;
}

static int ldcache_bad(struct kt_err *err, const char *name, const char *why)
{
	return kt_err_set(err, -EINVAL, "'%s': corrupt ld.so.cache: %s", name, why);
}

/* Where the new-format header starts: at 0, or after the old table. */
static int ldcache_new_offset(const void *buf, size_t len, const char *name,
			      size_t *off, struct kt_err *err)
{
	*off = 0;
	if (len > KT_LDCACHE_MAX_SIZE)
		return ldcache_bad(err, name, "too large");
	if (len >= OLD_HDR_SIZE && !memcmp(buf, OLD_MAGIC, strlen(OLD_MAGIC))) {
		uint32_t n = ldcache_u32((const unsigned char *)buf + 12, false);

		/* The old table is only skipped; its size is bounded first. */
		if (n > (len - OLD_HDR_SIZE) / OLD_ENTRY_SIZE)
			return ldcache_bad(err, name, "old table out of bounds");
		*off = OLD_HDR_SIZE + (size_t)n * OLD_ENTRY_SIZE;
		*off = (*off + NEW_ALIGN - 1) & ~(size_t)(NEW_ALIGN - 1);
	}
	if (*off > len || len - *off < NEW_HDR_SIZE ||
	    memcmp((const char *)buf + *off, NEW_MAGIC, strlen(NEW_MAGIC)))
		return kt_err_set(err, -ENOEXEC,
				  "'%s': not a glibc-ld.so.cache1.1 file", name);
	return 0;
}

/* The entries of the new-format area @hdr (@area bytes), every string
 * offset checked. */
static int ldcache_entries(struct kt_ldcache *c, const unsigned char *hdr, size_t area,
			   const char *name, struct kt_err *err)
{
	size_t nlibs;
	bool big;

	switch (hdr[28]) {
	case ENDIAN_UNSET:
	case ENDIAN_LITTLE:
		big = false;
		break;
	case ENDIAN_BIG:
		big = true;
		break;
	default:
		return ldcache_bad(err, name, "unknown byte order");
	}
	nlibs = ldcache_u32(hdr + 20, big);
	if (nlibs > (area - NEW_HDR_SIZE) / NEW_ENTRY_SIZE)
		return ldcache_bad(err, name, "entry count out of bounds");
	c->e = calloc(nlibs ? nlibs : 1, sizeof(*c->e));
	if (!c->e)
		return kt_err_set(err, -ENOMEM, "'%s': out of memory", name);
	for (size_t i = 0; i < nlibs; i++) {
		const unsigned char *p = hdr + NEW_HDR_SIZE + i * NEW_ENTRY_SIZE;
		struct kt_ldentry *e = &c->e[i];

		e->flags = ldcache_u32(p, big);
		e->key = ldcache_str((const char *)hdr, area, ldcache_u32(p + 4, big));
		e->value = ldcache_str((const char *)hdr, area, ldcache_u32(p + 8, big));
		e->hwcap = ldcache_u64(p + 16, big);
		e->order = i;
		if (!e->key || !e->value)
			return ldcache_bad(err, name, "string offset out of bounds");
	}
	c->n = nlibs;
	return 0;
}

int kt_ldcache__parse(const void *buf, size_t len, const char *name,
		      struct kt_ldcache **out, struct kt_err *err)
{
	struct kt_ldcache *c;
	size_t off;
	int r;

	r = ldcache_new_offset(buf, len, name, &off, err);
	if (r)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->data = malloc(len ? len : 1))) {
		free(c);
		return kt_err_set(err, -ENOMEM, "'%s': out of memory", name);
	}
	memcpy(c->data, buf, len);
	c->size = len;
	r = ldcache_entries(c, (const unsigned char *)c->data + off, len - off, name, err);
	if (r) {
		kt_ldcache__free(c);
		return r;
	}
	/* Looked up by name many times per closure: sort once. */
	qsort(c->e, c->n, sizeof(*c->e), ldcache_cmp_entry);
	*out = c;
	return 0;
}

int kt_ldcache__open(const char *path, struct kt_ldcache **out,
		     struct kt_err *err)
{
	struct stat st;
	char *buf = NULL;
	ssize_t got;
	int fd, r;

	r = kt_open_regular(path, "", &fd, err);
	if (r == -EINVAL)
		return ldcache_bad(err, path, "not a regular file of a sane size");
	if (r)
		return r;
	if (fstat(fd, &st)) {
		r = kt_err_set(err, -errno, "cannot stat '%s': %s", path,
			       strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size > KT_LDCACHE_MAX_SIZE) {
		r = ldcache_bad(err, path, "not a regular file of a sane size");
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = kt_err_set(err, -ENOMEM, "'%s': out of memory", path);
		goto out;
	}
	got = kt_pread_full(fd, buf, (size_t)st.st_size, 0);
	if (got < 0) {
		r = kt_err_set(err, (int)got, "cannot read '%s': %s", path,
			       strerror((int)-got));
		goto out;
	}
	r = kt_ldcache__parse(buf, (size_t)got, path, out, err);
out:
	free(buf);
	close(fd);
	return r;
}

const char *kt_ldcache__lookup(const struct kt_ldcache *c, const char *soname,
			       uint32_t flags)
{
	size_t lo = 0, hi = c ? c->n : 0;

	while (lo < hi) {		/* the first entry with this key */
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->e[mid].key, soname) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < (c ? c->n : 0) && !strcmp(c->e[i].key, soname); i++) {
		const struct kt_ldentry *e = &c->e[i];

		/* hwcap != 0 marks a glibc-hwcaps (or legacy hwcap) copy
		 * chosen for the host CPU; the guest gets the baseline. */
		if (e->flags == flags && !e->hwcap)
			return e->value;
	}
	return NULL;
}

uint32_t kt_ldcache_flags(uint8_t ei_class, uint16_t machine)
{
	static const struct { uint8_t cls; uint16_t mach; uint32_t flags; } map[] = {
		{ ELFCLASS64, EM_X86_64, FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 },
		{ ELFCLASS64, EM_AARCH64, FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64 },
		{ ELFCLASS64, EM_PPC64, FLAG_ELF_LIBC6 | FLAG_POWERPC_LIB64 },
		{ ELFCLASS64, EM_S390, FLAG_ELF_LIBC6 | FLAG_S390_LIB64 },
		{ ELFCLASS64, EM_SPARCV9, FLAG_ELF_LIBC6 | FLAG_SPARC_LIB64 },
		{ ELFCLASS64, EM_IA_64, FLAG_ELF_LIBC6 | FLAG_IA64_LIB64 },
		{ ELFCLASS64, EM_RISCV, FLAG_ELF_LIBC6 | FLAG_RISCV_FLOAT_ABI_DOUBLE },
		{ ELFCLASS32, EM_386, FLAG_ELF_LIBC6 },
	};

	for (size_t i = 0; i < KT_ARRAY_SIZE(map); i++)
		if (map[i].cls == ei_class && map[i].mach == machine)
			return map[i].flags;
	return 0;
}
