/* ktpack.c - ktpack's entry: finds the command, installs the blobs first
 * when it needs them (before any thread exists: setenv is not
 * thread-safe), then runs it.  The command table is the CLI's index. */
#include "cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const struct kt_cmd kt_cmds[] = {
	{ "blobs", cmd_blobs, false,
	  "ktpack blobs [--json]\n\n"
	  "Lists the embedded blobs: name, architecture, size in bytes, SHA-256 and\n"
	  "env var, or (guest only) for a blob that only goes into guests; an empty\n"
	  "slot says the make variable that fills it.\n" },
	{ "env", cmd_env, true,
	  "ktpack env [--verify]\n\n"
	  "Installs the blobs in the cache folder and prints export lines:\n"
	  "  eval \"$(ktpack env)\"\n"
	  "A file already installed is reused when it is ours, of the right size\n"
	  "and mode, and holds the blob at both ends; --verify compares all of it\n"
	  "(and removes one that differs).\n" },
	{ "exec", cmd_exec, true,
	  "ktpack exec -- CMD [ARG...]\n\n"
	  "Installs the blobs and runs CMD with their paths exported;\n"
	  "exits with CMD's status.\n" },
	{ "cmdline", cmd_cmdline, false,
	  "ktpack cmdline [--arch x86_64|aarch64] [--wprof] [--wprof-args ARGS] [--append ARGS]\n\n"
	  "Prints the kernel command line a guest of 'ktpack run' gets (of --arch,\n"
	  "default this machine's: an aarch64 guest's console is ttyAMA0), with the\n"
	  "--append tokens.  With --wprof it carries KTSTR_WPROF_ARGS=<args joined\n"
	  "with 0x1F> and KTPACK_WPROF_GRACE_MS; ARGS is one string split on\n"
	  "whitespace (default: -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8).\n" },
	{ "ldd", cmd_ldd, false,
	  "ktpack ldd [--json] [--ldcache FILE] [--arch x86_64|aarch64] [--sysroot DIR] ELF...\n\n"
	  "Prints the interpreter and the shared libraries each ELF program needs,\n"
	  "in load order, found as glibc's loader would, without running it\n"
	  "(LD_LIBRARY_PATH is honoured; --ldcache replaces /etc/ld.so.cache).\n"
	  "A program of another architecture (an arm64 one here) is resolved in\n"
	  "its own multiarch folders (/usr/lib/aarch64-linux-gnu) and cache\n"
	  "entries; --arch refuses a program of any other; --sysroot DIR looks the\n"
	  "interpreter, ld.so.cache and the system folders up under DIR.\n" },
	{ "initramfs", cmd_initramfs, false,
	  "ktpack initramfs -o FILE [--init FILE] [--compress none|gzip|zstd]\n"
	  "                 [--no-busybox] [--no-wprof] [--include HOST[:GUEST]]...\n"
	  "                 [--ldcache FILE] [--arch x86_64|aarch64] [--sysroot DIR]\n\n"
	  "Packs a guest initramfs of --arch (default this machine's): /init\n"
	  "(ktpack's guest init unless --init is given), /bin/busybox, /bin/wprof\n"
	  "(when embedded for that architecture),\n"
	  "each --include at its guest path (a folder is taken whole; a HOST without\n"
	  "a '/' is a program in PATH, as a shell finds it), and for every\n"
	  "ELF program among them its interpreter and shared libraries where the\n"
	  "guest's loader looks for them (the guest has no LD_LIBRARY_PATH and no\n"
	  "ld.so.cache; --sysroot as for ldd).  A program of another architecture\n"
	  "is refused.  Honours SOURCE_DATE_EPOCH.  Example:\n"
	  "  ktpack initramfs -o initrd.zst --compress zstd --init init.sh \\\n"
	  "      --include ./mytest:/usr/bin/mytest\n" },
	{ "run", cmd_run, false,
	  "ktpack run --kernel FILE [--arch x86_64|aarch64] [--cpus N] [--topology NnNlNcNt]\n"
	  "           [-m|--memory SIZE]\n"
	  "           [--exact-memory SIZE] [--sysroot DIR]\n"
	  "           [--wprof] [--wprof-args ARGS] [--wprof-grace SECONDS] [--trace-out FILE]\n"
	  "           [--include HOST[:GUEST]]... [--cache-includes]\n"
	  "           [--timeout SECONDS] [--signal SIG] [--boot-timeout SECONDS]\n"
	  "           [--kill-after SECONDS] [--accel kvm|tcg|auto]\n"
	  "           [--no-pvh] [--append ARGS] [--qemu PATH] [--qemu-opt ARG]...\n"
	  "           [--channel auto|virtio|serial] [--module NAME]...\n"
	  "           [--module-optional NAME]... [--modules DIR] [--console]\n"
	  "           [--fail-on EVENTS] [--repro] [--repro-panic]\n"
	  "           [--require-config CONFIG_X[=y|m]]... [--collect GUEST_PATH]...\n"
	  "           [--out-dir DIR] [--collect-max SIZE] -- CMD [ARG...]\n\n"
	  "Boots FILE (default $KTSTR_KERNEL: a bzImage, a vmlinux, an arm64 Image,\n"
	  "gzip'd or not, or a kernel build tree) under QEMU with an initramfs\n"
	  "holding busybox, wprof and the includes, runs CMD in the guest and exits\n"
	  "with its status.  The guest's architecture is the kernel's (--arch must\n"
	  "agree): an arm64 kernel boots under qemu-system-aarch64 -M virt with the\n"
	  "arm64 blobs, on any host (TCG); --sysroot resolves the includes'\n"
	  "libraries under a foreign root.  The includes are packed for each run;\n"
	  "--cache-includes keeps them in the cached base, for a set many runs share.  CMD's stdout and stderr are ktpack's,\n"
	  "byte for byte and apart; ktpack's stdin is CMD's.  They travel over a\n"
	  "virtio-serial port (--channel; virtio_console is loaded from the\n"
	  "kernel's module tree when it is a module there) or, on x86, the second\n"
	  "serial port.  Ctrl-C and Ctrl-\\ go to CMD (the third stops the VM).\n"
	  "The guest console is kept: --console shows it on stderr, a failed run\n"
	  "prints its end.  --module loads a kernel module and what it needs (one\n"
	  "that does not load ends the run before CMD; --module-optional makes\n"
	  "that a warning); --modules names the tree (default /lib/modules/VERSION,\n"
	  "else lib/modules/VERSION beside FILE).  The guest gets the kernel's\n"
	  "config at /boot/config-VERSION when one is found (the tree's .config,\n"
	  "config-VERSION beside FILE, /boot, the image's own).  With --wprof,\n"
	  "/bin/wprof traces the run and the trace comes back to --trace-out\n"
	  "(default ./wprof.pb); it may run --wprof-grace seconds (default 30)\n"
	  "past its -d duration.  KVM is used when a probe and the boot show it\n"
	  "works (a KVM boot with no sign of life within 20 s starts again under\n"
	  "TCG, and is remembered), TCG otherwise; 'ktpack doctor' says what this\n"
	  "host has.  A bzImage's vmlinux is booted through its PVH entry\n"
	  "(--no-pvh boots the bzImage).  --timeout (default 600, 0 for none)\n"
	  "ends CMD as timeout(1) does, counted from when the guest is up:\n"
	  "--signal (TERM) to it, SIGKILL\n"
	  "--kill-after seconds (10) later; its output, status and trace come\n"
	  "back, and the exit status is 124.  --boot-timeout (180) bounds the boot\n"
	  "until the guest is up (125).  The kernel's oom, lockup, stall, hung and warn lines are\n"
	  "said once; --fail-on EVENTS (a comma-separated list of them, or all)\n"
	  "kills CMD at the first and fails the run (125) once the trace is back.\n"
	  "--repro runs a CMD that failed once more under wprof, for its trace\n"
	  "(--repro-panic: after a kernel panic too).\n"
	  "--require-config CONFIG_X (y or m), CONFIG_X=y or CONFIG_X=m (CONFIG_ may\n"
	  "be left out) ends the run with 125 before anything is built when the\n"
	  "kernel's config (see 'ktpack kernel') lacks it, or when none is found.\n"
	  "--topology 2n4l4c2t gives the guest 2 NUMA nodes of 4 LLCs of 4 cores\n"
	  "of 2 threads (64 CPUs), the memory split evenly.\n"
	  "--collect GUEST_PATH (absolute; a file or a folder, walked without\n"
	  "following links) comes back once CMD ended or the timeout ended it,\n"
	  "under --out-dir (default .), at most --collect-max SIZE (bytes, or\n"
	  "with K, M, G or T; 256M) in all.\n"
	  "The memory's SIZE is MiB, or with K, M, G or T (2G); the memory grows\n"
	  "to hold the archive; --exact-memory (or --override) is used as given.\n"
	  "--append adds kernel arguments; --qemu names the QEMU binary,\n"
	  "--qemu-opt adds one argument (not -m, -smp or -numa: --memory, --cpus\n"
	  "and --topology size the guest).  Exit status: CMD's;\n"
	  "124 at the timeout (137 when --kill-after's SIGKILL ended CMD), 125 when\n"
	  "ktpack or the VM failed, 126 or 127 when the guest could not run CMD\n"
	  "(ktpack says so), 128+N on signal N, 2 for a usage error.\n"
	  "Example:\n"
	  "  ktpack run --kernel /var/cache/ktpack/vmlinuz -- /bin/busybox uname -r\n" },
	{ "shell", cmd_shell, false,
	  "ktpack shell --kernel FILE [same options as run, without CMD]\n\n"
	  "An interactive busybox shell on the guest console, wprof and its\n"
	  "libraries present; exit ends it.  On a terminal, Ctrl-C, Ctrl-Z and\n"
	  "Ctrl-\\ act in the guest, the size follows resizes, Ctrl-A x stops the\n"
	  "VM and Ctrl-A Ctrl-A sends a Ctrl-A.  When stdin is not a terminal,\n"
	  "/bin/sh reads it as run runs a command.  --timeout defaults to none.\n" },
	{ "doctor", cmd_doctor, false,
	  "ktpack doctor [--kernel FILE] [--qemu PATH] [--probe] [--json]\n\n"
	  "Says whether this host can run guests, and how: /proc and the work\n"
	  "folder, the cache folder, QEMU for each architecture with its version,\n"
	  "firmware files and TCG module, /dev/kvm and what is remembered of KVM\n"
	  "(its probe, and whether it booted the kernel), the kernel (default\n"
	  "$KTSTR_KERNEL) and its module tree, the embedded blobs.  Each line says\n"
	  "ok, note, warn or missing, with the Debian package that provides what is\n"
	  "missing.  --probe asks KVM again: the probe, and a boot of the kernel\n"
	  "under KVM.  Exits 0 when a run can work here, 1 when it cannot.\n" },
	{ "kernel", cmd_kernel, false,
	  "ktpack kernel [--json] [KERNEL]\n\n"
	  "Says what KERNEL (default $KTSTR_KERNEL; what run's --kernel takes) is\n"
	  "and has, without booting it: its version, architecture, format (with a\n"
	  "bzImage's compression), what boots (a bzImage's vmlinux through PVH,\n"
	  "extracted into the cache folder as run does), where its config came\n"
	  "from (as run finds the guest's: the tree's .config, config-VERSION beside\n"
	  "KERNEL, /boot, the image's own), and the configs a tracing user asks\n"
	  "about: CONFIG_SCHED_CLASS_EXT, CONFIG_BPF_SYSCALL, CONFIG_DEBUG_INFO_BTF,\n"
	  "CONFIG_FTRACE, CONFIG_KPROBES, CONFIG_VIRTIO_CONSOLE and CONFIG_KVM_GUEST,\n"
	  "each y, m, not set, or unknown when no config was found.  One fact a line\n"
	  "(\"version 6.1.0-57-amd64\", \"CONFIG_BPF_SYSCALL y\"); --json prints one\n"
	  "JSON object.  'run --require-config CONFIG_X' ends a run before boot when\n"
	  "the kernel lacks one.\n" },
	{ "memory", cmd_memory, false,
	  "ktpack memory --cpus N|--topology NnNlNcNt [-m|--memory SIZE] [--wprof]\n"
	  "              [--wprof-args ARGS] [--exact-memory SIZE]\n\n"
	  "Prints the guest memory in MiB that run gives: max(N*64, 256, SIZE),\n"
	  "raised to what wprof's ring buffers need with --wprof, rounded up to\n"
	  "split evenly between the topology's nodes; --exact-memory (or\n"
	  "--override) is used as given.  SIZE is MiB, or with K, M, G or T: 512M, 2G.\n" },
};

static void cli_main_usage(FILE *f)
{
	fputs("usage: ktpack [-V|--version] [-h|--help] COMMAND [ARGS]\n"
	      "       ktpack help COMMAND, ktpack version\n\n"
	      "Carries helper binaries (wprof, busybox) inside one executable and\n"
	      "installs them for guest VMs.  Commands:\n", f);
	for (size_t i = 0; i < KT_ARRAY_SIZE(kt_cmds); i++) {
		const char *u = kt_cmds[i].usage;

		fprintf(f, "  %.*s\n", (int)strcspn(u, "\n"), u);
	}
	fputs("\n'ktpack COMMAND --help' tells more.\n", f);
}

static const struct kt_cmd *cli_lookup(const char *name)
{
	for (size_t i = 0; i < KT_ARRAY_SIZE(kt_cmds); i++)
		if (!strcmp(name, kt_cmds[i].name))
			return &kt_cmds[i];
	return NULL;
}

/* --help among the command's own options only prints: nothing to install.
 * Only options count: the guest command's "-h" is not ours. */
static bool cli_wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int cli_install(struct cli_ctx *ctx)
{
	KT_INSTALL_OPTS(o, .log = cli_log);
	struct kt_err err = { 0 };

	if (kt_install(&kt_embedded_blobs, &o, &ctx->installed, &err) ||
	    kt_installed__export(ctx->installed, &err))
		return cli_error("%s", err.msg);
	return 0;
}

/* Every file an archive packs stays open from its check to the write
 * (an included folder may hold thousands): the soft limit on open files
 * goes up to the hard one.  Nothing here uses select(), which cannot see
 * descriptors past 1023. */
static void cli_raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx = { 0 };
	const struct kt_cmd *cmd;
	int ret;

	/* A closed stdin, stdout or stderr would be the next file opened: a
	 * guest command would read the archive, a message land in it. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
			return 125;
	cli_raise_nofile();

	/* ktpack's lines that stderr did not take yet, before the end */
	atexit(cli_stderr_finish);
	if (argc < 2) {
		cli_main_usage(stderr);
		return KT_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") && argc > 2) {
		/* "ktpack help run" is "ktpack run --help" */
		if (argc > 3) {
			fprintf(stderr, "ktpack help: unexpected argument '%s'\n", argv[3]);
			return KT_EXIT_USAGE;
		}
		if (!strcmp(argv[2], "help") || !strcmp(argv[2], "version")) {
			cli_main_usage(stdout);
			return cli_exit_code(cli_flush());
		}
		cmd = cli_lookup(argv[2]);
		if (!cmd) {
			fprintf(stderr, "ktpack: unknown command '%s' (see 'ktpack --help')\n", argv[2]);
			return KT_EXIT_USAGE;
		}
		printf("usage: %s", cmd->usage);
		return cli_exit_code(cli_flush());
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		if (argc > 2) {
			fprintf(stderr, "ktpack %s: unexpected argument '%s'\n", argv[1], argv[2]);
			return KT_EXIT_USAGE;
		}
		cli_main_usage(stdout);
		return cli_exit_code(cli_flush());
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") ||
	    !strcmp(argv[1], "version")) {
		if (argc > 2) {
			fprintf(stderr, "ktpack %s: unexpected argument '%s'\n", argv[1], argv[2]);
			return KT_EXIT_USAGE;
		}
		printf("ktpack %s\n", kt_version());
		return cli_exit_code(cli_flush());
	}
	cmd = cli_lookup(argv[1]);
	if (!cmd) {
		fprintf(stderr, "ktpack: unknown command '%s' (see 'ktpack --help')\n", argv[1]);
		return KT_EXIT_USAGE;
	}
	if (cmd->needs_env && !cli_wants_help(argc, argv) && cli_install(&ctx))
		return KT_EXIT_FAIL;
	ret = cmd->fn(cmd, argc - 1, argv + 1, &ctx);
	kt_installed__free(ctx.installed);
	return cli_exit_code(ret);
}
