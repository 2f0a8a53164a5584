/* phase.c - order across migrations and blocker checks for phase commands. */
#include "phase.h"

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

void mg_phase_print_next(const struct mg_view *v)
{
	const char *next = mg_phase_next_command(v->phase);
	char idbuf[16];

	if (next)
		mg_info("next: migrate %s %s", next, mg_id_str(v->id, idbuf));
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
	return ctx->conn->drv->check_blockers(ctx->conn, tables, n, err);
}
