/* libFuzzer target: the host's reader of the trace frame a guest sends. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include <ktpack/vm.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[64];
	char serial[64];
	uint64_t n;
	int fd;

	if (!out[0])
		snprintf(out, sizeof(out), "/tmp/kt-fuzz-trace.%d", (int)getpid());
	fd = memfd_create("serial", MFD_CLOEXEC);
	if (fd < 0 || kt_write_all(fd, data, size))
		abort();
	snprintf(serial, sizeof(serial), "/proc/self/fd/%d", fd);
	if (!kt_vm_take_trace(serial, out, 0, &n, NULL))
		unlink(out);
	close(fd);
	return 0;
}
