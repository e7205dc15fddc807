/* libFuzzer target: the kernel .config parser on arbitrary bytes, each
 * lookup and requirement of a tracing user on what it parsed. */
#include <stddef.h>
#include <stdint.h>

#include <ktpack/kconfig.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const specs[] = { "CONFIG_BPF", "CONFIG_BPF=y", "KPROBES=m" };
	struct kt_kconfig *c = NULL;

	if (kt_kconfig__parse((const char *)data, size, "fuzz", &c, NULL))
		return 0;
	for (const char *const *n = kt_kconfig_tracing(); *n; n++)
		kt_kconfig__value(c, *n);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		kt_kconfig__require(c, specs[i], NULL);
	kt_kconfig__free(c);
	return 0;
}
