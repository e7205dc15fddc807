/* Unit tests of vm.c that need no VM: the trace frame, the kernel check,
 * the program lookup, the accelerator names. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/vm.h>
#include "guest/proto.h"

static char dir[64], serial[128], out[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/kt-test-vm.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(serial, sizeof(serial), "%s/ttyS1", dir);
	snprintf(out, sizeof(out), "%s/trace.pb", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(dir);
}

/* A frame for @len bytes of @data; @cut drops its second half, @flip
 * corrupts one byte of the compressed stream, @lie adds to the announced
 * size. */
static void write_frame(const unsigned char *data, size_t len, bool cut, bool flip,
			int lie)
{
	uLongf zlen = compressBound((uLong)len);
	unsigned char hdr[KT_TRACE_HDR], tail[4], *z = malloc(zlen);
	uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len);
	unsigned char *all;
	size_t total;
	int fd;

	assert_int_equal(compress2(z, &zlen, data, (uLong)len, 1), Z_OK);
	if (flip)
		z[zlen / 2] ^= 0x55;
	kt_trace_header(hdr, zlen, (uint64_t)((int64_t)len + lie));
	kt_put_le32(tail, crc);
	total = sizeof(hdr) + zlen + sizeof(tail);
	all = malloc(total);
	memcpy(all, hdr, sizeof(hdr));
	memcpy(all + sizeof(hdr), z, zlen);
	memcpy(all + sizeof(hdr) + zlen, tail, sizeof(tail));
	fd = open(serial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(kt_write_all(fd, all, cut ? total / 2 : total), 0);
	close(fd);
	free(z);
	free(all);
}

/* Appends @len bytes to the serial file. */
static void append_serial(const void *p, size_t len)
{
	int fd = open(serial, O_WRONLY | O_APPEND | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(kt_write_all(fd, p, len), 0);
	close(fd);
}

/* What a guest command writes to the port itself comes before init's
 * frame: the frame that ends the file is the one taken. */
static void test_trace_frame_is_the_last(void **state)
{
	unsigned char forged[1000], real[2000], back[2001], *prefix;
	size_t plen;
	uint64_t n = 0;
	struct kt_err e;
	int fd;

	(void)state;
	memset(forged, 'F', sizeof(forged));
	memset(real, 'R', sizeof(real));
	/* a forged frame and junk, then the real one */
	write_frame(forged, sizeof(forged), false, false, 0);
	fd = open(serial, O_RDONLY | O_CLOEXEC);
	prefix = malloc(1 << 16);
	plen = (size_t)kt_pread_full(fd, prefix, 1 << 16, 0);
	close(fd);
	write_frame(real, sizeof(real), false, false, 0);
	fd = open(serial, O_RDONLY | O_CLOEXEC);
	{
		unsigned char *rf = malloc(1 << 16);
		size_t rlen = (size_t)kt_pread_full(fd, rf, 1 << 16, 0);

		close(fd);
		fd = open(serial, O_WRONLY | O_TRUNC | O_CLOEXEC);
		close(fd);
		append_serial(prefix, plen);
		append_serial("hello\n", 6);
		append_serial(rf, rlen);
		free(rf);
	}
	assert_int_equal(kt_vm_take_trace(serial, out, 0, &n, &e), 0);
	assert_int_equal(n, sizeof(real));
	fd = open(out, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, back, sizeof(back)), (ssize_t)sizeof(real));
	assert_memory_equal(back, real, sizeof(real));
	close(fd);
	/* bytes after the frame: not init's last word */
	append_serial("x", 1);
	assert_int_equal(kt_vm_take_trace(serial, out, 0, &n, &e), -EIO);
	/* more than the guest's memory could hold */
	write_frame(real, sizeof(real), false, false, 0);
	assert_int_equal(kt_vm_take_trace(serial, out, 1000, &n, &e), -EIO);
	assert_str_contains(e.msg, "more than its");
	free(prefix);
}

static void test_trace_frame(void **state)
{
	unsigned char data[100000], back[100001];
	uint64_t n = 0;
	struct kt_err e;
	int fd;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + i / 251);
	write_frame(data, sizeof(data), false, false, 0);
	assert_int_equal(kt_vm_take_trace(serial, out, 0, &n, &e), 0);
	assert_int_equal(n, sizeof(data));
	fd = open(out, O_RDONLY | O_CLOEXEC);
	assert_int_equal(kt_pread_full(fd, back, sizeof(back), 0), sizeof(data));
	assert_memory_equal(back, data, sizeof(data));
	close(fd);
	unlink(out);

	write_frame(data, sizeof(data), false, true, 0);
	assert_int_equal(kt_vm_take_trace(serial, out, 0, &n, &e), -EIO);
	assert_str_contains(e.msg, "corrupt");
	assert_int_equal(access(out, F_OK), -1);

	write_frame(data, sizeof(data), true, false, 0);
	assert_int_equal(kt_vm_take_trace(serial, out, 0, &n, &e), -EIO);
	assert_str_contains(e.msg, "truncated");
	assert_int_equal(access(out, F_OK), -1);

	/* more bytes than announced, fewer than announced */
	write_frame(data, sizeof(data), false, false, -1);
	assert_int_equal(kt_vm_take_trace(serial, out, 0, &n, &e), -EIO);
	assert_str_contains(e.msg, "longer than announced");
	write_frame(data, sizeof(data), false, false, 1);
	assert_int_equal(kt_vm_take_trace(serial, out, 0, &n, &e), -EIO);
	assert_str_contains(e.msg, "truncated");
	assert_int_equal(access(out, F_OK), -1);

	unlink(serial);
	assert_int_equal(kt_vm_take_trace(serial, out, 0, &n, &e), -ENOENT);
	assert_str_contains(e.msg, "no trace came back");
	/* a frame length that claims more than the file */
	write_frame(data, 10, false, false, 0);
	fd = open(serial, O_WRONLY | O_CLOEXEC);
	assert_int_equal(kt_pwrite_all(fd, "\xff\xff\xff\xff\xff\xff\xff\x7f", 8, 8), 0);
	close(fd);
	assert_int_equal(kt_vm_take_trace(serial, out, 0, &n, &e), -EIO);
	assert_int_equal(access(out, F_OK), -1);
	(void)dir;
}

static void test_kernel_check(void **state)
{
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_kernel_check("/bin/true", &e), -ENOEXEC);
	assert_str_contains(e.msg, "an ELF kernel without a PVH entry point");
	assert_int_equal(kt_kernel_check("/etc/passwd", &e), -ENOEXEC);
	assert_str_contains(e.msg, "not a Linux kernel image");
	assert_int_equal(kt_kernel_check("/nonexistent", &e), -ENOENT);
	assert_int_equal(kt_kernel_check("/tmp", &e), -EINVAL);
	if (access("/var/cache/ktpack/vmlinuz", R_OK) == 0)
		assert_int_equal(kt_kernel_check("/var/cache/ktpack/vmlinuz", NULL), 0);
}

static void test_find_program(void **state)
{
	char p[4096];
	char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

	(void)state;
	setenv("PATH", "/nonexistent:/bin", 1);
	assert_int_equal(kt_find_program("true", p, sizeof(p)), 0);
	assert_string_equal(p, "/bin/true");
	assert_int_equal(kt_find_program("no-such-program-here", p, sizeof(p)), -ENOENT);
	assert_int_equal(kt_find_program("/bin/true", p, sizeof(p)), 0);
	assert_int_equal(kt_find_program("/nonexistent/x", p, sizeof(p)), -ENOENT);
	if (old)
		setenv("PATH", old, 1);
	free(old);
}

static void test_accel(void **state)
{
	enum kt_accel a;

	(void)state;
	assert_int_equal(kt_accel_parse("kvm", &a), 0);
	assert_int_equal(a, KT_ACCEL_KVM);
	assert_int_equal(kt_accel_parse("tcg", &a), 0);
	assert_int_equal(a, KT_ACCEL_TCG);
	assert_int_equal(kt_accel_parse("auto", &a), 0);
	assert_int_equal(kt_accel_parse("hvf", &a), -EINVAL);
	assert_string_equal(kt_accel_name(KT_ACCEL_TCG), "TCG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_trace_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_frame_is_the_last, setup, teardown),
		cmocka_unit_test(test_kernel_check),
		cmocka_unit_test(test_find_program),
		cmocka_unit_test(test_accel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
