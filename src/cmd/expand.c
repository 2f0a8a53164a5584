/* expand.c - `migrate expand [ID]`: add new structures and dual-write triggers. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "phase.h"

/* The plan to run: the one recorded by an interrupted expand of the same
 * file, else a new one from the catalog, recorded before any change. */
static int expand_plan(struct mg_ctx *ctx, struct mg_view *v, struct mg_plan *plan,
		       struct mg_err *err)
{
	struct mg_state_migration rec;
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
	if (ctx->conn->drv->plan(ctx->conn, v->file, plan, err) < 0)
		return -1;
	memset(&rec, 0, sizeof(rec));
	rec.id = v->id;
	rec.name = (char *)v->file->name;
	rec.checksum = (char *)v->file->checksum;
	rec.phase = (char *)"pending";
	rec.plan_json = mg_plan_to_json(plan);
	if (!rec.plan_json)
		return mg_err_set(err, MG_EINPUT, "the plan of %s is not valid UTF-8", v->name);
	if (mg_state_migration_put(ctx->state, &rec, err) < 0) {
		free(rec.plan_json);
		return -1;
	}
	free(rec.plan_json);
	if (v->has_rec)
		mg_state_migration_release(&v->rec);
	memset(&v->rec, 0, sizeof(v->rec));
	v->has_rec = 1;
	return mg_state_migration_get(ctx->state, v->id, &v->rec, err) < 0 ? -1 : 0;
}

int mg_cmd_expand(struct mg_options *opt)
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
	if (mg_ctx_open(&ctx, opt, "expand", MG_NEED_DB | MG_NEED_WRITE, &err) < 0 ||
	    mg_ctx_pick(&ctx, id, MG_PHASE_EXPANDED, &v, &err) < 0)
		goto fail;
	if (!v) {
		mg_info("nothing to do: every migration is expanded");
		goto out;
	}
	if (v->phase >= MG_PHASE_EXPANDED) {
		mg_info("nothing to do: %s is already %s", v->name, mg_phase_name(v->phase));
		goto out;
	}
	if (!v->file) {
		mg_err_set(&err, MG_EINPUT, "migration %s has no file in '%s'",
			   mg_id_str(v->id, idbuf), opt->migrations);
		goto fail;
	}
	if (mg_phase_require_lower(&ctx, v, MG_PHASE_SWITCHED, "expand", &err) < 0 ||
	    expand_plan(&ctx, v, &plan, &err) < 0 ||
	    mg_phase_check_blockers(&ctx, &plan, MG_PLAN_EXPAND, &err) < 0)
		goto fail;
	mg_info("expand %s:", v->name);
	if (mg_ctx_run_phase(&ctx, v, &plan, MG_PLAN_EXPAND, MG_PHASE_EXPANDED, &err) < 0)
		goto fail;
	mg_ctx_event(&ctx, v->id, "ok", "expanded %s", v->name);
	mg_info("%s is expanded: blue keeps working on the old columns; green may write, but not yet read, the new ones",
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
