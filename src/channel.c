/* channel.c - the framed guest channel (see ktpack/channel.h): the frame
 * codec, shared with the guest init, and the host's reader of it. */
#include <ktpack/channel.h>

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
#include <zlib.h>

#include "internal.h"
#include "guest/proto.h"

size_t kt_ch_encode(void *out, enum kt_ch_type type, const void *payload, size_t len)
{
	unsigned char *p = out;
	uLong crc;

	memcpy(p, KT_CH_MAGIC, 4);
	p[4] = (unsigned char)type;
	p[5] = p[6] = p[7] = 0;
	kt_put_le32(p + 8, (uint32_t)len);
	if (len)
		memcpy(p + KT_CH_HDR, payload, len);
	crc = crc32(0L, p, (uInt)(KT_CH_HDR + len));
	kt_put_le32(p + KT_CH_HDR + len, (uint32_t)crc);
	return KT_CH_HDR + len + KT_CH_TAIL;
}

/* ---- the reader ------------------------------------------------------------------ */

struct kt_ch_reader {
	size_t start;			/* where the held bytes begin in buf */
	size_t len;			/* bytes held */
	uint64_t skipped;
	unsigned char buf[KT_CH_FRAME_MAX];
};

int kt_ch_reader__new(struct kt_ch_reader **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void kt_ch_reader__free(struct kt_ch_reader *r)
{
	free(r);
}

uint64_t kt_ch_reader__skipped(const struct kt_ch_reader *r)
{
	return r->skipped;
}

size_t kt_ch_reader__pending(const struct kt_ch_reader *r)
{
	return r->len;
}

/* Drops @n bytes from the front of what is held: no copy, so skipping
 * junk a byte at a time costs no more than reading it. */
static void reader_drop(struct kt_ch_reader *r, size_t n, bool bad)
{
	r->start += n;
	r->len -= n;
	if (!r->len)
		r->start = 0;
	if (bad)
		r->skipped += n;
}

/* Skips to the next possible magic: the first byte is bad. */
static void reader_resync(struct kt_ch_reader *r)
{
	const unsigned char *p = r->buf + r->start;
	const unsigned char *m = r->len > 1 ? memchr(p + 1, KT_CH_MAGIC[0], r->len - 1) : NULL;

	reader_drop(r, m ? (size_t)(m - p) : r->len, true);
}

/*
 * The frame at the front of what is held: 1 when one is whole (its
 * payload size in @len), 0 when more bytes are needed, -1 when the front
 * is not a frame.  A header is judged as soon as it is there: a size over
 * the cap never makes the reader wait for bytes it would not keep.
 */
static int reader_frame(const struct kt_ch_reader *r, size_t *len)
{
	const unsigned char *p = r->buf + r->start;
	size_t have = r->len < 4 ? r->len : 4;
	uint32_t l;

	if (memcmp(p, KT_CH_MAGIC, have))
		return -1;
	if (r->len < KT_CH_HDR)
		return 0;
	l = kt_get_le32(p + 8);
	if (p[4] < KT_CH_HELLO || p[4] >= KT_CH_TYPE_END || p[5] || p[6] || p[7] ||
	    l > KT_CH_PAYLOAD_MAX)
		return -1;
	if (r->len < KT_CH_HDR + l + KT_CH_TAIL)
		return 0;
	if (kt_get_le32(p + KT_CH_HDR + l) != (uint32_t)crc32(0L, p, (uInt)(KT_CH_HDR + l)))
		return -1;
	*len = l;
	return 1;
}

int kt_ch_reader__feed(struct kt_ch_reader *r, const void *data, size_t n,
		       kt_ch_frame_fn fn, void *ctx)
{
	const unsigned char *in = data;

	for (;;) {
		size_t take, len;
		int f;

		/* What is held goes to the front, then as much as fits. */
		if (r->start) {
			memmove(r->buf, r->buf + r->start, r->len);
			r->start = 0;
		}
		take = sizeof(r->buf) - r->len < n ? sizeof(r->buf) - r->len : n;
		memcpy(r->buf + r->len, in, take);
		r->len += take;
		in += take;
		n -= take;
		while (r->len) {
			f = reader_frame(r, &len);
			if (f < 0) {
				reader_resync(r);
				continue;
			}
			if (!f)
				break;
			f = fn(ctx, (enum kt_ch_type)r->buf[r->start + 4],
			       r->buf + r->start + KT_CH_HDR, len);
			reader_drop(r, KT_CH_HDR + len + KT_CH_TAIL, false);
			if (f < 0)
				return f;
		}
		/* Whatever is held now is the start of a frame that fits. */
		if (!n)
			return 0;
	}
}

/* ---- the host's end --------------------------------------------------------------- */

/* Output on its way to the command's stdout or stderr, in the order the
 * guest wrote it: a segment is one write of the command's. */
struct host_seg {
	struct host_seg *next;
	int fd;
	size_t len, off;
	unsigned char data[];
};

struct kt_ch_host {
	struct kt_ch_host_opts o;
	struct kt_ch_reader *rd;
	struct host_seg *head, *tail;
	size_t pending;			/* bytes queued */
	/* What the output is written through: the caller's descriptor, or
	 * (a pipe, FIFO or terminal) a non-blocking one opened anew on the
	 * same file, so that a write never waits and the caller's file
	 * description keeps its flags. */
	int wout, werr;
	bool sock_out, sock_err;	/* a socket: send(MSG_DONTWAIT) */
	uint64_t credited;		/* stdin bytes the guest took */
	bool hello;
	int end;			/* 1 status, -1 fail, 0 none */
	int status;
	bool done;			/* a DONE frame came */
	int done_status;		/* its status */
	char why[512];
	/* the trace */
	struct kt_out out;
	bool open;			/* a trace is being received */
	bool received;			/* a whole trace was written */
	int bad;			/* why the last trace failed, or 0 */
	char bad_msg[256];
	uint64_t want, got, bytes;
	uint32_t crc;
	struct kt_err *err;		/* of the feed in progress */
};

/* A descriptor to write @fd's file without ever waiting: a new open of a
 * pipe, FIFO or terminal with O_NONBLOCK; a socket is written with
 * MSG_DONTWAIT; a file or a disk never waits long.  -1 stays -1. */
static int host_writer(int fd, bool *sock)
{
	struct stat st;
	char path[64];
	int nfd;

	*sock = false;
	if (fd < 0 || fstat(fd, &st))
		return fd;
	if (S_ISSOCK(st.st_mode)) {
		*sock = true;
		return fd;
	}
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return fd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	return nfd >= 0 ? nfd : fd;
}

int kt_ch_host__new(const struct kt_ch_host_opts *o, struct kt_ch_host **out)
{
	struct kt_ch_host *h = calloc(1, sizeof(*h));

	if (!h || kt_ch_reader__new(&h->rd)) {
		free(h);
		return -ENOMEM;
	}
	h->o = *o;
	h->out.fd = -1;
	h->wout = host_writer(o->out_fd, &h->sock_out);
	h->werr = o->err_fd == o->out_fd ? h->wout : host_writer(o->err_fd, &h->sock_err);
	if (o->err_fd == o->out_fd)
		h->sock_err = h->sock_out;
	if (!h->o.trace_max || h->o.trace_max > KT_CH_TRACE_MAX)
		h->o.trace_max = KT_CH_TRACE_MAX;
	*out = h;
	return 0;
}

static void host_trace_drop(struct kt_ch_host *h)
{
	if (h->open)
		kt_out_abort(&h->out);
	h->open = false;
}

void kt_ch_host__free(struct kt_ch_host *h)
{
	if (!h)
		return;
	while (h->head) {
		struct host_seg *s = h->head;

		h->head = s->next;
		free(s);
	}
	if (h->wout != h->o.out_fd)
		close(h->wout);
	if (h->werr != h->o.err_fd && h->werr != h->wout)
		close(h->werr);
	host_trace_drop(h);
	kt_ch_reader__free(h->rd);
	free(h);
}

/* A trace that came wrong (-EIO) or could not be written (its -errno):
 * dropped, and said when it is asked for. */
static void host_trace_bad(struct kt_ch_host *h, int code, const char *why)
{
	host_trace_drop(h);
	h->bad = code;
	kt_snprintf_cut(h->bad_msg, sizeof(h->bad_msg), "%s", why);
}

static int host_trace_begin(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	struct kt_err oerr = { 0 };
	int r;

	host_trace_drop(h);
	if (!h->o.trace_out)
		return 0;
	if (len != 8) {
		host_trace_bad(h, -EIO, "the trace from the guest is corrupt (a bad header)");
		return 0;
	}
	h->want = kt_get_le64(p);
	if (h->want > h->o.trace_max) {
		char why[200];

		snprintf(why, sizeof(why),
			 "the trace from the guest announces %llu bytes, more than its %llu MiB of memory",
			 (unsigned long long)h->want, (unsigned long long)(h->o.trace_max >> 20));
		host_trace_bad(h, -EIO, why);
		return 0;
	}
	r = kt_out_open_flags(&h->out, h->o.trace_out, KT_OUT_NOWAIT, &oerr);
	if (r) {
		host_trace_bad(h, r, oerr.msg);
		return 0;
	}
	h->open = true;
	h->bad = 0;
	h->got = 0;
	h->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	return 0;
}

static int host_trace_data(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	int r;

	if (!h->open)
		return 0;
	/* Never more than announced: a guest cannot fill the disk. */
	if (len > h->want - h->got) {
		host_trace_bad(h, -EIO, "the trace from the guest is corrupt (longer than announced)");
		return 0;
	}
	r = kt_write_all(h->out.fd, p, len);
	if (r) {
		char why[sizeof(h->bad_msg)];

		snprintf(why, sizeof(why), "cannot write the trace to '%s': %s",
			 h->o.trace_out, strerror(-r));
		host_trace_bad(h, r, why);
		return 0;
	}
	h->crc = (uint32_t)crc32(h->crc, p, (uInt)len);
	h->got += len;
	return 0;
}

static int host_trace_end(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	struct kt_err cerr = { 0 };
	char why[200];
	int r;

	if (!h->open)
		return 0;
	if (len != 4 || h->got != h->want) {
		snprintf(why, sizeof(why),
			 "the trace from the guest is truncated (%llu of %llu bytes)",
			 (unsigned long long)h->got, (unsigned long long)h->want);
		host_trace_bad(h, -EIO, why);
		return 0;
	}
	if (kt_get_le32(p) != h->crc) {
		host_trace_bad(h, -EIO, "the trace from the guest is corrupt (CRC-32 mismatch)");
		return 0;
	}
	h->open = false;
	r = kt_out_commit(&h->out, &cerr);
	if (r) {
		host_trace_bad(h, r, cerr.msg);
		return 0;
	}
	h->received = true;
	h->bytes = h->got;
	return 0;
}

/* A status frame: u32 status, then exactly the nonce. */
static void host_status(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	size_t nl = h->o.nonce ? strlen(h->o.nonce) : 0;
	uint32_t st;

	if (len != 4 + nl || (nl && memcmp(p + 4, h->o.nonce, nl)))
		return;
	st = kt_get_le32(p);
	if (st > 255)
		return;
	h->end = 1;
	h->status = (int)st;
}

/* A DONE frame: as a status frame, u32 status then exactly the nonce. */
static void host_done(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	size_t nl = h->o.nonce ? strlen(h->o.nonce) : 0;

	if (len != 4 + nl || (nl && memcmp(p + 4, h->o.nonce, nl)) || kt_get_le32(p) > 255)
		return;
	h->done = true;
	h->done_status = (int)kt_get_le32(p);
}

/* Queues a write of the command's; kt_ch_host__flush() writes it. */
static int host_write(struct kt_ch_host *h, int fd, const unsigned char *p, size_t len)
{
	struct host_seg *s;

	if (fd < 0 || !len)
		return 0;
	s = malloc(sizeof(*s) + len);
	if (!s)
		return kt_err_set(h->err, -ENOMEM, "out of memory");
	*s = (struct host_seg){ .fd = fd, .len = len };
	memcpy(s->data, p, len);
	if (h->tail)
		h->tail->next = s;
	else
		h->head = s;
	h->tail = s;
	h->pending += len;
	return 0;
}

static int host_frame(void *ctx, enum kt_ch_type type, const unsigned char *p, size_t len)
{
	struct kt_ch_host *h = ctx;

	switch (type) {
	case KT_CH_HELLO:
		h->hello = true;
		return 0;
	case KT_CH_STDOUT:
		return host_write(h, h->o.out_fd, p, len);
	case KT_CH_STDERR:
		return host_write(h, h->o.err_fd, p, len);
	case KT_CH_CREDIT:
		if (len == 4)
			h->credited += kt_get_le32(p);
		return 0;
	case KT_CH_LOG:
		if (h->o.diag)
			h->o.diag(h->o.diag_ctx, (const char *)p, len);
		return 0;
	case KT_CH_TRACE_BEGIN:
		return host_trace_begin(h, p, len);
	case KT_CH_TRACE:
		return host_trace_data(h, p, len);
	case KT_CH_TRACE_END:
		return host_trace_end(h, p, len);
	case KT_CH_STATUS:
		host_status(h, p, len);
		return 0;
	case KT_CH_FAIL:
		h->end = -1;
		kt_snprintf_cut(h->why, sizeof(h->why), "%.*s", (int)(len < 400 ? len : 400),
				(const char *)p);
		for (char *c = h->why; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		return 0;
	case KT_CH_DONE:
		host_done(h, p, len);
		return 0;
	default:
		/* the host's own types, sent back: ignored */
		return 0;
	}
}

int kt_ch_host__feed(struct kt_ch_host *h, const void *data, size_t n, struct kt_err *err)
{
	int r;

	h->err = err;
	r = kt_ch_reader__feed(h->rd, data, n, host_frame, h);
	h->err = NULL;
	return r ? r : kt_ch_host__flush(h, err);
}

int kt_ch_host__flush(struct kt_ch_host *h, struct kt_err *err)
{
	while (h->head) {
		struct host_seg *s = h->head;
		bool out = s->fd == h->o.out_fd;
		int fd = out ? h->wout : h->werr;
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		size_t chunk = s->len - s->off;
		ssize_t n;

		/* The caller's own blocking pipe (no new open was possible):
		 * with room, PIPE_BUF bytes go in without waiting. */
		if (fd == s->fd && !(out ? h->sock_out : h->sock_err)) {
			if (poll(&pf, 1, 0) <= 0 || !pf.revents)
				return 0;
			if (chunk > PIPE_BUF)
				chunk = PIPE_BUF;
		}
		if (out ? h->sock_out : h->sock_err)
			n = send(fd, s->data + s->off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = write(fd, s->data + s->off, chunk);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0)
			return kt_err_set(err, -errno, "cannot write the command's %s: %s",
					  out ? "standard output" : "standard error", strerror(errno));
		s->off += (size_t)n;
		h->pending -= (size_t)n;
		if (s->off == s->len) {
			h->head = s->next;
			if (!h->head)
				h->tail = NULL;
			free(s);
		}
	}
	return 0;
}

size_t kt_ch_host__pending(const struct kt_ch_host *h)
{
	return h->pending;
}

int kt_ch_host__wait_fd(const struct kt_ch_host *h)
{
	if (!h->head)
		return -1;
	return h->head->fd == h->o.out_fd ? h->wout : h->werr;
}

uint64_t kt_ch_host__credited(const struct kt_ch_host *h)
{
	return h->credited;
}

bool kt_ch_host__hello(const struct kt_ch_host *h)
{
	return h->hello;
}

int kt_ch_host__end(const struct kt_ch_host *h, int *status, const char **why)
{
	if (h->end > 0)
		*status = h->status;
	if (h->end < 0)
		*why = h->why;
	return h->end;
}

int kt_ch_host__trace(struct kt_ch_host *h, uint64_t *bytes, struct kt_err *err)
{
	if (h->open) {
		char why[200];

		snprintf(why, sizeof(why),
			 "the trace from the guest is truncated (%llu of %llu bytes)",
			 (unsigned long long)h->got, (unsigned long long)h->want);
		host_trace_bad(h, -EIO, why);
	}
	if (h->bad)
		return kt_err_set(err, h->bad, "%s", h->bad_msg);
	if (!h->received)
		return kt_err_set(err, -ENOENT, "no trace came back from the guest");
	*bytes = h->bytes;
	return 0;
}

bool kt_ch_host__done(const struct kt_ch_host *h, int *status)
{
	if (h->done)
		*status = h->done_status;
	return h->done;
}

uint64_t kt_ch_host__skipped(const struct kt_ch_host *h)
{
	return kt_ch_reader__skipped(h->rd);
}
