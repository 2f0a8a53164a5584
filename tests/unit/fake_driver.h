/*
 * fake_driver.h - a database in memory for the core's unit tests: the
 * target's history table, the advisory lock and the sessions a colour may
 * match, behind a `const struct mg_driver` that src/ reaches through the
 * mg_db_* wrappers like a real one. No SQL: a step "runs" by being
 * recorded. Only what the core's setup, gates and step loop call is
 * filled in; the catalog and backfill methods stay NULL.
 *
 * fake://<anything> connects to fake_db with every method the tests use;
 * fakemin://<anything> to the same database through a driver without the
 * optional methods (count_sessions, lock_lost, lock_check NULL).
 */
#ifndef FAKE_DRIVER_H
#define FAKE_DRIVER_H

#include "driver.h"

#define FAKE_MAX_ROWS 16
#define FAKE_MAX_STEPS 16

struct fake_db {
	char fingerprint[64];		/* "fake server/db1" */
	struct mg_history_row rows[FAKE_MAX_ROWS];	/* by migration id */
	size_t n_rows;
	int lock_held_elsewhere;	/* lock() refuses, naming a holder */
	int locked;			/* held by our connection */
	int64_t sessions;		/* count_sessions' answer ... */
	int sessions_fail;		/* ... or an error */
	const char *sessions_place;	/* the error names this unreadable place, with a hint */
	char *ran[FAKE_MAX_STEPS];	/* sql of each step run, in order */
	size_t n_ran;
	int fail_step;			/* 1-based step call that fails, 0 none */
};

extern struct fake_db fake_db;
extern const struct mg_driver fake_driver;
extern const struct mg_driver fake_driver_minimal;

/* Empty the database (history, lock, sessions, steps run). */
void fake_db_reset(const char *fingerprint);
/* Put a history row as a driver's history_write would (upsert by id,
 * generation = highest + 1), or with generation gen when gen > 0. */
void fake_db_put(int id, const char *name, const char *checksum,
		 const char *phase, const char *step_phase, int step_index,
		 const char *state_id, int64_t gen);
/* Forget the row of migration id (a restored backup lacks it). */
void fake_db_drop(int id);
int64_t fake_db_generation(void);
const struct mg_history_row *fake_db_row(int id);

#endif
