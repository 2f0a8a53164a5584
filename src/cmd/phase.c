/* phase.c - order across migrations and blocker checks for phase commands. */
#include "phase.h"

#include "cmd.h"
#include "output.h"
#include "runinfo.h"

#include <stdio.h>
#include <string.h>

const char *mg_phase_next_command(enum mg_phase p)
{
	switch (p) {
	case MG_PHASE_PENDING:
		return "expand";
	case MG_PHASE_EXPANDED:
		return "backfill";
	case MG_PHASE_BACKFILLED:
		return "switch-reads";
	case MG_PHASE_SWITCHED:
		return "contract";
	case MG_PHASE_CONTRACTED:
		return NULL;
	}
	return NULL;
}

/*
 * After a phase command on v: v's next step; after switch-reads, the
 * lowest migration not contracted (migrations contract in order: after
 * switch-reads of 0002 with 0001 only switched, the next step is contract
 * 0001, as status says).
 */
void mg_phase_print_next(const struct mg_ctx *ctx, const struct mg_view *v)
{
	const struct mg_view *first = v;
	const char *next;
	char idbuf[16];

	for (size_t i = 0; i < ctx->n_views; i++)
		if (v->phase == MG_PHASE_SWITCHED && ctx->views[i].id < v->id &&
		    ctx->views[i].phase < MG_PHASE_CONTRACTED) {
			first = &ctx->views[i];
			break;
		}
	next = mg_phase_next_command(first->phase);
	if (next)
		mg_info("next: migrate %s %s", next, mg_id_str(first->id, idbuf));
}

int mg_phase_require_lower(struct mg_ctx *ctx, const struct mg_view *v,
			   enum mg_phase need, const char *verb,
			   struct mg_err *err)
{
	for (size_t i = 0; i < ctx->n_views; i++) {
		const struct mg_view *w = &ctx->views[i];
		char a[16], b[16];

		if (w->id >= v->id || w->phase >= need)
			continue;
		mg_err_set(err, MG_EREFUSED,
			   "%s %s refused: %s is %s, and migrations move in order (%s must be at least %s first)",
			   verb, mg_id_str(v->id, a), w->name, mg_phase_name(w->phase),
			   mg_id_str(w->id, b), mg_phase_name(need));
		return mg_err_hint(err, "run 'migrate %s %s' first",
				   mg_phase_next_command(w->phase), mg_id_str(w->id, b));
	}
	return 0;
}

int mg_phase_require_higher_pending(struct mg_ctx *ctx, const struct mg_view *v,
				    struct mg_err *err)
{
	for (size_t i = ctx->n_views; i-- > 0;) {
		const struct mg_view *w = &ctx->views[i];
		char a[16], b[16];

		if (w->id <= v->id || w->phase == MG_PHASE_PENDING)
			continue;
		mg_err_set(err, MG_EREFUSED,
			   "rollback %s refused: %s is %s, and migrations roll back from the highest down",
			   mg_id_str(v->id, a), w->name, mg_phase_name(w->phase));
		return mg_err_hint(err, "run 'migrate rollback %s' first", mg_id_str(w->id, b));
	}
	return 0;
}

int mg_phase_check_blockers(struct mg_ctx *ctx, const struct mg_plan *plan,
			    enum mg_plan_phase phase, struct mg_err *err)
{
	const char *tables[64];
	size_t n = 0;

	for (size_t i = 0; i < plan->n_steps[phase] && n < 64; i++) {
		const char *t = plan->steps[phase][i].table;
		int seen = 0;

		if (!t || plan->steps[phase][i].kind == MG_STEP_ASSERT)
			continue;
		for (size_t k = 0; k < n; k++)
			seen |= !strcmp(tables[k], t);
		if (!seen)
			tables[n++] = t;
	}
	return mg_db_check_blockers(ctx->conn, tables, n, err);
}

int mg_phase_recorded_unchanged(struct mg_ctx *ctx, struct mg_view *v,
				struct mg_plan *plan, struct mg_err *err)
{
	if (mg_ctx_check_unchanged(ctx, v, err) < 0)
		return -1;
	return mg_ctx_recorded_plan(ctx, v, plan, err);
}

static void print_json(const struct mg_ctx *ctx, const struct mg_phase_cmd *def,
		       const struct mg_view *v, const char *outcome,
		       const struct mg_err *err)
{
	json_t *doc = json_object();

	json_object_set_new(doc, "command", json_string(def->name));
	json_object_set_new(doc, "result", json_string(outcome));
	if (v) {
		json_object_set_new(doc, "migration", json_pack("{s:i, s:s}", "id", v->id,
								"name", v->name));
		json_object_set_new(doc, "phase", json_string(mg_phase_name(v->phase)));
	} else {
		json_object_set_new(doc, "migration", json_null());
		json_object_set_new(doc, "phase", json_null());
	}
	json_object_set_new(doc, "steps", json_incref(ctx->steps ? ctx->steps : json_array()));
	if (err && err->code)
		json_object_set_new(doc, "error", json_pack("{s:i, s:s, s:o}", "exit", err->code,
			"message", err->msg, "hint", err->hint[0] ? json_string(err->hint) : json_null()));
	else
		json_object_set_new(doc, "error", json_null());
	mg_json_print(doc);
}

int mg_phase_run(struct mg_options *opt, const struct mg_phase_cmd *def)
{
	struct mg_ctx ctx;
	struct mg_err err = MG_ERR_INIT;
	struct mg_plan plan = MG_PLAN_INIT;
	struct mg_view *v = NULL;
	const char *id, *outcome = "done";
	int rc = 0, r;

	if (mg_cmd_one_id(opt, &id) < 0)
		return MG_EINPUT;
	if (mg_ctx_open(&ctx, opt, def->name, MG_NEED_DB | MG_NEED_WRITE, &err) < 0 ||
	    mg_ctx_pick(&ctx, id, def->pick, &v, &err) < 0)
		goto fail;
	if (v)
		mg_runinfo_set_migration(v->name);
	if (!v) {
		mg_info("nothing to do: every migration is %s",
			def->pick == MG_PHASE_PENDING ? "pending or contracted" :
			mg_phase_name(def->reaches));
		outcome = "nothing to do";
		goto out;
	}
	r = def->ready(&ctx, v, &err);
	if (r < 0)
		goto fail;
	if (r > 0) {
		outcome = "nothing to do";
		goto out;
	}
	if (def->load_plan(&ctx, v, &plan, &err) < 0 ||
	    mg_phase_check_blockers(&ctx, &plan, def->steps, &err) < 0)
		goto fail;
	mg_info("%s %s:", def->name, v->name);
	if ((def->before_steps && def->before_steps(&ctx, v, &plan, &err) < 0) ||
	    mg_ctx_run_phase(&ctx, v, &plan, def->steps, def->reaches, &err) < 0 ||
	    (def->after_steps && def->after_steps(&ctx, v, &err) < 0)) {
		/* say which phase and migration, unless the message does */
		char said[64], idbuf[16];

		snprintf(said, sizeof(said), "%s %s", def->name, mg_id_str(v->id, idbuf));
		if (strncmp(err.msg, said, strlen(said)) != 0)
			mg_err_prefix(&err, "%s: ", said);
		goto fail;
	}
	mg_ctx_event(&ctx, v->id, "ok", "%s %s", def->name, v->name);
	mg_info(def->done, v->name);
	mg_phase_print_next(&ctx, v);
	goto out;
fail:
	mg_ctx_explain_lock_lost(&ctx, &err);
	if (ctx.state && v)
		mg_ctx_event(&ctx, v->id, err.code == MG_EREFUSED ? "refused" : "error", "%s", err.msg);
	outcome = err.code == MG_EREFUSED ? "refused" : "error";
	rc = mg_cmd_fail(&err);
out:
	if (opt->json)
		print_json(&ctx, def, v, outcome, rc ? &err : NULL);
	mg_plan_release(&plan);
	mg_ctx_close(&ctx);
	return rc;
}
