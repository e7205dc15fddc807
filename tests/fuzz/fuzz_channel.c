/* libFuzzer target: the host's reader of the framed channel, fed what a
 * hostile guest could send, in pieces of the sizes the input's first
 * bytes choose (a frame split anywhere must read the same). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "internal.h"
#include <ktpack/channel.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[64];
	static int null = -1;
	struct kt_ch_host *h;
	uint64_t bytes;
	size_t step;
	int st;
	const char *why;

	if (!out[0]) {
		snprintf(out, sizeof(out), "/tmp/kt-fuzz-channel.%d", (int)getpid());
		null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	if (size < 1)
		return 0;
	step = (size_t)data[0] * 37 + 1;
	data++;
	size--;
	{
		struct kt_ch_host_opts o = {
			.out_fd = null, .err_fd = null, .trace_out = out,
			.trace_max = 1 << 20, .nonce = "0123456789abcdef",
		};

		if (kt_ch_host__new(&o, &h))
			abort();
	}
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;

		if (kt_ch_host__feed(h, data + off, n, NULL))
			break;
	}
	/* linear: no byte is checked twice, however the headers lie */
	if (kt_ch_host__checked(h) > size)
		abort();
	kt_ch_host__end(h, &st, &why);
	/* a path the host shows: printable, within its cap */
	if (kt_ch_host__exec_failed(h, &why, NULL) && strlen(why) > KT_CH_EXEC_PATH_MAX)
		abort();
	if (!kt_ch_host__trace(h, &bytes, NULL) && bytes > (1 << 20))
		abort();
	kt_ch_host__free(h);
	unlink(out);
	return 0;
}
