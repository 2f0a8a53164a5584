/*
 * runner.c - the PostgreSQL driver: running one try of a step
 * (transactions, index builds, asserts); the core tries again a step that
 * ran out of lock_timeout.
 */
#include "pg.h"

/*
 * How long one short try of a step waits for its table lock. While a DDL
 * statement waits for ACCESS EXCLUSIVE, every later statement on the table
 * queues behind it; a try that waits a few ms holds the application up
 * for at most that. 5 ms: with pgbench (4 clients, no rate limit, 200k
 * accounts) a step got its lock within 1 to 3 tries; 1 ms took up to 16.
 */
#define PGDRV_SHORT_WAIT_MS 5

/* ==== running steps ====================================================================== */

int is_lock_timeout(const char *state)
{
	return !strcmp(state, "55P03") || !strcmp(state, "40P01");
}

/* Execute, remembering the SQLSTATE of a failure in state[6]. */
static int exec_state(struct pgdrv_conn *pc, const char *sql, char state[6],
		      struct mg_err *err)
{
	PGresult *res = exec_bounded(pc, sql);
	int st = PQresultStatus(res);

	state[0] = '\0';
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(state, 6, "%s", sqlstate(res));
		set_result_error(err, res, pc, NULL);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

static int run_tx_once(struct pgdrv_conn *pc, const struct mg_step *s,
		       const struct mg_history_write *w, int lock_ms, char state[6],
		       struct mg_err *err)
{
	char settings[160];
	struct mg_err ignored = MG_ERR_INIT;
	char *hist = w ? history_upsert_sql(w) : NULL;
	int rc;

	snprintf(settings, sizeof(settings),
		 "SET LOCAL lock_timeout = %d; SET LOCAL statement_timeout = %d",
		 lock_ms, pc->opts.statement_timeout_ms);
	rc = exec_state(pc, "BEGIN", state, err);
	if (!rc)
		rc = exec_state(pc, settings, state, err);
	if (!rc && hist)
		rc = exec_state(pc, history_ddl, state, err);
	if (!rc)
		rc = exec_state(pc, s->sql, state, err);
	if (!rc && hist)
		rc = exec_state(pc, hist, state, err);
	if (!rc)
		rc = exec_state(pc, "COMMIT", state, err);
	if (rc)
		exec_pc(pc, "ROLLBACK", &ignored);
	free(hist);
	return rc;
}

/* The SQL condition for the locks other transactions (and prepared ones)
 * hold on `table` now. */
static void add_holders_condition(struct mg_buf *b, const char *table)
{
	mg_buf_adds(b, "locktype = 'relation' AND granted "
		    "AND pid IS DISTINCT FROM pg_backend_pid() AND relation = to_regclass(");
	add_literal(b, table);
	mg_buf_adds(b, ")");
}

/* The transactions holding a lock on `table` now (their virtual ids,
 * comma-separated), or NULL when that cannot be read. pg_locks is
 * readable by every role. */
static char *table_holders(struct pgdrv_conn *pc, const char *table)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	char *out = NULL;

	mg_buf_adds(&sql, "SELECT coalesce(string_agg(DISTINCT virtualtransaction, ','), '') "
		    "FROM pg_locks WHERE ");
	add_holders_condition(&sql, table);
	if (query_scalar(pc, sql.buf, &out, &ignored) < 0) {
		free(out);
		out = NULL;
	}
	mg_buf_release(&sql);
	return out;
}

/* Does one of the transactions `before` (table_holders) hold a lock on
 * `table` still? */
static int still_held(struct pgdrv_conn *pc, const char *table, const char *before)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	char *n = NULL;
	int held;

	if (!before || !*before)
		return 0;
	mg_buf_adds(&sql, "SELECT count(*)::text FROM pg_locks WHERE ");
	add_holders_condition(&sql, table);
	mg_buf_adds(&sql, " AND virtualtransaction = ANY(string_to_array(");
	add_literal(&sql, before);
	mg_buf_adds(&sql, ", ','))");
	held = query_scalar(pc, sql.buf, &n, &ignored) == 0 && n && strcmp(n, "0") != 0;
	free(n);
	mg_buf_release(&sql);
	return held;
}

/* A step that takes a lock the application's reads and writes conflict
 * with (ACCESS EXCLUSIVE; SHARE ROW EXCLUSIVE for a foreign key): one of
 * migrate's own transactional steps. Its other steps take SHARE UPDATE
 * EXCLUSIVE (CONCURRENTLY, VALIDATE), which no DML waits for; a sql step
 * runs as written. */
static int queues_the_application(const struct mg_step *s)
{
	return s->kind == MG_STEP_TX && s->table;
}

/* The pause after a short try that failed: jittered, from 5-10 ms at
 * first to 5-40 ms, so that while a transaction holds the table the
 * application is queued for one short wait in several. */
static int64_t short_try_pause_ms(int tries)
{
	int span = 5 * (tries < 7 ? tries : 7);

	return 5 + random() % (span + 1);
}

/*
 * Tries of the step whose lock waits are PGDRV_SHORT_WAIT_MS each, again
 * after a short pause, for up to --lock-timeout: under steady load one of
 * them finds the table free between the application's transactions, or
 * the transactions running when it asks end within the wait.
 * 1: done; 0: every try ran out of its wait; -1: failed otherwise (err,
 * state).
 */
static int done_in_short_waits(struct pgdrv_conn *pc, const struct mg_step *s,
			       const struct mg_history_write *w, char state[6],
			       struct mg_err *err)
{
	int64_t end = mg_now_ms() + pc->opts.lock_timeout_ms;
	int wait = pc->opts.lock_timeout_ms < PGDRV_SHORT_WAIT_MS ?
		   pc->opts.lock_timeout_ms : PGDRV_SHORT_WAIT_MS;
	int tries = 0, rc;

	for (;;) {
		tries++;
		rc = run_tx_once(pc, s, w, wait, state, err);
		if (rc == 0 || !is_lock_timeout(state) ||
		    mg_now_ms() >= end || mg_stop_requested)
			break;
		mg_sleep_ms(short_try_pause_ms(tries));
	}
	mg_debug("postgres: '%s' %s after %d tries of %d ms", s->description,
		 rc == 0 ? "went through" : "did not go through", tries, wait);
	if (rc == 0)
		return 1;
	return is_lock_timeout(state) ? 0 : -1;
}

/*
 * One try of a step. Ours that queue the application first run as short
 * tries (done_in_short_waits); when none went through, the try that
 * waits up to --lock-timeout runs only if no transaction has held the
 * table all along: waiting drains a table that is busy with short
 * transactions, but behind a long one it only queues the application for
 * the whole wait. A lock timeout sets rep->lock_wait: the core tries the
 * step again with jittered backoff (src/lockretry.c), counting the stall.
 */
static int run_try(struct pgdrv_conn *pc, const struct mg_step *s,
		   const struct mg_history_write *w,
		   struct mg_step_report *rep, struct mg_err *err,
		   int (*fn)(struct pgdrv_conn *, const struct mg_step *,
			     const struct mg_history_write *, int, char[6],
			     struct mg_err *))
{
	char state[6];

	rep->tries = rep->attempt;
	rep->lock_wait_ms = pc->opts.lock_timeout_ms;
	rep->lock_retries = pc->opts.lock_retries;
	if (queues_the_application(s)) {
		char *holders = table_holders(pc, s->table);
		int rc = done_in_short_waits(pc, s, w, state, err);
		int long_holder = rc == 0 && still_held(pc, s->table, holders);

		free(holders);
		if (rc == 1)
			return 0;
		if (rc < 0 || long_holder) {
			if (long_holder)
				mg_debug("postgres: a transaction held %s all along: not waiting behind it",
					 s->table);
			rep->lock_wait = rc == 0;
			return -1;
		}
	}
	if (fn(pc, s, w, pc->opts.lock_timeout_ms, state, err) == 0)
		return 0;
	rep->lock_wait = is_lock_timeout(state);
	return -1;
}

/* 1 valid, 0 invalid, -1 absent, -2 error. */
static int index_state(struct pgdrv_conn *pc, const char *obj, struct mg_err *err)
{
	char *ol = lit(obj);
	char *sql = mg_xasprintf("SELECT indisvalid::text FROM pg_index WHERE indexrelid = to_regclass(%s)", ol);
	char *v = NULL;
	int rc;

	rc = query_scalar(pc, sql, &v, err);
	free(sql);
	free(ol);
	if (rc < 0)
		return -2;
	rc = !v ? -1 : !strcmp(v, "true");
	free(v);
	return rc;
}

/* VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE: the application's
 * reads and writes never wait for it, but it waits for autovacuum, which
 * PostgreSQL cancels only for a waiter that has waited deadlock_timeout.
 * After a large backfill autovacuum is likely on the table, so this step
 * waits longer than that; a shorter lock_timeout would give up every try. */
static int waits_only_for_maintenance(const struct mg_step *s)
{
	return !strncmp(s->sql, "ALTER TABLE ", 12) && strstr(s->sql, " VALIDATE CONSTRAINT ") &&
	       !strchr(s->sql, ';');
}

static int maintenance_lock_timeout_ms(struct pgdrv_conn *pc)
{
	struct mg_err ignored = MG_ERR_INIT;
	char *v = NULL;
	long dl = 1000;

	if (query_scalar(pc, "SELECT setting FROM pg_settings WHERE name = 'deadlock_timeout'",
			 &v, &ignored) == 0 && v)
		dl = strtol(v, NULL, 10);
	free(v);
	dl += 1000;
	return pc->opts.lock_timeout_ms > dl ? pc->opts.lock_timeout_ms : (int)dl;
}

static int run_notx_once(struct pgdrv_conn *pc, const struct mg_step *s,
			 const struct mg_history_write *w, int lock_ms, char state[6],
			 struct mg_err *err)
{
	char settings[160];

	(void)w;
	if (s->object)	/* an index build: its own timeout, no lock timeout */
		snprintf(settings, sizeof(settings),
			 "SET lock_timeout = 0; SET statement_timeout = %d",
			 pc->opts.index_timeout_ms);
	else
		snprintf(settings, sizeof(settings),
			 "SET lock_timeout = %d; SET statement_timeout = 0",
			 waits_only_for_maintenance(s) ? maintenance_lock_timeout_ms(pc)
						       : lock_ms);
	if (exec_state(pc, settings, state, err) < 0)
		return -1;
	return exec_state(pc, s->sql, state, err);
}

static int run_index_build(struct pgdrv_conn *pc, const struct mg_step *s,
			   struct mg_step_report *rep, struct mg_err *err)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int st = index_state(pc, s->object, err);
		char state[6];
		int rc;

		if (st == -2)
			return -1;
		if (st == 1) {
			rep->skipped = attempt == 0;
			return 0;
		}
		if (st == 0) {
			char *drop = mg_xasprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", s->object);

			mg_info("  index %s was left invalid by a failed build: dropping and rebuilding it",
				s->object);
			if (exec_pc(pc, drop, err) < 0) {
				free(drop);
				return -1;
			}
			free(drop);
		}
		pgdrv_watch_begin(pc, s->object);
		rc = run_notx_once(pc, s, NULL, 0, state, err);
		pgdrv_watch_end(pc);
		if (rc == 0)
			continue;	/* loop once more to confirm it is valid */
		if (!strcmp(state, "23505")) {
			char msg[sizeof(err->msg)];

			memcpy(msg, err->msg, sizeof(msg));
			mg_err_set(err, MG_EREFUSED, "unique index %s cannot be built: %s",
				   s->object, msg);
			return mg_err_hint(err, "fix the duplicate rows, then run the command again (the invalid index is dropped and rebuilt)");
		}
		if (!is_lock_timeout(state) && strcmp(state, "57014") != 0)
			return -1;
		mg_info("  building %s failed (%s): retrying", s->object, err->msg);
	}
	if (index_state(pc, s->object, err) == 1)
		return 0;
	mg_err_set(err, MG_EDB, "index %s could not be built after 3 tries", s->object);
	return mg_err_hint(err, "see the server log; raise --index-timeout if it was cancelled");
}

static int run_assert(struct pgdrv_conn *pc, const struct mg_step *s, struct mg_err *err)
{
	PGresult *res = query_pc(pc, s->sql, err);
	struct mg_buf why = MG_BUF_INIT;
	int n;

	if (!res)
		return -1;
	n = PQntuples(res);
	for (int i = 0; i < n && i < 10; i++)
		mg_buf_addf(&why, "%s%s", i ? "; " : "", PQgetvalue(res, i, 0));
	PQclear(res);
	if (n > 0) {
		mg_err_set(err, MG_EREFUSED, "check failed: %s: %s", s->description, why.buf);
		mg_err_hint(err, "resolve it, then run the command again");
	}
	mg_buf_release(&why);
	return n > 0 ? -1 : 0;
}

int pgdrv_run_step(struct mg_conn *c, const struct mg_step *s,
		   const struct mg_history_write *w,
		   struct mg_step_report *rep, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	int rc;

	switch (s->kind) {
	case MG_STEP_ASSERT:
		return run_assert(pc, s, err);
	case MG_STEP_TX:
		return run_try(pc, s, w, rep, err, run_tx_once);
	case MG_STEP_NOTX:
		if (s->object)
			rc = run_index_build(pc, s, rep, err);
		else
			rc = run_try(pc, s, NULL, rep, err, run_notx_once);
		{
			struct mg_err ignored = MG_ERR_INIT;

			exec_pc(pc, "RESET lock_timeout; RESET statement_timeout", &ignored);
		}
		if (rc == 0 && w)
			rc = pgdrv_history_write(c, w, err);
		return rc;
	}
	return mg_err_set(err, MG_EDB, "unknown step kind %d", (int)s->kind);
}
