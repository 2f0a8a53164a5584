/*
 * state.c - the SQLite state store (design §5): the statement helpers and
 * the records (meta, migrations, journal, checkpoints, events, colours).
 * Opening, checking and creating the file are in state_open.c.
 *
 * One connection per process, WAL mode, every statement prepared with bound
 * parameters.
 */
#include "state_int.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- errors and statement helpers ---------------------------------------- */

/* The file is a database but not a sound one. Returns -1. */
int mg_state_damaged(struct mg_state *s, const char *cause, struct mg_err *err)
{
	mg_err_set(err, MG_EDB, "state file '%s' is damaged: %s", s->path,
		   cause);
	return mg_err_hint(err,
			   "keep the damaged file for inspection and restore the copy the previous run kept (pipeline artifact, volume or backup) to '%s', then run the command again",
			   s->path);
}

/* strerror(e) starting lowercase, as our messages do. */
void mg_state_errno_text(char *out, size_t size, int e)
{
	snprintf(out, size, "%s", strerror(e));
	if (out[0] >= 'A' && out[0] <= 'Z' && !(out[1] >= 'A' && out[1] <= 'Z'))
		out[0] = (char)(out[0] - 'A' + 'a');
}

/* The same in a per-thread buffer, for one message at a time. */
const char *mg_state_errstr(int e)
{
	static _Thread_local char buf[128];

	mg_state_errno_text(buf, sizeof(buf), e);
	return buf;
}

/*
 * Every SQLite failure: the path and the cause. SQLite says "database or
 * disk is full" for a write that ENOSPC cut short and only "disk I/O error"
 * for the others, so the cause is the system's errno when it has one.
 * A full disk and a damaged file also get what to do next.
 */
int mg_state_dberr(struct mg_state *s, struct mg_err *err)
{
	int code = sqlite3_extended_errcode(s->db) & 0xff;
	/* fresh only after SQLITE_IOERR and SQLITE_CANTOPEN */
	int e = code == SQLITE_IOERR || code == SQLITE_CANTOPEN ?
		sqlite3_system_errno(s->db) : 0;
	char cause[256];

	if (code == SQLITE_FULL)
		snprintf(cause, sizeof(cause), "no space left on device");
	else if (code == SQLITE_CANTOPEN && e != 0)
		snprintf(cause, sizeof(cause), "cannot open: %s", mg_state_errstr(e));
	else if (e != 0)
		mg_state_errno_text(cause, sizeof(cause), e);
	else
		snprintf(cause, sizeof(cause), "%s", sqlite3_errmsg(s->db));

	if (code == SQLITE_CORRUPT)
		return mg_state_damaged(s, cause, err);
	mg_err_set(err, MG_EDB, "state file '%s': %s", s->path, cause);
	if (code == SQLITE_FULL || e == ENOSPC || e == EDQUOT)
		mg_err_hint(err, "free space where '%s' lives and run the command again: the state file keeps every step that finished, the rerun resumes from there",
			    s->path);
	return -1;
}

int mg_state_prepare(struct mg_state *s, const char *sql, sqlite3_stmt **out,
		     struct mg_err *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK) {
		*out = NULL;
		return mg_state_dberr(s, err);
	}
	return 0;
}

/* Bind a string, or SQL NULL for a NULL pointer. */
int mg_state_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (!v)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* A malloc'd copy of a text column, NULL for SQL NULL. */
static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	if (sqlite3_column_type(st, i) == SQLITE_NULL || !v)
		return NULL;
	return mg_xstrdup((const char *)v);
}

/* Step a statement that returns no rows and finalize it. */
int mg_state_step_done(struct mg_state *s, sqlite3_stmt *st, struct mg_err *err)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		mg_state_dberr(s, err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

int mg_state_exec(struct mg_state *s, const char *sql, struct mg_err *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return mg_state_dberr(s, err);
	return 0;
}

/* "$USER@hostname", USER falling back to the password entry. */
static void ran_by(char *out, size_t size)
{
	const char *user = getenv("USER");
	char host[256];

	if (!user || !*user) {
		struct passwd *pw = getpwuid(geteuid());

		user = pw && pw->pw_name ? pw->pw_name : "unknown";
	}
	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, size, "%s@%s", user, host);
}

/* ---- meta ---------------------------------------------------------------- */

int mg_state_meta_get(struct mg_state *s, const char *key, char **out,
		      struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	if (mg_state_prepare(s, "SELECT value FROM meta WHERE key = ?", &st, err) < 0)
		return -1;
	mg_state_bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = column_dup(st, 0);
	else if (rc != SQLITE_DONE) {
		mg_state_dberr(s, err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

int mg_state_meta_set(struct mg_state *s, const char *key, const char *value,
		      struct mg_err *err)
{
	sqlite3_stmt *st;

	if (mg_state_prepare(s, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
		    &st, err) < 0)
		return -1;
	mg_state_bind_text(st, 1, key);
	mg_state_bind_text(st, 2, value);
	return mg_state_step_done(s, st, err);
}

/* ---- migrations ---------------------------------------------------------- */

#define MIGRATION_COLUMNS \
	"id, name, checksum, phase, plan_json, expanded_at, backfilled_at," \
	" switched_at, contracted_at, updated_at, ran_by"

void mg_state_migration_release(struct mg_state_migration *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->checksum);
	free(m->phase);
	free(m->plan_json);
	free(m->expanded_at);
	free(m->backfilled_at);
	free(m->switched_at);
	free(m->contracted_at);
	free(m->updated_at);
	free(m->ran_by);
	memset(m, 0, sizeof(*m));
}

static void read_migration(sqlite3_stmt *st, struct mg_state_migration *m)
{
	m->id = sqlite3_column_int(st, 0);
	m->name = column_dup(st, 1);
	m->checksum = column_dup(st, 2);
	m->phase = column_dup(st, 3);
	m->plan_json = column_dup(st, 4);
	m->expanded_at = column_dup(st, 5);
	m->backfilled_at = column_dup(st, 6);
	m->switched_at = column_dup(st, 7);
	m->contracted_at = column_dup(st, 8);
	m->updated_at = column_dup(st, 9);
	m->ran_by = column_dup(st, 10);
}

int mg_state_migration_get(struct mg_state *s, int id,
			   struct mg_state_migration *out, struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = 1;

	if (mg_state_prepare(s, "SELECT " MIGRATION_COLUMNS " FROM migrations WHERE id = ?",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_migration(st, out);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = mg_state_dberr(s, err);
	}
	sqlite3_finalize(st);
	return ret;
}

int mg_state_migration_list(struct mg_state *s,
			    struct mg_state_migration **out, size_t *n,
			    struct mg_err *err)
{
	struct mg_state_migration *list = NULL;
	size_t nr = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (mg_state_prepare(s, "SELECT " MIGRATION_COLUMNS " FROM migrations ORDER BY id",
		    &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		MG_ALLOC_GROW(list, nr + 1, alloc);
		memset(&list[nr], 0, sizeof(list[nr]));
		read_migration(st, &list[nr++]);
	}
	if (rc != SQLITE_DONE) {
		mg_state_dberr(s, err);
		sqlite3_finalize(st);
		mg_state_migration_list_free(list, nr);
		return -1;
	}
	sqlite3_finalize(st);
	*out = list;
	*n = nr;
	return 0;
}

void mg_state_migration_list_free(struct mg_state_migration *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		mg_state_migration_release(&list[i]);
	free(list);
}

int mg_state_migration_put(struct mg_state *s,
			   const struct mg_state_migration *m,
			   struct mg_err *err)
{
	char now[32], who[512];
	sqlite3_stmt *st;

	mg_iso_time(now);
	ran_by(who, sizeof(who));
	if (mg_state_prepare(s, "INSERT OR REPLACE INTO migrations (" MIGRATION_COLUMNS
		    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, m->id);
	mg_state_bind_text(st, 2, m->name);
	mg_state_bind_text(st, 3, m->checksum);
	mg_state_bind_text(st, 4, m->phase ? m->phase : "pending");
	mg_state_bind_text(st, 5, m->plan_json);
	mg_state_bind_text(st, 6, m->expanded_at);
	mg_state_bind_text(st, 7, m->backfilled_at);
	mg_state_bind_text(st, 8, m->switched_at);
	mg_state_bind_text(st, 9, m->contracted_at);
	mg_state_bind_text(st, 10, m->updated_at ? m->updated_at : now);
	mg_state_bind_text(st, 11, m->ran_by ? m->ran_by : who);
	return mg_state_step_done(s, st, err);
}

int mg_state_migration_set_phase(struct mg_state *s, int id,
				 const char *phase, struct mg_err *err)
{
	/* the column names come from this table, never from the caller */
	static const struct {
		const char *phase;
		const char *sql;
	} phases[] = {
		{ "pending", "UPDATE migrations SET phase = ?1,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
		{ "expanded", "UPDATE migrations SET phase = ?1, expanded_at = ?2,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
		{ "backfilled", "UPDATE migrations SET phase = ?1, backfilled_at = ?2,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
		{ "switched", "UPDATE migrations SET phase = ?1, switched_at = ?2,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
		{ "contracted", "UPDATE migrations SET phase = ?1, contracted_at = ?2,"
		  " updated_at = ?2, ran_by = ?3 WHERE id = ?4" },
	};
	char now[32], who[512];
	const char *sql = NULL;
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (phase && !strcmp(phase, phases[i].phase))
			sql = phases[i].sql;
	if (!sql)
		return mg_err_set(err, MG_EDB, "state file '%s': unknown phase '%s'",
				  s->path, phase ? phase : "(null)");
	mg_iso_time(now);
	ran_by(who, sizeof(who));
	if (mg_state_prepare(s, sql, &st, err) < 0)
		return -1;
	mg_state_bind_text(st, 1, phase);
	mg_state_bind_text(st, 2, now);
	mg_state_bind_text(st, 3, who);
	sqlite3_bind_int(st, 4, id);
	if (mg_state_step_done(s, st, err) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return mg_err_set(err, MG_EDB,
				  "state file '%s' has no record of migration %d",
				  s->path, id);
	return 0;
}

/* ---- step journal -------------------------------------------------------- */

int mg_state_journal_add(struct mg_state *s, int migration_id,
			 const char *phase, int step_index, const char *status,
			 const char *description, struct mg_err *err)
{
	char now[32];
	sqlite3_stmt *st;

	mg_iso_time(now);
	if (mg_state_prepare(s, "INSERT INTO journal (migration_id, phase, step_index,"
		    " status, description, at) VALUES (?, ?, ?, ?, ?, ?)",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	mg_state_bind_text(st, 2, phase);
	sqlite3_bind_int(st, 3, step_index);
	mg_state_bind_text(st, 4, status);
	mg_state_bind_text(st, 5, description);
	mg_state_bind_text(st, 6, now);
	return mg_state_step_done(s, st, err);
}

/* Only rows with status "done" count: a step started or failed must run
 * again. */
int mg_state_journal_last(struct mg_state *s, int migration_id,
			  const char *phase, int *out, struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*out = 0;
	if (mg_state_prepare(s, "SELECT COALESCE(MAX(step_index), 0) FROM journal"
		    " WHERE migration_id = ? AND phase = ? AND status = 'done'",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	mg_state_bind_text(st, 2, phase);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		mg_state_dberr(s, err);
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int mg_state_journal_clear(struct mg_state *s, int migration_id,
			   struct mg_err *err)
{
	sqlite3_stmt *st;

	if (mg_state_prepare(s, "DELETE FROM journal WHERE migration_id = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	return mg_state_step_done(s, st, err);
}

/* ---- backfill checkpoints ------------------------------------------------ */

#define CHECKPOINT_COLUMNS \
	"migration_id, table_name, part, last_key_json, upto_key_json," \
	" rows_done, estimate, done, updated_at"

void mg_checkpoint_release(struct mg_checkpoint *c)
{
	if (!c)
		return;
	free(c->table_name);
	free(c->last_key_json);
	free(c->upto_key_json);
	free(c->updated_at);
	memset(c, 0, sizeof(*c));
}

static void read_checkpoint(sqlite3_stmt *st, struct mg_checkpoint *c)
{
	c->migration_id = sqlite3_column_int(st, 0);
	c->table_name = column_dup(st, 1);
	c->part = sqlite3_column_int(st, 2);
	c->last_key_json = column_dup(st, 3);
	c->upto_key_json = column_dup(st, 4);
	c->rows_done = sqlite3_column_int64(st, 5);
	c->estimate = sqlite3_column_int64(st, 6);
	c->done = sqlite3_column_int(st, 7);
	c->updated_at = column_dup(st, 8);
}

int mg_state_checkpoint_get(struct mg_state *s, int migration_id,
			    const char *table_name, int part,
			    struct mg_checkpoint *out, struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = 1;

	if (mg_state_prepare(s, "SELECT " CHECKPOINT_COLUMNS " FROM checkpoints"
		    " WHERE migration_id = ? AND table_name = ? AND part = ?",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	mg_state_bind_text(st, 2, table_name);
	sqlite3_bind_int(st, 3, part);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_checkpoint(st, out);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = mg_state_dberr(s, err);
	}
	sqlite3_finalize(st);
	return ret;
}

/* updated_at is always now: a checkpoint is written after each batch. */
int mg_state_checkpoint_put(struct mg_state *s, const struct mg_checkpoint *c,
			    struct mg_err *err)
{
	char now[32];
	sqlite3_stmt *st;

	mg_iso_time(now);
	if (mg_state_prepare(s, "INSERT OR REPLACE INTO checkpoints (" CHECKPOINT_COLUMNS
		    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, c->migration_id);
	mg_state_bind_text(st, 2, c->table_name);
	sqlite3_bind_int(st, 3, c->part);
	mg_state_bind_text(st, 4, c->last_key_json);
	mg_state_bind_text(st, 5, c->upto_key_json);
	sqlite3_bind_int64(st, 6, c->rows_done);
	sqlite3_bind_int64(st, 7, c->estimate);
	sqlite3_bind_int(st, 8, c->done ? 1 : 0);
	mg_state_bind_text(st, 9, now);
	return mg_state_step_done(s, st, err);
}

int mg_state_checkpoint_list(struct mg_state *s, int migration_id,
			     struct mg_checkpoint **out, size_t *n,
			     struct mg_err *err)
{
	struct mg_checkpoint *list = NULL;
	size_t nr = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (mg_state_prepare(s, "SELECT " CHECKPOINT_COLUMNS " FROM checkpoints"
		    " WHERE migration_id = ? ORDER BY table_name, part",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		MG_ALLOC_GROW(list, nr + 1, alloc);
		memset(&list[nr], 0, sizeof(list[nr]));
		read_checkpoint(st, &list[nr++]);
	}
	if (rc != SQLITE_DONE) {
		mg_state_dberr(s, err);
		sqlite3_finalize(st);
		mg_state_checkpoint_list_free(list, nr);
		return -1;
	}
	sqlite3_finalize(st);
	*out = list;
	*n = nr;
	return 0;
}

void mg_state_checkpoint_list_free(struct mg_checkpoint *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		mg_checkpoint_release(&list[i]);
	free(list);
}

int mg_state_checkpoint_clear(struct mg_state *s, int migration_id,
			      struct mg_err *err)
{
	sqlite3_stmt *st;

	if (mg_state_prepare(s, "DELETE FROM checkpoints WHERE migration_id = ?",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, migration_id);
	return mg_state_step_done(s, st, err);
}

/* ---- event log ----------------------------------------------------------- */

void mg_event_release(struct mg_event *e)
{
	if (!e)
		return;
	free(e->at);
	free(e->command);
	free(e->colour);
	free(e->result);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

int mg_state_event_add(struct mg_state *s, const char *command,
		       int migration_id, const char *colour,
		       const char *result, const char *message,
		       struct mg_err *err)
{
	char now[32];
	sqlite3_stmt *st;

	mg_iso_time(now);
	if (mg_state_prepare(s, "INSERT INTO events (at, command, migration_id, colour,"
		    " result, message) VALUES (?, ?, ?, ?, ?, ?)", &st, err) < 0)
		return -1;
	mg_state_bind_text(st, 1, now);
	mg_state_bind_text(st, 2, command);
	if (migration_id)
		sqlite3_bind_int(st, 3, migration_id);
	else
		sqlite3_bind_null(st, 3);
	mg_state_bind_text(st, 4, colour);
	mg_state_bind_text(st, 5, result);
	mg_state_bind_text(st, 6, message);
	return mg_state_step_done(s, st, err);
}

/* ---- colours -------------------------------------------------------------------- */

#define COLOUR_COLUMNS "name, app_version, requires_id, requires_checksum, state, " \
	"match_pattern, ttl_s, registered_at, updated_at, heartbeat_at"

void mg_colour_release(struct mg_colour *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->app_version);
	free(c->requires_checksum);
	free(c->state);
	free(c->match_pattern);
	free(c->registered_at);
	free(c->updated_at);
	free(c->heartbeat_at);
	memset(c, 0, sizeof(*c));
}

/* A damaged record may hold NULL where the schema allows it: name and
 * state read as "" then, an unknown state, which counts as alive (not
 * retired) everywhere, so no caller compares a NULL. */
static char *column_dup_nonnull(sqlite3_stmt *st, int col)
{
	char *v = column_dup(st, col);

	return v ? v : mg_xstrdup("");
}

static void read_colour(sqlite3_stmt *st, struct mg_colour *c)
{
	c->name = column_dup_nonnull(st, 0);
	c->app_version = column_dup(st, 1);
	c->requires_id = sqlite3_column_int(st, 2);
	c->requires_checksum = column_dup(st, 3);
	c->state = column_dup_nonnull(st, 4);
	c->match_pattern = column_dup(st, 5);
	c->ttl_s = sqlite3_column_int64(st, 6);
	c->registered_at = column_dup(st, 7);
	c->updated_at = column_dup(st, 8);
	c->heartbeat_at = column_dup(st, 9);
}

int mg_state_colour_get(struct mg_state *s, const char *name,
			struct mg_colour *out, struct mg_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = 1;

	if (mg_state_prepare(s, "SELECT " COLOUR_COLUMNS " FROM colours WHERE name = ?", &st, err) < 0)
		return -1;
	mg_state_bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_colour(st, out);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		ret = mg_state_dberr(s, err);
	}
	sqlite3_finalize(st);
	return ret;
}

int mg_state_colour_list(struct mg_state *s, struct mg_colour **out,
			 size_t *n, struct mg_err *err)
{
	struct mg_colour *list = NULL;
	size_t nr = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (mg_state_prepare(s, "SELECT " COLOUR_COLUMNS " FROM colours ORDER BY name", &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		MG_ALLOC_GROW(list, nr + 1, alloc);
		memset(&list[nr], 0, sizeof(list[nr]));
		read_colour(st, &list[nr++]);
	}
	if (rc != SQLITE_DONE) {
		mg_state_dberr(s, err);
		sqlite3_finalize(st);
		mg_state_colour_list_free(list, nr);
		return -1;
	}
	sqlite3_finalize(st);
	*out = list;
	*n = nr;
	return 0;
}

void mg_state_colour_list_free(struct mg_colour *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mg_colour_release(&list[i]);
	free(list);
}

int mg_state_colour_put(struct mg_state *s, const struct mg_colour *c,
			struct mg_err *err)
{
	char now[32];
	sqlite3_stmt *st;

	mg_iso_time(now);
	if (mg_state_prepare(s, "INSERT OR REPLACE INTO colours (" COLOUR_COLUMNS
		    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) < 0)
		return -1;
	mg_state_bind_text(st, 1, c->name);
	mg_state_bind_text(st, 2, c->app_version);
	sqlite3_bind_int(st, 3, c->requires_id);
	mg_state_bind_text(st, 4, c->requires_checksum);
	mg_state_bind_text(st, 5, c->state);
	mg_state_bind_text(st, 6, c->match_pattern);
	sqlite3_bind_int64(st, 7, c->ttl_s);
	mg_state_bind_text(st, 8, c->registered_at ? c->registered_at : now);
	mg_state_bind_text(st, 9, c->updated_at ? c->updated_at : now);
	mg_state_bind_text(st, 10, c->heartbeat_at ? c->heartbeat_at : now);
	return mg_state_step_done(s, st, err);
}

int mg_state_colour_delete(struct mg_state *s, const char *name, struct mg_err *err)
{
	sqlite3_stmt *st;

	if (mg_state_prepare(s, "DELETE FROM colours WHERE name = ?", &st, err) < 0)
		return -1;
	mg_state_bind_text(st, 1, name);
	return mg_state_step_done(s, st, err);
}

int mg_state_colour_invalidate(struct mg_state *s, int requires_id,
			       struct mg_err *err)
{
	sqlite3_stmt *st;

	if (mg_state_prepare(s, "UPDATE colours SET requires_checksum = NULL WHERE requires_id = ?",
		    &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, requires_id);
	return mg_state_step_done(s, st, err);
}

/* limit <= 0: every event. */
int mg_state_event_list(struct mg_state *s, int limit, struct mg_event **out,
			size_t *n, struct mg_err *err)
{
	struct mg_event *list = NULL;
	size_t nr = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (mg_state_prepare(s, "SELECT seq, at, command, migration_id, colour, result,"
		    " message FROM (SELECT * FROM events ORDER BY seq DESC"
		    " LIMIT ?) ORDER BY seq", &st, err) < 0)
		return -1;
	sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mg_event *e;

		MG_ALLOC_GROW(list, nr + 1, alloc);
		e = &list[nr++];
		e->seq = sqlite3_column_int64(st, 0);
		e->at = column_dup(st, 1);
		e->command = column_dup(st, 2);
		e->migration_id = sqlite3_column_int(st, 3);
		e->colour = column_dup(st, 4);
		e->result = column_dup(st, 5);
		e->message = column_dup(st, 6);
	}
	if (rc != SQLITE_DONE) {
		mg_state_dberr(s, err);
		sqlite3_finalize(st);
		mg_state_event_list_free(list, nr);
		return -1;
	}
	sqlite3_finalize(st);
	*out = list;
	*n = nr;
	return 0;
}

void mg_state_event_list_free(struct mg_event *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		mg_event_release(&list[i]);
	free(list);
}

/* ---- transactions -------------------------------------------------------- */

int mg_state_begin(struct mg_state *s, struct mg_err *err)
{
	return mg_state_exec(s, "BEGIN IMMEDIATE", err);
}

int mg_state_commit(struct mg_state *s, struct mg_err *err)
{
	return mg_state_exec(s, "COMMIT", err);
}

void mg_state_rollback(struct mg_state *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}
