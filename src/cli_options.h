/*
 * cli_options.h - the one table of options (design §4): for each option
 * its names, kind, value name, help line, the commands that take it, its
 * environment variable and migrate.yaml key. The parser (config.c), the
 * --help texts (main.c) and the man page and shell completions
 * (cmd/generate.c) all read this table, so they cannot drift apart.
 *
 * Everything here is static and borrowed.
 */
#ifndef MG_CLI_OPTIONS_H
#define MG_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

/* The commands, one bit each; an option's `commands` is a mask of them. */
enum mg_cmd_bit {
	MG_C_INIT = 1u << 0,
	MG_C_NEW = 1u << 1,
	MG_C_STATUS = 1u << 2,
	MG_C_PLAN = 1u << 3,
	MG_C_EXPAND = 1u << 4,
	MG_C_BACKFILL = 1u << 5,
	MG_C_SWITCH_READS = 1u << 6,
	MG_C_CONTRACT = 1u << 7,
	MG_C_ROLLBACK = 1u << 8,
	MG_C_COLOUR = 1u << 9,
	MG_C_CHECK = 1u << 10,
	MG_C_LINT = 1u << 11,
	MG_C_LOG = 1u << 12,
};
#define MG_C_ALL 0x1fffu
#define MG_N_COMMANDS 13

/* The command of bit i ("switch-reads" for MG_C_SWITCH_READS); NULL past
 * the last. */
const char *mg_cli_command_name(size_t i);
/* The bit of a command name ("color" is "colour"), 0 for none. */
unsigned mg_cli_command_bit(const char *name);

enum mg_opt_kind {
	MG_OPT_STR,
	MG_OPT_INT,		/* a non-negative whole number into an int */
	MG_OPT_LONG,		/* the same into a long */
	MG_OPT_FLAG,
	MG_OPT_LIST,		/* repeatable, the values joined with ',' */
	MG_OPT_DURATION,	/* mg_parse_duration, into an int or long field */
	MG_OPT_VERBOSITY,	/* -q / -v: mg_verbosity */
	MG_OPT_OWN,		/* a command's own (init, new: cmd/new.c takes it) */
};

struct mg_opt_def {
	char short_name;
	const char *long_name;
	enum mg_opt_kind kind;
	size_t offset;		/* in struct mg_options */
	const char *value_name;	/* NULL for a flag */
	unsigned commands;	/* MG_C_*; MG_C_ALL: a global option */
	const char *env;	/* environment variable, or NULL */
	const char *yaml;	/* migrate.yaml key, or NULL */
	/* durations: the unit of a bare number and of the field (ms) */
	long bare_unit_ms, field_unit_ms;
	int field_is_long;	/* the field is a long (else an int) */
	const char *default_text;	/* shown in --help, or NULL */
	const char *help;	/* \001X: the driver paragraph X (main.c) */
	const char *values;	/* fixed values, space-separated, for completion */
};

/* The table, ended by a zeroed entry. */
extern const struct mg_opt_def mg_opt_defs[];
extern const size_t mg_n_opt_defs;

/* The option named name (n bytes) that command (a MG_C_* bit, 0 before the
 * command is known) would take: an option of that command first, then
 * any of that name. NULL for an unknown name. */
const struct mg_opt_def *mg_opt_find_long(const char *name, size_t n, unsigned command);
const struct mg_opt_def *mg_opt_find_short(char c);

struct mg_options;
/* Whether the option named long_name was given on the command line (not
 * taken from the environment or migrate.yaml). */
int mg_opt_on_command_line(const struct mg_options *opt, const char *long_name);

/* The option name nearest to name (n bytes), for "did you mean"; NULL when
 * none is close. */
const char *mg_opt_nearest(const char *name, size_t n);

/* The commands that take d, "backfill" or "expand, switch-reads, ...",
 * into out. */
void mg_opt_commands_text(const struct mg_opt_def *d, char *out, size_t size);

/* "--lock-timeout DURATION" or "-d, --database URL" */
void mg_opt_synopsis(const struct mg_opt_def *d, char *out, size_t size);

/* The help line's tail: " (default 500ms; env MIGRATE_LOCK_TIMEOUT)" */
void mg_opt_suffix(const struct mg_opt_def *d, char *out, size_t size);

/* How durations are written, for error messages and help. */
#define MG_DURATION_FORMS "500ms, 2s, 1.5s, 5m, 1h30m or 1d"

#endif
