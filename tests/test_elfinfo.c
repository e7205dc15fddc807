/* Unit tests of elfinfo.c: the loader's view of real ELF files, and
 * truncated or corrupted ones (run under ASan too: no crash, no overread). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/elfinfo.h>

static void test_reads_this_program(void **state)
{
	struct kt_elf_info *i = NULL;
	bool libc = false;

	(void)state;
	assert_int_equal(kt_elf_info__read("/proc/self/exe", &i, NULL), 0);
	assert_int_equal(i->ei_class, ELFCLASS64);
	assert_int_equal(i->machine, EM_X86_64);
	assert_true(i->dynamic);
	assert_non_null(i->interp);
	assert_string_equal(i->interp, "/lib64/ld-linux-x86-64.so.2");
	for (size_t k = 0; k < i->nneeded; k++)
		libc |= !strcmp(i->needed[k], "libc.so.6");
	assert_true(libc);
	assert_null(i->needed[i->nneeded]);
	kt_elf_info__free(i);
}

static void test_reads_a_library(void **state)
{
	struct kt_elf_info *i = NULL;

	(void)state;
	assert_int_equal(kt_elf_info__read("/lib/x86_64-linux-gnu/libz.so.1", &i, NULL), 0);
	assert_int_equal(i->type, ET_DYN);
	assert_null(i->interp);
	assert_string_equal(i->soname, "libz.so.1");
	kt_elf_info__free(i);
}

static void test_not_elf(void **state)
{
	struct kt_elf_info *i = NULL;
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_elf_info__read("/etc/passwd", &i, &e), -ENOEXEC);
	assert_string_equal(e.msg, "'/etc/passwd': not an ELF file");
	assert_int_equal(kt_elf_info__read("/tmp", &i, &e), -ENOEXEC);
	assert_str_contains(e.msg, "not a regular file");
	assert_int_equal(kt_elf_info__read("/nonexistent", &i, &e), -ENOENT);
	assert_str_contains(e.msg, "cannot open '/nonexistent'");
	assert_int_equal(kt_elf_info__parse("", 0, "empty", &i, NULL), -ENOEXEC);
	assert_null(i);
}

static void test_truncated(void **state)
{
	size_t len, ok = 0;
	unsigned char *buf = slurp("/bin/true", &len);

	(void)state;
	/* Every prefix length over the headers, then coarser. */
	for (size_t n = 0; n < len; n += n < 8192 ? 1 : 997) {
		struct kt_elf_info *i = NULL;
		unsigned char *copy = malloc(n ? n : 1);
		int r;

		memcpy(copy, buf, n);
		r = kt_elf_info__parse(copy, n, "t", &i, NULL);
		assert_true(r == 0 || r == -EINVAL || r == -ENOEXEC);
		if (!r) {
			ok++;
			kt_elf_info__free(i);
		}
		free(copy);
	}
	(void)ok;
	free(buf);
}

static void test_corrupt(void **state)
{
	size_t len;
	unsigned char *buf = slurp("/bin/true", &len);
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 3000; round++) {
		unsigned char *copy = malloc(len);
		struct kt_elf_info *i = NULL;
		int r;

		memcpy(copy, buf, len);
		for (int k = 0; k < 1 + round % 8; k++) {
			seed = seed * 1103515245u + 12345u;
			/* most flips in the first 16 KiB: headers and .dynamic */
			copy[(seed >> 8) % (len < 16384 ? len : 16384)] ^= (unsigned char)(seed >> 24 | 1);
		}
		r = kt_elf_info__parse(copy, len, "c", &i, NULL);
		assert_true(r == 0 || r == -EINVAL || r == -ENOEXEC);
		kt_elf_info__free(i);
		free(copy);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_this_program),
		cmocka_unit_test(test_reads_a_library),
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
