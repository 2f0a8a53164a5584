/*
 * metrics_int.h - the parts of --metrics-file (metrics.h): metrics.c renders
 * and writes the file and keeps the live figures; metrics_snapshot.c reads
 * the state as `migrate status` does, and is linked only into the binary
 * (the live path, which progress.c calls, needs no database code).
 *
 * Ownership: a struct metrics_snapshot is made by mg_metrics_snapshot_take
 * and freed by mg_metrics_snapshot_free, or handed to mg_metrics_begin /
 * mg_metrics_end, which take it over.
 */
#ifndef MG_METRICS_INT_H
#define MG_METRICS_INT_H

#include <stdint.h>

#include "config.h"
#include "plan.h"

struct snap_table {		/* one table's backfill checkpoints, summed over parts */
	char *table;
	long long rows_done, estimate;
};

struct snap_migration {
	int id;
	char *name;
	enum mg_phase phase;
	struct snap_table *tables;
	size_t n_tables;
	int n_parts, parts_done;
};

struct snap_colour {
	char *name;
	char *state;
	char *requires;		/* label of the required schema */
	int requires_id;
	int alive, stale, valid;
	int has_pattern;
	int64_t sessions;	/* -1 unknown */
	int64_t heartbeat_age_s;	/* -1 never */
};

struct snap_gate {		/* contract of a switched migration */
	int id;
	const char *name;	/* borrowed from its snap_migration */
	int safe;		/* 1 safe, 0 refused, -1 could not be evaluated */
};

struct metrics_snapshot {
	int db_configured;
	int reachable;		/* read with the database, the state matching it */
	int state_present;
	int have_window;
	int window_low, window_high;	/* the readable window (mg_window_compute) */
	struct snap_migration *migs;
	size_t n_migs;
	struct snap_colour *colours;
	size_t n_colours;
	struct snap_gate *gates;
	size_t n_gates;
};

/* ---- metrics.c ---- */
void mg_metrics_snapshot_free(struct metrics_snapshot *s);

/* A command starts: the path (NULL: no metrics), its name, and the
 * snapshot live writes show (NULL: none); the live figures are cleared. */
void mg_metrics_begin(const char *path, const char *command, struct metrics_snapshot *start);

/* The command ended with rc: write the file from s (taken over) and the
 * last live figures, recording this run of the command. */
void mg_metrics_end(const char *path, const char *command, int rc, struct metrics_snapshot *s);

/* ---- metrics_snapshot.c ---- */
/* Read the state (with_db = 0: without a connection); never fails: what
 * cannot be read is left out (see the .c file). */
struct metrics_snapshot *mg_metrics_snapshot_take(struct mg_options *opt, int with_db);

#endif
