/* vmconfig.h - what a guest gets: its memory, derived from the CPU count,
 * the request and the wprof floor, and its kernel command line. */
#ifndef KTPACK_VMCONFIG_H
#define KTPACK_VMCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KT_VM_MIN_MEMORY_MIB	256
#define KT_VM_MEMORY_PER_CPU_MIB 64
/* COMMAND_LINE_SIZE on x86-64, terminating NUL included. */
#define KT_CMDLINE_MAX		2048

/* What the runner always passes: console on the first serial port, a
 * panic that ends the VM (with -no-reboot) instead of hanging it, and no
 * ACPI interrupt routing (its AML, emulated under TCG, costs a PCI
 * device's probe 100 ms; the channel's virtio device uses MSI-X). */
#define KT_VM_BASE_CMDLINE	"console=ttyS0 panic=-1 rdinit=/init quiet edd=off acpi=noirq"
/* The same for an arm64 guest (QEMU virt): its console is the PL011. */
#define KT_VM_BASE_CMDLINE_AARCH64	"console=ttyAMA0 panic=-1 rdinit=/init quiet"

struct kt_memory_opts {
	unsigned cpus;		/* at least 1 */
	uint64_t requested_mib;	/* 0: none */
	uint64_t wprof_floor_mib; /* 0: wprof off */
	uint64_t override_mib;	/* 0: none; used verbatim */
};

/*
 * max(cpus * 64, 256, requested), then the wprof floor; an override is used
 * as it is.  *@below_floor (may be NULL) tells that an override sits below
 * the wprof floor, for the caller to warn about.  0, -EINVAL or -EOVERFLOW.
 */
int kt_derive_test_memory_mib(const struct kt_memory_opts *o, uint64_t *mib,
			      bool *below_floor, struct kt_err *err);

/*
 * Refuses a token that could not cross the kernel command line intact
 * (empty, whitespace, a control byte, a quote or a backslash): -EINVAL with
 * @err saying "@what N 'token' holds ...".
 */
int kt_cmdline_tokens_check(const char *const *tokens, size_t n, const char *what,
			    struct kt_err *err);

/*
 * A memory size in MiB: digits, then nothing (MiB), or K, M, G, T with an
 * optional "iB" (any case; powers of 1024; KiB round up).  -EINVAL for
 * another form, -ERANGE when it overflows.
 */
int kt_parse_size_mib(const char *s, uint64_t *mib);
/* A size in bytes: digits, then nothing (bytes), or K, M, G, T as above.
 * -EINVAL for another form, -ERANGE when it overflows. */
int kt_parse_size(const char *s, uint64_t *bytes);

/*
 * Joins @base and the @n tokens with spaces into a new string the caller
 * frees; -E2BIG when it would not fit the kernel's limit.
 */
int kt_vm_cmdline(const char *base, const char *const *tokens, size_t n,
		  char **out, struct kt_err *err);

#ifdef __cplusplus
}
#endif

#endif
