/* Unit tests of initramfs.c: the layout rules, read back from the archive. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/initramfs.h>

/* "name mode" per entry, from a raw newc archive in @fd. */
static char *listing(int fd)
{
	size_t cap = 1 << 16, o = 0, off = 0;
	char *out = calloc(1, cap);
	struct stat st;
	unsigned char *b;

	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size);
	assert_int_equal(kt_pread_full(fd, b, (size_t)st.st_size, 0), st.st_size);
	for (;;) {
		char f[9] = { 0 };
		unsigned long mode, size, nsz;

		assert_true(off + 110 <= (size_t)st.st_size);
		assert_memory_equal(b + off, "070701", 6);
		memcpy(f, b + off + 14, 8);
		mode = strtoul(f, NULL, 16);
		memcpy(f, b + off + 54, 8);
		size = strtoul(f, NULL, 16);
		memcpy(f, b + off + 94, 8);
		nsz = strtoul(f, NULL, 16);
		if (!strcmp((char *)b + off + 110, "TRAILER!!!"))
			break;
		o += (size_t)snprintf(out + o, cap - o, "%s %lo\n", (char *)b + off + 110, mode);
		off = (off + 110 + nsz + 3) & ~3UL;
		off = (off + size + 3) & ~3UL;
	}
	free(b);
	return out;
}

static void test_layout(void **state)
{
	struct kt_initramfs *b = NULL;
	int fd = memfd_create("i", MFD_CLOEXEC);
	char *l;

	(void)state;
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/etc/x/y", "y", 1, 0600, NULL), 0);
	assert_int_equal(kt_initramfs__add_symlink(b, "/lib", "usr/lib", NULL), 0);
	/* lands under usr/lib, through the guest symlink */
	assert_int_equal(kt_initramfs__add_data(b, "/lib/m/z", "z", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/init", "#!", 2, 0755, NULL), 0);
	/* a relative link that climbs: /etc/x/up -> ../../usr/lib */
	assert_int_equal(kt_initramfs__add_symlink(b, "/etc/x/up", "../../usr/lib", NULL), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/etc/x/up/n", "n", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__write_fd(b, fd, NULL), 0);
	l = listing(fd);
	assert_string_equal(l,
			    "etc 40755\n"
			    "etc/x 40755\n"
			    "etc/x/up 120777\n"
			    "etc/x/y 100600\n"
			    "init 100755\n"
			    "lib 120777\n"
			    "usr 40755\n"
			    "usr/lib 40755\n"
			    "usr/lib/m 40755\n"
			    "usr/lib/m/z 100644\n"
			    "usr/lib/n 100644\n");
	free(l);
	kt_initramfs__free(b);
	close(fd);
}

/* An archive laid over a base unpacks as one archive of both would: its
 * paths under the base's symlinks move, what the base has the same is
 * left out, what it has different is refused. */
static void test_over(void **state)
{
	struct kt_initramfs *base = NULL, *up = NULL;
	struct kt_err e;
	int fd = memfd_create("i", MFD_CLOEXEC);
	char *l;

	(void)state;
	assert_int_equal(kt_initramfs__new(NULL, &base), 0);
	assert_int_equal(kt_initramfs__add_symlink(base, "/lib", "usr/lib", NULL), 0);
	assert_int_equal(kt_initramfs__add_data(base, "/usr/lib/a", "a", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__add_data(base, "/bin/busybox", "bb", 2, 0755, NULL), 0);
	assert_int_equal(kt_initramfs__new(NULL, &up), 0);
	assert_int_equal(kt_initramfs__add_data(up, "/lib/b", "b", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__add_data(up, "/lib/a", "a", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__add_data(up, "/opt/c", "c", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__over(up, base, NULL), 0);
	assert_int_equal(kt_initramfs__write_fd(up, fd, NULL), 0);
	l = listing(fd);
	/* no lib/, usr/ or usr/lib/a again */
	assert_string_equal(l, "opt 40755\nopt/c 100644\nusr/lib/b 100644\n");
	free(l);
	kt_initramfs__free(up);

	assert_int_equal(kt_initramfs__new(NULL, &up), 0);
	assert_int_equal(kt_initramfs__add_data(up, "/bin/busybox", "not", 3, 0755, NULL), 0);
	assert_int_equal(kt_initramfs__over(up, base, &e), -EEXIST);
	assert_string_equal(e.msg, "guest path '/bin/busybox' is given twice, with different contents");
	kt_initramfs__free(up);

	/* a file inside a file of the base */
	assert_int_equal(kt_initramfs__new(NULL, &up), 0);
	assert_int_equal(kt_initramfs__add_data(up, "/bin/busybox/x", "x", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__over(up, base, NULL), -ENOTDIR);
	kt_initramfs__free(up);

	/* a symlink where the base has a folder: the kernel keeps the folder */
	assert_int_equal(kt_initramfs__new(NULL, &up), 0);
	assert_int_equal(kt_initramfs__add_symlink(up, "/bin", "usr/bin", NULL), 0);
	assert_int_equal(kt_initramfs__over(up, base, &e), -EEXIST);
	assert_string_equal(e.msg, "guest path '/bin' is given twice, with different contents");
	kt_initramfs__free(up);
	kt_initramfs__free(base);
	close(fd);
}

static void test_conflicts(void **state)
{
	struct kt_initramfs *b = NULL;
	int fd = memfd_create("i", MFD_CLOEXEC);
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/a", "1", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/a", "2", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__write_fd(b, fd, &e), -EEXIST);
	assert_str_contains(e.msg, "'/a' is given twice");
	kt_initramfs__free(b);

	/* entries merged before the conflict are still freed once */
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/d/a", "1", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/d/a", "1", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/d/b", "1", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/d/b", "2", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/d/c", "1", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__write_fd(b, fd, &e), -EEXIST);
	assert_str_contains(e.msg, "'/d/b' is given twice");
	kt_initramfs__free(b);

	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_symlink(b, "/a", "b", NULL), 0);
	assert_int_equal(kt_initramfs__add_symlink(b, "/b", "a", NULL), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/a/x", "1", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__write_fd(b, fd, &e), -ELOOP);
	kt_initramfs__free(b);

	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/..", "1", 1, 0644, &e), -EINVAL);
	assert_str_contains(e.msg, "invalid guest path '/..'");
	assert_int_equal(kt_initramfs__add_data(b, "rel", "1", 1, 0644, NULL), -EINVAL);
	assert_int_equal(kt_initramfs__add_symlink(b, "/l", "", NULL), -EINVAL);
	assert_int_equal(kt_initramfs__add_file(b, "/nonexistent", "/x", 0, &e), -ENOENT);
	kt_initramfs__free(b);
	kt_initramfs__free(NULL);
	close(fd);
}

static void test_elf_brings_its_closure(void **state)
{
	struct kt_initramfs *b = NULL;
	int fd = memfd_create("i", MFD_CLOEXEC);
	char *l;

	(void)state;
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_file(b, "/bin/true", "/t", 0, NULL), 0);
	assert_int_equal(kt_initramfs__write_fd(b, fd, NULL), 0);
	l = listing(fd);
	assert_str_contains(l, "lib64 120777\n");
	assert_str_contains(l, "usr/lib/x86_64-linux-gnu/libc.so.6 100");
	assert_str_contains(l, "t 100755\n");
	free(l);
	kt_initramfs__free(b);
	close(fd);
}

static void test_write_after(void **state)
{
	char dir[] = "/tmp/kt-test-after.XXXXXX", base[64], out[64];
	struct kt_initramfs *b = NULL;
	struct kt_err e;
	struct stat sb, so;
	unsigned char head[512];
	int fd, bfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(base, sizeof(base), "%s/base", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/base", "b", 1, 0644, NULL), 0);
	assert_int_equal(kt_initramfs__write(b, base, NULL), 0);
	kt_initramfs__free(b);

	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_data(b, "/run/cmd", "c", 1, 0644, NULL), 0);
	bfd = open(base, O_RDONLY | O_CLOEXEC);
	assert_true(bfd >= 0);
	assert_int_equal(kt_initramfs__write_after(b, bfd, out, &e), 0);
	assert_int_equal(stat(base, &sb), 0);
	assert_int_equal(stat(out, &so), 0);
	assert_true(so.st_size > sb.st_size);
	assert_int_equal(so.st_size % 512, 0);
	fd = open(out, O_RDONLY | O_CLOEXEC);
	assert_int_equal(kt_pread_full(fd, head, sizeof(head), sb.st_size), sizeof(head));
	assert_memory_equal(head, "070701", 6);	/* the suffix starts there */
	close(fd);
	/* never over an existing file; a missing base leaves nothing */
	assert_int_equal(kt_initramfs__write_after(b, bfd, out, &e), -EEXIST);
	unlink(out);
	/* a base that is not readable leaves nothing */
	close(bfd);
	bfd = open(base, O_WRONLY | O_CLOEXEC);
	assert_true(kt_initramfs__write_after(b, bfd, out, &e) < 0);
	assert_int_equal(access(out, F_OK), -1);
	close(bfd);
	kt_initramfs__free(b);
	assert_int_equal(rm_tree(dir), 0);
}

/* The cache key follows what is packed: content of a host file (even with
 * its mtime put back), a symlink's target, and the seed of memory bytes. */
static void test_key(void **state)
{
	char dir[] = "/tmp/kt-test-key.XXXXXX", f[64], l[64], cmd[256];
	uint64_t k1, k2, k3, k4, k5, size;
	struct kt_initramfs *b;
	struct kt_err e;
	struct stat st;
	struct timespec ts[2];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(f, sizeof(f), "%s/f", dir);
	snprintf(l, sizeof(l), "%s/l", dir);
	fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_int_equal(kt_write_all(fd, "one", 3), 0);
	close(fd);
	assert_int_equal(symlink("f", l), 0);
#define KEY(seed, out) do { \
		assert_int_equal(kt_initramfs__new(NULL, &b), 0); \
		assert_int_equal(kt_initramfs__add_file(b, l, "/x", 0, &e), 0); \
		assert_int_equal(kt_initramfs__add_mem(b, "/m", "mem", 3, 0644, &e), 0); \
		assert_int_equal(kt_initramfs__key(b, (seed), &(out), &size, &e), 0); \
		kt_initramfs__free(b); \
	} while (0)
	KEY("s", k1);
	KEY("s", k2);
	assert_true(k1 == k2);
	KEY("t", k3);
	assert_true(k3 != k1);
	/* same size, mtime restored: changed just now, its bytes tell */
	assert_int_equal(stat(f, &st), 0);
	fd = open(f, O_WRONLY | O_CLOEXEC);
	assert_int_equal(kt_write_all(fd, "two", 3), 0);
	close(fd);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, f, ts, 0), 0);
	KEY("s", k4);
	assert_true(k4 != k1);
	/* the link now points elsewhere: to the same bytes, the same
	 * archive; to others, another */
	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s/g' && ln -sf g '%s'", f, dir, l);
	assert_int_equal(system(cmd), 0);
	KEY("s", k5);
	assert_true(k5 == k4);
	snprintf(cmd, sizeof(cmd), "printf six > '%s/h' && ln -sf h '%s'", dir, l);
	assert_int_equal(system(cmd), 0);
	KEY("s", k5);
	assert_true(k5 != k4);
#undef KEY
	/* the size is the archive's, exactly */
	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	assert_int_equal(kt_initramfs__add_file(b, f, "/x", 0, &e), 0);
	assert_int_equal(kt_initramfs__key(b, "s", &k1, &size, &e), 0);
	snprintf(cmd, sizeof(cmd), "%s/a.cpio", dir);
	assert_int_equal(kt_initramfs__write(b, cmd, &e), 0);
	assert_int_equal(stat(cmd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, size);
	kt_initramfs__free(b);
	assert_int_equal(rm_tree(dir), 0);
}

/* The data of entry @name in the raw newc archive in @fd (malloc'd, in
 * *@len); NULL when there is none. */
static unsigned char *entry_data(int fd, const char *name, size_t *len)
{
	size_t off = 0;
	unsigned char *b, *out = NULL;
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size);
	assert_int_equal(kt_pread_full(fd, b, (size_t)st.st_size, 0), st.st_size);
	while (off + 110 <= (size_t)st.st_size && !out) {
		char f[9] = { 0 };
		unsigned long size, nsz;
		size_t data;

		memcpy(f, b + off + 54, 8);
		size = strtoul(f, NULL, 16);
		memcpy(f, b + off + 94, 8);
		nsz = strtoul(f, NULL, 16);
		data = (off + 110 + nsz + 3) & ~3UL;
		if (!strcmp((char *)b + off + 110, "TRAILER!!!"))
			break;
		if (!strcmp((char *)b + off + 110, name)) {
			out = malloc(size + 1);
			memcpy(out, b + data, size);
			*len = size;
		}
		off = (data + size + 3) & ~3UL;
	}
	free(b);
	return out;
}

/* Open descriptors: an archive closes every file it kept when freed. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(kt_write_all(fd, data, strlen(data)), 0);
	close(fd);
}

/* @path becomes a symlink to @target at once, as another user would
 * swap it: a symlink made aside and renamed over it. */
static void swap_for_link(const char *path, const char *target)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s.swap", path);
	assert_int_equal(symlink(target, tmp), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void assert_entry_is(int fd, const char *name, const void *want, size_t len)
{
	size_t got = 0;
	unsigned char *d = entry_data(fd, name, &got);

	if (!d)
		fail_msg("no '%s' in the archive", name);
	assert_int_equal(got, len);
	assert_memory_equal(d, want, len);
	free(d);
}

/* An include is read from what was checked when it was added: a file of
 * an included folder, or the included file itself, swapped for a link to
 * a secret before the archive is written, is packed as it was (or the
 * write is refused), never as the secret. */
static void test_include_swapped(void **state)
{
	char dir[] = "/tmp/kt-test-swap.XXXXXX", d[64], f[64], top[64], secret[64], spec[160];
	struct kt_initramfs *b;
	struct kt_err e;
	int fd = memfd_create("i", MFD_CLOEXEC), fds = count_fds();

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(d, sizeof(d), "%s/d", dir);
	snprintf(f, sizeof(f), "%s/d/f", dir);
	snprintf(top, sizeof(top), "%s/top", dir);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	assert_int_equal(mkdir(d, 0755), 0);
	write_file(f, "folder's file\n");
	write_file(top, "top file\n");
	write_file(secret, "SECRET\n");

	assert_int_equal(kt_initramfs__new(NULL, &b), 0);
	snprintf(spec, sizeof(spec), "%s:/opt/d", d);
	assert_int_equal(kt_initramfs__add_include(b, spec, &e), 0);
	snprintf(spec, sizeof(spec), "%s:/opt/top", top);
	assert_int_equal(kt_initramfs__add_include(b, spec, &e), 0);
	swap_for_link(f, secret);
	swap_for_link(top, secret);
	assert_int_equal(kt_initramfs__write_fd(b, fd, &e), 0);
	assert_entry_is(fd, "opt/d/f", "folder's file\n", 14);
	assert_entry_is(fd, "opt/top", "top file\n", 9);
	kt_initramfs__free(b);
	assert_int_equal(count_fds(), fds);
	close(fd);
	assert_int_equal(rm_tree(dir), 0);
}

/* The libraries of a closure are packed from the files the closure read:
 * its interpreter and its C library, swapped for links to a secret in
 * the sysroot after the program was added, go in as they were read. */
static void test_closure_swapped(void **state)
{
	char dir[] = "/tmp/kt-test-libswap.XXXXXX", p[PATH_MAX], libc[PATH_MAX], ld[PATH_MAX],
	     secret[PATH_MAX], cmd[PATH_MAX * 2];
	struct kt_elfdeps_opts eo = { .ldcache_path = "" };
	struct kt_initramfs_opts o = { .elf = &eo };
	struct kt_initramfs *b;
	struct kt_err e;
	size_t libc_len, ld_len;
	void *libc_bytes, *ld_bytes;
	int fd = memfd_create("i", MFD_CLOEXEC), fds = count_fds();

	(void)state;
	assert_non_null(mkdtemp(dir));
	eo.sysroot = dir;
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/lib/x86_64-linux-gnu %s/lib64 && cp /bin/true %s/true && "
		 "cp -L /lib/x86_64-linux-gnu/libc.so.6 %s/lib/x86_64-linux-gnu/ && "
		 "cp -L /lib64/ld-linux-x86-64.so.2 %s/lib64/", dir, dir, dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(p, sizeof(p), "%s/true", dir);
	snprintf(libc, sizeof(libc), "%s/lib/x86_64-linux-gnu/libc.so.6", dir);
	snprintf(ld, sizeof(ld), "%s/lib64/ld-linux-x86-64.so.2", dir);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	write_file(secret, "SECRET\n");
	libc_bytes = slurp(libc, &libc_len);
	ld_bytes = slurp(ld, &ld_len);

	assert_int_equal(kt_initramfs__new(&o, &b), 0);
	if (kt_initramfs__add_file(b, p, "/bin/true", 0, &e))
		fail_msg("%s", e.msg);
	swap_for_link(libc, secret);
	swap_for_link(ld, secret);
	assert_int_equal(kt_initramfs__write_fd(b, fd, &e), 0);
	assert_entry_is(fd, "lib/x86_64-linux-gnu/libc.so.6", libc_bytes, libc_len);
	assert_entry_is(fd, "lib64/ld-linux-x86-64.so.2", ld_bytes, ld_len);
	kt_initramfs__free(b);
	assert_int_equal(count_fds(), fds);
	free(libc_bytes);
	free(ld_bytes);
	close(fd);
	assert_int_equal(rm_tree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_over),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_elf_brings_its_closure),
		cmocka_unit_test(test_write_after),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_include_swapped),
		cmocka_unit_test(test_closure_swapped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
