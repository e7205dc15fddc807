/* ktpack/run.h - the whole run stage in one call: the guest's initramfs
 * (a cached base and a per-run part), its memory and kernel command line,
 * the VM, the command's status and the wprof trace.
 *
 * Threads.  kt_run() starts no thread; runs on separate threads, each
 * with its own opts, result and flags, are safe together.  What they
 * share is the process's:
 *  - the blob tables (kt_embedded_blobs, the guest's init): read only;
 *  - the environment: kt_install_env() calls setenv(3), so it runs in
 *    main before any thread; kt_run() only reads it (the cache folder,
 *    TMPDIR, PATH);
 *  - the cache folder: shared by design, between runs and processes
 *    (published without replacing, staging files under flock); a struct
 *    kt_cache given in the opts is one run's at a time (NULL: each run
 *    opens its own);
 *  - descriptors 0, 1 and 2, the defaults of stdin_fd, out_fd, err_fd
 *    and the console: concurrent runs give each their own (a shared
 *    stdin is read by whichever run reads first; a terminal is put in
 *    raw mode by a shell run), and the current folder, where a relative
 *    trace_out or out_dir lands;
 *  - signals: kt_run() changes no disposition; it blocks SIGPIPE in the
 *    calling thread for its duration (see kt_run) and nothing else.
 *    QEMU is started with fork+exec from the calling thread, tied to it
 *    by PR_SET_PDEATHSIG, and waited for by its pid only.
 * The log callback is called from the thread of the run it belongs to:
 * shared between runs, it must be thread-safe (stdio is).
 */
#ifndef KTPACK_RUN_H
#define KTPACK_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ktpack/blob.h>
#include <ktpack/cache.h>
#include <ktpack/channel.h>
#include <ktpack/modules.h>
#include <ktpack/common.h>
#include <ktpack/vm.h>
#include <ktpack/wprof.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KT_RUN_DEFAULT_CPUS	2
/* Base archives (and with cache_includes, each set of includes in its
 * own base) kept in the cache folder, most recently used first. */
#define KT_RUN_BASE_KEEP	8
/* How long wprof may run past its -d duration by default, in seconds. */
#define KT_RUN_DEFAULT_GRACE_S	30
/* wprof_grace_s meaning "no grace at all" (0 means the default). */
#define KT_RUN_GRACE_NONE	(~0u)
/* kt_run_opts.repro */
#define KT_REPRO_ON		1u
#define KT_REPRO_PANIC		2u	/* a panic is a failure to reproduce too */
/* How long, beyond the kill and wprof's own time, a guest may take to
 * send its trace and status back after the timeout. */
#define KT_RUN_END_GRACE_S	30
/* Room for the command besides an archive of the guest's memory. */
#define KT_RUN_MEMORY_ROOM_MIB	192
/* Where the trace goes when trace_out is NULL. */
#define KT_RUN_DEFAULT_TRACE	"wprof.pb"

struct kt_run_opts {
	/* sizeof(struct kt_run_opts): see KT_OPTS in common.h. */
	size_t sz;
	/* Required: a bzImage, a vmlinux with a PVH entry, an arm64 Image or
	 * a kernel build tree (see kt_kernel_resolve). */
	const char *kernel;
	/* The guest's architecture is the kernel's: the blobs of that
	 * architecture are packed and its QEMU boots it.  Given, it must
	 * agree with the kernel; KT_ARCH_NONE: the kernel's. */
	enum kt_arch arch;
	unsigned cpus;			/* 0: KT_RUN_DEFAULT_CPUS */
	/* The guest's NUMA nodes, LLCs, cores and threads (see
	 * kt_topology_parse); nodes 0: @cpus CPUs, one node.  With one,
	 * @cpus is 0 or its CPUs, and the memory splits evenly. */
	struct kt_topology topology;
	uint64_t memory_mib;		/* requested; 0: none */
	uint64_t memory_override_mib;	/* used as given; 0: none */
	/* wprof runs in the guest when this is set, with its args.  The
	 * file its config names (kt_wprof_config__path) is /bin/wprof when
	 * not NULL; else the blob table's wprof is.  A file with exactly
	 * the bytes of the table's wprof for the guest (the one
	 * kt_install_env() installed) counts as the blob: the blob is
	 * packed from memory, with the libraries its build embedded
	 * (wprof_libs), and no library of the host is needed. */
	const struct kt_wprof_config *wprof;
	/* How long wprof may run past its -d duration; 0: the default
	 * (KT_RUN_DEFAULT_GRACE_S), KT_RUN_GRACE_NONE: none. */
	unsigned wprof_grace_s;
	/* NULL: KT_RUN_DEFAULT_TRACE.  Checked before anything is built:
	 * one that leads to the command's output, its error stream or the
	 * console (out_fd, err_fd, console_fd), whatever its name, is
	 * refused (-EINVAL), as is one that cannot be written. */
	const char *trace_out;
	/* Auto-repro (KT_REPRO_ON, | KT_REPRO_PANIC; see the README,
	 * "Auto-repro"): when the command fails (a non-zero status, a
	 * signal, the timeout; a panic with KT_REPRO_PANIC) and no trace of
	 * it came back, kt_run() runs it again in a fresh VM with
	 * @repro_wprof (NULL: @wprof; one of them is needed), the same
	 * command and topology, the memory raised to wprof's floor, its
	 * stdin again when it is a file (else none), its output dropped; the
	 * trace goes to @trace_out.  The result keeps the first run's
	 * outcome, and the second's in its repro member.  A command the
	 * guest could not execute (kt_run_result.exec_errno) is not run
	 * again: it would fail the same way, before wprof saw anything. */
	unsigned repro;
	const struct kt_wprof_config *repro_wprof;
	/* The front end's embedded blobs, packed from memory: "busybox" as
	 * /bin/busybox (unless busybox_path is set), "wprof" as /bin/wprof
	 * (unless the wprof config names a file), also when wprof is not
	 * started, so that a shell can run it.  NULL: none. */
	const struct kt_blob_table *blobs;
	/* A busybox file to pack instead of the table's; NULL: the table's.
	 * One of another architecture than the guest's gives way to the
	 * table's of the guest's (said in an info line), as a wprof file
	 * the config names does. */
	const char *busybox_path;
	/* HOST[:GUEST] specs (see kt_include_split), each with its closure,
	 * resolved under @sysroot when set (see kt_elfdeps_opts).  A GUEST
	 * under a folder init mounts over, or in /ktpack (init's orders), is
	 * refused.  Here as for every array below, a count without its
	 * array, or a NULL among its first count entries, is refused
	 * (-EINVAL). */
	const char *const *includes;
	size_t nincludes;
	const char *sysroot;
	/* The command, NULL-terminated; NULL: an interactive shell on the
	 * console, which reads this process's stdin. */
	const char *const *cmd;
	/* The command's, counted from when the guest's init is up and
	 * starts it (the boot has a bound of its own); 0: none. */
	unsigned timeout_s;
	/* At the timeout the command, not the VM, is ended, as timeout(1)
	 * does (see the README, "Timeouts"): @timeout_signal (0: SIGTERM)
	 * to its process group, SIGKILL @kill_after_s later (0:
	 * KT_VM_KILL_AFTER_S, and the kill is not said in the exit status);
	 * wprof is stopped and its trace comes back; a guest that sends
	 * nothing back within KT_RUN_END_GRACE_S more (and wprof's time) is
	 * stopped. */
	int timeout_signal;
	unsigned kill_after_s;
	enum kt_accel accel;
	/* Boot the bzImage even when its vmlinux could boot through PVH. */
	bool no_pvh;
	const char *qemu;		/* NULL: the arch's QEMU from PATH */
	/* More QEMU arguments, after ktpack's own (a later one wins). */
	const char *const *qemu_opts;
	size_t nqemu_opts;
	/* More kernel command-line tokens, each checked as the wprof args
	 * are (kt_cmdline_tokens_check). */
	const char *const *append;
	size_t nappend;
	/* Kernel events (1u << enum kt_vm_event, see kt_vm_events_parse)
	 * that end the run with a failure once the guest sent its trace and
	 * status back; with KT_VM_EV_WARN the console shows loglevel 5. */
	unsigned fail_on;
	/* Where the base archive is cached; NULL: kt_cache__open() with
	 * the log below. */
	struct kt_cache *cache;
	/* Descriptors (see KT_FD_DEFAULT in common.h): a caller's own (1
	 * and up), KT_FD_DEFAULT (0, so a zeroed struct is the default),
	 * KT_FD_NONE (-1) or KT_FD_ZERO (-2, descriptor 0 itself); another
	 * value is -EINVAL.  Where the guest console's bytes go as they
	 * come: by default standard output for a shell, nowhere for a
	 * command (its last lines are in the result); NONE: nowhere. */
	int console_fd;
	/* The command's stdout and stderr: by default this process's, NONE
	 * drops them.  Its stdin (or the shell's): by default this
	 * process's, NONE: none (an end of file at once). */
	int out_fd, err_fd, stdin_fd;
	/* Which port carries the channel; AUTO loads virtio_console (and
	 * virtio_pci) when the kernel has them as modules. */
	enum kt_channel channel;
	/* Kernel modules to load in the guest, by name, each with what it
	 * depends on (modules.dep).  One that the guest fails to load ends
	 * the run before the command, with the kernel's reason. */
	const char *const *modules;
	size_t nmodules;
	/* The same for modules the guest may fail to load: a warning then
	 * (unless one of @modules needs it). */
	const char *const *optional_modules;
	size_t noptional_modules;
	/* The kernel's module tree; NULL: found from its version (see
	 * kt_modules_find). */
	const char *modules_dir;
	/* Warnings (a memory override under the wprof floor, a fallback to
	 * TCG) and progress (the boot). */
	struct kt_log log;
	/* Set it non-zero (from a signal handler) to stop the run: the VM is
	 * killed, every file of the run removed, and kt_run() returns -EINTR
	 * with end KT_VM_STOPPED.  It is polled, not waited on: while the VM
	 * runs, within 200 ms (at once when the signal interrupts the run's
	 * poll, on its thread); before, at the KVM probe and once the
	 * archives are built, before QEMU starts (building a cold base can
	 * take seconds).  The library never clears it.  It is a volatile
	 * sig_atomic_t, not an atomic: to stop a run from another thread,
	 * send the run's thread a signal (pthread_kill) whose handler sets
	 * it, rather than storing to it. */
	volatile sig_atomic_t *stop;
	/* Set it (from a signal handler, as @stop) to SIGINT, SIGQUIT,
	 * SIGTERM or SIGHUP to send that signal to the guest command's
	 * process group (a Ctrl-C for a tool that prints its result then);
	 * polled as @stop is, and set back to 0 by the library once sent:
	 * one per run, never shared.  Before the guest is up, and for a
	 * console shell (whose terminal sends its own), it stops the run as
	 * @stop does. */
	volatile sig_atomic_t *signal;
	/* When not NULL, QEMU's process group while it runs (see
	 * kt_vm_opts): for a front end's Ctrl-Z and fg. */
	volatile sig_atomic_t *qemu_pgid;
	/* When not NULL, the milliseconds spent stopped (see kt_vm_opts). */
	volatile sig_atomic_t *paused_ms;
	/* Configs the kernel must have (kt_kconfig_spec_check: CONFIG_X
	 * built in or a module, CONFIG_X=y, CONFIG_X=m), checked against its
	 * config (found as the guest's is) once the kernel is resolved,
	 * before any archive is built: one it lacks is -ENOENT, and so is
	 * a kernel with no config to check them against; a spec of another
	 * form is -EINVAL before anything starts. */
	const char *const *require_config;
	size_t nrequire_config;
	/* Guest paths sent back once the command ended (or the timeout
	 * ended it), as after wprof's trace (see the README, "Files back"):
	 * absolute, printable, no ".." component (else -EINVAL before
	 * anything starts).  A file comes back under its own name, a folder
	 * whole (no link followed; links, FIFOs and devices are skipped),
	 * under @out_dir (NULL: the current folder), named by the host,
	 * never through a link; at most @collect_max bytes in all (0:
	 * KT_CH_COLLECT_MAX): a file over what is left is refused (init
	 * sends none of its bytes); at most KT_CH_COLLECT_FILES_MAX files. */
	const char *const *collect;
	size_t ncollect;
	const char *out_dir;
	uint64_t collect_max;
	/* The includes go into an archive of this run's, after the cached
	 * base (init, busybox, wprof, the kernel's modules and config), so
	 * that a new set of them costs no cache slot; true caches them in
	 * the base instead, keyed by their files, for one set of includes
	 * that many runs share (see the README, "Booting").  Either way a
	 * guest path the base has is refused when the include's contents
	 * differ (-EEXIST), and one under a symlink of the base moves where
	 * it points; includes that bring a symlink where the base has a
	 * folder get, for that run, one archive with the base, kept
	 * nowhere. */
	bool cache_includes;
	/* The boot's bound: from QEMU's start until the guest's init is up
	 * on its channel (a KVM boot given up is not counted); 0:
	 * KT_VM_BOOT_TIMEOUT_S.  Beside timeout_s, which the boot does not
	 * spend. */
	unsigned boot_timeout_s;
};

/* struct kt_run_opts NAME, zeroed, its sz set, with the fields given. */
#define KT_RUN_OPTS(NAME, ...) KT_OPTS(kt_run_opts, NAME, __VA_ARGS__)

struct kt_run_result {
	enum kt_vm_end end;		/* how it ended */
	enum kt_arch arch;		/* the guest's */
	int status;			/* the command's, when end is KT_VM_EXITED */
	/* The command's status as soon as it ended (see kt_vm_result):
	 * known also when the timeout fell while wprof, its trace or the
	 * files were finishing (end KT_VM_TIMEOUT); -1 when not known. */
	int done_status;
	/* The guest could not execute the command (init said so: its exec
	 * failed): the errno, and the path tried (the command's argv[0],
	 * printable; the result's own, freed by kt_run_result__release()).
	 * status is 127 (ENOENT) or 126 then, as env(1) has them; 0 and
	 * NULL when the command started, so that a command that exits 127
	 * by itself (a shell's "not found") is told from it. */
	int exec_errno;
	char *exec_path;
	/* ENOENT, though exec_path is there: its #! interpreter or its ELF
	 * loader is missing in the guest. */
	bool exec_interp;
	/* kt_run() refused an option's value before anything started (a
	 * missing kernel, an empty command, a relative --collect path, an
	 * include over init's files...): a usage error, KT_RUN_EXIT_USAGE.
	 * Not when a file an option names is missing or wrong. */
	bool invalid;
	enum kt_accel accel;		/* what ran */
	bool accel_fell_back;		/* a KVM boot failed: TCG ran instead */
	/* Why TCG ran under auto although the guest could have had KVM
	 * (see kt_vm_result); "" otherwise. */
	char accel_why[512];
	bool pvh;			/* a vmlinux booted through PVH */
	uint64_t memory_mib;		/* what the guest got */
	bool trace_written;
	uint64_t trace_bytes;
	/* Where the trace went: a copy of the opts' trace_out, or of
	 * KT_RUN_DEFAULT_TRACE; NULL without wprof.  The result's own, as
	 * repro.trace_out is: freed by kt_run_result__release(). */
	char *trace_out;
	enum kt_channel channel;	/* the port the guest used */
	size_t modules;			/* module files packed */
	/* The console's last lines (see kt_vm_result): show them when the
	 * run failed. */
	char console_tail[4096];
	/* QEMU's last lines on its stderr: show them too. */
	char qemu_stderr[2048];
	/* The panic line came after /init started (see kt_vm_result). */
	bool panic_after_init;
	/* The kernel events seen: how often, and the first line of each. */
	unsigned events[KT_VM_EV_N];
	char event_line[KT_VM_EV_N][256];
	/* The timeout fell while the command ran: the signal it was sent
	 * (0: none), and whether the SIGKILL kill_after_s asked for followed
	 * (the exit status is then 137, as timeout(1)'s). */
	int timeout_signal;
	bool timeout_killed;
	/* A signal of the caller's (kt_run_opts.signal: Ctrl-C) was sent
	 * to the command: its failure is not one to reproduce. */
	bool signalled;
	/* Where the time went, in ms: building the run (the kernel, the
	 * archive, QEMU's checks), then the VM's stages (kt_vm_result). */
	uint64_t prepare_ms;
	struct kt_vm_timings timings;
	/* Files back (kt_run_opts.collect): each that came whole (its path
	 * under out_dir, size and mode), and those refused, with a line
	 * naming each and why (see struct kt_collected).  The result's
	 * own, freed by kt_run_result__release(). */
	struct kt_collected collected;
	/* The second, traced run of auto-repro (kt_run_opts.repro): whether
	 * it ran, what kt_run() would have returned for it (and why, when
	 * not 0), how it ended, the command's status, its trace. */
	struct {
		bool ran;
		int r;
		char why[512];
		enum kt_vm_end end;
		int status;
		bool trace_written;
		uint64_t trace_bytes;
		char *trace_out;
		uint64_t memory_mib;
	} repro;
};

/* Frees what @res owns (its trace_out strings, exec_path and collected
 * lists) and sets them to NULL; safe on a zeroed result, on NULL, and twice.  kt_run()
 * fills a result whole, whatever it returns: release it after every
 * kt_run(), before it is given to the next one. */
void kt_run_result__release(struct kt_run_result *res);

/* Exit statuses of a run, as timeout(1) and env(1) have them; otherwise
 * the command's own (128+N when signal N killed it, 126 when it could not
 * be run, 127 when it was not found). */
#define KT_RUN_EXIT_TIMEOUT	124
#define KT_RUN_EXIT_FAILED	125
/* An option kt_run() refused before anything started (res->invalid). */
#define KT_RUN_EXIT_USAGE	2

/*
 * The memory kt_run() gives the guest for @o before its archive is built:
 * max(CPUs x 64, 256, memory_mib) MiB, raised to wprof's floor, rounded up
 * to split evenly between the topology's nodes; memory_override_mib as
 * given.  kt_run() raises it further when the archive needs room to
 * unpack (the result has what the guest got).
 */
int kt_run_memory_mib(const struct kt_run_opts *o, uint64_t *mib, struct kt_err *err);

/*
 * The kernel command line kt_run() gives the guest for @o: the base of
 * the guest's architecture (@o->arch, else the kernel's when @o->kernel
 * names one, else this machine's), the appended tokens, and with wprof
 * KTSTR_WPROF_ARGS and its grace.  A new string the caller frees.
 */
int kt_run_cmdline(const struct kt_run_opts *o, char **out, struct kt_err *err);

/*
 * Boots the kernel with the command and waits for it.  0 when the command
 * ran to its end (its status in @res); else -errno, @err says what failed
 * and @res->end how far it got (a missing or invalid option is -EINVAL
 * before anything is built).  Every file of the run is removed on every
 * path; the base archive stays in the cache.  @res owns its strings
 * (kt_run_result__release): @o and what it points to may be freed as
 * soon as kt_run() returns.
 *
 * SIGPIPE never kills the caller: it is blocked in the calling thread
 * while kt_run() runs, and one that its own writes raised is taken
 * before the caller's mask comes back (one pending before is left).  A
 * write to a pipe whose reader is gone is then an EPIPE: on out_fd or
 * err_fd it ends the run, -EPIPE with end KT_VM_STOPPED ("cannot write
 * the command's standard output: Broken pipe"); on the console it stops
 * the console (a warning); on the trace it fails the trace.
 */
int kt_run(const struct kt_run_opts *o, struct kt_run_result *res,
	   struct kt_err *err);

/*
 * The exit status for a kt_run() that returned @r: the command's status,
 * KT_RUN_EXIT_TIMEOUT (137 when res->timeout_killed), 128+@sig when it
 * was stopped because signal @sig came (0: none), 128+SIGPIPE when the
 * command's output had no reader any more (-EPIPE, as a tool killed by
 * SIGPIPE in a pipeline), KT_RUN_EXIT_USAGE when an option was refused
 * (res->invalid), KT_RUN_EXIT_FAILED otherwise.
 */
int kt_run_exit_status(const struct kt_run_result *res, int r, int sig);

#ifdef __cplusplus
}
#endif

#endif
