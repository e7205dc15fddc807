/* kernel.c - bzImage setup header, payload decompression, PVH entry and
 * the cached vmlinux (see ktpack/kernel.h and the README, "Booting").
 *
 * Reads the kernel the user named; writes only the cache folder (through
 * kt_cache__publish).  The bzImage is untrusted: every length and offset
 * of its header is checked against the file, and decompression stops at a
 * bound.
 */
#include <ktpack/kernel.h>

#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "internal.h"

#include <ktpack/kconfig.h>
#include <ktpack/ktpack.h>

/* x86 boot protocol (Documentation/arch/x86/boot.rst): setup header fields
 * by their file offsets. */
#define HDR_SETUP_SECTS	0x1f1
#define HDR_BOOT_FLAG	0x1fe
#define HDR_MAGIC	0x202
#define HDR_VERSION	0x206
#define HDR_KVERSION	0x20e
#define HDR_PAYLOAD_OFF	0x248
#define HDR_PAYLOAD_LEN	0x24c
#define HDR_END		0x250
/* payload_offset and payload_length exist from protocol 2.08 on. */
#define HDR_MIN_VERSION	0x208

/* A vmlinux is tens of MB; a payload that inflates past this is a bomb. */
#define KT_VMLINUX_MAX	(1ULL << 30)
/* The kernel's xz_wrap.sh uses a 32 MiB dictionary; a header that asks
 * for gigabytes is hostile, not a kernel. */
#define KT_XZ_MEMLIMIT	(256ULL << 20)
/* vmlinux files kept in the cache folder, most recently used first. */
#define KT_VMLINUX_KEEP	4
/* lz4's legacy frame: blocks of at most 8 MiB, each after its LE size. */
#define LZ4_LEGACY_BLOCK (8u << 20)
#define XEN_ELFNOTE_PHYS32_ENTRY 18

static const char *const kernel_comp_names[] = {
	[KT_KCOMP_NONE] = "none", [KT_KCOMP_GZIP] = "gzip", [KT_KCOMP_XZ] = "xz",
	[KT_KCOMP_ZSTD] = "zstd", [KT_KCOMP_LZ4] = "lz4", [KT_KCOMP_BZIP2] = "bzip2",
	[KT_KCOMP_LZMA] = "lzma", [KT_KCOMP_LZO] = "lzo", [KT_KCOMP_UNKNOWN] = "unknown",
};

const char *kt_kcomp_name(enum kt_kcomp c)
{
	return (size_t)c < KT_ARRAY_SIZE(kernel_comp_names) ? kernel_comp_names[c] : "unknown";
}

/* ---- the setup header --------------------------------------------------------------- */

static uint32_t kernel_le(const unsigned char *p, int bytes)
{
	uint32_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static enum kt_kcomp kernel_magic(const unsigned char *p, size_t len)
{
	static const struct { const char *m; size_t n; enum kt_kcomp c; } tab[] = {
		{ "\x1f\x8b", 2, KT_KCOMP_GZIP },
		{ "\xfd" "7zXZ\0", 6, KT_KCOMP_XZ },
		{ "\x28\xb5\x2f\xfd", 4, KT_KCOMP_ZSTD },
		{ "\x02\x21\x4c\x18", 4, KT_KCOMP_LZ4 },
		{ "BZh", 3, KT_KCOMP_BZIP2 },
		{ "\x5d\0\0", 3, KT_KCOMP_LZMA },
		{ "\x89LZO", 4, KT_KCOMP_LZO },
		{ "\x7f" "ELF", 4, KT_KCOMP_NONE },
	};

	for (size_t i = 0; i < KT_ARRAY_SIZE(tab); i++)
		if (len >= tab[i].n && !memcmp(p, tab[i].m, tab[i].n))
			return tab[i].c;
	return KT_KCOMP_UNKNOWN;
}

/* A release is a name in paths (/lib/modules/<release>, config-<release>):
 * one that could climb out of them is taken as none. */
static void kernel_release_check(char *r)
{
	if (strchr(r, '/') || !strcmp(r, ".") || !strcmp(r, ".."))
		r[0] = '\0';
}

/* The first word of the version string the header points at. */
static void kernel_release(const unsigned char *b, size_t len, struct kt_bzimage *out)
{
	uint64_t off = (uint64_t)kernel_le(b + HDR_KVERSION, 2) + 0x200;
	size_t n = 0;

	out->release[0] = '\0';
	if (kernel_le(b + HDR_KVERSION, 2) == 0 || off >= len)
		return;
	while (off + n < len && n < sizeof(out->release) - 1 &&
	       b[off + n] > ' ' && b[off + n] < 0x7f)
		n++;
	memcpy(out->release, b + off, n);
	out->release[n] = '\0';
	kernel_release_check(out->release);
}

int kt_bzimage__parse(const void *buf, size_t len, const char *name,
		      struct kt_bzimage *out, struct kt_err *err)
{
	const unsigned char *b = buf;
	uint64_t sects, off, plen;

	if (len < HDR_END || kernel_le(b + HDR_BOOT_FLAG, 2) != 0xaa55 ||
	    memcmp(b + HDR_MAGIC, "HdrS", 4))
		return kt_err_set(err, -ENOEXEC,
				  "'%s' is not a Linux kernel image (no bzImage header)", name);
	memset(out, 0, sizeof(*out));
	out->version = (uint16_t)kernel_le(b + HDR_VERSION, 2);
	if (out->version < HDR_MIN_VERSION)
		return kt_err_set(err, -ENOEXEC,
				  "'%s': boot protocol %u.%02u is older than 2.08", name,
				  out->version >> 8, out->version & 0xff);
	sects = b[HDR_SETUP_SECTS] ? b[HDR_SETUP_SECTS] : 4;
	out->setup_size = (sects + 1) * 512;
	off = kernel_le(b + HDR_PAYLOAD_OFF, 4);
	plen = kernel_le(b + HDR_PAYLOAD_LEN, 4);
	/* sz <= len && off <= len - sz, never off + sz <= len */
	if (out->setup_size > len || off > len - out->setup_size)
		return kt_err_set(err, -EINVAL, "'%s': corrupt bzImage: payload offset out of bounds",
				  name);
	out->payload_off = out->setup_size + off;
	if (!plen || plen > len - out->payload_off)
		return kt_err_set(err, -EINVAL, "'%s': corrupt bzImage: payload length out of bounds",
				  name);
	out->payload_len = plen;
	out->comp = kernel_magic(b + out->payload_off, (size_t)plen);
	kernel_release(b, len, out);
	return 0;
}

struct kernel_map {
	void *p;
	size_t len;
};
static int kernel_map(const char *path, struct kernel_map *m, struct kt_err *err);
static void kernel_unmap(struct kernel_map *m);

/* ---- arm64 Image ----------------------------------------------------------------------- */

/* arm64 boot protocol (Documentation/arch/arm64/booting.rst): a 64-byte
 * header whose magic "ARM\x64" sits at 0x38. */
#define ARM64_HDR_LEN		64
#define ARM64_MAGIC_OFF		0x38
/* linux_banner: "Linux version 6.1.0-57-arm64 (...) ..." */
#define KT_BANNER		"Linux version "
#define KT_BANNER_LEN		(sizeof(KT_BANNER) - 1)
/* the banner and the longest release kept, which a match must have in
 * view before it is read */
#define KT_BANNER_SPAN		(KT_BANNER_LEN + 65)

static bool kernel_arm64_image(const unsigned char *p, size_t len)
{
	return len >= ARM64_HDR_LEN && !memcmp(p + ARM64_MAGIC_OFF, "ARM\x64", 4);
}

/* Looks for the banner in an Image fed in pieces: the release is its
 * third word.  A match near the end of a piece waits for the next one. */
struct kernel_banner {
	unsigned char *buf;	/* the last piece's tail, then the new piece */
	size_t len, cap;
	char release[65];
	bool found;
};

static int kernel_banner_feed(struct kernel_banner *s, const unsigned char *p, size_t n,
			      bool last)
{
	size_t keep, i = 0;

	if (s->found)
		return 0;
	if (s->len + n > s->cap) {
		unsigned char *nb = realloc(s->buf, s->len + n);

		if (!nb)
			return -ENOMEM;
		s->buf = nb;
		s->cap = s->len + n;
	}
	if (n)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
	while (i + KT_BANNER_LEN <= s->len) {
		unsigned char *m = memmem(s->buf + i, s->len - i, KT_BANNER, KT_BANNER_LEN);
		size_t at, k = 0;

		if (!m)
			break;
		at = (size_t)(m - s->buf);
		if (!last && s->len - at < KT_BANNER_SPAN)
			break;
		at += KT_BANNER_LEN;
		while (at + k < s->len && k < sizeof(s->release) - 1 &&
		       s->buf[at + k] > ' ' && s->buf[at + k] < 0x7f)
			k++;
		if (k && s->buf[at] >= '0' && s->buf[at] <= '9') {
			memcpy(s->release, s->buf + at, k);
			s->release[k] = '\0';
			kernel_release_check(s->release);
			if (*s->release) {
				s->found = true;
				return 0;
			}
		}
		i = at;
	}
	keep = s->len < KT_BANNER_SPAN - 1 ? s->len : KT_BANNER_SPAN - 1;
	if (keep)
		memmove(s->buf, s->buf + s->len - keep, keep);
	s->len = keep;
	return 0;
}

/*
 * Whether @in (@len bytes, gzip-compressed when @gz) is an arm64 Image,
 * and its release from the banner (when @release is not NULL; "" when it
 * has none).  A gzip stream is inflated only as far as needed, and never
 * past KT_VMLINUX_MAX.  -ENOEXEC when it is not an Image, -EINVAL for a
 * corrupt stream.
 */
static int kernel_arm64_scan(const unsigned char *in, size_t len, bool gz, char release[65])
{
	struct kernel_banner s = { 0 };
	unsigned char out[65536], head[ARM64_HDR_LEN];
	z_stream z = { 0 };
	uint64_t total = 0;
	size_t nhead = 0;
	int zr = Z_OK, r = 0;

	if (release)
		release[0] = '\0';
	if (!gz) {
		if (!kernel_arm64_image(in, len))
			return -ENOEXEC;
		if (release && !(r = kernel_banner_feed(&s, in, len, true)) && s.found)
			memcpy(release, s.release, sizeof(s.release));
		free(s.buf);
		return r;
	}
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
	while (!r && zr != Z_STREAM_END && !s.found) {
		size_t n;

		z.next_out = out;
		z.avail_out = sizeof(out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			r = -EINVAL;
			break;
		}
		n = sizeof(out) - z.avail_out;
		total += n;
		if (total > KT_VMLINUX_MAX) {
			r = -EFBIG;
			break;
		}
		if (nhead < sizeof(head)) {
			size_t k = n < sizeof(head) - nhead ? n : sizeof(head) - nhead;

			memcpy(head + nhead, out, k);
			nhead += k;
			if (nhead == sizeof(head) && !kernel_arm64_image(head, nhead))
				r = -ENOEXEC;
		}
		if (!r && nhead == sizeof(head) && !release)
			break;
		if (!r && release)
			r = kernel_banner_feed(&s, out, n, zr == Z_STREAM_END);
		if (!r && !n && zr == Z_OK && !z.avail_in)
			r = -EINVAL;	/* truncated */
	}
	inflateEnd(&z);
	if (!r && nhead < sizeof(head))
		r = -ENOEXEC;
	if (!r && release && s.found)
		memcpy(release, s.release, sizeof(s.release));
	free(s.buf);
	return r;
}

int kt_kernel_identify_buf(const void *buf, size_t len, const char *name,
			   struct kt_kernel_info *out, struct kt_err *err)
{
	const unsigned char *p = buf;
	enum kt_kcomp c = kernel_magic(p, len);
	struct kt_bzimage h;
	int r;

	memset(out, 0, sizeof(*out));
	if (c == KT_KCOMP_NONE) {
		if (kt_arch_of_elf(p, len, &out->arch) || out->arch == KT_ARCH_NONE)
			return kt_err_set(err, -ENOEXEC,
					  "'%s': an ELF file for a machine ktpack does not boot", name);
		out->elf = true;
		/* a vmlinux holds its banner as an Image does */
		{
			struct kernel_banner b = { 0 };

			if (kernel_banner_feed(&b, p, len, true))
				return kt_err_set(err, -ENOMEM, "out of memory");
			if (b.found)
				memcpy(out->release, b.release, sizeof(out->release));
			free(b.buf);
		}
		return 0;
	}
	if (kernel_arm64_image(p, len) || c == KT_KCOMP_GZIP) {
		r = kernel_arm64_scan(p, len, c == KT_KCOMP_GZIP, out->release);
		if (r == -EFBIG)
			return kt_err_set(err, r, "'%s': a gzip-compressed kernel that inflates past 1 GiB",
					  name);
		if (r == -EINVAL)
			return kt_err_set(err, r, "'%s': a corrupt gzip-compressed kernel", name);
		if (r == -ENOMEM)
			return kt_err_set(err, r, "out of memory");
		if (r)
			return kt_err_set(err, r,
					  "'%s' is not a Linux kernel image (gzip, but not an arm64 Image inside)",
					  name);
		out->arch = KT_ARCH_AARCH64;
		return 0;
	}
	r = kt_bzimage__parse(buf, len, name, &h, err);
	if (r == -ENOEXEC)
		return kt_err_set(err, r,
				  "'%s' is not a Linux kernel image (no bzImage header, no arm64 Image header, not ELF)",
				  name);
	if (r)
		return r;
	out->arch = KT_ARCH_X86_64;
	memcpy(out->release, h.release, sizeof(out->release));
	return 0;
}

int kt_kernel_identify(const char *path, struct kt_kernel_info *out, struct kt_err *err)
{
	struct kernel_map m = { 0 };
	int r;

	r = kernel_map(path, &m, err);
	if (r)
		return r;
	r = kt_kernel_identify_buf(m.p, m.len, path, out, err);
	kernel_unmap(&m);
	return r;
}

/* ---- decompression ------------------------------------------------------------------ */

struct kernel_sink {
	int fd;
	uint64_t done, max;
};

static int kernel_put(struct kernel_sink *s, const void *buf, size_t n)
{
	if (n > s->max - s->done)
		return -EFBIG;
	s->done += n;
	return kt_write_all(s->fd, buf, n);
}

/* Handwritten framing only: zlib, liblzma, libzstd and libbz2 read their
 * own streams; lz4's legacy frame (which the kernel's build makes) is a
 * sequence of blocks that liblz4's frame reader does not accept, so the
 * blocks are walked here and each is given to LZ4_decompress_safe. */
static int kernel_lz4(const unsigned char *in, size_t len, struct kernel_sink *s)
{
	char *out = malloc(LZ4_LEGACY_BLOCK);
	size_t off = 4;
	int r = 0;

	if (!out)
		return -ENOMEM;
	/* The kernel appends the size of the result; it reads as a block
	 * larger than what is left, which ends the walk. */
	while (!r && len - off >= 4) {
		uint32_t bl = kernel_le(in + off, 4);
		int n;

		if (bl == 0x184c2102) {		/* another frame follows */
			off += 4;
			continue;
		}
		if (bl > len - off - 4 || bl > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK))
			break;
		n = LZ4_decompress_safe((const char *)in + off + 4, out, (int)bl,
					LZ4_LEGACY_BLOCK);
		if (n < 0)
			r = -EINVAL;
		else
			r = kernel_put(s, out, (size_t)n);
		off += 4 + bl;
	}
	free(out);
	return r;
}

static int kernel_gzip(const unsigned char *in, size_t len, struct kernel_sink *s)
{
	unsigned char out[65536];
	z_stream z = { 0 };
	int zr = Z_OK, r = 0;

	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
	while (!r && zr != Z_STREAM_END) {
		z.next_out = out;
		z.avail_out = sizeof(out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END)
			r = -EINVAL;
		else
			r = kernel_put(s, out, sizeof(out) - z.avail_out);
	}
	inflateEnd(&z);
	return r;
}

static int kernel_xz(const unsigned char *in, size_t len, bool alone, struct kernel_sink *s)
{
	unsigned char out[65536];
	lzma_stream z = LZMA_STREAM_INIT;
	lzma_ret lr = alone ? lzma_alone_decoder(&z, KT_XZ_MEMLIMIT) :
			      lzma_stream_decoder(&z, KT_XZ_MEMLIMIT, 0);
	int r = 0;

	if (lr != LZMA_OK)
		return -ENOMEM;
	z.next_in = in;
	z.avail_in = len;
	/* The size the kernel appends after the stream is left unread. */
	while (!r && lr != LZMA_STREAM_END) {
		z.next_out = out;
		z.avail_out = sizeof(out);
		lr = lzma_code(&z, LZMA_FINISH);
		if (lr == LZMA_MEMLIMIT_ERROR)
			r = -E2BIG;
		else if (lr != LZMA_OK && lr != LZMA_STREAM_END)
			r = -EINVAL;
		else
			r = kernel_put(s, out, sizeof(out) - z.avail_out);
	}
	lzma_end(&z);
	return r;
}

static int kernel_zstd(const unsigned char *in, size_t len, struct kernel_sink *s)
{
	unsigned char out[65536];
	ZSTD_DStream *z = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, len, 0 };
	size_t zr = 1;
	int r = 0;

	if (!z)
		return -ENOMEM;
	while (!r && zr) {
		ZSTD_outBuffer ob = { out, sizeof(out), 0 };

		zr = ZSTD_decompressStream(z, &ob, &ib);
		if (ZSTD_isError(zr) || (!ob.pos && ib.pos == ib.size && zr))
			r = -EINVAL;
		else
			r = kernel_put(s, out, ob.pos);
	}
	ZSTD_freeDStream(z);
	return r;
}

static int kernel_bzip2(const unsigned char *in, size_t len, struct kernel_sink *s)
{
	char out[65536];
	bz_stream z = { 0 };
	int br = BZ_OK, r = 0;

	if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK)
		return -ENOMEM;
	z.next_in = (char *)(uintptr_t)in;
	z.avail_in = len > UINT_MAX ? UINT_MAX : (unsigned)len;
	while (!r && br != BZ_STREAM_END) {
		z.next_out = out;
		z.avail_out = sizeof(out);
		br = BZ2_bzDecompress(&z);
		if (br != BZ_OK && br != BZ_STREAM_END)
			r = -EINVAL;
		else if (br == BZ_OK && !z.avail_in && z.avail_out == sizeof(out))
			r = -EINVAL;	/* ran out of input mid-stream */
		else
			r = kernel_put(s, out, sizeof(out) - z.avail_out);
	}
	BZ2_bzDecompressEnd(&z);
	return r;
}

int kt_kernel_decompress(const void *in, size_t len, enum kt_kcomp c, int fd,
			 uint64_t max, struct kt_err *err)
{
	struct kernel_sink s = { .fd = fd, .max = max };
	int r;

	switch (c) {
	case KT_KCOMP_NONE:
		r = kernel_put(&s, in, len);
		break;
	case KT_KCOMP_GZIP:
		r = kernel_gzip(in, len, &s);
		break;
	case KT_KCOMP_XZ:
	case KT_KCOMP_LZMA:
		r = kernel_xz(in, len, c == KT_KCOMP_LZMA, &s);
		break;
	case KT_KCOMP_ZSTD:
		r = kernel_zstd(in, len, &s);
		break;
	case KT_KCOMP_LZ4:
		r = kernel_lz4(in, len, &s);
		break;
	case KT_KCOMP_BZIP2:
		r = kernel_bzip2(in, len, &s);
		break;
	default:
		return kt_err_set(err, -ENOTSUP, "%s-compressed kernels are not supported",
				  kt_kcomp_name(c));
	}
	if (r == -EFBIG)
		return kt_err_set(err, r, "the kernel's payload inflates past %llu MiB",
				  (unsigned long long)(max >> 20));
	if (r == -EINVAL)
		return kt_err_set(err, r, "the kernel's %s payload is corrupt", kt_kcomp_name(c));
	if (r == -E2BIG)
		return kt_err_set(err, -EFBIG,
				  "the kernel's %s payload asks for more than %llu MiB to decompress",
				  kt_kcomp_name(c), (unsigned long long)(KT_XZ_MEMLIMIT >> 20));
	if (r)
		return kt_err_set(err, r, "cannot decompress the kernel: %s", strerror(-r));
	if (!s.done)
		return kt_err_set(err, -EINVAL, "the kernel's %s payload is empty", kt_kcomp_name(c));
	return 0;
}

/* ---- the PVH entry ------------------------------------------------------------------ */

/* Looks through one PT_NOTE for the Xen note QEMU's PVH loader reads. */
static bool kernel_pvh_note(Elf *e, const GElf_Phdr *ph, uint64_t *entry)
{
	Elf_Data *d = elf_getdata_rawchunk(e, (int64_t)ph->p_offset, ph->p_filesz, ELF_T_NHDR);
	size_t off = 0, noff, doff;
	GElf_Nhdr nh;

	while (d && off < d->d_size && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
		const char *name = (const char *)d->d_buf + noff;

		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    !memcmp(name, "Xen", 4) && (nh.n_descsz == 4 || nh.n_descsz == 8)) {
			const unsigned char *p = (const unsigned char *)d->d_buf + doff;

			*entry = kernel_le(p, 4);
			return true;
		}
	}
	return false;
}

/* Whether every PT_LOAD and the section header table lie inside @len: a
 * truncated vmlinux does not pass. */
static bool kernel_elf_whole(Elf *e, size_t len)
{
	GElf_Ehdr eh;
	size_t phnum, shnum;

	if (!gelf_getehdr(e, &eh) || elf_getphdrnum(e, &phnum) || elf_getshdrnum(e, &shnum))
		return false;
	if (shnum && (eh.e_shoff > len || shnum > (len - eh.e_shoff) / (eh.e_shentsize ? eh.e_shentsize : 1)))
		return false;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph))
			return false;
		if (ph.p_type == PT_LOAD && (ph.p_filesz > len || ph.p_offset > len - ph.p_filesz))
			return false;
	}
	return true;
}

int kt_elf_pvh_entry(const void *buf, size_t len, uint64_t *entry)
{
	size_t phnum;
	int r = -ENOENT;
	Elf *e;

	elf_version(EV_CURRENT);
	e = elf_memory((char *)(uintptr_t)buf, len);
	if (!e || elf_kind(e) != ELF_K_ELF || elf_getphdrnum(e, &phnum) ||
	    !kernel_elf_whole(e, len)) {
		elf_end(e);
		return -ENOEXEC;
	}
	for (size_t i = 0; i < phnum && r; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_NOTE &&
		    ph.p_filesz <= len && ph.p_offset <= len - ph.p_filesz &&
		    kernel_pvh_note(e, &ph, entry))
			r = 0;
	}
	elf_end(e);
	return r;
}

/* ---- resolving what to boot ------------------------------------------------------------ */

/* The whole file, read (not mapped: a kernel rewritten while we read it,
 * by a build in its tree, must not kill us with SIGBUS, and its digest
 * and payload must be of the same bytes). */
static int kernel_map(const char *path, struct kernel_map *m, struct kt_err *err)
{
	struct stat st;
	ssize_t n;
	int fd, r;

	r = kt_open_regular(path, "kernel", &fd, err);
	if (r)
		return r;
	if (fstat(fd, &st) || st.st_size <= 0 || (uint64_t)st.st_size > KT_VMLINUX_MAX) {
		close(fd);
		return kt_err_set(err, -ENOEXEC, "'%s' is not a Linux kernel image (%s)", path,
				  st.st_size <= 0 ? "empty" : "too large");
	}
	m->len = (size_t)st.st_size;
	m->p = malloc(m->len);
	if (!m->p) {
		close(fd);
		return kt_err_set(err, -ENOMEM, "out of memory for kernel '%s'", path);
	}
	n = kt_pread_full(fd, m->p, m->len, 0);
	close(fd);
	if (n != (ssize_t)m->len) {
		free(m->p);
		m->p = NULL;
		return kt_err_set(err, n < 0 ? (int)n : -EIO, "cannot read kernel '%s': %s", path,
				  n < 0 ? strerror((int)-n) : "it changed while it was read");
	}
	return 0;
}

static void kernel_unmap(struct kernel_map *m)
{
	free(m->p);
	m->p = NULL;
}

static void kernel_sha256(const struct kernel_map *m, char hex[65])
{
	uint8_t d[SHA256_DIGEST_SIZE];
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, m->len, m->p);
	sha256_digest(&c, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

struct kernel_fill {
	const struct kernel_map *m;
	const struct kt_bzimage *h;
};

/* Writes the vmlinux, and refuses one QEMU could not boot through PVH. */
static int kernel_fill(void *ctx, int fd, struct kt_err *err)
{
	const struct kernel_fill *f = ctx;
	struct kernel_map out = { 0 };
	uint64_t entry;
	struct stat st;
	int r;

	r = kt_kernel_decompress((const unsigned char *)f->m->p + f->h->payload_off,
				 (size_t)f->h->payload_len, f->h->comp, fd, KT_VMLINUX_MAX, err);
	if (r)
		return r;
	if (fstat(fd, &st))
		return kt_err_set(err, -errno, "cannot read the vmlinux: %s", strerror(errno));
	out.len = (size_t)st.st_size;
	out.p = mmap(NULL, out.len, PROT_READ, MAP_SHARED, fd, 0);
	if (out.p == MAP_FAILED)
		return kt_err_set(err, -errno, "cannot read the vmlinux: %s", strerror(errno));
	r = kt_elf_pvh_entry(out.p, out.len, &entry);
	munmap(out.p, out.len);
	if (r == -ENOEXEC)
		return kt_err_set(err, r, "its payload is not an ELF file");
	if (r)
		return kt_err_set(err, r, "its vmlinux has no PVH entry point");
	return 0;
}

/* The marker of a kernel with no vmlinux to boot: why, and which ktpack
 * said so (a later one may support its compression). */
static int kernel_marker_fill(void *ctx, int fd, struct kt_err *err)
{
	char text[sizeof(((struct kt_err *)0)->msg) + 64];
	int r;

	snprintf(text, sizeof(text), "%s\n%s\n", KTPACK_VERSION, (const char *)ctx);
	r = kt_write_all(fd, text, strlen(text));
	return r ? kt_err_set(err, r, "cannot write a marker: %s", strerror(-r)) : 0;
}

/* The reason a marker of this ktpack records, into @err; false when there
 * is none (or one of another version, which is removed). */
static bool kernel_marker(struct kt_cache *c, const char *neg, struct kt_err *err)
{
	char text[sizeof(err->msg) + 64], *nl;
	ssize_t n;
	int fd;

	if (kt_cache__open_file(c, neg, 0644, UINT64_MAX, &fd))
		return false;
	n = kt_pread_full(fd, text, sizeof(text) - 1, 0);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	nl = strchr(text, '\n');
	if (!nl || (size_t)(nl - text) != strlen(KTPACK_VERSION) ||
	    strncmp(text, KTPACK_VERSION, strlen(KTPACK_VERSION))) {
		unlinkat(kt_cache__fd(c), neg, 0);
		return false;
	}
	kt_err_set(err, -ENOENT, "%.*s", (int)strcspn(nl + 1, "\n"), nl + 1);
	return true;
}

/* A cached vmlinux is used when it is a whole ELF with a PVH entry. */
static int kernel_check_cached(int fd)
{
	struct kernel_map m = { 0 };
	struct stat st;
	uint64_t entry;
	int r;

	if (fstat(fd, &st) || st.st_size <= 0)
		return -ESTALE;
	m.len = (size_t)st.st_size;
	m.p = mmap(NULL, m.len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m.p == MAP_FAILED)
		return -ESTALE;
	r = kt_elf_pvh_entry(m.p, m.len, &entry) ? -ESTALE : 0;
	munmap(m.p, m.len);
	return r;
}

/* Opens the cached vmlinux @name if it is good; removes a bad one. */
static int kernel_open_cached(struct kt_cache *c, const char *name, int *fd)
{
	int r = kt_cache__open_file(c, name, 0644, UINT64_MAX, fd);

	if (!r && kernel_check_cached(*fd)) {
		close(*fd);
		r = -ESTALE;
	}
	if (r == -ESTALE && !unlinkat(kt_cache__fd(c), name, 0))
		r = -ENOENT;
	return r;
}

/* Extracts and publishes the vmlinux under a lock, so that cold runs at
 * once decompress it once; the others find it published. */
static int kernel_extract(const struct kt_kernel_opts *o, struct kernel_fill *f,
			  const char *name, const char *neg, struct kt_kernel_boot *b,
			  struct kt_err *err)
{
	int lock = -1, r;
	bool marked;

	/* (without the lock, concurrent runs each extract: slower, not wrong) */
	if (kt_cache_lock(o->cache, name, NULL, KT_LOCK_FOREVER, &lock))
		lock = -1;
	/* The run that held the lock may have found no vmlinux. */
	marked = kernel_marker(o->cache, neg, err);
	r = marked ? -ENOENT : kernel_open_cached(o->cache, name, &b->fd);
	if (r == -ENOENT && !marked) {
		r = kt_cache__publish(o->cache, name, 0644, 0, kernel_fill, f, err);
		/* No vmlinux to boot here: remembered, with why. */
		if (r == -ENOENT || r == -ENOEXEC || r == -ENOTSUP)
			kt_cache__publish(o->cache, neg, 0644, 0, kernel_marker_fill, err->msg, NULL);
		if (!r) {
			b->extracted = true;
			r = kernel_open_cached(o->cache, name, &b->fd);
		}
	}
	kt_cache_unlock(o->cache, name, lock);
	return r;
}

/* The cached vmlinux of @m, extracted on a miss.  -ENOENT/-ENOTSUP/...
 * with @err saying why it cannot be had: then the bzImage boots; -EINVAL
 * or -EFBIG: the kernel is broken. */
static int kernel_cached_vmlinux(const struct kt_kernel_opts *o, const struct kernel_map *m,
				 const struct kt_bzimage *h, struct kt_kernel_boot *b,
				 struct kt_err *err)
{
	struct kernel_fill f = { .m = m, .h = h };
	char sha[65], name[96], neg[104];
	int r;

	kernel_sha256(m, sha);
	snprintf(name, sizeof(name), "vmlinux-%s", sha);
	snprintf(neg, sizeof(neg), "nopvh-%s", sha);
	/* A kernel found by this ktpack to have no usable vmlinux is not
	 * tried again. */
	if (kernel_marker(o->cache, neg, err))
		return -ENOENT;
	r = kernel_open_cached(o->cache, name, &b->fd);
	if (r == -ENOENT)
		r = kernel_extract(o, &f, name, neg, b, err);
	if (r == -ENOENT && !err->msg[0])
		kt_err_set(err, r, "cannot open '%s/%s'", kt_cache__path(o->cache), name);
	if (r)
		return r;
	/* QEMU inherits this descriptor (not 0 to 2, which it gets anew)
	 * and opens it as /proc/self/fd/N: pruning cannot take it. */
	if (b->fd < 3) {
		int high = fcntl(b->fd, F_DUPFD_CLOEXEC, 3);

		close(b->fd);
		b->fd = high;
		if (high < 0)
			return kt_err_set(err, -errno, "cannot keep the vmlinux open: %s",
					  strerror(errno));
	}
	futimens(b->fd, NULL);
	kt_cache__prune(o->cache, "vmlinux-", KT_VMLINUX_KEEP, NULL);
	snprintf(b->path, sizeof(b->path), "/proc/self/fd/%d", b->fd);
	b->pvh = true;
	return 0;
}

static int kernel_tree(const char *dir, bool no_pvh, char *path, size_t sz,
		       struct kt_err *err);

/* The kernel file @kernel names (a build tree's, picked as
 * kt_kernel_resolve() picks it) into @path, and its bytes into @m. */
static int kernel_read_pick(const char *kernel, bool no_pvh, char *path, size_t sz,
			    struct kernel_map *m, struct kt_err *err)
{
	struct stat st;
	int r;

	if (!stat(kernel, &st) && S_ISDIR(st.st_mode))
		r = kernel_tree(kernel, no_pvh, path, sz, err);
	else
		r = kt_snprintf(path, sz, "%s", kernel) ?
		    kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", kernel) : 0;
	return r ? r : kernel_map(path, m, err);
}

int kt_kernel_check_arch(const char *kernel, enum kt_arch *arch, struct kt_err *err)
{
	struct kernel_map m = { 0 };
	struct kt_kernel_info ki;
	char path[PATH_MAX];
	uint64_t entry;
	int r;

	r = kernel_read_pick(kernel, false, path, sizeof(path), &m, err);
	if (r)
		return r;
	r = kt_kernel_identify_buf(m.p, m.len, path, &ki, err);
	if (!r && ki.elf && ki.arch == KT_ARCH_X86_64 && kt_elf_pvh_entry(m.p, m.len, &entry))
		r = kt_err_set(err, -ENOEXEC, "'%s': an ELF kernel without a PVH entry point cannot be booted",
			       path);
	kernel_unmap(&m);
	if (!r && arch)
		*arch = ki.arch;
	return r;
}

int kt_kernel_check(const char *path, struct kt_err *err)
{
	return kt_kernel_check_arch(path, NULL, err);
}

/* A build tree: its vmlinux when it can boot through PVH (unless @no_pvh),
 * else its bzImage. */
static int kernel_tree(const char *dir, bool no_pvh, char *path, size_t sz,
		       struct kt_err *err)
{
	struct kernel_map m = { 0 };
	uint64_t entry;
	int r;

	if (!no_pvh && !kt_snprintf(path, sz, "%s/vmlinux", dir) && !access(path, R_OK) &&
	    !kernel_map(path, &m, NULL)) {
		r = kt_elf_pvh_entry(m.p, m.len, &entry);
		kernel_unmap(&m);
		if (!r)
			return 0;
	}
	if (!kt_snprintf(path, sz, "%s/arch/x86/boot/bzImage", dir) && !access(path, R_OK))
		return 0;
	if (!kt_snprintf(path, sz, "%s/arch/arm64/boot/Image", dir) && !access(path, R_OK))
		return 0;
	return kt_err_set(err, -ENOENT,
			  "kernel build tree '%s' has neither a vmlinux with a PVH entry nor arch/x86/boot/bzImage nor arch/arm64/boot/Image",
			  dir);
}

int kt_kernel_resolve(const char *kernel, const struct kt_kernel_opts *o,
		      struct kt_kernel_boot *b, struct kt_err *err)
{
	struct kernel_map m = { 0 };
	struct kt_err why = { 0 };
	struct kt_kernel_info ki;
	struct kt_bzimage h;
	struct stat st;
	uint64_t entry;
	int r;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	if (!stat(kernel, &st) && S_ISDIR(st.st_mode)) {
		r = kernel_tree(kernel, o && o->no_pvh, b->path, sizeof(b->path), err);
		if (r)
			return r;
	} else if (kt_snprintf(b->path, sizeof(b->path), "%s", kernel)) {
		return kt_err_set(err, -ENAMETOOLONG, "'%s': path too long", kernel);
	}
	r = kernel_map(b->path, &m, err);
	if (r)
		return r;
	r = kt_kernel_identify_buf(m.p, m.len, b->path, &ki, err);
	b->arch = ki.arch;
	memcpy(b->release, ki.release, sizeof(b->release));
	/* An arm64 kernel, an Image or an ELF, goes to QEMU as it is. */
	if (r || ki.arch == KT_ARCH_AARCH64) {
		kernel_unmap(&m);
		return r;
	}
	/* A vmlinux given as it is boots through PVH, or not at all. */
	if (kernel_magic(m.p, m.len) == KT_KCOMP_NONE) {
		r = kt_elf_pvh_entry(m.p, m.len, &entry);
		kernel_unmap(&m);
		b->pvh = !r;
		if (!r && o && o->no_pvh)
			return kt_err_set(err, -EINVAL,
					  "'%s' is a vmlinux: --no-pvh needs a bzImage", b->path);
		return r ? kt_err_set(err, -ENOEXEC,
				      "'%s': an ELF kernel without a PVH entry point cannot be booted",
				      b->path) : 0;
	}
	r = kt_bzimage__parse(m.p, m.len, b->path, &h, err);
	if (!r) {
		snprintf(b->release, sizeof(b->release), "%s", h.release);
		if (o && o->no_pvh)
			kt_err_set(&why, -ECANCELED, "as asked");
		else if (!o || !o->cache)
			kt_err_set(&why, -ENOENT, "no cache folder for its vmlinux");
		else if (!kernel_cached_vmlinux(o, &m, &h, b, &why))
			why.code = 0;
		/* A payload that is corrupt or a bomb is a broken kernel: its
		 * own decompressor would fail in the guest, after minutes. */
		if (why.code == -EINVAL || why.code == -EFBIG)
			r = kt_err_set(err, why.code, "kernel '%s': %s", b->path, why.msg);
		else if (why.code && !(o && o->no_pvh))
			kt_log(o ? &o->log : NULL, KT_LOG_INFO,
			       "booting the bzImage '%s' (slower under TCG): %s", b->path, why.msg);
	}
	kernel_unmap(&m);
	return r;
}

void kt_kernel_boot__close(struct kt_kernel_boot *b)
{
	if (b && b->fd >= 0) {
		close(b->fd);
		b->fd = -1;
	}
}

/* ---- what a kernel is, before it boots --------------------------------------------- */

static const char *const kernel_format_names[] = {
	[KT_KFORMAT_BZIMAGE] = "bzImage", [KT_KFORMAT_VMLINUX] = "vmlinux",
	[KT_KFORMAT_IMAGE] = "Image",
};

const char *kt_kernel_format_name(enum kt_kernel_format f)
{
	return (size_t)f < KT_ARRAY_SIZE(kernel_format_names) ? kernel_format_names[f] : "unknown";
}

/* The file of @kernel (a build tree's, picked as kt_kernel_resolve()
 * picks it), its format and compression, into @f. */
static int kernel_facts_file(const char *kernel, bool no_pvh, struct kt_kernel_facts *f,
			     struct kt_err *err)
{
	struct kernel_map m = { 0 };
	struct kt_kernel_info ki;
	char path[PATH_MAX];
	struct kt_bzimage h;
	int r;

	r = kernel_read_pick(kernel, no_pvh, path, sizeof(path), &m, err);
	if (r)
		return r;
	r = kt_kernel_identify_buf(m.p, m.len, path, &ki, err);
	if (!r && ki.elf) {
		f->format = KT_KFORMAT_VMLINUX;
		f->comp = KT_KCOMP_NONE;
	} else if (!r && ki.arch == KT_ARCH_AARCH64) {
		f->format = KT_KFORMAT_IMAGE;
		f->comp = kernel_magic(m.p, m.len) == KT_KCOMP_GZIP ? KT_KCOMP_GZIP : KT_KCOMP_NONE;
	} else if (!r && !(r = kt_bzimage__parse(m.p, m.len, path, &h, err))) {
		f->format = KT_KFORMAT_BZIMAGE;
		f->comp = h.comp;
	}
	kernel_unmap(&m);
	if (!r && !(f->file = strdup(path)))
		r = kt_err_set(err, -ENOMEM, "out of memory");
	return r;
}

/* The config of the kernel @kernel resolved as @b, as kt_run() finds
 * the guest's, parsed; where it was looked for. */
static int kernel_facts_config(const char *kernel, const struct kt_kernel_boot *b,
			       const struct kt_log *log, struct kt_kernel_facts *f,
			       struct kt_err *err)
{
	const char *image = b->pvh || b->arch == KT_ARCH_AARCH64 ? b->path : NULL;
	char from[PATH_MAX + 64], *text = NULL;
	size_t len = 0;
	int r;

	f->looked = kt_kconfig_places(kernel, b->release, image);
	if (!f->looked)
		return kt_err_set(err, -ENOMEM, "out of memory");
	r = kt_kconfig_find(kernel, b->release, image, log, &text, &len, from, sizeof(from));
	if (r == -ENOENT)
		return 0;
	if (!r)
		r = kt_kconfig__parse(text, len, from, &f->config, err);
	else
		kt_err_set(err, r, "out of memory");
	free(text);
	return r;
}

int kt_kernel_facts(const char *kernel, const struct kt_kernel_opts *o,
		    struct kt_kernel_facts **out, struct kt_err *err)
{
	struct kt_kernel_boot b = { .fd = -1 };
	struct kt_kernel_facts *f = calloc(1, sizeof(*f));
	int r;

	*out = NULL;
	if (!f)
		return kt_err_set(err, -ENOMEM, "out of memory");
	r = kernel_facts_file(kernel, o && o->no_pvh, f, err);
	if (!r)
		r = kt_kernel_resolve(kernel, o, &b, err);
	if (!r) {
		f->arch = b.arch;
		f->pvh = b.pvh;
		f->release = strdup(b.release);
		r = f->release ? kernel_facts_config(kernel, &b, o ? &o->log : NULL, f, err) :
		    kt_err_set(err, -ENOMEM, "out of memory");
	}
	kt_kernel_boot__close(&b);
	if (r) {
		kt_kernel_facts__free(f);
		return r;
	}
	*out = f;
	return 0;
}

void kt_kernel_facts__free(struct kt_kernel_facts *f)
{
	if (!f)
		return;
	free(f->file);
	free(f->release);
	kt_kconfig__free(f->config);
	free(f->looked);
	free(f);
}
