/* rollback.c - `migrate rollback [ID]`: undo expand and backfill. */
#include <string.h>

#include "cmd.h"
#include "colour.h"
#include "output.h"
#include "phase.h"

/* An expand interrupted after some steps: pending, but with changes to undo. */
static int partially_expanded(const struct mg_view *v)
{
	return v->phase == MG_PHASE_PENDING && v->has_rec && v->rec.plan_json &&
	       v->hist && v->hist->step_phase && !strcmp(v->hist->step_phase, "expand") &&
	       v->hist->step_index > 0;
}

static int rollback_ready(struct mg_ctx *ctx, struct mg_view *v, struct mg_err *err)
{
	char idbuf[16];

	if (v->phase == MG_PHASE_CONTRACTED) {
		mg_err_set(err, MG_EREFUSED, "rollback %s refused: it is contracted, the old structures are gone",
			   mg_id_str(v->id, idbuf));
		return mg_err_hint(err, "roll forward instead: write a new migration that brings back what you need");
	}
	if (v->hist && v->hist->step_phase && !strcmp(v->hist->step_phase, "contract") &&
	    v->hist->step_index > 0 && v->phase == MG_PHASE_SWITCHED) {
		mg_err_set(err, MG_EREFUSED, "rollback %s refused: its contract already ran %d step(s), old structures may be gone",
			   mg_id_str(v->id, idbuf), v->hist->step_index);
		return mg_err_hint(err, "finish it: run 'migrate contract %s' again (roll forward)", idbuf);
	}
	if (v->phase == MG_PHASE_PENDING && !partially_expanded(v)) {
		mg_info("nothing to do: %s is pending", v->name);
		return 1;
	}
	if (mg_phase_require_higher_pending(ctx, v, err) < 0)
		return -1;
	return mg_gate_rollback(ctx, v->id, err);
}

/* The recorded plan, even for an edited or deleted file: rollback is how
 * an edited migration is undone. */
static int rollback_plan(struct mg_ctx *ctx, struct mg_view *v, struct mg_plan *plan,
			 struct mg_err *err)
{
	char idbuf[16];

	if (mg_ctx_recorded_plan(ctx, v, plan, err) < 0)
		return -1;
	if (!plan->rollback_refused)
		return 0;
	mg_err_set(err, MG_EREFUSED, "rollback %s refused: %s", mg_id_str(v->id, idbuf),
		   plan->rollback_refusal);
	return mg_err_hint(err, "undo it by hand, or roll forward with a new migration");
}

static int forget_progress(struct mg_ctx *ctx, struct mg_view *v, struct mg_err *err)
{
	if (mg_state_checkpoint_clear(ctx->state, v->id, err) < 0)
		return -1;
	return mg_state_journal_clear(ctx->state, v->id, err);
}

/* Colours requiring this migration must be registered again afterwards,
 * even if the same file is expanded again: done first, the safe side. */
static int invalidate_colours(struct mg_ctx *ctx, struct mg_view *v, const struct mg_plan *plan,
			      struct mg_err *err)
{
	(void)plan;
	return mg_state_colour_invalidate(ctx->state, v->id, err);
}

static const struct mg_phase_cmd rollback_cmd = {
	.name = "rollback",
	.pick = MG_PHASE_PENDING,
	.steps = MG_PLAN_ROLLBACK,
	.reaches = MG_PHASE_PENDING,
	.ready = rollback_ready,
	.load_plan = rollback_plan,
	.before_steps = invalidate_colours,
	.after_steps = forget_progress,
	.done = "%s is rolled back to pending: the schema is as before expand",
};

int mg_cmd_rollback(struct mg_options *opt)
{
	return mg_phase_run(opt, &rollback_cmd);
}
