/* contract.c - `migrate contract [ID]`: drop triggers and the old structures. */
#include "cmd.h"
#include "colour.h"
#include "output.h"
#include "phase.h"

static int contract_ready(struct mg_ctx *ctx, struct mg_view *v, struct mg_err *err)
{
	char idbuf[16];

	if (v->phase >= MG_PHASE_CONTRACTED) {
		mg_info("nothing to do: %s is already contracted", v->name);
		return 1;
	}
	if (v->phase < MG_PHASE_SWITCHED) {
		mg_err_set(err, MG_EREFUSED, "contract %s refused: it is %s, not switched",
			   mg_id_str(v->id, idbuf), mg_phase_name(v->phase));
		return mg_err_hint(err, "run 'migrate %s %s' first", mg_phase_next_command(v->phase), idbuf);
	}
	if (mg_phase_require_lower(ctx, v, MG_PHASE_CONTRACTED, "contract", err) < 0)
		return -1;
	return mg_gate_contract(ctx, v->id, err);
}

static const struct mg_phase_cmd contract_cmd = {
	.name = "contract",
	.pick = MG_PHASE_CONTRACTED,
	.steps = MG_PLAN_CONTRACT,
	.reaches = MG_PHASE_CONTRACTED,
	.ready = contract_ready,
	.load_plan = mg_phase_recorded_unchanged,
	.done = "%s is contracted: the old structures are gone; rolling back to the old version is no longer possible",
};

int mg_cmd_contract(struct mg_options *opt)
{
	return mg_phase_run(opt, &contract_cmd);
}
