/* Unit tests of extract.c: kt_install_env on a table whose blob lives in
 * this test binary's own .rodata, so copy_file_range from /proc/self/exe
 * is exercised as in ktpack. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/extract.h>

#define BLOB_SIZE (3 * 4096 + 123)
#define SHA "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
#define OLD "0000000000000000000000000000000000000000000000000000000000000000"
#define ENV "KT_TEST_BLOB_PATH"

static const unsigned char blob_bytes[BLOB_SIZE] __attribute__((aligned(4096))) = {
	[0] = 0x7f, [1] = 'E', [2] = 'L', [3] = 'F', [100] = 7, [4095] = 3,
	[4096] = 0xaa, [8000] = 9, [BLOB_SIZE - 1] = 0x55,
};

static const struct kt_blob blobs[] = {
	{ "tblob", ENV, "TBLOB", blob_bytes, blob_bytes + BLOB_SIZE, BLOB_SIZE, SHA, NULL },
	{ "empty", "KT_TEST_EMPTY_PATH", "EMPTY", NULL, NULL, 0, "", NULL },
};
static const struct kt_blob_table table = { blobs, 2 };

static char root[64], cache[128], want[256];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/kt-test-extract.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(cache, sizeof(cache), "%s/cache", root);
	snprintf(want, sizeof(want), "%s/tblob-%s", cache, SHA);
	setenv("KTSTR_CACHE_DIR", cache, 1);
	unsetenv("XDG_CACHE_HOME");
	unsetenv(ENV);
	unsetenv("KT_TEST_EMPTY_PATH");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(root);
}

static void assert_file_is_blob(const char *path)
{
	unsigned char buf[BLOB_SIZE + 1];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(read(fd, buf, sizeof(buf)), BLOB_SIZE);
	assert_memory_equal(buf, blob_bytes, BLOB_SIZE);
	close(fd);
}

static int install(const char *exe)
{
	KT_INSTALL_OPTS(o, .exe_path = exe);

	return kt_install_env(&table, &o, NULL);
}

static void test_install_and_export(void **state)
{
	(void)state;
	assert_int_equal(install(NULL), 0);
	assert_string_equal(getenv(ENV), want);
	assert_file_is_blob(want);
	/* the empty slot stays unset */
	assert_null(getenv("KT_TEST_EMPTY_PATH"));
}

static void test_hit_reuses_the_file(void **state)
{
	struct stat a, b;

	(void)state;
	assert_int_equal(install(NULL), 0);
	assert_int_equal(stat(want, &a), 0);
	unsetenv(ENV);
	assert_int_equal(install(NULL), 0);
	assert_int_equal(stat(want, &b), 0);
	/* the same file, not written again (a new one is a new inode);
	 * its mtime says it was used */
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_size, b.st_size);
}

static void test_write_fallback(void **state)
{
	(void)state;
	assert_int_equal(install("/nonexistent/exe"), 0);
	assert_file_is_blob(want);
}

static void test_wrong_exe_bytes_are_caught(void **state)
{
	char path[160];
	static char junk[1 << 16];
	struct stat st;
	int fd;

	(void)state;
	/* A file as large as this binary whose bytes are all wrong: the
	 * copy succeeds, the check of its ends rewrites it from memory. */
	assert_int_equal(stat("/proc/self/exe", &st), 0);
	snprintf(path, sizeof(path), "%s/junk", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	memset(junk, 0xee, sizeof(junk));
	for (off_t off = 0; off < st.st_size; off += (off_t)sizeof(junk))
		assert_int_equal(kt_write_all(fd, junk, sizeof(junk)), 0);
	close(fd);
	assert_int_equal(install(path), 0);
	assert_file_is_blob(want);
}

static void test_preset_wins(void **state)
{
	struct kt_err e;

	(void)state;
	setenv(ENV, "/bin/true", 1);
	assert_int_equal(kt_install_env(&table, NULL, &e), 0);
	assert_string_equal(getenv(ENV), "/bin/true");
	assert_int_equal(access(want, F_OK), -1);

	setenv(ENV, "/etc/passwd", 1);
	assert_int_equal(kt_install_env(&table, NULL, &e), -EACCES);
	assert_str_contains(e.msg, ENV "='/etc/passwd': not executable");
	setenv(ENV, "/nonexistent", 1);
	assert_int_equal(kt_install_env(&table, NULL, &e), -ENOENT);
	assert_str_contains(e.msg, "No such file or directory");
	unsetenv(ENV);
}

static void test_bad_table(void **state)
{
	struct kt_blob b = blobs[0];
	const struct kt_blob_table t = { &b, 1 };
	struct kt_err e;

	(void)state;
	b.size--;
	assert_int_equal(kt_install_env(&t, NULL, &e), -EINVAL);
	assert_str_contains(e.msg, "blob table");
}

static void warn_cb(void *ctx, enum kt_log_level level, const char *msg)
{
	if (level == KT_LOG_WARN)
		snprintf(ctx, 512, "%s", msg);
}

static void test_symlinked_cache_is_skipped(void **state)
{
	char real[160], xdg[160], got[512] = "", path[300];
	KT_INSTALL_OPTS(o, .log = { warn_cb, got });

	(void)state;
	snprintf(real, sizeof(real), "%s/real", root);
	snprintf(xdg, sizeof(xdg), "%s/xdg", root);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(mkdir(xdg, 0700), 0);
	assert_int_equal(symlink(real, cache), 0);
	setenv("XDG_CACHE_HOME", xdg, 1);
	assert_int_equal(kt_install_env(&table, &o, NULL), 0);
	assert_str_contains(got, "is a symlink");
	snprintf(path, sizeof(path), "%s/ktstr/tblob-%s", xdg, SHA);
	assert_string_equal(getenv(ENV), path);
	assert_file_is_blob(path);
	unsetenv("XDG_CACHE_HOME");
}

static void test_sweep(void **state)
{
	char dead[256], live[256], old[256], young[256];
	int lfd;

	(void)state;
	assert_int_equal(mkdir(cache, 0700), 0);
	snprintf(dead, sizeof(dead), "%s/.kt-tblob-%s.AbCdEf", cache, SHA);
	snprintf(live, sizeof(live), "%s/.kt-tblob-%s.GhIjKl", cache, SHA);
	snprintf(old, sizeof(old), "%s/tblob-%s", cache, OLD);
	snprintf(young, sizeof(young), "%s/tblob-1%s", cache, &OLD[1]);
	touch_at(dead, 0);
	touch_at(live, 0);
	touch_at(old, 2 * KT_GC_MIN_AGE_S);
	touch_at(young, KT_GC_MIN_AGE_S / 2);
	lfd = open(live, O_RDONLY | O_CLOEXEC);
	assert_true(lfd >= 0);
	assert_int_equal(flock(lfd, LOCK_EX), 0);

	assert_int_equal(install(NULL), 0);
	assert_int_equal(access(dead, F_OK), -1);	/* dead writer: reaped */
	assert_int_equal(access(live, F_OK), 0);	/* live writer: kept */
	assert_int_equal(access(old, F_OK), -1);	/* old version: collected */
	assert_int_equal(access(young, F_OK), 0);	/* too young to collect */
	assert_int_equal(access(want, F_OK), 0);	/* current: kept */
	close(lfd);
}

/* Started through the loader, /proc/self/exe is ld.so: its bytes at the
 * blob's offset must never be published, and a published file that holds
 * them (same size) is replaced. */
static void test_foreign_exe_is_not_copied(void **state)
{
	char ld[256], bad[256];
	int fd;

	(void)state;
	assert_true(realpath("/lib64/ld-linux-x86-64.so.2", ld) != NULL);
	assert_int_equal(install(ld), 0);
	assert_file_is_blob(want);
	unsetenv(ENV);

	/* A cached file of the right name, size and mode but other bytes. */
	snprintf(bad, sizeof(bad), "%s", want);
	fd = open(bad, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	{
		static unsigned char junk[BLOB_SIZE];

		memset(junk, 0x11, sizeof(junk));
		assert_int_equal(kt_write_all(fd, junk, sizeof(junk)), 0);
	}
	close(fd);
	assert_int_equal(install(NULL), 0);
	assert_file_is_blob(want);
}

static void test_install_reports_without_exporting(void **state)
{
	struct kt_installed *in = NULL;
	KT_INSTALL_OPTS(o);
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_install(&table, &o, &in, &e), 0);
	assert_string_equal(kt_installed__path(in, "tblob"), want);
	assert_null(kt_installed__path(in, "empty"));
	assert_string_equal(kt_installed__cache_dir(in), cache);
	assert_null(getenv(ENV));
	assert_int_equal(kt_installed__export(in, &e), 0);
	assert_string_equal(getenv(ENV), want);
	kt_installed__free(in);
	unsetenv(ENV);
}

/* sz as kt_run_opts has it (see test_run): 0 refused, unknown bytes of a
 * newer caller refused when not zero; NULL options are the defaults. */
static void test_install_opts_size(void **state)
{
	struct {
		struct kt_install_opts o;
		int newer;
	} big;
	struct kt_install_opts o = { 0 };
	struct kt_installed *in = NULL;
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_install(&table, &o, &in, &e), -EINVAL);
	assert_string_equal(e.msg, "struct kt_install_opts: sz is 0: set it to sizeof(struct kt_install_opts) (KT_OPTS does)");
	assert_null(in);
	assert_int_equal(kt_install_env(&table, &o, &e), -EINVAL);
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.newer = 1;
	assert_int_equal(kt_install(&table, &big.o, &in, &e), -EINVAL);
	assert_str_contains(e.msg, "does not know");
	big.newer = 0;
	assert_int_equal(kt_install(&table, &big.o, &in, &e), 0);
	assert_string_equal(kt_installed__path(in, "tblob"), want);
	kt_installed__free(in);
}

static void test_relative_preset_is_made_absolute(void **state)
{
	char cwd[256], want_abs[300];

	(void)state;
	assert_true(getcwd(cwd, sizeof(cwd)) != NULL);
	assert_int_equal(chdir("/usr/bin"), 0);
	setenv(ENV, "./true", 1);
	assert_int_equal(kt_install_env(&table, NULL, NULL), 0);
	snprintf(want_abs, sizeof(want_abs), "/usr/bin/true");
	assert_string_equal(getenv(ENV), want_abs);
	assert_int_equal(chdir(cwd), 0);
	unsetenv(ENV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_install_and_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hit_reuses_the_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_exe_bytes_are_caught, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preset_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_cache_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_exe_is_not_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_reports_without_exporting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_opts_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_preset_is_made_absolute, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
