/* ktpack/channel.h - the framed channel between the guest init and the
 * host: the command's stdout and stderr, the host's stdin, the trace, the
 * exit status (and whether the command could be executed at all) and
 * init's diagnostics, over one port (see the README, "The channel").
 *
 * A frame, all little-endian:
 *   "KTCH"   4 bytes, magic
 *   type     u8 (enum kt_ch_type), then 3 zero bytes
 *   len      u32, the payload's size, at most KT_CH_PAYLOAD_MAX
 *   payload  len bytes
 *   crc      u32, CRC-32 (zlib's) of the 12 header bytes and the payload
 *
 * A guest's command is root in the guest and can write frames of its own
 * on init's port.  So every frame that ends the run or carries the trace
 * holds the run's nonce (which only init reads); each type has its own
 * payload cap, judged from the header before a byte of the payload is
 * waited for; and before its last frames init kills every other process
 * and sends KT_CH_PAD bytes that are no frame, so that no frame begun
 * before them can swallow what follows (see the README, "The channel").
 */
#ifndef KTPACK_CHANNEL_H
#define KTPACK_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KT_CH_MAGIC		"KTCH"
#define KT_CH_HDR		12
#define KT_CH_TAIL		4
#define KT_CH_PAYLOAD_MAX	65536u
#define KT_CH_FRAME_MAX		(KT_CH_HDR + KT_CH_PAYLOAD_MAX + KT_CH_TAIL)
/* The host sends at most this much stdin beyond what the guest credited
 * back: the guest holds no more. */
#define KT_CH_STDIN_WINDOW	(256u << 10)
/* A LOG line that starts with this is a warning the user must see. */
#define KT_CH_WARNING		"warning: "
/* The run's nonce: printable, in these bounds. */
#define KT_CH_NONCE_MIN		16u
#define KT_CH_NONCE_MAX		64u
/* A FAIL frame's reason, after the nonce. */
#define KT_CH_WHY_MAX		1024u
/* In an EXEC_FAIL frame's errno word: the file is there, so an ENOENT is
 * that of its #! interpreter or its ELF loader. */
#define KT_CH_EXEC_INTERP	(1U << 31)
/* An EXEC_FAIL frame's path, after the errno and the nonce (init cuts a
 * longer one). */
#define KT_CH_EXEC_PATH_MAX	1024u
/* No frame is longer: this many bytes without the magic's first byte
 * end whatever frame the reader holds. */
#define KT_CH_PAD		KT_CH_FRAME_MAX
/* A collected file's name, relative to the out folder: at most this many
 * bytes, each component at most NAME_MAX. */
#define KT_CH_NAME_MAX		1024u
/* What the host accepts of collected files in all by default. */
#define KT_CH_COLLECT_MAX	(256ULL << 20)
/* The files a guest may announce (FILE_BEGIN with the nonce) in a run:
 * init stops there, the host refuses the rest.  Empty files cost no
 * bytes, but a file each on the host (a folder such as /proc holds tens
 * of thousands). */
#define KT_CH_COLLECT_FILES_MAX	16384u
/* Refused files said with a line each at most; one more line says how
 * many others were refused. */
#define KT_CH_COLLECT_REFUSALS_MAX 1000u
/* What the host accepts as a trace's size, whatever the guest's memory. */
#define KT_CH_TRACE_MAX		(16ULL << 30)

enum kt_ch_type {
	KT_CH_HELLO = 1,	/* guest: init is up on this port */
	KT_CH_STDOUT,		/* guest: the command's standard output */
	KT_CH_STDERR,		/* guest: the command's standard error */
	KT_CH_STDIN,		/* host: bytes for the command; empty: end of file */
	KT_CH_WINSZ,		/* host: the terminal's u16 rows, u16 columns */
	KT_CH_LOG,		/* guest: one line of init's diagnostics */
	KT_CH_TRACE_BEGIN,	/* guest: u64 size of the trace that follows, nonce */
	KT_CH_TRACE,		/* guest: the trace's next bytes */
	KT_CH_TRACE_END,	/* guest: u32 CRC-32 of the whole trace, nonce */
	KT_CH_STATUS,		/* guest: u32 exit status, nonce */
	KT_CH_FAIL,		/* guest: nonce, then why init could not run the command */
	KT_CH_SIGNAL,		/* host: u32 signal for the command's process group */
	KT_CH_CREDIT,		/* guest: u32 bytes of stdin taken: the window moves */
	KT_CH_ACK,		/* host: the status (or failure) arrived: power off */
	/* guest: the command ended, before wprof is stopped and the trace
	 * and files sent: u32 exit status, then the run's nonce (as
	 * STATUS) */
	KT_CH_DONE,
	/* guest: a file named with --collect follows: u64 size, u32 mode,
	 * the run's nonce, then its name relative to the out folder */
	KT_CH_FILE_BEGIN,
	KT_CH_FILE,		/* guest: the file's next bytes */
	KT_CH_FILE_END,		/* guest: u32 CRC-32 of the whole file, nonce */
	/* guest: the command could not be executed (its exit status is
	 * 127 or 126 all the same): u32 errno of the exec, the run's
	 * nonce, then the path tried (the command's argv[0]) */
	KT_CH_EXEC_FAIL,
	KT_CH_TYPE_END,
};

/* The largest payload a frame of @type may have (0 for an unknown type:
 * a HELLO or an ACK is empty). */
size_t kt_ch_payload_max(enum kt_ch_type type);

/*
 * Encodes one frame into @out (room for KT_CH_HDR + @len + KT_CH_TAIL
 * bytes); its size.  @len is at most KT_CH_PAYLOAD_MAX.
 */
size_t kt_ch_encode(void *out, enum kt_ch_type type, const void *payload, size_t len);

/* Called for each whole, CRC-checked frame; a negative return stops the
 * feed and is returned by it. */
typedef int (*kt_ch_frame_fn)(void *ctx, enum kt_ch_type type,
			      const unsigned char *payload, size_t len);

/*
 * An incremental frame reader for bytes that may come from a hostile
 * guest: its memory is one frame, whatever it is fed, and its work is
 * linear in what it is fed.  A header that is not one (no magic, an
 * unknown type, a size over its type's cap) is skipped a byte at a time
 * to the next magic; a frame whose CRC does not match is skipped whole
 * (each byte is checked once).  Skipped bytes are counted, but for runs
 * of NUL bytes where a frame could begin (init's padding).
 */
struct kt_ch_reader;

int kt_ch_reader__new(struct kt_ch_reader **out);
void kt_ch_reader__free(struct kt_ch_reader *r);
int kt_ch_reader__feed(struct kt_ch_reader *r, const void *data, size_t n,
		       kt_ch_frame_fn fn, void *ctx);
/* Bytes skipped so far, and bytes held of an unfinished frame. */
uint64_t kt_ch_reader__skipped(const struct kt_ch_reader *r);
size_t kt_ch_reader__pending(const struct kt_ch_reader *r);

/*
 * The host's end of a run: writes the command's stdout and stderr where
 * it is told, byte for byte; streams the trace to a kt_out file, checked
 * by size and CRC-32 at its end; keeps the exit status that carries the
 * run's nonce.
 */
struct kt_ch_host_opts {
	int out_fd;		/* the command's stdout goes here; -1 drops it */
	int err_fd;		/* its stderr */
	/* Where a trace goes (see kt_out in the README); NULL: a trace from
	 * the guest is dropped. */
	const char *trace_out;
	/* The largest trace accepted (the guest's memory); 0 or more than
	 * KT_CH_TRACE_MAX: KT_CH_TRACE_MAX. */
	uint64_t trace_max;
	/* What the status, failure and trace frames must carry: printable,
	 * KT_CH_NONCE_MIN to KT_CH_NONCE_MAX bytes (else -EINVAL). */
	const char *nonce;
	/* init's diagnostics, one line each, without the newline. */
	void (*diag)(void *ctx, const char *line, size_t len);
	void *diag_ctx;
	/* Where collected files go (FILE frames, with the nonce); NULL:
	 * they are dropped.  Each is named by the host under it (see
	 * kt_ch_host__collected()), never through a link. */
	const char *out_dir;
	/* Their bytes in all; 0: KT_CH_COLLECT_MAX.  A file over what is
	 * left is refused whole. */
	uint64_t collect_max;
	/* The guest paths asked for: a file's name must start with the last
	 * component of one of them (a guest command cannot name others). */
	const char *const *collect;
	size_t ncollect;
};

struct kt_ch_host;

/* A file that came back whole (kt_ch_host__collected). */
struct kt_collected_file {
	char *path;		/* relative to the out folder, as written */
	uint64_t size;
	unsigned mode;		/* its permission bits, as written */
};

/*
 * What came back of the files a guest sent: the caller's own once
 * kt_ch_host__collected() filled it, freed by kt_collected__release().
 */
struct kt_collected {
	/* The files written whole, in the order they came (a name sent
	 * twice is listed twice: the file holds the last); at most
	 * KT_CH_COLLECT_FILES_MAX. */
	struct kt_collected_file *files;
	size_t nfiles;
	uint64_t bytes;		/* their sizes, summed */
	/* How many files were refused (nothing is left of them), and a
	 * line for each of the first KT_CH_COLLECT_REFUSALS_MAX naming it
	 * and why, then one saying how many more ("and 5 more refused"). */
	size_t refused;
	char **refusals;
	size_t nrefusals;
};

/* Frees what @c holds and zeroes it; safe on a zeroed one, on NULL, and
 * twice. */
void kt_collected__release(struct kt_collected *c);

int kt_ch_host__new(const struct kt_ch_host_opts *o, struct kt_ch_host **out);
void kt_ch_host__free(struct kt_ch_host *h);
/*
 * Feeds bytes read from the guest.  The command's output is queued, in
 * the guest's order, and so is what the trace's file does not take at
 * once; both are written as far as their descriptors take them without
 * waiting (see kt_ch_host__flush()).  Nothing bounds the queues but the
 * caller: it stops feeding while kt_ch_host__pending() is high, and the
 * guest then waits.  0, or -errno when the host cannot go on (a write to
 * the command's stdout or stderr failed), with @err saying what.  What
 * the guest sends never makes it fail, and neither does the trace's
 * file: a bad trace is reported by kt_ch_host__trace().
 */
int kt_ch_host__feed(struct kt_ch_host *h, const void *data, size_t n, struct kt_err *err);
/*
 * Writes queued output and trace as far as their descriptors take them
 * now, never waiting (a stalled reader of stdout or of a trace FIFO must
 * not stall the caller's timeout and signals): poll kt_ch_host__wait_fd()
 * and kt_ch_host__trace_wait_fd() for POLLOUT, then call it.  A trace
 * that came whole is committed once all of it is written.  0, or -errno
 * when a write of the command's output failed.
 */
int kt_ch_host__flush(struct kt_ch_host *h, struct kt_err *err);
/* Bytes queued, of output and trace; the descriptors the next of them
 * wait on, or -1. */
size_t kt_ch_host__pending(const struct kt_ch_host *h);
int kt_ch_host__wait_fd(const struct kt_ch_host *h);
int kt_ch_host__trace_wait_fd(const struct kt_ch_host *h);
/* The stdin bytes the guest took so far (its CREDIT frames): a sender
 * keeps at most KT_CH_STDIN_WINDOW beyond them in flight. */
uint64_t kt_ch_host__credited(const struct kt_ch_host *h);
/* Whether init said it is up (a HELLO frame came). */
bool kt_ch_host__hello(const struct kt_ch_host *h);
/*
 * How the guest ended: 1 with the status in @status when a status frame
 * with the nonce came; -1 with init's reason in @why (printable) when a
 * failure frame with the nonce came; 0 when neither came.  The last of
 * them counts.  Frames without the nonce are ignored.
 */
int kt_ch_host__end(const struct kt_ch_host *h, int *status, const char **why);
/* How many end frames (status or failure, with the nonce) came: the
 * guest waits for one ACK for each. */
unsigned kt_ch_host__ends(const struct kt_ch_host *h);
/*
 * Whether the command could not be executed (an EXEC_FAIL frame with the
 * nonce): the exec's errno, with the path tried in @path (printable,
 * owned by @h); 0 when it started, or when init did not say.  A command
 * that exits 127 or 126 by itself sends no such frame.  *@interp (may be
 * NULL) says whether the file was there (ENOENT of its #! interpreter
 * or ELF loader: KT_CH_EXEC_INTERP).
 */
int kt_ch_host__exec_failed(const struct kt_ch_host *h, const char **path, bool *interp);
/*
 * Whether init said the command ended (a DONE frame with the nonce): true
 * with its status in @status.  It comes while wprof still runs, so it is
 * known also when the run ends before the status frame.
 */
bool kt_ch_host__done(const struct kt_ch_host *h, int *status);
/*
 * What init sends back once the command ended, as the last begin frame
 * with the nonce says: KT_CH_FILE_BEGIN once files (--collect) come,
 * KT_CH_TRACE_BEGIN once the trace does (wprof ended), 0 before either
 * (wprof, when it runs, is finishing).
 */
enum kt_ch_type kt_ch_host__sending(const struct kt_ch_host *h);
/*
 * The trace: 0 when one was received whole and written (its size in
 * @bytes); -ENOENT when none came; -EIO when one came truncated, longer
 * than it said, over the cap or with a CRC-32 mismatch, and the -errno of
 * the open or write when its file could not be written (a FIFO that
 * nothing reads is -ENXIO), with @err saying which (nothing is left at
 * the output then; -EAGAIN when its reader did not take all of it).
 * Call it once the guest is gone and the queue is written: an unfinished
 * trace is removed.
 */
int kt_ch_host__trace(struct kt_ch_host *h, uint64_t *bytes, struct kt_err *err);
/*
 * The collected files into @out, which the caller then owns (what it
 * held is overwritten: release it first): the files written whole under
 * out_dir, and those refused (a bad name, over collect_max or
 * KT_CH_COLLECT_FILES_MAX, truncated, a CRC-32 mismatch, a write that
 * failed: nothing is left of them).  An unfinished file is refused by
 * this call: call it once the guest is gone; @h holds none afterwards.
 */
void kt_ch_host__collected(struct kt_ch_host *h, struct kt_collected *out);
/* Bytes of corrupt frames skipped. */
uint64_t kt_ch_host__skipped(const struct kt_ch_host *h);

#ifdef __cplusplus
}
#endif

#endif
