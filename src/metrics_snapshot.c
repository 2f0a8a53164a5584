/*
 * metrics_snapshot.c - what --metrics-file shows besides the live figures:
 * the state read as `migrate status` reads it (mg_ctx_open, the colours'
 * liveness, the contract gate itself), and the two calls main() makes
 * around every command. See metrics.h and metrics_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_int.h"
#include "colour.h"
#include "runner.h"

/* ---- snapshot: read as `migrate status` reads ------------------------------- */

/* The migration's checkpoints summed per table, as status sums them. */
static void snapshot_checkpoints(struct mg_ctx *ctx, struct snap_migration *m)
{
	struct mg_checkpoint *cps = NULL;
	struct mg_err err = MG_ERR_INIT;
	size_t n = 0;

	if (!ctx->state || mg_state_checkpoint_list(ctx->state, m->id, &cps, &n, &err) < 0)
		return;
	m->tables = mg_xcalloc(n ? n : 1, sizeof(*m->tables));
	for (size_t i = 0; i < n; i++) {
		struct snap_table *t = NULL;

		for (size_t k = 0; k < m->n_tables && !t; k++)
			if (!strcmp(m->tables[k].table, cps[i].table_name))
				t = &m->tables[k];
		if (!t) {
			t = &m->tables[m->n_tables++];
			t->table = mg_xstrdup(cps[i].table_name);
		}
		t->rows_done += cps[i].rows_done;
		t->estimate += mg_checkpoint_rows(&cps[i]);
		m->n_parts++;
		m->parts_done += cps[i].done != 0;
	}
	mg_state_checkpoint_list_free(cps, n);
}

static void snapshot_colours(struct mg_ctx *ctx, struct metrics_snapshot *s)
{
	struct mg_colour *cs = NULL;
	struct mg_err err = MG_ERR_INIT;
	size_t n = 0;

	if (!ctx->state || mg_state_colour_list(ctx->state, &cs, &n, &err) < 0)
		return;
	s->colours = mg_xcalloc(n ? n : 1, sizeof(*s->colours));
	for (size_t i = 0; i < n; i++) {
		struct snap_colour *c = &s->colours[s->n_colours++];
		struct mg_liveness l;

		mg_colour_liveness(ctx, &cs[i], &l);
		c->name = mg_xstrdup(cs[i].name);
		c->state = mg_xstrdup(cs[i].state ? cs[i].state : "");
		c->requires = mg_version_label(ctx, cs[i].requires_id);
		c->requires_id = cs[i].requires_id;
		c->alive = l.alive;
		c->stale = l.stale;
		c->valid = l.valid;
		c->has_pattern = cs[i].match_pattern != NULL;
		c->sessions = l.sessions;
		c->heartbeat_age_s = l.heartbeat_age_s;
	}
	mg_state_colour_list_free(cs, n);
}

/* The contract gate of every switched migration, through the gate itself
 * (mg_gate_contract_preview: no event logged). */
static void snapshot_gates(struct mg_ctx *ctx, struct metrics_snapshot *s)
{
	s->gates = mg_xcalloc(s->n_migs ? s->n_migs : 1, sizeof(*s->gates));
	for (size_t i = 0; i < s->n_migs; i++) {
		struct mg_err err = MG_ERR_INIT;
		struct snap_gate *g;

		if (s->migs[i].phase != MG_PHASE_SWITCHED)
			continue;
		g = &s->gates[s->n_gates++];
		g->id = s->migs[i].id;
		g->name = s->migs[i].name;
		if (mg_gate_contract_preview(ctx, g->id, &err) == 0)
			g->safe = 1;
		else
			g->safe = err.code == MG_EREFUSED ? 0 : -1;
	}
}

static void snapshot_fill(struct mg_ctx *ctx, struct metrics_snapshot *s)
{
	struct mg_window w;

	s->state_present = ctx->state != NULL;
	s->migs = mg_xcalloc(ctx->n_views ? ctx->n_views : 1, sizeof(*s->migs));
	for (size_t i = 0; i < ctx->n_views; i++) {
		struct snap_migration *m = &s->migs[s->n_migs++];

		m->id = ctx->views[i].id;
		m->name = mg_xstrdup(ctx->views[i].name);
		m->phase = ctx->views[i].phase;
		/* a contracted migration's backfill is history: no series, so
		 * that the file does not grow with every migration ever run */
		if (m->phase != MG_PHASE_CONTRACTED)
			snapshot_checkpoints(ctx, m);
	}
	mg_window_compute(ctx, &w);
	s->window_low = w.low;
	s->window_high = w.high;
	s->have_window = 1;
	snapshot_colours(ctx, s);
	snapshot_gates(ctx, s);
}

/*
 * Read the state as status does: with the database (its history is enough
 * without a state file, as for `check`); when that fails (unreachable, or
 * a state file that does not match it), or with_db is 0 (the commands that
 * promise to open no connection), from the state file and the migration
 * files alone. A snapshot that cannot be read at all holds only
 * reachable = 0.
 */
struct metrics_snapshot *mg_metrics_snapshot_take(struct mg_options *opt, int with_db)
{
	struct metrics_snapshot *s = mg_xcalloc(1, sizeof(*s));
	struct mg_err err = MG_ERR_INIT;
	struct mg_ctx ctx;


	if (!opt->migrations || !opt->state)
		return s;	/* init: it read no settings */
	s->db_configured = with_db && opt->database != NULL;
	if (s->db_configured &&
	    mg_ctx_open(&ctx, opt, "metrics", MG_NEED_DB | MG_HISTORY_IS_ENOUGH, &err) == 0) {
		s->reachable = 1;
		snapshot_fill(&ctx, s);
		mg_ctx_close(&ctx);
		return s;
	}
	if (s->db_configured)
		mg_ctx_close(&ctx);
	if (mg_ctx_open(&ctx, opt, "metrics", 0, &err) == 0)
		snapshot_fill(&ctx, s);
	mg_ctx_close(&ctx);
	return s;
}

/* ---- around every command ---------------------------------------------------- */

/* The commands that open no database connection: the snapshot after
 * them does not open one either. */
static int offline_command(const struct mg_options *opt, const char *command)
{
	return !strcmp(command, "init") || !strcmp(command, "new") || !strcmp(command, "lint") ||
	       !strcmp(command, "log") || (!strcmp(command, "check") && opt->offline);
}

/* The commands that publish progress while they run. */
static int publishes_progress(const char *command)
{
	static const char *const names[] = { "expand", "backfill", "switch-reads", "contract", "rollback" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(command, names[i]))
			return 1;
	return 0;
}

void mg_metrics_command_start(struct mg_options *opt, const char *command)
{
	struct metrics_snapshot *start = NULL;

	if (opt->metrics_file && publishes_progress(command))
		start = mg_metrics_snapshot_take(opt, 1);
	mg_metrics_begin(opt->metrics_file, command, start);
}

void mg_metrics_command_done(const struct mg_options *opt, const char *command, int rc)
{
	if (!opt->metrics_file)
		return;
	/* after SIGINT/SIGTERM no new connection: the operator asked to stop
	 * (and the drivers would cancel its statements) */
	mg_metrics_end(opt->metrics_file, command, rc,
		       mg_metrics_snapshot_take((struct mg_options *)opt,
						!offline_command(opt, command) && !mg_stop_requested));
}
