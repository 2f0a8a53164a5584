/*
 * runner.c - the MySQL and MariaDB driver: running one try of a step
 * (ALGORITHM levels, history in the same commit, asserts); the core tries
 * again a step whose lock wait ran out.
 */
#include "my.h"

/* ==== running steps ======================================================================= */

/*
 * MySQL 8.0.29+ refuses ALGORITHM=INSTANT with these once a table has had
 * 64 instant column changes (ER_INNODB_MAX_ROW_VERSION) or when the row
 * could outgrow the limit (ER_INNODB_INSTANT_ADD_NOT_SUPPORTED_MAX_SIZE).
 * Numbers above 4000 are not shared: on MariaDB 4092 is ER_UNKNOWN_VIEW,
 * so they count only when the server is MySQL.
 */
#define MYDRV_ER_MYSQL_MAX_ROW_VERSION 4092
#define MYDRV_ER_MYSQL_INSTANT_MAX_SIZE 4093

/* The server refuses the ALGORITHM= an ALTER TABLE asked for. */
static int is_algorithm_refusal(const struct mydrv_conn *mc, unsigned no)
{
	return (no >= ER_ALTER_OPERATION_NOT_SUPPORTED &&
		no <= ER_ALTER_OPERATION_NOT_SUPPORTED_REASON_FTS) ||
	       no == ER_ALTER_OPERATION_NOT_SUPPORTED_REASON_NOT_NULL ||
	       no == ER_ALTER_OPERATION_NOT_SUPPORTED_REASON_GIS ||
	       (!mc->mariadb && (no == MYDRV_ER_MYSQL_MAX_ROW_VERSION ||
				 no == MYDRV_ER_MYSQL_INSTANT_MAX_SIZE));
}

/* A lock wait that ran out (metadata locks for DDL, row locks for DML)
 * or a deadlock: the statement did nothing and may be tried again. */
int is_lock_wait(unsigned no)
{
	return no == ER_LOCK_WAIT_TIMEOUT || no == ER_LOCK_DEADLOCK;
}

/*
 * The algorithms an ALTER TABLE may fall back to, cheapest first. A step
 * runs at one level: every ALTER's clause below the level is raised to it
 * (those already done are no-ops the second time: the statements are
 * idempotent). MariaDB: INSTANT (metadata only), NOCOPY (in place, never a
 * rebuild), INPLACE (in place, may rebuild: allow_rebuild), COPY (copies
 * the table and blocks writes: allow_copy). MySQL 8 has no NOCOPY: the
 * MySQL dialect skips it (next_level).
 */
static const char *const alg_levels[] = {
	MYDRV_ALG_INSTANT, MYDRV_ALG_NOCOPY, MYDRV_ALG_INPLACE, MYDRV_ALG_COPY
};
#define MYDRV_LEVEL_REBUILD 2
#define MYDRV_LEVEL_COPY 3

static char *replace_all(const char *s, const char *from, const char *to)
{
	struct mg_buf b = MG_BUF_INIT;
	size_t n = strlen(from);
	const char *p;

	while ((p = strstr(s, from))) {
		mg_buf_add(&b, s, (size_t)(p - s));
		mg_buf_adds(&b, to);
		s = p + n;
	}
	mg_buf_adds(&b, s);
	return mg_buf_detach(&b);
}

static char *sql_at_level(const char *sql, int level)
{
	char *out = mg_xstrdup(sql);

	for (int l = 0; l < level; l++) {
		char *next = replace_all(out, alg_levels[l], alg_levels[level]);

		free(out);
		out = next;
	}
	return out;
}

/*
 * The level after a refusal at `level`. MariaDB walks the chain one by
 * one. In the MySQL dialect the plan asks for INSTANT (column changes) or
 * INPLACE (index and constraint changes, in place without a rebuild per
 * the manual): a refused INSTANT goes to INPLACE, which may rebuild, so it
 * needs allow_rebuild; a step that asked for INPLACE only was refused
 * INPLACE itself, and next is COPY. A step with both asks for
 * allow_rebuild first, which may be more than it needs, never less.
 */
static int next_level(const struct mydrv_conn *mc, const struct mg_step *s, int level)
{
	if (!mc->mysql_dialect)
		return level + 1;
	if (level == 0 && strstr(s->sql, MYDRV_ALG_INSTANT))
		return MYDRV_LEVEL_REBUILD;
	return MYDRV_LEVEL_COPY;
}

/* Does the step allow this fallback (an enum mg_step_option)? Its
 * options say; plans recorded by v0.11.0 said it in the first lines of
 * the SQL (`-- allow_rebuild`), which are read as well. */
static int step_allows(const struct mg_step *s, unsigned option)
{
	const char *line = option == MG_STEP_ALLOW_REBUILD ? MYDRV_ALLOW_REBUILD : MYDRV_ALLOW_COPY;
	size_t n = strlen(line);

	if (s->options & option)
		return 1;
	for (const char *p = s->sql; !strncmp(p, "-- allow_", 9); p = strchr(p, '\n') + 1)
		if (!strncmp(p, line, n))
			return 1;
	return 0;
}

/* MG_EREFUSED: the server can do the step only at `level`, which the
 * operations do not allow. */
static int refuse_level(struct mg_err *err, const struct mg_step *s, int level, const char *why)
{
	if (level == MYDRV_LEVEL_REBUILD) {
		mg_err_set(err, MG_EREFUSED,
			   "'%s' needs a rebuild of the table (%s): in place without locks, but the table is rewritten and replicas replay it single-threaded",
			   s->description, why);
		return mg_err_hint(err, "to accept that, add 'allow_rebuild: true' to the operation (the file's checksum changes: roll back first if it was expanded)");
	}
	mg_err_set(err, MG_EREFUSED,
		   "'%s' needs ALGORITHM=COPY (%s): the table would be copied while writes to it wait",
		   s->description, why);
	return mg_err_hint(err, "to accept that, add 'allow_copy: true' to the operation (the file's checksum changes: roll back first if it was expanded)");
}

/* A step this driver wrote, not a sql step's SQL (those name no table),
 * which runs as written: no algorithm is raised in it. */
static int is_ours(const struct mg_step *s)
{
	return s->table != NULL;
}

/* After a failed try: a step that failed under LOCK TABLES must not keep
 * them, nor a sql step its open transaction, nor a step its
 * foreign_key_checks = 0. */
static void undo_open_state(struct mydrv_conn *mc)
{
	struct mg_err ignored = MG_ERR_INIT;

	exec_mc(mc, "ROLLBACK", &ignored);
	exec_mc(mc, "UNLOCK TABLES", &ignored);
	/* a constraint rename that failed between its SET lines */
	exec_mc(mc, "SET foreign_key_checks = 1", &ignored);
}

/*
 * MariaDB: before one of migrate's DDL steps waits for its metadata locks
 * (queueing the application's statements on the table behind it, for up
 * to --lock-timeout, and letting the server pick an application
 * transaction as the victim of a metadata-lock deadlock: error 1213 in
 * the application), it tries without waiting: lock_wait_timeout 0 makes
 * a statement fail at once while a transaction holds the table. Under
 * steady load there are gaps between the application's transactions;
 * the step is tried again every few ms, for up to --lock-timeout, and
 * usually goes through one of them, so the application never waits for
 * it. Then, or on any other error, the normal try that waits runs (and
 * meets the same error again, with all the handling below). MySQL's
 * lock_wait_timeout is at least 1 s: there the step waits at once.
 * 1: the step is done.
 */
static int done_without_waiting(struct mydrv_conn *mc, const struct mg_step *s,
				const char *sql)
{
	int64_t end = mg_now_ms() + mc->opts.lock_timeout_ms;
	struct mg_err e = MG_ERR_INIT;
	char restore[64];
	int done = 0, tries = 0;

	if (!mc->mariadb || !is_ours(s) ||
	    exec_mc(mc, "SET SESSION lock_wait_timeout = 0", &e) < 0)
		return 0;
	for (;;) {
		tries++;
		if (exec_mc(mc, sql, &e) == 0) {
			done = 1;
			break;
		}
		if (!is_lock_wait(stmt_errno(mc)))
			break;
		undo_open_state(mc);
		if (mg_now_ms() >= end || mg_stop_requested)
			break;
		mg_sleep_ms(2 + tries % 7);
	}
	if (!done)
		undo_open_state(mc);
	mg_debug("mysql: '%s' %s after %d tries without waiting", s->description,
		 done ? "went through" : "did not go through", tries);
	snprintf(restore, sizeof(restore), "SET SESSION lock_wait_timeout = %d", lock_wait_s(mc));
	if (exec_mc(mc, restore, &e) < 0)
		mg_debug("mysql: cannot restore lock_wait_timeout: %s", e.msg);
	return done;
}

/*
 * Is a transaction of another session that began at least a second ago
 * (INNODB_TRX counts whole seconds) still running, in this database (the
 * session's current one: INNODB_TRX does not name the tables; a session
 * with none counts)? A DDL statement that
 * waits for its metadata lock behind such a transaction queues the
 * application's statements on the table for the whole lock_wait_timeout
 * (a second or more), and in that time each application transaction that
 * read the table and then writes it is picked as the victim of a
 * metadata-lock deadlock. Transactions of a steady load are shorter and
 * end while the statement waits. Without PROCESS, INNODB_TRX is not
 * readable: 0, and the statement waits as it always did.
 */
static int old_transaction_running(struct mydrv_conn *mc)
{
	struct mg_err ignored = MG_ERR_INIT;
	int64_t n = 0;

	if (query_int(mc, "SELECT COUNT(*) FROM information_schema.INNODB_TRX x "
		      "LEFT JOIN information_schema.PROCESSLIST p ON p.ID = x.trx_mysql_thread_id "
		      "WHERE x.trx_mysql_thread_id <> CONNECTION_ID() "
		      "AND x.trx_started <= NOW() - INTERVAL 1 SECOND "
		      "AND (p.DB IS NULL OR p.DB = DATABASE())", &n, &ignored) < 0)
		return 0;
	return n > 0;
}

/*
 * A statement that builds an index or rebuilds the table: its metadata
 * lock is taken at its start and again at its end, after the build. Not
 * tried without waiting (done_without_waiting): under steady load that
 * lock is rarely free at the end, and a build that fails there is undone
 * and wasted (with sysbench oltp_read_write, 4 threads, 200k rows: no
 * build of 420 tries went through, some failed after the whole build).
 */
static int is_build(const char *sql, int level)
{
	return level >= MYDRV_LEVEL_REBUILD || strstr(sql, " ADD INDEX ") ||
	       strstr(sql, " ADD UNIQUE INDEX ");
}

/*
 * MariaDB, before a build waits for its metadata lock: watch, for up to
 * --lock-timeout, for the old transactions to end (nobody queues behind
 * the watch). 0: none left, the build may wait for the young ones; -1: a
 * transaction still runs, the try ends as a lock wait and the core tries
 * again later. INNODB_TRX is InnoDB's cache, refilled by a read only when
 * no read came in the 100 ms before it (CACHE_MIN_IDLE_TIME_US): polled
 * faster it shows the first moment for good, and a transaction that ended
 * would keep the build waiting for the whole --lock-timeout.
 */
#define INNODB_TRX_POLL_MS 120

static int old_transactions_gone(struct mydrv_conn *mc)
{
	int64_t end = mg_now_ms() + mc->opts.lock_timeout_ms;

	while (old_transaction_running(mc)) {
		if (mg_now_ms() >= end || mg_stop_requested)
			return -1;
		mg_sleep_ms(INNODB_TRX_POLL_MS);
	}
	return 0;
}

/*
 * MariaDB: how one of our statements gets its metadata lock without
 * queueing the application behind it for long. 1: done; 0: the try that
 * waits (lock_wait_timeout) may run now; -1: it must not (an old
 * transaction holds on): a lock wait, tried again by the core.
 */
static int without_queueing(struct mydrv_conn *mc, const struct mg_step *s,
			    const char *sql, int level)
{
	if (!mc->mariadb || !is_ours(s))
		return 0;
	if (is_build(sql, level))
		return old_transactions_gone(mc);
	if (done_without_waiting(mc, s, sql))
		return 1;
	if (old_transaction_running(mc)) {
		mg_debug("mysql: an old transaction still runs: '%s' does not wait behind it",
			 s->description);
		return -1;
	}
	return 0;
}

/*
 * One try of the statements of a step: a refused algorithm moves the step
 * one level down the chain (not a try; the level reached is kept in
 * rep->progress for the next try), a lock wait that ran out
 * (lock_wait_timeout = --lock-timeout, in whole seconds) sets
 * rep->lock_wait, and the core tries again with jittered backoff up to
 * --lock-retries times, counting the stall (src/lockretry.c).
 */
static int run_ddl_step(struct mydrv_conn *mc, const struct mg_step *s,
			struct mg_step_report *rep, struct mg_err *err)
{
	int level = rep->progress, lock_s = lock_wait_s(mc);

	rep->tries = rep->attempt;
	rep->lock_wait_ms = lock_s * 1000;
	rep->lock_retries = mc->opts.lock_retries;
	for (;;) {
		char *sql = sql_at_level(s->sql, level);
		/* a table's contract with nothing to change is an empty step
		 * (its history row is all it does): the server refuses an
		 * empty query (error 1065) */
		int empty = sql[strspn(sql, " \t\r\n")] == '\0';
		int how = empty ? 1 : without_queueing(mc, s, sql, level);
		int rc = how > 0 ? 0 : how < 0 ? -1 : exec_mc(mc, sql, err);
		unsigned no = rc < 0 ? stmt_errno(mc) : 0;

		free(sql);
		if (rc == 0)
			return 0;
		if (how < 0) {
			mg_err_set(err, MG_EDB, "a transaction older than a second held the table for all of %d ms",
				   mc->opts.lock_timeout_ms);
			rep->lock_wait = 1;
			rep->progress = level;
			return -1;
		}
		undo_open_state(mc);
		if (is_algorithm_refusal(mc, no) && is_ours(s) && level < MYDRV_LEVEL_COPY) {
			char why[sizeof(err->msg)];

			memcpy(why, err->msg, sizeof(why));
			level = next_level(mc, s, level);
			if ((level == MYDRV_LEVEL_REBUILD && !step_allows(s, MG_STEP_ALLOW_REBUILD)) ||
			    (level == MYDRV_LEVEL_COPY && !step_allows(s, MG_STEP_ALLOW_COPY)))
				return refuse_level(err, s, level, why);
			mg_info("  the server refused the planned algorithm (%s): trying%s", why,
				alg_levels[level] + 1);
			continue;
		}
		if (no == ER_DUP_ENTRY && is_ours(s) && strstr(s->sql, "ADD UNIQUE INDEX "))
			return mg_err_hint(err, "the rows hold that value more than once (the server removed the half-built index, nothing else changed): remove the duplicates and run expand again, or roll back");
		rep->lock_wait = is_lock_wait(no);
		rep->progress = level;
		return -1;
	}
}

/*
 * The end of a sql step with in_transaction: true: its history row in its
 * transaction, then COMMIT, so SQL that is only DML never runs twice.
 * When the history table is still missing, creating it would commit
 * implicitly: then the SQL commits first and the row is written after.
 */
static int commit_with_history(struct mydrv_conn *mc, const struct mg_history_write *w,
			       struct mg_err *err)
{
	struct mg_err ignored = MG_ERR_INIT;
	int64_t exists = 0;
	char *up;

	if (w && query_int(mc, history_exists_sql, &exists, err) < 0)
		goto fail;
	if (!w || !exists) {
		if (exec_mc(mc, "COMMIT", err) < 0)
			goto fail;
		return w ? mydrv_history_write(&mc->base, w, err) : 0;
	}
	up = history_upsert_sql(mc, w);
	if (exec_mc(mc, up, err) < 0) {
		free(up);
		mg_err_prefix(err, "cannot write the history table: ");
		goto fail;
	}
	free(up);
	if (exec_mc(mc, "COMMIT", err) == 0)
		return 0;
fail:
	exec_mc(mc, "ROLLBACK", &ignored);
	return -1;
}

static int run_assert(struct mydrv_conn *mc, const struct mg_step *s, struct mg_err *err)
{
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_buf why = MG_BUF_INIT;
	size_t n;

	if (query_mc(mc, s->sql, &r, err) < 0)
		return -1;
	n = r.nrows;
	for (size_t i = 0; i < n && i < 10; i++)
		mg_buf_addf(&why, "%s%s", i ? "; " : "", mg_rows_get(&r, i, 0) ? mg_rows_get(&r, i, 0) : "");
	mg_rows_release(&r);
	if (n > 0) {
		mg_err_set(err, MG_EREFUSED, "check failed: %s: %s", s->description, why.buf);
		mg_err_hint(err, "resolve it, then run the command again");
	}
	mg_buf_release(&why);
	return n > 0 ? -1 : 0;
}

/* Test hook: MIGRATE_FAULT=<phase>-unrecorded:<step> kills migrate after
 * the step's statements ran and before its history row is written, the
 * window a crash leaves the step done but not recorded. */
static void fault_before_history(const struct mg_history_write *w)
{
	char point[64];

	if (!w->step_phase)
		return;
	snprintf(point, sizeof(point), "%s-unrecorded", w->step_phase);
	mg_fault_point(point, w->step_index, 0);
}

/*
 * MG_STEP_TX and MG_STEP_NOTX are the same here: DDL commits implicitly,
 * so the statements run first and the history row is written after them
 * (a crash in between runs the idempotent step again). The exception is a
 * sql step with in_transaction: true, committed with its history row. Before each step
 * that changes a table, the long-transaction check: every DDL statement
 * queues the application behind its metadata lock while it waits (once
 * per step, not again on the core's lock retries: rep->attempt > 1).
 */
int mydrv_run_step(struct mg_conn *c, const struct mg_step *s,
		   const struct mg_history_write *w,
		   struct mg_step_report *rep, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);

	if (s->kind == MG_STEP_ASSERT)
		return run_assert(mc, s, err);
	if (s->table && rep->attempt <= 1) {
		const char *tables[1] = { s->table };

		if (mydrv_check_blockers(c, tables, 1, err) < 0)
			return -1;
	}
	if (run_ddl_step(mc, s, rep, err) < 0)
		return -1;
	if (!is_ours(s) && !strncmp(s->sql, MYDRV_START_TX, strlen(MYDRV_START_TX)))
		return commit_with_history(mc, w, err);
	if (!w)
		return 0;
	fault_before_history(w);
	return mydrv_history_write(c, w, err);
}
