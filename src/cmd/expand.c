/* expand.c - `migrate expand [ID]`: add new structures and dual-write triggers. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "phase.h"

static int expand_ready(struct mg_ctx *ctx, struct mg_view *v, struct mg_err *err)
{
	char idbuf[16];

	if (v->phase >= MG_PHASE_EXPANDED) {
		mg_info("nothing to do: %s is already %s", v->name, mg_phase_name(v->phase));
		return 1;
	}
	if (!v->file) {
		mg_err_set(err, MG_EINPUT, "migration %s has no file in '%s'",
			   mg_id_str(v->id, idbuf), ctx->opt->migrations);
		return -1;
	}
	return mg_phase_require_lower(ctx, v, MG_PHASE_SWITCHED, "expand", err);
}

/* Record a new plan in the state before any change is made. */
static int record_plan(struct mg_ctx *ctx, struct mg_view *v,
		       const struct mg_plan *plan, struct mg_err *err)
{
	struct mg_state_migration rec;
	int rc;

	memset(&rec, 0, sizeof(rec));
	rec.id = v->id;
	rec.name = (char *)v->file->name;
	rec.checksum = (char *)v->file->checksum;
	rec.phase = (char *)"pending";
	rec.plan_json = mg_plan_to_json(plan);
	if (!rec.plan_json)
		return mg_err_set(err, MG_EINPUT, "the plan of %s is not valid UTF-8", v->name);
	rc = mg_state_migration_put(ctx->state, &rec, err);
	free(rec.plan_json);
	if (rc < 0)
		return -1;
	if (v->has_rec)
		mg_state_migration_release(&v->rec);
	memset(&v->rec, 0, sizeof(v->rec));
	v->has_rec = 1;
	return mg_state_migration_get(ctx->state, v->id, &v->rec, err) < 0 ? -1 : 0;
}

/* The plan to run: the one recorded by an interrupted expand of the same
 * file, else a new one from the catalog. */
static int expand_plan(struct mg_ctx *ctx, struct mg_view *v, struct mg_plan *plan,
		       struct mg_err *err)
{
	int resumed = v->has_rec && v->rec.plan_json && v->rec.checksum;

	if (resumed && strcmp(v->rec.checksum, v->file->checksum) != 0) {
		if (v->hist && v->hist->step_phase && !strcmp(v->hist->step_phase, "expand") &&
		    v->hist->step_index > 0) {
			mg_err_set(err, MG_EINPUT,
				   "migration file '%s' changed during an interrupted expand (recorded sha256 %s, file now sha256 %s)",
				   v->file->path, v->rec.checksum, v->file->checksum);
			return mg_err_hint(err, "restore the file and run expand again, or run 'migrate rollback %d' to undo the partial expand",
					   v->id);
		}
		resumed = 0;
	}
	if (resumed) {
		mg_info("resuming the interrupted expand of %s with its recorded plan", v->name);
		return mg_ctx_recorded_plan(ctx, v, plan, err);
	}
	mg_plan_init(plan);
	if (mg_plan_build(ctx->conn, v->file, plan, err) < 0)
		return -1;
	return record_plan(ctx, v, plan, err);
}

static const struct mg_phase_cmd expand_cmd = {
	.name = "expand",
	.pick = MG_PHASE_EXPANDED,
	.steps = MG_PLAN_EXPAND,
	.reaches = MG_PHASE_EXPANDED,
	.ready = expand_ready,
	.load_plan = expand_plan,
	.done = "%s is expanded: the old version keeps working on the old columns; the new version may write, but not yet read, the new ones",
};

int mg_cmd_expand(struct mg_options *opt)
{
	return mg_phase_run(opt, &expand_cmd);
}
