/*
 * backfill.h - the backfill engine (design §7): keyset batches over each
 * table's key up to the highest key present when the backfill started, one
 * statement per batch, sized to a target time per batch, throttled,
 * checkpointed in the state store after every batch, resumable after any
 * interruption, optionally split over parallel workers (each part of the
 * key range its own connection and checkpoint).
 */
#ifndef MG_BACKFILL_H
#define MG_BACKFILL_H

#include "driver.h"
#include "plan.h"
#include "state.h"

struct mg_backfill_opts {
	const char *database;	/* URL for the workers' connections */
	int lock_timeout_ms;
	int network_timeout_ms;	/* 0 = the driver's default */
	int batch_size;		/* > 0: fixed; 0: adaptive */
	int target_batch_ms;	/* adaptive target per batch */
	long max_rows_per_sec;	/* 0 = unlimited (all workers together) */
	int sleep_ms;		/* between batches, per worker */
	int max_lag_ms;		/* 0 = no lag throttle */
	int max_load;		/* 0 = no load throttle: active sessions */
	int max_lock_waits;	/* 0 = none: sessions waiting for a row lock */
	int critical_load;	/* 0 = none: active sessions that stop the run */
	int critical_load_interval_ms;	/* the second reading this much later */
	const char *pause_file;	/* NULL = none */
	int jobs;		/* parallel workers, >= 1 */
	int json;		/* progress as JSON lines on stderr */
	const char *lock_holder;	/* the lock guard of every worker (driver.h) */
	const char *migration;	/* its name, for progress lines and readers */
	int64_t started_unix_ms;	/* wall clock when the command started */
	long max_runtime_ms;	/* > 0: stop (resumably) after this long */
};

/* Adaptive batch bounds (rows, or key span for integer keys). */
#define MG_BATCH_FLOOR 100
#define MG_BATCH_CEILING 200000
#define MG_BATCH_START 1000

/*
 * The next batch size after a batch of `size` took `ms`: scaled toward the
 * target, growing at most 2x per batch, cut at once (no limit on the cut)
 * when a batch runs over, within [MG_BATCH_FLOOR, MG_BATCH_CEILING].
 */
int mg_backfill_next_size(int size, int64_t ms, int target_ms);

/*
 * Backfill every table of the plan for migration `id`. On SIGINT/SIGTERM
 * the current batches finish, are checkpointed, and -1 is returned with
 * MG_EDB "stopped by signal ... resumable from key K"; the same when the
 * active sessions stay over --critical-load ("stopped: N active sessions
 * > --critical-load M ...") and after --max-runtime ("stopped after
 * --max-runtime 5m: 41% done ..."). Tables whose checkpoints say done are
 * skipped.
 */
int mg_backfill_run(struct mg_conn *c, struct mg_state *st, int id,
		    const struct mg_plan *plan,
		    const struct mg_backfill_opts *opts, struct mg_err *err);

/* Count rows whose sides disagree in every table of the plan, in key-order
 * batches (a short read each); up to `sample` keys in all into sample_keys
 * ("table (k1, k2)"). */
int mg_backfill_verify(struct mg_conn *c, const struct mg_plan *plan,
		       int sample, int64_t *mismatches,
		       struct mg_strlist *sample_keys, struct mg_err *err);

/* Install the SIGINT/SIGTERM handlers that ask the engine to stop. */
void mg_backfill_install_signals(void);

#endif
