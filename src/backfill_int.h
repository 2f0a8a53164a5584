/*
 * backfill_int.h - the backfill engine's insides, shared by backfill.c
 * (parts, checkpoints, splits, throttles, progress, workers, verification)
 * and backfill_pass.c (the passes over a part: its batches, the rows other
 * transactions held, the sweep of a resumed run).
 */
#ifndef MG_BACKFILL_INT_H
#define MG_BACKFILL_INT_H

#include <pthread.h>

#include "backfill.h"

/* A key range (after, upto] of a batch that left rows other transactions
 * held (after NULL: from the start). */
struct span {
	char **after;
	char **upto;
};

struct part {
	struct mg_checkpoint cp;
	char **last;		/* NULL: from the start */
	char **upto;
	int taken;
	int transient;		/* the sweep's: no checkpoint of its own */
	int passed;		/* this run passed over all of it: every row
				 * taken, none left held (cp.done waits for the
				 * sweep of a resumed run) */
	struct span *held;	/* ranges to pass over again */
	size_t n_held, alloc_held;
};

/* What the throttles read and decided (under table_run.mu; backfill.c,
 * the throttles). */
struct throttle_state {
	char server[512];		/* lag and load verdict, once a second */
	char locks[160];		/* lock-waits verdict, every LOCK_WAITS_EVERY_MS */
	int64_t locks_ms;		/* when lock waits were last read */
	int64_t critical_ms;		/* when --critical-load last read the load */
	int64_t critical_again_ms;	/* the second reading is due, 0: none */
	int64_t critical_first;		/* active sessions at the first reading */
	int critical_stop;		/* stopped by --critical-load: err says why */
};

struct table_run {
	struct mg_state *st;
	const struct mg_backfill_spec *s;
	const struct mg_backfill_opts *o;
	int id;
	size_t index;			/* the table's place in the plan */
	pthread_mutex_t mu;
	struct part *parts;
	size_t n_parts, alloc;
	int64_t rows_done, estimate, rows_at_start, start_ms;
	int batches;
	int size_shown;			/* batch size of the last batch */
	int workers;
	char throttle[512];		/* why batches wait now, "" when they don't */
	int64_t throttle_checked_ms;
	struct throttle_state thr;	/* the throttles' readings */
	int64_t progress_ms;
	int tty;
	int failed;
	int sweep;			/* resumed: pass over the whole table once
					 * more before any part is done, for rows an
					 * earlier run left held (not in memory now) */
	char held_note[256];		/* the passes over held rows, "" when none */
	struct mg_err err;
};


/* backfill.c */
char *mg_bf_keys_to_json(char *const *keys, size_t n);
void mg_bf_free_keys(char **keys, size_t n);
void mg_bf_progress_line(struct table_run *r, int final);	/* under r->mu */
void mg_bf_wait_for_throttles(struct table_run *r, struct mg_conn *c);
void mg_bf_sleep_unless_stopped(int64_t ms);
void mg_bf_pace(struct table_run *r);
void mg_bf_fail(struct table_run *r, const struct mg_err *err);

/* backfill_pass.c */
void mg_bf_part_release(struct part *p, size_t n_keys);
/* The part's main pass, the passes over its held rows, then its checkpoint
 * says done (passed only, in a resumed run: the sweep marks it done). 0
 * also when stopped. */
int mg_bf_run_part(struct table_run *r, struct mg_conn *c, struct part *p, int *size,
		   struct mg_err *err);
int mg_bf_sweep_table(struct table_run *r, struct mg_conn *c, struct mg_err *err);

#endif
