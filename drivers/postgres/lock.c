/*
 * lock.c - the PostgreSQL driver: the migrate lock, its guard and the blockers check.
 */
#include "pg.h"

/* ==== locks and blockers ==================================================== */

int pgdrv_lock(struct mg_conn *c, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	char *got = NULL;
	PGresult *res;

	if (query_scalar(pc, "SELECT pg_try_advisory_lock(" PGDRV_LOCK_KEY ")::text",
			 &got, err) < 0)
		return -1;
	if (got && !strcmp(got, "true")) {
		free(got);
		pc->locked = 1;
		pc->lock_pid = PQbackendPID(pc->pg);
		return 0;
	}
	free(got);
	res = query_pc(pc,
		"SELECT a.pid, coalesce(nullif(a.application_name, ''), '(none)'), "
		"coalesce(a.usename::text, ''), coalesce(host(a.client_addr), 'local socket'), "
		"to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
		"coalesce(a.state, 'unknown') "
		"FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
		"WHERE l.locktype = 'advisory' AND l.granted "
		"AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
		"AND l.classid::bigint = ((" PGDRV_LOCK_KEY " >> 32) & 4294967295) "
		"AND l.objid::bigint = (" PGDRV_LOCK_KEY " & 4294967295) LIMIT 1", err);
	if (res && PQntuples(res) > 0 && PQgetisnull(res, 0, 4)) {
		/* another role's session without pg_read_all_stats: its client,
		 * start and state are hidden, not a local socket */
		mg_err_set(err, MG_EDB,
			   "another migrate holds the lock on this database: pid %s, application '%s', user '%s', client and start unknown (seeing them needs pg_read_all_stats)",
			   PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
		mg_err_hint(err, "%s", MG_LOCK_HELD_HINT);
	} else if (res && PQntuples(res) > 0) {
		mg_err_set(err, MG_EDB,
			   "another migrate holds the lock on this database: pid %s, application '%s', user '%s', client %s, connected since %s, %s now",
			   PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
			   PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
			   PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5));
		mg_err_hint(err, "%s", MG_LOCK_HELD_HINT);
	} else if (res) {
		mg_err_set(err, MG_EDB, "another migrate holds the lock on this database (its session is not visible to this role)");
		mg_err_hint(err, "wait for it to finish and run the command again");
	}
	PQclear(res);
	return -1;
}

void pgdrv_unlock(struct mg_conn *c)
{
	struct mg_err ignored = MG_ERR_INIT;

	exec_pc(downcast(c), "SELECT pg_advisory_unlock(" PGDRV_LOCK_KEY ")", &ignored);
	downcast(c)->locked = 0;
}

int pgdrv_lock_holder(struct mg_conn *c, struct mg_buf *out, struct mg_err *err)
{
	(void)err;
	mg_buf_addf(out, "%d", PQbackendPID(downcast(c)->pg));
	return 0;
}

int pgdrv_lock_lost(struct mg_conn *c, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_err ignored = MG_ERR_INIT;
	char session[32], cause[sizeof(err->msg)];

	/* a link given up or a stop by signal is its own cause, not a lost lock */
	if (!pc->locked || pc->broken || mg_stop_requested ||
	    exec_pc(pc, "SELECT 1", &ignored) == 0)
		return 0;
	/* no answer to the probe either: the network, not a lost lock */
	if (pc->broken || mg_stop_requested)
		return 0;
	snprintf(session, sizeof(session), "pid %d", pc->lock_pid);
	snprintf(cause, sizeof(cause), "%s", err->msg);
	mg_err_lock_lost(err, session, "was terminated", cause);
	return 1;
}

/* Does the session with pid `pid` hold the migrate lock? SQL for a boolean. */
void add_lock_held(struct mg_buf *b, const char *pid)
{
	mg_buf_addf(b, "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' "
		    "AND l.granted AND l.pid = %d "
		    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
		    "AND l.classid::bigint = ((" PGDRV_LOCK_KEY " >> 32) & 4294967295) "
		    "AND l.objid::bigint = (" PGDRV_LOCK_KEY " & 4294967295))", atoi(pid));
}

/* The lock guard failed: MG_EDB saying whether the holder's session is
 * gone or let go of the lock; in_batch: a batch was rolled back. */
int guard_lost(struct pgdrv_conn *pc, int in_batch, struct mg_err *err)
{
	struct mg_err ignored = MG_ERR_INIT;
	char *alive = NULL, session[32];
	char *sql = mg_xasprintf("SELECT count(*)::text FROM pg_stat_activity WHERE pid = %d",
				 atoi(pc->guard));

	query_scalar(pc, sql, &alive, &ignored);
	snprintf(session, sizeof(session), "pid %d", atoi(pc->guard));
	mg_err_lock_lost(err, session, alive && !strcmp(alive, "1") ?
			 (in_batch ? "no longer holds it; the batch was rolled back" :
			  "no longer holds it") :
			 (in_batch ? "was terminated; the batch was rolled back" :
			  "was terminated"), NULL);
	free(alive);
	free(sql);
	return -1;
}

int pgdrv_lock_check(struct mg_conn *c, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	char *held = NULL;
	int rc = 0;

	if (!pc->guard)
		return 0;
	mg_buf_adds(&sql, "SELECT ");
	add_lock_held(&sql, pc->guard);
	mg_buf_adds(&sql, "::text");
	if (query_scalar(pc, sql.buf, &held, err) < 0)
		rc = -1;
	else if (!held || strcmp(held, "true") != 0)
		rc = guard_lost(pc, 0, err);
	free(held);
	mg_buf_release(&sql);
	return rc;
}

int pgdrv_check_blockers(struct mg_conn *c, const char *const *tables,
			 size_t n, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT, arr = MG_BUF_INIT;
	PGresult *res;
	int rc = 0;

	if (n == 0)
		return 0;
	mg_buf_adds(&arr, "ARRAY[");
	for (size_t i = 0; i < n; i++) {
		mg_buf_adds(&arr, i ? ", to_regclass(" : "to_regclass(");
		add_literal(&arr, tables[i]);
		mg_buf_adds(&arr, ")");
	}
	mg_buf_adds(&arr, "]::oid[]");
	mg_buf_addf(&sql,
		"SELECT a.pid::text, coalesce(nullif(a.application_name, ''), '(none)'), "
		"coalesce(a.state, ''), extract(epoch FROM now() - a.xact_start)::bigint::text, "
		"left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 160), "
		"l.relation::regclass::text "
		"FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
		"WHERE l.relation = ANY(%s) AND a.pid <> pg_backend_pid() "
		"AND a.xact_start < now() - make_interval(secs => %d) "
		"UNION ALL "
		"SELECT 'prepared transaction ' || p.gid, '(prepared)', 'prepared', "
		"extract(epoch FROM now() - p.prepared)::bigint::text, '', "
		"l.relation::regclass::text "
		"FROM pg_locks l JOIN pg_prepared_xacts p "
		"ON l.virtualtransaction = '-1/' || p.transaction::text "
		"WHERE l.relation = ANY(%s) AND l.pid IS NULL "
		"ORDER BY 4 DESC LIMIT 5",
		arr.buf, pc->opts.max_tx_age_s, arr.buf);
	res = query_pc(pc, sql.buf, err);
	if (!res) {
		rc = -1;
	} else if (PQntuples(res) > 0) {
		struct mg_buf who = MG_BUF_INIT;

		for (int i = 0; i < PQntuples(res); i++)
			mg_buf_addf(&who, "%spid %s (application '%s', %s, transaction open %s s) holds a lock on %s: %s",
				    i ? "; " : "", PQgetvalue(res, i, 0),
				    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
				    PQgetvalue(res, i, 3), PQgetvalue(res, i, 5),
				    PQgetvalue(res, i, 4));
		mg_err_set(err, MG_EREFUSED,
			   "refusing to change the table while a long transaction holds a lock on it: %s",
			   who.buf);
		mg_err_hint(err, "wait for it to finish (or end it: SELECT pg_terminate_backend(PID)), then run the command again; --max-tx-age sets the limit (now %d s)",
			    pc->opts.max_tx_age_s);
		mg_buf_release(&who);
		rc = -1;
	}
	PQclear(res);
	mg_buf_release(&sql);
	mg_buf_release(&arr);
	return rc;
}
