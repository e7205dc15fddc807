/* cache.c - the private cache folder and durable publishing (see
 * ktpack/cache.h and the README, "Installing at start-up").
 *
 * Touches only the cache folder.  The folder is trusted once it was opened
 * component by component without following a link, each component found
 * to be changeable only by root or us (or sticky), and the last found to be
 * ours and private; every later name is resolved relative to its
 * descriptor.
 */
#include <ktpack/cache.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define STAGING_PREFIX	".kt-"
/* mkostemp's six random characters. */
#define STAGING_SUFFIX	6

struct kt_cache {
	int dfd;
	dev_t st_dev;
	char path[PATH_MAX];
};

/* ---- opening the folder ------------------------------------------------------ */

/*
 * A folder another user can change (through its owner, or group or other
 * write bits) could have its entries swapped under us; a sticky one lets
 * nobody remove or rename what is ours.
 */
static const char *cache_untrusted(const struct stat *st)
{
	if (!S_ISDIR(st->st_mode))
		return "is not a folder";
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return "is owned by another user";
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return "is writable by other users";
	return NULL;
}

/*
 * Opens component @c inside folder @fd without following a link; when
 * @may_create, makes it (0700 whatever the umask) if missing, and says so
 * in *@made.  The descriptor, or -errno with @why.
 */
static int cache_step(int fd, const char *c, bool may_create, bool *made,
		      const char **why)
{
	struct stat st;
	int next, r;

	*made = false;
	next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (next < 0 && errno == ENOENT && may_create) {
		*made = !mkdirat(fd, c, 0700);
		if (!*made && errno != EEXIST) {
			*why = strerror(errno);
			return -errno;
		}
		/* 0700 whatever the umask, before it is opened: a folder made
		 * 0000 cannot be opened by its owner unless root (the parent is
		 * trusted: nobody else can swap the name) */
		if (*made)
			fchmodat(fd, c, 0700, 0);
		next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (next >= 0)
		return next;
	r = -errno;
	if (r == -ELOOP || (r == -ENOTDIR && !fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) &&
			    S_ISLNK(st.st_mode))) {
		*why = "is a symlink";
		return -ELOOP;
	}
	*why = strerror(-r);
	return r;
}

/*
 * Walks @path from "/" with O_NOFOLLOW, checking every parent.  The last
 * @create components may be made (0700) when missing, each inside a parent
 * that exists.  Returns the last folder's descriptor.
 */
static int cache_walk(const char *path, int create, const char **why,
		      char *bad, size_t badsz, bool *created)
{
	char buf[PATH_MAX], *p, *c;
	int fd, ncomp = 0, i = 0, r;

	r = kt_snprintf(buf, sizeof(buf), "%s", path);
	if (r) {
		*why = "path too long";
		return r;
	}
	for (p = buf; (p = strchr(p, '/')); p++)
		if (p[1] && p[1] != '/')
			ncomp++;
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*why = strerror(errno);
		return -errno;
	}
	for (p = buf; (c = kt_path_next(&p)); ) {
		struct stat st;
		bool made;
		int next;

		i++;
		if (!strcmp(c, ".") || !strcmp(c, "..")) {
			*why = "holds '.' or '..'";
			close(fd);
			return -EINVAL;
		}
		next = cache_step(fd, c, i > ncomp - create, &made, why);
		close(fd);
		if (next < 0) {
			kt_snprintf_cut(bad, badsz, "%s", c);
			return next;
		}
		/* The caller removes the folder again if it refuses it. */
		*created |= made && i == ncomp;
		fd = next;
		/* The last component gets the stricter checks of the caller. */
		if (i < ncomp && !fstat(fd, &st) && (*why = cache_untrusted(&st))) {
			kt_snprintf_cut(bad, badsz, "%s", c);
			close(fd);
			return -EPERM;
		}
	}
	return fd;
}

int kt_dir_trusted(const char *path, int *fd, char *why, size_t sz)
{
	char bad[NAME_MAX + 1] = "";
	const char *w = NULL;
	bool created = false;
	struct stat st;
	int r;

	if (path[0] != '/') {
		snprintf(why, sz, "not an absolute path");
		return -EINVAL;
	}
	r = cache_walk(path, 0, &w, bad, sizeof(bad), &created);
	if (r >= 0 && !fstat(r, &st) && (w = cache_untrusted(&st))) {
		close(r);
		snprintf(why, sz, "it %s", w);
		return -EPERM;
	}
	if (r < 0 && *bad && strcmp(bad, strrchr(path, '/') + 1))
		snprintf(why, sz, "its parent '%s'%s%s", bad, strncmp(w, "is ", 3) ? ": " : " ", w);
	else if (r < 0)
		snprintf(why, sz, "%s%s", strncmp(w, "is ", 3) ? "" : "it ", w);
	if (r < 0)
		return r;
	*fd = r;
	return 0;
}

/* Opens @path as the cache folder, or says in @why why it cannot be. */
static int cache_try(const char *path, int create, struct kt_cache *c,
		     char *why, size_t whysz)
{
	struct statvfs vfs;
	struct stat st;
	const char *w = NULL;
	char bad[NAME_MAX + 1] = "", mode[48];
	bool created = false;
	int fd, r;

	if (path[0] != '/') {
		snprintf(why, whysz, "not an absolute path");
		return -EINVAL;
	}
	fd = cache_walk(path, create, &w, bad, sizeof(bad), &created);
	if (fd < 0) {
		/* Name the component only when it is not the folder itself;
		 * a reason of our own reads on, errno's after a colon. */
		if (*bad && strcmp(bad, strrchr(path, '/') + 1))
			snprintf(why, whysz, "its parent '%s'%s%s", bad,
				 strncmp(w, "is ", 3) ? ": " : " ", w);
		else
			snprintf(why, whysz, "%s", w);
		return fd;
	}
	if (fstat(fd, &st) || fstatvfs(fd, &vfs)) {
		r = -errno;
		w = strerror(-r);
	} else if (st.st_uid != geteuid()) {
		r = -EPERM;
		w = "owned by another user";
	} else if ((st.st_mode & 07777) != 0700) {
		r = -EPERM;
		snprintf(mode, sizeof(mode), "mode is %04o, not 0700 (chmod 700 it)",
			 (unsigned)(st.st_mode & 07777));
		w = mode;
	} else if (vfs.f_flag & ST_NOEXEC) {
		r = -EPERM;
		w = "on a noexec mount";
	} else if (vfs.f_flag & ST_RDONLY) {
		r = -EROFS;
		w = "on a read-only mount";
	} else {
		r = kt_snprintf(c->path, sizeof(c->path), "%s", path);
		w = r ? "path too long" : NULL;
	}
	if (r) {
		snprintf(why, whysz, "%s", w);
		close(fd);
		/* A folder made here and refused (a noexec mount) goes. */
		if (created)
			rmdir(path);
		return r;
	}
	c->dfd = fd;
	c->st_dev = st.st_dev;
	return 0;
}

struct cache_cand {
	char path[PATH_MAX];
	int create;		/* trailing components that may be made */
};

/* The candidates of the README, in order.  Only "ktstr" (and ~/.cache,
 * the XDG default) is ever created, inside a parent that exists. */
static size_t cache_candidates(const struct kt_cache_opts *o, struct cache_cand *cand)
{
	const char *v;
	size_t n = 0;

	if (o && o->dir) {
		cand[n].create = 1;
		return kt_snprintf(cand[n].path, PATH_MAX, "%s", o->dir) ? 0 : 1;
	}
	if ((v = getenv(KT_CACHE_DIR_ENV)) && *v &&
	    !kt_snprintf(cand[n].path, PATH_MAX, "%s", v))
		cand[n++].create = 1;
	if ((v = getenv("XDG_CACHE_HOME")) && *v == '/' &&
	    !kt_snprintf(cand[n].path, PATH_MAX, "%s/ktstr", v))
		cand[n++].create = 1;
	if ((v = getenv("HOME")) && *v == '/' &&
	    !kt_snprintf(cand[n].path, PATH_MAX, "%s/.cache/ktstr", v))
		cand[n++].create = 2;
	if (!kt_snprintf(cand[n].path, PATH_MAX, "%s/ktstr-%u", kt_tmpdir(), (unsigned)geteuid()))
		cand[n++].create = 1;
	return n;
}

int kt_cache__open(const struct kt_cache_opts *o, struct kt_cache **out,
		   struct kt_err *err)
{
	struct cache_cand cand[4];
	struct kt_cache *c;
	char why[256], first[PATH_MAX + 300] = "";
	size_t n;
	int first_r = 0;

	c = calloc(1, sizeof(*c));
	if (!c)
		return kt_err_set(err, -ENOMEM, "out of memory");
	c->dfd = -1;
	n = cache_candidates(o, cand);
	for (size_t i = 0; i < n; i++) {
		int r = cache_try(cand[i].path, cand[i].create, c, why, sizeof(why));

		if (!r) {
			*out = c;
			return 0;
		}
		kt_log(o ? &o->log : NULL, KT_LOG_WARN, "skipping cache folder '%s': %s",
		       cand[i].path, why);
		if (!first_r) {
			first_r = r;
			kt_snprintf_cut(first, sizeof(first), "'%s': %s", cand[i].path, why);
		}
	}
	free(c);
	return kt_err_set(err, first_r ? first_r : -ENOENT,
			  "no usable cache folder (first tried %s); set %s to a private folder",
			  first, KT_CACHE_DIR_ENV);
}

void kt_cache__close(struct kt_cache *c)
{
	if (!c)
		return;
	if (c->dfd >= 0)
		close(c->dfd);
	free(c);
}

const char *kt_cache__path(const struct kt_cache *c)
{
	return c->path;
}

int kt_cache__fd(const struct kt_cache *c)
{
	return c->dfd;
}

/* ---- files in it ---------------------------------------------------------------- */

/* A name in the folder itself: no '/', not "." or "..". */
static bool cache_name_ok(const char *name)
{
	return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

int kt_cache__open_file(struct kt_cache *c, const char *name, mode_t mode,
			uint64_t size, int *fd)
{
	struct stat st;
	int f;

	if (!cache_name_ok(name))
		return -EINVAL;
	/* O_NONBLOCK: a FIFO planted under the name must not hang us. */
	f = openat(c->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	/* A link, a socket, a file we may not read: not ours to trust. */
	if (f < 0)
		return errno == ELOOP || errno == ENXIO || errno == EACCES ? -ESTALE : -errno;
	if (fstat(f, &st)) {
		int r = -errno;

		close(f);
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 07777) != mode ||
	    (size != UINT64_MAX && (uint64_t)st.st_size != size)) {
		close(f);
		return -ESTALE;
	}
	fcntl(f, F_SETFL, 0);
	*fd = f;
	return 0;
}

/*
 * A new staging file, locked.  Between mkostemp and flock another run may
 * take the unlocked file for a dead writer's and remove its name; the name
 * is then checked to still be ours (which also proves mkostemp, which
 * resolves the folder by path, created it in the folder we checked), and
 * the file made again if not.
 */
static int cache_staging(struct kt_cache *c, const char *name, char *path,
			 size_t sz, int *out)
{
	for (int tries = 0; tries < 16; tries++) {
		struct stat st, st2;
		const char *base;
		int fd, r;

		r = kt_snprintf(path, sz, "%s/" STAGING_PREFIX "%s.XXXXXX", c->path, name);
		if (r)
			return r;
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return -errno;
		base = strrchr(path, '/') + 1;
		/* The lock tells a later run that this writer is alive. */
		if (flock(fd, LOCK_EX) || fstat(fd, &st)) {
			r = -errno;
			unlinkat(c->dfd, base, 0);
			close(fd);
			return r;
		}
		if (!fstatat(c->dfd, base, &st2, AT_SYMLINK_NOFOLLOW) &&
		    st.st_ino == st2.st_ino && st.st_dev == st2.st_dev) {
			*out = fd;
			return 0;
		}
		close(fd);
		if (st.st_dev != c->st_dev)
			return -EXDEV;	/* the folder was swapped under us */
	}
	return -EAGAIN;
}

int kt_cache__publish(struct kt_cache *c, const char *name, mode_t mode,
		      uint64_t size, kt_cache_fill_fn fill, void *ctx,
		      struct kt_err *err)
{
	char staging[PATH_MAX];
	const char *base;
	int fd = -1, r;

	if (!cache_name_ok(name))
		return kt_err_set(err, -EINVAL, "invalid cache file name '%s'", name);
	r = cache_staging(c, name, staging, sizeof(staging), &fd);
	if (r)
		return kt_err_set(err, r, "cannot create a staging file for '%s/%s': %s",
				  c->path, name, strerror(-r));
	base = strrchr(staging, '/') + 1;
	/* ENOSPC shows here, before any data is written. */
	if (size) {
		/* Reserved, not sized: what the filler writes is the file. */
		r = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) ? -errno : 0;
		if (r && r != -EOPNOTSUPP && r != -EINVAL && r != -ENOSYS) {
			kt_err_set(err, r, "cannot write '%s/%s': %s", c->path, name,
				   strerror(-r));
			goto out;
		}
	}
	r = fill(ctx, fd, err);
	if (r)
		goto out;
	if (fchmod(fd, mode) || fsync(fd)) {
		r = kt_err_set(err, -errno, "cannot write '%s/%s': %s", c->path, name,
			       strerror(errno));
		goto out;
	}
	/* The staging name is ours while we hold its lock (see
	 * cache_staging); link never replaces an existing name, and EEXIST
	 * means another writer won with a complete file. */
	if (linkat(c->dfd, base, c->dfd, name, 0) && errno != EEXIST)
		r = kt_err_set(err, -errno, "cannot publish '%s/%s': %s", c->path, name,
			       strerror(errno));
out:
	unlinkat(c->dfd, base, 0);
	close(fd);
	return r;
}

/* ---- clean-up -------------------------------------------------------------------- */

/* ".kt-<name>.XXXXXX": only names that cache_staging makes. */
static bool cache_is_staging(const char *n)
{
	size_t len = strlen(n), pl = strlen(STAGING_PREFIX);

	return len > pl + STAGING_SUFFIX + 1 && !strncmp(n, STAGING_PREFIX, pl) &&
	       n[len - STAGING_SUFFIX - 1] == '.';
}

/* A free lock means the writer is gone. */
static void cache_reap_one(int dfd, const char *n)
{
	struct stat st;
	int fd;

	fd = openat(dfd, n, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    !flock(fd, LOCK_EX | LOCK_NB))
		unlinkat(dfd, n, 0);
	close(fd);
}

/* A listing of the folder (NULL and errno).  A new open file, not a dup:
 * a dup shares the read position, and one listing would leave the next
 * at the end. */
static DIR *cache_opendir(const struct kt_cache *c)
{
	int fd = openat(c->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return d;
}

int kt_cache__sweep(struct kt_cache *c, kt_cache_sweep_fn fn, void *ctx)
{
	struct dirent *de;
	DIR *d = cache_opendir(c);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (cache_is_staging(de->d_name))
			cache_reap_one(c->dfd, de->d_name);
		else if (fn && de->d_name[0] != '.')
			fn(ctx, c->dfd, de->d_name);
	}
	closedir(d);
	return 0;
}

struct cache_aged {
	char name[NAME_MAX + 1];
	struct timespec mtime;
};

static int cache_newer_first(const void *a, const void *b)
{
	const struct timespec *x = &((const struct cache_aged *)a)->mtime;
	const struct timespec *y = &((const struct cache_aged *)b)->mtime;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? 1 : -1;
	return (x->tv_nsec < y->tv_nsec) - (x->tv_nsec > y->tv_nsec);
}

int kt_cache__prune(struct kt_cache *c, const char *prefix, size_t keep,
		    size_t *removed)
{
	struct cache_aged *v = NULL;
	size_t n = 0, cap = 0, pl = strlen(prefix), gone = 0;
	struct dirent *de;
	DIR *d = cache_opendir(c);
	int r = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct stat st;

		if (strncmp(de->d_name, prefix, pl) ||
		    fstatat(c->dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid())
			continue;
		r = kt_grow((void **)&v, &cap, n + 1, sizeof(*v));
		if (r)
			break;
		snprintf(v[n].name, sizeof(v[n].name), "%s", de->d_name);
		v[n++].mtime = st.st_mtim;
	}
	if (!r && n > keep) {
		qsort(v, n, sizeof(*v), cache_newer_first);
		for (size_t i = keep; i < n; i++)
			if (!unlinkat(c->dfd, v[i].name, 0))
				gone++;
	}
	free(v);
	closedir(d);
	if (removed)
		*removed = gone;
	return r;
}

/* ---- locks ------------------------------------------------------------------------- */

int kt_cache_lock(struct kt_cache *c, const char *name, const struct kt_stop *stop,
		  unsigned timeout_ms, int *fd)
{
	uint64_t deadline = kt_now_ms() + timeout_ms;
	char lockname[NAME_MAX + 1];

	if (kt_snprintf(lockname, sizeof(lockname), STAGING_PREFIX "%s.lock", name))
		return -ENAMETOOLONG;
	/* The holder removes the file when done: a waiter that then holds a
	 * removed file's lock takes the new one. */
	for (;;) {
		struct stat held, named;
		int r = 0, lock = openat(c->dfd, lockname,
					 O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);

		if (lock < 0)
			return -errno;
		/* (a FIFO or a device planted under the name is no lock) */
		if (fstat(lock, &held) || !S_ISREG(held.st_mode) || held.st_uid != geteuid()) {
			close(lock);
			return -EPERM;
		}
		/* polled, so that @stop ends the wait */
		while (!r && flock(lock, LOCK_EX | LOCK_NB)) {
			if (errno != EWOULDBLOCK)
				r = -errno;
			else if (kt_stopped(stop))
				r = -EINTR;
			else if (!timeout_ms)
				r = -EWOULDBLOCK;
			else if (timeout_ms != KT_LOCK_FOREVER && kt_now_ms() >= deadline)
				r = -ETIMEDOUT;
			else
				nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
		}
		if (r) {
			close(lock);
			return r;
		}
		if (!fstatat(c->dfd, lockname, &named, AT_SYMLINK_NOFOLLOW) &&
		    held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
			*fd = lock;
			return 0;
		}
		close(lock);
	}
}

void kt_cache_unlock(struct kt_cache *c, const char *name, int fd)
{
	char lockname[NAME_MAX + 1];

	if (!c || fd < 0)
		return;
	if (!kt_snprintf(lockname, sizeof(lockname), STAGING_PREFIX "%s.lock", name))
		unlinkat(c->dfd, lockname, 0);
	close(fd);
}
