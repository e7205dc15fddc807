/* Unit tests of blob.c: table lookups and the build-time consistency check. */
#include <errno.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/blob.h>

static const unsigned char bytes[] = "0123456789";
#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_find(void **state)
{
	const struct kt_blob blobs[] = {
		{ "busybox", "KTSTR_BUSYBOX_PATH", "BUSYBOX", bytes, bytes + 10, 10, SHA, NULL },
		{ "wprof", "KTSTR_WPROF_PATH", "WPROF", NULL, NULL, 0, "", NULL },
	};
	const struct kt_blob_table t = { blobs, 2 };

	(void)state;
	assert_ptr_equal(kt_blob_table__find(&t, "wprof"), &blobs[1]);
	assert_ptr_equal(kt_blob_table__find_env(&t, "KTSTR_BUSYBOX_PATH"), &blobs[0]);
	errno = 0;
	assert_null(kt_blob_table__find(&t, "nope"));
	assert_int_equal(errno, ENOENT);
	assert_null(kt_blob_table__find_env(&t, "KTSTR_NOPE_PATH"));
	assert_true(kt_blob__embedded(&blobs[0]));
	assert_false(kt_blob__embedded(&blobs[1]));
	assert_int_equal(kt_blob_table__check(&t), 0);
}

/* Two slots of one name: this machine's (a table without the field
 * included) and aarch64's; an ELF blob's architecture is its header's. */
static void test_find_arch(void **state)
{
	static unsigned char arm[64] = "\x7f" "ELF\x02\x01\x01";
	const struct kt_blob blobs[] = {
		{ "wprof", "-", "WPROF_ARM64", arm, arm + 64, 64, SHA, "aarch64" },
		{ "wprof", "KTSTR_WPROF_PATH", "WPROF", bytes, bytes + 10, 10, SHA, "" },
		{ "busybox", "-", "BUSYBOX_ARM64", NULL, NULL, 0, "", "arm64" },
		{ "init", "-", "INIT_RISCV", NULL, NULL, 0, "", "riscv64" },
	};
	const struct kt_blob_table t = { blobs, 4 };
	enum kt_arch other = kt_arch_native() == KT_ARCH_AARCH64 ? KT_ARCH_X86_64 : KT_ARCH_AARCH64;

	(void)state;
	arm[18] = 183;	/* EM_AARCH64 */
	assert_ptr_equal(kt_blob_table__find(&t, "wprof"),
			 kt_arch_native() == KT_ARCH_AARCH64 ? &blobs[0] : &blobs[1]);
	assert_ptr_equal(kt_blob_table__find_arch(&t, "wprof", KT_ARCH_NONE),
			 kt_blob_table__find(&t, "wprof"));
	assert_ptr_equal(kt_blob_table__find_arch(&t, "wprof", KT_ARCH_AARCH64), &blobs[0]);
	assert_ptr_equal(kt_blob_table__find_arch(&t, "busybox", KT_ARCH_AARCH64), &blobs[2]);
	errno = 0;
	assert_null(kt_blob_table__find_arch(&t, "busybox", KT_ARCH_X86_64));
	assert_int_equal(errno, ENOENT);
	/* a slot of an architecture this library does not know is no one's */
	assert_null(kt_blob_table__find_arch(&t, "init", other));
	assert_null(kt_blob_table__find_arch(&t, "init", kt_arch_native()));
	assert_int_equal(kt_blob__arch(&blobs[0]), KT_ARCH_AARCH64);
	assert_int_equal(kt_blob__arch(&blobs[1]), kt_arch_native());	/* not ELF */
	assert_int_equal(kt_blob__arch(&blobs[2]), KT_ARCH_AARCH64);	/* empty */
	/* the header wins over the slot: an x86-64 ELF in an aarch64 slot */
	arm[18] = 62;
	assert_int_equal(kt_blob__arch(&blobs[0]), KT_ARCH_X86_64);
	assert_int_equal(kt_blob_table__check(&t), 0);
}

/* Names, aliases and ELF machines of the architectures. */
static void test_arch(void **state)
{
	enum kt_arch a;

	(void)state;
	assert_int_equal(kt_arch_parse("arm64", &a), 0);
	assert_int_equal(a, KT_ARCH_AARCH64);
	assert_int_equal(kt_arch_parse("AArch64", &a), 0);
	assert_int_equal(a, KT_ARCH_AARCH64);
	assert_int_equal(kt_arch_parse("amd64", &a), 0);
	assert_int_equal(a, KT_ARCH_X86_64);
	assert_int_equal(kt_arch_parse("x86-64", &a), 0);
	assert_int_equal(a, KT_ARCH_X86_64);
	assert_int_equal(kt_arch_parse("riscv64", &a), -EINVAL);
	assert_int_equal(kt_arch_parse("", &a), -EINVAL);
	assert_int_equal(kt_arch_parse("none", &a), -EINVAL);
	assert_string_equal(kt_arch_name(KT_ARCH_AARCH64), "aarch64");
	assert_string_equal(kt_arch_name(KT_ARCH_X86_64), "x86_64");
	assert_string_equal(kt_arch_name((enum kt_arch)99), "none");
	assert_int_equal(kt_arch_elf_machine(KT_ARCH_AARCH64), 183);
	assert_int_equal(kt_arch_of_elf_machine(62), KT_ARCH_X86_64);
	assert_int_equal(kt_arch_of_elf_machine(0), KT_ARCH_NONE);
	assert_int_equal(kt_arch_of_elf("\x7f" "ELF\x02\x02\x01", 7, &a), -ENOEXEC);
	assert_int_equal(kt_arch_of_elf("\x7f" "ELF\x02\x02\x01\0\0\0\0\0\0\0\0\0\0\0\0\xb7", 20, &a), 0);
	assert_int_equal(a, KT_ARCH_AARCH64);	/* big-endian EI_DATA */
	assert_int_equal(kt_arch_or_native(KT_ARCH_NONE), kt_arch_native());
	assert_non_null(kt_arch_info(KT_ARCH_AARCH64));
	assert_string_equal(kt_arch_info(KT_ARCH_AARCH64)->qemu, "qemu-system-aarch64");
	assert_false(kt_arch_info(KT_ARCH_AARCH64)->serial_channel);
}

static void test_check_refuses_mismatch(void **state)
{
	struct kt_blob b = { "x", "KTSTR_X_PATH", "X", bytes, bytes + 10, 9, SHA, NULL };
	const struct kt_blob_table t = { &b, 1 };

	(void)state;
	assert_int_equal(kt_blob_table__check(&t), -EINVAL);	/* size */
	b.size = 10;
	b.sha256 = "0123";
	assert_int_equal(kt_blob_table__check(&t), -EINVAL);	/* digest */
	b.sha256 = SHA;
	b.end = bytes;
	assert_int_equal(kt_blob_table__check(&t), -EINVAL);
	b.start = NULL;
	b.end = NULL;
	assert_int_equal(kt_blob_table__check(&t), -EINVAL);	/* empty with size */
	b.size = 0;
	b.sha256 = "";
	assert_int_equal(kt_blob_table__check(&t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_find_arch),
		cmocka_unit_test(test_arch),
		cmocka_unit_test(test_check_refuses_mismatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
