/* Unit tests of common.c: number parsing, argument splitting, I/O loops. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "unit.h"
#include "common.h"

static void test_parse_u64(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(kt_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(kt_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(kt_parse_u64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(kt_parse_u64("", &v), -EINVAL);
	assert_int_equal(kt_parse_u64("-1", &v), -EINVAL);
	assert_int_equal(kt_parse_u64("+1", &v), -EINVAL);
	assert_int_equal(kt_parse_u64(" 1", &v), -EINVAL);
	assert_int_equal(kt_parse_u64("12k", &v), -EINVAL);
	assert_int_equal(kt_parse_u64(NULL, &v), -EINVAL);
}

static void test_split_ws(void **state)
{
	char **v;
	size_t n;

	(void)state;
	assert_int_equal(kt_split_ws("  -d 500\t-e\nsched  ", &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0], "-d");
	assert_string_equal(v[1], "500");
	assert_string_equal(v[2], "-e");
	assert_string_equal(v[3], "sched");
	assert_null(v[4]);
	kt_strv_free(v);

	assert_int_equal(kt_split_ws("   ", &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v[0]);
	kt_strv_free(v);
	kt_strv_free(NULL);
}

static void test_err_set(void **state)
{
	struct kt_err e = { 0 };

	(void)state;
	assert_int_equal(kt_err_set(&e, -ENOENT, "cannot open '%s'", "x"), -ENOENT);
	assert_int_equal(e.code, -ENOENT);
	assert_string_equal(e.msg, "cannot open 'x'");
	assert_int_equal(kt_err_set(NULL, -EIO, "ignored"), -EIO);
}

static void test_snprintf_truncation(void **state)
{
	char buf[4];

	(void)state;
	assert_int_equal(kt_snprintf(buf, sizeof(buf), "%s", "abc"), 0);
	assert_int_equal(kt_snprintf(buf, sizeof(buf), "%s", "abcd"), -ENAMETOOLONG);
}

static void test_write_read_loops(void **state)
{
	char path[] = "/tmp/kt-test-common.XXXXXX", buf[16] = { 0 };
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(kt_write_all(fd, "hello", 5), 0);
	assert_int_equal(kt_pwrite_all(fd, "J", 1, 0), 0);
	assert_int_equal(kt_pread_full(fd, buf, sizeof(buf), 0), 5);
	assert_string_equal(buf, "Jello");
	close(fd);
	assert_int_equal(kt_write_all(fd, "x", 1), -EBADF);
}

static void test_path_normalize(void **state)
{
	static const struct { const char *in, *out; } ok[] = {
		{ "/a/./b//../c", "/a/c" }, { "/", "/" }, { "/..", "/" },
		{ "/a/b/", "/a/b" }, { "//a", "/a" }, { "/a/b/../../..", "/" },
	};
	char buf[64], tiny[4];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(kt_path_normalize(ok[i].in, buf, sizeof(buf), false), 0);
		assert_string_equal(buf, ok[i].out);
	}
	assert_int_equal(kt_path_normalize("/a/../b", buf, sizeof(buf), true), -EINVAL);
	assert_int_equal(kt_path_normalize("/a/./b", buf, sizeof(buf), true), 0);
	assert_string_equal(buf, "/a/b");
	assert_int_equal(kt_path_normalize("/abcd", tiny, sizeof(tiny), false), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_split_ws),
		cmocka_unit_test(test_err_set),
		cmocka_unit_test(test_snprintf_truncation),
		cmocka_unit_test(test_write_read_loops),
		cmocka_unit_test(test_path_normalize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
