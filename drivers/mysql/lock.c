/*
 * lock.c - the MySQL and MariaDB driver: the migrate lock (GET_LOCK) and the blockers
 * check.
 */
#include "my.h"

/* ==== the migrate lock and blockers ============================================ */

/*
 * Is performance_schema on, and may this user read the connection
 * attributes (program_name) in it? Asked once per connection: it needs
 * SELECT on performance_schema, and grants rarely change under us.
 */
enum mydrv_attrs attrs_state(struct mydrv_conn *mc)
{
	struct mg_err e = MG_ERR_INIT;
	int64_t on = 0;

	if (mc->attrs != MYDRV_ATTRS_UNKNOWN)
		return mc->attrs;
	mc->attrs = MYDRV_ATTRS_OFF;
	if (query_int(mc, "SELECT @@GLOBAL.performance_schema", &on, &e) < 0 || !on) {
		mg_debug("mysql: performance_schema is off: sessions are matched by user only");
	} else if (query_int(mc, "SELECT COUNT(*) FROM performance_schema.session_connect_attrs "
			     "WHERE 1 = 0", &on, &e) < 0) {
		mg_debug("mysql: connection attributes are not readable: %s", e.msg);
		mc->attrs = MYDRV_ATTRS_HIDDEN;
	} else {
		mc->attrs = MYDRV_ATTRS_READABLE;
	}
	return mc->attrs;
}

int attrs_readable(struct mydrv_conn *mc)
{
	return attrs_state(mc) == MYDRV_ATTRS_READABLE;
}

/* The SQL for session p's program_name, when it can be read. */
const char *attr_join(struct mydrv_conn *mc)
{
	return attrs_readable(mc) ? MYDRV_ATTR_JOIN : "";
}

const char *attr_value(struct mydrv_conn *mc)
{
	return attrs_readable(mc) ? "a.ATTR_VALUE" : "NULL";
}

/* Count the characters of UTF-8 text (the server's unit for names). */
size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/*
 * GET_LOCK names are server-wide and at most 64 characters on MySQL 5.7+:
 * 'migrate:' + the database name, or for a name too long for that,
 * 'migrate:' + 56 hex digits of its SHA-256.
 */
void set_lock_name(struct mydrv_conn *mc, const char *db)
{
	size_t room = MYDRV_LOCK_NAME_MAX - strlen(MYDRV_LOCK_PREFIX);

	if (utf8_chars(db) <= room) {
		snprintf(mc->lock_name, sizeof(mc->lock_name), MYDRV_LOCK_PREFIX "%s", db);
	} else {
		char hex[65];

		mg_sha256_hex(hex, db, strlen(db));
		snprintf(mc->lock_name, sizeof(mc->lock_name), MYDRV_LOCK_PREFIX "%.*s",
			 (int)room, hex);
	}
}

/* PROCESSLIST's COMMAND in PostgreSQL's words: a session that waits for
 * its client is "idle", any other is "active". */
static int is_idle(const char *command)
{
	return command && !strcmp(command, "Sleep");
}

/* MG_EDB naming the session that holds our lock (connection id holder). */
static int lock_taken(struct mydrv_conn *mc, const char *holder, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	long id = strtol(holder, NULL, 10);

	mg_buf_addf(&sql, "SELECT COALESCE(NULLIF(%s, ''), '(none)'), p.USER, p.HOST, "
		    "p.COMMAND, p.TIME FROM information_schema.PROCESSLIST p %s WHERE p.ID = %ld",
		    attr_value(mc), attr_join(mc), id);
	if (query_mc(mc, sql.buf, &r, &ignored) == 0 && r.nrows > 0) {
		mg_err_set(err, MG_EDB,
			   "another migrate holds the lock on this database: connection %ld, application '%s', user '%s', client %s, %s for %s s",
			   id, attrs_readable(mc) ? mg_rows_get(&r, 0, 0) : "(unknown)",
			   mg_rows_get(&r, 0, 1) ? mg_rows_get(&r, 0, 1) : "",
			   mg_rows_get(&r, 0, 2) ? mg_rows_get(&r, 0, 2) : "",
			   is_idle(mg_rows_get(&r, 0, 3)) ? "idle" : "active",
			   mg_rows_get(&r, 0, 4) ? mg_rows_get(&r, 0, 4) : "?");
		mg_err_hint(err, "%s", MG_LOCK_HELD_HINT);
	} else {
		mg_err_set(err, MG_EDB,
			   "another migrate holds the lock on this database (connection %ld; its session is not visible to this user)",
			   id);
		mg_err_hint(err, "wait for it to finish and run the command again (with the PROCESS privilege migrate names who holds it)");
	}
	mg_rows_release(&r);
	mg_buf_release(&sql);
	return -1;
}

/*
 * GET_LOCK(name, 0): the lock belongs to this connection and goes when it
 * does, however the process ends. Taken by someone else: IS_USED_LOCK
 * names the connection; when it was let go between the two calls, try
 * once more.
 */
int mydrv_lock(struct mg_conn *c, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf lit = MG_BUF_INIT, sql = MG_BUF_INIT;
	char *db = NULL, *got = NULL, *holder = NULL;
	int rc = -1;

	if (mc->locked)		/* GET_LOCK nests: one unlock must be enough */
		return 0;
	if (query_scalar(mc, "SELECT DATABASE()", &db, err) < 0)
		goto out;
	set_lock_name(mc, db ? db : "");
	add_literal(mc, &lit, mc->lock_name);
	for (int attempt = 0; attempt < 2 && !holder; attempt++) {
		mg_buf_reset(&sql);
		mg_buf_addf(&sql, "SELECT GET_LOCK(%s, 0)", lit.buf);
		free(got);
		if (query_scalar(mc, sql.buf, &got, err) < 0)
			goto out;
		if (got && !strcmp(got, "1")) {
			mc->locked = 1;
			mc->lock_id = mysql_thread_id(mc->my);
			rc = 0;
			goto out;
		}
		if (!got) {
			mg_err_set(err, MG_EDB, "cannot take the migrate lock '%s' (GET_LOCK returned NULL)",
				   mc->lock_name);
			goto out;
		}
		mg_buf_reset(&sql);
		mg_buf_addf(&sql, "SELECT IS_USED_LOCK(%s)", lit.buf);
		if (query_scalar(mc, sql.buf, &holder, err) < 0)
			goto out;
	}
	if (holder)
		lock_taken(mc, holder, err);
	else
		mg_err_set(err, MG_EDB, "the migrate lock '%s' is being taken and let go by other sessions",
			   mc->lock_name);
out:
	free(db);
	free(got);
	free(holder);
	mg_buf_release(&lit);
	mg_buf_release(&sql);
	return rc;
}

void mydrv_unlock(struct mg_conn *c)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_err ignored = MG_ERR_INIT;
	struct mg_buf sql = MG_BUF_INIT;

	if (!mc->locked)
		return;
	mg_buf_adds(&sql, "DO RELEASE_LOCK(");
	add_literal(mc, &sql, mc->lock_name);
	mg_buf_adds(&sql, ")");
	exec_mc(mc, sql.buf, &ignored);
	mc->locked = 0;
	mg_buf_release(&sql);
}

int mydrv_lock_holder(struct mg_conn *c, struct mg_buf *out, struct mg_err *err)
{
	(void)err;
	mg_buf_addf(out, "%lu", mysql_thread_id(downcast(c)->my));
	return 0;
}

int mydrv_lock_lost(struct mg_conn *c, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_err ignored = MG_ERR_INIT;
	char session[48], cause[sizeof(err->msg)];

	/* a link given up or a stop by signal is its own cause, not a lost
	 * lock; the probe is a bounded statement, not mysql_ping() */
	if (!mc->locked || mc->broken || mg_stop_requested ||
	    exec_mc(mc, "DO 1", &ignored) == 0)
		return 0;
	/* no answer to the probe either: the network, not a lost lock */
	if (mc->broken || mg_stop_requested)
		return 0;
	snprintf(session, sizeof(session), "connection %lu", mc->lock_id);
	snprintf(cause, sizeof(cause), "%s", err->msg);
	mg_err_lock_lost(err, session, "was terminated", cause);
	return 1;
}

/*
 * Split a table as the planner writes it (`t`, `db`.`t`, or bare t, db.t)
 * into its unquoted parts; *schema is NULL when it is unqualified.
 */
void split_table(const char *t, char **schema, char **name)
{
	struct mg_buf part[2] = { MG_BUF_INIT, MG_BUF_INIT };
	int k = 0;

	for (const char *p = t; *p;) {
		if (*p == '.' && k == 0) {
			k = 1;
			p++;
		} else if (*p != '`') {
			mg_buf_addc(&part[k], *p++);
		} else {
			for (p++; *p; p++) {
				if (*p == '`' && p[1] != '`')
					break;
				if (*p == '`')
					p++;	/* a doubled backtick is one */
				mg_buf_addc(&part[k], *p);
			}
			if (*p)
				p++;
		}
	}
	*schema = k ? mg_buf_detach(&part[0]) : NULL;
	*name = mg_buf_detach(&part[k]);
	mg_buf_release(&part[0]);
	mg_buf_release(&part[1]);
}

/* "(m.OBJECT_SCHEMA = ... AND m.OBJECT_NAME = ...) OR ..." for tables. */
static void add_tables_condition(struct mydrv_conn *mc, struct mg_buf *b,
				 const char *const *tables, size_t n)
{
	mg_buf_adds(b, "(");
	for (size_t i = 0; i < n; i++) {
		char *schema, *name;

		split_table(tables[i], &schema, &name);
		mg_buf_adds(b, i ? " OR (m.OBJECT_SCHEMA = " : "(m.OBJECT_SCHEMA = ");
		if (schema)
			add_literal(mc, b, schema);
		else
			mg_buf_adds(b, "DATABASE()");
		mg_buf_adds(b, " AND m.OBJECT_NAME = ");
		add_literal(mc, b, name);
		mg_buf_adds(b, ")");
		free(schema);
		free(name);
	}
	mg_buf_adds(b, ")");
}

/* Does performance_schema record metadata locks (the locks DDL waits
 * for)? MySQL 8 does by default; MariaDB and MySQL 5.7 only with the
 * wait/lock/metadata/sql/mdl instrument enabled. */
static int mdl_visible(struct mydrv_conn *mc)
{
	struct mg_err ignored = MG_ERR_INIT;
	int64_t on = 0;

	if (query_int(mc, "SELECT @@GLOBAL.performance_schema AND EXISTS (SELECT 1 FROM "
		      "performance_schema.setup_instruments WHERE NAME = "
		      "'wait/lock/metadata/sql/mdl' AND ENABLED = 'YES') AND NOT EXISTS "
		      "(SELECT 1 FROM performance_schema.metadata_locks WHERE 1 = 0)",
		      &on, &ignored) < 0)
		return 0;
	return on != 0;
}

/* Columns: connection, application, user, state (COMMAND), age in s,
 * query, table; the sessions in PROCESSLIST p, their transaction in x. */
#define MYDRV_BLOCKER_COLUMNS \
	"COALESCE(NULLIF(%s, ''), '(none)'), COALESCE(p.USER, ''), " \
	"COALESCE(p.COMMAND, ''), %s AS age, " \
	"LEFT(REPLACE(REPLACE(COALESCE(x.trx_query, p.INFO, ''), CHAR(10 USING utf8mb4), ' '), " \
	"CHAR(13 USING utf8mb4), ' '), 160), "

/*
 * Sessions holding a lock on one of the tables in a transaction older than
 * max_tx_age_s. With metadata locks visible that is exact: the sessions
 * holding a granted metadata lock on the tables (what ALTER TABLE waits
 * for), aged by their InnoDB transaction or else by their statement.
 * Without them, every InnoDB transaction older than the limit may hold
 * one, so each counts (the safe side: wait a little, not queue the
 * application behind our DDL).
 */
static void blockers_sql(struct mydrv_conn *mc, struct mg_buf *b, int mdl,
			 const char *const *tables, size_t n)
{
	if (mdl) {
		mg_buf_addf(b, "SELECT DISTINCT p.ID, " MYDRV_BLOCKER_COLUMNS
			    "CONCAT('`', m.OBJECT_NAME, '`') "
			    "FROM performance_schema.metadata_locks m "
			    "JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID "
			    "JOIN information_schema.PROCESSLIST p ON p.ID = t.PROCESSLIST_ID "
			    "LEFT JOIN information_schema.INNODB_TRX x ON x.trx_mysql_thread_id = p.ID %s"
			    "WHERE m.OBJECT_TYPE = 'TABLE' AND m.LOCK_STATUS = 'GRANTED' "
			    "AND p.ID <> CONNECTION_ID() AND ",
			    attr_value(mc),
			    "COALESCE(TIMESTAMPDIFF(SECOND, x.trx_started, NOW()), p.TIME, 0)",
			    attr_join(mc));
		add_tables_condition(mc, b, tables, n);
	} else {
		mg_buf_addf(b, "SELECT x.trx_mysql_thread_id, " MYDRV_BLOCKER_COLUMNS "'' "
			    "FROM information_schema.INNODB_TRX x "
			    "LEFT JOIN information_schema.PROCESSLIST p ON p.ID = x.trx_mysql_thread_id %s"
			    "WHERE x.trx_mysql_thread_id <> CONNECTION_ID()",
			    attr_value(mc), "TIMESTAMPDIFF(SECOND, x.trx_started, NOW())",
			    attr_join(mc));
	}
	mg_buf_addf(b, " HAVING age > %d ORDER BY age DESC LIMIT 5", mc->opts.max_tx_age_s);
}

int mydrv_check_blockers(struct mg_conn *c, const char *const *tables,
			 size_t n, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT, who = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	int mdl, rc = 0;

	if (n == 0)
		return 0;
	mdl = mdl_visible(mc);
	blockers_sql(mc, &sql, mdl, tables, n);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		/* Like PostgreSQL without pg_read_all_stats: what this user
		 * cannot see does not refuse; the DDL waits lock_wait_timeout
		 * per try instead. */
		if (!is_privilege_error(stmt_errno(mc))) {
			rc = -1;
			goto out;
		}
		mg_debug("mysql: other sessions' transactions are not visible (%s): DDL relies on lock_wait_timeout",
			 err->msg);
		mg_err_clear(err);
		goto out;
	}
	for (size_t i = 0; i < r.nrows; i++) {
		const char *tbl = mg_rows_get(&r, i, 6);

		mg_buf_addf(&who, "%sconnection %s (application '%s', user '%s', %s, transaction open %s s)%s%s: %s",
			    i ? "; " : "", mg_rows_get(&r, i, 0), mg_rows_get(&r, i, 1),
			    mg_rows_get(&r, i, 2),
			    is_idle(mg_rows_get(&r, i, 3)) ? "idle in transaction" : "active",
			    mg_rows_get(&r, i, 4), mdl ? " holds a lock on " : "",
			    mdl && tbl ? tbl : "", mg_rows_get(&r, i, 5));
	}
	if (r.nrows > 0) {
		mg_err_set(err, MG_EREFUSED,
			   "refusing to change the table while a long transaction %s it: %s",
			   mdl ? "holds a lock on" : "may hold a lock on", who.buf);
		mg_err_hint(err, "wait for it to finish (or end it: KILL ID), then run the command again; --max-tx-age sets the limit (now %d s)%s",
			    mc->opts.max_tx_age_s,
			    mdl ? "" : "; this server does not record metadata locks (performance_schema instrument wait/lock/metadata/sql/mdl), so every long transaction counts");
		rc = -1;
	}
out:
	mg_rows_release(&r);
	mg_buf_release(&sql);
	mg_buf_release(&who);
	return rc;
}
