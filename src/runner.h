/*
 * runner.h - what every command shares: loading the migration files,
 * opening the state store, connecting, proving the state file belongs to the
 * target (history table, fingerprint, generation), the advisory lock, the
 * merged view of files and recorded migrations, and running a phase's steps
 * with the journal and history kept in step.
 *
 * Ownership: struct mg_ctx is embedded by the command, filled by
 * mg_ctx_open and released by mg_ctx_close.
 */
#ifndef MG_RUNNER_H
#define MG_RUNNER_H

#include <jansson.h>

#include "config.h"
#include "driver.h"
#include "migration.h"
#include "plan.h"
#include "state.h"

/* What a command needs set up before it runs. */
enum mg_setup {
	MG_NEED_DB = 1 << 0,		/* connect and check the state file */
	MG_NEED_WRITE = 1 << 1,		/* may create the state; takes the locks */
	MG_HISTORY_IS_ENOUGH = 1 << 2,	/* without a state file, read phases and
					 * checksums from the target's history */
};

/* One migration as the files, the state and the target see it. */
struct mg_view {
	int id;
	const char *name;			/* borrowed from file or rec */
	const struct mg_migration *file;	/* NULL when the file is gone */
	struct mg_state_migration rec;		/* valid when has_rec */
	int has_rec;
	enum mg_phase phase;
	int edited;			/* file checksum differs from the recorded one */
	const struct mg_history_row *hist;	/* NULL when the target has none */
};

struct mg_ctx {
	struct mg_options *opt;
	const char *command;
	unsigned setup;
	struct mg_migration_set files;
	struct mg_state *state;		/* NULL when none exists and none is needed */
	struct mg_conn *conn;
	struct mg_history history;
	char *state_id;
	int64_t generation;
	int locked;
	char *lock_holder;		/* the lock's session, for the lock guard */
	struct mg_view *views;		/* by id ascending */
	size_t n_views;
	json_t *steps;			/* what mg_ctx_run_phase did, for --json */
};

int mg_ctx_open(struct mg_ctx *ctx, struct mg_options *opt, const char *command,
		unsigned setup, struct mg_err *err);
void mg_ctx_close(struct mg_ctx *ctx);

/* After a failure: when the session holding the lock is gone, say so in
 * err (the lock was lost) instead of the bare database error. */
void mg_ctx_explain_lock_lost(struct mg_ctx *ctx, struct mg_err *err);

/* The view with this id, or NULL. */
struct mg_view *mg_ctx_view(struct mg_ctx *ctx, int id);

/*
 * Pick the migration a phase command acts on (design §4): arg (an id as
 * written) or, when NULL, the lowest migration whose phase is below
 * `target` (rollback: pass MG_PHASE_PENDING to get the highest one that is
 * expanded, backfilled or switched). *out = NULL means nothing to do.
 */
int mg_ctx_pick(struct mg_ctx *ctx, const char *arg, enum mg_phase target,
		struct mg_view **out, struct mg_err *err);

/* Refuse (MG_EINPUT) when the migration's own file changed since expand,
 * showing both checksums. */
int mg_ctx_check_unchanged(struct mg_ctx *ctx, const struct mg_view *v,
			   struct mg_err *err);

/* The recorded plan of v (MG_EDB when missing or unreadable). */
int mg_ctx_recorded_plan(struct mg_ctx *ctx, const struct mg_view *v,
			 struct mg_plan *out, struct mg_err *err);

/*
 * Run the steps of `phase` from the plan, skipping those the target's
 * history records as done, then record `new_phase` (in the state and in the
 * target). Prints one line per step. 0 or -1.
 */
int mg_ctx_run_phase(struct mg_ctx *ctx, struct mg_view *v,
		     const struct mg_plan *plan, enum mg_plan_phase phase,
		     enum mg_phase new_phase, struct mg_err *err);

/* Record the migration's new phase in the target and the state. */
int mg_ctx_set_phase(struct mg_ctx *ctx, struct mg_view *v,
		     enum mg_phase phase, const char *step_phase, int step_index,
		     struct mg_err *err);

/* Append to the event log (ignored when there is no state). */
void mg_ctx_event(struct mg_ctx *ctx, int migration_id, const char *result,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The same, naming the colour the event is about. */
void mg_ctx_event_colour(struct mg_ctx *ctx, int migration_id, const char *colour,
			 const char *result, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * The colour registry changed: bump the generation in the target (history
 * row MG_REGISTRY_ID) and the state, so that an older copy of the state file
 * that lacks the change is refused later.
 */
#define MG_REGISTRY_ID 0
int mg_ctx_registry_changed(struct mg_ctx *ctx, struct mg_err *err);

/* The id as shown to people: 0003. */
const char *mg_id_str(int id, char buf[16]);

#endif
