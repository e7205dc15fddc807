/* Unit tests of vmconfig.c: memory derivation and the kernel command line. */
#include <errno.h>
#include <stdlib.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/vmconfig.h>
#include <ktpack/wprof.h>

static uint64_t derive(unsigned cpus, uint64_t req, uint64_t floor,
		       uint64_t over, bool *below)
{
	struct kt_memory_opts o = {
		.cpus = cpus, .requested_mib = req,
		.wprof_floor_mib = floor, .override_mib = over,
	};
	uint64_t mib = 0;

	assert_int_equal(kt_derive_test_memory_mib(&o, &mib, below, NULL), 0);
	return mib;
}

static void test_derive(void **state)
{
	bool below = true;

	(void)state;
	assert_int_equal(derive(1, 0, 0, 0, NULL), 256);
	assert_int_equal(derive(4, 0, 0, 0, NULL), 256);
	assert_int_equal(derive(5, 0, 0, 0, NULL), 320);
	assert_int_equal(derive(8, 1000, 0, 0, NULL), 1000);
	assert_int_equal(derive(64, 1000, 0, 0, NULL), 4096);
	/* the wprof floor comes last */
	assert_int_equal(derive(2, 0, KT_WPROF_MIN_MEMORY_MIB, 0, &below), 2048);
	assert_false(below);
	assert_int_equal(derive(2, 3000, KT_WPROF_MIN_MEMORY_MIB, 0, NULL), 3000);
	assert_int_equal(derive(64, 0, KT_WPROF_MIN_MEMORY_MIB, 0, NULL), 4096);
}

static void test_override(void **state)
{
	bool below = false;

	(void)state;
	assert_int_equal(derive(64, 9000, 0, 100, &below), 100);
	assert_false(below);
	assert_int_equal(derive(2, 0, KT_WPROF_MIN_MEMORY_MIB, 1024, &below), 1024);
	assert_true(below);
	assert_int_equal(derive(2, 0, KT_WPROF_MIN_MEMORY_MIB, 4096, &below), 4096);
	assert_false(below);
}

static void test_derive_errors(void **state)
{
	struct kt_memory_opts o = { 0 };
	struct kt_err e;
	uint64_t mib;

	(void)state;
	assert_int_equal(kt_derive_test_memory_mib(&o, &mib, NULL, &e), -EINVAL);
	assert_str_contains(e.msg, "CPU count");
	/* cpus * 64 cannot overflow a u64 for any unsigned CPU count */
	o.cpus = UINT32_MAX;
	assert_int_equal(kt_derive_test_memory_mib(&o, &mib, NULL, NULL), 0);
	assert_true(mib == (uint64_t)UINT32_MAX * 64);
}

static void test_cmdline(void **state)
{
	const char *toks[] = { "KTSTR_WPROF_ARGS=-d\x1f" "1", "quiet" };
	char big[KT_CMDLINE_MAX];
	const char *bigtok[] = { big };
	struct kt_err e;
	char *s = NULL;

	(void)state;
	assert_int_equal(kt_vm_cmdline(KT_VM_BASE_CMDLINE, toks, 2, &s, NULL), 0);
	assert_string_equal(s, KT_VM_BASE_CMDLINE " KTSTR_WPROF_ARGS=-d\x1f" "1 quiet");
	free(s);
	assert_int_equal(kt_vm_cmdline("", toks + 1, 1, &s, NULL), 0);
	assert_string_equal(s, "quiet");
	free(s);

	/* exactly at the limit fits; one more byte does not */
	memset(big, 'x', sizeof(big));
	big[KT_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(kt_vm_cmdline("", bigtok, 1, &s, NULL), 0);
	assert_int_equal(strlen(s), KT_CMDLINE_MAX - 1);
	free(s);
	s = NULL;
	assert_int_equal(kt_vm_cmdline("a", bigtok, 1, &s, &e), -E2BIG);
	assert_null(s);
	assert_str_contains(e.msg, "limit of 2047");
}

/* Sizes: a bare number is MiB for memory, bytes for a byte count; K
 * rounds up to whole MiB only for memory. */
static void test_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(kt_parse_size("1K", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(kt_parse_size("2000", &v), 0);
	assert_int_equal(v, 2000);
	assert_int_equal(kt_parse_size("3mib", &v), 0);
	assert_int_equal(v, 3ULL << 20);
	assert_int_equal(kt_parse_size("1T", &v), 0);
	assert_int_equal(v, 1ULL << 40);
	assert_int_equal(kt_parse_size("", &v), -EINVAL);
	assert_int_equal(kt_parse_size("1Q", &v), -EINVAL);
	assert_int_equal(kt_parse_size("-1", &v), -EINVAL);
	assert_int_equal(kt_parse_size("99999999999T", &v), -ERANGE);
	assert_int_equal(kt_parse_size_mib("1K", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(kt_parse_size_mib("2000", &v), 0);
	assert_int_equal(v, 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_derive_errors),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_cmdline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
