/* internal.h - the helpers that more than one module of the library (and
 * the CLI, which is built with it) needs.  Not installed.  Nothing here
 * prints or exits. */
#ifndef KT_INTERNAL_H
#define KT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#include <ktpack/arch.h>
#include <ktpack/blob.h>
#include <ktpack/channel.h>
#include <ktpack/common.h>

struct kt_run_opts;
struct kt_cache;
/*
 * kt_run's base archive for @o in @cache: opened (*@fd), built and
 * published on a miss, its name in @name.  For the unit tests.
 */
int kt_run_base(const struct kt_run_opts *o, struct kt_cache *cache, int *fd,
		char *name, size_t namesz, struct kt_err *err);

/* The library's own blobs ("init", the guest's /init), made by the build. */
extern const struct kt_blob_table kt_guest_blobs;

#define KT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The descriptor a descriptor option (KT_FD_*, common.h) names: @std for
 * KT_FD_DEFAULT, 0 for KT_FD_ZERO, -1 for none. */
static inline int kt_fd_opt(int fd, int std)
{
	return fd == KT_FD_DEFAULT ? std : fd == KT_FD_ZERO ? 0 : fd < 0 ? -1 : fd;
}

/* What ends a wait before a guest is up: the caller's stop flag, and a
 * signal meant for the guest command (there is none yet).  Either NULL. */
struct kt_stop {
	volatile sig_atomic_t *stop;
	volatile sig_atomic_t *signal;
};
static inline bool kt_stopped(const struct kt_stop *s)
{
	return s && ((s->stop && *s->stop) || (s->signal && *s->signal));
}

/* A file QEMU loads from its data folders (-L help lists them) to boot. */
struct kt_firmware {
	const char *file;
	const char *pkg;		/* the Debian package that has it */
	unsigned need;			/* KT_FW_* */
};
#define KT_FW_ALWAYS	1u
#define KT_FW_PVH	2u		/* a vmlinux booted through its PVH entry */
#define KT_FW_BZIMAGE	4u		/* a bzImage */
#define KT_FW_OPTIONAL	8u		/* QEMU says it misses it, and boots */

/* What booting a guest of one architecture takes (arch.c). */
struct kt_arch_info {
	const char *name, *alias;	/* "aarch64", "arm64" */
	uint16_t machine;		/* ELF e_machine */
	const char *qemu;		/* the QEMU program */
	const char *qemu_pkg;		/* the Debian package that has it */
	const char *qemu_machine;	/* -machine */
	/* -machine for more than @machine_cpus CPUs (virt's default GICv2
	 * takes 8); NULL: qemu_machine for any */
	const char *qemu_machine_many;
	unsigned machine_cpus;
	const char *tcg_cpu;		/* -cpu under TCG; NULL: max */
	/* -cpu under TCG with a topology: one whose caches QEMU describes
	 * per die (x86: Intel's CPUID leaf 4; its AMD max has no topoext);
	 * NULL: tcg_cpu */
	const char *tcg_cpu_topology;
	/* the -smp level between sockets and cores that an LLC is: x86's
	 * dies; virt has clusters */
	const char *smp_llc;
	const char *cmdline;		/* the base kernel command line */
	bool serial_channel;		/* a second serial port for the channel */
	const char *triplet;		/* Debian's multiarch folder name */
	const struct kt_firmware *firmware;
	size_t nfirmware;
	/* Where a modular QEMU's TCG of this target comes from: the
	 * module accel-tcg-<name>.so of this Debian package. */
	const char *tcg_module_pkg;
};
/* @a's (this machine's for KT_ARCH_NONE); NULL for one ktpack cannot boot. */
const struct kt_arch_info *kt_arch_info(enum kt_arch a);
/* A name for ELF machine @machine ("x86_64", "s390x"), or NULL. */
const char *kt_elf_machine_name(uint16_t machine);

/* Fills @e (when not NULL) and returns @code, so that callers can write
 * "return kt_err_set(e, -ENOENT, ...)". */
int kt_err_set(struct kt_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Strict unsigned decimal: digits only, no sign, no blanks, no overflow. */
int kt_parse_u64(const char *s, uint64_t *out);

/* A number and its unit, "512M": the digits shifted left by the shift of
 * the unit whose suffix follows them (any case; "" may be one).  -EINVAL
 * for another form, -ERANGE on overflow. */
struct kt_unit {
	const char *sfx;
	unsigned shift;
};
int kt_parse_scaled(const char *s, const struct kt_unit *units, size_t n,
		    uint64_t *out);

/*
 * Splits @s on blanks (space, tab, newline) into a NULL-terminated vector,
 * as a user types arguments.  *@argv is freed with kt_strv_free().
 */
int kt_split_ws(const char *s, char ***argv, size_t *n);
void kt_strv_free(char **v);
/* Deep copy of @n strings into a NULL-terminated vector. */
char **kt_strv_dup(const char *const *v, size_t n);

/*
 * @prefix, then the @n strings of @v with @sep between them, into a new
 * NUL-terminated string the caller frees; *@len (may be NULL) is its
 * length without the NUL.  With @sep '\0' and an empty prefix it is argv as
 * /proc/PID/cmdline holds it (*@len + 1 bytes).  0, -E2BIG or -ENOMEM.
 */
int kt_join(const char *prefix, const char *const *v, size_t n, char sep,
	    char **out, size_t *len);
/* The NULL-terminated @v that way; an empty string for a NULL @v. */
int kt_strv_join0(const char *const *v, char **out, size_t *len);

/* write(2)/pwrite(2) until done; EINTR retried.  0 or -errno. */
int kt_write_all(int fd, const void *buf, size_t len);
int kt_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* read until @len bytes or EOF; returns bytes read or -errno. */
ssize_t kt_pread_full(int fd, void *buf, size_t len, off_t off);

/*
 * "/a/./b//../c" -> "/a/c", lexically: links are not resolved (the loader
 * does not resolve them in search paths either).  For absolute paths; a
 * ".." is an -EINVAL error when @refuse_dotdot is set.
 */
int kt_path_normalize(const char *in, char *out, size_t sz, bool refuse_dotdot);
/* The next component of the path at *@p (cut there, *@p moved past it),
 * or NULL at its end; slashes are skipped. */
char *kt_path_next(char **p);
/* The kernel's own limit on symlink hops. */
#define KT_MAX_HOPS	40
/*
 * Resolves the absolute @path the way a process chrooted at @root would
 * ("" for the host's root): component by component, each symlink's target
 * followed (an absolute one from @root again), "." and ".." lexically.
 * @on_link (may be NULL) sees each link met, at its path under @root, and
 * may stop the walk with its non-zero return.  The result, without @root,
 * goes to @out.  -ENOENT and the like for a missing component, -ENOTDIR,
 * -ELOOP past KT_MAX_HOPS, each with @err naming the path.
 */
int kt_path_walk(const char *root, const char *path, char *out, size_t sz,
		 int (*on_link)(void *ctx, const char *at, const char *target), void *ctx,
		 struct kt_err *err);
/* @path made absolute against the working folder, then normalized. */
int kt_path_absolute(const char *path, char *out, size_t sz);

/*
 * Copies @size bytes from @in's position to @out's, in the kernel:
 * copy_file_range (a reflink where the file system shares extents), else
 * sendfile, which also works across file systems.  -EIO when @in ends
 * early.
 */
int kt_copy_fd(int in, int out, uint64_t size);
/* The same from offset @off of @in, which is left where it was. */
int kt_copy_fd_at(int in, uint64_t off, int out, uint64_t size);

/*
 * Why @a cannot be one token of the kernel command line intact (the
 * kernel's parser splits on blanks and unquotes), or NULL: empty,
 * whitespace, another control byte, a quote or a backslash, or @sep
 * (when not 0).
 */
const char *kt_token_why(const char *a, char sep);

/* The index of @s in the @n strings of @names, or -EINVAL. */
int kt_name_index(const char *const *names, size_t n, const char *s);

/* A message to @log at @level (nothing when @log or its fn is NULL). */
void kt_log(const struct kt_log *log, enum kt_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Makes room for @need elements of @elsz bytes in *@v, whose capacity is
 * *@cap elements: doubles the capacity, overflow-checked.  0 or -ENOMEM
 * (*@v is unchanged then).
 */
int kt_grow(void **v, size_t *cap, size_t need, size_t elsz);

/* The last line of @s that is not empty (without its newline) into
 * @out; false when there is none. */
bool kt_last_line(const char *s, char *out, size_t sz);

/*
 * Text from the guest (or any untrusted bytes) made safe to show on a
 * terminal, into @out (@sz bytes, NUL-terminated): valid UTF-8 is kept,
 * except what a terminal or a text layout takes as a control (C0 bytes,
 * DEL, the C1 range U+0080-U+009F such as CSI, bidirectional overrides
 * and isolates); those, NULs and bytes that are not UTF-8 become '?'.
 * Newlines and tabs are kept, and carriage returns dropped, when
 * @keep_lines.  Never cuts a character
 * in two.  The bytes written.
 */
size_t kt_printable(char *out, size_t sz, const char *s, size_t len, bool keep_lines);

/* 64-bit FNV-1a over @n bytes, into *@h (start at KT_FNV1A_INIT): cache
 * keys over what identifies an input, never a security boundary (the
 * cache folder is private). */
#define KT_FNV1A_INIT	0xcbf29ce484222325ULL
void kt_fnv1a(uint64_t *h, const void *p, size_t n);
/*
 * The SHA-256 of @fd's bytes, from offset 0 to its end, as 64 lowercase
 * hex digits and a NUL (a blob table's form), and their count: nettle's
 * digest, which the library links already (initramfs.c).  0, or the
 * negative errno of a read.
 */
int kt_sha256_fd(int fd, char hex[65], uint64_t *len);

/* Bytes a channel reader computed a CRC over: at most what it was fed. */
struct kt_ch_reader;
uint64_t kt_ch_reader__checked(const struct kt_ch_reader *r);
struct kt_ch_host;
uint64_t kt_ch_host__checked(const struct kt_ch_host *h);
/* Whether @nonce can be a run's (see kt_ch_host_opts). */
bool kt_ch_nonce_ok(const char *nonce);
/*
 * The options struct @src of a caller (a KT_OPTS struct, see common.h:
 * its first field is its size) as this library knows it: copied into
 * @dst, of @dst_sz bytes, the fields an older caller lacks zero.  -EINVAL,
 * with @type naming the struct, for an sz of 0, one too small to hold
 * itself, one beyond any options struct (a caller without sz), or a
 * newer caller's struct with non-zero bytes past @dst_sz.
 */
int kt_opts_copy(void *dst, size_t dst_sz, const void *src, const char *type,
		 struct kt_err *err);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t kt_now_ms(void);

/* snprintf that cuts a long result short, for messages only. */
void kt_snprintf_cut(char *buf, size_t sz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Opens @path read-only if it is a regular file (@what, e.g. "kernel",
 * names it in messages: "cannot open kernel 'x': ...").  O_NONBLOCK keeps
 * a FIFO from hanging the open; it is cleared before *@fd is returned.
 */
int kt_open_regular(const char *path, const char *what, int *fd,
		    struct kt_err *err);

/*
 * Opens the host file or folder @path to be read into a guest's archive,
 * as the kernel resolves it but from descriptors, component by component:
 * each symlink met is followed unless another user (not root) owns it in
 * a shared folder (writable by others, or another user's), and the last
 * component is opened without following a link and must be the inode
 * that was looked at.  A FIFO, a device or a socket is refused unopened.
 * *@fd (read-only, close-on-exec) is a regular file or a folder, *@st its
 * fstat, @real (may be NULL) the path it was found at, links resolved.
 * Messages start "cannot @verb '@path': ".
 */
struct stat;
int kt_open_host(const char *path, const char *verb, int *fd, struct stat *st, char *real,
		 size_t realsz, struct kt_err *err);

/* kt_elf_info__read() of the open file @fd (@name labels messages). */
struct kt_elf_info;
int kt_elf_info_read_fd(int fd, const char *name, struct kt_elf_info **out,
			struct kt_err *err);

/* kt_resolver__closure() of the program open at @fd, found at @path
 * (@real with its links resolved, for $ORIGIN). */
struct kt_resolver;
struct kt_closure;
int kt_resolver_closure_fd(struct kt_resolver *r, int fd, const char *path, const char *real,
			   const char *guest_path, struct kt_closure **out, struct kt_err *err);
/* The descriptor a closure read its dependency @i (its interpreter) from:
 * the bytes to pack.  Owned by the closure; -1 when there is none. */
int kt_closure_dep_fd(const struct kt_closure *c, size_t i);
int kt_closure_interp_fd(const struct kt_closure *c);

/* kt_include_split() with @err saying what is wrong with @spec. */
int kt_include_parse(const char *spec, char *host, char *guest, size_t sz, struct kt_err *err);

/* @path names an executable regular file; messages start "@label='@path'". */
int kt_check_program(const char *path, struct kt_err *err, const char *label);

/* ---- child processes (proc.c) ---- */

/* /proc is mounted (QEMU opens the kernel as /proc/self/fd/N): 0, or
 * -ENOENT with one line saying how to mount it. */
int kt_proc_check(struct kt_err *err);

struct kt_proc {
	pid_t pid;	/* -1: none */
	int out;	/* its stdout, or -1 */
	int err;	/* its stderr */
};
/*
 * Starts @argv[0] (a path) with its stdout and stderr on pipes to us, its
 * stdin on /dev/null, nothing else of ours but the @nkeep descriptors
 * @keep, SIGKILL when we die, in a process group of its own (pid) that
 * the terminal's signals do not reach.
 */
int kt_proc_spawn(char *const argv[], const int *keep, size_t nkeep, struct kt_proc *p);
/* Closes the pipes (the child is the caller's to wait for). */
void kt_proc_close(struct kt_proc *p);

/*
 * SIGPIPE held off the calling thread while a public entry writes to the
 * caller's descriptors: kt_sigpipe_block() blocks it (pthread_sigmask:
 * the disposition is the process's, the caller's to choose, and other
 * threads are not touched); kt_sigpipe_restore() takes a SIGPIPE that
 * became pending meanwhile (the entry's own write raised it; its EPIPE
 * says all) and puts the caller's mask back.  One that was pending
 * before, or a SIGPIPE the caller blocks itself, is left alone.
 */
struct kt_sigpipe {
	sigset_t old;		/* the caller's mask */
	bool blocked;		/* blocked here: it was not before */
	bool pending;		/* one was pending before */
};
void kt_sigpipe_block(struct kt_sigpipe *s);
void kt_sigpipe_restore(const struct kt_sigpipe *s);
/* What kt_proc_capture() runs with, and what it brings back. */
struct kt_capture {
	const int *keep;		/* descriptors the child inherits */
	size_t nkeep;
	const struct kt_stop *stop;	/* NULL: none */
	unsigned timeout_ms;
	/* its stdout and stderr, each cut at its size - 1 bytes and
	 * NUL-terminated; a size of 0 drops them */
	char *out, *errs;
	size_t outsz, errsz;
	int status;			/* its wait status, once it ended */
};
/*
 * Runs @argv (kt_proc_spawn) to its end.  -ETIMEDOUT when it takes longer
 * than @c->timeout_ms, -EINTR when @c->stop is set: it is killed then.
 * A program that cannot be run exits 127 saying "cannot run PATH: why" on
 * its stderr.
 */
int kt_proc_capture(char *const argv[], struct kt_capture *c);

/* ---- KVM or TCG (accel.c) ---- */

#include <ktpack/accel.h>

struct kt_accel_req {
	const char *qemu;		/* a path */
	enum kt_arch arch;		/* the guest's */
	enum kt_accel want;
	/* the file QEMU boots (a descriptor above 2, else the path), and
	 * how: a boot verdict is this kernel's */
	int kernel_fd;
	const char *kernel;
	bool pvh;
	struct kt_cache *cache;		/* NULL: nothing remembered */
	struct kt_log log;
	struct kt_stop stop;
};

/* The accelerator of a run's boots, and what it is based on. */
struct kt_accel_plan {
	enum kt_accel want;		/* what the caller asked for */
	enum kt_accel accel;		/* what the next boot uses */
	bool fell_back;			/* KVM failed this run's boot: TCG now */
	/* Why TCG runs under auto although this machine's guest could
	 * have KVM ("its probe failed: ..."); "" otherwise. */
	char why[512];
	bool kvm_ok_known;		/* a verdict says KVM booted this kernel */
	struct kt_cache *cache;
	char boot_name[64];		/* the boot verdict's name; "" for none */
	int lock;			/* its lock, while this run decides it */
	struct kt_log log;
};
/*
 * Chooses the accelerator: TCG when asked or for a foreign guest; else
 * KVM when the probe passes (asked once per verdict's life, under a lock)
 * and no verdict says KVM could not boot this kernel.  A KVM boot with no
 * verdict yet holds the verdict's lock until kt_accel_kvm_verdict(), so
 * that concurrent cold runs wait for it.  -ENODEV for --accel kvm where
 * KVM does not work; -EINTR when @q->stop is set.
 */
int kt_accel_plan(const struct kt_accel_req *q, struct kt_accel_plan *p, struct kt_err *err);
/*
 * The KVM boot reached init (@failure NULL), or failed before it
 * (@failure says how): the verdict is kept and its lock released.  After
 * a failure TCG is next under auto (0, with one warning), and -ENODEV is
 * the answer under --accel kvm.
 */
int kt_accel_kvm_verdict(struct kt_accel_plan *p, const char *failure, struct kt_err *err);
/* Releases what the plan holds. */
void kt_accel_plan_release(struct kt_accel_plan *p);

/* What the cache folder says of KVM for @q (its QEMU; its kernel, when it
 * names one): 0 it worked, -ENODEV it did not (why), 1 nothing known. */
struct kt_accel_memory {
	int probe;
	char probe_why[400];
	int boot;
	char boot_why[400];
};
int kt_accel_recall(const struct kt_accel_req *q, struct kt_accel_memory *m);
/* Removes those verdicts: the next run asks again. */
void kt_accel_forget(const struct kt_accel_req *q);
/* The probe's answer for @q's QEMU, from the cache or asked now (and
 * then kept): 0, or -errno with @why. */
int kt_accel_ask(const struct kt_accel_req *q, char *why, size_t sz);

/* ---- the QEMU program (qemu.c) ---- */

/* The QEMU program @q (NULL: the default) as a path, in @qemu; an error
 * names it and why (empty, not executable, not in PATH). */
int kt_find_qemu(const char *q, enum kt_arch arch, char *qemu, size_t sz,
		 struct kt_err *err);
/* "7.2.22", from -version; -EPROTO when it does not say. */
int kt_qemu_version(const char *qemu, char *out, size_t sz);

#define KT_QEMU_DATADIRS	16
/* What a QEMU program needs beside itself. */
struct kt_qemu_facts {
	char path[PATH_MAX];
	char lhelp[4096];		/* -L help's output, cut into datadir */
	/* Where it looks for firmware, in its order (the caller's -L
	 * first); none when it did not say (then nothing is checked). */
	const char *datadir[KT_QEMU_DATADIRS];
	size_t ndatadir;
	bool tcg_modular;		/* its TCG is the module accel-tcg-<arch>.so */
	char tcg_module[PATH_MAX];	/* where that is; "" when nowhere */
	char tcg_looked[1024];		/* where it was looked for */
};
/*
 * Asks @qemu (a path) for its data folders and looks for its TCG module;
 * @opts are the caller's extra QEMU options (their -L folders count).
 * @f must outlive nothing but itself (datadir points into it and @opts).
 */
int kt_qemu_inspect(const char *qemu, enum kt_arch arch, const char *const *opts, size_t nopts,
		    struct kt_qemu_facts *f, struct kt_err *err);
/* Whether QEMU has the firmware an @arch guest's PVH boot needs (or
 * none is needed, or its folders are not known). */
bool kt_qemu_can_pvh(const struct kt_qemu_facts *f, enum kt_arch arch);
/* The firmware @file in QEMU's data folders, into @out; -ENOENT. */
int kt_qemu_find_firmware(const struct kt_qemu_facts *f, const char *file, char *out, size_t sz);
/*
 * kt_vm_run() for a caller that has checked what kt_vm_preflight() checks
 * and asked QEMU (@qf, whose path is the QEMU that runs).
 */
struct kt_vm_opts;
struct kt_vm_result;
int kt_vm_run_with(const struct kt_vm_opts *o, const struct kt_qemu_facts *qf,
		   struct kt_vm_result *res, struct kt_err *err);
/*
 * What a boot of an @arch guest needs of QEMU's files: the firmware of
 * its boot path (@pvh: a vmlinux's PVH entry, else a bzImage) and, when it
 * runs under TCG (@tcg), a modular QEMU's TCG module.  -ENOENT with one
 * line naming each missing file and its Debian package.
 */
int kt_qemu_check_boot(const struct kt_qemu_facts *f, enum kt_arch arch, bool pvh, bool tcg,
		       struct kt_err *err);

/*
 * The cache folder's lock @name (the file ".kt-@name.lock"): waits while
 * another process holds it, at most @timeout_ms (-ETIMEDOUT; 0: -EWOULDBLOCK
 * at once when it is held; KT_LOCK_FOREVER: no bound), polling so that
 * @stop (may be NULL) ends the wait with -EINTR.  What one holder decides
 * (an extraction, a probe) the next finds done.  kt_cache_unlock()
 * removes the file and closes @fd (-1: nothing held).
 */
#define KT_LOCK_FOREVER	(~0u)
int kt_cache_lock(struct kt_cache *c, const char *name, const struct kt_stop *stop,
		  unsigned timeout_ms, int *fd);
void kt_cache_unlock(struct kt_cache *c, const char *name, int fd);

/* $TMPDIR when it is an absolute path, else "/tmp". */
const char *kt_tmpdir(void);

/*
 * Opens the folder @path as the cache folder is opened (cache.c): from /
 * without following a link, every component, itself included, a real
 * folder that only root or this user can change (a sticky shared one is
 * fine).  0 with its descriptor in *@fd, or -errno with @why.
 */
int kt_dir_trusted(const char *path, int *fd, char *why, size_t sz);

/*
 * A run's private folder "$TMPDIR/@prefix.XXXXXX" (or under /tmp when
 * TMPDIR is unset or relative; either must pass kt_dir_trusted), mode
 * 0700, used through @dfd, holding a ".lock" file that this process keeps
 * locked: a later run can tell the folder of a killed run
 * (kt_workdir_reap) from a live one's (workdir.c).
 */
struct kt_workdir {
	char path[PATH_MAX];	/* for messages; "" until made */
	int dfd;		/* the folder; -1: none */
	int parent;		/* $TMPDIR; -1: none */
	int lock;		/* -1: none */
};
int kt_workdir_new(struct kt_workdir *w, const char *prefix, struct kt_err *err);
/* Removes the folder and the regular files in it; a no-op when not made. */
void kt_workdir_remove(struct kt_workdir *w);
/* Removes the folders of dead runs of ours in $TMPDIR whose names start
 * with one of @prefixes (NULL-terminated), in one pass. */
void kt_workdir_reap(const char *const *prefixes);

/*
 * An output file the user named: a regular file (or a new one, or one a
 * symlink leads to) is written under a temporary name in its folder and
 * renamed over it by kt_out_commit(), so that a failure leaves it as it
 * was; a character or block device or a FIFO is written straight into
 * (it must not be replaced by a regular file); "-" is standard output.
 */
struct kt_out {
	int fd;
	bool own;		/* fd is ours to close */
	bool tmp;		/* written under tmpname, renamed at commit */
	bool unnamed;		/* an O_TMPFILE file, named at commit */
	bool keep_mode;		/* a file of ours is replaced: its mode stays */
	mode_t mode;		/* its permission bits */
	/* A file: its folder, opened as kt_open_host() walks (no other
	 * user's link followed), and the names in it */
	int dfd;
	char base[NAME_MAX + 1];
	char tmpbase[NAME_MAX + 1];
	char final[PATH_MAX];
	char tmpname[PATH_MAX];
};
int kt_out_open(struct kt_out *o, const char *path, struct kt_err *err);
/* With KT_OUT_NOWAIT, a FIFO that nothing reads is an error (-ENXIO), not
 * a wait for a reader that may never come. */
#define KT_OUT_NOWAIT	1
int kt_out_open_flags(struct kt_out *o, const char *path, int flags, struct kt_err *err);
/* Names the file (a file of ours replaced keeps its permission bits, a
 * new one has what the umask leaves of 0666); closes. */
int kt_out_commit(struct kt_out *o, struct kt_err *err);
/* Removes a temporary file, closes; a no-op after a commit. */
void kt_out_abort(struct kt_out *o);
struct stat;
/* What kt_out_open would refuse, found without opening anything (a FIFO
 * is not opened: that waits for its reader).  @st, when not NULL, gets
 * what the output leads to: the file a /dev/fd/N path's descriptor is,
 * the end of a chain of links, st_mode 0 for a file still to be made. */
int kt_out_check(const char *path, struct stat *st, struct kt_err *err);

/*
 * Files a guest sends back (collect.c), written under @dir: each name is
 * checked (kt_collect_name_why), its folders are made and opened from
 * @dir's descriptor with O_NOFOLLOW, the file is written under a
 * temporary name and renamed only when its size and CRC-32 match.
 * Nothing fails the run: a refused file is counted and said in
 * res.refusals (out of memory, only counted).
 */
struct kt_collect {
	const char *dir;
	const char *const *asked;	/* the guest paths asked for */
	size_t nasked;
	uint64_t max, used;		/* bytes accepted in all, announced so far */
	int dfd, pdfd, fd;		/* @dir, the file's folder, the file; -1 */
	bool open;			/* a file is being received */
	uint64_t want, got;
	uint32_t crc;
	char name[KT_CH_NAME_MAX + 1];
	char base[NAME_MAX + 1], tmp[32];
	size_t begun;			/* files announced with a good name */
	struct kt_collected res;	/* the files whole, the refusals */
	size_t fcap, rcap;		/* res.files' and res.refusals' room */
};
void kt_collect_init(struct kt_collect *c, const char *dir, uint64_t max,
		     const char *const *asked, size_t nasked);
const char *kt_collect_name_why(const char *s, size_t len);
void kt_collect_begin(struct kt_collect *c, const char *name, size_t len, uint64_t size,
		      uint32_t mode);
void kt_collect_data(struct kt_collect *c, const unsigned char *p, size_t len);
void kt_collect_end(struct kt_collect *c, uint32_t crc);
/* An unfinished file is refused, the out folder closed, a last refusal
 * line says how many more were refused, and res moves to @out (the
 * caller's then; @c holds none). */
void kt_collect_take(struct kt_collect *c, struct kt_collected *out);
/* An unfinished file is refused, the out folder closed, what res holds
 * freed; safe twice. */
void kt_collect_close(struct kt_collect *c);

/*
 * A descriptor written without ever waiting (outq.c): a pipe, FIFO or
 * terminal through a new open of its file with O_NONBLOCK (the caller's
 * file description, which a shell may share, keeps its flags); a socket
 * with send(MSG_DONTWAIT); a regular file or a disk as it is (they do not
 * wait on a reader).
 */
struct kt_writer {
	int fd;			/* the caller's; -1: what is written is dropped */
	int wfd;		/* what is written to */
	bool sock;
	/* no new open was possible: poll, then at most PIPE_BUF bytes */
	bool poll_first;
};
void kt_writer_open(struct kt_writer *w, int fd);
/* Closes what kt_writer_open() opened (never the caller's fd). */
void kt_writer_close(struct kt_writer *w);
/* What @w takes of @p now: the bytes written, 0 when it would wait, or
 * -errno (no SIGPIPE for a socket; a pipe raises it as write(2) does). */
ssize_t kt_writer_write(const struct kt_writer *w, const void *p, size_t n);

/*
 * Bytes on their way to one or more writers, in the order they came:
 * kt_outq_flush() writes them as far as the writers take them now; poll
 * kt_outq_wait_fd() for POLLOUT first.  Zeroed is empty.
 */
struct kt_outq_seg;
struct kt_outq {
	struct kt_outq_seg *head, *tail;
	size_t pending;			/* bytes queued, notes included */
	/* what kt_outq_write_lossy() dropped, in all */
	uint64_t dropped_bytes, dropped_writes;
};
/* Queues @n bytes for @w: 0 or -ENOMEM. */
int kt_outq_push(struct kt_outq *q, const struct kt_writer *w, const void *p, size_t n);
/* Writes what @w takes now when nothing is queued before, and queues
 * the rest: 0, -ENOMEM, or the write's -errno (nothing is queued then). */
int kt_outq_write(struct kt_outq *q, const struct kt_writer *w, const void *p, size_t n);
/* The note that stands where writes were dropped: @bytes in @writes, in
 * @buf; snprintf's return. */
typedef int (*kt_outq_note_fn)(char *buf, size_t sz, uint64_t bytes, uint64_t writes);
/*
 * kt_outq_write() that keeps about @cap bytes queued: to make room, the
 * oldest writes not begun are dropped whole, and one note from @note
 * (remade while it is not begun) stands where they were.
 */
int kt_outq_write_lossy(struct kt_outq *q, const struct kt_writer *w, const void *p, size_t n,
			size_t cap, kt_outq_note_fn note);
/* 0, or the -errno of a write that failed, its writer in @failed (which
 * may be NULL); what it did not write stays queued. */
int kt_outq_flush(struct kt_outq *q, const struct kt_writer **failed);
/* The descriptor the next queued bytes wait on, or -1. */
int kt_outq_wait_fd(const struct kt_outq *q);
/* Drops what is queued; the bytes of writes it held (not of notes). */
size_t kt_outq_clear(struct kt_outq *q);

/* snprintf that reports truncation as -ENAMETOOLONG. */
int kt_snprintf(char *buf, size_t sz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
