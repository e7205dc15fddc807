/* elfdeps.h - the closure of an ELF program: its interpreter and every
 * shared library the loader will map, found in glibc's order without
 * running anything (see the README, "ELF closure"). */
#ifndef KTPACK_ELFDEPS_H
#define KTPACK_ELFDEPS_H

#include <stdbool.h>
#include <stddef.h>

#include <ktpack/arch.h>
#include <ktpack/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kt_elfdeps_opts {
	/* Searched after DT_RPATH, as the loader would with this
	 * LD_LIBRARY_PATH; NULL for none.  Ignored for a guest. */
	const char *ld_library_path;
	/* NULL: /etc/ld.so.cache; "": no cache. */
	const char *ldcache_path;
	/* $LIB and $PLATFORM; NULL: what the host's glibc would use. */
	const char *lib;
	const char *platform;
	/*
	 * Resolve for a guest that has neither LD_LIBRARY_PATH nor an
	 * ld.so.cache: LD_LIBRARY_PATH is not searched, and a library that
	 * only the cache finds outside the system folders is given a guest
	 * path in the first system folder, where the guest's loader looks.
	 */
	bool guest;
	/* The architecture programs must be of (a closure of another is
	 * -ENOEXEC); KT_ARCH_NONE: any.  Libraries of another class or
	 * machine are skipped whatever it is, as the loader skips them. */
	enum kt_arch arch;
	/*
	 * A foreign root (a debootstrap of another architecture, a cross
	 * toolchain's): the interpreter, ld.so.cache (unless ldcache_path
	 * is given), the system folders and absolute DT_RPATH/DT_RUNPATH
	 * entries are looked up under it, and the guest paths are the same
	 * paths without it.  NULL or "" (or "/"): the host's root.
	 */
	const char *sysroot;
};

struct kt_dep {
	const char *name;	/* the DT_NEEDED name */
	const char *path;	/* where it is on the host, as found (in the
				 * sysroot, with one) */
	const char *guest_path;	/* where the guest's loader will look */
	const char *needed_by;	/* the first object that needed it */
};

struct kt_resolver;
struct kt_closure;

/* A resolver keeps the ld.so.cache and every ELF file it read between
 * closures.  Free with kt_resolver__free(), after its closures. */
int kt_resolver__new(const struct kt_elfdeps_opts *opts,
		     struct kt_resolver **out);
void kt_resolver__free(struct kt_resolver *r);

/*
 * Resolves @path.  @guest_path is where the program will sit in the guest
 * ($ORIGIN there); NULL means the same as @path.  A library that cannot be
 * found is -ENOENT with "NAME: not found (needed by OBJECT)" in @err; a file
 * that is not ELF, or corrupt, is -ENOEXEC / -EINVAL.  A statically linked
 * program has an empty closure.  The closure borrows from @r: free it
 * with kt_closure__free() before the resolver.
 */
int kt_resolver__closure(struct kt_resolver *r, const char *path,
			 const char *guest_path, struct kt_closure **out,
			 struct kt_err *err);
/*
 * The same for a program held in memory (an embedded blob) that goes to
 * @guest_path; its $ORIGIN is the folder of @guest_path on both sides.
 */
int kt_resolver__closure_mem(struct kt_resolver *r, const void *buf, size_t len,
			     const char *guest_path, struct kt_closure **out,
			     struct kt_err *err);
/* PT_INTERP as written, or NULL for a static program or a library. */
const char *kt_closure__interp(const struct kt_closure *c);
/* Where the interpreter is on the host: PT_INTERP, under the sysroot
 * with one; NULL when there is none. */
const char *kt_closure__interp_path(const struct kt_closure *c);
/* Libraries in load order (breadth-first), the interpreter not included. */
size_t kt_closure__count(const struct kt_closure *c);
const struct kt_dep *kt_closure__dep(const struct kt_closure *c, size_t i);
void kt_closure__free(struct kt_closure *c);

#ifdef __cplusplus
}
#endif

#endif
