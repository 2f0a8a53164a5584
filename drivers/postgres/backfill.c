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

/* Run sql, waiting for application row locks (lock_timeout 2s per try)
 * and retrying: a locked row delays the batch, it is never skipped. */
static PGresult *exec_waiting_for_rows(struct pgdrv_conn *pc, const char *sql,
				       const struct mg_backfill_spec *s, ExecStatusType want,
				       int64_t *retry_ms, struct mg_err *err)
{
	int64_t start = mg_now_ms();

	for (int attempt = 0;; attempt++) {
		int64_t t0 = mg_now_ms();
		PGresult *res = exec_bounded(pc, sql);
		char state[6] = "";

		if (PQresultStatus(res) == want) {
			*retry_ms = t0 - start;
			return res;
		}
		snprintf(state, sizeof(state), "%s", sqlstate(res));
		set_result_error(err, res, pc, "backfill batch");
		PQclear(res);
		if (PQtransactionStatus(pc->pg) == PQTRANS_INERROR) {
			struct mg_err ignored = MG_ERR_INIT;

			exec_pc(pc, "ROLLBACK", &ignored);	/* a guarded batch */
		}
		if (!is_lock_timeout(state) || attempt >= 30 || mg_stop_requested)
			return NULL;
		mg_info("  rows of %s are locked by another transaction: waiting (try %d)",
			s->table, attempt + 1);
		mg_sleep_ms(mg_backoff_ms(attempt < 4 ? attempt : 4));
	}
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
 * One statement per batch: the new side and the marker, only for rows
 * still at marker 0 (never a row the new version wrote). With the lock
 * guard it runs in a transaction and also answers, after the UPDATE, whether
 * the lock's session still holds the lock; guarded_commit() commits only
 * then. Between that answer and COMMIT the batch holds its table lock, so a
 * second migrate's DDL (a rollback) waits for the batch instead of running
 * beside it.
 */
static void batch_sql(struct mg_buf *sql, struct pgdrv_conn *pc,
		      const struct mg_backfill_spec *s, char *const *after_key,
		      char *const *upto_key)
{
	if (pc->guard)
		mg_buf_adds(sql, "BEGIN; WITH _mg_batch AS (");
	mg_buf_addf(sql, "UPDATE %s SET %s, %s = 1", s->table, s->set_clause, s->marker);
	key_range(sql, s, after_key, upto_key);
	mg_buf_addf(sql, " AND %s = 0", s->marker);
	if (!pc->guard)
		return;
	mg_buf_adds(sql, " RETURNING 1) SELECT count(*)::text, ");
	add_lock_held(sql, pc->guard);
	mg_buf_adds(sql, "::text FROM _mg_batch");
}

/* res: the guarded batch's answer (cleared here). COMMIT while the lock is
 * held, else ROLLBACK and fail with the lost lock. */
static int guarded_commit(struct pgdrv_conn *pc, PGresult *res, int64_t *rows,
			  struct mg_err *err)
{
	int held = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 1), "true");

	*rows = held ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	if (!held) {
		struct mg_err ignored = MG_ERR_INIT;

		exec_pc(pc, "ROLLBACK", &ignored);
		return guard_lost(pc, 1, err);
	}
	if (exec_pc(pc, "COMMIT", err) < 0) {
		mg_err_prefix(err, "backfill batch: ");
		return -1;
	}
	return 0;
}

int pgdrv_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int batch_size, struct mg_batch_result *out,
			 struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;
	char **hi = NULL;

	memset(out, 0, sizeof(*out));
	if (!pc->backfill_ready) {
		/* wait for application row locks a bounded time, then retry;
		 * a batch is a key range: never let it become a table scan */
		if (exec_pc(pc, "SET lock_timeout = '2s'", err) < 0 ||
		    exec_pc(pc, "SET enable_seqscan = off", err) < 0)
			return -1;
		pc->backfill_ready = 1;
	}
	if (after_key && integer_key(s))
		hi = mg_keyset_span_upper(after_key, upto_key, batch_size);
	else if (batch_upper_key(pc, s, after_key, upto_key, batch_size, &hi, err) < 0)
		return -1;
	batch_sql(&sql, pc, s, after_key, hi ? hi : upto_key);
	res = exec_waiting_for_rows(pc, sql.buf, s, pc->guard ? PGRES_TUPLES_OK : PGRES_COMMAND_OK,
				    &out->retry_ms, err);
	mg_buf_release(&sql);
	if (!res || (pc->guard && guarded_commit(pc, res, &out->rows, err) < 0)) {
		if (hi)
			mg_batch_result_release(&(struct mg_batch_result){ .last_key = hi }, s->n_keys);
		return -1;
	}
	if (!pc->guard) {
		out->rows = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	out->done = hi == NULL;
	out->last_key = hi;
	if (!hi) {
		out->last_key = mg_xcalloc(s->n_keys + 1, sizeof(char *));
		for (size_t k = 0; k < s->n_keys; k++)
			out->last_key[k] = mg_xstrdup(upto_key[k]);
	}
	out->scanned = out->rows;
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
