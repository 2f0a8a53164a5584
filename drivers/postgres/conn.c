/*
 * conn.c - the PostgreSQL driver: connection, parameters, errors, quoting and the
 * fingerprint.
 */
#include "pg.h"

struct pgdrv_conn *downcast(struct mg_conn *c)
{
	assert(c && c->drv == &mg_postgres_driver);
	return (struct pgdrv_conn *)c;
}

/* ==== connection and errors ============================================== */

int pgdrv_accepts(const char *url)
{
	if (strncmp(url, "postgres://", 11) == 0 ||
	    strncmp(url, "postgresql://", 13) == 0)
		return 1;
	/* a libpq conninfo string: keyword=value pairs */
	return strchr(url, '=') != NULL && strstr(url, "://") == NULL;
}

/* Copy the first line of a libpq message, without the trailing newline. */
static void first_line(char *out, size_t size, const char *msg)
{
	size_t n = strcspn(msg ? msg : "", "\n");

	if (n >= size)
		n = size - 1;
	memcpy(out, msg ? msg : "", n);
	out[n] = '\0';
}

const char *sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "";
}

/* Which grant is missing, from the words of "permission denied for
 * schema app" / "must be owner of table users" / "permission denied for
 * table users". */
static void permission_hint(struct mg_err *err, const char *primary)
{
	static const char schema[] = "permission denied for schema ";

	if (!strncmp(primary, schema, sizeof(schema) - 1))
		mg_err_hint(err, "the role needs CREATE on schema %s: GRANT CREATE ON SCHEMA %s TO <role> (see docs/grants.md)",
			    primary + sizeof(schema) - 1, primary + sizeof(schema) - 1);
	else
		mg_err_hint(err, "the role needs to own the table, or be a member of its owner role (see docs/grants.md)");
}

/*
 * Set err from a failed result: the server's message, its DETAIL when there
 * is one, and an exit class from the SQLSTATE (constraint and dependency
 * failures are refusals, everything else a database error).
 */
int set_result_error(struct mg_err *err, const PGresult *res,
		     struct pgdrv_conn *pc, const char *context)
{
	const char *state = sqlstate(res);
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	char line[1024];
	int code = MG_EDB;

	if (!res && pc->net_error[0]) {
		mg_err_set(err, MG_EDB, "%s%s%s", context ? context : "",
			   context ? ": " : "", pc->net_error);
		if (mg_stop_requested)
			return mg_err_hint(err, "run the same command again: it resumes where it stopped");
		return mg_err_hint(err, "check the network to the server (--network-timeout sets how long a silent server is waited for), then run the same command again: it resumes where it stopped");
	}
	if (!primary) {
		first_line(line, sizeof(line), PQerrorMessage(pc->pg));
		primary = line;
	}
	if (!strcmp(state, "23505") || !strcmp(state, "23514") ||
	    !strcmp(state, "23503") || !strcmp(state, "23502") ||
	    !strcmp(state, "2BP01"))
		code = MG_EREFUSED;
	mg_err_set(err, code, "%s%s%s%s%s", context ? context : "",
		   context ? ": " : "", primary, detail ? " (" : "",
		   detail ? detail : "");
	if (detail) {
		size_t n = strlen(err->msg);

		if (n > 0 && err->msg[n - 1] == '.')
			err->msg[n - 1] = '\0';
		snprintf(err->msg + strlen(err->msg),
			 sizeof(err->msg) - strlen(err->msg), ")");
	}
	if (!strcmp(state, "42501"))
		permission_hint(err, primary);
	else if (PQstatus(pc->pg) == CONNECTION_BAD || !strcmp(state, "57P01"))
		mg_err_hint(err, "%s", MG_SESSION_ENDED_HINT);
	return -1;
}


void pgdrv_close(struct mg_conn *c)
{
	struct pgdrv_conn *pc;

	if (!c)
		return;
	pc = downcast(c);
	if (PQisBusy(pc->pg))
		give_up(pc);	/* PQfinish must not wait on a dead link */
	PQfinish(pc->pg);
	for (size_t i = 0; i < pc->places.n; i++)
		pgdrv_place_drop(pc, i);
	free(pc->place_pg);
	pgdrv_places_release(&pc->places);
	free(pc->libpq_url);
	free(pc->guard);
	free(pc);
}

static void notice_quiet(void *arg, const char *message)
{
	(void)arg;
	mg_debug("server: %.*s", (int)strcspn(message, "\n"), message);
}

/*
 * Connection parameters migrate supplies when the URL (or conninfo) does
 * not: TCP keepalives and tcp_user_timeout, so that a dead link fails a
 * wait instead of hanging it for the kernel's ~15 min retransmission
 * timeout, and connect_timeout (also left to PGCONNECT_TIMEOUT when that
 * is set). They go into keys[] before "dbname": PQconnectdbParams expands
 * the URL at "dbname" and a later keyword overrides an earlier one, so
 * whatever the URL says wins.
 */
struct pgdrv_params {
	const char *keys[12];
	const char *vals[12];
	char num[5][16];
	int n;
};

static void param_add(struct pgdrv_params *p, const char *key, const char *val)
{
	assert(p->n + 1 < (int)(sizeof(p->keys) / sizeof(*p->keys)));
	p->keys[p->n] = key;
	p->vals[p->n] = val;
	p->n++;
	p->keys[p->n] = NULL;
	p->vals[p->n] = NULL;
}

static void param_add_int(struct pgdrv_params *p, int slot, const char *key, int v)
{
	snprintf(p->num[slot], sizeof(p->num[slot]), "%d", v);
	param_add(p, key, p->num[slot]);
}

static void default_params(struct pgdrv_params *p, int network_ms)
{
	int s = (network_ms + 999) / 1000;
	const char *env = getenv("PGCONNECT_TIMEOUT");

	memset(p, 0, sizeof(*p));
	if (!env || !*env)
		param_add_int(p, 0, "connect_timeout", s < 2 ? 2 : s);
	param_add(p, "keepalives", "1");
	param_add_int(p, 1, "keepalives_idle", s);
	param_add_int(p, 2, "keepalives_interval", s / 3 > 0 ? s / 3 : 1);
	param_add(p, "keepalives_count", "3");
	param_add_int(p, 3, "tcp_user_timeout", network_ms * 2);
}

static int network_ms(const struct mg_conn_opts *opts)
{
	return opts && opts->network_timeout_ms > 0 ? opts->network_timeout_ms
						    : MG_NETWORK_TIMEOUT_MS;
}

/*
 * PostgreSQL 14+ checks, while a statement runs, that the client is still
 * there, and cancels the statement of one that went away (an index build
 * otherwise runs on after migrate was killed). Best effort: older
 * servers do not have the setting.
 */
static void check_client_while_running(PGconn *pg, int network_ms)
{
	char sql[96];

	if (PQserverVersion(pg) < 140000)
		return;
	snprintf(sql, sizeof(sql), "SET client_connection_check_interval = %d", network_ms);
	PQclear(PQexec(pg, sql));
}

int pgdrv_connect(struct mg_conn **out, const char *url,
		  const struct mg_conn_opts *opts, struct mg_err *err)
{
	struct pgdrv_params p;
	struct pgdrv_places places;
	struct pgdrv_conn *pc;
	char *libpq_url;
	PGconn *pg;

	*out = NULL;
	if (pgdrv_take_places(url, &libpq_url, &places, err) < 0)
		return -1;
	if (pgdrv_check_url(libpq_url, err) < 0) {
		free(libpq_url);
		pgdrv_places_release(&places);
		return -1;
	}
	default_params(&p, network_ms(opts));
	param_add(&p, "dbname", libpq_url);
	param_add(&p, "application_name", opts && opts->application_name ?
		  opts->application_name : "migrate");
	pg = PQconnectdbParams(p.keys, p.vals, 1);
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		char *shown = mg_redact_url(url);
		char line[1024];

		first_line(line, sizeof(line), pg ? PQerrorMessage(pg) : "out of memory");
		mg_err_set(err, MG_EDB, "cannot connect to '%s': %s", shown, line);
		mg_err_hint(err, "check --database (or MIGRATE_DATABASE_URL) and that the server is up");
		free(shown);
		PQfinish(pg);
		free(libpq_url);
		pgdrv_places_release(&places);
		return -1;
	}
	if (PQserverVersion(pg) < 110000) {
		mg_err_set(err, MG_EDB, "PostgreSQL %d is too old: migrate needs 11 or later",
			   PQserverVersion(pg) / 10000);
		PQfinish(pg);
		free(libpq_url);
		pgdrv_places_release(&places);
		return -1;
	}
	PQsetNoticeProcessor(pg, notice_quiet, NULL);
	check_client_while_running(pg, network_ms(opts));
	pc = mg_xcalloc(1, sizeof(*pc));
	pc->base.drv = &mg_postgres_driver;
	pc->pg = pg;
	pc->libpq_url = libpq_url;
	pc->places = places;
	pc->place_pg = mg_xcalloc(places.n ? places.n : 1, sizeof(*pc->place_pg));
	if (opts)
		pc->opts = *opts;
	if (opts && opts->lock_holder)
		pc->guard = mg_xstrdup(opts->lock_holder);
	pc->opts.lock_holder = NULL;	/* borrowed: pc->guard is the copy */
	if (!pc->opts.lock_timeout_ms)
		pc->opts.lock_timeout_ms = 500;
	if (!pc->opts.statement_timeout_ms)
		pc->opts.statement_timeout_ms = 10000;
	if (!pc->opts.max_tx_age_s)
		pc->opts.max_tx_age_s = 5;
	if (pc->opts.lock_retries <= 0)
		pc->opts.lock_retries = 5;
	pc->opts.network_timeout_ms = network_ms(opts);
	pc->opts.application_name = NULL;	/* borrowed: not ours to keep */
	*out = &pc->base;
	return 0;
}

/* ==== places: standbys and poolers (url.h) ================================================ */

#define PGDRV_PLACE_CONNECT_S "3"	/* a place that does not answer is unreadable, fast */

PGconn *pgdrv_place_session(struct pgdrv_conn *pc, size_t i, const char *dbname,
			    struct mg_err *err)
{
	const struct pgdrv_place *pl = &pc->places.list[i];
	const char *keys[8], *vals[8];
	char port[8], line[512];
	int n = 0;
	PGconn *pg;

	assert(i < pc->places.n);
	if (pc->place_pg[i] && PQstatus(pc->place_pg[i]) == CONNECTION_OK)
		return pc->place_pg[i];
	pgdrv_place_drop(pc, i);
	snprintf(port, sizeof(port), "%u", pl->port);
	keys[n] = "connect_timeout", vals[n++] = PGDRV_PLACE_CONNECT_S;
	keys[n] = "dbname", vals[n++] = pc->libpq_url;	/* expanded: user, password, TLS */
	keys[n] = "host", vals[n++] = pl->host;
	keys[n] = "hostaddr", vals[n++] = "";		/* the URL's hostaddr is the primary's */
	keys[n] = "port", vals[n++] = port;
	if (dbname)
		keys[n] = "dbname", vals[n++] = dbname;	/* a later dbname is a plain name */
	keys[n] = "application_name", vals[n++] = "migrate/place";
	keys[n] = NULL, vals[n] = NULL;
	pg = PQconnectdbParams(keys, vals, 1);
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		first_line(line, sizeof(line), pg ? PQerrorMessage(pg) : "out of memory");
		mg_err_set(err, MG_EDB, "cannot connect to %s %s: %s",
			   pl->kind == PGDRV_POOLER ? "pooler" : "standby", pl->name, line);
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, notice_quiet, NULL);
	pc->place_pg[i] = pg;
	return pg;
}

PGresult *pgdrv_place_query(struct pgdrv_conn *pc, size_t i, const char *sql, int wait_ms,
			    struct mg_err *err)
{
	const struct pgdrv_place *pl = &pc->places.list[i];
	PGconn *pg = pgdrv_place_session(pc, i, pl->kind == PGDRV_POOLER ? "pgbouncer" : NULL, err);
	PGresult *res = NULL, *extra;
	char why[512];

	if (!pg)
		return NULL;
	if (!PQsendQuery(pg, sql))
		goto failed;
	if (!pgdrv_await_idle(pg, wait_ms)) {
		snprintf(why, sizeof(why), "no answer in %d ms", wait_ms);
		goto failed_why;
	}
	res = PQgetResult(pg);
	while ((extra = PQgetResult(pg)) != NULL)	/* the admin console's one result */
		PQclear(extra);
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
failed:
	first_line(why, sizeof(why), res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
failed_why:
	PQclear(res);
	pgdrv_place_drop(pc, i);
	mg_err_set(err, MG_EDB, "on %s %s: %s", pl->kind == PGDRV_POOLER ? "pooler" : "standby",
		   pl->name, why);
	return NULL;
}

void pgdrv_place_drop(struct pgdrv_conn *pc, size_t i)
{
	if (!pc->place_pg || !pc->place_pg[i])
		return;
	if (PQisBusy(pc->place_pg[i]))
		PQsetnonblocking(pc->place_pg[i], 1);	/* PQfinish must not wait */
	PQfinish(pc->place_pg[i]);
	pc->place_pg[i] = NULL;
}

void pgdrv_quote_ident(struct mg_buf *out, const char *name)
{
	mg_buf_addc(out, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			mg_buf_addc(out, '"');
		mg_buf_addc(out, *p);
	}
	mg_buf_addc(out, '"');
}

char *qi(const char *name)
{
	struct mg_buf b = MG_BUF_INIT;

	pgdrv_quote_ident(&b, name);
	return mg_buf_detach(&b);
}

/* Append s as a SQL string literal (standard_conforming_strings on). */
void add_literal(struct mg_buf *b, const char *s)
{
	mg_buf_addc(b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			mg_buf_addc(b, '\'');
		mg_buf_addc(b, *p);
	}
	mg_buf_addc(b, '\'');
}

char *lit(const char *s)
{
	struct mg_buf b = MG_BUF_INIT;

	add_literal(&b, s);
	return mg_buf_detach(&b);
}

/* First cell of the first row as a new string, NULL for no row / SQL NULL. */
int query_scalar(struct pgdrv_conn *pc, const char *sql, char **out,
		 struct mg_err *err)
{
	PGresult *res = query_pc(pc, sql, err);

	*out = NULL;
	if (!res)
		return -1;
	if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
		*out = mg_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

int pgdrv_fingerprint(struct mg_conn *c, struct mg_buf *out,
		      struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_err ignored = MG_ERR_INIT;
	char *sysid = NULL, *db = NULL;

	/* pg_control_system() may be revoked on managed servers: fall back
	 * to the database's oid, still enough to tell databases apart. */
	if (query_scalar(pc, "SELECT system_identifier::text FROM pg_control_system()",
			 &sysid, &ignored) < 0)
		sysid = NULL;
	if (query_scalar(pc, "SELECT d.oid::text || '/' || d.datname FROM pg_database d "
			 "WHERE d.datname = current_database()", &db, err) < 0) {
		free(sysid);
		return -1;
	}
	mg_buf_addf(out, "postgres:%s:%s", sysid ? sysid : "unknown-system", db ? db : "");
	free(sysid);
	free(db);
	return 0;
}
