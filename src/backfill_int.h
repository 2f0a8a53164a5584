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
	/* the estimate of the rows left (backfill_progress.c): for a single
	 * integer key, the rows this run copied since key est_from over the
	 * share of the key span (est_from, upto] passed */
	int est_ok;		/* est_from is set */
	long long est_from;
	int64_t est_rows;	/* rows copied since est_from (all passes) */
	int est_batches;	/* batches of the main pass since est_from */
};

/* Rows done against the time the backfill was not paused, sampled at
 * least RATE_SAMPLE_MS apart: the rate is over the last RATE_WINDOW_MS
 * of such time, so a pause neither drags it to 0 nor a resumed run
 * averages since its start. */
#define RATE_SAMPLES 64
#define RATE_SAMPLE_MS 200
#define RATE_WINDOW_MS 10000

struct rate_ring {
	int64_t active_ms[RATE_SAMPLES];
	int64_t rows[RATE_SAMPLES];
	int n, head;		/* head: the next slot written */
	int64_t active_now;	/* ms the backfill was not paused, so far */
	int64_t last_tick_ms;	/* monotonic time of the last tick */
	int was_paused;		/* the last tick found it paused */
};

/* How a progress line comes (mg_bf_progress_line). */
enum bf_tick {
	BF_TICK,		/* while it runs: shown when due */
	BF_STOPPED,		/* the last line of a table stopped (resumable) */
	BF_DONE,		/* the last line of a finished table */
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
	char held_reason[160];		/* the same for the reason: "waiting for rows ..." */
	int64_t held_rows;		/* rows left held now (the last pass's count) */
	struct mg_err err;
	/* progress (backfill_progress.c) */
	struct rate_ring rate;
	int64_t published_ms;		/* when progress was last published */
	int64_t lock_waits;		/* the last --max-lock-waits reading, -1 none */
	long retries;			/* batches that met a lock and tried again */
	int int_key;			/* a single integer key: estimates from key spans */
	int runtime_stop;		/* stopped by --max-runtime */
	int64_t paced_ms;		/* when --max-rows-per-sec last slept */
};


/* backfill.c */
char *mg_bf_keys_to_json(char *const *keys, size_t n);
void mg_bf_free_keys(char **keys, size_t n);

/* --max-runtime: past the deadline, ask the workers to stop as a signal
 * does (they finish their batch and checkpoint). 1 when it asked. */
int mg_bf_runtime_over(void);
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

/* backfill_progress.c (under r->mu) */
void mg_bf_progress_line(struct table_run *r, enum bf_tick tick);
/* The rows the whole table is estimated to have to copy, earlier runs
 * included: never below rows_done, above it while parts are left. */
int64_t mg_bf_estimate(struct table_run *r);
/* Percent done, floor; 100 only when every part is done. */
int mg_bf_percent(struct table_run *r, int64_t total);
/* The run failed (err): the readers see it stopped, and why. */
void mg_bf_publish_failed(struct table_run *r, const struct mg_err *err);
/* The text line that closes a finished table: what the count means. */
void mg_bf_summary(struct table_run *r);
/* The first progress figures, before any batch (after load_parts). */
void mg_bf_progress_start(struct table_run *r);
/* Milliseconds this table's run was not paused (--max-rows-per-sec
 * paces against it: a pause earns no burst after it). */
int64_t mg_bf_active_ms(const struct table_run *r);
/* A batch was recorded (before p->last moves to its last key): count it
 * in the part's measurement and the retries. */
void mg_bf_note_batch(struct table_run *r, struct part *p, const struct mg_batch_result *b,
		      int main);

#endif
