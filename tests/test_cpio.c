/* Unit tests of cpio.c: exact newc bytes, padding, names, compression. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/cpio.h>

/* The whole content of @fd. */
static unsigned char *contents(int fd, size_t *len)
{
	struct stat st;
	unsigned char *b;

	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_int_equal(kt_pread_full(fd, b, (size_t)st.st_size, 0), st.st_size);
	*len = (size_t)st.st_size;
	return b;
}

static int build(int fd, enum kt_compress c)
{
	struct kt_cpio *w = NULL;
	int r;

	assert_int_equal(kt_cpio__new(fd, c, 0x5f5e100, &w), 0);
	r = kt_cpio__add_dir(w, "bin", 0755);
	if (!r)
		r = kt_cpio__add_data(w, "bin/hi", 0644, "hi\n", 3);
	if (!r)
		r = kt_cpio__add_symlink(w, "bin/sh", "busybox");
	if (!r)
		r = kt_cpio__add_node(w, "console", S_IFCHR | 0600, 5, 1);
	if (!r)
		r = kt_cpio__finish(w);
	kt_cpio__free(w);
	return r;
}

static void test_exact_bytes(void **state)
{
	int fd = memfd_create("cpio", MFD_CLOEXEC);
	size_t len, off = 0;
	unsigned char *b;
	char want[4096];

	(void)state;
	assert_int_equal(build(fd, KT_COMPRESS_NONE), 0);
	b = contents(fd, &len);
	/* header: magic + ino mode uid gid nlink mtime size dmaj dmin rmaj rmin namesize check */
#define HDR(ino, mode, nlink, size, rmaj, rmin, nsz) \
	"070701" ino mode "00000000" "00000000" nlink "05F5E100" size \
	"00000000" "00000000" rmaj rmin nsz "00000000"
	off += (size_t)sprintf(want + off, "%s", HDR("00000001", "000041ED", "00000002", "00000000", "00000000", "00000000", "00000004"));
	memcpy(want + off, "bin\0", 4); off += 4;		/* 110 + 4 = 114 -> pad 2 */
	memcpy(want + off, "\0\0", 2); off += 2;
	off += (size_t)sprintf(want + off, "%s", HDR("00000002", "000081A4", "00000001", "00000003", "00000000", "00000000", "00000007"));
	memcpy(want + off, "bin/hi\0", 7); off += 7;		/* 110 + 7 = 117 -> pad 3 */
	memcpy(want + off, "\0\0\0", 3); off += 3;
	memcpy(want + off, "hi\n\0", 4); off += 4;		/* data 3 -> pad 1 */
	off += (size_t)sprintf(want + off, "%s", HDR("00000003", "0000A1FF", "00000001", "00000007", "00000000", "00000000", "00000007"));
	memcpy(want + off, "bin/sh\0\0\0\0", 10); off += 10;
	memcpy(want + off, "busybox\0", 8); off += 8;
	off += (size_t)sprintf(want + off, "%s", HDR("00000004", "00002180", "00000001", "00000000", "00000005", "00000001", "00000008"));
	memcpy(want + off, "console\0\0\0", 10); off += 10;
	off += (size_t)sprintf(want + off, "%s", HDR("00000000", "00000000", "00000001", "00000000", "00000000", "00000000", "0000000B"));
	memcpy(want + off, "TRAILER!!!\0\0\0", 13); off += 13;
	assert_int_equal(len % 512, 0);
	assert_true(len >= off);
	assert_memory_equal(b, want, off);
	for (size_t i = off; i < len; i++)
		assert_int_equal(b[i], 0);
	free(b);
	close(fd);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(kt_cpio_check_name("bin/sh"), 0);
	assert_int_equal(kt_cpio_check_name("a"), 0);
	assert_int_equal(kt_cpio_check_name("..a/b.."), 0);
	assert_int_equal(kt_cpio_check_name(""), -EINVAL);
	assert_int_equal(kt_cpio_check_name("/bin/sh"), -EINVAL);
	assert_int_equal(kt_cpio_check_name("a/../b"), -EINVAL);
	assert_int_equal(kt_cpio_check_name(".."), -EINVAL);
	assert_int_equal(kt_cpio_check_name("a//b"), -EINVAL);
	assert_int_equal(kt_cpio_check_name("a/./b"), -EINVAL);
	assert_int_equal(kt_cpio_check_name("a/"), -EINVAL);
}

static void test_refusals(void **state)
{
	int fd = memfd_create("cpio", MFD_CLOEXEC), src;
	struct kt_cpio *w = NULL;
	char path[] = "/tmp/kt-test-cpio.XXXXXX";

	(void)state;
	assert_int_equal(kt_cpio__new(fd, KT_COMPRESS_NONE, 0, &w), 0);
	assert_int_equal(kt_cpio__add_dir(w, "/abs", 0755), -EINVAL);
	assert_int_equal(kt_cpio__add_data(w, "x/../y", 0644, "", 0), -EINVAL);
	assert_int_equal(kt_cpio__add_node(w, "n", S_IFREG | 0644, 1, 1), -EINVAL);
	assert_int_equal(kt_cpio__add_file(w, "big", 0644, -1, KT_CPIO_MAX_FILE + 1), -EFBIG);
	/* a file shorter than announced */
	src = mkstemp(path);
	assert_true(src >= 0);
	unlink(path);
	assert_int_equal(kt_write_all(src, "abc", 3), 0);
	lseek(src, 0, SEEK_SET);
	assert_int_equal(kt_cpio__add_file(w, "short", 0644, src, 10), -EIO);
	close(src);
	kt_cpio__free(w);
	close(fd);
}

static void test_compressed_equals_raw(void **state)
{
	int raw = memfd_create("raw", MFD_CLOEXEC);
	int gz = memfd_create("gz", MFD_CLOEXEC);
	int zs = memfd_create("zs", MFD_CLOEXEC);
	size_t rl, gl, zl;
	unsigned char *r, *g, *z, *out;
	z_stream s = { 0 };
	enum kt_compress k;

	(void)state;
	assert_int_equal(build(raw, KT_COMPRESS_NONE), 0);
	assert_int_equal(build(gz, KT_COMPRESS_GZIP), 0);
	assert_int_equal(build(zs, KT_COMPRESS_ZSTD), 0);
	r = contents(raw, &rl);
	g = contents(gz, &gl);
	z = contents(zs, &zl);
	out = malloc(rl + 16);

	assert_int_equal(g[0], 0x1f);
	assert_int_equal(g[1], 0x8b);
	assert_int_equal(inflateInit2(&s, 16 + 15), Z_OK);
	s.next_in = g;
	s.avail_in = (uInt)gl;
	s.next_out = out;
	s.avail_out = (uInt)rl + 16;
	assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
	assert_int_equal(s.total_out, rl);
	assert_memory_equal(out, r, rl);
	inflateEnd(&s);

	assert_int_equal(ZSTD_decompress(out, rl + 16, z, zl), rl);
	assert_memory_equal(out, r, rl);

	assert_int_equal(kt_compress_parse("zstd", &k), 0);
	assert_int_equal(k, KT_COMPRESS_ZSTD);
	assert_int_equal(kt_compress_parse("xz", &k), -EINVAL);
	free(r);
	free(g);
	free(z);
	free(out);
	close(raw);
	close(gz);
	close(zs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_compressed_equals_raw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
