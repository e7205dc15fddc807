/* ktpack/cache.h - the private cache folder: where installed blobs, base
 * archives and other files that outlive a run are kept, and how a file is
 * published there so that no partial or foreign file is ever trusted. */
#ifndef KTPACK_CACHE_H
#define KTPACK_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The environment variable that names the cache folder first. */
#define KT_CACHE_DIR_ENV	"KTSTR_CACHE_DIR"

struct kt_cache;

struct kt_cache_opts {
	/* NULL: the first candidate that works, in the README's order:
	 * $KTSTR_CACHE_DIR, $XDG_CACHE_HOME/ktstr, $HOME/.cache/ktstr,
	 * ${TMPDIR:-/tmp}/ktstr-<uid>.  Read once, here. */
	const char *dir;
	/* A warning for each candidate that is skipped, with the reason. */
	struct kt_log log;
};

/*
 * Opens (and creates, mode 0700, when missing) the cache folder.  It must
 * be a real folder, not a symlink, owned by the effective uid, mode 0700,
 * on a mount that is neither noexec nor read-only; the checks run on the
 * descriptor, which every later call resolves names against.  -errno with
 * @err naming the first candidate and why it failed.
 */
int kt_cache__open(const struct kt_cache_opts *o, struct kt_cache **out,
		   struct kt_err *err);
void kt_cache__close(struct kt_cache *c);
const char *kt_cache__path(const struct kt_cache *c);
/* The folder's descriptor, for openat(); owned by @c. */
int kt_cache__fd(const struct kt_cache *c);

/* Writes a new file's content to @fd, which is empty and at offset 0. */
typedef int (*kt_cache_fill_fn)(void *ctx, int fd, struct kt_err *err);

/*
 * Publishes @name: a locked staging file ".kt-<name>.XXXXXX" in the folder
 * is reserved for @size bytes (when non-zero: a full disk fails before any
 * data is written), filled by @fill, given @mode, fsynced and linked to
 * @name, which is never replaced: when another writer published @name
 * first, its file is kept and this call still returns 0.  The staging name
 * is removed on every path.
 */
int kt_cache__publish(struct kt_cache *c, const char *name, mode_t mode,
		      uint64_t size, kt_cache_fill_fn fill, void *ctx,
		      struct kt_err *err);

/*
 * Opens @name read-only without following a link, if it is a regular file
 * of the effective uid with permission bits @mode and, unless @size is
 * UINT64_MAX, @size bytes.  0 and *@fd; -ENOENT when absent; -ESTALE when
 * it is something else (remove it and publish again).
 */
int kt_cache__open_file(struct kt_cache *c, const char *name, mode_t mode,
			uint64_t size, int *fd);

/*
 * Removes the staging files of writers that died (their lock is free), then
 * calls @fn (when not NULL) for every other name not starting with '.'.
 */
typedef void (*kt_cache_sweep_fn)(void *ctx, int dfd, const char *name);
int kt_cache__sweep(struct kt_cache *c, kt_cache_sweep_fn fn, void *ctx);

/*
 * Bounded clean-up of files named @prefix*: keeps the @keep most recently
 * modified and removes the others.  Only regular files of the effective
 * uid are touched.  @removed (may be NULL) counts what went.
 */
int kt_cache__prune(struct kt_cache *c, const char *prefix, size_t keep,
		    size_t *removed);

#ifdef __cplusplus
}
#endif

#endif
