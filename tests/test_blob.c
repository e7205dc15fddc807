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
		{ "busybox", "KTSTR_BUSYBOX_PATH", "BUSYBOX", bytes, bytes + 10, 10, SHA },
		{ "wprof", "KTSTR_WPROF_PATH", "WPROF", NULL, NULL, 0, "" },
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

static void test_check_refuses_mismatch(void **state)
{
	struct kt_blob b = { "x", "KTSTR_X_PATH", "X", bytes, bytes + 10, 9, SHA };
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
		cmocka_unit_test(test_check_refuses_mismatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
