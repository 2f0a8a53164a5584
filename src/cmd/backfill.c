/* backfill.c - `migrate backfill [ID]`: copy existing rows in resumable batches. */
#include <string.h>

#include "backfill.h"
#include "cmd.h"
#include "output.h"
#include "phase.h"
#include "progress.h"

static int backfill_ready(struct mg_ctx *ctx, struct mg_view *v, struct mg_err *err)
{
	char idbuf[16];

	(void)ctx;
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

static void engine_opts(const struct mg_options *opt, struct mg_backfill_opts *bo)
{
	memset(bo, 0, sizeof(*bo));
	bo->database = opt->database;
	bo->lock_timeout_ms = opt->lock_timeout_ms;
	bo->network_timeout_ms = opt->network_timeout_ms;
	bo->batch_size = opt->batch_size;
	bo->target_batch_ms = opt->target_batch_ms;
	bo->max_rows_per_sec = opt->max_rows_per_sec;
	bo->sleep_ms = opt->sleep_ms;
	bo->max_lag_ms = opt->max_lag_ms;
	bo->max_load = opt->max_load;
	bo->max_lock_waits = opt->max_lock_waits;
	bo->critical_load = opt->critical_load;
	bo->critical_load_interval_ms = opt->critical_load_interval_ms;
	bo->pause_file = opt->pause_file;
	bo->jobs = opt->jobs;
	bo->json = opt->json;
	bo->max_runtime_ms = opt->max_runtime_ms > 0 ? opt->max_runtime_ms : 0;
}

/* The engine runs on its own connection(s), so that the session setting
 * that makes the dual-write triggers skip the backfill's writes never
 * leaks into the steps that follow. */
static int run_engine(struct mg_ctx *ctx, struct mg_view *v, const struct mg_plan *plan,
		      struct mg_err *err)
{
	struct mg_conn_opts co = { .application_name = "migrate/backfill",
				   .lock_timeout_ms = ctx->opt->lock_timeout_ms,
				   .network_timeout_ms = ctx->opt->network_timeout_ms,
				   .lock_holder = ctx->lock_holder };
	struct mg_backfill_opts bo;
	struct mg_conn *worker = NULL;
	int rc;

	if (!plan->n_backfills)
		return 0;
	engine_opts(ctx->opt, &bo);
	bo.lock_holder = ctx->lock_holder;
	bo.migration = v->name;
	bo.started_unix_ms = mg_unix_ms();
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

/* ---- backfill --verify ----------------------------------------------------------------- */

/* ID, or the lowest migration whose two sides both exist. */
static int pick_for_verify(struct mg_ctx *ctx, const char *id, struct mg_view **v,
			   struct mg_err *err)
{
	char idbuf[16];

	if (mg_ctx_pick(ctx, id, MG_PHASE_CONTRACTED, v, err) < 0)
		return -1;
	if (!id)
		for (size_t i = 0; i < ctx->n_views; i++)
			if (ctx->views[i].phase >= MG_PHASE_EXPANDED &&
			    ctx->views[i].phase < MG_PHASE_CONTRACTED) {
				*v = &ctx->views[i];
				break;
			}
	if (*v && (*v)->phase >= MG_PHASE_EXPANDED && (*v)->phase < MG_PHASE_CONTRACTED)
		return 0;
	if (!*v) {
		mg_err_set(err, MG_EREFUSED, "backfill --verify: no migration is expanded, backfilled or switched");
		return mg_err_hint(err, "there is nothing to compare: both sides exist only between expand and contract");
	}
	mg_err_set(err, MG_EREFUSED, "backfill --verify %s: it is %s, both sides exist only between expand and contract",
		   mg_id_str((*v)->id, idbuf), mg_phase_name((*v)->phase));
	return -1;
}

static int verify_only(struct mg_options *opt)
{
	struct mg_strlist keys = MG_STRLIST_INIT;
	struct mg_err err = MG_ERR_INIT;
	struct mg_plan plan = MG_PLAN_INIT;
	struct mg_view *v = NULL;
	struct mg_ctx ctx;
	const char *id;
	int64_t bad = 0;
	int rc = 0;

	if (mg_cmd_one_id(opt, &id) < 0)
		return MG_EINPUT;
	if (mg_ctx_open(&ctx, opt, "backfill", MG_NEED_DB, &err) < 0 ||
	    pick_for_verify(&ctx, id, &v, &err) < 0 ||
	    mg_ctx_recorded_plan(&ctx, v, &plan, &err) < 0 ||
	    mg_backfill_verify(ctx.conn, &plan, 10, &bad, &keys, &err) < 0) {
		rc = mg_cmd_fail(&err);
		goto out;
	}
	if (opt->json) {
		json_t *sample = json_array();

		for (size_t i = 0; i < keys.n; i++)
			json_array_append_new(sample, json_string(keys.items[i]));
		mg_json_print(json_pack("{s:s, s:{s:i, s:s}, s:I, s:o}", "command", "backfill --verify",
					"migration", "id", v->id, "name", v->name,
					"mismatches", (json_int_t)bad, "sample_keys", sample));
	} else if (bad == 0) {
		printf("%s: every row agrees on both sides\n", v->name);
	} else {
		printf("%s: %lld row(s) disagree between the old and the new side; first keys:\n",
		       v->name, (long long)bad);
		for (size_t i = 0; i < keys.n; i++)
			printf("  %s\n", keys.items[i]);
	}
	rc = bad ? MG_EREFUSED : 0;
out:
	mg_strlist_release(&keys);
	mg_plan_release(&plan);
	mg_ctx_close(&ctx);
	return rc;
}

int mg_cmd_backfill(struct mg_options *opt)
{
	if (opt->verify)
		return verify_only(opt);
	return mg_phase_run(opt, &backfill_cmd);
}
