/* run.c - the whole run stage (see ktpack/run.h and the README, "Booting").
 *
 * Reads the blobs from memory and the includes from the host; writes the
 * base archive into the cache folder (published durably, checked on a hit)
 * and the per-run archive into a private work folder that is removed on
 * every path.
 */
#include <ktpack/run.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ktpack/initramfs.h>
#include <ktpack/kconfig.h>
#include <ktpack/ktpack.h>
#include <ktpack/vmconfig.h>

#include "guest/proto.h"
#include "internal.h"

struct run_ctx {
	const struct kt_run_opts *o;
	struct kt_cache *cache;
	struct kt_cache *own_cache;	/* opened here, closed here */
	struct kt_workdir work;		/* path "" until made */
	char initrd[64];		/* /proc/self/fd/N: QEMU inherits it */
	int initrd_fd;			/* in the work folder, -1 until made */
	char nonce[17];
	char *cmdline;
	uint64_t memory_mib;
	int base_fd;
	/* The base as built, which the includes are laid over; NULL once
	 * they are. */
	struct kt_initramfs *base;
	struct kt_kernel_boot kernel;
	/* What the guest runs: the command, a shell reading the host's
	 * stdin when that is not a terminal, NULL for a console shell. */
	const char *const *cmd;
	struct kt_modules *mods;	/* NULL: none to load */
	char *config;			/* the kernel's config, NULL: none found */
	size_t config_len;
	char config_from[PATH_MAX + 64];	/* where it came from */
	enum kt_channel channel;	/* what QEMU gets */
	enum kt_arch arch;		/* the guest's: the kernel's */
	bool no_pvh;			/* QEMU cannot boot through PVH */
	struct kt_qemu_facts *qemu;	/* what QEMU said of itself */
};

static bool run_stopped(const struct run_ctx *x)
{
	return x->o->stop && *x->o->stop;
}

/* ---- what can be checked first ------------------------------------------------------ */

/* A count with no array, or a NULL among its entries, is never read. */
static int run_opts_array(const char *const *v, size_t n, const char *name, struct kt_err *err)
{
	if (n && !v)
		return kt_err_set(err, -EINVAL, "struct kt_run_opts: n%s is %zu but %s is NULL",
				  name, n, name);
	for (size_t i = 0; i < n; i++)
		if (!v[i])
			return kt_err_set(err, -EINVAL, "struct kt_run_opts: %s[%zu] is NULL", name, i);
	return 0;
}

/* A descriptor option: one, or KT_FD_DEFAULT, KT_FD_NONE, KT_FD_ZERO. */
static int run_opts_fd(int fd, const char *name, struct kt_err *err)
{
	if (fd < KT_FD_ZERO)
		return kt_err_set(err, -EINVAL,
				  "struct kt_run_opts: %s is %d: a descriptor, KT_FD_DEFAULT, KT_FD_NONE or KT_FD_ZERO",
				  name, fd);
	return 0;
}

/* The caller's options @uo as this library knows them, into @o (see
 * KT_OPTS): what every entry taking them starts with. */
static int run_opts(const struct kt_run_opts *uo, struct kt_run_opts *o, struct kt_err *err)
{
	int r;

	if (!uo)
		return kt_err_set(err, -EINVAL, "no struct kt_run_opts given");
	r = kt_opts_copy(o, sizeof(*o), uo, "kt_run_opts", err);
	if (!r)
		r = run_opts_array(o->includes, o->nincludes, "includes", err);
	if (!r)
		r = run_opts_array(o->qemu_opts, o->nqemu_opts, "qemu_opts", err);
	if (!r)
		r = run_opts_array(o->append, o->nappend, "append", err);
	if (!r)
		r = run_opts_array(o->modules, o->nmodules, "modules", err);
	if (!r)
		r = run_opts_array(o->optional_modules, o->noptional_modules, "optional_modules", err);
	if (!r)
		r = run_opts_array(o->require_config, o->nrequire_config, "require_config", err);
	if (!r)
		r = run_opts_array(o->collect, o->ncollect, "collect", err);
	if (!r)
		r = run_opts_fd(o->out_fd, "out_fd", err);
	if (!r)
		r = run_opts_fd(o->err_fd, "err_fd", err);
	if (!r)
		r = run_opts_fd(o->stdin_fd, "stdin_fd", err);
	if (!r)
		r = run_opts_fd(o->console_fd, "console_fd", err);
	return r;
}

/* The top folder of a guest mount (kt_guest_mounts) that @guest lies
 * under, or NULL; its length in @len. */
static const char *run_mounted_over(const char *guest, size_t *len)
{
	char norm[PATH_MAX];

	if (kt_path_normalize(guest, norm, sizeof(norm), false))
		return NULL;
	for (size_t i = 0; i < KT_ARRAY_SIZE(kt_guest_mounts); i++) {
		const char *dir = kt_guest_mounts[i].dir;
		size_t l = 1 + strcspn(dir + 1, "/");	/* "/sys" of "/sys/fs/bpf" */

		if (!strncmp(norm, dir, l) && (!norm[l] || norm[l] == '/')) {
			*len = l;
			return dir;
		}
	}
	return NULL;
}

/* @guest lies in the folder of the run's control files (proto.h), which
 * an include would override: /ktpack/interactive makes the run a shell. */
static bool run_under_control(const char *guest)
{
	size_t l = strlen(KT_GUEST_DIR);
	char norm[PATH_MAX];

	return !kt_path_normalize(guest, norm, sizeof(norm), false) &&
	       !strncmp(norm, KT_GUEST_DIR, l) && (!norm[l] || norm[l] == '/');
}

/* The guest path @in as init gets it in KT_GUEST_COLLECT: absolute,
 * printable, no ".." (a guest folder is named by the guest, but the host
 * says what it asks for), not "/" (whose files would have no folder). */
static int run_collect_path(const char *in, char *out, size_t sz, struct kt_err *err)
{
	int r;

	if (*in != '/')
		return kt_err_set(err, -EINVAL, "collect '%s': not an absolute guest path", in);
	for (const unsigned char *p = (const unsigned char *)in; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return kt_err_set(err, -EINVAL, "collect '%s': holds a byte that is not printable",
					  in);
	r = kt_path_normalize(in, out, sz, true);
	if (r == -EINVAL)
		return kt_err_set(err, r, "collect '%s': holds a '..' component", in);
	if (r)
		return kt_err_set(err, r, "collect '%s': path too long", in);
	if (!strcmp(out, "/"))
		return kt_err_set(err, -EINVAL, "collect '%s': the whole guest cannot be collected", in);
	return 0;
}

/* The paths to collect, as paths: absolute, and not too many bytes. */
static int run_check_collect_paths(const struct kt_run_opts *o, struct kt_err *err)
{
	char norm[PATH_MAX];
	size_t len = KT_GUEST_COLLECT_CAP_LEN;
	int r;

	for (size_t i = 0; i < o->ncollect; i++) {
		r = run_collect_path(o->collect[i], norm, sizeof(norm), err);
		if (r)
			return r;
		len += strlen(norm) + 1;
		if (len > KT_GUEST_COLLECT_MAX)
			return kt_err_set(err, -E2BIG, "the paths to collect are over %u bytes in all",
					  KT_GUEST_COLLECT_MAX);
	}
	return 0;
}

/* The folder collected files go into: one we can write into. */
static int run_check_collect(const struct kt_run_opts *o, struct kt_err *err)
{
	struct kt_err e = { 0 };
	const char *dir = o->out_dir ? o->out_dir : ".";
	struct stat st;
	int r, fd;

	if (!o->ncollect)
		return 0;
	r = kt_open_host(dir, "write into", &fd, &st, NULL, 0, &e);
	if (r)
		return kt_err_set(err, r, "%s", e.msg);
	r = S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (!r && faccessat(fd, ".", W_OK | X_OK, AT_EACCESS))
		r = -errno;
	close(fd);
	if (r)
		return kt_err_set(err, r, "cannot collect into '%s': %s", dir, strerror(-r));
	return 0;
}

/* The list init reads (KT_GUEST_COLLECT), the cap first; a new string
 * the caller frees. */
static int run_collect_list(const struct kt_run_opts *o, char **out, size_t *len)
{
	char norm[PATH_MAX], *buf = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&buf, &sz);

	if (!f)
		return -ENOMEM;
	fprintf(f, "%llu\n", (unsigned long long)(o->collect_max ? o->collect_max : KT_CH_COLLECT_MAX));
	for (size_t i = 0; i < o->ncollect; i++)
		if (!run_collect_path(o->collect[i], norm, sizeof(norm), NULL))
			fprintf(f, "%s\n", norm);
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = sz;
	return 0;
}

/* The options' values, as values (no file is looked at): what fails
 * here is a usage error (kt_run_result.invalid). */
static int run_check_args(const struct kt_run_opts *o, struct kt_err *err)
{
	char host[PATH_MAX], guest[PATH_MAX];
	int r;

	if (!o->kernel || !*o->kernel)
		return kt_err_set(err, -EINVAL, "no kernel given");
	if (o->cmd && !o->cmd[0])
		return kt_err_set(err, -EINVAL, "the command is empty");
	/* as execve(2) would in the guest, without a boot to say it */
	if (o->cmd && !*o->cmd[0])
		return kt_err_set(err, -ENOENT, "the command's name is empty");
	/* what init sends on to the command's process group */
	if (o->timeout_signal && o->timeout_signal != SIGTERM && o->timeout_signal != SIGINT &&
	    o->timeout_signal != SIGQUIT && o->timeout_signal != SIGHUP && o->timeout_signal != SIGKILL)
		return kt_err_set(err, -EINVAL,
				  "the timeout's signal %d is not one the guest sends (SIGTERM, SIGINT, SIGQUIT, SIGHUP or SIGKILL)",
				  o->timeout_signal);
	r = kt_vm_check_qemu_opts(o->qemu_opts, o->nqemu_opts, err);
	for (size_t i = 0; !r && i < o->nrequire_config; i++)
		r = kt_kconfig_spec_check(o->require_config[i], err);
	if (r)
		return r;
	for (size_t i = 0, len = 0; o->cmd && o->cmd[i]; i++) {
		len += strlen(o->cmd[i]) + 1;
		if (len > KT_GUEST_CMD_MAX)
			return kt_err_set(err, -E2BIG,
					  "the command is over the guest's limit of %u bytes (its arguments with their NULs)",
					  KT_GUEST_CMD_MAX);
	}
	for (size_t i = 0; i < o->nincludes; i++) {
		const char *under;
		size_t ul;

		r = kt_include_parse(o->includes[i], host, guest, sizeof(host), err);
		if (r)
			return r;
		under = run_mounted_over(guest, &ul);
		if (under)
			return kt_err_set(err, -EINVAL,
					  "include '%s': the guest mounts over %.*s, which would hide it",
					  o->includes[i], (int)ul, under);
		if (run_under_control(guest))
			return kt_err_set(err, -EINVAL,
					  "include '%s': %s holds init's control files, which it would override",
					  o->includes[i], KT_GUEST_DIR);
	}
	return run_check_collect_paths(o, err);
}

/* The options, before anything is built; *@invalid when their values
 * are wrong (run_check_args), not the files they name. */
static int run_check_opts(const struct kt_run_opts *o, bool *invalid, struct kt_err *err)
{
	int r = run_check_args(o, err);

	if (r) {
		*invalid = true;
		return r;
	}
	if (o->sysroot && *o->sysroot) {
		struct stat st;

		if (stat(o->sysroot, &st))
			return kt_err_set(err, -errno, "sysroot '%s': %s", o->sysroot, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return kt_err_set(err, -ENOTDIR, "sysroot '%s': not a folder", o->sysroot);
	}
	return run_check_collect(o, err);
}

/* Whether @t, what an output path leads to, is the file open as @fd:
 * the same pipe, socket or regular file, or the same terminal.  Another
 * device (/dev/null) is not: what is written there mixes with nothing. */
static bool run_same_output(const struct stat *t, int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) || (t->st_mode & S_IFMT) != (st.st_mode & S_IFMT))
		return false;
	if (S_ISCHR(st.st_mode))
		return st.st_rdev == t->st_rdev && isatty(fd);
	return (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISREG(st.st_mode)) &&
	       st.st_dev == t->st_dev && st.st_ino == t->st_ino;
}

/*
 * Where the trace goes, checked before anything is built (a run may take
 * minutes): it must be writable, and not the command's output, its error
 * stream or the console by any name (-, /dev/stdout, /dev/fd/1,
 * /proc/self/fd/2, a link to the file stdout was sent to): judged by the
 * file, not by how it is spelt.
 */
static int run_check_trace(const struct run_ctx *x, const char *path, struct kt_err *err)
{
	const struct kt_run_opts *o = x->o;
	const struct {
		int fd;
		const char *what;
	} outs[] = {
		{ kt_fd_opt(o->out_fd, STDOUT_FILENO), "the command's standard output" },
		{ kt_fd_opt(o->err_fd, STDERR_FILENO), "the command's standard error" },
		/* by default a console shell's console is on standard
		 * output, a command's nowhere */
		{ kt_fd_opt(o->console_fd, x->cmd ? -1 : STDOUT_FILENO), "the guest console" },
	};
	struct stat st;
	int r = kt_out_check(path, &st, err);

	if (r || !st.st_mode)
		return r;
	for (size_t i = 0; i < KT_ARRAY_SIZE(outs); i++)
		if (run_same_output(&st, outs[i].fd))
			return kt_err_set(err, -EINVAL, "the trace cannot go to '%s': %s goes there",
					  path, outs[i].what);
	return 0;
}


/* The guest's CPUs: its topology's, or @o->cpus, which must agree. */
static int run_cpus(const struct kt_run_opts *o, unsigned *cpus, struct kt_err *err)
{
	const struct kt_topology *t = &o->topology;
	uint64_t n = (uint64_t)t->nodes * t->llcs * t->cores * t->threads;

	*cpus = o->cpus ? o->cpus : KT_RUN_DEFAULT_CPUS;
	if (!t->nodes)
		return 0;
	if (!n || n > KT_TOPOLOGY_CPUS_MAX)
		return kt_err_set(err, -EINVAL,
				  "the topology %un%ul%uc%ut is not one: at least one of each, at most %u CPUs",
				  t->nodes, t->llcs, t->cores, t->threads, KT_TOPOLOGY_CPUS_MAX);
	if (o->cpus && o->cpus != n)
		return kt_err_set(err, -EINVAL, "--cpus %u and the topology %un%ul%uc%ut (%llu CPUs) disagree",
				  o->cpus, t->nodes, t->llcs, t->cores, t->threads, (unsigned long long)n);
	*cpus = (unsigned)n;
	return 0;
}

/* @mib rounded up to split evenly between the topology's nodes. */
static uint64_t run_per_node(const struct kt_run_opts *o, uint64_t mib)
{
	uint64_t nodes = o->topology.nodes > 1 ? o->topology.nodes : 1;

	return (mib + nodes - 1) / nodes * nodes;
}

/* max(cpus*64, 256, requested), the wprof floor, or the override; split
 * evenly between the nodes. */
static int run_memory(const struct kt_run_opts *o, uint64_t *mib, struct kt_err *err)
{
	struct kt_memory_opts m = {
		.requested_mib = o->memory_mib,
		.override_mib = o->memory_override_mib,
	};
	bool below;
	int r = run_cpus(o, &m.cpus, err);

	if (!r && o->wprof) {
		size_t n;
		const char *const *args = kt_wprof_config__args(o->wprof, &n);

		r = kt_wprof_memory_floor_mib(args, n, m.cpus, &m.wprof_floor_mib, err);
	}
	if (r)
		return r;
	r = kt_derive_test_memory_mib(&m, mib, &below, err);
	if (!r && !o->memory_override_mib)
		*mib = run_per_node(o, *mib);
	if (!r && below)
		kt_log(&o->log, KT_LOG_WARN,
		       "the exact memory of %llu MiB is below the %llu MiB that wprof's ring buffers need",
		       (unsigned long long)m.override_mib,
		       (unsigned long long)m.wprof_floor_mib);
	return r;
}

/* The base command line of @arch, the appended tokens, and with wprof
 * its args and grace. */
static int run_cmdline(const struct kt_run_opts *o, enum kt_arch arch, char **out,
		       struct kt_err *err)
{
	const char **tokens;
	char grace[64], *tok = NULL;
	size_t ntok = 0;
	int r;

	r = kt_cmdline_tokens_check(o->append, o->nappend, "kernel argument", err);
	if (r)
		return r;
	tokens = calloc(o->nappend + 3, sizeof(*tokens));
	if (!tokens)
		return kt_err_set(err, -ENOMEM, "out of memory");
	/* a WARN() is printed at KERN_WARNING, which "quiet" hides (an
	 * appended loglevel still wins) */
	if (o->fail_on & (1u << KT_VM_EV_WARN))
		tokens[ntok++] = "loglevel=5";
	for (size_t i = 0; i < o->nappend; i++)
		tokens[ntok++] = o->append[i];

	if (o->wprof) {
		size_t n;
		const char *const *args = kt_wprof_config__args(o->wprof, &n);
		uint64_t ms = o->wprof_grace_s == KT_RUN_GRACE_NONE ? 0 :
			      (o->wprof_grace_s ? o->wprof_grace_s : KT_RUN_DEFAULT_GRACE_S) * 1000ULL;

		r = kt_wprof_args_cmdline(args, n, &tok, err);
		if (r) {
			free(tokens);
			return r;
		}
		tokens[ntok++] = tok;
		snprintf(grace, sizeof(grace), "%s=%llu", KT_WPROF_GRACE_KEY,
			 (unsigned long long)ms);
		tokens[ntok++] = grace;
	}
	r = kt_vm_cmdline(kt_arch_info(arch)->cmdline, tokens, ntok, out, err);
	free(tok);
	free(tokens);
	return r;
}

/*
 * How long after the timeout the guest may take to end the command and
 * send its trace and status back: the signal's grace before SIGKILL,
 * init's SIGTERM of wprof and its grace (init stops wprof at the host's
 * word once the command ended), then KT_RUN_END_GRACE_S for the trace to
 * come.  0 without a timeout.
 */
static unsigned run_end_grace(const struct kt_run_opts *o)
{
	if (!o->timeout_s)
		return 0;
	return (o->kill_after_s ? o->kill_after_s : KT_VM_KILL_AFTER_S) +
	       (o->wprof ? KT_WPROF_TERM_GRACE_MS / 1000 : 0) + KT_RUN_END_GRACE_S;
}

/* The guest's architecture: the kernel's; @o->arch, when given, must
 * agree (QEMU of the other would hang).  Also checks the kernel. */
static int run_arch(const struct kt_run_opts *o, enum kt_arch *arch, struct kt_err *err)
{
	enum kt_arch k = KT_ARCH_NONE;
	int r = kt_kernel_check_arch(o->kernel, &k, err);

	if (r)
		return r;
	if (o->arch && o->arch != k)
		return kt_err_set(err, -EINVAL, "--arch %s: the kernel '%s' is an %s kernel",
				  kt_arch_name(o->arch), o->kernel, kt_arch_name(k));
	if (!kt_arch_info(k))
		return kt_err_set(err, -ENOTSUP, "'%s': ktpack cannot boot this kernel", o->kernel);
	*arch = k;
	return 0;
}

int kt_run_memory_mib(const struct kt_run_opts *uo, uint64_t *mib, struct kt_err *err)
{
	struct kt_run_opts opts;
	int r = run_opts(uo, &opts, err);

	return r ? r : run_memory(&opts, mib, err);
}

int kt_run_cmdline(const struct kt_run_opts *uo, char **out, struct kt_err *err)
{
	struct kt_run_opts opts, *o = &opts;
	enum kt_arch arch;
	int r = run_opts(uo, o, err);

	if (r)
		return r;
	arch = o->arch;

	/* no --arch: the kernel's, when there is one to read */
	if (!arch && o->kernel && *o->kernel && kt_kernel_check_arch(o->kernel, &arch, NULL))
		arch = KT_ARCH_NONE;
	if (!kt_arch_info(arch))
		return kt_err_set(err, -ENOTSUP, "ktpack cannot boot a guest on this machine");
	return run_cmdline(o, kt_arch_or_native(arch), out, err);
}

/* ---- the base archive ----------------------------------------------------------------- */

static const struct kt_blob *run_blob(const struct kt_blob_table *t, const char *name,
				      enum kt_arch arch)
{
	const struct kt_blob *b = t ? kt_blob_table__find_arch(t, name, arch) : NULL;

	return b && kt_blob__embedded(b) ? b : NULL;
}

/*
 * The file named instead of blob @bl (@label says who named it), for a
 * guest of @arch: a program of another architecture (a host's busybox
 * named in the environment, for an arm64 guest) gives way to the
 * embedded one of @arch, or is an error when there is none.  *@path is
 * NULL when the blob is used.
 */
static int run_file_for_arch(const struct kt_run_opts *o, const char **path, const char *label,
			     const struct kt_blob *bl, enum kt_arch arch, struct kt_err *err)
{
	struct kt_elf_info *info = NULL;
	enum kt_arch a;

	if (!*path || kt_elf_info__read(*path, &info, NULL))
		return 0;	/* not ELF: packed as it is, as before */
	a = kt_arch_of_elf_machine(info->machine);
	kt_elf_info__free(info);
	if (a == arch)
		return 0;
	if (!bl)
		return kt_err_set(err, -ENOEXEC, "%s '%s' is an %s program: the guest is %s",
				  label, *path, a ? kt_arch_name(a) : "unknown machine's",
				  kt_arch_name(arch));
	kt_log(&o->log, KT_LOG_INFO, "%s '%s' is an %s program: the %s guest gets the embedded one",
	       label, *path, a ? kt_arch_name(a) : "unknown machine's", kt_arch_name(arch));
	*path = NULL;
	return 0;
}

/*
 * Whether the wprof file @path holds exactly the bytes of the embedded
 * wprof @bl: what kt_install_env() installed and KTSTR_WPROF_PATH names.
 * Such a file is packed as the blob is, from memory with the closure the
 * build embedded (wprof_libs), so that a front end that loads its config
 * from the environment needs none of wprof's libraries on the host, and
 * gets the archive a NULL path gives.  The file is only compared: the
 * bytes packed are the blob's, whatever the file becomes meanwhile.  A
 * file that cannot be read is not the blob; packing it says why.
 */
static bool run_wprof_is_blob(const char *path, const struct kt_blob *bl)
{
	struct stat st;
	uint64_t len;
	char hex[65];
	bool same;
	int fd;

	if (kt_open_regular(path, "", &fd, NULL))
		return false;
	same = !fstat(fd, &st) && (uint64_t)st.st_size == bl->size &&
	       !kt_sha256_fd(fd, hex, &len) && len == bl->size && !strcmp(hex, bl->sha256);
	close(fd);
	return same;
}

/* The wprof file *@path, for a guest of @arch: NULL when it is the
 * embedded wprof @wp (run_wprof_is_blob); said at debug level. */
static void run_wprof_file(const struct kt_run_opts *o, const char **path,
			   const struct kt_blob *wp, enum kt_arch arch)
{
	if (!*path)
		return;
	if (wp && run_wprof_is_blob(*path, wp)) {
		kt_log(&o->log, KT_LOG_DEBUG,
		       "wprof '%s' is the embedded %s wprof: packed from memory, with the libraries the build embedded",
		       *path, kt_arch_name(arch));
		*path = NULL;
		return;
	}
	if (wp)
		kt_log(&o->log, KT_LOG_DEBUG,
		       "wprof '%s' differs from the embedded one: packed from the file, with libraries found on this host",
		       *path);
	else
		kt_log(&o->log, KT_LOG_DEBUG,
		       "wprof '%s': none is embedded for %s: packed from the file, with libraries found on this host",
		       *path, kt_arch_name(arch));
}

/* init, busybox and wprof (from memory, or the files named instead), and
 * with @includes the includes, for a guest of @arch.  @seed collects what
 * identifies the bytes from memory. */
static int run_fill_base(const struct kt_run_opts *o, enum kt_arch arch, bool includes,
			 struct kt_initramfs *b, char *seed, size_t seedsz, struct kt_err *err)
{
	const struct kt_blob *init = run_blob(&kt_guest_blobs, "init", arch);
	const struct kt_blob *bb = run_blob(o->blobs, "busybox", arch);
	const struct kt_blob *wp = run_blob(o->blobs, "wprof", arch);
	const struct kt_blob *wl = run_blob(o->blobs, "wprof_libs", arch);
	const struct kt_blob *slot;
	/* the files named instead of the blobs */
	const char *bpath = o->busybox_path;
	const char *wpath = o->wprof ? kt_wprof_config__path(o->wprof) : NULL;
	int r;

	if (!init)
		return kt_err_set(err, -ENOENT,
				  arch == kt_arch_native() ? "this libktpack was built without the guest init" :
				  "this libktpack was built without the %s guest init (make deps installs its cross compiler; then rebuild)",
				  kt_arch_name(arch));
	r = run_file_for_arch(o, &bpath, "busybox", bb, arch, err);
	if (!r)
		r = run_file_for_arch(o, &wpath, "wprof", wp, arch, err);
	if (r)
		return r;
	run_wprof_file(o, &wpath, wp, arch);
	kt_snprintf_cut(seed, seedsz, "%s %s init=%s busybox=%s wprof=%s libs=%s", KTPACK_VERSION,
			kt_arch_name(arch), init->sha256, bb && !bpath ? bb->sha256 : "",
			wp && !wpath ? wp->sha256 : "", wl && !wpath ? wl->sha256 : "");
	r = kt_initramfs__add_blob(b, &kt_guest_blobs, "init", "/init", NULL, err);
	slot = o->blobs ? kt_blob_table__find_arch(o->blobs, "busybox", arch) : NULL;
	if (!bpath && !bb)
		kt_log(&o->log, KT_LOG_WARN, "no busybox for %s%s%s%s: the guest has no shell and no applets",
		       kt_arch_name(arch), slot ? " (make " : "", slot ? slot->make_var : "",
		       slot ? "=...)" : "");
	if (!r && (bpath || bb))
		r = kt_initramfs__add_blob(b, o->blobs, "busybox", "/bin/busybox", bpath, err);
	/* wprof is in every guest that can have it (a shell offers it);
	 * the config only makes init start it. */
	slot = o->blobs ? kt_blob_table__find_arch(o->blobs, "wprof", arch) : NULL;
	if (!r && (wpath || wp))
		r = kt_initramfs__add_blob(b, o->blobs, "wprof", KT_GUEST_WPROF, wpath, err);
	else if (!r && o->wprof)
		r = kt_err_set(err, -ENOENT,
			       "wprof for %s is not embedded (make %s=/path/to/wprof) and its config names no file",
			       kt_arch_name(arch), slot ? slot->make_var : "WPROF");
	for (size_t i = 0; !r && includes && i < o->nincludes; i++)
		r = kt_initramfs__add_include(b, o->includes[i], err);
	return r;
}

/*
 * The module tree and the load order: the modules asked for, and with a
 * virtio channel what gives the guest its port when the kernel has it as
 * modules.  Without a tree, a virtio channel relies on a built-in driver
 * (init falls back to the serial port at once when there is none).
 */
static int run_modules(struct run_ctx *x, struct kt_err *err)
{
	const struct kt_run_opts *o = x->o;
	int (*want)(struct kt_modules *, const char *, struct kt_err *);
	struct kt_err why = { 0 };
	char dir[PATH_MAX], kreal[PATH_MAX];
	int r, has;

	x->channel = o->channel;
	/* "beside the kernel" is beside the file a link names */
	r = kt_modules_find(o->modules_dir, realpath(o->kernel, kreal) ? kreal : o->kernel,
			    x->kernel.release, dir, sizeof(dir), &why);
	if (r && (o->nmodules || o->noptional_modules || o->modules_dir))
		return kt_err_set(err, r, "%s", why.msg);
	/* without a serial port for the channel, virtio_console must come
	 * from the tree (Debian's arm64 kernel has it as a module) */
	if (r && !kt_arch_info(x->arch)->serial_channel)
		return kt_err_set(err, r, "%s: an %s guest's channel needs virtio_console from it", why.msg,
				  kt_arch_name(x->arch));
	if (r)
		return 0;
	r = kt_modules__open(dir, &x->mods, err);
	for (size_t i = 0; !r && i < o->nmodules; i++)
		r = kt_modules__want(x->mods, o->modules[i], err);
	for (size_t i = 0; !r && i < o->noptional_modules; i++)
		r = kt_modules__want_optional(x->mods, o->optional_modules[i], err);
	if (r || o->channel == KT_CHANNEL_SERIAL)
		return r;
	has = kt_modules__has(x->mods, "virtio_console");
	if (!has && (o->channel == KT_CHANNEL_VIRTIO || !kt_arch_info(x->arch)->serial_channel))
		return kt_err_set(err, -ENODEV,
				  "%s: the kernel %s has no virtio_console (%s/modules.dep, modules.builtin)",
				  o->channel == KT_CHANNEL_VIRTIO ? "--channel virtio" :
				  "an arm64 guest's channel needs virtio", x->kernel.release, dir);
	if (!has) {
		x->channel = KT_CHANNEL_SERIAL;
		return 0;
	}
	/* Without them init falls back to the serial port: they are
	 * optional unless there is none or the virtio port was asked for. */
	want = o->channel == KT_CHANNEL_VIRTIO || !kt_arch_info(x->arch)->serial_channel ?
	       kt_modules__want : kt_modules__want_optional;
	r = want(x->mods, "virtio_pci", err);
	if (!r)
		r = want(x->mods, "virtio_console", err);
	return r;
}

/* The uncompressed kernel that boots (a vmlinux, an arm64 Image), whose
 * embedded config can be read; NULL for a bzImage. */
static const char *run_config_image(const struct run_ctx *x)
{
	return x->kernel.pvh || x->kernel.arch == KT_ARCH_AARCH64 ? x->kernel.path : NULL;
}

/*
 * The kernel's config (kt_kconfig_find): for the guest's
 * /boot/config-<release> when its release is known, and for the
 * requirements.  From a file, else from the image that boots.
 */
static int run_config(struct run_ctx *x, struct kt_err *err)
{
	const char *rel = x->kernel.release;
	int r;

	if (!*rel && !x->o->nrequire_config)
		return 0;
	r = kt_kconfig_find(x->o->kernel, rel, run_config_image(x), &x->o->log, &x->config,
			    &x->config_len, x->config_from, sizeof(x->config_from));
	if (r == -ENOMEM)
		return kt_err_set(err, r, "out of memory");
	if (!r && *rel)
		kt_log(&x->o->log, KT_LOG_DEBUG, "the guest's %s%s is %s", KT_KCONFIG_GUEST, rel,
		       x->config_from);
	else if (!r)
		kt_log(&x->o->log, KT_LOG_DEBUG,
		       "the kernel's config is %s (its release is not known: the guest gets none)",
		       x->config_from);
	else if (*rel)
		kt_log(&x->o->log, KT_LOG_DEBUG, "no config for the kernel %s: the guest has no %s%s",
		       rel, KT_KCONFIG_GUEST, rel);
	return 0;
}

/*
 * --require-config: each requirement against the kernel's config, before
 * anything is built; a kernel without a config cannot be checked.
 */
static int run_require(const struct run_ctx *x, struct kt_err *err)
{
	const struct kt_run_opts *o = x->o;
	struct kt_kconfig *c = NULL;
	struct kt_err why = { 0 };
	char kernel[PATH_MAX + 8];
	int r;

	if (!o->nrequire_config)
		return 0;
	if (*x->kernel.release)
		snprintf(kernel, sizeof(kernel), "%s", x->kernel.release);
	else
		kt_snprintf_cut(kernel, sizeof(kernel), "'%s'", o->kernel);
	if (!x->config) {
		char *looked = kt_kconfig_places(o->kernel, x->kernel.release, run_config_image(x));

		r = kt_err_set(err, -ENOENT,
			       "no config was found for the kernel %s (looked for %s): --require-config %s cannot be checked",
			       kernel, looked ? looked : "it", o->require_config[0]);
		free(looked);
		return r;
	}
	r = kt_kconfig__parse(x->config, x->config_len, x->config_from, &c, err);
	for (size_t i = 0; !r && i < o->nrequire_config; i++) {
		r = kt_kconfig__require(c, o->require_config[i], &why);
		if (r == -ENOENT)
			kt_err_set(err, r, "the kernel %s %s; --require-config asked for it", kernel,
				   why.msg);
		else if (r && err)
			*err = why;
	}
	kt_kconfig__free(c);
	return r;
}

/*
 * The command must be a program the guest can run: a program of another
 * machine that an include brought as data is refused by name, before
 * boot.  A bare name is looked up as init's PATH has it.
 */
static int run_check_command(const struct run_ctx *x, const struct kt_initramfs *b,
			     struct kt_err *err)
{
	static const char *const path[] = { "/bin", "/sbin", "/usr/bin", "/usr/sbin" };
	const char *cmd = x->cmd ? x->cmd[0] : NULL, *host = NULL, *name;
	uint16_t machine = 0;
	char guest[PATH_MAX];
	int r = -ENOENT;

	if (!cmd || !*cmd)
		return 0;
	if (strchr(cmd, '/')) {
		r = kt_initramfs__foreign(b, cmd, &host, &machine);
	} else {
		for (size_t i = 0; i < KT_ARRAY_SIZE(path) && r == -ENOENT; i++)
			if (!kt_snprintf(guest, sizeof(guest), "%s/%s", path[i], cmd))
				r = kt_initramfs__foreign(b, guest, &host, &machine);
	}
	if (r != 1)
		return 0;
	name = kt_elf_machine_name(machine);
	return kt_err_set(err, -ENOEXEC, "'%s' is an %s program: the guest is %s", host,
			  name ? name : "unknown machine's", kt_arch_name(x->arch));
}

/* A cached base must end with its trailer: a torn file does not. */
static bool run_base_complete(int fd, uint64_t size)
{
	char tail[1024];
	size_t len = size < sizeof(tail) ? (size_t)size : sizeof(tail);

	return kt_pread_full(fd, tail, len, (off_t)(size - len)) == (ssize_t)len &&
	       memmem(tail, len, "TRAILER!!!", 10);
}

static int run_write_base(void *ctx, int fd, struct kt_err *err)
{
	return kt_initramfs__write_fd(ctx, fd, err);
}

static int run_base(struct run_ctx *x, char *name, size_t namesz, struct kt_err *err);

int kt_run_base(const struct kt_run_opts *uo, struct kt_cache *cache, int *fd,
		char *name, size_t namesz, struct kt_err *err)
{
	struct kt_run_opts o;
	struct run_ctx x = {
		.o = &o, .cache = cache, .base_fd = -1, .initrd_fd = -1,
		.work = { .dfd = -1, .parent = -1, .lock = -1 },
	};
	int r = run_opts(uo, &o, err);

	if (!r)
		r = run_base(&x, name, namesz, err);
	kt_initramfs__free(x.base);
	if (!r)
		*fd = x.base_fd;
	return r;
}

/* Without a cache folder the base is built for this run, in its folder. */
static int run_base_uncached(struct run_ctx *x, struct kt_initramfs *b, struct kt_err *err)
{
	int fd = openat(x->work.dfd, "base", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	int r;

	if (fd < 0)
		return kt_err_set(err, -errno, "cannot create '%s/base': %s", x->work.path,
				  strerror(errno));
	unlinkat(x->work.dfd, "base", 0);
	r = kt_initramfs__write_fd(b, fd, err);
	if (r) {
		close(fd);
		return r;
	}
	x->base_fd = fd;
	return 0;
}

/*
 * Opens the base archive of these inputs from the cache, building and
 * publishing it on a miss.  The descriptor is held before old bases are
 * pruned, so a concurrent run's pruning cannot take it away.
 */
/* The base's entries into *@out: init, busybox, wprof, the kernel's
 * modules and config, and with @includes the includes. */
static int run_build_base(struct run_ctx *x, bool includes, struct kt_initramfs **out, char *seed,
			  size_t seedsz, struct kt_err *err)
{
	struct kt_elfdeps_opts eo = { .sysroot = x->o->sysroot };
	struct kt_initramfs_opts io = {
		.dev_console = true, .arch = x->arch, .elf = &eo, .log = x->o->log,
	};
	struct kt_initramfs *b = NULL;
	int r;

	r = kt_initramfs__new(&io, &b);
	if (r)
		return kt_err_set(err, r, "out of memory");
	r = run_fill_base(x->o, kt_arch_or_native(x->arch), includes, b, seed, seedsz, err);
	if (!r && x->mods)
		r = kt_modules__pack(x->mods, x->kernel.release, b, err);
	if (!r && x->config && *x->kernel.release) {
		char guest[PATH_MAX];

		snprintf(guest, sizeof(guest), "%s%s", KT_KCONFIG_GUEST, x->kernel.release);
		r = kt_initramfs__add_data(b, guest, x->config, x->config_len, 0644, err);
	}
	if (r) {
		kt_initramfs__free(b);
		return r;
	}
	*out = b;
	return 0;
}

static int run_base(struct run_ctx *x, char *name, size_t namesz, struct kt_err *err)
{
	struct kt_initramfs *b = NULL;
	char seed[512];
	uint64_t key, size;
	int r;

	r = run_build_base(x, x->o->cache_includes, &b, seed, sizeof(seed), err);
	if (r)
		return r;
	if (!x->cache)
		r = run_base_uncached(x, b, err);
	if (!r && x->cache)
		r = kt_initramfs__key(b, seed, &key, &size, err);
	if (r || !x->cache)
		goto out;
	snprintf(name, namesz, "initramfs-%016llx.cpio", (unsigned long long)key);
	for (int tries = 0; tries < 3; tries++) {
		r = kt_cache__open_file(x->cache, name, 0644, size, &x->base_fd);
		if (!r && !run_base_complete(x->base_fd, size)) {
			close(x->base_fd);
			x->base_fd = -1;
			r = -ESTALE;
		}
		if (!r)
			break;
		if (r == -ESTALE && unlinkat(kt_cache__fd(x->cache), name, 0) && errno != ENOENT) {
			r = kt_err_set(err, -errno, "cannot remove stale '%s/%s': %s",
				       kt_cache__path(x->cache), name, strerror(errno));
			goto out;
		}
		if (r != -ENOENT && r != -ESTALE) {
			kt_err_set(err, r, "cannot open '%s/%s': %s", kt_cache__path(x->cache),
				   name, strerror(-r));
			goto out;
		}
		r = kt_cache__publish(x->cache, name, 0644, size, run_write_base, b, err);
		if (r)
			goto out;
		/* Published (by us or a concurrent run): open it again. */
		r = -ENOENT;
	}
	if (r) {
		kt_err_set(err, r, "cannot open '%s/%s': %s", kt_cache__path(x->cache), name,
			   strerror(-r));
		goto out;
	}
	/* Recently used: pruning keeps it. */
	futimens(x->base_fd, NULL);
	kt_cache__prune(x->cache, "initramfs-", KT_RUN_BASE_KEEP, NULL);
out:
	if (!r)
		x->base = b;
	else
		kt_initramfs__free(b);
	return r;
}

/* ---- the per-run archive ------------------------------------------------------------ */

/* Whether the command's stdout and stderr go to one file (2>&1, one
 * terminal): the guest then gives it one pipe for both, which keeps the
 * order of their writes. */
static bool run_streams_merged(const struct kt_run_opts *o)
{
	int out = kt_fd_opt(o->out_fd, STDOUT_FILENO);
	int err = kt_fd_opt(o->err_fd, STDERR_FILENO);
	struct stat a, b;

	return out >= 0 && err >= 0 && !fstat(out, &a) && !fstat(err, &b) &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * What the includes cannot be laid over the base as (@why): a symlink of
 * theirs where the base has a folder (this host's /lib -> usr/lib, where
 * the base has /lib/modules), which one archive of both resolves (the
 * base's files move where the link points) and the kernel's unpacking of
 * two could not.  This run then gets one archive of both, as before the
 * base was cached: built here, in its work folder, kept nowhere; its
 * error, if it has one, is the run's.
 */
static int run_base_with_includes(struct run_ctx *x, const struct kt_err *why,
				  struct kt_err *err)
{
	struct kt_initramfs *b = NULL;
	char seed[512];
	int r;

	kt_log(&x->o->log, KT_LOG_DEBUG,
	       "the includes cannot go after the cached base (%s): this run packs them into a base of its own",
	       why->msg);
	r = run_build_base(x, true, &b, seed, sizeof(seed), err);
	if (r)
		return r;
	kt_initramfs__free(x->base);
	x->base = NULL;
	if (x->base_fd >= 0)
		close(x->base_fd);
	x->base_fd = -1;
	r = run_base_uncached(x, b, err);
	if (r)
		kt_initramfs__free(b);
	else
		x->base = b;
	return r;
}

/*
 * The includes of this run, laid over the base (kt_initramfs__over): an
 * archive of their own between the base and the run's orders, rebuilt
 * for every run unless they are cached in the base (cache_includes): a
 * front end running each test with its own includes fills no cache slot
 * with a base never used again.  *@out is NULL when there are none; the
 * command is checked against what the guest gets.
 */
static int run_includes(struct run_ctx *x, struct kt_initramfs **out, struct kt_err *err)
{
	const struct kt_run_opts *o = x->o;
	struct kt_elfdeps_opts eo = { .sysroot = o->sysroot };
	struct kt_initramfs_opts io = { .arch = x->arch, .elf = &eo, .log = o->log };
	struct kt_initramfs *inc = NULL;
	int r = 0;

	*out = NULL;
	if (!o->cache_includes && o->nincludes) {
		struct kt_err why = { 0 };

		r = kt_initramfs__new(&io, &inc);
		if (r)
			return kt_err_set(err, r, "out of memory");
		for (size_t i = 0; !r && i < o->nincludes; i++)
			r = kt_initramfs__add_include(inc, o->includes[i], err);
		if (!r && kt_initramfs__over(inc, x->base, &why)) {
			kt_initramfs__free(inc);
			inc = NULL;
			r = run_base_with_includes(x, &why, err);
		}
	}
	if (!r)
		r = run_check_command(x, inc ? inc : x->base, err);
	if (r) {
		kt_initramfs__free(inc);
		return r;
	}
	*out = inc;
	return 0;
}

/*
 * The guest's archive, the base, the includes @inc (NULL: none) and then
 * @b, into "initrd" of the work folder through its descriptor; QEMU gets
 * the descriptor, never a path that could be swapped.  The run's orders
 * come last, so that their nonce says that all before them unpacked.
 */
static int run_write_initrd(struct run_ctx *x, struct kt_initramfs *inc, struct kt_initramfs *b,
			    struct kt_err *err)
{
	int r;

	x->initrd_fd = openat(x->work.dfd, "initrd",
			      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (x->initrd_fd < 0)
		return kt_err_set(err, -errno, "cannot create '%s/initrd': %s", x->work.path,
				  strerror(errno));
	r = kt_initramfs__write_after_fd(inc ? inc : b, x->base_fd, x->initrd_fd, err);
	if (!r && inc)
		r = kt_initramfs__write_fd(b, x->initrd_fd, err);
	if (!r) {
		/* QEMU reads it, and only that */
		int ro = openat(x->work.dfd, "initrd", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (ro < 0)
			r = kt_err_set(err, -errno, "cannot open '%s/initrd': %s", x->work.path,
				       strerror(errno));
		close(x->initrd_fd);
		x->initrd_fd = ro;
	}
	snprintf(x->initrd, sizeof(x->initrd), "/proc/self/fd/%d", x->initrd_fd);
	return r;
}

/* The includes, then the command (NUL-separated argv) and the nonce,
 * after the base. */
static int run_suffix(struct run_ctx *x, struct kt_err *err)
{
	struct kt_initramfs *b = NULL, *inc = NULL;
	unsigned char rnd[8];
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kt_err_set(err, -errno, "getrandom: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(x->nonce + 2 * i, 3, "%02x", rnd[i]);
	r = run_includes(x, &inc, err);
	if (r)
		return r;
	r = kt_strv_join0(x->cmd, &buf, &len);
	if (!r)
		r = kt_initramfs__new(NULL, &b);
	if (r) {
		kt_initramfs__free(inc);
		free(buf);
		return kt_err_set(err, r, "out of memory");
	}
	if (x->cmd)
		r = kt_initramfs__add_data(b, KT_GUEST_CMD, buf, len, 0644, err);
	else
		r = kt_initramfs__add_data(b, KT_GUEST_SHELL, "", 0, 0644, err);
	if (!r && x->cmd && run_streams_merged(x->o))
		r = kt_initramfs__add_data(b, KT_GUEST_MERGED, "", 0, 0644, err);
	if (!r && x->o->ncollect) {
		char *list = NULL;
		size_t ll = 0;

		r = run_collect_list(x->o, &list, &ll);
		if (r)
			r = kt_err_set(err, r, "out of memory");
		else
			r = kt_initramfs__add_data(b, KT_GUEST_COLLECT, list, ll, 0600, err);
		free(list);
	}
	/* Last in the archive (entries are sorted: "nonce" after "cmd",
	 * "interactive" and "merged"): present only when everything before it
	 * unpacked. */
	if (!r)
		r = kt_initramfs__add_data(b, KT_GUEST_NONCE, x->nonce, strlen(x->nonce),
					   0600, err);
	if (!r)
		r = run_write_initrd(x, inc, b, err);
	kt_initramfs__free(b);
	kt_initramfs__free(inc);
	free(buf);
	return r;
}

/* ---- the run ------------------------------------------------------------------------------ */

/*
 * Memory that holds the archive: the kernel keeps the initrd while it
 * unpacks it into a rootfs that may fill half of the memory (tmpfs), and
 * the command needs room to run.  An exact memory is used as given: too
 * little of it ends the run at once (the kernel says so on the console).
 */
static int run_fit_memory(struct run_ctx *x, struct kt_run_result *res, struct kt_err *err)
{
	struct stat st;
	uint64_t mib, need;

	if (x->o->memory_override_mib)
		return 0;
	if (fstat(x->initrd_fd, &st))
		return kt_err_set(err, -errno, "cannot stat '%s/initrd': %s", x->work.path,
				  strerror(errno));
	mib = ((uint64_t)st.st_size + (1 << 20) - 1) >> 20;
	need = 3 * mib + KT_RUN_MEMORY_ROOM_MIB;
	need = run_per_node(x->o, (need + 63) / 64 * 64);
	if (need > x->memory_mib) {
		kt_log(&x->o->log, KT_LOG_INFO,
		       "the guest gets %llu MiB to unpack its %llu MiB archive", (unsigned long long)need,
		       (unsigned long long)mib);
		x->memory_mib = need;
		res->memory_mib = need;
	}
	return 0;
}

/*
 * What QEMU needs beside itself, before anything is extracted or built:
 * /proc, its firmware, its TCG module under --accel tcg (kt_vm_run checks
 * the boot path's firmware again, and the module once it knows the
 * accelerator).  Without the PVH option ROM the bzImage boots, slower.
 */
static int run_check_qemu(struct run_ctx *x, const char *qemu, struct kt_err *err)
{
	const struct kt_run_opts *o = x->o;
	struct kt_qemu_facts *f = x->qemu = malloc(sizeof(*f));
	bool tcg = o->accel == KT_ACCEL_TCG || x->arch != kt_arch_native();
	struct kt_kernel_info ki;
	struct kt_err why = { 0 };
	int r = f ? kt_proc_check(err) : kt_err_set(err, -ENOMEM, "out of memory");

	if (!r)
		r = kt_qemu_inspect(qemu, x->arch, o->qemu_opts, o->nqemu_opts, f, err);
	/* (a bzImage file can boot as it is; a vmlinux cannot) */
	if (!r && !o->no_pvh && !kt_qemu_can_pvh(f, x->arch) &&
	    !kt_kernel_identify(o->kernel, &ki, NULL) && !ki.elf &&
	    !kt_qemu_check_boot(f, x->arch, false, tcg, NULL)) {
		kt_qemu_check_boot(f, x->arch, true, tcg, &why);
		kt_log(&o->log, KT_LOG_WARN, "%s: the bzImage boots, without PVH", why.msg);
		x->no_pvh = true;
	}
	if (!r)
		r = kt_qemu_check_boot(f, x->arch, !o->no_pvh && !x->no_pvh, tcg, err);
	return r;
}

static int run_prepare(struct run_ctx *x, struct kt_run_result *res, struct kt_err *err)
{
	const struct kt_run_opts *o = x->o;
	char qemu[PATH_MAX], name[64];
	int r;

	r = run_check_opts(o, &res->invalid, err);
	/* Where the trace goes is checked now, not after the whole run. */
	if (!r && o->wprof)
		r = run_check_trace(x, res->trace_out, err);
	if (!r)
		r = run_arch(o, &x->arch, err);
	if (!r && o->channel == KT_CHANNEL_SERIAL && !kt_arch_info(x->arch)->serial_channel)
		r = kt_err_set(err, -EINVAL,
			       "--channel serial: an %s guest has no second serial port (its channel is virtio)",
			       kt_arch_name(x->arch));
	if (!r && o->accel == KT_ACCEL_KVM && x->arch != kt_arch_native())
		r = kt_err_set(err, -ENODEV, "--accel kvm: KVM cannot run an %s guest on this %s machine",
			       kt_arch_name(x->arch), kt_arch_name(kt_arch_native()));
	if (!r)
		r = kt_find_qemu(o->qemu, x->arch, qemu, sizeof(qemu), err);
	if (!r)
		r = run_check_qemu(x, qemu, err);
	if (!r)
		r = run_memory(o, &x->memory_mib, err);
	if (!r)
		r = run_cmdline(o, x->arch, &x->cmdline, err);
	if (r)
		return r;
	res->memory_mib = x->memory_mib;
	res->arch = x->arch;
	/* What killed runs left in $TMPDIR goes now. */
	{
		/* (ktpack-vm: what earlier versions' runs made) */
		static const char *const ours[] = {
			"ktpack-run", "ktpack-kvm", "ktpack-doctor", "ktpack-vm", NULL,
		};

		kt_workdir_reap(ours);
	}
	r = kt_workdir_new(&x->work, "ktpack-run", err);
	if (r)
		return r;
	x->cache = o->cache;
	if (!x->cache) {
		struct kt_cache_opts co = { .log = o->log };
		struct kt_err why = { 0 };

		/* A read-only host still runs: nothing is kept, that is all. */
		if (kt_cache__open(&co, &x->own_cache, &why))
			kt_log(&o->log, KT_LOG_WARN,
			       "%s: nothing is cached, the bzImage boots", why.msg);
		x->cache = x->own_cache;
	}
	/* Staging files of killed runs (a base, a vmlinux) go now. */
	if (x->cache)
		kt_cache__sweep(x->cache, NULL, NULL);
	{
		struct kt_kernel_opts ko = {
			.cache = x->cache, .no_pvh = o->no_pvh || x->no_pvh, .log = o->log,
		};

		r = kt_kernel_resolve(o->kernel, &ko, &x->kernel, err);
		if (!r && x->kernel.arch != x->arch)	/* replaced since it was read */
			r = kt_err_set(err, -ESTALE, "kernel '%s' changed while it was read", o->kernel);
		if (r)
			return r;
		res->pvh = x->kernel.pvh;
	}
	r = run_config(x, err);
	if (!r)
		r = run_require(x, err);
	if (!r)
		r = run_modules(x, err);
	if (!r) {
		res->modules = x->mods ? kt_modules__count(x->mods) : 0;
		r = run_base(x, name, sizeof(name), err);
	}
	if (!r && run_stopped(x))
		r = kt_err_set(err, -EINTR, "interrupted: nothing was booted");
	if (!r)
		r = run_suffix(x, err);
	if (!r)
		r = run_fit_memory(x, res, err);
	return r;
}

/* One run of @o (the caller's options, checked). */
static int run_once(const struct kt_run_opts *o, struct kt_run_result *res, struct kt_err *err)
{
	struct run_ctx x = {
		.o = o, .base_fd = -1, .initrd_fd = -1, .kernel = { .fd = -1 },
		.work = { .dfd = -1, .parent = -1, .lock = -1 },
	};
	struct kt_vm_result vr = { 0 };
	uint64_t t0;
	int r, in;

	static const char *const sh[] = { "/bin/sh", NULL };

	memset(res, 0, sizeof(*res));
	res->end = KT_VM_FAILED;
	res->done_status = -1;
	in = kt_fd_opt(o->stdin_fd, STDIN_FILENO);
	/* A shell's input that is not a terminal (a script, a pipe, /dev/null)
	 * is read as sh reads it: its end ends the shell, and its output
	 * comes back as a command's. */
	x.cmd = o->cmd ? o->cmd : in >= 0 && isatty(in) ? NULL : sh;
	/* the result's own copy: the caller may free the opts' first */
	if (o->wprof) {
		res->trace_out = strdup(o->trace_out ? o->trace_out : KT_RUN_DEFAULT_TRACE);
		if (!res->trace_out)
			return kt_err_set(err, -ENOMEM, "out of memory");
	}
	t0 = kt_now_ms();
	r = run_prepare(&x, res, err);
	res->prepare_ms = kt_now_ms() - t0;
	if (!r) {
		struct kt_vm_opts vo = {
			.arch = x.arch, .qemu = o->qemu, .kernel = x.kernel.path, .kernel_fd = x.kernel.fd,
			.kernel_label = o->kernel, .pvh = x.kernel.pvh, .cache = x.cache,
			.initrd = x.initrd, .initrd_fd = x.initrd_fd,
			.qemu_opts = o->qemu_opts, .nqemu_opts = o->nqemu_opts,
			.cmdline = x.cmdline, .cpus = o->cpus ? o->cpus : KT_RUN_DEFAULT_CPUS,
			.topology = o->topology,
			.memory_mib = x.memory_mib, .accel = o->accel,
			.timeout_s = o->timeout_s, .boot_timeout_s = o->boot_timeout_s,
			.interactive = !x.cmd,
			.channel = x.channel, .nonce = x.nonce, .trace_out = res->trace_out,
			.console_fd = o->console_fd == KT_FD_DEFAULT && x.cmd ? KT_FD_NONE :
				      o->console_fd,
			.out_fd = o->out_fd, .err_fd = o->err_fd, .stdin_fd = o->stdin_fd,
			.log = o->log, .stop = o->stop, .signal = o->signal, .qemu_pgid = o->qemu_pgid,
			.paused_ms = o->paused_ms, .fail_on = o->fail_on,
			.timeout_signal = o->timeout_signal, .kill_after_s = o->kill_after_s,
			.end_grace_s = run_end_grace(o),
			.out_dir = o->ncollect ? (o->out_dir ? o->out_dir : ".") : NULL,
			.collect_max = o->collect_max, .collect = o->collect, .ncollect = o->ncollect,
		};

		r = kt_vm_run_with(&vo, x.qemu, &vr, err);
		res->end = vr.end;
		res->accel = vr.accel;
		res->accel_fell_back = vr.accel_fell_back;
		memcpy(res->accel_why, vr.accel_why, sizeof(res->accel_why));
		memcpy(res->qemu_stderr, vr.qemu_stderr, sizeof(res->qemu_stderr));
		res->status = vr.exit_status;
		res->done_status = vr.done_status;
		if (vr.exec_errno) {
			res->exec_path = strdup(vr.exec_path);
			if (!res->exec_path && !r)
				r = kt_err_set(err, -ENOMEM, "out of memory");
			res->exec_errno = res->exec_path ? vr.exec_errno : 0;
			res->exec_interp = res->exec_path && vr.exec_interp;
		}
		res->trace_written = vr.trace_written;
		res->trace_bytes = vr.trace_bytes;
		res->channel = vr.channel;
		memcpy(res->console_tail, vr.console_tail, sizeof(res->console_tail));
		res->panic_after_init = vr.panic_after_init;
		memcpy(res->events, vr.events, sizeof(res->events));
		memcpy(res->event_line, vr.event_line, sizeof(res->event_line));
		res->timeout_signal = vr.timeout_signal;
		res->signalled = vr.signalled;
		res->timings = vr.timings;
		res->timeout_killed = vr.timeout_killed && o->kill_after_s;
		/* moved: now @res's */
		res->collected = vr.collected;
		vr.collected = (struct kt_collected){ 0 };
		kt_vm_result__release(&vr);
	} else if (r == -EINTR) {
		res->end = KT_VM_STOPPED;
	}
	kt_workdir_remove(&x.work);
	if (x.base_fd >= 0)
		close(x.base_fd);
	if (x.initrd_fd >= 0)
		close(x.initrd_fd);
	kt_initramfs__free(x.base);
	free(x.qemu);
	kt_kernel_boot__close(&x.kernel);
	kt_modules__free(x.mods);
	free(x.config);
	kt_cache__close(x.own_cache);
	free(x.cmdline);
	return r;
}

/* Whether the run that returned @r failed as --repro means it: the
 * command's non-zero status, the timeout; a panic when asked. */
static bool run_repro_wanted(const struct kt_run_opts *o, const struct kt_run_result *res, int r)
{
	if ((o->stop && *o->stop) || res->signalled)
		return false;
	if (!r)
		return res->status != 0;
	return res->end == KT_VM_TIMEOUT || (res->end == KT_VM_EXITED && res->status != 0) ||
	       (res->end == KT_VM_PANIC && (o->repro & KT_REPRO_PANIC));
}

/*
 * The run again, traced: the same command and topology in a fresh VM,
 * with wprof on (the memory raised to its floor by the rule), its stdin
 * again when it was a file it can be read from the start of (else
 * none), its output dropped (the first run's is the caller's).
 */
static void run_repro(const struct kt_run_opts *o, const struct kt_run_result *first,
		      struct kt_run_result *res)
{
	struct kt_run_opts ro = *o;
	struct kt_run_result rr;
	struct kt_err e = { 0 };
	int in = kt_fd_opt(o->stdin_fd, STDIN_FILENO);
	struct stat st;

	ro.repro = 0;
	ro.wprof = o->repro_wprof ? o->repro_wprof : o->wprof;
	ro.memory_mib = first->memory_mib;
	ro.memory_override_mib = 0;
	ro.out_fd = ro.err_fd = KT_FD_NONE;
	ro.console_fd = KT_FD_NONE;
	/* the files of the failing run are the ones kept */
	ro.collect = NULL;
	ro.ncollect = 0;
	if (in >= 0 && !fstat(in, &st) && S_ISREG(st.st_mode) && !lseek(in, 0, SEEK_SET)) {
		kt_log(&o->log, KT_LOG_INFO, "--repro: the command gets its stdin file again");
	} else if (in >= 0) {
		ro.stdin_fd = KT_FD_NONE;
		kt_log(&o->log, KT_LOG_INFO,
		       "--repro: the command's stdin was not a file it can read again: it gets none");
	}
	kt_log(&o->log, KT_LOG_INFO, "--repro: running the command again with wprof, its trace to '%s'",
	       ro.trace_out ? ro.trace_out : KT_RUN_DEFAULT_TRACE);
	res->repro.r = run_once(&ro, &rr, &e);
	res->repro.ran = true;
	res->repro.end = rr.end;
	res->repro.status = rr.status;
	res->repro.trace_written = rr.trace_written;
	res->repro.trace_bytes = rr.trace_bytes;
	res->repro.trace_out = rr.trace_out;	/* now @res's */
	rr.trace_out = NULL;
	res->repro.memory_mib = rr.memory_mib;
	kt_snprintf_cut(res->repro.why, sizeof(res->repro.why), "%s", res->repro.r ? e.msg : "");
	kt_run_result__release(&rr);
}

/* The run, and the second one of repro; SIGPIPE is the caller's. */
static int run_all(const struct kt_run_opts *o, struct kt_run_result *res, struct kt_err *err)
{
	int r;

	if (o->repro && !o->repro_wprof && !o->wprof)
		return kt_err_set(err, -EINVAL, "--repro needs a wprof: embed one, or set %s",
				  "KTSTR_WPROF_PATH");
	if (o->repro && !o->cmd) {
		res->invalid = true;
		return kt_err_set(err, -EINVAL, "--repro is for a command, not a shell");
	}
	r = run_once(o, res, err);
	if (!o->repro || !run_repro_wanted(o, res, r))
		return r;
	/* a failing run that traced already needs no second one */
	if (o->wprof && res->trace_written)
		return r;
	/* nor one that never started: it would fail the same way, before
	 * wprof saw anything */
	if (res->exec_errno) {
		kt_log(&o->log, KT_LOG_DEBUG,
		       "--repro: the guest could not run the command: it is not run again");
		return r;
	}
	run_repro(o, res, res);
	return r;
}

int kt_run(const struct kt_run_opts *uo, struct kt_run_result *res, struct kt_err *err)
{
	struct kt_run_opts o;
	struct kt_sigpipe sp;
	int r;

	memset(res, 0, sizeof(*res));
	res->end = KT_VM_FAILED;
	res->done_status = -1;
	r = run_opts(uo, &o, err);
	if (r) {
		res->invalid = true;
		return r;
	}
	/* The command's output, the console and the trace go to the
	 * caller's descriptors: one whose reader is gone (| head) is an
	 * EPIPE that ends the run or that output, never the caller. */
	kt_sigpipe_block(&sp);
	r = run_all(&o, res, err);
	kt_sigpipe_restore(&sp);
	return r;
}

void kt_run_result__release(struct kt_run_result *res)
{
	if (!res)
		return;
	free(res->trace_out);
	free(res->repro.trace_out);
	free(res->exec_path);
	res->trace_out = res->repro.trace_out = res->exec_path = NULL;
	kt_collected__release(&res->collected);
}

int kt_run_exit_status(const struct kt_run_result *res, int r, int sig)
{
	if (!r)
		return res->status;
	if (res->invalid)
		return KT_RUN_EXIT_USAGE;
	/* as timeout(1): a kill the caller asked for (kill_after_s) is said */
	if (res->end == KT_VM_TIMEOUT && res->timeout_killed)
		return 128 + SIGKILL;
	if (res->end == KT_VM_TIMEOUT)
		return KT_RUN_EXIT_TIMEOUT;
	/* Stopped by a signal: as if it had killed us. */
	if (res->end == KT_VM_STOPPED && sig > 0)
		return 128 + sig;
	/* The output's reader went away (| head): as SIGPIPE would have. */
	if (res->end == KT_VM_STOPPED && r == -EPIPE)
		return 128 + SIGPIPE;
	return KT_RUN_EXIT_FAILED;
}
