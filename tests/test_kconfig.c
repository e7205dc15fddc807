/* Unit tests of kconfig.c: the config an image embeds (IKCONFIG), and
 * where a kernel's config is found, in order, and which files are not
 * taken (a folder or a file another user could change, a link); the
 * .config parser on real and hostile text, and the requirements. */
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

/* Where kt_kconfig_find() looks, said in its order. */
static void test_places(void **state)
{
	char kdir[96], kernel[160], want[512], *s;

	(void)state;
	snprintf(kdir, sizeof(kdir), "%s/k", dir);
	assert_int_equal(mkdir(kdir, 0755), 0);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", kdir);
	write_file(kernel, "kernel", 6, 0644);
	s = kt_kconfig_places(kernel, REL, "/x/vmlinux");
	snprintf(want, sizeof(want),
		 "'%s/config-" REL "', '/boot/config-" REL "' and the config embedded in '%s'",
		 kdir, kernel);
	assert_string_equal(s, want);
	free(s);
	s = kt_kconfig_places(kernel, REL, NULL);
	snprintf(want, sizeof(want), "'%s/config-" REL "' and '/boot/config-" REL "'", kdir);
	assert_string_equal(s, want);
	free(s);
	/* a build tree: its .config, whatever the release */
	s = kt_kconfig_places(kdir, "", NULL);
	snprintf(want, sizeof(want), "'%s/.config'", kdir);
	assert_string_equal(s, want);
	free(s);
	s = kt_kconfig_places(kernel, "", NULL);
	assert_string_equal(s, "nothing: the kernel's release is not known");
	free(s);
}

static struct kt_kconfig *parse(const char *text)
{
	struct kt_kconfig *c = NULL;
	struct kt_err e = { 0 };

	assert_int_equal(kt_kconfig__parse(text, strlen(text), "cfg", &c, &e), 0);
	assert_non_null(c);
	return c;
}

/* The lines confdata.c reads, and every other one passed over. */
static void test_parse(void **state)
{
	static const char text[] =
		"#\n"
		"# Automatically generated file; DO NOT EDIT.\n"
		"CONFIG_BPF_SYSCALL=y\n"
		"CONFIG_VIRTIO_CONSOLE=m\r\n"
		"# CONFIG_KPROBES is not set\n"
		"CONFIG_HZ=250\n"
		"CONFIG_LSM=\"landlock,lockdown,yama\"\n"
		"CONFIG_CMDLINE=\"a\tb\"\n"
		"\n"
		"garbage without a prefix=y\n"
		"CONFIG_=y\n"
		"CONFIG_NO_VALUE=\n"
		"CONFIG_NO_EQUALS\n"
		"CONFIG_BAD-NAME=y\n"
		"# CONFIG_FTRACE is set after all\n"
		"#CONFIG_KVM_GUEST is not set\n"
		"CONFIG_KVM_GUEST=y\n"
		/* a later line wins, both ways */
		"CONFIG_FTRACE=y\n"
		"# CONFIG_FTRACE is not set\n"
		"# CONFIG_DEBUG_INFO_BTF is not set\n"
		"CONFIG_DEBUG_INFO_BTF=y\n"
		"CONFIG_LAST=m";	/* no newline at the end */
	struct kt_kconfig *c = parse(text);

	(void)state;
	assert_string_equal(kt_kconfig__from(c), "cfg");
	assert_string_equal(kt_kconfig__value(c, "CONFIG_BPF_SYSCALL"), "y");
	/* the prefix may be left out */
	assert_string_equal(kt_kconfig__value(c, "BPF_SYSCALL"), "y");
	assert_string_equal(kt_kconfig__value(c, "CONFIG_VIRTIO_CONSOLE"), "m");
	assert_null(kt_kconfig__value(c, "CONFIG_KPROBES"));
	assert_string_equal(kt_kconfig__value(c, "CONFIG_HZ"), "250");
	assert_string_equal(kt_kconfig__value(c, "CONFIG_LSM"), "\"landlock,lockdown,yama\"");
	assert_string_equal(kt_kconfig__value(c, "CONFIG_CMDLINE"), "\"a\tb\"");
	assert_null(kt_kconfig__value(c, "CONFIG_NO_VALUE"));
	assert_null(kt_kconfig__value(c, "CONFIG_NO_EQUALS"));
	assert_null(kt_kconfig__value(c, "CONFIG_BAD"));
	assert_null(kt_kconfig__value(c, "CONFIG_"));
	assert_string_equal(kt_kconfig__value(c, "CONFIG_KVM_GUEST"), "y");
	assert_null(kt_kconfig__value(c, "CONFIG_FTRACE"));
	assert_string_equal(kt_kconfig__value(c, "CONFIG_DEBUG_INFO_BTF"), "y");
	assert_string_equal(kt_kconfig__value(c, "CONFIG_LAST"), "m");
	/* a name that is another's prefix, or has one, is not that one */
	assert_null(kt_kconfig__value(c, "CONFIG_BPF"));
	assert_null(kt_kconfig__value(c, "CONFIG_BPF_SYSCALL_X"));
	assert_null(kt_kconfig__value(c, "CONFIG_SCHED_CLASS_EXT"));
	kt_kconfig__free(c);
	kt_kconfig__free(NULL);

	c = parse("");
	assert_null(kt_kconfig__value(c, "CONFIG_BPF"));
	kt_kconfig__free(c);
}

/* Untrusted text: what cannot be a config is said, by line. */
static void test_parse_hostile(void **state)
{
	struct kt_kconfig *c = NULL;
	struct kt_err e = { 0 };
	size_t len = KT_KCONFIG_LINE_MAX + 64;
	char *big = malloc(len + 1);

	(void)state;
	assert_non_null(big);
	/* a line at the bound is read; one byte more is refused */
	memset(big, 'a', len);
	memcpy(big, "CONFIG_A=y\nCONFIG_LONG=", 23);
	big[11 + KT_KCONFIG_LINE_MAX] = '\n';
	assert_int_equal(kt_kconfig__parse(big, 12 + KT_KCONFIG_LINE_MAX, "big", &c, &e), 0);
	assert_int_equal(strlen(kt_kconfig__value(c, "CONFIG_LONG")), KT_KCONFIG_LINE_MAX - 12);
	kt_kconfig__free(c);
	big[11 + KT_KCONFIG_LINE_MAX] = 'a';
	big[12 + KT_KCONFIG_LINE_MAX] = '\n';
	assert_int_equal(kt_kconfig__parse(big, len, "big", &c, &e), -EINVAL);
	assert_null(c);
	assert_string_equal(e.msg, "big: line 2 is over 16384 bytes: not a kernel config");
	free(big);
	/* a control byte (a NUL too) in a value would reach a terminal */
	assert_int_equal(kt_kconfig__parse("# x\nCONFIG_X=\"\033[2J\"\n", 20, "esc", &c, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "esc: line 2: a control byte in the value of CONFIG_X: not a kernel config");
	assert_int_equal(kt_kconfig__parse("CONFIG_X=y\0z\n", 13, "nul", &c, &e), -EINVAL);
	assert_str_contains(e.msg, "nul: line 1: a control byte");
	/* a C1 CSI, a bidi override, a byte that is not UTF-8; UTF-8 text is fine */
	assert_int_equal(kt_kconfig__parse("CONFIG_X=\"\xc2\x9b" "2J\"\n", 16, "c1", &c, &e), -EINVAL);
	assert_int_equal(kt_kconfig__parse("CONFIG_X=\"\xe2\x80\xae\"\n", 15, "bidi", &c, &e), -EINVAL);
	assert_int_equal(kt_kconfig__parse("CONFIG_X=\"\xff\"\n", 13, "ff", &c, &e), -EINVAL);
	c = NULL;
	assert_int_equal(kt_kconfig__parse("CONFIG_X=\"caf\xc3\xa9\"\n", 17, "utf8", &c, &e), 0);
	kt_kconfig__free(c);
	/* a NUL elsewhere is a line like any other */
	c = NULL;
	assert_int_equal(kt_kconfig__parse("CONFIG_\0=y\nCONFIG_B=y", 21, "nul", &c, &e), 0);
	assert_string_equal(kt_kconfig__value(c, "CONFIG_B"), "y");
	kt_kconfig__free(c);
	assert_int_equal(kt_kconfig__parse("", KT_KCONFIG_MAX + 1, "huge", &c, &e), -EFBIG);
}

/* The form of a requirement, and what meets it. */
static void test_require(void **state)
{
	static const char *const good[] = {
		"CONFIG_BPF", "CONFIG_BPF=y", "CONFIG_BPF=m", "BPF", "BPF=m", "CONFIG_64BIT",
	};
	static const char *const bad[] = {
		"", "CONFIG_", "CONFIG_BPF=", "CONFIG_BPF=n", "CONFIG_BPF=yes", "CONFIG_bpf",
		"CONFIG_BPF SYSCALL", "CONFIG_BPF=y ", " CONFIG_BPF", "=y", "CONFIG_BPF==y",
	};
	struct kt_kconfig *c = parse("CONFIG_Y=y\nCONFIG_M=m\nCONFIG_HZ=250\n# CONFIG_N is not set\n");
	struct kt_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(kt_kconfig_spec_check(good[i], &e), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.msg[0] = '\0';
		assert_int_equal(kt_kconfig_spec_check(bad[i], &e), -EINVAL);
		assert_str_contains(e.msg, "is not a config requirement: expected CONFIG_NAME, CONFIG_NAME=y or CONFIG_NAME=m");
		assert_int_equal(kt_kconfig__require(c, bad[i], &e), -EINVAL);
	}
	assert_int_equal(kt_kconfig__require(c, "CONFIG_Y", &e), 0);
	assert_int_equal(kt_kconfig__require(c, "CONFIG_Y=y", &e), 0);
	assert_int_equal(kt_kconfig__require(c, "Y=y", &e), 0);
	assert_int_equal(kt_kconfig__require(c, "CONFIG_M", &e), 0);
	assert_int_equal(kt_kconfig__require(c, "CONFIG_M=m", &e), 0);

	assert_int_equal(kt_kconfig__require(c, "CONFIG_Y=m", &e), -ENOENT);
	assert_string_equal(e.msg, "has CONFIG_Y=y (in cfg), not as a module");
	assert_int_equal(kt_kconfig__require(c, "M=y", &e), -ENOENT);
	assert_string_equal(e.msg, "has CONFIG_M=m (in cfg), not built in");
	assert_int_equal(kt_kconfig__require(c, "CONFIG_HZ", &e), -ENOENT);
	assert_string_equal(e.msg, "has CONFIG_HZ=250 (in cfg), neither y nor m");
	assert_int_equal(kt_kconfig__require(c, "CONFIG_N", &e), -ENOENT);
	assert_string_equal(e.msg, "has no CONFIG_N (not set in cfg)");
	/* absent is not set, as Kconfig reads it */
	assert_int_equal(kt_kconfig__require(c, "SCHED_CLASS_EXT=y", &e), -ENOENT);
	assert_string_equal(e.msg, "has no CONFIG_SCHED_CLASS_EXT (not set in cfg)");
	/* a name that is another's prefix is not that one */
	assert_int_equal(kt_kconfig__require(c, "CONFIG_H", &e), -ENOENT);
	kt_kconfig__free(c);

	/* the tracing list is what ktpack kernel prints */
	assert_string_equal(kt_kconfig_tracing()[0], "CONFIG_SCHED_CLASS_EXT");
	for (const char *const *n = kt_kconfig_tracing(); *n; n++)
		assert_int_equal(kt_kconfig_spec_check(*n, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded),
		cmocka_unit_test_setup_teardown(test_find_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_places, setup, teardown),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_require),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
