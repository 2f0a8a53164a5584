/*
 * cli.h - the command table (main.c) and what --help, the man page and
 * the shell completions (generate.c) share: each command's prose and the
 * option table of cli_options.h.
 */
#ifndef MG_CLI_H
#define MG_CLI_H

#include "cli_options.h"
#include "cmd.h"

struct mg_cli_command {
	const char *name;
	mg_cmd_fn fn;
	const char *summary;
	const char *help;	/* usage and prose; then the options, generated */
	const char *exit_help;	/* NULL: mg_cli_exit_help */
};

/* Ended by a zeroed entry. */
extern const struct mg_cli_command mg_cli_commands[];
extern const char mg_cli_exit_help[];
/* The subcommands of colour, space-separated. */
extern const char mg_cli_colour_subcommands[];

/* Text wrapped at width columns, lines after the first indented by
 * indent; then a newline. */
void mg_cli_wrap(struct mg_buf *out, const char *text, int indent, int width);

/* A command's prose, its driver paragraphs (\001X) filled in. */
void mg_cli_prose(struct mg_buf *out, const char *help);

/* An option's help text, a driver paragraph filled in, unwrapped, with
 * its default and variable. */
void mg_cli_option_text(struct mg_buf *out, const struct mg_opt_def *d);

/* Whether d is listed in the help of command (a MG_C_* bit; 0: the global
 * options). */
int mg_cli_option_listed(const struct mg_opt_def *d, unsigned command);

/* `migrate __generate man|bash|zsh|fish`: the man page or a completion
 * script on stdout, from the tables (hidden; run at build time). */
int mg_cmd_generate(struct mg_options *opt);

#endif
