/*
 * config.h - global options (design §4): from the command line, then the
 * environment, then migrate.yaml, then defaults.
 *
 * Ownership: struct mg_options owns its strings; mg_options_release().
 */
#ifndef MG_CONFIG_H
#define MG_CONFIG_H

#include "util.h"

/* At least the rows of the option table (cli_options.c asserts it). */
#define MG_OPT_MAX 96
enum { MG_FROM_COMMAND_LINE = 1, MG_FROM_ENV, MG_FROM_CONFIG };

struct mg_options {
	char *database;		/* URL or conninfo; NULL when none given */
	char *migrations;	/* default ./migrations */
	char *state;		/* default ./.migrate/state.db */
	char *config;		/* --config PATH, else ./migrate.yaml if present */
	int json;
	int help;
	int version;
	/* DDL safety */
	int lock_timeout_ms;	/* default 500 */
	int statement_timeout_ms;	/* default 10000 */
	int index_timeout_ms;	/* default 0 = none */
	int lock_retries;	/* default 5 */
	int max_tx_age_s;	/* default 5 */
	int network_timeout_ms;	/* default 10000: see MG_NETWORK_TIMEOUT_MS */
	/* backfill */
	int batch_size;		/* 0 (default) = adaptive */
	long max_rows_per_sec;	/* 0 = unlimited */
	int sleep_ms;
	int jobs;		/* default 1 */
	int target_batch_ms;	/* adaptive batches: default 100 */
	int max_lag_ms;		/* 0 = none */
	int max_load;		/* 0 = none */
	int max_lock_waits;	/* 0 = none */
	int critical_load;	/* 0 = none */
	int critical_load_interval_ms;	/* default 1000; 0 = the first reading stops */
	char *pause_file;	/* NULL = none */
	int verify;		/* backfill --verify: verify only */
	/* colours, check, log */
	char *app_version;	/* --app-version S */
	char *requires;		/* --requires V */
	char *colour_state;	/* --state live|standby|retired */
	char *match;		/* --match GLOB */
	long ttl_s;		/* --ttl SECONDS, 0 = none */
	int offline;		/* --offline */
	int events;		/* --events N (status), 0 = none */
	int limit;		/* --limit N (log), default 50 */
	/* lint, check (issue 14) */
	char *format;		/* --format text|json|sarif|github|gcc */
	char *dialect;		/* --dialect postgres|mysql */
	char *lint_error;	/* --error RULE (repeatable): comma-joined */
	char *lint_warning;	/* --warning RULE */
	char *lint_disable;	/* --disable RULE */
	int list_rules;		/* --list-rules */
	int no_lint;		/* check --no-lint */
	/* the operator's side (issue 16) */
	int watch;		/* status --watch */
	int interval_ms;	/* status --watch --interval DURATION, default 2000 */
	char *metrics_file;	/* --metrics-file PATH: Prometheus text format */
	int wait_lock_ms;	/* --wait-lock DURATION: wait for another runner; 0 = exit 3 at once */
	long max_runtime_ms;	/* backfill --max-runtime DURATION: checkpoint and exit 3 resumably */
	/* fleets (issue 17) */
	char *fleet;		/* --fleet FILE: run the command on every target */
	int fleet_jobs;		/* --fleet-jobs N, 0 = the fleet file's concurrency */
	int fleet_gate_only;	/* contract/rollback --fleet-gate-only */
	/* what is left after the options: the command and its arguments */
	const char *command;
	char **args;
	int n_args;
	/* where each row of mg_opt_defs got its value (MG_FROM_*, 0: the
	 * default): mg_options_check_command checks the command line's, and
	 * a value out of range names its source */
	unsigned char given[MG_OPT_MAX];
};

void mg_options_init(struct mg_options *o);
void mg_options_release(struct mg_options *o);

/*
 * Parse argv: options may stand before or after the command. Fills o from
 * the command line only. 0 or -1 (MG_EINPUT naming the argument).
 */
int mg_options_parse(struct mg_options *o, int argc, char **argv,
		     struct mg_err *err);

/*
 * After mg_options_parse, with o->command known to be command (a MG_C_*
 * bit of cli_options.h): every option given must be one the command
 * takes. 0 or -1 (MG_EINPUT naming the option and the commands that take
 * it).
 */
int mg_options_check_command(const struct mg_options *o, unsigned command,
			     struct mg_err *err);

/*
 * Fill what the command line left unset from the environment
 * (MIGRATE_DATABASE_URL, DATABASE_URL, and each option's variable of the
 * option table: MIGRATE_DIR, MIGRATE_STATE, MIGRATE_JOBS, ...), then
 * from migrate.yaml (--config or ./migrate.yaml), then defaults. 0 or -1
 * (MG_EINPUT for a bad migrate.yaml, naming file:line:column, or a bad
 * value in the environment, naming the variable).
 */
int mg_options_resolve(struct mg_options *o, struct mg_err *err);

#endif
