/* cli.h - the ktpack front end: the only code that prints and exits. */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <stdbool.h>

/* Exit codes: 0 success, 1 runtime failure, 2 usage. */
#define KT_EXIT_OK	0
#define KT_EXIT_FAIL	1
#define KT_EXIT_USAGE	2

struct kt_cmd;

/*
 * Finds the subcommand of argv without side effects, so that main can run
 * install_env before anything else when the subcommand needs the blobs.
 * NULL for an unknown subcommand (kt_cli_run reports it).
 */
const struct kt_cmd *kt_cli_lookup(int argc, char **argv);
bool kt_cli_needs_env(const struct kt_cmd *cmd, int argc, char **argv);
/* Runs install_env for the embedded blobs; prints its error. */
int kt_cli_install_env(void);
int kt_cli_run(const struct kt_cmd *cmd, int argc, char **argv);

#endif
