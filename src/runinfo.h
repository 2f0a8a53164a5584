/*
 * runinfo.h - who holds the state file's lock, and what it is doing.
 *
 * A command that changes the target takes an flock() on "<state>.lock"
 * (src/state_open.c). The lock file then holds the holder's pid on its
 * first line (what older migrate versions read) and, on the second line,
 * a JSON record: host, pid, the command and its command line with every
 * password hidden, the migration when known, and the start time. While it
 * runs, the holder keeps its live progress (mg_progress_publish) in
 * "<state>.run.json" beside it, replaced atomically at most once a second
 * and removed when the lock is released.
 *
 * A reader (status, the refusal message of another migrate) tells a live
 * record from a stale one by the lock itself: flock() locks die with their
 * process, so a lock that can be taken (shared, without waiting) is held by
 * nobody and the record describes a run that ended.
 *
 * Ownership: struct mg_runinfo is embedded by the caller and filled by
 * mg_runinfo_read; it owns nothing (fixed buffers).
 */
#ifndef MG_RUNINFO_H
#define MG_RUNINFO_H

#include <stdint.h>
#include <jansson.h>

#include "config.h"

struct mg_runinfo {
	long pid;
	char host[256];
	char command[64];		/* "backfill" */
	char what[512];			/* "backfill 0003": the command and its arguments */
	char command_line[2048];	/* argv, passwords hidden */
	char migration[128];		/* from the arguments or the progress; "" unknown */
	char started_at[32];		/* ISO 8601 UTC */
	int64_t started_unix_ms;
	int live;			/* the lock is held now */
	/* live progress ("<state>.run.json"), when has_progress */
	int has_progress;
	char phase[32];
	char table[256];
	char step[512];
	char state[16];			/* mg_progress_state_name() */
	char reason[256];
	long long rows_done, rows_total;
	double rate;
	int64_t eta_ms;			/* -1 unknown */
	int64_t updated_unix_ms;
};

/* What this process is, for the record it writes when it takes the lock:
 * the command, its arguments and --wait-lock. Call before opening the
 * state with the lock (mg_ctx_open does). */
void mg_runinfo_setup(const struct mg_options *opt, const char *command);

/* --wait-lock in ms (0: refuse at once). */
int mg_runinfo_wait_ms(void);

/* Write the pid line and the record into the lock file fd, which this
 * process has just locked for the state file at state_path. 0, or -1 with
 * errno set. */
int mg_runinfo_write_lock(int fd, const char *state_path);

/* The migration this run acts on is known now (the phase commands pick
 * it after the lock): the record names it. */
void mg_runinfo_set_migration(const char *migration);

/* Whether this process had to wait (--wait-lock) for the lock it holds:
 * what it read of the target before then may be stale. */
int mg_runinfo_lock_waited(void);
void mg_runinfo_note_waited(void);

/* The lock of state_path is released (the state is closed): the live
 * progress file goes. */
void mg_runinfo_released(const char *state_path);

/*
 * Read the record of state_path's lock and its live progress. 1 when a
 * record was found (out->live says whether its run still holds the lock),
 * 0 when there is none (no lock file, or one written by an older migrate
 * that holds only a pid: out->pid is then set when readable).
 */
int mg_runinfo_read(const char *state_path, struct mg_runinfo *out);

/* "`migrate backfill 0003` on host ci-runner-7 (pid 9782), running since
 * 10:02:11 UTC (12m ago)" ("started ... ended" for a stale record). */
void mg_runinfo_describe(const struct mg_runinfo *ri, struct mg_buf *out);

/* "backfill of public.users 41% (176,000/430,000 rows, 2,100 rows/s, ETA
 * 2m01s)"; nothing when the record has no progress. */
void mg_runinfo_progress_line(const struct mg_runinfo *ri, struct mg_buf *out);

/* The record as JSON (status --json "running"). New reference. */
json_t *mg_runinfo_json(const struct mg_runinfo *ri);

#endif
