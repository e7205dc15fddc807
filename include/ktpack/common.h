/* ktpack/common.h - how every libktpack call reports: an error record for
 * what failed, one log callback for warnings and progress.
 *
 * Options structs have no size field: libktpack is a static library built
 * with its front end, so there is no ABI to guard between the two.  Fill
 * them with designated initialisers; a field added later is then zero,
 * which always means "the default".
 */
#ifndef KTPACK_COMMON_H
#define KTPACK_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

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
