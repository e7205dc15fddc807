/* ktpack/common.h - how every libktpack call reports: an error record for
 * what failed, one log callback for warnings and progress; how the
 * options of a front end's entries are declared.
 */
#ifndef KTPACK_COMMON_H
#define KTPACK_COMMON_H

#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The options of the entries a front end calls (struct kt_run_opts,
 * struct kt_install_opts) start with their size, as libbpf's do: a front
 * end's objects compiled against another version's header than the
 * libktpack.a they are linked with (a library upgraded under them) are
 * told apart instead of misread.  The caller sets sz to the struct's
 * sizeof; the library reads the fields a smaller (older) one lacks as
 * zero, and refuses (-EINVAL) an sz of 0, or a larger (newer) struct
 * whose bytes beyond what it knows are not all zero.  KT_OPTS declares
 * one zeroed, padding included, with its sz set and the fields given (in
 * C: a GNU statement expression; C++ sets sz by hand):
 *
 *	KT_OPTS(kt_run_opts, o, .kernel = "bzImage", .cmd = argv);
 *
 * Other options structs have no size: fill them with designated
 * initialisers.  In both, a field added later is zero, which always
 * means "the default".
 */
#define KT_OPTS(TYPE, NAME, ...)					\
	struct TYPE NAME = ({						\
		memset(&NAME, 0, sizeof(struct TYPE));			\
		(struct TYPE){ .sz = sizeof(struct TYPE), __VA_ARGS__ };	\
	})

/*
 * A descriptor in options (out_fd, err_fd, stdin_fd, console_fd of
 * struct kt_run_opts and struct kt_vm_opts): a descriptor of the caller's
 * (1 and up), or one of these.  Zero is the default, as for every option
 * (this process's stream of the same kind; see console_fd for the
 * console's), so a zeroed struct runs as documented; descriptor 0 itself
 * is KT_FD_ZERO.  Another negative value is refused (-EINVAL).
 */
#define KT_FD_DEFAULT	0
#define KT_FD_NONE	(-1)	/* an output dropped, an input at its end */
#define KT_FD_ZERO	(-2)	/* descriptor 0, whatever it is open on */

/*
 * What went wrong, for the front end to print as one line.  A call returns
 * -errno and, when the caller passed a kt_err, also writes a message that
 * names the object and the cause ("cannot open 'x': No such file or
 * directory").  A NULL kt_err is allowed everywhere.
 */
struct kt_err {
	int code;		/* negative errno */
	char msg[8192];		/* room for two full paths and their cause */
};

enum kt_log_level {
	KT_LOG_WARN,		/* something the user should know about */
	KT_LOG_INFO,		/* progress: what is being done */
	KT_LOG_DEBUG,
};

/*
 * The one way the library talks while it works.  @msg is one line without
 * a newline, lowercase, problem first.  A NULL fn drops every message.
 * A VM run calls it from its loop (the guest's warnings, as they come):
 * it must not wait on a reader, or the run's timeout and stop wait too.
 */
typedef void (*kt_log_fn)(void *ctx, enum kt_log_level level, const char *msg);

struct kt_log {
	kt_log_fn fn;
	void *ctx;
};

#ifdef __cplusplus
}
#endif

#endif
