/* modules.c - kernel modules for the guest (see ktpack/modules.h).
 *
 * modules.dep is read by hand: it is a line per module, "path: dep dep",
 * and libkmod, which reads its binary index, would be one more library in
 * every static build for a dozen lines of parsing.
 */
#include <ktpack/modules.h>

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ktpack/kernel.h>

#include "guest/proto.h"
#include "internal.h"

/* modules.dep and modules.builtin of a distribution are a few hundred KB. */
#define MODULES_INDEX_MAX	(64u << 20)
/* A module file, decompressed. */
#define MODULE_MAX		(256u << 20)

struct kt_mod {
	char *path;		/* relative to the tree, into the dep text */
	char *deps;		/* "dep dep", into the dep text */
	int state;		/* 0 not wanted, 1 being resolved, 2 in the order */
	unsigned level;		/* 0 without dependencies, else 1 + theirs */
	bool required;		/* the guest must load it */
};

struct kt_modules {
	char dir[PATH_MAX];
	char *dep;		/* modules.dep, cut into lines */
	char *builtin;		/* modules.builtin */
	struct kt_mod *m;
	size_t n;
	size_t *order;		/* indices into m, dependencies first */
	size_t norder;
};

/* A module's name from its path: the base name without ".ko" and its
 * compression suffix, '-' as '_'. */
static void modules_name(const char *path, size_t len, char *out, size_t sz)
{
	const char *base = path, *ko;
	size_t n;

	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			base = path + i + 1;
	n = len - (size_t)(base - path);
	ko = memmem(base, n, ".ko", 3);
	if (ko)
		n = (size_t)(ko - base);
	if (n >= sz)
		n = sz - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = base[i] == '-' ? '_' : base[i];
	out[n] = '\0';
}

int kt_modules_find(const char *dir, const char *kernel, const char *release,
		    char *out, size_t sz, struct kt_err *err)
{
	char dep[PATH_MAX], kdir[PATH_MAX];
	const char *slash;

	if (dir) {
		if (kt_snprintf(dep, sizeof(dep), "%s/modules.dep", dir) || access(dep, R_OK))
			return kt_err_set(err, -ENOENT,
					  "'%s' is not a module tree: it has no modules.dep (run depmod -b)",
					  dir);
		return kt_snprintf(out, sz, "%s", dir) ?
		       kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", dir) : 0;
	}
	if (!release || !*release)
		return kt_err_set(err, -ENOENT,
				  "the kernel '%s' does not say its version: give its module tree with --modules DIR",
				  kernel);
	if (!kt_snprintf(out, sz, "/lib/modules/%s", release) &&
	    !kt_snprintf(dep, sizeof(dep), "%s/modules.dep", out) && !access(dep, R_OK))
		return 0;
	slash = strrchr(kernel, '/');
	if (kt_snprintf(kdir, sizeof(kdir), "%.*s", slash ? (int)(slash - kernel) : 1,
			slash ? kernel : "."))
		return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", kernel);
	if (!kt_snprintf(out, sz, "%s/lib/modules/%s", *kdir ? kdir : "/", release) &&
	    !kt_snprintf(dep, sizeof(dep), "%s/modules.dep", out) && !access(dep, R_OK))
		return 0;
	return kt_err_set(err, -ENOENT,
			  "no module tree for the kernel %s: neither /lib/modules/%s nor %s has modules.dep (use --modules DIR)",
			  release, release, out);
}

/* The whole of a text file, NUL-terminated; "" when it is absent and
 * @optional. */
static int modules_slurp(const char *dir, const char *name, bool optional, char **out,
			 struct kt_err *err)
{
	char path[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	*out = NULL;
	if (kt_snprintf(path, sizeof(path), "%s/%s", dir, name))
		return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", dir);
	/* O_NONBLOCK: a FIFO put there must not hang the run (it is refused
	 * below, as anything but a regular file is). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && optional && errno == ENOENT) {
		*out = strdup("");
		return *out ? 0 : kt_err_set(err, -ENOMEM, "out of memory");
	}
	if (fd < 0 || fstat(fd, &st)) {
		int r = -errno;

		if (fd >= 0)
			close(fd);
		return kt_err_set(err, r, "cannot read '%s': %s", path, strerror(-r));
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MODULES_INDEX_MAX) {
		close(fd);
		return kt_err_set(err, -EFBIG, "'%s' is not a module index (over %u MiB or not a file)",
				  path, MODULES_INDEX_MAX >> 20);
	}
	*out = malloc((size_t)st.st_size + 1);
	n = *out ? kt_pread_full(fd, *out, (size_t)st.st_size, 0) : -ENOMEM;
	close(fd);
	if (n < 0) {
		free(*out);
		*out = NULL;
		return kt_err_set(err, (int)n, "cannot read '%s': %s", path, strerror((int)-n));
	}
	(*out)[n] = '\0';
	return 0;
}

int kt_modules__open(const char *dir, struct kt_modules **out, struct kt_err *err)
{
	struct kt_modules *m = calloc(1, sizeof(*m));
	size_t cap = 0;
	char *save, *line;
	int r;

	if (!m)
		return kt_err_set(err, -ENOMEM, "out of memory");
	kt_snprintf_cut(m->dir, sizeof(m->dir), "%s", dir);
	r = modules_slurp(dir, "modules.dep", false, &m->dep, err);
	if (!r)
		r = modules_slurp(dir, "modules.builtin", true, &m->builtin, err);
	for (line = r ? NULL : strtok_r(m->dep, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');

		if (!colon || colon == line) {
			r = kt_err_set(err, -EINVAL, "'%s/modules.dep': a line without 'path:': '%.80s'",
				       dir, line);
			break;
		}
		*colon = '\0';
		/* Paths are inside the tree: the host reads nothing else. */
		if (line[0] == '/' || !strcmp(line, "..") || !strncmp(line, "../", 3) ||
		    strstr(line, "/../") || (strlen(line) > 2 && !strcmp(line + strlen(line) - 3, "/.."))) {
			r = kt_err_set(err, -EINVAL, "'%s/modules.dep': '%.200s' is outside the tree",
				       dir, line);
			break;
		}
		if (kt_grow((void **)&m->m, &cap, m->n + 1, sizeof(*m->m))) {
			r = kt_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		m->m[m->n++] = (struct kt_mod){ .path = line, .deps = colon + 1 };
	}
	if (!r && !(m->order = calloc(m->n + 1, sizeof(*m->order))))
		r = kt_err_set(err, -ENOMEM, "out of memory");
	if (r) {
		kt_modules__free(m);
		return r;
	}
	*out = m;
	return 0;
}

void kt_modules__free(struct kt_modules *m)
{
	if (!m)
		return;
	free(m->dep);
	free(m->builtin);
	free(m->m);
	free(m->order);
	free(m);
}

/* The module file @name, by name; -1 when none. */
static ssize_t modules_lookup(const struct kt_modules *m, const char *name)
{
	char want[256], have[256];

	modules_name(name, strlen(name), want, sizeof(want));
	for (size_t i = 0; i < m->n; i++) {
		modules_name(m->m[i].path, strlen(m->m[i].path), have, sizeof(have));
		if (!strcmp(want, have))
			return (ssize_t)i;
	}
	return -1;
}

/* The module file at @path (a word of a dep list); -1 when none. */
static ssize_t modules_by_path(const struct kt_modules *m, const char *path, size_t len)
{
	for (size_t i = 0; i < m->n; i++)
		if (strlen(m->m[i].path) == len && !memcmp(m->m[i].path, path, len))
			return (ssize_t)i;
	return -1;
}

static bool modules_is_builtin(const struct kt_modules *m, const char *name)
{
	char want[256], have[256];

	modules_name(name, strlen(name), want, sizeof(want));
	for (const char *p = m->builtin; *p; ) {
		size_t l = strcspn(p, "\n");

		modules_name(p, l, have, sizeof(have));
		if (l && !strcmp(want, have))
			return true;
		p += l + (p[l] == '\n');
	}
	return false;
}

int kt_modules__has(const struct kt_modules *m, const char *name)
{
	return modules_lookup(m, name) >= 0 ? 1 : modules_is_builtin(m, name) ? 2 : 0;
}

/* The next word of a dep list at *@p: its length, 0 at the end. */
static size_t modules_dep_word(const char **p)
{
	*p += strspn(*p, " \t");
	return strcspn(*p, " \t");
}

/* Marks a module in the order, and what it needs, required (the order
 * has no loop: modules_add checked). */
static void modules_require(struct kt_modules *m, size_t i)
{
	struct kt_mod *mod = &m->m[i];
	size_t l;

	if (mod->required)
		return;
	mod->required = true;
	for (const char *p = mod->deps; (l = modules_dep_word(&p)); p += l) {
		ssize_t d = modules_by_path(m, p, l);

		if (d >= 0)
			modules_require(m, (size_t)d);
	}
}

/* Depth first, dependencies before the module: the order modprobe uses.
 * What a required module needs is required too. */
static int modules_add(struct kt_modules *m, size_t i, bool required, unsigned depth,
		       struct kt_err *err)
{
	struct kt_mod *mod = &m->m[i];
	size_t l;

	if (mod->state == 2) {
		if (required)
			modules_require(m, i);
		return 0;
	}
	if (mod->state == 1 || depth > 64)
		return kt_err_set(err, -ELOOP, "'%s/modules.dep': %s depends on itself", m->dir,
				  mod->path);
	mod->required |= required;
	mod->state = 1;
	for (const char *p = mod->deps; (l = modules_dep_word(&p)); p += l) {
		ssize_t d = modules_by_path(m, p, l);
		int r;

		if (d < 0)
			return kt_err_set(err, -ENOENT, "'%s/modules.dep': %s needs %.*s, which it does not list",
					  m->dir, mod->path, (int)l, p);
		r = modules_add(m, (size_t)d, required, depth + 1, err);
		if (r)
			return r;
		if (m->m[d].level + 1 > mod->level)
			mod->level = m->m[d].level + 1;
	}
	mod->state = 2;
	m->order[m->norder++] = i;
	return 0;
}

static int modules_want(struct kt_modules *m, const char *name, bool required,
			struct kt_err *err)
{
	ssize_t i = modules_lookup(m, name);

	if (i >= 0)
		return modules_add(m, (size_t)i, required, 0, err);
	if (modules_is_builtin(m, name))
		return 0;
	return kt_err_set(err, -ENOENT, "unknown kernel module '%s' (not in %s/modules.dep)", name,
			  m->dir);
}

int kt_modules__want(struct kt_modules *m, const char *name, struct kt_err *err)
{
	return modules_want(m, name, true, err);
}

int kt_modules__want_optional(struct kt_modules *m, const char *name, struct kt_err *err)
{
	return modules_want(m, name, false, err);
}

size_t kt_modules__count(const struct kt_modules *m)
{
	return m->norder;
}

/* The first word of the module's vermagic, from its .modinfo. */
static int modules_vermagic(const void *buf, size_t len, char *out, size_t sz)
{
	Elf *e;
	Elf_Scn *s = NULL;
	size_t shstrndx;
	int r = -ENOEXEC;

	elf_version(EV_CURRENT);
	e = elf_memory((char *)buf, len);
	if (!e || elf_kind(e) != ELF_K_ELF || elf_getshdrstrndx(e, &shstrndx)) {
		if (e)
			elf_end(e);
		return -ENOEXEC;
	}
	while ((s = elf_nextscn(e, s))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;

		if (!gelf_getshdr(s, &sh) || !(name = elf_strptr(e, shstrndx, sh.sh_name)) ||
		    strcmp(name, ".modinfo"))
			continue;
		d = elf_getdata(s, NULL);
		if (!d || !d->d_buf)
			break;
		for (const char *p = d->d_buf, *end = p + d->d_size; p < end; ) {
			size_t l = strnlen(p, (size_t)(end - p));

			if (l > 9 && !strncmp(p, "vermagic=", 9)) {
				size_t w = strcspn(p + 9, " ");

				if (w > l - 9)
					w = l - 9;
				kt_snprintf_cut(out, sz, "%.*s", (int)w, p + 9);
				r = 0;
				break;
			}
			p += l + 1;
		}
		break;
	}
	elf_end(e);
	return r;
}

/* The module file's bytes, decompressed by its suffix. */
static int modules_read(const char *path, void **buf, size_t *len, struct kt_err *err)
{
	static const struct { const char *sfx; enum kt_kcomp c; } comps[] = {
		{ ".xz", KT_KCOMP_XZ }, { ".zst", KT_KCOMP_ZSTD }, { ".gz", KT_KCOMP_GZIP },
	};
	enum kt_kcomp c = KT_KCOMP_NONE;
	size_t pl = strlen(path), size;
	unsigned char *raw;
	struct stat st;
	ssize_t n;
	int fd, out, r;

	*buf = NULL;
	for (size_t i = 0; i < KT_ARRAY_SIZE(comps); i++) {
		size_t sl = strlen(comps[i].sfx);

		if (pl > sl && !strcmp(path + pl - sl, comps[i].sfx))
			c = comps[i].c;
	}
	r = kt_open_regular(path, "the module", &fd, err);
	if (r)
		return r;
	if (fstat(fd, &st) || !st.st_size || (uint64_t)st.st_size > MODULE_MAX) {
		close(fd);
		return kt_err_set(err, -EFBIG, "the module '%s' is empty or over %u MiB",
				  path, MODULE_MAX >> 20);
	}
	size = (size_t)st.st_size;
	raw = malloc(size);
	n = raw ? kt_pread_full(fd, raw, size, 0) : -ENOMEM;
	close(fd);
	if (n != (ssize_t)size) {
		free(raw);
		return kt_err_set(err, n < 0 ? (int)n : -EIO, "cannot read the module '%s': %s",
				  path, n < 0 ? strerror((int)-n) : "it shrank");
	}
	if (c == KT_KCOMP_NONE) {
		*buf = raw;
		*len = size;
		return 0;
	}
	/* Decompressed into memory through a memfd: the kernel's own
	 * decompressors write to a descriptor. */
	out = memfd_create("ktpack-module", MFD_CLOEXEC);
	r = out < 0 ? kt_err_set(err, -errno, "memfd_create: %s", strerror(errno)) :
	    kt_kernel_decompress(raw, size, c, out, MODULE_MAX, err);
	free(raw);
	if (!r) {
		off_t end = lseek(out, 0, SEEK_END);
		unsigned char *d = end > 0 ? malloc((size_t)end) : NULL;

		if (!d || kt_pread_full(out, d, (size_t)end, 0) != end) {
			free(d);
			r = kt_err_set(err, -EIO, "cannot decompress the module '%s': %s", path,
				       end > 0 ? "out of memory" : "nothing came out");
		} else {
			*buf = d;
			*len = (size_t)end;
		}
	} else if (out >= 0 && err) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		kt_err_set(err, r, "cannot decompress the module '%s': %s", path, why);
	}
	if (out >= 0)
		close(out);
	return r;
}

/* Appends @s to the list of @len bytes in *@list. */
static int modules_list_add(char **list, size_t *len, size_t *cap, const char *s,
			    struct kt_err *err)
{
	size_t l = strlen(s);

	if (kt_grow((void **)list, cap, *len + l + 1, 1))
		return kt_err_set(err, -ENOMEM, "out of memory");
	memcpy(*list + *len, s, l + 1);
	*len += l;
	return 0;
}

/* One module into the archive, checked, and its line into the list. */
static int modules_pack_one(const struct kt_modules *m, const struct kt_mod *mod,
			    const char *release, struct kt_initramfs *b, char **list,
			    size_t *llen, size_t *lcap, struct kt_err *err)
{
	char host[PATH_MAX], line[PATH_MAX + 2], magic[128], *guest = line + 1;
	size_t plen = strlen(mod->path), len = 0;
	const char *ko = NULL;
	void *buf = NULL;
	int r;

	/* The guest path keeps the tree's layout, without the compression
	 * suffix. */
	for (const char *p = mod->path; (p = strstr(p, ".ko")); p++)
		ko = p;
	if (!ko)
		ko = mod->path + plen;
	line[0] = KT_GUEST_MODULE_OPTIONAL;
	if (kt_snprintf(host, sizeof(host), "%s/%s", m->dir, mod->path) ||
	    kt_snprintf(guest, sizeof(line) - 1, "/lib/modules/%s/%.*s.ko\n",
			*release ? release : "any", (int)(ko - mod->path), mod->path))
		return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", mod->path);
	r = modules_read(host, &buf, &len, err);
	if (!r && modules_vermagic(buf, len, magic, sizeof(magic)))
		r = kt_err_set(err, -ENOEXEC, "'%s' is not a kernel module (no vermagic)", host);
	if (!r && *release && strcmp(magic, release))
		r = kt_err_set(err, -ENOEXEC,
			       "the module '%s' is for the kernel %s, not %s: give the tree of this kernel with --modules",
			       host, magic, release);
	if (!r)
		r = modules_list_add(list, llen, lcap, mod->required ? guest : line, err);
	guest[strlen(guest) - 1] = '\0';
	if (!r)
		r = kt_initramfs__add_data(b, guest, buf, len, 0644, err);
	free(buf);
	return r;
}

int kt_modules__pack(const struct kt_modules *m, const char *release,
		     struct kt_initramfs *b, struct kt_err *err)
{
	char *list = NULL;
	size_t llen = 0, lcap = 0;
	unsigned top = 0;
	int r = 0;

	for (size_t k = 0; k < m->norder; k++)
		if (m->m[m->order[k]].level > top)
			top = m->m[m->order[k]].level;
	/* Level by level, a blank line after each: the guest loads the
	 * modules of a level at once, everything they need being loaded. */
	for (unsigned lv = 0; !r && m->norder && lv <= top; lv++) {
		for (size_t k = 0; !r && k < m->norder; k++)
			if (m->m[m->order[k]].level == lv)
				r = modules_pack_one(m, &m->m[m->order[k]], release, b, &list,
						     &llen, &lcap, err);
		if (!r)
			r = modules_list_add(&list, &llen, &lcap, "\n", err);
	}
	if (!r && llen)
		r = kt_initramfs__add_data(b, KT_MODULES_LIST, list, llen, 0644, err);
	free(list);
	return r;
}
