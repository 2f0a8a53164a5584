/*
 * cmd/fleet.c - `migrate --fleet FILE <command>`: the command on every
 * target of the fleet file, each its own child migrate with its own state
 * file, then a summary and one exit status, the worst (cmd/fleet_cmd.h).
 *
 * The children do all the work and keep all the state: a target that
 * failed is resumed by running the same fleet command again, and the
 * others then say "nothing to do".
 */
#include "cmd/fleet_cmd.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_options.h"
#include "output.h"

void mg_fleet_json_print(json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(doc);
}

/* ---- what may run on a fleet ------------------------------------------------ */

/* The commands that run on a fleet: the others touch no database. */
#define RUNS_ON_A_FLEET (MG_C_ALL & ~(MG_C_INIT | MG_C_NEW | MG_C_LINT))

static size_t row(const char *long_name)
{
	return (size_t)(mg_opt_find_long(long_name, strlen(long_name), 0) - mg_opt_defs);
}

/* Where the fleet came from, for messages. */
static const char *fleet_source(const struct mg_options *opt)
{
	return mg_opt_on_command_line(opt, "fleet") ? "--fleet" : "MIGRATE_FLEET (environment)";
}

void mg_fleet_from_env(struct mg_options *opt)
{
	const char *file = getenv(mg_opt_defs[row("fleet")].env);

	if (opt->fleet || !file || !*file || mg_opt_on_command_line(opt, "database") ||
	    !(mg_cli_command_bit(opt->command) & RUNS_ON_A_FLEET))
		return;
	opt->fleet = mg_xstrdup(file);
	opt->given[row("fleet")] = MG_FROM_ENV;
}

/* MIGRATE_FLEET_JOBS where the command line gives no --fleet-jobs. */
static int jobs_from_env(struct mg_options *opt, struct mg_err *err)
{
	const char *var = mg_opt_defs[row("fleet-jobs")].env, *value = getenv(var);
	long n;

	if (mg_opt_on_command_line(opt, "fleet-jobs") || !value || !*value)
		return 0;
	if (mg_parse_long(value, &n) < 0 || n < 1 || n > MG_FLEET_MAX_CONCURRENCY) {
		mg_err_set(err, MG_EINPUT, "bad value '%s' for %s (environment): expected 1 to %d "
			   "(targets at once)", value, var, MG_FLEET_MAX_CONCURRENCY);
		return mg_err_hint(err, "fix or unset %s", var);
	}
	opt->fleet_jobs = (int)n;
	opt->given[row("fleet-jobs")] = MG_FROM_ENV;
	return 0;
}

static int refuse_command(const char *command)
{
	struct mg_err err = MG_ERR_INIT;

	mg_err_set(&err, MG_EINPUT, "'%s' does not touch a database: it is not run with --fleet",
		   command);
	mg_err_hint(&err, "run 'migrate %s' once, without --fleet", command);
	mg_report_error(&err);
	return MG_EINPUT;
}

/* Options that name one database, its state file or one output file make
 * no sense for many: refused before anything runs. By field, not by name:
 * after 'colour', --state is the colour's state, which children take. */
static int refuse_options(const struct mg_options *opt, struct mg_err *err)
{
	static const size_t one_only[] = { offsetof(struct mg_options, database),
					   offsetof(struct mg_options, state),
					   offsetof(struct mg_options, metrics_file) };
	const char *metrics_var = mg_opt_defs[row("metrics-file")].env;
	const char *metrics = getenv(metrics_var);

	for (size_t i = 0; i < mg_n_opt_defs; i++) {
		const struct mg_opt_def *d = &mg_opt_defs[i];

		if (opt->given[i] != MG_FROM_COMMAND_LINE || d->kind != MG_OPT_STR)
			continue;
		for (size_t k = 0; k < sizeof(one_only) / sizeof(one_only[0]); k++) {
			if (d->offset != one_only[k])
				continue;
			mg_err_set(err, MG_EINPUT, "option '--%s' cannot be used with %s: "
				   "each target has its own", d->long_name, fleet_source(opt));
			if (!mg_opt_on_command_line(opt, "fleet"))
				return mg_err_hint(err, "for one database, give --database URL too "
						   "(then MIGRATE_FLEET does not apply), or unset "
						   "MIGRATE_FLEET");
			return mg_err_hint(err, "the fleet file gives each target's url and state "
					   "(default <state_dir>/<name>.db)");
		}
	}
	if (metrics && *metrics) {
		/* every child would write the one file, each its own target's
		 * figures under the same series */
		mg_err_set(err, MG_EINPUT, "%s (environment) cannot be used with %s: every "
			   "target would write the same file", metrics_var, fleet_source(opt));
		return mg_err_hint(err, "unset it for the fleet run (env -u %s migrate ...); for "
				   "one target's metrics run it alone with --database URL "
				   "--metrics-file PATH", metrics_var);
	}
	if (opt->fleet_jobs > MG_FLEET_MAX_CONCURRENCY)
		return mg_err_set(err, MG_EINPUT, "--fleet-jobs %d: at most %d targets run at once",
				  opt->fleet_jobs, MG_FLEET_MAX_CONCURRENCY);
	if (mg_opt_on_command_line(opt, "fleet-jobs") && opt->fleet_jobs < 1)
		return mg_err_set(err, MG_EINPUT, "--fleet-jobs %d: at least 1 target runs at once",
				  opt->fleet_jobs);
	return 0;
}

/*
 * The options of `status` that the fleet's table cannot show (the others
 * are passed on to every target: mg_fleet_status_args). --events is shown
 * with --json, in each target's result.
 */
static int refuse_status_options(const struct mg_options *opt, struct mg_err *err)
{
	if (opt->watch || mg_opt_on_command_line(opt, "interval")) {
		mg_err_set(err, MG_EINPUT, "status %s is not taken with %s",
			   opt->watch ? "--watch" : "--interval (the pace of --watch)",
			   fleet_source(opt));
		return mg_err_hint(err, "watch one target (its URL and state file), or refresh the "
				   "fleet's table: watch -n 10 migrate --fleet %s status", opt->fleet);
	}
	if (mg_opt_on_command_line(opt, "events") && !opt->json) {
		mg_err_set(err, MG_EINPUT, "status --events is not shown by the fleet's table "
			   "(%s)", fleet_source(opt));
		return mg_err_hint(err, "add --json (each target's events are in its result), or "
				   "see one target's: migrate --database URL --state-file "
				   "<state_dir>/<name>.db status --events %d", opt->events);
	}
	return 0;
}

/* ---- the children's arguments -------------------------------------------------- */

static int is_fleet_option(const char *a, int *takes_next)
{
	*takes_next = !strcmp(a, "--fleet") || !strcmp(a, "--fleet-jobs");
	return *takes_next || !strncmp(a, "--fleet=", 8) || !strncmp(a, "--fleet-jobs=", 13);
}

/* main's argv without --fleet, --fleet-jobs and --json (added back where
 * the child's JSON is wanted). */
static void child_args(struct mg_strlist *out, int argc, char **argv, int json)
{
	int only_args = 0;

	for (int i = 1; i < argc; i++) {
		int next;

		if (!only_args && !strcmp(argv[i], "--"))
			only_args = 1;
		if (!only_args && is_fleet_option(argv[i], &next)) {
			i += next;
			continue;
		}
		if (!only_args && !strcmp(argv[i], "--json"))
			continue;
		mg_strlist_push(out, argv[i]);
	}
	if (json)
		mg_strlist_push(out, "--json");
}

/* What the log's header line says was run. */
static char *header_of(const struct mg_strlist *args, const char *fleet)
{
	struct mg_buf b = MG_BUF_INIT;

	for (size_t i = 0; i < args->n; i++)
		mg_buf_addf(&b, "%s%s", i ? " " : "", args->items[i]);
	mg_buf_addf(&b, "  (fleet %s)", fleet);
	return mg_buf_detach(&b);
}

/* ---- the summary ---------------------------------------------------------------- */

static const char *result_text(const struct mg_fleet_result *r)
{
	if (!r->started)
		return "not started (stopped by a signal)";
	if (r->exit && r->error)
		return r->error;
	return r->last ? r->last : "";
}

static void print_table(const struct mg_fleet *f, const struct mg_fleet_result *res)
{
	int w = 6;

	for (size_t i = 0; i < f->n; i++)
		if ((int)strlen(f->targets[i].name) > w)
			w = (int)strlen(f->targets[i].name);
	printf("%-*s  EXIT  %8s  RESULT\n", w, "TARGET", "TIME");
	for (size_t i = 0; i < f->n; i++) {
		char took[32] = "-", code[8] = "-";

		if (res[i].started) {
			mg_format_duration(took, res[i].ms);
			snprintf(code, sizeof(code), "%d", res[i].exit);
		}
		printf("%-*s  %4s  %8s  %s\n", w, f->targets[i].name, code, took,
		       result_text(&res[i]));
	}
}

/* The names of the targets that exited `code`, "a, b, c" (at most 10). */
static void names_with(struct mg_buf *b, const struct mg_fleet *f,
		       const struct mg_fleet_result *res, int code, size_t count)
{
	size_t shown = 0;

	for (size_t i = 0; i < f->n && shown < 10; i++)
		if (res[i].started && res[i].exit == code)
			mg_buf_addf(b, "%s%s", shown++ ? ", " : "", f->targets[i].name);
	if (count > shown)
		mg_buf_addf(b, " and %zu more", count - shown);
}

static void print_counts(const struct mg_fleet *f, const struct mg_fleet_result *res)
{
	static const char *const word[4] = { "ok", "refused", "bad input", "failed" };
	size_t count[4] = { 0 }, not_started = 0, first_bad = f->n;
	struct mg_buf b = MG_BUF_INIT;

	for (size_t i = 0; i < f->n; i++) {
		if (!res[i].started) {
			not_started++;
			continue;
		}
		count[res[i].exit]++;
		if (res[i].exit && first_bad == f->n)
			first_bad = i;
	}
	mg_buf_addf(&b, "%zu target%s: %zu ok", f->n, f->n == 1 ? "" : "s", count[0]);
	for (int c = 1; c <= 3; c++) {
		if (!count[c])
			continue;
		mg_buf_addf(&b, ", %zu %s (exit %d): ", count[c], word[c], c);
		names_with(&b, f, res, c, count[c]);
	}
	if (not_started)
		mg_buf_addf(&b, ", %zu not started (stopped by a signal)", not_started);
	if (first_bad < f->n)
		mg_buf_addf(&b, " — see %s%s; rerun the same command to resume %s",
			    f->targets[first_bad].log,
			    count[1] + count[2] + count[3] > 1 ? " (and the others' logs)" : "",
			    count[1] + count[2] + count[3] > 1 ? "them" : "it");
	else if (not_started)
		mg_buf_adds(&b, "; rerun the same command to run them");
	puts(b.buf);
	mg_buf_release(&b);
}

static json_t *counts_json(const struct mg_fleet *f, const struct mg_fleet_result *res)
{
	json_int_t count[4] = { 0 }, not_started = 0;

	for (size_t i = 0; i < f->n; i++)
		if (res[i].started)
			count[res[i].exit]++;
		else
			not_started++;
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "targets", (json_int_t)f->n,
			 "ok", count[0], "refused", count[1], "bad_input", count[2],
			 "failed", count[3], "not_started", not_started);
}

static void print_json(const struct mg_fleet *f, const struct mg_fleet_result *res,
		       const char *command, int exit)
{
	json_t *targets = json_array();

	for (size_t i = 0; i < f->n; i++) {
		json_t *doc = res[i].out.len ? json_loads(res[i].out.buf, 0, NULL) : NULL;

		json_array_append_new(targets, json_pack(
			"{s:s, s:s, s:o, s:o, s:s, s:o, s:o}",
			"name", f->targets[i].name, "url", f->targets[i].shown,
			"exit", res[i].started ? json_integer(res[i].exit) : json_null(),
			"seconds", json_real((double)res[i].ms / 1000.0),
			"log", f->targets[i].log,
			"error", mg_json_str(res[i].exit ? res[i].error : NULL),
			"result", doc ? doc : json_null()));
	}
	mg_fleet_json_print(json_pack("{s:s, s:i, s:o, s:o}", "command", command, "exit", exit,
				"targets", targets, "counts", counts_json(f, res)));
}

/* ---- running ------------------------------------------------------------------------ */

static int run_everywhere(const struct mg_fleet *f, const struct mg_options *opt, int jobs,
			  int argc, char **argv)
{
	struct mg_strlist args = MG_STRLIST_INIT;
	struct mg_fleet_result *res;
	struct mg_err err = MG_ERR_INIT;
	struct mg_fleet_run run = { 0 };
	int stopped, worst = 0;
	char *header;

	child_args(&args, argc, argv, opt->json);
	header = header_of(&args, f->path);
	run = (struct mg_fleet_run){ (const char *const *)args.items, args.n, header, jobs,
				     mg_verbosity < 0 };
	res = mg_fleet_run(f, &run, &stopped, &err);
	if (!res) {
		mg_report_error(&err);
		worst = err.code;
		goto out;
	}
	for (size_t i = 0; i < f->n; i++)
		if (res[i].started)
			worst = mg_fleet_worst(worst, res[i].exit);
	if (stopped)
		worst = MG_EDB;	/* a stopped backfill is resumable: rerun the command */
	if (opt->json) {
		print_json(f, res, opt->command, worst);
	} else {
		print_table(f, res);
		print_counts(f, res);
	}
	mg_fleet_results_free(res, f->n);
out:
	free(header);
	mg_strlist_release(&args);
	return worst;
}

/* --fleet-gate-only: say that the gate passed, run nothing. */
static void gate_passed(const struct mg_fleet *f, const struct mg_options *opt)
{
	if (opt->json)
		mg_fleet_json_print(json_pack("{s:s, s:i, s:[], s:{s:I}, s:{s:b}}", "command",
					opt->command, "exit", 0, "targets", "counts", "targets",
					(json_int_t)f->n, "gate", "refused", 0));
	else
		printf("fleet-wide colour gate: no alive colour on any of the %zu targets "
		       "blocks '%s'\n", f->n, opt->command);
}

int mg_cmd_fleet(struct mg_options *opt, int argc, char **argv)
{
	unsigned bit = mg_cli_command_bit(opt->command);
	struct mg_err err = MG_ERR_INIT;
	struct mg_fleet f;
	int rc, jobs;

	if (!(bit & RUNS_ON_A_FLEET))
		return refuse_command(opt->command);
	if (refuse_options(opt, &err) < 0 || mg_options_check_command(opt, bit, &err) < 0 ||
	    (bit == MG_C_STATUS && refuse_status_options(opt, &err) < 0) ||
	    jobs_from_env(opt, &err) < 0 || mg_fleet_load(&f, opt->fleet, &err) < 0) {
		mg_report_error(&err);
		return err.code ? err.code : MG_EINPUT;
	}
	jobs = opt->fleet_jobs ? opt->fleet_jobs : f.concurrency;
	if (bit == MG_C_STATUS) {
		rc = mg_fleet_status(&f, opt, jobs);
	} else {
		rc = 0;
		if (bit & (MG_C_CONTRACT | MG_C_ROLLBACK))
			rc = mg_fleet_gate(&f, opt, jobs, opt->command);
		if (rc == 0 && opt->fleet_gate_only)
			gate_passed(&f, opt);
		else if (rc == 0)
			rc = run_everywhere(&f, opt, jobs, argc, argv);
	}
	mg_fleet_release(&f);
	return rc;
}
