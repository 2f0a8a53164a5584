/*
 * check.c - `migrate check [--requires V] [--offline] [--no-lint]`: the
 * pre-deploy gate. It runs `migrate lint` over the migrations folder too
 * (--no-lint skips it): an error-level finding fails the gate.
 *
 * Exit 0 pass, 1 fail (every reason listed, lint's error findings too), 2 bad input (a file that does
 * not load, an unknown V, --requires with --offline), 3 the database or
 * the state cannot be read. Without a state file the target's history table
 * is enough: a CI job needs read access to the database and nothing else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "colour.h"
#include "output.h"

struct check_report {
	json_t *checks;		/* [{name, ok, detail}] */
	json_t *warnings;	/* [text] */
	json_t *lint;		/* lint's document, or NULL (--no-lint) */
	int failed;
	int text;		/* print each result as a line */
};

static void report(struct check_report *r, const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(struct check_report *r, const char *name, int ok, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_array_append_new(r->checks, json_pack("{s:s, s:b, s:s}", "name", name, "ok", ok,
						   "detail", detail));
	if (!ok)
		r->failed = 1;
	if (r->text && (mg_verbosity >= 0 || !ok))
		printf("%-4s %-10s %s\n", ok ? "ok" : "FAIL", name, detail);
}

static void check_files(struct check_report *r, const struct mg_migration_set *files,
			const char *dir)
{
	report(r, "files", 1, "%zu migration file(s) in '%s' load, ids unique", files->n, dir);
}

/* A pending file numbered below a migration already applied would run out
 * of order (or never): it must be renumbered. */
static void check_order(struct check_report *r, const struct mg_ctx *ctx)
{
	const struct mg_view *applied = NULL;
	int bad = 0;

	for (size_t i = ctx->n_views; i-- > 0;)
		if (ctx->views[i].phase > MG_PHASE_PENDING) {
			applied = &ctx->views[i];
			break;
		}
	for (size_t i = 0; applied && i < ctx->n_views; i++) {
		const struct mg_view *v = &ctx->views[i];
		char a[16];

		if (v->id >= applied->id || v->phase != MG_PHASE_PENDING || !v->file)
			continue;
		report(r, "order", 0, "%s is pending but numbered below %s, which is already %s: renumber it above %s",
		       v->file->path, applied->name, mg_phase_name(applied->phase),
		       mg_id_str(applied->id, a));
		bad = 1;
	}
	if (!bad)
		report(r, "order", 1, "every pending migration is numbered above the applied ones");
}

/* What to do about an edited file. Rollback is refused once contract has
 * run a step (src/cmd/rollback.c), so it is offered only before. */
static const char *edited_remedy(const struct mg_view *v)
{
	int contract_started = v->hist && v->hist->step_phase &&
			       !strcmp(v->hist->step_phase, "contract") && v->hist->step_index > 0;

	if (v->phase == MG_PHASE_CONTRACTED)
		return "restore the file (it is contracted: it cannot be rolled back)";
	if (contract_started)
		return "restore the file (its contract has started: it cannot be rolled back)";
	return "restore it, or roll it back first";
}

static void check_unchanged(struct check_report *r, const struct mg_ctx *ctx)
{
	int bad = 0;

	for (size_t i = 0; i < ctx->n_views; i++) {
		const struct mg_view *v = &ctx->views[i];

		if (v->edited) {
			report(r, "unchanged", 0, "%s was edited after it was expanded (recorded sha256 %.12s..., file now %.12s...): %s",
			       v->file->path, v->rec.checksum, v->file->checksum, edited_remedy(v));
			bad = 1;
		} else if (!v->file && v->phase > MG_PHASE_PENDING && v->phase < MG_PHASE_CONTRACTED) {
			char *w = mg_xasprintf("%s is %s but its file is gone (contract and rollback use the plan recorded at expand)",
					       v->name, mg_phase_name(v->phase));

			json_array_append_new(r->warnings, json_string(w));
			if (r->text && mg_verbosity >= 0)
				printf("%-4s %-10s %s\n", "warn", "unchanged", w);
			free(w);
		}
	}
	if (!bad)
		report(r, "unchanged", 1, "no applied migration's file was edited");
}

static int check_requires(struct check_report *r, struct mg_ctx *ctx, int *v,
			  struct mg_err *err)
{
	struct mg_err why = MG_ERR_INIT;
	char *label;

	if (mg_version_parse(ctx, ctx->opt->requires, v, err) < 0)
		return -1;
	label = mg_version_label(ctx, *v);
	if (mg_window_require(ctx, *v, "check --requires", &why) < 0)
		report(r, "requires", 0, "a colour requiring %s could not go live now: %s (%s)", label,
		       why.msg + strlen("check --requires refused: "), why.hint);
	else
		report(r, "requires", 1, "a colour requiring %s could go live now", label);
	mg_ctx_event(ctx, *v, r->failed ? "refused" : "allowed", "check --requires %s: %s",
		     ctx->opt->requires, r->failed ? "fail" : "pass");
	free(label);
	return 0;
}

/*
 * The lint rules over the migrations folder (the files loaded already):
 * any unsuppressed error-level finding fails the gate. Text: a "lint" line
 * with the counts, then the findings as `migrate lint` prints them; JSON:
 * the "lint" member (lint's document without "command"). The checks array
 * keeps its entries; clean files print nothing. 0, or -1 with err (an
 * unknown rule in --error...).
 */
static int check_lint(struct check_report *r, const struct mg_options *opt,
		      struct mg_err *err)
{
	struct mg_lint_report lr = MG_LINT_REPORT_INIT;
	struct mg_lint_setup s;
	const char *dir = opt->migrations;
	int rc;

	if (opt->no_lint)
		return 0;
	if (mg_lint_setup_init(&s, opt, err) < 0) {
		mg_lint_setup_release(&s);
		return -1;
	}
	rc = mg_lint_paths(&s.o, &dir, 1, &lr, err);
	mg_lint_setup_release(&s);
	if (rc < 0) {
		mg_lint_report_release(&lr);
		return -1;
	}
	if (lr.errors)
		r->failed = 1;
	/* clean files add no line: check's text stays what it was */
	if (r->text && (lr.errors || (lr.warnings + lr.infos && mg_verbosity >= 0))) {
		printf("%-4s %-10s ", lr.errors ? "FAIL" : "ok", "lint");
		mg_lint_summary(stdout, &lr);
		mg_lint_print(stdout, &lr, MG_LINT_TEXT);
	}
	r->lint = mg_lint_json(&lr);
	mg_lint_report_release(&lr);
	return 0;
}

static void print_result(const struct check_report *r, const struct mg_options *opt,
			 struct mg_ctx *ctx, int requires)
{
	json_t *doc;

	if (!opt->json) {
		printf("check: %s\n", r->failed ? "FAIL" : "pass");
		return;
	}
	doc = json_pack("{s:s, s:s, s:b, s:O, s:O}", "command", "check",
			"result", r->failed ? "fail" : "pass", "offline", opt->offline,
			"checks", r->checks, "warnings", r->warnings);
	json_object_set_new(doc, "requires", opt->requires ? json_integer(requires) : json_null());
	json_object_set_new(doc, "window", ctx ? mg_window_json(ctx) : json_null());
	json_object_set(doc, "lint", r->lint ? r->lint : json_null());
	mg_json_print(doc);
}

static int check_offline(struct mg_options *opt, struct check_report *r)
{
	struct mg_migration_set files;
	struct mg_err err = MG_ERR_INIT;

	/* no database: the limit of the URL's driver if one is set, else the
	 * strictest driver's */
	if (mg_migration_set_load(&files, opt->migrations,
				  mg_driver_name_limit(opt->database), &err) < 0)
		return mg_cmd_fail(&err);
	check_files(r, &files, opt->migrations);
	mg_migration_set_release(&files);
	if (check_lint(r, opt, &err) < 0)
		return mg_cmd_fail(&err);
	print_result(r, opt, NULL, 0);
	return r->failed ? MG_EREFUSED : 0;
}

static int check_online(struct mg_options *opt, struct check_report *r)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_ctx ctx;
	int requires = 0, rc;

	if (mg_ctx_open(&ctx, opt, "check", MG_NEED_DB | MG_HISTORY_IS_ENOUGH, &err) < 0) {
		mg_ctx_close(&ctx);
		return mg_cmd_fail(&err);
	}
	check_files(r, &ctx.files, opt->migrations);
	check_order(r, &ctx);
	check_unchanged(r, &ctx);
	if (check_lint(r, opt, &err) < 0) {
		mg_ctx_close(&ctx);
		return mg_cmd_fail(&err);
	}
	if (opt->requires && check_requires(r, &ctx, &requires, &err) < 0) {
		mg_ctx_close(&ctx);
		return mg_cmd_fail(&err);
	}
	print_result(r, opt, &ctx, requires);
	rc = r->failed ? MG_EREFUSED : 0;
	mg_ctx_close(&ctx);
	return rc;
}

int mg_cmd_check(struct mg_options *opt)
{
	struct mg_err err = MG_ERR_INIT;
	struct check_report r = { json_array(), json_array(), NULL, 0, !opt->json };
	int rc;

	if (opt->n_args > 0) {
		mg_err_set(&err, MG_EINPUT, "unexpected argument '%s': check takes none", opt->args[0]);
		mg_err_hint(&err, "use 'migrate check --requires V' to ask whether a version requiring V could go live");
		rc = mg_cmd_fail(&err);
	} else if (opt->offline && opt->requires) {
		mg_err_set(&err, MG_EINPUT, "--requires needs the database: the readable window depends on what was applied");
		mg_err_hint(&err, "drop --offline (check needs read access to the database), or drop --requires");
		rc = mg_cmd_fail(&err);
	} else {
		rc = opt->offline ? check_offline(opt, &r) : check_online(opt, &r);
	}
	json_decref(r.checks);
	json_decref(r.warnings);
	json_decref(r.lint);
	return rc;
}
