/* libFuzzer target: the kernel recogniser (bzImage, arm64 Image, gzip'd
 * Image and its banner, ELF), the bzImage setup header reader, the
 * payload decompressors (with lz4's legacy block walker) and the reader
 * of an embedded config (IKCONFIG) on arbitrary bytes. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <ktpack/kconfig.h>
#include <ktpack/kernel.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int null_fd = -1;
	struct kt_kernel_info ki;
	struct kt_bzimage h;
	char *cfg = NULL;
	size_t cfglen;

	kt_kernel_identify_buf(data, size, "fuzz", &ki, NULL);
	if (!kt_kconfig_embedded(data, size, &cfg, &cfglen))
		free(cfg);
	if (null_fd < 0)
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (kt_bzimage__parse(data, size, "fuzz", &h, NULL))
		return 0;
	/* Bounded: a bomb stops at 4 MiB. */
	kt_kernel_decompress(data + h.payload_off, (size_t)h.payload_len, h.comp,
			     null_fd, 4u << 20, NULL);
	return 0;
}
