/* cmd-blobs.c - ktpack blobs: what the binary carries. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct blobs_args {
	bool json;
};

/* A program's closure the build made empty: the program is static. */
static bool blobs_empty_closure(const struct kt_blob *b)
{
	const struct kt_blob *prog;
	char name[64];
	size_t n = strlen(b->name);

	if (n < 5 || n - 5 >= sizeof(name) || strcmp(b->name + n - 5, "_libs"))
		return false;
	memcpy(name, b->name, n - 5);
	name[n - 5] = '\0';
	prog = kt_blob_table__find_arch(&kt_embedded_blobs, name, kt_blob__arch(b));
	return prog && kt_blob__embedded(prog);
}

static void blobs_print(const struct kt_blob *b, bool guest_only)
{
	const char *env = guest_only ? "(guest only)" : b->env;
	const char *arch = kt_arch_name(kt_blob__arch(b));

	if (kt_blob__embedded(b))
		printf("%-10s %-7s %10" PRIu64 "  %s  %s\n", b->name, arch, b->size, b->sha256, env);
	else if (blobs_empty_closure(b))
		printf("%-10s %-7s %10d  %-64s  %s\n", b->name, arch, 0, "empty", env);
	else
		printf("%-10s %-7s %10d  %-64s  %s  (make %s=...)\n", b->name, arch, 0,
		       "not embedded", env, b->make_var);
}

static void blobs_json(const struct kt_blob *b, bool guest_only, bool first)
{
	printf("%s{\"name\":", first ? "" : ",");
	cli_json_str(b->name);
	fputs(",\"arch\":", stdout);
	cli_json_str(kt_arch_name(kt_blob__arch(b)));
	printf(",\"embedded\":%s,\"size\":%" PRIu64 ",\"sha256\":",
	       kt_blob__embedded(b) ? "true" : "false", b->size);
	if (kt_blob__embedded(b))
		cli_json_str(b->sha256);
	else
		fputs("null", stdout);
	fputs(",\"env\":", stdout);
	if (guest_only)
		fputs("null", stdout);
	else
		cli_json_str(b->env);
	fputs(",\"make_var\":", stdout);
	cli_json_str(b->make_var);
	printf(",\"guest_only\":%s}", guest_only ? "true" : "false");
}

int cmd_blobs(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	struct blobs_args a = { 0 };
	const struct cli_opt opts[] = {
		OPT_BOOL("json", &a.json),
		OPT_END,
	};
	const struct kt_blob_table *tabs[] = { &kt_embedded_blobs, kt_library_blobs() };
	bool first = true;
	int i;

	(void)ctx;
	i = cli_parse_all(c, argc, argv, opts);
	if (i)
		return i;
	for (size_t t = 0; t < KT_ARRAY_SIZE(tabs); t++)
		if (kt_blob_table__check(tabs[t]))
			return cli_error("the blob table does not match the embedded objects");

	if (a.json)
		putchar('[');
	for (size_t t = 0; t < KT_ARRAY_SIZE(tabs); t++) {
		for (size_t k = 0; k < tabs[t]->count; k++) {
			if (a.json)
				blobs_json(&tabs[t]->blobs[k], kt_blob__guest_only(&tabs[t]->blobs[k]), first);
			else
				blobs_print(&tabs[t]->blobs[k], kt_blob__guest_only(&tabs[t]->blobs[k]));
			first = false;
		}
	}
	if (a.json)
		puts("]");
	return cli_flush();
}
