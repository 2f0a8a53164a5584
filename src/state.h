/*
 * state.h - the SQLite state store (design §5).
 *
 * One file (WAL mode) per target database: the target's fingerprint, the
 * state's identity and generation, each migration with its checksum, phase
 * and recorded plan, a journal of steps, backfill checkpoints and an
 * append-only event log. The target's history table mirrors identity,
 * generation and phases so that a missing, stale or foreign state file is
 * never used silently (the core compares them, see runner.c).
 *
 * Errors are MG_EDB with the path in the message. Ownership: struct
 * mg_state is opened with mg_state_open and freed with mg_state_close;
 * records returned by getters are caller-owned and released with their
 * _release function.
 */
#ifndef MG_STATE_H
#define MG_STATE_H

#include <stdint.h>
#include "util.h"

struct mg_state;

/*
 * Open (create = 1: create the file, its directory and schema if missing;
 * create = 0: a missing file is an error MG_EDB "state file 'p' does not
 * exist"). Takes an exclusive lock on "<path>.lock" (flock) when lock = 1;
 * if another process holds it: MG_EDB naming the pid written in the lock
 * file. *created is set to 1 when the file was created now.
 *
 * Before anything reads or writes it, an existing file passes
 * mg_state_check (MG_EDB "state file 'p' is damaged: ..." otherwise). A new
 * file is built under "<path>.creating" and moved into place once its
 * schema is committed and synced, so a crash or a full disk never leaves a
 * half-made file at path. A blank file (no table at all: what an
 * interrupted creation by an older migrate left) is built anew when create
 * = 1 and refused otherwise. Create only with lock = 1 when other
 * processes may open the same path.
 */
int mg_state_open(struct mg_state **out, const char *path, int create,
		  int lock, int *created, struct mg_err *err);

/* The time the integrity check at open may take. */
#define MG_STATE_CHECK_LIMIT_MS 10000

/* SQLite's PRAGMA integrity_check (the b-trees, their pages, and every
 * index against its table), stopped after limit_ms: 0 when the file is
 * sound, -1 with MG_EDB naming the problem otherwise. */
int mg_state_check(struct mg_state *s, int limit_ms, struct mg_err *err);

enum {
	MG_STATE_MISSING,	/* no file at path */
	MG_STATE_BLANK,		/* a file that holds no table */
	MG_STATE_PRESENT	/* anything else: mg_state_open judges it */
};

/* What is at path, without taking the lock or changing the file: lets the
 * caller treat a blank file like a missing one. */
int mg_state_probe(const char *path);
void mg_state_close(struct mg_state *s);
const char *mg_state_path(const struct mg_state *s);

/* Key/value metadata. Keys used: "state_id" (random hex, set at creation),
 * "fingerprint", "generation", "pending_generation". get returns a
 * malloc'd string or NULL when unset. */
int mg_state_meta_get(struct mg_state *s, const char *key, char **out,
		      struct mg_err *err);
int mg_state_meta_set(struct mg_state *s, const char *key, const char *value,
		      struct mg_err *err);

/* ---- migrations ------------------------------------------------------------ */

struct mg_state_migration {
	int id;
	char *name;
	char *checksum;		/* NULL after rollback */
	char *phase;		/* "pending" ... "contracted" */
	char *plan_json;	/* recorded at expand, NULL before */
	char *expanded_at, *backfilled_at, *switched_at, *contracted_at;
	char *updated_at;
	char *ran_by;		/* user@host of the last change */
};
void mg_state_migration_release(struct mg_state_migration *m);

/* 0 found, 1 not found (out untouched), -1 error. */
int mg_state_migration_get(struct mg_state *s, int id,
			   struct mg_state_migration *out, struct mg_err *err);
/* All recorded migrations by id ascending; *out is an array of *n. */
int mg_state_migration_list(struct mg_state *s,
			    struct mg_state_migration **out, size_t *n,
			    struct mg_err *err);
void mg_state_migration_list_free(struct mg_state_migration *list, size_t n);
/* Insert or replace the whole record (timestamps as given; ran_by filled
 * from the environment when NULL). */
int mg_state_migration_put(struct mg_state *s,
			   const struct mg_state_migration *m,
			   struct mg_err *err);
/* Set the phase and the matching <phase>_at timestamp to now. */
int mg_state_migration_set_phase(struct mg_state *s, int id,
				 const char *phase, struct mg_err *err);

/* ---- step journal -------------------------------------------------------- */

/* Record a step done (phase is a plan phase name: "expand", ...). */
int mg_state_journal_add(struct mg_state *s, int migration_id,
			 const char *phase, int step_index, const char *status,
			 const char *description, struct mg_err *err);
/* The highest step index recorded done for (migration, phase); 0 if none. */
int mg_state_journal_last(struct mg_state *s, int migration_id,
			  const char *phase, int *out, struct mg_err *err);
/* Forget the journal of a migration (after rollback). */
int mg_state_journal_clear(struct mg_state *s, int migration_id,
			   struct mg_err *err);

/* ---- backfill checkpoints -------------------------------------------------- */

struct mg_checkpoint {
	int migration_id;
	char *table_name;	/* as in the backfill spec */
	int part;		/* worker part, 0 for a single worker */
	char *last_key_json;	/* JSON array of text, NULL before the first batch */
	char *upto_key_json;	/* JSON array of text, NULL for an empty table */
	int64_t rows_done;
	int64_t estimate;
	int done;
	char *updated_at;
};
void mg_checkpoint_release(struct mg_checkpoint *c);

/* The rows a checkpoint's part holds, as every progress figure counts them:
 * the estimate, but never fewer than the rows already done (the estimate
 * comes from statistics that may be stale). */
static inline int64_t mg_checkpoint_rows(const struct mg_checkpoint *c)
{
	return c->estimate > c->rows_done ? c->estimate : c->rows_done;
}

/* 0 found, 1 not found, -1 error. */
int mg_state_checkpoint_get(struct mg_state *s, int migration_id,
			    const char *table_name, int part,
			    struct mg_checkpoint *out, struct mg_err *err);
int mg_state_checkpoint_put(struct mg_state *s, const struct mg_checkpoint *c,
			    struct mg_err *err);
int mg_state_checkpoint_list(struct mg_state *s, int migration_id,
			     struct mg_checkpoint **out, size_t *n,
			     struct mg_err *err);
void mg_state_checkpoint_list_free(struct mg_checkpoint *list, size_t n);
int mg_state_checkpoint_clear(struct mg_state *s, int migration_id,
			      struct mg_err *err);

/* ---- event log (append-only) ------------------------------------------------ */

struct mg_event {
	int64_t seq;
	char *at;
	char *command;
	int migration_id;	/* 0 when none */
	char *colour;		/* NULL when none */
	char *result;		/* "ok", "refused", "error", "info" */
	char *message;
};
void mg_event_release(struct mg_event *e);

int mg_state_event_add(struct mg_state *s, const char *command,
		       int migration_id, const char *colour,
		       const char *result, const char *message,
		       struct mg_err *err);
/* The newest `limit` events, oldest first. */
int mg_state_event_list(struct mg_state *s, int limit, struct mg_event **out,
			size_t *n, struct mg_err *err);
void mg_state_event_list_free(struct mg_event *list, size_t n);

/* ---- colours ------------------------------------------------------------------ */

/* A deployed application version (design §2). Times are ISO-8601 UTC. */
struct mg_colour {
	char *name;
	char *app_version;
	int requires_id;		/* 0: the schema before any migration */
	char *requires_checksum;	/* checksum of requires_id when registered */
	char *state;			/* "live", "standby", "retired"; never NULL
					 * ("" in a damaged record: alive) */
	char *match_pattern;		/* glob over session names, NULL when none */
	int64_t ttl_s;			/* 0: no heartbeat expected */
	char *registered_at, *updated_at, *heartbeat_at;
};
void mg_colour_release(struct mg_colour *c);

/* 0 found, 1 not found, -1 error. */
int mg_state_colour_get(struct mg_state *s, const char *name,
			struct mg_colour *out, struct mg_err *err);
/* Every colour by name. */
int mg_state_colour_list(struct mg_state *s, struct mg_colour **out,
			 size_t *n, struct mg_err *err);
void mg_state_colour_list_free(struct mg_colour *list, size_t n);
/* Insert or replace the whole record; NULL times are set to now. */
int mg_state_colour_put(struct mg_state *s, const struct mg_colour *c,
			struct mg_err *err);

/* Remove the colour's record (colour forget); none: nothing to do. */
int mg_state_colour_delete(struct mg_state *s, const char *name, struct mg_err *err);

/* Forget the checksum recorded by colours requiring migration id (it is
 * being rolled back): they stay invalid until registered again. */
int mg_state_colour_invalidate(struct mg_state *s, int requires_id,
			       struct mg_err *err);

/* Run fn inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK when it fails). */
int mg_state_begin(struct mg_state *s, struct mg_err *err);
int mg_state_commit(struct mg_state *s, struct mg_err *err);
void mg_state_rollback(struct mg_state *s);

#endif
