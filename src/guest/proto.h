/* proto.h - what the guest init and the host runner agree on: paths in the
 * guest, command-line keys, the exit marker and the trace frame.
 *
 * Trace frame on the second serial port (/dev/ttyS1), all little-endian:
 *   "KTPKTRC2"  8 bytes, magic
 *   zlen        u64, the size of the zlib stream that follows
 *   len         u64, the size of the trace
 *   stream      zlen bytes: the trace, deflated (an emulated UART moves a
 *               few hundred KB/s under TCG; traces compress well)
 *   crc         u32, CRC-32 (zlib's) of the trace itself
 */
#ifndef KT_GUEST_PROTO_H
#define KT_GUEST_PROTO_H

#include <stdint.h>

#define KT_GUEST_WPROF		"/bin/wprof"
#define KT_GUEST_TRACE		"/tmp/wprof.pb"
/* The per-run archive: the command's argv, NUL-separated, and a nonce
 * that a command's output cannot guess (a root command that reads init's
 * memory can; init's own marker, printed last, is the one taken). */
#define KT_GUEST_CMD		"/ktpack/cmd"
#define KT_GUEST_NONCE		"/ktpack/nonce"
/* The command's size in the archive, NULs included: kt_run refuses more. */
#define KT_GUEST_CMD_MAX	(1u << 20)
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

#define KT_TRACE_MAGIC		"KTPKTRC2"
#define KT_TRACE_HDR		24
#define KT_TRACE_TAIL		4
/* What the host accepts as a trace's size. */
#define KT_TRACE_MAX		(16ULL << 30)

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

static inline void kt_put_le64(unsigned char *p, uint64_t v)
{
	kt_put_le32(p, (uint32_t)v);
	kt_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t kt_get_le64(const unsigned char *p)
{
	return kt_get_le32(p) | (uint64_t)kt_get_le32(p + 4) << 32;
}

static inline void kt_trace_header(unsigned char *hdr, uint64_t zlen, uint64_t len)
{
	for (int i = 0; i < 8; i++)
		hdr[i] = (unsigned char)KT_TRACE_MAGIC[i];
	kt_put_le64(hdr + 8, zlen);
	kt_put_le64(hdr + 16, len);
}

#endif
