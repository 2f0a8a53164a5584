/*
 * postgres.c - the PostgreSQL driver (libpq).
 *
 * Sections: connection and errors; catalog helpers; the history table;
 * locks and blockers; planning (what each operation does in each phase);
 * running steps; backfill batches and verification.
 *
 * Why it is shaped this way (design §6): each phase's DDL for a table runs in
 * one transaction that first takes its lock under lock_timeout, so no writer
 * ever sees a half-done phase; CREATE INDEX CONCURRENTLY runs outside any
 * transaction; constraints on the new column are added NOT VALID and
 * validated at switch-reads; the dual-write trigger skips the backfill's own
 * session through a WHEN clause, so the backfill pays no PL/pgSQL cost.
 */
#include "driver.h"
#include "sqltext.h"
#include "pg_url.h"

#include <assert.h>
#include <ctype.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#define PGDRV_LOCK_KEY "hashtextextended('migrate', 0)"
#define PGDRV_HISTORY "public.\"_migrate_history\""
#define PGDRV_MAX_IDENT 63

struct pgdrv_conn {
	struct mg_conn base;
	PGconn *pg;
	struct mg_conn_opts opts;
	int backfill_ready;	/* backfill session settings applied */
	int broken;		/* the link was given up: no more statements */
	char net_error[512];	/* why the last statement got no result */
	int locked;		/* this session took the migrate lock */
	int lock_pid;		/* its pid then (libpq forgets it on a lost connection) */
	char *guard;		/* pid of the lock's session (opts.lock_holder) */
};

static struct pgdrv_conn *downcast(struct mg_conn *c)
{
	assert(c && c->drv == &mg_postgres_driver);
	return (struct pgdrv_conn *)c;
}

/* ==== connection and errors ============================================== */

static int pgdrv_accepts(const char *url)
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

static const char *sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "";
}

/*
 * Set err from a failed result: the server's message, its DETAIL when there
 * is one, and an exit class from the SQLSTATE (constraint and dependency
 * failures are refusals, everything else a database error).
 */
static int set_result_error(struct mg_err *err, const PGresult *res,
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
		mg_err_hint(err, "the role needs to own the table (see docs/grants.md)");
	else if (PQstatus(pc->pg) == CONNECTION_BAD || !strcmp(state, "57P01"))
		mg_err_hint(err, "%s", MG_SESSION_ENDED_HINT);
	return -1;
}

static void give_up(struct pgdrv_conn *pc);

static void pgdrv_close(struct mg_conn *c)
{
	struct pgdrv_conn *pc;

	if (!c)
		return;
	pc = downcast(c);
	if (PQisBusy(pc->pg))
		give_up(pc);	/* PQfinish must not wait on a dead link */
	PQfinish(pc->pg);
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

static int pgdrv_connect(struct mg_conn **out, const char *url,
			 const struct mg_conn_opts *opts, struct mg_err *err)
{
	struct pgdrv_params p;
	struct pgdrv_conn *pc;
	PGconn *pg;

	*out = NULL;
	if (pgdrv_check_url(url, err) < 0)
		return -1;
	default_params(&p, network_ms(opts));
	param_add(&p, "dbname", url);
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
		return -1;
	}
	if (PQserverVersion(pg) < 110000) {
		mg_err_set(err, MG_EDB, "PostgreSQL %d is too old: migrate needs 11 or later",
			   PQserverVersion(pg) / 10000);
		PQfinish(pg);
		return -1;
	}
	PQsetNoticeProcessor(pg, notice_quiet, NULL);
	check_client_while_running(pg, network_ms(opts));
	pc = mg_xcalloc(1, sizeof(*pc));
	pc->base.drv = &mg_postgres_driver;
	pc->pg = pg;
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

/* ==== bounded waits ====================================================== */

/*
 * Every statement is sent with PQsendQuery and waited for with poll(),
 * never inside a blocking libpq call, so that:
 *  - a stop (SIGINT/SIGTERM, mg_stop_requested) is seen within
 *    PGDRV_SLICE_MS. The statement gets PGDRV_STOP_GRACE_MS to finish (a
 *    backfill batch does, and is checkpointed), then it is cancelled on the
 *    server; no statement starts after a stop.
 *  - a link that goes silent is noticed. After network_timeout_ms without
 *    a byte from the server, a second connection asks pg_stat_activity
 *    whether our backend is still running the statement (an index build
 *    is silent for as long as it takes, and that is fine). When it is not,
 *    or the second connection gets no answer within network_timeout_ms
 *    either, the statement is cancelled and the connection given up.
 * PQcancel in libpq 15 blocks with no timeout of its own (a frozen link
 * swallows the request), so it runs in a thread waited for a bounded time.
 */
#define PGDRV_SLICE_MS 100
#define PGDRV_STOP_GRACE_MS 1000
#define PGDRV_CANCEL_WAIT_MS 5000

static const char *stop_signal_name(void)
{
	return mg_stop_requested == SIGTERM ? "SIGTERM" :
	       mg_stop_requested == SIGINT ? "SIGINT" : "a signal";
}

/* Wait until sock is ready for events or ms pass; 1 ready, 0 not. */
static int wait_socket(int sock, short events, int64_t ms)
{
	struct pollfd pfd = { .fd = sock, .events = events };

	if (ms < 0)
		ms = 0;
	return poll(&pfd, 1, (int)ms) > 0;
}

struct canceller {
	pthread_mutex_t mu;
	PGcancel *cancel;
	int done;
	int abandoned;
};

static void canceller_free(struct canceller *c)
{
	PQfreeCancel(c->cancel);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void *cancel_main(void *arg)
{
	struct canceller *c = arg;
	char errbuf[256];
	int abandoned;

	PQcancel(c->cancel, errbuf, sizeof(errbuf));
	pthread_mutex_lock(&c->mu);
	c->done = 1;
	abandoned = c->abandoned;
	pthread_mutex_unlock(&c->mu);
	if (abandoned)
		canceller_free(c);
	return NULL;
}

/* Ask the server to cancel pg's statement; 1 when the request was
 * delivered within PGDRV_CANCEL_WAIT_MS, 0 otherwise. */
static int cancel_bounded(PGconn *pg)
{
	struct canceller *c = mg_xcalloc(1, sizeof(*c));
	int64_t until = mg_now_ms() + PGDRV_CANCEL_WAIT_MS;
	pthread_t t;
	int done = 0;

	pthread_mutex_init(&c->mu, NULL);
	c->cancel = PQgetCancel(pg);
	if (!c->cancel || pthread_create(&t, NULL, cancel_main, c) != 0) {
		canceller_free(c);
		return 0;
	}
	pthread_detach(t);
	while (mg_now_ms() < until) {
		pthread_mutex_lock(&c->mu);
		done = c->done;
		pthread_mutex_unlock(&c->mu);
		if (done)
			break;
		mg_sleep_ms(20);
	}
	pthread_mutex_lock(&c->mu);
	done = c->done;
	c->abandoned = !done;
	pthread_mutex_unlock(&c->mu);
	if (done)
		canceller_free(c);
	return done;
}

/* Read input until no result is pending (1), or ms pass with no byte (0). */
static int await_idle(PGconn *pg, int64_t ms)
{
	int64_t last = mg_now_ms();

	while (PQisBusy(pg)) {
		int64_t left = last + ms - mg_now_ms();

		if (left <= 0)
			return 0;
		if (wait_socket(PQsocket(pg), POLLIN, left < PGDRV_SLICE_MS ? left : PGDRV_SLICE_MS)) {
			if (!PQconsumeInput(pg))
				return 1;	/* lost: PQgetResult says so */
			last = mg_now_ms();
		}
	}
	return 1;
}

/* Connect the probe: the same server, user and options as pc. */
static PGconn *probe_connect(struct pgdrv_conn *pc, int64_t until)
{
	PQconninfoOption *info = PQconninfo(pc->pg);
	const char *keys[64], *vals[64];
	char timeout[16];
	int n = 0;
	PGconn *pg;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	snprintf(timeout, sizeof(timeout), "%d", (pc->opts.network_timeout_ms + 999) / 1000);
	for (PQconninfoOption *o = info; o && o->keyword && n < 60; o++)
		if (o->val && strcmp(o->keyword, "application_name") &&
		    strcmp(o->keyword, "connect_timeout")) {
			keys[n] = o->keyword;
			vals[n++] = o->val;
		}
	keys[n] = "application_name";
	vals[n++] = "migrate/probe";
	keys[n] = "connect_timeout";
	vals[n++] = timeout;
	keys[n] = NULL;
	vals[n] = NULL;
	pg = PQconnectStartParams(keys, vals, 0);
	PQconninfoFree(info);
	while (pg && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED &&
	       mg_now_ms() < until && !mg_stop_requested) {
		wait_socket(PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
			    PGDRV_SLICE_MS);
		st = PQconnectPoll(pg);
	}
	if (pg && st == PGRES_POLLING_OK)
		return pg;
	PQfinish(pg);
	return NULL;
}

/*
 * Is the server still running pc's statement? Asked on a second
 * connection. 1 yes (also when it waits for a lock, and when a stop cut
 * the question short: the caller handles the stop), 0 no: the probe got
 * no answer within network_timeout_ms, or the backend is idle (its result
 * is lost on the way) or blocked writing to us.
 */
static volatile int pgdrv_unreachable;

static int probe_alive(struct pgdrv_conn *pc)
{
	int64_t until = mg_now_ms() + pc->opts.network_timeout_ms;
	PGconn *pg;
	char sql[200];
	PGresult *res;
	int alive = 0;

	/* another connection found the server unreachable just now: do not
	 * wait for a second probe to find the same */
	if (__atomic_load_n(&pgdrv_unreachable, __ATOMIC_RELAXED))
		return 0;
	pg = probe_connect(pc, until);
	if (!pg && mg_stop_requested)
		return 1;
	__atomic_store_n(&pgdrv_unreachable, !pg, __ATOMIC_RELAXED);
	if (!pg)
		return 0;
	snprintf(sql, sizeof(sql),
		 "SELECT 1 FROM pg_stat_activity WHERE pid = %d AND state = 'active' "
		 "AND wait_event IS DISTINCT FROM 'ClientWrite'", PQbackendPID(pc->pg));
	if (PQsendQuery(pg, sql) && await_idle(pg, until - mg_now_ms())) {
		while ((res = PQgetResult(pg))) {
			if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
				alive = 1;
			PQclear(res);
		}
	}
	if (PQisBusy(pg))
		PQsetnonblocking(pg, 1);	/* PQfinish must not wait either */
	PQfinish(pg);
	return alive;
}

/* Stop using pc's connection: nothing more is sent or waited for. */
static void give_up(struct pgdrv_conn *pc)
{
	pc->broken = 1;
	PQsetnonblocking(pc->pg, 1);
}

/*
 * Cancel pc's running statement and read what is left of it, so that the
 * connection can be closed cleanly (releasing its locks on the server).
 * *why is the message of the statement's failure.
 */
static void cancel_statement(struct pgdrv_conn *pc, int link_ok, const char *why)
{
	snprintf(pc->net_error, sizeof(pc->net_error), "%s", why);
	/* a lost link: the probe could not reach the server (so neither can
	 * a cancel request), or found the statement no longer running */
	if (!link_ok || !cancel_bounded(pc->pg) ||
	    !await_idle(pc->pg, pc->opts.network_timeout_ms)) {
		give_up(pc);
		return;
	}
	for (PGresult *r; (r = PQgetResult(pc->pg));)
		PQclear(r);
}

/*
 * Wait for the next result of pc's statement: 1 it can be read without
 * blocking, 0 given up (pc->net_error says why, the statement was
 * cancelled).
 */
static int await_result(struct pgdrv_conn *pc)
{
	int64_t last = mg_now_ms(), stop_at = 0;
	int nt = pc->opts.network_timeout_ms;
	char why[512];

	while (PQisBusy(pc->pg)) {
		int64_t now = mg_now_ms();

		if (mg_stop_requested && !stop_at)
			stop_at = now + PGDRV_STOP_GRACE_MS;
		if (stop_at && now >= stop_at) {
			snprintf(why, sizeof(why), "interrupted by %s: the running statement was cancelled on the server",
				 stop_signal_name());
			cancel_statement(pc, 1, why);
			return 0;
		}
		if (now - last >= nt) {
			if (!probe_alive(pc)) {
				snprintf(why, sizeof(why), "no answer from the server for %d ms, and it does not show the statement running to a second connection: gave up the connection",
					 (int)(mg_now_ms() - last));
				cancel_statement(pc, 0, why);
				return 0;
			}
			last = mg_now_ms();
		}
		if (wait_socket(PQsocket(pc->pg), POLLIN, PGDRV_SLICE_MS)) {
			if (!PQconsumeInput(pc->pg))
				return 1;
			last = mg_now_ms();
		}
	}
	return 1;
}

/*
 * PQexec, bounded (see above): the result of the last statement in sql, or
 * of the first that failed; NULL when the wait was given up or no
 * statement could start (pc->net_error says why).
 */
static PGresult *exec_bounded_params(struct pgdrv_conn *pc, const char *sql,
				     int n, const char *const *values);

static PGresult *exec_bounded(struct pgdrv_conn *pc, const char *sql)
{
	return exec_bounded_params(pc, sql, -1, NULL);
}

/* exec_bounded with n text parameters (n < 0: the simple protocol, which
 * takes several statements; otherwise the extended one, exactly one). */
static PGresult *exec_bounded_params(struct pgdrv_conn *pc, const char *sql,
				     int n, const char *const *values)
{
	PGresult *keep = NULL, *r;
	int sent;

	pc->net_error[0] = '\0';
	if (pc->broken) {
		snprintf(pc->net_error, sizeof(pc->net_error), "the connection to the server was given up");
		return NULL;
	}
	if (mg_stop_requested) {
		snprintf(pc->net_error, sizeof(pc->net_error), "interrupted by %s", stop_signal_name());
		return NULL;
	}
	sent = n < 0 ? PQsendQuery(pc->pg, sql)
		     : PQsendQueryParams(pc->pg, sql, n, NULL, values, NULL, NULL, 0);
	if (!sent)
		return NULL;
	for (;;) {
		if (!await_result(pc)) {
			PQclear(keep);
			return NULL;
		}
		if (!(r = PQgetResult(pc->pg)))
			break;
		if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
			PQclear(r);
			continue;
		}
		PQclear(keep);
		keep = r;
	}
	return keep;
}

static int exec_pc(struct pgdrv_conn *pc, const char *sql, struct mg_err *err)
{
	PGresult *res = exec_bounded(pc, sql);
	int st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		set_result_error(err, res, pc, NULL);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Run sql, returning the result or NULL with err set (caller PQclear()s). */
static PGresult *query_pc(struct pgdrv_conn *pc, const char *sql,
			  struct mg_err *err)
{
	PGresult *res = exec_bounded(pc, sql);
	int st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		set_result_error(err, res, pc, NULL);
		PQclear(res);
		return NULL;
	}
	return res;
}

static int pgdrv_exec(struct mg_conn *c, const char *sql, struct mg_err *err)
{
	return exec_pc(downcast(c), sql, err);
}

static int pgdrv_query(struct mg_conn *c, const char *sql, struct mg_rows *out,
		       struct mg_err *err)
{
	PGresult *res = query_pc(downcast(c), sql, err);
	size_t nr, nc;

	memset(out, 0, sizeof(*out));
	if (!res)
		return -1;
	nr = (size_t)PQntuples(res);
	nc = (size_t)PQnfields(res);
	out->nrows = nr;
	out->ncols = nc;
	out->cells = mg_xcalloc(nr * nc + 1, sizeof(char *));
	for (size_t r = 0; r < nr; r++)
		for (size_t k = 0; k < nc; k++)
			if (!PQgetisnull(res, (int)r, (int)k))
				out->cells[r * nc + k] =
					mg_xstrdup(PQgetvalue(res, (int)r, (int)k));
	PQclear(res);
	return 0;
}

static void pgdrv_quote_ident(struct mg_buf *out, const char *name)
{
	mg_buf_addc(out, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			mg_buf_addc(out, '"');
		mg_buf_addc(out, *p);
	}
	mg_buf_addc(out, '"');
}

static char *qi(const char *name)
{
	struct mg_buf b = MG_BUF_INIT;

	pgdrv_quote_ident(&b, name);
	return mg_buf_detach(&b);
}

/* Append s as a SQL string literal (standard_conforming_strings on). */
static void add_literal(struct mg_buf *b, const char *s)
{
	mg_buf_addc(b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			mg_buf_addc(b, '\'');
		mg_buf_addc(b, *p);
	}
	mg_buf_addc(b, '\'');
}

static char *lit(const char *s)
{
	struct mg_buf b = MG_BUF_INIT;

	add_literal(&b, s);
	return mg_buf_detach(&b);
}

/* First cell of the first row as a new string, NULL for no row / SQL NULL. */
static int query_scalar(struct pgdrv_conn *pc, const char *sql, char **out,
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

static int pgdrv_fingerprint(struct mg_conn *c, struct mg_buf *out,
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

/* ==== locks and blockers ==================================================== */

static int pgdrv_lock(struct mg_conn *c, struct mg_err *err)
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
	if (res && PQntuples(res) > 0) {
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

static void pgdrv_unlock(struct mg_conn *c)
{
	struct mg_err ignored = MG_ERR_INIT;

	exec_pc(downcast(c), "SELECT pg_advisory_unlock(" PGDRV_LOCK_KEY ")", &ignored);
	downcast(c)->locked = 0;
}

static int pgdrv_lock_holder(struct mg_conn *c, struct mg_buf *out, struct mg_err *err)
{
	(void)err;
	mg_buf_addf(out, "%d", PQbackendPID(downcast(c)->pg));
	return 0;
}

static int pgdrv_lock_lost(struct mg_conn *c, struct mg_err *err)
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
static void add_lock_held(struct mg_buf *b, const char *pid)
{
	mg_buf_addf(b, "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' "
		    "AND l.granted AND l.pid = %d "
		    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
		    "AND l.classid::bigint = ((" PGDRV_LOCK_KEY " >> 32) & 4294967295) "
		    "AND l.objid::bigint = (" PGDRV_LOCK_KEY " & 4294967295))", atoi(pid));
}

/* The lock guard failed: MG_EDB saying whether the holder's session is
 * gone or let go of the lock; in_batch: a batch was rolled back. */
static int guard_lost(struct pgdrv_conn *pc, int in_batch, struct mg_err *err)
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

static int pgdrv_lock_check(struct mg_conn *c, struct mg_err *err)
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

static int pgdrv_check_blockers(struct mg_conn *c, const char *const *tables,
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

/* ==== history table ========================================================== */

static const char history_ddl[] =
	"CREATE TABLE IF NOT EXISTS " PGDRV_HISTORY " ("
	"migration_id integer PRIMARY KEY, name text NOT NULL, checksum text, "
	"phase text NOT NULL, step_phase text, step_index integer NOT NULL DEFAULT 0, "
	"state_id text NOT NULL, generation bigint NOT NULL, "
	"updated_at timestamptz NOT NULL DEFAULT now())";

static char *history_upsert_sql(const struct mg_history_write *w)
{
	struct mg_buf b = MG_BUF_INIT;

	mg_buf_addf(&b, "INSERT INTO " PGDRV_HISTORY " AS h (migration_id, name, checksum, "
		    "phase, step_phase, step_index, state_id, generation) VALUES (%d, ",
		    w->migration_id);
	add_literal(&b, w->name ? w->name : "");
	mg_buf_adds(&b, ", ");
	if (w->checksum)
		add_literal(&b, w->checksum);
	else
		mg_buf_adds(&b, "NULL");
	mg_buf_adds(&b, ", ");
	add_literal(&b, w->phase);
	mg_buf_adds(&b, ", ");
	if (w->step_phase)
		add_literal(&b, w->step_phase);
	else
		mg_buf_adds(&b, "NULL");
	mg_buf_addf(&b, ", %d, ", w->step_index);
	add_literal(&b, w->state_id ? w->state_id : "");
	mg_buf_adds(&b, ", (SELECT coalesce(max(generation), 0) + 1 FROM " PGDRV_HISTORY ")) "
		    "ON CONFLICT (migration_id) DO UPDATE SET name = excluded.name, "
		    "checksum = excluded.checksum, phase = excluded.phase, "
		    "step_phase = excluded.step_phase, step_index = excluded.step_index, "
		    "state_id = excluded.state_id, generation = excluded.generation, "
		    "updated_at = now()");
	return mg_buf_detach(&b);
}

static int pgdrv_history_read(struct mg_conn *c, struct mg_history *out,
			      struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	char *exists = NULL;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if (query_scalar(pc, "SELECT to_regclass('" PGDRV_HISTORY "')::text", &exists, err) < 0)
		return -1;
	if (!exists)
		return 0;
	free(exists);
	out->exists = 1;
	res = query_pc(pc, "SELECT migration_id, name, checksum, phase, step_phase, "
		       "step_index, state_id, generation FROM " PGDRV_HISTORY
		       " ORDER BY migration_id", err);
	if (!res)
		return -1;
	out->n = (size_t)PQntuples(res);
	out->rows = mg_xcalloc(out->n + 1, sizeof(*out->rows));
	for (size_t i = 0; i < out->n; i++) {
		struct mg_history_row *r = &out->rows[i];
		int row = (int)i;

		r->id = atoi(PQgetvalue(res, row, 0));
		r->name = mg_xstrdup(PQgetvalue(res, row, 1));
		r->checksum = PQgetisnull(res, row, 2) ? NULL : mg_xstrdup(PQgetvalue(res, row, 2));
		r->phase = mg_xstrdup(PQgetvalue(res, row, 3));
		r->step_phase = PQgetisnull(res, row, 4) ? NULL : mg_xstrdup(PQgetvalue(res, row, 4));
		r->step_index = atoi(PQgetvalue(res, row, 5));
		r->state_id = mg_xstrdup(PQgetvalue(res, row, 6));
		r->generation = strtoll(PQgetvalue(res, row, 7), NULL, 10);
		if (r->generation > out->generation)
			out->generation = r->generation;
	}
	PQclear(res);
	return 0;
}

static int pgdrv_history_write(struct mg_conn *c, const struct mg_history_write *w,
			       struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	char *up = history_upsert_sql(w);
	int rc;

	rc = exec_pc(pc, "BEGIN", err);
	if (!rc)
		rc = exec_pc(pc, history_ddl, err);
	if (!rc)
		rc = exec_pc(pc, up, err);
	if (!rc)
		rc = exec_pc(pc, "COMMIT", err);
	else {
		struct mg_err ignored = MG_ERR_INIT;

		exec_pc(pc, "ROLLBACK", &ignored);
	}
	free(up);
	if (rc)
		mg_err_prefix(err, "cannot write the history table: ");
	return rc;
}

/* ==== planning: catalog questions =============================================== */

/*
 * The core plans (src/planner.c); these answer its questions about the
 * catalog (driver.h: describe_table, describe_column, column_dependents,
 * check_expr, canonical_type, check_index, check_sql). Planning runs in
 * a transaction that is always rolled back (plan_begin / plan_end): the
 * expand SQL of `sql` steps runs in it, so that later operations see the
 * tables it creates. Catalog reads take no locks that block writers.
 */

#define pos_error mg_plan_pos_error
#define PGDRV_MSG sizeof(((struct mg_err *)0)->msg)

/* What the renderer needs to know of a table beyond struct mg_table_desc. */
struct pgdesc {
	char *oid;		/* text */
	char *qlit;		/* q as a string literal, for ::regclass */
	char *qschema;		/* "schema" */
};

static void pgdesc_free(void *p)
{
	struct pgdesc *d = p;

	if (!d)
		return;
	free(d->oid);
	free(d->qlit);
	free(d->qschema);
	free(d);
}

static const struct pgdesc *pgdesc(const struct mg_table_desc *t)
{
	return t->drv;
}

/* The connection and the migration, for the probes below. */
struct planner {
	struct pgdrv_conn *pc;
	const struct mg_migration *m;
	const struct mg_planner *core;
};

static struct planner planner_of(struct mg_conn *c, const struct mg_planner *pl)
{
	struct planner p = { downcast(c), pl->m, pl };

	return p;
}

/* Quote "schema.table" or "table" as written in a migration. */
static char *quote_table_name(const char *name)
{
	const char *dot = strchr(name, '.');
	struct mg_buf b = MG_BUF_INIT;

	if (dot) {
		char *schema = mg_xstrndup(name, (size_t)(dot - name));

		pgdrv_quote_ident(&b, schema);
		mg_buf_addc(&b, '.');
		free(schema);
		pgdrv_quote_ident(&b, dot + 1);
	} else {
		pgdrv_quote_ident(&b, name);
	}
	return mg_buf_detach(&b);
}

static int fetch_key(struct pgdrv_conn *pc, struct mg_table_desc *t, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;

	/* the primary key, else the narrowest unique, non-partial, plain
	 * index whose columns are all NOT NULL */
	mg_buf_addf(&sql,
		"WITH cand AS (SELECT i.indexrelid, i.indisprimary, i.indnkeyatts AS n "
		"FROM pg_index i WHERE i.indrelid = %s AND i.indisvalid AND i.indisunique "
		"AND i.indpred IS NULL AND i.indexprs IS NULL "
		"AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) k(a) JOIN pg_attribute a "
		"ON a.attrelid = i.indrelid AND a.attnum = k.a WHERE NOT a.attnotnull) "
		"ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid LIMIT 1) "
		"SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod) "
		"FROM cand JOIN pg_index i ON i.indexrelid = cand.indexrelid "
		"CROSS JOIN LATERAL unnest(i.indkey[0:cand.n - 1]) WITH ORDINALITY AS k(attnum, ord) "
		"JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
		"ORDER BY k.ord", pgdesc(t)->oid);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	t->key.n = (size_t)PQntuples(res);
	t->key.cols = mg_xcalloc(t->key.n + 1, sizeof(char *));
	t->key.types = mg_xcalloc(t->key.n + 1, sizeof(char *));
	for (size_t i = 0; i < t->key.n; i++) {
		/* quote_ident() quotes only when needed: quote always */
		const char *raw = PQgetvalue(res, (int)i, 0);

		if (raw[0] == '"')
			t->key.cols[i] = mg_xstrdup(raw);
		else
			t->key.cols[i] = qi(raw);
		t->key.types[i] = mg_xstrdup(PQgetvalue(res, (int)i, 1));
	}
	PQclear(res);
	if (!t->key.n)
		t->key_problem = "it has no primary key and no unique index over NOT NULL columns";
	return 0;
}

/* Resolve op->table; MG_EINPUT naming the file position when absent. */
static int pgdrv_describe_table(struct mg_conn *c, const struct mg_planner *pl,
				const struct mg_op *op, struct mg_table_desc *out,
				struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	char *q = quote_table_name(op->table);
	char *ql = lit(q);
	struct pgdesc *d;
	const char *kind;
	PGresult *res;

	mg_buf_addf(&sql, "SELECT c.oid::text, n.nspname, c.relname, c.relkind::text "
		    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
		    "WHERE c.oid = to_regclass(%s)", ql);
	free(ql);
	free(q);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		pos_error(err, MG_EINPUT, pl->m, op->table_pos,
			  "table '%s' does not exist", op->table);
		return mg_err_hint(err, "check the table name (schema-qualify it as schema.table if it is not on the search_path)");
	}
	d = mg_xcalloc(1, sizeof(*d));
	out->drv = d;
	out->drv_free = pgdesc_free;
	out->max_ident = PGDRV_MAX_IDENT;
	d->oid = mg_xstrdup(PQgetvalue(res, 0, 0));
	out->id = mg_xstrdup(d->oid);
	out->relname = mg_xstrdup(PQgetvalue(res, 0, 2));
	{
		struct mg_buf b = MG_BUF_INIT;

		pgdrv_quote_ident(&b, PQgetvalue(res, 0, 1));
		mg_buf_addc(&b, '.');
		pgdrv_quote_ident(&b, PQgetvalue(res, 0, 2));
		out->q = mg_buf_detach(&b);
	}
	d->qlit = lit(out->q);
	/* the schema is what comes before the last '.': wrong for table names
	 * holding a '.', as it always was (plans must not change) */
	d->qschema = mg_xstrndup(out->q, strlen(out->q) - strlen(strrchr(out->q, '.')));
	kind = PQgetvalue(res, 0, 3);
	if (strcmp(kind, "r") != 0) {
		pos_error(err, MG_EREFUSED, pl->m, op->table_pos,
			  "'%s' is not a plain table (relkind '%s'): %s",
			  op->table, kind,
			  !strcmp(kind, "p") ? "partitioned tables are not supported yet" :
			  "views and other relations cannot be migrated");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return fetch_key(pc, out, err);
}

/* 0 found, 1 absent, -1 error. The column's drv is its attnum (text). */
static int pgdrv_describe_column(struct mg_conn *c, const struct mg_planner *pl,
				 const struct mg_table_desc *t, const char *name,
				 struct mg_column_desc *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *nl = lit(name);
	PGresult *res;

	(void)pl;
	mg_buf_addf(&sql,
		"SELECT a.attnum::text, format_type(a.atttypid, a.atttypmod), "
		"CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation THEN "
		"(SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) "
		"FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace "
		"WHERE co.oid = a.attcollation) END, a.attnotnull::text, "
		"pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text, "
		"a.attgenerated::text, col_description(a.attrelid, a.attnum) "
		"FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid "
		"LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum "
		"WHERE a.attrelid = %s AND a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped",
		pgdesc(t)->oid, nl);
	free(nl);
	res = query_pc(downcast(c), sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 1;
	}
	out->drv = mg_xstrdup(PQgetvalue(res, 0, 0));
	out->drv_free = free;
	out->type = mg_xstrdup(PQgetvalue(res, 0, 1));
	out->collation = PQgetisnull(res, 0, 2) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 2));
	out->notnull = !strcmp(PQgetvalue(res, 0, 3), "true");
	out->default_expr = PQgetisnull(res, 0, 4) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 4));
	out->comment = PQgetisnull(res, 0, 7) ? NULL : mg_xstrdup(PQgetvalue(res, 0, 7));
	if (PQgetvalue(res, 0, 5)[0])
		out->unsupported = "is an identity column";
	else if (PQgetvalue(res, 0, 6)[0])
		out->unsupported = "is a generated column";
	else if (out->default_expr && strstr(out->default_expr, "nextval("))
		out->unsupported = "takes its default from a sequence (serial)";
	PQclear(res);
	return 0;
}

/* ---- dependents ----------------------------------------------------------- */

/* SQL returning one text per dependent that migrate neither copies nor lets
 * die with the column (views, policies, triggers, generated columns ...);
 * op (may be NULL) leaves out what it lists under drops:. */
static char *others_sql(const char *tqlit, const char *col, const struct mg_op *op)
{
	struct mg_buf b = MG_BUF_INIT;
	char *cl = lit(col);

	mg_buf_addf(&b,
		"WITH col AS (SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass "
		"AND attname = %s AND NOT attisdropped), deps AS ("
		"SELECT d.classid, d.objid, d.objsubid, "
		"CASE WHEN d.classid = 'pg_rewrite'::regclass THEN (SELECT CASE c.relkind WHEN 'm' "
		"THEN 'materialized view ' ELSE 'view ' END || c.oid::regclass::text "
		"FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE r.oid = d.objid) "
		"ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END AS what, "
		"CASE WHEN d.classid = 'pg_rewrite'::regclass THEN (SELECT c.relname::text "
		"FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE r.oid = d.objid) "
		"WHEN d.classid = 'pg_policy'::regclass THEN (SELECT polname::text FROM pg_policy WHERE oid = d.objid) "
		"WHEN d.classid = 'pg_trigger'::regclass THEN (SELECT tgname::text FROM pg_trigger WHERE oid = d.objid) "
		"WHEN d.classid = 'pg_class'::regclass THEN (SELECT relname::text FROM pg_class WHERE oid = d.objid) "
		"ELSE '' END AS name "
		"FROM pg_depend d, col WHERE d.refclassid = 'pg_class'::regclass "
		"AND d.refobjid = %s::regclass AND d.refobjsubid = col.attnum AND d.deptype IN ('n', 'a') "
		"AND d.classid <> 'pg_constraint'::regclass "
		"AND d.classid <> 'pg_statistic_ext'::regclass "
		"AND NOT (d.classid = 'pg_class'::regclass AND EXISTS (SELECT 1 FROM pg_index i "
		"WHERE i.indexrelid = d.objid AND i.indrelid = %s::regclass)) "
		"AND NOT (d.classid = 'pg_attrdef'::regclass AND EXISTS (SELECT 1 FROM pg_attrdef ad "
		"WHERE ad.oid = d.objid AND ad.adrelid = %s::regclass AND ad.adnum = col.attnum)) "
		") "
		"SELECT DISTINCT what, name, classid::regclass::text FROM deps",
		tqlit, cl, tqlit, tqlit, tqlit);
	if (op && op->n_drops) {
		mg_buf_adds(&b, " WHERE name NOT IN (");
		for (size_t i = 0; i < op->n_drops; i++) {
			if (i)
				mg_buf_adds(&b, ", ");
			add_literal(&b, op->drops[i]);
		}
		mg_buf_adds(&b, ")");
	}
	free(cl);
	return mg_buf_detach(&b);
}

/* Fill a dependent of each row of sql: columns name, what, def, child,
 * unique (text "true") as mapped by cols (-1: none). */
static int add_deps(struct pgdrv_conn *pc, const char *sql,
		    enum mg_dep_kind kind, const int cols[5],
		    struct mg_dependents *out, struct mg_err *err)
{
	PGresult *res = query_pc(pc, sql, err);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct mg_dependent *d = mg_dependents_add(out, kind);
		char **f[4] = { &d->name, &d->what, &d->def, &d->child };

		for (int k = 0; k < 4; k++)
			if (cols[k] >= 0)
				*f[k] = mg_xstrdup(PQgetvalue(res, i, cols[k]));
		if (cols[4] >= 0)
			d->unique = !strcmp(PQgetvalue(res, i, cols[4]), "true");
	}
	PQclear(res);
	return 0;
}

/* Views, policies, triggers, generated columns ... on the column; def is
 * the catalog they live in (pg_rewrite, pg_policy, pg_trigger, ...). */
static int others_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		     const char *col, struct mg_dependents *out,
		     struct mg_err *err)
{
	char *sql = others_sql(pgdesc(t)->qlit, col, NULL);
	size_t from = out->n;
	int rc = add_deps(pc, sql, MG_DEP_OBJECT, (const int[5]){ 1, 0, 2, -1, -1 },
			  out, err);

	free(sql);
	for (size_t i = from; i < out->n; i++) {
		const char *cls = out->v[i].def;

		out->v[i].droppable = !strcmp(cls, "pg_rewrite") ||
				      !strcmp(cls, "pg_policy") ||
				      !strcmp(cls, "pg_trigger");
	}
	return rc;
}

/* Append s to b as a regular expression matching s literally. */
static void add_regex_escaped(struct mg_buf *b, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (strchr("\\.^$|?*+()[]{}", *p))
			mg_buf_addc(b, '\\');
		mg_buf_addc(b, *p);
	}
}

/*
 * User triggers whose function's code names the column: PostgreSQL records
 * no dependency for PL/pgSQL bodies, so read the source.
 */
static int code_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		   const char *col, struct mg_dependents *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT, re = MG_BUF_INIT;
	int rc;

	mg_buf_adds(&re, "\\m");
	add_regex_escaped(&re, col);
	mg_buf_adds(&re, "\\M");
	mg_buf_addf(&sql, "SELECT t.tgname, p.oid::regprocedure::text FROM pg_trigger t "
		    "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = %s AND NOT t.tgisinternal "
		    "AND t.tgname NOT LIKE 'zz\\_migrate\\_%%' AND p.prosrc ~* ", pgdesc(t)->oid);
	add_literal(&sql, re.buf);
	mg_buf_adds(&sql, " ORDER BY 1");
	rc = add_deps(pc, sql.buf, MG_DEP_CODE, (const int[5]){ 0, 1, -1, -1, -1 },
		      out, err);
	mg_buf_release(&sql);
	mg_buf_release(&re);
	return rc;
}

/* Column privileges: def the privilege, child the grantee, unique the
 * grant option. */
static int grants_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		     const char *attnum, struct mg_dependents *out,
		     struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc;

	mg_buf_addf(&sql, "SELECT x.privilege_type, CASE WHEN x.grantee = 0 THEN 'PUBLIC' "
		    "ELSE quote_ident(pg_get_userbyid(x.grantee)) END, x.is_grantable::text "
		    "FROM pg_attribute a, aclexplode(a.attacl) x WHERE a.attrelid = %s AND a.attnum = %s "
		    "ORDER BY 2, 1", pgdesc(t)->oid, attnum);
	rc = add_deps(pc, sql.buf, MG_DEP_GRANT, (const int[5]){ -1, -1, 0, 1, 2 },
		      out, err);
	mg_buf_release(&sql);
	return rc;
}

/* Indexes on the table over the column, except those behind constraints. */
static int indexes_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		      const char *attnum, struct mg_dependents *out,
		      struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc;

	mg_buf_addf(&sql,
		"SELECT ic.relname, pg_get_indexdef(i.indexrelid), i.indisunique::text "
		"FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
		"WHERE i.indrelid = %s AND EXISTS (SELECT 1 FROM pg_depend d "
		"WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid "
		"AND d.refobjid = %s AND d.refobjsubid = %s) "
		"AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid "
		"AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')) ORDER BY 1",
		pgdesc(t)->oid, pgdesc(t)->oid, attnum);
	rc = add_deps(pc, sql.buf, MG_DEP_INDEX, (const int[5]){ 0, -1, 1, -1, 2 },
		      out, err);
	mg_buf_release(&sql);
	return rc;
}

/* Constraints of the table over the column: def the constraint's
 * definition, for a unique one the definition of its index. */
static int constraints_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
			  const char *attnum, struct mg_dependents *out,
			  struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	PGresult *res;

	mg_buf_addf(&sql,
		"SELECT k.conname, k.contype::text, pg_get_constraintdef(k.oid), "
		"coalesce(pg_get_indexdef(k.conindid), '') "
		"FROM pg_constraint k WHERE k.conrelid = %s AND %s = ANY(k.conkey) ORDER BY 1",
		pgdesc(t)->oid, attnum);
	res = query_pc(pc, sql.buf, err);
	mg_buf_release(&sql);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		char type = PQgetvalue(res, i, 1)[0];
		enum mg_dep_kind kind = type == 'c' ? MG_DEP_CHECK :
					type == 'u' ? MG_DEP_UNIQUE :
					type == 'f' ? MG_DEP_FOREIGN_KEY : MG_DEP_CONSTRAINT;
		struct mg_dependent *d = mg_dependents_add(out, kind);

		d->name = mg_xstrdup(PQgetvalue(res, i, 0));
		d->def = mg_xstrdup(PQgetvalue(res, i, kind == MG_DEP_UNIQUE ? 3 : 2));
		d->unique = kind == MG_DEP_UNIQUE;
	}
	PQclear(res);
	return 0;
}

/* Foreign keys of other tables that reference the column. */
static int inbound_of(struct pgdrv_conn *pc, const struct mg_table_desc *t,
		      const char *attnum, struct mg_dependents *out,
		      struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc;

	mg_buf_addf(&sql,
		"SELECT k.conname, quote_ident(n.nspname) || '.' || quote_ident(r.relname), "
		"pg_get_constraintdef(k.oid) FROM pg_constraint k "
		"JOIN pg_class r ON r.oid = k.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
		"WHERE k.contype = 'f' AND k.confrelid = %s AND %s = ANY(k.confkey) ORDER BY 1",
		pgdesc(t)->oid, attnum);
	rc = add_deps(pc, sql.buf, MG_DEP_INBOUND_FK, (const int[5]){ 0, -1, 2, 1, -1 },
		      out, err);
	mg_buf_release(&sql);
	return rc;
}

static int pgdrv_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
				   const struct mg_table_desc *t, const char *col,
				   const struct mg_column_desc *cd,
				   struct mg_dependents *out, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	const char *attnum = cd->drv;

	(void)pl;
	if (others_of(pc, t, col, out, err) < 0 ||
	    code_of(pc, t, col, out, err) < 0 ||
	    grants_of(pc, t, attnum, out, err) < 0 ||
	    indexes_of(pc, t, attnum, out, err) < 0 ||
	    constraints_of(pc, t, attnum, out, err) < 0 ||
	    inbound_of(pc, t, attnum, out, err) < 0)
		return -1;
	return 0;
}

/* ---- expressions and types ----------------------------------------------- */

/*
 * Run one statement of the planner's own making with text parameters, in
 * a savepoint: the extended protocol takes exactly one statement, so text
 * from the migration file inside it cannot start another. 0 with *out set
 * (may be NULL: then cleared here), 1 when the server refused it (its
 * message in msg, its SQLSTATE in state), -1 with err set when the
 * savepoint itself fails.
 */
static int probe(struct planner *pl, const char *sql, int n, const char *const *values,
		 PGresult **out, char msg[PGDRV_MSG], char state[6], struct mg_err *err)
{
	PGresult *res;
	struct mg_err why = MG_ERR_INIT;

	if (exec_pc(pl->pc, "SAVEPOINT mg_probe", err) < 0)
		return -1;
	res = exec_bounded_params(pl->pc, sql, n, values);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_result_error(&why, res, pl->pc, NULL);
		snprintf(msg, PGDRV_MSG, "%s", why.msg);
		snprintf(state, 6, "%s", sqlstate(res));
		PQclear(res);
		return exec_pc(pl->pc, "ROLLBACK TO SAVEPOINT mg_probe", err) < 0 ? -1 : 1;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return exec_pc(pl->pc, "RELEASE SAVEPOINT mg_probe", err);
}

/* The lexical check of an expression (sqltext.h), with its position. */
static int check_expr_text(struct planner *pl, const char *what, const char *expr,
			   struct mg_pos pos, struct mg_err *err)
{
	const char *why;

	if (mg_sqltext_check_expr(expr, MG_SQL_POSTGRES, &why) == 0)
		return 0;
	pos_error(err, MG_EINPUT, pl->m, pos, "%s '%s' %s", what, expr, why);
	return mg_err_hint(err, "write one SQL expression: no ';', no comments, balanced parentheses; statements of their own belong in a sql step");
}

/* A typo in an expression would break every write through the trigger:
 * evaluate it against the table (no rows read) before anything changes. */
static int check_row_expr(struct planner *pl, const struct mg_table_desc *t,
			  const char *expr, struct mg_pos pos, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6];
	char *sql;
	int rc;

	if (check_expr_text(pl, "expression", expr, pos, err) < 0)
		return -1;
	sql = mg_xasprintf("SELECT (%s) FROM %s LIMIT 0", expr, t->q);
	rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
	free(sql);
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, pos,
			  "expression '%s' does not work on %s: %s", expr, t->q, msg);
		return mg_err_hint(err, "write an expression over the columns of %s", t->q);
	}
	return rc;
}

/* `where:` is one boolean expression over t. A column that an earlier
 * operation adds does not exist while planning: then only the text is
 * checked here, and the server checks the rest at expand. */
static int check_where(struct planner *pl, const char *where, struct mg_pos pos,
		       const struct mg_table_desc *t, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6];
	char *sql;
	int rc;

	if (check_expr_text(pl, "where", where, pos, err) < 0)
		return -1;
	sql = mg_xasprintf("SELECT 1 FROM %s WHERE (%s) LIMIT 0", t->q, where);
	rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
	free(sql);
	if (rc == 1 && !(strcmp(state, "42703") == 0 &&
			 mg_planner_adds_columns(pl->core, t))) {
		pos_error(err, MG_EINPUT, pl->m, pos,
			  "where '%s' is not a boolean expression over %s: %s",
			  where, t->q, msg);
		return mg_err_hint(err, "write one condition over the columns of %s, e.g. deleted_at IS NULL", t->q);
	}
	return rc < 0 ? -1 : 0;
}

static int pgdrv_check_expr(struct mg_conn *c, const struct mg_planner *pl,
			    const struct mg_table_desc *t, enum mg_expr_use use,
			    const char *expr, struct mg_pos pos, struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	switch (use) {
	case MG_EXPR_ROW:
		return check_row_expr(&p, t, expr, pos, err);
	case MG_EXPR_WHERE:
		return check_where(&p, expr, pos, t, err);
	case MG_EXPR_TEXT:
		break;
	}
	return check_expr_text(&p, "expression", expr, pos, err);
}

/*
 * The type of a new column, as the server spells it (format_type): the
 * text must be exactly one type name (to_regtype parses it as such and
 * nothing else), and its modifier (varchar(20), numeric(10,2)) is the one
 * a NULL cast to it has. *out is owned by the caller.
 */
static int canonical_type_name(struct planner *pl, const struct mg_op *op, const char *text,
			       char **out, struct mg_err *err)
{
	char msg[PGDRV_MSG], state[6], mod[16];
	const char *v[2];
	PGresult *res = NULL;
	char *oid = NULL, *sql;
	int rc;

	*out = NULL;
	if (check_expr_text(pl, "type", text, op->type_pos, err) < 0)
		return -1;
	v[0] = text;
	rc = probe(pl, "SELECT to_regtype($1)::oid", 1, v, &res, msg, state, err);
	if (rc == 0 && !PQgetisnull(res, 0, 0))
		oid = mg_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	res = NULL;
	if (rc < 0)
		return -1;
	if (!oid) {
		if (rc == 1)
			pos_error(err, MG_EINPUT, pl->m, op->type_pos,
				  "type '%s' is not one PostgreSQL type name: %s", text, msg);
		else
			pos_error(err, MG_EINPUT, pl->m, op->type_pos,
				  "type '%s' does not exist", text);
		return mg_err_hint(err, "write one type such as text, varchar(20), numeric(10,2), timestamptz or int[]");
	}
	sql = mg_xasprintf("SELECT NULL::%s", text);
	rc = probe(pl, sql, 0, NULL, &res, msg, state, err);
	free(sql);
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s': %s", text, msg);
		mg_err_hint(err, "write one type such as text, varchar(20), numeric(10,2), timestamptz or int[]");
	}
	if (rc != 0) {
		free(oid);
		return -1;
	}
	/* The row description shows a domain as its base type: no modifier. */
	snprintf(mod, sizeof(mod), "%d",
		 PQftype(res, 0) == (Oid)strtoul(oid, NULL, 10) ? PQfmod(res, 0) : -1);
	PQclear(res);
	res = NULL;
	v[0] = oid;
	v[1] = mod;
	rc = probe(pl, "SELECT format_type($1::oid, $2::int)", 2, v, &res, msg, state, err);
	free(oid);
	if (rc == 1) {
		pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s': %s", text, msg);
		mg_err_hint(err, "write one type such as text, varchar(20), numeric(10,2), timestamptz or int[]");
	}
	if (rc == 0)
		*out = mg_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc == 0 ? 0 : -1;
}

/* Where " COLLATE " starts in a type (outside "quoted" names), or NULL. */
static const char *find_collate(const char *s)
{
	int quoted = 0;

	for (const char *p = s; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && p > s && isspace((unsigned char)p[-1]) &&
			 !strncasecmp(p, "collate", 7) && (isspace((unsigned char)p[7]) || p[7] == '"'))
			return p;
	}
	return NULL;
}

/* A collation name as the file may write it: name, "Name" or
 * schema.name; nothing else can follow COLLATE in a type. */
static int collation_shaped(const char *s)
{
	while (*s) {
		if (*s == '"') {
			const char *close = strchr(s + 1, '"');

			if (!close || close == s + 1)
				return 0;
			s = close + 1;
		} else if (isalpha((unsigned char)*s) || *s == '_') {
			while (isalnum((unsigned char)*s) || *s == '_' || *s == '$')
				s++;
		} else {
			return 0;
		}
		if (*s == '.' && s[1])
			s++;
		else if (*s)
			return 0;
	}
	return 1;
}

/*
 * The type of a new column as the server spells it, with its COLLATE
 * clause if the file gives one (`text COLLATE "C"`): the type by
 * canonical_type_name(), the collation by its shape and then by the server
 * (a NULL of the type collated so). *out is owned by the caller.
 */
static int canonical_type(struct planner *pl, const struct mg_op *op, char **out,
			  struct mg_err *err)
{
	const char *at = find_collate(op->type);
	char msg[PGDRV_MSG], state[6];
	char *name, *coll, *sql;
	int rc;

	if (!at)
		return canonical_type_name(pl, op, op->type, out, err);
	name = mg_xstrndup(op->type, (size_t)(at - op->type));
	coll = mg_xstrdup(at + 7 + strspn(at + 7, " \t\r\n"));
	coll[strcspn(coll, " \t\r\n")] = '\0';
	if (!collation_shaped(coll) || strlen(at + 7 + strspn(at + 7, " \t\r\n")) != strlen(coll)) {
		pos_error(err, MG_EINPUT, pl->m, op->type_pos,
			  "type '%s' has something after COLLATE that is not one collation name", op->type);
		mg_err_hint(err, "write TYPE COLLATE name, e.g. text COLLATE \"C\"");
		rc = -1;
	} else {
		rc = canonical_type_name(pl, op, name, out, err);
	}
	if (rc == 0) {
		sql = mg_xasprintf("SELECT NULL::%s COLLATE %s", *out, coll);
		rc = probe(pl, sql, 0, NULL, NULL, msg, state, err);
		free(sql);
		if (rc == 1) {
			pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s': %s", op->type, msg);
			mg_err_hint(err, "name a collation of this database (SELECT collname FROM pg_collation)");
		}
		if (rc == 0) {
			sql = mg_xasprintf("%s COLLATE %s", *out, coll);
			free(*out);
			*out = sql;
		} else {
			free(*out);
			*out = NULL;
			rc = -1;
		}
	}
	free(name);
	free(coll);
	return rc;
}


/* `method:` is pasted as a name: it must look like one. */
static int check_method(struct planner *pl, const struct mg_op *op, struct mg_err *err)
{
	const char *s = op->method;

	for (size_t k = 0; s[k]; k++)
		if (!(islower((unsigned char)s[k]) || s[k] == '_' ||
		      (k && isdigit((unsigned char)s[k])))) {
			pos_error(err, MG_EINPUT, pl->m, op->method_pos,
				  "index method '%s' is not a name", s);
			return mg_err_hint(err, "write an access method such as btree, hash, gin, gist, brin");
		}
	return 0;
}

/* A sql step migrate runs in a transaction must not end it: the plan's
 * is rolled back (a COMMIT in it would make `plan` change the database),
 * and a step's carries its history row. */
static int check_sql_tx(struct planner *pl, const struct mg_op *op, struct mg_err *err)
{
	const char *word;

	for (int ph = 0; op->in_transaction && ph < MG_SQL_NPHASES; ph++)
		if (op->sql[ph] && mg_sqltext_pg_tx_control(op->sql[ph], &word)) {
			pos_error(err, MG_EINPUT, pl->m, op->pos,
				  "the %s SQL of this sql step has a %s statement: migrate runs it in a transaction of its own",
				  mg_sql_phase_name((enum mg_sql_phase)ph), word);
			return mg_err_hint(err, "remove the statement, or set 'in_transaction: false' to run the SQL as written");
		}
	return 0;
}

static int pgdrv_canonical_type(struct mg_conn *c, const struct mg_planner *pl,
				const struct mg_op *op, char **out, struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	return canonical_type(&p, op, out, err);
}

/* create_index beyond its columns: the method's name and where:. */
static int pgdrv_check_index(struct mg_conn *c, const struct mg_planner *pl,
			     const struct mg_op *op, const struct mg_table_desc *t,
			     struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	if ((op->method && check_method(&p, op, err) < 0) ||
	    (op->where && check_where(&p, op->where, op->where_pos, t, err) < 0))
		return -1;
	return 0;
}

/* A sql step's expand SQL runs in the planning transaction (in a
 * savepoint), so that later operations see the tables it creates. */
static int pgdrv_check_sql(struct mg_conn *c, struct mg_planner *pl,
			   const struct mg_op *op, struct mg_err *err)
{
	struct planner p = planner_of(c, pl);

	if (check_sql_tx(&p, op, err) < 0)
		return -1;
	if (!op->sql[MG_SQL_EXPAND] || !op->in_transaction)
		return 0;
	if (exec_pc(p.pc, "SAVEPOINT mg_sql", err) < 0)
		return -1;
	if (exec_pc(p.pc, op->sql[MG_SQL_EXPAND], err) < 0) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		return pos_error(err, MG_EINPUT, p.m, op->pos,
				 "the expand SQL of this sql step fails: %s", msg);
	}
	return 0;
}

/* Planning runs in a transaction that is always rolled back. */
static int pgdrv_plan_begin(struct mg_conn *c, struct mg_planner *pl,
			    struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	struct mg_err ignored = MG_ERR_INIT;
	char setting[128];

	(void)pl;
	snprintf(setting, sizeof(setting), "SET LOCAL lock_timeout = %d",
		 pc->opts.lock_timeout_ms);
	if (exec_pc(pc, "BEGIN", err) < 0)
		return -1;
	if (exec_pc(pc, setting, err) < 0) {
		exec_pc(pc, "ROLLBACK", &ignored);
		return -1;
	}
	return 0;
}

static int pgdrv_plan_end(struct mg_conn *c, struct mg_planner *pl, int failed,
			  struct mg_err *err)
{
	struct mg_err ignored = MG_ERR_INIT;

	(void)pl;
	return exec_pc(downcast(c), "ROLLBACK", failed ? &ignored : err);
}

/* What plan shows: user triggers the backfill fires, publications that
 * replicate it. */
static void pgdrv_plan_notes(struct mg_conn *c, const struct mg_planner *pl,
			     struct mg_plan *out)
{
	for (size_t t = 0; t < pl->n_tables; t++) {
		const struct mg_table_desc *td = &pl->tables[t]->t;
		struct mg_buf sql = MG_BUF_INIT;
		struct mg_err ignored = MG_ERR_INIT;
		PGresult *res;

		mg_buf_addf(&sql, "SELECT 'the backfill of ' || %s || ' fires user trigger ' || quote_ident(tgname) "
			    "FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal AND tgenabled <> 'D' "
			    "AND tgname NOT LIKE 'zz\\_migrate\\_%%' AND (tgtype & 16) <> 0 "
			    "UNION ALL SELECT 'the backfill of ' || %s || ' is replicated through publication ' || quote_ident(pubname) "
			    "FROM pg_publication_tables WHERE to_regclass(format('%%I.%%I', schemaname, tablename)) = %s::oid",
			    pgdesc(td)->qlit, pgdesc(td)->oid, pgdesc(td)->qlit, pgdesc(td)->oid);
		res = query_pc(downcast(c), sql.buf, &ignored);
		mg_buf_release(&sql);
		for (int i = 0; res && i < PQntuples(res); i++)
			mg_plan_add_note(out, PQgetvalue(res, i, 0));
		PQclear(res);
	}
}

/* ==== planning: rendering =========================================================== */

/*
 * The core decides the steps and their order (src/planner_emit.c); here
 * each is written as PostgreSQL SQL (driver.h: render). Every change is
 * idempotent (IF [NOT] EXISTS, DO blocks guarded by the catalog), so a
 * step run again after a crash before its history row finds it done.
 */

/* base + suffix, cut to fit an identifier. */
static char *mkname(const char *base, const char *suffix)
{
	return mg_planner_name(PGDRV_MAX_IDENT, base, suffix);
}

/*
 * Replace every reference to identifier `from` in a SQL fragment with the
 * quoted identifier `to`, skipping string literals. Bare identifiers
 * compare case-insensitively (they fold to lower case), quoted ones exactly.
 */
static char *subst_ident(const char *sql, const char *from, const char *to)
{
	struct mg_buf b = MG_BUF_INIT;
	const char *p = sql;

	while (*p) {
		if (*p == '\'') {
			const char *s = p++;

			while (*p && !(*p == '\'' && p[1] != '\''))
				p += (*p == '\'' ? 2 : 1);
			if (*p)
				p++;
			mg_buf_add(&b, s, (size_t)(p - s));
		} else if (*p == '"') {
			struct mg_buf id = MG_BUF_INIT;
			const char *s = p++;

			while (*p) {
				if (*p == '"' && p[1] == '"') {
					mg_buf_addc(&id, '"');
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					mg_buf_addc(&id, *p++);
				}
			}
			if (!strcmp(id.buf, from))
				pgdrv_quote_ident(&b, to);
			else
				mg_buf_add(&b, s, (size_t)(p - s));
			mg_buf_release(&id);
		} else if (isalpha((unsigned char)*p) || *p == '_') {
			const char *s = p;
			int prev_dot = p > sql && p[-1] == '.';
			int after_cast = 0;
			size_t n;

			for (const char *q = p; q > sql + 1; q--) {
				if (q[-1] == ' ')
					continue;
				after_cast = q[-1] == ':' && q[-2] == ':';
				break;
			}

			while (isalnum((unsigned char)*p) || *p == '_' || *p == '$')
				p++;
			n = (size_t)(p - s);
			if (!prev_dot && !after_cast && *p != '(' && n == strlen(from) &&
			    !strncasecmp(s, from, n))
				pgdrv_quote_ident(&b, to);
			else
				mg_buf_add(&b, s, n);
		} else {
			mg_buf_addc(&b, *p++);
		}
	}
	return mg_buf_detach(&b);
}

/* The text between the first '(' at or after from and its matching ')'. */
static int paren_span(const char *s, const char *from, size_t *start, size_t *end)
{
	const char *open = strchr(from, '(');
	int depth = 0;

	if (!open)
		return -1;
	for (const char *p = open; *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0) {
			*start = (size_t)(open - s);
			*end = (size_t)(p - s) + 1;
			return 0;
		}
	}
	return -1;
}

/* def with `old` renamed to `new_col` only inside the parenthesised list
 * that starts at or after `anchor` (NULL: the first list). */
static char *subst_in_list(const char *def, const char *anchor, const char *old,
			   const char *new_col)
{
	const char *from = anchor ? strstr(def, anchor) : def;
	size_t a, z;
	struct mg_buf b = MG_BUF_INIT;
	char *seg, *rep;

	if (!from || paren_span(def, from, &a, &z) < 0)
		return mg_xstrdup(def);
	seg = mg_xstrndup(def + a, z - a);
	rep = subst_ident(seg, old, new_col);
	mg_buf_add(&b, def, a);
	mg_buf_adds(&b, rep);
	mg_buf_adds(&b, def + z);
	free(seg);
	free(rep);
	return mg_buf_detach(&b);
}

static char *strip_not_valid(const char *def)
{
	char *s = mg_xstrdup(def);
	char *nv = strstr(s, " NOT VALID");

	if (nv)
		*nv = '\0';
	return s;
}

static int is_quoted_ident(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return 0;
	for (size_t i = 1; i < n - 1; i++)
		if (s[i] == '"' && s[++i] != '"')
			return 0;
	return 1;
}

/* An expression over the row being written, usable in the trigger. */
static void row_expr(struct mg_buf *b, const char *expr)
{
	if (is_quoted_ident(expr))
		mg_buf_addf(b, "NEW.%s", expr);
	else
		mg_buf_addf(b, "(SELECT (%s) FROM (SELECT NEW.*) AS _mg_row)", expr);
}

static char *trigger_name(const struct mg_planner *pl, const struct mg_tplan *tp)
{
	char *base = mg_xasprintf("zz_migrate_%d_%s", pl->m->id, tp->t.relname);
	char *n = mkname(base, "");

	free(base);
	return n;
}

static char *function_name(const struct mg_planner *pl, const struct mg_tplan *tp)
{
	char *base = mg_xasprintf("_migrate_%d_%s", pl->m->id, tp->t.relname);
	char *n = mkname(base, "_sync");
	char *q = qi(n);
	char *full = mg_xasprintf("%s.%s", pgdesc(&tp->t)->qschema, q);

	free(base);
	free(n);
	free(q);
	return full;
}

/*
 * The dual-write trigger (design §6): on INSERT a pair whose new side is set
 * is green's (old := down(new), marker 2), otherwise blue's (new :=
 * up(old), marker 1); on UPDATE whichever side changed wins, the new one on
 * conflict; a row untouched so far gets new := up(old). The backfill's own
 * session skips it through the WHEN clause.
 */
static void render_trigger(struct mg_buf *b, const struct mg_planner *pl,
			   const struct mg_tplan *tp)
{
	char *fn = function_name(pl, tp);
	char *trg = trigger_name(pl, tp);
	char *qtrg = qi(trg);
	const char *mk = pl->marker;
	char *qm = qi(mk);
	int only_drop = !tp->has_marker;

	mg_buf_addf(b, "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $mg_fn$\n"
		    "DECLARE\n"
		    "  _mg_writer text := nullif(current_setting('migrate.writer', true), '');\n"
		    "  _mg_new boolean := false;\n"
		    "  _mg_old boolean := false;\n"
		    "BEGIN\n"
		    "  IF TG_OP = 'INSERT' THEN\n", fn);
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind == MG_PAIR_REPLACE) {
			mg_buf_addf(b, "    IF coalesce(_mg_writer = 'new', NEW.%s IS NOT NULL) THEN\n      NEW.%s := ", qn, qo);
			row_expr(b, p->down);
			mg_buf_addf(b, ";\n      _mg_new := true;\n    ELSE\n      NEW.%s := ", qn);
			row_expr(b, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else if (p->kind == MG_PAIR_ADD) {
			mg_buf_addf(b, "    IF NEW.%s IS NOT NULL OR _mg_writer = 'new' THEN\n"
				    "      _mg_new := true;\n    ELSE\n      NEW.%s := ", qn, qn);
			row_expr(b, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else {
			mg_buf_addf(b, "    IF NEW.%s IS NULL THEN\n      NEW.%s := ", qo, qo);
			row_expr(b, p->down);
			mg_buf_adds(b, ";\n    END IF;\n");
		}
		free(qo);
		free(qn);
	}
	if (!only_drop) {
		mg_buf_addf(b, "    NEW.%s := CASE WHEN _mg_new THEN 2 ELSE 1 END;\n", qm);
		mg_buf_adds(b, "  ELSE\n");
		for (size_t i = 0; i < tp->n_pairs; i++) {
			const struct mg_pair *p = &tp->pairs[i];
			char *qo = p->old_col ? qi(p->old_col) : NULL;
			char *qn = p->new_col ? qi(p->new_col) : NULL;

			if (p->kind != MG_PAIR_DROP && p->up)
				mg_buf_addf(b, "    _mg_new := _mg_new OR NEW.%s IS DISTINCT FROM OLD.%s;\n", qn, qn);
			if (p->kind == MG_PAIR_REPLACE)
				mg_buf_addf(b, "    _mg_old := _mg_old OR NEW.%s IS DISTINCT FROM OLD.%s;\n", qo, qo);
			free(qo);
			free(qn);
		}
		mg_buf_adds(b, "    IF _mg_writer = 'new' THEN\n      _mg_new := true;\n"
			    "    ELSIF _mg_writer = 'old' THEN\n      _mg_new := false;\n      _mg_old := true;\n    END IF;\n");
		/* each pair follows the side of it that changed: a write to one
		 * new column never recomputes another pair's old column */
		for (size_t i = 0; i < tp->n_pairs; i++) {
			const struct mg_pair *p = &tp->pairs[i];
			char *qo = p->old_col ? qi(p->old_col) : NULL;
			char *qn = p->new_col ? qi(p->new_col) : NULL;

			if (p->kind == MG_PAIR_REPLACE) {
				mg_buf_addf(b, "    IF _mg_writer = 'new' OR (_mg_writer IS NULL AND NEW.%s IS DISTINCT FROM OLD.%s) THEN\n      NEW.%s := ",
					    qn, qn, qo);
				row_expr(b, p->down);
				mg_buf_addf(b, ";\n    ELSIF _mg_writer = 'old' OR NEW.%s IS DISTINCT FROM OLD.%s OR NEW.%s = 0 THEN\n      NEW.%s := ",
					    qo, qo, qm, qn);
				row_expr(b, p->up);
				mg_buf_adds(b, ";\n    END IF;\n");
			} else if (p->kind == MG_PAIR_ADD && p->up) {
				mg_buf_addf(b, "    IF NEW.%s IS NULL AND NEW.%s = 0 AND _mg_writer IS DISTINCT FROM 'new' THEN\n      NEW.%s := ",
					    qn, qm, qn);
				row_expr(b, p->up);
				mg_buf_adds(b, ";\n    END IF;\n");
			}
			free(qo);
			free(qn);
		}
		mg_buf_addf(b, "    IF _mg_new THEN\n      NEW.%s := 2;\n    ELSIF _mg_old OR NEW.%s = 0 THEN\n"
			    "      NEW.%s := 1;\n    END IF;\n", qm, qm, qm);
	}
	mg_buf_adds(b, "  END IF;\n  RETURN NEW;\nEND\n$mg_fn$;\n");
	mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s ON %s;\n", qtrg, tp->t.q);
	mg_buf_addf(b, "CREATE TRIGGER %s BEFORE INSERT%s ON %s FOR EACH ROW "
		    "WHEN (current_setting('migrate.backfill', true) IS DISTINCT FROM '%d') "
		    "EXECUTE FUNCTION %s();\n",
		    qtrg, only_drop ? "" : " OR UPDATE", tp->t.q, pl->m->id, fn);
	free(fn);
	free(trg);
	free(qtrg);
	free(qm);
}

static void render_drop_trigger(struct mg_buf *b, const struct mg_planner *pl,
				const struct mg_tplan *tp)
{
	char *fn = function_name(pl, tp);
	char *trg = trigger_name(pl, tp);
	char *qtrg = qi(trg);

	mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s ON %s;\nDROP FUNCTION IF EXISTS %s();\n",
		    qtrg, tp->t.q, fn);
	free(fn);
	free(trg);
	free(qtrg);
}

static void join_alter(struct mg_buf *b, const char *table, const struct mg_strlist *parts,
		       const char *extra)
{
	if (!parts->n && !extra)
		return;
	mg_buf_addf(b, "ALTER TABLE %s ", table);
	for (size_t i = 0; i < parts->n; i++)
		mg_buf_addf(b, "%s%s", i ? ", " : "", parts->items[i]);
	if (extra)
		mg_buf_addf(b, "%s%s", parts->n ? ", " : "", extra);
	mg_buf_adds(b, ";\n");
}

static void lock_tables(struct mg_buf *b, const struct mg_tplan *tp, const char *mode,
			int with_children)
{
	mg_buf_addf(b, "LOCK TABLE %s IN %s MODE;\n", tp->t.q, mode);
	for (size_t i = 0; with_children && i < tp->children.n; i++)
		mg_buf_addf(b, "LOCK TABLE %s IN %s MODE;\n", tp->children.items[i], mode);
}

/* A DO block that runs `stmt` only when `cond_sql` (a boolean) is true. */
static void add_guarded(struct mg_buf *b, const char *cond_sql, const char *stmt)
{
	mg_buf_addf(b, "DO $mg$ BEGIN IF %s THEN %s; END IF; END $mg$;\n", cond_sql, stmt);
}

static char *constraint_absent(const char *rel_qlit, const char *name)
{
	char *nl = lit(name);
	char *s = mg_xasprintf("NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
			       rel_qlit, nl);

	free(nl);
	return s;
}

/* Rename copy to final on rel, if the copy is there and final is not. */
static void add_rename_constraint(struct mg_buf *b, const char *rel,
				  const char *rel_qlit, const char *copy,
				  const char *final)
{
	char *qc = qi(copy), *qf = qi(final);
	char *cl = lit(copy), *fl = lit(final);
	char *ren = mg_xasprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", rel, qc, qf);
	char *cond = mg_xasprintf("EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s) AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
				  rel_qlit, cl, rel_qlit, fl);

	add_guarded(b, cond, ren);
	free(qc);
	free(qf);
	free(cl);
	free(fl);
	free(ren);
	free(cond);
}

/* A dependent's definition with every rename of p applied: anchor NULL
 * renames everywhere, "" in the first parenthesised list, else in the
 * list after anchor. */
static char *renamed_def(const struct mg_prim *p, const char *def,
			 const char *anchor)
{
	char *s = strip_not_valid(def);

	for (size_t i = 0; i < p->from.n; i++) {
		char *n = anchor ? subst_in_list(s, *anchor ? anchor : NULL,
						 p->from.items[i], p->to.items[i]) :
			subst_ident(s, p->from.items[i], p->to.items[i]);

		free(s);
		s = n;
	}
	return s;
}

/* A constraint added NOT VALID at expand (a copy, or the NOT NULL check
 * of a new column). */
static void render_copy_constraint(struct mg_buf *b, const struct mg_tplan *tp,
				   const struct mg_prim *p)
{
	char *def, *cond, *stmt, *qc = qi(p->name);

	if (!p->dep) {
		char *qcol = qi(p->column);

		def = mg_xasprintf("CHECK (%s IS NOT NULL)", qcol);
		free(qcol);
	} else {
		def = renamed_def(p, p->dep->def,
				  p->dep->kind == MG_DEP_FOREIGN_KEY ? "" : NULL);
	}
	cond = constraint_absent(pgdesc(&tp->t)->qlit, p->name);
	stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID",
			    tp->t.q, qc, def);
	add_guarded(b, cond, stmt);
	free(def);
	free(cond);
	free(stmt);
	free(qc);
}

/* The expand slot: copies NOT VALID, comments, grants, in op order. */
static void render_expand_extra(struct mg_buf *b, const struct mg_tplan *tp)
{
	const struct mg_prims *l = &tp->slot[MG_SLOT_EXPAND];

	for (size_t i = 0; i < l->n; i++) {
		const struct mg_prim *p = l->v[i];
		char *qc = qi(p->column);

		if (p->kind == MG_PRIM_COPY_CONSTRAINT) {
			render_copy_constraint(b, tp, p);
		} else if (p->kind == MG_PRIM_COMMENT) {
			char *cl = lit(p->text);

			mg_buf_addf(b, "COMMENT ON COLUMN %s.%s IS %s;\n", tp->t.q, qc, cl);
			free(cl);
		} else if (p->kind == MG_PRIM_GRANT) {
			mg_buf_addf(b, "GRANT %s (%s) ON %s TO %s%s;\n", p->dep->def, qc,
				    tp->t.q, p->dep->child,
				    p->dep->unique ? " WITH GRANT OPTION" : "");
		}
		free(qc);
	}
}

static void render_expand_table(const struct mg_planner *pl,
				const struct mg_tplan *tp, struct mg_plan *out)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	struct mg_strlist add_cols = MG_STRLIST_INIT;
	char *marker = NULL;

	for (size_t i = 0; i < tp->slot[MG_SLOT_ADD_COLUMNS].n; i++) {
		const struct mg_prim *p = tp->slot[MG_SLOT_ADD_COLUMNS].v[i];
		char *qc = qi(p->column);

		mg_strlist_push_owned(&add_cols,
			mg_xasprintf("ADD COLUMN IF NOT EXISTS %s %s%s%s", qc, p->type,
				     p->collation ? " COLLATE " : "",
				     p->collation ? p->collation : ""));
		free(qc);
	}
	if (tp->has_marker) {
		char *qm = qi(pl->marker);

		marker = mg_xasprintf("ADD COLUMN IF NOT EXISTS %s smallint NOT NULL DEFAULT 0", qm);
		free(qm);
	}
	lock_tables(&b, tp, "ACCESS EXCLUSIVE", 0);
	join_alter(&b, tp->t.q, &add_cols, marker);
	render_expand_extra(&b, tp);
	if (tp->n_pairs)
		render_trigger(&b, pl, tp);
	mg_buf_addf(&d, "expand %s:", tp->t.q);
	for (size_t i = 0; i < add_cols.n; i++)
		mg_buf_addf(&d, "%s %s", i ? "," : "", add_cols.items[i] + strlen("ADD COLUMN IF NOT EXISTS "));
	if (marker)
		mg_buf_addf(&d, "%s marker %s", add_cols.n ? "," : "", pl->marker);
	if (tp->n_pairs)
		mg_buf_adds(&d, ", dual-write trigger");
	if (tp->slot[MG_SLOT_VALIDATE].n)
		mg_buf_addf(&d, ", %zu constraint(s) NOT VALID", tp->slot[MG_SLOT_VALIDATE].n);
	mg_plan_add_step(out, MG_PLAN_EXPAND, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL);
	free(marker);
	mg_strlist_release(&add_cols);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

/* The part of pg_get_indexdef() after "USING ", with the renames. */
static char *index_tail(const struct mg_prim *p)
{
	const char *using = strstr(p->dep->def, " USING ");
	char *s;

	if (!using)
		s = mg_xstrdup("btree (?)");
	else
		s = mg_xstrdup(using + 7);
	for (size_t i = 0; i < p->from.n; i++) {
		char *n;

		/* the first rename's fallback is taken as written */
		if (!using && i == 0)
			continue;
		n = subst_ident(s, p->from.items[i], p->to.items[i]);
		free(s);
		s = n;
	}
	return s;
}

/* Build one index copy concurrently, beside the original. */
static void render_copy_index(const struct mg_tplan *tp, const struct mg_prim *p,
			      enum mg_plan_phase phase, struct mg_plan *out)
{
	char *qcopy = qi(p->name);
	char *tail = index_tail(p);
	int unique = p->dep->kind == MG_DEP_UNIQUE || p->dep->unique;
	char *sql = mg_xasprintf("CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s USING %s",
				 unique ? "UNIQUE " : "", qcopy, tp->t.q, tail);
	char *obj = mg_xasprintf("%s.%s", pgdesc(&tp->t)->qschema, qcopy);
	char *desc = mg_xasprintf("build index %s on %s (copy of '%s' for column '%s')",
				  qcopy, tp->t.q, p->dep->name, p->to.items[0]);

	mg_plan_add_step(out, phase, MG_STEP_NOTX, tp->t.q, desc, sql, obj);
	free(qcopy);
	free(tail);
	free(sql);
	free(obj);
	free(desc);
}

/* At contract the copy takes the original's name, or for a unique
 * constraint becomes its index. */
static void render_finish_index(struct mg_buf *b, const struct mg_tplan *tp,
				const struct mg_prim *p)
{
	const struct pgdesc *pd = pgdesc(&tp->t);
	int constraint = p->dep->kind == MG_DEP_UNIQUE;
	char *qcopy = qi(p->name);
	char *obj = mg_xasprintf("%s.%s", pd->qschema, qcopy);
	char *ol = lit(obj);
	char *qorig = qi(p->dep->name);
	char *origq = mg_xasprintf("%s.%s", pd->qschema, qorig);
	char *origl = lit(origq);
	char *cond, *stmt;

	if (constraint) {
		char *cl = lit(p->dep->name);

		cond = mg_xasprintf("to_regclass(%s) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
				    ol, pd->qlit, cl);
		stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s",
				    tp->t.q, qorig, qcopy);
		free(cl);
	} else {
		cond = mg_xasprintf("to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NULL",
				    ol, origl);
		stmt = mg_xasprintf("ALTER INDEX %s RENAME TO %s", obj, qorig);
	}
	add_guarded(b, cond, stmt);
	free(cond);
	free(stmt);
	free(qcopy);
	free(obj);
	free(ol);
	free(qorig);
	free(origq);
	free(origl);
}

static void render_backfill(const struct mg_planner *pl, const struct mg_tplan *tp,
			    struct mg_plan *out)
{
	struct mg_backfill_spec *s;
	struct mg_buf set = MG_BUF_INIT, mm = MG_BUF_INIT;
	char *qm = qi(pl->marker);

	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qn = p->new_col ? qi(p->new_col) : NULL;
		char *qo = p->old_col ? qi(p->old_col) : NULL;

		if (p->kind != MG_PAIR_DROP && p->up)
			mg_buf_addf(&set, "%s%s = (%s)", set.len ? ", " : "", qn, p->up);
		if (p->kind == MG_PAIR_REPLACE)
			mg_buf_addf(&mm, " OR NOT (%s IS NOT DISTINCT FROM (%s) OR %s IS NOT DISTINCT FROM (%s))",
				    qn, p->up, qo, p->down);
		free(qn);
		free(qo);
	}
	s = mg_plan_add_backfill(out);
	s->table = mg_xstrdup(tp->t.q);
	s->n_keys = tp->t.key.n;
	s->key_columns = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	s->key_types = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	for (size_t k = 0; k < s->n_keys; k++) {
		s->key_columns[k] = mg_xstrdup(tp->t.key.cols[k]);
		s->key_types[k] = mg_xstrdup(tp->t.key.types[k]);
	}
	s->set_clause = mg_buf_detach(&set);
	s->marker = mg_xstrdup(qm);
	s->mismatch = mg_xasprintf("%s = 0%s", qm, mm.buf);
	s->session_sql = mg_xasprintf("SET migrate.backfill = '%d'", pl->m->id);
	mg_buf_release(&mm);
	free(qm);
}

/* The index create_index builds (or, at rollback, drops) concurrently. */
static void render_index_op(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_op *op = r->op;
	const struct mg_table_desc *t = r->table;
	struct mg_buf b = MG_BUF_INIT;
	char *qn = qi(op->index_name);
	char *obj = mg_xasprintf("%s.%s", pgdesc(t)->qschema, qn);
	char *desc;

	if (r->kind == MG_RENDER_DROP_INDEX) {
		desc = mg_xasprintf("drop index %s", obj);
		mg_buf_addf(&b, "DROP INDEX CONCURRENTLY IF EXISTS %s", obj);
		mg_plan_add_step(out, r->phase, MG_STEP_NOTX, t->q, desc, b.buf, NULL);
	} else {
		mg_buf_addf(&b, "CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s",
			    op->unique ? "UNIQUE " : "", qn, t->q);
		if (op->method)
			mg_buf_addf(&b, " USING %s", op->method);
		mg_buf_adds(&b, " (");
		for (size_t k = 0; k < op->n_columns; k++) {
			if (k)
				mg_buf_adds(&b, ", ");
			pgdrv_quote_ident(&b, op->columns[k]);
		}
		mg_buf_adds(&b, ")");
		if (op->where)
			mg_buf_addf(&b, " WHERE %s", op->where);
		desc = mg_xasprintf("build %sindex %s on %s concurrently",
				    op->unique ? "unique " : "", qn, t->q);
		mg_plan_add_step(out, r->phase, MG_STEP_NOTX, t->q, desc, b.buf, obj);
	}
	free(desc);
	free(qn);
	free(obj);
	mg_buf_release(&b);
}

/* An ASSERT step: every listed index exists and is valid. */
static void render_index_assert(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_strlist *objs = r->objects;
	struct mg_buf b = MG_BUF_INIT;

	if (!objs->n)
		return;
	mg_buf_adds(&b, "SELECT 'index ' || v.name || CASE WHEN i.indexrelid IS NULL THEN ' is missing' "
		    "ELSE ' is invalid (a concurrent build failed)' END FROM (VALUES ");
	for (size_t i = 0; i < objs->n; i++) {
		mg_buf_adds(&b, i ? ", (" : "(");
		add_literal(&b, objs->items[i]);
		mg_buf_adds(&b, ")");
	}
	mg_buf_adds(&b, ") AS v(name) LEFT JOIN pg_index i ON i.indexrelid = to_regclass(v.name) "
		    "WHERE i.indexrelid IS NULL OR NOT i.indisvalid");
	mg_plan_add_step(out, r->phase, MG_STEP_ASSERT, NULL,
			 "every index built at expand is valid", b.buf, NULL);
	mg_buf_release(&b);
}

static void render_validate(const struct mg_render *r, struct mg_plan *out)
{
	const char *rel = r->kind == MG_RENDER_VALIDATE ? r->tp->t.q : r->prim->dep->child;
	char *qc = qi(r->prim->name);
	char *sql = mg_xasprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", rel, qc);
	char *desc = r->kind == MG_RENDER_VALIDATE ?
		mg_xasprintf("validate constraint %s on %s", qc, rel) : mg_xstrdup(sql);

	mg_plan_add_step(out, r->phase, MG_STEP_NOTX, r->tp->t.q, desc, sql, NULL);
	free(qc);
	free(sql);
	free(desc);
}

/* switch-reads: the foreign keys of other tables, copied NOT VALID onto
 * the new columns, in one transaction. */
static void render_inbound(const struct mg_tplan *tp, enum mg_plan_phase phase,
			   struct mg_plan *out)
{
	struct mg_buf b = MG_BUF_INIT;
	char *desc = mg_xasprintf("add foreign keys referencing the new column(s) of %s (NOT VALID)", tp->t.q);

	for (size_t k = 0; k < tp->children.n; k++)
		mg_buf_addf(&b, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE;\n", tp->children.items[k]);
	mg_buf_addf(&b, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE;\n", tp->t.q);
	for (size_t i = 0; i < tp->slot[MG_SLOT_INBOUND].n; i++) {
		const struct mg_prim *p = tp->slot[MG_SLOT_INBOUND].v[i];
		char *qcopy = qi(p->name);
		char *childlit = lit(p->dep->child);
		char *d2 = renamed_def(p, p->dep->def, " REFERENCES ");
		char *cond = constraint_absent(childlit, p->name);
		char *stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID",
					  p->dep->child, qcopy, d2);

		add_guarded(&b, cond, stmt);
		free(qcopy);
		free(childlit);
		free(d2);
		free(cond);
		free(stmt);
	}
	mg_plan_add_step(out, phase, MG_STEP_TX, tp->t.q, desc, b.buf, NULL);
	free(desc);
	mg_buf_release(&b);
}

/* contract, first: nothing new depends on the column it drops. */
static void render_dep_check(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_prim *p = r->prim;
	char *q = others_sql(pgdesc(&r->tp->t)->qlit, p->column, p->op);
	char *cl = lit(p->column);
	char *check = mg_xasprintf("SELECT what || ' depends on column ' || %s FROM (%s) o(what, name, classid)",
				   cl, q);

	mg_plan_add_step(out, r->phase, MG_STEP_ASSERT, r->tp->t.q,
			 "nothing new depends on the columns contract drops", check, NULL);
	free(q);
	free(cl);
	free(check);
}

/* A dependent listed under drops: (or an inbound foreign key moving to
 * its copy), dropped before the columns go. */
static void render_drop_dependent(struct mg_buf *b, const struct mg_tplan *tp,
				  const struct mg_dependent *d)
{
	char *qn = qi(d->name);

	if (d->kind == MG_DEP_INBOUND_FK)
		mg_buf_addf(b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", d->child, qn);
	else if (d->kind == MG_DEP_CODE || !strcmp(d->def, "pg_trigger"))
		mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s ON %s;\n", qn, tp->t.q);
	else if (!strcmp(d->def, "pg_rewrite"))
		mg_buf_addf(b, "DROP %sVIEW IF EXISTS %s.%s;\n",
			    !strncmp(d->what, "materialized", 12) ? "MATERIALIZED " : "",
			    pgdesc(&tp->t)->qschema, qn);
	else if (!strcmp(d->def, "pg_policy"))
		mg_buf_addf(b, "DROP POLICY IF EXISTS %s ON %s;\n", qn, tp->t.q);
	free(qn);
}

/* The primitives of a slot of the contract or rollback transaction. */
static void render_end_slot(struct mg_buf *b, const struct mg_tplan *tp,
			    enum mg_slot slot)
{
	for (size_t i = 0; i < tp->slot[slot].n; i++) {
		const struct mg_prim *p = tp->slot[slot].v[i];
		char *qc = p->column ? qi(p->column) : NULL;
		char *qn = p->name ? qi(p->name) : NULL;

		switch (p->kind) {
		case MG_PRIM_DROP_DEPENDENT:
			render_drop_dependent(b, tp, p->dep);
			break;
		case MG_PRIM_SET_NOT_NULL:
			mg_buf_addf(b, "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;\n"
				    "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n",
				    tp->t.q, qc, tp->t.q, qn);
			break;
		case MG_PRIM_SET_DEFAULT:
			mg_buf_addf(b, "ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s;\n",
				    tp->t.q, qc, p->text);
			break;
		case MG_PRIM_FINISH_CONSTRAINT:
			add_rename_constraint(b, tp->t.q, pgdesc(&tp->t)->qlit, p->name,
					      p->dep->name);
			break;
		case MG_PRIM_FINISH_INDEX:
			render_finish_index(b, tp, p);
			break;
		case MG_PRIM_FINISH_INBOUND_FK: {
			char *childlit = lit(p->dep->child);

			add_rename_constraint(b, p->dep->child, childlit, p->name,
					      p->dep->name);
			free(childlit);
			break;
		}
		case MG_PRIM_DROP_INBOUND_COPY:
			mg_buf_addf(b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n",
				    p->dep->child, qn);
			break;
		default:
			break;
		}
		free(qc);
		free(qn);
	}
}

/*
 * The transaction that ends a table's window, at contract or rollback: lock
 * the table (and tables referencing it), drop our trigger, run the PRE
 * slot, drop the columns and the marker (never CASCADE), run the POST slot.
 */
static void render_table_end(const struct mg_planner *pl, const struct mg_tplan *tp,
			     enum mg_plan_phase phase, int contract,
			     struct mg_plan *out)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	struct mg_strlist cols = MG_STRLIST_INIT;
	enum mg_slot cslot = contract ? MG_SLOT_CONTRACT_COLUMNS : MG_SLOT_ROLLBACK_COLUMNS;

	for (size_t i = 0; i < tp->slot[cslot].n; i++) {
		char *qc = qi(tp->slot[cslot].v[i]->column);

		mg_strlist_push_owned(&cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
		free(qc);
	}
	if (tp->has_marker) {
		char *qm = qi(pl->marker);

		mg_strlist_push_owned(&cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qm));
		free(qm);
	}
	lock_tables(&b, tp, "ACCESS EXCLUSIVE", 1);
	if (tp->n_pairs)
		render_drop_trigger(&b, pl, tp);
	render_end_slot(&b, tp, contract ? MG_SLOT_CONTRACT_PRE : MG_SLOT_ROLLBACK_PRE);
	join_alter(&b, tp->t.q, &cols, NULL);
	if (contract)
		render_end_slot(&b, tp, MG_SLOT_CONTRACT_POST);
	mg_buf_addf(&d, "%s %s: drop trigger", contract ? "contract" : "roll back", tp->t.q);
	for (size_t i = 0; i < cols.n; i++)
		mg_buf_addf(&d, ", %s", cols.items[i] + strlen("DROP COLUMN IF EXISTS "));
	if (contract)
		mg_buf_adds(&d, " (never CASCADE); defaults, NOT NULL and names moved to the new columns");
	mg_plan_add_step(out, phase, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL);
	mg_strlist_release(&cols);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

static void render_sql(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_op *op = r->op;
	char *desc = mg_xasprintf("%s SQL of the sql step at %s:%d:%d",
				  mg_sql_phase_name(r->sql_phase), r->pl->m->name,
				  op->pos.line, op->pos.column);

	mg_plan_add_step(out, r->phase, op->in_transaction ? MG_STEP_TX : MG_STEP_NOTX,
			 NULL, desc, op->sql[r->sql_phase], NULL);
	free(desc);
}

static int pgdrv_render(struct mg_conn *c, const struct mg_render *r,
			struct mg_plan *out, struct mg_err *err)
{
	(void)c;
	(void)err;
	switch (r->kind) {
	case MG_RENDER_EXPAND_TABLE:
		render_expand_table(r->pl, r->tp, out);
		break;
	case MG_RENDER_COPY_INDEX:
		render_copy_index(r->tp, r->prim, r->phase, out);
		break;
	case MG_RENDER_BACKFILL:
		render_backfill(r->pl, r->tp, out);
		break;
	case MG_RENDER_BUILD_INDEX:
	case MG_RENDER_DROP_INDEX:
		render_index_op(r, out);
		break;
	case MG_RENDER_ASSERT_INDEXES:
		render_index_assert(r, out);
		break;
	case MG_RENDER_VALIDATE:
	case MG_RENDER_VALIDATE_INBOUND:
		render_validate(r, out);
		break;
	case MG_RENDER_INBOUND:
		render_inbound(r->tp, r->phase, out);
		break;
	case MG_RENDER_ASSERT_DEPENDENTS:
		render_dep_check(r, out);
		break;
	case MG_RENDER_CONTRACT_TABLE:
	case MG_RENDER_ROLLBACK_TABLE:
		render_table_end(r->pl, r->tp, r->phase,
				 r->kind == MG_RENDER_CONTRACT_TABLE, out);
		break;
	case MG_RENDER_SQL:
		render_sql(r, out);
		break;
	}
	return 0;
}


/* ==== running steps ====================================================================== */

static int is_lock_timeout(const char *state)
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
		       const struct mg_history_write *w, char state[6],
		       struct mg_err *err)
{
	char settings[160];
	struct mg_err ignored = MG_ERR_INIT;
	char *hist = w ? history_upsert_sql(w) : NULL;
	int rc;

	snprintf(settings, sizeof(settings),
		 "SET LOCAL lock_timeout = %d; SET LOCAL statement_timeout = %d",
		 pc->opts.lock_timeout_ms, pc->opts.statement_timeout_ms);
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

/* Retry fn on lock timeouts with jittered backoff, counting the stall. */
static int run_with_retries(struct pgdrv_conn *pc, const struct mg_step *s,
			    const struct mg_history_write *w,
			    struct mg_step_report *rep, struct mg_err *err,
			    int (*fn)(struct pgdrv_conn *, const struct mg_step *,
				      const struct mg_history_write *, char[6],
				      struct mg_err *))
{
	char state[6];
	int64_t start = mg_now_ms();

	for (int attempt = 0;; attempt++) {
		int64_t t0 = mg_now_ms();

		rep->tries = attempt + 1;
		if (fn(pc, s, w, state, err) == 0)
			return 0;
		if (!is_lock_timeout(state))
			return -1;
		rep->stall_ms += mg_now_ms() - t0;
		if (attempt >= pc->opts.lock_retries) {
			mg_err_set(err, MG_EDB,
				   "could not take the locks for '%s' within %d ms after %d tries (%.1f s stalled in all)",
				   s->description, pc->opts.lock_timeout_ms, attempt + 1,
				   (double)(mg_now_ms() - start) / 1000.0);
			return mg_err_hint(err, "the table is busy with long-running statements; run the command again later or raise --lock-timeout");
		}
		{
			int64_t wait = mg_backoff_ms(attempt);

			mg_info("  lock not granted within %d ms (try %d of %d): retrying in %lld ms",
				pc->opts.lock_timeout_ms, attempt + 1, pc->opts.lock_retries + 1,
				(long long)wait);
			mg_sleep_ms(wait);
		}
	}
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
			 const struct mg_history_write *w, char state[6],
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
						       : pc->opts.lock_timeout_ms);
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
		if (run_notx_once(pc, s, NULL, state, err) == 0)
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

static int pgdrv_run_step(struct mg_conn *c, const struct mg_step *s,
			  const struct mg_history_write *w,
			  struct mg_step_report *rep, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	int rc;

	switch (s->kind) {
	case MG_STEP_ASSERT:
		return run_assert(pc, s, err);
	case MG_STEP_TX:
		return run_with_retries(pc, s, w, rep, err, run_tx_once);
	case MG_STEP_NOTX:
		if (s->object)
			rc = run_index_build(pc, s, rep, err);
		else
			rc = run_with_retries(pc, s, NULL, rep, err, run_notx_once);
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

static int pgdrv_backfill_bounds(struct mg_conn *c, const struct mg_backfill_spec *s,
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

	if (s->n_keys != 1)
		return 0;
	for (const char *const *t = ints; *t; t++)
		if (!strcmp(s->key_types[0], *t))
			return 1;
	return 0;
}

static char **span_upper_key(char *const *after_key, char *const *upto_key, int batch_size)
{
	long long after = strtoll(after_key[0], NULL, 10);
	long long upto = strtoll(upto_key[0], NULL, 10);
	char **hi;

	if (upto - after <= batch_size)
		return NULL;
	hi = mg_xcalloc(2, sizeof(char *));
	hi[0] = mg_xasprintf("%lld", after + batch_size);
	return hi;
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

static int pgdrv_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
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
		hi = span_upper_key(after_key, upto_key, batch_size);
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

/* Integer keys: cut the span arithmetically. */
static void split_integer_span(char *const *after_key, char *const *upto_key, long long lo,
			       int pieces, char ****bounds, size_t *n)
{
	long long a = after_key ? strtoll(after_key[0], NULL, 10) : lo - 1;
	long long u = strtoll(upto_key[0], NULL, 10);
	long long step = (u - a) / pieces;

	*n = 0;
	*bounds = mg_xcalloc((size_t)pieces + 1, sizeof(char **));
	for (int i = 1; i < pieces && step > 0; i++) {
		char **k = mg_xcalloc(2, sizeof(char *));

		k[0] = mg_xasprintf("%lld", a + step * i);
		(*bounds)[(*n)++] = k;
	}
}

/*
 * Other keys: a sample of keys in the range (TABLESAMPLE SYSTEM, sized for
 * about 10000 rows of the table), cut at evenly spaced sample positions.
 */
static int pgdrv_backfill_split(struct mg_conn *c, const struct mg_backfill_spec *s,
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
		split_integer_span(after_key, upto_key, lo, pieces, bounds, n);
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

static int pgdrv_verify_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
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

/* Lag of the slowest replica: replay_lag, or 0 for one that has replayed
 * everything (PostgreSQL shows NULL lag for an idle, caught-up standby).
 * Rows whose positions are hidden (no pg_monitor: sent_lsn is NULL too)
 * make it unknown; a client that receives WAL but never replays it
 * (pg_receivewal, pg_basebackup's stream: replay_lsn NULL, sent_lsn set)
 * is not a replica the application reads from. */
static int pgdrv_replication_lag_ms(struct mg_conn *c, int64_t *out, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	PGresult *res = query_pc(pc,
		"SELECT count(*) FILTER (WHERE sent_lsn IS NULL), "
		"coalesce(max(CASE WHEN replay_lsn >= sent_lsn AND replay_lag IS NULL THEN 0 "
		"ELSE (extract(epoch FROM coalesce(replay_lag, now() - reply_time)) * 1000)::bigint END) "
		"FILTER (WHERE replay_lsn IS NOT NULL), 0) "
		"FROM pg_stat_replication", err);

	if (!res)
		return -1;
	if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) > 0) {
		PQclear(res);
		mg_err_set(err, MG_EDB, "pg_stat_replication hides the replicas' positions from this role");
		return mg_err_hint(err, "GRANT pg_monitor TO the role migrate connects as, or run without --max-lag");
	}
	*out = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return 0;
}

/* Client sessions of this database running a statement, migrate's own
 * excepted; rows of other roles that this role may not see (state and
 * backend_type NULL without pg_read_all_stats) count as active. */
static int pgdrv_active_sessions(struct mg_conn *c, int64_t *out, int64_t *hidden,
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

static int pgdrv_analyze(struct mg_conn *c, const char *table, struct mg_err *err)
{
	char *sql = mg_xasprintf("ANALYZE %s", table);
	int rc = exec_pc(downcast(c), sql, err);

	free(sql);
	return rc;
}

static int pgdrv_count_sessions(struct mg_conn *c, const char *pattern,
				int64_t *out, struct mg_err *err)
{
	char *like = mg_glob_to_like(pattern);
	char *pl = lit(like);
	/* migrate's own sessions (application_name migrate/...) never count */
	char *sql = mg_xasprintf("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
				 "AND pid <> pg_backend_pid() AND application_name NOT LIKE 'migrate/%%' "
				 "AND application_name LIKE %s ESCAPE '\\'", pl);
	char *v = NULL;
	int rc = query_scalar(downcast(c), sql, &v, err);

	*out = v ? strtoll(v, NULL, 10) : 0;
	free(v);
	free(sql);
	free(pl);
	free(like);
	return rc;
}

const struct mg_driver mg_postgres_driver = {
	.name = "postgres",
	.version = MG_DRIVER_VERSION,
	.caps = MG_CAP_TRANSACTIONAL_DDL | MG_CAP_CONCURRENT_INDEX,
	.accepts = pgdrv_accepts,
	.connect = pgdrv_connect,
	.close = pgdrv_close,
	.exec = pgdrv_exec,
	.query = pgdrv_query,
	.quote_ident = pgdrv_quote_ident,
	.fingerprint = pgdrv_fingerprint,
	.lock = pgdrv_lock,
	.unlock = pgdrv_unlock,
	.lock_holder = pgdrv_lock_holder,
	.lock_lost = pgdrv_lock_lost,
	.lock_check = pgdrv_lock_check,
	.history_read = pgdrv_history_read,
	.history_write = pgdrv_history_write,
	.describe_table = pgdrv_describe_table,
	.describe_column = pgdrv_describe_column,
	.column_dependents = pgdrv_column_dependents,
	.check_expr = pgdrv_check_expr,
	.canonical_type = pgdrv_canonical_type,
	.render = pgdrv_render,
	.check_blockers = pgdrv_check_blockers,
	.run_step = pgdrv_run_step,
	.backfill_bounds = pgdrv_backfill_bounds,
	.backfill_batch = pgdrv_backfill_batch,
	.backfill_split = pgdrv_backfill_split,
	.verify_batch = pgdrv_verify_batch,
	.analyze = pgdrv_analyze,
	.replication_lag_ms = pgdrv_replication_lag_ms,
	.active_sessions = pgdrv_active_sessions,
	.count_sessions = pgdrv_count_sessions,
	.plan_begin = pgdrv_plan_begin,
	.plan_end = pgdrv_plan_end,
	.check_index = pgdrv_check_index,
	.check_sql = pgdrv_check_sql,
	.plan_notes = pgdrv_plan_notes,
};
