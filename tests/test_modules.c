/* Unit tests of modules.c: a module tree made of module-shaped objects
 * (tests/fixtures/module.c): finding it, the load order, built-ins,
 * unknown names, loops, compressed files and another kernel's modules. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/modules.h>

#define REL "6.1.0-ktpack-test"

static char dir[64], tree[256], fixture[PATH_MAX], other[PATH_MAX];

static void write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(kt_write_all(fd, p, len), 0);
	close(fd);
}

static void *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 22);

	assert_non_null(f);
	*len = fread(buf, 1, 1 << 22, f);
	fclose(f);
	return buf;
}

/* A module of the tree at @rel: a copy of @src, gzipped for ".gz". */
static void module(const char *rel, const char *src)
{
	char path[PATH_MAX], *slash;
	size_t len;
	void *buf = read_all(src, &len);

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdir(path, 0755);
	*slash = '/';
	if (strstr(rel, ".gz")) {
		gzFile z = gzopen(path, "wb");

		assert_non_null(z);
		assert_int_equal(gzwrite(z, buf, (unsigned)len), (int)len);
		gzclose(z);
	} else {
		write_file(path, buf, len);
	}
	free(buf);
}

static int setup(void **state)
{
	char self[PATH_MAX], path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	static const char dep[] =
		"kernel/b/virtio_console.ko.gz: kernel/a/virtio.ko kernel/a/virtio_ring.ko\n"
		"kernel/a/virtio.ko:\n"
		"kernel/a/virtio_ring.ko: kernel/a/virtio.ko\n"
		"kernel/c/dummy-mod.ko:\n"
		"kernel/d/other.ko:\n"
		"kernel/e/loop.ko: kernel/e/loop.ko\n"
		"kernel/f/lost.ko: kernel/f/gone.ko\n";

	(void)state;
	if (n < 0)
		return -1;
	self[n] = '\0';
	snprintf(fixture, sizeof(fixture), "%s/module-fixture.o", dirname(self));
	snprintf(other, sizeof(other), "%.*s/module-other.o", (int)(strlen(fixture) - 17), fixture);
	strcpy(dir, "/tmp/kt-test-modules.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/lib", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/lib/modules", dir);
	mkdir(path, 0755);
	snprintf(tree, sizeof(tree), "%s/lib/modules/" REL, dir);
	mkdir(tree, 0755);
	snprintf(path, sizeof(path), "%s/kernel", tree);
	mkdir(path, 0755);
	module("kernel/a/virtio.ko", fixture);
	module("kernel/a/virtio_ring.ko", fixture);
	module("kernel/b/virtio_console.ko.gz", fixture);
	module("kernel/c/dummy-mod.ko", fixture);
	module("kernel/d/other.ko", other);
	module("kernel/e/loop.ko", fixture);
	snprintf(path, sizeof(path), "%s/modules.dep", tree);
	write_file(path, dep, sizeof(dep) - 1);
	snprintf(path, sizeof(path), "%s/modules.builtin", tree);
	write_file(path, "kernel/drivers/tty/serial/8250.ko\n", 34);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(dir);
}

static void test_find(void **state)
{
	char out[PATH_MAX], kernel[PATH_MAX];
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_modules_find(tree, "/x/vmlinuz", REL, out, sizeof(out), &e), 0);
	assert_string_equal(out, tree);
	assert_int_equal(kt_modules_find(dir, "/x/vmlinuz", REL, out, sizeof(out), &e), -ENOENT);
	assert_str_contains(e.msg, "is not a module tree: it has no modules.dep");
	/* beside the kernel, as `make deps` keeps Debian's */
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	assert_int_equal(kt_modules_find(NULL, kernel, REL, out, sizeof(out), &e), 0);
	assert_string_equal(out, tree);
	assert_int_equal(kt_modules_find(NULL, kernel, "9.9.9-none", out, sizeof(out), &e), -ENOENT);
	assert_str_contains(e.msg, "no module tree for the kernel 9.9.9-none");
	assert_int_equal(kt_modules_find(NULL, kernel, "", out, sizeof(out), &e), -ENOENT);
	assert_str_contains(e.msg, "does not say its version");
}

static void test_order(void **state)
{
	struct kt_modules *m;
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_modules__open(tree, &m, &e), 0);
	assert_int_equal(kt_modules__has(m, "virtio_console"), 1);
	assert_int_equal(kt_modules__has(m, "dummy_mod"), 1);	/* '-' and '_' alike */
	assert_int_equal(kt_modules__has(m, "dummy-mod"), 1);
	assert_int_equal(kt_modules__has(m, "8250"), 2);
	assert_int_equal(kt_modules__has(m, "nope"), 0);
	assert_int_equal(kt_modules__want(m, "8250", &e), 0);	/* built in: nothing */
	assert_int_equal(kt_modules__count(m), 0);
	assert_int_equal(kt_modules__want(m, "virtio_console", &e), 0);
	assert_int_equal(kt_modules__want(m, "virtio_ring", &e), 0);	/* once */
	assert_int_equal(kt_modules__count(m), 3);
	assert_int_equal(kt_modules__want(m, "nope", &e), -ENOENT);
	assert_str_contains(e.msg, "unknown kernel module 'nope'");
	assert_int_equal(kt_modules__want(m, "loop", &e), -ELOOP);
	assert_int_equal(kt_modules__want(m, "lost", &e), -ENOENT);
	assert_str_contains(e.msg, "needs kernel/f/gone.ko, which it does not list");
	kt_modules__free(m);
}

/* The archive holds each module decompressed and the list in load order. */
static void test_pack(void **state)
{
	struct kt_initramfs *b;
	struct kt_modules *m;
	struct kt_err e;
	char path[PATH_MAX], *cpio;
	size_t len, flen;
	void *fix = read_all(fixture, &flen);
	/* level by level: what a module needs is a level before it */
	static const char list[] =
		"/lib/modules/" REL "/kernel/a/virtio.ko\n"
		"/lib/modules/" REL "/kernel/c/dummy-mod.ko\n\n"
		"/lib/modules/" REL "/kernel/a/virtio_ring.ko\n\n"
		"/lib/modules/" REL "/kernel/b/virtio_console.ko\n\n";

	(void)state;
	assert_int_equal(kt_modules__open(tree, &m, &e), 0);
	assert_int_equal(kt_modules__want(m, "virtio_console", &e), 0);
	assert_int_equal(kt_modules__want(m, "dummy-mod", &e), 0);
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_modules__pack(m, REL, b, &e), 0);
	snprintf(path, sizeof(path), "%s/a.cpio", dir);
	assert_int_equal(kt_initramfs__write(b, path, &e), 0);
	cpio = read_all(path, &len);
	assert_non_null(memmem(cpio, len, list, sizeof(list) - 1));
	assert_non_null(memmem(cpio, len, "lib/modules/" REL "/kernel/b/virtio_console.ko", 40));
	assert_null(memmem(cpio, len, ".ko.gz", 6));
	/* the gzipped one is in as its bytes: four copies of the fixture */
	{
		size_t copies = 0;

		for (char *p = cpio; (p = memmem(p, len - (size_t)(p - cpio), fix, flen)); p++)
			copies++;
		assert_int_equal(copies, 4);
	}
	free(cpio);
	kt_initramfs__free(b);
	kt_modules__free(m);
	free(fix);
}

/* The bytes whose vermagic was checked are the bytes packed: the module
 * swapped for another kernel's after the check does not get in. */
static void test_pack_checked_bytes(void **state)
{
	struct kt_initramfs *b;
	struct kt_modules *m;
	struct kt_err e;
	char path[PATH_MAX], mod[PATH_MAX], aside[PATH_MAX + 8], *cpio;
	size_t len, flen;
	void *fix = read_all(fixture, &flen);

	(void)state;
	snprintf(mod, sizeof(mod), "%s/kernel/c/dummy-mod.ko", tree);
	snprintf(aside, sizeof(aside), "%s.aside", mod);
	assert_int_equal(kt_modules__open(tree, &m, &e), 0);
	assert_int_equal(kt_modules__want(m, "dummy-mod", &e), 0);
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_modules__pack(m, REL, b, &e), 0);
	assert_int_equal(rename(mod, aside), 0);
	assert_int_equal(symlink(other, mod), 0);
	snprintf(path, sizeof(path), "%s/swapped.cpio", dir);
	assert_int_equal(kt_initramfs__write(b, path, &e), 0);
	cpio = read_all(path, &len);
	assert_non_null(memmem(cpio, len, fix, flen));
	assert_null(memmem(cpio, len, "5.10.0-other", 12));
	assert_int_equal(unlink(mod), 0);
	assert_int_equal(rename(aside, mod), 0);
	free(cpio);
	kt_initramfs__free(b);
	kt_modules__free(m);
	free(fix);
}

/* An optional module is marked in the list; what a required one needs
 * is required, whichever was asked for first. */
static void test_optional(void **state)
{
	struct kt_initramfs *b;
	struct kt_modules *m;
	struct kt_err e;
	char path[PATH_MAX], *cpio;
	size_t len;
	static const char list[] =
		"/lib/modules/" REL "/kernel/a/virtio.ko\n"
		"?/lib/modules/" REL "/kernel/c/dummy-mod.ko\n\n"
		"/lib/modules/" REL "/kernel/a/virtio_ring.ko\n\n"
		"?/lib/modules/" REL "/kernel/b/virtio_console.ko\n\n";

	(void)state;
	assert_int_equal(kt_modules__open(tree, &m, &e), 0);
	assert_int_equal(kt_modules__want_optional(m, "virtio_console", &e), 0);
	assert_int_equal(kt_modules__want_optional(m, "dummy-mod", &e), 0);
	assert_int_equal(kt_modules__want(m, "virtio_ring", &e), 0);
	assert_int_equal(kt_modules__want_optional(m, "virtio", &e), 0);
	assert_int_equal(kt_modules__want_optional(m, "nope", &e), -ENOENT);
	assert_int_equal(kt_modules__count(m), 4);
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_modules__pack(m, REL, b, &e), 0);
	snprintf(path, sizeof(path), "%s/o.cpio", dir);
	assert_int_equal(kt_initramfs__write(b, path, &e), 0);
	cpio = read_all(path, &len);
	assert_non_null(memmem(cpio, len, list, sizeof(list) - 1));
	/* the files are at their paths, without the mark */
	assert_null(memmem(cpio, len, "?lib", 4));
	free(cpio);
	kt_initramfs__free(b);
	kt_modules__free(m);
}

static void test_other_kernel(void **state)
{
	struct kt_initramfs *b;
	struct kt_modules *m;
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_modules__open(tree, &m, &e), 0);
	assert_int_equal(kt_modules__want(m, "other", &e), 0);
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_modules__pack(m, REL, b, &e), -ENOEXEC);
	assert_str_contains(e.msg, "is for the kernel 5.10.0-other, not " REL);
	kt_initramfs__free(b);
	kt_modules__free(m);
}

/* modules.dep names only files inside the tree; a FIFO is no index. */
static void test_bad_index(void **state)
{
	static const char *const bad[] = {
		"../x/evil.ko:\n", "/etc/passwd:\n", "kernel/../../evil.ko:\n", "kernel/a.ko\n",
	};
	char path[PATH_MAX + 16], sub[PATH_MAX];
	struct kt_modules *m;
	struct kt_err e;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/bad", dir);
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/modules.dep", sub);
	for (size_t i = 0; i < KT_ARRAY_SIZE(bad); i++) {
		write_file(path, bad[i], strlen(bad[i]));
		assert_int_equal(kt_modules__open(sub, &m, &e), -EINVAL);
	}
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(kt_modules__open(sub, &m, &e), -EFBIG);
	assert_str_contains(e.msg, "not a file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack_checked_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_optional, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_index, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
