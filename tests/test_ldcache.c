/* Unit tests of ldcache.c on caches built here byte by byte, and on
 * truncated or corrupted copies. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/ldcache.h>

struct ent { uint32_t flags; const char *key, *value; uint64_t hwcap; };

static void put32(unsigned char *p, uint32_t v, int big)
{
	for (int i = 0; i < 4; i++)
		p[big ? 3 - i : i] = (unsigned char)(v >> (8 * i));
}

/* A new-format cache (after an old table of @old entries when @old >= 0). */
static unsigned char *build(const struct ent *e, size_t n, int big, int old,
			    size_t *len)
{
	size_t pre = 0, strs = 0, off;
	unsigned char *b, *h;

	if (old >= 0)
		pre = (16 + (size_t)old * 12 + 7) & ~(size_t)7;
	for (size_t i = 0; i < n; i++)
		strs += strlen(e[i].key) + strlen(e[i].value) + 2;
	*len = pre + 48 + n * 24 + strs;
	b = calloc(1, *len);
	if (old >= 0) {
		memcpy(b, "ld.so-1.7.0", 11);
		put32(b + 12, (uint32_t)old, 0);
	}
	h = b + pre;
	memcpy(h, "glibc-ld.so.cache1.1", 20);
	put32(h + 20, (uint32_t)n, big);
	put32(h + 24, (uint32_t)strs, big);
	h[28] = big ? 3 : 2;
	off = 48 + n * 24;
	for (size_t i = 0; i < n; i++) {
		unsigned char *p = h + 48 + i * 24;

		put32(p, e[i].flags, big);
		put32(p + 4, (uint32_t)off, big);
		strcpy((char *)h + off, e[i].key);
		off += strlen(e[i].key) + 1;
		put32(p + 8, (uint32_t)off, big);
		strcpy((char *)h + off, e[i].value);
		off += strlen(e[i].value) + 1;
		put32(p + 16 + (big ? 4 : 0), (uint32_t)e[i].hwcap, big);
		put32(p + 20 - (big ? 4 : 0), (uint32_t)(e[i].hwcap >> 32), big);
	}
	return b;
}

static const struct ent ents[] = {
	{ 0x0303, "libfoo.so.1", "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libfoo.so.1", (1ULL << 62) },
	{ 0x0303, "libfoo.so.1", "/usr/lib/x86_64-linux-gnu/libfoo.so.1", 0 },
	{ 0x0003, "libfoo.so.1", "/usr/lib/i386-linux-gnu/libfoo.so.1", 0 },
	{ 0x0a03, "libbar.so", "/usr/lib/aarch64-linux-gnu/libbar.so", 0 },
};

static void check_lookups(const unsigned char *b, size_t len)
{
	struct kt_ldcache *c = NULL;

	assert_int_equal(kt_ldcache__parse(b, len, "t", &c, NULL), 0);
	assert_int_equal(kt_ldcache__count(c), 4);
	/* the hwcaps copy is skipped for the baseline one */
	assert_string_equal(kt_ldcache__lookup(c, "libfoo.so.1", 0x0303),
			    "/usr/lib/x86_64-linux-gnu/libfoo.so.1");
	assert_string_equal(kt_ldcache__lookup(c, "libfoo.so.1", 0x0003),
			    "/usr/lib/i386-linux-gnu/libfoo.so.1");
	assert_null(kt_ldcache__lookup(c, "libbar.so", 0x0303));
	assert_null(kt_ldcache__lookup(c, "libnone.so", 0x0303));
	kt_ldcache__free(c);
}

static void test_lookup(void **state)
{
	size_t len;
	unsigned char *b;

	(void)state;
	b = build(ents, 4, 0, -1, &len);
	check_lookups(b, len);
	free(b);
	b = build(ents, 4, 1, -1, &len);	/* big-endian */
	check_lookups(b, len);
	free(b);
	b = build(ents, 4, 0, 3, &len);		/* after an old-format table */
	check_lookups(b, len);
	free(b);
}

static void test_flags(void **state)
{
	(void)state;
	assert_int_equal(kt_ldcache_flags(ELFCLASS64, EM_X86_64), 0x0303);
	assert_int_equal(kt_ldcache_flags(ELFCLASS64, EM_AARCH64), 0x0a03);
	assert_int_equal(kt_ldcache_flags(ELFCLASS32, EM_386), 0x0003);
	assert_int_equal(kt_ldcache_flags(ELFCLASS32, EM_X86_64), 0);
}

static void test_bad_files(void **state)
{
	struct kt_ldcache *c = NULL;
	struct kt_err e;
	size_t len;
	unsigned char *b;

	(void)state;
	assert_int_equal(kt_ldcache__parse("nonsense", 8, "x", &c, &e), -ENOEXEC);
	assert_str_contains(e.msg, "not a glibc-ld.so.cache1.1 file");

	b = build(ents, 4, 0, -1, &len);
	put32(b + 20, 1000, 0);			/* more entries than bytes */
	assert_int_equal(kt_ldcache__parse(b, len, "x", &c, &e), -EINVAL);
	assert_str_contains(e.msg, "entry count out of bounds");
	put32(b + 20, 4, 0);
	put32(b + 48 + 4, (uint32_t)len, 0);	/* key offset past the end */
	assert_int_equal(kt_ldcache__parse(b, len, "x", &c, &e), -EINVAL);
	assert_str_contains(e.msg, "string offset out of bounds");
	put32(b + 48 + 4, 48 + 4 * 24, 0);
	b[len - 1] = 'x';			/* last string unterminated */
	assert_int_equal(kt_ldcache__parse(b, len, "x", &c, NULL), -EINVAL);
	b[len - 1] = '\0';
	b[28] = 7;				/* unknown byte order */
	assert_int_equal(kt_ldcache__parse(b, len, "x", &c, NULL), -EINVAL);
	free(b);

	b = build(ents, 4, 0, 3, &len);
	put32(b + 12, 0x10000000, 0);		/* old table larger than the file */
	assert_int_equal(kt_ldcache__parse(b, len, "x", &c, NULL), -EINVAL);
	free(b);
	assert_int_equal(kt_ldcache__open("/nonexistent", &c, &e), -ENOENT);
}

static void test_truncated_and_flipped(void **state)
{
	size_t len;
	unsigned char *b = build(ents, 4, 0, 2, &len);
	unsigned seed = 7;

	(void)state;
	for (size_t n = 0; n <= len; n++) {
		struct kt_ldcache *c = NULL;
		unsigned char *copy = malloc(n ? n : 1);
		int r;

		memcpy(copy, b, n);
		r = kt_ldcache__parse(copy, n, "t", &c, NULL);
		assert_true(r == 0 || r == -EINVAL || r == -ENOEXEC);
		if (!r)
			kt_ldcache__lookup(c, "libfoo.so.1", 0x0303);
		kt_ldcache__free(c);
		free(copy);
	}
	for (int round = 0; round < 20000; round++) {
		struct kt_ldcache *c = NULL;
		unsigned char *copy = malloc(len);

		memcpy(copy, b, len);
		seed = seed * 1103515245u + 12345u;
		copy[(seed >> 8) % len] ^= (unsigned char)(seed >> 24 | 1);
		if (!kt_ldcache__parse(copy, len, "t", &c, NULL)) {
			const char *p = kt_ldcache__lookup(c, "libfoo.so.1", 0x0303);

			if (p)
				assert_true(strlen(p) < len);
		}
		kt_ldcache__free(c);
		free(copy);
	}
	free(b);
}

static void test_this_machine(void **state)
{
	struct kt_ldcache *c = NULL;

	(void)state;
	if (kt_ldcache__open(KT_LDCACHE_PATH, &c, NULL))
		skip();
	assert_true(kt_ldcache__count(c) > 10);
	assert_non_null(kt_ldcache__lookup(c, "libc.so.6", 0x0303));
	kt_ldcache__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_truncated_and_flipped),
		cmocka_unit_test(test_this_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
