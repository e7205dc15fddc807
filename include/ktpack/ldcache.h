/* ldcache.h - a reader of glibc's /etc/ld.so.cache (format
 * "glibc-ld.so.cache1.1"), to find libraries as the loader does without
 * running it.  The file is untrusted: every offset is checked. */
#ifndef KTPACK_LDCACHE_H
#define KTPACK_LDCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KT_LDCACHE_PATH		"/etc/ld.so.cache"
/* A cache larger than this is refused rather than read. */
#define KT_LDCACHE_MAX_SIZE	(64u << 20)

struct kt_ldcache;

/* Reads and checks a whole cache file.  Free with kt_ldcache__free(). */
int kt_ldcache__open(const char *path, struct kt_ldcache **out,
		     struct kt_err *err);
/* The same from memory; @name labels messages.  @buf is copied. */
int kt_ldcache__parse(const void *buf, size_t len, const char *name,
		      struct kt_ldcache **out, struct kt_err *err);
void kt_ldcache__free(struct kt_ldcache *c);
size_t kt_ldcache__count(const struct kt_ldcache *c);

/*
 * The path of the baseline library named @soname for objects whose cache
 * flags are @flags (see kt_ldcache_flags()): the first entry in file order
 * with exactly those flags and no hwcaps subfolder.  NULL when none.
 */
const char *kt_ldcache__lookup(const struct kt_ldcache *c, const char *soname,
			       uint32_t flags);

/* The cache flags ldconfig records for ELF objects of this class and
 * machine (e.g. 0x0303 for x86-64), or 0 when the pair is unknown. */
uint32_t kt_ldcache_flags(uint8_t ei_class, uint16_t machine);

#ifdef __cplusplus
}
#endif

#endif
