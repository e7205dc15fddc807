/* Writes one valid trace frame (see src/guest/proto.h) to stdout: the seed
 * of the trace fuzz target. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "guest/proto.h"

int main(void)
{
	unsigned char trace[4096], z[8192], hdr[KT_TRACE_HDR], tail[KT_TRACE_TAIL];
	uLongf zlen = sizeof(z);

	for (size_t i = 0; i < sizeof(trace); i++)
		trace[i] = (unsigned char)(i % 97);
	if (compress2(z, &zlen, trace, sizeof(trace), 1) != Z_OK)
		return 1;
	kt_trace_header(hdr, zlen, sizeof(trace));
	kt_put_le32(tail, (uint32_t)crc32(crc32(0L, Z_NULL, 0), trace, sizeof(trace)));
	fwrite(hdr, 1, sizeof(hdr), stdout);
	fwrite(z, 1, zlen, stdout);
	fwrite(tail, 1, sizeof(tail), stdout);
	return 0;
}
