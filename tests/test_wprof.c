/* Unit tests of wprof.c: default args, the 0x1F token, refused args, the
 * memory floor and the config loader. */
#include <errno.h>
#include <stdlib.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/wprof.h>

#define A(...) ((const char *const[]){ __VA_ARGS__ })
#define N(...) (sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *))

static void test_default_args(void **state)
{
	const char *const *a;
	size_t n;

	(void)state;
	a = kt_wprof_default_args(&n);
	assert_int_equal(n, 6);
	assert_string_equal(a[0], "-d");
	assert_string_equal(a[1], "500");
	assert_string_equal(a[2], "-e");
	assert_string_equal(a[3], "sched");
	assert_string_equal(a[4], "--ringbuf-size=256000");
	assert_string_equal(a[5], "--ringbuf-cnt=8");
	assert_null(a[6]);
}

static void test_cmdline_token(void **state)
{
	const char *const *a;
	char *tok;
	size_t n;

	(void)state;
	a = kt_wprof_default_args(&n);
	assert_int_equal(kt_wprof_args_cmdline(a, n, &tok, NULL), 0);
	assert_string_equal(tok, "KTSTR_WPROF_ARGS=-d\x1f" "500\x1f-e\x1fsched\x1f"
			    "--ringbuf-size=256000\x1f--ringbuf-cnt=8");
	free(tok);

	assert_int_equal(kt_wprof_args_cmdline(A("-v"), 1, &tok, NULL), 0);
	assert_string_equal(tok, "KTSTR_WPROF_ARGS=-v");
	free(tok);
	assert_int_equal(kt_wprof_args_cmdline(NULL, 0, &tok, NULL), 0);
	assert_string_equal(tok, "KTSTR_WPROF_ARGS=");
	free(tok);
}

static void test_refused_args(void **state)
{
	static const struct { const char *arg, *why; } bad[] = {
		{ "", "is empty" },
		{ "a b", "holds whitespace" },
		{ "a\tb", "holds whitespace" },
		{ "a\nb", "holds whitespace" },
		{ "a\rb", "holds whitespace" },
		{ "a\x1f" "b", "holds the 0x1F separator" },
		{ "a\x01", "holds a control byte" },
		{ "a\x7f", "holds a control byte" },
		{ "a\"b", "holds a quote" },
		{ "a'b", "holds a quote" },
		{ "a\\b", "holds a backslash" },
	};
	struct kt_err e;
	char *tok = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = { "-d", "500", bad[i].arg };

		e.msg[0] = '\0';
		assert_int_equal(kt_wprof_args_cmdline(args, 3, &tok, &e), -EINVAL);
		assert_null(tok);
		assert_str_contains(e.msg, "wprof argument 3");
		assert_str_contains(e.msg, bad[i].why);
		assert_int_equal(kt_wprof_args_check(args, 3, NULL), -EINVAL);
	}
	/* Bytes the kernel passes through untouched are fine. */
	assert_int_equal(kt_wprof_args_check(A("--x=a,b:c/d", "-T", "/tmp/w.pb"), 3, NULL), 0);
}

static uint64_t floor_of(const char *const *a, size_t n, unsigned cpus)
{
	uint64_t mib = 0;

	assert_int_equal(kt_wprof_memory_floor_mib(a, n, cpus, &mib, NULL), 0);
	return mib;
}

static void test_floor_of_default_args(void **state)
{
	const char *const *a;
	size_t n;

	(void)state;
	a = kt_wprof_default_args(&n);
	assert_int_equal(KT_WPROF_MIN_MEMORY_MIB, 2048);
	assert_int_equal(floor_of(a, n, 1), KT_WPROF_MIN_MEMORY_MIB);
	/* An explicit --ringbuf-cnt does not depend on the CPU count. */
	assert_int_equal(floor_of(a, n, 256), KT_WPROF_MIN_MEMORY_MIB);
}

static void test_floor_units_and_rounding(void **state)
{
	(void)state;
	/* bare number: KB; 1000 KB rounds to 1024 KB */
	assert_int_equal(floor_of(A("--ringbuf-size=1000", "--ringbuf-cnt=1"), 2, 1), 1);
	assert_int_equal(floor_of(A("--ringbuf-size=4096", "--ringbuf-cnt=3"), 2, 1), 12);
	assert_int_equal(floor_of(A("--ringbuf-size=100mb", "--ringbuf-cnt=2"), 2, 1), 256);
	assert_int_equal(floor_of(A("--ringbuf-size=1GB", "--ringbuf-cnt=2"), 2, 1), 2048);
	assert_int_equal(floor_of(A("--ringbuf-size=512kb", "--ringbuf-cnt=4"), 2, 1), 2);
	/* bytes round up to a power of two, MiB round up */
	assert_int_equal(floor_of(A("--ringbuf-size=3000b", "--ringbuf-cnt=1"), 2, 1), 1);
	assert_int_equal(floor_of(A("--ringbuf-size=2097153b", "--ringbuf-cnt=1"), 2, 1), 4);
	/* the separate-value spelling, and the last one wins */
	assert_int_equal(floor_of(A("--ringbuf-size", "8mb", "--ringbuf-cnt", "2"), 4, 1), 16);
	assert_int_equal(floor_of(A("--ringbuf-size=1mb", "--ringbuf-size=2mb", "--ringbuf-cnt=1"), 3, 1), 2);
}

static void test_floor_default_count_follows_cpus(void **state)
{
	(void)state;
	/* max(4, ceil(cpus / 8)) buffers of 256 MiB */
	assert_int_equal(floor_of(A("--ringbuf-size=256000"), 1, 1), 1024);
	assert_int_equal(floor_of(A("--ringbuf-size=256000"), 1, 32), 1024);
	assert_int_equal(floor_of(A("--ringbuf-size=256000"), 1, 33), 1280);
	assert_int_equal(floor_of(A("--ringbuf-size=256000"), 1, 64), 2048);
	assert_int_equal(floor_of(A("--ringbuf-size=256000"), 1, 65), 2304);
	/* not capped at the CPU count: 2 CPUs still get 8 buffers */
	assert_int_equal(floor_of(A("--ringbuf-cnt=8", "--ringbuf-size=1mb"), 2, 2), 8);
	/* wprof's own 16 MiB default size */
	assert_int_equal(floor_of(A("-d", "100"), 2, 4), 64);
}

static void test_floor_refuses_bad_values(void **state)
{
	static const char *const bad[] = {
		"--ringbuf-size=", "--ringbuf-size=abc", "--ringbuf-size=0",
		"--ringbuf-size=12xb", "--ringbuf-size=-4", "--ringbuf-cnt=0",
		"--ringbuf-cnt=two", "--ringbuf-size=99999999999999999999",
		"--ringbuf-size=17179869184gb",
	};
	struct kt_err e;
	uint64_t mib;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.msg[0] = '\0';
		assert_int_equal(kt_wprof_memory_floor_mib(&bad[i], 1, 4, &mib, &e), -EINVAL);
		assert_str_contains(e.msg, bad[i]);
	}
	assert_int_equal(kt_wprof_memory_floor_mib(A("--ringbuf-size"), 1, 4, &mib, &e), -EINVAL);
	assert_str_contains(e.msg, "needs a value");
	assert_int_equal(kt_wprof_memory_floor_mib(A("-d", "1"), 2, 0, &mib, NULL), -EINVAL);
	/* a product that overflows */
	assert_int_equal(kt_wprof_memory_floor_mib(A("--ringbuf-size=8589934592gb",
						     "--ringbuf-cnt=18446744073709551615"),
						   2, 4, &mib, NULL), -ERANGE);
}

static void test_apply_floor(void **state)
{
	(void)state;
	assert_int_equal(kt_apply_wprof_memory_floor(256, 2048), 2048);
	assert_int_equal(kt_apply_wprof_memory_floor(4096, 2048), 4096);
	assert_int_equal(kt_apply_wprof_memory_floor(2048, 2048), 2048);
	assert_int_equal(kt_apply_wprof_memory_floor(256, 0), 256);
}

static void test_duration(void **state)
{
	uint64_t ms;

	(void)state;
	assert_int_equal(kt_wprof_duration_ms(A("-e", "sched"), 2, &ms, NULL), 0);
	assert_int_equal(ms, 1000);
	assert_int_equal(kt_wprof_duration_ms(A("-d", "500"), 2, &ms, NULL), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(kt_wprof_duration_ms(A("-d250"), 1, &ms, NULL), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(kt_wprof_duration_ms(A("--dur-ms=75"), 1, &ms, NULL), 0);
	assert_int_equal(ms, 75);
	assert_int_equal(kt_wprof_duration_ms(A("--dur-ms", "80"), 2, &ms, NULL), 0);
	assert_int_equal(ms, 80);
	assert_int_equal(kt_wprof_duration_ms(A("-d"), 1, &ms, NULL), -EINVAL);
	assert_int_equal(kt_wprof_duration_ms(A("-d", "0"), 2, &ms, NULL), -EINVAL);
	assert_int_equal(kt_wprof_duration_ms(A("-d", "1s"), 2, &ms, NULL), -EINVAL);
}

static void test_from_env(void **state)
{
	struct kt_wprof_config *c = NULL;
	const char *const *a;
	struct kt_err e;
	size_t n;

	(void)state;
	unsetenv(KT_WPROF_PATH_ENV);
	assert_int_equal(kt_wprof_config__from_env(&c, &e), -ENOENT);
	assert_null(c);
	assert_str_contains(e.msg, "KTSTR_WPROF_PATH is not set");
	assert_str_contains(e.msg, "set it to a wprof binary");
	setenv(KT_WPROF_PATH_ENV, "", 1);
	assert_int_equal(kt_wprof_config__from_env(&c, NULL), -ENOENT);

	setenv(KT_WPROF_PATH_ENV, "/opt/wprof", 1);
	assert_int_equal(kt_wprof_config__from_env(&c, NULL), 0);
	assert_string_equal(kt_wprof_config__path(c), "/opt/wprof");
	a = kt_wprof_config__args(c, &n);
	assert_int_equal(n, 6);
	assert_string_equal(a[4], "--ringbuf-size=256000");

	assert_int_equal(kt_wprof_config__set_args(c, A("-d", "a b"), 2, &e), -EINVAL);
	a = kt_wprof_config__args(c, &n);
	assert_int_equal(n, 6);	/* unchanged on error */
	assert_int_equal(kt_wprof_config__set_args(c, A("-d", "100"), 2, NULL), 0);
	a = kt_wprof_config__args(c, &n);
	assert_int_equal(n, 2);
	assert_string_equal(a[1], "100");
	assert_null(a[2]);
	kt_wprof_config__free(c);
	kt_wprof_config__free(NULL);
	unsetenv(KT_WPROF_PATH_ENV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_args),
		cmocka_unit_test(test_cmdline_token),
		cmocka_unit_test(test_refused_args),
		cmocka_unit_test(test_floor_of_default_args),
		cmocka_unit_test(test_floor_units_and_rounding),
		cmocka_unit_test(test_floor_default_count_follows_cpus),
		cmocka_unit_test(test_floor_refuses_bad_values),
		cmocka_unit_test(test_apply_floor),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_from_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
