/* Unit tests of vm.c that need no VM: the kernel check, the program
 * lookup, the channel names, and what QEMU's stderr does to a run (fake
 * QEMUs, shell scripts written here). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/vm.h>

static void test_kernel_check(void **state)
{
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_kernel_check("/bin/true", &e), -ENOEXEC);
	assert_str_contains(e.msg, "an ELF kernel without a PVH entry point");
	assert_int_equal(kt_kernel_check("/etc/passwd", &e), -ENOEXEC);
	assert_str_contains(e.msg, "not a Linux kernel image");
	assert_int_equal(kt_kernel_check("/nonexistent", &e), -ENOENT);
	/* a folder is a build tree, which must hold a kernel */
	assert_int_equal(kt_kernel_check("/tmp", &e), -ENOENT);
	assert_str_contains(e.msg, "kernel build tree '/tmp' has neither");
	if (access("/var/cache/ktpack/vmlinuz", R_OK) == 0)
		assert_int_equal(kt_kernel_check("/var/cache/ktpack/vmlinuz", NULL), 0);
}

static void test_find_program(void **state)
{
	char p[4096];
	char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

	(void)state;
	setenv("PATH", "/nonexistent:/bin", 1);
	assert_int_equal(kt_find_program("true", p, sizeof(p)), 0);
	assert_string_equal(p, "/bin/true");
	assert_int_equal(kt_find_program("no-such-program-here", p, sizeof(p)), -ENOENT);
	assert_int_equal(kt_find_program("/bin/true", p, sizeof(p)), 0);
	assert_int_equal(kt_find_program("/nonexistent/x", p, sizeof(p)), -ENOENT);
	if (old)
		setenv("PATH", old, 1);
	free(old);
}

static void test_topology_parse(void **state)
{
	static const struct {
		const char *s;
		unsigned n, l, c, t, cpus;
	} ok[] = {
		{ "2n4l4c2t", 2, 4, 4, 2, 64 }, { "2n", 2, 1, 1, 1, 2 }, { "4c2t", 1, 1, 4, 2, 8 },
		{ "1n1l1c1t", 1, 1, 1, 1, 1 }, { "3l", 1, 3, 1, 1, 3 }, { "255c", 1, 1, 255, 1, 255 },
	};
	static const char *const bad[] = {
		"", "2", "n", "2x", "2n2n", "2t2n", "0n", "2n0t", "2n ", " 2n", "1000c", "16n16c",
		"99999999999n", "-1n", "2N",
	};
	struct kt_topology t;
	struct kt_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < KT_ARRAY_SIZE(ok); i++) {
		if (kt_topology_parse(ok[i].s, &t, &e))
			fail_msg("'%s' refused: %s", ok[i].s, e.msg);
		assert_int_equal(t.nodes, ok[i].n);
		assert_int_equal(t.llcs, ok[i].l);
		assert_int_equal(t.cores, ok[i].c);
		assert_int_equal(t.threads, ok[i].t);
		assert_int_equal(kt_topology_cpus(&t), ok[i].cpus);
	}
	for (size_t i = 0; i < KT_ARRAY_SIZE(bad); i++)
		if (!kt_topology_parse(bad[i], &t, &e))
			fail_msg("'%s' taken", bad[i]);
	assert_int_equal(kt_topology_cpus(NULL), 0);
}

/* QEMU options that would size the guest behind ktpack's back are
 * refused, named with the option that does it; others pass. */
static void test_sizing_qemu_opts(void **state)
{
	static const char *const ok[] = {
		"-rtc", "base=utc", "-machine", "pc,memory-backend=m0", "-mem-prealloc", "-L", "/x",
		"-monitor", "-", "--", "-M", "q35", "-mon", "-smpx",
	};
	static const struct { const char *opt, *says; } bad[] = {
		{ "-m", "--qemu-opt -m: the guest's memory is ktpack's: use --memory or --exact-memory" },
		{ "--m", "--qemu-opt --m: the guest's memory is ktpack's" },
		{ "-m=512", "--qemu-opt -m=512: the guest's memory is ktpack's" },
		{ "-smp", "--qemu-opt -smp: the guest's CPUs are ktpack's: use --cpus or --topology" },
		{ "--smp", "use --cpus" },
		{ "-numa", "--qemu-opt -numa: the guest's NUMA nodes are ktpack's: use --topology" },
	};
	const char *v[2] = { "-rtc", NULL };
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_vm_check_qemu_opts(ok, KT_ARRAY_SIZE(ok), &e), 0);
	assert_int_equal(kt_vm_check_qemu_opts(NULL, 0, &e), 0);
	for (size_t i = 0; i < KT_ARRAY_SIZE(bad); i++) {
		v[1] = bad[i].opt;
		assert_int_equal(kt_vm_check_qemu_opts(v, 2, &e), -EINVAL);
		assert_str_contains(e.msg, bad[i].says);
	}
}

static void test_events_parse(void **state)
{
	unsigned all = (1u << KT_VM_EV_N) - 1, m = 0;
	struct kt_err e = { 0 };

	(void)state;
	assert_int_equal(kt_vm_events_parse("oom", &m, &e), 0);
	assert_int_equal(m, 1u << KT_VM_EV_OOM);
	assert_int_equal(kt_vm_events_parse("warn,hung,oom", &m, &e), 0);
	assert_int_equal(m, 1u << KT_VM_EV_WARN | 1u << KT_VM_EV_HUNG | 1u << KT_VM_EV_OOM);
	assert_int_equal(kt_vm_events_parse("all", &m, &e), 0);
	assert_int_equal(m, all);
	assert_int_equal(kt_vm_events_parse("all,oom", &m, &e), 0);
	assert_int_equal(m, all);
	assert_int_equal(kt_vm_events_parse("oom,", &m, &e), -EINVAL);
	assert_str_contains(e.msg, "an empty event name");
	assert_int_equal(kt_vm_events_parse("", &m, &e), -EINVAL);
	assert_int_equal(kt_vm_events_parse("oom,al", &m, &e), -EINVAL);
	assert_str_contains(e.msg, "'al' is not a kernel event");
	assert_string_equal(kt_vm_event_name(KT_VM_EV_STALL), "stall");
}

static void test_channel_names(void **state)
{
	enum kt_channel c;

	(void)state;
	assert_int_equal(kt_channel_parse("virtio", &c), 0);
	assert_int_equal(c, KT_CHANNEL_VIRTIO);
	assert_int_equal(kt_channel_parse("serial", &c), 0);
	assert_int_equal(c, KT_CHANNEL_SERIAL);
	assert_int_equal(kt_channel_parse("auto", &c), 0);
	assert_int_equal(c, KT_CHANNEL_AUTO);
	assert_int_equal(kt_channel_parse("ttyS1", &c), -EINVAL);
	assert_string_equal(kt_channel_name(KT_CHANNEL_SERIAL), "serial");
}

/*
 * Runs a fake QEMU whose boot prints @say on its stderr and then behaves
 * as @then (a shell command, $con the console's descriptor) under TCG,
 * with @timeout_s and @boot_timeout_s; returns what kt_vm_run() did, with
 * its message in @e and its time in *@ms.
 */
static int fake_boot_timed(const char *say, const char *then, unsigned timeout_s,
			   unsigned boot_timeout_s, struct kt_err *e, uint64_t *ms)
{
	char dir[] = "/tmp/kt-test-vm.XXXXXX", q[64], kpath[64], script[1024];
	struct kt_vm_result *res = calloc(1, sizeof(*res));
	struct kt_vm_opts o = {
		.arch = KT_ARCH_X86_64, .accel = KT_ACCEL_TCG, .initrd = "/dev/null",
		.cmdline = "quiet", .memory_mib = 64, .nonce = "0123456789abcdef", .out_fd = -1, .err_fd = -1,
		.stdin_fd = -1, .console_fd = -1, .timeout_s = timeout_s,
		.boot_timeout_s = boot_timeout_s,
	};
	uint64_t t0;
	FILE *f;
	int r, kfd;

	assert_non_null(res);
	assert_non_null(mkdtemp(dir));
	snprintf(q, sizeof(q), "%s/qemu", dir);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n[ \"$1\" = -L ] && exit 0\n"
		 "for a; do case $a in socket,id=con,fd=*) con=${a##*=};; esac; done\n"
		 "printf '%%s\\n' \"%s\" >&2\n%s\n", say, then);
	f = fopen(q, "w");
	assert_non_null(f);
	fputs(script, f);
	fclose(f);
	chmod(q, 0755);
	kfd = open("/dev/null", O_RDONLY);
	assert_true(kfd > 2);
	snprintf(kpath, sizeof(kpath), "/proc/self/fd/%d", kfd);
	o.qemu = q;
	o.kernel = kpath;
	o.kernel_fd = kfd;
	t0 = kt_now_ms();
	r = kt_vm_run(&o, res, e);
	*ms = kt_now_ms() - t0;
	close(kfd);
	kt_vm_result__release(res);
	kt_vm_result__release(res);
	free(res);
	rm_tree(dir);
	return r;
}

static int fake_boot(const char *say, const char *then, struct kt_err *e, uint64_t *ms)
{
	return fake_boot_timed(say, then, 60, 0, e, ms);
}

static void test_qemu_error_ends_the_boot(void **state)
{
	struct kt_err e;
	uint64_t ms;

	(void)state;
	/* QEMU goes on without its option ROM, and the guest hangs: its
	 * line ends the run at once */
	assert_int_equal(fake_boot("Could not open option rom 'pvh.bin': No such file or directory",
				   "exec sleep 30", &e, &ms), -EIO);
	assert_string_equal(e.msg, "QEMU failed: Could not open option rom 'pvh.bin': No such file or directory");
	assert_true(ms < 10000);
	/* a warning, and a ROM the guest boots without, do not: QEMU's exit does */
	assert_int_equal(fake_boot("qemu-system-x86_64: warning: host lacks a feature",
				   "echo \"Could not open option rom 'kvmvapic.bin': No such file\" >&2; exit 1",
				   &e, &ms), -EIO);
	assert_str_contains(e.msg, "the guest never reached /init (QEMU exited with status 1: Could not open option rom 'kvmvapic.bin'");
}

/* The timeout is the command's, as timeout(1)'s: a boot slower than it
 * is bounded by the boot's own timeout alone. */
static void test_timeout_is_the_commands(void **state)
{
	struct kt_err e;
	uint64_t ms;

	(void)state;
	assert_int_equal(fake_boot_timed("", "exec sleep 30", 1, 3, &e, &ms), -ETIMEDOUT);
	assert_string_equal(e.msg, "the guest did not reach /init within 3 s: the VM was stopped");
	assert_true(ms >= 3000 && ms < 10000);
	/* an init that never says HELLO on its channel is the boot's too */
	assert_int_equal(fake_boot_timed("", "eval \"echo ktpack-init: started >&$con\"; exec sleep 30",
					 1, 3, &e, &ms), -ETIMEDOUT);
	assert_string_equal(e.msg,
			    "the guest's init did not open its channel within 3 s of the boot: the VM was stopped");
	assert_true(ms >= 3000 && ms < 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_check),
		cmocka_unit_test(test_find_program),
		cmocka_unit_test(test_sizing_qemu_opts),
		cmocka_unit_test(test_channel_names),
		cmocka_unit_test(test_topology_parse),
		cmocka_unit_test(test_events_parse),
		cmocka_unit_test(test_qemu_error_ends_the_boot),
		cmocka_unit_test(test_timeout_is_the_commands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
