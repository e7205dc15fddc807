/* extract.c - install_env (see extract.h and DESIGN.md).
 *
 * Touches the cache folder, the executable's own file and the process
 * environment.  The folder is trusted only after it was opened without
 * following a link and found to be ours and private; every later name is
 * resolved relative to that descriptor.
 */
#include <ktpack/extract.h>

#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* Bytes compared between memory and the copy after copy_file_range. */
#define KT_VERIFY_BYTES 4096

struct kt_cache {
	int dfd;
	dev_t st_dev;
	char path[PATH_MAX];
};

struct kt_installer {
	const struct kt_install_opts *opts;
	struct kt_cache cache;
	int exe_fd;		/* -1: not opened yet, -2: unusable */
	bool wrote;		/* a blob was written: time to collect old ones */
};

static void extract_warn(const struct kt_install_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void extract_warn(const struct kt_install_opts *o, const char *fmt, ...)
{
	char msg[PATH_MAX + 128];
	va_list ap;

	if (!o || !o->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->warn(o->warn_ctx, msg);
}

/* ---- the cache folder ---------------------------------------------------- */

/* Creates the missing components of @path, each 0700. */
static int extract_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	int r;

	r = kt_snprintf(buf, sizeof(buf), "%s", path);
	if (r)
		return r;
	for (char *p = buf + 1; ; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		if (last)
			return 0;
		*p = '/';
	}
}

/*
 * Opens @path as a cache folder, or says in @why why it cannot be one.  The
 * checks run on the descriptor, so the folder cannot be swapped after them.
 */
static int extract_cache_try(const char *path, struct kt_cache *c, const char **why)
{
	struct statvfs vfs;
	struct stat st;
	int fd, r;

	*why = NULL;
	if (path[0] != '/') {
		*why = "not an absolute path";
		return -EINVAL;
	}
	r = extract_mkdir_p(path);
	if (r && r != -ENOTDIR) {
		*why = strerror(-r);
		return r;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP || (r == -ENOTDIR && !lstat(path, &st) &&
				    S_ISLNK(st.st_mode)))
			*why = "is a symlink";
		else
			*why = strerror(-r);
		return r;
	}
	if (fstat(fd, &st) || fstatvfs(fd, &vfs)) {
		r = -errno;
		*why = strerror(-r);
		goto fail;
	}
	r = -EPERM;
	if (st.st_uid != geteuid()) {
		*why = "owned by another user";
		goto fail;
	}
	if ((st.st_mode & 07777) != 0700) {
		*why = "mode is not 0700";
		goto fail;
	}
	if (vfs.f_flag & ST_NOEXEC) {
		*why = "on a noexec mount";
		goto fail;
	}
	if (vfs.f_flag & ST_RDONLY) {
		r = -EROFS;
		*why = "on a read-only mount";
		goto fail;
	}
	r = kt_snprintf(c->path, sizeof(c->path), "%s", path);
	if (r) {
		*why = strerror(-r);
		goto fail;
	}
	c->dfd = fd;
	c->st_dev = st.st_dev;
	return 0;
fail:
	close(fd);
	return r;
}

/* The candidates of DESIGN.md, in order; the first that works is used. */
static int extract_cache_open(struct kt_cache *c, const struct kt_install_opts *o,
		       struct kt_err *err)
{
	char cand[4][PATH_MAX];
	const char *v, *tmp;
	size_t n = 0;
	int first_r = 0;
	char first[PATH_MAX + 64] = "";

	if ((v = getenv("KTSTR_CACHE_DIR")) && *v &&
	    !kt_snprintf(cand[n], PATH_MAX, "%s", v))
		n++;
	if ((v = getenv("XDG_CACHE_HOME")) && *v == '/' &&
	    !kt_snprintf(cand[n], PATH_MAX, "%s/ktstr", v))
		n++;
	if ((v = getenv("HOME")) && *v == '/' &&
	    !kt_snprintf(cand[n], PATH_MAX, "%s/.cache/ktstr", v))
		n++;
	tmp = getenv("TMPDIR");
	if (!tmp || *tmp != '/')
		tmp = "/tmp";
	if (!kt_snprintf(cand[n], PATH_MAX, "%s/ktstr-%u", tmp,
			 (unsigned)geteuid()))
		n++;

	for (size_t i = 0; i < n; i++) {
		const char *why;
		int r = extract_cache_try(cand[i], c, &why);

		if (!r)
			return 0;
		extract_warn(o, "skipping cache folder '%s': %s", cand[i], why);
		if (!first_r) {
			first_r = r;
			/* A long path is cut short in the message only. */
			if (snprintf(first, sizeof(first), "'%s': %s", cand[i],
				     why) >= (int)sizeof(first))
				first[sizeof(first) - 1] = '\0';
		}
	}
	return kt_err_set(err, first_r ? first_r : -ENOENT,
			  "no usable cache folder (first tried %s)", first);
}

/* ---- one blob -------------------------------------------------------------- */

struct kt_phdr_query {
	uintptr_t addr;
	size_t len;
	off_t off;
	bool found;
};

static int extract_phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct kt_phdr_query *q = data;
	uintptr_t vaddr;

	(void)size;
	/* The first object reported is the executable itself. */
	if (q->addr < info->dlpi_addr)
		return 1;
	vaddr = q->addr - info->dlpi_addr;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || vaddr < ph->p_vaddr)
			continue;
		if (q->len > ph->p_filesz ||
		    vaddr - ph->p_vaddr > ph->p_filesz - q->len)
			continue;
		q->off = (off_t)(ph->p_offset + (vaddr - ph->p_vaddr));
		q->found = true;
		break;
	}
	return 1;
}

/* Where the blob's bytes sit in the executable file, or -ENOENT. */
static int extract_blob_file_offset(const struct kt_blob *b, off_t *off)
{
	struct kt_phdr_query q = {
		.addr = (uintptr_t)b->start, .len = (size_t)b->size,
	};

	dl_iterate_phdr(extract_phdr_cb, &q);
	if (!q.found)
		return -ENOENT;
	*off = q.off;
	return 0;
}

/*
 * Copies as much of the blob as the kernel will copy from the executable
 * (a reflink where the file system shares extents); returns the bytes done.
 * Any failure only means the rest is written from memory.
 */
static uint64_t extract_copy_from_exe(struct kt_installer *in, const struct kt_blob *b,
			       int out_fd)
{
	const char *exe = in->opts && in->opts->exe_path ?
			  in->opts->exe_path : "/proc/self/exe";
	uint64_t done = 0;
	off_t src;

	if (extract_blob_file_offset(b, &src))
		return 0;
	if (in->exe_fd == -1) {
		in->exe_fd = open(exe, O_RDONLY | O_CLOEXEC);
		if (in->exe_fd < 0)
			in->exe_fd = -2;
	}
	if (in->exe_fd < 0)
		return 0;
	while (done < b->size) {
		ssize_t n;

		n = copy_file_range(in->exe_fd, &src, out_fd, NULL,
				    (size_t)(b->size - done), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (uint64_t)n;
	}
	return done;
}

/* The copy must hold the blob's bytes: compare its two ends with memory. */
static int extract_verify_ends(const struct kt_blob *b, int fd)
{
	unsigned char buf[KT_VERIFY_BYTES];
	size_t len = b->size < sizeof(buf) ? (size_t)b->size : sizeof(buf);
	off_t tail = (off_t)(b->size - len);

	if (kt_pread_full(fd, buf, len, 0) != (ssize_t)len ||
	    memcmp(buf, b->start, len))
		return -EIO;
	if (kt_pread_full(fd, buf, len, tail) != (ssize_t)len ||
	    memcmp(buf, b->start + tail, len))
		return -EIO;
	return 0;
}

/* A published file is reused only when it is plainly ours and complete. */
static int extract_check_published(int fd, const struct kt_blob *b)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (uint64_t)st.st_size != b->size || (st.st_mode & 07777) != 0755)
		return -ESTALE;
	return 0;
}

static int extract_lookup_published(struct kt_cache *c, const char *name,
			     const struct kt_blob *b)
{
	int fd, r;

	fd = openat(c->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -ESTALE : -errno;
	r = extract_check_published(fd, b);
	close(fd);
	return r;
}

/*
 * A new staging file in the cache folder, locked.  Between mkostemp and
 * flock another run may take the unlocked file for a dead writer's and
 * remove its name; the name is then checked to still be ours (which also
 * proves mkostemp, which resolves the folder by path, created it in the
 * folder we checked), and the file made again if not.
 */
static int extract_create_staging(struct kt_cache *c, const char *name, char *path,
			   size_t sz, int *out)
{
	for (int tries = 0; tries < 16; tries++) {
		struct stat st, st2;
		int fd, r;

		r = kt_snprintf(path, sz, "%s/.%s.XXXXXX", c->path, name);
		if (r)
			return r;
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return -errno;
		/* The lock tells a later run that this writer is alive. */
		if (flock(fd, LOCK_EX) || fstat(fd, &st)) {
			r = -errno;
			unlinkat(c->dfd, strrchr(path, '/') + 1, 0);
			close(fd);
			return r;
		}
		if (!fstatat(c->dfd, strrchr(path, '/') + 1, &st2, AT_SYMLINK_NOFOLLOW) &&
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

/* Writes the blob under a locked staging name, then publishes it. */
static int extract_write_blob(struct kt_installer *in, const struct kt_blob *b,
		       const char *name, const char *final, struct kt_err *err)
{
	struct kt_cache *c = &in->cache;
	char staging[PATH_MAX];
	const char *base;
	uint64_t done;
	int fd = -1, r;

	r = extract_create_staging(c, name, staging, sizeof(staging), &fd);
	if (r)
		return kt_err_set(err, r, "cannot create a staging file for '%s': %s",
				  final, strerror(-r));
	base = strrchr(staging, '/') + 1;
	/* ENOSPC shows here, before any data is written. */
	r = -posix_fallocate(fd, 0, (off_t)b->size);
	if (r && r != -EOPNOTSUPP && r != -EINVAL)
		goto fail;

	done = extract_copy_from_exe(in, b, fd);
	if (done < b->size) {
		r = kt_pwrite_all(fd, b->start + done, (size_t)(b->size - done),
				  (off_t)done);
		if (r)
			goto fail;
	} else if (extract_verify_ends(b, fd)) {
		/* The executable file does not hold what is mapped. */
		r = kt_pwrite_all(fd, b->start, (size_t)b->size, 0);
		if (r)
			goto fail;
	}
	if (fchmod(fd, 0755) || fsync(fd)) {
		r = -errno;
		goto fail;
	}

	/* The staging name is ours while we hold its lock (see
	 * extract_create_staging); link never replaces an existing name. */
	r = linkat(c->dfd, base, c->dfd, name, 0) ? -errno : 0;
	if (r == -EEXIST)	/* another run won: its file is complete */
		r = extract_lookup_published(c, name, b);
	if (r)
		goto fail;
	unlinkat(c->dfd, base, 0);
	/* Closed before the path is exported: an open writer makes exec
	 * fail with ETXTBSY. */
	close(fd);
	in->wrote = true;
	return 0;
fail:
	unlinkat(c->dfd, base, 0);
	close(fd);
	return kt_err_set(err, r, "cannot extract %s to '%s': %s", b->name,
			  final, strerror(-r));
}

static int extract_install_blob(struct kt_installer *in, const struct kt_blob *b,
			 struct kt_err *err)
{
	struct kt_cache *c = &in->cache;
	char name[NAME_MAX + 1], final[PATH_MAX];
	int r;

	r = kt_snprintf(name, sizeof(name), "%s-%s", b->name, b->sha256);
	if (!r)
		r = kt_snprintf(final, sizeof(final), "%s/%s", c->path, name);
	if (r)
		return kt_err_set(err, r, "cannot extract %s into '%s': %s",
				  b->name, c->path, strerror(-r));

	r = extract_lookup_published(c, name, b);
	if (r == -ESTALE) {
		/* Not a file we wrote (wrong size, mode, owner or a link):
		 * remove it and write a good one. */
		if (unlinkat(c->dfd, name, 0) && errno != ENOENT) {
			r = -errno;
			return kt_err_set(err, r, "cannot remove stale '%s': %s",
					  final, strerror(-r));
		}
		r = -ENOENT;
	}
	if (r == -ENOENT)
		r = extract_write_blob(in, b, name, final, err);
	else if (r)
		return kt_err_set(err, r, "cannot open '%s': %s", final,
				  strerror(-r));
	if (r)
		return r;
	if (setenv(b->env, final, 1))
		return kt_err_set(err, -errno, "cannot export %s: %s", b->env,
				  strerror(errno));
	return 0;
}

/* ---- the sweep: dead writers' staging files and old versions ------------ */

/* ".<name>-<sha>.XXXXXX" */
static bool extract_is_staging(const char *n)
{
	size_t len = strlen(n);

	return n[0] == '.' && len > 8 && n[len - 7] == '.' && strcmp(n, "..");
}

static void extract_reap_staging(int dfd, const char *n)
{
	struct stat st;
	int fd;

	fd = openat(dfd, n, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	/* A free lock means the writer is gone. */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    !flock(fd, LOCK_EX | LOCK_NB))
		unlinkat(dfd, n, 0);
	close(fd);
}

/* "<name>-<64 hex>" with another digest than the current one. */
static bool extract_is_old_version(const struct kt_blob_table *t, const char *n)
{
	for (size_t i = 0; i < t->count; i++) {
		const struct kt_blob *b = &t->blobs[i];
		size_t bl = strlen(b->name);
		const char *h = n + bl + 1;

		if (!kt_blob__embedded(b) || strncmp(n, b->name, bl) ||
		    n[bl] != '-' || strlen(h) != 64 || !strcmp(h, b->sha256))
			continue;
		if (strspn(h, "0123456789abcdef") == 64)
			return true;
	}
	return false;
}

static void extract_sweep(struct kt_installer *in, const struct kt_blob_table *t)
{
	int dfd = in->cache.dfd, fd = dup(dfd);
	time_t now = time(NULL);
	unsigned removed = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (extract_is_staging(de->d_name)) {
			extract_reap_staging(dfd, de->d_name);
			continue;
		}
		/* Old versions only go when this run wrote a new one, a
		 * bounded number at a time, and never young ones. */
		if (!in->wrote || removed >= KT_GC_MAX ||
		    !extract_is_old_version(t, de->d_name))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		    now - st.st_mtime < KT_GC_MIN_AGE_S)
			continue;
		if (!unlinkat(dfd, de->d_name, 0))
			removed++;
	}
	closedir(d);
}

/* ---- install_env ----------------------------------------------------------- */

/* A path the user exported wins, but only if it can be run. */
static int extract_check_preset(const struct kt_blob *b, const char *path,
			 struct kt_err *err)
{
	struct stat st;

	if (stat(path, &st))
		return kt_err_set(err, -errno, "%s='%s': %s", b->env, path,
				  strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kt_err_set(err, -EINVAL, "%s='%s': not a regular file",
				  b->env, path);
	if (access(path, X_OK))
		return kt_err_set(err, -errno, "%s='%s': not executable (%s)",
				  b->env, path, strerror(errno));
	return 0;
}

int kt_install_env(const struct kt_blob_table *t,
		   const struct kt_install_opts *opts, struct kt_err *err)
{
	struct kt_installer in = {
		.opts = opts, .cache = { .dfd = -1 }, .exe_fd = -1,
	};
	bool need[64] = { false };
	bool any = false;
	int r;

	if (t->count > KT_ARRAY_SIZE(need))
		return kt_err_set(err, -E2BIG, "too many blobs (%zu)", t->count);
	r = kt_blob_table__check(t);
	if (r)
		return kt_err_set(err, r, "the blob table does not match the embedded objects");

	for (size_t i = 0; i < t->count; i++) {
		const struct kt_blob *b = &t->blobs[i];
		const char *v = getenv(b->env);

		if (v && *v) {
			r = extract_check_preset(b, v, err);
			if (r)
				return r;
			continue;
		}
		need[i] = kt_blob__embedded(b);
		any |= need[i];
	}
	if (!any)
		return 0;

	r = extract_cache_open(&in.cache, opts, err);
	if (r)
		return r;
	for (size_t i = 0; i < t->count && !r; i++)
		if (need[i])
			r = extract_install_blob(&in, &t->blobs[i], err);
	if (!r)
		extract_sweep(&in, t);
	if (in.exe_fd >= 0)
		close(in.exe_fd);
	close(in.cache.dfd);
	return r;
}

int kt_cache_dir(char *out, size_t sz, const struct kt_install_opts *opts,
		 struct kt_err *err)
{
	struct kt_cache c = { .dfd = -1 };
	int r = extract_cache_open(&c, opts, err);

	if (r)
		return r;
	close(c.dfd);
	r = kt_snprintf(out, sz, "%s", c.path);
	return r ? kt_err_set(err, r, "cache folder path too long") : 0;
}

struct kt_aged {
	char name[NAME_MAX + 1];
	struct timespec mtime;
};

static int extract_newer_first(const void *a, const void *b)
{
	const struct timespec *x = &((const struct kt_aged *)a)->mtime;
	const struct timespec *y = &((const struct kt_aged *)b)->mtime;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? 1 : -1;
	return (x->tv_nsec < y->tv_nsec) - (x->tv_nsec > y->tv_nsec);
}

int kt_cache_prune(const char *dir, const char *prefix, size_t keep)
{
	struct kt_aged *v = NULL;
	size_t n = 0, cap = 0, pl = strlen(prefix);
	time_t now = time(NULL);
	struct dirent *de;
	int removed = 0, dfd;
	DIR *d;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct stat st;

		if (strncmp(de->d_name, prefix, pl) ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid())
			continue;
		/* a temporary file: ".XXXXXX" at the end */
		if (len > pl + 7 && de->d_name[len - 7] == '.' &&
		    strspn(de->d_name + len - 6, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "abcdefghijklmnopqrstuvwxyz") == 6) {
			if (now - st.st_mtime > KT_GC_MIN_AGE_S && !unlinkat(dfd, de->d_name, 0))
				removed++;
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct kt_aged *nv = realloc(v, nc * sizeof(*nv));

			if (!nv)
				break;
			v = nv;
			cap = nc;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", de->d_name);
		v[n++].mtime = st.st_mtim;
	}
	if (n > keep) {
		qsort(v, n, sizeof(*v), extract_newer_first);
		for (size_t i = keep; i < n; i++)
			if (!unlinkat(dfd, v[i].name, 0))
				removed++;
	}
	free(v);
	closedir(d);
	return removed;
}
