/*
 * cli_options.c - the table of every option: the parser, --help, the man
 * page and the completions read it (cli_options.h).
 */
#include "cli_options.h"

#include <stdint.h>
#include <string.h>

#include "config.h"

#define OFF(f) offsetof(struct mg_options, f)

/* Commands that open the database (the connection settings apply). */
#define DB_CMDS (MG_C_STATUS | MG_C_PLAN | MG_C_EXPAND | MG_C_BACKFILL | \
		 MG_C_SWITCH_READS | MG_C_CONTRACT | MG_C_ROLLBACK | MG_C_COLOUR | \
		 MG_C_CHECK)
/* Commands that run DDL steps. */
#define DDL_CMDS (MG_C_EXPAND | MG_C_SWITCH_READS | MG_C_CONTRACT | MG_C_ROLLBACK)
/* Commands that take the state file's lock. */
#define LOCK_CMDS (DDL_CMDS | MG_C_BACKFILL | MG_C_COLOUR)

#define MS 1L
#define SEC 1000L

static const char *const command_names[MG_N_COMMANDS + 1] = {
	"init", "new", "status", "plan", "expand", "backfill", "switch-reads",
	"contract", "rollback", "colour", "check", "lint", "log", NULL
};

const char *mg_cli_command_name(size_t i)
{
	return i < MG_N_COMMANDS ? command_names[i] : NULL;
}

unsigned mg_cli_command_bit(const char *name)
{
	if (name && !strcmp(name, "color"))
		name = "colour";
	for (size_t i = 0; name && i < MG_N_COMMANDS; i++)
		if (!strcmp(command_names[i], name))
			return 1u << i;
	return 0;
}

/*
 * The order is the order of --help: global options, then the connection
 * and DDL settings, then each command's own. An option without help is
 * hidden (a synonym), though the parser and the completions know it.
 */
const struct mg_opt_def mg_opt_defs[] = {
	/* ---- global ---- */
	{ 'd', "database", MG_OPT_STR, OFF(database), "URL", MG_C_ALL,
	  "MIGRATE_DATABASE_URL", "database", 0, 0, 0, NULL, "\001U", NULL },
	{ 'm', "migrations", MG_OPT_STR, OFF(migrations), "DIR", MG_C_ALL,
	  "MIGRATE_DIR", "migrations", 0, 0, 0, "./migrations",
	  "migration files", NULL },
	{ 0, "state", MG_OPT_STR, OFF(state), "PATH", MG_C_ALL,
	  "MIGRATE_STATE", "state", 0, 0, 0, "./.migrate/state.db",
	  "SQLite state file; within 'colour' --state is the colour's state, "
	  "so there give --state-file", NULL },
	{ 0, "state-file", MG_OPT_STR, OFF(state), "PATH", MG_C_ALL,
	  "MIGRATE_STATE", NULL, 0, 0, 0, NULL,
	  "the state file, in every command (the same as --state PATH)", NULL },
	{ 0, "config", MG_OPT_STR, OFF(config), "PATH", MG_C_ALL,
	  NULL, NULL, 0, 0, 0, "./migrate.yaml when present", "settings file", NULL },
	{ 0, "json", MG_OPT_FLAG, OFF(json), NULL, MG_C_ALL,
	  NULL, NULL, 0, 0, 0, NULL, "machine-readable output on stdout", NULL },
	{ 0, "network-timeout", MG_OPT_DURATION, OFF(network_timeout_ms), "DURATION",
	  MG_C_ALL, "MIGRATE_NETWORK_TIMEOUT", "network_timeout", MS, MS, 0, "10s",
	  "a server silent this long is asked on a second connection whether it "
	  "still runs the statement; if not, or if that gets no answer either, "
	  "the connection is given up (exit 3). Also the default connect_timeout, "
	  "TCP keepalives and tcp_user_timeout where the URL sets none", NULL },
	{ 0, "metrics-file", MG_OPT_STR, OFF(metrics_file), "PATH", MG_C_ALL,
	  "MIGRATE_METRICS_FILE", NULL, 0, 0, 0, NULL,
	  "write Prometheus text-format metrics to PATH, atomically, after the "
	  "command and during a backfill", NULL },
	{ 0, "fleet", MG_OPT_STR, OFF(fleet), "FILE", MG_C_ALL,
	  "MIGRATE_FLEET", NULL, 0, 0, 0, NULL,
	  "run the command on every database of the fleet file FILE, each in its "
	  "own process with its own state file; a summary table and the worst exit "
	  "status (see 'Fleets' in docs/operations.md); MIGRATE_FLEET applies "
	  "only to the commands that touch a database (not init, new, lint), and "
	  "not with --database", NULL },
	{ 0, "fleet-jobs", MG_OPT_INT, OFF(fleet_jobs), "N", MG_C_ALL,
	  "MIGRATE_FLEET_JOBS", NULL, 0, 0, 0, "the fleet file's concurrency, else 4",
	  "with --fleet: how many targets run at once (1-256)", NULL },
	{ 0, "fleet-gate-only", MG_OPT_FLAG, OFF(fleet_gate_only), NULL,
	  MG_C_CONTRACT | MG_C_ROLLBACK, NULL, NULL, 0, 0, 0, NULL,
	  "with --fleet: run the fleet-wide colour gate and stop (exit 0: the "
	  "command may run on every target), for pipelines that run one job per "
	  "target", NULL },
	{ 'q', "quiet", MG_OPT_VERBOSITY, 0, NULL, MG_C_ALL,
	  NULL, NULL, 0, 0, 0, NULL, "errors and warnings only on stderr", NULL },
	{ 'v', "verbose", MG_OPT_VERBOSITY, 0, NULL, MG_C_ALL,
	  NULL, NULL, 0, 0, 0, NULL, "more detail on stderr", NULL },
	{ 'h', "help", MG_OPT_FLAG, OFF(help), NULL, MG_C_ALL,
	  NULL, NULL, 0, 0, 0, NULL, "this help ('migrate help CMD': a command's)", NULL },
	{ 'V', "version", MG_OPT_FLAG, OFF(version), NULL, MG_C_ALL,
	  NULL, NULL, 0, 0, 0, NULL,
	  "the version, and whether test hooks are compiled in", NULL },

	/* ---- the connection and DDL steps ---- */
	{ 0, "lock-timeout", MG_OPT_DURATION, OFF(lock_timeout_ms), "DURATION",
	  DB_CMDS, "MIGRATE_LOCK_TIMEOUT", "lock_timeout", MS, MS, 0, "500ms",
	  "wait at most this long for a lock per try", NULL },
	{ 0, "lock-retries", MG_OPT_INT, OFF(lock_retries), "N", DDL_CMDS,
	  "MIGRATE_LOCK_RETRIES", "lock_retries", 0, 0, 0, "5",
	  "tries after the first, with jittered backoff", NULL },
	{ 0, "statement-timeout", MG_OPT_DURATION, OFF(statement_timeout_ms), "DURATION",
	  DDL_CMDS | MG_C_BACKFILL, "MIGRATE_STATEMENT_TIMEOUT", "statement_timeout",
	  MS, MS, 0, "10s", "limit for each DDL statement", NULL },
	{ 0, "index-timeout", MG_OPT_DURATION, OFF(index_timeout_ms), "DURATION",
	  DDL_CMDS, "MIGRATE_INDEX_TIMEOUT", "index_timeout", MS, MS, 0, "0 = none",
	  "limit for CREATE INDEX CONCURRENTLY", NULL },
	{ 0, "max-tx-age", MG_OPT_DURATION, OFF(max_tx_age_s), "DURATION", DDL_CMDS,
	  "MIGRATE_MAX_TX_AGE", "max_tx_age", SEC, SEC, 0, "5s",
	  "refuse while a transaction this old holds a lock on a table the step "
	  "changes (whole seconds)", NULL },
	{ 0, "wait-lock", MG_OPT_DURATION, OFF(wait_lock_ms), "DURATION", LOCK_CMDS,
	  "MIGRATE_WAIT_LOCK", NULL, MS, MS, 0, "0: exit 3 at once",
	  "wait up to DURATION for another migrate holding the state file's lock "
	  "instead of exiting 3", NULL },

	/* ---- backfill ---- */
	{ 0, "jobs", MG_OPT_INT, OFF(jobs), "N", MG_C_BACKFILL,
	  "MIGRATE_JOBS", "jobs", 0, 0, 0, "1",
	  "workers, each on its own connection over its own part of the key "
	  "range (1-64)", NULL },
	{ 0, "target-batch-ms", MG_OPT_DURATION, OFF(target_batch_ms), "DURATION",
	  MG_C_BACKFILL, "MIGRATE_TARGET_BATCH_MS", "target_batch_ms", MS, MS, 0,
	  "20ms", "adapt batch sizes to take about this long each (at least 10ms); "
	  "short batches hold row locks briefly", NULL },
	{ 0, "batch-size", MG_OPT_INT, OFF(batch_size), "N", MG_C_BACKFILL,
	  "MIGRATE_BATCH_SIZE", "batch_size", 0, 0, 0, NULL,
	  "fixed rows per batch instead (a key span of N for a single integer key)",
	  NULL },
	{ 0, "max-rows-per-sec", MG_OPT_LONG, OFF(max_rows_per_sec), "N", MG_C_BACKFILL,
	  "MIGRATE_MAX_ROWS_PER_SEC", "max_rows_per_sec", 0, 0, 0, "unlimited",
	  "rate limit over all workers", NULL },
	{ 0, "sleep", MG_OPT_DURATION, OFF(sleep_ms), "DURATION", MG_C_BACKFILL,
	  "MIGRATE_SLEEP", "sleep", MS, MS, 0, "0",
	  "pause after every batch", NULL },
	{ 0, "max-lag", MG_OPT_DURATION, OFF(max_lag_ms), "DURATION", MG_C_BACKFILL,
	  "MIGRATE_MAX_LAG", "max_lag", MS, MS, 0, NULL, "\001L", NULL },
	{ 0, "max-load", MG_OPT_INT, OFF(max_load), "N", MG_C_BACKFILL,
	  "MIGRATE_MAX_LOAD", "max_load", 0, 0, 0, NULL, "\001l", NULL },
	{ 0, "pause-file", MG_OPT_STR, OFF(pause_file), "PATH", MG_C_BACKFILL,
	  "MIGRATE_PAUSE_FILE", "pause_file", 0, 0, 0, NULL,
	  "pause while PATH exists", NULL },
	{ 0, "max-lock-waits", MG_OPT_INT, OFF(max_lock_waits), "N", MG_C_BACKFILL,
	  "MIGRATE_MAX_LOCK_WAITS", "max_lock_waits", 0, 0, 0, NULL,
	  "pause while more than N other sessions wait for a row lock (read "
	  "before batches, every 50 ms at most)", NULL },
	{ 0, "critical-load", MG_OPT_INT, OFF(critical_load), "N", MG_C_BACKFILL,
	  "MIGRATE_CRITICAL_LOAD", "critical_load", 0, 0, 0, NULL,
	  "stop (checkpointed, exit 3, resumable) when more than N sessions are "
	  "active, counted as by --max-load, on two readings "
	  "--critical-load-interval apart", NULL },
	{ 0, "critical-load-interval", MG_OPT_DURATION, OFF(critical_load_interval_ms),
	  "DURATION", MG_C_BACKFILL, "MIGRATE_CRITICAL_LOAD_INTERVAL",
	  "critical_load_interval", MS, MS, 0, "1s",
	  "time between those two readings (0: the first reading stops it)", NULL },
	{ 0, "max-runtime", MG_OPT_DURATION, OFF(max_runtime_ms), "DURATION",
	  MG_C_BACKFILL, "MIGRATE_MAX_RUNTIME", NULL, MS, MS, 1, "none",
	  "stop after DURATION, checkpointed, exit 3; run again to resume", NULL },
	{ 0, "verify", MG_OPT_FLAG, OFF(verify), NULL, MG_C_BACKFILL,
	  NULL, NULL, 0, 0, 0, NULL,
	  "only compare both sides of every row: the count of rows that disagree "
	  "and sample keys (exit 1 if any)", NULL },

	/* ---- status ---- */
	{ 0, "events", MG_OPT_INT, OFF(events), "N", MG_C_STATUS,
	  NULL, NULL, 0, 0, 0, NULL, "add the newest N events of the log", NULL },
	{ 0, "watch", MG_OPT_FLAG, OFF(watch), NULL, MG_C_STATUS,
	  NULL, NULL, 0, 0, 0, NULL,
	  "refresh in place on a terminal, every --interval, until interrupted", NULL },
	{ 0, "interval", MG_OPT_DURATION, OFF(interval_ms), "DURATION", MG_C_STATUS,
	  "MIGRATE_INTERVAL", NULL, MS, MS, 0, "2s",
	  "time between refreshes of --watch", NULL },

	/* ---- colour ---- */
	{ 0, "state", MG_OPT_STR, OFF(colour_state), "STATE", MG_C_COLOUR,
	  NULL, NULL, 0, 0, 0, NULL,
	  "the colour's state: live, standby or retired (register: default live)",
	  "live standby retired" },
	{ 0, "colour-state", MG_OPT_STR, OFF(colour_state), "STATE", MG_C_COLOUR,
	  NULL, NULL, 0, 0, 0, NULL, "the same as --state STATE (also --color-state)",
	  "live standby retired" },
	{ 0, "color-state", MG_OPT_STR, OFF(colour_state), "STATE", MG_C_COLOUR,
	  NULL, NULL, 0, 0, 0, NULL, NULL, "live standby retired" },
	{ 0, "app-version", MG_OPT_STR, OFF(app_version), "S", MG_C_COLOUR,
	  NULL, NULL, 0, 0, 0, NULL, "register: the application version", NULL },
	{ 0, "requires", MG_OPT_STR, OFF(requires), "V", MG_C_COLOUR | MG_C_CHECK,
	  NULL, NULL, 0, 0, 0, NULL,
	  "the schema version (migration id, 0 for none) the application requires",
	  NULL },
	{ 0, "match", MG_OPT_STR, OFF(match), "PATTERN", MG_C_COLOUR,
	  NULL, NULL, 0, 0, 0, NULL,
	  "the colour's sessions as the database shows them ('*' any run, '?' one "
	  "character)", NULL },
	{ 0, "ttl", MG_OPT_DURATION, OFF(ttl_s), "DURATION", MG_C_COLOUR,
	  NULL, NULL, SEC, SEC, 1, "none",
	  "without a heartbeat for that long the colour is shown stale (whole "
	  "seconds)", NULL },

	/* ---- check, lint, log ---- */
	{ 0, "offline", MG_OPT_FLAG, OFF(offline), NULL, MG_C_CHECK,
	  NULL, NULL, 0, 0, 0, NULL, "the files alone: no database, no state", NULL },
	{ 0, "no-lint", MG_OPT_FLAG, OFF(no_lint), NULL, MG_C_CHECK,
	  NULL, NULL, 0, 0, 0, NULL, "skip lint", NULL },
	{ 0, "format", MG_OPT_STR, OFF(format), "F", MG_C_LINT,
	  NULL, NULL, 0, 0, 0, "text",
	  "text (a summary on stderr), json (also --json), sarif (SARIF 2.1.0, for "
	  "GitHub code scanning), github (workflow annotations), gcc "
	  "(file:line:col: error: ...)", "text json sarif github gcc" },
	{ 0, "dialect", MG_OPT_STR, OFF(dialect), "D", MG_C_LINT | MG_C_CHECK,
	  NULL, NULL, 0, 0, 0, NULL,
	  "postgres or mysql (MySQL, MariaDB): the SQL's dialect; default: the "
	  "--database URL's, else postgres", "postgres mysql" },
	{ 0, "error", MG_OPT_LIST, OFF(lint_error), "RULE", MG_C_LINT | MG_C_CHECK,
	  NULL, NULL, 0, 0, 0, NULL,
	  "report RULE as an error (fails the run); repeatable, or a comma list", NULL },
	{ 0, "warning", MG_OPT_LIST, OFF(lint_warning), "RULE", MG_C_LINT | MG_C_CHECK,
	  NULL, NULL, 0, 0, 0, NULL,
	  "report RULE as a warning (does not fail the run)", NULL },
	{ 0, "disable", MG_OPT_LIST, OFF(lint_disable), "RULE", MG_C_LINT | MG_C_CHECK,
	  NULL, NULL, 0, 0, 0, NULL, "do not run RULE", NULL },
	{ 0, "list-rules", MG_OPT_FLAG, OFF(list_rules), NULL, MG_C_LINT,
	  NULL, NULL, 0, 0, 0, NULL,
	  "the rules: id, default severity, category, summary", NULL },
	{ 0, "limit", MG_OPT_INT, OFF(limit), "N", MG_C_LOG,
	  NULL, NULL, 0, 0, 0, "50", "the newest N events", NULL },

	/* ---- init, new: taken out of argv by cmd/new.c ---- */
	{ 0, "dir", MG_OPT_OWN, 0, "DIR", MG_C_INIT, NULL, NULL, 0, 0, 0,
	  "./migrations", "the migrations folder to create", NULL },
	{ 0, "force", MG_OPT_OWN, 0, NULL, MG_C_INIT, NULL, NULL, 0, 0, 0, NULL,
	  "replace an existing migrate.yaml", NULL },
	{ 0, "op", MG_OPT_OWN, 0, "OPERATION", MG_C_NEW, NULL, NULL, 0, 0, 0, NULL,
	  "the operation the file holds: add_column, rename_column, alter_column, "
	  "drop_column, create_index, drop_index, create_table, drop_table, sql, ... "
	  "(docs/file-format.md; an unknown one names the closest)", "add_column rename_column alter_column "
	  "drop_column create_index drop_index create_table drop_table sql" },
	{ 0, "description", MG_OPT_OWN, 0, "TEXT", MG_C_NEW, NULL, NULL, 0, 0, 0,
	  "NAME in words", "the file's description", NULL },
	{ 0, NULL, MG_OPT_FLAG, 0, NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

const size_t mg_n_opt_defs = sizeof(mg_opt_defs) / sizeof(mg_opt_defs[0]) - 1;

_Static_assert(sizeof(mg_opt_defs) / sizeof(mg_opt_defs[0]) <= MG_OPT_MAX,
	       "struct mg_options' given[] is too small for the option table");

int mg_opt_on_command_line(const struct mg_options *opt, const char *long_name)
{
	const struct mg_opt_def *d = mg_opt_find_long(long_name, strlen(long_name), 0);

	return d && opt->given[d - mg_opt_defs] == MG_FROM_COMMAND_LINE;
}

const struct mg_opt_def *mg_opt_find_long(const char *name, size_t n, unsigned command)
{
	const struct mg_opt_def *any = NULL;

	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		if (strlen(d->long_name) != n || strncmp(d->long_name, name, n))
			continue;
		if (!command || (d->commands & command))
			return d;
		if (!any)
			any = d;
	}
	return any;
}

const struct mg_opt_def *mg_opt_find_short(char c)
{
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++)
		if (d->short_name && d->short_name == c)
			return d;
	return NULL;
}

/* Edit distance, a swap of two neighbours counting as one edit ("jbos"
 * is one typo away from "jobs", not two). */
static size_t typo_distance(const char *a, const char *b)
{
	size_t la = strlen(a), d = mg_edit_distance(a, b);

	if (d == 2 && la == strlen(b))
		for (size_t i = 0; i + 1 < la; i++)
			if (a[i] != b[i])
				return a[i] == b[i + 1] && a[i + 1] == b[i] &&
				       !strcmp(a + i + 2, b + i + 2) ? 1 : d;
	return d;
}

const char *mg_opt_nearest(const char *name, size_t n)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	char word[65];

	if (n >= sizeof(word))
		return NULL;
	memcpy(word, name, n);
	word[n] = '\0';
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		size_t dist = typo_distance(word, d->long_name);

		if (dist < best_d) {
			best_d = dist;
			best = d->long_name;
		}
	}
	/* close enough to be a typo: at most 2 edits, fewer for short words */
	return best && best_d <= (n <= 3 ? 1u : 2u) ? best : NULL;
}

void mg_opt_commands_text(const struct mg_opt_def *d, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < MG_N_COMMANDS && len < size; i++)
		if (d->commands & (1u << i))
			len += (size_t)snprintf(out + len, size - len, "%s%s",
						len ? ", " : "", command_names[i]);
}

void mg_opt_synopsis(const struct mg_opt_def *d, char *out, size_t size)
{
	if (d->short_name)
		snprintf(out, size, "-%c, --%s%s%s", d->short_name, d->long_name,
			 d->value_name ? " " : "", d->value_name ? d->value_name : "");
	else
		snprintf(out, size, "--%s%s%s", d->long_name,
			 d->value_name ? " " : "", d->value_name ? d->value_name : "");
}

void mg_opt_suffix(const struct mg_opt_def *d, char *out, size_t size)
{
	const char *env = d->env;
	size_t len = 0;

	/* --state-file shares --state's variable: said once, at --state */
	if (!strcmp(d->long_name, "state-file"))
		env = NULL;
	out[0] = '\0';
	if (d->default_text)
		len += (size_t)snprintf(out + len, size - len, "default %s", d->default_text);
	if (d->kind == MG_OPT_DURATION && len < size)
		len += (size_t)snprintf(out + len, size - len, "%sa bare number is %s",
					len ? "; " : "", d->bare_unit_ms == 1 ? "ms" : "seconds");
	if (env && len < size)
		len += (size_t)snprintf(out + len, size - len, "%senv %s%s", len ? "; " : "", env,
					!strcmp(env, "MIGRATE_DATABASE_URL") ? ", then DATABASE_URL" : "");
	if (len && len + 3 < size) {
		memmove(out + 2, out, len + 1);
		out[0] = ' ';
		out[1] = '(';
		strcat(out, ")");
	}
}
