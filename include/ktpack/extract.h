/* extract.h - install_env: every embedded blob as an executable file in a
 * private cache folder, its path exported in the blob's env var. */
#ifndef KTPACK_EXTRACT_H
#define KTPACK_EXTRACT_H

#include <stddef.h>

#include <ktpack/blob.h>
#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Old versions of a blob younger than this are kept: a run of another
 * ktpack build may still be about to exec them. */
#define KT_GC_MIN_AGE_S 3600
/* At most this many old versions are removed per run. */
#define KT_GC_MAX 16

struct kt_install_opts {
	size_t sz;		/* sizeof(struct kt_install_opts) */
	/* The file that holds the blobs' bytes at their load offsets, for
	 * copy_file_range; default "/proc/self/exe".  When it cannot be used
	 * the bytes are written from memory. */
	const char *exe_path;
	/* Called for each cache folder that was skipped, with the reason;
	 * may be NULL. */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

/*
 * Installs every embedded blob of @t and exports its path (see DESIGN.md,
 * "Run time: install_env").  A variable the user already set wins, after a
 * check that it names an executable regular file; empty slots are skipped
 * and their variable stays unset.  Calls setenv(), so it must run before the
 * process starts threads.  0 or -errno, with @err filled.
 */
int kt_install_env(const struct kt_blob_table *t,
		   const struct kt_install_opts *opts, struct kt_err *err);

/*
 * The cache folder install_env uses (the first candidate that works), for
 * other cached files; written to @out.  0 or -errno with @err filled.
 */
int kt_cache_dir(char *out, size_t sz, const struct kt_install_opts *opts,
		 struct kt_err *err);

/*
 * Bounded clean-up of other cached files named @prefix*: keeps the @keep
 * most recently modified, removes the rest, and removes temporary files
 * "@prefix*.XXXXXX" left for over an hour by a run that died.  Only
 * regular files of the effective uid are touched.  Returns how many were
 * removed.
 */
int kt_cache_prune(const char *dir, const char *prefix, size_t keep);

#ifdef __cplusplus
}
#endif

#endif
