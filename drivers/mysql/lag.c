/*
 * lag.c - the MySQL and MariaDB driver: replication lag (--max-lag): replicas and
 * heartbeats.
 */
#include "my.h"

/* ==== replication lag (--max-lag) ========================================================= */

/*
 * The primary cannot tell how far its replicas have replayed, so migrate
 * asks each replica itself, as gh-ost and pt-osc do:
 *  - which replicas: the URL's replica=host:port parameters, or else the
 *    ones the primary lists (SHOW REPLICAS on MySQL 8.0.22+, SHOW SLAVE
 *    HOSTS on MariaDB and older MySQL) at their report_host and
 *    report_port, reached with the primary's user, password, database and
 *    TLS settings. Only direct replicas: a replica's own replicas are not
 *    looked for. A replica leaves that list when it stops replicating (or
 *    dies), which would make the lag read as if it were not there: so
 *    every replica listed since the process first checked is asked, listed
 *    now or not (struct heartbeats), and one that cannot say its lag
 *    pauses the backfill (fails closed) until it is back;
 *  - whether each replicates at all: SHOW REPLICA STATUS (MySQL 8.0.22+,
 *    MariaDB 10.5+; SHOW SLAVE STATUS before). No status, or a stopped
 *    I/O or SQL thread, is an error: --max-lag pauses (fails closed);
 *  - how far behind: a heartbeat. Each check first reads, on every
 *    replica, the newest heartbeat it has applied, then writes a new one
 *    on the primary: this process's row of _migrate_heartbeat, holding
 *    migrate's own clock in ms. The backfill's workers take turns at the
 *    checks, so the row and the ring of heartbeats written are the
 *    process's, shared by its sessions (struct heartbeats): whichever
 *    session checks knows the newest heartbeat, not only its own. The lag
 *    is the age of the oldest heartbeat written but not yet applied, 0
 *    when the replica has applied them all. Only migrate's clock is read,
 *    so clock skew between servers does not matter, and the resolution
 *    is the checks' (one a second), not whole seconds. Before the first
 *    heartbeat could have arrived, Seconds_Behind_Source (or _Master) is
 *    the lag.
 */
#define MYDRV_HEARTBEAT "`_migrate_heartbeat`"
#define MYDRV_HEARTBEATS 64		/* heartbeats remembered */
#define MYDRV_REPLICA_TIMEOUT_S 3	/* connecting to and reading a replica */

/* The heartbeats of this process, under mu: one row, shared by every
 * session that checks the lag (see above); reset when the last goes. */
static struct heartbeats {
	pthread_mutex_t mu;
	int users;			/* sessions with a struct mydrv_lag */
	int table_ready;		/* _migrate_heartbeat exists */
	int64_t id;			/* the row: the connection id of the first user */
	int64_t sent[MYDRV_HEARTBEATS];	/* heartbeats written, a ring, oldest first */
	size_t n_sent, first;
	struct listed_replica {		/* every replica the primary has listed */
		char *host;
		unsigned port;
	} *listed;
	size_t n_listed;
} heartbeats = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void replica_release(struct mydrv_replica *r)
{
	free(r->host);
	free(r->name);
	if (r->conn)
		mydrv_close(&r->conn->base);
	memset(r, 0, sizeof(*r));
}

void lag_release(struct mydrv_lag *lag)
{
	if (!lag)
		return;
	for (size_t i = 0; i < lag->n; i++)
		replica_release(&lag->replicas[i]);
	free(lag->replicas);
	free(lag);
}

/* The ring's i-th heartbeat, oldest first (under heartbeats.mu). */
static int64_t sent_at(const struct heartbeats *h, size_t i)
{
	return h->sent[(h->first + i) % MYDRV_HEARTBEATS];
}

static void remember_sent(struct heartbeats *h, int64_t v)
{
	if (h->n_sent == MYDRV_HEARTBEATS) {
		h->first = (h->first + 1) % MYDRV_HEARTBEATS;
		h->n_sent--;
	}
	h->sent[(h->first + h->n_sent++) % MYDRV_HEARTBEATS] = v;
}

/* The age at `now` of the oldest heartbeat written after `seen` (the one
 * the replica has applied; 0 or foreign: none of ours). -1: none written. */
static int64_t heartbeat_lag(int64_t seen, int64_t now)
{
	const struct heartbeats *h = &heartbeats;
	int64_t lag = 0;
	size_t i;

	pthread_mutex_lock(&heartbeats.mu);
	for (i = 0; i < h->n_sent; i++)
		if (sent_at(h, i) == seen)
			break;
	if (h->n_sent == 0)
		lag = -1;
	else if (i == h->n_sent)	/* not ours, or older than the ring */
		lag = now - sent_at(h, 0);
	else if (i + 1 < h->n_sent)	/* it has not applied the newest */
		lag = now - sent_at(h, i + 1);
	pthread_mutex_unlock(&heartbeats.mu);
	return lag;
}

/* Forget the replicas listed (under heartbeats.mu). */
static void forget_listed(struct heartbeats *h)
{
	for (size_t i = 0; i < h->n_listed; i++)
		free(h->listed[i].host);
	free(h->listed);
	h->listed = NULL;
	h->n_listed = 0;
}

/* Add a replica at host:port unless it is there; it is kept (marked). */
void keep_replica(struct mydrv_replica **list, size_t *n, struct mydrv_lag *old,
		  const char *host, unsigned port)
{
	struct mydrv_replica r = { 0 };

	for (size_t i = 0; i < *n; i++)
		if ((*list)[i].port == port && !strcmp((*list)[i].host, host))
			return;
	for (size_t i = 0; old && i < old->n; i++)
		if (old->replicas[i].host && old->replicas[i].port == port &&
		    !strcmp(old->replicas[i].host, host)) {
			r = old->replicas[i];	/* moved, connection and all */
			memset(&old->replicas[i], 0, sizeof(old->replicas[i]));
			break;
		}
	if (!r.host) {
		r.host = mg_xstrdup(host);
		r.port = port;
		r.name = strchr(host, ':') ? mg_xasprintf("[%s]:%u", host, port)
					   : mg_xasprintf("%s:%u", host, port);
	}
	*list = mg_xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = r;
}

/*
 * The process's memory of the replicas listed: the n_now listed now are
 * remembered; the ones listed before but not now are added to list
 * (marked unlisted), so that they are asked too.
 */
static void add_listed_before(struct mydrv_replica **list, size_t *n, struct mydrv_lag *old)
{
	struct heartbeats *h = &heartbeats;
	size_t n_now = *n;

	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < n_now; i++) {
		size_t j;

		for (j = 0; j < h->n_listed; j++)
			if (h->listed[j].port == (*list)[i].port && !strcmp(h->listed[j].host, (*list)[i].host))
				break;
		if (j == h->n_listed) {
			h->listed = mg_xrealloc(h->listed, (h->n_listed + 1) * sizeof(*h->listed));
			h->listed[h->n_listed].host = mg_xstrdup((*list)[i].host);
			h->listed[h->n_listed++].port = (*list)[i].port;
		}
	}
	for (size_t j = 0; j < h->n_listed; j++)
		keep_replica(list, n, old, h->listed[j].host, h->listed[j].port);
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < *n; i++)
		(*list)[i].unlisted = i >= n_now;
}

/*
 * The replicas as the primary lists them now (they come and go): their
 * server_id, report_host and report_port. A replica without report_host
 * cannot be reached: an error naming the way out.
 */
int list_replicas(struct mydrv_conn *mc, struct mydrv_lag *lag, struct mg_err *err)
{
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_err first = MG_ERR_INIT;
	struct mydrv_replica *list = NULL;
	size_t n = 0;
	int rc;

	rc = query_mc(mc, "SHOW REPLICAS", &r, &first);
	if (rc < 0 && stmt_errno(mc) == ER_PARSE_ERROR)
		rc = query_mc(mc, "SHOW SLAVE HOSTS", &r, err);
	else if (rc < 0)
		*err = first;
	if (rc < 0) {
		mg_err_prefix(err, "cannot list this server's replicas: ");
		return mg_err_hint(err, "GRANT REPLICATION SLAVE (MySQL) or REPLICATION MASTER ADMIN (MariaDB) ON *.* TO the user migrate connects as, or name the replicas in the URL (?replica=host:port), or run without --max-lag");
	}
	for (size_t i = 0; rc == 0 && i < r.nrows; i++) {
		const char *id = mg_rows_get(&r, i, 0), *host = mg_rows_get(&r, i, 1);
		const char *port = mg_rows_get(&r, i, 2);

		if (!host || !*host || !port || atoi(port) <= 0) {
			mg_err_set(err, MG_EDB, "the replica with server_id %s does not report where it can be reached (its report_host is not set)",
				   id ? id : "?");
			mg_err_hint(err, "set report_host (and report_port) on the replica, or name every replica in the URL: ?replica=host:port&replica=host2:port");
			rc = -1;
			break;
		}
		keep_replica(&list, &n, lag, host, (unsigned)atoi(port));
	}
	mg_rows_release(&r);
	for (size_t i = 0; i < lag->n; i++)
		replica_release(&lag->replicas[i]);
	free(lag->replicas);
	lag->replicas = list;
	lag->n = n;
	return rc;
}

int replica_connect(struct mydrv_conn *mc, struct mydrv_replica *rep, struct mg_err *err)
{
	struct mydrv_url u = *mc->url;	/* the primary's, but for host and port */
	struct mg_conn_opts opts = mc->opts;

	if (rep->conn)
		return 0;
	u.host = rep->host;
	u.port = rep->port;
	u.socket = NULL;
	opts.application_name = "migrate/replica";	/* never one of the colours' sessions */
	if (open_conn(&u, &opts, MYDRV_REPLICA_TIMEOUT_S, &rep->conn, err) < 0) {
		mg_err_prefix(err, "replica %s: ", rep->name);
		return -1;
	}
	return 0;
}

/* A cell of the current row by column name; NULL when there is none. */
static const char *cell_named(MYSQL_RES *res, MYSQL_ROW row, const char *name)
{
	MYSQL_FIELD *f = mysql_fetch_fields(res);
	unsigned n = mysql_num_fields(res);

	for (unsigned i = 0; i < n; i++)
		if (!strcasecmp(f[i].name, name))
			return row[i];
	return NULL;
}

static const char *cell_either(MYSQL_RES *res, MYSQL_ROW row, const char *a, const char *b)
{
	const char *v = cell_named(res, row, a);

	return v ? v : cell_named(res, row, b);
}

/*
 * Does replica rc replicate (both threads running)? *sbm_ms: its
 * Seconds_Behind_Source in ms, -1 when NULL. MySQL 8.0.22+ and MariaDB
 * 10.5+ know SHOW REPLICA STATUS; MySQL names the columns Replica_* and
 * *_Source, MariaDB Slave_* and *_Master.
 */
static int replica_running(struct mydrv_replica *rep, int64_t *sbm_ms, struct mg_err *err)
{
	struct mydrv_conn *rc = rep->conn;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	const char *io, *sql, *sbm;
	int ret = 0;

	if (run(rc, "SHOW REPLICA STATUS", &res, err) < 0) {
		if (stmt_errno(rc) != ER_PARSE_ERROR)
			goto failed;
		mg_err_clear(err);
		if (run(rc, "SHOW SLAVE STATUS", &res, err) < 0)
			goto failed;
	}
	row = res ? mysql_fetch_row(res) : NULL;
	if (!row) {
		mysql_free_result(res);
		mg_err_set(err, MG_EDB, "replica %s does not replicate (SHOW REPLICA STATUS is empty)", rep->name);
		return mg_err_hint(err, "name only replicas of this server in the URL's replica= parameters");
	}
	io = cell_either(res, row, "Replica_IO_Running", "Slave_IO_Running");
	sql = cell_either(res, row, "Replica_SQL_Running", "Slave_SQL_Running");
	sbm = cell_either(res, row, "Seconds_Behind_Source", "Seconds_Behind_Master");
	if (!io || !sql || strcasecmp(io, "Yes") || strcasecmp(sql, "Yes")) {
		mg_err_set(err, MG_EDB, "replication on replica %s is stopped (I/O thread: %s, SQL thread: %s)",
			   rep->name, io ? io : "?", sql ? sql : "?");
		mg_err_hint(err, "start it (START REPLICA, or START SLAVE on MariaDB before 10.5) and the backfill goes on by itself");
		ret = -1;
	}
	*sbm_ms = sbm ? strtoll(sbm, NULL, 10) * 1000 : -1;
	mysql_free_result(res);
	return ret;
failed:
	mg_err_prefix(err, "cannot read the replication status of replica %s: ", rep->name);
	return mg_err_hint(err, "GRANT REPLICATION CLIENT (MySQL) or REPLICA MONITOR (MariaDB 10.5+) ON *.* TO the user migrate connects as, on the replica, or run without --max-lag");
}

/* The newest of our heartbeats replica rep has applied, 0 for none. */
static int replica_heartbeat(struct mydrv_replica *rep, int64_t *seen, struct mg_err *err)
{
	char sql[128];

	pthread_mutex_lock(&heartbeats.mu);
	snprintf(sql, sizeof(sql), "SELECT sent_ms FROM " MYDRV_HEARTBEAT " WHERE id = %lld",
		 (long long)heartbeats.id);
	pthread_mutex_unlock(&heartbeats.mu);
	if (query_int(rep->conn, sql, seen, err) == 0)
		return 0;
	if (stmt_errno(rep->conn) == ER_NO_SUCH_TABLE) {	/* not replicated yet */
		mg_err_clear(err);
		*seen = 0;
		return 0;
	}
	mg_err_prefix(err, "cannot read migrate's heartbeat on replica %s: ", rep->name);
	return -1;
}

/* The lag of one replica, connecting to it first when need be. */
static int replica_lag(struct mydrv_conn *mc, struct mydrv_replica *rep, int64_t now,
		       int64_t *out, struct mg_err *err)
{
	int64_t sbm = -1, seen = 0, hb;

	if (replica_connect(mc, rep, err) < 0)
		return -1;
	if (replica_running(rep, &sbm, err) < 0 || replica_heartbeat(rep, &seen, err) < 0) {
		if (rep->conn->broken || mysql_errno(rep->conn->my) >= CR_MIN_ERROR) {
			mydrv_close(&rep->conn->base);	/* lost: reconnect next time */
			rep->conn = NULL;
		}
		return -1;
	}
	hb = heartbeat_lag(seen, now);
	if (hb >= 0) {
		*out = hb;
		return 0;
	}
	if (sbm < 0) {
		mg_err_set(err, MG_EDB, "replica %s does not know its lag yet (Seconds_Behind_Source is NULL)", rep->name);
		return -1;
	}
	*out = sbm;
	return 0;
}

/* Write the next heartbeat on the primary, creating its table once. The
 * lock is held over the write, so the ring is in the order of the writes
 * (the backfill checks one session at a time anyway). */
static int send_heartbeat(struct mydrv_conn *mc, int64_t now, struct mg_err *err)
{
	struct heartbeats *h = &heartbeats;
	char sql[256];
	int rc = -1;

	pthread_mutex_lock(&h->mu);
	if (h->n_sent && now <= sent_at(h, h->n_sent - 1))
		now = sent_at(h, h->n_sent - 1) + 1;	/* strictly increasing */
	if (!h->table_ready &&
	    exec_mc(mc, "CREATE TABLE IF NOT EXISTS " MYDRV_HEARTBEAT " ("
		    "id BIGINT UNSIGNED NOT NULL PRIMARY KEY, sent_ms BIGINT NOT NULL) "
		    "ENGINE=InnoDB COMMENT 'migrate backfill --max-lag heartbeats'", err) < 0)
		goto out;
	h->table_ready = 1;
	snprintf(sql, sizeof(sql), "INSERT INTO " MYDRV_HEARTBEAT " (id, sent_ms) VALUES (%lld, %lld) "
		 "ON DUPLICATE KEY UPDATE sent_ms = %lld", (long long)h->id, (long long)now,
		 (long long)now);
	if (exec_mc(mc, sql, err) < 0)
		goto out;
	remember_sent(h, now);
	rc = 0;
out:
	pthread_mutex_unlock(&h->mu);
	if (rc < 0) {
		mg_err_prefix(err, "cannot write migrate's replication heartbeat: ");
		mg_err_hint(err, "GRANT CREATE, INSERT, UPDATE ON the database TO the user migrate connects as (docs/grants.md), or run without --max-lag");
	}
	return rc;
}

/* A session starts to check the lag: the first one names the row. */
static void join_heartbeats(struct mydrv_conn *mc)
{
	pthread_mutex_lock(&heartbeats.mu);
	if (heartbeats.users++ == 0)
		heartbeats.id = (int64_t)mysql_thread_id(mc->my);
	pthread_mutex_unlock(&heartbeats.mu);
}

/* At close of a session that checked the lag: when it is the last one,
 * the row goes (if the user may DELETE: a row left behind is harmless, a
 * later process whose first session gets that connection id overwrites
 * it) and the ring starts afresh. */
void forget_heartbeat(struct mydrv_conn *mc)
{
	struct heartbeats *h = &heartbeats;
	struct mg_err e = MG_ERR_INIT;
	char sql[128];

	if (!mc->lag)
		return;
	pthread_mutex_lock(&h->mu);
	if (--h->users == 0) {
		snprintf(sql, sizeof(sql), "DELETE FROM " MYDRV_HEARTBEAT " WHERE id = %lld",
			 (long long)h->id);
		if (h->table_ready && exec_mc(mc, sql, &e) < 0)
			mg_debug("mysql: cannot remove the heartbeat row: %s", e.msg);
		h->table_ready = 0;
		h->n_sent = h->first = 0;
		h->id = 0;
		forget_listed(h);
	}
	pthread_mutex_unlock(&h->mu);
}

/*
 * lag's replicas := the ones the primary lists now and the ones it listed
 * since the process's first check but does not now (marked unlisted),
 * connections kept. The unlisted ones step aside while list_replicas
 * (which keeps only what it lists) runs.
 */
static int list_with_listed_before(struct mydrv_conn *mc, struct mydrv_lag *lag,
				   struct mg_err *err)
{
	struct mydrv_lag before = { 0 };
	size_t kept = 0;
	int rc;

	before.replicas = mg_xcalloc(lag->n ? lag->n : 1, sizeof(*before.replicas));
	for (size_t i = 0; i < lag->n; i++) {
		if (lag->replicas[i].unlisted)
			before.replicas[before.n++] = lag->replicas[i];
		else
			lag->replicas[kept++] = lag->replicas[i];
	}
	lag->n = kept;
	rc = list_replicas(mc, lag, err);
	if (rc == 0)
		add_listed_before(&lag->replicas, &lag->n, &before);
	for (size_t i = 0; i < before.n; i++)
		replica_release(&before.replicas[i]);
	free(before.replicas);
	return rc;
}

/* "msg; step": what to do, in the message itself (a pause shows the
 * message only). */
static void add_next_step(struct mg_err *err, const char *step)
{
	size_t len = strlen(err->msg);

	snprintf(err->msg + len, sizeof(err->msg) - len, "; %s", step);
}

int mydrv_replication_lag_ms(struct mg_conn *c, int64_t *out, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mydrv_lag *lag = mc->lag;
	int64_t now, worst = 0;

	*out = 0;
	if (!mc->url)
		return mg_err_set(err, MG_EDB, "this session cannot reach replicas");
	if (!lag) {
		lag = mc->lag = mg_xcalloc(1, sizeof(*lag));
		join_heartbeats(mc);
		for (size_t i = 0; i < mc->url->n_replicas; i++)
			keep_replica(&lag->replicas, &lag->n, NULL, mc->url->replicas[i].host,
				     mc->url->replicas[i].port);
	}
	if (!mc->url->n_replicas && list_with_listed_before(mc, lag, err) < 0)
		return -1;
	if (lag->n == 0)
		return 0;
	now = mg_now_ms();
	for (size_t i = 0; i < lag->n; i++) {
		int64_t v = 0;

		if (replica_lag(mc, &lag->replicas[i], now, &v, err) < 0) {
			if (lag->replicas[i].unlisted)
				add_next_step(err, "it was replicating when the backfill began: bring it back, "
					      "or if it was removed on purpose stop the backfill and run it again");
			return -1;
		}
		if (v > worst)
			worst = v;
	}
	if (send_heartbeat(mc, now, err) < 0)
		return -1;
	*out = worst;
	return 0;
}
