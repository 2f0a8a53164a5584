/*
 * load.c - the PostgreSQL driver: sessions and ANALYZE (the throttles'
 * questions; the replication lag is lag.c's).
 */
#include "pg.h"
#include "places.h"

/* Client sessions of this database running a statement, migrate's own
 * excepted; rows of other roles that this role may not see (state and
 * backend_type NULL without pg_read_all_stats) count as active. */
int pgdrv_active_sessions(struct mg_conn *c, int64_t *out, int64_t *hidden,
			  struct mg_err *err)
{
	PGresult *res = query_pc(downcast(c),
		"SELECT count(*) FILTER (WHERE backend_type IS NULL OR state = 'active'), "
		"count(*) FILTER (WHERE backend_type IS NULL) "
		"FROM pg_stat_activity WHERE datname = current_database() "
		"AND pid <> pg_backend_pid() AND coalesce(backend_type, '') IN ('', 'client backend') "
		"AND application_name NOT LIKE 'migrate/%'", err);

	*out = *hidden = 0;
	if (!res)
		return -1;
	*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*hidden = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return 0;
}

/*
 * Client sessions of this database waiting now for a row another
 * transaction holds, migrate's own excepted. A session that waits for a
 * row waits for the holder's transaction id (locktype transactionid), or
 * queues behind an earlier waiter on the row itself (tuple); both show as
 * a lock not granted in pg_locks. pg_locks is not filtered by role, and of
 * pg_stat_activity the database, pid and application_name of every
 * session are shown to every role, so nothing is hidden from this count
 * (unlike the state --max-load reads): no grant is needed. Waits for a
 * table lock (behind DDL) or an advisory lock are not row-lock waits.
 */
int pgdrv_lock_waits(struct mg_conn *c, int64_t *out, struct mg_err *err)
{
	char *v = NULL;
	int rc = query_scalar(downcast(c),
		"SELECT count(DISTINCT l.pid) FROM pg_locks l "
		"JOIN pg_stat_activity a ON a.pid = l.pid "
		"WHERE NOT l.granted AND l.locktype IN ('transactionid', 'tuple') "
		"AND a.datname = current_database() AND a.pid <> pg_backend_pid() "
		"AND coalesce(a.application_name, '') NOT LIKE 'migrate/%'", &v, err);

	*out = v ? strtoll(v, NULL, 10) : 0;
	free(v);
	return rc;
}

int pgdrv_analyze(struct mg_conn *c, const char *table, struct mg_err *err)
{
	char *sql = mg_xasprintf("ANALYZE %s", table);
	int rc = exec_pc(downcast(c), sql, err);

	free(sql);
	return rc;
}

/* " AND application_name LIKE <glob as LIKE> ESCAPE '\'", NOT-ed when asked. */
static void add_name_like(struct mg_buf *sql, const char *glob, int negate)
{
	char *like = mg_glob_to_like(glob);
	char *pl = lit(like);

	mg_buf_addf(sql, " AND application_name %sLIKE %s ESCAPE '\\'", negate ? "NOT " : "", pl);
	free(pl);
	free(like);
}

/*
 * Sessions of this database whose application_name matches the glob and
 * none of the except globs, on the primary, the standbys and behind the
 * poolers the URL names, place by place (places.c). pg_stat_activity
 * shows every role the database, pid and application_name of every
 * session: nothing is hidden.
 */
int pgdrv_count_sessions_by_place(struct mg_conn *c, const char *pattern,
				  char *const *except, size_t n_except,
				  struct mg_place_counts *out, struct mg_err *err)
{
	struct mg_buf filter = MG_BUF_INIT;
	int rc;

	/* migrate's own sessions (application_name migrate/...) never count */
	mg_buf_adds(&filter, " AND application_name NOT LIKE 'migrate/%'");
	add_name_like(&filter, pattern, 0);
	for (size_t i = 0; i < n_except; i++)
		add_name_like(&filter, except[i], 1);
	rc = pgdrv_count_at_places(downcast(c), filter.buf, out, err);
	mg_buf_release(&filter);
	return rc;
}
