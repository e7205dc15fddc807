/* libFuzzer target: the ELF reader on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include <ktpack/elfinfo.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_elf_info *info = NULL;

	if (!kt_elf_info__parse(data, size, "fuzz", &info, NULL)) {
		/* Touch every string the parser returned. */
		volatile size_t n = 0;

		for (size_t i = 0; i < info->nneeded; i++)
			for (const char *p = info->needed[i]; *p; p++)
				n++;
		kt_elf_info__free(info);
	}
	return 0;
}
