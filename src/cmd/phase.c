/* phase.c - order across migrations and blocker checks for phase commands. */
#include "phase.h"

#include "cmd.h"
#include "output.h"
#include "progress.h"
#include "runinfo.h"

#include <stdio.h>
#include <string.h>

const char *mg_phase_next_command(enum mg_phase p)
{
	switch (p) {
	case MG_PHASE_PENDING:
		return "expand";
	case MG_PHASE_EXPANDED:
		return "backfill";
	case MG_PHASE_BACKFILLED:
		return "switch-reads";
	case MG_PHASE_SWITCHED:
		return "contract";
	case MG_PHASE_CONTRACTED:
		return NULL;
	}
	return NULL;
}

/*
 * After a phase command on v: v's next step; after switch-reads, the
 * lowest migration not contracted (migrations contract in order: after
 * switch-reads of 0002 with 0001 only switched, the next step is contract
 * 0001, as status says).
 */
void mg_phase_print_next(const struct mg_ctx *ctx, const struct mg_view *v)
{
	const struct mg_view *first = v;
	const char *next;
	char idbuf[16];

	for (size_t i = 0; i < ctx->n_views; i++)
		if (v->phase == MG_PHASE_SWITCHED && ctx->views[i].id < v->id &&
		    ctx->views[i].phase < MG_PHASE_CONTRACTED) {
			first = &ctx->views[i];
			break;
		}
	next = mg_phase_next_command(first->phase);
	if (next)
		mg_info("next: migrate %s %s", next, mg_id_str(first->id, idbuf));
}

int mg_phase_require_lower(struct mg_ctx *ctx, const struct mg_view *v,
			   enum mg_phase need, const char *verb,
			   struct mg_err *err)
{
	for (size_t i = 0; i < ctx->n_views; i++) {
		const struct mg_view *w = &ctx->views[i];
		char a[16], b[16];

		if (w->id >= v->id || w->phase >= need)
			continue;
		mg_err_set(err, MG_EREFUSED,
			   "%s %s refused: %s is %s, and migrations move in order (%s must be at least %s first)",
			   verb, mg_id_str(v->id, a), w->name, mg_phase_name(w->phase),
			   mg_id_str(w->id, b), mg_phase_name(need));
		return mg_err_hint(err, "run 'migrate %s %s' first",
				   mg_phase_next_command(w->phase), mg_id_str(w->id, b));
	}
	return 0;
}

int mg_phase_require_higher_pending(struct mg_ctx *ctx, const struct mg_view *v,
				    struct mg_err *err)
{
	for (size_t i = ctx->n_views; i-- > 0;) {
		const struct mg_view *w = &ctx->views[i];
		char a[16], b[16];

		if (w->id <= v->id || w->phase == MG_PHASE_PENDING)
			continue;
		mg_err_set(err, MG_EREFUSED,
			   "rollback %s refused: %s is %s, and migrations roll back from the highest down",
			   mg_id_str(v->id, a), w->name, mg_phase_name(w->phase));
		return mg_err_hint(err, "run 'migrate rollback %s' first", mg_id_str(w->id, b));
	}
	return 0;
}

int mg_phase_check_blockers(struct mg_ctx *ctx, const struct mg_plan *plan,
			    enum mg_plan_phase phase, struct mg_err *err)
{
	const char *tables[64];
	size_t n = 0;

	for (size_t i = 0; i < plan->n_steps[phase] && n < 64; i++) {
		const char *t = plan->steps[phase][i].table;
		int seen = 0;

		if (!t || plan->steps[phase][i].kind == MG_STEP_ASSERT)
			continue;
		for (size_t k = 0; k < n; k++)
			seen |= !strcmp(tables[k], t);
		if (!seen)
			tables[n++] = t;
	}
	return mg_db_check_blockers(ctx->conn, tables, n, err);
}

int mg_phase_recorded_unchanged(struct mg_ctx *ctx, struct mg_view *v,
				struct mg_plan *plan, struct mg_err *err)
{
	if (mg_ctx_check_unchanged(ctx, v, err) < 0)
		return -1;
	return mg_ctx_recorded_plan(ctx, v, plan, err);
}

static void print_json(const struct mg_ctx *ctx, const struct mg_phase_cmd *def,
		       const struct mg_view *v, const char *outcome,
		       const struct mg_err *err)
{
	json_t *doc = json_object();

	json_object_set_new(doc, "command", json_string(def->name));
	json_object_set_new(doc, "result", json_string(outcome));
	if (v) {
		json_object_set_new(doc, "migration", json_pack("{s:i, s:s}", "id", v->id,
								"name", v->name));
		json_object_set_new(doc, "phase", json_string(mg_phase_name(v->phase)));
	} else {
		json_object_set_new(doc, "migration", json_null());
		json_object_set_new(doc, "phase", json_null());
	}
	json_object_set_new(doc, "steps", json_incref(ctx->steps ? ctx->steps : json_array()));
	if (err && err->code)
		json_object_set_new(doc, "error", json_pack("{s:i, s:s, s:o}", "exit", err->code,
			"message", err->msg, "hint", err->hint[0] ? json_string(err->hint) : json_null()));
	else
		json_object_set_new(doc, "error", json_null());
	mg_json_print(doc);
}

/* ---- long steps: what an index build does -------------------------------- */

/* a line at least this often while the build is in the same phase */
#define STEP_SAY_EVERY_MS 15000

struct step_watch {
	const struct mg_phase_cmd *def;
	const struct mg_view *v;
	int64_t started_unix_ms;
	char said[1024];	/* phase and wait of the last line said */
	int64_t said_at;
};

/* "build index users_email_idx: building index: scanning table, 45%
 * (blocks 1200/2650)" or "...: waiting for 1 transaction older than the
 * build: pid 4242 app 'report' idle in transaction for 11m: end it or
 * wait" */
/* "public"."users_email_idx" as public.users_email_idx, for people */
static void unquoted(char *out, size_t size, const char *name)
{
	size_t n = 0;

	for (const char *c = name; *c && n + 1 < size; c++)
		if (*c != '"')
			out[n++] = *c;
	out[n] = '\0';
}

static void describe_step(char *out, size_t size, const struct mg_step_progress *p)
{
	char name[256];
	int n;

	unquoted(name, sizeof(name), p->object ? p->object : "");
	n = snprintf(out, size, "build index %s: %s", name, p->phase);

	if (n < 0 || (size_t)n >= size)
		return;
	if (p->waiting_for[0])
		snprintf(out + n, size - (size_t)n, ": %s", p->waiting_for);
	else if (p->total > 0)
		snprintf(out + n, size - (size_t)n, ", %lld%% (%s %lld/%lld)",
			 p->done * 100 / p->total, p->unit, p->done, p->total);
}

static void on_step_progress(void *arg, const struct mg_step_progress *p)
{
	struct step_watch *w = arg;
	struct mg_progress pr;
	char line[1024], key[1024], idbuf[16];
	int64_t now = mg_now_ms();

	describe_step(line, sizeof(line), p);
	/* a new phase or wait is said at once, a scan's percent now and then */
	snprintf(key, sizeof(key), "%s|%lld", p->phase, p->waiting_pid);
	if (strcmp(key, w->said) != 0 || now - w->said_at >= STEP_SAY_EVERY_MS) {
		mg_info("%s %s: %s", w->def->name, mg_id_str(w->v->id, idbuf), line);
		snprintf(w->said, sizeof(w->said), "%s", key);
		w->said_at = now;
	}
	memset(&pr, 0, sizeof(pr));
	pr.migration = w->v->name;
	pr.phase = w->def->name;
	pr.step = line;
	pr.eta_ms = -1;
	pr.state = p->waiting_for[0] ? MG_PROGRESS_PAUSED : MG_PROGRESS_RUNNING;
	pr.reason = p->waiting_for[0] ? p->waiting_for : NULL;
	pr.lock_waits = -1;
	pr.started_unix_ms = w->started_unix_ms;
	mg_progress_publish(&pr);
}

int mg_phase_run(struct mg_options *opt, const struct mg_phase_cmd *def)
{
	struct mg_ctx ctx;
	struct mg_err err = MG_ERR_INIT;
	struct mg_plan plan = MG_PLAN_INIT;
	struct mg_view *v = NULL;
	struct step_watch watch = { 0 };
	const char *id, *outcome = "done";
	int rc = 0, r;

	if (mg_cmd_one_id(opt, &id) < 0)
		return MG_EINPUT;
	if (mg_ctx_open(&ctx, opt, def->name, MG_NEED_DB | MG_NEED_WRITE, &err) < 0 ||
	    mg_ctx_pick(&ctx, id, def->pick, &v, &err) < 0)
		goto fail;
	if (v)
		mg_runinfo_set_migration(v->name);
	if (!v) {
		mg_info("nothing to do: every migration is %s",
			def->pick == MG_PHASE_PENDING ? "pending or contracted" :
			mg_phase_name(def->reaches));
		outcome = "nothing to do";
		goto out;
	}
	r = def->ready(&ctx, v, &err);
	if (r < 0)
		goto fail;
	if (r > 0) {
		outcome = "nothing to do";
		goto out;
	}
	if (def->load_plan(&ctx, v, &plan, &err) < 0 ||
	    mg_phase_check_blockers(&ctx, &plan, def->steps, &err) < 0)
		goto fail;
	mg_info("%s %s:", def->name, v->name);
	watch.def = def;
	watch.v = v;
	watch.started_unix_ms = mg_unix_ms();
	mg_db_watch_steps(ctx.conn, on_step_progress, &watch);
	r = (def->before_steps && def->before_steps(&ctx, v, &plan, &err) < 0) ||
	    mg_ctx_run_phase(&ctx, v, &plan, def->steps, def->reaches, &err) < 0 ||
	    (def->after_steps && def->after_steps(&ctx, v, &err) < 0);
	mg_db_watch_steps(ctx.conn, NULL, NULL);
	if (r) {
		/* say which phase and migration, unless the message does */
		char said[64], idbuf[16];

		snprintf(said, sizeof(said), "%s %s", def->name, mg_id_str(v->id, idbuf));
		if (strncmp(err.msg, said, strlen(said)) != 0)
			mg_err_prefix(&err, "%s: ", said);
		goto fail;
	}
	mg_ctx_event(&ctx, v->id, "ok", "%s %s", def->name, v->name);
	mg_info(def->done, v->name);
	mg_phase_print_next(&ctx, v);
	goto out;
fail:
	mg_ctx_explain_lock_lost(&ctx, &err);
	if (ctx.state && v)
		mg_ctx_event(&ctx, v->id, err.code == MG_EREFUSED ? "refused" : "error", "%s", err.msg);
	outcome = err.code == MG_EREFUSED ? "refused" : "error";
	rc = mg_cmd_fail(&err);
out:
	if (opt->json)
		print_json(&ctx, def, v, outcome, rc ? &err : NULL);
	mg_plan_release(&plan);
	mg_ctx_close(&ctx);
	return rc;
}
