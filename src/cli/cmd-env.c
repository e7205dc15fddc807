/* cmd-env.c - ktpack env and ktpack exec: the installed blobs' paths, as
 * export lines or in a command's environment. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A value in single quotes, as sh reads it back. */
static void env_sh_quote(const char *s)
{
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

int cmd_env(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	const struct kt_blob_table *t = &kt_embedded_blobs;
	bool verify = false;
	const struct cli_opt opts[] = {
		OPT_BOOL("verify", &verify),
		OPT_END,
	};
	struct kt_err err = { 0 };
	int i = cli_parse_all(c, argc, argv, opts);

	if (i)
		return i;
	/* A file that differs is removed by the check and written again. */
	if (verify && kt_installed__verify(ctx->installed, &err)) {
		KT_INSTALL_OPTS(o, .log = cli_log);
		struct kt_installed *again = NULL;
		const char *dir = kt_installed__cache_dir(ctx->installed);
		size_t dl = dir ? strlen(dir) : 0;

		cli_say("warning: %s", err.msg);
		/* What main exported from the cache is ours: install anew.
		 * A path the user set stays theirs. */
		for (size_t k = 0; k < t->count; k++) {
			const char *v = kt_installed__path(ctx->installed, t->blobs[k].name);

			if (!kt_blob__guest_only(&t->blobs[k]) && v && dl &&
			    !strncmp(v, dir, dl) && v[dl] == '/')
				unsetenv(t->blobs[k].env);
		}
		if (kt_install(&kt_embedded_blobs, &o, &again, &err) ||
		    kt_installed__verify(again, &err)) {
			kt_installed__free(again);
			return cli_error("%s", err.msg);
		}
		kt_installed__free(ctx->installed);
		ctx->installed = again;
	}
	for (size_t k = 0; k < t->count; k++) {
		const char *v = kt_installed__path(ctx->installed, t->blobs[k].name);

		if (!v || kt_blob__guest_only(&t->blobs[k]))
			continue;
		printf("export %s=", t->blobs[k].env);
		env_sh_quote(v);
		putchar('\n');
	}
	return cli_flush();
}

int cmd_exec(const struct kt_cmd *c, int argc, char **argv, struct cli_ctx *ctx)
{
	const struct cli_opt opts[] = { OPT_END };
	int i = cli_parse(c, argc, argv, opts), e;

	(void)ctx;
	if (i < 0)
		return i;
	if (i >= argc)
		return cli_usage_error(c, "no command given");
	fflush(NULL);
	execvp(argv[i], argv + i);
	e = errno;
	cli_error("cannot run '%s': %s", argv[i], strerror(e));
	return e == ENOENT ? 127 : 126;
}
