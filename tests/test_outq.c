/* Unit tests of outq.c: writers that never wait on a pipe, a socket and a
 * file; the queue's order across writers; the lossy queue's drops and the
 * note that stands where they were. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"

/* A pipe that holds one page: [0] read, non-blocking; [1] write, left
 * blocking (a writer must not wait on it all the same). */
static void small_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
}

/* Everything the pipe holds now, appended to @buf (@len). */
static void drain(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t r;

	while (*len < cap && (r = read(fd, buf + *len, cap - *len)) > 0)
		*len += (size_t)r;
}

static void test_writer_never_waits(void **state)
{
	char big[10000], got[20000];
	struct kt_writer w;
	size_t len = 0;
	int p[2], sv[2], flags;
	ssize_t r;

	(void)state;
	memset(big, 'x', sizeof(big));
	small_pipe(p);
	kt_writer_open(&w, p[1]);
	/* a new open of the pipe: the caller's end stays blocking */
	assert_int_not_equal(w.wfd, p[1]);
	flags = fcntl(p[1], F_GETFL);
	assert_false(flags & O_NONBLOCK);
	r = kt_writer_write(&w, big, sizeof(big));
	assert_true(r > 0 && (size_t)r < sizeof(big));
	assert_int_equal(kt_writer_write(&w, big, sizeof(big)), 0);
	drain(p[0], got, sizeof(got), &len);
	assert_int_equal(len, r);
	kt_writer_close(&w);
	assert_int_equal(w.wfd, -1);
	/* the caller's descriptor is not closed */
	assert_int_equal(fcntl(p[1], F_GETFD) >= 0, 1);
	close(p[0]);
	close(p[1]);

	/* a socket: send(MSG_DONTWAIT) on the caller's descriptor */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	kt_writer_open(&w, sv[0]);
	assert_true(w.sock);
	assert_int_equal(w.wfd, sv[0]);
	do
		r = kt_writer_write(&w, big, sizeof(big));
	while (r > 0);
	assert_int_equal(r, 0);
	kt_writer_close(&w);
	close(sv[0]);
	close(sv[1]);

	/* none: what is written is dropped */
	kt_writer_open(&w, -1);
	assert_int_equal(kt_writer_write(&w, "abc", 3), 3);
}

/* One queue, two pipes: the order of writes holds across them, and a
 * stalled one holds back what follows it. */
static void test_queue_order(void **state)
{
	struct kt_writer a, b;
	struct kt_outq q = { 0 };
	char chunk[3000], got_a[20000], got_b[20000];
	size_t la = 0, lb = 0;
	int pa[2], pb[2];

	(void)state;
	small_pipe(pa);
	small_pipe(pb);
	kt_writer_open(&a, pa[1]);
	kt_writer_open(&b, pb[1]);
	memset(chunk, 'a', sizeof(chunk));
	assert_int_equal(kt_outq_write(&q, &a, chunk, sizeof(chunk)), 0);
	assert_int_equal(q.pending, 0);
	assert_int_equal(kt_outq_write(&q, &a, chunk, sizeof(chunk)), 0);
	/* the pipe is full: the rest waits */
	assert_true(q.pending > 0 && q.pending <= sizeof(chunk));
	assert_int_equal(kt_outq_wait_fd(&q), a.wfd);
	memset(chunk, 'b', sizeof(chunk));
	assert_int_equal(kt_outq_write(&q, &b, chunk, sizeof(chunk)), 0);
	assert_int_equal(kt_outq_flush(&q, NULL), 0);
	/* b's pipe has room, but its write comes after a's */
	drain(pb[0], got_b, sizeof(got_b), &lb);
	assert_int_equal(lb, 0);
	drain(pa[0], got_a, sizeof(got_a), &la);
	assert_int_equal(kt_outq_flush(&q, NULL), 0);
	drain(pa[0], got_a, sizeof(got_a), &la);
	assert_int_equal(la, 6000);
	drain(pb[0], got_b, sizeof(got_b), &lb);
	assert_int_equal(lb, 3000);
	assert_int_equal(q.pending, 0);
	assert_int_equal(kt_outq_wait_fd(&q), -1);
	/* a failed write names its writer and keeps its bytes */
	close(pa[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(kt_outq_push(&q, &a, "z", 1), 0);
	{
		const struct kt_writer *failed = NULL;

		assert_int_equal(kt_outq_flush(&q, &failed), -EPIPE);
		assert_ptr_equal(failed, &a);
	}
	assert_int_equal(kt_outq_clear(&q), 1);
	kt_writer_close(&a);
	kt_writer_close(&b);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
}

static int note(char *buf, size_t sz, uint64_t bytes, uint64_t writes)
{
	return snprintf(buf, sz, "[%llu in %llu]\n", (unsigned long long)bytes,
			(unsigned long long)writes);
}

#define LOSSY_LINES	60
#define LOSSY_LEN	5000		/* a page and more: writes are cut */
#define LOSSY_CAP	20000

/*
 * A lossy queue on a stalled pipe: the oldest writes not begun go, one
 * note (remade, not repeated) stands where they were, the newest stay,
 * and no write is cut: one begun is finished.
 */
static void test_lossy(void **state)
{
	static char got[1 << 20];
	struct kt_writer w;
	struct kt_outq q = { 0 };
	char line[LOSSY_LEN];
	size_t len = 0, notes = 0;
	int p[2], next = 0;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	kt_writer_open(&w, p[1]);
	for (int i = 0; i < LOSSY_LINES; i++) {
		memset(line, 'x', sizeof(line));
		snprintf(line, sizeof(line), "L%02d", i);
		line[3] = 'x';
		line[sizeof(line) - 1] = '\n';
		assert_int_equal(kt_outq_write_lossy(&q, &w, line, sizeof(line), LOSSY_CAP, note), 0);
		assert_true(q.pending <= LOSSY_CAP + 2 * LOSSY_LEN);
	}
	assert_true(q.dropped_writes > 0);
	assert_int_equal(q.dropped_bytes, q.dropped_writes * LOSSY_LEN);
	drain(p[0], got, sizeof(got), &len);
	while (q.pending) {
		assert_int_equal(kt_outq_flush(&q, NULL), 0);
		drain(p[0], got, sizeof(got), &len);
	}
	/* whole lines in order, one gap, the note in it */
	for (size_t off = 0; off < len; ) {
		char *nl = memchr(got + off, '\n', len - off);
		unsigned long long b, n;
		int i;

		assert_non_null(nl);
		if (sscanf(got + off, "[%llu in %llu]", &b, &n) == 2) {
			assert_int_equal(n, q.dropped_writes);
			assert_int_equal(b, q.dropped_bytes);
			next += (int)n;
			notes++;
		} else {
			assert_int_equal((size_t)(nl - (got + off)) + 1, LOSSY_LEN);
			assert_int_equal(sscanf(got + off, "L%02d", &i), 1);
			assert_int_equal(i, next++);
		}
		off = (size_t)(nl - got) + 1;
	}
	assert_int_equal(notes, 1);
	assert_int_equal(next, LOSSY_LINES);
	kt_writer_close(&w);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_never_waits),
		cmocka_unit_test(test_queue_order),
		cmocka_unit_test(test_lossy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
