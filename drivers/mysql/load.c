/*
 * load.c - the MySQL and MariaDB driver: sessions (who is running) and ANALYZE.
 */
#include "my.h"

/* ==== sessions, replicas and load ============================================= */

/*
 * Does PROCESSLIST show this user every session? Only with the PROCESS
 * privilege. Asking for it by name misses privileges that come through a
 * role (information_schema.USER_PRIVILEGES lists the account's own), so
 * ask a table that needs the same privilege: INNODB_TRX refuses to be read
 * without PROCESS, however it was granted (and an empty read is not
 * enough: the server skips the check for WHERE 1 = 0).
 * 1 yes, 0 no, -1 error.
 */
static int sees_all_sessions(struct mydrv_conn *mc, struct mg_err *err)
{
	int64_t n;

	if (query_int(mc, "SELECT COUNT(*) FROM information_schema.INNODB_TRX", &n, err) == 0)
		return 1;
	if (stmt_errno(mc) != ER_SPECIFIC_ACCESS_DENIED_ERROR)
		return -1;
	mg_err_clear(err);
	return 0;
}

/*
 * Sessions whose user, or whose program_name connection attribute, matches
 * the colour's glob, migrate's own (program_name migrate/...) excepted.
 * With performance_schema off no session has a program name to see, and
 * sessions match by user alone. With it on but not readable by this user,
 * a session matching by program name would go unseen: -1, so the colour
 * counts as alive (the hint names the grant). Any database counts, not only this one: an application's session
 * may sit in another default database and still use ours, and a session
 * too many keeps a colour alive, which is the safe side. Matching is
 * case-insensitive (PROCESSLIST's collation), the safe side again.
 * Without PROCESS this user sees only its own sessions: -1, so the colour
 * counts as alive.
 */
/* " AND [NOT] (p.USER LIKE <glob> ESCAPE '\' [OR program_name LIKE ...])" */
static void add_session_like(struct mydrv_conn *mc, struct mg_buf *sql, const char *glob,
			     int negate)
{
	struct mg_buf pat = MG_BUF_INIT, esc = MG_BUF_INIT;
	char *like = mg_glob_to_like(glob);

	add_literal(mc, &pat, like);
	add_literal(mc, &esc, "\\");
	mg_buf_addf(sql, " AND %s(p.USER LIKE %s ESCAPE %s", negate ? "NOT " : "", pat.buf, esc.buf);
	if (attrs_readable(mc))	/* COALESCE: NOT (x OR NULL) would be NULL */
		mg_buf_addf(sql, " OR COALESCE(a.ATTR_VALUE, '') LIKE %s ESCAPE %s", pat.buf, esc.buf);
	mg_buf_adds(sql, ")");
	mg_buf_release(&pat);
	mg_buf_release(&esc);
	free(like);
}

int mydrv_count_sessions_here(struct mydrv_conn *mc, const char *pattern,
			      char *const *except, size_t n_except,
			      int64_t *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc, all;

	*out = 0;
	all = sees_all_sessions(mc, err);
	if (all <= 0) {
		if (all < 0)
			return -1;
		mg_err_set(err, MG_EDB, "this MySQL user lacks the PROCESS privilege, so other users' sessions are hidden from it");
		return mg_err_hint(err, "GRANT PROCESS ON *.* TO the user migrate connects as (see docs/grants.md)");
	}
	if (attrs_state(mc) == MYDRV_ATTRS_HIDDEN) {
		mg_err_set(err, MG_EDB, "this MySQL user may not read performance_schema, so sessions' program names are hidden from it");
		return mg_err_hint(err, "GRANT SELECT ON performance_schema.* TO the user migrate connects as (see docs/grants.md)");
	}
	mg_buf_addf(&sql, "SELECT COUNT(*) FROM information_schema.PROCESSLIST p %s"
		    "WHERE " MYDRV_CLIENT_SESSION "AND COALESCE(%s, '') NOT LIKE 'migrate/%%'",
		    attr_join(mc), attr_value(mc));
	add_session_like(mc, &sql, pattern, 0);
	for (size_t i = 0; i < n_except; i++)
		add_session_like(mc, &sql, except[i], 1);
	rc = query_int(mc, sql.buf, out, err);
	mg_buf_release(&sql);
	return rc;
}

/* A counter of SHOW GLOBAL STATUS (no privilege needed) into *out. */
static int global_status(struct mydrv_conn *mc, const char *name, int64_t *out,
			 struct mg_err *err)
{
	char *sql = mg_xasprintf("SHOW GLOBAL STATUS LIKE '%s'", name);
	struct mg_rows r = MG_ROWS_INIT;
	int rc = query_mc(mc, sql, &r, err);

	if (rc == 0 && (r.nrows != 1 || r.ncols < 2 || !mg_rows_get(&r, 0, 1)))
		rc = mg_err_set(err, MG_EDB, "the server reports no %s", name);
	*out = rc == 0 ? strtoll(mg_rows_get(&r, 0, 1), NULL, 10) : 0;
	mg_rows_release(&r);
	free(sql);
	return rc;
}

/*
 * --max-load is Threads_running, the figure gh-ost and pt-osc throttle on:
 * the server's threads running a statement now, in any database, the
 * server's own busy threads included. It needs no privilege. Not counted:
 * this session (running the SHOW) and migrate's other sessions running a
 * batch at that moment, told apart by their program_name migrate/...
 * (they are this user's, which PROCESSLIST always shows). With
 * performance_schema off they cannot be told apart and count. *hidden is
 * always 0: nothing is hidden from Threads_running.
 */
int mydrv_active_sessions(struct mg_conn *c, int64_t *out, int64_t *hidden,
			  struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	int64_t running = 0, ours = 0;

	*out = *hidden = 0;
	if (global_status(mc, "Threads_running", &running, err) < 0)
		return -1;
	if (attrs_readable(mc) &&
	    query_int(mc, "SELECT COUNT(*) FROM information_schema.PROCESSLIST p " MYDRV_ATTR_JOIN
		      "WHERE p.ID <> CONNECTION_ID() AND p.COMMAND NOT IN ('Sleep', 'Daemon') "
		      "AND a.ATTR_VALUE LIKE 'migrate/%'", &ours, err) < 0)
		return -1;
	*out = running - 1 - ours;
	if (*out < 0)
		*out = 0;
	return 0;
}

/*
 * --max-lock-waits is Innodb_row_lock_current_waits: the InnoDB row locks
 * being waited for now, in any database (MariaDB 10.11 and MySQL 8 both
 * keep it; gh-ost's --max-load takes any such status variable). Like
 * Threads_running it needs no privilege and nothing is hidden from it,
 * where information_schema.INNODB_TRX (trx_state = 'LOCK WAIT') and
 * performance_schema.data_lock_waits need PROCESS (and on MySQL 8
 * SELECT on performance_schema): a user without them would see no
 * waiter at all, never the safe side. migrate's own sessions are not
 * subtracted: a backfill batch never waits for a row (it skips locked
 * rows), so the waits counted are the application's.
 */
int mydrv_lock_waits(struct mg_conn *c, int64_t *out, struct mg_err *err)
{
	return global_status(downcast(c), "Innodb_row_lock_current_waits", out, err);
}

/* ANALYZE TABLE reports a failure as a result row, not as an error. */
int mydrv_analyze(struct mg_conn *c, const char *table, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	char *sql = mg_xasprintf("ANALYZE TABLE %s", table);
	struct mg_rows r = MG_ROWS_INIT;
	int rc = query_mc(mc, sql, &r, err);

	for (size_t i = 0; rc == 0 && r.ncols >= 4 && i < r.nrows; i++) {
		const char *type = mg_rows_get(&r, i, 2);

		if (type && !strcasecmp(type, "error")) {
			const char *text = mg_rows_get(&r, i, 3);

			rc = mg_err_set(err, MG_EDB, "analyze %s: %s", table, text ? text : "failed");
		}
	}
	mg_rows_release(&r);
	free(sql);
	return rc;
}
