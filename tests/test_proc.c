/* Unit tests of proc.c and qemu.c: QEMU's data folders as -L help lists
 * them, the firmware a boot path needs and the message naming what is
 * missing, a modular QEMU's TCG module, and a program run to its end or
 * to its deadline.  Fake QEMUs are shell scripts written here. */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/kt-test-qemu.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(root);
}

static void put(const char *rel, const char *text, size_t len, mode_t mode)
{
	char path[256], cmd[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* A QEMU at ROOT/PREFIX/bin/qemu whose -L help lists ROOT/PREFIX/share/qemu
 * and ROOT/PREFIX/share/seabios; @modular adds its TCG module to its
 * module table (after the script's exit, as in a binary). */
static void fake_qemu(const char *prefix, bool modular, char *path, size_t sz)
{
	char text[1024], rel[128];
	int n;

	n = snprintf(text, sizeof(text),
		     "#!/bin/sh\n[ \"$1 $2\" = \"-L help\" ] || exit 1\n"
		     "echo %s/%s/share/qemu\necho %s/%s/share/seabios\nexit 0\n",
		     root, prefix, root, prefix);
	if (modular) {
		memcpy(text + n, "\0accel-tcg-x86_64\0", 18);
		n += 18;
	}
	snprintf(rel, sizeof(rel), "%s/bin/qemu", prefix);
	put(rel, text, (size_t)n, 0755);
	snprintf(path, sz, "%s/%s", root, rel);
}

static void test_firmware_of_each_boot_path(void **state)
{
	struct kt_qemu_facts f;
	struct kt_err e;
	char q[256], where[PATH_MAX];

	(void)state;
	fake_qemu("p", false, q, sizeof(q));
	put("p/share/seabios/bios-256k.bin", "b", 1, 0644);
	put("p/share/qemu/linuxboot_dma.bin", "l", 1, 0644);
	assert_int_equal(kt_qemu_inspect(q, KT_ARCH_X86_64, NULL, 0, &f, &e), 0);
	assert_int_equal(f.ndatadir, 2);
	assert_false(f.tcg_modular);
	assert_int_equal(kt_qemu_find_firmware(&f, "bios-256k.bin", where, sizeof(where)), 0);
	assert_str_contains(where, "/p/share/seabios/bios-256k.bin");
	/* a bzImage boots; a vmlinux through PVH misses pvh.bin, named with
	 * its package and where QEMU looks */
	assert_int_equal(kt_qemu_check_boot(&f, KT_ARCH_X86_64, false, true, &e), 0);
	assert_int_equal(kt_qemu_check_boot(&f, KT_ARCH_X86_64, true, true, &e), -ENOENT);
	assert_str_contains(e.msg, "QEMU's firmware is missing: pvh.bin (Debian: qemu-system-data);");
	assert_str_contains(e.msg, "/p/share/qemu, ");
	/* kvmvapic.bin, which the guest boots without, is not asked for */
	assert_null(strstr(e.msg, "kvmvapic"));
	/* the caller's -L comes first */
	{
		char extra[128];
		const char *opts[] = { "-L", extra };

		snprintf(extra, sizeof(extra), "%s/mine", root);
		put("mine/pvh.bin", "p", 1, 0644);
		assert_int_equal(kt_qemu_inspect(q, KT_ARCH_X86_64, opts, 2, &f, &e), 0);
		assert_int_equal(f.ndatadir, 3);
		assert_string_equal(f.datadir[0], extra);
		assert_int_equal(kt_qemu_check_boot(&f, KT_ARCH_X86_64, true, true, &e), 0);
	}
	/* an arm64 guest needs none */
	assert_int_equal(kt_qemu_check_boot(&f, KT_ARCH_AARCH64, true, true, &e), 0);
}

static void test_a_qemu_that_lists_nothing_is_not_judged(void **state)
{
	struct kt_qemu_facts f;
	struct kt_err e;
	char q[256];

	(void)state;
	put("old/qemu", "#!/bin/sh\nexit 1\n", 17, 0755);
	snprintf(q, sizeof(q), "%s/old/qemu", root);
	assert_int_equal(kt_qemu_inspect(q, KT_ARCH_X86_64, NULL, 0, &f, NULL), 0);
	assert_int_equal(f.ndatadir, 0);
	assert_int_equal(kt_qemu_check_boot(&f, KT_ARCH_X86_64, true, true, NULL), 0);
	/* one that cannot be run at all is said as such (not blamed on KVM) */
	put("old/broken", "#!/nonexistent/sh\n", 18, 0755);
	snprintf(q, sizeof(q), "%s/old/broken", root);
	assert_int_equal(kt_qemu_inspect(q, KT_ARCH_X86_64, NULL, 0, &f, &e), -ENOEXEC);
	assert_str_contains(e.msg, "QEMU cannot run ");
	assert_str_contains(e.msg, "/old/broken: No such file or directory");
}

static void test_tcg_module(void **state)
{
	struct kt_qemu_facts f;
	struct kt_err e;
	char q[256], mod[256];

	(void)state;
	fake_qemu("m", true, q, sizeof(q));
	put("m/share/seabios/bios-256k.bin", "b", 1, 0644);
	put("m/share/qemu/pvh.bin", "p", 1, 0644);
	unsetenv("QEMU_MODULE_DIR");
	assert_int_equal(kt_qemu_inspect(q, KT_ARCH_X86_64, NULL, 0, &f, &e), 0);
	assert_true(f.tcg_modular);
	assert_string_equal(f.tcg_module, "");
	/* missing: an error only when TCG runs */
	assert_int_equal(kt_qemu_check_boot(&f, KT_ARCH_X86_64, true, false, &e), 0);
	assert_int_equal(kt_qemu_check_boot(&f, KT_ARCH_X86_64, true, true, &e), -ENOENT);
	assert_str_contains(e.msg, "QEMU's TCG module accel-tcg-x86_64.so is missing (looked in ");
	assert_str_contains(e.msg, "/m/lib/x86_64-linux-gnu/qemu");
	assert_str_contains(e.msg, "Debian: qemu-system-common)");
	/* where Debian's build puts it, beside the program */
	put("m/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so", "so", 2, 0644);
	assert_int_equal(kt_qemu_inspect(q, KT_ARCH_X86_64, NULL, 0, &f, &e), 0);
	assert_str_contains(f.tcg_module, "/m/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so");
	assert_int_equal(kt_qemu_check_boot(&f, KT_ARCH_X86_64, true, true, &e), 0);
	/* QEMU_MODULE_DIR first */
	snprintf(mod, sizeof(mod), "%s/env", root);
	put("env/accel-tcg-x86_64.so", "so", 2, 0644);
	setenv("QEMU_MODULE_DIR", mod, 1);
	assert_int_equal(kt_qemu_inspect(q, KT_ARCH_X86_64, NULL, 0, &f, &e), 0);
	assert_str_contains(f.tcg_module, "/env/accel-tcg-x86_64.so");
	unsetenv("QEMU_MODULE_DIR");
	/* an aarch64 QEMU whose table has no aarch64 TCG module has it built in */
	assert_int_equal(kt_qemu_inspect(q, KT_ARCH_AARCH64, NULL, 0, &f, &e), 0);
	assert_false(f.tcg_modular);
}

static void test_capture(void **state)
{
	char *ok[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	char *slow[] = { "/bin/sleep", "10", NULL };
	char buf[8], errs[8];
	volatile sig_atomic_t one = 1;
	struct kt_stop stop = { .stop = &one };
	struct kt_capture c = {
		.timeout_ms = 5000, .out = buf, .outsz = sizeof(buf), .errs = errs,
		.errsz = sizeof(errs),
	};

	(void)state;
	assert_int_equal(kt_proc_capture(ok, &c), 0);
	assert_string_equal(buf, "out\n");
	assert_string_equal(errs, "err\n");
	assert_true(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 3);
	/* cut to the buffer, NUL-terminated */
	c.errsz = 0;
	assert_int_equal(kt_proc_capture((char *[]){ "/bin/echo", "0123456789", NULL }, &c), 0);
	assert_string_equal(buf, "0123456");
	c.timeout_ms = 200;
	assert_int_equal(kt_proc_capture(slow, &c), -ETIMEDOUT);
	/* a stop ends it too */
	c.timeout_ms = 5000;
	c.stop = &stop;
	assert_int_equal(kt_proc_capture(slow, &c), -EINTR);
}

static void test_version(void **state)
{
	char q[256], v[64];

	(void)state;
	put("v/qemu", "#!/bin/sh\necho 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)'\n", 68, 0755);
	snprintf(q, sizeof(q), "%s/v/qemu", root);
	assert_int_equal(kt_qemu_version(q, v, sizeof(v)), 0);
	assert_string_equal(v, "7.2.22");
	put("v/bad", "#!/bin/sh\necho hello\n", 22, 0755);
	snprintf(q, sizeof(q), "%s/v/bad", root);
	assert_int_equal(kt_qemu_version(q, v, sizeof(v)), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_firmware_of_each_boot_path),
		cmocka_unit_test(test_a_qemu_that_lists_nothing_is_not_judged),
		cmocka_unit_test(test_tcg_module),
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_version),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
