/* ktpack/arch.h - the guest architectures ktpack boots: their names, their
 * ELF machine, and what the build's machine is. */
#ifndef KTPACK_ARCH_H
#define KTPACK_ARCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum kt_arch {
	KT_ARCH_NONE,		/* not given: the kernel's, or this machine's */
	KT_ARCH_X86_64,
	KT_ARCH_AARCH64,
};

/* "x86_64" (or "amd64", "x86-64"), "aarch64" (or "arm64") -> 0, or
 * -EINVAL. */
int kt_arch_parse(const char *s, enum kt_arch *out);
/* "x86_64", "aarch64"; "none" for KT_ARCH_NONE. */
const char *kt_arch_name(enum kt_arch a);
/* The machine this library was built for: where a guest of the same
 * architecture can use KVM. */
enum kt_arch kt_arch_native(void);
/* @a, or kt_arch_native() for KT_ARCH_NONE. */
enum kt_arch kt_arch_or_native(enum kt_arch a);
/* The ELF e_machine of @a (EM_X86_64, EM_AARCH64); 0 for NONE. */
uint16_t kt_arch_elf_machine(enum kt_arch a);
/* The architecture of ELF machine @machine, KT_ARCH_NONE for another. */
enum kt_arch kt_arch_of_elf_machine(uint16_t machine);
/*
 * The architecture of the ELF file whose first @len bytes are @buf (a
 * 64-bit little-endian ELF header is enough): 0 with *@out (KT_ARCH_NONE
 * for a machine ktpack does not boot), -ENOEXEC when it is not ELF.
 */
int kt_arch_of_elf(const void *buf, size_t len, enum kt_arch *out);

#ifdef __cplusplus
}
#endif

#endif
