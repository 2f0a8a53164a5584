/*
 * state_int.h - what state.c and state_open.c share: the store's struct and
 * the statement helpers. Private to the state store; the rest of the core
 * includes state.h.
 *
 * Every helper that fails sets err (MG_EDB naming the path) and returns -1.
 */
#ifndef MG_STATE_INT_H
#define MG_STATE_INT_H

#include <stddef.h>
#include <sqlite3.h>

#include "state.h"

struct mg_state {
	sqlite3 *db;
	char *path;
	int lock_fd;		/* -1 when not locked */
};

/* The file is a database but not a sound one. Returns -1. */
int mg_state_damaged(struct mg_state *s, const char *cause, struct mg_err *err);
/* strerror(e) starting lowercase, as our messages do. */
void mg_state_errno_text(char *out, size_t size, int e);
/* The same in a per-thread buffer, for one message at a time. */
const char *mg_state_errstr(int e);
/* Every SQLite failure: the path and the cause (state.c says how). -1. */
int mg_state_dberr(struct mg_state *s, struct mg_err *err);
int mg_state_prepare(struct mg_state *s, const char *sql, sqlite3_stmt **out,
		     struct mg_err *err);
/* Bind a string, or SQL NULL for a NULL pointer. */
int mg_state_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Step a statement that returns no rows and finalize it. */
int mg_state_step_done(struct mg_state *s, sqlite3_stmt *st, struct mg_err *err);
int mg_state_exec(struct mg_state *s, const char *sql, struct mg_err *err);

#endif
