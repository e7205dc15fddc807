/* util.c - error record and shared helpers (see internal.h). */
#include "internal.h"

#include <ktpack/ktpack.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int kt_err_set(struct kt_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* No options struct comes near: a larger "size" is not one (a caller
 * built before sz existed has a pointer there). */
#define KT_OPTS_SZ_MAX	4096

int kt_opts_copy(void *dst, size_t dst_sz, const void *src, const char *type,
		 struct kt_err *err)
{
	const unsigned char *p = src;
	size_t sz;

	memset(dst, 0, dst_sz);
	memcpy(&sz, src, sizeof(sz));
	if (!sz)
		return kt_err_set(err, -EINVAL,
				  "struct %s: sz is 0: set it to sizeof(struct %s) (KT_OPTS does)",
				  type, type);
	if (sz < sizeof(sz) || sz > KT_OPTS_SZ_MAX)
		return kt_err_set(err, -EINVAL,
				  "struct %s: sz %zu is not the size of an options struct (this libktpack's is %zu)",
				  type, sz, dst_sz);
	for (size_t i = dst_sz; i < sz; i++)
		if (p[i])
			return kt_err_set(err, -EINVAL,
					  "struct %s: the caller sets options this libktpack does not know (byte %zu of %zu; it knows %zu)",
					  type, i, sz, dst_sz);
	memcpy(dst, src, sz < dst_sz ? sz : dst_sz);
	return 0;
}

int kt_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -ERANGE;
	}
	*out = v;
	return 0;
}

void kt_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

char **kt_strv_dup(const char *const *v, size_t n)
{
	char **r = calloc(n + 1, sizeof(*r));

	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		r[i] = strdup(v[i]);
		if (!r[i]) {
			kt_strv_free(r);
			return NULL;
		}
	}
	return r;
}

static int common_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

int kt_split_ws(const char *s, char ***argv, size_t *n)
{
	size_t cnt = 0, cap = 0;
	char **v = NULL;

	for (;;) {
		const char *b;

		while (common_is_blank(*s))
			s++;
		if (!*s)
			break;
		b = s;
		while (*s && !common_is_blank(*s))
			s++;
		if (kt_grow((void **)&v, &cap, cnt + 2, sizeof(*v)))
			goto nomem;
		v[cnt] = strndup(b, (size_t)(s - b));
		if (!v[cnt])
			goto nomem;
		v[++cnt] = NULL;
	}
	if (!v) {
		v = calloc(1, sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	*argv = v;
	*n = cnt;
	return 0;
nomem:
	kt_strv_free(v);
	return -ENOMEM;
}

int kt_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int kt_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t w = pwrite(fd, p, len, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		off += w;
		len -= (size_t)w;
	}
	return 0;
}

ssize_t kt_pread_full(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, p + done, len - done, off + (off_t)done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int kt_snprintf(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sz)
		return -ENAMETOOLONG;
	return 0;
}

int kt_path_normalize(const char *in, char *out, size_t sz, bool refuse_dotdot)
{
	size_t o = 0;
	const char *p = in;

	if (sz < 2)
		return -ENAMETOOLONG;
	if (*p == '/')
		out[o++] = '/';
	while (*p) {
		const char *c;
		size_t l;

		while (*p == '/')
			p++;
		c = p;
		while (*p && *p != '/')
			p++;
		l = (size_t)(p - c);
		if (!l || (l == 1 && c[0] == '.'))
			continue;
		if (l == 2 && c[0] == '.' && c[1] == '.') {
			if (refuse_dotdot)
				return -EINVAL;
			/* drop the last component; ".." of "/" is "/" */
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
			if (o == 1 && out[0] != '/')
				o = 0;
			continue;
		}
		if (o && out[o - 1] != '/') {
			if (o + 1 >= sz)
				return -ENAMETOOLONG;
			out[o++] = '/';
		}
		if (o + l >= sz)
			return -ENAMETOOLONG;
		memcpy(out + o, c, l);
		o += l;
	}
	if (!o)
		out[o++] = '.';
	out[o] = '\0';
	return 0;
}

int kt_copy_fd(int in, int out, uint64_t size)
{
	off_t pos = lseek(in, 0, SEEK_CUR);
	int r;

	if (pos < 0)
		return -errno;
	r = kt_copy_fd_at(in, (uint64_t)pos, out, size);
	if (!r && lseek(in, pos + (off_t)size, SEEK_SET) < 0)
		return -errno;
	return r;
}

int kt_copy_fd_at(int in, uint64_t off, int out, uint64_t size)
{
	bool use_cfr = true;
	off_t pos = (off_t)off;

	for (uint64_t done = 0; done < size; ) {
		size_t want = size - done > (1u << 30) ? (1u << 30) : (size_t)(size - done);
		ssize_t n = use_cfr ? copy_file_range(in, &pos, out, NULL, want, 0)
				    : sendfile(out, in, &pos, want);

		if (n < 0 && errno == EINTR)
			continue;
		/* Across file systems (EXDEV), on old kernels or special
		 * files, copy_file_range refuses: sendfile does not. */
		if (n < 0 && use_cfr && (errno == EXDEV || errno == EINVAL ||
					 errno == ENOSYS || errno == EOPNOTSUPP ||
					 errno == EBADF)) {
			use_cfr = false;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (uint64_t)n;
	}
	return 0;
}

void kt_log(const struct kt_log *log, enum kt_log_level level, const char *fmt, ...)
{
	char msg[8192];
	va_list ap;

	if (!log || !log->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log->fn(log->ctx, level, msg);
}

int kt_grow(void **v, size_t *cap, size_t need, size_t elsz)
{
	size_t ncap = *cap ? *cap : 8, bytes;
	void *nv;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		if (__builtin_mul_overflow(ncap, 2, &ncap))
			return -ENOMEM;
	if (__builtin_mul_overflow(ncap, elsz, &bytes))
		return -ENOMEM;
	nv = realloc(*v, bytes);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

uint64_t kt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool kt_last_line(const char *s, char *out, size_t sz)
{
	const char *end = s + strlen(s), *start;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	for (start = end; start > s && start[-1] != '\n'; start--)
		;
	kt_snprintf_cut(out, sz, "%.*s", (int)(end - start), start);
	return end > start;
}

/* The code point of the UTF-8 character at @p (at most @n bytes) and its
 * length; 0 when it is not valid UTF-8 (overlong, a surrogate, beyond
 * U+10FFFF, cut short).  By hand: glibc's mbrtowc() depends on the
 * process's locale, and the guest's bytes must be judged the same in any. */
static size_t utf8_char(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len = p[0] < 0x80 ? 1 : p[0] < 0xc2 ? 0 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 :
		     p[0] < 0xf5 ? 4 : 0;
	uint32_t c;

	if (!len || len > n)
		return 0;
	c = len == 1 ? p[0] : p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* What a terminal acts on, or a text layout reorders by. */
static bool char_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x61c || c == 0x200e || c == 0x200f ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

size_t kt_printable(char *out, size_t sz, const char *s, size_t len, bool keep_lines)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	if (!sz)
		return 0;
	for (size_t i = 0; i < len;) {
		uint32_t c = 0;
		size_t l = utf8_char(p + i, len - i, &c);

		if (l == 1 && keep_lines && c == '\r') {
			i++;
			continue;
		}
		if (l && (!char_control(c) || (keep_lines && (c == '\n' || c == '\t')))) {
			if (n + l >= sz)
				break;
			memcpy(out + n, p + i, l);
			n += l;
			i += l;
			continue;
		}
		if (n + 1 >= sz)
			break;
		out[n++] = '?';
		i += l ? l : 1;
	}
	out[n] = '\0';
	return n;
}

void kt_fnv1a(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= c[i];
		*h *= 0x100000001b3ULL;
	}
}

void kt_snprintf_cut(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
}

int kt_open_regular(const char *path, const char *what, int *fd,
		    struct kt_err *err)
{
	const char *sp = *what ? " " : "";
	struct stat st;
	int f, r;

	f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (f < 0)
		return kt_err_set(err, -errno, "cannot open %s%s'%s': %s", what, sp,
				  path, strerror(errno));
	if (fstat(f, &st)) {
		r = kt_err_set(err, -errno, "cannot stat %s%s'%s': %s", what, sp,
			       path, strerror(errno));
		close(f);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(f);
		return kt_err_set(err, -EINVAL, "%s%s'%s': not a regular file", what,
				  sp, path);
	}
	fcntl(f, F_SETFL, 0);
	*fd = f;
	return 0;
}

int kt_check_program(const char *path, struct kt_err *err, const char *label)
{
	struct stat st;

	if (stat(path, &st))
		return kt_err_set(err, -errno, "%s='%s': %s", label, path,
				  strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kt_err_set(err, -EINVAL, "%s='%s': not a regular file",
				  label, path);
	if (access(path, X_OK))
		return kt_err_set(err, -errno, "%s='%s': not executable (%s)",
				  label, path, strerror(errno));
	return 0;
}


int kt_join(const char *prefix, const char *const *v, size_t n, char sep,
	    char **out, size_t *len)
{
	size_t total = strlen(prefix), off;
	char *s;

	for (size_t i = 0; i < n; i++)
		if (__builtin_add_overflow(total, strlen(v[i]) + (i != 0), &total))
			return -E2BIG;
	if (total == SIZE_MAX || !(s = malloc(total + 1)))
		return total == SIZE_MAX ? -E2BIG : -ENOMEM;
	off = strlen(prefix);
	memcpy(s, prefix, off);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]);

		if (i)
			s[off++] = sep;
		memcpy(s + off, v[i], l);
		off += l;
	}
	s[off] = '\0';
	*out = s;
	if (len)
		*len = off;
	return 0;
}

int kt_strv_join0(const char *const *v, char **out, size_t *len)
{
	size_t n = 0;
	int r;

	while (v && v[n])
		n++;
	r = kt_join("", v, n, '\0', out, len);
	if (!r && len && n)
		(*len)++;	/* the last argument's NUL */
	return r;
}

const char *kt_version(void)
{
	return KTPACK_VERSION;
}

int kt_path_absolute(const char *path, char *out, size_t sz)
{
	char buf[PATH_MAX * 2];

	if (path[0] == '/')
		return kt_path_normalize(path, out, sz, false);
	if (!getcwd(buf, PATH_MAX))
		return -errno;
	if (kt_snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%s", path))
		return -ENAMETOOLONG;
	return kt_path_normalize(buf, out, sz, false);
}

int kt_name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -EINVAL;
}

/* A folder whose entries other users can change: writable by its group
 * or by others (sticky or not: anyone may still plant a name there), or
 * owned by another user than root and us. */
static bool util_dir_shared(const struct stat *d)
{
	return (d->st_mode & (S_IWGRP | S_IWOTH)) || (d->st_uid && d->st_uid != geteuid());
}

/* The folder of the file @path into @dir (PATH_MAX bytes): "." for a
 * bare name, "/" for one at the root.  -ENAMETOOLONG when it does not fit. */
static int util_dir_of(const char *path, char *dir)
{
	char *s;

	if (kt_snprintf(dir, PATH_MAX, "%s", path))
		return -ENAMETOOLONG;
	s = strrchr(dir, '/');
	if (!s)
		strcpy(dir, ".");
	else
		s[s == dir] = '\0';
	return 0;
}

/* In a shared folder (util_dir_shared), a link, a FIFO or a file that
 * another user (not root) owns is theirs to point anywhere or to change
 * under us: never written through nor replaced (what the kernel's
 * protected_symlinks, protected_fifos and protected_regular do, when they
 * are on). */
static bool util_out_foreign(const char *path, const struct stat *st)
{
	char dir[PATH_MAX];
	struct stat d;

	if (st->st_uid == geteuid() || !st->st_uid)
		return false;
	if (util_dir_of(path, dir))
		return true;
	return stat(dir, &d) || util_dir_shared(&d);
}

/* /dev/stdout, /dev/fd/N and their kin: the descriptor itself, so that a
 * redirection with >> keeps appending.  -1 when @path is none of them. */
static int util_out_fdpath(const char *path)
{
	static const char *const names[] = { "/dev/stdout", "/dev/stderr" };
	uint64_t n;

	for (size_t i = 0; i < KT_ARRAY_SIZE(names); i++)
		if (!strcmp(path, names[i]))
			return (int)i + 1;
	if (!strncmp(path, "/dev/fd/", 8) && !kt_parse_u64(path + 8, &n) && n < INT_MAX)
		return (int)n;
	if (!strncmp(path, "/proc/self/fd/", 14) && !kt_parse_u64(path + 14, &n) && n < INT_MAX)
		return (int)n;
	return -1;
}

/* Where @path leads: itself, or the file a symlink (chain) names. */
/* The name @what (a hop of @path) refused when another user owns it in
 * a shared folder. */
static int util_out_refuse(const char *path, const char *what, const struct stat *st,
			   struct kt_err *err)
{
	const char *kind = S_ISLNK(st->st_mode) ? "symlink" : S_ISFIFO(st->st_mode) ? "FIFO" :
			   S_ISREG(st->st_mode) ? "file" : NULL;

	if (!kind || !util_out_foreign(what, st))
		return 0;
	if (!strcmp(path, what))
		return kt_err_set(err, -EPERM, "cannot write '%s': another user's %s in a shared folder",
				  path, kind);
	return kt_err_set(err, -EPERM,
			  "cannot write '%s': it leads to '%s', another user's %s in a shared folder",
			  path, what, kind);
}

/*
 * What writing @path writes: itself, a new file, or what its chain of
 * links leads to, each hop checked (util_out_refuse).  A regular file at
 * the end goes to @final by its own name, to be replaced there; anything
 * else (/dev/stdout: a pipe, a terminal) is written through @path.
 */
static int util_out_target(const char *path, char *final, size_t sz, struct stat *st,
			   struct kt_err *err)
{
	char cur[PATH_MAX], target[PATH_MAX], next[PATH_MAX];
	int r;

	if (kt_snprintf(cur, sizeof(cur), "%s", path))
		return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", path);
	for (int hops = 0; ; hops++) {
		ssize_t n;
		char *slash;

		if (lstat(cur, st)) {
			if (errno != ENOENT)
				return kt_err_set(err, -errno, "cannot write '%s': %s", path,
						  strerror(errno));
			if (hops)
				return kt_err_set(err, -ENOENT,
						  "cannot write '%s': a symlink to nothing", path);
			st->st_mode = 0;	/* a new file */
			break;
		}
		r = util_out_refuse(path, cur, st, err);
		if (r)
			return r;
		if (!S_ISLNK(st->st_mode))
			break;
		if (hops >= KT_MAX_HOPS)
			return kt_err_set(err, -ELOOP, "cannot write '%s': too many symlinks", path);
		n = readlink(cur, target, sizeof(target) - 1);
		if (n <= 0)
			return kt_err_set(err, n ? -errno : -EINVAL, "cannot read link '%s'", cur);
		target[n] = '\0';
		slash = strrchr(cur, '/');
		if (target[0] == '/' || !slash)
			r = kt_snprintf(next, sizeof(next), "%s", target);
		else
			r = kt_snprintf(next, sizeof(next), "%.*s/%s", (int)(slash - cur), cur, target);
		if (r)
			return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", path);
		memcpy(cur, next, sizeof(cur));
	}
	if (!st->st_mode || !S_ISREG(st->st_mode))
		cur[0] = '\0';		/* written through the name given */
	return kt_snprintf(final, sz, "%s", cur[0] ? cur : path) ?
	       kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", path) : 0;
}

/* A /dev/fd/N-style output: its descriptor @fd must be open for writing. */
static int util_out_fd_check(const char *path, int fd, struct kt_err *err)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return kt_err_set(err, -EBADF, "cannot write '%s': not an open descriptor", path);
	if ((fl & O_ACCMODE) == O_RDONLY)
		return kt_err_set(err, -EBADF, "cannot write '%s': a descriptor open only for reading",
				  path);
	return 0;
}

/*
 * The folder @dir that @path's file goes in, opened as kt_open_host()
 * walks it: no link another user owns in a shared folder is followed on
 * the way, at any component, and what is created and renamed there is
 * created and renamed through *@fd, whatever is done to the path after.
 */
static int util_out_dir(const char *path, const char *dir, int *fd, struct kt_err *err)
{
	struct kt_err e = { 0 };
	struct stat st;
	int r = kt_open_host(dir, "write into", fd, &st, NULL, 0, &e);

	if (!r && !S_ISDIR(st.st_mode)) {
		close(*fd);
		r = -ENOTDIR;
		kt_snprintf_cut(e.msg, sizeof(e.msg), "'%s' is not a folder", dir);
	}
	/* a link refused says which, in the walk's words */
	if (r == -EPERM)
		return kt_err_set(err, r, "%s", e.msg);
	if (r)
		return kt_err_set(err, r, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

int kt_out_check(const char *path, struct stat *out, struct kt_err *err)
{
	char final[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	int fd, r;

	if (!*path)
		return kt_err_set(err, -EINVAL, "cannot write '': an empty path");
	fd = !strcmp(path, "-") ? STDOUT_FILENO : util_out_fdpath(path);
	if (fd >= 0) {
		r = util_out_fd_check(path, fd, err);
		if (!r && out && fstat(fd, out))
			r = kt_err_set(err, -errno, "cannot stat '%s': %s", path, strerror(errno));
		return r;
	}
	r = util_out_target(path, final, sizeof(final), &st, err);
	if (r)
		return r;
	if (out)
		*out = st;
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode) ||
	    S_ISSOCK(st.st_mode))
		return access(final, W_OK) ?
		       kt_err_set(err, -errno, "cannot write '%s': %s", path, strerror(errno)) : 0;
	if (st.st_mode && !S_ISREG(st.st_mode))
		return kt_err_set(err, -EINVAL, "cannot write '%s': %s", path,
				  S_ISDIR(st.st_mode) ? "it is a folder" : "not a regular file");
	util_dir_of(final, dir);
	r = util_out_dir(path, dir, &fd, err);
	if (r)
		return r;
	r = faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) ?
	    kt_err_set(err, -errno, "cannot write '%s': %s", path, strerror(errno)) : 0;
	close(fd);
	return r;
}

int kt_out_open(struct kt_out *o, const char *path, struct kt_err *err)
{
	return kt_out_open_flags(o, path, 0, err);
}

/* Six random characters over the "XXXXXX" that ends @tmpl. */
static int util_random_name(char *tmpl)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	char *x = tmpl + strlen(tmpl) - 6;
	unsigned char rnd[6];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno;
	for (int i = 0; i < 6; i++)
		x[i] = set[rnd[i] % (sizeof(set) - 1)];
	return 0;
}

/* A new random temporary name, in tmpbase and (for messages) tmpname. */
static int util_out_tmp(struct kt_out *o)
{
	int r = util_random_name(o->tmpbase);

	if (!r)
		memcpy(o->tmpname + strlen(o->tmpname) - 6, o->tmpbase + strlen(o->tmpbase) - 6, 6);
	return r;
}

static int util_out_name(struct kt_out *o)
{
	char proc[64];
	int r;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
	for (int tries = 0; tries < 64; tries++) {
		r = util_out_tmp(o);
		if (r)
			return r;
		if (!linkat(AT_FDCWD, proc, o->dfd, o->tmpbase, AT_SYMLINK_FOLLOW))
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* A new file named after @o->tmpname, 0666 less the umask. */
static int util_out_create(struct kt_out *o)
{
	for (int tries = 0; tries < 64; tries++) {
		int r = util_out_tmp(o);

		if (r)
			return r;
		o->fd = openat(o->dfd, o->tmpbase, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			       0666);
		if (o->fd >= 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int kt_out_open_flags(struct kt_out *o, const char *path, int flags, struct kt_err *err)
{
	struct stat st;
	int r;

	memset(o, 0, sizeof(*o));
	o->fd = o->dfd = -1;
	if (!strcmp(path, "-") || util_out_fdpath(path) >= 0) {
		o->fd = !strcmp(path, "-") ? STDOUT_FILENO : util_out_fdpath(path);
		r = util_out_fd_check(path, o->fd, err);
		if (r)
			return r;
		kt_snprintf_cut(o->final, sizeof(o->final), "%s", path);
		return 0;
	}
	r = util_out_target(path, o->final, sizeof(o->final), &st, err);
	if (r)
		return r;
	if (!*path)
		return kt_err_set(err, -EINVAL, "cannot write '': an empty path");
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode) ||
	    S_ISSOCK(st.st_mode)) {
		o->fd = open(o->final, O_WRONLY | O_CLOEXEC | (flags & KT_OUT_NOWAIT ? O_NONBLOCK : 0));
		if (o->fd < 0 && errno == ENXIO && S_ISFIFO(st.st_mode))
			return kt_err_set(err, -ENXIO, "cannot write '%s': a FIFO that nothing reads",
					  path);
		if (o->fd < 0)
			return kt_err_set(err, -errno, "cannot write '%s': %s", path,
					  strerror(errno));
		/* opened: the writes may wait, as for any output */
		if (flags & KT_OUT_NOWAIT)
			fcntl(o->fd, F_SETFL, fcntl(o->fd, F_GETFL) & ~O_NONBLOCK);
		o->own = true;
		return 0;
	}
	if (st.st_mode && !S_ISREG(st.st_mode))
		return kt_err_set(err, -EINVAL, "cannot write '%s': %s", path,
				  S_ISDIR(st.st_mode) ? "it is a folder" : "not a regular file");
	/* A file of ours replaced keeps its permission bits, never set-id or
	 * sticky bits (the bytes are new: a guest's, say); another user's
	 * mode is not taken, nor one another user may have linked here. */
	o->keep_mode = st.st_mode && st.st_uid == geteuid() && st.st_nlink == 1;
	o->mode = st.st_mode & 0777;
	if (kt_snprintf(o->tmpname, sizeof(o->tmpname), "%s.XXXXXX", o->final))
		return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", path);
	{
		char dir[PATH_MAX];
		const char *s = strrchr(o->final, '/');

		util_dir_of(o->final, dir);
		if (kt_snprintf(o->base, sizeof(o->base), "%s", s ? s + 1 : o->final) ||
		    kt_snprintf(o->tmpbase, sizeof(o->tmpbase), "%s.XXXXXX", o->base))
			return kt_err_set(err, -ENAMETOOLONG, "'%s': name too long", path);
		if (!*o->base || !strcmp(o->base, ".") || !strcmp(o->base, ".."))
			return kt_err_set(err, -EISDIR, "cannot write '%s': it names a folder", path);
		r = util_out_dir(path, dir, &o->dfd, err);
		if (r)
			return r;
	}
	/* An unnamed file first: a run killed while writing leaves nothing;
	 * it gets a name only at the commit.  It is named through
	 * /proc/self/fd: without /proc, a named temporary file it is. */
	o->fd = access("/proc/self/fd", X_OK) ? -1 :
		openat(o->dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
	if (o->fd >= 0) {
		o->own = o->tmp = o->unnamed = true;
		return 0;
	}
	r = util_out_create(o);
	if (r) {
		close(o->dfd);
		o->dfd = -1;
		return kt_err_set(err, r, "cannot write '%s': %s", path, strerror(-r));
	}
	o->own = o->tmp = true;
	return 0;
}

/* Gives an O_TMPFILE file its temporary name, to be renamed over the
 * final one (linkat cannot replace). */

int kt_out_commit(struct kt_out *o, struct kt_err *err)
{
	int r = 0;

	/* A replaced file keeps its mode (kt_out_open_flags); a new one has
	 * what the umask left of 0666. */
	if (o->tmp && o->keep_mode && fchmod(o->fd, o->mode))
		r = kt_err_set(err, -errno, "cannot chmod '%s': %s", o->tmpname, strerror(errno));
	if (!r && o->unnamed) {
		r = util_out_name(o);
		if (r)
			kt_err_set(err, r, "cannot write '%s': %s", o->final, strerror(-r));
		else
			o->unnamed = false;
	}
	if (o->own && close(o->fd) && !r)
		r = kt_err_set(err, -errno, "cannot write '%s': %s", o->final, strerror(errno));
	o->own = false;
	if (!r && o->tmp && renameat(o->dfd, o->tmpbase, o->dfd, o->base))
		r = kt_err_set(err, -errno, "cannot rename '%s' to '%s': %s", o->tmpname,
			       o->final, strerror(errno));
	/* An unnamed file that got no name has nothing to remove: tmpname
	 * is then a template, or the name of someone else's file. */
	if (r && o->tmp && !o->unnamed)
		unlinkat(o->dfd, o->tmpbase, 0);
	o->tmp = o->unnamed = false;
	if (o->dfd >= 0)
		close(o->dfd);
	o->dfd = -1;
	return r;
}

void kt_out_abort(struct kt_out *o)
{
	if (o->own)
		close(o->fd);
	if (o->tmp && !o->unnamed)
		unlinkat(o->dfd, o->tmpbase, 0);
	if (o->dfd >= 0)
		close(o->dfd);
	o->dfd = -1;
	o->own = o->tmp = o->unnamed = false;
}

const char *kt_token_why(const char *a, char sep)
{
	if (!*a)
		return "is empty";
	for (const unsigned char *p = (const unsigned char *)a; *p; p++) {
		if (sep && *p == (unsigned char)sep)
			return "holds the 0x1F separator";
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			return "holds whitespace";
		if (*p < 0x20 || *p == 0x7f)
			return "holds a control byte";
		if (*p == '"' || *p == '\'')
			return "holds a quote";
		if (*p == '\\')
			return "holds a backslash";
	}
	return NULL;
}

int kt_parse_scaled(const char *s, const struct kt_unit *units, size_t n,
		    uint64_t *out)
{
	size_t digits = strspn(s, "0123456789");
	char num[24];
	uint64_t v;

	if (!digits || digits >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, digits);
	num[digits] = '\0';
	if (kt_parse_u64(num, &v))
		return -ERANGE;
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(s + digits, units[i].sfx))
			continue;
		if (v > (UINT64_MAX >> units[i].shift))
			return -ERANGE;
		*out = v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

char *kt_path_next(char **p)
{
	char *c;

	while (**p == '/')
		(*p)++;
	if (!**p)
		return NULL;
	c = *p;
	*p += strcspn(*p, "/");
	if (**p)
		*(*p)++ = '\0';
	return c;
}

int kt_path_walk(const char *root, const char *path, char *out, size_t sz,
		 int (*on_link)(void *ctx, const char *at, const char *target), void *ctx,
		 struct kt_err *err)
{
	char cur[PATH_MAX], rest[PATH_MAX], host[PATH_MAX];
	int hops = 0, r;

	if (*path != '/' || kt_snprintf(rest, sizeof(rest), "%s", path))
		return kt_err_set(err, -EINVAL, "'%s': not an absolute path", path);
	cur[0] = '\0';
	for (char *p = rest; ; ) {
		char cand[PATH_MAX], target[PATH_MAX], next[PATH_MAX];
		struct stat st;
		char *c;
		ssize_t tl;

		c = kt_path_next(&p);
		if (!c)
			break;
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			char *s = strrchr(cur, '/');

			if (s)
				*s = '\0';
			continue;
		}
		if (kt_snprintf(cand, sizeof(cand), "%s/%s", cur, c) ||
		    kt_snprintf(host, sizeof(host), "%s%s", root, cand))
			return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", path);
		if (lstat(host, &st))
			return kt_err_set(err, -errno, "cannot stat '%s': %s", host,
					  strerror(errno));
		if (!S_ISLNK(st.st_mode)) {
			memcpy(cur, cand, sizeof(cur));
			if (*p && !S_ISDIR(st.st_mode))
				return kt_err_set(err, -ENOTDIR, "'%s': not a folder", host);
			continue;
		}
		if (++hops > KT_MAX_HOPS)
			return kt_err_set(err, -ELOOP, "'%s': too many symlinks", path);
		tl = readlink(host, target, sizeof(target) - 1);
		if (tl <= 0)
			return kt_err_set(err, tl ? -errno : -EINVAL, "cannot read link '%s'", host);
		target[tl] = '\0';
		if (on_link) {
			r = on_link(ctx, cand, target);
			if (r)
				return r;
		}
		/* Continue at the target, with what remained after the link. */
		if (kt_snprintf(next, sizeof(next), "%s%s%s%s%s",
				target[0] == '/' ? "" : cur, target[0] == '/' ? "" : "/",
				target, *p ? "/" : "", p))
			return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", path);
		memcpy(rest, next, sizeof(rest));
		p = rest;
		cur[0] = '\0';
	}
	if (kt_snprintf(out, sz, "%s", cur[0] ? cur : "/"))
		return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", path);
	return 0;
}

/* ---- reading a host file for a guest ---------------------------------------------- */

struct util_walk {
	const char *path, *verb;
	char cur[PATH_MAX];	/* the folder the walk is in, links resolved */
	int dfd;		/* that folder, O_PATH */
	struct kt_err *err;
};

/* @name in the walk's folder, as a path. */
static int util_walk_name(const struct util_walk *w, const char *name, char *out, size_t sz)
{
	size_t l = strlen(w->cur);

	return kt_snprintf(out, sz, "%s%s%s", w->cur, l && w->cur[l - 1] == '/' ? "" : "/", name);
}

static int util_walk_long(const struct util_walk *w)
{
	return kt_err_set(w->err, -ENAMETOOLONG, "cannot %s '%s': path too long", w->verb, w->path);
}

/* Moves the walk into the folder @fd (taken), its @name ("/", "..", a
 * component). */
static int util_walk_enter(struct util_walk *w, int fd, const char *name)
{
	char next[PATH_MAX];
	char *s;

	close(w->dfd);
	w->dfd = fd;
	if (!strcmp(name, "/")) {
		strcpy(w->cur, "/");
	} else if (!strcmp(name, "..")) {
		s = strrchr(w->cur, '/');
		if (s)
			s[s == w->cur] = '\0';
	} else {
		if (util_walk_name(w, name, next, sizeof(next)))
			return util_walk_long(w);
		memcpy(w->cur, next, sizeof(w->cur));
	}
	return 0;
}

/* The target of the link @fd (O_PATH, of fstat @st) named @name in the
 * walk's folder, if it may be followed: not when another user owns it in
 * a shared folder (its owner can point it anywhere at any time: what
 * kt_out_open refuses to write through). */
static int util_walk_link(struct util_walk *w, int fd, const char *name, const struct stat *st,
			  char *target, size_t sz)
{
	char at[PATH_MAX];
	struct stat d;
	ssize_t n;

	if (util_walk_name(w, name, at, sizeof(at)))
		return util_walk_long(w);
	if (st->st_uid && st->st_uid != geteuid() &&
	    (fstat(w->dfd, &d) || util_dir_shared(&d))) {
		if (!strcmp(at, w->path))
			return kt_err_set(w->err, -EPERM,
					  "cannot %s '%s': another user's symlink in a shared folder",
					  w->verb, w->path);
		return kt_err_set(w->err, -EPERM,
				  "cannot %s '%s': it leads to '%s', another user's symlink in a shared folder",
				  w->verb, w->path, at);
	}
	n = readlinkat(fd, "", target, sz - 1);
	if (n <= 0)
		return kt_err_set(w->err, n ? -errno : -EINVAL, "cannot read link '%s'", at);
	target[n] = '\0';
	return 0;
}

/* Opens @name of the walk's folder (of fstat @st, taken by the walk) to
 * be read: without following a link, and only when it is still that
 * inode.  Anything but a file or a folder is never opened. */
static int util_walk_last(struct util_walk *w, const char *name, const struct stat *st,
			  int *fd, struct stat *out)
{
	int f, r;

	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return kt_err_set(w->err, -EINVAL, "cannot %s '%s': not a regular file or a folder",
				  w->verb, w->path);
	/* O_NONBLOCK: a FIFO swapped in cannot hang the open */
	f = openat(w->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
		   (S_ISDIR(st->st_mode) ? O_DIRECTORY : 0));
	if (f < 0 || fstat(f, out)) {
		r = -errno;
		if (f >= 0)
			close(f);
		return kt_err_set(w->err, r, "cannot %s '%s': %s", w->verb, w->path,
				  r == -ELOOP || r == -ENOTDIR ? "it changed while it was opened" :
				  strerror(-r));
	}
	if (out->st_dev != st->st_dev || out->st_ino != st->st_ino) {
		close(f);
		return kt_err_set(w->err, -EAGAIN, "cannot %s '%s': it changed while it was opened",
				  w->verb, w->path);
	}
	fcntl(f, F_SETFL, 0);
	*fd = f;
	return 0;
}

/* One step of kt_open_host: component @c, with @p what follows it (in
 * @rest).  1 when the walk is over (*@fd open), 0 to go on. */
static int util_walk_step(struct util_walk *w, char *c, char **p, char *rest, int *hops,
			  int *fd, struct stat *st)
{
	char target[PATH_MAX], next[PATH_MAX];
	struct stat cs;
	int cfd, r;

	if (!strcmp(c, "."))
		return 0;
	if (!strcmp(c, "..")) {
		cfd = openat(w->dfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		return cfd < 0 ? kt_err_set(w->err, -errno, "cannot %s '%s': %s", w->verb, w->path,
					    strerror(errno)) : util_walk_enter(w, cfd, "..");
	}
	cfd = openat(w->dfd, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0 || fstat(cfd, &cs)) {
		r = kt_err_set(w->err, -errno, "cannot %s '%s': %s", w->verb, w->path,
			       strerror(errno));
		if (cfd >= 0)
			close(cfd);
		return r;
	}
	if (S_ISLNK(cs.st_mode)) {
		r = util_walk_link(w, cfd, c, &cs, target, sizeof(target));
		close(cfd);
		if (!r && ++*hops > KT_MAX_HOPS)
			r = kt_err_set(w->err, -ELOOP, "cannot %s '%s': too many symlinks",
				       w->verb, w->path);
		if (!r && kt_snprintf(next, sizeof(next), "%s%s%s", target, **p ? "/" : "", *p))
			r = util_walk_long(w);
		/* an absolute target starts again at / */
		if (!r && *target == '/') {
			cfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			r = cfd < 0 ? kt_err_set(w->err, -errno, "cannot open '/': %s", strerror(errno)) :
			    util_walk_enter(w, cfd, "/");
		}
		if (!r) {
			memcpy(rest, next, PATH_MAX);
			*p = rest;
		}
		return r;
	}
	if (!**p) {
		close(cfd);
		if (util_walk_name(w, c, next, sizeof(next)))
			return util_walk_long(w);
		r = util_walk_last(w, c, &cs, fd, st);
		if (!r)
			memcpy(w->cur, next, sizeof(w->cur));
		return r ? r : 1;
	}
	if (!S_ISDIR(cs.st_mode)) {
		close(cfd);
		return kt_err_set(w->err, -ENOTDIR, "cannot %s '%s': %s", w->verb, w->path,
				  strerror(ENOTDIR));
	}
	return util_walk_enter(w, cfd, c);
}

int kt_open_host(const char *path, const char *verb, int *fd, struct stat *st, char *real,
		 size_t realsz, struct kt_err *err)
{
	struct util_walk w = { .path = path, .verb = verb, .err = err };
	char rest[PATH_MAX];
	int hops = 0, r = 0;

	if (!*path)
		return kt_err_set(err, -ENOENT, "cannot %s '': %s", verb, strerror(ENOENT));
	if (kt_snprintf(rest, sizeof(rest), "%s", path))
		return util_walk_long(&w);
	if (*path == '/' || !getcwd(w.cur, sizeof(w.cur)))
		strcpy(w.cur, *path == '/' ? "/" : ".");
	w.dfd = open(*path == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w.dfd < 0)
		return kt_err_set(err, -errno, "cannot %s '%s': %s", verb, path, strerror(errno));
	for (char *p = rest, *c; !r; ) {
		c = kt_path_next(&p);
		if (c) {
			r = util_walk_step(&w, c, &p, rest, &hops, fd, st);
			continue;
		}
		/* "/", "dir/.", "dir/..": the folder the walk is in */
		*fd = openat(w.dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*fd < 0 || fstat(*fd, st)) {
			r = kt_err_set(err, -errno, "cannot %s '%s': %s", verb, path, strerror(errno));
			if (*fd >= 0)
				close(*fd);
		}
		r = r ? r : 1;
	}
	close(w.dfd);
	if (r == 1 && real && kt_snprintf(real, realsz, "%s", w.cur)) {
		close(*fd);
		return util_walk_long(&w);
	}
	return r == 1 ? 0 : r;
}
