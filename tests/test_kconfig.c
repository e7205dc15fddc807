/* Unit tests of kconfig.c: the config an image embeds (IKCONFIG), and
 * where a kernel's config is found, in order, and which files are not
 * taken (a folder or a file another user could change, a link). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/kconfig.h>

#define REL	"6.9.0-test"

static char dir[64];
static char said[8192];

static void log_fn(void *ctx, enum kt_log_level level, const char *msg)
{
	size_t l = strlen(said);

	(void)ctx;
	snprintf(said + l, sizeof(said) - l, "%s%s\n", level == KT_LOG_WARN ? "warning: " : "",
		 msg);
}

static const struct kt_log logger = { .fn = log_fn };

/* @len bytes at @p, gzip'd, into a new buffer; its size in @out_len. */
static unsigned char *gzip(const void *p, size_t len, size_t *out_len)
{
	z_stream z = { 0 };
	size_t cap = len + len / 100 + 1024;
	unsigned char *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

/* An image: some bytes, the marker and @gz, the end marker, more bytes. */
static unsigned char *image(const char *before, const void *gz, size_t gzlen, size_t *len)
{
	size_t bl = strlen(before);
	unsigned char *p = malloc(bl + 8 + gzlen + 8 + 16);

	assert_non_null(p);
	memcpy(p, before, bl);
	memcpy(p + bl, "IKCFG_ST", 8);
	memcpy(p + bl + 8, gz, gzlen);
	memcpy(p + bl + 8 + gzlen, "IKCFG_EDtrailing", 16);
	*len = bl + 8 + gzlen + 16;
	return p;
}

static void write_file(const char *path, const void *p, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(kt_write_all(fd, p, len), 0);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/kt-test-kconfig.XXXXXX");
	said[0] = '\0';
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(dir);
}

static void test_embedded(void **state)
{
	static const char cfg[] = "CONFIG_BPF=y\nCONFIG_IKCONFIG=y\n";
	unsigned char *gz, *img, *big;
	size_t gzlen, len, outlen;
	char *out = NULL;

	(void)state;
	gz = gzip(cfg, sizeof(cfg) - 1, &gzlen);
	/* a stray marker before the real one is passed over */
	img = image("IKCFG_ST not gzip ", gz, gzlen, &len);
	assert_int_equal(kt_kconfig_embedded(img, len, &out, &outlen), 0);
	assert_int_equal(outlen, sizeof(cfg) - 1);
	assert_string_equal(out, cfg);
	free(out);
	free(img);
	assert_int_equal(kt_kconfig_embedded("no marker here", 14, &out, &outlen), -ENOENT);
	assert_int_equal(kt_kconfig_embedded("", 0, &out, &outlen), -ENOENT);
	/* cut short, or only a stray marker */
	img = image("x", gz, gzlen / 2, &len);
	assert_int_equal(kt_kconfig_embedded(img, 1 + 8 + gzlen / 2, &out, &outlen), -EINVAL);
	free(img);
	assert_int_equal(kt_kconfig_embedded("IKCFG_ST", 8, &out, &outlen), -EINVAL);
	free(gz);
	/* a bomb stops at the bound */
	big = calloc(1, KT_KCONFIG_MAX + 1);
	assert_non_null(big);
	gz = gzip(big, KT_KCONFIG_MAX + 1, &gzlen);
	img = image("", gz, gzlen, &len);
	assert_int_equal(kt_kconfig_embedded(img, len, &out, &outlen), -EFBIG);
	free(img);
	free(gz);
	free(big);
}

/* Finds the config of @kernel; "" when there is none.  Its source in
 * @from. */
static char *find(const char *kernel, const char *release, const char *img, char *from)
{
	char *out = NULL;
	size_t len;
	int r;

	from[0] = '\0';
	r = kt_kconfig_find(kernel, release, img, &logger, &out, &len, from, PATH_MAX);
	if (r == -ENOENT)
		return strdup("");
	assert_int_equal(r, 0);
	assert_int_equal(strlen(out), len);
	return out;
}

static void test_find_order(void **state)
{
	char kdir[96], tree[96], kernel[256], beside[256], link[256], dotconfig[256], img[256];
	char from[PATH_MAX], *c;
	static const char emb[] = "CONFIG_EMBEDDED=y\n";
	unsigned char *gz, *ib;
	size_t gzlen, ilen;

	(void)state;
	snprintf(kdir, sizeof(kdir), "%s/k", dir);
	assert_int_equal(mkdir(kdir, 0755), 0);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz-" REL, kdir);
	write_file(kernel, "kernel", 6, 0644);
	gz = gzip(emb, sizeof(emb) - 1, &gzlen);
	ib = image("vmlinux ", gz, gzlen, &ilen);
	snprintf(img, sizeof(img), "%s/vmlinux", dir);
	write_file(img, ib, ilen, 0644);
	free(ib);
	free(gz);

	/* nothing beside it: the image's own */
	c = find(kernel, REL, img, from);
	assert_string_equal(c, emb);
	assert_str_contains(from, "the config embedded in '");
	free(c);
	c = find(kernel, REL, NULL, from);
	assert_string_equal(c, "");
	free(c);

	/* beside the kernel, also when it is named through a link */
	snprintf(beside, sizeof(beside), "%s/config-" REL, kdir);
	write_file(beside, "CONFIG_BESIDE=y\n", 16, 0644);
	snprintf(link, sizeof(link), "%s/vmlinuz", dir);
	assert_int_equal(symlink(kernel, link), 0);
	c = find(link, REL, img, from);
	assert_string_equal(c, "CONFIG_BESIDE=y\n");
	assert_string_equal(from, beside);
	free(c);
	/* a release that is not known names no file */
	c = find(kernel, "", NULL, from);
	assert_string_equal(c, "");
	free(c);
	assert_string_equal(said, "");

	/* a file another user could change is not taken, and said */
	assert_int_equal(chmod(beside, 0666), 0);
	c = find(kernel, REL, img, from);
	assert_string_equal(c, emb);
	assert_str_contains(said, "warning: ignoring the kernel config '");
	assert_str_contains(said, "config-" REL "': it is writable by other users");
	free(c);
	said[0] = '\0';
	assert_int_equal(chmod(beside, 0644), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(beside, 65534, 65534), 0);
		c = find(kernel, REL, NULL, from);
		assert_string_equal(c, "");
		assert_str_contains(said, "': it is owned by another user");
		free(c);
		said[0] = '\0';
		assert_int_equal(chown(beside, 0, 0), 0);
	}
	/* nor one in a folder another user can change */
	assert_int_equal(chmod(kdir, 0777), 0);
	c = find(kernel, REL, NULL, from);
	assert_string_equal(c, "");
	assert_str_contains(said, "': its folder cannot be trusted: it is writable by other users");
	free(c);
	said[0] = '\0';
	assert_int_equal(chmod(kdir, 0755), 0);
	/* nor a link, which could lead anywhere */
	snprintf(link, sizeof(link), "%s/elsewhere", dir);
	assert_int_equal(rename(beside, link), 0);
	assert_int_equal(symlink(link, beside), 0);
	c = find(kernel, REL, NULL, from);
	assert_string_equal(c, "");
	assert_str_contains(said, "': it is a symlink");
	free(c);
	said[0] = '\0';

	/* a build tree: its .config */
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	assert_int_equal(mkdir(tree, 0755), 0);
	c = find(tree, REL, NULL, from);
	assert_string_equal(c, "");
	free(c);
	snprintf(dotconfig, sizeof(dotconfig), "%s/.config", tree);
	write_file(dotconfig, "CONFIG_TREE=y\n", 14, 0644);
	c = find(tree, REL, NULL, from);
	assert_string_equal(c, "CONFIG_TREE=y\n");
	assert_string_equal(from, dotconfig);
	free(c);
	assert_string_equal(said, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded),
		cmocka_unit_test_setup_teardown(test_find_order, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
