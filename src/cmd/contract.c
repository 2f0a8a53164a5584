/* contract.c - `migrate contract [ID]`: drop triggers and the old structures. */
#include "cmd.h"
#include "output.h"
#include "phase.h"

int mg_cmd_contract(struct mg_options *opt)
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
	if (mg_ctx_open(&ctx, opt, "contract", MG_NEED_DB | MG_NEED_WRITE, &err) < 0 ||
	    mg_ctx_pick(&ctx, id, MG_PHASE_CONTRACTED, &v, &err) < 0)
		goto fail;
	if (!v) {
		mg_info("nothing to do: every migration is contracted");
		goto out;
	}
	if (v->phase >= MG_PHASE_CONTRACTED) {
		mg_info("nothing to do: %s is already contracted", v->name);
		goto out;
	}
	if (v->phase < MG_PHASE_SWITCHED) {
		mg_err_set(&err, MG_EREFUSED, "contract %s refused: it is %s, not switched",
			   mg_id_str(v->id, idbuf), mg_phase_name(v->phase));
		mg_err_hint(&err, "run 'migrate %s %s' first", mg_phase_next_command(v->phase), idbuf);
		goto fail;
	}
	if (mg_phase_require_lower(&ctx, v, MG_PHASE_CONTRACTED, "contract", &err) < 0 ||
	    mg_ctx_check_unchanged(&ctx, v, &err) < 0 ||
	    mg_ctx_recorded_plan(&ctx, v, &plan, &err) < 0 ||
	    mg_phase_check_blockers(&ctx, &plan, MG_PLAN_CONTRACT, &err) < 0)
		goto fail;
	mg_info("contract %s:", v->name);
	if (mg_ctx_run_phase(&ctx, v, &plan, MG_PLAN_CONTRACT, MG_PHASE_CONTRACTED, &err) < 0)
		goto fail;
	mg_ctx_event(&ctx, v->id, "ok", "contracted %s", v->name);
	mg_info("%s is contracted: the old structures are gone; rolling back to the old version is no longer possible",
		v->name);
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
