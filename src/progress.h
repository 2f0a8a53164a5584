/*
 * progress.h - what a running command is doing, published while it runs.
 *
 * The backfill (src/backfill.c) fills a struct mg_progress on every
 * progress tick and calls mg_progress_publish(), which hands the same
 * figures to every reader of live progress:
 *   - the run record beside the state file's lock (src/runinfo.c), which
 *     `migrate status` and the lock-refusal message of another migrate read;
 *   - the Prometheus text file of --metrics-file (src/metrics.c).
 * Phase steps (expand, switch-reads, contract, rollback) publish too, with
 * rows_total 0, so a reader always knows which step runs.
 *
 * Nothing here talks to a database; publishing never fails the command
 * (a reader that cannot be written is warned about once).
 */
#ifndef MG_PROGRESS_H
#define MG_PROGRESS_H

#include <stdint.h>

enum mg_progress_state {
	MG_PROGRESS_RUNNING,	/* copying, or running a step */
	MG_PROGRESS_THROTTLED,	/* slowed by --max-rows-per-sec / --sleep */
	MG_PROGRESS_PAUSED,	/* waiting: lag, load, lock waits, pause file, held rows */
	MG_PROGRESS_DONE,
	MG_PROGRESS_STOPPED,	/* interrupted, checkpointed, resumable */
};

struct mg_progress {
	const char *migration;	/* "0003_rename_user_name" */
	const char *phase;	/* "expand", "backfill", "switch-reads", "contract", "rollback" */
	const char *table;	/* schema.table being worked on; NULL between tables */
	const char *step;	/* what runs now, for a reader ("build index users_email_idx"); may be NULL */
	long long rows_done;	/* rows the backfill copied so far (this table) */
	long long rows_total;	/* current estimate of the rows to copy; 0 = not a copy */
	double rate;		/* rows/s, moving average over the last ~10 s */
	int64_t eta_ms;		/* -1 = unknown (paused, no rate yet) */
	enum mg_progress_state state;
	const char *reason;	/* why throttled or paused ("replica lag 4.2 s > 1 s"); NULL */
	long lock_waits;	/* sessions waiting for row locks at the last reading, -1 unknown */
	long retries;		/* lock-timeout retries of DDL steps and batches so far */
	long long held_rows;	/* rows left for a later pass because the application held them */
	int64_t started_unix_ms;	/* wall clock when the phase started */
};

const char *mg_progress_state_name(enum mg_progress_state s);

/* Hand p to every reader of live progress (see above). Cheap enough to
 * call on every tick: each reader limits its own writes. */
void mg_progress_publish(const struct mg_progress *p);

/* Wall-clock milliseconds since the epoch. */
int64_t mg_unix_ms(void);

/*
 * Readers: the run record (src/runinfo.c) always reads; others register
 * when the command asks for them (the metrics file: --metrics-file), so
 * this file links without them. Registering twice is one reader.
 */
typedef void (*mg_progress_reader)(const struct mg_progress *p);
void mg_progress_add_reader(mg_progress_reader fn);
void mg_runinfo_progress(const struct mg_progress *p);	/* src/runinfo.c */
void mg_metrics_progress(const struct mg_progress *p);	/* src/metrics.c */

#endif
