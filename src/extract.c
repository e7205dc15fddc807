/* extract.c - install_env (see ktpack/extract.h and the README,
 * "Installing at start-up").
 *
 * Touches the cache folder (through cache.c), the executable's own file
 * and, only in kt_installed__export(), the process environment.
 */
#include <ktpack/extract.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Bytes compared with memory at each end of a copy, and of a hit. */
#define KT_VERIFY_BYTES 4096

struct kt_installed_blob {
	const struct kt_blob *blob;
	char *path;		/* NULL: empty slot */
	bool preset;		/* the user's file, not ours */
};

struct kt_installed {
	char *cache_dir;
	struct kt_installed_blob *b;
	size_t n;
};

struct extract_ctx {
	const struct kt_install_opts *opts;
	struct kt_cache *cache;
	int exe_fd;		/* -1: not opened yet, -2: unusable */
	bool wrote;		/* a blob was written: time to collect old ones */
};

/* ---- the executable's own file ---------------------------------------------- */

struct extract_phdr_query {
	uintptr_t addr;
	size_t len;
	off_t off;
	bool found;
};

static int extract_phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct extract_phdr_query *q = data;
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
static int extract_file_offset(const struct kt_blob *b, off_t *off)
{
	struct extract_phdr_query q = {
		.addr = (uintptr_t)b->start, .len = (size_t)b->size,
	};

	dl_iterate_phdr(extract_phdr_cb, &q);
	if (!q.found)
		return -ENOENT;
	*off = q.off;
	return 0;
}

/*
 * Whether @fd is the file this process was loaded from: its program
 * headers must be the ones mapped in memory.  Started through the loader
 * ("ld.so ktpack"), /proc/self/exe is ld.so, whose bytes at the blob's
 * offset are not the blob.
 */
static bool extract_is_our_exe(int fd)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	size_t phnum = getauxval(AT_PHNUM);
	ElfW(Ehdr) eh;
	ElfW(Phdr) buf[64];

	if (!ph || !phnum || phnum > KT_ARRAY_SIZE(buf) ||
	    kt_pread_full(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_phnum != phnum ||
	    eh.e_phentsize != sizeof(*ph) ||
	    kt_pread_full(fd, buf, phnum * sizeof(*ph), (off_t)eh.e_phoff) !=
	    (ssize_t)(phnum * sizeof(*ph)))
		return false;
	return !memcmp(buf, ph, phnum * sizeof(*ph));
}

static int extract_exe_fd(struct extract_ctx *x)
{
	const char *exe = x->opts && x->opts->exe_path ?
			  x->opts->exe_path : "/proc/self/exe";

	if (x->exe_fd == -1) {
		x->exe_fd = open(exe, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (x->exe_fd >= 0 && !extract_is_our_exe(x->exe_fd)) {
			close(x->exe_fd);
			x->exe_fd = -2;
		}
		if (x->exe_fd < 0)
			x->exe_fd = -2;
	}
	return x->exe_fd;
}

/*
 * Copies the blob from the executable (a reflink where the file system
 * shares extents).  All or nothing: false means the bytes are written
 * from memory.
 */
static bool extract_copy_from_exe(struct extract_ctx *x, const struct kt_blob *b,
				  int out_fd)
{
	off_t src;
	int in = extract_exe_fd(x);

	return in >= 0 && !extract_file_offset(b, &src) &&
	       !kt_copy_fd_at(in, (uint64_t)src, out_fd, b->size);
}

/* The file must hold the blob's bytes: compare its two ends with memory. */
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

/* ---- one blob ------------------------------------------------------------------- */

struct extract_fill {
	struct extract_ctx *x;
	const struct kt_blob *b;
	const char *final;
};

static int extract_fill(void *ctx, int fd, struct kt_err *err)
{
	struct extract_fill *f = ctx;
	const struct kt_blob *b = f->b;
	int r = 0;

	if (!extract_copy_from_exe(f->x, b, fd) || extract_verify_ends(b, fd))
		r = kt_pwrite_all(fd, b->start, (size_t)b->size, 0);
	if (!r)
		r = extract_verify_ends(b, fd);
	if (r)
		return kt_err_set(err, r, "cannot extract %s to '%s': %s", b->name,
				  f->final, strerror(-r));
	return 0;
}

/* A published file is reused when it is plainly ours, complete and, at
 * both ends, the blob. */
static int extract_lookup(struct extract_ctx *x, const char *name,
			  const struct kt_blob *b)
{
	int fd, r;

	r = kt_cache__open_file(x->cache, name, 0755, b->size, &fd);
	if (r)
		return r;
	r = extract_verify_ends(b, fd) ? -ESTALE : 0;
	/* Used now: the collection of old versions goes by last use. */
	if (!r)
		futimens(fd, NULL);
	close(fd);
	return r;
}

static int extract_blob(struct extract_ctx *x, const struct kt_blob *b,
			char **path, struct kt_err *err)
{
	const char *dir = kt_cache__path(x->cache);
	char name[NAME_MAX + 1], final[PATH_MAX];
	struct extract_fill f = { .x = x, .b = b, .final = final };
	int r;

	r = kt_snprintf(name, sizeof(name), "%s-%s", b->name, b->sha256);
	if (!r)
		r = kt_snprintf(final, sizeof(final), "%s/%s", dir, name);
	if (r)
		return kt_err_set(err, r, "cannot extract %s into '%s': %s",
				  b->name, dir, strerror(-r));

	r = extract_lookup(x, name, b);
	if (r == -ESTALE) {
		/* Not a file we wrote (wrong size, mode, owner, bytes, or a
		 * link): remove it and write a good one. */
		if (unlinkat(kt_cache__fd(x->cache), name, 0) && errno != ENOENT)
			return kt_err_set(err, -errno, "cannot remove stale '%s': %s",
					  final, strerror(errno));
		r = -ENOENT;
	}
	if (r == -ENOENT) {
		r = kt_cache__publish(x->cache, name, 0755, b->size, extract_fill, &f, err);
		if (r)
			return kt_err_set(err, r, "cannot extract %s to '%s': %s", b->name,
					  final, strerror(-r));
		/* Another run may have won the race: check what is there. */
		r = extract_lookup(x, name, b);
		if (r)
			return kt_err_set(err, r == -ESTALE ? -EIO : r,
					  "cannot extract %s to '%s': another writer's file does not hold it",
					  b->name, final);
		x->wrote = true;
	} else if (r) {
		return kt_err_set(err, r, "cannot open '%s': %s", final, strerror(-r));
	}
	*path = strdup(final);
	return *path ? 0 : kt_err_set(err, -ENOMEM, "out of memory");
}

/* ---- old versions --------------------------------------------------------------- */

/* "<dir>/<b's name>-<64 hex>" with another digest than @b's. */
static bool extract_is_old_version_of(const struct kt_blob *b, const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t bl = strlen(b->name);
	const char *h = base + bl + 1;

	return kt_blob__embedded(b) && !strncmp(base, b->name, bl) && base[bl] == '-' &&
	       strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64 && strcmp(h, b->sha256);
}

/* "<name>-<64 hex>" with another digest than the current one. */
static bool extract_is_old_version(const struct kt_blob_table *t, const char *n)
{
	for (size_t i = 0; i < t->count; i++)
		if (extract_is_old_version_of(&t->blobs[i], n))
			return true;
	return false;
}

struct extract_gc {
	const struct kt_blob_table *t;
	time_t now;
	unsigned removed;
};

/* Old versions go only when this run wrote a new one, a bounded number at
 * a time, and never young ones. */
static void extract_gc_one(void *ctx, int dfd, const char *n)
{
	struct extract_gc *g = ctx;
	struct stat st;

	if (g->removed >= KT_GC_MAX || !extract_is_old_version(g->t, n))
		return;
	if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || g->now - st.st_mtime < KT_GC_MIN_AGE_S)
		return;
	if (!unlinkat(dfd, n, 0))
		g->removed++;
}

/* ---- install --------------------------------------------------------------------- */

int kt_blob_preset(const struct kt_blob *b, char **out, struct kt_err *err)
{
	const char *path = kt_blob__guest_only(b) ? NULL : getenv(b->env);
	char abs[PATH_MAX];
	int r;

	*out = NULL;
	if (!path || !*path)
		return 0;
	/* A path an older build exported ("<name>-<other digest>", what
	 * eval "$(ktpack env)" leaves) is not the user's choice: the current
	 * blob is installed instead. */
	if (extract_is_old_version_of(b, path))
		return 0;
	r = kt_check_program(path, err, b->env);
	if (r)
		return r;
	/* Absolute, so that a child in another folder finds it too: the
	 * file that was checked, links and ".." resolved by the kernel. */
	if (path[0] == '/' && !strstr(path, "/./") && !strstr(path, "/../"))
		r = kt_snprintf(abs, sizeof(abs), "%s", path);
	else if (!realpath(path, abs))
		r = -errno;
	if (r)
		return kt_err_set(err, r, "%s='%s': %s", b->env, path, strerror(-r));
	*out = strdup(abs);
	return *out ? 0 : kt_err_set(err, -ENOMEM, "out of memory");
}

void kt_installed__free(struct kt_installed *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->n; i++)
		free(in->b[i].path);
	free(in->b);
	free(in->cache_dir);
	free(in);
}

const char *kt_installed__cache_dir(const struct kt_installed *in)
{
	return in->cache_dir;
}

const char *kt_installed__path(const struct kt_installed *in, const char *name)
{
	for (size_t i = 0; i < in->n; i++)
		if (!strcmp(in->b[i].blob->name, name))
			return in->b[i].path;
	return NULL;
}

/* Whether the file at @fd holds exactly @b's bytes. */
static bool extract_same(int fd, const struct kt_blob *b)
{
	unsigned char buf[65536];
	uint64_t off = 0;
	struct stat st;

	if (fstat(fd, &st) || (uint64_t)st.st_size != b->size)
		return false;
	while (off < b->size) {
		size_t want = b->size - off < sizeof(buf) ? (size_t)(b->size - off) : sizeof(buf);

		if (kt_pread_full(fd, buf, want, (off_t)off) != (ssize_t)want ||
		    memcmp(buf, b->start + off, want))
			return false;
		off += want;
	}
	return true;
}

int kt_installed__verify(const struct kt_installed *in, struct kt_err *err)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct kt_installed_blob *ib = &in->b[i];
		bool same;
		int fd;

		if (!ib->path || ib->preset)
			continue;
		fd = open(ib->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return kt_err_set(err, -errno, "cannot open '%s': %s", ib->path,
					  strerror(errno));
		same = extract_same(fd, ib->blob);
		close(fd);
		if (!same) {
			unlink(ib->path);
			return kt_err_set(err, -EIO, "'%s' did not hold the embedded %s: removed",
					  ib->path, ib->blob->name);
		}
	}
	return 0;
}

int kt_installed__export(const struct kt_installed *in, struct kt_err *err)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct kt_installed_blob *ib = &in->b[i];

		if (ib->path && setenv(ib->blob->env, ib->path, 1))
			return kt_err_set(err, -errno, "cannot export %s: %s",
					  ib->blob->env, strerror(errno));
	}
	return 0;
}

/* Presets first: they need no cache folder. */
static int extract_presets(struct kt_installed *in, bool *need_cache,
			   struct kt_err *err)
{
	*need_cache = false;
	for (size_t i = 0; i < in->n; i++) {
		const struct kt_blob *b = in->b[i].blob;
		int r = kt_blob_preset(b, &in->b[i].path, err);

		if (r)
			return r;
		in->b[i].preset = in->b[i].path != NULL;
		if (!in->b[i].path && kt_blob__embedded(b) && !kt_blob__guest_only(b))
			*need_cache = true;
	}
	return 0;
}

int kt_install(const struct kt_blob_table *t, const struct kt_install_opts *uo,
	       struct kt_installed **out, struct kt_err *err)
{
	struct kt_install_opts opts, *o = NULL;
	struct extract_ctx x = { .exe_fd = -1 };
	struct kt_cache *own = NULL;
	struct kt_installed *in;
	bool need_cache;
	int r;

	/* NULL: every default */
	if (uo) {
		r = kt_opts_copy(&opts, sizeof(opts), uo, "kt_install_opts", err);
		if (r)
			return r;
		o = &opts;
	}
	x.opts = o;
	r = kt_blob_table__check(t);
	if (r)
		return kt_err_set(err, r, "the blob table does not match the embedded objects");
	in = calloc(1, sizeof(*in));
	if (!in || !(in->b = calloc(t->count ? t->count : 1, sizeof(*in->b)))) {
		free(in);
		return kt_err_set(err, -ENOMEM, "out of memory");
	}
	in->n = t->count;
	for (size_t i = 0; i < t->count; i++)
		in->b[i].blob = &t->blobs[i];

	r = extract_presets(in, &need_cache, err);
	if (r || !need_cache)
		goto out;
	x.cache = o ? o->cache : NULL;
	if (!x.cache) {
		struct kt_cache_opts co = { .log = o ? o->log : (struct kt_log){ 0 } };

		r = kt_cache__open(&co, &own, err);
		if (r)
			goto out;
		x.cache = own;
	}
	in->cache_dir = strdup(kt_cache__path(x.cache));
	if (!in->cache_dir) {
		r = kt_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < in->n && !r; i++)
		if (!in->b[i].path && kt_blob__embedded(in->b[i].blob) &&
		    !kt_blob__guest_only(in->b[i].blob))
			r = extract_blob(&x, in->b[i].blob, &in->b[i].path, err);
	if (!r) {
		struct extract_gc g = { .t = t, .now = time(NULL) };

		kt_cache__sweep(x.cache, x.wrote ? extract_gc_one : NULL, &g);
	}
out:
	if (x.exe_fd >= 0)
		close(x.exe_fd);
	kt_cache__close(own);
	if (r) {
		kt_installed__free(in);
		return r;
	}
	*out = in;
	return 0;
}

int kt_install_env(const struct kt_blob_table *t,
		   const struct kt_install_opts *o, struct kt_err *err)
{
	struct kt_installed *in = NULL;
	int r = kt_install(t, o, &in, err);

	if (!r)
		r = kt_installed__export(in, err);
	kt_installed__free(in);
	return r;
}
