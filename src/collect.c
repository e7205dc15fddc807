/* collect.c - the host's end of --collect: files a guest sends back are
 * written under the out folder by names the host checks, through folder
 * descriptors, never through a link, and named only once whole. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <ktpack/channel.h>

#include "internal.h"

void kt_collect_init(struct kt_collect *c, const char *dir, uint64_t max,
		     const char *const *asked, size_t nasked)
{
	memset(c, 0, sizeof(*c));
	c->dir = dir;
	c->max = max ? max : KT_CH_COLLECT_MAX;
	c->asked = asked;
	c->nasked = nasked;
	c->dfd = c->pdfd = c->fd = -1;
}

/* Whether @name (checked) starts with the last component of a guest path
 * the caller asked for: what init names a file or a folder's files by. */
static bool collect_asked(const struct kt_collect *c, const char *name)
{
	size_t first = strcspn(name, "/");

	for (size_t i = 0; i < c->nasked; i++) {
		const char *a = c->asked[i], *end = a + strlen(a), *base;

		while (end > a && end[-1] == '/')
			end--;
		for (base = end; base > a && base[-1] != '/'; base--)
			;
		if ((size_t)(end - base) == first && !memcmp(base, name, first))
			return true;
	}
	return false;
}

/* One more refused file, and a line naming it and why while there is
 * room for one (kt_collect_take says how many more). */
static void collect_refuse(struct kt_collect *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void collect_refuse(struct kt_collect *c, const char *fmt, ...)
{
	struct kt_collected *res = &c->res;
	va_list ap;
	char *line;
	int n;

	res->refused++;
	if (res->nrefusals >= KT_CH_COLLECT_REFUSALS_MAX ||
	    kt_grow((void **)&res->refusals, &c->rcap, res->nrefusals + 1, sizeof(*res->refusals)))
		return;
	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n >= 0)
		res->refusals[res->nrefusals++] = line;
}

/* The file being received, dropped: its temporary name removed. */
static void collect_drop(struct kt_collect *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		unlinkat(c->pdfd, c->tmp, 0);
	}
	if (c->pdfd >= 0 && c->pdfd != c->dfd)
		close(c->pdfd);
	c->fd = c->pdfd = -1;
	c->open = false;
}

/* The end of the files: one that is unfinished is refused, the out
 * folder closed. */
static void collect_finish(struct kt_collect *c)
{
	if (c->open)
		collect_refuse(c, "'%s' is truncated (%llu of %llu bytes)", c->name,
			       (unsigned long long)c->got, (unsigned long long)c->want);
	collect_drop(c);
	if (c->dfd >= 0)
		close(c->dfd);
	c->dfd = -1;
}

void kt_collected__release(struct kt_collected *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i].path);
	for (size_t i = 0; i < c->nrefusals; i++)
		free(c->refusals[i]);
	free(c->files);
	free(c->refusals);
	memset(c, 0, sizeof(*c));
}

void kt_collect_take(struct kt_collect *c, struct kt_collected *out)
{
	struct kt_collected *res = &c->res;
	size_t more;

	collect_finish(c);
	/* the refusals past the lines', said in one */
	more = res->refused - res->nrefusals;
	if (more && !kt_grow((void **)&res->refusals, &c->rcap, res->nrefusals + 1,
			     sizeof(*res->refusals)) &&
	    asprintf(&res->refusals[res->nrefusals], "and %zu more refused", more) >= 0)
		res->nrefusals++;
	*out = *res;
	memset(res, 0, sizeof(*res));
	c->fcap = c->rcap = 0;
}

void kt_collect_close(struct kt_collect *c)
{
	collect_finish(c);
	kt_collected__release(&c->res);
	c->fcap = c->rcap = 0;
}

/*
 * Why the guest's name @s (@len bytes) cannot be a path under the out
 * folder, or NULL: relative, components neither empty nor "." nor "..",
 * each at most NAME_MAX, printable ASCII only (a name is shown to the
 * user as it is).
 */
const char *kt_collect_name_why(const char *s, size_t len)
{
	size_t comp = 0;

	if (!len)
		return "an empty name";
	if (len > KT_CH_NAME_MAX)
		return "a name too long";
	if (s[0] == '/')
		return "an absolute name";
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			const char *c = s + i - comp;

			if (!comp)
				return "an empty component";
			if ((comp == 1 && c[0] == '.') || (comp == 2 && c[0] == '.' && c[1] == '.'))
				return "a '.' or '..' component";
			if (comp > NAME_MAX)
				return "a component too long";
			comp = 0;
			continue;
		}
		if (s[i] < 0x20 || s[i] > 0x7e)
			return "a byte that is not printable";
		comp++;
	}
	return NULL;
}

/* The folder of c->name's last component, opened from the out folder
 * one component at a time (made when missing), no link followed; its
 * last component in c->base. */
static int collect_parent(struct kt_collect *c)
{
	char path[KT_CH_NAME_MAX + 1], *p = path, *slash;
	int fd = c->dfd;

	memcpy(path, c->name, strlen(c->name) + 1);
	while ((slash = strchr(p, '/'))) {
		int nfd;

		*slash = '\0';
		if (mkdirat(fd, p, 0777) && errno != EEXIST)
			nfd = -1;
		else
			nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			int e = errno;

			if (fd != c->dfd)
				close(fd);
			return -e;
		}
		if (fd != c->dfd)
			close(fd);
		fd = nfd;
		p = slash + 1;
	}
	memcpy(c->base, p, strlen(p) + 1);
	c->pdfd = fd;
	return 0;
}

/* A new file under a temporary name in c->pdfd, with the guest's
 * permission bits less set-id and sticky bits (and the umask). */
static int collect_create(struct kt_collect *c, mode_t mode)
{
	for (int tries = 0; tries < 64; tries++) {
		unsigned char rnd[4];

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -errno;
		snprintf(c->tmp, sizeof(c->tmp), ".ktpack-%02x%02x%02x%02x", rnd[0], rnd[1],
			 rnd[2], rnd[3]);
		c->fd = openat(c->pdfd, c->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			       mode & 0777);
		if (c->fd >= 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int collect_open_dir(struct kt_collect *c)
{
	struct kt_err e = { 0 };
	struct stat st;
	int r;

	if (c->dfd >= 0)
		return 0;
	r = kt_open_host(c->dir, "write into", &c->dfd, &st, NULL, 0, &e);
	if (!r && !S_ISDIR(st.st_mode)) {
		close(c->dfd);
		c->dfd = -1;
		r = -ENOTDIR;
	}
	return r;
}

void kt_collect_begin(struct kt_collect *c, const char *name, size_t len, uint64_t size,
		      uint32_t mode)
{
	const char *why;
	int r;

	if (c->open)
		collect_refuse(c, "'%s' is truncated (%llu of %llu bytes)", c->name,
			       (unsigned long long)c->got, (unsigned long long)c->want);
	collect_drop(c);
	why = kt_collect_name_why(name, len);
	if (why) {
		char shown[KT_CH_NAME_MAX + 1];

		kt_printable(shown, sizeof(shown), name, len, false);
		collect_refuse(c, "a file named '%s' refused: %s", shown, why);
		return;
	}
	memcpy(c->name, name, len);
	c->name[len] = '\0';
	if (++c->begun > KT_CH_COLLECT_FILES_MAX) {
		collect_refuse(c, "'%s' refused: over the %u files --collect takes", c->name,
			       KT_CH_COLLECT_FILES_MAX);
		return;
	}
	if (!collect_asked(c, c->name)) {
		collect_refuse(c, "a file named '%s' refused: not under a path --collect asked for",
			       c->name);
		return;
	}
	if (size > c->max - c->used) {
		collect_refuse(c, "'%s' refused: %llu bytes, over the %llu left of --collect-max",
			       c->name, (unsigned long long)size,
			       (unsigned long long)(c->max - c->used));
		return;
	}
	r = collect_open_dir(c);
	if (r) {
		collect_refuse(c, "'%s' refused: cannot write into '%s': %s", c->name, c->dir,
			       strerror(-r));
		return;
	}
	r = collect_parent(c);
	if (!r) {
		r = collect_create(c, (mode_t)mode);
		if (r && c->pdfd != c->dfd)
			close(c->pdfd);
	}
	if (r) {
		c->pdfd = -1;
		collect_refuse(c, "'%s' refused: cannot write it under '%s': %s", c->name, c->dir,
			       strerror(-r));
		return;
	}
	c->open = true;
	c->want = size;
	c->got = 0;
	c->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	/* counted now: a guest cannot send more than the cap in all */
	c->used += size;
}

void kt_collect_data(struct kt_collect *c, const unsigned char *p, size_t len)
{
	int r;

	if (!c->open)
		return;
	if (len > c->want - c->got) {
		collect_refuse(c, "'%s' is corrupt (longer than announced)", c->name);
		collect_drop(c);
		return;
	}
	r = kt_write_all(c->fd, p, len);
	if (r) {
		collect_refuse(c, "'%s' refused: cannot write it under '%s': %s", c->name, c->dir,
			       strerror(-r));
		collect_drop(c);
		return;
	}
	c->crc = (uint32_t)crc32(c->crc, p, (uInt)len);
	c->got += len;
}

/* The file being received, listed before it is named: a file on disk is
 * always listed (the list's count moves only once it is named). */
static int collect_entry(struct kt_collect *c, struct kt_collected_file **out)
{
	struct kt_collected *res = &c->res;
	struct kt_collected_file *f;
	struct stat st;

	if (kt_grow((void **)&res->files, &c->fcap, res->nfiles + 1, sizeof(*res->files)))
		return -ENOMEM;
	/* what the umask left of the guest's bits */
	if (fstat(c->fd, &st))
		return -errno;
	f = &res->files[res->nfiles];
	f->path = strdup(c->name);
	if (!f->path)
		return -ENOMEM;
	f->size = c->got;
	f->mode = (unsigned)(st.st_mode & 07777);
	*out = f;
	return 0;
}

void kt_collect_end(struct kt_collect *c, uint32_t crc)
{
	struct kt_collected_file *f = NULL;
	int r;

	if (!c->open)
		return;
	if (c->got != c->want || crc != c->crc) {
		if (c->got != c->want)
			collect_refuse(c, "'%s' is truncated (%llu of %llu bytes)", c->name,
				       (unsigned long long)c->got, (unsigned long long)c->want);
		else
			collect_refuse(c, "'%s' is corrupt (CRC-32 mismatch)", c->name);
		collect_drop(c);
		return;
	}
	r = collect_entry(c, &f);
	if (r) {
		collect_refuse(c, "'%s' refused: cannot write it under '%s': %s", c->name, c->dir,
			       strerror(-r));
		collect_drop(c);
		return;
	}
	if (close(c->fd) || renameat(c->pdfd, c->tmp, c->pdfd, c->base)) {
		c->fd = -1;
		collect_refuse(c, "'%s' refused: cannot write it under '%s': %s", c->name, c->dir,
			       strerror(errno));
		free(f->path);
		unlinkat(c->pdfd, c->tmp, 0);
		collect_drop(c);
		return;
	}
	c->fd = -1;
	c->res.nfiles++;
	c->res.bytes += c->got;
	collect_drop(c);
}
