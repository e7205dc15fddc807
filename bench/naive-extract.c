/* naive-extract.c - BENCHMARK BASELINE, not part of ktpack.
 *
 * What ktstr first did at every start: write the embedded blob to a new
 * mkstemp file, chmod it, and use that path.  Linked with the same blob
 * object as the ktpack it is compared with. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

extern const unsigned char _binary_wprof_start[];
extern const unsigned char _binary_wprof_end[];

int main(int argc, char **argv)
{
	const unsigned char *p = _binary_wprof_start;
	size_t left = (size_t)(_binary_wprof_end - _binary_wprof_start);
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/wprof.XXXXXX", argc > 1 ? argv[1] : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	while (left) {
		ssize_t w = write(fd, p, left);

		if (w < 0) {
			perror(path);
			return 1;
		}
		p += w;
		left -= (size_t)w;
	}
	fchmod(fd, 0755);
	close(fd);
	printf("export KTSTR_WPROF_PATH='%s'\n", path);
	return 0;
}
