/*
 * wait.c - the MySQL and MariaDB driver: bounded waits (every statement runs
 * non-blocking and is waited for with poll), KILL QUERY and the probe.
 */
#include "my.h"

/* ==== bounded waits ========================================================== */

/*
 * Every statement runs through Connector/C's non-blocking API
 * (MYSQL_OPT_NONBLOCK, mysql_real_query_start/_cont) and is waited for
 * with poll(), as the PostgreSQL driver does (see "bounded waits" there):
 *  - a stop (SIGINT/SIGTERM) is seen within MYDRV_SLICE_MS; the statement
 *    gets MYDRV_STOP_GRACE_MS to finish, then a second session sends KILL
 *    QUERY for it; no statement starts after a stop;
 *  - after network_timeout_ms with nothing from the server, a second
 *    session asks PROCESSLIST whether ours still runs the statement (an
 *    ALTER may be silent for a long time); when it does not, or that
 *    session cannot be had within network_timeout_ms, the link is given
 *    up: its socket is shut down, so nothing waits on it again.
 * Side sessions (probe, KILL, replicas) have no probe of their own: their
 * silence is bounded by network_timeout_ms alone.
 */
#define MYDRV_SLICE_MS 100
#define MYDRV_STOP_GRACE_MS 1000
#define MYDRV_SIDE_TIMEOUT_S 5


static const char *stop_signal_name(void)
{
	return mg_stop_requested == SIGTERM ? "SIGTERM" :
	       mg_stop_requested == SIGINT ? "SIGINT" : "a signal";
}

/* A side session to mc's server, bounded by timeout_s; NULL if none. */
static struct mydrv_conn *side_session(struct mydrv_conn *mc, unsigned timeout_s)
{
	struct mg_conn_opts o = { .application_name = "migrate/probe",
				  .network_timeout_ms = (int)timeout_s * 1000 };
	struct mg_err ignored = MG_ERR_INIT;
	struct mydrv_conn *side = NULL;

	if (!mc->url || open_conn(mc->url, &o, timeout_s, &side, &ignored) < 0)
		return NULL;
	return side;
}

static unsigned side_timeout_s(const struct mydrv_conn *mc)
{
	unsigned s = (unsigned)(mc->opts.network_timeout_ms + 999) / 1000;

	return s < 1 ? 1 : s;
}


/*
 * Does the server still run mc's statement? Asked on a side session:
 *  PROBE_RUNNING  yes;
 *  PROBE_ENDED    the session sleeps: the statement ended, its result is
 *                 on the way or lost;
 *  PROBE_LOST     no side session within network_timeout_ms, the session
 *                 is gone, or it is stuck sending its result to us.
 */
enum mydrv_probe { PROBE_LOST, PROBE_ENDED, PROBE_RUNNING };

/* When a probe last found the server unreachable (0: never); another
 * probe within network_timeout_ms of that does not wait to find the same. */
static int64_t mydrv_unreachable_at;

static int is_one(const char *cell)
{
	return cell && !strcmp(cell, "1");
}

static enum mydrv_probe probe_statement(struct mydrv_conn *mc)
{
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	struct mydrv_conn *side;
	int64_t seen = __atomic_load_n(&mydrv_unreachable_at, __ATOMIC_RELAXED);
	enum mydrv_probe found = PROBE_LOST;
	char sql[300];

	if (seen && mg_now_ms() - seen < mc->opts.network_timeout_ms)
		return PROBE_LOST;
	side = side_session(mc, side_timeout_s(mc));
	__atomic_store_n(&mydrv_unreachable_at, side ? 0 : mg_now_ms(), __ATOMIC_RELAXED);
	if (!side)
		return PROBE_LOST;
	snprintf(sql, sizeof(sql),
		 "SELECT COMMAND IN ('Query', 'Execute') "
		 "AND COALESCE(STATE, '') NOT IN ('Writing to net', 'Sending to client'), "
		 "COMMAND = 'Sleep' "
		 "FROM information_schema.PROCESSLIST WHERE ID = %lu",
		 mysql_thread_id(mc->my));
	if (query_mc(side, sql, &r, &ignored) == 0 && r.nrows == 1)
		found = is_one(mg_rows_get(&r, 0, 0)) ? PROBE_RUNNING :
			is_one(mg_rows_get(&r, 0, 1)) ? PROBE_ENDED : PROBE_LOST;
	mg_rows_release(&r);
	mydrv_close(&side->base);
	return found;
}

/* Stop using mc's link: shut its socket down, so that neither a pending
 * call nor mysql_close() waits on it. */
static void give_up(struct mydrv_conn *mc)
{
	my_socket fd = mysql_get_socket(mc->my);

	mc->broken = 1;
	if (fd != (my_socket)-1)
		shutdown(fd, SHUT_RDWR);
}

/* KILL QUERY for mc's statement from a side session; 1 when sent. */
static int kill_query(struct mydrv_conn *mc)
{
	struct mg_err ignored = MG_ERR_INIT;
	struct mydrv_conn *side;
	char sql[64];
	int rc;

	side = side_session(mc, side_timeout_s(mc) < MYDRV_SIDE_TIMEOUT_S ?
			    side_timeout_s(mc) : MYDRV_SIDE_TIMEOUT_S);
	if (!side)
		return 0;
	snprintf(sql, sizeof(sql), "KILL QUERY %lu", mysql_thread_id(mc->my));
	rc = exec_mc(side, sql, &ignored) == 0;
	mydrv_close(&side->base);
	return rc;
}

struct mydrv_wait {
	int64_t last;		/* when the server last sent or took something */
	int ended_seen;		/* a probe found the statement ended since */
	int64_t stop_at;	/* when the grace after a stop ends, 0: no stop */
	int killed;		/* KILL QUERY sent: only finishing the call */
};

/*
 * Wait for what a non-blocking call asks (status: MYSQL_WAIT_*). The
 * status to continue it with, or 0 when mc was given up (net_error says
 * why; the caller abandons the call).
 */
static int await_status(struct mydrv_conn *mc, int status, struct mydrv_wait *w)
{
	int nt = mc->opts.network_timeout_ms;
	struct pollfd pfd = { .fd = mysql_get_socket(mc->my) };

	if (status & MYSQL_WAIT_READ)
		pfd.events |= POLLIN;
	if (status & MYSQL_WAIT_WRITE)
		pfd.events |= POLLOUT;
	for (;;) {
		int64_t now = mg_now_ms();

		if (mg_stop_requested && !w->stop_at)
			w->stop_at = now + MYDRV_STOP_GRACE_MS;
		if (w->stop_at && now >= w->stop_at && !w->killed) {
			snprintf(mc->net_error, sizeof(mc->net_error), "interrupted by %s: the running statement was killed on the server (KILL QUERY)",
				 stop_signal_name());
			w->killed = 1;
			w->last = now;
			if (!kill_query(mc)) {
				give_up(mc);
				return 0;
			}
		}
		if (now - w->last >= nt) {
			enum mydrv_probe p = w->killed || mc->side ? PROBE_LOST :
					     probe_statement(mc);

			/* an ended statement's result gets one more
			 * network_timeout_ms to arrive */
			if (p == PROBE_LOST || (p == PROBE_ENDED && w->ended_seen)) {
				if (!w->killed)
					snprintf(mc->net_error, sizeof(mc->net_error), "no answer from the server for %d ms, and it does not show the statement running to a second session: gave up the connection",
						 (int)(mg_now_ms() - w->last) +
						 (w->ended_seen ? nt : 0));
				give_up(mc);
				return 0;
			}
			w->ended_seen = p == PROBE_ENDED;
			w->last = mg_now_ms();
		}
		if (poll(&pfd, 1, MYDRV_SLICE_MS) > 0) {
			int ready = 0;

			w->last = mg_now_ms();
			w->ended_seen = 0;
			if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
				ready |= MYSQL_WAIT_READ;
			if (pfd.revents & (POLLOUT | POLLERR | POLLHUP))
				ready |= MYSQL_WAIT_WRITE;
			return ready & status ? ready & status : status & ~MYSQL_WAIT_TIMEOUT;
		}
	}
}

/* Drive a non-blocking call: `call_start` already ran and returned
 * *status; `cont` continues it. 0 done, -1 given up. */
#define MYDRV_DRIVE(mc, w, status, cont) \
	while (status) { \
		int ready_ = await_status((mc), (status), (w)); \
		if (!ready_) \
			return -1; \
		status = (cont); \
	}

static int real_query(struct mydrv_conn *mc, const char *sql, struct mydrv_wait *w,
		      int *ret)
{
	int status = mysql_real_query_start(ret, mc->my, sql, strlen(sql));

	MYDRV_DRIVE(mc, w, status, mysql_real_query_cont(ret, mc->my, ready_));
	return 0;
}

static int store_result(struct mydrv_conn *mc, struct mydrv_wait *w, MYSQL_RES **res)
{
	int status = mysql_store_result_start(res, mc->my);

	MYDRV_DRIVE(mc, w, status, mysql_store_result_cont(res, mc->my, ready_));
	return 0;
}

static int next_result(struct mydrv_conn *mc, struct mydrv_wait *w, int *ret)
{
	int status = mysql_next_result_start(ret, mc->my);

	MYDRV_DRIVE(mc, w, status, mysql_next_result_cont(ret, mc->my, ready_));
	return 0;
}

/* The error number of the last statement; 0 when it was given up or
 * interrupted (mysql_errno() then still tells the one before). */
unsigned stmt_errno(const struct mydrv_conn *mc)
{
	return mc->net_error[0] ? 0 : mysql_errno(mc->my);
}

/* Before a statement: 0 it may start, -1 not (net_error set). */
static int may_start(struct mydrv_conn *mc)
{
	mc->net_error[0] = '\0';
	if (mc->broken)
		snprintf(mc->net_error, sizeof(mc->net_error), "the connection to the server was given up");
	else if (mg_stop_requested)
		snprintf(mc->net_error, sizeof(mc->net_error), "interrupted by %s", stop_signal_name());
	return mc->net_error[0] ? -1 : 0;
}

/*
 * Run one statement. *res is its result set, or NULL for a statement that
 * has none (the caller mysql_free_result()s it). Further result sets (a
 * CALL) are read and dropped, so the connection is ready for the next
 * statement; an error in one of them is this statement's error.
 */
int run(struct mydrv_conn *mc, const char *sql, MYSQL_RES **res,
	struct mg_err *err)
{
	struct mydrv_wait w = { .last = mg_now_ms() };
	MYSQL_RES *more;
	int st, ret;

	*res = NULL;
	if (may_start(mc) < 0 || real_query(mc, sql, &w, &ret) < 0)
		return set_my_error(err, mc);
	if (ret != 0) {
		if (!w.killed)
			mc->net_error[0] = '\0';
		return set_my_error(err, mc);
	}
	if (store_result(mc, &w, res) < 0)
		return set_my_error(err, mc);
	if (!*res && mysql_field_count(mc->my) != 0)
		return set_my_error(err, mc);
	/* read now: mysql_next_result() below resets it */
	mc->affected = (int64_t)mysql_affected_rows(mc->my);
	for (;;) {
		if (next_result(mc, &w, &st) < 0) {
			mysql_free_result(*res);
			*res = NULL;
			return set_my_error(err, mc);
		}
		if (st != 0)
			break;
		if (store_result(mc, &w, &more) < 0) {
			mysql_free_result(*res);
			*res = NULL;
			return set_my_error(err, mc);
		}
		mysql_free_result(more);
	}
	if (st > 0) {
		mysql_free_result(*res);
		*res = NULL;
		return set_my_error(err, mc);
	}
	return 0;
}

int exec_mc(struct mydrv_conn *mc, const char *sql, struct mg_err *err)
{
	MYSQL_RES *res;

	if (run(mc, sql, &res, err) < 0)
		return -1;
	mysql_free_result(res);
	return 0;
}

/* Text cells, row-major, NULL for SQL NULL (binary-safe lengths). */
static void fill_rows(MYSQL_RES *res, struct mg_rows *out)
{
	size_t nc = res ? mysql_num_fields(res) : 0;
	size_t nr = res ? (size_t)mysql_num_rows(res) : 0;
	MYSQL_ROW row;

	out->nrows = nr;
	out->ncols = nc;
	out->cells = mg_xcalloc(nr * nc + 1, sizeof(char *));
	for (size_t r = 0; r < nr && (row = mysql_fetch_row(res)); r++) {
		unsigned long *len = mysql_fetch_lengths(res);

		for (size_t k = 0; k < nc; k++)
			if (row[k])
				out->cells[r * nc + k] = mg_xstrndup(row[k], len[k]);
	}
}

int query_mc(struct mydrv_conn *mc, const char *sql, struct mg_rows *out,
	     struct mg_err *err)
{
	MYSQL_RES *res;

	memset(out, 0, sizeof(*out));
	if (run(mc, sql, &res, err) < 0)
		return -1;
	fill_rows(res, out);
	mysql_free_result(res);
	return 0;
}

/* First cell of the first row as a new string, NULL for no row / SQL NULL. */
int query_scalar(struct mydrv_conn *mc, const char *sql, char **out,
		 struct mg_err *err)
{
	struct mg_rows r = MG_ROWS_INIT;

	*out = NULL;
	if (query_mc(mc, sql, &r, err) < 0)
		return -1;
	if (r.nrows > 0 && r.ncols > 0)
		*out = mg_xstrdup(mg_rows_get(&r, 0, 0));
	mg_rows_release(&r);
	return 0;
}

/* The first cell as a number; 0 for no row or SQL NULL. */
int query_int(struct mydrv_conn *mc, const char *sql, int64_t *out,
	      struct mg_err *err)
{
	char *v = NULL;

	if (query_scalar(mc, sql, &v, err) < 0)
		return -1;
	*out = v ? strtoll(v, NULL, 10) : 0;
	free(v);
	return 0;
}

int mydrv_exec(struct mg_conn *c, const char *sql, struct mg_err *err)
{
	return exec_mc(downcast(c), sql, err);
}

int mydrv_query(struct mg_conn *c, const char *sql, struct mg_rows *out,
		struct mg_err *err)
{
	return query_mc(downcast(c), sql, out, err);
}
