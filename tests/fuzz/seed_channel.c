/* Writes a channel stream (see ktpack/channel.h) to stdout, a seed of the
 * channel fuzz target (its first byte is the fuzz target's piece size):
 * with no argument, a valid one as a guest init sends it; "hostile":
 * what a guest command writes on init's port (frames without the nonce,
 * a header that claims a long payload), then init's padding and its
 * last frames; "headers": headers that claim the longest payload, one
 * after the other. */
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
