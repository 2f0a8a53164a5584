/*
 * backfill.c - the PostgreSQL driver: backfill bounds, batches, splits and
 * verification.
 */
#include "pg.h"

/* ==== backfill ============================================================================= */

static void key_list(struct mg_buf *b, const struct mg_backfill_spec *s,
		     const char *prefix, const char *suffix)
{
	mg_buf_adds(b, "(");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(b, "%s%s%s%s", k ? ", " : "", prefix, s->key_columns[k], suffix);
	mg_buf_adds(b, ")");
}

static void key_values(struct mg_buf *b, const struct mg_backfill_spec *s,
		       char *const *vals)
{
	mg_buf_adds(b, "(");
	for (size_t k = 0; k < s->n_keys; k++) {
		if (k)
			mg_buf_adds(b, ", ");
		add_literal(b, vals[k]);
		mg_buf_addf(b, "::%s", s->key_types[k]);
	}
	mg_buf_adds(b, ")");
}

int pgdrv_backfill_bounds(struct mg_conn *c, const struct mg_backfill_spec *s,
			  char ***upto_key, int64_t *estimate, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;
	char *est = NULL;

	*upto_key = NULL;
	mg_buf_adds(&sql, "SELECT ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, "%s%s::text AS _mg_k%zu", k ? ", " : "", s->key_columns[k], k);
	mg_buf_addf(&sql, " FROM %s ORDER BY ", s->table);
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, "%s%s DESC", k ? ", " : "", s->key_columns[k]);
	mg_buf_adds(&sql, " LIMIT 1");
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	if (PQntuples(res) > 0) {
		*upto_key = mg_xcalloc(s->n_keys + 1, sizeof(char *));
		for (size_t k = 0; k < s->n_keys; k++)
			(*upto_key)[k] = mg_xstrdup(PQgetvalue(res, 0, (int)k));
	}
	PQclear(res);
	{
		char *tl = lit(s->table);

		mg_buf_addf(&sql, "SELECT CASE WHEN c.reltuples > 0 THEN c.reltuples::bigint "
			    "ELSE (SELECT count(*) FROM %s) END FROM pg_class c WHERE c.oid = %s::regclass",
			    s->table, tl);
		free(tl);
	}
	if (query_scalar(pc, sql.buf, &est, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	*estimate = est ? strtoll(est, NULL, 10) : 0;
	free(est);
	return 0;
}

/* "WHERE (keys) > (after) AND (keys) <= (upto)" over the spec's key. */
static void key_range(struct mg_buf *b, const struct mg_backfill_spec *s,
		      char *const *after_key, char *const *upto_key)
{
	mg_buf_adds(b, " WHERE ");
	if (after_key) {
		key_list(b, s, "", "");
		mg_buf_adds(b, " > ");
		key_values(b, s, after_key);
		mg_buf_adds(b, " AND ");
	}
	key_list(b, s, "", "");
	mg_buf_adds(b, " <= ");
	key_values(b, s, upto_key);
}

/* The key of the batch_size-th row after after_key (NULL when fewer rows
 * remain up to upto_key): the batch's inclusive upper bound. An index-only
 * read of keys, never of the rows themselves. */
static int batch_upper_key(struct pgdrv_conn *pc, const struct mg_backfill_spec *s,
			   char *const *after_key, char *const *upto_key,
			   int batch_size, char ***out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;

	*out = NULL;
	mg_buf_adds(&sql, "SELECT ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, "%s%s::text AS _mg_k%zu", k ? ", " : "", s->key_columns[k], k);
	mg_buf_addf(&sql, " FROM %s", s->table);
	key_range(&sql, s, after_key, upto_key);
	mg_buf_adds(&sql, " ORDER BY ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, "%s%s", k ? ", " : "", s->key_columns[k]);
	mg_buf_addf(&sql, " LIMIT 1 OFFSET %d", batch_size - 1);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	if (PQntuples(res) > 0) {
		*out = mg_xcalloc(s->n_keys + 1, sizeof(char *));
		for (size_t k = 0; k < s->n_keys; k++)
			(*out)[k] = mg_xstrdup(PQgetvalue(res, 0, (int)k));
	}
	PQclear(res);
	return 0;
}

/* A single integer key: batches are key spans, no boundary query (the
 * adaptive batch size absorbs gaps in the key). */
static int integer_key(const struct mg_backfill_spec *s)
{
	static const char *const ints[] = { "smallint", "integer", "bigint", "int2", "int4",
					    "int8", NULL };

	return mg_keyset_integer(s, ints);
}

/*
 * ==== one batch, never waiting for a row =====================================================
 *
 * A batch updates the new side and the marker of the rows of its key range
 * still at marker 0 (never a row the new version wrote) and commits. It
 * must never wait for a row lock another transaction holds (driver.h):
 * rows it cannot lock at once stay at marker 0, are counted in
 * out->skipped, and the core passes over the range again.
 *
 * Locks it takes, in its own transaction:
 * - ROW EXCLUSIVE on the table, first and alone (LOCK TABLE), under the
 *   session's lock_timeout (2 s, retried as before): a pending ALTER is a
 *   relation lock, not a row lock, and is waited for a bounded time;
 * - then, with SET LOCAL lock_timeout = ROW_WAIT_MS (50 ms), the rows of
 *   the range, in one of these forms:
 *   1. the plain range UPDATE (the fast path: as fast as before). A row
 *      another transaction holds makes it wait at most 50 ms (an
 *      application transaction that commits sooner just lets it go on),
 *      then fail with lock_not_available (55P03) and roll back;
 *   2. then the same range with the rows taken FOR NO KEY UPDATE SKIP
 *      LOCKED in a CTE and updated through a TID join on (tableoid,
 *      ctid): only the rows nobody holds. It costs about twice the fast
 *      path (each row is locked, then updated), so it runs only for a
 *      range where the fast path met a held row;
 *   3. FOR UPDATE SKIP LOCKED: form 2 still waited, which happens when the
 *      update changes a column of a unique index (a copy built at expand)
 *      and so needs the stronger row lock, held back by another
 *      transaction's FOR KEY SHARE (a foreign key check);
 *   4. form 3 under the session's lock_timeout, retried: every row of the
 *      range it takes is taken without waiting, so what it still waits
 *      for is no row of the range (a row of another table, through a
 *      foreign key of the new column; an index's lock; a unique key
 *      another transaction is inserting).
 *   A timeout that was no row's (the relation extension lock, which
 *   concurrent writers take in turn) tries the same form again, up to
 *   NOT_A_ROW_TRIES times, before the next form.
 *
 * Why 50 ms and not 1 ms, PostgreSQL's shortest: with --jobs 2 the two
 * workers wait on each other's relation extension lock (the table's and
 * its indexes', as they append row versions) for more than 1 ms, and
 * even 10 ms, often: 1,000,000 rows, --jobs 2 --target-batch-ms 500, idle
 * 2-core machine: 1 ms took 4.5 and 5.0 s (118 to 242 statements
 * cancelled, each wasting the batch so far), 10 ms 5.4 s, 50 ms 3.6 and
 * 3.6 s, the same as before this change (3.6 and 3.6 s).
 *
 * Why a wait of at most 50 ms is no deadlock (form 1): a deadlock is
 * detected only by a waiter that has waited deadlock_timeout (1 s by
 * default) for its lock: ProcSleep arms the deadlock timer of each wait
 * separately. The batch's own check would come after 1 s; its
 * lock_timeout cancels the wait after 50 ms and the rollback frees its
 * rows, so the batch is never a deadlock victim and a cycle through it
 * lasts as long as that cancel takes (measured: an application
 * transaction waiting for a row the batch holds while the batch asks for
 * the application's row: the batch fails with 55P03 after 47 ms of wall
 * time on the 2-core machine at load 16, the application commits with no
 * error). An application transaction could be reported a deadlock only if
 * its own check, due after waiting deadlock_timeout for a row of this
 * batch, fell inside that window, which needs a batch running over
 * deadlock_timeout after taking that row: batches are sized for
 * --target-batch-ms (500 ms by default). An application transaction waits
 * for a row of the batch at most the rest of that batch, plus that window.
 *
 * How skips are counted: forms 2 to 4 read, in the statement's one
 * snapshot, the rows of the range at marker 0 and subtract those updated.
 * A row left at marker 0 was at marker 0 in that snapshot (the
 * application's writes set it to 1 or 2 through the trigger), so it is
 * counted; a row the application wrote after the snapshot may be counted
 * too (an overcount the next pass finds done). Form 1 leaves no row: it
 * either updates every row at marker 0 or fails.
 *
 * With the lock guard the statement also answers whether the lock's
 * session still holds migrate's lock, and finish_batch() commits only
 * then. Between that answer and COMMIT the batch holds its table lock, so
 * a second migrate's DDL (a rollback) waits for the batch instead of
 * running beside it.
 */
enum batch_form {
	FORM_RANGE,		/* the range UPDATE */
	FORM_SKIP,		/* FOR NO KEY UPDATE SKIP LOCKED, then by TID */
	FORM_SKIP_ALL,		/* FOR UPDATE SKIP LOCKED, then by TID */
};

#define TABLE_LOCK_TRIES 30	/* of the session's lock_timeout (2 s) each */
#define NOT_A_ROW_TRIES 8	/* of a form that met a lock that is no row */
#define ROW_WAIT_MS "50"	/* lock_timeout of the row forms, in ms (above) */

/* The result's columns: rows updated, rows of the range at marker 0 in
 * the statement's snapshot (form 1: 0), and with the guard whether the
 * lock is held. */
static void batch_sql(struct mg_buf *sql, struct pgdrv_conn *pc,
		      const struct mg_backfill_spec *s, enum batch_form form,
		      char *const *after_key, char *const *upto_key)
{
	if (form == FORM_RANGE) {
		mg_buf_addf(sql, "WITH _mg_batch AS (UPDATE %s SET %s, %s = 1", s->table,
			    s->set_clause, s->marker);
		key_range(sql, s, after_key, upto_key);
		mg_buf_addf(sql, " AND %s = 0 RETURNING 1) SELECT count(*)::text, '0'", s->marker);
	} else {
		mg_buf_addf(sql, "WITH _mg_free AS (SELECT tableoid AS _mg_rel, ctid AS _mg_row FROM %s",
			    s->table);
		key_range(sql, s, after_key, upto_key);
		mg_buf_addf(sql, " AND %s = 0 FOR %sUPDATE SKIP LOCKED), ", s->marker,
			    form == FORM_SKIP ? "NO KEY " : "");
		mg_buf_addf(sql, "_mg_batch AS (UPDATE %s AS _mg_t SET %s, %s = 1 FROM _mg_free "
			    "WHERE _mg_t.tableoid = _mg_free._mg_rel AND _mg_t.ctid = _mg_free._mg_row "
			    "RETURNING 1) SELECT count(*)::text, (SELECT count(*) FROM %s",
			    s->table, s->set_clause, s->marker, s->table);
		key_range(sql, s, after_key, upto_key);
		mg_buf_addf(sql, " AND %s = 0)::text", s->marker);
	}
	if (pc->guard) {
		mg_buf_adds(sql, ", ");
		add_lock_held(sql, pc->guard);
		mg_buf_adds(sql, "::text");
	}
	mg_buf_adds(sql, " FROM _mg_batch");
}

static void rollback_quietly(struct pgdrv_conn *pc)
{
	struct mg_err ignored = MG_ERR_INIT;

	if (!pc->broken && PQtransactionStatus(pc->pg) != PQTRANS_IDLE)
		exec_pc(pc, "ROLLBACK", &ignored);
}

/*
 * Whether a lock_timeout error came from a wait for a row: PostgreSQL
 * names the tuple in the error's context ("while updating tuple (0,1) in
 * relation ...", "while locking tuple ..."). Any other wait is for a row
 * that has a queue (row_queue_on below) or for a lock that is no row: the
 * relation extension lock, above all, which two workers (or a worker and
 * the application) take in turn while they append row versions, and
 * which a 1 ms limit cancels often.
 */
static int waited_for_a_row(const PGresult *res)
{
	const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);

	return ctx && strstr(ctx, "tuple") != NULL;
}

/*
 * A wait for a row that has a queue names no tuple: the first waiter for
 * a row waits for its holder's transaction (the context above) and holds
 * the row's tuple lock meanwhile; a later waiter, the batch say, waits for
 * that tuple lock, without context. So a timeout without context is still
 * a row's while another session holds a tuple lock on the table (or on
 * one of its partitions). 1 yes, 0 no or not known.
 */
static int row_queue_on(struct pgdrv_conn *pc, const struct mg_backfill_spec *s)
{
	struct mg_err ignored = MG_ERR_INIT;
	char *tl = lit(s->table), *yes = NULL;
	char *sql = mg_xasprintf("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'tuple' "
				 "AND granted AND pid <> pg_backend_pid() AND relation IN "
				 "(SELECT %s::regclass UNION ALL SELECT inhrelid FROM pg_inherits "
				 "WHERE inhparent = %s::regclass))::text", tl, tl);
	int rc = query_scalar(pc, sql, &yes, &ignored) == 0 && yes && !strcmp(yes, "true");

	free(yes);
	free(sql);
	free(tl);
	return rc;
}

/* Run sql (a statement that may time out on a lock): 0 done, 1 it ran
 * out of lock_timeout (rolled back, err set; *on_row says whether it
 * waited for a row), -1 it failed. */
static int exec_lockable(struct pgdrv_conn *pc, const char *sql, PGresult **out,
			 int *on_row, struct mg_err *err)
{
	PGresult *res = exec_bounded(pc, sql);
	char state[6] = "";

	*out = NULL;
	if (on_row)
		*on_row = waited_for_a_row(res);
	if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK) {
		*out = res;
		return 0;
	}
	snprintf(state, sizeof(state), "%s", sqlstate(res));
	set_result_error(err, res, pc, "backfill batch");
	PQclear(res);
	rollback_quietly(pc);
	return is_lock_timeout(state) && !mg_stop_requested ? 1 : -1;
}

/* The backoff before try attempt + 2, cut short by a stop (SIGTERM): the
 * time slept. */
static int64_t back_off(int attempt)
{
	int64_t start = mg_now_ms(), until = start + mg_backoff_ms(attempt < 4 ? attempt : 4);

	while (!mg_stop_requested && mg_now_ms() < until)
		mg_sleep_ms(20);
	return mg_now_ms() - start;
}

/*
 * Open the batch's transaction holding ROW EXCLUSIVE on the table, waited
 * for under the session's lock_timeout (a relation lock: a pending ALTER,
 * say) and retried after a backoff; then lock_timeout ROW_WAIT_MS for the rows,
 * unless patient. The time of the tries that timed out goes to *retry_ms.
 */
static int open_batch(struct pgdrv_conn *pc, const struct mg_backfill_spec *s, int patient,
		      int64_t *retry_ms, struct mg_err *err)
{
	char *sql = mg_xasprintf("BEGIN; LOCK TABLE %s IN ROW EXCLUSIVE MODE%s", s->table,
				 patient ? "" : "; SET LOCAL lock_timeout = " ROW_WAIT_MS);
	int rc;

	for (int attempt = 0;; attempt++) {
		int64_t t0 = mg_now_ms();
		PGresult *res;

		rc = exec_lockable(pc, sql, &res, NULL, err);
		PQclear(res);
		if (rc <= 0 || attempt + 1 >= TABLE_LOCK_TRIES)
			break;
		mg_info("  %s is locked by another transaction: waiting (try %d)", s->table,
			attempt + 1);
		back_off(attempt);
		*retry_ms += mg_now_ms() - t0;
	}
	free(sql);
	if (rc > 0)
		mg_err_hint(err, "another transaction held a lock on the table for %d tries of 2 s: "
			    "find it in pg_locks, then run migrate backfill again (it resumes)",
			    TABLE_LOCK_TRIES);
	return rc == 0 ? 0 : -1;
}

/* res: the batch's answer (cleared here). COMMIT, with the lock guard only
 * while the lock is held (else ROLLBACK and fail with the lost lock). */
static int finish_batch(struct pgdrv_conn *pc, PGresult *res, enum batch_form form,
			struct mg_batch_result *out, struct mg_err *err)
{
	int held = !pc->guard || (PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 2), "true"));
	int64_t at_zero = strtoll(PQgetvalue(res, 0, 1), NULL, 10);

	out->rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->skipped = form == FORM_RANGE || at_zero < out->rows ? 0 : at_zero - out->rows;
	out->scanned = out->rows + out->skipped;
	PQclear(res);
	if (form != FORM_RANGE)
		mg_debug("backfill batch: rows held by other transactions: took the %lld free ones, "
			 "left %lld (%s SKIP LOCKED)", (long long)out->rows, (long long)out->skipped,
			 form == FORM_SKIP ? "FOR NO KEY UPDATE" : "FOR UPDATE");
	if (!held) {
		rollback_quietly(pc);
		out->rows = out->skipped = out->scanned = 0;
		return guard_lost(pc, 1, err);
	}
	if (exec_pc(pc, "COMMIT", err) < 0) {
		mg_err_prefix(err, "backfill batch: ");
		return -1;
	}
	return 0;
}

/*
 * The batch over (after_key, hi] in the forms above, each in a transaction
 * of its own (a form that timed out was rolled back). The time of the
 * forms that timed out goes to out->retry_ms: not batch cost for the
 * adaptive size.
 */
static int run_batch(struct pgdrv_conn *pc, const struct mg_backfill_spec *s,
		     char *const *after_key, char *const *hi, struct mg_batch_result *out,
		     struct mg_err *err)
{
	enum batch_form form = FORM_RANGE;
	int patient = 0, not_a_row = 0;

	for (int attempt = 0;; attempt++) {
		struct mg_buf sql = MG_BUF_INIT;
		PGresult *res;
		int64_t t0;
		int rc, on_row = 0;

		if (open_batch(pc, s, patient, &out->retry_ms, err) < 0)
			return -1;
		t0 = mg_now_ms();
		batch_sql(&sql, pc, s, form, after_key, hi);
		rc = exec_lockable(pc, sql.buf, &res, &on_row, err);
		mg_buf_release(&sql);
		if (rc == 0)
			return finish_batch(pc, res, form, out, err);
		if (rc > 0 && patient && attempt >= TABLE_LOCK_TRIES)
			mg_err_hint(err, "the batch waited %d times 2 s for a lock that is not a row of its "
				    "range (an index, or a row another table's foreign key points to): find "
				    "it in pg_locks, then run migrate backfill again (it resumes)",
				    TABLE_LOCK_TRIES);
		if (rc < 0 || (patient && attempt >= TABLE_LOCK_TRIES))
			return -1;
		/* a short wait for a lock that is no row (the extension lock):
		 * the same form again, it will not meet it twice in a row often */
		if (!patient && !on_row && not_a_row < NOT_A_ROW_TRIES && !row_queue_on(pc, s)) {
			out->retry_ms += mg_now_ms() - t0;
			mg_debug("backfill batch: a short lock wait that was no row's: the same form again");
			not_a_row++;
			continue;
		}
		out->retry_ms += mg_now_ms() - t0;
		if (form != FORM_SKIP_ALL) {
			form++;
			continue;
		}
		if (patient) {
			mg_info("  the backfill of %s waits for a lock that is not a row of its batch (try %d)",
				s->table, attempt + 1);
			out->retry_ms += back_off(attempt);
		}
		patient = 1;
	}
}

int pgdrv_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int batch_size, struct mg_batch_result *out,
			 struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	char **hi = NULL;

	memset(out, 0, sizeof(*out));
	if (!pc->backfill_ready) {
		/* the table lock's wait (the rows': see above); a batch is a
		 * key range: never let it become a table scan */
		if (exec_pc(pc, "SET lock_timeout = '2s'", err) < 0 ||
		    exec_pc(pc, "SET enable_seqscan = off", err) < 0)
			return -1;
		pc->backfill_ready = 1;
	}
	if (after_key && integer_key(s))
		hi = mg_keyset_span_upper(after_key, upto_key, batch_size);
	else if (batch_upper_key(pc, s, after_key, upto_key, batch_size, &hi, err) < 0)
		return -1;
	if (run_batch(pc, s, after_key, hi ? hi : upto_key, out, err) < 0) {
		if (hi)
			mg_batch_result_release(&(struct mg_batch_result){ .last_key = hi }, s->n_keys);
		return -1;
	}
	out->done = hi == NULL;
	out->last_key = hi;
	if (!hi) {
		out->last_key = mg_xcalloc(s->n_keys + 1, sizeof(char *));
		for (size_t k = 0; k < s->n_keys; k++)
			out->last_key[k] = mg_xstrdup(upto_key[k]);
	}
	return 0;
}

static char **row_keys(PGresult *res, int row, int first_col, size_t n_keys)
{
	char **k = mg_xcalloc(n_keys + 1, sizeof(char *));

	for (size_t i = 0; i < n_keys; i++)
		k[i] = mg_xstrdup(PQgetvalue(res, row, first_col + (int)i));
	return k;
}

/*
 * Other keys: a sample of keys in the range (TABLESAMPLE SYSTEM, sized for
 * about 10000 rows of the table), cut at evenly spaced sample positions.
 */
int pgdrv_backfill_split(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key, int pieces,
			 char ****bounds, size_t *n, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;
	char *tl = lit(s->table), *v = NULL;
	double pct;
	int rows;

	*bounds = NULL;
	*n = 0;
	if (pieces < 2)
		return 0;
	if (integer_key(s)) {
		long long lo = 0;

		if (!after_key) {
			mg_buf_addf(&sql, "SELECT min(%s) FROM %s", s->key_columns[0], s->table);
			if (query_scalar(pc, sql.buf, &v, err) < 0) {
				mg_buf_release(&sql);
				free(tl);
				return -1;
			}
			lo = v ? strtoll(v, NULL, 10) : 0;
			free(v);
		}
		mg_keyset_split_span(after_key, upto_key, lo, pieces, bounds, n);
		mg_buf_release(&sql);
		free(tl);
		return 0;
	}
	mg_buf_addf(&sql, "SELECT greatest(reltuples, 1) FROM pg_class WHERE oid = %s::regclass", tl);
	free(tl);
	if (query_scalar(pc, sql.buf, &v, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	pct = 100.0 * 10000.0 / (v ? strtod(v, NULL) : 1.0);
	free(v);
	if (pct > 100.0)
		pct = 100.0;
	mg_buf_reset(&sql);
	mg_buf_adds(&sql, "SELECT ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, "%s%s::text AS _mg_k%zu", k ? ", " : "", s->key_columns[k], k);
	mg_buf_addf(&sql, " FROM %s TABLESAMPLE SYSTEM (%.6f)", s->table, pct);
	key_range(&sql, s, after_key, upto_key);
	mg_buf_adds(&sql, " ORDER BY ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, "%s%s", k ? ", " : "", s->key_columns[k]);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	rows = PQntuples(res);
	*bounds = mg_xcalloc((size_t)pieces + 1, sizeof(char **));
	for (int i = 1; i < pieces && rows >= pieces; i++)
		(*bounds)[(*n)++] = row_keys(res, (int)((long)rows * i / pieces), 0, s->n_keys);
	PQclear(res);
	return 0;
}

/*
 * A plain read in its own statement (autocommit): an MVCC snapshot, no row
 * locks, and ACCESS SHARE on the table, which conflicts only with ACCESS
 * EXCLUSIVE (DDL). So it never blocks the application's writers and never
 * waits for them (issue 15 item 2).
 */
int pgdrv_verify_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
		       char *const *after_key, int batch_size, int sample,
		       int64_t *mismatches, struct mg_strlist *sample_keys,
		       char ***last_key, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;

	*mismatches = 0;
	*last_key = NULL;
	mg_buf_adds(&sql, "WITH b AS (SELECT ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, "%s AS _mg_k%zu, ", s->key_columns[k], k);
	mg_buf_addf(&sql, "(%s) AS _mg_bad FROM %s", s->mismatch, s->table);
	if (after_key) {
		mg_buf_adds(&sql, " WHERE ");
		key_list(&sql, s, "", "");
		mg_buf_adds(&sql, " > ");
		key_values(&sql, s, after_key);
	}
	mg_buf_adds(&sql, " ORDER BY ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, "%s%s", k ? ", " : "", s->key_columns[k]);
	mg_buf_addf(&sql, " LIMIT %d), last AS (SELECT * FROM b ORDER BY ", batch_size);
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, "%s_mg_k%zu DESC", k ? ", " : "", k);
	mg_buf_adds(&sql, " LIMIT 1) SELECT (SELECT count(*) FILTER (WHERE _mg_bad) FROM b), "
		    "(SELECT string_agg(concat_ws(', '");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, ", _mg_k%zu::text", k);
	mg_buf_addf(&sql, "), E'\\n') FROM (SELECT * FROM b WHERE _mg_bad LIMIT %d) x)", sample);
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(&sql, ", (SELECT _mg_k%zu::text FROM last)", k);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	*mismatches = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (!PQgetisnull(res, 0, 1)) {
		char *all = mg_xstrdup(PQgetvalue(res, 0, 1)), *save = NULL;

		for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			mg_strlist_push(sample_keys, line);
		free(all);
	}
	if (!PQgetisnull(res, 0, 2))
		*last_key = row_keys(res, 0, 2, s->n_keys);
	PQclear(res);
	return 0;
}
