/*
 * places.c - the PostgreSQL driver: a colour's sessions counted everywhere
 * the application connects (issue 17): the primary, the standbys named
 * with standby=HOST:PORT and the PgBouncers named with pooler=HOST:PORT
 * (url.h).
 *
 * - On the primary and on each standby, pg_stat_activity: its sessions of
 *   this database whose application_name passes the filter.
 * - On a pooler, its admin console (database "pgbouncer", the URL's user,
 *   who must be in stats_users): SHOW DATABASES says which of its
 *   databases lead to this database (by database name: a pooler database
 *   of the same name on another server counts too, the safe side), SHOW
 *   CLIENTS lists their clients with the application_name each sent
 *   (PgBouncer 1.18+ shows it; older ones have no such column: an
 *   error), idle clients included: in transaction mode an idle client
 *   holds no server connection, so the database never sees it. The
 *   names are matched by the primary itself (the same LIKE filter over
 *   an array of them), so a glob means exactly what it means there.
 * - PgBouncer's own server connections are not the application's
 *   sessions: a server connection keeps the application_name of the last
 *   client it served long after that client left (transaction mode does
 *   not reset it), so it would keep a retired colour alive for
 *   server_idle_timeout. SHOW SERVERS gives each one's backend pid and
 *   local port, and the primary and standbys leave out the sessions with
 *   that pid and client_port: the pooler's clients stand for them.
 *
 * The count is kept place by place (the primary first, then each place
 * in the URL's order) from one walk, one query per place: the names the
 * poolers show are counted by the primary in one query, grouped by the
 * pooler each came from. count_sessions is the sum.
 *
 * A place that cannot be read makes the whole count fail (-1, the place
 * named in err, a hint saying what to do): its sessions cannot be seen,
 * so the colour counts as alive.
 */
#include "pg.h"
#include "places.h"

#include <stdlib.h>
#include <string.h>

/* What the poolers show: their clients' names and their server connections. */
struct pooled {
	struct mg_strlist names;	/* application_name of each client of this database */
	struct mg_buf from;		/* "0,0,2": the pooler (places.list index) of each name */
	struct mg_buf servers;		/* "(pid,port),(pid,port)" */
};

/* What an operator does about an unreadable place. */
static int place_hint(const struct pgdrv_place *pl, struct mg_err *err)
{
	if (pl->kind == PGDRV_POOLER)
		return mg_err_hint(err, "check that PgBouncer runs at %s and that the user migrate connects as is in its stats_users (docs/grants.md); if this pooler is gone for good, remove pooler=%s from the URL",
				   pl->name, pl->name);
	return mg_err_hint(err, "check that the standby at %s runs and accepts the URL's user; if it is gone for good, remove standby=%s from the URL",
			   pl->name, pl->name);
}

/* The column of res called name, or -1 with err naming the pooler. */
static int column(const PGresult *res, const char *name, const struct pgdrv_place *pl,
		  struct mg_err *err)
{
	int k = PQfnumber(res, name);

	if (k < 0)
		mg_err_set(err, MG_EDB, "on pooler %s: its SHOW output has no %s column (PgBouncer 1.18 or later shows the clients' application_name)",
			   pl->name, name);
	return k;
}

/* The names of pooler i's databases that lead to database db (a
 * pooler database name may differ from the server's database name). */
static int pooler_databases(struct pgdrv_conn *pc, size_t i, const char *db,
			    struct mg_strlist *out, struct mg_err *err)
{
	PGresult *res = pgdrv_place_query(pc, i, "SHOW DATABASES", pc->opts.network_timeout_ms, err);
	int kname, kdb;

	if (!res)
		return -1;
	kname = column(res, "name", &pc->places.list[i], err);
	kdb = kname < 0 ? -1 : column(res, "database", &pc->places.list[i], err);
	for (int r = 0; kdb >= 0 && r < PQntuples(res); r++) {
		const char *target = PQgetisnull(res, r, kdb) ? PQgetvalue(res, r, kname)
							      : PQgetvalue(res, r, kdb);

		if (!strcmp(target, db))
			mg_strlist_push(out, PQgetvalue(res, r, kname));
	}
	PQclear(res);
	return kdb < 0 ? -1 : 0;
}

/*
 * The rows of "SHOW what" on pooler i whose database is one of dbs: each
 * client's application_name into out->names (what = CLIENTS), each
 * server connection's (pid, local port) into out->servers (SERVERS).
 */
static int pooler_rows(struct pgdrv_conn *pc, size_t i, const char *what,
		       const struct mg_strlist *dbs, struct pooled *out, struct mg_err *err)
{
	const struct pgdrv_place *pl = &pc->places.list[i];
	int clients = !strcmp(what, "CLIENTS");
	char *sql = mg_xasprintf("SHOW %s", what);
	PGresult *res = pgdrv_place_query(pc, i, sql, pc->opts.network_timeout_ms, err);
	int kdb, ka, kb = 0;

	free(sql);
	if (!res)
		return -1;
	kdb = column(res, "database", pl, err);
	ka = kdb < 0 ? -1 : column(res, clients ? "application_name" : "remote_pid", pl, err);
	if (ka >= 0 && !clients)
		kb = column(res, "local_port", pl, err);
	for (int r = 0; ka >= 0 && kb >= 0 && r < PQntuples(res); r++) {
		if (!mg_strlist_contains(dbs, PQgetvalue(res, r, kdb)))
			continue;
		if (clients) {
			mg_strlist_push(&out->names, PQgetvalue(res, r, ka));
			mg_buf_addf(&out->from, "%s%zu", out->from.len ? "," : "", i);
		} else if (atol(PQgetvalue(res, r, ka)) > 0)	/* 0: not connected yet */
			mg_buf_addf(&out->servers, "%s(%ld,%ld)", out->servers.len ? "," : "",
				    atol(PQgetvalue(res, r, ka)), atol(PQgetvalue(res, r, kb)));
	}
	PQclear(res);
	return ka < 0 || kb < 0 ? -1 : 0;
}

/* What pooler i shows of database db's clients and server connections. */
static int read_pooler(struct pgdrv_conn *pc, size_t i, const char *db,
		       struct pooled *out, struct mg_err *err)
{
	struct mg_strlist dbs = MG_STRLIST_INIT;
	int rc = pooler_databases(pc, i, db, &dbs, err);

	if (rc == 0 && dbs.n > 0)
		rc = pooler_rows(pc, i, "SERVERS", &dbs, out, err);
	if (rc == 0 && dbs.n > 0)
		rc = pooler_rows(pc, i, "CLIENTS", &dbs, out, err);
	mg_strlist_release(&dbs);
	if (rc < 0)
		place_hint(&pc->places.list[i], err);
	return rc;
}

/* The poolers' client names that pass the filter, counted by the primary
 * (one query, grouped by pooler) into out->list[1 + pooler]. */
static int count_names(struct pgdrv_conn *pc, const struct pooled *p, const char *filter,
		       struct mg_place_counts *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;

	if (p->names.n == 0)
		return 0;
	mg_buf_adds(&sql, "SELECT place, count(*) FROM unnest(ARRAY[");
	for (size_t k = 0; k < p->names.n; k++) {
		mg_buf_adds(&sql, k ? ", " : "");
		add_literal(&sql, p->names.items[k]);
	}
	mg_buf_addf(&sql, "]::text[], ARRAY[%s]::int[]) AS pooled(application_name, place) "
		    "WHERE true%s GROUP BY place", p->from.buf, filter);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	for (int r = 0; r < PQntuples(res); r++) {
		size_t i = (size_t)strtoul(PQgetvalue(res, r, 0), NULL, 10);

		assert(i < pc->places.n);
		out->list[1 + i].sessions = strtoll(PQgetvalue(res, r, 1), NULL, 10);
	}
	PQclear(res);
	return 0;
}

/* The sessions of this database that pass the filter, the poolers'
 * server connections left out. */
static void session_sql(struct mg_buf *sql, const char *filter, const struct pooled *p)
{
	mg_buf_addf(sql, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
		    "AND pid <> pg_backend_pid()%s", filter);
	if (p->servers.len)
		mg_buf_addf(sql, " AND (pid, coalesce(client_port, -1)) NOT IN (VALUES %s)",
			    p->servers.buf);
}

/* The count on standby i. */
static int count_on_standby(struct pgdrv_conn *pc, size_t i, const char *sql,
			    int64_t *out, struct mg_err *err)
{
	PGresult *res = pgdrv_place_query(pc, i, sql, pc->opts.network_timeout_ms, err);

	if (!res)
		return place_hint(&pc->places.list[i], err);
	*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* out: "primary", then each place of the URL in its order, all at 0. */
static void list_places(const struct pgdrv_conn *pc, struct mg_place_counts *out)
{
	mg_place_counts_add(out, "primary", NULL, 0);
	for (size_t i = 0; i < pc->places.n; i++)
		mg_place_counts_add(out, pc->places.list[i].kind == PGDRV_POOLER ? "pooler" : "standby",
				    pc->places.list[i].name, 0);
}

int pgdrv_count_at_places(struct pgdrv_conn *pc, const char *filter,
			  struct mg_place_counts *out, struct mg_err *err)
{
	struct pooled p = { MG_STRLIST_INIT, MG_BUF_INIT, MG_BUF_INIT };
	struct mg_buf sql = MG_BUF_INIT;
	const char *db = PQdb(pc->pg);
	char *v = NULL;
	int rc = 0;

	list_places(pc, out);
	for (size_t i = 0; rc == 0 && i < pc->places.n; i++)	/* poolers first: */
		if (pc->places.list[i].kind == PGDRV_POOLER)	/* their servers go */
			rc = read_pooler(pc, i, db, &p, err);
	if (rc == 0)
		rc = count_names(pc, &p, filter, out, err);
	session_sql(&sql, filter, &p);
	if (rc == 0)
		rc = query_scalar(pc, sql.buf, &v, err);
	out->list[0].sessions = v ? strtoll(v, NULL, 10) : 0;
	for (size_t i = 0; rc == 0 && i < pc->places.n; i++)
		if (pc->places.list[i].kind == PGDRV_STANDBY)
			rc = count_on_standby(pc, i, sql.buf, &out->list[1 + i].sessions, err);
	free(v);
	mg_buf_release(&sql);
	mg_buf_release(&p.servers);
	mg_buf_release(&p.from);
	mg_strlist_release(&p.names);
	return rc;
}
