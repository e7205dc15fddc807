/* Unit tests of kernel.c: the bzImage setup header (real and generated,
 * truncated and lying), each payload compression the build supports, the
 * PVH note, and byte-identical extraction of the Debian kernel. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/kconfig.h>
#include <ktpack/kernel.h>

#define DEBIAN_KERNEL "/var/cache/ktpack/vmlinuz"
#define DEBIAN_KERNEL_ARM64 "/var/cache/ktpack/arm64/vmlinuz"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/kt-test-kernel.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(dir);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A minimal ELF64 with one PT_NOTE: the Xen PHYS32_ENTRY note. */
static size_t tiny_elf(unsigned char *b, uint32_t entry)
{
	const size_t ph = 64, note = 64 + 56;

	memset(b, 0, 256);
	memcpy(b, "\x7f" "ELF\x02\x01\x01", 7);
	b[16] = 2;			/* ET_EXEC */
	b[18] = 62;			/* EM_X86_64 */
	b[20] = 1;			/* EV_CURRENT */
	b[32] = (unsigned char)ph;	/* e_phoff */
	b[52] = 64;			/* e_ehsize */
	b[54] = 56;			/* e_phentsize */
	b[56] = 1;			/* e_phnum */
	put32(b + ph, 4);		/* PT_NOTE */
	b[ph + 8] = (unsigned char)note; /* p_offset */
	b[ph + 32] = 20;		/* p_filesz */
	b[ph + 48] = 4;			/* p_align */
	put32(b + note, 4);		/* namesz */
	put32(b + note + 4, 4);		/* descsz */
	put32(b + note + 8, 18);	/* XEN_ELFNOTE_PHYS32_ENTRY */
	memcpy(b + note + 12, "Xen", 4);
	put32(b + note + 16, entry);
	return note + 20;
}

/* A bzImage: 1024 bytes of setup header, then @payload. */
static size_t tiny_bzimage(unsigned char *b, const unsigned char *payload, size_t len,
			   uint32_t lie)
{
	memset(b, 0, 1024);
	b[0x1f1] = 1;
	b[0x1fe] = 0x55;
	b[0x1ff] = 0xaa;
	memcpy(b + 0x202, "HdrS", 4);
	b[0x206] = 0x0f;
	b[0x207] = 0x02;
	b[0x20e] = 0x00;		/* version string at 0x200 + 0x100 */
	b[0x20f] = 0x01;
	memcpy(b + 0x300, "6.9.0-test (x@y) #1", 20);
	put32(b + 0x248, 0);
	put32(b + 0x24c, (uint32_t)len + lie);
	memcpy(b + 1024, payload, len);
	return 1024 + len;
}

/* At most @max bytes of the file @path into @buf; how many. */
static size_t read_into(const char *path, unsigned char *buf, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = kt_pread_full(fd, buf, max, 0);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static void test_each_compression(void **state)
{
	static const struct { const char *cmd; enum kt_kcomp c; } tools[] = {
		{ "gzip -9nc", KT_KCOMP_GZIP }, { "xz --check=crc32 -c", KT_KCOMP_XZ },
		{ "zstd -qc", KT_KCOMP_ZSTD }, { "lz4 -lqc", KT_KCOMP_LZ4 },
		{ "bzip2 -c", KT_KCOMP_BZIP2 }, { "xz --format=lzma -c", KT_KCOMP_LZMA },
		{ "cat", KT_KCOMP_NONE },
	};
	unsigned char elf[256], z[4096], bz[8192], back[4096];
	size_t elen = tiny_elf(elf, 0x1000000);
	char raw[128], comp[128], out[128], cmd[512];
	struct kt_bzimage h;
	uint64_t entry = 0;
	struct kt_err e;

	(void)state;
	snprintf(raw, sizeof(raw), "%s/vmlinux", dir);
	snprintf(comp, sizeof(comp), "%s/payload", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	assert_int_equal(kt_elf_pvh_entry(elf, elen, &entry), 0);
	assert_int_equal(entry, 0x1000000);
	for (size_t i = 0; i < KT_ARRAY_SIZE(tools); i++) {
		size_t zlen, blen, n;
		int fd;

		fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		assert_int_equal(kt_write_all(fd, elf, elen), 0);
		close(fd);
		snprintf(cmd, sizeof(cmd), "%s < '%s' > '%s'", tools[i].cmd, raw, comp);
		assert_int_equal(system(cmd), 0);
		zlen = read_into(comp, z, sizeof(z));
		/* the kernel's build appends the uncompressed size to a
		 * compressed payload */
		if (tools[i].c != KT_KCOMP_NONE) {
			put32(z + zlen, (uint32_t)elen);
			zlen += 4;
		}
		blen = tiny_bzimage(bz, z, zlen, 0);
		assert_int_equal(kt_bzimage__parse(bz, blen, "t", &h, &e), 0);
		assert_int_equal(h.comp, tools[i].c);
		assert_int_equal(h.version, 0x20f);
		assert_string_equal(h.release, "6.9.0-test");
		assert_int_equal(h.payload_off, 1024);
		fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (kt_kernel_decompress(bz + h.payload_off, (size_t)h.payload_len, h.comp,
					 fd, 1 << 20, &e))
			fail_msg("%s: %s", tools[i].cmd, e.msg);
		close(fd);
		n = read_into(out, back, sizeof(back));
		assert_int_equal(n, elen);
		assert_memory_equal(back, elf, elen);
	}
}

static void test_bad_headers(void **state)
{
	unsigned char elf[256], bz[4096];
	size_t elen = tiny_elf(elf, 1), blen;
	struct kt_bzimage h;
	struct kt_err e;
	int fd;

	(void)state;
	blen = tiny_bzimage(bz, elf, elen, 0);
	assert_int_equal(kt_bzimage__parse(bz, blen, "t", &h, &e), 0);
	/* a release that would climb out of /lib/modules is none */
	memcpy(bz + 0x300, "../../tmp/evl (x)", 18);
	assert_int_equal(kt_bzimage__parse(bz, blen, "t", &h, &e), 0);
	assert_string_equal(h.release, "");
	memcpy(bz + 0x300, ".. (x@y) #1", 12);
	assert_int_equal(kt_bzimage__parse(bz, blen, "t", &h, &e), 0);
	assert_string_equal(h.release, "");
	tiny_bzimage(bz, elf, elen, 0);
	/* truncated: no room for the header */
	assert_int_equal(kt_bzimage__parse(bz, 0x240, "t", &h, &e), -ENOEXEC);
	assert_str_contains(e.msg, "not a Linux kernel image");
	/* a payload_length past the end of the file */
	tiny_bzimage(bz, elf, elen, 1);
	assert_int_equal(kt_bzimage__parse(bz, blen, "t", &h, &e), -EINVAL);
	assert_str_contains(e.msg, "payload length out of bounds");
	/* a payload_offset past the end */
	tiny_bzimage(bz, elf, elen, 0);
	put32(bz + 0x248, 0xfffffff0);
	assert_int_equal(kt_bzimage__parse(bz, blen, "t", &h, &e), -EINVAL);
	assert_str_contains(e.msg, "payload offset out of bounds");
	/* setup_sects that reach past the file */
	tiny_bzimage(bz, elf, elen, 0);
	bz[0x1f1] = 200;
	assert_int_equal(kt_bzimage__parse(bz, blen, "t", &h, &e), -EINVAL);
	/* an old boot protocol */
	tiny_bzimage(bz, elf, elen, 0);
	bz[0x206] = 0x04;
	assert_int_equal(kt_bzimage__parse(bz, blen, "t", &h, &e), -ENOEXEC);
	assert_str_contains(e.msg, "older than 2.08");
	/* a corrupt payload and a bomb are errors, not crashes */
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_int_equal(kt_kernel_decompress("\x1f\x8b\x08\x00garbage", 12, KT_KCOMP_GZIP, fd,
					      1 << 20, &e), -EINVAL);
	{
		static unsigned char zeros[1 << 20];
		char cmd[256], z[128];
		unsigned char *buf = malloc(1 << 20);
		size_t n;

		snprintf(z, sizeof(z), "%s/zeros.gz", dir);
		snprintf(cmd, sizeof(cmd), "head -c 4194304 /dev/zero | gzip -c > '%s'", z);
		assert_int_equal(system(cmd), 0);
		n = read_into(z, buf, 1 << 20);
		assert_int_equal(kt_kernel_decompress(buf, n, KT_KCOMP_GZIP, fd, sizeof(zeros), &e),
				 -EFBIG);
		free(buf);
	}
	assert_int_equal(kt_kernel_decompress("\x89LZO", 4, KT_KCOMP_LZO, fd, 1 << 20, &e), -ENOTSUP);
	close(fd);
	/* an ELF without the note */
	elf[64 + 56 + 8] = 17;
	assert_int_equal(kt_elf_pvh_entry(elf, elen, &(uint64_t){ 0 }), -ENOENT);
	assert_int_equal(kt_elf_pvh_entry("nonsense", 8, &(uint64_t){ 0 }), -ENOEXEC);
}

/* The Debian kernel, where make deps unpacked it: its header, and the
 * vmlinux decompressed here equal to what xz makes of the payload. */
static void test_debian_kernel(void **state)
{
	struct kt_bzimage h;
	struct kt_err e;
	struct stat st;
	unsigned char *buf;
	char out[128], ref[128], cmd[512];
	size_t n;
	int fd;

	(void)state;
	if (stat(DEBIAN_KERNEL, &st)) {
		print_message("skipped: no %s\n", DEBIAN_KERNEL);
		skip();
	}
	buf = malloc((size_t)st.st_size);
	n = read_into(DEBIAN_KERNEL, buf, (size_t)st.st_size);
	assert_int_equal(kt_bzimage__parse(buf, n, DEBIAN_KERNEL, &h, &e), 0);
	assert_true(h.version >= 0x20c);
	assert_int_equal(h.comp, KT_KCOMP_XZ);
	assert_non_null(strstr(h.release, "-amd64"));
	snprintf(out, sizeof(out), "%s/vmlinux", dir);
	snprintf(ref, sizeof(ref), "%s/ref", dir);
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_int_equal(kt_kernel_decompress(buf + h.payload_off, (size_t)h.payload_len,
					      h.comp, fd, 1ULL << 30, &e), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "tail -c +%llu '%s' | head -c %llu | xz -dc --single-stream > '%s' && cmp '%s' '%s'",
		 (unsigned long long)h.payload_off + 1, DEBIAN_KERNEL,
		 (unsigned long long)h.payload_len, ref, ref, out);
	assert_int_equal(system(cmd), 0);
	free(buf);
}

/* A bzImage file at @path: the tiny ELF compressed by @tool ("" for a
 * payload of @raw bytes as they are). */
static void bz_file(const char *path, const char *tool, const void *raw, size_t rawlen)
{
	unsigned char elf[256], z[8192], bz[16384];
	size_t elen = tiny_elf(elf, 0x1000000), zlen, blen;
	char src[160], comp[160], cmd[512];
	int fd;

	snprintf(src, sizeof(src), "%s.elf", path);
	snprintf(comp, sizeof(comp), "%s.z", path);
	fd = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_int_equal(kt_write_all(fd, elf, elen), 0);
	close(fd);
	if (*tool) {
		snprintf(cmd, sizeof(cmd), "%s < '%s' > '%s'", tool, src, comp);
		assert_int_equal(system(cmd), 0);
		zlen = read_into(comp, z, sizeof(z));
	} else {
		memcpy(z, raw, rawlen);
		zlen = rawlen;
	}
	blen = tiny_bzimage(bz, z, zlen, 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_int_equal(kt_write_all(fd, bz, blen), 0);
	close(fd);
}

/* What the runner boots: the vmlinux extracted once, checked on a hit
 * and extracted again when it was damaged; a corrupt payload is an
 * error; an unsupported one boots the bzImage, and says why again. */
static void test_resolve(void **state)
{
	struct kt_cache_opts co = { 0 };
	struct kt_kernel_opts ko = { 0 };
	struct kt_kernel_boot b;
	struct kt_cache *c = NULL;
	struct kt_err e;
	char bz[160], cdir[160], vm[400], cmd[600];

	(void)state;
	snprintf(cdir, sizeof(cdir), "%s/cache", dir);
	co.dir = cdir;
	assert_int_equal(kt_cache__open(&co, &c, &e), 0);
	ko.cache = c;
	snprintf(bz, sizeof(bz), "%s/bz", dir);
	bz_file(bz, "xz --check=crc32 -c", NULL, 0);
	/* stdin closed: the vmlinux must not land on descriptor 0 */
	close(0);
	assert_int_equal(kt_kernel_resolve(bz, &ko, &b, &e), 0);
	assert_true(b.pvh && b.extracted && b.fd > 2);
	assert_string_equal(b.release, "6.9.0-test");
	kt_kernel_boot__close(&b);
	assert_int_equal(open("/dev/null", O_RDONLY), 0);
	assert_int_equal(kt_kernel_resolve(bz, &ko, &b, &e), 0);
	assert_true(b.pvh && !b.extracted);
	kt_kernel_boot__close(&b);
	/* damaged: truncated, then another file of the same size */
	snprintf(cmd, sizeof(cmd), "cd '%s' && f=$(ls vmlinux-*) && truncate -s 100 \"$f\"", cdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(kt_kernel_resolve(bz, &ko, &b, &e), 0);
	assert_true(b.pvh && b.extracted);
	kt_kernel_boot__close(&b);
	snprintf(cmd, sizeof(cmd), "cd '%s' && f=$(ls vmlinux-*) && s=$(stat -c %%s \"$f\") && "
		 "head -c $s /dev/zero > z && chmod 644 z && mv z \"$f\"", cdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(kt_kernel_resolve(bz, &ko, &b, &e), 0);
	assert_true(b.pvh && b.extracted);
	kt_kernel_boot__close(&b);
	/* --no-pvh: the bzImage */
	ko.no_pvh = true;
	assert_int_equal(kt_kernel_resolve(bz, &ko, &b, &e), 0);
	assert_false(b.pvh);
	assert_string_equal(b.path, bz);
	/* and a vmlinux with --no-pvh is a mistake said */
	snprintf(vm, sizeof(vm), "%s.elf", bz);
	assert_int_equal(kt_kernel_resolve(vm, &ko, &b, &e), -EINVAL);
	assert_str_contains(e.msg, "--no-pvh needs a bzImage");
	ko.no_pvh = false;
	/* a corrupt payload is a broken kernel */
	bz_file(bz, "", "\x1f\x8b\x08\x00garbagegarbage", 18);
	assert_int_equal(kt_kernel_resolve(bz, &ko, &b, &e), -EINVAL);
	assert_str_contains(e.msg, "payload is corrupt");
	/* LZO: the bzImage boots, and the second run says why again */
	bz_file(bz, "", "\x89LZO\0\r\n\x1a\n", 9);
	assert_int_equal(kt_kernel_resolve(bz, &ko, &b, &e), 0);
	assert_false(b.pvh);
	assert_int_equal(kt_kernel_resolve(bz, &ko, &b, &e), 0);
	assert_false(b.pvh);
	snprintf(cmd, sizeof(cmd), "grep -q 'lzo-compressed kernels are not supported' '%s'/nopvh-*", cdir);
	assert_int_equal(system(cmd), 0);
	kt_cache__close(c);
}

/*
 * What a kernel is and has: a bzImage whose vmlinux embeds its config
 * (read once the vmlinux is extracted, as a run boots it; not without a
 * cache), a config beside it first, a build tree's vmlinux and .config.
 */
static void test_facts(void **state)
{
	struct kt_cache_opts co = { 0 };
	struct kt_kernel_opts ko = { 0 };
	struct kt_kernel_facts *f = NULL;
	struct kt_cache *c = NULL;
	struct kt_err e;
	unsigned char elf[256], vm[4096], z[8192], bz[16384];
	char path[256], cdir[160], cmd[600], tree[160];
	size_t elen = tiny_elf(elf, 0x1000000), vlen, zlen, blen;
	int fd;

	(void)state;
	snprintf(cdir, sizeof(cdir), "%s/cache", dir);
	co.dir = cdir;
	assert_int_equal(kt_cache__open(&co, &c, &e), 0);
	/* the ELF, then IKCONFIG's marker and a gzip'd config */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && printf 'CONFIG_SCHED_CLASS_EXT=y\\n# CONFIG_KPROBES is not set\\n' | "
		 "gzip -n > cfg.gz && { printf IKCFG_ST; cat cfg.gz; printf IKCFG_ED; } > ikcfg", dir);
	assert_int_equal(system(cmd), 0);
	memcpy(vm, elf, elen);
	snprintf(path, sizeof(path), "%s/ikcfg", dir);
	vlen = elen + read_into(path, vm + elen, sizeof(vm) - elen);
	snprintf(path, sizeof(path), "%s/vm", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_int_equal(kt_write_all(fd, vm, vlen), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "gzip -9nc < '%s/vm' > '%s/vm.gz'", dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/vm.gz", dir);
	zlen = read_into(path, z, sizeof(z));
	blen = tiny_bzimage(bz, z, zlen, 0);
	snprintf(path, sizeof(path), "%s/bz", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_int_equal(kt_write_all(fd, bz, blen), 0);
	close(fd);

	ko.cache = c;
	assert_int_equal(kt_kernel_facts(path, &ko, &f, &e), 0);
	assert_string_equal(f->file, path);
	assert_string_equal(f->release, "6.9.0-test");
	assert_int_equal(f->arch, KT_ARCH_X86_64);
	assert_int_equal(f->format, KT_KFORMAT_BZIMAGE);
	assert_string_equal(kt_kernel_format_name(f->format), "bzImage");
	assert_int_equal(f->comp, KT_KCOMP_GZIP);
	assert_true(f->pvh);
	assert_non_null(f->config);
	assert_str_contains(kt_kconfig__from(f->config), "the config embedded in '");
	assert_string_equal(kt_kconfig__value(f->config, "CONFIG_SCHED_CLASS_EXT"), "y");
	assert_null(kt_kconfig__value(f->config, "CONFIG_KPROBES"));
	assert_str_contains(f->looked, "/config-6.9.0-test', '/boot/config-6.9.0-test' and the config embedded in '");
	kt_kernel_facts__free(f);
	/* no cache: the bzImage as it is, whose config is compressed */
	ko.cache = NULL;
	assert_int_equal(kt_kernel_facts(path, &ko, &f, &e), 0);
	assert_false(f->pvh);
	assert_null(f->config);
	assert_null(strstr(f->looked, "embedded"));
	kt_kernel_facts__free(f);
	/* a config beside it comes first */
	snprintf(path, sizeof(path), "%s/config-6.9.0-test", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_int_equal(kt_write_all(fd, "CONFIG_BPF_SYSCALL=m\n", 21), 0);
	close(fd);
	ko.cache = c;
	snprintf(cmd, sizeof(cmd), "%s/bz", dir);
	assert_int_equal(kt_kernel_facts(cmd, &ko, &f, &e), 0);
	assert_string_equal(kt_kconfig__from(f->config), path);
	assert_string_equal(kt_kconfig__value(f->config, "CONFIG_BPF_SYSCALL"), "m");
	kt_kernel_facts__free(f);

	/* a build tree: its vmlinux and its .config */
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	assert_int_equal(mkdir(tree, 0755), 0);
	snprintf(cmd, sizeof(cmd), "cp '%s/vm' '%s/vmlinux' && echo CONFIG_FTRACE=y > '%s/.config'",
		 dir, tree, tree);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(kt_kernel_facts(tree, &ko, &f, &e), 0);
	snprintf(path, sizeof(path), "%s/vmlinux", tree);
	assert_string_equal(f->file, path);
	assert_int_equal(f->format, KT_KFORMAT_VMLINUX);
	assert_int_equal(f->comp, KT_KCOMP_NONE);
	assert_true(f->pvh);
	snprintf(path, sizeof(path), "%s/.config", tree);
	assert_string_equal(kt_kconfig__from(f->config), path);
	assert_string_equal(kt_kconfig__value(f->config, "CONFIG_FTRACE"), "y");
	kt_kernel_facts__free(f);
	kt_kernel_facts__free(NULL);

	/* not a kernel */
	snprintf(path, sizeof(path), "%s/cfg.gz", dir);
	assert_int_equal(kt_kernel_facts(path, &ko, &f, &e), -ENOEXEC);
	assert_null(f);
	assert_str_contains(e.msg, "is not a Linux kernel image");
	kt_cache__close(c);
}

/* An arm64 Image of @len bytes (at least 64): the header's magic, zeros,
 * and the banner at @at (none when @at is 0). */
static unsigned char *tiny_image(size_t len, size_t at, const char *banner)
{
	unsigned char *b = calloc(1, len);

	assert_non_null(b);
	memcpy(b + 0x38, "ARM\x64", 4);
	if (at)
		memcpy(b + at, banner, strlen(banner));
	return b;
}

/* @len bytes at @in, gzip-compressed by gzip(1), into a new buffer. */
static unsigned char *gzip_of(const unsigned char *in, size_t len, size_t *outlen)
{
	char raw[128], gz[128], cmd[300];
	unsigned char *out;
	struct stat st;
	int fd;

	snprintf(raw, sizeof(raw), "%s/raw", dir);
	snprintf(gz, sizeof(gz), "%s/raw.gz", dir);
	fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(kt_write_all(fd, in, len), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "gzip -nc '%s' > '%s'", raw, gz);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(stat(gz, &st), 0);
	out = malloc((size_t)st.st_size);
	assert_non_null(out);
	*outlen = read_into(gz, out, (size_t)st.st_size);
	return out;
}

/* An arm64 Image by its header's magic, raw or gzip'd, its release from
 * the banner wherever it falls (across the inflater's 64 KiB pieces too);
 * the others by theirs; a corrupt or truncated stream is -EINVAL. */
static void test_identify(void **state)
{
	static const char banner[] = "Linux version 6.1.0-57-arm64 (debian-kernel@lists.debian.org) #1";
	const size_t at[] = { 0x40, 65536 - 20, 65536 * 3 - 5, 300000 - sizeof(banner) };
	struct kt_kernel_info ki;
	struct kt_err e;
	unsigned char elf[256], *img, *gz;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		img = tiny_image(300000, at[i], banner);
		assert_int_equal(kt_kernel_identify_buf(img, 300000, "img", &ki, &e), 0);
		assert_int_equal(ki.arch, KT_ARCH_AARCH64);
		assert_false(ki.elf);
		assert_string_equal(ki.release, "6.1.0-57-arm64");
		gz = gzip_of(img, 300000, &n);
		memset(&ki, 0, sizeof(ki));
		assert_int_equal(kt_kernel_identify_buf(gz, n, "img.gz", &ki, &e), 0);
		assert_int_equal(ki.arch, KT_ARCH_AARCH64);
		assert_string_equal(ki.release, "6.1.0-57-arm64");
		free(gz);
		free(img);
	}
	/* no banner: recognised, release unknown; "Linux version " without a
	 * number is not one.  The whole stream is read then: truncated or
	 * corrupt (its CRC-32 says) is an error */
	img = tiny_image(300000, 100, "Linux version x");
	assert_int_equal(kt_kernel_identify_buf(img, 300000, "img", &ki, &e), 0);
	assert_int_equal(ki.arch, KT_ARCH_AARCH64);
	assert_string_equal(ki.release, "");
	gz = gzip_of(img, 300000, &n);
	assert_int_equal(kt_kernel_identify_buf(gz, n, "img.gz", &ki, &e), 0);
	assert_string_equal(ki.release, "");
	assert_int_equal(kt_kernel_identify_buf(gz, n - 9, "cut.gz", &ki, &e), -EINVAL);
	assert_str_contains(e.msg, "'cut.gz': a corrupt gzip-compressed kernel");
	gz[n - 5] ^= 0x01;	/* the CRC-32 */
	assert_int_equal(kt_kernel_identify_buf(gz, n, "bad.gz", &ki, &e), -EINVAL);
	free(gz);
	free(img);
	img = tiny_image(4096, 0, NULL);
	/* not an Image: no magic, raw or inside gzip */
	memset(img + 0x38, 0, 4);
	assert_int_equal(kt_kernel_identify_buf(img, 4096, "zeros", &ki, &e), -ENOEXEC);
	assert_str_contains(e.msg, "'zeros' is not a Linux kernel image");
	gz = gzip_of(img, 4096, &n);
	assert_int_equal(kt_kernel_identify_buf(gz, n, "zeros.gz", &ki, &e), -ENOEXEC);
	assert_str_contains(e.msg, "not an arm64 Image inside");
	free(gz);
	/* shorter than the header */
	assert_int_equal(kt_kernel_identify_buf(img, 40, "short", &ki, &e), -ENOEXEC);
	free(img);
	/* ELF: its machine says; one ktpack does not boot is refused */
	tiny_elf(elf, 0x1000000);
	assert_int_equal(kt_kernel_identify_buf(elf, sizeof(elf), "vmlinux", &ki, &e), 0);
	assert_int_equal(ki.arch, KT_ARCH_X86_64);
	assert_true(ki.elf);
	elf[18] = 183;		/* EM_AARCH64 */
	assert_int_equal(kt_kernel_identify_buf(elf, sizeof(elf), "vmlinux", &ki, &e), 0);
	assert_int_equal(ki.arch, KT_ARCH_AARCH64);
	elf[18] = 21;		/* EM_PPC64 */
	assert_int_equal(kt_kernel_identify_buf(elf, sizeof(elf), "vmlinux", &ki, &e), -ENOEXEC);
}

/* Debian's arm64 kernel, where make deps unpacked it. */
static void test_debian_arm64(void **state)
{
	struct kt_kernel_info ki;
	enum kt_arch a = KT_ARCH_NONE;
	struct kt_err e;
	struct stat st;

	(void)state;
	if (stat(DEBIAN_KERNEL_ARM64, &st)) {
		print_message("skipped: no %s\n", DEBIAN_KERNEL_ARM64);
		skip();
	}
	assert_int_equal(kt_kernel_identify(DEBIAN_KERNEL_ARM64, &ki, &e), 0);
	assert_int_equal(ki.arch, KT_ARCH_AARCH64);
	assert_non_null(strstr(ki.release, "-arm64"));
	assert_int_equal(kt_kernel_check_arch(DEBIAN_KERNEL_ARM64, &a, &e), 0);
	assert_int_equal(a, KT_ARCH_AARCH64);
	if (!stat(DEBIAN_KERNEL, &st)) {
		assert_int_equal(kt_kernel_check_arch(DEBIAN_KERNEL, &a, &e), 0);
		assert_int_equal(a, KT_ARCH_X86_64);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_each_compression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debian_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_facts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debian_arm64, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
