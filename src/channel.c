/* channel.c - the framed guest channel (see ktpack/channel.h): the frame
 * codec, shared with the guest init, and the host's reader of it. */
#include <ktpack/channel.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

size_t kt_ch_payload_max(enum kt_ch_type type)
{
	switch (type) {
	case KT_CH_STDOUT:
	case KT_CH_STDERR:
	case KT_CH_STDIN:
	case KT_CH_TRACE:
	case KT_CH_FILE:
		return KT_CH_PAYLOAD_MAX;
	case KT_CH_WINSZ:
	case KT_CH_SIGNAL:
	case KT_CH_CREDIT:
		return 4;
	case KT_CH_LOG:
		return 1024;
	case KT_CH_TRACE_BEGIN:
		return 8 + KT_CH_NONCE_MAX;
	case KT_CH_TRACE_END:
	case KT_CH_STATUS:
	case KT_CH_DONE:
		return 4 + KT_CH_NONCE_MAX;
	case KT_CH_FAIL:
		return KT_CH_NONCE_MAX + KT_CH_WHY_MAX;
	case KT_CH_FILE_BEGIN:
		return 12 + KT_CH_NONCE_MAX + KT_CH_NAME_MAX;
	case KT_CH_FILE_END:
		return 4 + KT_CH_NONCE_MAX;
	case KT_CH_EXEC_FAIL:
		return 4 + KT_CH_NONCE_MAX + KT_CH_EXEC_PATH_MAX;
	default:
		return 0;
	}
}

/* ---- the reader ------------------------------------------------------------------ */

struct kt_ch_reader {
	size_t start;			/* where the held bytes begin in buf */
	size_t len;			/* bytes held */
	uint64_t skipped;
	uint64_t checked;		/* bytes a CRC was computed over */
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

/* Skips to the next possible magic: the first byte is bad.  A run of
 * NUL bytes where a frame could begin is init's padding (KT_CH_PAD), not
 * counted as corrupt. */
static void reader_resync(struct kt_ch_reader *r)
{
	const unsigned char *p = r->buf + r->start;
	const unsigned char *m;
	size_t n = 0;

	if (!p[0]) {
		while (n < r->len && !p[n])
			n++;
		reader_drop(r, n, false);
		return;
	}
	m = r->len > 1 ? memchr(p + 1, KT_CH_MAGIC[0], r->len - 1) : NULL;
	reader_drop(r, m ? (size_t)(m - p) : r->len, true);
}
uint64_t kt_ch_reader__checked(const struct kt_ch_reader *r)
{
	return r->checked;
}

/*
 * The frame at the front of what is held: 1 when one is whole (its
 * payload size in @len), 0 when more bytes are needed, -1 when the front
 * is not a header, -2 when it is a whole frame whose CRC does not match
 * (its size in @len).  A header is judged as soon as it is there: a size
 * over its type's cap never makes the reader wait for bytes it would not
 * keep.
 */
static int reader_frame(struct kt_ch_reader *r, size_t *len)
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
	    l > kt_ch_payload_max((enum kt_ch_type)p[4]))
		return -1;
	if (r->len < KT_CH_HDR + l + KT_CH_TAIL)
		return 0;
	*len = l;
	r->checked += KT_CH_HDR + l;
	if (kt_get_le32(p + KT_CH_HDR + l) != (uint32_t)crc32(0L, p, (uInt)(KT_CH_HDR + l)))
		return -2;
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
			if (f == -1) {
				reader_resync(r);
				continue;
			}
			/* Skipped whole, whatever a frame inside it might be:
			 * a byte is checked once, so that a guest's headers
			 * that claim long payloads cost no more than junk. */
			if (f == -2) {
				reader_drop(r, KT_CH_HDR + len + KT_CH_TAIL, true);
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

struct kt_ch_host {
	struct kt_ch_host_opts o;
	struct kt_ch_reader *rd;
	/* The command's output, in the guest's order (a segment is one
	 * write of the command's), and what it is written through. */
	struct kt_outq q;
	struct kt_writer wout, werr;
	const struct kt_writer *err_w;	/* &werr, or &wout: one file */
	uint64_t credited;		/* stdin bytes the guest took */
	bool hello;
	size_t nlen;			/* the nonce's */
	int end;			/* 1 status, -1 fail, 0 none */
	unsigned ends;			/* end frames accepted */
	int status;
	bool done;			/* a DONE frame came */
	enum kt_ch_type sending;	/* the last begin frame with the nonce */
	int done_status;		/* its status */
	int exec_errno;			/* an EXEC_FAIL frame's, or 0 */
	bool exec_interp;		/* ... with KT_CH_EXEC_INTERP */
	char exec_path[KT_CH_EXEC_PATH_MAX + 1];
	char why[KT_CH_WHY_MAX];
	/* the trace */
	struct kt_out out;
	struct kt_writer tw;		/* out.fd, written without waiting */
	struct kt_outq tq;		/* what tw did not take yet */
	bool open;			/* a trace is being received */
	bool ending;			/* it came whole: committed once written */
	bool received;			/* a whole trace was written */
	int bad;			/* why the last trace failed, or 0 */
	char bad_msg[256];
	uint64_t want, got, bytes;
	uint32_t crc;
	struct kt_err *err;		/* of the feed in progress */
	struct kt_collect col;		/* files back, when out_dir is set */
};

bool kt_ch_nonce_ok(const char *nonce)
{
	size_t nl = nonce ? strlen(nonce) : 0;

	if (nl < KT_CH_NONCE_MIN || nl > KT_CH_NONCE_MAX)
		return false;
	for (size_t i = 0; i < nl; i++)
		if (nonce[i] <= ' ' || nonce[i] >= 0x7f)
			return false;
	return true;
}

int kt_ch_host__new(const struct kt_ch_host_opts *o, struct kt_ch_host **out)
{
	size_t nl = o->nonce ? strlen(o->nonce) : 0;
	struct kt_ch_host *h;

	/* Without a nonce, anything in the guest could end the run. */
	if (!kt_ch_nonce_ok(o->nonce))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h || kt_ch_reader__new(&h->rd)) {
		free(h);
		return -ENOMEM;
	}
	h->o = *o;
	h->nlen = nl;
	h->out.fd = -1;
	h->tw.fd = h->tw.wfd = -1;
	kt_writer_open(&h->wout, o->out_fd);
	h->err_w = &h->wout;
	if (o->err_fd != o->out_fd) {
		kt_writer_open(&h->werr, o->err_fd);
		h->err_w = &h->werr;
	}
	if (!h->o.trace_max || h->o.trace_max > KT_CH_TRACE_MAX)
		h->o.trace_max = KT_CH_TRACE_MAX;
	kt_collect_init(&h->col, o->out_dir, o->collect_max, o->collect, o->ncollect);
	*out = h;
	return 0;
}

static void host_trace_drop(struct kt_ch_host *h)
{
	kt_outq_clear(&h->tq);
	kt_writer_close(&h->tw);
	if (h->open)
		kt_out_abort(&h->out);
	h->open = h->ending = false;
}

void kt_ch_host__free(struct kt_ch_host *h)
{
	if (!h)
		return;
	kt_outq_clear(&h->q);
	kt_writer_close(&h->wout);
	if (h->err_w == &h->werr)
		kt_writer_close(&h->werr);
	host_trace_drop(h);
	kt_collect_close(&h->col);
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

/* Whether @p is @fixed bytes, then exactly the run's nonce: a frame of
 * init's, not one a command wrote. */
static bool host_nonce(const struct kt_ch_host *h, const unsigned char *p, size_t len, size_t fixed)
{
	return len == fixed + h->nlen && !memcmp(p + fixed, h->o.nonce, h->nlen);
}

static int host_trace_begin(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	struct kt_err oerr = { 0 };
	int r;

	if (!host_nonce(h, p, len, 8))
		return 0;
	h->sending = KT_CH_TRACE_BEGIN;
	host_trace_drop(h);
	if (!h->o.trace_out)
		return 0;
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
	kt_writer_open(&h->tw, h->out.fd);
	h->open = true;
	h->bad = 0;
	h->got = 0;
	h->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	return 0;
}

static void host_trace_write_failed(struct kt_ch_host *h, int r)
{
	char why[sizeof(h->bad_msg)];

	snprintf(why, sizeof(why), "cannot write the trace to '%s': %s", h->o.trace_out,
		 strerror(-r));
	host_trace_bad(h, r, why);
}

/* A trace that came whole is named once all of it is written. */
static void host_trace_commit(struct kt_ch_host *h)
{
	struct kt_err cerr = { 0 };
	int r;

	if (!h->ending || h->tq.pending)
		return;
	kt_writer_close(&h->tw);
	h->open = h->ending = false;
	r = kt_out_commit(&h->out, &cerr);
	if (r) {
		host_trace_bad(h, r, cerr.msg);
		return;
	}
	h->received = true;
	h->bytes = h->got;
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
	/* What the file does not take now waits: the caller stops reading
	 * the guest while too much does (kt_ch_host__pending()). */
	r = kt_outq_write(&h->tq, &h->tw, p, len);
	if (r) {
		host_trace_write_failed(h, r);
		return 0;
	}
	h->crc = (uint32_t)crc32(h->crc, p, (uInt)len);
	h->got += len;
	return 0;
}

static int host_trace_end(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	char why[200];

	if (!h->open || !host_nonce(h, p, len, 4))
		return 0;
	if (h->got != h->want) {
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
	h->ending = true;
	host_trace_commit(h);
	return 0;
}

/* A status frame: u32 status, then exactly the nonce. */
static void host_status(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	uint32_t st;

	if (!host_nonce(h, p, len, 4))
		return;
	st = kt_get_le32(p);
	if (st > 255)
		return;
	h->end = 1;
	h->ends++;
	h->status = (int)st;
}

/* A failure frame: the nonce, then why, made printable. */
static void host_fail(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	if (len < h->nlen || memcmp(p, h->o.nonce, h->nlen))
		return;
	h->end = -1;
	h->ends++;
	kt_printable(h->why, sizeof(h->why), (const char *)p + h->nlen, len - h->nlen, false);
}

/* A DONE frame: as a status frame, u32 status then exactly the nonce. */
static void host_done(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	if (!host_nonce(h, p, len, 4) || kt_get_le32(p) > 255)
		return;
	h->done = true;
	h->done_status = (int)kt_get_le32(p);
}

/* The command could not be executed: u32 errno, the nonce, the path
 * tried (made printable).  An errno no kernel returns is no such frame. */
static void host_exec_fail(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	bool interp;
	uint32_t e;

	if (len < 4 + h->nlen || memcmp(p + 4, h->o.nonce, h->nlen))
		return;
	e = kt_get_le32(p);
	interp = e & KT_CH_EXEC_INTERP;
	e &= ~KT_CH_EXEC_INTERP;
	if (!e || e >= 4096)
		return;
	h->exec_errno = (int)e;
	/* (the file there, its interpreter not: only an ENOENT says that) */
	h->exec_interp = interp && e == ENOENT;
	kt_printable(h->exec_path, sizeof(h->exec_path), (const char *)p + 4 + h->nlen,
		     len - 4 - h->nlen, false);
}

/* A file's first frame: u64 size, u32 mode, the nonce, its name.  One
 * without the nonce is a command's, ignored. */
static void host_file_begin(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	if (len < 12 + h->nlen || memcmp(p + 12, h->o.nonce, h->nlen))
		return;
	h->sending = KT_CH_FILE_BEGIN;
	if (!h->o.out_dir)
		return;
	kt_collect_begin(&h->col, (const char *)p + 12 + h->nlen, len - 12 - h->nlen,
			 kt_get_le64(p), kt_get_le32(p + 8));
}

static void host_file_end(struct kt_ch_host *h, const unsigned char *p, size_t len)
{
	if (h->o.out_dir && host_nonce(h, p, len, 4))
		kt_collect_end(&h->col, kt_get_le32(p));
}

void kt_ch_host__collected(struct kt_ch_host *h, struct kt_collected *out)
{
	kt_collect_take(&h->col, out);
}

/* Queues a write of the command's; kt_ch_host__flush() writes it. */
static int host_write(struct kt_ch_host *h, int fd, const unsigned char *p, size_t len)
{
	if (fd < 0 || !len)
		return 0;
	if (kt_outq_push(&h->q, fd == h->o.out_fd ? &h->wout : h->err_w, p, len))
		return kt_err_set(h->err, -ENOMEM, "out of memory");
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
		host_fail(h, p, len);
		return 0;
	case KT_CH_DONE:
		host_done(h, p, len);
		return 0;
	case KT_CH_FILE_BEGIN:
		host_file_begin(h, p, len);
		return 0;
	case KT_CH_FILE:
		if (h->o.out_dir)
			kt_collect_data(&h->col, p, len);
		return 0;
	case KT_CH_FILE_END:
		host_file_end(h, p, len);
		return 0;
	case KT_CH_EXEC_FAIL:
		host_exec_fail(h, p, len);
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
	const struct kt_writer *failed = NULL;
	int r;

	/* the trace's file failing fails the trace, not the run */
	if (h->tq.head) {
		r = kt_outq_flush(&h->tq, NULL);
		if (r)
			host_trace_write_failed(h, r);
		else
			host_trace_commit(h);
	}
	r = kt_outq_flush(&h->q, &failed);
	if (r)
		return kt_err_set(err, r, "cannot write the command's %s: %s",
				  failed == &h->wout ? "standard output" : "standard error",
				  strerror(-r));
	return 0;
}

size_t kt_ch_host__pending(const struct kt_ch_host *h)
{
	return h->q.pending + h->tq.pending;
}

int kt_ch_host__wait_fd(const struct kt_ch_host *h)
{
	return kt_outq_wait_fd(&h->q);
}

int kt_ch_host__trace_wait_fd(const struct kt_ch_host *h)
{
	return kt_outq_wait_fd(&h->tq);
}

unsigned kt_ch_host__ends(const struct kt_ch_host *h)
{
	return h->ends;
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
	if (h->open && h->ending) {
		char why[sizeof(h->bad_msg)];

		snprintf(why, sizeof(why),
			 "cannot write the trace to '%s': its reader took %llu of %llu bytes",
			 h->o.trace_out, (unsigned long long)(h->got - h->tq.pending),
			 (unsigned long long)h->got);
		host_trace_bad(h, -EAGAIN, why);
	} else if (h->open) {
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

uint64_t kt_ch_host__checked(const struct kt_ch_host *h)
{
	return kt_ch_reader__checked(h->rd);
}

int kt_ch_host__exec_failed(const struct kt_ch_host *h, const char **path, bool *interp)
{
	if (h->exec_errno)
		*path = h->exec_path;
	if (interp)
		*interp = h->exec_errno && h->exec_interp;
	return h->exec_errno;
}

bool kt_ch_host__done(const struct kt_ch_host *h, int *status)
{
	if (h->done)
		*status = h->done_status;
	return h->done;
}

enum kt_ch_type kt_ch_host__sending(const struct kt_ch_host *h)
{
	return h->sending;
}

uint64_t kt_ch_host__skipped(const struct kt_ch_host *h)
{
	return kt_ch_reader__skipped(h->rd);
}
