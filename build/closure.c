/* closure.c - a build tool: the ELF closure of a program (its interpreter
 * and libraries, not the program) as a newc archive, resolved by ktpack's
 * own resolver on the build machine, so that an embedded wprof carries the
 * libraries it was built against.  An empty file for a static program.
 *
 *   closure OUT.cpio PROGRAM GUEST-PATH
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <ktpack/ktpack.h>

int main(int argc, char **argv)
{
	struct kt_initramfs *b = NULL;
	struct kt_elf_info *info = NULL;
	struct kt_err err = { 0 };
	int fd, r;

	if (argc != 4) {
		fprintf(stderr, "usage: closure OUT.cpio PROGRAM GUEST-PATH\n");
		return 2;
	}
	r = kt_elf_info__read(argv[2], &info, &err);
	if (!r && !info->interp && !info->nneeded) {
		/* static: nothing to carry */
		kt_elf_info__free(info);
		fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		return fd < 0 || close(fd) ? 1 : 0;
	}
	kt_elf_info__free(info);
	if (!r)
		r = kt_initramfs__new(NULL, &b);
	if (!r)
		r = kt_initramfs__add_closure(b, argv[2], argv[3], &err);
	if (!r)
		r = kt_initramfs__write(b, argv[1], &err);
	kt_initramfs__free(b);
	if (r) {
		fprintf(stderr, "closure: %s\n", err.msg[0] ? err.msg : "out of memory");
		return 1;
	}
	return 0;
}
