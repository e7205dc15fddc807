/* Writes a valid channel stream (see ktpack/channel.h) to stdout, as a
 * guest init sends it: the seed of the channel fuzz target.  Its first
 * byte is the fuzz target's piece size. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include <ktpack/channel.h>
#include "guest/proto.h"

static unsigned char frame[KT_CH_FRAME_MAX];

static void put(enum kt_ch_type t, const void *p, size_t len)
{
	fwrite(frame, 1, kt_ch_encode(frame, t, p, len), stdout);
}

int main(void)
{
	unsigned char trace[3000], le[8], status[4 + 16];
	uint32_t crc;

	for (size_t i = 0; i < sizeof(trace); i++)
		trace[i] = (unsigned char)(i % 97);
	crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), trace, sizeof(trace));
	putchar(7);
	put(KT_CH_HELLO, NULL, 0);
	put(KT_CH_STDOUT, "out\n", 4);
	put(KT_CH_STDERR, "err\n", 4);
	put(KT_CH_LOG, "started wprof", 13);
	kt_put_le64(le, sizeof(trace));
	put(KT_CH_TRACE_BEGIN, le, 8);
	put(KT_CH_TRACE, trace, 1000);
	put(KT_CH_TRACE, trace + 1000, 2000);
	kt_put_le32(le, crc);
	put(KT_CH_TRACE_END, le, 4);
	kt_put_le32(status, 3);
	memcpy(status + 4, "0123456789abcdef", 16);
	put(KT_CH_STATUS, status, sizeof(status));
	return 0;
}
