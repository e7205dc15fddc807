/* closure.c - ktpack-closure, a build tool: the ELF closure of a program
 * (its interpreter and libraries, not the program) as a newc archive,
 * resolved by ktpack's own resolver on the build machine, so that a blob
 * embedded with ktpack-embed.mk (<name>_CLOSURE) carries the libraries it
 * was built against.  An empty file for a static program.  Installed with
 * the library (pkg-config --variable=closure libktpack).  It reads PROGRAM
 * and what it needs, and writes only OUT, under a temporary name that is
 * renamed once whole.
 *
 *   ktpack-closure OUT.cpio PROGRAM GUEST-PATH
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <ktpack/ktpack.h>

#include "internal.h"

#define USAGE "usage: ktpack-closure OUT.cpio PROGRAM GUEST-PATH\n"

/* A static program needs nothing: an empty OUT, which the embed rules
 * take for an empty slot.  kt_out writes it as it writes any archive. */
static int closure_write_empty(const char *out, struct kt_err *err)
{
	struct kt_out o;
	int r = kt_out_open(&o, out, err);

	return r ? r : kt_out_commit(&o, err);
}

static int closure_write(const char *out, const char *prog, const char *guest,
			 struct kt_err *err)
{
	struct kt_initramfs *b = NULL;
	struct kt_elf_info *info = NULL;
	bool dynamic;
	int r;

	r = kt_elf_info__read(prog, &info, err);
	if (r)
		return r;
	dynamic = info->interp || info->nneeded;
	kt_elf_info__free(info);
	if (!dynamic)
		return closure_write_empty(out, err);
	r = kt_initramfs__new(NULL, &b);
	if (r)
		return kt_err_set(err, r, "out of memory");
	r = kt_initramfs__add_closure(b, prog, guest, err);
	if (!r)
		r = kt_initramfs__write(b, out, err);
	kt_initramfs__free(b);
	return r;
}

int main(int argc, char **argv)
{
	struct kt_err err = { 0 };

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(USAGE "writes the interpreter and libraries that PROGRAM needs, at the\n"
		      "paths where its loader looks for them when it runs as GUEST-PATH,\n"
		      "into the newc archive OUT.cpio (empty for a static PROGRAM)\n", stdout);
		return 0;
	}
	if (argc != 4) {
		fputs(USAGE, stderr);
		return 2;
	}
	if (argv[3][0] != '/') {
		fprintf(stderr, "ktpack-closure: invalid guest path '%s': must be absolute\n",
			argv[3]);
		return 2;
	}
	if (closure_write(argv[1], argv[2], argv[3], &err)) {
		fprintf(stderr, "ktpack-closure: %s\n", err.msg[0] ? err.msg : "out of memory");
		return 1;
	}
	return 0;
}
