/* switch_reads.c - `migrate switch-reads [ID]`: verify, validate, let green read. */
#include "backfill.h"
#include "cmd.h"
#include "output.h"
#include "phase.h"

static int switch_ready(struct mg_ctx *ctx, struct mg_view *v, struct mg_err *err)
{
	char idbuf[16];

	(void)ctx;
	if (v->phase >= MG_PHASE_SWITCHED) {
		mg_info("nothing to do: %s is already %s", v->name, mg_phase_name(v->phase));
		return 1;
	}
	if (v->phase < MG_PHASE_BACKFILLED) {
		mg_err_set(err, MG_EREFUSED, "switch-reads %s refused: it is %s, its backfill has not completed",
			   mg_id_str(v->id, idbuf), mg_phase_name(v->phase));
		return mg_err_hint(err, "run 'migrate %s %s' first", mg_phase_next_command(v->phase), idbuf);
	}
	return 0;
}

/* Every row must agree on both sides before the new version may read. */
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
	mg_err_hint(err, "inspect those rows (rows at marker 0 were never copied); fix them and run switch-reads again");
	mg_strlist_release(&keys);
	mg_buf_release(&shown);
	return -1;
}

static const struct mg_phase_cmd switch_cmd = {
	.name = "switch-reads",
	.pick = MG_PHASE_SWITCHED,
	.steps = MG_PLAN_SWITCH_READS,
	.reaches = MG_PHASE_SWITCHED,
	.ready = switch_ready,
	.load_plan = mg_phase_recorded_unchanged,
	.before_steps = verify,
	.done = "%s is switched: the new version may read the new columns; switching back to the old version stays safe until contract",
};

int mg_cmd_switch_reads(struct mg_options *opt)
{
	return mg_phase_run(opt, &switch_cmd);
}
