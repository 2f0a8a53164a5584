/*
 * plan.h - what a migration will do to the database, phase by phase.
 *
 * The planner builds a plan from a migration and the live catalog
 * (planner.h: mg_plan_build, the driver rendering each step's SQL); the
 * core records it in the state store at expand (as JSON)
 * and every later phase, rollback included, runs the recorded plan, so a
 * deleted or edited file cannot change what contract or rollback do.
 *
 * Ownership: a struct mg_plan owns everything in it; mg_plan_release().
 */
#ifndef MG_PLAN_H
#define MG_PLAN_H

#include <stddef.h>
#include "util.h"

enum mg_phase {
	MG_PHASE_PENDING = 0,
	MG_PHASE_EXPANDED,
	MG_PHASE_BACKFILLED,
	MG_PHASE_SWITCHED,
	MG_PHASE_CONTRACTED
};

/* The phases a plan has steps for (rollback is not a state). */
enum mg_plan_phase {
	MG_PLAN_EXPAND,
	MG_PLAN_BACKFILL,
	MG_PLAN_SWITCH_READS,
	MG_PLAN_CONTRACT,
	MG_PLAN_ROLLBACK,
	MG_PLAN_NPHASES
};

const char *mg_phase_name(enum mg_phase p);		/* "pending", ... */
int mg_phase_parse(const char *s, enum mg_phase *out);	/* 0 or -1 */
const char *mg_plan_phase_name(enum mg_plan_phase p);	/* "expand", ..., "switch-reads", ... */

enum mg_step_kind {
	/* sql: statements run in one transaction under lock_timeout and
	 * statement_timeout, retried on lock timeout; the driver records the
	 * step in the target's history table inside the same transaction. */
	MG_STEP_TX,
	/* sql: one statement outside any transaction (an index built while
	 * writes go on); must be idempotent. object names the index: the
	 * driver drops it first when a failure left it invalid. */
	MG_STEP_NOTX,
	/* sql: a query that must return no rows; each row returned is a
	 * reason to refuse (exit 1), its first column the text shown. */
	MG_STEP_ASSERT
};

/*
 * Options of a step: data the runner reads, never comments inside its SQL
 * (plans of v0.11.0 wrote them as "-- allow_rebuild" lines at the top of
 * the SQL; such plans are read as recorded, and the driver that wrote
 * them honours the lines as well: drivers/mysql/runner.c, step_allows).
 * A driver whose DDL has no such fallbacks ignores them.
 */
enum mg_step_option {
	MG_STEP_ALLOW_REBUILD = 1 << 0,	/* the server may rebuild the table in place */
	MG_STEP_ALLOW_COPY = 1 << 1	/* the server may copy the table */
};
#define MG_STEP_OPTION_BITS 2
/* "allow_rebuild" ... for one bit of enum mg_step_option, NULL for another. */
const char *mg_step_option_name(unsigned bit);

struct mg_step {
	enum mg_step_kind kind;
	unsigned options;	/* enum mg_step_option; JSON "options": [names], absent when 0 */
	char *table;		/* the table it changes, for messages and lock checks; may be NULL */
	char *description;	/* one line: "add column \"username\" to \"users\"" */
	char *sql;
	char *object;		/* MG_STEP_NOTX: the index it builds (qualified, quoted), else NULL */
};

/*
 * How to backfill one table: everything the driver's batch, estimate and
 * verify functions need, rendered as SQL fragments at plan time.
 */
struct mg_backfill_spec {
	char *table;		/* quoted, qualified: "public"."users" */
	char **key_columns;	/* quoted key column names, in key order */
	char **key_types;	/* their types, for casting checkpoint text */
	size_t n_keys;
	char *set_clause;	/* "\"username\" = (\"user_name\")" (no marker) */
	char *marker;		/* quoted marker column: "_migrate_3" */
	char *mismatch;		/* boolean SQL: true for a row whose sides disagree */
	char *session_sql;	/* run once on the backfill's connection so the
				 * dual-write triggers skip its writes; may be NULL */
};

struct mg_plan {
	struct mg_step *steps[MG_PLAN_NPHASES];
	size_t n_steps[MG_PLAN_NPHASES];
	size_t alloc_steps[MG_PLAN_NPHASES];
	struct mg_backfill_spec *backfills;
	size_t n_backfills;
	size_t alloc_backfills;
	char **lossy;		/* what a rollback or lossy down cannot carry back */
	size_t n_lossy;
	char **notes;		/* things plan shows: triggers the backfill fires, lock impact */
	size_t n_notes;
	int rollback_refused;	/* a sql step without rollback SQL */
	char *rollback_refusal;	/* why, when rollback_refused */
};

#define MG_PLAN_INIT { { 0 }, { 0 }, { 0 }, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL }

void mg_plan_init(struct mg_plan *p);
void mg_plan_release(struct mg_plan *p);

/* Append a step (strings are copied; table/object may be NULL). */
struct mg_step *mg_plan_add_step(struct mg_plan *p, enum mg_plan_phase phase,
				 enum mg_step_kind kind, const char *table,
				 const char *description, const char *sql,
				 const char *object);
/* Append a backfill spec; the caller fills the returned zeroed struct with
 * owned strings. */
struct mg_backfill_spec *mg_plan_add_backfill(struct mg_plan *p);
void mg_plan_add_lossy(struct mg_plan *p, const char *text);
void mg_plan_add_note(struct mg_plan *p, const char *text);

/* Serialise to / from JSON text (jansson). from_json: 0 or -1 (MG_EDB:
 * the state store holds a plan this version cannot read). */
char *mg_plan_to_json(const struct mg_plan *p);
int mg_plan_from_json(struct mg_plan *out, const char *json, struct mg_err *err);

#endif
