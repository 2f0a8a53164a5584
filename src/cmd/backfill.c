/* backfill.c - `migrate backfill [ID]`: copy existing rows in resumable batches. */
#include <string.h>

#include "backfill.h"
#include "cmd.h"
#include "output.h"
#include "phase.h"

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

int mg_cmd_backfill(struct mg_options *opt)
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
	if (opt->jobs != 1) {
		mg_err_set(&err, MG_EINPUT, "bad value for option '--jobs': only 1 worker is supported in this version");
		return mg_cmd_fail(&err);
	}
	if (mg_ctx_open(&ctx, opt, "backfill", MG_NEED_DB | MG_NEED_WRITE, &err) < 0 ||
	    mg_ctx_pick(&ctx, id, MG_PHASE_BACKFILLED, &v, &err) < 0)
		goto fail;
	if (!v) {
		mg_info("nothing to do: every migration is backfilled");
		goto out;
	}
	if (v->phase >= MG_PHASE_BACKFILLED) {
		mg_info("nothing to do: %s is already %s", v->name, mg_phase_name(v->phase));
		goto out;
	}
	if (v->phase < MG_PHASE_EXPANDED) {
		mg_err_set(&err, MG_EREFUSED, "backfill %s refused: it is pending",
			   mg_id_str(v->id, idbuf));
		mg_err_hint(&err, "run 'migrate expand %s' first", idbuf);
		goto fail;
	}
	if (mg_ctx_check_unchanged(&ctx, v, &err) < 0 ||
	    mg_ctx_recorded_plan(&ctx, v, &plan, &err) < 0)
		goto fail;
	mg_info("backfill %s:", v->name);
	if (run_engine(&ctx, v, &plan, &err) < 0 ||
	    mg_ctx_run_phase(&ctx, v, &plan, MG_PLAN_BACKFILL, MG_PHASE_BACKFILLED, &err) < 0)
		goto fail;
	mg_ctx_event(&ctx, v->id, "ok", "backfilled %s", v->name);
	mg_info("%s is backfilled", v->name);
	mg_phase_print_next(v);
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
