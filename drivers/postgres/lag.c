/*
 * lag.c - the PostgreSQL driver: replication lag (backfill --max-lag), and
 * the standbys it must see to trust the figure.
 */
#include "pg.h"

/*
 * The lag is what the primary measures itself, in pg_stat_replication:
 * each standby's replay_lag (its own clock, no skew), the slowest counts.
 * Alone that fails open: a standby that stops, crashes or loses its
 * network simply leaves the view, and the lag of the ones left may be 0.
 * So the figure is trusted only when every standby that should be there
 * is there:
 *  - the URL's standby=HOST:PORT places (url.h) are asked themselves:
 *    each must answer, be in recovery and have its WAL receiver
 *    streaming (pg_stat_wal_receiver). A cascading standby, which the
 *    primary does not see, is checked this way too (its lag is its
 *    upstream's to measure: see docs/operations.md);
 *  - the standbys the primary listed the first time this process read the
 *    lag are remembered, per primary, by every session of the process (the
 *    backfill's workers take turns at the check): how many stream under
 *    each application_name (cluster_name; walreceiver when unset, so
 *    several may share it), and from which client addresses, for the
 *    message. Fewer of a name later makes the lag unreadable until they
 *    are back. Counting by name, not address, lets a standby come back
 *    from another address (a rescheduled pod) and still count as back. A
 *    standby that attaches later is watched from then on.
 * Unreadable is -1 with err naming the standby and what to do: the
 * backfill pauses (fails closed) and goes on by itself once it is back.
 */
#define PGDRV_PLACE_READ_MS 3000	/* a standby that does not answer in time is unreadable */

/* ==== the standbys the primary lists =================================================== */

struct standby_seen {
	char *name;		/* application_name (cluster_name, or walreceiver) */
	char *addrs;		/* their client_addr ("a unix socket" when NULL), ", "-separated */
	int count;		/* how many stream under this name */
};

/* What one primary's standbys were, for every session of this process
 * that reads its lag (under watch.mu). Kept until the process ends: a new
 * process (a rerun of the backfill) looks afresh. */
struct primary_watch {
	char *key;		/* the primary's URL as libpq got it */
	struct standby_seen *seen;
	size_t n;
	struct primary_watch *next;
};

static struct {
	pthread_mutex_t mu;
	struct primary_watch *list;
} watch = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The entry of v named name, NULL when there is none. */
static struct standby_seen *seen_named(struct standby_seen *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

/* Add addr to s's addresses unless it is the last one added (the rows
 * come ordered by name and address, so a repeat is the last). */
static void add_addr(struct standby_seen *s, const char *addr)
{
	char *old = s->addrs;
	const char *last = old ? strrchr(old, ',') : NULL;

	last = last ? last + 2 : old;
	if (last && !strcmp(last, addr))
		return;
	s->addrs = old ? mg_xasprintf("%s, %s", old, addr) : mg_xstrdup(addr);
	free(old);
}

/* The standbys listed now, by name, from rows (name, addr) of res. */
static void count_listed(PGresult *res, struct standby_seen **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *name = PQgetvalue(res, r, 0);
		struct standby_seen *s = seen_named(*out, *n, name);

		if (!s) {
			*out = mg_xrealloc(*out, (*n + 1) * sizeof(**out));
			s = &(*out)[(*n)++];
			*s = (struct standby_seen){ mg_xstrdup(name), NULL, 0 };
		}
		add_addr(s, PQgetvalue(res, r, 1));
		s->count++;
	}
}

static void seen_free(struct standby_seen *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].addrs);
	}
	free(v);
}

static struct primary_watch *watch_for(const char *key)
{
	struct primary_watch *w;

	for (w = watch.list; w; w = w->next)
		if (!strcmp(w->key, key))
			return w;
	w = mg_xcalloc(1, sizeof(*w));
	w->key = mg_xstrdup(key);
	w->next = watch.list;
	watch.list = w;
	return w;
}

/* Remember the standbys listed now: a name first listed now, or more of
 * a name than before (and where they are, when all are there). */
static void watch_newcomers(struct primary_watch *w, const struct standby_seen *now, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct standby_seen *s = seen_named(w->seen, w->n, now[i].name);

		if (!s) {
			w->seen = mg_xrealloc(w->seen, (w->n + 1) * sizeof(*w->seen));
			s = &w->seen[w->n++];
			*s = (struct standby_seen){ mg_xstrdup(now[i].name), NULL, 0 };
		}
		if (now[i].count >= s->count) {
			s->count = now[i].count;
			free(s->addrs);
			s->addrs = mg_xstrdup(now[i].addrs);
		}
	}
}

/*
 * 0 when every standby this process has seen streaming from pc's primary
 * still does (res: the ones streaming now); -1 with err naming the first
 * one missing. The first call for a primary only remembers.
 */
static int check_listed(struct pgdrv_conn *pc, PGresult *res, struct mg_err *err)
{
	struct standby_seen *now;
	struct primary_watch *w;
	size_t n;
	int rc = 0;

	count_listed(res, &now, &n);
	pthread_mutex_lock(&watch.mu);
	w = watch_for(pc->libpq_url);
	for (size_t i = 0; i < w->n && rc == 0; i++) {
		const struct standby_seen *s = &w->seen[i];
		const struct standby_seen *cur = seen_named(now, n, s->name);
		int have = cur ? cur->count : 0;

		if (have >= s->count)
			continue;
		if (s->count == 1)
			mg_err_set(err, MG_EDB, "standby '%s' (from %s) no longer streams from this server: "
				   "bring it back and the backfill goes on; removed on purpose? stop the backfill and run it again",
				   s->name, s->addrs);
		else
			mg_err_set(err, MG_EDB, "%d of %d standbys '%s' (from %s) no longer stream from this server: "
				   "bring them back and the backfill goes on; removed on purpose? stop the backfill and run it again",
				   s->count - have, s->count, s->name, s->addrs);
		mg_err_hint(err, "a standby that stopped streaming cannot say how far it lags, so the backfill waits for it; "
			    "if it was removed on purpose, stop the backfill (Ctrl-C or SIGTERM) and run it again: it resumes "
			    "from its checkpoint and watches only the standbys streaming then");
		rc = -1;
	}
	watch_newcomers(w, now, n);
	pthread_mutex_unlock(&watch.mu);
	seen_free(now, n);
	return rc;
}

/* ==== the standbys named in the URL (standby=HOST:PORT) ================================= */

/* "msg; step": what to do, in the message itself (a pause shows the
 * message only). */
static void add_next_step(struct mg_err *err, const char *step)
{
	size_t len = strlen(err->msg);

	snprintf(err->msg + len, sizeof(err->msg) - len, "; %s", step);
}

/*
 * Is standby place i there and streaming? In recovery, with a WAL
 * receiver whose status is streaming. The receiver's status is shown to
 * roles with pg_read_all_stats (pg_monitor) only: its pid to every role.
 */
static int check_named(struct pgdrv_conn *pc, size_t i, struct mg_err *err)
{
	const char *name = pc->places.list[i].name;
	PGresult *res = pgdrv_place_query(pc, i,
		"SELECT pg_is_in_recovery(), r.pid IS NOT NULL, coalesce(r.status, '') "
		"FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver r ON true", PGDRV_PLACE_READ_MS, err);
	const char *status;
	int rc = -1;

	if (!res) {
		add_next_step(err, "the backfill goes on once it streams again");
		mg_err_hint(err, "start standby %s again (the backfill goes on by itself once it streams), "
			    "or, if it is gone for good, take standby=%s out of the URL and run the backfill again", name, name);
		return -1;
	}
	status = PQgetvalue(res, 0, 2);
	if (strcmp(PQgetvalue(res, 0, 0), "t"))
		mg_err_set(err, MG_EDB, "standby %s is not in recovery (promoted?): take it out of the URL's standby= list", name);
	else if (strcmp(PQgetvalue(res, 0, 1), "t"))
		mg_err_set(err, MG_EDB, "standby %s receives no WAL (no WAL receiver runs): check its primary_conninfo and its log", name);
	else if (!*status)
		mg_err_set(err, MG_EDB, "standby %s hides its WAL receiver's status from this role: GRANT pg_monitor TO it on the primary", name);
	else if (strcmp(status, "streaming"))
		mg_err_set(err, MG_EDB, "standby %s is not streaming (its WAL receiver is %s): the backfill goes on once it streams",
			   name, status);
	else
		rc = 0;
	PQclear(res);
	return rc;
}

static int check_named_standbys(struct pgdrv_conn *pc, struct mg_err *err)
{
	for (size_t i = 0; i < pc->places.n; i++)
		if (pc->places.list[i].kind == PGDRV_STANDBY && check_named(pc, i, err) < 0)
			return -1;
	return 0;
}

/* ==== the lag ============================================================================ */

/*
 * Every replica the primary lists: name, address, whether its positions
 * are hidden from this role (sent_lsn NULL without pg_monitor), its lag
 * in ms: replay_lag, or 0 for one that has replayed everything
 * (PostgreSQL shows NULL lag for an idle, caught-up standby). One that is
 * behind lags at least as long as it has not replied: a standby cut off
 * by the network stays listed (until wal_sender_timeout) with its last
 * replay_lag, which would not grow, while its last reply ages. A client
 * that receives WAL but never replays it (pg_receivewal, pg_basebackup's
 * stream: replay_lsn NULL, sent_lsn set) is not a replica the application
 * reads from, nor is a standby still starting (state startup or backup).
 */
#define PGDRV_REPLICAS_SQL \
	"SELECT coalesce(application_name, ''), coalesce(host(client_addr), 'a unix socket'), " \
	"sent_lsn IS NULL, " \
	"CASE WHEN replay_lsn >= sent_lsn AND replay_lag IS NULL THEN 0 " \
	"ELSE (extract(epoch FROM greatest(coalesce(replay_lag, interval '0'), " \
	"CASE WHEN replay_lsn < sent_lsn THEN now() - reply_time ELSE interval '0' END)) * 1000)::bigint END " \
	"FROM pg_stat_replication " \
	"WHERE sent_lsn IS NULL OR (replay_lsn IS NOT NULL AND state IN ('streaming', 'catchup')) " \
	"ORDER BY 1, 2"

int pgdrv_replication_lag_ms(struct mg_conn *c, int64_t *out, struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	PGresult *res;
	int64_t worst = 0;

	*out = 0;
	if (check_named_standbys(pc, err) < 0)
		return -1;
	res = query_pc(pc, PGDRV_REPLICAS_SQL, err);
	if (!res)
		return -1;
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t v = strtoll(PQgetvalue(res, r, 3), NULL, 10);

		if (!strcmp(PQgetvalue(res, r, 2), "t")) {
			PQclear(res);
			mg_err_set(err, MG_EDB, "pg_stat_replication hides the replicas' positions from this role");
			return mg_err_hint(err, "GRANT pg_monitor TO the role migrate connects as, or run without --max-lag");
		}
		if (v > worst)
			worst = v;
	}
	if (check_listed(pc, res, err) < 0) {
		PQclear(res);
		return -1;
	}
	PQclear(res);
	*out = worst;
	return 0;
}
