/* outq.c - output written without ever waiting (see internal.h): a
 * descriptor's file opened anew non-blocking, and the bytes it did not
 * take yet, queued in order.  A run's loop writes the command's output,
 * the trace and the console through it, and the CLI its messages, so
 * that a reader that stalls never stalls deadlines or signals. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

void kt_writer_open(struct kt_writer *w, int fd)
{
	struct stat st;
	char path[64];

	*w = (struct kt_writer){ .fd = fd, .wfd = fd };
	if (fd < 0 || fstat(fd, &st))
		return;
	if (S_ISSOCK(st.st_mode)) {
		w->sock = true;
		return;
	}
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return;
	/* Not fcntl(O_NONBLOCK) on @fd: its file description may be shared
	 * with the processes that gave it (a shell's terminal). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	w->wfd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (w->wfd < 0) {
		w->wfd = fd;
		w->poll_first = true;
	}
}

void kt_writer_close(struct kt_writer *w)
{
	if (w->wfd >= 0 && w->wfd != w->fd)
		close(w->wfd);
	w->fd = w->wfd = -1;
}

ssize_t kt_writer_write(const struct kt_writer *w, const void *p, size_t n)
{
	ssize_t r;

	if (w->wfd < 0)
		return (ssize_t)n;	/* dropped, as asked */
	if (w->poll_first) {
		/* The caller's own blocking pipe (no new open was possible):
		 * with room, PIPE_BUF bytes go in without waiting. */
		struct pollfd pf = { .fd = w->wfd, .events = POLLOUT };

		if (poll(&pf, 1, 0) <= 0 || !pf.revents)
			return 0;
		if (n > PIPE_BUF)
			n = PIPE_BUF;
	}
	if (w->sock)
		r = send(w->wfd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	else
		r = write(w->wfd, p, n);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return r < 0 ? -errno : r;
}

/* One write that did not go yet, or a note (kt_outq_write_lossy). */
struct kt_outq_seg {
	struct kt_outq_seg *next;
	const struct kt_writer *w;
	size_t len, off;
	bool note;
	uint64_t nbytes, nwrites;	/* a note: what it stands for */
	unsigned char data[];
};

#define OUTQ_NOTE_MAX	256

static struct kt_outq_seg *outq_seg(const struct kt_writer *w, const void *p, size_t n,
				    size_t cap)
{
	struct kt_outq_seg *s = malloc(sizeof(*s) + cap);

	if (!s)
		return NULL;
	*s = (struct kt_outq_seg){ .w = w, .len = n };
	if (n)
		memcpy(s->data, p, n);
	return s;
}

/* Queues @n bytes of @p for @w, of which @done went already. */
static int outq_push(struct kt_outq *q, const struct kt_writer *w, const void *p, size_t n,
		     size_t done)
{
	struct kt_outq_seg *s;

	if (done == n)
		return 0;
	s = outq_seg(w, p, n, n);
	if (!s)
		return -ENOMEM;
	s->off = done;
	if (q->tail)
		q->tail->next = s;
	else
		q->head = s;
	q->tail = s;
	q->pending += n - done;
	return 0;
}

int kt_outq_push(struct kt_outq *q, const struct kt_writer *w, const void *p, size_t n)
{
	return outq_push(q, w, p, n, 0);
}

int kt_outq_write(struct kt_outq *q, const struct kt_writer *w, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t done = 0;

	/* Nothing before it: what the descriptor takes now goes; a write
	 * begun is queued as such (a lossy queue never cuts it). */
	while (!q->head && done < n) {
		ssize_t r = kt_writer_write(w, b + done, n - done);

		if (r < 0)
			return (int)r;
		if (!r)
			break;
		done += (size_t)r;
	}
	return outq_push(q, w, p, n, done);
}

/* The segment after @prev; the head when @prev is NULL. */
static struct kt_outq_seg *outq_after(const struct kt_outq *q, struct kt_outq_seg *prev)
{
	return prev ? prev->next : q->head;
}

/* Frees the segment after @prev. */
static void outq_unlink(struct kt_outq *q, struct kt_outq_seg *prev)
{
	struct kt_outq_seg *s = outq_after(q, prev);

	if (prev)
		prev->next = s->next;
	else
		q->head = s->next;
	if (q->tail == s)
		q->tail = prev;
	q->pending -= s->len - s->off;
	free(s);
}

/* The note after @prev, made (or, not begun yet, remade) to say that
 * @bytes more in @writes more were dropped there. */
static int outq_note(struct kt_outq *q, struct kt_outq_seg *prev, const struct kt_writer *w,
		     uint64_t bytes, uint64_t writes, kt_outq_note_fn note)
{
	struct kt_outq_seg *at = outq_after(q, prev);
	char text[OUTQ_NOTE_MAX];
	int len;

	if (!at || !at->note || at->off) {
		struct kt_outq_seg *s = outq_seg(w, NULL, 0, OUTQ_NOTE_MAX);

		if (!s)
			return -ENOMEM;
		s->note = true;
		s->next = at;
		if (prev)
			prev->next = s;
		else
			q->head = s;
		if (!at)
			q->tail = s;
		at = s;
	}
	at->nbytes += bytes;
	at->nwrites += writes;
	len = note(text, sizeof(text), at->nbytes, at->nwrites);
	if (len < 0 || (size_t)len >= sizeof(text))
		len = 0;
	q->pending = q->pending - at->len + (size_t)len;
	at->len = (size_t)len;
	memcpy(at->data, text, (size_t)len);
	return 0;
}

int kt_outq_write_lossy(struct kt_outq *q, const struct kt_writer *w, const void *p, size_t n,
			size_t cap, kt_outq_note_fn note)
{
	struct kt_outq_seg *gap = NULL, *prev, *s;
	uint64_t bytes = 0, writes = 0;

	if (!q->head || q->pending + n <= cap)
		return kt_outq_write(q, w, p, n);
	/* The oldest writes not begun go (one begun is finished first);
	 * the note that stands where they were stays. */
	if (q->head->off)
		gap = q->head;
	prev = gap;
	while ((s = outq_after(q, prev)) && q->pending + n > cap) {
		if (s->note) {
			prev = s;
			continue;
		}
		bytes += s->len;
		writes++;
		outq_unlink(q, prev);
	}
	if (writes) {
		int r = outq_note(q, gap, w, bytes, writes, note);

		q->dropped_bytes += bytes;
		q->dropped_writes += writes;
		if (r)
			return r;
	}
	return kt_outq_push(q, w, p, n);
}

int kt_outq_flush(struct kt_outq *q, const struct kt_writer **failed)
{
	while (q->head) {
		struct kt_outq_seg *s = q->head;
		ssize_t r = s->off < s->len ?
			    kt_writer_write(s->w, s->data + s->off, s->len - s->off) : 0;

		if (r < 0) {
			if (failed)
				*failed = s->w;
			return (int)r;
		}
		s->off += (size_t)r;
		q->pending -= (size_t)r;
		if (s->off < s->len)
			return 0;
		outq_unlink(q, NULL);
	}
	return 0;
}

int kt_outq_wait_fd(const struct kt_outq *q)
{
	return q->head ? q->head->w->wfd : -1;
}

size_t kt_outq_clear(struct kt_outq *q)
{
	size_t left = 0;

	while (q->head) {
		if (!q->head->note)
			left += q->head->len - q->head->off;
		outq_unlink(q, NULL);
	}
	return left;
}
