/* workdir.c - a run's private folder in $TMPDIR (see internal.h).
 *
 * Made only in a $TMPDIR that no other user can change (every component
 * from / checked as the cache folder's are: a sticky shared /tmp is
 * fine), under a random name, mode 0700, and used through its descriptor:
 * another user can neither read what is written there nor swap it.  A
 * lock tells a live run's folder from a killed one's, which a later run
 * removes.  Touches only $TMPDIR's entries that bear ktpack's prefixes.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *kt_tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");

	return tmp && *tmp == '/' ? tmp : "/tmp";
}

/* $TMPDIR's descriptor, once it is found to be a folder no other user
 * can change; else -errno with @err saying why. */
static int workdir_parent(struct kt_err *err)
{
	char why[256];
	int fd, r = kt_dir_trusted(kt_tmpdir(), &fd, why, sizeof(why));

	if (r)
		return kt_err_set(err, r, "cannot create a work folder in '%s' (TMPDIR): %s",
				  kt_tmpdir(), why);
	return fd;
}

/* Removes the regular files in folder @dfd (one level; @dfd is closed),
 * then the folder @name in @parent. */
static void workdir_rm(int parent, const char *name, int dfd)
{
	struct dirent *de;
	DIR *d = fdopendir(dfd);

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) && !S_ISDIR(st.st_mode))
			unlinkat(dfd, de->d_name, 0);
	}
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

/* A new folder "@prefix.XXXXXX" in @parent, 0700 whatever the umask;
 * its name in @name. */
static int workdir_mkdir(int parent, const char *prefix, char *name, size_t sz)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (int tries = 0; tries < 100; tries++) {
		unsigned char rnd[6];
		char sfx[7];

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -errno;
		for (size_t i = 0; i < sizeof(rnd); i++)
			sfx[i] = chars[rnd[i] % (sizeof(chars) - 1)];
		sfx[6] = '\0';
		if (kt_snprintf(name, sz, "%s.%s", prefix, sfx))
			return -ENAMETOOLONG;
		/* (0700 whatever the umask, before it is opened: see cache.c) */
		if (!mkdirat(parent, name, 0700)) {
			int r = fchmodat(parent, name, 0700, 0) ? -errno : 0;

			if (r)
				unlinkat(parent, name, AT_REMOVEDIR);
			return r;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int kt_workdir_new(struct kt_workdir *w, const char *prefix, struct kt_err *err)
{
	char name[NAME_MAX + 1];
	struct stat st;
	int parent, r;

	*w = (struct kt_workdir){ .lock = -1, .dfd = -1, .parent = -1 };
	parent = workdir_parent(err);
	if (parent < 0)
		return parent;
	r = workdir_mkdir(parent, prefix, name, sizeof(name));
	if (r) {
		close(parent);
		return kt_err_set(err, r, "cannot create a work folder in '%s' (TMPDIR): %s",
				  kt_tmpdir(), strerror(-r));
	}
	w->parent = parent;
	kt_snprintf_cut(w->path, sizeof(w->path), "%s/%s", kt_tmpdir(), name);
	w->dfd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (w->dfd < 0 || fstat(w->dfd, &st) || fchmod(w->dfd, 0700)) {
		r = -errno;
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		r = -EPERM;
		goto fail;
	}
	/* Locked before it gets the name a reaper looks for: a ".lock" is
	 * never free while its run lives. */
	w->lock = openat(w->dfd, ".lock.new", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			 0600);
	if (w->lock < 0 || flock(w->lock, LOCK_EX | LOCK_NB) ||
	    renameat(w->dfd, ".lock.new", w->dfd, ".lock")) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	kt_err_set(err, r, "cannot set up the work folder '%s': %s", w->path, strerror(-r));
	if (w->dfd < 0) {
		/* (not ours to empty: only the name goes, if it is a folder) */
		unlinkat(parent, name, AT_REMOVEDIR);
		close(parent);
		*w = (struct kt_workdir){ .lock = -1, .dfd = -1, .parent = -1 };
		return r;
	}
	kt_workdir_remove(w);
	return r;
}

void kt_workdir_remove(struct kt_workdir *w)
{
	const char *name = strrchr(w->path, '/');

	if (!w->path[0])
		return;		/* never made (the descriptors may be zeroes) */
	if (w->dfd >= 0 && w->parent >= 0 && name)
		workdir_rm(w->parent, name + 1, w->dfd);
	else if (w->dfd >= 0)
		close(w->dfd);
	if (w->parent >= 0)
		close(w->parent);
	if (w->lock >= 0)
		close(w->lock);
	*w = (struct kt_workdir){ .lock = -1, .dfd = -1, .parent = -1 };
}

/* "@prefix.XXXXXX" for one of @prefixes. */
static bool workdir_name(const char *name, const char *const *prefixes)
{
	for (size_t i = 0; prefixes[i]; i++) {
		size_t l = strlen(prefixes[i]);

		if (!strncmp(name, prefixes[i], l) && name[l] == '.' && strlen(name + l + 1) == 6)
			return true;
	}
	return false;
}

void kt_workdir_reap(const char *const *prefixes)
{
	int parent = workdir_parent(NULL);
	struct dirent *de;
	int dfd0;
	DIR *d;

	if (parent < 0)
		return;
	dfd0 = dup(parent);
	d = dfd0 >= 0 ? fdopendir(dfd0) : NULL;
	if (!d && dfd0 >= 0)
		close(dfd0);
	while (d && (de = readdir(d))) {
		struct stat st;
		int dfd, lock;

		if (!workdir_name(de->d_name, prefixes))
			continue;
		dfd = openat(parent, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			continue;
		/* Ours, and its lock free: its run is gone.  A folder without
		 * a lock yet may belong to a run starting right now, unless it
		 * is an hour old. */
		lock = openat(dfd, ".lock", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (!fstat(dfd, &st) && st.st_uid == geteuid() &&
		    (lock >= 0 ? !flock(lock, LOCK_EX | LOCK_NB) :
				 time(NULL) - st.st_mtime > 3600)) {
			if (lock >= 0)
				close(lock);
			workdir_rm(parent, de->d_name, dfd);
			continue;
		}
		if (lock >= 0)
			close(lock);
		close(dfd);
	}
	if (d)
		closedir(d);
	close(parent);
}
