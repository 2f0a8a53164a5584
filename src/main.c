/*
 * main.c - option parsing and dispatch. Only the command layer (this file
 * and src/cmd/) turns errors into exit status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "output.h"

struct command {
	const char *name;
	mg_cmd_fn fn;
	const char *summary;
	const char *help;
};

#define GLOBAL_HELP \
	"global options (also from the environment, then migrate.yaml; before or after the command):\n" \
	"  -d, --database URL     postgres://user:pass@host:port/db, postgresql://..., or a libpq\n" \
	"                         conninfo string (env MIGRATE_DATABASE_URL, then DATABASE_URL)\n" \
	"  -m, --migrations DIR   migration files (default ./migrations; env MIGRATE_DIR)\n" \
	"      --state PATH       SQLite state file (default ./.migrate/state.db; env MIGRATE_STATE)\n" \
	"      --config PATH      settings file (default ./migrate.yaml when present)\n" \
	"      --json             machine-readable output on stdout\n" \
	"  -q, --quiet / -v, --verbose\n" \
	"  -h, --help, --version\n"

#define DDL_HELP \
	"DDL safety options:\n" \
	"      --lock-timeout MS        wait at most this long for a table lock per try (default 500)\n" \
	"      --lock-retries N         tries after the first, with jittered backoff (default 5)\n" \
	"      --statement-timeout MS   limit for each DDL statement (default 10000)\n" \
	"      --index-timeout MS       limit for CREATE INDEX CONCURRENTLY (default 0 = none)\n" \
	"      --max-tx-age SECONDS     refuse while a transaction this old holds a lock on a\n" \
	"                               table the step changes (default 5)\n"

#define EXIT_HELP \
	"exit status: 0 done or nothing to do; 1 refused by a safety gate; 2 bad input;\n" \
	"3 database or runtime error (re-running the command repairs an interrupted step)\n"

static const struct command commands[] = {
	{ "status", mg_cmd_status, "migrations and phases, backfill progress, what to run next",
	  "usage: migrate status [--json]\n\n"
	  "Shows every migration (files and recorded ones) with its phase, backfill progress,\n"
	  "the step an interrupted phase stopped at, files edited since they were applied,\n"
	  "and the command to run next. Changes nothing.\n\n" GLOBAL_HELP "\n" EXIT_HELP },
	{ "plan", mg_cmd_plan, "the SQL each phase would run; changes nothing",
	  "usage: migrate plan [ID] [--json]\n\n"
	  "Prints, for migration ID (default: every migration not yet contracted), the SQL of\n"
	  "each phase: expand, backfill, switch-reads, contract and rollback, the tables the\n"
	  "backfill rewrites, and what a rollback or a lossy 'down' cannot carry back.\n"
	  "A migration already expanded shows the plan recorded at expand. Changes nothing.\n"
	  "ID may be 3, 0003 or 0003_rename_user_name.\n\n" GLOBAL_HELP "\n" EXIT_HELP },
	{ "expand", mg_cmd_expand, "add the new structures beside the old ones, with dual-write triggers",
	  "usage: migrate expand [ID] [options]\n\n"
	  "Expands migration ID (default: the lowest pending one): adds new columns nullable,\n"
	  "copies the old column's indexes (built concurrently) and constraints (NOT VALID),\n"
	  "and installs dual-write triggers so that the old and the new application version\n"
	  "can both write. Each table's DDL runs in one short transaction under a lock\n"
	  "timeout, retried with backoff. Refuses while a long transaction holds a lock on\n"
	  "the table. Requires every lower migration to be switched or contracted.\n\n"
	  DDL_HELP "\n" GLOBAL_HELP "\n" EXIT_HELP },
	{ "backfill", mg_cmd_backfill, "copy existing rows old -> new in small resumable batches",
	  "usage: migrate backfill [ID] [--batch-size N] [--max-rows-per-sec N] [--sleep MS]\n\n"
	  "Copies existing rows of migration ID (default: the lowest not backfilled) in keyset\n"
	  "batches over the primary key, one short statement per batch, up to the highest\n"
	  "key present at the start (newer rows are kept right by the triggers). Rows the new\n"
	  "version wrote are never overwritten. Progress is checkpointed after every batch:\n"
	  "after a crash, kill or Ctrl-C, run the same command again to resume.\n\n"
	  "backfill options:\n"
	  "      --batch-size N         rows per batch (default 1000)\n"
	  "      --max-rows-per-sec N   rate limit (default unlimited)\n"
	  "      --sleep MS             pause between batches (default 0)\n\n"
	  GLOBAL_HELP "\n" EXIT_HELP },
	{ "switch-reads", mg_cmd_switch_reads, "verify the copy and validate constraints; the new version may read",
	  "usage: migrate switch-reads [ID] [options]\n\n"
	  "Verifies that every row of migration ID (default: the lowest not switched) agrees\n"
	  "on both sides, refusing with the count and sample keys otherwise; checks that\n"
	  "every index built at expand is valid; validates the NOT VALID constraints. Triggers\n"
	  "stay in both directions, so switching traffic back stays safe.\n\n"
	  DDL_HELP "\n" GLOBAL_HELP "\n" EXIT_HELP },
	{ "contract", mg_cmd_contract, "drop triggers and the old structures (never CASCADE)",
	  "usage: migrate contract [ID] [options]\n\n"
	  "Contracts migration ID (default: the lowest not contracted): re-checks that nothing\n"
	  "new depends on the old columns, then per table in one transaction drops the\n"
	  "triggers, the marker column and the old columns (never CASCADE), moves defaults\n"
	  "and NOT NULL to the new columns and gives copied indexes and constraints their\n"
	  "original names. After contract, rolling back is impossible.\n\n"
	  DDL_HELP "\n" GLOBAL_HELP "\n" EXIT_HELP },
	{ "rollback", mg_cmd_rollback, "undo expand and backfill of a migration not contracted",
	  "usage: migrate rollback [ID] [options]\n\n"
	  "Undoes everything expand and backfill did for migration ID (default: the highest\n"
	  "one expanded, backfilled or switched), leaving the old schema as before expand,\n"
	  "with the rows the new version wrote carried back into the old columns. The\n"
	  "migration returns to pending and its recorded checksum is forgotten. Refused once\n"
	  "contracted (roll forward instead) and while a higher migration is not pending.\n\n"
	  DDL_HELP "\n" GLOBAL_HELP "\n" EXIT_HELP },
	{ NULL, NULL, NULL, NULL }
};

static void print_usage(FILE *f)
{
	fprintf(f, "usage: migrate [global options] <command> [arguments]\n\n"
		"Expand-contract schema migrations for blue-green and canary releases.\n\n"
		"commands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-14s %s\n", c->name, c->summary);
	fprintf(f, "\nA migration moves pending -> expanded -> backfilled -> switched -> contracted;\n"
		"'migrate <command> --help' explains each command.\n\n" GLOBAL_HELP "\n" EXIT_HELP);
}

int main(int argc, char **argv)
{
	struct mg_options opt;
	struct mg_err err = MG_ERR_INIT;
	const struct command *cmd = NULL;
	int rc;

	mg_options_init(&opt);
	if (mg_options_parse(&opt, argc, argv, &err) < 0) {
		mg_report_error(&err);
		mg_options_release(&opt);
		return MG_EINPUT;
	}
	if (opt.version) {
		printf("migrate %s\n", MIGRATE_VERSION);
		mg_options_release(&opt);
		return 0;
	}
	if (!opt.command) {
		int help = opt.help;

		print_usage(help ? stdout : stderr);
		mg_options_release(&opt);
		return help ? 0 : MG_EINPUT;
	}
	for (const struct command *c = commands; c->name; c++)
		if (!strcmp(c->name, opt.command))
			cmd = c;
	if (!cmd) {
		mg_err_set(&err, MG_EINPUT, "unknown command '%s'", opt.command);
		mg_err_hint(&err, "run 'migrate --help' for the list of commands");
		mg_report_error(&err);
		mg_options_release(&opt);
		return MG_EINPUT;
	}
	if (opt.help) {
		fputs(cmd->help, stdout);
		mg_options_release(&opt);
		return 0;
	}
	if (mg_options_resolve(&opt, &err) < 0) {
		mg_report_error(&err);
		mg_options_release(&opt);
		return err.code;
	}
	rc = cmd->fn(&opt);
	mg_options_release(&opt);
	return rc;
}
