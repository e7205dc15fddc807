/* ktpack/modules.h - kernel modules for the guest: a module tree's
 * modules.dep and modules.builtin, the load order of the modules asked
 * for, and their files packed into the guest's archive for init to load
 * (see the README, "Kernel modules"). */
#ifndef KTPACK_MODULES_H
#define KTPACK_MODULES_H

#include <stdbool.h>
#include <stddef.h>

#include <ktpack/common.h>
#include <ktpack/initramfs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where the guest's init reads the load order from. */
#define KT_MODULES_LIST		"/ktpack/modules"

/*
 * The module tree for the kernel @release (its version string's first
 * word, "6.1.0-56-amd64"): @dir when set, else /lib/modules/<release>,
 * else lib/modules/<release> in the folder of @kernel (where `make deps`
 * keeps Debian's).  The tree must hold modules.dep.  -ENOENT, with @err
 * naming the places looked at, when there is none.
 */
int kt_modules_find(const char *dir, const char *kernel, const char *release,
		    char *out, size_t sz, struct kt_err *err);

struct kt_modules;

/* Reads modules.dep and modules.builtin of the tree @dir. */
int kt_modules__open(const char *dir, struct kt_modules **out, struct kt_err *err);
void kt_modules__free(struct kt_modules *m);
/*
 * What @name ('-' and '_' alike) is in the tree: 1 a module file, 2 built
 * into the kernel, 0 unknown.
 */
int kt_modules__has(const struct kt_modules *m, const char *name);
/*
 * Adds @name and what it depends on to the load order (dependencies
 * first, each once; a built-in one adds nothing).  -ENOENT when it is
 * unknown, with @err naming it and the tree.  The guest must load them:
 * one that fails ends the run before the command.
 */
int kt_modules__want(struct kt_modules *m, const char *name, struct kt_err *err);
/*
 * The same for a module the guest may fail to load (a warning then),
 * unless a module wanted with kt_modules__want() needs it.
 */
int kt_modules__want_optional(struct kt_modules *m, const char *name, struct kt_err *err);
/* How many module files the load order has. */
size_t kt_modules__count(const struct kt_modules *m);
/*
 * Packs the load order into @b: each file (a .ko.xz, .ko.zst or .ko.gz
 * decompressed here) under /lib/modules/<release>/ and the list
 * KT_MODULES_LIST (a guest path per line, after a '?' when the module is
 * optional; a blank line ends each level).  A module built for another
 * kernel (its vermagic is not @release) is -ENOEXEC; with @release ""
 * that is not checked.
 */
int kt_modules__pack(const struct kt_modules *m, const char *release,
		     struct kt_initramfs *b, struct kt_err *err);

#ifdef __cplusplus
}
#endif

#endif
