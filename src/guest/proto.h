/* proto.h - what the guest init and the host runner agree on: paths in the
 * guest, command-line keys, the exit marker and the trace frame.
 *
 * Trace frame on the second serial port (/dev/ttyS1), all little-endian:
 *   "KTPKTRC1"  8 bytes, magic
 *   length      u64, the trace's size
 *   trace       length bytes
 *   crc         u32, CRC-32 (zlib's) of the trace
 */
#ifndef KT_GUEST_PROTO_H
#define KT_GUEST_PROTO_H

#include <stdint.h>

#define KT_GUEST_WPROF		"/bin/wprof"
#define KT_GUEST_TRACE		"/tmp/wprof.pb"
/* The per-run archive: the command's argv, NUL-separated, and a nonce
 * that makes the exit marker unforgeable by the command's output. */
#define KT_GUEST_CMD		"/ktpack/cmd"
#define KT_GUEST_NONCE		"/ktpack/nonce"
#define KT_TRACE_TTY		"/dev/ttyS1"

/* "ktpack-init: started" tells the host that the kernel reached /init. */
#define KT_INIT_STARTED		"ktpack-init: started"
/* "KTPACK-EXIT-<nonce>: <status>" */
#define KT_EXIT_MARKER		"KTPACK-EXIT-"

/* How long wprof may run past its -d duration (kernel command line). */
#define KT_WPROF_GRACE_KEY	"KTPACK_WPROF_GRACE_MS"
#define KT_WPROF_DEFAULT_GRACE_MS 30000
/* Between SIGTERM and SIGKILL. */
#define KT_WPROF_TERM_GRACE_MS	5000

#define KT_TRACE_MAGIC		"KTPKTRC1"
#define KT_TRACE_HDR		16
#define KT_TRACE_TAIL		4

static inline void kt_put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t kt_get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void kt_trace_header(unsigned char *hdr, uint64_t len)
{
	for (int i = 0; i < 8; i++)
		hdr[i] = (unsigned char)KT_TRACE_MAGIC[i];
	kt_put_le32(hdr + 8, (uint32_t)len);
	kt_put_le32(hdr + 12, (uint32_t)(len >> 32));
}

#endif
