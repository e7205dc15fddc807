/* Unit tests of common.c: number parsing, argument splitting, I/O loops. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"

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

/* Guest text on a terminal: UTF-8 kept, controls of any kind replaced. */
static void test_printable(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		bool lines;
		const char *out;
	} cases[] = {
		{ "plain caf\xc3\xa9 \xe2\x82\xac", 0, false, "plain caf\xc3\xa9 \xe2\x82\xac" },
		{ "\x1b[2J\x07", 0, false, "?[2J?" },
		{ "csi \xc2\x9b" "31m", 0, false, "csi ?31m" },	/* C1, as UTF-8 */
		{ "raw \x9b" "31m", 0, false, "raw ?31m" },		/* C1, as a byte */
		{ "a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xd8\x9c", 0, false, "a?b?c?" },	/* bidi */
		{ "nul\0x", 5, false, "nul?x" },
		{ "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80", 0, false, "?? ??? ????" },
		{ "cut \xe2\x82", 0, false, "cut ??" },
		{ "l1\r\nl2\tx\n", 0, true, "l1\nl2\tx\n" },
		{ "l1\r\nl2\tx", 0, false, "l1??l2?x" },
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < KT_ARRAY_SIZE(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);

		kt_printable(out, sizeof(out), cases[i].in, len, cases[i].lines);
		if (strcmp(out, cases[i].out))
			fail_msg("case %zu: '%s', want '%s'", i, out, cases[i].out);
	}
	/* a character is never cut by a short buffer */
	assert_int_equal(kt_printable(out, 4, "ab\xc3\xa9", 4, false), 2);
	assert_string_equal(out, "ab");
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

static void test_copy_fd(void **state)
{
	/* the same file system, and across (tmpfs, when /dev/shm is one) */
	static const char *const dsts[] = { "/tmp/kt-test-copy.XXXXXX",
					    "/dev/shm/kt-test-copy.XXXXXX" };
	char src[] = "/tmp/kt-test-copy-src.XXXXXX", buf[70000], back[70001];
	int in = mkstemp(src);

	(void)state;
	assert_true(in >= 0);
	unlink(src);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 13);
	assert_int_equal(kt_write_all(in, buf, sizeof(buf)), 0);
	for (size_t k = 0; k < 2; k++) {
		char dst[64];
		int out;

		snprintf(dst, sizeof(dst), "%s", dsts[k]);
		out = mkstemp(dst);
		if (out < 0)
			continue;
		unlink(dst);
		assert_int_equal(lseek(in, 0, SEEK_SET), 0);
		assert_int_equal(kt_copy_fd(in, out, sizeof(buf)), 0);
		assert_int_equal(kt_pread_full(out, back, sizeof(back), 0), sizeof(buf));
		assert_memory_equal(back, buf, sizeof(buf));
		/* the source ends before the size given */
		assert_int_equal(lseek(in, 0, SEEK_SET), 0);
		assert_int_equal(kt_copy_fd(in, out, sizeof(buf) + 1), -EIO);
		close(out);
	}
	close(in);
}

/* kt_open_host resolves as the kernel does, from descriptors: links
 * (relative, absolute, before a ".."), the folder it ends in; a FIFO is
 * refused without being opened (an open would wait for a writer), a loop
 * is ELOOP; @real has every link resolved. */
static void test_open_host(void **state)
{
	char dir[] = "/tmp/kt-test-openhost.XXXXXX", p[128], q[128], real[PATH_MAX], cwd[PATH_MAX];
	struct kt_err e;
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(q, sizeof(q), "%s/d", dir);
	assert_int_equal(mkdir(q, 0755), 0);
	snprintf(p, sizeof(p), "%s/d/sub", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/d/sub/f", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_int_equal(kt_write_all(fd, "f", 1), 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/rel", dir);
	assert_int_equal(symlink("d/sub", p), 0);
	snprintf(p, sizeof(p), "%s/abs", dir);
	snprintf(q, sizeof(q), "%s/d/sub/f", dir);
	assert_int_equal(symlink(q, p), 0);

	/* through a relative link, then ".." of where it led */
	snprintf(p, sizeof(p), "%s/rel/../sub/./f", dir);
	assert_int_equal(kt_open_host(p, "read", &fd, &st, real, sizeof(real), &e), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_string_equal(real, q);
	close(fd);
	snprintf(p, sizeof(p), "%s/abs", dir);
	assert_int_equal(kt_open_host(p, "read", &fd, &st, real, sizeof(real), &e), 0);
	assert_string_equal(real, q);
	close(fd);
	/* a folder, relative to the working one */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(kt_open_host("rel/", "read", &fd, &st, real, sizeof(real), &e), 0);
	assert_true(S_ISDIR(st.st_mode));
	snprintf(q, sizeof(q), "%s/d/sub", dir);
	assert_string_equal(real, q);
	close(fd);
	assert_int_equal(mkfifo("fifo", 0600), 0);
	assert_int_equal(kt_open_host("fifo", "include", &fd, &st, NULL, 0, &e), -EINVAL);
	assert_string_equal(e.msg, "cannot include 'fifo': not a regular file or a folder");
	assert_int_equal(symlink("loop", "loop"), 0);
	assert_int_equal(kt_open_host("loop", "read", &fd, &st, NULL, 0, &e), -ELOOP);
	assert_int_equal(kt_open_host("rel/f/x", "read", &fd, &st, NULL, 0, &e), -ENOTDIR);
	assert_int_equal(kt_open_host("none", "read", &fd, &st, NULL, 0, &e), -ENOENT);
	assert_string_equal(e.msg, "cannot read 'none': No such file or directory");
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rm_tree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_split_ws),
		cmocka_unit_test(test_err_set),
		cmocka_unit_test(test_snprintf_truncation),
		cmocka_unit_test(test_write_read_loops),
		cmocka_unit_test(test_path_normalize),
		cmocka_unit_test(test_copy_fd),
		cmocka_unit_test(test_open_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
