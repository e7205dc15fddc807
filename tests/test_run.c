/* Unit tests of run.c that need no VM: the options kt_run refuses before
 * anything is built, and the base archive's cache (its key follows what
 * is packed; a torn cached archive is rebuilt, a good one reused). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/run.h>

static const unsigned char bb_bytes[] = "#!/bin/sh\necho not busybox\n";
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct kt_blob blobs[] = {
	{ "busybox", "KT_TEST_BB", "BUSYBOX", bb_bytes, bb_bytes + sizeof(bb_bytes),
	  sizeof(bb_bytes), SHA_A, NULL },
};
static const struct kt_blob_table table = { blobs, 1 };

static char root[64], dir[128], inc[128], spec[160];
static struct kt_cache *cache;

static int setup(void **state)
{
	struct kt_cache_opts co = { 0 };
	int fd;

	(void)state;
	strcpy(root, "/tmp/kt-test-run.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(dir, sizeof(dir), "%s/cache", root);
	snprintf(inc, sizeof(inc), "%s/data", root);
	snprintf(spec, sizeof(spec), "%s:/etc/data", inc);
	fd = open(inc, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || kt_write_all(fd, "one\n", 4))
		return -1;
	close(fd);
	co.dir = dir;
	blobs[0].sha256 = SHA_A;
	return kt_cache__open(&co, &cache, NULL);
}

static int teardown(void **state)
{
	(void)state;
	kt_cache__close(cache);
	return rm_tree(root);
}

static void test_required_options(void **state)
{
	const char *empty[] = { NULL };
	const char *bad[] = { "" };
	const char *q[] = { "-rtc", "base=utc", "-smp", "4" };
	struct kt_run_opts o = { 0 };
	struct kt_run_result res;
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "no kernel given");
	assert_int_equal(res.end, KT_VM_FAILED);
	o.kernel = "/nonexistent/vmlinuz";
	o.cmd = empty;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "the command is empty");
	o.cmd = NULL;
	o.includes = bad;
	o.nincludes = 1;
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_str_contains(e.msg, "invalid include ''");
	o.nincludes = 0;
	/* QEMU must not size the guest behind the boot line's back */
	o.qemu_opts = q;
	o.nqemu_opts = KT_ARRAY_SIZE(q);
	assert_int_equal(kt_run(&o, &res, &e), -EINVAL);
	assert_string_equal(e.msg, "--qemu-opt -smp: the guest's CPUs are ktpack's: use --cpus");
	o.nqemu_opts = 2;
	assert_int_equal(kt_run(&o, &res, &e), -ENOENT);
	assert_str_contains(e.msg, "cannot open kernel '/nonexistent/vmlinuz'");
}

/* The base's name for the current inputs, and its inode. */
static void base(char *name, size_t sz, ino_t *ino)
{
	const char *incs[] = { spec };
	struct kt_run_opts o = { .blobs = &table, .includes = incs, .nincludes = 1 };
	struct kt_err e;
	struct stat st;
	int fd = -1;

	if (kt_run_base(&o, cache, &fd, name, sz, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(fstat(fd, &st), 0);
	*ino = st.st_ino;
	close(fd);
}

static void rewrite(const char *path, const char *data, bool keep_mtime)
{
	struct stat st;
	struct timespec ts[2];
	int fd;

	assert_int_equal(stat(path, &st), 0);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_int_equal(kt_write_all(fd, data, strlen(data)), 0);
	close(fd);
	if (keep_mtime) {
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
}

static void test_base_key_follows_the_inputs(void **state)
{
	char n1[64], n2[64], n3[64], n4[64], n5[64], n6[64], other[160];
	ino_t i1, i2, i3, i4, i5, i6;

	(void)state;
	base(n1, sizeof(n1), &i1);
	base(n2, sizeof(n2), &i2);
	assert_string_equal(n1, n2);		/* same inputs: reused */
	assert_int_equal(i1, i2);
	rewrite(inc, "two\n", true);		/* content, same size and mtime */
	base(n3, sizeof(n3), &i3);
	assert_string_not_equal(n3, n1);
	rewrite(inc, "two\n", false);		/* mtime alone */
	base(n4, sizeof(n4), &i4);
	assert_string_not_equal(n4, n3);
	snprintf(other, sizeof(other), "%s.new", inc);	/* a new inode */
	{
		char cmd[1024];

		snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s' && mv '%s' '%s'", inc, other, other, inc);
		assert_int_equal(system(cmd), 0);
	}
	base(n5, sizeof(n5), &i5);
	assert_string_not_equal(n5, n4);
	blobs[0].sha256 = SHA_B;		/* another embedded busybox */
	base(n6, sizeof(n6), &i6);
	assert_string_not_equal(n6, n5);
}

/* Whether @path ends with the archive's trailer, as a complete one does. */
static bool has_trailer(const char *path, off_t size)
{
	char tail[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	assert_true(fd >= 0);
	ok = kt_pread_full(fd, tail, sizeof(tail), size - (off_t)sizeof(tail)) ==
	     (ssize_t)sizeof(tail) && memmem(tail, sizeof(tail), "TRAILER!!!", 10);
	close(fd);
	return ok;
}

static void test_torn_base_is_rebuilt(void **state)
{
	static const char zero[1024];
	char name[64], again[64], path[256];
	struct stat st, st2;
	ino_t ino;
	int fd;

	(void)state;
	base(name, sizeof(name), &ino);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	assert_true(has_trailer(path, st.st_size));
	/* Truncated: a different size. */
	assert_int_equal(truncate(path, st.st_size / 2), 0);
	base(again, sizeof(again), &ino);
	assert_string_equal(again, name);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st2.st_size, st.st_size);
	assert_true(has_trailer(path, st.st_size));
	/* The right size, but its end zeroed as a torn write leaves it. */
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_int_equal(kt_pwrite_all(fd, zero, sizeof(zero), st.st_size - 1024), 0);
	close(fd);
	assert_false(has_trailer(path, st.st_size));
	base(again, sizeof(again), &ino);
	assert_true(has_trailer(path, st.st_size));
	/* Nothing but the base is left behind. */
	assert_int_equal(system("cd /tmp/kt-test-run.* && test -z \"$(ls -A cache | grep -v '^initramfs-')\""), 0);
}

/* More distinct bases at once than the cache keeps: every run still gets
 * a whole base, though others prune it while the run holds it. */
static void test_concurrent_bases_survive_pruning(void **state)
{
	enum { RUNS = 2 * KT_RUN_BASE_KEEP };
	pid_t pids[RUNS];

	(void)state;
	for (int i = 0; i < RUNS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (!pids[i]) {
			char file[160], spec_i[200], name[64], buf[4096];
			const char *incs[] = { spec_i };
			struct kt_run_opts o = { .blobs = &table, .includes = incs, .nincludes = 1 };
			struct kt_err e;
			struct stat st;
			ssize_t n;
			off_t off = 0;
			int fd;

			snprintf(file, sizeof(file), "%s/in%d", root, i);
			snprintf(spec_i, sizeof(spec_i), "%s:/etc/in", file);
			fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			if (fd < 0 || dprintf(fd, "input %d\n", i) < 0)
				_exit(2);
			close(fd);
			if (kt_run_base(&o, cache, &fd, name, sizeof(name), &e))
				_exit(3);
			usleep(300000);	/* the others build and prune meanwhile */
			if (fstat(fd, &st))
				_exit(4);
			while ((n = pread(fd, buf, sizeof(buf), off)) > 0)
				off += n;
			if (off != st.st_size || st.st_size < 1024 ||
			    pread(fd, buf, 1024, st.st_size - 1024) != 1024)
				_exit(5);
			_exit(memmem(buf, 1024, "TRAILER!!!", 10) ? 0 : 6);
		}
	}
	for (int i = 0; i < RUNS; i++) {
		int st;

		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	/* Pruning kept what it should, and left no staging file. */
	assert_int_equal(system("cd /tmp/kt-test-run.* && test $(ls -A cache | grep -c '^initramfs-') -le 16 && "
				"test -z \"$(ls -A cache | grep -v '^initramfs-')\""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_required_options),
		cmocka_unit_test_setup_teardown(test_base_key_follows_the_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_base_is_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_bases_survive_pruning, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
