/* wprof.h - the wprof configuration: where the tracer is, the arguments it
 * runs with, how they travel on the kernel command line, and the guest
 * memory those arguments need. */
#ifndef KTPACK_WPROF_H
#define KTPACK_WPROF_H

#include <stddef.h>
#include <stdint.h>

#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KT_WPROF_PATH_ENV	"KTSTR_WPROF_PATH"
#define KT_WPROF_ARGS_KEY	"KTSTR_WPROF_ARGS"
/* ASCII Unit Separator: never typed, never in an argument we accept. */
#define KT_WPROF_ARG_SEP	'\x1f'

/*
 * What the default arguments need: 8 ring buffers of 256000 KB, each rounded
 * up to 262144 KB (256 MiB).  kt_wprof_memory_floor_mib() computes the same
 * figure from any arguments; a unit test holds the two together.
 */
#define KT_WPROF_MIN_MEMORY_MIB	2048

/* wprof's ring buffer count when --ringbuf-cnt is absent: max(4, ceil(cpus/8)). */
#define KT_WPROF_MIN_RINGBUF_CNT 4

struct kt_wprof_config;

/*
 * kt_wprof_config__new() with KTSTR_WPROF_PATH, which kt_install_env()
 * exports (ktstr's config loader).  -ENOENT when the variable is unset or
 * empty.  The caller frees the config with kt_wprof_config__free().
 */
int kt_wprof_config__from_env(struct kt_wprof_config **out, struct kt_err *err);
/* A config for the wprof installed at @path, with the default arguments.
 * A NULL @path stands for the wprof a blob table embeds, and so does a
 * file with exactly its bytes, as kt_install_env() installs it (see
 * kt_run_opts.wprof). */
int kt_wprof_config__new(const char *path, struct kt_wprof_config **out);
void kt_wprof_config__free(struct kt_wprof_config *c);
/* Replaces the arguments with a copy of @args; they are checked with
 * kt_wprof_args_check() first. */
int kt_wprof_config__set_args(struct kt_wprof_config *c,
			      const char *const *args, size_t n,
			      struct kt_err *err);
const char *kt_wprof_config__path(const struct kt_wprof_config *c);
/* NULL-terminated; owned by the config. */
const char *const *kt_wprof_config__args(const struct kt_wprof_config *c,
					 size_t *n);

/* -d 500 -e sched --ringbuf-size=256000 --ringbuf-cnt=8; static storage. */
const char *const *kt_wprof_default_args(size_t *n);

/*
 * Refuses an argument that could not cross the kernel command line intact:
 * empty, or holding whitespace, 0x1F, another control byte, a quote or a
 * backslash.  -EINVAL with @err naming the argument.
 */
int kt_wprof_args_check(const char *const *args, size_t n, struct kt_err *err);

/*
 * Renders "KTSTR_WPROF_ARGS=<args joined with 0x1F>" into a new string the
 * caller frees.  The arguments are checked as above.
 */
int kt_wprof_args_cmdline(const char *const *args, size_t n, char **out,
			  struct kt_err *err);

/*
 * The memory the arguments' ring buffers take, in MiB rounded up, following
 * wprof's rules: --ringbuf-size takes b/kb/mb/gb units (a bare number is
 * KB) and is rounded up to a power of two; without --ringbuf-cnt wprof uses
 * max(4, ceil(@cpus/8)) buffers.  The count is not capped at @cpus (older
 * wprof does not cap it).  -EINVAL names an argument wprof would refuse.
 */
int kt_wprof_memory_floor_mib(const char *const *args, size_t n,
			      unsigned cpus, uint64_t *mib, struct kt_err *err);

/* The -d/--dur-ms duration in ms; 1000 (wprof's default) when absent. */
int kt_wprof_duration_ms(const char *const *args, size_t n, uint64_t *ms,
			 struct kt_err *err);

/*
 * Pure: @floor when wprof is on (@floor != 0) and @raw is below it, else
 * @raw.  @floor comes from kt_wprof_memory_floor_mib(); 0 means wprof is off.
 */
static inline uint64_t kt_apply_wprof_memory_floor(uint64_t raw, uint64_t floor)
{
	return floor && raw < floor ? floor : raw;
}

#ifdef __cplusplus
}
#endif

#endif
