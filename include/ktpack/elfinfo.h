/* elfinfo.h - what the dynamic loader reads from an ELF file: class, machine,
 * PT_INTERP and the dynamic section (DT_NEEDED, DT_SONAME, DT_RPATH,
 * DT_RUNPATH, DT_FLAGS_1).  The bytes are untrusted; read with libelf. */
#ifndef KTPACK_ELFINFO_H
#define KTPACK_ELFINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on what one file may declare, far above any real binary. */
#define KT_ELF_MAX_NEEDED	4096
#define KT_ELF_MAX_STR		4096

struct kt_elf_info {
	uint8_t ei_class;	/* ELFCLASS32 / ELFCLASS64 */
	uint16_t machine;	/* EM_* */
	uint16_t type;		/* ET_EXEC / ET_DYN / ... */
	bool dynamic;		/* has PT_DYNAMIC */
	char *interp;		/* PT_INTERP, or NULL */
	char *soname;		/* DT_SONAME, or NULL */
	char *rpath;		/* DT_RPATH as written, or NULL */
	char *runpath;		/* DT_RUNPATH as written, or NULL */
	uint64_t flags_1;	/* DT_FLAGS_1 */
	char **needed;		/* DT_NEEDED in order, NULL-terminated */
	size_t nneeded;
};

/*
 * Reads @path.  -ENOEXEC when it is not an ELF file, -EINVAL when it is a
 * truncated or corrupt one; @err says which and names the file.  The
 * caller frees *@out with kt_elf_info__free().
 */
int kt_elf_info__read(const char *path, struct kt_elf_info **out,
		      struct kt_err *err);
/* The same from memory (@name only labels messages). */
int kt_elf_info__parse(const void *buf, size_t len, const char *name,
		       struct kt_elf_info **out, struct kt_err *err);
void kt_elf_info__free(struct kt_elf_info *info);

#ifdef __cplusplus
}
#endif

#endif
