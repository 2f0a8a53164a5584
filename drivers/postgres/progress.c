/*
 * progress.c - the PostgreSQL driver: what an index build is doing
 * (watch_steps).
 *
 * CREATE INDEX CONCURRENTLY can run for long without a word: it scans
 * the table twice, and before each phase it waits for transactions — for
 * those writing to the table, and before it finishes for every
 * transaction in the database that is older than its snapshot, also ones
 * that never touch the table. pg_stat_progress_create_index (PostgreSQL
 * 12+) tells which phase it is in, how far a scan got, and in
 * current_locker_pid which session it waits for; pg_stat_activity says
 * what that session is (without pg_read_all_stats, only for sessions of
 * the same role).
 *
 * It is read on a second connection (the first is busy with the build),
 * kept open for the build, every MG_STEP_WATCH_MS, from the wait loop of
 * wait.c. A reading that fails is skipped: watching never fails a step.
 */
#include "pg.h"

/* the answer of one reading gets this long */
#define PGDRV_WATCH_QUERY_MS 2000

void pgdrv_watch_steps(struct mg_conn *c, mg_step_progress_fn fn, void *arg)
{
	struct pgdrv_conn *pc = downcast(c);

	pc->watch_fn = fn;
	pc->watch_arg = arg;
}

void pgdrv_watch_begin(struct pgdrv_conn *pc, const char *index)
{
	if (!pc->watch_fn)
		return;
	pc->building = index;
	pc->watch_next = mg_now_ms() + MG_STEP_WATCH_MS;
}

static void close_watch_conn(struct pgdrv_conn *pc)
{
	if (!pc->watch_pg)
		return;
	if (PQisBusy(pc->watch_pg))
		PQsetnonblocking(pc->watch_pg, 1);	/* PQfinish must not wait */
	PQfinish(pc->watch_pg);
	pc->watch_pg = NULL;
}

void pgdrv_watch_end(struct pgdrv_conn *pc)
{
	pc->building = NULL;
	close_watch_conn(pc);
}

static const char progress_sql[] =
	"SELECT p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,"
	" p.lockers_total - p.lockers_done, p.current_locker_pid,"
	" a.application_name, a.state,"
	" extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::bigint * 1000"
	" FROM pg_stat_progress_create_index p"
	" LEFT JOIN pg_stat_activity a ON a.pid = p.current_locker_pid"
	" WHERE p.pid = $1";

/* One reading, on pc->watch_pg: the result or NULL. */
static PGresult *read_progress(struct pgdrv_conn *pc)
{
	int64_t until = mg_now_ms() + PGDRV_WATCH_QUERY_MS;
	char pid[16];
	const char *values[1] = { pid };
	PGresult *keep = NULL, *r;

	if (!pc->watch_pg)
		pc->watch_pg = pgdrv_second_connect(pc, "migrate/progress", until);
	if (!pc->watch_pg)
		return NULL;
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(pc->pg));
	if (!PQsendQueryParams(pc->watch_pg, progress_sql, 1, NULL, values, NULL, NULL, 0) ||
	    !pgdrv_await_idle(pc->watch_pg, until - mg_now_ms())) {
		close_watch_conn(pc);	/* a slow or broken link: connect anew next time */
		return NULL;
	}
	while ((r = PQgetResult(pc->watch_pg))) {
		PQclear(keep);
		keep = r;
	}
	if (PQresultStatus(keep) != PGRES_TUPLES_OK || PQntuples(keep) != 1) {
		PQclear(keep);
		return NULL;
	}
	return keep;
}

static long long cell_ll(const PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? 0 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

/* "writers" for the waits before build and validation, "old
 * transactions" for the snapshot wait, "readers" for the drop waits. */
static const char *waited_kind(const char *phase)
{
	if (strstr(phase, "old snapshots"))
		return "older than the build";
	if (strstr(phase, "writers"))
		return "writing to the table";
	return "using the table";
}

/* Who the build waits for: "1 transaction older than the build: pid 4242
 * app 'report' idle in transaction for 11m: end it or wait". */
static void describe_wait(struct mg_step_progress *p, const PGresult *r)
{
	long long left = cell_ll(r, 5), pid = cell_ll(r, 6), age = cell_ll(r, 9);
	char d[32];
	int n;

	if (left < 1)
		left = 1;
	p->waiting_pid = pid;
	n = snprintf(p->waiting_for, sizeof(p->waiting_for), "waiting for %lld transaction%s %s",
		     left, left == 1 ? "" : "s", waited_kind(p->phase));
	if (pid <= 0 || n < 0 || (size_t)n >= sizeof(p->waiting_for))
		return;
	if (PQgetisnull(r, 0, 8)) {
		snprintf(p->waiting_for + n, sizeof(p->waiting_for) - (size_t)n,
			 ": pid %lld (what it runs is hidden from this role: pg_read_all_stats shows it): end it or wait",
			 pid);
		return;
	}
	mg_format_duration(d, age > 0 ? age : 0);
	snprintf(p->waiting_for + n, sizeof(p->waiting_for) - (size_t)n,
		 ": pid %lld app '%.100s' %s for %s: end it or wait", pid,
		 PQgetvalue(r, 0, 7), PQgetvalue(r, 0, 8), d);
}

void pgdrv_watch_tick(struct pgdrv_conn *pc)
{
	struct mg_step_progress p;
	PGresult *r;

	if (!pc->building || !pc->watch_fn || mg_now_ms() < pc->watch_next ||
	    mg_stop_requested)
		return;
	memset(&p, 0, sizeof(p));
	p.object = pc->building;
	r = read_progress(pc);
	pc->watch_next = mg_now_ms() + MG_STEP_WATCH_MS;
	if (!r)
		return;	/* not started yet, already done, or unreadable */
	snprintf(p.phase, sizeof(p.phase), "%s", PQgetvalue(r, 0, 0));
	if (cell_ll(r, 2) > 0) {
		p.done = cell_ll(r, 1);
		p.total = cell_ll(r, 2);
		snprintf(p.unit, sizeof(p.unit), "blocks");
	} else if (cell_ll(r, 4) > 0) {
		p.done = cell_ll(r, 3);
		p.total = cell_ll(r, 4);
		snprintf(p.unit, sizeof(p.unit), "tuples");
	}
	if (!strncmp(p.phase, "waiting for", 11))
		describe_wait(&p, r);
	PQclear(r);
	pc->watch_fn(pc->watch_arg, &p);
}
