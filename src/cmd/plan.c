/* plan.c - `migrate plan [ID] [--json]`: the SQL of every phase; changes nothing. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "phase.h"

static const char *kind_name(enum mg_step_kind k)
{
	return k == MG_STEP_TX ? "tx" : k == MG_STEP_NOTX ? "notx" : "assert";
}

/* A step's options by name: ["allow_rebuild", "allow_copy"]. */
static json_t *options_json(unsigned options)
{
	json_t *a = json_array();

	for (unsigned k = 0; k < MG_STEP_OPTION_BITS; k++)
		if (options & (1u << k))
			json_array_append_new(a, json_string(mg_step_option_name(1u << k)));
	return a;
}

/* ", allow_rebuild, allow_copy" for the step's line in the text plan. */
static void print_options(unsigned options)
{
	for (unsigned k = 0; k < MG_STEP_OPTION_BITS; k++)
		if (options & (1u << k))
			printf(", %s", mg_step_option_name(1u << k));
}

static json_t *plan_json(const struct mg_view *v, const struct mg_plan *p, int recorded)
{
	json_t *m = json_object(), *phases = json_object(), *bf = json_array(),
	       *lossy = json_array(), *notes = json_array();

	json_object_set_new(m, "id", json_integer(v->id));
	json_object_set_new(m, "name", json_string(v->name));
	json_object_set_new(m, "phase", json_string(mg_phase_name(v->phase)));
	json_object_set_new(m, "recorded", json_boolean(recorded));
	for (int ph = 0; ph < MG_PLAN_NPHASES; ph++) {
		json_t *steps = json_array();

		for (size_t i = 0; i < p->n_steps[ph]; i++) {
			const struct mg_step *s = &p->steps[ph][i];
			json_t *step = json_pack("{s:s, s:o, s:s, s:s}",
				"kind", kind_name(s->kind), "table", mg_json_str(s->table),
				"description", s->description, "sql", s->sql);

			if (s->options)	/* absent when none, as in the state's plan */
				json_object_set_new(step, "options", options_json(s->options));
			json_array_append_new(steps, step);
		}
		json_object_set_new(phases, mg_plan_phase_name((enum mg_plan_phase)ph), steps);
	}
	for (size_t i = 0; i < p->n_backfills; i++)
		json_array_append_new(bf, json_pack("{s:s, s:s, s:s}", "table", p->backfills[i].table,
			"set", p->backfills[i].set_clause, "mismatch", p->backfills[i].mismatch));
	for (size_t i = 0; i < p->n_lossy; i++)
		json_array_append_new(lossy, json_string(p->lossy[i]));
	for (size_t i = 0; i < p->n_notes; i++)
		json_array_append_new(notes, json_string(p->notes[i]));
	json_object_set_new(m, "phases", phases);
	json_object_set_new(m, "backfills", bf);
	json_object_set_new(m, "lossy", lossy);
	json_object_set_new(m, "notes", notes);
	json_object_set_new(m, "rollback_refused", mg_json_str(p->rollback_refused ? p->rollback_refusal : NULL));
	return m;
}

/* How a step runs, in the words of the plan. Without transactional DDL
 * (MG_CAP_TRANSACTIONAL_DDL) a step cannot share a transaction with its
 * history row: its statements are idempotent and a crash reruns them. A
 * sql step's SQL (no table) with in_transaction: true (MG_STEP_TX) is the
 * exception: it shares one, except where its DDL commits implicitly. */
static const char *step_how(const struct mg_step *s, unsigned caps)
{
	if (s->kind == MG_STEP_ASSERT)
		return "check: must return no rows";
	if (!(caps & MG_CAP_TRANSACTIONAL_DDL) && s->kind == MG_STEP_TX && !s->table)
		return "one transaction with its history row, lock wait timeout, retried; DDL in it commits implicitly";
	if (!(caps & MG_CAP_TRANSACTIONAL_DDL))
		return "idempotent statements, lock wait timeout, retried; recorded after";
	return s->kind == MG_STEP_TX ? "one transaction, lock_timeout, retried" :
	       "outside a transaction";
}

static void plan_text(const struct mg_view *v, const struct mg_plan *p, int recorded,
		      unsigned caps)
{
	printf("== %s (%s)%s ==\n", v->name, mg_phase_name(v->phase),
	       recorded ? ", plan recorded at expand" : "");
	for (int ph = 0; ph < MG_PLAN_NPHASES; ph++) {
		printf("\n-- %s\n", mg_plan_phase_name((enum mg_plan_phase)ph));
		if (ph == MG_PLAN_BACKFILL)
			for (size_t i = 0; i < p->n_backfills; i++) {
				const struct mg_backfill_spec *s = &p->backfills[i];

				printf("-- batches over the key of %s, for rows whose %s = 0:\n"
				       "--   UPDATE %s SET %s, %s = 1 WHERE <key in batch> AND %s = 0;\n",
				       s->table, s->marker, s->table, s->set_clause, s->marker, s->marker);
			}
		if (!p->n_steps[ph] && !(ph == MG_PLAN_BACKFILL && p->n_backfills))
			printf("-- (nothing)\n");
		for (size_t i = 0; i < p->n_steps[ph]; i++) {
			const struct mg_step *s = &p->steps[ph][i];

			printf("-- [%zu] %s (%s", i + 1, s->description, step_how(s, caps));
			print_options(s->options);
			printf(")\n%s%s\n", s->sql,
			       s->sql[0] && s->sql[strlen(s->sql) - 1] == '\n' ? "" : ";");
		}
	}
	if (p->rollback_refused)
		printf("\n-- rollback is refused: %s\n", p->rollback_refusal);
	for (size_t i = 0; i < p->n_lossy; i++)
		printf("-- lossy: %s\n", p->lossy[i]);
	for (size_t i = 0; i < p->n_notes; i++)
		printf("-- note: %s\n", p->notes[i]);
	printf("\n");
}

/* ==== migrations planned after an earlier one expands ======================== */

/* "users" for "public.users" or "users": tables as files name them. */
static const char *bare_table(const char *t)
{
	const char *dot = t ? strrchr(t, '.') : NULL;

	return dot ? dot + 1 : t;
}

/* Whether earlier (a pending migration planned before later in this run)
 * may change what later is planned against: a table both name, or a sql
 * operation (it may create anything). */
static int changes_what_later_uses(const struct mg_migration *earlier,
				   const struct mg_migration *later)
{
	for (size_t i = 0; i < earlier->n_ops; i++) {
		const struct mg_op *e = &earlier->ops[i];

		if (e->kind == MG_OP_SQL || !e->table)
			return 1;
		for (size_t k = 0; k < later->n_ops; k++)
			if (later->ops[k].table &&
			    !strcmp(bare_table(e->table), bare_table(later->ops[k].table)))
				return 1;
	}
	return 0;
}

/* The pending migration of this run, below v, whose expand v's plan may
 * need (the highest such), or NULL. Plans are made against the catalog as
 * it is now; expand plans again, against the catalog the earlier expand
 * left, so v's plan is shown then. */
static const struct mg_view *planned_after(const struct mg_ctx *ctx, const struct mg_view *v)
{
	for (size_t i = ctx->n_views; i-- > 0;) {
		const struct mg_view *w = &ctx->views[i];

		if (w->id >= v->id || w->phase != MG_PHASE_PENDING || !w->file)
			continue;
		if (changes_what_later_uses(w->file, v->file))
			return w;
	}
	return NULL;
}

static void deferred_text(const struct mg_view *v, const struct mg_view *after,
			  const struct mg_err *why)
{
	char a[16], b[16];

	printf("== %s (%s) ==\n\n", v->name, mg_phase_name(v->phase));
	printf("-- planned after %s expands: it uses what %s changes, and plans are made against the catalog as it is now\n",
	       mg_id_str(after->id, a), after->name);
	printf("-- 'migrate expand %s' plans it then; 'migrate plan %s' shows it once %s is expanded\n",
	       mg_id_str(v->id, b), b, a);
	printf("-- planning it now says: %s\n\n", why->msg);
}

static json_t *deferred_json(const struct mg_view *v, const struct mg_view *after,
			     const struct mg_err *why)
{
	return json_pack("{s:i, s:s, s:s, s:b, s:i, s:s}", "id", v->id, "name", v->name,
			 "phase", mg_phase_name(v->phase), "recorded", 0,
			 "planned_after", after->id, "not_planned", why->msg);
}

/* A plan that failed for input: shown as planned after an earlier pending
 * migration when one may explain it (1), else the failure stands (0). */
static int defer_plan(const struct mg_ctx *ctx, const struct mg_view *v, int only,
		      const struct mg_err *why, json_t *list)
{
	const struct mg_view *after;

	if (only || (why->code != MG_EINPUT && why->code != MG_EREFUSED) || !v->file)
		return 0;
	after = planned_after(ctx, v);
	if (!after)
		return 0;
	if (ctx->opt->json)
		json_array_append_new(list, deferred_json(v, after, why));
	else
		deferred_text(v, after, why);
	return 1;
}

int mg_cmd_plan(struct mg_options *opt)
{
	struct mg_ctx ctx;
	struct mg_err err = MG_ERR_INIT;
	struct mg_view *only = NULL;
	json_t *list = json_array();
	const char *id;
	int rc = 0;

	if (mg_cmd_one_id(opt, &id) < 0) {
		json_decref(list);
		return MG_EINPUT;
	}
	if (mg_ctx_open(&ctx, opt, "plan", MG_NEED_DB, &err) < 0 ||
	    (id && mg_ctx_pick(&ctx, id, MG_PHASE_EXPANDED, &only, &err) < 0))
		goto fail;
	for (size_t i = 0; i < ctx.n_views; i++) {
		struct mg_view *v = &ctx.views[i];
		struct mg_plan p = MG_PLAN_INIT;
		int recorded = v->has_rec && v->rec.plan_json != NULL;

		if (only ? v != only : v->phase == MG_PHASE_CONTRACTED)
			continue;
		if (recorded ? mg_ctx_recorded_plan(&ctx, v, &p, &err) < 0 :
		    mg_plan_build(ctx.conn, v->file, &p, &err) < 0) {
			mg_plan_release(&p);
			if (recorded || !defer_plan(&ctx, v, only != NULL, &err, list))
				goto fail;
			err = (struct mg_err)MG_ERR_INIT;
			continue;
		}
		if (opt->json)
			json_array_append_new(list, plan_json(v, &p, recorded));
		else
			plan_text(v, &p, recorded, ctx.conn->drv->caps);
		mg_plan_release(&p);
	}
	if (opt->json)
		mg_json_print(json_pack("{s:O}", "migrations", list));
	else if (!ctx.n_views)
		printf("no migrations in '%s'\n", opt->migrations);
	goto out;
fail:
	rc = mg_cmd_fail(&err);
out:
	json_decref(list);
	mg_ctx_close(&ctx);
	return rc;
}
