/*
 * backfill.c - the MySQL and MariaDB driver: backfill bounds, batches, splits, the
 * lock guard and verification.
 */
#include "my.h"

/* ==== backfill ============================================================================== */

static const char *const int_types[] = { "tinyint", "smallint", "mediumint", "int",
					 "integer", "bigint", NULL };

static int is_integer_type(const char *t)
{
	for (const char *const *i = int_types; *i; i++)
		if (!strcasecmp(t, *i))
			return 1;
	return 0;
}

/* A single integer key: batches are key spans, no boundary query. */
static int integer_key(const struct mg_backfill_spec *s)
{
	return mg_keyset_integer(s, int_types);
}

/* A key value as SQL: integers as numbers (checked), the rest as string
 * literals the server converts to the column's type. */
static void key_value(struct mydrv_conn *mc, struct mg_buf *b, const struct mg_backfill_spec *s,
		      size_t k, const char *v)
{
	const char *p = v + (*v == '-');

	if (is_integer_type(s->key_types[k]) && *p && strspn(p, "0123456789") == strlen(p))
		mg_buf_adds(b, v);
	else
		add_literal(mc, b, v);
}

/*
 * keys op vals, spelled out column by column: (a > x) OR (a = x AND b >
 * y) ..., with "OR all equal" for <= and >=. MariaDB does not use an index
 * range for row constructors, (a, b) > (x, y), but does for this.
 */
static void key_cmp(struct mydrv_conn *mc, struct mg_buf *b, const struct mg_backfill_spec *s,
		    char *const *vals, const char *op, int or_equal)
{
	mg_buf_adds(b, "(");
	for (size_t i = 0; i < s->n_keys; i++) {
		mg_buf_adds(b, i ? " OR (" : "(");
		for (size_t j = 0; j < i; j++) {
			mg_buf_addf(b, "%s = ", s->key_columns[j]);
			key_value(mc, b, s, j, vals[j]);
			mg_buf_adds(b, " AND ");
		}
		mg_buf_addf(b, "%s %s ", s->key_columns[i], op);
		key_value(mc, b, s, i, vals[i]);
		mg_buf_adds(b, ")");
	}
	if (or_equal) {
		mg_buf_adds(b, " OR (");
		for (size_t j = 0; j < s->n_keys; j++) {
			mg_buf_addf(b, "%s%s = ", j ? " AND " : "", s->key_columns[j]);
			key_value(mc, b, s, j, vals[j]);
		}
		mg_buf_adds(b, ")");
	}
	mg_buf_adds(b, ")");
}

/* " WHERE keys > after AND keys <= upto" (either may be NULL). */
static void key_range(struct mydrv_conn *mc, struct mg_buf *b, const struct mg_backfill_spec *s,
		      char *const *after_key, char *const *upto_key)
{
	mg_buf_adds(b, " WHERE ");
	if (after_key) {
		key_cmp(mc, b, s, after_key, ">", 0);
		mg_buf_adds(b, upto_key ? " AND " : "");
	}
	if (upto_key)
		key_cmp(mc, b, s, upto_key, "<", 1);
	if (!after_key && !upto_key)
		mg_buf_adds(b, "1");
}

static void key_select(struct mg_buf *b, const struct mg_backfill_spec *s)
{
	mg_buf_adds(b, "SELECT ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(b, "%s%s", k ? ", " : "", s->key_columns[k]);
}

static void key_order(struct mg_buf *b, const struct mg_backfill_spec *s, const char *dir)
{
	mg_buf_adds(b, " ORDER BY ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(b, "%s%s%s", k ? ", " : "", s->key_columns[k], dir);
}

static char **row_keys(const struct mg_rows *r, size_t row, size_t first_col, size_t n_keys)
{
	char **k = mg_xcalloc(n_keys + 1, sizeof(char *));

	for (size_t i = 0; i < n_keys; i++)
		k[i] = mg_xstrdup(mg_rows_get(r, row, first_col + i));
	return k;
}

static void free_keys(char **k, size_t n)
{
	if (!k)
		return;
	for (size_t i = 0; i < n; i++)
		free(k[i]);
	free(k);
}

static char **copy_keys(char *const *k, size_t n)
{
	char **out = mg_xcalloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		out[i] = mg_xstrdup(k[i]);
	return out;
}

/* The first row's keys of sql as *out (NULL for no row). */
static int query_keys(struct mydrv_conn *mc, const char *sql, size_t n_keys, char ***out,
		      struct mg_err *err)
{
	struct mg_rows r = MG_ROWS_INIT;

	*out = NULL;
	if (query_mc(mc, sql, &r, err) < 0)
		return -1;
	if (r.nrows > 0)
		*out = row_keys(&r, 0, 0, n_keys);
	mg_rows_release(&r);
	return 0;
}

int mydrv_backfill_bounds(struct mg_conn *c, const struct mg_backfill_spec *s,
			  char ***upto_key, int64_t *estimate, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	char *schema = NULL, *name = NULL;
	int rc;

	*estimate = 0;
	key_select(&sql, s);
	mg_buf_addf(&sql, " FROM %s", s->table);
	key_order(&sql, s, " DESC");
	mg_buf_adds(&sql, " LIMIT 1");
	rc = query_keys(mc, sql.buf, s->n_keys, upto_key, err);
	mg_buf_reset(&sql);
	split_table(s->table, &schema, &name);
	mg_buf_adds(&sql, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ");
	add_literal(mc, &sql, name);
	if (rc == 0)
		rc = query_int(mc, sql.buf, estimate, err);
	if (rc == 0 && *estimate <= 0 && *upto_key) {
		mg_buf_reset(&sql);
		mg_buf_addf(&sql, "SELECT COUNT(*) FROM %s", s->table);
		rc = query_int(mc, sql.buf, estimate, err);
	}
	free(schema);
	free(name);
	mg_buf_release(&sql);
	return rc;
}

/* The key of the batch_size-th row after after_key (NULL when fewer rows
 * remain up to upto_key): keys only, from the key's index. */
static int batch_upper_key(struct mydrv_conn *mc, const struct mg_backfill_spec *s,
			   char *const *after_key, char *const *upto_key,
			   int batch_size, char ***out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc;

	key_select(&sql, s);
	mg_buf_addf(&sql, " FROM %s", s->table);
	key_range(mc, &sql, s, after_key, upto_key);
	key_order(&sql, s, "");
	mg_buf_addf(&sql, " LIMIT 1 OFFSET %d", batch_size - 1);
	rc = query_keys(mc, sql.buf, s->n_keys, out, err);
	mg_buf_release(&sql);
	return rc;
}

/*
 * The lock guard (mg_conn_opts.lock_holder): after the batch's UPDATE, in
 * its transaction, is the lock still held by the lock's session? COMMIT
 * only then. Between that answer and COMMIT the batch holds its rows and
 * the table's metadata lock, so a second migrate's DDL (a rollback) waits
 * for the batch instead of running beside it.
 */
static int check_guard(struct mydrv_conn *mc, int in_batch, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *holder = NULL, *db = NULL, session[48], what[128];
	int rc = -1;

	if (!mc->lock_name[0]) {
		if (query_scalar(mc, "SELECT DATABASE()", &db, err) < 0)
			goto out;
		set_lock_name(mc, db ? db : "");
	}
	mg_buf_adds(&sql, "SELECT IS_USED_LOCK(");
	add_literal(mc, &sql, mc->lock_name);
	mg_buf_adds(&sql, ")");
	if (query_scalar(mc, sql.buf, &holder, err) < 0)
		goto out;
	if (holder && !strcmp(holder, mc->guard)) {
		rc = 0;
		goto out;
	}
	snprintf(session, sizeof(session), "connection %s", mc->guard);
	snprintf(what, sizeof(what), "was terminated%s%s%s%s",
		 holder ? " and connection " : "", holder ? holder : "",
		 holder ? " holds it now" : "", in_batch ? "; the batch was rolled back" : "");
	mg_err_lock_lost(err, session, what, NULL);
out:
	free(holder);
	free(db);
	mg_buf_release(&sql);
	return rc;
}

static int guarded_commit(struct mydrv_conn *mc, struct mg_err *err)
{
	struct mg_err ignored = MG_ERR_INIT;

	if (check_guard(mc, 1, err) == 0 && exec_mc(mc, "COMMIT", err) == 0)
		return 0;
	exec_mc(mc, "ROLLBACK", &ignored);
	return -1;
}

int mydrv_lock_check(struct mg_conn *c, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);

	return mc->guard ? check_guard(mc, 0, err) : 0;
}

/* ==== the batch: it never waits for a row lock ============================================= */

/*
 * A batch never waits for a row lock another transaction holds (driver.h,
 * backfill_batch; issue 15). Waiting was the trouble: a batch that had
 * updated some rows and then waited for a row an application transaction
 * held, while that transaction waited for a row of the batch, was a
 * deadlock, and InnoDB chose the application's transaction as the victim.
 * A batch that never waits is in no cycle, and an application transaction
 * waits at most one batch (milliseconds) for a row of it.
 *
 * The locks a batch takes. The session is READ COMMITTED (conn.c), so
 * InnoDB takes no gap or next-key locks: a batch holds record locks on
 * exactly the rows it updates, until its COMMIT, and an IX lock on the
 * table, which no row lock conflicts with. A row of the range it reads and
 * leaves (already marked) is unlocked as soon as it fails the WHERE. An
 * INSERT into the range's gaps, and writes to the rows on either side of
 * it, do not wait for a batch (checked on MariaDB 10.11: an INSERT into a
 * gap of a locked range returns at once).
 *
 * How a batch takes its rows depends on the server (batch_way):
 *  - whole (MariaDB): the range's one UPDATE ... AND marker = 0, the
 *    statement the backfill always ran, under SET STATEMENT
 *    innodb_lock_wait_timeout = 0 (MariaDB 10.3+): InnoDB fails it at once
 *    (error 1205) instead of waiting when it meets a row another
 *    transaction holds whose committed version is still at marker 0 (a
 *    held row that no longer matches is passed by the semi-consistent read
 *    of READ COMMITTED). The failure undoes the statement; the batch then
 *    rolls its transaction back too, which releases the rows the statement
 *    had locked (and does not depend on innodb_rollback_on_timeout), and
 *    takes the range row by row. On a range nobody holds this costs
 *    nothing: SET STATEMENT is parsed with the UPDATE, no round trip more.
 *  - row by row (MariaDB 10.6+ after a failed whole try, MySQL always):
 *    in one transaction, SELECT the keys of the range's rows at
 *    marker 0 FOR UPDATE SKIP LOCKED (locks the rows nobody holds, passes
 *    the others without waiting), UPDATE exactly those rows by key, count
 *    what the range has left at marker 0, COMMIT. MySQL cannot try the
 *    range whole: its innodb_lock_wait_timeout is at least 1 s.
 *    (SET STATEMENT is per statement on purpose: on MariaDB 10.11 a SKIP
 *    LOCKED read in a session whose innodb_lock_wait_timeout is 0 fails
 *    with error 1180, "Got error 1 during COMMIT".)
 *  - waiting (MariaDB 10.3 to 10.5, which have no SKIP LOCKED, after a
 *    failed whole try): the bounded wait of before issue 15, up to 30
 *    tries of innodb_lock_wait_timeout (2 s), the rows never skipped. On
 *    these servers a batch that meets a held row can still be part of a
 *    deadlock with the application; upgrading to 10.6 ends that.
 *
 * How skips are counted (row by row only; a whole UPDATE that succeeds
 * skipped nothing). After its UPDATE, in its transaction, the batch counts
 * the range's rows at marker 0 with a consistent read, which locks
 * nothing and waits for nothing: under READ COMMITTED it sees what was
 * committed before it and the batch's own updates. Every row the batch
 * left at marker 0 is counted unless a commit set its marker before the
 * count: the dual-write triggers set the marker (1 or 2) on every write,
 * inserts included, so a row some transaction wrote and committed needs no
 * pass. Nothing sets a marker back to 0, so no row joins the uncounted
 * between the count and the COMMIT. The count can be too high (a holder
 * that writes the row after the count), never too low.
 */
enum batch_way {
	WAY_WHOLE_THEN_ROWS,	/* MariaDB 10.6+ */
	WAY_ROWS,		/* MySQL (8.0.29+: what plans need) */
	WAY_WHOLE_THEN_WAIT	/* MariaDB 10.3 to 10.5 */
};

/*
 * MySQL runs no plan below 8.0.29 (mydrv_plan_begin), so a backfill on
 * MySQL always has SKIP LOCKED (8.0.1+). Test builds:
 * MIGRATE_TEST_MYSQL_DIALECT, which makes MariaDB plan as MySQL (conn.c),
 * makes its batches take MySQL's way too, so that the MariaDB tests run
 * MySQL's row-by-row path.
 */
static enum batch_way batch_way(const struct mydrv_conn *mc)
{
	if (mc->mysql_dialect)
		return WAY_ROWS;
	if (mysql_get_server_version(mc->my) >= 100600)
		return WAY_WHOLE_THEN_ROWS;
	return WAY_WHOLE_THEN_WAIT;
}

/* Run a batch's UPDATE, waiting for application row locks
 * (innodb_lock_wait_timeout 2 s per try) and retrying up to 30 times: a
 * locked row delays the batch, it is never skipped. Only for MariaDB
 * before 10.6 (no SKIP LOCKED), after its whole try met a held row. */
static int exec_waiting_for_rows(struct mydrv_conn *mc, const char *sql,
				 const struct mg_backfill_spec *s, int64_t *rows,
				 int64_t *retry_ms, struct mg_err *err)
{
	int64_t start = mg_now_ms();

	for (int attempt = 0;; attempt++) {
		struct mg_err ignored = MG_ERR_INIT;
		int64_t t0 = mg_now_ms();
		unsigned no;

		if ((!mc->guard || exec_mc(mc, "START TRANSACTION", err) == 0) &&
		    exec_mc(mc, sql, err) == 0) {
			*rows = mc->affected;
			*retry_ms = t0 - start;
			return 0;
		}
		no = stmt_errno(mc);
		if (mc->guard)
			exec_mc(mc, "ROLLBACK", &ignored);
		mg_err_prefix(err, "backfill batch: ");
		if (!is_lock_wait(no) || attempt >= 30 || mg_stop_requested)
			return -1;
		mg_info("  rows of %s are locked by another transaction: waiting (try %d)",
			s->table, attempt + 1);
		mg_sleep_ms(mg_backoff_ms(attempt < 4 ? attempt : 4));
	}
}

/*
 * The range's UPDATE as one statement that fails at once on a row another
 * transaction holds, committed (through the guard) when it succeeds.
 * Returns 1 when done (*rows), 0 when a row was held (nothing done, no
 * transaction open), -1 on an error.
 */
static int update_whole(struct mydrv_conn *mc, const char *update, int64_t *rows,
			struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	int rc = -1;

	mg_buf_addf(&sql, "SET STATEMENT innodb_lock_wait_timeout = 0 FOR %s", update);
	if ((!mc->guard || exec_mc(mc, "START TRANSACTION", err) == 0) &&
	    exec_mc(mc, sql.buf, err) == 0) {
		*rows = mc->affected;
		rc = !mc->guard || guarded_commit(mc, err) == 0 ? 1 : -1;
	} else {
		unsigned no = stmt_errno(mc);

		if (mc->guard)
			exec_mc(mc, "ROLLBACK", &ignored);
		if (is_lock_wait(no) && !mg_stop_requested) {
			mg_err_clear(err);
			rc = 0;
		} else {
			mg_err_prefix(err, "backfill batch: ");
		}
	}
	mg_buf_release(&sql);
	return rc;
}

/* Is b the integer right after a (both decimal text)? */
static int next_integer(const char *a, const char *b)
{
	char *end_a, *end_b;
	long long x = strtoll(a, &end_a, 10), y = strtoll(b, &end_b, 10);

	return !*end_a && !*end_b && *a && *b && x < y && y - x == 1;
}

/*
 * The keys of rows r (n_keys columns each) as a condition: one key as
 * "k BETWEEN 7 AND 42 OR k IN (1, 5)", runs of three or more consecutive
 * integers as BETWEEN; a composite key as "(a = x AND b = y) OR ...",
 * which MariaDB reads as index ranges (a row constructor IN it may not).
 */
static void key_list(struct mydrv_conn *mc, struct mg_buf *b, const struct mg_backfill_spec *s,
		     const struct mg_rows *r)
{
	struct mg_buf singles = MG_BUF_INIT;
	const char *k = s->key_columns[0], *sep = "";
	int ints = integer_key(s);

	mg_buf_adds(b, "(");
	for (size_t i = 0; s->n_keys > 1 && i < r->nrows; i++) {
		mg_buf_adds(b, i ? " OR (" : "(");
		for (size_t j = 0; j < s->n_keys; j++) {
			mg_buf_addf(b, "%s%s = ", j ? " AND " : "", s->key_columns[j]);
			key_value(mc, b, s, j, mg_rows_get(r, i, j));
		}
		mg_buf_adds(b, ")");
	}
	for (size_t i = 0; s->n_keys == 1 && i < r->nrows;) {
		size_t end = i;

		while (ints && end + 1 < r->nrows &&
		       next_integer(mg_rows_get(r, end, 0), mg_rows_get(r, end + 1, 0)))
			end++;
		if (end - i >= 2) {
			mg_buf_addf(b, "%s%s BETWEEN ", sep, k);
			key_value(mc, b, s, 0, mg_rows_get(r, i, 0));
			mg_buf_adds(b, " AND ");
			key_value(mc, b, s, 0, mg_rows_get(r, end, 0));
			sep = " OR ";
		} else {
			for (size_t j = i; j <= end; j++) {
				mg_buf_adds(&singles, singles.len ? ", " : "");
				key_value(mc, &singles, s, 0, mg_rows_get(r, j, 0));
			}
		}
		i = end + 1;
	}
	if (singles.len)
		mg_buf_addf(b, "%s%s IN (%s)", sep, k, singles.buf);
	mg_buf_adds(b, ")");
	mg_buf_release(&singles);
}

/* UPDATE the rows of `keys`, which this transaction has locked, by key. */
static int update_keys(struct mydrv_conn *mc, const struct mg_backfill_spec *s,
		       const struct mg_rows *keys, int64_t *rows, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc;

	mg_buf_addf(&sql, "UPDATE %s SET %s, %s = 1 WHERE ", s->table, s->set_clause, s->marker);
	key_list(mc, &sql, s, keys);
	mg_buf_addf(&sql, " AND %s = 0", s->marker);
	rc = exec_mc(mc, sql.buf, err);
	mg_buf_release(&sql);
	if (rc < 0)
		return -1;
	*rows = mc->affected;
	/* every locked row is at marker 0 and ours until COMMIT, so each
	 * changes; fewer means a key that did not come back as the same
	 * value through its text (a FLOAT key?): its row would be skipped on
	 * every pass, so stop instead */
	if (*rows == (int64_t)keys->nrows)
		return 0;
	mg_err_set(err, MG_EDB, "the batch locked %zu rows of %s but updating them by their keys changed %lld",
		   keys->nrows, s->table, (long long)*rows);
	return mg_err_hint(err, "the key's values do not survive as text (a FLOAT or DOUBLE key?); the batch was rolled back and nothing was lost: back the table with an exact primary key (integer, DECIMAL or string), or run the backfill when the table is not being written");
}

/*
 * Row by row: in one transaction, lock the rows of the range (`where`:
 * " WHERE <range> AND marker = 0") that nobody holds, update them, count
 * the range's rows still at marker 0 (*skipped), commit (through the
 * guard). See "How skips are counted" above.
 */
static int update_free_rows(struct mydrv_conn *mc, const struct mg_backfill_spec *s,
			    const char *where, int64_t *rows, int64_t *skipped,
			    struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows keys = MG_ROWS_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	int rc = -1;

	*rows = 0;
	if (exec_mc(mc, "START TRANSACTION", err) < 0) {
		mg_err_prefix(err, "backfill batch: ");
		goto out;
	}
	key_select(&sql, s);
	mg_buf_addf(&sql, " FROM %s%s FOR UPDATE SKIP LOCKED", s->table, where);
	if (query_mc(mc, sql.buf, &keys, err) < 0 ||
	    (keys.nrows > 0 && update_keys(mc, s, &keys, rows, err) < 0))
		goto fail;
	mg_buf_reset(&sql);
	mg_buf_addf(&sql, "SELECT COUNT(*) FROM %s%s", s->table, where);
	if (query_int(mc, sql.buf, skipped, err) < 0)
		goto fail;
	/* the guard's own error (the lock was lost) says it all */
	rc = mc->guard ? guarded_commit(mc, err) : exec_mc(mc, "COMMIT", err);
	if (rc == 0)
		mg_debug("mysql: a batch of %s took its rows one by one: %lld updated, %lld left at marker 0 for a later pass",
			 s->table, (long long)*rows, (long long)*skipped);
	goto out;
fail:
	exec_mc(mc, "ROLLBACK", &ignored);
	mg_err_prefix(err, "backfill batch: ");
out:
	mg_rows_release(&keys);
	mg_buf_release(&sql);
	return rc;
}

/* Take the batch's range the server's way (batch_way above): `update` is
 * its whole UPDATE, `where` its rows (" WHERE <range> AND marker = 0"). */
static int update_range(struct mydrv_conn *mc, const struct mg_backfill_spec *s,
			const char *update, const char *where,
			struct mg_batch_result *out, struct mg_err *err)
{
	enum batch_way way = batch_way(mc);
	int64_t t0 = mg_now_ms(), waited = 0;
	int rc;

	if (way != WAY_ROWS) {
		rc = update_whole(mc, update, &out->rows, err);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		/* a held row: the failed try is not the batch's own cost */
		out->retry_ms = mg_now_ms() - t0;
	}
	if (way == WAY_WHOLE_THEN_ROWS || way == WAY_ROWS)
		return update_free_rows(mc, s, where, &out->rows, &out->skipped, err);
	rc = exec_waiting_for_rows(mc, update, s, &out->rows, &waited, err);
	out->retry_ms += waited;
	if (rc == 0 && mc->guard)
		rc = guarded_commit(mc, err);
	return rc;
}

int mydrv_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int batch_size, struct mg_batch_result *out,
			 struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf where = MG_BUF_INIT, update = MG_BUF_INIT;
	char **hi = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (after_key && integer_key(s))
		hi = mg_keyset_span_upper(after_key, upto_key, batch_size);
	else if (batch_upper_key(mc, s, after_key, upto_key, batch_size, &hi, err) < 0)
		return -1;
	/* the new side and the marker, only for rows still at marker 0
	 * (never a row the new version wrote) */
	key_range(mc, &where, s, after_key, hi ? hi : upto_key);
	mg_buf_addf(&where, " AND %s = 0", s->marker);
	mg_buf_addf(&update, "UPDATE %s SET %s, %s = 1%s", s->table, s->set_clause, s->marker,
		    where.buf);
	rc = update_range(mc, s, update.buf, where.buf, out, err);
	mg_buf_release(&where);
	mg_buf_release(&update);
	if (rc < 0) {
		free_keys(hi, s->n_keys);
		return -1;
	}
	out->done = hi == NULL;
	out->last_key = hi ? hi : copy_keys(upto_key, s->n_keys);
	out->scanned = out->rows + out->skipped;
	return 0;
}

/* Integer keys: cut the span arithmetically. */
/*
 * Other keys: MySQL has no TABLESAMPLE, so count the keys in the range
 * and read the key at evenly spaced offsets (keys only, from the index,
 * in key order).
 */
int mydrv_backfill_split(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int pieces, char ****bounds, size_t *n,
			 struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	int64_t count = 0;
	int rc = 0;

	*bounds = NULL;
	*n = 0;
	if (pieces < 2)
		return 0;
	if (integer_key(s)) {
		char *v = NULL;

		if (!after_key) {
			mg_buf_addf(&sql, "SELECT MIN(%s) FROM %s", s->key_columns[0], s->table);
			rc = query_scalar(mc, sql.buf, &v, err);
		}
		if (rc == 0)
			mg_keyset_split_span(after_key, upto_key, v ? strtoll(v, NULL, 10) : 0,
					     pieces, bounds, n);
		free(v);
		mg_buf_release(&sql);
		return rc;
	}
	mg_buf_addf(&sql, "SELECT COUNT(*) FROM %s", s->table);
	key_range(mc, &sql, s, after_key, upto_key);
	if (query_int(mc, sql.buf, &count, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	*bounds = mg_xcalloc((size_t)pieces + 1, sizeof(char **));
	for (int i = 1; i < pieces && count >= pieces && rc == 0; i++) {
		char **k = NULL;

		mg_buf_reset(&sql);
		key_select(&sql, s);
		mg_buf_addf(&sql, " FROM %s", s->table);
		key_range(mc, &sql, s, after_key, upto_key);
		key_order(&sql, s, "");
		mg_buf_addf(&sql, " LIMIT 1 OFFSET %lld", (long long)(count * i / pieces));
		rc = query_keys(mc, sql.buf, s->n_keys, &k, err);
		if (k)
			(*bounds)[(*n)++] = k;
	}
	mg_buf_release(&sql);
	return rc;
}

/*
 * A consistent read: in the session's READ COMMITTED it locks no row and
 * waits for none, so it never blocks the application's writers, nor they
 * it (checked on MariaDB 10.11: inside an open transaction after this
 * SELECT, information_schema.INNODB_TRX shows no row locked, and a writer
 * updates the rows it read, or inserts into their range, at once).
 */
int mydrv_verify_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
		       char *const *after_key, int batch_size, int sample,
		       int64_t *mismatches, struct mg_strlist *sample_keys,
		       char ***last_key, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	int taken = 0;

	*mismatches = 0;
	*last_key = NULL;
	key_select(&sql, s);
	mg_buf_addf(&sql, ", (%s) IS TRUE FROM %s", s->mismatch, s->table);
	if (after_key)
		key_range(mc, &sql, s, after_key, NULL);
	key_order(&sql, s, "");
	mg_buf_addf(&sql, " LIMIT %d", batch_size);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	for (size_t i = 0; i < r.nrows; i++) {
		struct mg_buf k = MG_BUF_INIT;

		if (strcmp(mg_rows_get(&r, i, s->n_keys), "1") != 0)
			continue;
		(*mismatches)++;
		if (taken >= sample)
			continue;
		for (size_t j = 0; j < s->n_keys; j++)
			mg_buf_addf(&k, "%s%s", j ? ", " : "", mg_rows_get(&r, i, j));
		mg_strlist_push_owned(sample_keys, mg_buf_detach(&k));
		taken++;
	}
	if (r.nrows > 0)
		*last_key = row_keys(&r, r.nrows - 1, 0, s->n_keys);
	mg_rows_release(&r);
	return 0;
}
