/* vm.c - the QEMU runner (see vm.h).
 *
 * Starts QEMU with the console on the first serial port and the framed
 * channel (ktpack/channel.h) on a virtio-serial port and on the second
 * serial port, each a socket pair with us; watches the console for init's
 * start, a kernel panic and an archive that did not unpack, and QEMU's
 * stderr for its errors; forwards the host's stdin; stops the VM at the
 * timeout.  A KVM boot must show life within bounds (accel.c decides what
 * follows: TCG, or a failure).  Writes nothing but the command's output,
 * the trace and the console, and never waits on their readers (outq.c).
 * QEMU dies with this process (PR_SET_PDEATHSIG).
 */
#include <ktpack/vm.h>

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <ktpack/channel.h>

#include "guest/proto.h"

#define LINE_MAX_KEPT	1024
#define ERR_KEPT	4096
/* How long the console's last bytes may wait for their reader once QEMU
 * is gone and the command's output is written. */
#define CONSOLE_DRAIN_MS	2000

int kt_channel_parse(const char *s, enum kt_channel *out)
{
	static const char *const names[] = { "auto", "virtio", "serial" };
	int i = kt_name_index(names, KT_ARRAY_SIZE(names), s);

	if (i < 0)
		return i;
	*out = (enum kt_channel)i;
	return 0;
}

const char *kt_channel_name(enum kt_channel c)
{
	return c == KT_CHANNEL_VIRTIO ? "virtio" : c == KT_CHANNEL_SERIAL ? "serial" : "auto";
}

unsigned kt_topology_cpus(const struct kt_topology *t)
{
	return t && t->nodes ? t->nodes * t->llcs * t->cores * t->threads : 0;
}

int kt_topology_parse(const char *s, struct kt_topology *t, struct kt_err *err)
{
	static const char parts[] = "nlct";
	unsigned *v[] = { &t->nodes, &t->llcs, &t->cores, &t->threads };
	const char *p = s;
	uint64_t total = 1;

	*t = (struct kt_topology){ 1, 1, 1, 1 };
	for (size_t i = 0; i < 4 && *p; i++) {
		size_t d = strspn(p, "0123456789");
		uint64_t n = 0;

		if (!d || d > 3 || !strchr(parts + i, p[d]) || !p[d])
			break;
		if (p[d] != parts[i])
			continue;
		for (size_t k = 0; k < d; k++)
			n = n * 10 + (uint64_t)(p[k] - '0');
		if (!n)
			return kt_err_set(err, -EINVAL, "'%s': a topology has at least one of each", s);
		*v[i] = (unsigned)n;
		total *= n;
		p += d + 1;
	}
	if (!*s || *p)
		return kt_err_set(err, -EINVAL,
				  "'%s' is not a topology: expected NnNlNcNt (nodes, LLCs per node, cores per LLC, threads per core), e.g. 2n4l4c2t",
				  s);
	if (total > KT_TOPOLOGY_CPUS_MAX)
		return kt_err_set(err, -EINVAL, "'%s' is %llu CPUs: the most a guest gets is %u", s,
				  (unsigned long long)total, KT_TOPOLOGY_CPUS_MAX);
	return 0;
}

int kt_vm_check_qemu_opts(const char *const *opts, size_t n, struct kt_err *err)
{
	static const struct { const char *name, *why; } sizing[] = {
		{ "m", "the guest's memory is ktpack's: use --memory or --exact-memory" },
		{ "smp", "the guest's CPUs are ktpack's: use --cpus or --topology" },
		{ "numa", "the guest's NUMA nodes are ktpack's: use --topology" },
	};

	for (size_t i = 0; i < n; i++) {
		const char *name = opts[i];
		size_t l;

		if (name[0] != '-')
			continue;
		name += name[1] == '-' ? 2 : 1;
		/* (QEMU has no -m=SIZE: it would fail on it, but say why) */
		l = strcspn(name, "=");
		for (size_t k = 0; k < KT_ARRAY_SIZE(sizing); k++)
			if (strlen(sizing[k].name) == l && !strncmp(name, sizing[k].name, l))
				return kt_err_set(err, -EINVAL, "--qemu-opt %s: %s", opts[i],
						  sizing[k].why);
	}
	return 0;
}

int kt_vm_preflight(const struct kt_vm_opts *o, char *qemu, size_t sz,
		    struct kt_err *err)
{
	int r = kt_vm_check_qemu_opts(o->qemu_opts, o->nqemu_opts, err);

	/* A kernel the caller resolved and holds open was checked then. */
	if (!r && o->kernel_fd <= 2)
		r = kt_kernel_check(o->kernel, err);
	if (!r && !kt_arch_info(o->arch))
		return kt_err_set(err, -ENOTSUP, "ktpack cannot boot a guest on this machine");
	if (!r && o->channel == KT_CHANNEL_SERIAL && !kt_arch_info(o->arch)->serial_channel)
		r = kt_err_set(err, -EINVAL,
			       "--channel serial: an %s guest has no second serial port (its channel is virtio)",
			       kt_arch_name(kt_arch_or_native(o->arch)));
	if (!r)
		r = kt_proc_check(err);
	return r ? r : kt_find_qemu(o->qemu, o->arch, qemu, sz, err);
}

/* Appends to a bounded buffer, keeping the last bytes. */
static void vm_keep(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (n >= cap) {
		s += n - (cap - 1);
		n = cap - 1;
	}
	if (*len + n >= cap) {
		size_t drop = *len + n - (cap - 1);

		memmove(buf, buf + drop, *len - drop);
		*len -= drop;
	}
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

/* The last lines of @s (at most @lines), printable, into @out. */
static void vm_tail_lines(const char *s, size_t len, size_t lines, char *out, size_t cap)
{
	const char *start = s + len;
	size_t seen = 0;

	while (start > s && seen <= lines && (size_t)(s + len - start) < cap - 1)
		if (*--start == '\n')
			seen++;
	if (*start == '\n')
		start++;
	kt_printable(out, cap, start, (size_t)(s + len - start), true);
}

/* ---- the run ------------------------------------------------------------------------ */

/* Bytes on their way to a socket that may not take them all at once. */
struct vm_pend {
	size_t len, off;
	unsigned char buf[KT_CH_FRAME_MAX];
};

enum { PORT_VIRTIO, PORT_SERIAL, PORT_N };

/* What vm_watch polls: the console, the ports, QEMU's stderr and stdout,
 * stdin, the command's output, the trace, the console's reader. */
#define VM_NFDS		9

/* What one QEMU process is and has said: a fallback starts a new one. */
struct vm_boot {
	enum kt_accel accel;
	uint64_t t0;			/* when it started */
	uint64_t gone;			/* when QEMU was seen gone, or 0 */
	struct kt_proc p;
	int con;			/* our end of the console */
	int port[PORT_N];		/* our ends of the channel's ports */
	struct kt_ch_host *h[PORT_N];
	int active;			/* the port init said HELLO on, or -1 */
	struct vm_pend to_port;
	uint64_t stdin_sent;		/* STDIN bytes sent: the guest's window */
	unsigned acked;			/* end frames acknowledged */
	bool life;			/* a byte came from the guest */
	bool started;			/* /init is running */
	bool judged;			/* the KVM verdict was given */
	int paused;			/* *o->paused_ms when t0 last moved */
	struct winsize ws;		/* the size the guest was told */
	/* the console, watched a line at a time */
	char line[LINE_MAX_KEPT];
	size_t len;
	char panic[LINE_MAX_KEPT];
	bool panic_late;		/* after init started */
	char unpack[LINE_MAX_KEPT];	/* the kernel could not unpack the archive */
	/* a kernel event the caller fails on: when, which, told the guest */
	uint64_t fail_t;
	enum kt_vm_event fail_ev;
	bool fail_sent;
	/* the timeout fell: when its signal went; whether the command had
	 * ended by then (wprof finishing); whether init was told to stop
	 * wprof */
	uint64_t soft_t;
	bool soft_after_done;
	bool wprof_stopped;
	/* when init was up, and when the command ended (0: not yet) */
	uint64_t up_t, cmd_end_t;
	/* when init said HELLO, the command about to start: the timeout
	 * counts from there (0: not yet) */
	uint64_t cmd_t;
	/* the output queued for the caller's readers, and when it last
	 * shrank or was empty: a reader that does not read */
	size_t out_left;
	uint64_t out_moved;
	/* the console's last bytes, for the caller to show on failure */
	char tail[16384];
	size_t tlen;
	/* QEMU's stderr, whole lines judged as they come */
	char errs[ERR_KEPT];
	size_t elen;
	char qline[LINE_MAX_KEPT];
	size_t qlen;
	char qfail[LINE_MAX_KEPT];	/* the line that ends the run */
	bool qkvm;			/* it is KVM's failure */
};

struct vm_run {
	const struct kt_vm_opts *o;
	uint64_t t_start;		/* the first boot's start */
	struct kt_vm_result *res;
	struct kt_accel_plan *plan;
	struct vm_boot b;
	/* the host's stdin, across boots: nothing of it is taken before the
	 * guest's init runs */
	int in;				/* -1 once it ended */
	bool own_in;			/* in is our /dev/null */
	bool tty;			/* it is a terminal, put in raw mode */
	struct termios saved;
	bool escape;			/* Ctrl-A was typed */
	bool quit;			/* Ctrl-A x was typed */
	struct vm_pend to_con;		/* a shell's typed bytes */
	/* the console's bytes on their way to console_fd: a reader that
	 * does not keep up loses the oldest of them, never stalls us */
	struct kt_writer con_w;
	struct kt_outq con_q;
};

/* The caller's descriptor (KT_FD_*): the default is @std. */
static int vm_fd(int fd, int std)
{
	return kt_fd_opt(fd, std);
}

static bool vm_up(const struct vm_run *v)
{
	return v->b.started || v->b.active >= 0;
}

/* The console lines of each kernel event: what the kernel prints at a
 * level the quiet console shows (a WARN's at loglevel 5). */
static const struct {
	const char *name, *what;
	const char *pat[2];
} vm_events[KT_VM_EV_N] = {
	[KT_VM_EV_OOM] = { "oom", "an out-of-memory kill", { "Out of memory: Killed process",
							      "Memory cgroup out of memory" } },
	[KT_VM_EV_LOCKUP] = { "lockup", "a lockup", { "BUG: soft lockup", "hard LOCKUP" } },
	[KT_VM_EV_STALL] = { "stall", "an RCU stall", { "detected stall", "self-detected stall" } },
	[KT_VM_EV_HUNG] = { "hung", "a hung task", { "blocked for more than", NULL } },
	[KT_VM_EV_WARN] = { "warn", "a kernel warning", { "WARNING: CPU:", NULL } },
};

const char *kt_vm_event_name(enum kt_vm_event e)
{
	return (unsigned)e < KT_VM_EV_N ? vm_events[e].name : "?";
}

int kt_vm_events_parse(const char *s, unsigned *mask, struct kt_err *err)
{
	const char *p = s;

	*mask = 0;
	for (;;) {
		size_t n = strcspn(p, ",");
		int e;

		if (!n)
			return kt_err_set(err, -EINVAL,
					  "'%s': an empty event name (expected oom, lockup, stall, hung, warn or all, separated by commas)",
					  s);
		for (e = 0; e < KT_VM_EV_N; e++)
			if (strlen(vm_events[e].name) == n && !strncmp(p, vm_events[e].name, n))
				break;
		if (n == 3 && !strncmp(p, "all", 3))
			*mask |= (1u << KT_VM_EV_N) - 1;
		else if (e == KT_VM_EV_N)
			return kt_err_set(err, -EINVAL,
					  "'%.*s' is not a kernel event (oom, lockup, stall, hung, warn or all)",
					  (int)(n < 64 ? n : 64), p);
		else
			*mask |= 1u << e;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

/* A kernel event's line: said once, kept, and the run's end when the
 * caller fails on it. */
static void vm_event(struct vm_run *v, enum kt_vm_event e, const char *line)
{
	struct vm_boot *b = &v->b;
	struct kt_vm_result *res = v->res;

	if (res->events[e]++)
		return;
	kt_printable(res->event_line[e], sizeof(res->event_line[e]), line, strlen(line), false);
	kt_log(&v->o->log, KT_LOG_WARN, "the guest kernel reported %s: %s", vm_events[e].what,
	       res->event_line[e]);
	if ((v->o->fail_on & (1u << e)) && !b->fail_t) {
		b->fail_t = kt_now_ms();
		b->fail_ev = e;
	}
}

/* Looks at one complete console line. */
static void vm_line(struct vm_run *v)
{
	struct vm_boot *b = &v->b;
	const char *m;

	while (b->len && (b->line[b->len - 1] == '\r' || b->line[b->len - 1] == '\n'))
		b->line[--b->len] = '\0';
	if (!b->started && strstr(b->line, KT_INIT_STARTED)) {
		b->started = true;
	} else if (!*b->panic && (m = strstr(b->line, "Kernel panic - not syncing"))) {
		kt_printable(b->panic, sizeof(b->panic), m, strlen(m), false);
		b->panic_late = vm_up(v);
	/* the kernel's, before init: a command cannot end a run with it */
	} else if (!b->started && b->active < 0 && !*b->unpack &&
		   (m = strstr(b->line, "Initramfs unpacking failed"))) {
		kt_printable(b->unpack, sizeof(b->unpack), m, strlen(m), false);
	} else {
		for (int e = 0; e < KT_VM_EV_N; e++)
			for (int i = 0; i < 2 && vm_events[e].pat[i]; i++)
				if (strstr(b->line, vm_events[e].pat[i])) {
					vm_event(v, (enum kt_vm_event)e, b->line);
					return;
				}
	}
}

static int vm_console_note(char *buf, size_t sz, uint64_t bytes, uint64_t writes)
{
	(void)writes;
	return snprintf(buf, sz, "\r\n[ktpack: %llu console bytes dropped]\r\n",
			(unsigned long long)bytes);
}

/* A console that cannot be written any more is not written. */
static void vm_console_failed(struct vm_run *v, int r)
{
	kt_log(&v->o->log, KT_LOG_WARN, "cannot write the guest console: %s", strerror(-r));
	kt_outq_clear(&v->con_q);
	kt_writer_close(&v->con_w);
}

static void vm_console(struct vm_run *v, const char *buf, size_t n)
{
	struct vm_boot *b = &v->b;
	int r = v->con_w.fd < 0 ? 0 : kt_outq_write_lossy(&v->con_q, &v->con_w, buf, n,
							   KT_VM_CONSOLE_QUEUE, vm_console_note);

	if (r)
		vm_console_failed(v, r);
	vm_keep(b->tail, sizeof(b->tail), &b->tlen, buf, n);
	for (size_t i = 0; i < n; i++) {
		/* A long line keeps its end; a NUL must not hide what follows. */
		if (b->len == sizeof(b->line) - 1) {
			memmove(b->line, b->line + b->len / 2, b->len - b->len / 2);
			b->len -= b->len / 2;
		}
		b->line[b->len++] = buf[i] ? buf[i] : ' ';
		b->line[b->len] = '\0';
		if (buf[i] == '\n') {
			vm_line(v);
			b->len = 0;
		}
	}
}

/*
 * What a line of QEMU's stderr means.  A warning never ends the run (nor
 * kvmvapic.bin missing: the guest boots without it), and neither does a
 * line that is not one of QEMU's messages (a register dump, -d output).
 * Before the guest's init runs, an error ends it at once (QEMU goes on
 * without a firmware file it could not open, and the guest then hangs);
 * one about KVM, under KVM, is KVM's failure.  After init only what
 * stops the guest for good does: KVM's internal error, its run failing,
 * an assertion in its code.
 */
static void vm_qemu_line(struct vm_run *v, const char *line)
{
	struct vm_boot *b = &v->b;
	bool kvm = strcasestr(line, "kvm");
	bool fatal = kvm && (strstr(line, "KVM internal error") || strstr(line, "kvm run failed") ||
			     strstr(line, "Assertion"));
	bool error = !strncmp(line, "qemu", 4) || strcasestr(line, "could not") ||
		     strstr(line, "rror") || strstr(line, "failed");

	if (*b->qfail || !*line || strstr(line, "warning:") || strstr(line, "kvmvapic.bin"))
		return;
	if (vm_up(v) ? !fatal : !error)
		return;
	snprintf(b->qfail, sizeof(b->qfail), "%s", line);
	b->qkvm = kvm && b->accel == KT_ACCEL_KVM;
}

/* A whole line of QEMU's stderr: judged, and kept for the caller unless
 * it is the warning ktpack's own -fw_cfg option causes. */
static void vm_qemu_line_end(struct vm_run *v)
{
	struct vm_boot *b = &v->b;

	b->qline[b->qlen] = '\0';
	vm_qemu_line(v, b->qline);
	if (!strstr(b->qline, "etc/sercon-port")) {
		vm_keep(b->errs, sizeof(b->errs), &b->elen, b->qline, b->qlen);
		vm_keep(b->errs, sizeof(b->errs), &b->elen, "\n", 1);
	}
	b->qlen = 0;
}

static void vm_qemu_stderr(struct vm_run *v, const char *buf, size_t n)
{
	struct vm_boot *b = &v->b;

	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n')
			vm_qemu_line_end(v);
		else if (b->qlen < sizeof(b->qline) - 1)	/* (a long line keeps its start) */
			b->qline[b->qlen++] = buf[i] == '\r' ? ' ' : buf[i];
	}
}

/* init's words: its warnings for the user, the rest for debugging; the
 * guest's bytes made printable. */
static void vm_diag(void *ctx, const char *line, size_t len)
{
	struct vm_run *v = ctx;
	size_t wl = strlen(KT_CH_WARNING);
	bool warning = len > wl && !memcmp(line, KT_CH_WARNING, wl);
	char text[1024];

	if (warning) {
		line += wl;
		len -= wl;
	}
	kt_printable(text, sizeof(text), line, len, false);
	kt_log(&v->o->log, warning ? KT_LOG_WARN : KT_LOG_DEBUG, "guest: %s", text);
}

/* Queues one frame for the active port. */
static bool vm_frame(struct vm_run *v, enum kt_ch_type type, const void *p, size_t len)
{
	struct vm_boot *b = &v->b;

	if (b->active < 0 || b->to_port.len)
		return false;
	b->to_port.len = kt_ch_encode(b->to_port.buf, type, p, len);
	b->to_port.off = 0;
	return true;
}

/* Writes what it can of @pd to @fd; false when the peer is gone. */
static bool vm_flush(int fd, struct vm_pend *pd)
{
	while (pd->off < pd->len) {
		/* a socket: no SIGPIPE when QEMU is gone */
		ssize_t n = send(fd, pd->buf + pd->off, pd->len - pd->off, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		pd->off += (size_t)n;
	}
	pd->len = pd->off = 0;
	return true;
}

/* The terminal's size, to the guest when it changed. */
static void vm_winsize(struct vm_run *v)
{
	struct winsize ws;
	unsigned char p[4];

	if (!v->tty || ioctl(v->in, TIOCGWINSZ, &ws) || !ws.ws_row ||
	    (ws.ws_row == v->b.ws.ws_row && ws.ws_col == v->b.ws.ws_col))
		return;
	p[0] = (unsigned char)ws.ws_row;
	p[1] = (unsigned char)(ws.ws_row >> 8);
	p[2] = (unsigned char)ws.ws_col;
	p[3] = (unsigned char)(ws.ws_col >> 8);
	if (vm_frame(v, KT_CH_WINSZ, p, sizeof(p)))
		v->b.ws = ws;
}

/* How much more stdin the guest takes now: its window less what it has
 * not credited back. */
static size_t vm_window(const struct vm_run *v)
{
	const struct vm_boot *b = &v->b;
	uint64_t credited = b->active >= 0 ? kt_ch_host__credited(b->h[b->active]) : 0;
	uint64_t out = b->stdin_sent > credited ? b->stdin_sent - credited : 0;

	return out >= KT_CH_STDIN_WINDOW ? 0 : (size_t)(KT_CH_STDIN_WINDOW - out);
}

/* A shell's typed bytes: on a terminal Ctrl-A x stops the VM and Ctrl-A
 * Ctrl-A sends one Ctrl-A, as in QEMU. */
static void vm_typed(struct vm_run *v, const unsigned char *buf, size_t n)
{
	struct vm_pend *pd = &v->to_con;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = buf[i];

		if (v->tty && v->escape) {
			v->escape = false;
			if (c == 'x' || c == 'X') {
				v->quit = true;
				break;
			}
			if (c != 0x01)
				pd->buf[k++] = 0x01;
		} else if (v->tty && c == 0x01) {
			v->escape = true;
			continue;
		}
		pd->buf[k++] = c;
	}
	pd->len = k;
	pd->off = 0;
}

/*
 * Reads the host's stdin into the next frame (a command's) or console
 * bytes (a shell's); the end of a shell's input is a Ctrl-D, which ends
 * the shell.
 */
static void vm_stdin(struct vm_run *v)
{
	unsigned char buf[KT_CH_PAYLOAD_MAX];
	size_t want = v->o->interactive ? 4096 : vm_window(v);
	ssize_t n = read(v->in, buf, want < sizeof(buf) ? want : sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (v->own_in)
			close(v->in);
		v->own_in = false;
		v->in = -1;
		if (!v->o->interactive) {
			vm_frame(v, KT_CH_STDIN, NULL, 0);
		} else {
			v->to_con.buf[0] = 0x04;
			v->to_con.len = 1;
			v->to_con.off = 0;
		}
		return;
	}
	if (v->o->interactive) {
		vm_typed(v, buf, (size_t)n);
		return;
	}
	vm_frame(v, KT_CH_STDIN, buf, (size_t)n);
	v->b.stdin_sent += (size_t)n;
}

/* Reads a port; init's HELLO on it makes it the channel. */
static int vm_port(struct vm_run *v, int i, struct kt_err *err)
{
	struct vm_boot *b = &v->b;
	unsigned char buf[65536];
	ssize_t n = read(b->port[i], buf, sizeof(buf));
	int r;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		close(b->port[i]);
		b->port[i] = -1;
		return 0;
	}
	b->life = true;
	/* Once init chose a port, the other one is not listened to. */
	if (b->active >= 0 && b->active != i)
		return 0;
	r = kt_ch_host__feed(b->h[i], buf, (size_t)n, err);
	if (!r && b->active < 0 && kt_ch_host__hello(b->h[i])) {
		b->active = i;
		b->cmd_t = kt_now_ms();
		v->res->channel = i == PORT_VIRTIO ? KT_CHANNEL_VIRTIO : KT_CHANNEL_SERIAL;
		if (i != PORT_VIRTIO && v->o->channel == KT_CHANNEL_VIRTIO)
			return kt_err_set(err, -ENODEV,
					  "the guest has no virtio console for the channel (--channel virtio): its kernel needs virtio_console, built in or as a module of its tree (--modules DIR)");
		if (i != PORT_VIRTIO && v->o->channel == KT_CHANNEL_AUTO)
			kt_log(&v->o->log, KT_LOG_WARN,
			       "the channel fell back to the serial port, over 100 times slower: the guest has no virtio_console (built in, or a module of its tree: --modules DIR)");
	}
	return r;
}

/* Whether the guest said how it ended. */
static bool vm_ended(const struct vm_run *v)
{
	int st;
	const char *why;

	return v->b.active >= 0 && kt_ch_host__end(v->b.h[v->b.active], &st, &why);
}

/* The descriptors to wait on, in @pf[VM_NFDS]. */
static void vm_poll_fds(struct vm_run *v, struct pollfd *pf)
{
	const struct kt_vm_opts *o = v->o;
	struct vm_boot *b = &v->b;
	struct kt_ch_host *h = b->active >= 0 ? b->h[b->active] : NULL;
	/* the command's output waiting for its reader: the guest waits */
	bool full = h && kt_ch_host__pending(h) >= KT_VM_OUT_QUEUE;
	/* stdin is read once the guest can take it, a frame at a time; a
	 * shell's typed bytes are held until init runs (a fallback would
	 * lose them), but Ctrl-A x is seen at once */
	bool want_in = v->in >= 0 && (o->interactive ? !v->to_con.len :
				      b->active >= 0 && !b->to_port.len && !vm_ended(v) &&
				      vm_window(v) > 0);

	pf[0] = (struct pollfd){ .fd = b->con,
				 .events = POLLIN | (v->to_con.len && b->started ? POLLOUT : 0) };
	for (int i = 0; i < PORT_N; i++) {
		bool act = b->active == i;

		/* a full queue: the active port is not read (its hang-up
		 * neither), but a frame for the guest still goes */
		pf[1 + i] = (struct pollfd){
			.fd = act && full && !b->to_port.len ? -1 : b->port[i],
			.events = (act && full ? 0 : POLLIN) | (act && b->to_port.len ? POLLOUT : 0),
		};
	}
	pf[3] = (struct pollfd){ .fd = b->p.err, .events = POLLIN };
	pf[4] = (struct pollfd){ .fd = b->p.out, .events = POLLIN };
	pf[5] = (struct pollfd){ .fd = want_in ? v->in : -1, .events = POLLIN };
	pf[6] = (struct pollfd){ .fd = h ? kt_ch_host__wait_fd(h) : -1, .events = POLLOUT };
	pf[7] = (struct pollfd){ .fd = h ? kt_ch_host__trace_wait_fd(h) : -1, .events = POLLOUT };
	pf[8] = (struct pollfd){ .fd = kt_outq_wait_fd(&v->con_q), .events = POLLOUT };
}

/* A KVM boot that is not up within its bounds: why, or NULL. */
static const char *vm_kvm_stuck(const struct vm_run *v, uint64_t now, char *why, size_t sz)
{
	const struct vm_boot *b = &v->b;

	if (b->accel != KT_ACCEL_KVM || vm_up(v))
		return NULL;
	if (b->qkvm) {
		kt_snprintf_cut(why, sz, "QEMU said: %s", b->qfail);
		return why;
	}
	if (!b->life && now - b->t0 >= KT_KVM_LIFE_S * 1000ULL) {
		kt_snprintf_cut(why, sz, "no sign of life within %d s", KT_KVM_LIFE_S);
		return why;
	}
	if (now - b->t0 >= KT_KVM_INIT_S * 1000ULL) {
		kt_snprintf_cut(why, sz, "its init did not start within %d s", KT_KVM_INIT_S);
		return why;
	}
	return NULL;
}

/*
 * The timeout, while the command runs: the command is ended, not the VM
 * (its trace and status still come back).  The timeout's signal to its
 * process group, then SIGKILL; a frame at a time, as the port takes it.
 */
static void vm_soft_timeout(struct vm_run *v, uint64_t now)
{
	const struct kt_vm_opts *o = v->o;
	struct vm_boot *b = &v->b;
	int sig = o->timeout_signal ? o->timeout_signal : SIGTERM, st;
	unsigned kill_s = o->kill_after_s ? o->kill_after_s : KT_VM_KILL_AFTER_S;
	bool done = kt_ch_host__done(b->h[b->active], &st);
	/* init sends nothing before the trace while wprof runs */
	bool wprof_runs = o->trace_out && !kt_ch_host__sending(b->h[b->active]);
	unsigned char le[4];

	if (b->to_port.len)
		return;
	/* the command has ended and wprof runs: a SIGNAL now makes init
	 * stop it, and send its trace; a command that ended, whose trace
	 * or files come back, is left to the grace */
	if (done && wprof_runs && !b->wprof_stopped) {
		kt_put_le32(le, SIGTERM);
		if (!vm_frame(v, KT_CH_SIGNAL, le, sizeof(le)))
			return;
		b->wprof_stopped = true;
		if (!b->soft_t) {
			b->soft_t = now;
			b->soft_after_done = true;
			kt_log(&o->log, KT_LOG_INFO,
			       "the timeout (%u s) fell while wprof was still finishing: stopping it",
			       o->timeout_s);
		}
	} else if (!done && !b->soft_t) {
		kt_put_le32(le, (uint32_t)sig);
		if (!vm_frame(v, KT_CH_SIGNAL, le, sizeof(le)))
			return;
		b->soft_t = now;
		v->res->timeout_signal = sig;
		kt_log(&o->log, KT_LOG_INFO,
		       "the guest command did not finish within %u s: sent it %s (SIGKILL in %u s)",
		       o->timeout_s, sigabbrev_np(sig) ? sigabbrev_np(sig) : "a signal", kill_s);
	} else if (!done && !v->res->timeout_killed && sig != SIGKILL &&
		   now >= b->soft_t + kill_s * 1000ULL) {
		kt_put_le32(le, SIGKILL);
		if (vm_frame(v, KT_CH_SIGNAL, le, sizeof(le)))
			v->res->timeout_killed = true;
	}
}

/* The grace after the timeout passed once the command had ended with
 * status @st: what the guest was still doing. */
static int vm_late(struct vm_run *v, int st, struct kt_err *err)
{
	const struct kt_vm_opts *o = v->o;
	enum kt_ch_type sending = kt_ch_host__sending(v->b.h[v->b.active]);

	if (sending == KT_CH_FILE_BEGIN)
		return kt_err_set(err, -ETIMEDOUT,
				  "the files asked for with --collect were still coming back %u s after the timeout (%u s); the command had exited with status %d: the VM was stopped",
				  o->end_grace_s, o->timeout_s, st);
	if (sending == KT_CH_TRACE_BEGIN)
		return kt_err_set(err, -ETIMEDOUT,
				  "the wprof trace was still coming back %u s after the timeout (%u s); the command had exited with status %d: the VM was stopped",
				  o->end_grace_s, o->timeout_s, st);
	if (o->trace_out)
		return kt_err_set(err, -ETIMEDOUT,
				  "the timeout (%u s) fell while wprof was still finishing; the command had exited with status %d",
				  o->timeout_s, st);
	return kt_err_set(err, -ETIMEDOUT,
			  "the command had exited with status %d, but the guest did not end within %u s of the timeout (%u s): the VM was stopped",
			  st, o->end_grace_s, o->timeout_s);
}

/* The run's end for a kernel event the caller fails on. */
static int vm_fail_on(struct vm_run *v, struct kt_err *err)
{
	enum kt_vm_event e = v->b.fail_ev;

	return kt_err_set(err, -EIO, "the guest kernel reported %s (--fail-on %s): %s",
			  vm_events[e].what, vm_events[e].name, v->res->event_line[e]);
}

/*
 * What ends the run before the next wait, as -errno with @err: the
 * caller's stop, Ctrl-A x, a failed unpacking, QEMU's error, a KVM boot
 * out of its bounds (-EHOSTDOWN), a deadline.  A signal is sent on.
 */
static int vm_check(struct vm_run *v, uint64_t now, struct kt_err *err)
{
	const struct kt_vm_opts *o = v->o;
	struct vm_boot *b = &v->b;
	/* the command's, as timeout(1)'s: from init's HELLO, the boot left
	 * out */
	uint64_t deadline = o->timeout_s && b->cmd_t ? b->cmd_t + o->timeout_s * 1000ULL : 0;
	uint64_t boot = b->t0 + (o->boot_timeout_s ? o->boot_timeout_s : KT_VM_BOOT_TIMEOUT_S) * 1000ULL;
	char why[256];

	if (o->stop && *o->stop)
		return kt_err_set(err, -EINTR, "interrupted: the VM was stopped");
	if (o->signal && *o->signal) {
		/* Before the guest is up, or for a shell (whose terminal
		 * sends its own), a signal stops the VM. */
		if (b->active < 0 || o->interactive)
			return kt_err_set(err, -EINTR, "interrupted: the VM was stopped");
		if (!b->to_port.len) {
			unsigned char le[4];

			kt_put_le32(le, (uint32_t)*o->signal);
			vm_frame(v, KT_CH_SIGNAL, le, sizeof(le));
			*o->signal = 0;
			v->res->signalled = true;
		}
	}
	if (v->quit)
		return kt_err_set(err, -EINTR, "stopped with Ctrl-A x");
	if (*b->unpack)
		return kt_err_set(err, -ENOSPC,
				  "the guest could not unpack its initramfs (%s): give it more memory",
				  b->unpack);
	if (vm_kvm_stuck(v, now, why, sizeof(why)))
		return kt_err_set(err, -EHOSTDOWN, "%s", why);
	if (*b->qfail)
		return kt_err_set(err, -EIO, "QEMU failed: %s", b->qfail);
	if (b->fail_t) {
		/* the command is killed; the guest sends its trace back */
		if (!b->fail_sent && b->active >= 0 && !b->to_port.len) {
			unsigned char le[4];

			kt_put_le32(le, SIGKILL);
			b->fail_sent = vm_frame(v, KT_CH_SIGNAL, le, sizeof(le));
		}
		if (now >= b->fail_t + KT_VM_FAIL_GRACE_S * 1000ULL || b->active < 0)
			return vm_fail_on(v, err);
	}
	/* A KVM boot that may still fall back is judged by its bounds. */
	if (b->accel == KT_ACCEL_KVM && v->plan->want == KT_ACCEL_AUTO && !vm_up(v))
		return 0;
	/* The boot, until init is up on its channel, has a bound of its own
	 * (the timeout is the command's). */
	if (b->active < 0 && now >= boot)
		return kt_err_set(err, -ETIMEDOUT, b->started ?
				  "the guest's init did not open its channel within %llu s of the boot: the VM was stopped" :
				  "the guest did not reach /init within %llu s: the VM was stopped",
				  (unsigned long long)((boot - b->t0) / 1000));
	if (deadline && now >= deadline) {
		struct kt_ch_host *h = b->active >= 0 ? b->h[b->active] : NULL;
		size_t left = h ? kt_ch_host__pending(h) : 0;
		/* a reader that took nothing for 2 s: nothing more comes back */
		bool stalled = left && now - b->out_moved >= 2000;
		const char *reason;
		int st = -1;
		bool ended = h && (kt_ch_host__end(h, &st, &reason) > 0 || kt_ch_host__done(h, &st));

		if (stalled && ended)
			return kt_err_set(err, -ETIMEDOUT,
					  "the guest command exited with status %d, but its output and trace were not all written within %u s: %zu bytes waited for a reader that did not read",
					  st, o->timeout_s, left);
		/* the command is ended, and the guest sends back what it has
		 * (a command that already ended: wprof finishing, the trace
		 * on its way), within the grace */
		if (h && !stalled && now < deadline + o->end_grace_s * 1000ULL) {
			if (!vm_ended(v))
				vm_soft_timeout(v, now);
			return 0;
		}
		if (stalled)
			return kt_err_set(err, -ETIMEDOUT,
					  "the guest command did not finish within %u s (%zu bytes of output and trace waited for a reader that did not read): the VM was stopped",
					  o->timeout_s, left);
		/* the command ended (init says so at once): what came after it
		 * did not end */
		if (ended)
			return vm_late(v, st, err);
		if (b->soft_t)
			return kt_err_set(err, -ETIMEDOUT,
					  "the guest command did not finish within %u s, and the guest sent nothing back within %u s of %s: the VM was stopped",
					  o->timeout_s, o->end_grace_s,
					  sigabbrev_np(v->res->timeout_signal) ?
					  sigabbrev_np(v->res->timeout_signal) : "its signal");
		return kt_err_set(err, -ETIMEDOUT,
				  "the guest command did not finish within %u s: the VM was stopped",
				  o->timeout_s);
	}
	return 0;
}

/* Reads QEMU's stdout or stderr (@i 3 or 4 in vm_poll_fds's order). */
static void vm_qemu_out(struct vm_run *v, int i)
{
	int *fd = i == 3 ? &v->b.p.err : &v->b.p.out;
	char buf[4096];
	ssize_t n = read(*fd, buf, sizeof(buf));

	if (n > 0) {
		vm_qemu_stderr(v, buf, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*fd);
		*fd = -1;
	}
}

/* Acts on what poll() found. */
static int vm_handle(struct vm_run *v, const struct pollfd *pf, struct kt_err *err)
{
	struct vm_boot *b = &v->b;
	char buf[4096];
	ssize_t n;
	int r;

	if (pf[0].revents & POLLOUT && !vm_flush(b->con, &v->to_con))
		v->to_con.len = 0;
	if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
		n = read(b->con, buf, sizeof(buf));
		if (n > 0 && !b->life)
			kt_log(&v->o->log, KT_LOG_DEBUG, "%s: the guest's first console byte after %llu ms",
			       kt_accel_name(b->accel), (unsigned long long)(kt_now_ms() - b->t0));
		if (n > 0) {
			b->life = true;
			vm_console(v, buf, (size_t)n);
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			close(b->con);
			b->con = -1;
		}
	}
	for (int i = 0; i < PORT_N; i++) {
		bool full = b->active == i && kt_ch_host__pending(b->h[i]) >= KT_VM_OUT_QUEUE;

		if (pf[1 + i].revents & POLLOUT && !vm_flush(b->port[i], &b->to_port))
			b->to_port.len = 0;
		if (!full && pf[1 + i].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = vm_port(v, i, err);
			if (r)
				return r;
		}
	}
	for (int i = 3; i < 5; i++)
		if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
			vm_qemu_out(v, i);
	if (pf[5].revents)
		vm_stdin(v);
	if ((pf[6].revents || pf[7].revents) && b->active >= 0) {
		r = kt_ch_host__flush(b->h[b->active], err);
		if (r)
			return r;
	}
	if (pf[8].revents) {
		r = kt_outq_flush(&v->con_q, NULL);
		if (r)
			vm_console_failed(v, r);
	}
	return 0;
}

/* Writes what waits for the guest: the ACK it waits for before it powers
 * off, the terminal's size, frames, a shell's typed bytes. */
static void vm_send(struct vm_run *v)
{
	struct vm_boot *b = &v->b;

	/* one ACK for each end frame: a second one (its nonce found by a
	 * command that read init's memory) cannot take init's */
	if (b->active >= 0 && b->acked < kt_ch_host__ends(b->h[b->active]) &&
	    vm_frame(v, KT_CH_ACK, NULL, 0))
		b->acked++;
	if (b->active >= 0) {
		vm_winsize(v);
		if (b->to_port.len && !vm_flush(b->port[b->active], &b->to_port))
			b->to_port.len = 0;
	}
	if (v->to_con.len && b->started && b->con >= 0 && !vm_flush(b->con, &v->to_con))
		v->to_con.len = 0;
}

/*
 * QEMU is gone (all it said is read), the command's output and trace are
 * written, and the console's too or its reader had its time.  Until then,
 * a reader that does not read holds the run up to its deadline or stop,
 * no longer.
 */
static bool vm_done(struct vm_run *v, const struct kt_ch_host *h, uint64_t now)
{
	struct vm_boot *b = &v->b;

	if (b->con >= 0 || b->port[0] >= 0 || b->port[1] >= 0 || b->p.err >= 0)
		return false;
	if (!b->gone)
		b->gone = now;
	return (!h || !kt_ch_host__pending(h)) &&
	       (!v->con_q.pending || now - b->gone >= CONSOLE_DRAIN_MS);
}

/* Reads the console, the ports and QEMU's stderr, and feeds stdin, until
 * QEMU ends, a deadline passes or the caller asks to stop. */
static int vm_watch(struct vm_run *v, struct kt_err *err)
{
	struct vm_boot *b = &v->b;

	for (;;) {
		struct kt_ch_host *h = b->active >= 0 ? b->h[b->active] : NULL;
		struct pollfd pf[VM_NFDS];
		int r;

		/* time spent stopped (Ctrl-Z) is no one's: deadlines move */
		if (v->o->paused_ms && *v->o->paused_ms != b->paused) {
			uint64_t d = (uint64_t)(*v->o->paused_ms - b->paused);

			b->t0 += d;
			if (b->cmd_t)
				b->cmd_t += d;
			b->paused = *v->o->paused_ms;
		}

		if (vm_done(v, h, kt_now_ms()))
			break;
		{
			uint64_t now = kt_now_ms();
			size_t left = h ? kt_ch_host__pending(h) : 0;

			if (!left || left < b->out_left)
				b->out_moved = now;
			b->out_left = left;
			r = vm_check(v, now, err);
		}
		if (r)
			return r;
		/* a KVM boot that reached init: the verdict, for the runs that
		 * wait for it */
		if (h && b->up_t && !b->cmd_end_t) {
			int st;

			if (vm_ended(v) || kt_ch_host__done(h, &st))
				b->cmd_end_t = kt_now_ms();
		}
		if (vm_up(v) && !b->judged) {
			b->judged = true;
			b->up_t = kt_now_ms();
			kt_log(&v->o->log, KT_LOG_DEBUG, "%s: the guest's init runs after %llu ms",
			       kt_accel_name(b->accel), (unsigned long long)(kt_now_ms() - b->t0));
			if (b->accel == KT_ACCEL_KVM)
				kt_accel_kvm_verdict(v->plan, NULL, NULL);
		}
		vm_poll_fds(v, pf);
		if (poll(pf, KT_ARRAY_SIZE(pf), 200) < 0) {
			if (errno == EINTR)
				continue;
			return kt_err_set(err, -errno, "poll: %s", strerror(errno));
		}
		r = vm_handle(v, pf, err);
		if (r)
			return r;
		vm_send(v);
	}
	return 0;
}

/* What the guest's end says, once QEMU is gone. */
static int vm_outcome(struct vm_run *v, int st, struct kt_err *err)
{
	struct vm_boot *b = &v->b;
	const char *why = NULL;
	int status = -1, end = b->active >= 0 ? kt_ch_host__end(b->h[b->active], &status, &why) : 0;
	char last[LINE_MAX_KEPT];

	/* A command may print a panic-looking line and still end well: init's
	 * status says it did. */
	if (end > 0) {
		v->res->end = KT_VM_EXITED;
		v->res->exit_status = status;
		if (b->fail_t)
			return vm_fail_on(v, err);
		if (b->soft_after_done) {
			v->res->end = KT_VM_TIMEOUT;
			return kt_err_set(err, -ETIMEDOUT,
					  "the timeout (%u s) fell while wprof was still finishing; the command had exited with status %d",
					  v->o->timeout_s, status);
		}
		if (b->soft_t) {
			v->res->end = KT_VM_TIMEOUT;
			return kt_err_set(err, -ETIMEDOUT,
					  "the guest command did not finish within %u s: it got %s%s and exited with status %d",
					  v->o->timeout_s, sigabbrev_np(v->res->timeout_signal) ?
					  sigabbrev_np(v->res->timeout_signal) : "a signal",
					  v->res->timeout_killed ? ", then SIGKILL," : "", status);
		}
		return 0;
	}
	if (b->fail_t)
		return vm_fail_on(v, err);
	if (end < 0)
		return kt_err_set(err, -EIO, "the guest init could not run the command: %s", why);
	if (*b->panic) {
		v->res->end = KT_VM_PANIC;
		v->res->panic_after_init = b->panic_late;
		/* Kernel text and a command's text share the console: a line
		 * once init runs is only the console's word. */
		return kt_err_set(err, -EIO, "%s: %s", b->panic_late ?
				  "the guest console reports a kernel panic (after /init started: a guest command could have written it)" :
				  "the guest kernel panicked", b->panic);
	}
	kt_last_line(b->errs, last, sizeof(last));
	if (!b->started)
		return kt_err_set(err, -EIO, "the guest never reached /init (QEMU exited with status %d%s%s)",
				  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
				  *last ? ": " : "", last);
	return kt_err_set(err, -EIO, "the VM stopped before the guest command finished%s%s",
			  *last ? ": " : "", last);
}

/* A socket pair: ours nonblocking, QEMU's to be inherited. */
static int vm_socket(int *ours, int *theirs)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	*ours = sv[0];
	*theirs = sv[1];
	return 0;
}

/* QEMU with the console on the first serial port, the channel on a
 * virtio-serial port and on the second serial port (an arm64 guest has
 * none: QEMU's virt has one PL011); each a socket pair whose other end is
 * ours. */
static int vm_start(struct vm_run *v, const char *qemu, const int qfd[3])
{
	const struct kt_vm_opts *o = v->o;
	const struct kt_arch_info *ai = kt_arch_info(o->arch);
	bool kvm = v->b.accel == KT_ACCEL_KVM;
	const struct kt_topology *t = &o->topology;
	unsigned cpus = kt_topology_cpus(t) ? kt_topology_cpus(t) : o->cpus ? o->cpus : 1;
	char mem[32], smp[96], con[64], ser[64], vio[64];
	char *argv[64], (*numa)[2][96] = NULL;
	size_t n, nn = t->nodes > 1 ? t->nodes : 0;
	char **full;
	int r;

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)o->memory_mib);
	if (t->nodes)
		snprintf(smp, sizeof(smp), "%u,sockets=%u,%s=%u,cores=%u,threads=%u", cpus, t->nodes,
			 ai->smp_llc, t->llcs, t->cores, t->threads);
	else
		snprintf(smp, sizeof(smp), "%u", cpus);
	snprintf(con, sizeof(con), "socket,id=con,fd=%d", qfd[0]);
	snprintf(ser, sizeof(ser), "socket,id=chs,fd=%d", qfd[1]);
	snprintf(vio, sizeof(vio), "socket,id=chv,fd=%d", qfd[2]);
	{
		char *base[] = {
			(char *)qemu, "-accel", kvm ? "kvm" : "tcg",
			/* max gives programs under test every CPU feature TCG
			 * has */
			"-machine", ai->qemu_machine_many && cpus > ai->machine_cpus ?
				    (char *)ai->qemu_machine_many : (char *)ai->qemu_machine,
			"-cpu", kvm ? "host" :
				t->nodes && ai->tcg_cpu_topology ? (char *)ai->tcg_cpu_topology :
				ai->tcg_cpu ? (char *)ai->tcg_cpu : "max",
			"-m", mem, "-smp", smp,
			"-kernel", (char *)o->kernel, "-initrd", (char *)o->initrd,
			"-append", (char *)o->cmdline,
			"-display", "none", "-nodefaults", "-no-reboot", "-monitor", "none",
			"-chardev", con, "-serial", "chardev:con",
		};

		memcpy(argv, base, sizeof(base));
		n = KT_ARRAY_SIZE(base);
	}
	if (ai->serial_channel) {
		/* SeaBIOS: no banner and screen codes on the console */
		argv[n++] = "-fw_cfg";
		argv[n++] = "name=etc/sercon-port,string=0";
		argv[n++] = "-chardev";
		argv[n++] = ser;
		argv[n++] = "-serial";
		argv[n++] = "chardev:chs";
	}
	if (o->channel != KT_CHANNEL_SERIAL) {
		argv[n++] = "-device";
		argv[n++] = "virtio-serial-pci,id=ktvser";
		argv[n++] = "-chardev";
		argv[n++] = vio;
		argv[n++] = "-device";
		argv[n++] = "virtserialport,bus=ktvser.0,chardev=chv,name=" KT_CH_PORT_NAME;
	}
	/* A node per socket: its CPUs (QEMU numbers threads first, then
	 * cores, LLCs and sockets) and an even share of the memory, the
	 * rest of a split that is not even to the last. */
	numa = nn ? calloc(nn, sizeof(*numa)) : NULL;
	full = calloc(n + 4 * nn + o->nqemu_opts + 1, sizeof(*full));
	if (!full || (nn && !numa)) {
		free(full);
		free(numa);
		return -ENOMEM;
	}
	memcpy(full, argv, n * sizeof(*argv));
	for (size_t i = 0; i < nn; i++) {
		uint64_t share = o->memory_mib / nn;
		unsigned per = cpus / (unsigned)nn;

		snprintf(numa[i][0], sizeof(numa[i][0]), "memory-backend-ram,id=ktmem%zu,size=%lluM",
			 i, (unsigned long long)(i + 1 < nn ? share : o->memory_mib - share * (nn - 1)));
		snprintf(numa[i][1], sizeof(numa[i][1]), "node,nodeid=%zu,cpus=%u-%u,memdev=ktmem%zu",
			 i, (unsigned)i * per, (unsigned)(i + 1) * per - 1, i);
		full[n++] = "-object";
		full[n++] = numa[i][0];
		full[n++] = "-numa";
		full[n++] = numa[i][1];
	}
	/* The caller's own options last: QEMU lets a later one win. */
	for (size_t i = 0; i < o->nqemu_opts; i++)
		full[n + i] = (char *)o->qemu_opts[i];
	{
		int keep[] = { o->kernel_fd, o->initrd_fd, qfd[0], qfd[1], qfd[2] };

		r = kt_proc_spawn(full, keep, KT_ARRAY_SIZE(keep), &v->b.p);
	}
	free(full);
	free(numa);
	return r;
}

/* The host's stdin for the guest: a terminal in raw mode for a shell. */
static void vm_stdin_open(struct vm_run *v)
{
	const struct kt_vm_opts *o = v->o;

	v->in = vm_fd(o->stdin_fd, STDIN_FILENO);
	/* A command reading no stdin, or a terminal this process group does
	 * not own (a background job would stop on reading it), reads an
	 * end of file. */
	if (v->in < 0 || fcntl(v->in, F_GETFD) < 0 ||
	    (!o->interactive && isatty(v->in) && tcgetpgrp(v->in) != getpgrp())) {
		v->in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		v->own_in = v->in >= 0;
		return;
	}
	if (isatty(v->in) && !tcgetattr(v->in, &v->saved)) {
		struct termios t = v->saved;

		v->tty = true;
		if (o->interactive) {
			cfmakeraw(&t);
			/* the host's newlines stay as the guest's tty makes them */
			t.c_oflag |= OPOST;
			tcsetattr(v->in, TCSANOW, &t);
		}
	}
}

static void vm_stdin_close(struct vm_run *v)
{
	int fd = vm_fd(v->o->stdin_fd, STDIN_FILENO);

	if (v->tty && v->o->interactive)
		tcsetattr(fd, TCSANOW, &v->saved);
	if (v->own_in && v->in >= 0)
		close(v->in);
}

/* What the console's reader did not take is dropped, and said. */
static void vm_console_close(struct vm_run *v)
{
	uint64_t lost = v->con_q.dropped_bytes + kt_outq_clear(&v->con_q);

	kt_writer_close(&v->con_w);
	if (lost)
		kt_log(&v->o->log, KT_LOG_WARN,
		       "%llu bytes of the guest console were dropped: its reader did not keep up",
		       (unsigned long long)lost);
}

/* The boot line: the accelerator, and why not KVM when it could be. */
static void vm_boot_line(struct vm_run *v)
{
	const struct kt_vm_opts *o = v->o;

	const struct kt_topology *t = &o->topology;
	char topo[128] = "";

	if (t->nodes)
		snprintf(topo, sizeof(topo), " (%u node%s, %u LLC%s each, %u core%s per LLC, %u thread%s per core)",
			 t->nodes, t->nodes > 1 ? "s" : "", t->llcs, t->llcs > 1 ? "s" : "", t->cores,
			 t->cores > 1 ? "s" : "", t->threads, t->threads > 1 ? "s" : "");
	kt_log(&o->log, KT_LOG_INFO, "booting %s: %s, %u CPUs%s, %llu MiB, %s%s%s%s%s",
	       o->kernel_label ? o->kernel_label : o->kernel, kt_arch_name(kt_arch_or_native(o->arch)),
	       kt_topology_cpus(t) ? kt_topology_cpus(t) : o->cpus ? o->cpus : 1, topo,
	       (unsigned long long)o->memory_mib, kt_accel_name(v->b.accel),
	       o->pvh ? ", vmlinux through PVH" : "", *v->plan->why ? " (not KVM: " : "",
	       v->plan->why, *v->plan->why ? ")" : "");
}

/* Sets up one boot's state, sockets and channel readers, and starts QEMU. */
static int vm_boot_start(struct vm_run *v, const char *qemu, struct kt_err *err)
{
	const struct kt_vm_opts *o = v->o;
	struct vm_boot *b = &v->b;
	int qfd[3] = { -1, -1, -1 }, r = 0;

	*b = (struct vm_boot){
		.accel = v->plan->accel, .p = { .pid = -1, .out = -1, .err = -1 }, .con = -1,
		.port = { -1, -1 }, .active = -1, .paused = o->paused_ms ? *o->paused_ms : 0,
	};
	for (int i = 0; i < PORT_N && !r; i++) {
		struct kt_ch_host_opts ho = {
			.out_fd = vm_fd(o->out_fd, STDOUT_FILENO),
			.err_fd = vm_fd(o->err_fd, STDERR_FILENO),
			.trace_out = o->trace_out, .trace_max = o->memory_mib << 20,
			.nonce = o->nonce, .diag = vm_diag, .diag_ctx = v,
			.out_dir = o->out_dir, .collect_max = o->collect_max,
			.collect = o->collect, .ncollect = o->ncollect,
		};

		r = kt_ch_host__new(&ho, &b->h[i]);
	}
	if (!r)
		r = vm_socket(&b->con, &qfd[0]);
	if (!r)
		r = vm_socket(&b->port[PORT_SERIAL], &qfd[1]);
	if (!r)
		r = vm_socket(&b->port[PORT_VIRTIO], &qfd[2]);
	b->t0 = kt_now_ms();
	if (!r)
		r = vm_start(v, qemu, qfd);
	for (int i = 0; i < 3; i++)
		if (qfd[i] >= 0)
			close(qfd[i]);
	if (r)
		return kt_err_set(err, r, "cannot start %s: %s", qemu, strerror(-r));
	if (o->qemu_pgid)
		*o->qemu_pgid = b->p.pid;
	v->res->accel = b->accel;
	/* a boot that fell back said nothing that counts */
	memset(v->res->events, 0, sizeof(v->res->events));
	memset(v->res->event_line, 0, sizeof(v->res->event_line));
	vm_boot_line(v);
	return 0;
}

/* What one boot leaves: its console and QEMU's lines in the result. */
static void vm_boot_end(struct vm_run *v)
{
	struct vm_boot *b = &v->b;

	vm_tail_lines(b->tail, b->tlen, KT_VM_TAIL_LINES, v->res->console_tail,
		      sizeof(v->res->console_tail));
	vm_tail_lines(b->errs, b->elen, KT_VM_TAIL_LINES, v->res->qemu_stderr,
		      sizeof(v->res->qemu_stderr));
	for (int i = 0; i < PORT_N; i++) {
		kt_ch_host__free(b->h[i]);
		b->h[i] = NULL;
		if (b->port[i] >= 0)
			close(b->port[i]);
		b->port[i] = -1;
	}
	if (b->con >= 0)
		close(b->con);
	b->con = -1;
	kt_proc_close(&b->p);
}

/*
 * One boot, from QEMU's start to its end.  -EHOSTDOWN when it ran under
 * KVM and did not come up within the bounds, with @err saying how.
 */
static int vm_boot(struct vm_run *v, const char *qemu, struct kt_err *err)
{
	const struct kt_vm_opts *o = v->o;
	struct vm_boot *b = &v->b;
	struct kt_vm_result *res = v->res;
	int st = 0, r;

	r = vm_boot_start(v, qemu, err);
	if (r) {
		vm_boot_end(v);
		return r;
	}
	res->timings.fallback_ms = b->t0 - v->t_start;
	r = vm_watch(v, err);
	if (r)
		kill(b->p.pid, SIGKILL);
	waitpid(b->p.pid, &st, 0);
	{
		uint64_t now = kt_now_ms(), up = b->up_t ? b->up_t : now;
		uint64_t end = b->cmd_end_t ? b->cmd_end_t : now;

		res->timings.boot_ms = up - b->t0;
		res->timings.command_ms = b->up_t ? end - b->up_t : 0;
		res->timings.end_ms = b->cmd_end_t ? now - b->cmd_end_t : 0;
	}
	if (o->qemu_pgid)
		*o->qemu_pgid = 0;
	if (b->len)
		vm_line(v);
	if (b->qlen)
		vm_qemu_line_end(v);
	/* QEMU that died under KVM before init, of a signal (an assertion) or
	 * saying KVM failed, is KVM's failure too */
	if (!r && b->accel == KT_ACCEL_KVM && !vm_up(v) && (b->qkvm || WIFSIGNALED(st)))
		r = kt_err_set(err, -EHOSTDOWN, "QEMU %s%s", b->qkvm ? "said: " : "was killed by signal ",
			       b->qkvm ? b->qfail : strsignal(WTERMSIG(st)));
	if (!r)
		r = vm_outcome(v, st, err);
	else if (r == -ETIMEDOUT && b->active >= 0)
		res->end = KT_VM_TIMEOUT;
	/* the caller's stop; or the command's output has no reader any
	 * more (| head): SIGPIPE is blocked meanwhile, its EPIPE ends it */
	else if (r == -EINTR || r == -EPIPE || (o->stop && *o->stop))
		res->end = KT_VM_STOPPED;
	/* a trace that came whole is kept and said, however the run ended */
	if (o->trace_out && (!r || b->active >= 0)) {
		struct kt_err terr = { 0 };
		int tr = kt_ch_host__trace(b->h[b->active], &res->trace_bytes, r ? &terr : err);

		res->trace_written = !tr;
		if (!r)
			r = tr;
	}
	if (b->active >= 0 && !kt_ch_host__done(b->h[b->active], &res->done_status))
		res->done_status = -1;
	/* a 127 or 126 that is init's word, not the command's own */
	if (b->active >= 0) {
		const char *path = "";

		res->exec_errno = kt_ch_host__exec_failed(b->h[b->active], &path,
							  &res->exec_interp);
		kt_snprintf_cut(res->exec_path, sizeof(res->exec_path), "%s", path);
	}
	/* files that came whole are kept and said, however the run ended */
	if (b->active >= 0) {
		kt_collected__release(&res->collected);
		kt_ch_host__collected(b->h[b->active], &res->collected);
	}
	{
		uint64_t skipped = kt_ch_host__skipped(b->h[b->active >= 0 ? b->active : 0]);

		if (skipped)
			kt_log(&o->log, KT_LOG_WARN,
			       "%llu bytes of corrupt frames from the guest were skipped",
			       (unsigned long long)skipped);
	}
	vm_boot_end(v);
	return r;
}

/* The result before anything ran. */
static void vm_result_init(struct kt_vm_result *res)
{
	memset(res, 0, sizeof(*res));
	res->exit_status = -1;
	res->done_status = -1;
	res->end = KT_VM_FAILED;
}

int kt_vm_run_with(const struct kt_vm_opts *o, const struct kt_qemu_facts *qf,
		   struct kt_vm_result *res, struct kt_err *err)
{
	enum kt_arch arch = kt_arch_or_native(o->arch);
	struct kt_accel_req q = {
		.qemu = qf->path, .arch = o->arch, .want = o->accel, .kernel_fd = o->kernel_fd,
		.kernel = o->kernel, .pvh = o->pvh, .cache = o->cache, .log = o->log,
		.stop = { o->stop, o->signal },
	};
	struct kt_accel_plan plan = { .lock = -1 };
	struct vm_run *v = NULL;
	struct kt_err e = { 0 };
	char why[512];
	/* the boot path's firmware before a probe or a lock */
	int r = kt_qemu_check_boot(qf, arch, o->pvh, false, &e);

	vm_result_init(res);
	if (!r && !kt_ch_nonce_ok(o->nonce))
		r = kt_err_set(&e, -EINVAL, "the run's nonce must be %u to %u printable bytes",
			       KT_CH_NONCE_MIN, KT_CH_NONCE_MAX);
	if (!r)
		r = kt_accel_plan(&q, &plan, &e);
	if (!r && plan.accel == KT_ACCEL_TCG)
		r = kt_qemu_check_boot(qf, arch, o->pvh, true, &e);
	v = r ? NULL : calloc(1, sizeof(*v));
	if (!r && !v)
		r = kt_err_set(&e, -ENOMEM, "out of memory");
	if (r)
		goto out;
	*v = (struct vm_run){ .o = o, .res = res, .plan = &plan, .in = -1, .t_start = kt_now_ms() };
	vm_stdin_open(v);
	kt_writer_open(&v->con_w, vm_fd(o->console_fd, STDOUT_FILENO));
	for (;;) {
		r = vm_boot(v, qf->path, &e);
		if (r != -EHOSTDOWN)
			break;
		/* KVM did not boot it: TCG next under auto, else the end */
		kt_snprintf_cut(why, sizeof(why), "%s", e.msg);
		r = kt_accel_kvm_verdict(&plan, why, &e);
		if (!r)
			r = kt_qemu_check_boot(qf, arch, o->pvh, true, &e);
		if (r)
			break;
		res->accel_fell_back = true;
	}
	vm_stdin_close(v);
	vm_console_close(v);
out:
	if (r == -EINTR)
		res->end = KT_VM_STOPPED;
	snprintf(res->accel_why, sizeof(res->accel_why), "%s", plan.why);
	kt_accel_plan_release(&plan);
	free(v);
	if (r && err)
		*err = e;
	return r;
}

void kt_vm_result__release(struct kt_vm_result *res)
{
	if (res)
		kt_collected__release(&res->collected);
}

int kt_vm_run(const struct kt_vm_opts *o, struct kt_vm_result *res,
	      struct kt_err *err)
{
	struct kt_qemu_facts *qf = malloc(sizeof(*qf));
	char qemu[PATH_MAX];
	struct kt_sigpipe sp;
	int r = qf ? kt_vm_preflight(o, qemu, sizeof(qemu), err) :
		kt_err_set(err, -ENOMEM, "out of memory");

	vm_result_init(res);
	/* a closed output is its write's EPIPE, never the caller's death */
	kt_sigpipe_block(&sp);
	if (!r)
		r = kt_qemu_inspect(qemu, kt_arch_or_native(o->arch), o->qemu_opts, o->nqemu_opts, qf,
				    err);
	if (!r)
		r = kt_vm_run_with(o, qf, res, err);
	kt_sigpipe_restore(&sp);
	free(qf);
	return r;
}
