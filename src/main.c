/*
 * main.c - option parsing and dispatch. Only the command layer (this file
 * and src/cmd/) turns errors into exit status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "driver.h"
#include "metrics.h"
#include "output.h"

struct command {
	const char *name;
	mg_cmd_fn fn;
	const char *summary;
	const char *help;	/* then the global options and exit_help */
	const char *exit_help;	/* NULL: EXIT_HELP */
};

/* The global options; --database's URL forms come from the drivers
 * (print_global_help). */
#define GLOBAL_HELP_HEAD \
	"global options (also from the environment, then migrate.yaml; before or after the command):\n"
#define DATABASE_OPTION "  -d, --database URL     "
#define GLOBAL_HELP \
	"                         (env MIGRATE_DATABASE_URL, then DATABASE_URL)\n" \
	"  -m, --migrations DIR   migration files (default ./migrations; env MIGRATE_DIR)\n" \
	"      --state PATH       SQLite state file (default ./.migrate/state.db; env MIGRATE_STATE)\n" \
	"      --config PATH      settings file (default ./migrate.yaml when present)\n" \
	"      --json             machine-readable output on stdout\n" \
	"      --network-timeout MS  a server silent this long is asked on a second\n" \
	"                         connection whether it still runs the statement; if not,\n" \
	"                         or if that gets no answer either, the connection is given\n" \
	"                         up (exit 3). Default 10000; also the default connect_timeout,\n" \
	"                         TCP keepalives and tcp_user_timeout where the URL sets none\n" \
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

/*
 * Paragraphs that name what differs by database: the drivers' help notes
 * (mg_driver_help_note) go between before and after, and the paragraph is
 * wrapped at the width it was written at, continuing at column indent.
 * A help text places one with its marker.
 */
#define AT_MAX_LAG "\001L"
#define AT_MAX_LOAD "\001l"
#define AT_MATCH "\001m"

static const struct driver_paragraph {
	char marker;
	enum mg_help_note note;
	const char *text;		/* up to the notes */
	const char *before, *after;	/* around the notes, when there are any */
	const char *rest;		/* after the notes */
	int indent, width;
} driver_paragraphs[] = {
	{ 'L', MG_HELP_MAX_LAG, "pause while the slowest standby lags more than MS; pause "
	  "also while the lag cannot be read", " (", ")", "", 29, 51 },
	{ 'l', MG_HELP_MAX_LOAD, "pause while more than N sessions of the database are "
	  "active", " (", ")", "; migrate's own not counted", 29, 57 },
	{ 'm', MG_HELP_MATCH, "A colour is alive while it is live or standby, or while the "
	  "database shows sessions matching its --match pattern (", "", "; ",
	  "'*' matches any run of characters, '?' one character, the rest is literal; "
	  "migrate's own sessions never match), or when those sessions cannot be seen.", 0, 88 },
};

#define EXIT_HELP \
	"exit status: 0 done or nothing to do; 1 refused by a safety gate; 2 bad input;\n" \
	"3 database or runtime error (re-running the command repairs an interrupted step)\n" \
	"SIGINT/SIGTERM cancel the running statement on the server and exit 3 within a few\n" \
	"seconds (re-running resumes); a second signal exits at once\n"

static const struct command commands[] = {
	{ "init", mg_cmd_init, "start a project: migrate.yaml and the migrations folder",
	  "usage: migrate init [--database URL] [--dir DIR] [--force] [--config PATH]\n\n"
	  "Writes migrate.yaml (or --config PATH) with every setting commented out at its\n"
	  "default, and creates the migrations folder (default ./migrations, or --dir DIR)\n"
	  "with a .gitkeep. --database URL is written into migrate.yaml: a URL holding a\n"
	  "password is refused (the file belongs in the repository; the password goes in\n"
	  "PGPASSWORD, ~/.pgpass or ~/.my.cnf, or the whole URL in MIGRATE_DATABASE_URL).\n"
	  "An existing migrate.yaml is kept (exit 2) unless --force; the folder and the\n"
	  "files in it are never touched. Reads no settings and needs no database.\n\n", NULL },
	{ "new", mg_cmd_new, "write the next numbered migration file, its keys to fill in",
	  "usage: migrate new NAME [--op OPERATION] [--KEY VALUE ...] [--description TEXT]\n\n"
	  "Writes NNNN_NAME.yaml in the migrations folder: NNNN is the highest id there plus\n"
	  "one; NAME is lowercased, '-' and ' ' become '_' (letters, digits and '_' only).\n"
	  "With --op, the file holds that operation with every key it takes: the ones given\n"
	  "as --KEY VALUE filled in, the required ones left empty (migrate refuses the file,\n"
	  "naming the line, until they are filled in), the optional ones commented out with\n"
	  "their meaning and default. Without --op, a commented list of the operations.\n"
	  "Never overwrites a file. Needs no database. Prints the path and what to fill in.\n\n"
	  "  --op OPERATION     add_column, rename_column, alter_column, drop_column,\n"
	  "                     create_index, drop_index, create_table, drop_table, sql, ...\n"
	  "                     (docs/file-format.md; an unknown one names the closest)\n"
	  "  --KEY VALUE        any key of the operation: --table users --column email\n"
	  "                     --type text --to username --up \"age::bigint\" ...; '-' or '_'\n"
	  "                     in KEY alike (--on-delete); lists comma-separated\n"
	  "                     (--columns a,b); a boolean alone is true (--unique);\n"
	  "                     add_foreign_key: --references-table T --references-columns C;\n"
	  "                     create_table: --columns \"id:bigint, email:text\"\n"
	  "  --description TEXT the file's description (default: NAME in words)\n\n"
	  "example: migrate new add_priority --op add_column --table orders --column priority \\\n"
	  "           --type smallint --default 0\n\n", NULL },
	{ "status", mg_cmd_status, "migrations, colours, readable window, rollback safety, what to run next",
	  "usage: migrate status [--events N] [--json]\n\n"
	  "Shows every migration (files and recorded ones) with its phase, backfill progress,\n"
	  "the step an interrupted phase stopped at, files edited since they were applied,\n"
	  "the readable window (the schema versions a running application may require), each\n"
	  "colour with its state, requirement and why it counts as alive, whether switching\n"
	  "traffic back to each colour that is not live is safe and until which step, and the\n"
	  "command to run next. --events N adds the newest N events of the log. Changes nothing.\n\n", NULL },
	{ "plan", mg_cmd_plan, "the SQL each phase would run; changes nothing",
	  "usage: migrate plan [ID] [--json]\n\n"
	  "Prints, for migration ID (default: every migration not yet contracted), the SQL of\n"
	  "each phase: expand, backfill, switch-reads, contract and rollback, the tables the\n"
	  "backfill rewrites, and what a rollback or a lossy 'down' cannot carry back.\n"
	  "A migration already expanded shows the plan recorded at expand. Changes nothing.\n"
	  "ID may be 3, 0003 or 0003_rename_user_name.\n\n", NULL },
	{ "expand", mg_cmd_expand, "add the new structures beside the old ones, with dual-write triggers",
	  "usage: migrate expand [ID] [options]\n\n"
	  "Expands migration ID (default: the lowest pending one): adds new columns nullable,\n"
	  "copies the old column's indexes (built concurrently) and constraints (NOT VALID),\n"
	  "and installs dual-write triggers so that the old and the new application version\n"
	  "can both write. Each table's DDL runs in one short transaction under a lock\n"
	  "timeout, retried with backoff. Refuses while a long transaction holds a lock on\n"
	  "the table. Requires every lower migration to be switched or contracted.\n\n"
	  DDL_HELP "\n", NULL },
	{ "backfill", mg_cmd_backfill, "copy existing rows old -> new in small resumable batches",
	  "usage: migrate backfill [ID] [--jobs N] [--target-batch-ms MS | --batch-size N]\n"
	  "                        [--max-rows-per-sec N] [--sleep MS] [--max-lag MS]\n"
	  "                        [--max-load N] [--max-lock-waits N] [--critical-load N]\n"
	  "                        [--critical-load-interval MS] [--pause-file PATH] [--json]\n"
	  "       migrate backfill [ID] --verify [--json]\n\n"
	  "Copies existing rows of migration ID (default: the lowest not backfilled) in keyset\n"
	  "batches over the primary key, one UPDATE per batch that sets the new side and the\n"
	  "marker of rows not yet written by either version, up to the highest key present at\n"
	  "the start (newer rows are kept right by the triggers). Rows the new version wrote\n"
	  "are never overwritten. Batches adapt their size to --target-batch-ms. A batch never\n"
	  "waits for a row the application holds: it leaves the row to a later pass over the\n"
	  "range, until none is left. Every batch is checkpointed: after a crash or kill, run\n"
	  "the same command again (with any --jobs) to resume. SIGINT/SIGTERM finish the\n"
	  "current batch (one still running 1 s later is cancelled), say where it stopped and\n"
	  "exit 3. ANALYZE runs at the end. Progress: one updating line on a terminal, a line\n"
	  "every 5 s otherwise, JSON lines on stderr with --json.\n\n"
	  "backfill options:\n"
	  "      --jobs N               workers, each on its own connection over its own\n"
	  "                             part of the key range (1-64, default 1)\n"
	  "      --target-batch-ms MS   adapt batch sizes to take about MS each (default 20,\n"
	  "                             at least 10); short batches hold row locks briefly\n"
	  "      --batch-size N         fixed rows per batch instead (a key span of N for a\n"
	  "                             single integer key)\n"
	  "      --max-rows-per-sec N   rate limit over all workers (default unlimited)\n"
	  "      --sleep MS             pause after every batch (default 0)\n"
	  "      --max-lag MS           " AT_MAX_LAG
	  "      --max-load N           " AT_MAX_LOAD
	  "      --pause-file PATH      pause while PATH exists\n"
	  "      --max-lock-waits N     pause while more than N other sessions wait for a row\n"
	  "                             lock (read before batches, every 50 ms at most)\n"
	  "      --critical-load N      stop (checkpointed, exit 3, resumable) when more than\n"
	  "                             N sessions are active, counted as by --max-load, on\n"
	  "                             two readings --critical-load-interval MS apart\n"
	  "                             (default 1000; 0: the first reading stops it)\n"
	  "      --verify               only compare both sides of every row: the count of\n"
	  "                             rows that disagree and sample keys (exit 1 if any)\n"
	  "      --json                 progress as JSON lines on stderr\n\n",
	  NULL },
	{ "switch-reads", mg_cmd_switch_reads, "verify the copy and validate constraints; the new version may read",
	  "usage: migrate switch-reads [ID] [options]\n\n"
	  "Verifies that every row of migration ID (default: the lowest not switched) agrees\n"
	  "on both sides, refusing with the count and sample keys otherwise; checks that\n"
	  "every index built at expand is valid; validates the NOT VALID constraints. Triggers\n"
	  "stay in both directions, so switching traffic back stays safe.\n\n"
	  DDL_HELP "\n", NULL },
	{ "contract", mg_cmd_contract, "drop triggers and the old structures (never CASCADE)",
	  "usage: migrate contract [ID] [options]\n\n"
	  "Contracts migration ID (default: the lowest not contracted): re-checks that nothing\n"
	  "new depends on the old columns, then per table in one transaction drops the\n"
	  "triggers, the marker column and the old columns (never CASCADE), moves defaults\n"
	  "and NOT NULL to the new columns and gives copied indexes and constraints their\n"
	  "original names. After contract, rolling back is impossible.\n\n"
	  DDL_HELP "\n", NULL },
	{ "rollback", mg_cmd_rollback, "undo expand and backfill of a migration not contracted",
	  "usage: migrate rollback [ID] [options]\n\n"
	  "Undoes everything expand and backfill did for migration ID (default: the highest\n"
	  "one expanded, backfilled or switched), leaving the old schema as before expand,\n"
	  "with the rows the new version wrote carried back into the old columns. The\n"
	  "migration returns to pending and its recorded checksum is forgotten. Refused once\n"
	  "contracted (roll forward instead) and while a higher migration is not pending.\n\n"
	  DDL_HELP "\n", NULL },
	{ "colour", mg_cmd_colour, "register and change the application versions using the database",
	  "usage: migrate colour register NAME --app-version S --requires V [--state live|standby]\n"
	  "                               [--match PATTERN] [--ttl SECONDS]\n"
	  "       migrate colour set NAME --state live|standby|retired\n"
	  "       migrate colour heartbeat NAME\n"
	  "       migrate colour list [--json]\n"
	  "('color' is accepted for 'colour')\n\n"
	  "A colour is an application version deployed against the database (blue, green,\n"
	  "canary, ...): its app version, the schema version it requires (a migration id such\n"
	  "as 3, 0003 or 0003_rename_user_name, or 0 for the schema before any migration), and\n"
	  "a state: live (takes traffic), standby (idle, kept to switch back to) or retired.\n\n"
	  AT_MATCH
	  "'contract M' is refused while an alive colour requires a version below M, and\n"
	  "'rollback M' while an alive colour requires M or later. Nothing forces past these\n"
	  "gates; changing a colour's state is the way, and it is logged ('migrate log').\n\n"
	  "register   refused while a colour of that name is alive, and while V is outside the\n"
	  "           readable window (status shows it): the message says what to run first.\n"
	  "           --state defaults to live. --ttl SECONDS: without a heartbeat for that long\n"
	  "           the colour is shown stale (it still counts as alive).\n"
	  "set        live and standby pass the same window check as register; retired always\n"
	  "           passes. A colour whose required migration was rolled back must be\n"
	  "           registered again.\n"
	  "heartbeat  record that the colour is running (needs only the state file).\n"
	  "list       every colour: state, requirement, alive or not and why, and whether\n"
	  "           switching traffic back to it is safe, until which step.\n\n"
	  "'--state' followed by live, standby or retired is the colour's state; any other\n"
	  "value is the state file's path.\n\n", NULL },
	{ "check", mg_cmd_check, "pre-deploy gate: files valid and unchanged, a version could go live",
	  "usage: migrate check [--requires V] [--offline] [--no-lint] [--json]\n\n"
	  "The gate a CI pipeline runs before deploying. Checks that every migration file\n"
	  "loads and ids are unique; that no pending migration is numbered below an applied\n"
	  "one; that no applied migration's file was edited; and with --requires V that an\n"
	  "application version requiring schema V could go live now (V is inside the readable\n"
	  "window), saying what to run first when not. Changes nothing but the event log.\n\n"
	  "It also runs 'migrate lint' over the migrations folder (the lint options --dialect,\n"
	  "--error, --warning and --disable apply): an error-level finding not suppressed in\n"
	  "its file fails the check; --no-lint skips lint.\n\n"
	  "Needs read access to the database; the state file is used when present, otherwise\n"
	  "the database's own history table is enough. --offline checks the files alone, with\n"
	  "no database and no state (--requires cannot be answered offline: exit 2).\n\n",
	  "exit status: 0 pass; 1 fail (every reason listed, lint's error findings too); 2 bad\n"
	  "input (a file that does not load, an unknown V or rule); 3 the database or the\n"
	  "state file cannot be read\n" },
	{ "lint", mg_cmd_lint, "offline safety rules over migration files: locks, phases, hygiene",
	  "usage: migrate lint [PATH...] [--format text|json|sarif|github|gcc]\n"
	  "                    [--dialect postgres|mysql] [--error RULE] [--warning RULE]\n"
	  "                    [--disable RULE]\n"
	  "       migrate lint --list-rules [--format json]\n\n"
	  "Reads each migration file (default: every file of the migrations folder; a folder\n"
	  "PATH means every file in it) and the SQL of its sql steps and expressions, and\n"
	  "reports what would break the version still running, lock a table, or fail on a\n"
	  "re-run: file:line:column, the rule, and what to write instead. Files migrate\n"
	  "would not read (.sql, a wrong name) are reported as file-ignored. Needs no\n"
	  "database: no connection is opened. The rules: 'migrate lint --list-rules' and\n"
	  "docs/lint.md.\n\n"
	  "lint options:\n"
	  "      --format F        text (default; a summary on stderr), json (also --json),\n"
	  "                        sarif (SARIF 2.1.0, for GitHub code scanning), github\n"
	  "                        (workflow annotations), gcc (file:line:col: error: ...)\n"
	  "      --dialect D       postgres or mysql (MySQL, MariaDB): the SQL's dialect;\n"
	  "                        default: the --database URL's, else postgres\n"
	  "      --error RULE      report RULE as an error (fails the run); repeatable,\n"
	  "                        or a comma list\n"
	  "      --warning RULE    report RULE as a warning (does not fail the run)\n"
	  "      --disable RULE    do not run RULE\n"
	  "      --list-rules      the rules: id, default severity, category, summary\n"
	  "  -v                    text: show suppressed findings too\n\n"
	  "A finding is suppressed in the file with a reason:\n"
	  "  # migrate-lint: ignore RULE[,RULE] -- reason   (the node below, or its own line)\n"
	  "  # migrate-lint: ignore-file RULE -- reason     (the whole file)\n\n",
	  "exit status: 0 no error-level finding (warnings allowed); 1 an error-level finding\n"
	  "that is not suppressed; 2 bad input (an unknown option, format, dialect or rule, a\n"
	  "path that does not exist)\n" },
	{ "log", mg_cmd_log, "the event log: phase runs, gate decisions, refusals, colour changes",
	  "usage: migrate log [--limit N] [--json]\n\n"
	  "Prints the newest N events (default 50), oldest first: when, which command, which\n"
	  "migration and colour, the result (ok, allowed, refused, error) and the reason.\n"
	  "Reads the state file only. 'migrate status --events N' shows the same below the status.\n\n",
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

/* Print text's words, at most width columns a line, lines after the
 * first indented by indent; then a newline. */
static void print_wrapped(FILE *f, const char *text, int indent, int width)
{
	size_t col = 0;

	for (const char *p = text; *p;) {
		size_t word = strcspn(p, " ");

		if (col > 0 && col + 1 + word > (size_t)width) {
			fprintf(f, "\n%*s", indent, "");
			col = 0;
		} else if (col > 0) {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, word, f);
		col += word;
		p += word;
		p += strspn(p, " ");
	}
	fputc('\n', f);
}

/* The global options, with the URL forms of every driver under --database
 * (wrapped at the width the text was written at). */
static void print_global_help(FILE *f)
{
	struct mg_buf forms = MG_BUF_INIT;

	mg_driver_url_help(&forms);
	fputs(GLOBAL_HELP_HEAD DATABASE_OPTION, f);
	print_wrapped(f, forms.buf, (int)strlen(DATABASE_OPTION), 62);
	fputs(GLOBAL_HELP, f);
	mg_buf_release(&forms);
}

/* A test build's --version: every variable it honours, the core's and
 * the drivers'. */
static void print_test_variables(void)
{
	const char *names[8] = { "MIGRATE_FAULT", "MIGRATE_TEST_LAG_MS" };
	size_t n = 2;

	for (size_t i = 0; mg_drivers[i] && n < 8; i++)
		if (mg_drivers[i]->test_variable)
			names[n++] = mg_drivers[i]->test_variable;
	printf("test build: honours");
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i == 0 ? " " : i + 1 < n ? ", " : " and ", names[i]);
	printf("; never use it in production\n");
}

static void print_usage(FILE *f)
{
	fprintf(f, "usage: migrate [global options] <command> [arguments]\n\n"
		"Expand-contract schema migrations for blue-green and canary releases.\n\n"
		"commands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-14s %s\n", c->name, c->summary);
	fprintf(f, "\nA migration moves pending -> expanded -> backfilled -> switched -> contracted;\n"
		"'migrate <command> --help' explains each command.\n\n");
	print_global_help(f);
	fputs("\n" EXIT_HELP, f);
}

static void print_driver_paragraph(FILE *f, char marker)
{
	for (size_t i = 0; i < sizeof(driver_paragraphs) / sizeof(driver_paragraphs[0]); i++) {
		const struct driver_paragraph *d = &driver_paragraphs[i];
		struct mg_buf notes = MG_BUF_INIT, text = MG_BUF_INIT;

		if (d->marker != marker)
			continue;
		mg_driver_help_note(&notes, d->note);
		mg_buf_addf(&text, "%s%s%s%s%s", d->text, notes.len ? d->before : "",
			    notes.buf, notes.len ? d->after : "", d->rest);
		print_wrapped(f, text.buf, d->indent, d->width);
		mg_buf_release(&text);
		mg_buf_release(&notes);
	}
}

/* A command's help text, its driver paragraphs filled in. */
static void print_help_text(FILE *f, const char *help)
{
	const char *p = help;

	for (const char *at; (at = strchr(p, '\001')); p = at + 2) {
		fwrite(p, 1, (size_t)(at - p), f);
		print_driver_paragraph(f, at[1]);
	}
	fputs(p, f);
}

static void print_help(const struct command *c)
{
	print_help_text(stdout, c->help);
	print_global_help(stdout);
	fputs("\n", stdout);
	fputs(c->exit_help ? c->exit_help : EXIT_HELP, stdout);
}

int main(int argc, char **argv)
{
	struct mg_options opt;
	struct mg_err err = MG_ERR_INIT;
	const struct command *cmd = NULL;
	int rc;

	if (mg_cmd_scaffold_options(&argc, argv) < 0)	/* init, new */
		return MG_EINPUT;
	mg_options_init(&opt);
	if (mg_options_parse(&opt, argc, argv, &err) < 0) {
		mg_report_error(&err);
		mg_options_release(&opt);
		return MG_EINPUT;
	}
	if (opt.version) {
		printf("migrate %s\n", MIGRATE_VERSION);
		if (mg_test_hooks_compiled)
			print_test_variables();
		else
			printf("release build: no test hooks\n");
		mg_options_release(&opt);
		return 0;
	}
	if (!opt.command) {
		int help = opt.help;

		print_usage(help ? stdout : stderr);
		mg_options_release(&opt);
		return help ? 0 : MG_EINPUT;
	}
	if (!strcmp(opt.command, "color"))
		opt.command = "colour";
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
		print_help(cmd);
		mg_options_release(&opt);
		return 0;
	}
	/* init writes the settings: it reads none (a broken migrate.yaml is
	 * what init --force replaces) */
	if (cmd->fn != mg_cmd_init && mg_options_resolve(&opt, &err) < 0) {
		mg_report_error(&err);
		mg_options_release(&opt);
		return err.code;
	}
	mg_stop_signals_install();
	mg_metrics_command_start(&opt, cmd->name);
	rc = cmd->fn(&opt);
	mg_metrics_command_done(&opt, cmd->name, rc);
	mg_options_release(&opt);
	return rc;
}
