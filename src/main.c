/*
 * main.c - option parsing and dispatch. Only the command layer (this file
 * and src/cmd/) turns errors into exit status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/fleet_cmd.h"
#include "driver.h"
#include "metrics.h"
#include "output.h"

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
	{ 'L', MG_HELP_MAX_LAG, "pause while the slowest standby lags more than DURATION; "
	  "pause also while the lag cannot be read", " (", ")", "", 0, 0 },
	{ 'l', MG_HELP_MAX_LOAD, "pause while more than N sessions of the database are "
	  "active", " (", ")", "; migrate's own not counted", 0, 0 },
	{ 'm', MG_HELP_MATCH, "A colour is alive while it is live or standby, or while the "
	  "database shows sessions matching its --match pattern (", "", "; ",
	  "'*' matches any run of characters, '?' one character, the rest is literal; "
	  "migrate's own sessions never match), or when those sessions cannot be seen.", 0, 88 },
};

const char mg_cli_colour_subcommands[] = "register set heartbeat list forget";

#define EXIT_HELP \
	"exit status: 0 done or nothing to do; 1 refused by a safety gate; 2 bad input;\n" \
	"3 database or runtime error (re-running the command repairs an interrupted step)\n" \
	"SIGINT/SIGTERM cancel the running statement on the server and exit 3 within a few\n" \
	"seconds (re-running resumes); a second signal exits at once\n"

const char mg_cli_exit_help[] = EXIT_HELP;

const struct mg_cli_command mg_cli_commands[] = {
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
	  "  --KEY VALUE        any key of the operation: --table users --column email\n"
	  "                     --type text --to username --up \"age::bigint\" ...; '-' or '_'\n"
	  "                     in KEY alike (--on-delete); lists comma-separated\n"
	  "                     (--columns a,b); a boolean alone is true (--unique);\n"
	  "                     add_foreign_key: --references-table T --references-columns C;\n"
	  "                     create_table: --columns \"id:bigint, email:text\"\n\n"
	  "example: migrate new add_priority --op add_column --table orders --column priority \\\n"
	  "           --type smallint --default 0\n\n", NULL },
	{ "status", mg_cmd_status, "migrations, colours, readable window, rollback safety, what to run next",
	  "usage: migrate status [--events N] [--watch [--interval DURATION]] [--json]\n\n"
	  "Shows every migration (files and recorded ones) with its phase, backfill progress,\n"
	  "the step an interrupted phase stopped at, files edited since they were applied,\n"
	  "the readable window (the schema versions a running application may require), each\n"
	  "colour with its state, requirement and why it counts as alive, whether switching\n"
	  "traffic back to each colour that is not live is safe and until which step, and the\n"
	  "command to run next. --events N adds the newest N events of the log. Changes nothing.\n"
	  "--watch refreshes it in place on a terminal every --interval until interrupted.\n\n", NULL },
	{ "plan", mg_cmd_plan, "the SQL each phase would run; changes nothing",
	  "usage: migrate plan [ID] [--json]\n\n"
	  "Prints, for migration ID (default: every migration not yet contracted), the SQL of\n"
	  "each phase: expand, backfill, switch-reads, contract and rollback, the tables the\n"
	  "backfill rewrites, and what a rollback or a lossy 'down' cannot carry back.\n"
	  "A migration already expanded shows the plan recorded at expand. Without an ID, a\n"
	  "pending migration that needs an earlier pending one is shown as planned after it.\n"
	  "Changes nothing. ID may be 3, 0003 or 0003_rename_user_name.\n\n", NULL },
	{ "expand", mg_cmd_expand, "add the new structures beside the old ones, with dual-write triggers",
	  "usage: migrate expand [ID] [options]\n\n"
	  "Expands migration ID (default: the lowest pending one): adds new columns nullable,\n"
	  "copies the old column's indexes (built concurrently) and constraints (NOT VALID),\n"
	  "and installs dual-write triggers so that the old and the new application version\n"
	  "can both write. Each table's DDL runs in one short transaction under a lock\n"
	  "timeout, retried with backoff. Refuses while a long transaction holds a lock on\n"
	  "the table. Requires every lower migration to be switched or contracted.\n\n",
	  NULL },
	{ "backfill", mg_cmd_backfill, "copy existing rows old -> new in small resumable batches",
	  "usage: migrate backfill [ID] [--jobs N] [--target-batch-ms DURATION | --batch-size N]\n"
	  "                        [--max-rows-per-sec N] [--sleep DURATION] [--max-lag DURATION]\n"
	  "                        [--max-load N] [--max-lock-waits N] [--critical-load N]\n"
	  "                        [--critical-load-interval DURATION] [--pause-file PATH]\n"
	  "                        [--max-runtime DURATION] [--wait-lock DURATION] [--json]\n"
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
	  "every 5 s otherwise, JSON lines on stderr with --json.\n\n", NULL },
	{ "switch-reads", mg_cmd_switch_reads, "verify the copy and validate constraints; the new version may read",
	  "usage: migrate switch-reads [ID] [options]\n\n"
	  "Verifies that every row of migration ID (default: the lowest not switched) agrees\n"
	  "on both sides, refusing with the count and sample keys otherwise; checks that\n"
	  "every index built at expand is valid; validates the NOT VALID constraints. Triggers\n"
	  "stay in both directions, so switching traffic back stays safe.\n\n", NULL },
	{ "contract", mg_cmd_contract, "drop triggers and the old structures (never CASCADE)",
	  "usage: migrate contract [ID] [options]\n\n"
	  "Contracts migration ID (default: the lowest not contracted): re-checks that nothing\n"
	  "new depends on the old columns, then per table in one transaction drops the\n"
	  "triggers, the marker column and the old columns (never CASCADE), moves defaults\n"
	  "and NOT NULL to the new columns and gives copied indexes and constraints their\n"
	  "original names. After contract, rolling back is impossible.\n\n", NULL },
	{ "rollback", mg_cmd_rollback, "undo expand and backfill of a migration not contracted",
	  "usage: migrate rollback [ID] [options]\n\n"
	  "Undoes everything expand and backfill did for migration ID (default: the highest\n"
	  "one expanded, backfilled or switched, or whose expand was interrupted), leaving\n"
	  "the old schema as before expand, with the rows the new version wrote carried back\n"
	  "into the old columns. The migration returns to pending and its recorded checksum\n"
	  "is forgotten. Refused once contracted (roll forward instead) and while a higher\n"
	  "migration is not pending.\n\n",
	  NULL },
	{ "colour", mg_cmd_colour, "register and change the application versions using the database",
	  "usage: migrate colour register NAME --app-version S --requires V [--state live|standby]\n"
	  "                               [--match PATTERN] [--ttl DURATION]\n"
	  "       migrate colour set NAME --state live|standby|retired\n"
	  "       migrate colour heartbeat NAME\n"
	  "       migrate colour list [--json]\n"
	  "       migrate colour forget NAME\n"
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
	  "           --state defaults to live. --ttl DURATION: without a heartbeat for that long\n"
	  "           the colour is shown stale (it still counts as alive). --match: '%' is\n"
	  "           refused (SQL LIKE syntax: write '*').\n"
	  "set        live and standby pass the same window check as register; retired always\n"
	  "           passes. A colour whose required migration was rolled back must be\n"
	  "           registered again.\n"
	  "heartbeat  record that the colour is running (needs only the state file).\n"
	  "list       every colour: state, requirement, alive or not and why, how many sessions\n"
	  "           its --match pattern matches now, and whether switching traffic to it is\n"
	  "           safe, until which step.\n"
	  "forget     remove a retired colour that no session of its own keeps alive.\n\n"
	  "After 'colour', '--state' is always the colour's state (also --colour-state): a\n"
	  "value other than live, standby or retired is refused. The state file's path is\n"
	  "--state-file PATH there (or --state PATH before the word 'colour').\n\n", NULL },
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
	  "With -v, text output shows suppressed findings too.\n\n"
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


/* ---- help texts --------------------------------------------------------------- */

void mg_cli_wrap(struct mg_buf *out, const char *text, int indent, int width)
{
	size_t col = 0;

	for (const char *p = text; *p;) {
		size_t word = strcspn(p, " ");

		if (col > 0 && col + 1 + word > (size_t)width) {
			mg_buf_addf(out, "\n%*s", indent, "");
			col = 0;
		} else if (col > 0) {
			mg_buf_adds(out, " ");
			col++;
		}
		mg_buf_addf(out, "%.*s", (int)word, p);
		col += word;
		p += word;
		p += strspn(p, " ");
	}
	mg_buf_adds(out, "\n");
}

static const struct driver_paragraph *find_paragraph(char marker)
{
	for (size_t i = 0; i < sizeof(driver_paragraphs) / sizeof(driver_paragraphs[0]); i++)
		if (driver_paragraphs[i].marker == marker)
			return &driver_paragraphs[i];
	return NULL;
}

/* A driver paragraph's text, its drivers' notes filled in, unwrapped. */
static void paragraph_text(struct mg_buf *out, const struct driver_paragraph *d)
{
	struct mg_buf notes = MG_BUF_INIT;

	mg_driver_help_note(&notes, d->note);
	mg_buf_addf(out, "%s%s%s%s%s", d->text, notes.len ? d->before : "",
		    notes.buf, notes.len ? d->after : "", d->rest);
	mg_buf_release(&notes);
}

void mg_cli_prose(struct mg_buf *out, const char *help)
{
	const char *p = help;

	for (const char *at; (at = strchr(p, '\001')); p = at + 2) {
		const struct driver_paragraph *d = find_paragraph(at[1]);
		struct mg_buf text = MG_BUF_INIT;

		mg_buf_addf(out, "%.*s", (int)(at - p), p);
		if (d) {
			paragraph_text(&text, d);
			mg_cli_wrap(out, text.buf, d->indent, d->width);
		}
		mg_buf_release(&text);
	}
	mg_buf_adds(out, p);
}

void mg_cli_option_text(struct mg_buf *out, const struct mg_opt_def *d)
{
	char suffix[160];

	if (d->help[0] == '\001' && d->help[1] == 'U') {
		mg_driver_url_help(out);	/* --database: the drivers' URL forms */
	} else if (d->help[0] == '\001') {
		const struct driver_paragraph *p = find_paragraph(d->help[1]);

		if (p)
			paragraph_text(out, p);
	} else {
		mg_buf_adds(out, d->help);
	}
	mg_opt_suffix(d, suffix, sizeof(suffix));
	mg_buf_adds(out, suffix);
}

int mg_cli_option_listed(const struct mg_opt_def *d, unsigned command)
{
	if (!d->help)
		return 0;	/* a synonym: --color-state */
	if (!command)
		return d->commands == MG_C_ALL;
	return d->commands != MG_C_ALL && (d->commands & command);
}

/* Options column: synopsis from column 2 (6 without a short name), help
 * from column 30, wrapped at 80. */
#define HELP_COLUMN 30

static void print_options(FILE *f, unsigned command)
{
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		struct mg_buf line = MG_BUF_INIT, text = MG_BUF_INIT;
		char syn[80];

		if (!mg_cli_option_listed(d, command))
			continue;
		mg_opt_synopsis(d, syn, sizeof(syn));
		mg_buf_addf(&line, "%s%s", d->short_name ? "  " : "      ", syn);
		if (line.len + 2 > HELP_COLUMN)
			mg_buf_addf(&line, "\n%*s", HELP_COLUMN, "");
		else
			mg_buf_addf(&line, "%*s", HELP_COLUMN - (int)line.len, "");
		mg_cli_option_text(&text, d);
		mg_cli_wrap(&line, text.buf, HELP_COLUMN, 80 - HELP_COLUMN);
		fputs(line.buf, f);
		mg_buf_release(&text);
		mg_buf_release(&line);
	}
}

static void print_global_help(FILE *f)
{
	fputs("global options (before or after the command; also from the environment, then\n"
	      "migrate.yaml; durations such as " MG_DURATION_FORMS "):\n", f);
	print_options(f, 0);
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
	for (const struct mg_cli_command *c = mg_cli_commands; c->name; c++)
		fprintf(f, "  %-14s %s\n", c->name, c->summary);
	fprintf(f, "\nA migration moves pending -> expanded -> backfilled -> switched -> contracted;\n"
		"'migrate help <command>' (or 'migrate <command> --help') explains each command.\n\n");
	print_global_help(f);
	fputs("\n" EXIT_HELP, f);
}

static void print_help(const struct mg_cli_command *c)
{
	struct mg_buf prose = MG_BUF_INIT;
	unsigned bit = mg_cli_command_bit(c->name);
	int any = 0;

	mg_cli_prose(&prose, c->help);
	fputs(prose.buf, stdout);
	mg_buf_release(&prose);
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name && !any; d++)
		any = mg_cli_option_listed(d, bit);
	if (any) {
		printf("%s options:\n", c->name);
		print_options(stdout, bit);
		fputs("\n", stdout);
	}
	print_global_help(stdout);
	fputs("\n", stdout);
	fputs(c->exit_help ? c->exit_help : EXIT_HELP, stdout);
}

/* ---- dispatch ----------------------------------------------------------------- */

static const struct mg_cli_command *find_command(const char *name)
{
	if (!strcmp(name, "color"))
		name = "colour";
	for (const struct mg_cli_command *c = mg_cli_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

/* Unknown command: exit 2, with the nearest command when one is close. */
static int unknown_command(const char *name)
{
	struct mg_err err = MG_ERR_INIT;
	const char *near = NULL;
	size_t best = SIZE_MAX;

	for (const struct mg_cli_command *c = mg_cli_commands; c->name; c++) {
		size_t dist = mg_edit_distance(name, c->name);

		if (dist < best) {
			best = dist;
			near = c->name;
		}
	}
	if (near && best <= (strlen(name) <= 3 ? 1u : 2u))
		mg_err_set(&err, MG_EINPUT, "unknown command '%s': did you mean '%s'?", name, near);
	else
		mg_err_set(&err, MG_EINPUT, "unknown command '%s'", name);
	mg_err_hint(&err, "run 'migrate --help' for the list of commands");
	mg_report_error(&err);
	return MG_EINPUT;
}

/* `migrate help [CMD]`: the usage, or CMD's help. */
static int help_command(const struct mg_options *opt)
{
	const struct mg_cli_command *c;

	if (opt->n_args == 0) {
		print_usage(stdout);
		return 0;
	}
	c = find_command(opt->args[0]);
	if (!c)
		return unknown_command(opt->args[0]);
	print_help(c);
	return 0;
}

static int print_version(void)
{
	printf("migrate %s\n", MIGRATE_VERSION);
	if (mg_test_hooks_compiled)
		print_test_variables();
	else
		printf("release build: no test hooks\n");
	return 0;
}

/* Before a command runs: its help, or options it does not take. -1 when
 * main is to return *rc. */
static int before_command(struct mg_options *opt, const struct mg_cli_command *cmd, int *rc)
{
	struct mg_err err = MG_ERR_INIT;

	if (opt->help) {
		print_help(cmd);
		*rc = 0;
		return -1;
	}
	if (mg_options_check_command(opt, mg_cli_command_bit(cmd->name), &err) < 0 ||
	    /* init writes the settings: it reads none (a broken migrate.yaml
	     * is what init --force replaces) */
	    (cmd->fn != mg_cmd_init && mg_options_resolve(opt, &err) < 0)) {
		mg_report_error(&err);
		*rc = err.code ? err.code : MG_EINPUT;
		return -1;
	}
	return 0;
}

/* --fleet without a command, --fleet-jobs without --fleet: exit 2. */
static int fleet_misuse(const struct mg_options *opt)
{
	struct mg_err err = MG_ERR_INIT;

	if (opt->fleet && !opt->command) {
		mg_err_set(&err, MG_EINPUT, "--fleet '%s' needs a command to run on every target",
			   opt->fleet);
		mg_err_hint(&err, "migrate --fleet %s status (or plan, expand, backfill, "
			    "switch-reads, contract, rollback, colour, check, log)", opt->fleet);
	} else if ((opt->fleet_jobs || opt->fleet_gate_only) && !opt->fleet) {
		mg_err_set(&err, MG_EINPUT, "--%s is only taken with --fleet FILE",
			   opt->fleet_jobs ? "fleet-jobs" : "fleet-gate-only");
	} else {
		return 0;
	}
	mg_report_error(&err);
	return MG_EINPUT;
}

static int run(struct mg_options *opt, int argc, char **argv)
{
	const struct mg_cli_command *cmd;
	int rc;

	if (opt->version)
		return print_version();
	mg_fleet_from_env(opt);
	if (!opt->help && fleet_misuse(opt))
		return MG_EINPUT;
	if (!opt->command) {
		print_usage(opt->help ? stdout : stderr);
		return opt->help ? 0 : MG_EINPUT;
	}
	if (!strcmp(opt->command, "help"))
		return help_command(opt);
	if (!strcmp(opt->command, "__generate"))
		return mg_cmd_generate(opt);
	cmd = find_command(opt->command);
	if (!cmd)
		return unknown_command(opt->command);
	if (opt->fleet && !opt->help) {
		opt->command = cmd->name;
		return mg_cmd_fleet(opt, argc, argv);
	}
	if (before_command(opt, cmd, &rc) < 0)
		return rc;
	opt->command = cmd->name;
	mg_metrics_command_start(opt, cmd->name);
	rc = cmd->fn(opt);
	mg_metrics_command_done(opt, cmd->name, rc);
	return rc;
}

int main(int argc, char **argv)
{
	struct mg_options opt;
	struct mg_err err = MG_ERR_INIT;
	int rc;

	/* first: as PID 1 of a container a signal that comes before the
	 * handler would be dropped (the kernel gives PID 1 no default
	 * actions); one that comes during parsing stops the command early */
	mg_stop_signals_install();
	if (mg_cmd_scaffold_options(&argc, argv) < 0)	/* init, new */
		return MG_EINPUT;
	mg_options_init(&opt);
	if (mg_options_parse(&opt, argc, argv, &err) < 0) {
		mg_report_error(&err);
		mg_options_release(&opt);
		return MG_EINPUT;
	}
	rc = run(&opt, argc, argv);
	mg_options_release(&opt);
	return rc;
}
