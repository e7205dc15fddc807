/* blob.c - lookups in a table of embedded blobs (see blob.h). */
#include <ktpack/blob.h>

#include "internal.h"

#include <errno.h>
#include <string.h>

const struct kt_blob_table *kt_library_blobs(void)
{
	return &kt_guest_blobs;
}

/* The slot's architecture, as the manifest gave it. */
static enum kt_arch blob_slot_arch(const struct kt_blob *b)
{
	enum kt_arch a = KT_ARCH_NONE;

	if (b->arch && *b->arch && kt_arch_parse(b->arch, &a))
		return KT_ARCH_NONE;	/* one this library does not know */
	return kt_arch_or_native(a);
}

enum kt_arch kt_blob__arch(const struct kt_blob *b)
{
	enum kt_arch a;

	if (kt_blob__embedded(b) && !kt_arch_of_elf(b->start, (size_t)b->size, &a))
		return a;
	return blob_slot_arch(b);
}

const struct kt_blob *kt_blob_table__find_arch(const struct kt_blob_table *t,
					       const char *name, enum kt_arch arch)
{
	arch = kt_arch_or_native(arch);
	for (size_t i = 0; t && i < t->count; i++)
		if (strcmp(t->blobs[i].name, name) == 0 && blob_slot_arch(&t->blobs[i]) == arch)
			return &t->blobs[i];
	errno = ENOENT;
	return NULL;
}

const struct kt_blob *kt_blob_table__find(const struct kt_blob_table *t,
					  const char *name)
{
	return kt_blob_table__find_arch(t, name, KT_ARCH_NONE);
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
