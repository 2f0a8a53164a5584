/*
 * places.c - the MySQL and MariaDB driver: a colour's sessions counted on
 * the primary and on every replica (issue 17). An application that reads
 * from a replica uses the schema as much as one that writes to the
 * primary, and its sessions are only in the replica's PROCESSLIST.
 *
 * The replicas are the URL's replica=host:port parameters, or else the
 * ones the primary lists now (SHOW REPLICAS or SHOW SLAVE HOSTS, as
 * --max-lag finds them: lag.c), each reached with the primary's user,
 * password and TLS settings and asked the same question as the primary
 * (load.c: PROCESSLIST and program_name). A server without a binary log
 * has no replicas, so it is not asked for a list (which would need
 * REPLICATION MASTER ADMIN on MariaDB, REPLICATION SLAVE on MySQL).
 *
 * The count is kept place by place ("primary", then "replica HOST:PORT"
 * for each replica in the order found), one query per server; the total
 * is their sum.
 *
 * Fail closed: a replica that cannot be reached or read, or a primary
 * that refuses to list its replicas, makes the count fail (-1, the place
 * named), so the colour counts as alive.
 */
#include "my.h"

#include <stdlib.h>
#include <string.h>

/* Does the primary write a binary log (and so may have replicas)? */
static int has_binlog(struct mydrv_conn *mc, int *out, struct mg_err *err)
{
	int64_t on = 0;

	if (query_int(mc, "SELECT @@GLOBAL.log_bin", &on, err) < 0)
		return -1;
	*out = on != 0;
	return 0;
}

/* mc->places := the replicas to count on now (they come and go when the
 * primary lists them). */
static int find_replicas(struct mydrv_conn *mc, struct mg_err *err)
{
	struct mydrv_lag *pl = mc->places;
	int binlog = 0;

	if (!pl) {
		pl = mc->places = mg_xcalloc(1, sizeof(*pl));
		for (size_t i = 0; i < mc->url->n_replicas; i++)
			keep_replica(&pl->replicas, &pl->n, NULL, mc->url->replicas[i].host,
				     mc->url->replicas[i].port);
	}
	if (mc->url->n_replicas)
		return 0;
	if (has_binlog(mc, &binlog, err) < 0)
		return -1;
	if (!binlog)
		return 0;
	if (list_replicas(mc, pl, err) == 0)
		return 0;
	if (is_privilege_error(stmt_errno(mc)))
		mg_err_hint(err, "GRANT REPLICATION MASTER ADMIN (MariaDB) or REPLICATION SLAVE (MySQL) ON *.* TO the user migrate connects as, so that colour sessions on the replicas can be counted, or name every replica in the URL (?replica=host:port&replica=host2:port); see docs/grants.md");
	return -1;
}

/* The count on replica rep, connecting first when need be; a lost
 * connection is dropped so that the next count connects again. */
static int count_on_replica(struct mydrv_conn *mc, struct mydrv_replica *rep,
			    const char *pattern, char *const *except, size_t n_except,
			    int64_t *out, struct mg_err *err)
{
	*out = 0;
	if (replica_connect(mc, rep, err) < 0) {
		mg_err_prefix(err, "on ");
		return mg_err_hint(err, "check that replica %s runs and accepts the URL's user; if it is gone for good, take it out of the URL's replica= parameters (or let the primary stop listing it)",
				   rep->name);
	}
	if (mydrv_count_sessions_here(rep->conn, pattern, except, n_except, out, err) == 0)
		return 0;
	mg_err_prefix(err, "on replica %s: ", rep->name);
	if (rep->conn->broken || mysql_errno(rep->conn->my) >= CR_MIN_ERROR) {
		mydrv_close(&rep->conn->base);
		rep->conn = NULL;
	}
	return -1;
}

int mydrv_count_by_place(struct mg_conn *c, const char *pattern,
			 char *const *except, size_t n_except,
			 struct mg_place_counts *out, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	int64_t n = 0;

	if (mydrv_count_sessions_here(mc, pattern, except, n_except, &n, err) < 0)
		return -1;
	mg_place_counts_add(out, "primary", NULL, n);
	if (!mc->url)	/* a side session: the primary alone */
		return 0;
	if (find_replicas(mc, err) < 0)
		return -1;
	for (size_t i = 0; i < mc->places->n; i++) {
		struct mydrv_replica *rep = &mc->places->replicas[i];

		if (count_on_replica(mc, rep, pattern, except, n_except, &n, err) < 0)
			return -1;
		mg_place_counts_add(out, "replica", rep->name, n);
	}
	return 0;
}
