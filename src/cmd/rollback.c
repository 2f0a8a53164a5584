/* rollback.c - `migrate rollback [ID]`: undo expand and backfill. */
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "phase.h"

/* An expand interrupted after some steps: pending, but with changes to undo. */
static int partially_expanded(const struct mg_view *v)
{
	return v->phase == MG_PHASE_PENDING && v->has_rec && v->rec.plan_json &&
	       v->hist && v->hist->step_phase && !strcmp(v->hist->step_phase, "expand") &&
	       v->hist->step_index > 0;
}

int mg_cmd_rollback(struct mg_options *opt)
{
	struct mg_ctx ctx;
	struct mg_err err = MG_ERR_INIT;
	struct mg_plan plan = MG_PLAN_INIT;
	struct mg_view *v = NULL;
	const char *id;
	char idbuf[16];
	int rc = 0;

	if (mg_cmd_one_id(opt, &id) < 0)
		return MG_EINPUT;
	if (mg_ctx_open(&ctx, opt, "rollback", MG_NEED_DB | MG_NEED_WRITE, &err) < 0 ||
	    mg_ctx_pick(&ctx, id, MG_PHASE_PENDING, &v, &err) < 0)
		goto fail;
	if (!v) {
		mg_info("nothing to do: no migration is expanded, backfilled or switched");
		goto out;
	}
	if (v->phase == MG_PHASE_CONTRACTED) {
		mg_err_set(&err, MG_EREFUSED, "rollback %s refused: it is contracted, the old structures are gone",
			   mg_id_str(v->id, idbuf));
		mg_err_hint(&err, "roll forward instead: write a new migration that brings back what you need");
		goto fail;
	}
	if (v->phase == MG_PHASE_PENDING && !partially_expanded(v)) {
		mg_info("nothing to do: %s is pending", v->name);
		goto out;
	}
	if (mg_phase_require_higher_pending(&ctx, v, &err) < 0 ||
	    mg_ctx_recorded_plan(&ctx, v, &plan, &err) < 0)
		goto fail;
	if (plan.rollback_refused) {
		mg_err_set(&err, MG_EREFUSED, "rollback %s refused: %s", mg_id_str(v->id, idbuf),
			   plan.rollback_refusal);
		mg_err_hint(&err, "undo it by hand, or roll forward with a new migration");
		goto fail;
	}
	if (mg_phase_check_blockers(&ctx, &plan, MG_PLAN_ROLLBACK, &err) < 0)
		goto fail;
	mg_info("rollback %s (%s):", v->name, mg_phase_name(v->phase));
	if (mg_ctx_run_phase(&ctx, v, &plan, MG_PLAN_ROLLBACK, MG_PHASE_PENDING, &err) < 0 ||
	    mg_state_checkpoint_clear(ctx.state, v->id, &err) < 0 ||
	    mg_state_journal_clear(ctx.state, v->id, &err) < 0)
		goto fail;
	mg_ctx_event(&ctx, v->id, "ok", "rolled back %s", v->name);
	mg_info("%s is rolled back to pending: the schema is as before expand", v->name);
	goto out;
fail:
	if (ctx.state && v)
		mg_ctx_event(&ctx, v->id, err.code == MG_EREFUSED ? "refused" : "error", "%s", err.msg);
	rc = mg_cmd_fail(&err);
out:
	mg_plan_release(&plan);
	mg_ctx_close(&ctx);
	return rc;
}
