/* status.c - `migrate status [--json]`: where every migration stands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "colour.h"
#include "output.h"
#include "phase.h"

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
		p->estimate += cps[i].estimate > cps[i].rows_done ? cps[i].estimate : cps[i].rows_done;
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
			struct mg_err gate = MG_ERR_INIT;

			*for_view = v;
			if (mg_gate_contract_preview(ctx, v->id, &gate) < 0)
				return mg_xasprintf("%s (%s)", gate.hint, gate.msg);
			return mg_xasprintf("migrate contract %s   (no alive colour needs the old schema; switching back to an older version is impossible afterwards)",
					    mg_id_str(v->id, idbuf));
		}
	}
	return NULL;
}

static int status_json(struct mg_ctx *ctx, struct mg_err *err)
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
		if (p.any)
			json_object_set_new(m, "backfill", json_pack("{s:I, s:I, s:b, s:i, s:O}",
				"rows_done", (json_int_t)p.rows_done, "estimate", (json_int_t)p.estimate,
				"done", p.parts_done == p.n_parts, "tables", p.tables,
				"checkpoints", p.parts));
		else
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
	next = next_step(ctx, &nv);
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

static int status_text(struct mg_ctx *ctx, struct mg_err *err)
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
	if (!ctx->n_views)
		printf("\nno migrations in '%s'\n", ctx->opt->migrations);
	else
		printf("\n%-6s %-36s %-11s %-22s %s\n", "ID", "NAME", "PHASE", "BACKFILL", "NOTE");
	for (size_t i = 0; i < ctx->n_views; i++) {
		const struct mg_view *v = &ctx->views[i];
		struct progress_sum p;
		char idbuf[16], bf[64] = "", note[256] = "";
		const char *ph;
		int step;

		if (backfill_progress(ctx, v, &p, err) < 0)
			return -1;
		json_decref(p.parts);
		if (p.any)
			snprintf(bf, sizeof(bf), "%lld/%lld rows%s", (long long)p.rows_done,
				 (long long)p.estimate, p.parts_done == p.n_parts ? "" : " (running or stopped)");
		if (v->edited)
			snprintf(note, sizeof(note), "file edited since expand");
		else if (!v->file)
			snprintf(note, sizeof(note), "file deleted (recorded plan kept)");
		else if (interrupted(v, &ph, &step))
			snprintf(note, sizeof(note), "%s stopped after step %d: run it again", ph, step);
		else if (p.any && p.parts_done < p.n_parts && v->phase == MG_PHASE_EXPANDED)
			snprintf(note, sizeof(note), "backfill checkpoint: %.200s", p.resume);
		printf("%-6s %-36s %-11s %-22s %s\n", mg_id_str(v->id, idbuf), v->name,
		       mg_phase_name(v->phase), bf, note);
	}
	mg_window_compute(ctx, &w);
	printf("\nreadable window: schema versions %d..%d (what a running application version may require)\n\n",
	       w.low, w.high);
	if (mg_colour_print_all(ctx, 0, NULL, err) < 0)
		return -1;
	next = next_step(ctx, &nv);
	printf("\nnext: %s\n", next ? next : "nothing: every migration is contracted");
	free(next);
	if (ctx->opt->events > 0) {
		printf("\nevents (newest %d):\n", ctx->opt->events);
		if (mg_events_show(ctx->state, ctx->opt->events, NULL, err) < 0)
			return -1;
	}
	return 0;
}

int mg_cmd_status(struct mg_options *opt)
{
	struct mg_ctx ctx;
	struct mg_err err = MG_ERR_INIT;
	int rc = 0;

	if (opt->n_args > 0) {
		mg_err_set(&err, MG_EINPUT, "unexpected argument '%s': status takes none", opt->args[0]);
		return mg_cmd_fail(&err);
	}
	if (mg_ctx_open(&ctx, opt, "status", MG_NEED_DB, &err) < 0 ||
	    (opt->json ? status_json(&ctx, &err) : status_text(&ctx, &err)) < 0)
		rc = mg_cmd_fail(&err);
	mg_ctx_close(&ctx);
	return rc;
}
