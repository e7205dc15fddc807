/* internal.h - the helpers that more than one module of the library (and
 * the CLI, which is built with it) needs.  Not installed.  Nothing here
 * prints or exits. */
#ifndef KT_INTERNAL_H
#define KT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ktpack/common.h>

#define KT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fills @e (when not NULL) and returns @code, so that callers can write
 * "return kt_err_set(e, -ENOENT, ...)". */
int kt_err_set(struct kt_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Strict unsigned decimal: digits only, no sign, no blanks, no overflow. */
int kt_parse_u64(const char *s, uint64_t *out);

/*
 * Splits @s on blanks (space, tab, newline) into a NULL-terminated vector,
 * as a user types arguments.  *@argv is freed with kt_strv_free().
 */
int kt_split_ws(const char *s, char ***argv, size_t *n);
void kt_strv_free(char **v);
/* Deep copy of @n strings into a NULL-terminated vector. */
char **kt_strv_dup(const char *const *v, size_t n);

/* write(2)/pwrite(2) until done; EINTR retried.  0 or -errno. */
int kt_write_all(int fd, const void *buf, size_t len);
int kt_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* read until @len bytes or EOF; returns bytes read or -errno. */
ssize_t kt_pread_full(int fd, void *buf, size_t len, off_t off);

/*
 * "/a/./b//../c" -> "/a/c", lexically: links are not resolved (the loader
 * does not resolve them in search paths either).  For absolute paths; a
 * ".." is an -EINVAL error when @refuse_dotdot is set.
 */
int kt_path_normalize(const char *in, char *out, size_t sz, bool refuse_dotdot);

/*
 * Copies @size bytes from @in's position to @out's, in the kernel:
 * copy_file_range (a reflink where the file system shares extents), else
 * sendfile, which also works across file systems.  -EIO when @in ends
 * early.
 */
int kt_copy_fd(int in, int out, uint64_t size);

/* snprintf that reports truncation as -ENAMETOOLONG. */
int kt_snprintf(char *buf, size_t sz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
