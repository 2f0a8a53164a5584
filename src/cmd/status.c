/* status.c - `migrate status [--json]`: where every migration stands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_options.h"
#include "cmd.h"
#include "colour.h"
#include "output.h"
#include "phase.h"
#include "runinfo.h"
#include "status.h"

/* the BACKFILL column of the text table */
#define BACKFILL_WIDTH 22

struct progress_sum {
	int64_t rows_done, estimate;
	int tables;			/* tables with a checkpoint */
	int n_parts, parts_done;	/* checkpoints (parts) and those done */
	int any;
	char resume[256];		/* where an unfinished part resumes */
	json_t *parts;			/* [{table, part, last_key, upto_key, rows_done, done}] */
};

static int backfill_progress(struct mg_ctx *ctx, const struct mg_view *v,
			     struct progress_sum *p, struct mg_err *err)
{
	struct mg_checkpoint *cps = NULL;
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	if (!ctx->state || mg_state_checkpoint_list(ctx->state, v->id, &cps, &n, err) < 0)
		return ctx->state ? -1 : 0;
	p->parts = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(p->parts, json_pack("{s:s, s:i, s:o, s:o, s:I, s:b}",
			"table", cps[i].table_name, "part", cps[i].part,
			"last_key", cps[i].last_key_json ? json_loads(cps[i].last_key_json, 0, NULL) : json_null(),
			"upto_key", cps[i].upto_key_json ? json_loads(cps[i].upto_key_json, 0, NULL) : json_null(),
			"rows_done", (json_int_t)cps[i].rows_done, "done", cps[i].done));
		if (!cps[i].done && !p->resume[0])
			snprintf(p->resume, sizeof(p->resume), "%s after key %s", cps[i].table_name,
				 cps[i].last_key_json ? cps[i].last_key_json : "(start)");
		p->any = 1;
		p->rows_done += cps[i].rows_done;
		p->estimate += mg_checkpoint_rows(&cps[i]);
		p->tables += !i || strcmp(cps[i].table_name, cps[i - 1].table_name) != 0;
		p->n_parts++;
		p->parts_done += cps[i].done;
	}
	mg_state_checkpoint_list_free(cps, n);
	return 0;
}

/* A phase run that stopped part-way, from the target's history. */
static int interrupted(const struct mg_view *v, const char **phase, int *step)
{
	if (!v->hist || !v->hist->step_phase || v->hist->step_index <= 0)
		return 0;
	if (!strcmp(v->hist->phase, mg_phase_name(v->phase)) &&
	    strcmp(v->hist->step_phase, mg_phase_next_command(v->phase) ?
		   mg_phase_next_command(v->phase) : "") == 0) {
		*phase = v->hist->step_phase;
		*step = v->hist->step_index;
		return 1;
	}
	if (!strcmp(v->hist->step_phase, "rollback") && v->phase != MG_PHASE_PENDING) {
		*phase = "rollback";
		*step = v->hist->step_index;
		return 1;
	}
	return 0;
}

/* Alive or standby colours (retired ones protect nothing): -1 on error. */
static int registered_colours(struct mg_ctx *ctx, struct mg_err *err)
{
	struct mg_colour *cs = NULL;
	size_t n = 0;
	int count = 0;

	if (!ctx->state)
		return 0;
	if (mg_state_colour_list(ctx->state, &cs, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		count += !cs[i].state || strcmp(cs[i].state, "retired") != 0;
	mg_state_colour_list_free(cs, n);
	return count;
}

/* The next step for a switched migration: contract, if the gate lets it
 * and something registered lets the gate mean anything. */
static char *next_contract(struct mg_ctx *ctx, const struct mg_view *v)
{
	struct mg_err gate = MG_ERR_INIT;
	char idbuf[16];
	int n;

	if (mg_gate_contract_preview(ctx, v->id, &gate) < 0)
		return mg_xasprintf("%s (%s)", gate.hint, gate.msg);
	n = registered_colours(ctx, &gate);
	if (n < 0)
		return mg_xasprintf("%s", gate.msg);
	if (n == 0)
		return mg_xasprintf("register the version that runs now before contract, e.g. 'migrate colour register blue --app-version V --requires %s --match PATTERN'   (no colour is registered, so the gate cannot tell whether a running application still reads the old schema; 'migrate contract %s' drops it for good)",
				    mg_id_str(v->id, idbuf), mg_id_str(v->id, idbuf));
	return mg_xasprintf("migrate contract %s   (no alive colour needs the old schema; switching back to an older version is impossible afterwards)",
			    mg_id_str(v->id, idbuf));
}

static char *next_step(struct mg_ctx *ctx, const struct mg_view **for_view)
{
	char idbuf[16];

	*for_view = NULL;
	for (size_t i = 0; i < ctx->n_views; i++) {
		const struct mg_view *v = &ctx->views[i];
		const char *ph;
		int step;

		if (v->edited)
			return mg_xasprintf("restore %s as it was expanded (it was edited since), or 'migrate rollback %s'",
					    v->file->path, mg_id_str(v->id, idbuf));
		if (interrupted(v, &ph, &step)) {
			*for_view = v;
			return mg_xasprintf("migrate %s %s   (it stopped after step %d)", ph,
					    mg_id_str(v->id, idbuf), step);
		}
		if (v->phase < MG_PHASE_CONTRACTED && v->phase != MG_PHASE_SWITCHED) {
			*for_view = v;
			return mg_xasprintf("migrate %s %s", mg_phase_next_command(v->phase),
					    mg_id_str(v->id, idbuf));
		}
		if (v->phase == MG_PHASE_SWITCHED) {
			*for_view = v;
			return next_contract(ctx, v);
		}
	}
	return NULL;
}

/* The run holding the lock concerns migration v (by id or by name). */
static int run_is_about(const struct mg_runinfo *ri, const struct mg_view *v)
{
	long id;

	if (!ri->live || !ri->migration[0])
		return 0;
	if (!strcmp(ri->migration, v->name))
		return 1;
	return mg_parse_long(ri->migration, &id) == 0 && id == v->id;
}

/* While another migrate holds the lock, every changing command would be
 * refused: next says to wait for it instead. */
static char *next_or_wait(struct mg_ctx *ctx, const struct mg_runinfo *ri,
			  const struct mg_view **for_view)
{
	struct mg_buf b = MG_BUF_INIT;
	char *then = next_step(ctx, for_view);

	if (!ri->live)
		return then;
	mg_buf_addf(&b, "wait for the running `migrate %s` to finish", ri->what);
	if (ri->has_progress) {
		mg_buf_adds(&b, " (");
		mg_runinfo_progress_line(ri, &b);
		mg_buf_adds(&b, ")");
	}
	/* what comes after the running command is known once it ended */
	if (*for_view && run_is_about(ri, *for_view))
		mg_buf_adds(&b, ", or queue behind it with --wait-lock DURATION; then see 'migrate status' again");
	else
		mg_buf_addf(&b, ", or queue behind it with --wait-lock DURATION; then: %s",
			    then ? then : "nothing: every migration is contracted");
	free(then);
	return mg_buf_detach(&b);
}

/* The BACKFILL column: rows done of the estimate, and whether it runs. */
static void backfill_cell(char *out, size_t size, const struct progress_sum *p,
			  const struct mg_view *v, const struct mg_runinfo *ri)
{
	int running = run_is_about(ri, v) && !strcmp(ri->command, "backfill");

	out[0] = '\0';
	if (running && ri->has_progress && ri->rows_total > 0) {
		long long pct = ri->rows_done * 100 / ri->rows_total;

		snprintf(out, size, "%lld%% running", pct > 100 ? 100 : pct);
	} else if (running) {
		snprintf(out, size, "running");
	} else if (p->any && p->parts_done == p->n_parts) {
		snprintf(out, size, "%lld/%lld rows", (long long)p->rows_done, (long long)p->estimate);
	} else if (p->any) {
		/* a checkpoint: the run stopped (the lock says nothing runs) */
		snprintf(out, size, "%lld/%lld stopped", (long long)p->rows_done,
			 (long long)p->estimate);
		if (strlen(out) > BACKFILL_WIDTH && p->estimate > 0)
			snprintf(out, size, "%lld%% stopped",
				 (long long)(p->rows_done * 100 / p->estimate));
	}
}

static json_t *running_json(const struct mg_runinfo *ri)
{
	return ri->live ? mg_runinfo_json(ri) : json_null();
}

static int status_json(struct mg_ctx *ctx, const struct mg_runinfo *ri, struct mg_err *err)
{
	json_t *doc = json_object(), *migs = json_array(), *pend = json_array(),
	       *edited = json_array();
	const struct mg_view *nv;
	char *shown = mg_redact_url(ctx->opt->database);
	json_t *colours = NULL, *events = NULL;
	char *next;

	json_object_set_new(doc, "database", json_string(shown));
	json_object_set_new(doc, "state", json_string(ctx->opt->state));
	json_object_set_new(doc, "state_exists", json_boolean(ctx->state != NULL));
	json_object_set_new(doc, "generation", json_integer(ctx->generation));
	for (size_t i = 0; i < ctx->n_views; i++) {
		const struct mg_view *v = &ctx->views[i];
		json_t *m = json_object();
		struct progress_sum p;
		const char *ph;
		int step;

		if (backfill_progress(ctx, v, &p, err) < 0) {
			json_decref(doc);
			json_decref(migs);
			free(shown);
			return -1;
		}
		json_object_set_new(m, "id", json_integer(v->id));
		json_object_set_new(m, "name", json_string(v->name));
		json_object_set_new(m, "phase", json_string(mg_phase_name(v->phase)));
		json_object_set_new(m, "file", json_boolean(v->file != NULL));
		json_object_set_new(m, "checksum", mg_json_str(v->has_rec ? v->rec.checksum :
							       NULL));
		json_object_set_new(m, "file_checksum", mg_json_str(v->file ? v->file->checksum : NULL));
		json_object_set_new(m, "edited", json_boolean(v->edited));
		if (interrupted(v, &ph, &step))
			json_object_set_new(m, "interrupted", json_pack("{s:s, s:i}", "phase", ph, "after_step", step));
		else
			json_object_set_new(m, "interrupted", json_null());
		if (p.any) {
			json_object_set_new(m, "backfill", json_pack("{s:I, s:I, s:b, s:i, s:O}",
				"rows_done", (json_int_t)p.rows_done, "estimate", (json_int_t)p.estimate,
				"done", p.parts_done == p.n_parts, "tables", p.tables,
				"checkpoints", p.parts));
			json_object_set_new(json_object_get(m, "backfill"), "running",
					    json_boolean(run_is_about(ri, v) &&
							 !strcmp(ri->command, "backfill")));
		} else
			json_object_set_new(m, "backfill", json_null());
		json_decref(p.parts);
		json_object_set_new(m, "expanded_at", mg_json_str(v->has_rec ? v->rec.expanded_at : NULL));
		json_object_set_new(m, "switched_at", mg_json_str(v->has_rec ? v->rec.switched_at : NULL));
		json_object_set_new(m, "contracted_at", mg_json_str(v->has_rec ? v->rec.contracted_at : NULL));
		json_array_append_new(migs, m);
		if (v->phase == MG_PHASE_PENDING)
			json_array_append_new(pend, json_integer(v->id));
		if (v->edited)
			json_array_append_new(edited, json_integer(v->id));
	}
	json_object_set_new(doc, "migrations", migs);
	json_object_set_new(doc, "window", mg_window_json(ctx));
	json_object_set_new(doc, "pending", pend);
	json_object_set_new(doc, "edited", edited);
	json_object_set_new(doc, "running", running_json(ri));
	next = next_or_wait(ctx, ri, &nv);
	json_object_set_new(doc, "next", mg_json_str(next));
	free(next);
	free(shown);
	if (mg_colour_print_all(ctx, 1, &colours, err) < 0 ||
	    (ctx->opt->events > 0 && mg_events_show(ctx->state, ctx->opt->events, &events, err) < 0)) {
		json_decref(colours);
		json_decref(doc);
		return -1;
	}
	json_object_set_new(doc, "colours", colours);
	json_object_set_new(doc, "events", events ? events : json_null());
	mg_json_print(doc);
	return 0;
}

/* "running: `migrate backfill 0003` on host X (pid N), running since ...",
 * then its progress; a record whose run ended is not shown. */
static void print_running(const struct mg_runinfo *ri)
{
	struct mg_buf b = MG_BUF_INIT;

	if (!ri->live)
		return;
	mg_runinfo_describe(ri, &b);
	printf("running:  %s\n", b.buf);
	mg_buf_reset(&b);
	mg_runinfo_progress_line(ri, &b);
	if (b.len)
		printf("          %s\n", b.buf);
	mg_buf_release(&b);
}

static int status_text(struct mg_ctx *ctx, const struct mg_runinfo *ri, struct mg_err *err)
{
	char *shown = mg_redact_url(ctx->opt->database);
	const struct mg_view *nv;
	struct mg_window w;
	char *next;

	printf("database: %s\n", shown);
	if (ctx->state)
		printf("state:    %s (generation %lld)\n", ctx->opt->state, (long long)ctx->generation);
	else
		printf("state:    %s (not created yet: nothing applied)\n", ctx->opt->state);
	free(shown);
	print_running(ri);
	if (!ctx->n_views)
		printf("\nno migrations in '%s'\n", ctx->opt->migrations);
	else
		printf("\n%-6s %-36s %-11s %-*s %s\n", "ID", "NAME", "PHASE", BACKFILL_WIDTH,
		       "BACKFILL", "NOTE");
	for (size_t i = 0; i < ctx->n_views; i++) {
		const struct mg_view *v = &ctx->views[i];
		struct progress_sum p;
		char idbuf[16], bf[64], note[256] = "";
		const char *ph;
		int step;

		if (backfill_progress(ctx, v, &p, err) < 0)
			return -1;
		json_decref(p.parts);
		backfill_cell(bf, sizeof(bf), &p, v, ri);
		if (v->edited)
			snprintf(note, sizeof(note), "file edited since expand");
		else if (!v->file)
			snprintf(note, sizeof(note), "file deleted (recorded plan kept)");
		else if (interrupted(v, &ph, &step))
			snprintf(note, sizeof(note), "%s stopped after step %d: run it again", ph, step);
		else if (run_is_about(ri, v) && !strcmp(ri->command, "backfill"))
			snprintf(note, sizeof(note), "%lld/%lld rows", ri->has_progress ? ri->rows_done :
				 (long long)p.rows_done, ri->has_progress ? ri->rows_total :
				 (long long)p.estimate);
		else if (p.any && p.parts_done < p.n_parts && v->phase == MG_PHASE_EXPANDED)
			snprintf(note, sizeof(note), "backfill checkpoint: %.200s", p.resume);
		printf("%-6s %-36s %-11s %-*s %s\n", mg_id_str(v->id, idbuf), v->name,
		       mg_phase_name(v->phase), BACKFILL_WIDTH, bf, note);
	}
	mg_window_compute(ctx, &w);
	printf("\nreadable window: schema versions %d..%d (what a running application version may require)\n\n",
	       w.low, w.high);
	if (mg_colour_print_all(ctx, 0, NULL, err) < 0)
		return -1;
	next = next_or_wait(ctx, ri, &nv);
	printf("\nnext: %s\n", next ? next : "nothing: every migration is contracted");
	free(next);
	if (ctx->opt->events > 0) {
		printf("\nevents (newest %d):\n", ctx->opt->events);
		if (mg_events_show(ctx->state, ctx->opt->events, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* One status, printed to stdout: 0, or -1 with err set. */
int mg_status_once(struct mg_options *opt, struct mg_err *err)
{
	struct mg_ctx ctx;
	struct mg_runinfo ri;
	int rc = 0;

	/* read without the lock: status works while another migrate runs */
	mg_runinfo_read(opt->state, &ri);
	if (mg_ctx_open(&ctx, opt, "status", MG_NEED_DB, err) < 0 ||
	    (opt->json ? status_json(&ctx, &ri, err) : status_text(&ctx, &ri, err)) < 0)
		rc = -1;
	mg_ctx_close(&ctx);
	return rc;
}

int mg_cmd_status(struct mg_options *opt)
{
	struct mg_err err = MG_ERR_INIT;

	if (opt->n_args > 0) {
		mg_err_set(&err, MG_EINPUT, "unexpected argument '%s': status takes none", opt->args[0]);
		return mg_cmd_fail(&err);
	}
	if (opt->watch)
		return mg_status_watch(opt);
	if (mg_opt_on_command_line(opt, "interval")) {
		mg_err_set(&err, MG_EINPUT, "--interval is the time between refreshes of --watch: "
			   "status without --watch shows the status once");
		mg_err_hint(&err, "migrate status --watch --interval DURATION");
		return mg_cmd_fail(&err);
	}
	return mg_status_once(opt, &err) < 0 ? mg_cmd_fail(&err) : 0;
}
