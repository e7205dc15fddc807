/* Unit tests of vm.c that need no VM: the kernel check, the program
 * lookup, the accelerator and channel names. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

static void test_accel(void **state)
{
	enum kt_accel a;

	(void)state;
	assert_int_equal(kt_accel_parse("kvm", &a), 0);
	assert_int_equal(a, KT_ACCEL_KVM);
	assert_int_equal(kt_accel_parse("tcg", &a), 0);
	assert_int_equal(a, KT_ACCEL_TCG);
	assert_int_equal(kt_accel_parse("auto", &a), 0);
	assert_int_equal(kt_accel_parse("hvf", &a), -EINVAL);
	assert_string_equal(kt_accel_name(KT_ACCEL_TCG), "TCG");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_check),
		cmocka_unit_test(test_find_program),
		cmocka_unit_test(test_accel),
		cmocka_unit_test(test_channel_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
