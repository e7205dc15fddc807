/* elfinfo.c - the loader's view of an ELF file (see elfinfo.h).
 *
 * Only program headers are used, as the loader does: section headers may be
 * stripped or lie.  Every offset, size and count taken from the file is
 * checked against the file's size before use.
 */
#include <ktpack/elfinfo.h>

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KT_ELF_MAX_PHNUM 4096

struct kt_elf_parse {
	Elf *e;
	const char *name;
	const char *raw;	/* the whole file */
	size_t size;
	GElf_Phdr *loads;	/* PT_LOAD headers, to map addresses */
	size_t nloads;
	const char *strtab;	/* the dynamic string table */
	size_t strsz;
};

void kt_elf_info__free(struct kt_elf_info *info)
{
	if (!info)
		return;
	free(info->interp);
	free(info->soname);
	free(info->rpath);
	free(info->runpath);
	kt_strv_free(info->needed);
	free(info);
}

static bool elfinfo_in_file(const struct kt_elf_parse *p, uint64_t off, uint64_t sz)
{
	return sz <= p->size && off <= p->size - sz;
}

/* File offset of [vaddr, vaddr + sz) through the PT_LOAD that maps it. */
static int elfinfo_vaddr_to_off(const struct kt_elf_parse *p, uint64_t vaddr,
			 uint64_t sz, uint64_t *off)
{
	for (size_t i = 0; i < p->nloads; i++) {
		const GElf_Phdr *ph = &p->loads[i];

		if (vaddr < ph->p_vaddr || sz > ph->p_filesz ||
		    vaddr - ph->p_vaddr > ph->p_filesz - sz)
			continue;
		*off = ph->p_offset + (vaddr - ph->p_vaddr);
		return elfinfo_in_file(p, *off, sz) ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* A NUL-terminated string at @off of the dynamic string table. */
static char *elfinfo_dynstr(const struct kt_elf_parse *p, uint64_t off)
{
	const char *s, *nul;

	if (!p->strtab || off >= p->strsz)
		return NULL;
	s = p->strtab + off;
	nul = memchr(s, '\0', p->strsz - off);
	if (!nul || (size_t)(nul - s) > KT_ELF_MAX_STR)
		return NULL;
	return strdup(s);
}

static int elfinfo_corrupt(struct kt_elf_parse *p, struct kt_err *err, const char *what)
{
	return kt_err_set(err, -EINVAL, "'%s': corrupt ELF file: %s", p->name, what);
}

static int elfinfo_read_interp(struct kt_elf_parse *p, const GElf_Phdr *ph,
			struct kt_elf_info *info, struct kt_err *err)
{
	const char *s;

	if (!ph->p_filesz || ph->p_filesz > KT_ELF_MAX_STR ||
	    !elfinfo_in_file(p, ph->p_offset, ph->p_filesz))
		return elfinfo_corrupt(p, err, "PT_INTERP out of bounds");
	s = p->raw + ph->p_offset;
	if (!memchr(s, '\0', ph->p_filesz) || !*s)
		return elfinfo_corrupt(p, err, "PT_INTERP is not a string");
	info->interp = strdup(s);
	return info->interp ? 0 : -ENOMEM;
}

/* The dynamic tags the loader reads, as offsets into the string table. */
struct elfinfo_dyn {
	uint64_t strtab, strsz, soname, rpath, runpath;
	bool has_strtab, has_soname, has_rpath, has_runpath;
	uint64_t *needed;	/* KT_ELF_MAX_NEEDED at most */
	size_t nneeded;
};

/* Walks the PT_DYNAMIC entries up to DT_NULL. */
static int elfinfo_scan_dynamic(struct kt_elf_parse *p, const GElf_Phdr *ph,
				struct elfinfo_dyn *dy, struct kt_elf_info *info,
				struct kt_err *err)
{
	size_t entsz = gelf_fsize(p->e, ELF_T_DYN, 1, EV_CURRENT);
	size_t n;
	Elf_Data *d;

	if (!entsz || !elfinfo_in_file(p, ph->p_offset, ph->p_filesz))
		return elfinfo_corrupt(p, err, "PT_DYNAMIC out of bounds");
	n = ph->p_filesz / entsz;
	if (!n)
		return 0;
	d = elf_getdata_rawchunk(p->e, (int64_t)ph->p_offset, n * entsz, ELF_T_DYN);
	if (!d)
		return elfinfo_corrupt(p, err, elf_errmsg(-1));
	dy->needed = calloc(n < KT_ELF_MAX_NEEDED ? n : KT_ELF_MAX_NEEDED, sizeof(*dy->needed));
	if (!dy->needed)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		GElf_Dyn dyn;

		if (!gelf_getdyn(d, (int)i, &dyn))
			return elfinfo_corrupt(p, err, elf_errmsg(-1));
		switch (dyn.d_tag) {
		case DT_NULL:
			return 0;
		case DT_NEEDED:
			if (dy->nneeded >= KT_ELF_MAX_NEEDED)
				return elfinfo_corrupt(p, err, "too many DT_NEEDED");
			dy->needed[dy->nneeded++] = dyn.d_un.d_val;
			break;
		case DT_STRTAB:
			dy->strtab = dyn.d_un.d_ptr;
			dy->has_strtab = true;
			break;
		case DT_STRSZ:
			dy->strsz = dyn.d_un.d_val;
			break;
		case DT_SONAME:
			dy->soname = dyn.d_un.d_val;
			dy->has_soname = true;
			break;
		case DT_RPATH:
			dy->rpath = dyn.d_un.d_val;
			dy->has_rpath = true;
			break;
		case DT_RUNPATH:
			dy->runpath = dyn.d_un.d_val;
			dy->has_runpath = true;
			break;
		case DT_FLAGS_1:
			info->flags_1 = dyn.d_un.d_val;
			break;
		}
	}
	return 0;
}

/* The strings the tags point at, through DT_STRTAB mapped by a PT_LOAD. */
static int elfinfo_dyn_strings(struct kt_elf_parse *p, const struct elfinfo_dyn *dy,
			       struct kt_elf_info *info, struct kt_err *err)
{
	uint64_t stroff;

	if (dy->nneeded || dy->has_soname || dy->has_rpath || dy->has_runpath) {
		if (!dy->has_strtab || !dy->strsz ||
		    elfinfo_vaddr_to_off(p, dy->strtab, dy->strsz, &stroff))
			return elfinfo_corrupt(p, err, "DT_STRTAB out of bounds");
		p->strtab = p->raw + stroff;
		p->strsz = (size_t)dy->strsz;
	}
	info->needed = calloc(dy->nneeded + 1, sizeof(*info->needed));
	if (!info->needed)
		return -ENOMEM;
	for (size_t i = 0; i < dy->nneeded; i++) {
		info->needed[i] = elfinfo_dynstr(p, dy->needed[i]);
		if (!info->needed[i])
			return elfinfo_corrupt(p, err, "bad DT_NEEDED string");
		info->nneeded++;
	}
	if ((dy->has_soname && !(info->soname = elfinfo_dynstr(p, dy->soname))) ||
	    (dy->has_rpath && !(info->rpath = elfinfo_dynstr(p, dy->rpath))) ||
	    (dy->has_runpath && !(info->runpath = elfinfo_dynstr(p, dy->runpath))))
		return elfinfo_corrupt(p, err, "bad dynamic string");
	return 0;
}

static int elfinfo_read_dynamic(struct kt_elf_parse *p, const GElf_Phdr *ph,
				struct kt_elf_info *info, struct kt_err *err)
{
	struct elfinfo_dyn dy = { 0 };
	int r = elfinfo_scan_dynamic(p, ph, &dy, info, err);

	if (!r)
		r = elfinfo_dyn_strings(p, &dy, info, err);
	free(dy.needed);
	return r;
}

static int elfinfo_parse(struct kt_elf_parse *p, struct kt_elf_info **out,
		  struct kt_err *err)
{
	struct kt_elf_info *info = NULL;
	GElf_Phdr dynamic = { 0 }, interp = { 0 };
	bool has_dynamic = false, has_interp = false;
	GElf_Ehdr eh;
	size_t phnum;
	int r;

	if (elf_kind(p->e) != ELF_K_ELF)
		return kt_err_set(err, -ENOEXEC, "'%s': not an ELF file", p->name);
	p->raw = elf_rawfile(p->e, &p->size);
	if (!p->raw || !gelf_getehdr(p->e, &eh))
		return elfinfo_corrupt(p, err, "truncated ELF header");
	if (elf_getphdrnum(p->e, &phnum) || phnum > KT_ELF_MAX_PHNUM)
		return elfinfo_corrupt(p, err, "bad program header count");
	if (phnum && !elfinfo_in_file(p, eh.e_phoff, (uint64_t)phnum * eh.e_phentsize))
		return elfinfo_corrupt(p, err, "program headers out of bounds");
	p->loads = calloc(phnum ? phnum : 1, sizeof(*p->loads));
	info = calloc(1, sizeof(*info));
	if (!p->loads || !info) {
		r = -ENOMEM;
		goto fail;
	}
	info->ei_class = (uint8_t)gelf_getclass(p->e);
	info->machine = eh.e_machine;
	info->type = eh.e_type;

	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(p->e, (int)i, &ph)) {
			r = elfinfo_corrupt(p, err, "unreadable program header");
			goto fail;
		}
		if (ph.p_type == PT_LOAD)
			p->loads[p->nloads++] = ph;
		else if (ph.p_type == PT_DYNAMIC && !has_dynamic)
			dynamic = ph, has_dynamic = true;
		else if (ph.p_type == PT_INTERP && !has_interp)
			interp = ph, has_interp = true;
	}
	if (has_interp && (r = elfinfo_read_interp(p, &interp, info, err)))
		goto fail;
	if (has_dynamic) {
		info->dynamic = true;
		r = elfinfo_read_dynamic(p, &dynamic, info, err);
		if (r)
			goto fail;
	}
	if (!info->needed && !(info->needed = calloc(1, sizeof(char *)))) {
		r = -ENOMEM;
		goto fail;
	}
	*out = info;
	return 0;
fail:
	if (r == -ENOMEM)
		kt_err_set(err, r, "'%s': out of memory", p->name);
	kt_elf_info__free(info);
	return r;
}

/* The parse of the ELF libelf opened into p->e (NULL: not an ELF file),
 * and libelf's handle released. */
static int elfinfo_run(struct kt_elf_parse *p, struct kt_elf_info **out, struct kt_err *err)
{
	int r;

	if (!p->e)
		return kt_err_set(err, -ENOEXEC, "'%s': not an ELF file", p->name);
	r = elfinfo_parse(p, out, err);
	free(p->loads);
	elf_end(p->e);
	return r;
}

int kt_elf_info__parse(const void *buf, size_t len, const char *name,
		       struct kt_elf_info **out, struct kt_err *err)
{
	struct kt_elf_parse p = { .name = name };

	elf_version(EV_CURRENT);
	/* libelf takes a non-const image but does not write to it in this
	 * read-only use. */
	p.e = elf_memory((char *)(uintptr_t)buf, len);
	return elfinfo_run(&p, out, err);
}

int kt_elf_info_read_fd(int fd, const char *name, struct kt_elf_info **out,
			struct kt_err *err)
{
	struct kt_elf_parse p = { .name = name };

	elf_version(EV_CURRENT);
	p.e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	return elfinfo_run(&p, out, err);
}

int kt_elf_info__read(const char *path, struct kt_elf_info **out,
		      struct kt_err *err)
{
	int fd, r;

	r = kt_open_regular(path, "", &fd, err);
	if (r == -EINVAL)	/* a folder, a FIFO: not an ELF file */
		return kt_err_set(err, -ENOEXEC, "'%s': not a regular file", path);
	if (r)
		return r;
	r = kt_elf_info_read_fd(fd, path, out, err);
	close(fd);
	return r;
}
