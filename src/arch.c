/* arch.c - guest architectures (see arch.h) and what each needs of QEMU,
 * the kernel command line and the guest (see the README, "arm64
 * guests"). */
#include <ktpack/arch.h>
#include <ktpack/vmconfig.h>

#include "internal.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#ifndef EM_AARCH64
#define EM_AARCH64 183
#endif

/* What QEMU's pc machine loads: SeaBIOS, and the option ROM that boots a
 * kernel through PVH or as a bzImage (without either it hangs, saying
 * only "Could not open option rom"); kvmvapic it can do without. */
static const struct kt_firmware kt_fw_pc[] = {
	{ "bios-256k.bin", "seabios", KT_FW_ALWAYS },
	{ "pvh.bin", "qemu-system-data", KT_FW_PVH },
	{ "linuxboot_dma.bin", "qemu-system-data", KT_FW_BZIMAGE },
	{ "kvmvapic.bin", "qemu-system-data", KT_FW_OPTIONAL },
};

/* virt with -kernel loads the kernel itself: no firmware file at all. */
static const struct kt_arch_info kt_arch_infos[] = {
	[KT_ARCH_X86_64] = {
		.name = "x86_64", .alias = "amd64", .machine = EM_X86_64,
		.qemu = "qemu-system-x86_64", .qemu_pkg = "qemu-system-x86",
		/* pc: microvm reaches the command sooner, but its second
		 * serial port failed traces (the README, "Booting", has the
		 * figures) */
		.qemu_machine = "pc",
		.tcg_cpu_topology = "max,vendor=GenuineIntel",
		.smp_llc = "dies",
		.cmdline = KT_VM_BASE_CMDLINE,
		.serial_channel = true,
		.triplet = "x86_64-linux-gnu",
		.firmware = kt_fw_pc, .nfirmware = KT_ARRAY_SIZE(kt_fw_pc),
		.tcg_module_pkg = "qemu-system-common",
	},
	[KT_ARCH_AARCH64] = {
		.name = "aarch64", .alias = "arm64", .machine = EM_AARCH64,
		.qemu = "qemu-system-aarch64", .qemu_pkg = "qemu-system-arm",
		.qemu_machine = "virt",
		.qemu_machine_many = "virt,gic-version=3", .machine_cpus = 8,
		/* pauth-impdef: QEMU's own pointer-authentication hash, not
		 * the architected QARMA, which doubles the boot under TCG
		 * (the README, "arm64 guests") */
		.tcg_cpu = "max,pauth-impdef=on",
		.smp_llc = "clusters",
		.cmdline = KT_VM_BASE_CMDLINE_AARCH64,
		/* virt has one PL011: the console */
		.serial_channel = false,
		.triplet = "aarch64-linux-gnu",
		.tcg_module_pkg = "qemu-system-common",
	},
};

const struct kt_arch_info *kt_arch_info(enum kt_arch a)
{
	a = kt_arch_or_native(a);
	return a < KT_ARRAY_SIZE(kt_arch_infos) && kt_arch_infos[a].name ? &kt_arch_infos[a] : NULL;
}

int kt_arch_parse(const char *s, enum kt_arch *out)
{
	for (size_t i = 1; s && i < KT_ARRAY_SIZE(kt_arch_infos); i++) {
		if (!strcasecmp(s, kt_arch_infos[i].name) || !strcasecmp(s, kt_arch_infos[i].alias) ||
		    (i == KT_ARCH_X86_64 && !strcasecmp(s, "x86-64"))) {
			*out = (enum kt_arch)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *kt_arch_name(enum kt_arch a)
{
	if (a > KT_ARCH_NONE && a < KT_ARRAY_SIZE(kt_arch_infos))
		return kt_arch_infos[a].name;
	return "none";
}

enum kt_arch kt_arch_native(void)
{
#if defined(__x86_64__)
	return KT_ARCH_X86_64;
#elif defined(__aarch64__)
	return KT_ARCH_AARCH64;
#else
	return KT_ARCH_NONE;
#endif
}

enum kt_arch kt_arch_or_native(enum kt_arch a)
{
	return a == KT_ARCH_NONE ? kt_arch_native() : a;
}

uint16_t kt_arch_elf_machine(enum kt_arch a)
{
	return a > KT_ARCH_NONE && a < KT_ARRAY_SIZE(kt_arch_infos) ? kt_arch_infos[a].machine : 0;
}

const char *kt_elf_machine_name(uint16_t machine)
{
	static const struct { uint16_t m; const char *name; } names[] = {
		{ EM_386, "i386" }, { EM_ARM, "arm" }, { EM_PPC, "ppc" }, { EM_PPC64, "ppc64" },
		{ EM_S390, "s390x" }, { EM_SPARC, "sparc" }, { EM_SPARCV9, "sparc64" },
		{ EM_MIPS, "mips" }, { EM_RISCV, "riscv" }, { EM_68K, "m68k" },
		{ EM_PARISC, "hppa" }, { EM_ALPHA, "alpha" }, { EM_SH, "sh4" },
		{ 258, "loongarch" }, { EM_XTENSA, "xtensa" }, { EM_MICROBLAZE, "microblaze" },
	};
	enum kt_arch a = kt_arch_of_elf_machine(machine);

	if (a)
		return kt_arch_name(a);
	for (size_t i = 0; i < KT_ARRAY_SIZE(names); i++)
		if (names[i].m == machine)
			return names[i].name;
	return NULL;
}

enum kt_arch kt_arch_of_elf_machine(uint16_t machine)
{
	for (size_t i = 1; machine && i < KT_ARRAY_SIZE(kt_arch_infos); i++)
		if (kt_arch_infos[i].machine == machine)
			return (enum kt_arch)i;
	return KT_ARCH_NONE;
}

int kt_arch_of_elf(const void *buf, size_t len, enum kt_arch *out)
{
	const unsigned char *p = buf;
	uint16_t machine;

	/* e_machine sits at 18 in both classes; its byte order is EI_DATA's */
	if (len < 20 || memcmp(p, ELFMAG, SELFMAG))
		return -ENOEXEC;
	if (p[EI_DATA] == ELFDATA2LSB)
		machine = (uint16_t)(p[18] | p[19] << 8);
	else if (p[EI_DATA] == ELFDATA2MSB)
		machine = (uint16_t)(p[18] << 8 | p[19]);
	else
		return -ENOEXEC;
	*out = kt_arch_of_elf_machine(machine);
	return 0;
}
