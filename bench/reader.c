/* make bench, reader: what a hostile guest's bytes cost the host's
 * channel reader (see the README, "The channel"), against random junk of
 * the same size in the same run.  A guest that sends headers which each
 * claim the longest payload must cost no more than about what junk does:
 * the reader's work is linear in the bytes it is fed.
 *   reader [MIB]   (default 8) -> one line of figures; exit 1 when the
 *   headers cost over 4 times what junk does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ktpack/channel.h>
#include "internal.h"
#include "guest/proto.h"

static double feed_s(const unsigned char *b, size_t n, int reps)
{
	double best = 1e9;

	for (int k = 0; k < reps; k++) {
		struct kt_ch_reader *r;
		struct timespec t0, t1;
		double s;

		if (kt_ch_reader__new(&r))
			exit(2);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		/* as the host reads a port: 4 KiB at a time */
		for (size_t off = 0; off < n; off += 4096)
			kt_ch_reader__feed(r, b + off, n - off < 4096 ? n - off : 4096, NULL, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		kt_ch_reader__free(r);
		s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (s < best)
			best = s;
	}
	return best;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 8, n = mib << 20;
	unsigned char *junk = malloc(n), *hdrs = malloc(n);
	double tj, th;

	if (!junk || !hdrs)
		return 2;
	srand(1);
	for (size_t i = 0; i < n; i++)
		junk[i] = (unsigned char)rand();
	for (size_t i = 0; i + KT_CH_HDR <= n; i += KT_CH_HDR) {
		memcpy(hdrs + i, "KTCH\x02\0\0\0", 8);
		kt_put_le32(hdrs + i + 8, KT_CH_PAYLOAD_MAX);
	}
	memset(hdrs + n - n % KT_CH_HDR, 0, n % KT_CH_HDR);
	tj = feed_s(junk, n, 5);
	th = feed_s(hdrs, n, 5);
	printf("reader: %zu MiB of random junk %.0f MB/s, of 64 KiB headers %.0f MB/s: headers cost %.2fx junk (target <= 4x)\n",
	       mib, (double)n / tj / 1e6, (double)n / th / 1e6, th / tj);
	free(junk);
	free(hdrs);
	return th / tj <= 4 ? 0 : 1;
}
