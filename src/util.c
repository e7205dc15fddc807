/* util.c - error record and shared helpers (see internal.h). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
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
		if (cnt + 2 > cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **nv = realloc(v, ncap * sizeof(*nv));

			if (!nv)
				goto nomem;
			v = nv;
			cap = ncap;
		}
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
	bool use_cfr = true;

	for (uint64_t done = 0; done < size; ) {
		size_t want = size - done > (1u << 30) ? (1u << 30) : (size_t)(size - done);
		ssize_t n = use_cfr ? copy_file_range(in, NULL, out, NULL, want, 0)
				    : sendfile(out, in, NULL, want);

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
