/* main.c - ktpack's entry: install_env first, then the subcommand. */
#include "cli.h"

int main(int argc, char **argv)
{
	const struct kt_cmd *cmd = kt_cli_lookup(argc, argv);

	/* setenv() is not thread-safe: the blobs are installed and their
	 * paths exported before anything else runs. */
	if (kt_cli_needs_env(cmd, argc, argv) && kt_cli_install_env())
		return KT_EXIT_FAIL;
	return kt_cli_run(cmd, argc, argv);
}
