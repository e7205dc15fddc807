/* proto.h - what the guest init and the host runner agree on: paths in the
 * guest and command-line keys (the frames are in ktpack/channel.h). */
#ifndef KT_GUEST_PROTO_H
#define KT_GUEST_PROTO_H

#include <stdint.h>
#include <sys/mount.h>

#define KT_GUEST_WPROF		"/bin/wprof"
#define KT_GUEST_TRACE		"/tmp/wprof.pb"
/* The per-run archive: the command's argv, NUL-separated (or the shell
 * mark), then a nonce that a command cannot guess (a root command that
 * reads init's memory can; init's own status frame, sent last, is the one
 * taken).  The nonce is packed last: without it the archive did not
 * unpack whole. */
/* The folder of the files below, init's control files: no include may
 * put anything there. */
#define KT_GUEST_DIR		"/ktpack"
#define KT_GUEST_CMD		"/ktpack/cmd"
#define KT_GUEST_SHELL		"/ktpack/interactive"
/* The host's stdout and stderr are one file: the command gets one pipe. */
#define KT_GUEST_MERGED		"/ktpack/merged"
#define KT_GUEST_NONCE		"/ktpack/nonce"
/* The modules init loads, in order: one guest path per line, a blank
 * line after each level.  A module that fails to load ends the run before
 * the command, unless its path follows the optional mark: then it is a
 * warning. */
#define KT_GUEST_MODULES	"/ktpack/modules"
#define KT_GUEST_MODULE_OPTIONAL '?'
#define KT_GUEST_MODULES_MAX	(1u << 20)
/* The guest paths to send back (--collect): first the bytes the host
 * takes of them in all (--collect-max), in decimal, then the paths,
 * absolute; one a line.  init sends no more than the host takes: a file
 * over what is left is announced (the host names it, refused) and not
 * sent. */
#define KT_GUEST_COLLECT	"/ktpack/collect"
#define KT_GUEST_COLLECT_MAX	(64u << 10)
/* Room for the first line: 20 digits and the newline. */
#define KT_GUEST_COLLECT_CAP_LEN 21u
/* The command's size in the archive, NULs included: kt_run refuses more. */
#define KT_GUEST_CMD_MAX	(1u << 20)
/* The channel: the virtio-serial port of this name, else the second
 * serial port (an arm64 guest, on QEMU's virt, has none).  The console:
 * what a shell gets as its terminal.  Each as init's own architecture
 * names it. */
#define KT_CH_PORT_NAME		"ktpack"
#if defined(__aarch64__)
#define KT_GUEST_CONSOLE	"/dev/ttyAMA0"
#else
#define KT_CH_SERIAL		"/dev/ttyS1"
#define KT_GUEST_CONSOLE	"/dev/ttyS0"
#endif
/* How long init waits for the virtio port once its device is there. */
#define KT_CH_PORT_WAIT_MS	5000

/* "ktpack-init: started" tells the host that the kernel reached /init. */
#define KT_INIT_STARTED		"ktpack-init: started"

/*
 * What init mounts, in order (a parent before what is in it): what a
 * distribution mounts, tracing tools needing tracefs, debugfs, bpffs and
 * cgroup2.  A mount that fails is said on the console, and the guest goes
 * on without it.  The host refuses an --include under the top folder of
 * any of them: the mount would hide it.
 */
struct kt_guest_mount {
	const char *src, *dir, *type, *opts;
	unsigned long flags;
};

static const struct kt_guest_mount kt_guest_mounts[] __attribute__((unused)) = {
	{ "proc", "/proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "sysfs", "/sys", "sysfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "devtmpfs", "/dev", "devtmpfs", "mode=0755", MS_NOSUID },
	{ "devpts", "/dev/pts", "devpts", "mode=0620,ptmxmode=0666", MS_NOSUID | MS_NOEXEC },
	{ "tmpfs", "/dev/shm", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV },
	{ "tmpfs", "/tmp", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV },
	{ "tmpfs", "/run", "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV },
	{ "tracefs", "/sys/kernel/tracing", "tracefs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "debugfs", "/sys/kernel/debug", "debugfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "bpf", "/sys/fs/bpf", "bpf", "mode=0700", MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "cgroup2", "/sys/fs/cgroup", "cgroup2", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
};

/* How long wprof may run past its -d duration (kernel command line). */
#define KT_WPROF_GRACE_KEY	"KTPACK_WPROF_GRACE_MS"
#define KT_WPROF_DEFAULT_GRACE_MS 30000
/* Between SIGTERM and SIGKILL. */
#define KT_WPROF_TERM_GRACE_MS	5000

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

#endif
