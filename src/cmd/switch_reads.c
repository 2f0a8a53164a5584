/* switch_reads.c - `migrate switch-reads [ID]`: verify, validate, let green read. */
#include "backfill.h"
#include "cmd.h"
#include "output.h"
#include "phase.h"

static int verify(struct mg_ctx *ctx, struct mg_view *v, const struct mg_plan *plan,
		  struct mg_err *err)
{
	struct mg_strlist keys = MG_STRLIST_INIT;
	struct mg_buf shown = MG_BUF_INIT;
	int64_t bad = 0;
	char idbuf[16];

	if (mg_backfill_verify(ctx->conn, plan, 5, &bad, &keys, err) < 0)
		return -1;
	if (bad == 0) {
		mg_info("  verified: every row agrees on both sides");
		return 0;
	}
	for (size_t i = 0; i < keys.n; i++)
		mg_buf_addf(&shown, "%s%s", i ? "; " : "", keys.items[i]);
	mg_err_set(err, MG_EREFUSED,
		   "switch-reads %s refused: %lld row(s) disagree between the old and the new columns, e.g. keys %s",
		   mg_id_str(v->id, idbuf), (long long)bad, shown.buf);
	mg_err_hint(err, "inspect those rows; rows at marker 0 were never copied (was the backfill checkpoint tampered with?); fix them and run switch-reads again");
	mg_strlist_release(&keys);
	mg_buf_release(&shown);
	return -1;
}

int mg_cmd_switch_reads(struct mg_options *opt)
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
	if (mg_ctx_open(&ctx, opt, "switch-reads", MG_NEED_DB | MG_NEED_WRITE, &err) < 0 ||
	    mg_ctx_pick(&ctx, id, MG_PHASE_SWITCHED, &v, &err) < 0)
		goto fail;
	if (!v) {
		mg_info("nothing to do: every migration is switched");
		goto out;
	}
	if (v->phase >= MG_PHASE_SWITCHED) {
		mg_info("nothing to do: %s is already %s", v->name, mg_phase_name(v->phase));
		goto out;
	}
	if (v->phase < MG_PHASE_BACKFILLED) {
		mg_err_set(&err, MG_EREFUSED, "switch-reads %s refused: it is %s, its backfill has not completed",
			   mg_id_str(v->id, idbuf), mg_phase_name(v->phase));
		mg_err_hint(&err, "run 'migrate %s %s' first", mg_phase_next_command(v->phase), idbuf);
		goto fail;
	}
	if (mg_ctx_check_unchanged(&ctx, v, &err) < 0 ||
	    mg_ctx_recorded_plan(&ctx, v, &plan, &err) < 0)
		goto fail;
	mg_info("switch-reads %s:", v->name);
	if (verify(&ctx, v, &plan, &err) < 0 ||
	    mg_phase_check_blockers(&ctx, &plan, MG_PLAN_SWITCH_READS, &err) < 0 ||
	    mg_ctx_run_phase(&ctx, v, &plan, MG_PLAN_SWITCH_READS, MG_PHASE_SWITCHED, &err) < 0)
		goto fail;
	mg_ctx_event(&ctx, v->id, "ok", "switched %s", v->name);
	mg_info("%s is switched: the new version may read the new columns; switching back to the old version stays safe until contract",
		v->name);
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
