/* qemu.c - the QEMU program a guest boots with, found and asked what it
 * needs before it starts (see the README, "What a runner needs"): its
 * version, its data folders and the firmware files in them, and whether
 * its TCG is a module that must be there too.  Reads QEMU's files; runs
 * QEMU only with -L help and -version. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ktpack/vm.h>

/* Asking QEMU about itself takes milliseconds; a hung one is broken. */
#define QEMU_ASK_MS	10000

int kt_find_qemu(const char *q, enum kt_arch arch, char *qemu, size_t sz,
		 struct kt_err *err)
{
	const struct kt_arch_info *ai = kt_arch_info(arch);
	int r;

	if (!ai)
		return kt_err_set(err, -ENOTSUP, "ktpack cannot boot a guest on this machine");
	if (!q)
		q = ai->qemu;
	if (!*q)
		return kt_err_set(err, -EINVAL, "the QEMU program's name is empty");
	r = kt_find_program(q, qemu, sz);
	if (r && strchr(q, '/'))
		return kt_err_set(err, r, "QEMU '%s': %s", q, strerror(-r));
	if (r)
		return kt_err_set(err, -ENOENT,
				  "%s not found in PATH: install QEMU (Debian: apt-get install %s)",
				  q, ai->qemu_pkg);
	return 0;
}

int kt_qemu_version(const char *qemu, char *out, size_t sz)
{
	char buf[1024], *v, *e;
	char *argv[] = { (char *)qemu, "-version", NULL };
	struct kt_capture c = { .timeout_ms = QEMU_ASK_MS, .out = buf, .outsz = sizeof(buf) };
	int r = kt_proc_capture(argv, &c);

	if (r)
		return r;
	/* "QEMU emulator version 7.2.22 (Debian ...)" */
	v = strstr(buf, "version ");
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) || !v)
		return -EPROTO;
	v += strlen("version ");
	e = v + strcspn(v, " \n");
	return kt_snprintf(out, sz, "%.*s", (int)(e - v), v);
}

/* QEMU's data folders, from -L help (one a line), after the ones the
 * caller's own -L options name, which QEMU searches first.  A QEMU that
 * cannot be run at all is said here, before the KVM probe blames KVM. */
static int qemu_datadirs(struct kt_qemu_facts *f, const char *const *opts, size_t nopts,
			 struct kt_err *err)
{
	char *argv[] = { f->path, "-L", "help", NULL };
	char errs[512];
	struct kt_capture c = {
		.timeout_ms = QEMU_ASK_MS, .out = f->lhelp, .outsz = sizeof(f->lhelp),
		.errs = errs, .errsz = sizeof(errs),
	};
	int r;

	f->ndatadir = 0;
	for (size_t i = 0; i + 1 < nopts && f->ndatadir < KT_QEMU_DATADIRS; i++)
		if (!strcmp(opts[i], "-L") && strcmp(opts[i + 1], "help"))
			f->datadir[f->ndatadir++] = opts[++i];
	r = kt_proc_capture(argv, &c);
	if (r)
		return kt_err_set(err, r, "QEMU '%s' does not answer -L help: %s", f->path,
				  strerror(-r));
	if (WIFEXITED(c.status) && WEXITSTATUS(c.status) == 127 && !strncmp(errs, "cannot run ", 11)) {
		errs[strcspn(errs, "\n")] = '\0';
		return kt_err_set(err, -ENOEXEC, "QEMU %s", errs);
	}
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status)) {
		f->lhelp[0] = '\0';
		f->ndatadir = 0;	/* an old QEMU: nothing known */
		return 0;
	}
	for (char *p = f->lhelp; *p && f->ndatadir < KT_QEMU_DATADIRS; ) {
		size_t l = strcspn(p, "\n");
		bool more = p[l] == '\n';

		p[l] = '\0';
		if (*p == '/')
			f->datadir[f->ndatadir++] = p;
		p += l + more;
	}
	return 0;
}

/* Whether @path's bytes hold @needle (with its NUL): QEMU's table of its
 * modules is strings in the binary. */
static bool qemu_binary_has(const char *path, const char *needle, size_t nlen)
{
	struct stat st;
	void *m;
	bool found = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < (1ULL << 30)) {
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			found = memmem(m, (size_t)st.st_size, needle, nlen) != NULL;
			munmap(m, (size_t)st.st_size);
		}
	}
	close(fd);
	return found;
}

/* Appends @dir to the list of folders looked in, for the message. */
static void qemu_looked(struct kt_qemu_facts *f, const char *dir)
{
	size_t l = strlen(f->tcg_looked);

	kt_snprintf_cut(f->tcg_looked + l, sizeof(f->tcg_looked) - l, "%s%s", l ? ", " : "", dir);
}

/* Whether @dir holds @file, which then goes to f->tcg_module. */
static bool qemu_module_in(struct kt_qemu_facts *f, const char *dir, const char *file)
{
	char p[PATH_MAX];
	struct stat st;

	qemu_looked(f, dir);
	if (kt_snprintf(p, sizeof(p), "%s/%s", dir, file) || stat(p, &st) || !S_ISREG(st.st_mode))
		return false;
	memcpy(f->tcg_module, p, sizeof(p));
	return true;
}

/*
 * Where QEMU (7.1 on) loads its modules from: $QEMU_MODULE_DIR, its module
 * folder relocated beside the program (PREFIX/lib/<triplet>/qemu as Debian
 * builds it, or PREFIX/lib/qemu as QEMU's own default; PREFIX comes from
 * the data folder PREFIX/share/qemu that -L help gives in the same
 * relocated form), then /var/run/qemu/<version>.
 */
static void qemu_tcg_module(struct kt_qemu_facts *f, enum kt_arch arch)
{
	const struct kt_arch_info *ai = kt_arch_info(arch);
	char name[64], file[80], dir[PATH_MAX];
	const char *env = getenv("QEMU_MODULE_DIR");
	struct dirent *de;
	DIR *run;
	size_t nl;

	f->tcg_module[0] = f->tcg_looked[0] = '\0';
	/* "\0accel-tcg-x86_64\0" in the binary: its modinfo lists the module */
	nl = (size_t)snprintf(name, sizeof(name), "%caccel-tcg-%s", '\0', ai->name) + 1;
	snprintf(file, sizeof(file), "accel-tcg-%s.so", ai->name);
	f->tcg_modular = qemu_binary_has(f->path, name, nl);
	if (!f->tcg_modular)
		return;
	if (env && *env && qemu_module_in(f, env, file))
		return;
	for (size_t i = 0; i < f->ndatadir; i++) {
		const char *d = f->datadir[i];
		size_t l = strlen(d), sl = strlen("/share/qemu");

		if (l < sl || strcmp(d + l - sl, "/share/qemu"))
			continue;
		if ((!kt_snprintf(dir, sizeof(dir), "%.*s/lib/%s/qemu", (int)(l - sl), d, ai->triplet) &&
		     qemu_module_in(f, dir, file)) ||
		    (!kt_snprintf(dir, sizeof(dir), "%.*s/lib/qemu", (int)(l - sl), d) &&
		     qemu_module_in(f, dir, file)))
			return;
	}
	/* (with module upgrades: a copy for the version that runs) */
	run = opendir("/var/run/qemu");
	while (run && (de = readdir(run)))
		if (de->d_name[0] != '.' &&
		    !kt_snprintf(dir, sizeof(dir), "/var/run/qemu/%s", de->d_name) &&
		    qemu_module_in(f, dir, file))
			break;
	if (run)
		closedir(run);
}

int kt_qemu_inspect(const char *qemu, enum kt_arch arch, const char *const *opts, size_t nopts,
		    struct kt_qemu_facts *f, struct kt_err *err)
{
	int r;

	if (!kt_arch_info(arch))
		return kt_err_set(err, -ENOTSUP, "ktpack cannot boot a guest on this machine");
	if (kt_snprintf(f->path, sizeof(f->path), "%s", qemu))
		return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", qemu);
	r = qemu_datadirs(f, opts, nopts, err);
	if (!r)
		qemu_tcg_module(f, arch);
	return r;
}

int kt_qemu_find_firmware(const struct kt_qemu_facts *f, const char *file, char *out, size_t sz)
{
	for (size_t i = 0; i < f->ndatadir; i++) {
		struct stat st;

		if (!kt_snprintf(out, sz, "%s/%s", f->datadir[i], file) && !stat(out, &st) &&
		    S_ISREG(st.st_mode))
			return 0;
	}
	return -ENOENT;
}

bool kt_qemu_can_pvh(const struct kt_qemu_facts *f, enum kt_arch arch)
{
	const struct kt_arch_info *ai = kt_arch_info(arch);
	char where[PATH_MAX];

	for (size_t i = 0; f->ndatadir && i < ai->nfirmware; i++)
		if (ai->firmware[i].need & KT_FW_PVH &&
		    kt_qemu_find_firmware(f, ai->firmware[i].file, where, sizeof(where)))
			return false;
	return true;
}

int kt_qemu_check_boot(const struct kt_qemu_facts *f, enum kt_arch arch, bool pvh, bool tcg,
		       struct kt_err *err)
{
	const struct kt_arch_info *ai = kt_arch_info(arch);
	char missing[1024] = "", where[PATH_MAX];
	unsigned need = KT_FW_ALWAYS | (pvh ? KT_FW_PVH : KT_FW_BZIMAGE);
	size_t l = 0;

	/* (QEMU did not list its data folders: nothing can be said) */
	for (size_t i = 0; f->ndatadir && i < ai->nfirmware; i++) {
		const struct kt_firmware *fw = &ai->firmware[i];

		if (!(fw->need & need) || !kt_qemu_find_firmware(f, fw->file, where, sizeof(where)))
			continue;
		kt_snprintf_cut(missing + l, sizeof(missing) - l, "%s%s (Debian: %s)", l ? ", " : "",
				fw->file, fw->pkg);
		l = strlen(missing);
	}
	if (l) {
		char dirs[2048] = "";

		for (size_t i = 0, dl = 0; i < f->ndatadir; i++, dl = strlen(dirs))
			kt_snprintf_cut(dirs + dl, sizeof(dirs) - dl, "%s%s", i ? ", " : "",
					f->datadir[i]);
		return kt_err_set(err, -ENOENT, "QEMU's firmware is missing: %s; %s looks in %s",
				  missing, f->path, dirs);
	}
	if (tcg && f->tcg_modular && !f->tcg_module[0])
		return kt_err_set(err, -ENOENT,
				  "QEMU's TCG module accel-tcg-%s.so is missing (looked in %s; Debian: %s)",
				  ai->name, f->tcg_looked, ai->tcg_module_pkg);
	return 0;
}
