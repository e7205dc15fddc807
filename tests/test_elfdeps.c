/* Unit tests of elfdeps.c through its API on the machine's own binaries
 * (the search-order fixtures are in tests/t0300-ldd.sh). */
#include <errno.h>
#include <stdlib.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/elfdeps.h>

static const struct kt_dep *find(const struct kt_closure *c, const char *name)
{
	for (size_t i = 0; i < kt_closure__count(c); i++)
		if (!strcmp(kt_closure__dep(c, i)->name, name))
			return kt_closure__dep(c, i);
	return NULL;
}

static void test_closure_of_ls(void **state)
{
	struct kt_resolver *r = NULL;
	struct kt_closure *c = NULL;
	const struct kt_dep *d;

	(void)state;
	assert_int_equal(kt_resolver__new(NULL, &r), 0);
	assert_int_equal(kt_resolver__closure(r, "/bin/ls", NULL, &c, NULL), 0);
	assert_string_equal(kt_closure__interp(c), "/lib64/ld-linux-x86-64.so.2");
	d = find(c, "libc.so.6");
	assert_non_null(d);
	assert_string_equal(d->path, "/lib/x86_64-linux-gnu/libc.so.6");
	assert_string_equal(d->guest_path, d->path);
	/* the interpreter is not listed among the libraries */
	assert_null(find(c, "ld-linux-x86-64.so.2"));
	assert_null(kt_closure__dep(c, kt_closure__count(c)));
	kt_closure__free(c);
	/* the resolver serves a second closure */
	assert_int_equal(kt_resolver__closure(r, "/bin/busybox", NULL, &c, NULL), 0);
	assert_null(kt_closure__interp(c));
	assert_int_equal(kt_closure__count(c), 0);
	kt_closure__free(c);
	kt_resolver__free(r);
	kt_resolver__free(NULL);
	kt_closure__free(NULL);
}

static void test_without_cache(void **state)
{
	struct kt_elfdeps_opts o = { .ldcache_path = "" };
	struct kt_resolver *r = NULL;
	struct kt_closure *c = NULL;

	(void)state;
	/* the system folders alone find Debian's libraries */
	assert_int_equal(kt_resolver__new(&o, &r), 0);
	assert_int_equal(kt_resolver__closure(r, "/bin/ls", NULL, &c, NULL), 0);
	assert_non_null(find(c, "libc.so.6"));
	kt_closure__free(c);
	kt_resolver__free(r);
}

static void test_errors(void **state)
{
	struct kt_resolver *r = NULL;
	struct kt_closure *c = NULL;
	struct kt_err e;

	(void)state;
	assert_int_equal(kt_resolver__new(NULL, &r), 0);
	assert_int_equal(kt_resolver__closure(r, "/etc/passwd", NULL, &c, &e), -ENOEXEC);
	assert_null(c);
	assert_int_equal(kt_resolver__closure(r, "/nonexistent", NULL, &c, &e), -ENOENT);
	assert_str_contains(e.msg, "/nonexistent");
	kt_resolver__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closure_of_ls),
		cmocka_unit_test(test_without_cache),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
