/* unit.h - what every cmocka unit test includes. */
#ifndef KT_TEST_UNIT_H
#define KT_TEST_UNIT_H

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define assert_str_contains(s, sub) \
	do { \
		if (!strstr((s), (sub))) \
			fail_msg("'%s' does not contain '%s'", (s), (sub)); \
	} while (0)

/* Creates @path (empty, when missing) with an mtime @age seconds ago. */
static inline void touch_at(const char *path, time_t age)
{
	struct timeval tv[2];
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= age;
	tv[1] = tv[0];
	assert_int_equal(utimes(path, tv), 0);
}

/* The whole of the file @path in a new buffer (the caller frees), its
 * size in *@len, and a NUL after it. */
static inline void *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = (unsigned char *)malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* Removes the tree at @path, a test's own mkdtemp folder; 0 when done. */
static inline int rm_tree(const char *path)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

#endif
