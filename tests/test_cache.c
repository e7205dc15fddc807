/* Unit tests of cache.c: which folders are trusted, what is created,
 * durable publishing, and the clean-up of dead writers and old files. */
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
#include <ktpack/cache.h>

static char root[64], dir[128];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/kt-test-cache.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(dir, sizeof(dir), "%s/cache", root);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(root);
}

static int open_dir(const char *path, struct kt_cache **c, struct kt_err *e)
{
	struct kt_cache_opts o = { .dir = path };

	return kt_cache__open(&o, c, e);
}

static void test_creates_only_the_last_folder(void **state)
{
	struct kt_cache *c = NULL;
	struct kt_err e;
	char deep[200];
	struct stat st;

	(void)state;
	assert_int_equal(open_dir(dir, &c, &e), 0);
	assert_string_equal(kt_cache__path(c), dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	kt_cache__close(c);

	/* A typo in a parent creates nothing. */
	snprintf(deep, sizeof(deep), "%s/typo/cache", root);
	assert_int_equal(open_dir(deep, &c, &e), -ENOENT);
	assert_str_contains(e.msg, "its parent 'typo': No such file or directory");
	assert_str_contains(e.msg, "set KTSTR_CACHE_DIR");
	snprintf(deep, sizeof(deep), "%s/typo", root);
	assert_int_equal(access(deep, F_OK), -1);
}

static void test_untrusted_parents_are_refused(void **state)
{
	struct kt_cache *c = NULL;
	struct kt_err e;
	char shared[160], sub[200], link[160];

	(void)state;
	/* World-writable without the sticky bit: another user could swap
	 * the folder; with it (as /tmp), nobody can. */
	snprintf(shared, sizeof(shared), "%s/shared", root);
	assert_int_equal(mkdir(shared, 0700), 0);
	assert_int_equal(chmod(shared, 0777), 0);
	snprintf(sub, sizeof(sub), "%s/cache", shared);
	assert_int_equal(open_dir(sub, &c, &e), -EPERM);
	assert_str_contains(e.msg, "its parent 'shared' is writable by other users");
	assert_int_equal(chmod(shared, 01777), 0);
	assert_int_equal(open_dir(sub, &c, &e), 0);
	kt_cache__close(c);

	/* A symlink anywhere on the way is not followed. */
	snprintf(link, sizeof(link), "%s/link", root);
	assert_int_equal(symlink(shared, link), 0);
	snprintf(sub, sizeof(sub), "%s/cache", link);
	assert_int_equal(open_dir(sub, &c, &e), -ELOOP);
	assert_str_contains(e.msg, "its parent 'link' is a symlink");
}

static void test_the_folder_itself_must_be_private(void **state)
{
	struct kt_cache *c = NULL;
	struct kt_err e;

	(void)state;
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(open_dir(dir, &c, &e), -EPERM);
	assert_str_contains(e.msg, "mode is 0755, not 0700 (chmod 700 it)");
	/* (only root can give a folder to another user) */
	if (geteuid())
		return;
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(chown(dir, 65534, 65534), 0);
	assert_int_equal(open_dir(dir, &c, &e), -EPERM);
	assert_str_contains(e.msg, "owned by another user");
}

static int fill_abc(void *ctx, int fd, struct kt_err *err)
{
	(void)err;
	return kt_write_all(fd, ctx, 3);
}

static int fill_fail(void *ctx, int fd, struct kt_err *err)
{
	(void)ctx;
	(void)fd;
	return kt_err_set(err, -EIO, "the filler failed");
}

static void test_publish(void **state)
{
	struct kt_cache *c = NULL;
	struct kt_err e;
	char buf[8] = "", p[200];
	struct stat st;
	int fd;

	(void)state;
	assert_int_equal(open_dir(dir, &c, &e), 0);
	assert_int_equal(kt_cache__publish(c, "f", 0640, 3, fill_abc, "abc", &e), 0);
	assert_int_equal(kt_cache__open_file(c, "f", 0640, 3, &fd), 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	close(fd);
	/* Never replaced: the first writer's file stays. */
	assert_int_equal(kt_cache__publish(c, "f", 0640, 3, fill_abc, "xyz", &e), 0);
	assert_int_equal(kt_cache__open_file(c, "f", 0640, 3, &fd), 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	close(fd);
	/* A failing filler leaves nothing, not even its staging file. */
	assert_int_equal(kt_cache__publish(c, "g", 0640, 0, fill_fail, NULL, &e), -EIO);
	assert_string_equal(e.msg, "the filler failed");
	snprintf(p, sizeof(p), "%s/g", dir);
	assert_int_equal(stat(p, &st), -1);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
		assert_int_equal(system(cmd), 0);
	}
	kt_cache__close(c);
}

static void test_open_file_checks(void **state)
{
	struct kt_cache *c = NULL;
	struct kt_err e;
	char p[200];
	int fd = -1;

	(void)state;
	assert_int_equal(open_dir(dir, &c, &e), 0);
	assert_int_equal(kt_cache__open_file(c, "none", 0644, UINT64_MAX, &fd), -ENOENT);
	assert_int_equal(kt_cache__publish(c, "f", 0644, 0, fill_abc, "abc", &e), 0);
	assert_int_equal(kt_cache__open_file(c, "f", 0600, UINT64_MAX, &fd), -ESTALE);
	assert_int_equal(kt_cache__open_file(c, "f", 0644, 4, &fd), -ESTALE);
	/* A FIFO planted under a name neither hangs nor passes. */
	snprintf(p, sizeof(p), "%s/fifo", dir);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(kt_cache__open_file(c, "fifo", 0644, UINT64_MAX, &fd), -ESTALE);
	snprintf(p, sizeof(p), "%s/link", dir);
	assert_int_equal(symlink("f", p), 0);
	assert_int_equal(kt_cache__open_file(c, "link", 0644, UINT64_MAX, &fd), -ESTALE);
	kt_cache__close(c);
}

static void count_cb(void *ctx, int dfd, const char *name)
{
	(void)dfd;
	(void)name;
	(*(int *)ctx)++;
}

static void test_sweep_reaps_only_dead_writers_of_ours(void **state)
{
	struct kt_cache *c = NULL;
	struct kt_err e;
	char dead[200], live[200], theirs[200];
	int lfd, seen = 0;

	(void)state;
	assert_int_equal(open_dir(dir, &c, &e), 0);
	snprintf(dead, sizeof(dead), "%s/.kt-x-1.AbCdEf", dir);
	snprintf(live, sizeof(live), "%s/.kt-x-2.GhIjKl", dir);
	snprintf(theirs, sizeof(theirs), "%s/.notes.txt.AbCdEf", dir);
	touch_at(dead, 0);
	touch_at(live, 0);
	touch_at(theirs, 7200);
	lfd = open(live, O_RDONLY | O_CLOEXEC);
	assert_true(lfd >= 0);
	assert_int_equal(flock(lfd, LOCK_EX), 0);
	assert_int_equal(kt_cache__sweep(c, count_cb, &seen), 0);
	assert_int_equal(access(dead, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(access(theirs, F_OK), 0);
	assert_int_equal(seen, 0);
	close(lfd);
	kt_cache__close(c);
}

static void test_prune(void **state)
{
	struct kt_cache *c = NULL;
	struct kt_err e;
	size_t removed = 0;
	char p[256];

	(void)state;
	assert_int_equal(open_dir(dir, &c, &e), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s/initramfs-%d.cpio", dir, i);
		touch_at(p, 100 * (5 - i));	/* 4 is the newest */
	}
	snprintf(p, sizeof(p), "%s/other", dir);
	touch_at(p, 10000);
	/* after a listing of the same folder, as a run sweeps first */
	assert_int_equal(kt_cache__sweep(c, NULL, NULL), 0);
	assert_int_equal(kt_cache__prune(c, "initramfs-", 2, &removed), 0);
	assert_int_equal(removed, 3);
	snprintf(p, sizeof(p), "%s/initramfs-4.cpio", dir);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/initramfs-3.cpio", dir);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/initramfs-2.cpio", dir);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/other", dir);
	assert_int_equal(access(p, F_OK), 0);
	kt_cache__close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_creates_only_the_last_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_untrusted_parents_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_folder_itself_must_be_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_file_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_reaps_only_dead_writers_of_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
