/* blob.c - lookups in a table of embedded blobs (see blob.h). */
#include <ktpack/blob.h>

#include "internal.h"

#include <errno.h>
#include <string.h>

const struct kt_blob_table *kt_library_blobs(void)
{
	return &kt_guest_blobs;
}

const struct kt_blob *kt_blob_table__find(const struct kt_blob_table *t,
					  const char *name)
{
	for (size_t i = 0; t && i < t->count; i++)
		if (strcmp(t->blobs[i].name, name) == 0)
			return &t->blobs[i];
	errno = ENOENT;
	return NULL;
}

const struct kt_blob *kt_blob_table__find_env(const struct kt_blob_table *t,
					      const char *env)
{
	for (size_t i = 0; t && i < t->count; i++)
		if (strcmp(t->blobs[i].env, env) == 0)
			return &t->blobs[i];
	errno = ENOENT;
	return NULL;
}

static bool blob_is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

int kt_blob_table__check(const struct kt_blob_table *t)
{
	for (size_t i = 0; i < t->count; i++) {
		const struct kt_blob *b = &t->blobs[i];

		if (!b->name || !*b->name || !b->env || !b->sha256)
			return -EINVAL;
		if (!b->start) {
			if (b->size || b->end || *b->sha256)
				return -EINVAL;
			continue;
		}
		if (b->end < b->start || (uint64_t)(b->end - b->start) != b->size)
			return -EINVAL;
		if (!blob_is_hex64(b->sha256))
			return -EINVAL;
	}
	return 0;
}
