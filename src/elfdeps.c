/* elfdeps.c - ELF closure in glibc's search order (see elfdeps.h).
 *
 * Reads ELF files (through elfinfo.c) and the ld.so.cache (through ldcache.c);
 * opens nothing else and runs nothing.  A library is read from one
 * descriptor, which its closure keeps: what an archive packs is what was
 * read, whatever its name leads to by then.  The order mirrors glibc's
 * _dl_map_object: reuse by name, the DT_RPATH chain (only when the
 * requester has no DT_RUNPATH), LD_LIBRARY_PATH, the requester's
 * DT_RUNPATH, ld.so.cache, the system folders (unless DF_1_NODEFLIB).
 */
#include <ktpack/elfdeps.h>

#include "internal.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ktpack/elfinfo.h>
#include <ktpack/ldcache.h>

#define KT_MAX_OBJECTS 4096
#define NO_LOADER SIZE_MAX

/* A file read once per resolver: most programs share most libraries. */
struct kt_elfcache_ent {
	dev_t dev;
	ino_t ino;
	struct kt_elf_info *info;	/* NULL: not a readable ELF file */
	bool used;
};

struct kt_resolver {
	struct kt_elfcache_ent *ec;	/* open addressing, power-of-two size */
	size_t nec, capec;
	char *ld_library_path;
	char *ldcache_path;
	char *lib;
	char *platform;
	char *sysroot;		/* NULL: the host's root */
	bool guest;
	enum kt_arch arch;
	struct kt_ldcache *cache;
	bool cache_tried;
};

/* One object the loader would map. */
struct kt_obj {
	char *path;		/* host path, as found */
	char *guest_path;
	char *origin;		/* $ORIGIN on the host */
	char *guest_origin;	/* $ORIGIN in the guest */
	const struct kt_elf_info *info;	/* the resolver's, but for [0] */
	size_t loader;		/* index of the object that needed it first */
	dev_t dev;
	ino_t ino;
	int fd;			/* the file that was read; -1 for [0] */
	char **names;		/* its soname and the names that resolved to it */
	size_t nnames, capnames;
	const char *dep_name;	/* the DT_NEEDED name that first found it */
	bool is_interp;
};

struct kt_closure {
	char *interp;
	char *interp_path;	/* on the host: under the sysroot */
	/* $LIB and $PLATFORM of this program's ABI (or the resolver's). */
	char *lib;
	char *platform;
	struct kt_obj *objs;	/* [0] the input, then the interpreter, then libs */
	size_t nobjs, cap;
	struct kt_dep *deps;
	size_t ndeps, capdeps;
};

/* Where the machine keeps its libraries: Debian's multiarch triplet. */
struct kt_abi {
	uint8_t cls;
	uint16_t mach;
	const char *triplet;
	const char *platform;
};

static const struct kt_abi kt_abis[] = {
	{ ELFCLASS64, EM_X86_64, "x86_64-linux-gnu", "x86_64" },
	{ ELFCLASS64, EM_AARCH64, "aarch64-linux-gnu", "aarch64" },
	{ ELFCLASS64, EM_S390, "s390x-linux-gnu", "s390x" },
	{ ELFCLASS64, EM_PPC64, "powerpc64le-linux-gnu", "power8" },
	{ ELFCLASS64, EM_RISCV, "riscv64-linux-gnu", "riscv64" },
	{ ELFCLASS32, EM_386, "i386-linux-gnu", "i686" },
};

static const struct kt_abi *elfdeps_abi(const struct kt_elf_info *i)
{
	for (size_t k = 0; k < KT_ARRAY_SIZE(kt_abis); k++)
		if (kt_abis[k].cls == i->ei_class && kt_abis[k].mach == i->machine)
			return &kt_abis[k];
	return NULL;
}

/* ---- the resolver ------------------------------------------------------------ */

static char *elfdeps_dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

int kt_resolver__new(const struct kt_elfdeps_opts *o, struct kt_resolver **out)
{
	struct kt_resolver *r = calloc(1, sizeof(*r));
	bool oom = false;

	if (!r)
		return -ENOMEM;
	if (o) {
		r->guest = o->guest;
		r->ld_library_path = elfdeps_dup_or_null(o->guest ? NULL : o->ld_library_path, &oom);
		r->ldcache_path = elfdeps_dup_or_null(o->ldcache_path, &oom);
		r->lib = elfdeps_dup_or_null(o->lib, &oom);
		r->platform = elfdeps_dup_or_null(o->platform, &oom);
		r->arch = o->arch;
		if (o->sysroot && *o->sysroot) {
			size_t n = strlen(o->sysroot);

			/* "/x/" is "/x"; "/" is the host's root */
			while (n > 1 && o->sysroot[n - 1] == '/')
				n--;
			if (!(n == 1 && o->sysroot[0] == '/')) {
				r->sysroot = strndup(o->sysroot, n);
				oom = oom || !r->sysroot;
			}
		}
	}
	if (oom) {
		kt_resolver__free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void kt_resolver__free(struct kt_resolver *r)
{
	if (!r)
		return;
	free(r->ld_library_path);
	free(r->ldcache_path);
	free(r->sysroot);
	free(r->lib);
	free(r->platform);
	kt_ldcache__free(r->cache);
	for (size_t i = 0; i < r->capec; i++)
		kt_elf_info__free(r->ec[i].info);
	free(r->ec);
	free(r);
}

static size_t elfdeps_ec_slot(const struct kt_resolver *r, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)ino;

	h *= 0xff51afd7ed558ccdULL;
	for (size_t i = (size_t)(h >> 32) & (r->capec - 1); ; i = (i + 1) & (r->capec - 1))
		if (!r->ec[i].used || (r->ec[i].dev == dev && r->ec[i].ino == ino))
			return i;
}

static int elfdeps_ec_grow(struct kt_resolver *r)
{
	struct kt_elfcache_ent *old = r->ec;
	size_t oldcap = r->capec, cap = oldcap ? oldcap * 2 : 256;

	r->ec = calloc(cap, sizeof(*r->ec));
	if (!r->ec) {
		r->ec = old;
		return -ENOMEM;
	}
	r->capec = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].used)
			r->ec[elfdeps_ec_slot(r, old[i].dev, old[i].ino)] = old[i];
	free(old);
	return 0;
}

/*
 * The ELF info of the file @st describes, read at most once.  NULL when it
 * is not a readable ELF file (or memory ran out: then it is read again).
 */
static const struct kt_elf_info *elfdeps_ec_get(struct kt_resolver *r, int fd, const char *path,
					 const struct stat *st)
{
	struct kt_elf_info *info = NULL;
	size_t i;

	if (r->capec && r->ec[i = elfdeps_ec_slot(r, st->st_dev, st->st_ino)].used)
		return r->ec[i].info;
	if (kt_elf_info_read_fd(fd, path, &info, NULL))
		info = NULL;
	if ((r->nec + 1) * 2 > r->capec && elfdeps_ec_grow(r)) {
		kt_elf_info__free(info);
		return NULL;
	}
	i = elfdeps_ec_slot(r, st->st_dev, st->st_ino);
	r->ec[i] = (struct kt_elfcache_ent){
		.dev = st->st_dev, .ino = st->st_ino, .info = info, .used = true,
	};
	r->nec++;
	return info;
}

/* The cache is read once, on first need; a missing or unreadable one is
 * simply not used, as the loader does. */
/* @path (as the loader names it) as the host sees it: under the sysroot
 * when there is one. */
static int elfdeps_host(const struct kt_resolver *r, const char *path, char *out, size_t sz)
{
	return kt_snprintf(out, sz, "%s%s", r->sysroot && *path == '/' ? r->sysroot : "", path);
}

/*
 * @host (under the sysroot) with every symlink in it resolved inside the
 * sysroot, as the guest's loader will see it: an absolute link starts
 * again at the sysroot, never at the host's root.  Without a sysroot,
 * @host as it is (the host resolves it).  False when it cannot be
 * resolved (a loop, a missing component).
 */
static bool elfdeps_in_root(const struct kt_resolver *r, const char *host, char *out, size_t sz)
{
	size_t rl = r->sysroot ? strlen(r->sysroot) : 0;
	char in[PATH_MAX];

	/* not in the sysroot ($ORIGIN, the program's folder): the host's */
	if (!r->sysroot || strncmp(host, r->sysroot, rl) || (host[rl] && host[rl] != '/'))
		return !kt_snprintf(out, sz, "%s", host);
	return !kt_path_walk(r->sysroot, host[rl] ? host + rl : "/", in, sizeof(in), NULL, NULL, NULL) &&
	       !kt_snprintf(out, sz, "%s%s", r->sysroot, in);
}

static const struct kt_ldcache *elfdeps_cache(struct kt_resolver *r)
{
	char in_root[PATH_MAX];
	const char *p = r->ldcache_path ? r->ldcache_path : KT_LDCACHE_PATH;

	if (!r->ldcache_path && r->sysroot)
		p = elfdeps_host(r, KT_LDCACHE_PATH, in_root, sizeof(in_root)) ? "" : in_root;
	if (!r->cache_tried && *p) {
		r->cache_tried = true;
		if (kt_ldcache__open(p, &r->cache, NULL))
			r->cache = NULL;
	}
	return r->cache;
}

/* ---- paths ------------------------------------------------------------------- */

static char *elfdeps_dirname_dup(const char *path)
{
	const char *s = strrchr(path, '/');

	if (!s)
		return strdup(".");
	if (s == path)
		return strdup("/");
	return strndup(path, (size_t)(s - path));
}

/*
 * Expands $ORIGIN, $LIB and $PLATFORM (also in braces) in one search-path
 * element.  -ENOENT when $ORIGIN is needed but unknown: glibc drops such an
 * element.
 */
static int elfdeps_expand(const struct kt_closure *c, const char *s, size_t len,
		   const char *origin, char *out, size_t sz)
{
	static const char *const names[] = { "ORIGIN", "LIB", "PLATFORM" };
	size_t o = 0;

	for (size_t i = 0; i < len; ) {
		const char *val = NULL;
		size_t skip = 0;

		if (s[i] == '$') {
			for (size_t k = 0; k < KT_ARRAY_SIZE(names) && !val; k++) {
				size_t nl = strlen(names[k]);
				const char *v = k == 0 ? origin : k == 1 ? c->lib : c->platform;

				if (len - i - 1 >= nl && !strncmp(s + i + 1, names[k], nl) &&
				    (i + 1 + nl == len || !(s[i + 1 + nl] == '_' ||
				     (s[i + 1 + nl] >= 'A' && s[i + 1 + nl] <= 'Z') ||
				     (s[i + 1 + nl] >= 'a' && s[i + 1 + nl] <= 'z') ||
				     (s[i + 1 + nl] >= '0' && s[i + 1 + nl] <= '9'))))
					val = v, skip = 1 + nl;
				else if (len - i - 1 >= nl + 2 && s[i + 1] == '{' &&
					 !strncmp(s + i + 2, names[k], nl) &&
					 s[i + 2 + nl] == '}')
					val = v, skip = 3 + nl;
				if (skip && !val)
					return -ENOENT;
			}
		}
		if (val) {
			size_t vl = strlen(val);

			if (o + vl >= sz)
				return -ENAMETOOLONG;
			memcpy(out + o, val, vl);
			o += vl;
			i += skip;
			continue;
		}
		if (o + 1 >= sz)
			return -ENAMETOOLONG;
		out[o++] = s[i++];
	}
	out[o] = '\0';
	return 0;
}

/* ---- the search ----------------------------------------------------------------- */

struct kt_found {
	char path[PATH_MAX];
	char guest[PATH_MAX];
	const struct kt_elf_info *info;	/* the resolver's */
	struct stat st;
	int fd;				/* what was read, open */
};

/*
 * Opens the regular file @path, which stat found (@st): a FIFO or a
 * device is never opened, and the descriptor must be that inode.  -1
 * when it is not.
 */
static int elfdeps_open(const char *path, struct stat *st)
{
	struct stat now;
	int fd;

	if (stat(path, st) || !S_ISREG(st->st_mode))
		return -1;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &now) || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A candidate that was found and then not taken. */
static void elfdeps_drop(struct kt_found *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->info = NULL;
}

/*
 * A candidate is used when it is an ELF shared object of the program's
 * class and machine; anything else is skipped, as the loader skips it.
 */
static bool elfdeps_try(struct kt_resolver *r, const struct kt_elf_info *main,
		 const char *path, struct kt_found *f)
{
	const struct kt_elf_info *info;
	char real[PATH_MAX];

	f->fd = -1;
	/* under a sysroot, its links are followed inside it */
	if (!elfdeps_in_root(r, path, real, sizeof(real)) ||
	    (f->fd = elfdeps_open(real, &f->st)) < 0)
		return false;
	info = elfdeps_ec_get(r, f->fd, real, &f->st);
	f->info = info;
	if (!info || info->ei_class != main->ei_class ||
	    info->machine != main->machine || info->type != ET_DYN ||
	    kt_snprintf(f->path, sizeof(f->path), "%s", path)) {
		elfdeps_drop(f);
		return false;
	}
	return true;
}

/* A search-path element or a DT_NEEDED path that starts at $ORIGIN. */
static bool elfdeps_origin_relative(const char *p)
{
	return !strncmp(p, "$ORIGIN", 7) || !strncmp(p, "${ORIGIN}", 9);
}

/* DIR/NAME as the host sees it. */
static int elfdeps_host2(const struct kt_resolver *r, const char *dir, const char *name,
			 char *out, size_t sz)
{
	char p[PATH_MAX];

	if (kt_snprintf(p, sizeof(p), "%s/%s", dir, name))
		return -ENAMETOOLONG;
	return elfdeps_host(r, p, out, sz);
}

/* Tries NAME in each element of a colon-separated list. */
static bool elfdeps_try_list(struct kt_resolver *r, const struct kt_closure *c,
		      const char *list, const struct kt_obj *owner,
		      const char *name, struct kt_found *f)
{
	const char *p = list;

	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char dir[PATH_MAX], gdir[PATH_MAX], cand[PATH_MAX];

		/* An empty element means the working folder to glibc; the
		 * guest has no meaningful one, so it is skipped. */
		/* $ORIGIN is a host folder already; an absolute folder is
		 * the loader's, under the sysroot */
		if (len && !elfdeps_expand(c, p, len, owner ? owner->origin : NULL, dir, sizeof(dir)) &&
		    !elfdeps_expand(c, p, len, owner ? owner->guest_origin : NULL, gdir, sizeof(gdir)) &&
		    !(elfdeps_origin_relative(p) ? kt_snprintf(cand, sizeof(cand), "%s/%s", dir, name) :
		      elfdeps_host2(r, dir, name, cand, sizeof(cand))) &&
		    elfdeps_try(r, c->objs[0].info, cand, f)) {
			char g[PATH_MAX];

			if (!kt_snprintf(g, sizeof(g), "%s/%s", gdir, name) &&
			    !kt_path_normalize(g, f->guest, sizeof(f->guest), false))
				return true;
			elfdeps_drop(f);
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* The system folders of the ABI, in the loader's order. */
static size_t elfdeps_sysdirs(const struct kt_elf_info *main, char dirs[][64], size_t max)
{
	const struct kt_abi *abi = elfdeps_abi(main);
	size_t n = 0;

	if (abi && n + 2 <= max) {
		snprintf(dirs[n++], 64, "/lib/%s", abi->triplet);
		snprintf(dirs[n++], 64, "/usr/lib/%s", abi->triplet);
	}
	if (main->ei_class == ELFCLASS64 && n + 2 <= max) {
		snprintf(dirs[n++], 64, "/lib64");
		snprintf(dirs[n++], 64, "/usr/lib64");
	}
	if (n + 2 <= max) {
		snprintf(dirs[n++], 64, "/lib");
		snprintf(dirs[n++], 64, "/usr/lib");
	}
	return n;
}

static bool elfdeps_in_sysdir(const char *path, char dirs[][64], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(dirs[i]);

		if (!strncmp(path, dirs[i], l) && path[l] == '/' && !strchr(path + l + 1, '/'))
			return true;
	}
	return false;
}

/* A DT_NEEDED name with a '/' is a path, relative to nothing but $ORIGIN.
 * Pseudo-files are never libraries: /proc/self/exe would be ourselves. */
static bool elfdeps_search_path(struct kt_resolver *r, const struct kt_closure *c,
				const struct kt_obj *rq, const char *name, struct kt_found *f)
{
	static const char *const pseudo[] = { "/proc/", "/sys/", "/dev/" };
	char p[PATH_MAX], n[PATH_MAX], h[PATH_MAX];

	if (elfdeps_expand(c, name, strlen(name), rq->origin, p, sizeof(p)) ||
	    kt_path_absolute(p, n, sizeof(n)))
		return false;
	for (size_t i = 0; i < KT_ARRAY_SIZE(pseudo); i++)
		if (!strncmp(n, pseudo[i], strlen(pseudo[i])))
			return false;
	if ((elfdeps_origin_relative(name) ? kt_snprintf(h, sizeof(h), "%s", p) :
	     elfdeps_host(r, p, h, sizeof(h))) || !elfdeps_try(r, c->objs[0].info, h, f))
		return false;
	if (elfdeps_expand(c, name, strlen(name), rq->guest_origin, p, sizeof(p)) ||
	    kt_path_normalize(p, f->guest, sizeof(f->guest), false)) {
		elfdeps_drop(f);
		return false;
	}
	return true;
}

/* The ld.so.cache entry for @name, as the loader takes it. */
static bool elfdeps_search_cache(struct kt_resolver *r, const struct kt_closure *c,
				 const struct kt_obj *rq, const char *name,
				 char dirs[][64], size_t ndirs, struct kt_found *f)
{
	const struct kt_elf_info *main = c->objs[0].info;
	const struct kt_ldcache *cache = elfdeps_cache(r);
	const char *hit;
	char g[PATH_MAX], h[PATH_MAX];

	hit = cache ? kt_ldcache__lookup(cache, name, kt_ldcache_flags(main->ei_class, main->machine)) : NULL;
	/* DF_1_NODEFLIB refuses cache entries in the system folders too. */
	if (!hit || ((rq->info->flags_1 & DF_1_NODEFLIB) && elfdeps_in_sysdir(hit, dirs, ndirs)) ||
	    elfdeps_host(r, hit, h, sizeof(h)) || !elfdeps_try(r, main, h, f))
		return false;
	/* No cache in the guest: a library outside the system folders goes
	 * where the guest's loader looks, the first system folder (as the
	 * host spells it, without symlinked parents; as it is in a sysroot). */
	if (r->guest && !elfdeps_in_sysdir(hit, dirs, ndirs)) {
		char real[PATH_MAX];

		if (r->sysroot || !realpath(dirs[0], real) ||
		    kt_snprintf(g, sizeof(g), "%s/%s", real, name))
			snprintf(g, sizeof(g), "%s/%s", dirs[0], name);
	} else {
		snprintf(g, sizeof(g), "%s", hit);
	}
	if (!kt_path_normalize(g, f->guest, sizeof(f->guest), false))
		return true;
	elfdeps_drop(f);
	return false;
}

static bool elfdeps_search(struct kt_resolver *r, struct kt_closure *c, size_t req,
			   const char *name, struct kt_found *f)
{
	const struct kt_elf_info *main = c->objs[0].info;
	const struct kt_obj *rq = &c->objs[req];
	char dirs[6][64];
	size_t ndirs = elfdeps_sysdirs(main, dirs, 6);

	if (strchr(name, '/'))
		return elfdeps_search_path(r, c, rq, name, f);
	/* DT_RPATH of the requester, then of whatever loaded it, up to the
	 * program: only when the requester has no DT_RUNPATH, and an object
	 * with a DT_RUNPATH contributes no DT_RPATH. */
	if (!rq->info->runpath) {
		for (size_t l = req; l != NO_LOADER; l = c->objs[l].loader) {
			const struct kt_obj *o = &c->objs[l];

			if (o->info->rpath && !o->info->runpath &&
			    elfdeps_try_list(r, c, o->info->rpath, o, name, f))
				return true;
		}
	}
	if (r->ld_library_path &&
	    elfdeps_try_list(r, c, r->ld_library_path, &c->objs[0], name, f))
		return true;
	if (rq->info->runpath && elfdeps_try_list(r, c, rq->info->runpath, rq, name, f))
		return true;
	if (elfdeps_search_cache(r, c, rq, name, dirs, ndirs, f))
		return true;
	if (rq->info->flags_1 & DF_1_NODEFLIB)
		return false;
	for (size_t i = 0; i < ndirs; i++) {
		char cand[PATH_MAX];

		if (!elfdeps_host2(r, dirs[i], name, cand, sizeof(cand)) &&
		    elfdeps_try(r, main, cand, f)) {
			snprintf(f->guest, sizeof(f->guest), "%s/%s", dirs[i], name);
			return true;
		}
	}
	return false;
}

/* ---- the closure ------------------------------------------------------------------ */

void kt_closure__free(struct kt_closure *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nobjs; i++) {
		struct kt_obj *o = &c->objs[i];

		if (o->fd >= 0)
			close(o->fd);
		free(o->path);
		free(o->guest_path);
		free(o->origin);
		free(o->guest_origin);
		if (i == 0)
			kt_elf_info__free((struct kt_elf_info *)o->info);
		for (size_t k = 0; k < o->nnames; k++)
			free(o->names[k]);
		free(o->names);
	}
	free(c->objs);
	free(c->deps);
	free(c->interp);
	free(c->interp_path);
	free(c->lib);
	free(c->platform);
	free(c);
}

const char *kt_closure__interp(const struct kt_closure *c)
{
	return c->interp;
}

const char *kt_closure__interp_path(const struct kt_closure *c)
{
	return c->interp_path;
}

size_t kt_closure__count(const struct kt_closure *c)
{
	return c->ndeps;
}

const struct kt_dep *kt_closure__dep(const struct kt_closure *c, size_t i)
{
	return i < c->ndeps ? &c->deps[i] : NULL;
}

int kt_closure_dep_fd(const struct kt_closure *c, size_t i)
{
	for (size_t k = 1; i < c->ndeps && k < c->nobjs; k++)
		if (c->objs[k].path == c->deps[i].path)
			return c->objs[k].fd;
	return -1;
}

int kt_closure_interp_fd(const struct kt_closure *c)
{
	for (size_t k = 1; k < c->nobjs; k++)
		if (c->objs[k].is_interp)
			return c->objs[k].fd;
	return -1;
}

static int elfdeps_add_name(struct kt_obj *o, const char *name)
{
	if (kt_grow((void **)&o->names, &o->capnames, o->nnames + 1, sizeof(*o->names)) ||
	    !(o->names[o->nnames] = strdup(name)))
		return -ENOMEM;
	o->nnames++;
	return 0;
}

/* The first object (the program) owns its @info; the others borrow the
 * resolver's.  The program's info is freed here on failure.  @fd (-1 for
 * the program) is the closure's from here on, also on failure. */
static int elfdeps_add_obj(struct kt_closure *c, const char *path, const char *guest,
		    const struct kt_elf_info *info, const struct stat *st, int fd, size_t loader,
		    struct kt_obj **out)
{
	struct kt_obj *o;

	if (c->nobjs >= KT_MAX_OBJECTS ||
	    kt_grow((void **)&c->objs, &c->cap, c->nobjs + 1, sizeof(*c->objs))) {
		if (!c->nobjs)
			kt_elf_info__free((struct kt_elf_info *)info);
		if (fd >= 0)
			close(fd);
		return c->nobjs >= KT_MAX_OBJECTS ? -E2BIG : -ENOMEM;
	}
	o = &c->objs[c->nobjs++];
	memset(o, 0, sizeof(*o));
	o->fd = fd;
	o->info = info;
	o->loader = loader;
	o->dev = st->st_dev;
	o->ino = st->st_ino;
	o->path = strdup(path);
	o->guest_path = strdup(guest);
	o->origin = elfdeps_dirname_dup(path);
	o->guest_origin = elfdeps_dirname_dup(guest);
	if (!o->path || !o->guest_path || !o->origin || !o->guest_origin ||
	    (info->soname && elfdeps_add_name(o, info->soname)))
		return -ENOMEM;
	*out = o;
	return 0;
}

/* An object already mapped under this name (its soname or a name that
 * resolved to it), or -1. */
static ssize_t elfdeps_find_by_name(const struct kt_closure *c, const char *name)
{
	for (size_t i = 1; i < c->nobjs; i++)
		for (size_t k = 0; k < c->objs[i].nnames; k++)
			if (!strcmp(c->objs[i].names[k], name))
				return (ssize_t)i;
	return -1;
}

static ssize_t elfdeps_find_by_inode(const struct kt_closure *c, const struct stat *st)
{
	for (size_t i = 1; i < c->nobjs; i++)
		if (c->objs[i].dev == st->st_dev && c->objs[i].ino == st->st_ino)
			return (ssize_t)i;
	return -1;
}

static int elfdeps_add_dep(struct kt_closure *c, const struct kt_obj *o,
		    const char *name, const char *needed_by)
{
	if (kt_grow((void **)&c->deps, &c->capdeps, c->ndeps + 1, sizeof(*c->deps)))
		return -ENOMEM;
	c->deps[c->ndeps++] = (struct kt_dep){
		.name = name, .path = o->path, .guest_path = o->guest_path,
		.needed_by = needed_by,
	};
	return 0;
}

/* The interpreter is mapped before anything is searched, and answers to
 * its soname, as the loader's own map does. */
static int elfdeps_add_interp(struct kt_resolver *r, struct kt_closure *c,
		       struct kt_err *err)
{
	const struct kt_elf_info *main = c->objs[0].info, *info;
	char host[PATH_MAX], real[PATH_MAX];
	struct kt_obj *o;
	struct stat st;
	int fd, ret;

	c->interp = strdup(main->interp);
	if (!c->interp)
		return -ENOMEM;
	if (elfdeps_host(r, c->interp, host, sizeof(host)))
		return kt_err_set(err, -ENAMETOOLONG, "%s: interpreter path too long", c->interp);
	c->interp_path = strdup(host);
	if (!c->interp_path)
		return -ENOMEM;
	if (!elfdeps_in_root(r, host, real, sizeof(real)) || stat(real, &st))
		return kt_err_set(err, -ENOENT,
				  "%s: interpreter not found (needed by %s)%s",
				  host, c->objs[0].path, r->sysroot || main->machine == kt_arch_elf_machine(kt_arch_native()) ? "" :
				  ": its architecture's C library is not installed (Debian: libc6:ARCH), or give a --sysroot");
	fd = elfdeps_open(real, &st);
	if (fd < 0 || !(info = elfdeps_ec_get(r, fd, real, &st))) {
		if (fd >= 0)
			close(fd);
		return kt_err_set(err, -ENOEXEC,
				  "%s: interpreter is not an ELF file (needed by %s)",
				  host, c->objs[0].path);
	}
	if (info->ei_class != main->ei_class || info->machine != main->machine) {
		close(fd);
		return kt_err_set(err, -ENOEXEC,
				  "%s: interpreter of the wrong ELF class or machine (needed by %s)",
				  host, c->objs[0].path);
	}
	ret = elfdeps_add_obj(c, host, c->interp, info, &st, fd, 0, &o);
	if (ret)
		return ret;
	o->is_interp = true;
	return elfdeps_add_name(o, c->interp);
}

/* $LIB and $PLATFORM of this closure: the resolver's when given, else
 * what the program's ABI gives (an i386 program after an x86-64 one gets
 * its own). */
static int elfdeps_abi_defaults(const struct kt_resolver *r, struct kt_closure *c,
				const struct kt_elf_info *info)
{
	const struct kt_abi *abi = elfdeps_abi(info);
	char lib[64], hlib[PATH_MAX];
	struct stat st;
	struct utsname u;

	snprintf(lib, sizeof(lib), "/lib/%s", abi ? abi->triplet : "");
	c->lib = strdup(r->lib ? r->lib : abi && !elfdeps_host(r, lib, hlib, sizeof(hlib)) &&
			!stat(hlib, &st) ? lib + 1 :
			info->ei_class == ELFCLASS64 ? "lib64" : "lib");
	c->platform = strdup(r->platform ? r->platform : abi ? abi->platform :
			     uname(&u) ? "" : u.machine);
	return c->lib && c->platform ? 0 : -ENOMEM;
}

/* Breadth-first over DT_NEEDED: the loader's load order. */
static int elfdeps_walk(struct kt_resolver *r, struct kt_closure *c, struct kt_err *err)
{
	for (size_t i = 0; i < c->nobjs; i++) {
		for (size_t k = 0; k < c->objs[i].info->nneeded; k++) {
			const char *name = c->objs[i].info->needed[k];
			struct kt_found f;	/* 8 KiB: not cleared on purpose */
			struct kt_obj *o;
			ssize_t have;
			int ret;

			if (!strcmp(name, "linux-vdso.so.1") || !strcmp(name, "linux-gate.so.1"))
				continue;
			if (elfdeps_find_by_name(c, name) >= 0)
				continue;
			if (!elfdeps_search(r, c, i, name, &f))
				return kt_err_set(err, -ENOENT, "%s: not found (needed by %s)",
						  name, c->objs[i].path);
			/* The same file under another name is mapped once. */
			have = elfdeps_find_by_inode(c, &f.st);
			if (have >= 0) {
				elfdeps_drop(&f);
				ret = elfdeps_add_name(&c->objs[have], name);
			} else {
				ret = elfdeps_add_obj(c, f.path, f.guest, f.info, &f.st, f.fd, i, &o);
				if (!ret && !(ret = elfdeps_add_name(o, name)))
					o->dep_name = o->names[o->nnames - 1];
			}
			if (ret)
				return ret;
		}
	}
	return 0;
}

/*
 * The closure of the program @info (owned by the closure from here on)
 * found at host @path (@real with links resolved, for $ORIGIN) and going to
 * @guest_path.
 */
static int elfdeps_closure(struct kt_resolver *r, struct kt_elf_info *info,
			   const char *path, const char *real, const struct stat *st,
			   const char *guest_path, struct kt_closure **out,
			   struct kt_err *err)
{
	struct kt_closure *c = calloc(1, sizeof(*c));
	struct kt_obj *o;
	int ret;

	if (!c) {
		kt_elf_info__free(info);
		return kt_err_set(err, -ENOMEM, "out of memory");
	}
	if (r->arch && info->machine != kt_arch_elf_machine(r->arch)) {
		enum kt_arch a = kt_arch_of_elf_machine(info->machine);

		ret = a ? kt_err_set(err, -ENOEXEC, "'%s' is an %s program, not %s", path,
				     kt_arch_name(a), kt_arch_name(r->arch)) :
			  kt_err_set(err, -ENOEXEC, "'%s' is for ELF machine %u, not %s", path,
				     info->machine, kt_arch_name(r->arch));
		kt_elf_info__free(info);
		free(c);
		return ret;
	}
	ret = elfdeps_add_obj(c, path, guest_path ? guest_path : path, info, st, -1,
			      NO_LOADER, &o);
	if (ret)
		goto fail;
	/* The program's $ORIGIN comes from /proc/self/exe: links resolved. */
	free(o->origin);
	o->origin = elfdeps_dirname_dup(real);
	if (!o->origin) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = elfdeps_abi_defaults(r, c, info);
	if (!ret && info->interp)
		ret = elfdeps_add_interp(r, c, err);
	if (!ret)
		ret = elfdeps_walk(r, c, err);
	/* Dependencies are listed once the object array no longer moves. */
	for (size_t i = 1; !ret && i < c->nobjs; i++) {
		const struct kt_obj *d = &c->objs[i];

		if (!d->is_interp)
			ret = elfdeps_add_dep(c, d, d->dep_name, c->objs[d->loader].path);
	}
	if (ret)
		goto fail;
	*out = c;
	return 0;
fail:
	if (ret == -ENOMEM || ret == -E2BIG)
		kt_err_set(err, ret, "'%s': %s", path, ret == -ENOMEM ?
			   "out of memory" : "too many shared objects");
	kt_closure__free(c);
	return ret;
}

int kt_resolver_closure_fd(struct kt_resolver *r, int fd, const char *path, const char *real,
			   const char *guest_path, struct kt_closure **out, struct kt_err *err)
{
	struct kt_elf_info *info = NULL;
	struct stat st;
	int ret;

	if (fstat(fd, &st))
		return kt_err_set(err, -errno, "cannot stat '%s': %s", path, strerror(errno));
	ret = kt_elf_info_read_fd(fd, path, &info, err);
	if (ret)
		return ret;
	return elfdeps_closure(r, info, path, real, &st, guest_path, out, err);
}

int kt_resolver__closure(struct kt_resolver *r, const char *path,
			 const char *guest_path, struct kt_closure **out,
			 struct kt_err *err)
{
	char real[PATH_MAX];
	int fd, ret;

	ret = kt_open_regular(path, "", &fd, err);
	if (ret == -EINVAL)	/* a folder, a FIFO: not an ELF file */
		return kt_err_set(err, -ENOEXEC, "'%s': not a regular file", path);
	if (ret)
		return ret;
	if (!realpath(path, real))
		ret = kt_err_set(err, -errno, "cannot resolve '%s': %s", path, strerror(errno));
	if (!ret)
		ret = kt_resolver_closure_fd(r, fd, path, real, guest_path, out, err);
	close(fd);
	return ret;
}

int kt_resolver__closure_mem(struct kt_resolver *r, const void *buf, size_t len,
			     const char *guest_path, struct kt_closure **out,
			     struct kt_err *err)
{
	struct kt_elf_info *info = NULL;
	struct stat st = { 0 };
	int ret;

	ret = kt_elf_info__parse(buf, len, guest_path, &info, err);
	if (ret)
		return ret;
	return elfdeps_closure(r, info, guest_path, guest_path, &st, guest_path, out, err);
}
