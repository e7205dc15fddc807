/* initramfs.h - the guest's initramfs: files at guest paths, every ELF
 * program with its interpreter and libraries where the guest's loader will
 * look for them, written as one reproducible cpio archive. */
#ifndef KTPACK_INITRAMFS_H
#define KTPACK_INITRAMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ktpack/blob.h>
#include <ktpack/common.h>
#include <ktpack/cpio.h>
#include <ktpack/elfdeps.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kt_initramfs_opts {
	enum kt_compress compress;
	uint32_t mtime;		/* every entry's mtime (SOURCE_DATE_EPOCH) */
	/* How closures are resolved; .guest is forced on. */
	const struct kt_elfdeps_opts *elf;
	/* Add /dev/console, which the kernel opens for init's stdio. */
	bool dev_console;
	/* The guest's architecture: which blobs kt_initramfs__add_blob()
	 * takes; a program of another is packed as data, without a closure
	 * (see kt_initramfs__foreign); KT_ARCH_NONE: this machine's blobs,
	 * and any program with its closure. */
	enum kt_arch arch;
	/* A debug line when a foreign program is packed as data. */
	struct kt_log log;
};

struct kt_initramfs;

int kt_initramfs__new(const struct kt_initramfs_opts *o,
		      struct kt_initramfs **out);
void kt_initramfs__free(struct kt_initramfs *b);

/*
 * The host file @host as a regular file at @guest, an absolute guest path,
 * with @mode (0: the host file's permission bits).  Its links are
 * followed, but for a link another user (not root) owns in a folder that
 * others can change (-EPERM: its owner could point it anywhere).  When it
 * is an ELF program, its closure comes along: the interpreter at its
 * PT_INTERP path, each library at the path the guest's loader will use,
 * every symlink met on the way kept as a symlink.  Every host file is
 * opened here and checked on its descriptor, which the archive keeps
 * until kt_initramfs__free(): the bytes written are those of the file
 * that was checked, even if its name leads elsewhere by then.
 */
int kt_initramfs__add_file(struct kt_initramfs *b, const char *host,
			   const char *guest, uint32_t mode, struct kt_err *err);
/*
 * Only the closure of the ELF program @host that goes to @guest (its
 * interpreter and libraries, not the program): nothing for a static one.
 */
int kt_initramfs__add_closure(struct kt_initramfs *b, const char *host,
			      const char *guest, struct kt_err *err);
/*
 * The entries of the newc archive in @buf (folders, symlinks, regular
 * files; not copied: the bytes must outlive the write), as an embedded
 * closure holds them.  A file given twice agrees when its bytes do.
 */
int kt_initramfs__add_cpio(struct kt_initramfs *b, const void *buf, size_t len,
			   struct kt_err *err);
/*
 * Whether @guest (an absolute guest path, its symlinks in the archive
 * followed) holds a program for another machine than the archive's,
 * packed as data: 1 with its @host path and its ELF @machine (e_machine);
 * 0 when it holds something else there; -ENOENT when nothing.  Either
 * pointer may be NULL; @host lives as long as @b.
 */
int kt_initramfs__foreign(const struct kt_initramfs *b, const char *guest, const char **host,
			  uint16_t *machine);
/* A host folder, recursively, at @guest; symlinks stay symlinks.  @host
 * is followed as kt_initramfs__add_file() follows it; each entry is
 * opened from its folder's descriptor without following a link, and
 * stays open until kt_initramfs__free() (a folder of many files needs a
 * limit on open files to match: ktpack raises its soft limit to the
 * hard one). */
int kt_initramfs__add_tree(struct kt_initramfs *b, const char *host,
			   const char *guest, struct kt_err *err);
/* Bytes at @guest (copied). */
int kt_initramfs__add_data(struct kt_initramfs *b, const char *guest,
			   const void *buf, size_t len, uint32_t mode,
			   struct kt_err *err);
/*
 * @len bytes at @buf (not copied: they must outlive the write, as an
 * embedded blob does) at @guest; an ELF program brings its closure.
 */
int kt_initramfs__add_mem(struct kt_initramfs *b, const char *guest,
			  const void *buf, size_t len, uint32_t mode,
			  struct kt_err *err);
/*
 * An embedded program at @guest (mode 0755) with the closure the build
 * embedded beside it (a newc archive: see kt_initramfs__add_cpio), so the
 * guest gets the build machine's libraries, not this host's.  Without one
 * (@closure_len 0), the closure is resolved here as kt_initramfs__add_mem
 * does.
 */
int kt_initramfs__add_program(struct kt_initramfs *b, const char *guest,
			      const void *buf, size_t len, const void *closure,
			      size_t closure_len, struct kt_err *err);
/*
 * The program blob @name of table @t at @guest (mode 0755): the file
 * @path instead when it is set (a KTSTR_*_PATH the user chose), else the
 * blob's bytes with the closure "<name>_libs" of @t when the build
 * embedded one.  -ENOENT, @err untouched, when there is neither.
 */
int kt_initramfs__add_blob(struct kt_initramfs *b, const struct kt_blob_table *t,
			   const char *name, const char *guest, const char *path,
			   struct kt_err *err);
int kt_initramfs__add_symlink(struct kt_initramfs *b, const char *guest,
			      const char *target, struct kt_err *err);

/*
 * Writes the archive to @path through a temporary name in the same folder,
 * renamed at the end: no partial file is ever left under @path.  Entries are
 * sorted, parents first; two builds from the same inputs are identical.
 */
int kt_initramfs__write(struct kt_initramfs *b, const char *path,
			struct kt_err *err);
/* The same, appended to an open descriptor. */
int kt_initramfs__write_fd(struct kt_initramfs *b, int fd, struct kt_err *err);
/*
 * Creates @path (it must not exist) as a copy of the archive open at
 * @base_fd with this archive appended: the kernel unpacks concatenated
 * archives in order, so a cached base and a small per-run suffix make one
 * initramfs.  @path is removed again on failure.
 */
int kt_initramfs__write_after(struct kt_initramfs *b, int base_fd,
			      const char *path, struct kt_err *err);
/* The same into @out, a new empty file open for writing (left open). */
int kt_initramfs__write_after_fd(struct kt_initramfs *b, int base_fd, int out,
				 struct kt_err *err);

/*
 * Lays @b out over @base, the archive the kernel unpacks before it when @b
 * is written after it (kt_initramfs__write_after_fd): as if the two were
 * one archive, though each is written alone.  A path of @b whose folder
 * is a symlink of @base moves where the link points; a path @base has
 * with the same contents is left out of @b, one it has with others is
 * refused (-EEXIST) as twice in one archive is; a folder @base has is
 * not written again; kt_initramfs__foreign() sees both.  Call it once
 * @b holds its entries: both are laid out here, and what cannot be is an
 * error now (a symlink of @b where @base has a folder is -EEXIST: the
 * kernel could not replace the folder, where one archive of both would
 * have moved @base's files where the link points).  @base must not
 * change, and must outlive @b.  The key of @b (kt_initramfs__key) does
 * not cover @base.
 */
int kt_initramfs__over(struct kt_initramfs *b, struct kt_initramfs *base, struct kt_err *err);

/*
 * A key for caching the archive: it covers every entry that will be
 * written, each host file by its path, inode, size, mtime and ctime (the
 * closures' libraries and the targets of symlinks included) or, when
 * those cannot tell a rewrite of the same size (changed within 2 s, or a
 * ctime in whole seconds), by the SHA-256 of its bytes, and @seed,
 * which must identify the bytes added with kt_initramfs__add_mem().  *@size
 * is the archive's exact size when it is not compressed, else 0.
 */
int kt_initramfs__key(struct kt_initramfs *b, const char *seed, uint64_t *key,
		      uint64_t *size, struct kt_err *err);

/*
 * HOST[:GUEST] -> the two paths; GUEST defaults to HOST made absolute.
 * The split is at the last ':' followed by '/', so a HOST may hold ':'.
 * A HOST without a '/' is a program looked up in PATH, as a shell does
 * (kt_find_program): *@host is the path found; else it is the file of
 * the working folder.  -EINVAL for an empty HOST; -ENOENT when neither
 * has it; -EEXIST when both do, two files (*@host is then PATH's).
 */
int kt_include_split(const char *spec, char *host, char *guest, size_t sz);
/* Adds the include @spec: a folder whole (kt_initramfs__add_tree), a file
 * with its ELF closure (kt_initramfs__add_file). */
int kt_initramfs__add_include(struct kt_initramfs *b, const char *spec,
			      struct kt_err *err);

#ifdef __cplusplus
}
#endif

#endif
