/*
 * backfill.h - the backfill engine (design §7): keyset batches over each
 * table's key up to the highest key present when the backfill started,
 * one short statement per batch, checkpointed in the state store after
 * every batch, resumable after any interruption.
 */
#ifndef MG_BACKFILL_H
#define MG_BACKFILL_H

#include "driver.h"
#include "plan.h"
#include "state.h"

struct mg_backfill_opts {
	int batch_size;
	long max_rows_per_sec;	/* 0 = unlimited */
	int sleep_ms;		/* between batches */
};

/*
 * Backfill every table of the plan for migration `id`. On SIGINT/SIGTERM
 * the current batch finishes, is checkpointed, and -1 is returned with
 * MG_EDB "stopped by signal ... resumable from key K". Tables whose
 * checkpoint says done are skipped.
 */
int mg_backfill_run(struct mg_conn *c, struct mg_state *st, int id,
		    const struct mg_plan *plan,
		    const struct mg_backfill_opts *opts, struct mg_err *err);

/* Count rows whose sides disagree in every table of the plan; up to
 * `sample` keys per table into sample_keys ("table: k1, k2"). */
int mg_backfill_verify(struct mg_conn *c, const struct mg_plan *plan,
		       int sample, int64_t *mismatches,
		       struct mg_strlist *sample_keys, struct mg_err *err);

/* Install the SIGINT/SIGTERM handlers that ask the engine to stop. */
void mg_backfill_install_signals(void);

#endif
