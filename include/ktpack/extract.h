/* ktpack/extract.h - install_env: every embedded blob as an executable file
 * in the private cache folder; the paths come back in a struct, and only
 * the front end's main exports them. */
#ifndef KTPACK_EXTRACT_H
#define KTPACK_EXTRACT_H

#include <stddef.h>

#include <ktpack/blob.h>
#include <ktpack/cache.h>
#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Old versions of a blob younger than this are kept: a run of another
 * build may still be about to exec them. */
#define KT_GC_MIN_AGE_S 3600
/* At most this many old versions are removed per run. */
#define KT_GC_MAX 16

struct kt_install_opts {
	/* sizeof(struct kt_install_opts): see KT_OPTS in common.h. */
	size_t sz;
	/* The file that holds the blobs' bytes at their load offsets, for
	 * copy_file_range; NULL: "/proc/self/exe".  It is used only when
	 * what it holds there is the blob; else the bytes are written from
	 * memory. */
	const char *exe_path;
	/* The cache folder to install into; NULL: kt_install opens one with
	 * kt_cache__open() (and the log below). */
	struct kt_cache *cache;
	struct kt_log log;
};

/* struct kt_install_opts NAME, zeroed, its sz set, with the fields given. */
#define KT_INSTALL_OPTS(NAME, ...) KT_OPTS(kt_install_opts, NAME, __VA_ARGS__)

struct kt_installed;

/*
 * Installs every embedded blob of @t (see the README, "Installing at
 * start-up").  A KTSTR_*_PATH the user already set wins, after a check
 * that it names an executable regular file (an absolute path is
 * recorded); empty slots are skipped.  Nothing is exported.  The result is
 * freed with kt_installed__free().  @o NULL means every default; else its
 * sz must be set (see KT_OPTS).
 */
int kt_install(const struct kt_blob_table *t, const struct kt_install_opts *o,
	       struct kt_installed **out, struct kt_err *err);
void kt_installed__free(struct kt_installed *in);
/* The cache folder used, or NULL when no blob needed one. */
const char *kt_installed__cache_dir(const struct kt_installed *in);
/* The path of blob @name (installed or preset), or NULL for an empty slot
 * or an unknown name. */
const char *kt_installed__path(const struct kt_installed *in, const char *name);
/*
 * Compares every installed file (not presets) with its blob's bytes, all
 * of them: a hit is only checked at both ends.  -EIO names a file that
 * differs (it is removed, so that the next install writes it again).
 */
int kt_installed__verify(const struct kt_installed *in, struct kt_err *err);
/* setenv() of each blob's variable: for main, before any thread exists. */
int kt_installed__export(const struct kt_installed *in, struct kt_err *err);

/*
 * The path the user set in @b's variable, made absolute, once checked to
 * name an executable regular file: what wins over the embedded bytes.
 * *@path is NULL when the variable is unset or empty; else the caller
 * frees it.
 */
int kt_blob_preset(const struct kt_blob *b, char **path, struct kt_err *err);

/* kt_install() and kt_installed__export(): what ktstr's install_env does. */
int kt_install_env(const struct kt_blob_table *t,
		   const struct kt_install_opts *o, struct kt_err *err);

#ifdef __cplusplus
}
#endif

#endif
