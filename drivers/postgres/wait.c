/*
 * wait.c - the PostgreSQL driver: bounded waits (every statement is sent and waited
 * for with poll), cancel and the second-connection probe.
 */
#include "pg.h"

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
 *    either, the statement is cancelled and the connection given up. A
 *    statement the server shows as just ended gets one more
 *    network_timeout_ms for its result to arrive.
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
	return pgdrv_second_connect(pc, "migrate/probe", until);
}

int pgdrv_await_idle(PGconn *pg, int64_t ms)
{
	return await_idle(pg, ms);
}

PGconn *pgdrv_second_connect(struct pgdrv_conn *pc, const char *app, int64_t until)
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
	vals[n++] = app;
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
 * connection:
 *  PROBE_RUNNING  yes (also when it waits for a lock, and when a stop cut
 *                 the question short: the caller handles the stop);
 *  PROBE_ENDED    the backend is idle: the statement ended, and its result
 *                 is on the way or lost (the backend reports itself idle
 *                 just before it flushes the result, so a result can
 *                 still arrive after this answer);
 *  PROBE_LOST     no answer within network_timeout_ms, the backend is
 *                 gone, or it is blocked writing to us.
 */
enum pgdrv_probe { PROBE_LOST, PROBE_ENDED, PROBE_RUNNING };

/* When a probe last found the server unreachable (0: never). Another
 * connection's probe within network_timeout_ms of that does not wait to
 * find the same. */
static int64_t pgdrv_unreachable_at;

static enum pgdrv_probe probe_statement(struct pgdrv_conn *pc)
{
	int64_t now = mg_now_ms(), until = now + pc->opts.network_timeout_ms;
	int64_t seen = __atomic_load_n(&pgdrv_unreachable_at, __ATOMIC_RELAXED);
	enum pgdrv_probe found = PROBE_LOST;
	PGconn *pg;
	char sql[240];
	PGresult *res;

	if (seen && now - seen < pc->opts.network_timeout_ms)
		return PROBE_LOST;
	pg = probe_connect(pc, until);
	if (!pg && mg_stop_requested)
		return PROBE_RUNNING;
	__atomic_store_n(&pgdrv_unreachable_at, pg ? 0 : mg_now_ms(), __ATOMIC_RELAXED);
	if (!pg)
		return PROBE_LOST;
	snprintf(sql, sizeof(sql),
		 "SELECT state = 'active' AND wait_event IS DISTINCT FROM 'ClientWrite', "
		 "state = 'active' FROM pg_stat_activity WHERE pid = %d", PQbackendPID(pc->pg));
	if (PQsendQuery(pg, sql) && await_idle(pg, until - mg_now_ms())) {
		while ((res = PQgetResult(pg))) {
			if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
				found = PQgetvalue(res, 0, 0)[0] == 't' ? PROBE_RUNNING :
					PQgetvalue(res, 0, 1)[0] == 't' ? PROBE_LOST : PROBE_ENDED;
			PQclear(res);
		}
	}
	if (PQisBusy(pg))
		PQsetnonblocking(pg, 1);	/* PQfinish must not wait either */
	PQfinish(pg);
	return found;
}

/* Stop using pc's connection: nothing more is sent or waited for. */
void give_up(struct pgdrv_conn *pc)
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
	int64_t last = mg_now_ms(), heard = last, stop_at = 0;
	int nt = pc->opts.network_timeout_ms, ended_seen = 0;
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
			enum pgdrv_probe p = probe_statement(pc);

			/* an ended statement's result gets one more
			 * network_timeout_ms to arrive */
			if (p == PROBE_LOST || (p == PROBE_ENDED && ended_seen)) {
				snprintf(why, sizeof(why), "no answer from the server for %d ms, and it does not show the statement running to a second connection: gave up the connection",
					 (int)(mg_now_ms() - heard));
				cancel_statement(pc, 0, why);
				return 0;
			}
			ended_seen = p == PROBE_ENDED;
			last = mg_now_ms();
		}
		if (wait_socket(PQsocket(pc->pg), POLLIN, PGDRV_SLICE_MS)) {
			if (!PQconsumeInput(pc->pg))
				return 1;
			last = heard = mg_now_ms();
			ended_seen = 0;
		}
		pgdrv_watch_tick(pc);	/* an index build's progress, if due */
	}
	return 1;
}

/*
 * PQexec, bounded (see above): the result of the last statement in sql, or
 * of the first that failed; NULL when the wait was given up or no
 * statement could start (pc->net_error says why).
 */

PGresult *exec_bounded(struct pgdrv_conn *pc, const char *sql)
{
	return exec_bounded_params(pc, sql, -1, NULL);
}

/* exec_bounded with n text parameters (n < 0: the simple protocol, which
 * takes several statements; otherwise the extended one, exactly one). */
PGresult *exec_bounded_params(struct pgdrv_conn *pc, const char *sql,
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

int exec_pc(struct pgdrv_conn *pc, const char *sql, struct mg_err *err)
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
PGresult *query_pc(struct pgdrv_conn *pc, const char *sql,
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

int pgdrv_exec(struct mg_conn *c, const char *sql, struct mg_err *err)
{
	return exec_pc(downcast(c), sql, err);
}

int pgdrv_query(struct mg_conn *c, const char *sql, struct mg_rows *out,
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
