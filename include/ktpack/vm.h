/* vm.h - boots a kernel with an initramfs under QEMU, with the guest
 * channel (ktpack/channel.h): the command's stdout and stderr, stdin, the
 * exit status and the wprof trace; the console kept for a failure. */
#ifndef KTPACK_VM_H
#define KTPACK_VM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ktpack/accel.h>
#include <ktpack/arch.h>
#include <ktpack/cache.h>
#include <ktpack/channel.h>
#include <ktpack/common.h>
#include <ktpack/kernel.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The QEMU of an x86_64 guest; an aarch64 guest's is qemu-system-aarch64. */
#define KT_QEMU			"qemu-system-x86_64"
/* A guest that has not reached /init by then is stuck. */
#define KT_VM_BOOT_TIMEOUT_S	180

/* The command's output and trace the runner holds for a slow reader
 * before it stops reading the guest (which then waits). */
#define KT_VM_OUT_QUEUE		(1u << 20)
/* The console bytes the runner holds for a slow reader of console_fd:
 * beyond, the oldest are dropped (a note in the stream says how many):
 * the guest's kernel must never wait on the console. */
#define KT_VM_CONSOLE_QUEUE	(256u << 10)
/* The console lines a result keeps for a failure's report. */
#define KT_VM_TAIL_LINES	20

/* Which port carries the channel (see the README, "The channel"). */
enum kt_channel {
	KT_CHANNEL_AUTO,	/* virtio-serial when the guest has it, else serial */
	KT_CHANNEL_VIRTIO,	/* virtio-serial, or a failure */
	KT_CHANNEL_SERIAL,	/* the second serial port */
};

/* "auto", "virtio", "serial" -> 0, or -EINVAL. */
int kt_channel_parse(const char *s, enum kt_channel *out);
const char *kt_channel_name(enum kt_channel c);

/* How a VM run ended. */
enum kt_vm_end {
	KT_VM_EXITED,		/* the command ended; its status is known */
	KT_VM_FAILED,		/* ktpack or QEMU failed; nothing ran or it broke */
	KT_VM_TIMEOUT,		/* the timeout passed */
	KT_VM_PANIC,		/* the guest kernel panicked */
	KT_VM_STOPPED,		/* the caller asked to stop */
};

/*
 * What the guest kernel said on its console that a test wants to know of
 * (see the README, "Kernel events").  Lines after the guest's init
 * started may also have been written by the guest's command.
 */
enum kt_vm_event {
	KT_VM_EV_OOM,		/* "Out of memory: Killed process ..." */
	KT_VM_EV_LOCKUP,	/* a soft or hard lockup */
	KT_VM_EV_STALL,		/* an RCU stall */
	KT_VM_EV_HUNG,		/* "INFO: task ... blocked for more than N seconds" */
	KT_VM_EV_WARN,		/* a WARN(): the console shows it at loglevel 5 and up */
	KT_VM_EV_N,
};

/*
 * A guest CPU topology (see the README, "Topology"): NUMA nodes, last-level
 * caches per node, cores per LLC, threads per core.  QEMU gets sockets
 * (one per node), dies (clusters on arm64), cores and threads, and a NUMA
 * node per socket with an even share of the memory.  nodes == 0: none.
 */
struct kt_topology {
	unsigned nodes, llcs, cores, threads;
};
#define KT_TOPOLOGY_CPUS_MAX	255

/* "2n4l4c2t" (each part optional, in this order, 1 when left out) into
 * @t; -EINVAL with @err naming the cause (a count of 0, over
 * KT_TOPOLOGY_CPUS_MAX CPUs in all, another form). */
int kt_topology_parse(const char *s, struct kt_topology *t, struct kt_err *err);
/* Its CPUs in all; 0 for none. */
unsigned kt_topology_cpus(const struct kt_topology *t);

/* Between the timeout's signal and SIGKILL, when the caller sets none. */
#define KT_VM_KILL_AFTER_S	10

/* After a --fail-on event the command is killed; the guest has this long
 * to send its trace and status before the VM is stopped. */
#define KT_VM_FAIL_GRACE_S	60

/* "oom", "lockup", "stall", "hung", "warn". */
const char *kt_vm_event_name(enum kt_vm_event e);
/* A comma-separated list of event names (or "all") -> a mask of
 * 1u << enum kt_vm_event; -EINVAL with @err naming the bad one. */
int kt_vm_events_parse(const char *s, unsigned *mask, struct kt_err *err);

struct kt_vm_opts {
	/* The guest's (the kernel's); KT_ARCH_NONE: this machine's.  It
	 * picks QEMU, its machine and CPU, and the serial ports. */
	enum kt_arch arch;
	const char *qemu;	/* NULL: the arch's QEMU from PATH */
	const char *kernel;
	/* A descriptor @kernel names as /proc/self/fd/N, which QEMU must
	 * inherit; values below 3 mean none. */
	int kernel_fd;
	/* What the boot line calls the kernel; NULL: @kernel. */
	const char *kernel_label;
	bool pvh;		/* @kernel is a vmlinux with a PVH entry */
	/* Where the verdicts on KVM (its probe's, its boots') are kept for a
	 * while; NULL: probed and tried on every run. */
	struct kt_cache *cache;
	const char *initrd;
	/* A descriptor @initrd names as /proc/self/fd/N, which QEMU must
	 * inherit; values below 3 mean none. */
	int initrd_fd;
	const char *cmdline;
	/* More QEMU arguments, after ktpack's own. */
	const char *const *qemu_opts;
	size_t nqemu_opts;
	unsigned cpus;		/* 0: 1; with a topology, its CPUs */
	/* The guest's CPUs and NUMA nodes; nodes 0: @cpus, one node.  The
	 * memory is split evenly between the nodes. */
	struct kt_topology topology;
	uint64_t memory_mib;
	/* AUTO: KVM when its probe passed and no verdict says it cannot boot
	 * this kernel; a KVM boot not up within KT_KVM_LIFE_S (or
	 * KT_KVM_INIT_S) starts again under TCG (KVM: fails). */
	enum kt_accel accel;
	/* The command's, from init's HELLO on its channel (the boot is
	 * @boot_timeout_s's); 0: none */
	unsigned timeout_s;
	/* At @timeout_s the command, not the VM, is ended, as timeout(1)
	 * does: @timeout_signal (0: SIGTERM) goes to its process group,
	 * SIGKILL @kill_after_s later (0: KT_VM_KILL_AFTER_S), and the guest
	 * sends its trace and status back as after any end.  Only a guest
	 * that has not done so @end_grace_s after the timeout (0: the VM is
	 * stopped at the timeout) is stopped.  The result's end is then
	 * KT_VM_TIMEOUT, with the command's status. */
	int timeout_signal;
	unsigned kill_after_s;
	unsigned end_grace_s;
	/* until init is up on its channel; 0: KT_VM_BOOT_TIMEOUT_S */
	unsigned boot_timeout_s;
	/* A shell: stdin goes to the console (a terminal in raw mode, Ctrl-A
	 * x stops the VM), not to a command. */
	bool interactive;
	enum kt_channel channel;
	const char *nonce;	/* the status frame's, as in the per-run archive */
	const char *trace_out;	/* where the trace goes; NULL: none expected */
	/* Descriptors, KT_FD_* (common.h): one of the caller's (1 and up),
	 * KT_FD_DEFAULT (0), KT_FD_NONE (-1), KT_FD_ZERO (descriptor 0).
	 * Where the guest console's bytes are written as they come: by
	 * default standard output; NONE drops them. */
	int console_fd;
	/* The command's stdout and stderr: by default this process's, NONE
	 * drops them.  Its stdin (or the shell's): by default this
	 * process's, NONE: none (an end of file at once). */
	int out_fd, err_fd, stdin_fd;
	/* Kernel events (1u << enum kt_vm_event) that end the run: the
	 * command is killed, and the run fails once the guest ended (or
	 * KT_VM_FAIL_GRACE_S later). */
	unsigned fail_on;
	/* The accelerator chosen, a fallback to TCG, the boot, the kernel
	 * events (a warning each, the first time). */
	struct kt_log log;
	/* Set (by a signal handler) to stop the VM early. */
	volatile sig_atomic_t *stop;
	/* Set to SIGINT, SIGQUIT, SIGTERM or SIGHUP (by a signal handler) to
	 * send that signal to the guest command's process group; set back to
	 * 0 once sent.  Before the guest is up it stops the VM. */
	volatile sig_atomic_t *signal;
	/* When not NULL, QEMU's process group while it runs, else 0.  QEMU
	 * is not in the caller's group (the terminal's Ctrl-C must not kill
	 * it): a SIGTSTP handler stops it with kill(-pgid, SIGSTOP) and
	 * resumes it with SIGCONT, so that Ctrl-Z and fg act on both. */
	volatile sig_atomic_t *qemu_pgid;
	/* When not NULL, the milliseconds this process spent stopped (a
	 * SIGTSTP handler adds them when it is continued): deadlines do not
	 * count them, so that a run stopped longer than its --timeout goes
	 * on after fg. */
	volatile sig_atomic_t *paused_ms;
	/* Where files the guest sends back go (kt_ch_host_opts); NULL:
	 * dropped.  Their bytes in all; 0: KT_CH_COLLECT_MAX. */
	const char *out_dir;
	uint64_t collect_max;
	/* The guest paths asked for (kt_ch_host_opts.collect). */
	const char *const *collect;
	size_t ncollect;
};

/* Where a run's time went, in ms: KVM boots given up (a fallback), the
 * boot that ran until the guest's init was up, the command (until init
 * said it ended, or the run did), and the end (wprof's trace, the status,
 * the power-off).  0 for a stage not reached. */
struct kt_vm_timings {
	uint64_t fallback_ms, boot_ms, command_ms, end_ms;
};

struct kt_vm_result {
	enum kt_vm_end end;
	enum kt_accel accel;	/* what ran (last) */
	bool accel_fell_back;	/* a KVM boot failed and TCG ran instead */
	/* Why TCG ran under auto ("its probe failed: ...", "it could not
	 * boot this kernel: no sign of life within 15 s"); "" otherwise. */
	char accel_why[512];
	int exit_status;	/* the guest command's; -1 when it never ended */
	/* The command's status as init said the moment it ended, before
	 * wprof is stopped and the trace and files are sent (KT_CH_DONE):
	 * known also when the timeout then fell; -1 when the command never
	 * ended. */
	int done_status;
	/* The command could not be executed (kt_ch_host__exec_failed): the
	 * exec's errno in the guest and the path tried, printable; 0 and ""
	 * when it started (or when init did not say).  exit_status is 127
	 * or 126 then, as a command's own can be. */
	int exec_errno;
	char exec_path[KT_CH_EXEC_PATH_MAX + 1];
	/* ENOENT, though the file is there: its #! interpreter or its ELF
	 * loader is not (KT_CH_EXEC_INTERP) */
	bool exec_interp;
	bool trace_written;
	uint64_t trace_bytes;
	enum kt_channel channel;	/* the port init used; AUTO when none */
	/* The console's last KT_VM_TAIL_LINES lines, control bytes as '?':
	 * what to show when the run failed. */
	char console_tail[4096];
	/* QEMU's last lines on its stderr, the same way. */
	char qemu_stderr[2048];
	/* The timeout fell: the signal it sent to the command (0: none, the
	 * VM was stopped), and whether SIGKILL followed (the command did not
	 * end on the signal within kill_after_s). */
	int timeout_signal;
	bool timeout_killed;
	/* A signal of the caller's (*signal) was sent to the command. */
	bool signalled;
	struct kt_vm_timings timings;
	/* A KT_VM_PANIC whose line came after the guest's init started: its
	 * command could have written it. */
	bool panic_after_init;
	/* How often each kernel event was seen, and its first line. */
	unsigned events[KT_VM_EV_N];
	char event_line[KT_VM_EV_N][256];
	/* Files the guest sent back (kt_ch_host__collected): the result's
	 * own, freed by kt_vm_result__release(). */
	struct kt_collected collected;
};

/* Frees what @res owns (its collected lists); safe on a zeroed result,
 * on NULL, and twice.  kt_vm_run() fills a result whole, whatever it
 * returns: release it after every kt_vm_run(). */
void kt_vm_result__release(struct kt_vm_result *res);

/*
 * Finds @name in PATH (or takes it as a path when it holds a '/'): an
 * executable regular file.  -ENOENT when it is nowhere.
 */
int kt_find_program(const char *name, char *out, size_t sz);


/*
 * Refuses an extra QEMU argument (@opts, one argument each, as given to
 * QEMU) that would size the guest behind ktpack's back while the boot
 * line says otherwise: -m, -smp and -numa, with one dash or two (QEMU
 * takes both, and a later option wins).  -EINVAL with @err naming it and
 * the ktpack option that does it.  -machine memory-backend=ID is not
 * refused: QEMU refuses a backend whose size is not -m's.
 */
int kt_vm_check_qemu_opts(const char *const *opts, size_t n, struct kt_err *err);

/*
 * What can be checked before anything is built: the kernel is a kernel,
 * /proc is mounted, QEMU is installed and the extra QEMU arguments leave
 * the guest's size alone (kt_vm_check_qemu_opts).  The QEMU binary found
 * goes to @qemu.
 */
int kt_vm_preflight(const struct kt_vm_opts *o, char *qemu, size_t sz,
		    struct kt_err *err);

/*
 * Boots the VM and waits for it.  0 when the guest ran to its status frame
 * (the command's status is in @res), else -errno with @err saying what
 * happened: QEMU missing, its firmware missing, QEMU failing (its error
 * line ends the boot at once), a kernel panic, a guest that never reached
 * /init or could not unpack its archive (-ENOSPC), KVM that could not
 * boot the kernel under --accel kvm (-ENODEV), the timeout, a corrupt
 * trace.  SIGPIPE is blocked in the calling thread meanwhile, as kt_run()
 * does: a closed out_fd or err_fd is -EPIPE with end KT_VM_STOPPED.
 * @res is filled whole whatever it returns (what it held is overwritten):
 * release it with kt_vm_result__release().
 */
int kt_vm_run(const struct kt_vm_opts *o, struct kt_vm_result *res,
	      struct kt_err *err);

#ifdef __cplusplus
}
#endif

#endif
