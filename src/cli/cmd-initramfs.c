/* cmd-initramfs.c - ktpack initramfs: a guest archive with the embedded
 * blobs (from memory, or the files a KTSTR_*_PATH names) and includes. */
#include "cli.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>


struct initramfs_args {
	const char *out;
	const char *init;
	const char *compress;
	const char *ldcache;
	enum kt_arch arch;
	const char *sysroot;
	bool no_busybox, no_wprof;
	struct cli_list inc;
};

/* SOURCE_DATE_EPOCH, for reproducible archives; 0 when unset. */
static int initramfs_epoch(uint32_t *out)
{
	const char *v = getenv("SOURCE_DATE_EPOCH");
	uint64_t t = 0;

	if (v && *v && (kt_parse_u64(v, &t) || t > UINT32_MAX))
		return cli_error("invalid SOURCE_DATE_EPOCH '%s': expected seconds since 1970 below 2^32", v);
	*out = (uint32_t)t;
	return 0;
}

/*
 * The blob @name at @guest: the file its variable names, else its bytes
 * from memory.  A required one that is neither names the make variable.
 */
static int initramfs_blob(struct kt_initramfs *b, const struct kt_blob_table *t,
			  enum kt_arch arch, const char *name, const char *guest, const char *skip_opt)
{
	const struct kt_blob *bl = kt_blob_table__find_arch(t, name, arch);
	struct kt_err err = { 0 };
	char *path = NULL;
	int r;

	/* a KTSTR_*_PATH names this machine's program */
	if (bl && t != kt_library_blobs() && kt_arch_or_native(arch) == kt_arch_native() &&
	    kt_blob_preset(bl, &path, &err))
		return cli_error("%s", err.msg);
	r = kt_initramfs__add_blob(b, t, name, guest, path, &err);
	free(path);
	if (r == -ENOENT && !err.msg[0])
		return skip_opt ?
		       kt_arch_or_native(arch) != kt_arch_native() ?
		       cli_error("%s for %s is not embedded: rebuild with 'make %s=/path/to/%s', or pass %s",
				 name, kt_arch_name(arch), bl ? bl->make_var : "?", name, skip_opt) :
		       cli_error("%s is not embedded: rebuild with 'make %s=/path/to/%s' or set %s, or pass %s",
				 name, bl ? bl->make_var : "?", name, bl ? bl->env : "?", skip_opt) : 0;
	return r ? cli_error("%s", err.msg) : 0;
}

static int initramfs_fill(struct kt_initramfs *b, const struct initramfs_args *a)
{
	struct kt_err err = { 0 };

	if (a->init ? kt_initramfs__add_file(b, a->init, "/init", 0755, &err) :
		      initramfs_blob(b, kt_library_blobs(), a->arch, "init", "/init", "--init FILE"))
		return a->init ? cli_error("%s", err.msg) : -1;
	if ((!a->no_busybox && initramfs_blob(b, &kt_embedded_blobs, a->arch, "busybox",
					      "/bin/busybox", "--no-busybox")) ||
	    (!a->no_wprof && initramfs_blob(b, &kt_embedded_blobs, a->arch, "wprof", "/bin/wprof",
					    NULL)))
		return -1;
	for (size_t i = 0; i < a->inc.n; i++)
		if (kt_initramfs__add_include(b, a->inc.v[i], &err))
			return cli_error("%s", err.msg);
	return 0;
}

int cmd_initramfs(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	struct initramfs_args a = { 0 };
	const struct cli_opt opts[] = {
		OPT_STR('o', "output", &a.out),
		OPT_STR(0, "compress", &a.compress),
		OPT_BOOL("no-busybox", &a.no_busybox),
		OPT_BOOL("no-wprof", &a.no_wprof),
		OPT_FN("include", &a.inc, cli_opt_include),
		OPT_STR(0, "init", &a.init),
		OPT_STR(0, "ldcache", &a.ldcache),
		OPT_FN("arch", &a.arch, cli_opt_arch),
		OPT_STR(0, "sysroot", &a.sysroot),
		OPT_END,
	};
	struct kt_elfdeps_opts eo = { 0 };
	struct kt_initramfs_opts io = { .dev_console = true, .elf = &eo, .log = cli_log };
	struct kt_initramfs *b = NULL;
	struct kt_ldcache *lc = NULL;
	struct kt_err err = { 0 };
	int i, ret;

	(void)ctx;
	i = cli_parse(c, argc, argv, opts);
	if (i >= 0 && i < argc)
		i = cli_usage_error(c, "unexpected argument '%s'", argv[i]);
	else if (i >= 0 && (!a.out || !*a.out))
		i = cli_usage_error(c, "-o FILE is required");
	else if (i >= 0 && a.compress && kt_compress_parse(a.compress, &io.compress))
		i = cli_usage_error(c, "invalid --compress '%s': expected none, gzip or zstd",
				    a.compress);
	if (i < 0) {
		cli_list_release(&a.inc);
		return i;
	}
	eo.ldcache_path = a.ldcache;
	eo.sysroot = a.sysroot;
	io.arch = a.arch;
	ret = a.sysroot ? cli_check_dir("--sysroot", a.sysroot) : 0;
	if (!ret)
		ret = initramfs_epoch(&io.mtime);
	if (!ret && a.ldcache && kt_ldcache__open(a.ldcache, &lc, &err))
		ret = cli_error("%s", err.msg);
	kt_ldcache__free(lc);
	if (!ret && kt_initramfs__new(&io, &b))
		ret = cli_error("out of memory");
	if (!ret)
		ret = initramfs_fill(b, &a);
	if (!ret && kt_initramfs__write(b, a.out, &err))
		ret = cli_error("%s", err.msg);
	kt_initramfs__free(b);
	cli_list_release(&a.inc);
	return ret;
}
