/* Writes a channel stream (see ktpack/channel.h) to stdout, a seed of the
 * channel fuzz target (its first byte is the fuzz target's piece size):
 * with no argument, a valid one as a guest init sends it; "hostile":
 * what a guest command writes on init's port (frames without the nonce,
 * a header that claims a long payload), then init's padding and its
 * last frames; "headers": headers that claim the longest payload, one
 * after the other; "exec": a command the guest could not execute. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <ktpack/channel.h>
#include "guest/proto.h"

static unsigned char frame[KT_CH_FRAME_MAX];

static void put(enum kt_ch_type t, const void *p, size_t len)
{
	fwrite(frame, 1, kt_ch_encode(frame, t, p, len), stdout);
}

#define NONCE "0123456789abcdef"

/* @fixed bytes of @p, then the nonce. */
static void put_signed(enum kt_ch_type t, const void *p, size_t fixed)
{
	unsigned char b[64];

	memcpy(b, p, fixed);
	memcpy(b + fixed, NONCE, 16);
	put(t, b, fixed + 16);
}

/* The command could not be executed: u32 @e, the nonce, @path. */
static void put_exec_fail(uint32_t e, const char *path)
{
	unsigned char b[4 + 16 + 64];
	size_t pl = strlen(path);

	kt_put_le32(b, e);
	memcpy(b + 4, NONCE, 16);
	memcpy(b + 20, path, pl);
	put(KT_CH_EXEC_FAIL, b, 20 + pl);
}

static void put_header(uint32_t len)
{
	unsigned char h[KT_CH_HDR] = "KTCH";

	h[4] = KT_CH_STDOUT;
	kt_put_le32(h + 8, len);
	fwrite(h, 1, sizeof(h), stdout);
}

int main(int argc, char **argv)
{
	unsigned char trace[3000], le[8];
	uint32_t crc;

	if (argc > 1 && !strcmp(argv[1], "exec")) {
		putchar(3);
		put(KT_CH_HELLO, NULL, 0);
		put_exec_fail(2, "/bin/\x1b[2Jx");
		kt_put_le32(le, 127);
		put_signed(KT_CH_STATUS, le, 4);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "headers")) {
		putchar(200);
		for (int i = 0; i < 2000; i++)
			put_header(KT_CH_PAYLOAD_MAX);
		return 0;
	}
	for (size_t i = 0; i < sizeof(trace); i++)
		trace[i] = (unsigned char)(i % 97);
	crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), trace, sizeof(trace));
	putchar(7);
	put(KT_CH_HELLO, NULL, 0);
	put(KT_CH_STDOUT, "out\n", 4);
	put(KT_CH_STDERR, "err\n", 4);
	put(KT_CH_LOG, "started wprof", 13);
	if (argc > 1 && !strcmp(argv[1], "hostile")) {
		/* (init pads with KT_CH_PAD bytes; shorter here, for a
		 * seed within the fuzzer's -max_len) */
		static unsigned char pad[2000];

		put(KT_CH_FAIL, "forged", 6);
		put(KT_CH_EXEC_FAIL, "\x02\0\0\0/forged", 11);
		kt_put_le64(le, 6);
		put(KT_CH_TRACE_BEGIN, le, 8);
		put(KT_CH_TRACE, "forged", 6);
		put(KT_CH_LOG, "warning: \xc2\x9b" "2J", 11);
		put_header(1000);
		fwrite(pad, 1, sizeof(pad), stdout);
	}
	kt_put_le64(le, sizeof(trace));
	put_signed(KT_CH_TRACE_BEGIN, le, 8);
	put(KT_CH_TRACE, trace, 1000);
	put(KT_CH_TRACE, trace + 1000, 2000);
	kt_put_le32(le, crc);
	put_signed(KT_CH_TRACE_END, le, 4);
	kt_put_le32(le, 3);
	put_signed(KT_CH_STATUS, le, 4);
	return 0;
}
