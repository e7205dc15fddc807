/* libFuzzer target: the ld.so.cache reader on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ktpack/ldcache.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_ldcache *c = NULL;

	if (!kt_ldcache__parse(data, size, "fuzz", &c, NULL)) {
		const char *p = kt_ldcache__lookup(c, "libc.so.6", 0x0303);
		volatile size_t n = p ? strlen(p) : 0;

		(void)n;
		kt_ldcache__free(c);
	}
	return 0;
}
