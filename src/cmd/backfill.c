/* backfill.c - `migrate backfill [ID]`: copy existing rows in resumable batches. */
#include "backfill.h"
#include "cmd.h"
#include "output.h"
#include "phase.h"

static int backfill_ready(struct mg_ctx *ctx, struct mg_view *v, struct mg_err *err)
{
	char idbuf[16];

	if (ctx->opt->jobs != 1)
		return mg_err_set(err, MG_EINPUT, "bad value for option '--jobs': only 1 worker is supported in this version");
	if (v->phase >= MG_PHASE_BACKFILLED) {
		mg_info("nothing to do: %s is already %s", v->name, mg_phase_name(v->phase));
		return 1;
	}
	if (v->phase < MG_PHASE_EXPANDED) {
		mg_err_set(err, MG_EREFUSED, "backfill %s refused: it is pending",
			   mg_id_str(v->id, idbuf));
		return mg_err_hint(err, "run 'migrate expand %s' first", idbuf);
	}
	return 0;
}

/* The engine runs on its own connection, so that the session setting that
 * makes the dual-write triggers skip the backfill's writes never leaks into
 * the steps that follow. */
static int run_engine(struct mg_ctx *ctx, struct mg_view *v, const struct mg_plan *plan,
		      struct mg_err *err)
{
	struct mg_conn_opts co = { .application_name = "migrate/backfill",
				   .lock_timeout_ms = ctx->opt->lock_timeout_ms };
	struct mg_backfill_opts bo = {
		.batch_size = ctx->opt->batch_size,
		.max_rows_per_sec = ctx->opt->max_rows_per_sec,
		.sleep_ms = ctx->opt->sleep_ms,
	};
	struct mg_conn *worker = NULL;
	int rc;

	if (!plan->n_backfills)
		return 0;
	if (mg_db_connect(&worker, ctx->opt->database, &co, err) < 0)
		return -1;
	mg_backfill_install_signals();
	rc = mg_backfill_run(worker, ctx->state, v->id, plan, &bo, err);
	mg_db_close(worker);
	return rc;
}

static const struct mg_phase_cmd backfill_cmd = {
	.name = "backfill",
	.pick = MG_PHASE_BACKFILLED,
	.steps = MG_PLAN_BACKFILL,
	.reaches = MG_PHASE_BACKFILLED,
	.ready = backfill_ready,
	.load_plan = mg_phase_recorded_unchanged,
	.before_steps = run_engine,
	.done = "%s is backfilled",
};

int mg_cmd_backfill(struct mg_options *opt)
{
	return mg_phase_run(opt, &backfill_cmd);
}
