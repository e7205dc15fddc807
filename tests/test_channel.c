/* Unit tests of channel.c: the frame codec, the reader's resync and
 * bounds, and the host's end (streams, trace, status) fed truncated,
 * oversized, corrupt and interleaved frames. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "unit.h"
#include "internal.h"
#include "guest/proto.h"
#include <ktpack/channel.h>

#define NONCE "00112233aabbccdd"

static char dir[64], out[128], so[128], se[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/kt-test-channel.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(out, sizeof(out), "%s/trace.pb", dir);
	snprintf(so, sizeof(so), "%s/stdout", dir);
	snprintf(se, sizeof(se), "%s/stderr", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(dir);
}

/* A growing stream of frames. */
struct stream {
	unsigned char *p;
	size_t len;
};

static void put(struct stream *s, enum kt_ch_type t, const void *p, size_t len)
{
	s->p = realloc(s->p, s->len + KT_CH_HDR + len + KT_CH_TAIL);
	assert_non_null(s->p);
	s->len += kt_ch_encode(s->p + s->len, t, p, len);
}

static void put_raw(struct stream *s, const void *p, size_t len)
{
	s->p = realloc(s->p, s->len + len);
	memcpy(s->p + s->len, p, len);
	s->len += len;
}

static void put_status(struct stream *s, uint32_t st, const char *nonce)
{
	unsigned char b[4 + 64];

	kt_put_le32(b, st);
	memcpy(b + 4, nonce, strlen(nonce));
	put(s, KT_CH_STATUS, b, 4 + strlen(nonce));
}

/* A frame of @fixed bytes then @nonce (a failure's: @nonce first). */
static void put_signed(struct stream *s, enum kt_ch_type t, const void *p, size_t fixed,
		       const char *nonce)
{
	unsigned char b[2048];
	size_t nl = strlen(nonce);

	if (t == KT_CH_FAIL) {
		memcpy(b, nonce, nl);
		memcpy(b + nl, p, fixed);
	} else {
		memcpy(b, p, fixed);
		memcpy(b + fixed, nonce, nl);
	}
	put(s, t, b, fixed + nl);
}

/* A trace of @len bytes in @chunk-sized frames; @lie is added to the
 * announced size, @flip corrupts the CRC. */
static void put_trace_as(struct stream *s, const unsigned char *t, size_t len, size_t chunk,
			 int lie, bool flip, const char *nonce)
{
	unsigned char le[8];
	uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), t, (uInt)len);

	kt_put_le64(le, (uint64_t)((int64_t)len + lie));
	put_signed(s, KT_CH_TRACE_BEGIN, le, 8, nonce);
	for (size_t off = 0; off < len; off += chunk)
		put(s, KT_CH_TRACE, t + off, len - off < chunk ? len - off : chunk);
	kt_put_le32(le, crc ^ (flip ? 1u : 0u));
	put_signed(s, KT_CH_TRACE_END, le, 4, nonce);
}

static void put_trace(struct stream *s, const unsigned char *t, size_t len, size_t chunk,
		      int lie, bool flip)
{
	put_trace_as(s, t, len, chunk, lie, flip, NONCE);
}

struct host {
	struct kt_ch_host *h;
	int out, err;
};

static void host_new(struct host *h, uint64_t max)
{
	struct kt_ch_host_opts o = { .trace_out = out, .trace_max = max, .nonce = NONCE };

	h->out = open(so, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	h->err = open(se, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(h->out >= 0 && h->err >= 0);
	o.out_fd = h->out;
	o.err_fd = h->err;
	assert_int_equal(kt_ch_host__new(&o, &h->h), 0);
}

/* Feeds @s in pieces of @step bytes. */
static void feed(struct host *h, const struct stream *s, size_t step)
{
	for (size_t off = 0; off < s->len; off += step)
		assert_int_equal(kt_ch_host__feed(h->h, s->p + off,
						  s->len - off < step ? s->len - off : step, NULL), 0);
}

static void host_free(struct host *h)
{
	kt_ch_host__free(h->h);
	close(h->out);
	close(h->err);
}

static void test_streams_and_status(void **state)
{
	static const size_t steps[] = { 1, 3, 13, 4096, 1 << 20 };
	unsigned char bin[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)i;
	for (size_t k = 0; k < KT_ARRAY_SIZE(steps); k++) {
		struct stream s = { 0 };
		struct host h;
		const char *why = NULL;
		char *got;
		size_t len;
		int st = -1;

		host_new(&h, 0);
		put(&s, KT_CH_HELLO, NULL, 0);
		put(&s, KT_CH_STDOUT, "out\r\n", 5);
		put(&s, KT_CH_STDERR, "err\n", 4);
		put(&s, KT_CH_STDOUT, bin, sizeof(bin));
		{
			unsigned char le[4];

			kt_put_le32(le, 1000);
			put(&s, KT_CH_CREDIT, le, 4);
			put(&s, KT_CH_CREDIT, le, 4);
		}
		put_status(&s, 3, NONCE);
		feed(&h, &s, steps[k]);
		assert_int_equal(kt_ch_host__credited(h.h), 2000);
		assert_true(kt_ch_host__hello(h.h));
		assert_int_equal(kt_ch_host__end(h.h, &st, &why), 1);
		assert_int_equal(st, 3);
		assert_int_equal(kt_ch_host__skipped(h.h), 0);
		got = slurp(so, &len);
		/* byte for byte: the \r stays, the NUL and every byte after */
		assert_int_equal(len, 5 + sizeof(bin));
		assert_memory_equal(got, "out\r\n", 5);
		assert_memory_equal(got + 5, bin, sizeof(bin));
		free(got);
		got = slurp(se, &len);
		assert_string_equal(got, "err\n");
		free(got);
		/* no trace came */
		assert_int_equal(kt_ch_host__trace(h.h, &(uint64_t){ 0 }, NULL), -ENOENT);
		host_free(&h);
		free(s.p);
	}
}

static void test_status_needs_the_nonce(void **state)
{
	struct stream s = { 0 };
	struct host h;
	const char *why = NULL;
	int st = -1;

	(void)state;
	host_new(&h, 0);
	put_status(&s, 0, "ffffffffffffffff");	/* a forged one */
	put_status(&s, 300, NONCE);		/* not an exit status */
	feed(&h, &s, 7);
	assert_int_equal(kt_ch_host__end(h.h, &st, &why), 0);
	/* init's own, sent last, is the one taken */
	put_status(&s, 0, "ffffffffffffffff");
	s.len = 0;
	put_status(&s, 42, NONCE);
	feed(&h, &s, 7);
	assert_int_equal(kt_ch_host__end(h.h, &st, &why), 1);
	assert_int_equal(st, 42);
	/* init could not run the command: its words made printable, a
	 * terminal's C1 controls and bidi overrides too */
	s.len = 0;
	put_signed(&s, KT_CH_FAIL, "no \x1b[31mcommand \xc2\x9b" "2J \xe2\x80\xae" "evil", 28, NONCE);
	feed(&h, &s, 7);
	assert_int_equal(kt_ch_host__end(h.h, &st, &why), -1);
	assert_string_equal(why, "no ?[31mcommand ?2J ?evil");
	assert_int_equal(kt_ch_host__ends(h.h), 2);
	host_free(&h);
	free(s.p);
}

/* What a guest command can send on init's port without the nonce: a
 * failure, a status, a trace.  None decides the run, none is written as
 * the trace, none needs an ACK; init's own frames after them count. */
static void test_forged_frames(void **state)
{
	unsigned char t[3000];
	struct stream s = { 0 };
	struct kt_err e = { 0 };
	struct host h;
	const char *why = NULL;
	uint64_t bytes = 0;
	size_t len;
	char *got;
	int st = -1;

	(void)state;
	memset(t, 'F', sizeof(t));
	host_new(&h, 0);
	put(&s, KT_CH_FAIL, "forged", 6);
	put_signed(&s, KT_CH_FAIL, "forged", 6, "ffffffffffffffff");
	put_trace_as(&s, t, sizeof(t), 1000, 0, false, "ffffffffffffffff");
	feed(&h, &s, 5);
	assert_int_equal(kt_ch_host__end(h.h, &st, &why), 0);
	assert_int_equal(kt_ch_host__ends(h.h), 0);
	assert_int_equal(kt_ch_host__trace(h.h, &bytes, &e), -ENOENT);
	/* init's trace, with a forged end in its middle: not taken */
	s.len = 0;
	memset(t, 'G', sizeof(t));
	{
		unsigned char le[8];

		kt_put_le64(le, sizeof(t));
		put_signed(&s, KT_CH_TRACE_BEGIN, le, 8, NONCE);
		put(&s, KT_CH_TRACE, t, 1000);
		kt_put_le32(le, (uint32_t)crc32(crc32(0L, Z_NULL, 0), t, 1000));
		put(&s, KT_CH_TRACE_END, le, 4);
		put(&s, KT_CH_TRACE, t + 1000, sizeof(t) - 1000);
		kt_put_le32(le, (uint32_t)crc32(crc32(0L, Z_NULL, 0), t, sizeof(t)));
		put_signed(&s, KT_CH_TRACE_END, le, 4, NONCE);
	}
	put_status(&s, 7, NONCE);
	feed(&h, &s, 5);
	assert_int_equal(kt_ch_host__end(h.h, &st, &why), 1);
	assert_int_equal(st, 7);
	assert_int_equal(kt_ch_host__ends(h.h), 1);
	assert_int_equal(kt_ch_host__trace(h.h, &bytes, &e), 0);
	got = slurp(out, &len);
	assert_int_equal(len, sizeof(t));
	assert_memory_equal(got, t, sizeof(t));
	free(got);
	host_free(&h);
	free(s.p);
}

/* init's word that the command ended, before the trace and the status:
 * taken only with the nonce, and no end of the run. */
static void test_done(void **state)
{
	struct stream s = { 0 };
	unsigned char b[4 + 64];
	struct host h;
	const char *why = NULL;
	int st = -1;

	(void)state;
	host_new(&h, 0);
	assert_false(kt_ch_host__done(h.h, &st));
	kt_put_le32(b, 3);
	memcpy(b + 4, "ffffffffffffffff", 16);	/* a forged one */
	put(&s, KT_CH_DONE, b, 4 + 16);
	kt_put_le32(b, 256);			/* not an exit status */
	memcpy(b + 4, NONCE, strlen(NONCE));
	put(&s, KT_CH_DONE, b, 4 + strlen(NONCE));
	put(&s, KT_CH_DONE, b, 4);		/* no nonce */
	feed(&h, &s, 5);
	assert_false(kt_ch_host__done(h.h, &st));
	assert_int_equal(st, -1);
	s.len = 0;
	kt_put_le32(b, 7);
	put(&s, KT_CH_DONE, b, 4 + strlen(NONCE));
	feed(&h, &s, 5);
	assert_true(kt_ch_host__done(h.h, &st));
	assert_int_equal(st, 7);
	/* the run has not ended: wprof and the status are still to come */
	assert_int_equal(kt_ch_host__end(h.h, &st, &why), 0);
	assert_int_equal(kt_ch_host__skipped(h.h), 0);
	host_free(&h);
	free(s.p);
}

/* A frame of u32 @e, @nonce, then @path: init's word that the command
 * could not be executed. */
static void put_exec_fail(struct stream *s, uint32_t e, const char *nonce, const char *path,
			  size_t plen)
{
	unsigned char b[4 + 64 + 2048];
	size_t nl = strlen(nonce);

	kt_put_le32(b, e);
	memcpy(b + 4, nonce, nl);
	memcpy(b + 4 + nl, path, plen);
	put(s, KT_CH_EXEC_FAIL, b, 4 + nl + plen);
}

/* The command could not be executed: taken only with the nonce and an
 * errno, its path made printable; no end of the run (the status still
 * comes: 127 or 126).  A status of 127 alone is no such word. */
static void test_exec_fail(void **state)
{
	static char path[KT_CH_EXEC_PATH_MAX + KT_CH_NONCE_MAX];
	struct stream s = { 0 };
	const char *p = NULL, *why = NULL;
	bool interp = false;
	struct host h;
	int st = -1;

	(void)state;
	host_new(&h, 0);
	put_status(&s, 127, NONCE);
	feed(&h, &s, 5);
	assert_int_equal(kt_ch_host__end(h.h, &st, &why), 1);
	assert_int_equal(st, 127);
	assert_int_equal(kt_ch_host__exec_failed(h.h, &p, NULL), 0);
	assert_null(p);
	/* forged, no errno, no nonce, not an errno: ignored */
	s.len = 0;
	put_exec_fail(&s, ENOENT, "ffffffffffffffff", "/forged", 7);
	put_exec_fail(&s, 0, NONCE, "/zero", 5);
	put_exec_fail(&s, 4096, NONCE, "/big", 4);
	put(&s, KT_CH_EXEC_FAIL, "\x02\0\0\0", 4);
	feed(&h, &s, 3);
	assert_int_equal(kt_ch_host__exec_failed(h.h, &p, NULL), 0);
	assert_null(p);
	/* init's own: a terminal's controls in the path do not get through */
	s.len = 0;
	put_exec_fail(&s, EACCES, NONCE, "/bin/\x1b[2Jx", 10);
	feed(&h, &s, 3);
	assert_int_equal(kt_ch_host__exec_failed(h.h, &p, NULL), EACCES);
	assert_string_equal(p, "/bin/?[2Jx");
	/* the file is there, its interpreter is not */
	s.len = 0;
	put_exec_fail(&s, ENOENT | KT_CH_EXEC_INTERP, NONCE, "/s.sh", 5);
	feed(&h, &s, 3);
	assert_int_equal(kt_ch_host__exec_failed(h.h, &p, &interp), ENOENT);
	assert_string_equal(p, "/s.sh");
	assert_true(interp);
	put_exec_fail(&s, EACCES, NONCE, "/bin/x", 6);
	feed(&h, &s, 3);
	assert_int_equal(kt_ch_host__exec_failed(h.h, &p, &interp), EACCES);
	assert_false(interp);
	/* the bit says something only of an ENOENT; a frame refused after
	 * a good one changes nothing */
	s.len = 0;
	put_exec_fail(&s, EACCES | KT_CH_EXEC_INTERP, NONCE, "/bin/y", 6);
	put_exec_fail(&s, KT_CH_EXEC_INTERP, NONCE, "/bin/z", 6);
	feed(&h, &s, 3);
	assert_int_equal(kt_ch_host__exec_failed(h.h, &p, &interp), EACCES);
	assert_string_equal(p, "/bin/y");
	assert_false(interp);
	/* the longest path init sends fits whole; a frame over the cap is
	 * skipped */
	s.len = 0;
	memset(path, 'a', KT_CH_EXEC_PATH_MAX);
	put_exec_fail(&s, ENOENT, NONCE, path, KT_CH_EXEC_PATH_MAX);
	feed(&h, &s, 4096);
	assert_int_equal(kt_ch_host__exec_failed(h.h, &p, NULL), ENOENT);
	assert_int_equal(strlen(p), KT_CH_EXEC_PATH_MAX);
	assert_int_equal(kt_ch_host__skipped(h.h), 0);
	s.len = 0;
	memset(path, 'a', sizeof(path));
	put_exec_fail(&s, EACCES, NONCE, path,
		      kt_ch_payload_max(KT_CH_EXEC_FAIL) + 1 - 4 - strlen(NONCE));
	feed(&h, &s, 4096);
	assert_int_equal(kt_ch_host__exec_failed(h.h, &p, NULL), ENOENT);
	assert_true(kt_ch_host__skipped(h.h) > 0);
	/* the status is init's STATUS frame's, an EXEC_FAIL ends nothing */
	assert_int_equal(kt_ch_host__ends(h.h), 1);
	host_free(&h);
	free(s.p);
}

/* A header a command wrote that claims a long payload, then init's
 * padding and last frames: the status arrives.  A header whose size is
 * over its type's cap is refused before its payload is waited for. */
static void test_header_cannot_swallow(void **state)
{
	unsigned char hdr[KT_CH_HDR] = "KTCH";
	unsigned char *pad = calloc(1, KT_CH_PAD);
	struct stream s = { 0 };
	struct host h;
	const char *why = NULL;
	int st = -1;

	(void)state;
	host_new(&h, 0);
	hdr[4] = KT_CH_STDOUT;
	kt_put_le32(hdr + 8, KT_CH_PAYLOAD_MAX);
	put_raw(&s, hdr, sizeof(hdr));
	put_raw(&s, "partial", 7);
	put_raw(&s, pad, KT_CH_PAD);
	put_status(&s, 5, NONCE);
	feed(&h, &s, 4096);
	assert_int_equal(kt_ch_host__end(h.h, &st, &why), 1);
	assert_int_equal(st, 5);
	host_free(&h);

	/* no padding needed when the size is over the type's cap */
	s.len = 0;
	host_new(&h, 0);
	hdr[4] = KT_CH_STATUS;
	put_raw(&s, hdr, sizeof(hdr));
	put_status(&s, 6, NONCE);
	feed(&h, &s, 3);
	assert_int_equal(kt_ch_host__end(h.h, &st, &why), 1);
	assert_int_equal(st, 6);
	assert_int_equal(kt_ch_host__skipped(h.h), KT_CH_HDR);
	host_free(&h);
	free(s.p);
	free(pad);
}

/* Headers that claim the longest payload, one after the other: the
 * reader computes a CRC over each byte once, not 64 KiB per header. */
static void test_reader_linear(void **state)
{
	size_t n = 256 << 10;
	unsigned char *junk = malloc(n);
	struct kt_ch_reader *r;

	(void)state;
	assert_int_equal(kt_ch_reader__new(&r), 0);
	for (size_t i = 0; i + KT_CH_HDR <= n; i += KT_CH_HDR) {
		memcpy(junk + i, "KTCH\x02\0\0\0", 8);
		kt_put_le32(junk + i + 8, KT_CH_PAYLOAD_MAX);
	}
	assert_int_equal(kt_ch_reader__feed(r, junk, n, NULL, NULL), 0);
	assert_true(kt_ch_reader__checked(r) <= n);
	assert_true(kt_ch_reader__skipped(r) + kt_ch_reader__pending(r) <= n);
	assert_true(kt_ch_reader__skipped(r) >= n / 2);
	kt_ch_reader__free(r);
	free(junk);
}

/* Every frame type has a cap, and a host refuses a run without a nonce. */
static void test_caps_and_nonce(void **state)
{
	struct kt_ch_host_opts o = { .out_fd = -1, .err_fd = -1 };
	struct kt_ch_host *h = NULL;

	(void)state;
	for (int t = KT_CH_HELLO; t < KT_CH_TYPE_END; t++)
		if (t != KT_CH_HELLO && t != KT_CH_ACK && !kt_ch_payload_max((enum kt_ch_type)t))
			fail_msg("frame type %d has no payload cap", t);
	assert_int_equal(kt_ch_payload_max(KT_CH_STATUS), 4 + KT_CH_NONCE_MAX);
	assert_int_equal(kt_ch_payload_max(KT_CH_EXEC_FAIL),
			 4 + KT_CH_NONCE_MAX + KT_CH_EXEC_PATH_MAX);
	assert_int_equal(kt_ch_host__new(&o, &h), -EINVAL);
	o.nonce = "short";
	assert_int_equal(kt_ch_host__new(&o, &h), -EINVAL);
	o.nonce = "0011223344556677 ";
	assert_int_equal(kt_ch_host__new(&o, &h), -EINVAL);
	o.nonce = NONCE;
	assert_int_equal(kt_ch_host__new(&o, &h), 0);
	kt_ch_host__free(h);
}

static void test_trace(void **state)
{
	size_t n = 300000, len;
	unsigned char *t = malloc(n);
	struct stream s = { 0 };
	struct kt_err e;
	struct host h;
	uint64_t bytes = 0;
	char *got;

	(void)state;
	for (size_t i = 0; i < n; i++)
		t[i] = (unsigned char)(i * 7 + i / 251);
	host_new(&h, 0);
	put(&s, KT_CH_STDOUT, "a", 1);
	put_trace(&s, t, n, KT_CH_PAYLOAD_MAX, 0, false);
	put(&s, KT_CH_STDOUT, "b", 1);
	feed(&h, &s, 1000);
	assert_int_equal(kt_ch_host__trace(h.h, &bytes, &e), 0);
	assert_int_equal(bytes, n);
	got = slurp(out, &len);
	assert_int_equal(len, n);
	assert_memory_equal(got, t, n);
	free(got);
	got = slurp(so, &len);
	assert_string_equal(got, "ab");
	free(got);
	host_free(&h);
	free(s.p);
	free(t);
}

/* Every way a trace can come wrong: nothing is left at the output. */
static void test_trace_bad(void **state)
{
	unsigned char t[5000];
	struct {
		int lie;
		bool flip, cut;
		uint64_t max;
		const char *msg;
	} cases[] = {
		{ 0, true, false, 0, "CRC-32 mismatch" },
		{ 100, false, false, 0, "truncated (5000 of 5100 bytes)" },
		{ -100, false, false, 0, "longer than announced" },
		{ 0, false, true, 0, "truncated" },
		{ 0, false, false, 4096, "more than its 0 MiB of memory" },
	};

	(void)state;
	memset(t, 0x5a, sizeof(t));
	for (size_t i = 0; i < KT_ARRAY_SIZE(cases); i++) {
		struct stream s = { 0 };
		struct kt_err e = { 0 };
		struct host h;
		uint64_t bytes;

		host_new(&h, cases[i].max);
		put_trace(&s, t, sizeof(t), 999, cases[i].lie, cases[i].flip);
		/* all of it, or only its first half */
		assert_int_equal(kt_ch_host__feed(h.h, s.p, cases[i].cut ? s.len / 2 : s.len, NULL), 0);
		assert_int_equal(kt_ch_host__trace(h.h, &bytes, &e), -EIO);
		assert_str_contains(e.msg, cases[i].msg);
		if (access(out, F_OK) != -1)
			fail_msg("case %zu left %s", i, out);
		host_free(&h);
		free(s.p);
	}
}

/*
 * A trace FIFO whose reader stalls: feeding never waits on it (a write
 * that waited would never return: the alarm ends the test), what the
 * FIFO does not take is queued while the caller, as vm.c does, stops
 * feeding above a bound, and the trace is whole once its reader took it.
 */
#define STALL_QUEUE	(256u << 10)
#define STALL_STEP	4096u

static void stall_feed(struct kt_ch_host *h, const struct stream *s, size_t *fed)
{
	while (*fed < s->len && kt_ch_host__pending(h) < STALL_QUEUE) {
		size_t n = s->len - *fed < STALL_STEP ? s->len - *fed : STALL_STEP;

		assert_int_equal(kt_ch_host__feed(h, s->p + *fed, n, NULL), 0);
		*fed += n;
		/* a feed adds what it completes: a frame at most, and the step */
		assert_true(kt_ch_host__pending(h) < STALL_QUEUE + KT_CH_FRAME_MAX + STALL_STEP);
	}
}

static void test_trace_stalled_reader(void **state)
{
	size_t n = 1u << 20, got = 0, fed = 0;
	unsigned char *t = malloc(n), *back = malloc(n);
	struct kt_ch_host_opts o = { .out_fd = -1, .err_fd = -1, .nonce = NONCE };
	struct stream s = { 0 };
	struct kt_err e = { 0 };
	struct kt_ch_host *h;
	uint64_t bytes = 0;
	char fifo[128];
	int rd;

	(void)state;
	for (size_t i = 0; i < n; i++)
		t[i] = (unsigned char)(i * 13 + i / 509);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	rd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(rd >= 0);
	o.trace_out = fifo;
	assert_int_equal(kt_ch_host__new(&o, &h), 0);
	put_trace(&s, t, n, KT_CH_PAYLOAD_MAX, 0, false);
	put_status(&s, 0, NONCE);

	alarm(20);
	stall_feed(h, &s, &fed);
	alarm(0);
	/* it stopped at the bound, not at the end: the rest waits */
	assert_true(fed < s.len);
	assert_true(kt_ch_host__pending(h) >= STALL_QUEUE);

	/* the reader reads: the queue goes, the guest's bytes follow */
	while (got < n) {
		ssize_t r = read(rd, back + got, n - got);

		if (r > 0)
			got += (size_t)r;
		assert_int_equal(kt_ch_host__flush(h, NULL), 0);
		stall_feed(h, &s, &fed);
	}
	assert_int_equal(fed, s.len);
	assert_int_equal(kt_ch_host__flush(h, NULL), 0);
	assert_int_equal(kt_ch_host__pending(h), 0);
	assert_int_equal(kt_ch_host__end(h, &(int){ 0 }, &(const char *){ NULL }), 1);
	assert_int_equal(kt_ch_host__trace(h, &bytes, &e), 0);
	assert_int_equal(bytes, n);
	assert_memory_equal(back, t, n);
	kt_ch_host__free(h);
	close(rd);
	free(s.p);
	free(t);
	free(back);
}

/* Garbage between frames, a frame with a bad CRC, a size over the cap and
 * an unknown type are skipped; the frames around them are read. */
/* ---- files back (--collect) ---- */

/* A file as init sends it: @lie added to the announced size, @flip
 * corrupting the CRC, @nonce binding its first and last frames. */
static void put_file_as(struct stream *s, const char *name, const char *data, uint32_t mode,
			int lie, bool flip, const char *nonce)
{
	unsigned char b[12 + 64 + 2048], le[4];
	size_t nl = strlen(nonce), len = strlen(data);
	uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const unsigned char *)data, (uInt)len);

	kt_put_le64(b, (uint64_t)((int64_t)len + lie));
	kt_put_le32(b + 8, mode);
	memcpy(b + 12, nonce, nl);
	memcpy(b + 12 + nl, name, strlen(name));
	put(s, KT_CH_FILE_BEGIN, b, 12 + nl + strlen(name));
	if (len)
		put(s, KT_CH_FILE, data, len);
	kt_put_le32(le, crc ^ (flip ? 1u : 0u));
	put_signed(s, KT_CH_FILE_END, le, 4, nonce);
}

static void put_file(struct stream *s, const char *name, const char *data)
{
	put_file_as(s, name, data, 0644, 0, false, NONCE);
}

/* A host that collects into @dir/out, at most @max bytes, what these
 * guest paths name; under umask 022, which the modes asserted assume. */
static const char *const asked[] = {
	"/g/d", "/top", "/g/a/", "/link", "/short", "/long", "/crc", "/file", "/b", "/c", "/forged",
	"/cut",
};

static void collect_host(struct kt_ch_host **h, char *od, size_t sz, uint64_t max)
{
	struct kt_ch_host_opts o = { .out_fd = -1, .err_fd = -1, .nonce = NONCE,
				     .collect_max = max, .collect = asked,
				     .ncollect = KT_ARRAY_SIZE(asked) };

	umask(022);
	snprintf(od, sz, "%s/out", dir);
	assert_int_equal(mkdir(od, 0755), 0);
	o.out_dir = od;
	assert_int_equal(kt_ch_host__new(&o, h), 0);
}

static void collect_feed(struct kt_ch_host *h, const struct stream *s)
{
	assert_int_equal(kt_ch_host__feed(h, s->p, s->len, NULL), 0);
}

/* The file @rel under @base holds @want. */
static void assert_file(const char *base, const char *rel, const char *want)
{
	char p[256];
	size_t len;
	char *got;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	got = slurp(p, &len);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);
}

/* How many entries @path holds (a folder), "." and ".." left out. */
static int entries(const char *path)
{
	char cmd[300];
	FILE *f;
	int n = 0, c;

	snprintf(cmd, sizeof(cmd), "find '%s' -mindepth 1 | wc -l", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	c = fscanf(f, "%d", &n);
	pclose(f);
	assert_int_equal(c, 1);
	return n;
}

/* Whether a refusal line of @c holds @what. */
static bool refusal(const struct kt_collected *c, const char *what)
{
	for (size_t i = 0; i < c->nrefusals; i++)
		if (strstr(c->refusals[i], what))
			return true;
	return false;
}

/* The list's entry @i is @path, @size bytes, mode @mode. */
static void assert_listed(const struct kt_collected *c, size_t i, const char *path, uint64_t size,
			  unsigned mode)
{
	assert_true(i < c->nfiles);
	assert_string_equal(c->files[i].path, path);
	assert_int_equal(c->files[i].size, size);
	assert_int_equal(c->files[i].mode, mode);
}

static void test_collect(void **state)
{
	struct stream s = { 0 };
	struct kt_ch_host *h;
	struct kt_collected c;
	char od[128], p[256];
	struct stat st;
	mode_t um = umask(022);

	(void)state;
	collect_host(&h, od, sizeof(od), 0);
	put_file(&s, "d/sub/f", "hello");
	put_file_as(&s, "d/x", "run", 06755, 0, false, NONCE);
	put_file(&s, "top", "");
	collect_feed(h, &s);
	kt_ch_host__collected(h, &c);
	/* each file by its path under the out folder, as it was written */
	assert_int_equal(c.nfiles, 3);
	assert_listed(&c, 0, "d/sub/f", 5, 0644);
	assert_listed(&c, 1, "d/x", 3, 0755);
	assert_listed(&c, 2, "top", 0, 0644);
	assert_int_equal(c.bytes, 8);
	assert_int_equal(c.refused, 0);
	assert_int_equal(c.nrefusals, 0);
	assert_null(c.refusals);
	assert_file(od, "d/sub/f", "hello");
	assert_file(od, "top", "");
	/* the guest's mode, never its set-id bits, less the umask */
	snprintf(p, sizeof(p), "%s/d/x", od);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(entries(od), 5);
	/* the caller's now: the host holds none, and frees none */
	kt_ch_host__free(h);
	assert_string_equal(c.files[2].path, "top");
	kt_collected__release(&c);
	assert_null(c.files);
	assert_int_equal(c.nfiles, 0);
	kt_collected__release(&c);
	kt_collected__release(NULL);
	umask(um);
	free(s.p);
}

static void test_collect_hostile(void **state)
{
	static const char *const bad[] = {
		"../escape", "/abs", "a/../../escape", "a//b", "./a", "a/.", "", "a/\x1b[2Jb",
	};
	struct stream s = { 0 };
	struct kt_ch_host *h;
	char od[128], p[256], elsewhere[128];
	struct kt_collected c;

	(void)state;
	collect_host(&h, od, sizeof(od), 0);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", dir);
	assert_int_equal(mkdir(elsewhere, 0755), 0);
	/* a link planted in the out folder, as a folder and as the file */
	snprintf(p, sizeof(p), "%s/link", od);
	assert_int_equal(symlink(elsewhere, p), 0);
	snprintf(p, sizeof(p), "%s/file", od);
	assert_int_equal(symlink("../elsewhere/file", p), 0);
	for (size_t i = 0; i < KT_ARRAY_SIZE(bad); i++)
		put_file(&s, bad[i], "x");
	put_file(&s, "link/f", "through a link");
	/* no nonce, or another one: a command's frames, ignored */
	put_file_as(&s, "forged", "x", 0644, 0, false, "ffffffffffffffff");
	/* a lie about the size, a CRC that does not match */
	put_file_as(&s, "short", "abc", 0644, 2, false, NONCE);
	put_file_as(&s, "long", "abc", 0644, -1, false, NONCE);
	put_file_as(&s, "crc", "abc", 0644, 0, true, NONCE);
	/* the link's own name is replaced by the file: never followed */
	put_file(&s, "file", "ok");
	/* a name no --collect asked for: a guest command rewrote the list */
	put_file(&s, "Makefile", "overwritten");
	put_file(&s, ".git/hooks/pre-commit", "#!/bin/sh");
	put_file(&s, "fil", "a prefix");
	collect_feed(h, &s);
	kt_ch_host__collected(h, &c);
	assert_int_equal(c.nfiles, 1);
	assert_listed(&c, 0, "file", 2, 0644);
	assert_int_equal(c.bytes, 2);
	assert_int_equal(c.refused, KT_ARRAY_SIZE(bad) + 7);
	/* a line each, naming the file and why */
	assert_int_equal(c.nrefusals, c.refused);
	assert_string_equal(c.refusals[0], "a file named '../escape' refused: a '.' or '..' component");
	assert_true(refusal(&c, "a file named 'Makefile' refused: not under a path --collect asked for"));
	assert_true(refusal(&c, "a file named '.git/hooks/pre-commit' refused: not under a path"));
	assert_true(refusal(&c, "a file named '/abs' refused: an absolute name"));
	assert_true(refusal(&c, "a file named 'a//b' refused: an empty component"));
	assert_true(refusal(&c, "refused: a byte that is not printable"));
	assert_true(refusal(&c, "'link/f' refused: cannot write it under '"));
	assert_true(refusal(&c, "'short' is truncated (3 of 5 bytes)"));
	assert_true(refusal(&c, "'long' is corrupt (longer than announced)"));
	assert_true(refusal(&c, "'crc' is corrupt (CRC-32 mismatch)"));
	assert_false(refusal(&c, "\x1b"));
	for (size_t i = 0; i < c.nrefusals; i++)
		assert_null(strchr(c.refusals[i], '\n'));
	assert_int_equal(entries(elsewhere), 0);
	assert_file(od, "file", "ok");
	/* nothing else: no temporary file left, no folder made for a refusal */
	assert_int_equal(entries(od), 2);
	kt_ch_host__free(h);
	kt_collected__release(&c);
	free(s.p);
}

static void test_collect_cap(void **state)
{
	struct stream s = { 0 };
	struct kt_ch_host *h;
	struct kt_collected c;
	char od[128];

	(void)state;
	collect_host(&h, od, sizeof(od), 10);
	put_file(&s, "a", "123456");
	put_file(&s, "b", "12345");	/* over what is left: refused whole */
	put_file(&s, "c", "1234");
	collect_feed(h, &s);
	/* a file the guest never finished is refused, its bytes removed */
	free(s.p);
	s = (struct stream){ 0 };
	{
		unsigned char b[12 + 64 + 8];

		kt_put_le64(b, 0);
		kt_put_le32(b + 8, 0644);
		memcpy(b + 12, NONCE, strlen(NONCE));
		memcpy(b + 12 + strlen(NONCE), "cut", 3);
		put(&s, KT_CH_FILE_BEGIN, b, 15 + strlen(NONCE));
	}
	collect_feed(h, &s);
	kt_ch_host__collected(h, &c);
	assert_int_equal(c.nfiles, 2);
	assert_listed(&c, 0, "a", 6, 0644);
	assert_listed(&c, 1, "c", 4, 0644);
	assert_int_equal(c.bytes, 10);
	assert_int_equal(c.refused, 2);
	assert_int_equal(c.nrefusals, 2);
	assert_string_equal(c.refusals[0], "'b' refused: 5 bytes, over the 4 left of --collect-max");
	assert_string_equal(c.refusals[1], "'cut' is truncated (0 of 0 bytes)");
	assert_int_equal(entries(od), 2);
	kt_ch_host__free(h);
	kt_collected__release(&c);
	free(s.p);
}

/* Empty files cost nothing of collect_max: their count is capped, and
 * so are the refusal lines, the last saying how many more there were. */
static void test_collect_count_cap(void **state)
{
	struct stream top = { 0 }, up = { 0 };
	struct kt_ch_host *h;
	struct kt_collected c;
	char od[128], over[128];

	(void)state;
	collect_host(&h, od, sizeof(od), 0);
	put_file(&top, "top", "");
	put_file(&up, "../up", "");
	for (unsigned i = 0; i < KT_CH_COLLECT_FILES_MAX + 2; i++)
		collect_feed(h, &top);
	for (unsigned i = 0; i < KT_CH_COLLECT_REFUSALS_MAX + 3; i++)
		collect_feed(h, &up);
	kt_ch_host__collected(h, &c);
	assert_int_equal(c.nfiles, KT_CH_COLLECT_FILES_MAX);
	assert_listed(&c, KT_CH_COLLECT_FILES_MAX - 1, "top", 0, 0644);
	assert_int_equal(c.bytes, 0);
	assert_int_equal(c.refused, KT_CH_COLLECT_REFUSALS_MAX + 5);
	assert_int_equal(c.nrefusals, KT_CH_COLLECT_REFUSALS_MAX + 1);
	snprintf(over, sizeof(over), "'top' refused: over the %u files --collect takes",
		 KT_CH_COLLECT_FILES_MAX);
	assert_string_equal(c.refusals[0], over);
	assert_string_equal(c.refusals[1], over);
	assert_string_equal(c.refusals[2], "a file named '../up' refused: a '.' or '..' component");
	assert_string_equal(c.refusals[KT_CH_COLLECT_REFUSALS_MAX], "and 5 more refused");
	assert_int_equal(entries(od), 1);
	kt_ch_host__free(h);
	kt_collected__release(&c);
	free(top.p);
	free(up.p);
}

/* A host freed without its files taken frees them. */
static void test_collect_untaken(void **state)
{
	struct stream s = { 0 };
	struct kt_ch_host *h;
	char od[128];

	(void)state;
	collect_host(&h, od, sizeof(od), 0);
	put_file(&s, "top", "x");
	put_file(&s, "../up", "");
	collect_feed(h, &s);
	kt_ch_host__free(h);
	assert_file(od, "top", "x");
	free(s.p);
}

/* A file announced over what is left and no byte of it (init's way):
 * refused once, by name, nothing written; then a guest that announces
 * more files than a run takes gets the rest refused. */
static void test_collect_count(void **state)
{
	struct stream s = { 0 };
	struct kt_ch_host *h;
	struct kt_collected c;
	char od[128], over[128];

	(void)state;
	collect_host(&h, od, sizeof(od), 4);
	{
		unsigned char b[12 + 64 + 8];

		kt_put_le64(b, 107374182400ULL);
		kt_put_le32(b + 8, 0644);
		memcpy(b + 12, NONCE, strlen(NONCE));
		memcpy(b + 12 + strlen(NONCE), "b", 1);
		put(&s, KT_CH_FILE_BEGIN, b, 13 + strlen(NONCE));
	}
	put_file(&s, "c", "1234");
	/* names no --collect asked for cost the host nothing, but count */
	for (unsigned i = 0; i < KT_CH_COLLECT_FILES_MAX - 3; i++)
		put_file(&s, "zz", "");
	put_file(&s, "top", "");
	/* one file more than a run takes */
	put_file(&s, "c", "");
	collect_feed(h, &s);
	assert_int_equal(kt_ch_host__sending(h), KT_CH_FILE_BEGIN);
	kt_ch_host__collected(h, &c);
	assert_int_equal(c.nfiles, 2);
	assert_listed(&c, 0, "c", 4, 0644);
	assert_listed(&c, 1, "top", 0, 0644);
	assert_int_equal(c.bytes, 4);
	assert_int_equal(c.refused, KT_CH_COLLECT_FILES_MAX - 1);
	assert_string_equal(c.refusals[0], "'b' refused: 107374182400 bytes, over the 4 left of --collect-max");
	for (size_t i = 0; i < c.nrefusals; i++)
		assert_null(strstr(c.refusals[i], "truncated"));
	snprintf(over, sizeof(over), "and %u more refused",
		 KT_CH_COLLECT_FILES_MAX - 1 - KT_CH_COLLECT_REFUSALS_MAX);
	assert_string_equal(c.refusals[c.nrefusals - 1], over);
	assert_file(od, "c", "1234");
	assert_int_equal(entries(od), 2);
	kt_ch_host__free(h);
	kt_collected__release(&c);
	free(s.p);
}

static void test_resync(void **state)
{
	unsigned char big[KT_CH_HDR + 8] = "KTCH\x02\0\0\0";
	struct stream s = { 0 }, bad = { 0 };
	struct host h;
	char *got;
	size_t len, skipped;

	(void)state;
	host_new(&h, 0);
	put(&s, KT_CH_STDOUT, "1", 1);
	put_raw(&s, "noise KT KTC KTCH", 17);
	put(&bad, KT_CH_STDOUT, "X", 1);
	bad.p[KT_CH_HDR] ^= 1;			/* payload changed: CRC fails */
	put_raw(&s, bad.p, bad.len);
	put(&s, KT_CH_STDOUT, "2", 1);
	kt_put_le32(big + 8, KT_CH_PAYLOAD_MAX + 1);
	memset(big + KT_CH_HDR, 'z', 8);	/* (NUL runs are padding, not counted) */
	put_raw(&s, big, sizeof(big));
	bad.len = 0;
	put(&bad, KT_CH_STDOUT, "Y", 1);
	bad.p[4] = 200;				/* unknown type */
	put_raw(&s, bad.p, bad.len);
	put(&s, KT_CH_STDOUT, "3", 1);
	feed(&h, &s, 5);
	got = slurp(so, &len);
	assert_string_equal(got, "123");
	free(got);
	skipped = 17 + (KT_CH_HDR + 1 + KT_CH_TAIL) * 2 + sizeof(big);
	assert_int_equal(kt_ch_host__skipped(h.h), skipped);
	host_free(&h);
	free(s.p);
	free(bad.p);
}

/* Whatever it is fed, the reader holds at most one frame. */
static void test_reader_bounded(void **state)
{
	struct kt_ch_reader *r;
	unsigned char *junk = malloc(1 << 20);
	unsigned char hdr[KT_CH_HDR] = "KTCH\x02\0\0\0";

	(void)state;
	assert_int_equal(kt_ch_reader__new(&r), 0);
	for (size_t i = 0; i < (1 << 20); i++)
		junk[i] = "KTCH"[i % 4];
	kt_put_le32(hdr + 8, KT_CH_PAYLOAD_MAX);
	assert_int_equal(kt_ch_reader__feed(r, hdr, sizeof(hdr), NULL, NULL), 0);
	/* a frame announced at the cap waits for its bytes... */
	assert_int_equal(kt_ch_reader__pending(r), KT_CH_HDR);
	assert_int_equal(kt_ch_reader__feed(r, junk, 1 << 20, NULL, NULL), 0);
	/* ...which fail its CRC: skipped, and no more than a frame held */
	assert_true(kt_ch_reader__pending(r) <= KT_CH_FRAME_MAX);
	assert_true(kt_ch_reader__skipped(r) >= (1 << 20) - KT_CH_FRAME_MAX);
	kt_ch_reader__free(r);
	free(junk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_streams_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_needs_the_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_cannot_swallow, setup, teardown),
		cmocka_unit_test(test_reader_linear),
		cmocka_unit_test(test_caps_and_nonce),
		cmocka_unit_test_setup_teardown(test_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_stalled_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collect_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collect_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collect_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collect_count_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collect_untaken, setup, teardown),
		cmocka_unit_test(test_reader_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
