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

/* Run a batch's UPDATE, waiting for application row locks
 * (innodb_lock_wait_timeout 2 s per try) and retrying up to 30 times: a
 * locked row delays the batch, it is never skipped. */
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

int mydrv_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int batch_size, struct mg_batch_result *out,
			 struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	char **hi = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (after_key && integer_key(s))
		hi = mg_keyset_span_upper(after_key, upto_key, batch_size);
	else if (batch_upper_key(mc, s, after_key, upto_key, batch_size, &hi, err) < 0)
		return -1;
	/* one statement per batch: the new side and the marker, only for
	 * rows still at marker 0 (never a row the new version wrote) */
	mg_buf_addf(&sql, "UPDATE %s SET %s, %s = 1", s->table, s->set_clause, s->marker);
	key_range(mc, &sql, s, after_key, hi ? hi : upto_key);
	mg_buf_addf(&sql, " AND %s = 0", s->marker);
	rc = exec_waiting_for_rows(mc, sql.buf, s, &out->rows, &out->retry_ms, err);
	if (rc == 0 && mc->guard)
		rc = guarded_commit(mc, err);
	mg_buf_release(&sql);
	if (rc < 0) {
		free_keys(hi, s->n_keys);
		return -1;
	}
	out->done = hi == NULL;
	out->last_key = hi ? hi : copy_keys(upto_key, s->n_keys);
	out->scanned = out->rows;
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
