/* initramfs.c - the guest's archive (see initramfs.h).
 *
 * Reads the host files it is given and their ELF closures; writes only the
 * output archive (through a temporary name).  Entries are collected first
 * and laid out at write time: guest symlinks resolved in parent paths,
 * missing parent folders added, duplicates merged or refused, sorted.  A
 * host file is opened once, when it is added, and checked on that
 * descriptor, which the entry keeps: the bytes written are those of the
 * file that was checked, whatever its name leads to by then.
 */
#include <ktpack/initramfs.h>

#include "internal.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include <ktpack/elfinfo.h>
#include <ktpack/vm.h>

#define KT_MAX_DEPTH	64	/* folder depth of add_tree */

enum kt_ekind { E_DIR, E_FILE, E_DATA, E_MEM, E_LINK, E_NODE };

struct kt_entry {
	char *name;		/* archive name: no leading '/' */
	enum kt_ekind kind;
	uint32_t mode;		/* permission bits (type for E_NODE) */
	char *src;		/* E_FILE: host path, for messages; E_LINK: target */
	int fd;			/* E_FILE: the file that was checked, owned */
	unsigned char *data;	/* E_DATA: owned */
	const unsigned char *mem; /* E_MEM: borrowed */
	size_t len;
	uint32_t major, minor;	/* E_NODE */
};

/* A program of another architecture than the guest's, packed as data. */
struct kt_foreign {
	char *guest;		/* its archive name, with the leading '/' */
	char *host;
	uint16_t machine;	/* ELF's e_machine */
};

struct kt_initramfs {
	enum kt_compress compress;
	uint32_t mtime;
	bool dev_console;
	enum kt_arch arch;	/* NONE: any */
	char *sysroot;		/* where the closures' paths are; NULL: / */
	bool laid_out;		/* initramfs_layout ran and nothing was added since */
	/* The archive unpacked before this one (kt_initramfs__over), laid
	 * out; borrowed.  NULL: none. */
	struct kt_initramfs *over;
	struct kt_resolver *res;
	struct kt_entry *e;
	size_t n, cap;
	struct kt_foreign *foreign;
	size_t nforeign, foreign_cap;
	struct kt_log log;
};

/* ---- entries ------------------------------------------------------------------- */

static void initramfs_entry_free(struct kt_entry *e)
{
	if (e->kind == E_FILE && e->fd >= 0)
		close(e->fd);
	free(e->name);
	free(e->src);
	free(e->data);
}

void kt_initramfs__free(struct kt_initramfs *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		initramfs_entry_free(&b->e[i]);
	free(b->e);
	for (size_t i = 0; i < b->nforeign; i++) {
		free(b->foreign[i].guest);
		free(b->foreign[i].host);
	}
	free(b->foreign);
	kt_resolver__free(b->res);
	free(b->sysroot);
	free(b);
}

int kt_initramfs__new(const struct kt_initramfs_opts *o,
		      struct kt_initramfs **out)
{
	struct kt_elfdeps_opts eo = { 0 };
	struct kt_initramfs *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	if (o) {
		b->compress = o->compress;
		b->mtime = o->mtime;
		b->dev_console = o->dev_console;
		b->log = o->log;
		if (o->elf)
			eo = *o->elf;
		if (o->arch)
			eo.arch = o->arch;
	}
	/* The guest has no LD_LIBRARY_PATH and no ld.so.cache. */
	eo.guest = true;
	b->arch = eo.arch;
	r = kt_resolver__new(&eo, &b->res);
	if (!r && eo.sysroot && *eo.sysroot && strcmp(eo.sysroot, "/")) {
		size_t n = strlen(eo.sysroot);

		while (n > 1 && eo.sysroot[n - 1] == '/')
			n--;
		b->sysroot = strndup(eo.sysroot, n);
		r = b->sysroot ? 0 : -ENOMEM;
	}
	if (r) {
		kt_initramfs__free(b);
		return r;
	}
	*out = b;
	return 0;
}

/* Takes ownership of @e's allocations, also on failure. */
static int initramfs_push(struct kt_initramfs *b, struct kt_entry *e)
{
	b->laid_out = false;
	if (kt_grow((void **)&b->e, &b->cap, b->n + 1, sizeof(*b->e))) {
		initramfs_entry_free(e);
		return -ENOMEM;
	}
	b->e[b->n++] = *e;
	return 0;
}

/* "/a//b/./c" -> "a/b/c"; ".." and relative paths are refused. */
static int initramfs_archive_name(const char *guest, char **out)
{
	char buf[PATH_MAX];
	int r;

	if (*guest != '/')
		return -EINVAL;
	r = kt_path_normalize(guest, buf, sizeof(buf), true);
	if (r)
		return r;
	if (kt_cpio_check_name(buf + 1))
		return -EINVAL;
	*out = strdup(buf + 1);
	return *out ? 0 : -ENOMEM;
}

static int initramfs_bad_guest(struct kt_err *err, const char *guest, int r)
{
	if (r == -ENOMEM)
		return kt_err_set(err, r, "out of memory");
	return kt_err_set(err, r, "invalid guest path '%s': %s", guest,
			  r == -EINVAL ? "must be absolute, not the root, without '..'"
				       : strerror(-r));
}

static int initramfs_add(struct kt_initramfs *b, const char *guest, struct kt_entry *e,
		struct kt_err *err)
{
	int r = initramfs_archive_name(guest, &e->name);

	if (r) {
		initramfs_entry_free(e);
		return initramfs_bad_guest(err, guest, r);
	}
	r = initramfs_push(b, e);
	return r ? kt_err_set(err, r, "out of memory") : 0;
}

int kt_initramfs__add_data(struct kt_initramfs *b, const char *guest,
			   const void *buf, size_t len, uint32_t mode,
			   struct kt_err *err)
{
	struct kt_entry e = { .kind = E_DATA, .mode = mode & 07777, .len = len };

	if ((uint64_t)len > KT_CPIO_MAX_FILE)
		return kt_err_set(err, -EFBIG, "'%s' is over 4 GiB", guest);
	e.data = malloc(len ? len : 1);
	if (!e.data)
		return kt_err_set(err, -ENOMEM, "out of memory");
	memcpy(e.data, buf, len);
	return initramfs_add(b, guest, &e, err);
}

static int initramfs_add_closure_mem(struct kt_initramfs *b, const void *buf,
				     size_t len, const char *guest, struct kt_err *err);

int kt_initramfs__add_program(struct kt_initramfs *b, const char *guest,
			      const void *buf, size_t len, const void *closure,
			      size_t closure_len, struct kt_err *err)
{
	struct kt_entry e = { .kind = E_MEM, .mode = 0755, .len = len, .mem = buf };
	int r;

	if (!closure_len)
		return kt_initramfs__add_mem(b, guest, buf, len, 0755, err);
	if ((uint64_t)len > KT_CPIO_MAX_FILE)
		return kt_err_set(err, -EFBIG, "'%s' is over 4 GiB", guest);
	r = initramfs_add(b, guest, &e, err);
	return r ? r : kt_initramfs__add_cpio(b, closure, closure_len, err);
}

int kt_initramfs__add_blob(struct kt_initramfs *b, const struct kt_blob_table *t,
			   const char *name, const char *guest, const char *path,
			   struct kt_err *err)
{
	const struct kt_blob *bl = t ? kt_blob_table__find_arch(t, name, b->arch) : NULL, *libs;
	char lname[128];

	if (path)
		return kt_initramfs__add_file(b, path, guest, 0755, err);
	if (!bl || !kt_blob__embedded(bl))
		return -ENOENT;
	libs = kt_snprintf(lname, sizeof(lname), "%s_libs", name) ? NULL :
	       kt_blob_table__find_arch(t, lname, b->arch);
	if (libs && !kt_blob__embedded(libs))
		libs = NULL;
	return kt_initramfs__add_program(b, guest, bl->start, (size_t)bl->size,
					 libs ? libs->start : NULL, libs ? (size_t)libs->size : 0,
					 err);
}

int kt_initramfs__add_mem(struct kt_initramfs *b, const char *guest,
			  const void *buf, size_t len, uint32_t mode,
			  struct kt_err *err)
{
	struct kt_entry e = { .kind = E_MEM, .mode = mode & 07777, .len = len, .mem = buf };
	struct kt_elf_info *info = NULL;
	int r;

	if ((uint64_t)len > KT_CPIO_MAX_FILE)
		return kt_err_set(err, -EFBIG, "'%s' is over 4 GiB", guest);
	r = initramfs_add(b, guest, &e, err);
	if (r)
		return r;
	/* An ELF program brings its closure, as a host file does. */
	r = kt_elf_info__parse(buf, len, guest, &info, NULL);
	if (!r && (info->interp || info->nneeded))
		r = initramfs_add_closure_mem(b, buf, len, guest, err);
	else
		r = 0;
	kt_elf_info__free(info);
	return r;
}

int kt_initramfs__add_symlink(struct kt_initramfs *b, const char *guest,
			      const char *target, struct kt_err *err)
{
	struct kt_entry e = { .kind = E_LINK, .mode = 0777 };

	if (!*target || strlen(target) >= PATH_MAX)
		return kt_err_set(err, -EINVAL, "invalid symlink target '%s'", target);
	e.src = strdup(target);
	if (!e.src)
		return kt_err_set(err, -ENOMEM, "out of memory");
	return initramfs_add(b, guest, &e, err);
}

/* The regular file open at @fd (taken, also on failure), named @host. */
static int initramfs_add_host_file(struct kt_initramfs *b, const char *host, int fd,
				   const char *guest, uint32_t mode, struct kt_err *err)
{
	struct kt_entry e = { .kind = E_FILE, .mode = mode & 07777, .fd = fd };
	struct stat st;

	/* Mode 0: the host file's permission bits, without set-id bits. */
	if (!mode) {
		if (fstat(fd, &st)) {
			int r = kt_err_set(err, -errno, "cannot stat '%s': %s", host,
					   strerror(errno));

			close(fd);
			return r;
		}
		e.mode = st.st_mode & 0777;
	}
	e.src = strdup(host);
	if (!e.src) {
		close(fd);
		return kt_err_set(err, -ENOMEM, "out of memory");
	}
	return initramfs_add(b, guest, &e, err);
}

/* A copy of the closure's descriptor @fd of @host, for an entry. */
static int initramfs_dup(int fd, const char *host, struct kt_err *err)
{
	int d = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);

	if (d < 0)
		return kt_err_set(err, fd < 0 ? -EBADF : -errno, "cannot read '%s': %s", host,
				  strerror(fd < 0 ? EBADF : errno));
	return d;
}

struct initramfs_chain {
	struct kt_initramfs *b;
	struct kt_err *err;
};

/* kt_path_walk's callback: a link met becomes the same guest link. */
static int initramfs_chain_link(void *ctx, const char *at, const char *target)
{
	struct initramfs_chain *c = ctx;

	return kt_initramfs__add_symlink(c->b, at, target, c->err);
}

/*
 * Adds @path at the same guest path the way the host resolves it under
 * @root ("" for /, else a sysroot): each symlink met in any component
 * becomes a guest symlink, and the walk goes on at its target (an
 * absolute one under @root again), until the regular file at the end,
 * which must be the file the closure read, open at @fd (borrowed).
 */
static int initramfs_add_host_chain(struct kt_initramfs *b, const char *root,
				    const char *path, int fd, struct kt_err *err)
{
	struct initramfs_chain c = { b, err };
	char cur[PATH_MAX], host[PATH_MAX];
	struct stat st, got;
	int r;

	r = kt_path_walk(root, path, cur, sizeof(cur), initramfs_chain_link, &c, err);
	if (r)
		return r;
	if (kt_snprintf(host, sizeof(host), "%s%s", root, cur))
		return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", path);
	if (lstat(host, &st) || !S_ISREG(st.st_mode))
		return kt_err_set(err, -EINVAL, "'%s': not a regular file", host);
	if (fd < 0 || fstat(fd, &got) || got.st_dev != st.st_dev || got.st_ino != st.st_ino)
		return kt_err_set(err, -EAGAIN, "'%s' changed while it was read", host);
	fd = initramfs_dup(fd, host, err);
	return fd < 0 ? fd : initramfs_add_host_file(b, host, fd, cur, 0, err);
}

/* Adds what closure @c names: the interpreter and every library. */
static int initramfs_add_deps(struct kt_initramfs *b, const struct kt_closure *c,
			      struct kt_err *err)
{
	const char *interp = kt_closure__interp(c);
	const char *root = b->sysroot ? b->sysroot : "";
	size_t rl = strlen(root);
	int r = 0;

	if (interp)
		r = initramfs_add_host_chain(b, root, interp, kt_closure_interp_fd(c), err);
	for (size_t i = 0; !r && i < kt_closure__count(c); i++) {
		const struct kt_dep *d = kt_closure__dep(c, i);
		int fd = kt_closure_dep_fd(c, i);

		/* found where the guest's loader looks: its links too */
		if (!strncmp(d->path, root, rl) && !strcmp(d->path + rl, d->guest_path)) {
			r = initramfs_add_host_chain(b, root, d->guest_path, fd, err);
		} else {
			fd = initramfs_dup(fd, d->path, err);
			r = fd < 0 ? fd : initramfs_add_host_file(b, d->path, fd, d->guest_path, 0, err);
		}
	}
	return r;
}

/* The closure of the ELF program open at @fd, found at @host (@real with
 * its links resolved), going to @guest. */
static int initramfs_add_closure(struct kt_initramfs *b, int fd, const char *host,
				 const char *real, const char *guest, struct kt_err *err)
{
	struct kt_closure *c = NULL;
	int r;

	r = kt_resolver_closure_fd(b->res, fd, host, real, guest, &c, err);
	if (!r)
		r = initramfs_add_deps(b, c, err);
	kt_closure__free(c);
	return r;
}

static int initramfs_add_closure_mem(struct kt_initramfs *b, const void *buf,
				     size_t len, const char *guest, struct kt_err *err)
{
	struct kt_closure *c = NULL;
	int r;

	r = kt_resolver__closure_mem(b->res, buf, len, guest, &c, err);
	if (!r)
		r = initramfs_add_deps(b, c, err);
	kt_closure__free(c);
	return r;
}

/* Remembers that @guest, from @host, is a program for @arch that the
 * guest cannot run: packed as data (a firmware folder, a foreign build's
 * output), it is an error only when named as the command. */
static int initramfs_note_foreign(struct kt_initramfs *b, const char *host, const char *guest,
				  uint16_t machine)
{
	struct kt_foreign *f;
	char norm[PATH_MAX];

	if (kt_path_normalize(guest, norm, sizeof(norm), false))
		return -ENAMETOOLONG;
	if (kt_grow((void **)&b->foreign, &b->foreign_cap, b->nforeign + 1, sizeof(*f)))
		return -ENOMEM;
	f = &b->foreign[b->nforeign];
	*f = (struct kt_foreign){ .guest = strdup(norm), .host = strdup(host), .machine = machine };
	if (!f->guest || !f->host) {
		free(f->guest);
		free(f->host);
		return -ENOMEM;
	}
	/* one line per archive: a firmware folder holds dozens */
	if (!b->nforeign++)
		kt_log(&b->log, KT_LOG_DEBUG,
		       "'%s' is an %s program: packed as data, without a closure (the guest is %s)",
		       host, kt_elf_machine_name(machine) ? kt_elf_machine_name(machine) :
		       "unknown machine's", kt_arch_name(b->arch));
	return 0;
}

/* An ELF file the loader runs or maps, for this archive's machine: what
 * needs a closure.  A program (not a library: those may be data) of
 * another machine is data here (initramfs_note_foreign). */
static int initramfs_is_dynamic_elf(struct kt_initramfs *b, int fd, const char *host,
				    const char *guest, bool *dyn, struct kt_err *err)
{
	struct kt_elf_info *info;
	int r = kt_elf_info_read_fd(fd, host, &info, err);
	enum kt_arch a;

	*dyn = false;
	if (r == -ENOEXEC)
		return 0;
	if (r)
		return r;
	*dyn = info->interp || info->nneeded;
	a = kt_arch_of_elf_machine(info->machine);
	if (b->arch && a != b->arch && (info->type == ET_EXEC || info->interp)) {
		*dyn = false;
		r = initramfs_note_foreign(b, host, guest, info->machine);
		if (r)
			kt_err_set(err, r, r == -ENOMEM ? "out of memory" : "'%s': path too long", guest);
	}
	kt_elf_info__free(info);
	return r;
}

/* The entry named @name (no leading '/'), sorted or not; NULL. */
static const struct kt_entry *initramfs_find_any(const struct kt_initramfs *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->e[i].name, name))
			return &b->e[i];
	return NULL;
}

/* The same, in @b or else in the archive it is laid over: what the
 * guest finds at @name once both are unpacked. */
static const struct kt_entry *initramfs_find_unpacked(const struct kt_initramfs *b,
						      const char *name)
{
	const struct kt_entry *e = initramfs_find_any(b, name);

	return e || !b->over ? e : initramfs_find_any(b->over, name);
}

/* The program of another machine packed at @guest (normalized), in @b
 * or the archive it is laid over; NULL. */
static const struct kt_foreign *initramfs_foreign_at(const struct kt_initramfs *b,
						     const char *guest)
{
	for (; b; b = b->over)
		for (size_t i = 0; i < b->nforeign; i++)
			if (!strcmp(b->foreign[i].guest, guest))
				return &b->foreign[i];
	return NULL;
}

int kt_initramfs__foreign(const struct kt_initramfs *b, const char *guest, const char **host,
			  uint16_t *machine)
{
	char norm[PATH_MAX], next[PATH_MAX];
	const struct kt_foreign *f;
	const struct kt_entry *e;

	if (kt_path_normalize(guest, norm, sizeof(norm), false) || !norm[1])
		return -ENOENT;
	/* what the guest's kernel will exec: the file a link leads to */
	for (int hops = 0; (e = initramfs_find_unpacked(b, norm + 1)) && e->kind == E_LINK; hops++) {
		char *slash = strrchr(norm, '/');

		if (hops >= KT_MAX_HOPS)
			return -ELOOP;
		*slash = '\0';
		if (kt_snprintf(next, sizeof(next), "%s/%s", e->src[0] == '/' ? "" : norm, e->src) ||
		    kt_path_normalize(next, norm, sizeof(norm), false) || !norm[1])
			return -ENOENT;
	}
	if (!e)
		return -ENOENT;
	f = initramfs_foreign_at(b, norm);
	if (!f)
		return 0;
	if (host)
		*host = f->host;
	if (machine)
		*machine = f->machine;
	return 1;
}

/* Files of /proc, /sys and their kin say a size that is not their
 * content (or none at all): they cannot be packed. */
static bool initramfs_pseudo(int fd)
{
	static const unsigned long magic[] = {
		0x9fa0,		/* proc */
		0x62656572,	/* sysfs */
		0x64626720,	/* debugfs */
		0x74726163,	/* tracefs */
		0x27e0eb,	/* cgroup */
		0x63677270,	/* cgroup2 */
		0xcafe4a11,	/* bpf */
		0x73636673,	/* securityfs */
	};
	struct statfs sf;

	if (fstatfs(fd, &sf))
		return false;
	for (size_t i = 0; i < KT_ARRAY_SIZE(magic); i++)
		if ((unsigned long)sf.f_type == magic[i])
			return true;
	return false;
}

/*
 * The regular file open at @fd (taken, also on failure; @st its fstat),
 * found at @host (@real with its links resolved), at @guest, with its
 * closure when it is an ELF program.  The closure and the archive read
 * this descriptor, never the name again.
 */
static int initramfs_add_fd(struct kt_initramfs *b, int fd, const struct stat *st,
			    const char *host, const char *real, const char *guest,
			    uint32_t mode, struct kt_err *err)
{
	bool dyn = false;
	int r;

	if (!S_ISREG(st->st_mode))
		r = kt_err_set(err, -EINVAL, "'%s': not a regular file", host);
	else if (initramfs_pseudo(fd))
		r = kt_err_set(err, -EINVAL,
			       "'%s' is a pseudo-file (/proc, /sys): its content cannot be packed",
			       host);
	else if ((uint64_t)st->st_size > KT_CPIO_MAX_FILE)
		r = kt_err_set(err, -EFBIG, "'%s' is over 4 GiB", host);
	else
		r = initramfs_is_dynamic_elf(b, fd, host, guest, &dyn, err);
	if (!r && dyn)
		r = initramfs_add_closure(b, fd, host, real, guest, err);
	if (r) {
		close(fd);
		return r;
	}
	return initramfs_add_host_file(b, host, fd, guest, mode, err);
}

int kt_initramfs__add_file(struct kt_initramfs *b, const char *host,
			   const char *guest, uint32_t mode, struct kt_err *err)
{
	char real[PATH_MAX];
	struct stat st;
	int fd, r;

	r = kt_open_host(host, "read", &fd, &st, real, sizeof(real), err);
	if (r)
		return r;
	return initramfs_add_fd(b, fd, &st, host, real, guest, mode, err);
}

static int initramfs_add_dir(struct kt_initramfs *b, int fd, const struct stat *st,
			     const char *host, const char *guest, int depth, struct kt_err *err);

/*
 * The entry @name of the folder open at @dfd, which the walk has at
 * @host and @guest: a symlink stays a symlink; a file or a folder is
 * opened without following a link and must be the inode the walk saw
 * (another user may swap the name under us).
 */
static int initramfs_add_at(struct kt_initramfs *b, int dfd, const char *name, const char *host,
			    const char *guest, int depth, struct kt_err *err)
{
	struct stat st, now;
	int fd, r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return kt_err_set(err, -errno, "cannot stat '%s': %s", host, strerror(errno));
	if (S_ISLNK(st.st_mode)) {
		char t[PATH_MAX];
		ssize_t l = readlinkat(dfd, name, t, sizeof(t) - 1);

		if (l <= 0)
			return kt_err_set(err, -EINVAL, "cannot read link '%s'", host);
		t[l] = '\0';
		return kt_initramfs__add_symlink(b, guest, t, err);
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return kt_err_set(err, -EINVAL, "'%s': not a file, folder or symlink", host);
	/* O_NONBLOCK: a FIFO swapped in cannot hang the open */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
		    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0 || fstat(fd, &now)) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return kt_err_set(err, r, "cannot open '%s': %s%s", host,
				  r == -ELOOP || r == -ENOTDIR ? "it changed while it was read" :
				  strerror(-r), r == -EMFILE ?
				  " (each file packed stays open until the archive is written: raise ulimit -n)" : "");
	}
	if (now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
		close(fd);
		return kt_err_set(err, -EAGAIN, "cannot open '%s': it changed while it was read",
				  host);
	}
	fcntl(fd, F_SETFL, 0);
	if (S_ISREG(now.st_mode))
		return initramfs_add_fd(b, fd, &now, host, host, guest, 0, err);
	r = initramfs_add_dir(b, fd, &now, host, guest, depth, err);
	close(fd);
	return r;
}

/* The folder open at @fd (@st its fstat), found at @host, whole at
 * @guest; every entry is opened from its descriptor. */
static int initramfs_add_dir(struct kt_initramfs *b, int fd, const struct stat *st,
			     const char *host, const char *guest, int depth, struct kt_err *err)
{
	struct dirent *de;
	DIR *d;
	int dfd, r;

	if (depth > KT_MAX_DEPTH)
		return kt_err_set(err, -ELOOP, "'%s': folders nested too deep", host);
	r = initramfs_add(b, guest, &(struct kt_entry){ .kind = E_DIR, .mode = st->st_mode & 07777 }, err);
	if (r)
		return r;
	/* readdir takes a descriptor of its own, and closes it */
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		r = kt_err_set(err, -errno, "cannot open '%s': %s", host, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return r;
	}
	while (!r && (errno = 0, de = readdir(d))) {
		char h[PATH_MAX], g[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (kt_snprintf(h, sizeof(h), "%s/%s", host, de->d_name) ||
		    kt_snprintf(g, sizeof(g), "%s/%s", guest, de->d_name))
			r = kt_err_set(err, -ENAMETOOLONG, "'%s/%s': path too long",
				       host, de->d_name);
		else
			r = initramfs_add_at(b, fd, de->d_name, h, g, depth + 1, err);
	}
	if (!r && errno)
		r = kt_err_set(err, -errno, "cannot read '%s': %s", host, strerror(errno));
	closedir(d);
	return r;
}

/* What kt_open_host opened at @fd (taken): a folder whole, a file with
 * its closure. */
static int initramfs_add_opened(struct kt_initramfs *b, int fd, const struct stat *st,
				const char *host, const char *real, const char *guest,
				struct kt_err *err)
{
	int r;

	if (!S_ISDIR(st->st_mode))
		return initramfs_add_fd(b, fd, st, host, real, guest, 0, err);
	r = initramfs_add_dir(b, fd, st, real, guest, 0, err);
	close(fd);
	return r;
}

int kt_initramfs__add_closure(struct kt_initramfs *b, const char *host,
			      const char *guest, struct kt_err *err)
{
	char real[PATH_MAX];
	struct stat st;
	bool dyn = false;
	int fd, r;

	r = kt_open_host(host, "read", &fd, &st, real, sizeof(real), err);
	if (r)
		return r;
	/* a folder has no closure, as a file that is not ELF has none */
	if (S_ISREG(st.st_mode))
		r = initramfs_is_dynamic_elf(b, fd, host, guest, &dyn, err);
	if (!r && dyn)
		r = initramfs_add_closure(b, fd, host, real, guest, err);
	close(fd);
	return r;
}

int kt_initramfs__add_tree(struct kt_initramfs *b, const char *host,
			   const char *guest, struct kt_err *err)
{
	char real[PATH_MAX];
	struct stat st;
	int fd, r;

	r = kt_open_host(host, "read", &fd, &st, real, sizeof(real), err);
	return r ? r : initramfs_add_opened(b, fd, &st, host, real, guest, err);
}

/* ---- layout ---------------------------------------------------------------------- */

static int initramfs_cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct kt_entry *)a)->name,
		      ((const struct kt_entry *)b)->name);
}

static void initramfs_sort(struct kt_initramfs *b)
{
	qsort(b->e, b->n, sizeof(*b->e), initramfs_cmp_entry);
}

/* Entries must be sorted; returns the first with @name (of length @len). */
static struct kt_entry *initramfs_find(struct kt_initramfs *b, const char *name, size_t len)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(b->e[mid].name, name, len);

		if (!c && b->e[mid].name[len])
			c = 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < b->n && !strncmp(b->e[lo].name, name, len) && !b->e[lo].name[len])
		return &b->e[lo];
	return NULL;
}

/* The same in @b, or else in the archive it is laid over (laid out,
 * so sorted too). */
static struct kt_entry *initramfs_find_layered(struct kt_initramfs *b, const char *name,
					       size_t len)
{
	struct kt_entry *e = initramfs_find(b, name, len);

	return e || !b->over ? e : initramfs_find(b->over, name, len);
}

/*
 * A path whose parent is a guest symlink (of this archive or of the one
 * it is laid over) is moved to where the link points, as the kernel would resolve it when unpacking: "lib/x" with
 * "lib" -> "usr/lib" becomes "usr/lib/x".
 */
static int initramfs_resolve_parents(struct kt_initramfs *b, bool *changed, struct kt_err *err)
{
	*changed = false;
	for (size_t i = 0; i < b->n; i++) {
		struct kt_entry *e = &b->e[i];

		for (char *s = strchr(e->name, '/'); s; s = strchr(s + 1, '/')) {
			size_t plen = (size_t)(s - e->name);
			struct kt_entry *l = initramfs_find_layered(b, e->name, plen);
			char guest[PATH_MAX], norm[PATH_MAX], *name;
			const char *slash;
			int r, dlen;

			if (!l || l->kind != E_LINK)
				continue;
			/* The link's target, relative to the folder it sits in. */
			slash = strrchr(l->name, '/');
			dlen = slash ? (int)(slash - l->name) : 0;
			if (l->src[0] == '/')
				r = kt_snprintf(guest, sizeof(guest), "%s/%s", l->src, s + 1);
			else
				r = kt_snprintf(guest, sizeof(guest), "/%.*s/%s/%s", dlen,
						l->name, l->src, s + 1);
			if (!r)
				r = kt_path_normalize(guest, norm, sizeof(norm), false);
			if (r)
				return kt_err_set(err, r, "'/%s': path too long", e->name);
			r = initramfs_archive_name(norm, &name);
			if (r)
				return kt_err_set(err, r, "'/%s': its folder '/%.*s' links outside the archive",
						  e->name, (int)plen, e->name);
			free(e->name);
			e->name = name;
			*changed = true;
			break;
		}
	}
	return 0;
}

static const unsigned char *initramfs_bytes(const struct kt_entry *e)
{
	return e->kind == E_DATA ? e->data : e->mem;
}

/* A host file @f holds the bytes of @m (E_DATA or E_MEM)? */
static bool initramfs_file_is(const struct kt_entry *f, const struct kt_entry *m)
{
	unsigned char buf[65536];
	struct stat st;
	size_t off = 0;
	bool same = false;

	if (f->mode != m->mode)
		return false;
	if (!fstat(f->fd, &st) && (uint64_t)st.st_size == m->len) {
		same = true;
		while (same && off < m->len) {
			size_t want = m->len - off < sizeof(buf) ? m->len - off : sizeof(buf);

			same = kt_pread_full(f->fd, buf, want, (off_t)off) == (ssize_t)want &&
			       !memcmp(buf, initramfs_bytes(m) + off, want);
			off += want;
		}
	}
	return same;
}

/* Two host files agree when they are one file. */
static bool initramfs_same_file(const struct kt_entry *a, const struct kt_entry *b)
{
	struct stat sa, sb;

	return a->mode == b->mode && !fstat(a->fd, &sa) && !fstat(b->fd, &sb) &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static bool initramfs_same(const struct kt_entry *a, const struct kt_entry *b)
{
	bool bytes = (a->kind == E_DATA || a->kind == E_MEM) &&
		     (b->kind == E_DATA || b->kind == E_MEM);

	/* An embedded library and the host's at one path agree when their
	 * bytes do. */
	if (a->kind == E_FILE && (b->kind == E_DATA || b->kind == E_MEM))
		return initramfs_file_is(a, b);
	if (b->kind == E_FILE && (a->kind == E_DATA || a->kind == E_MEM))
		return initramfs_file_is(b, a);
	if (a->kind != b->kind && !bytes)
		return false;
	switch (a->kind) {
	case E_DIR:
		return true;
	case E_FILE:
		return initramfs_same_file(a, b);
	case E_LINK:
		return !strcmp(a->src, b->src);
	case E_DATA:
	case E_MEM:
		return a->len == b->len && a->mode == b->mode &&
		       !memcmp(initramfs_bytes(a), initramfs_bytes(b), a->len);
	case E_NODE:
		return a->mode == b->mode && a->major == b->major && a->minor == b->minor;
	}
	return false;
}

/* Every parent folder that is not there yet (in this archive or the one
 * it is laid over), gathered apart so that the sorted entries stay
 * searchable; duplicates merge later. */
static int initramfs_add_parents(struct kt_initramfs *b, struct kt_err *err)
{
	size_t n0 = b->n;

	for (size_t i = 0; i < n0; i++) {
		for (char *sl = strchr(b->e[i].name, '/'); sl; sl = strchr(sl + 1, '/')) {
			size_t plen = (size_t)(sl - b->e[i].name);
			struct kt_entry d = { .kind = E_DIR, .mode = 0755 };
			struct kt_initramfs tmp = { .e = b->e, .n = n0 };

			if (initramfs_find(&tmp, b->e[i].name, plen) ||
			    (b->over && initramfs_find(b->over, b->e[i].name, plen)))
				continue;
			d.name = strndup(b->e[i].name, plen);
			if (!d.name || initramfs_push(b, &d))
				return kt_err_set(err, -ENOMEM, "out of memory");
		}
	}
	initramfs_sort(b);
	return 0;
}

/* The same path twice: one entry if they agree, else an error. */
static int initramfs_merge(struct kt_initramfs *b, struct kt_err *err)
{
	size_t o = 0;
	int r;

	for (size_t i = 0; i < b->n; i++) {
		if (o && !strcmp(b->e[i].name, b->e[o - 1].name)) {
			if (initramfs_same(&b->e[i], &b->e[o - 1])) {
				initramfs_entry_free(&b->e[i]);
				continue;
			}
			r = kt_err_set(err, -EEXIST,
				       "guest path '/%s' is given twice, with different contents",
				       b->e[i].name);
			/* Keep every entry exactly once for kt_initramfs__free(). */
			memmove(&b->e[o], &b->e[i], (b->n - i) * sizeof(*b->e));
			b->n = o + (b->n - i);
			return r;
		}
		b->e[o++] = b->e[i];
	}
	b->n = o;
	return 0;
}

/*
 * A path of the archive laid over another is taken once: an entry the
 * lower one has the same is dropped (a folder always is: the kernel's
 * unpacking would set its mode again), one it has different is refused
 * as twice in one archive is, never left to override it.
 */
static int initramfs_merge_over(struct kt_initramfs *b, struct kt_err *err)
{
	size_t o = 0;

	for (size_t i = 0; b->over && i < b->n; i++) {
		const struct kt_entry *l = initramfs_find(b->over, b->e[i].name, strlen(b->e[i].name));

		if (l && !initramfs_same(&b->e[i], l)) {
			/* Keep every entry exactly once for kt_initramfs__free(). */
			int r = kt_err_set(err, -EEXIST,
					   "guest path '/%s' is given twice, with different contents",
					   b->e[i].name);

			memmove(&b->e[o], &b->e[i], (b->n - i) * sizeof(*b->e));
			b->n = o + (b->n - i);
			return r;
		}
		if (l)
			initramfs_entry_free(&b->e[i]);
		else
			b->e[o++] = b->e[i];
	}
	if (b->over)
		b->n = o;
	return 0;
}

/* Parents first is what sorting gives; they must be folders. */
static int initramfs_check_parents(struct kt_initramfs *b, struct kt_err *err)
{
	for (size_t i = 0; i < b->n; i++) {
		char *s = strrchr(b->e[i].name, '/');
		struct kt_entry *p = s ? initramfs_find_layered(b, b->e[i].name,
								(size_t)(s - b->e[i].name)) : NULL;

		if (s && (!p || p->kind != E_DIR))
			return kt_err_set(err, -ENOTDIR,
					  "guest path '/%s' is inside '/%.*s', which is not a folder",
					  b->e[i].name, (int)(s - b->e[i].name), b->e[i].name);
	}
	return 0;
}

/* Lays the entries out as they will be written: /dev/console, guest
 * symlinks resolved in parent paths, parents added, sorted, merged. */
static int initramfs_layout(struct kt_initramfs *b, struct kt_err *err)
{
	bool changed = true;
	int r;

	if (b->laid_out)
		return 0;
	if (b->dev_console && !initramfs_find_unpacked(b, "dev/console")) {
		struct kt_entry c = {
			.kind = E_NODE, .mode = S_IFCHR | 0600, .major = 5, .minor = 1,
		};

		r = initramfs_add(b, "/dev/console", &c, err);
		if (r)
			return r;
	}
	for (int round = 0; changed; round++) {
		if (round > KT_MAX_HOPS)
			return kt_err_set(err, -ELOOP, "guest symlinks loop");
		initramfs_sort(b);
		r = initramfs_resolve_parents(b, &changed, err);
		if (r)
			return r;
	}
	r = initramfs_add_parents(b, err);
	if (!r)
		r = initramfs_merge(b, err);
	if (!r)
		r = initramfs_merge_over(b, err);
	if (!r)
		r = initramfs_check_parents(b, err);
	b->laid_out = !r;
	return r;
}

int kt_initramfs__over(struct kt_initramfs *b, struct kt_initramfs *base, struct kt_err *err)
{
	int r = initramfs_layout(base, err);

	if (r)
		return r;
	b->over = base;
	b->laid_out = false;
	return initramfs_layout(b, err);
}

/* ---- output ------------------------------------------------------------------------ */

static int initramfs_write_entry(struct kt_cpio *w, const struct kt_entry *e,
			struct kt_err *err)
{
	struct stat st;
	int r;

	switch (e->kind) {
	case E_DIR:
		r = kt_cpio__add_dir(w, e->name, e->mode);
		break;
	case E_LINK:
		r = kt_cpio__add_symlink(w, e->name, e->src);
		break;
	case E_NODE:
		r = kt_cpio__add_node(w, e->name, e->mode, e->major, e->minor);
		break;
	case E_DATA:
		r = kt_cpio__add_data(w, e->name, e->mode, e->data, e->len);
		break;
	case E_MEM:
		r = kt_cpio__add_data(w, e->name, e->mode, e->mem, e->len);
		break;
	case E_FILE:
		/* the descriptor that was checked; read from its start (the
		 * ELF reader or an earlier write moved it) */
		if (fstat(e->fd, &st) || lseek(e->fd, 0, SEEK_SET))
			return kt_err_set(err, -errno, "cannot read '%s': %s", e->src,
					  strerror(errno));
		r = kt_cpio__add_file(w, e->name, e->mode, e->fd, (uint64_t)st.st_size);
		if (r == -EFBIG)
			return kt_err_set(err, r, "'%s' is over 4 GiB", e->src);
		if (r == -EIO)
			return kt_err_set(err, r, "'%s' changed while it was read", e->src);
		break;
	default:
		r = -EINVAL;
	}
	if (r)
		return kt_err_set(err, r, "cannot write '/%s' to the archive: %s",
				  e->name, strerror(-r));
	return 0;
}

int kt_initramfs__write_fd(struct kt_initramfs *b, int fd, struct kt_err *err)
{
	struct kt_cpio *w;
	int r;

	r = initramfs_layout(b, err);
	if (r)
		return r;
	r = kt_cpio__new(fd, b->compress, b->mtime, &w);
	if (r)
		return kt_err_set(err, r, "cannot start the archive: %s", strerror(-r));
	for (size_t i = 0; !r && i < b->n; i++)
		r = initramfs_write_entry(w, &b->e[i], err);
	if (!r && (r = kt_cpio__finish(w)))
		kt_err_set(err, r, "cannot finish the archive: %s", strerror(-r));
	kt_cpio__free(w);
	return r;
}

int kt_initramfs__write(struct kt_initramfs *b, const char *path,
			struct kt_err *err)
{
	struct kt_out o;
	int r;

	/* The layout first: a bad input is refused before anything is
	 * opened (a FIFO's reader would see an empty archive). */
	r = initramfs_layout(b, err);
	if (!r)
		r = kt_out_open(&o, path, err);
	if (r)
		return r;
	r = kt_initramfs__write_fd(b, o.fd, err);
	if (!r)
		r = kt_out_commit(&o, err);
	else
		kt_out_abort(&o);
	return r;
}

int kt_initramfs__write_after_fd(struct kt_initramfs *b, int base_fd, int out,
				 struct kt_err *err)
{
	struct stat st;
	int r;

	if (fstat(base_fd, &st))
		return kt_err_set(err, -errno, "cannot read the base archive: %s",
				  strerror(errno));
	r = kt_copy_fd_at(base_fd, 0, out, (uint64_t)st.st_size);
	if (r)
		return kt_err_set(err, r, "cannot copy the base archive: %s",
				  r == -EIO ? "it changed while it was read" : strerror(-r));
	return kt_initramfs__write_fd(b, out, err);
}

int kt_initramfs__write_after(struct kt_initramfs *b, int base_fd,
			      const char *path, struct kt_err *err)
{
	int out, r;

	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (out < 0)
		return kt_err_set(err, -errno, "cannot create '%s': %s", path, strerror(errno));
	r = kt_initramfs__write_after_fd(b, base_fd, out, err);
	if (close(out) && !r)
		r = kt_err_set(err, -errno, "cannot write '%s': %s", path, strerror(errno));
	if (r)
		unlink(path);
	return r;
}

/* ---- identity of the inputs ------------------------------------------------------ */

static uint64_t initramfs_pad4(uint64_t n)
{
	return (4 - n % 4) % 4;
}

/* The newc bytes of one entry: header, name, data, both padded. */
static uint64_t initramfs_entry_size(const char *name, uint64_t data)
{
	uint64_t hn = 110 + strlen(name) + 1;

	return hn + initramfs_pad4(hn) + data + initramfs_pad4(data);
}

/* Files changed this many seconds before the key is made (or later) are
 * keyed by their bytes (see initramfs_key_racy). */
#define KT_KEY_RACY_S	2

/*
 * Whether stat data cannot tell @st's file from the same file rewritten
 * with as many bytes: it changed so recently that a rewrite may still
 * fall within its file system's timestamp granularity (a second on ext4
 * with 128-byte inodes, two on FAT) and leave the same size and times,
 * git's "racily clean" case; or its ctime has no nanoseconds, the mark of
 * such a coarse file system.  (The ctime, unlike the mtime, cannot be
 * set: a file unpacked with its package's mtime does not count.)
 */
static bool initramfs_key_racy(const struct stat *st, const struct timespec *now)
{
	return !st->st_ctim.tv_nsec || st->st_ctim.tv_sec >= now->tv_sec - KT_KEY_RACY_S ||
	       st->st_mtim.tv_sec >= now->tv_sec - KT_KEY_RACY_S;
}

int kt_sha256_fd(int fd, char hex[65], uint64_t *len)
{
	unsigned char buf[65536], d[SHA256_DIGEST_SIZE];
	struct sha256_ctx c;
	uint64_t off = 0;
	ssize_t n;

	sha256_init(&c);
	while ((n = kt_pread_full(fd, buf, sizeof(buf), (off_t)off)) > 0) {
		sha256_update(&c, (size_t)n, buf);
		off += (uint64_t)n;
	}
	if (n < 0)
		return (int)n;
	sha256_digest(&c, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	*len = off;
	return 0;
}

/* The file @path by its bytes: their SHA-256 and their count. */
static int initramfs_key_bytes(const char *path, uint64_t *h, uint64_t *len, struct kt_err *err)
{
	char hex[65];
	int fd, r;

	r = kt_open_regular(path, "", &fd, err);
	if (r)
		return r;
	r = kt_sha256_fd(fd, hex, len);
	close(fd);
	if (r)
		return kt_err_set(err, r, "cannot read '%s': %s", path, strerror(-r));
	kt_fnv1a(h, "sha256", 7);	/* never taken for stat data */
	kt_fnv1a(h, hex, 64);
	kt_fnv1a(h, len, sizeof(*len));
	return 0;
}

/* Adds entry @e to the key (and its archive bytes to *@size). */
static int initramfs_key_entry(const struct kt_entry *e, const struct timespec *now, uint64_t *h,
			       uint64_t *size, struct kt_err *err)
{
	uint64_t data = 0;
	struct stat st;
	int r;

	kt_fnv1a(h, e->name, strlen(e->name) + 1);
	kt_fnv1a(h, &e->kind, sizeof(e->kind));
	kt_fnv1a(h, &e->mode, sizeof(e->mode));
	switch (e->kind) {
	case E_FILE:
		/* A file changed in place keeps its inode but not its ctime. */
		if (fstat(e->fd, &st))
			return kt_err_set(err, -errno, "cannot stat '%s': %s", e->src,
					  strerror(errno));
		kt_fnv1a(h, e->src, strlen(e->src) + 1);
		if (initramfs_key_racy(&st, now)) {
			r = initramfs_key_bytes(e->src, h, &data, err);
			if (r)
				return r;
			break;
		}
		kt_fnv1a(h, &st.st_dev, sizeof(st.st_dev));
		kt_fnv1a(h, &st.st_ino, sizeof(st.st_ino));
		kt_fnv1a(h, &st.st_size, sizeof(st.st_size));
		kt_fnv1a(h, &st.st_mtim, sizeof(st.st_mtim));
		kt_fnv1a(h, &st.st_ctim, sizeof(st.st_ctim));
		data = (uint64_t)st.st_size;
		break;
	case E_DATA:
		kt_fnv1a(h, e->data, e->len);
		data = e->len;
		break;
	case E_MEM:
		/* Identified by the caller's seed (a digest computed at build
		 * time): hashing megabytes on every run would cost more than
		 * the cache saves. */
		kt_fnv1a(h, &e->len, sizeof(e->len));
		data = e->len;
		break;
	case E_LINK:
		kt_fnv1a(h, e->src, strlen(e->src) + 1);
		data = strlen(e->src);
		break;
	case E_DIR:
	case E_NODE:
		kt_fnv1a(h, &e->major, sizeof(e->major));
		kt_fnv1a(h, &e->minor, sizeof(e->minor));
		break;
	}
	*size += initramfs_entry_size(e->name, data);
	return 0;
}

int kt_initramfs__key(struct kt_initramfs *b, const char *seed, uint64_t *key,
		      uint64_t *size, struct kt_err *err)
{
	uint64_t h = KT_FNV1A_INIT, sz = 0;
	struct timespec now;
	int r;

	r = initramfs_layout(b, err);
	if (r)
		return r;
	clock_gettime(CLOCK_REALTIME, &now);
	kt_fnv1a(&h, seed, strlen(seed) + 1);
	kt_fnv1a(&h, &b->compress, sizeof(b->compress));
	kt_fnv1a(&h, &b->mtime, sizeof(b->mtime));
	for (size_t i = 0; i < b->n; i++) {
		r = initramfs_key_entry(&b->e[i], &now, &h, &sz, err);
		if (r)
			return r;
	}
	sz += initramfs_entry_size("TRAILER!!!", 0);
	*key = h;
	/* Only an uncompressed archive's size is known in advance. */
	*size = b->compress == KT_COMPRESS_NONE ? sz + (512 - sz % 512) % 512 : 0;
	return 0;
}

/* ---- --include ---------------------------------------------------------------------- */

/* A HOST without a '/' is a program, found in PATH as a shell finds it:
 * *@host becomes its path.  Not in PATH, it is the file of that name in
 * the working folder, as it always was; in both (two files), it is
 * ambiguous. */
static int initramfs_include_lookup(char *host, size_t sz)
{
	char found[PATH_MAX];
	struct stat a, b;
	int r = kt_find_program(host, found, sizeof(found));

	if (r == -ENOENT)
		return lstat(host, &a) ? -ENOENT : 0;
	if (r)
		return -EINVAL;
	if (!stat(host, &a) && (stat(found, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino))
		r = -EEXIST;
	return kt_snprintf(host, sz, "%s", found) ? -EINVAL : r;
}

int kt_include_split(const char *spec, char *host, char *guest, size_t sz)
{
	const char *colon = NULL;
	int r;

	for (const char *p = spec; (p = strchr(p, ':')); p++)
		if (p[1] == '/')
			colon = p;
	if (colon) {
		if ((size_t)(colon - spec) >= sz || colon == spec)
			return -EINVAL;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		if (kt_snprintf(guest, sz, "%s", colon + 1))
			return -EINVAL;
	} else if (!*spec || kt_snprintf(host, sz, "%s", spec)) {
		return -EINVAL;
	}
	if (!strchr(host, '/')) {
		r = initramfs_include_lookup(host, sz);
		if (r)
			return r;
	}
	/* The guest path the user did not type: absolute, without "..". */
	return colon ? 0 : kt_path_absolute(host, guest, sz) ? -EINVAL : 0;
}

int kt_include_parse(const char *spec, char *host, char *guest, size_t sz, struct kt_err *err)
{
	int r = kt_include_split(spec, host, guest, sz);
	/* -EEXIST: @host is the path PATH gave */
	const char *name = r == -EEXIST ? strrchr(host, '/') + 1 : spec;

	if (r == -ENOENT)
		return kt_err_set(err, r,
				  "cannot include '%s': no file of that name here and no program of that name in PATH",
				  host);
	if (r == -EEXIST)
		return kt_err_set(err, r,
				  "cannot include '%s': it names '%s' in PATH and a file here: write the full path or './%s'",
				  name, host, name);
	if (r)
		return kt_err_set(err, -EINVAL, "invalid include '%s': expected HOST[:GUEST]", spec);
	return 0;
}

int kt_initramfs__add_include(struct kt_initramfs *b, const char *spec,
			      struct kt_err *err)
{
	char host[PATH_MAX], guest[PATH_MAX], real[PATH_MAX];
	struct stat st;
	int fd, r;

	r = kt_include_parse(spec, host, guest, sizeof(host), err);
	if (!r)
		r = kt_open_host(host, "include", &fd, &st, real, sizeof(real), err);
	/* A symlink to a folder brings the folder, as one to a file brings
	 * the file; links inside it stay links. */
	return r ? r : initramfs_add_opened(b, fd, &st, host, real, guest, err);
}

/* ---- an embedded archive -------------------------------------------------------------- */

/* One newc header field: eight hex digits. */
static int initramfs_hex8(const unsigned char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 8; i++) {
		int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' :
			p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10 :
			p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10 : -1;

		if (d < 0)
			return -EINVAL;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

/* Adds one entry of the archive; its bytes stay borrowed. */
static int initramfs_cpio_entry(struct kt_initramfs *b, const char *name, uint32_t mode,
				const unsigned char *data, size_t len, struct kt_err *err)
{
	char guest[PATH_MAX], target[PATH_MAX];

	if (kt_snprintf(guest, sizeof(guest), "/%s", name))
		return kt_err_set(err, -ENAMETOOLONG, "embedded archive: name too long");
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return initramfs_add(b, guest, &(struct kt_entry){ .kind = E_DIR, .mode = mode & 07777 }, err);
	case S_IFLNK:
		if (!len || len >= sizeof(target))
			return kt_err_set(err, -EINVAL, "embedded archive: bad link '%s'", name);
		memcpy(target, data, len);
		target[len] = '\0';
		return kt_initramfs__add_symlink(b, guest, target, err);
	case S_IFREG: {
		struct kt_entry e = { .kind = E_MEM, .mode = mode & 07777, .len = len, .mem = data };

		return initramfs_add(b, guest, &e, err);
	}
	}
	return kt_err_set(err, -EINVAL, "embedded archive: '%s' is of a kind it may not hold", name);
}

int kt_initramfs__add_cpio(struct kt_initramfs *b, const void *buf, size_t len,
			   struct kt_err *err)
{
	const unsigned char *p = buf;
	size_t off = 0;

	/* The bytes come from our own build; read them as untrusted anyway. */
	while (len - off >= 110) {
		uint32_t f[13];
		size_t nlen, dlen, doff;
		const char *name;
		int r;

		if (memcmp(p + off, "070701", 6))
			return kt_err_set(err, -EINVAL, "embedded archive: bad magic at %zu", off);
		for (int i = 0; i < 13; i++)
			if (initramfs_hex8(p + off + 6 + 8 * i, &f[i]))
				return kt_err_set(err, -EINVAL, "embedded archive: bad header at %zu", off);
		nlen = f[11];		/* c_namesize, NUL included */
		dlen = f[6];		/* c_filesize */
		if (!nlen || nlen > len - off - 110 || p[off + 110 + nlen - 1])
			return kt_err_set(err, -EINVAL, "embedded archive: bad name at %zu", off);
		name = (const char *)p + off + 110;
		doff = off + 110 + nlen;
		doff += (4 - doff % 4) % 4;
		if (doff > len || dlen > len - doff)
			return kt_err_set(err, -EINVAL, "embedded archive: '%s' out of bounds", name);
		if (!strcmp(name, "TRAILER!!!"))
			return 0;
		r = initramfs_cpio_entry(b, name, f[1], p + doff, dlen, err);
		if (r)
			return r;
		off = doff + dlen;
		off += (4 - off % 4) % 4;
		if (off > len)
			break;
	}
	return kt_err_set(err, -EINVAL, "embedded archive: no trailer");
}
