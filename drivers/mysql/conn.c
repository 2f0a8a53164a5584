/*
 * conn.c - the MySQL and MariaDB driver: connection, session settings, TLS,
 * errors, quoting and the fingerprint.
 */
#include "my.h"

struct mydrv_conn *downcast(struct mg_conn *c)
{
	assert(c && c->drv == &mg_mysql_driver);
	return (struct mydrv_conn *)c;
}

/* ==== connection and errors ================================================== */

static int is_constraint_error(unsigned no)
{
	return no == ER_DUP_ENTRY || no == ER_ROW_IS_REFERENCED_2 ||
	       no == ER_NO_REFERENCED_ROW_2 || no == ER_BAD_NULL_ERROR ||
	       no == ER_CONSTRAINT_FAILED || no == MYDRV_ER_CHECK_CONSTRAINT_VIOLATED;
}

int is_privilege_error(unsigned no)
{
	return no == ER_DBACCESS_DENIED_ERROR || no == ER_TABLEACCESS_DENIED_ERROR ||
	       no == ER_COLUMNACCESS_DENIED_ERROR || no == ER_SPECIFIC_ACCESS_DENIED_ERROR;
}

/*
 * Set err from the connection's last error: the server's message and its
 * error number, copied now (they belong to the connection), and an exit
 * class as in the PostgreSQL driver: constraint failures are refusals,
 * everything else a database error. Returns -1.
 */
int set_my_error(struct mg_err *err, struct mydrv_conn *mc)
{
	unsigned no = mysql_errno(mc->my);

	if (mc->net_error[0]) {
		mg_err_set(err, MG_EDB, "%s", mc->net_error);
		if (mg_stop_requested)
			return mg_err_hint(err, "run the same command again: it resumes where it stopped");
		return mg_err_hint(err, "check the network to the server (--network-timeout sets how long a silent server is waited for), then run the same command again: it resumes where it stopped");
	}

	mg_err_set(err, is_constraint_error(no) ? MG_EREFUSED : MG_EDB, "%s (error %u)",
		   mysql_error(mc->my), no);
	if (is_privilege_error(no))
		mg_err_hint(err, "the MySQL user migrate connects as lacks a privilege for this (see docs/grants.md)");
	else if (no == CR_SERVER_LOST || no == CR_SERVER_GONE_ERROR ||
		 no == ER_CONNECTION_KILLED || no == ER_SERVER_SHUTDOWN)
		mg_err_hint(err, "%s", MG_SESSION_ENDED_HINT);
	return -1;
}

void mydrv_close(struct mg_conn *c)
{
	struct mydrv_conn *mc;

	if (!c)
		return;
	mc = downcast(c);
	forget_heartbeat(mc);
	lag_release(mc->lag);
	lag_release(mc->places);
	free(mc->guard);
	url_free(mc->url);
	mysql_close(mc->my);
	free(mc);
}

/* Tables are unqualified names in the connection's database (see the top
 * of this file), so one quoted name is a whole table reference. */
void mydrv_quote_ident(struct mg_buf *out, const char *name)
{
	mg_buf_addc(out, '`');
	for (const char *p = name; *p; p++) {
		if (*p == '`')
			mg_buf_addc(out, '`');
		mg_buf_addc(out, *p);
	}
	mg_buf_addc(out, '`');
}

/* Append s as a string literal, escaped the way the session's sql_mode
 * reads it (mysql_real_escape_string follows NO_BACKSLASH_ESCAPES). */
void add_literal(struct mydrv_conn *mc, struct mg_buf *b, const char *s)
{
	size_t n = strlen(s);
	char *tmp = mg_xmalloc(2 * n + 1);
	unsigned long len = mysql_real_escape_string(mc->my, tmp, s, (unsigned long)n);

	assert(len != (unsigned long)-1);
	mg_buf_addc(b, '\'');
	mg_buf_add(b, tmp, len);
	mg_buf_addc(b, '\'');
	free(tmp);
}

static void set_options(MYSQL *my, const struct mg_conn_opts *opts)
{
	unsigned timeout = MYDRV_CONNECT_TIMEOUT_S;
	unsigned no_local_infile = 0;
	my_bool no_reconnect = 0;

	/* ~/.my.cnf [client] and the system's option files, as the mysql
	 * client reads them: they may give the password, the socket, TLS */
	mysql_options(my, MYSQL_READ_DEFAULT_GROUP, "client");
	mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* a silent reconnect would drop the migrate lock and the session
	 * settings below; a lost connection must be an error instead */
	mysql_options(my, MYSQL_OPT_RECONNECT, &no_reconnect);
	/* the server may not ask for our files (LOAD DATA LOCAL) */
	mysql_options(my, MYSQL_OPT_LOCAL_INFILE, &no_local_infile);
	/* program_name is what PROCESSLIST tools show and what colours
	 * match, like PostgreSQL's application_name */
	mysql_optionsv(my, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name",
		       opts && opts->application_name ? opts->application_name : "migrate");
}

/*
 * TLS as the URL's ssl-mode asks (see enum mydrv_ssl). PREFERRED leaves
 * it to the library and the option files. An option file read at connect
 * time may still switch TLS on for DISABLED; REQUIRED and the VERIFY
 * modes are checked after connecting (check_tls), so no option file can
 * quietly switch them off.
 */
static void set_tls(MYSQL *my, const struct mydrv_url *u)
{
	my_bool on = 1, off = 0;

	if (u->ssl_mode == MYDRV_SSL_PREFERRED)
		return;
	if (u->ssl_mode == MYDRV_SSL_DISABLED) {
		mysql_options(my, MYSQL_OPT_SSL_ENFORCE, &off);
		return;
	}
	mysql_options(my, MYSQL_OPT_SSL_ENFORCE, &on);
	if (u->ssl_mode == MYDRV_SSL_REQUIRED)
		return;
	mysql_options(my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
	if (u->ssl_ca)
		mysql_options(my, MYSQL_OPT_SSL_CA, u->ssl_ca);
}

/*
 * After connecting: REQUIRED and the VERIFY modes got an encrypted
 * connection whose certificate, for VERIFY, was checked. Connector/C 3.3
 * fails the connect itself for the VERIFY modes when the server has no
 * TLS, but for MYSQL_OPT_SSL_ENFORCE alone it carries on unencrypted:
 * this check is what makes REQUIRED fail. (Nothing secret was sent by
 * then: the password goes as a scramble, and the cleartext plugin stays
 * off.)
 */
static int check_tls(struct mydrv_conn *mc, const struct mydrv_url *u, struct mg_err *err)
{
	my_bool verify = 0;

	if (u->ssl_mode == MYDRV_SSL_PREFERRED || u->ssl_mode == MYDRV_SSL_DISABLED)
		return 0;
	if (!mysql_get_ssl_cipher(mc->my)) {
		mg_err_set(err, MG_EDB, "the server offers no TLS, and ssl-mode=%s requires it",
			   ssl_mode_names[u->ssl_mode]);
		return mg_err_hint(err, "configure TLS on the server (SHOW VARIABLES LIKE 'have_ssl' says YES when it is), or connect with ssl-mode=DISABLED where an unencrypted connection is acceptable");
	}
	if (u->ssl_mode == MYDRV_SSL_REQUIRED)
		return 0;
	if (mysql_get_option(mc->my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify) != 0 || !verify)
		return mg_err_set(err, MG_EDB, "the server's certificate was not checked although ssl-mode is %s (an option file may have switched ssl-verify-server-cert off)",
				  ssl_mode_names[u->ssl_mode]);
	return 0;
}

/* "127.0.0.1:3306", "socket /run/mysqld/mysqld.sock": where we connect,
 * never the URL (the password may be in it). */
static void describe_server(char *out, size_t n, const struct mydrv_url *u)
{
	if (u->socket)
		snprintf(out, n, "socket %s", u->socket);
	else if (u->host && strchr(u->host, ':'))
		snprintf(out, n, "[%s]:%u", u->host, u->port ? u->port : MYDRV_DEFAULT_PORT);
	else
		snprintf(out, n, "%s:%u", u->host ? u->host : "localhost",
			 u->port ? u->port : MYDRV_DEFAULT_PORT);
}

/* MySQL 5.7 and MariaDB 10.3 are the oldest with what this driver uses
 * (several GET_LOCK locks per session, DATETIME(6) defaults). */
static int check_version(struct mydrv_conn *mc, struct mg_err *err)
{
	unsigned long v = mysql_get_server_version(mc->my);
	unsigned long need = mc->mariadb ? 100300 : 50700;

	if (v >= need)
		return 0;
	return mg_err_set(err, MG_EDB, "%s %lu.%lu is too old: migrate needs %s or later",
			  mc->mariadb ? "MariaDB" : "MySQL", v / 10000, v / 100 % 100,
			  mc->mariadb ? "10.3" : "5.7");
}

/*
 * The SQL dialect of the plan. On MySQL the planner writes only forms that
 * MySQL 8.0.29+ and MariaDB 10.3+ both accept (see "the MySQL dialect" in
 * the planning section); on MariaDB its own forms (IF [NOT] EXISTS on
 * columns and indexes, ALGORITHM=NOCOPY, CREATE OR REPLACE TRIGGER).
 * Test builds: MIGRATE_TEST_MYSQL_DIALECT=1 makes MariaDB get the MySQL
 * dialect too, so that the MariaDB tests run the MySQL plans for real;
 * a MySQL version number instead of 1 (80028) also plans as if the server
 * were that MySQL (the version check of mydrv_plan_begin).
 */
static void set_dialect(struct mydrv_conn *mc)
{
	mc->mysql_version = mc->mariadb ? 0 : mysql_get_server_version(mc->my);
	mc->mysql_dialect = !mc->mariadb;
	{
		unsigned long v = mg_hook_driver_number(MYDRV_DIALECT_HOOK);

		if (v == 1)
			mc->mysql_dialect = 1;
		else if (v >= 50000) {
			mc->mysql_dialect = 1;
			mc->mysql_version = v;
		}
	}
}

/* lock_wait_timeout (whole seconds) for --lock-timeout: rounded up, at
 * least 1. */
int lock_wait_s(const struct mydrv_conn *mc)
{
	int s = (mc->opts.lock_timeout_ms + 999) / 1000;

	return s < 1 ? 1 : s;
}

/*
 * The session migrate works in: UTC, the sql_mode above, READ COMMITTED
 * (what PostgreSQL gives by default: each statement sees what committed
 * before it, and InnoDB takes no gap locks), lock_wait_timeout (metadata
 * locks, what DDL waits for) from --lock-timeout in whole seconds, at
 * least 1, and innodb_lock_wait_timeout (row locks) short, so a statement
 * stuck behind an application's row lock gives up soon and is retried.
 */
static int set_session(struct mydrv_conn *mc, struct mg_err *err)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SET SESSION sql_mode = '" MYDRV_SQL_MODE "', time_zone = '+00:00', "
		 "lock_wait_timeout = %d, innodb_lock_wait_timeout = 2", lock_wait_s(mc));
	if (exec_mc(mc, sql, err) < 0 ||
	    exec_mc(mc, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", err) < 0) {
		mg_err_prefix(err, "cannot set up the session: ");
		return -1;
	}
	return 0;
}

/*
 * TCP keepalives on a session's socket, so that a link that dies while a
 * statement runs is found by the kernel too: Connector/C has no option
 * for them. Idle network_ms, then probes a third of that apart, 3 of
 * them; TCP_USER_TIMEOUT twice network_ms for data sent and not
 * acknowledged. Unix sockets are left alone.
 */
static void set_keepalives(MYSQL *my, int network_ms)
{
	my_socket fd = mysql_get_socket(my);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int on = 1, idle = (network_ms + 999) / 1000, cnt = 3;
	int intvl = idle / 3 > 0 ? idle / 3 : 1;
	unsigned user_timeout = (unsigned)network_ms * 2;

	if (fd == (my_socket)-1 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

/*
 * Timeouts of a session: connecting takes the URL's connect_timeout, else
 * timeout_s (side sessions), else --network-timeout; reads of a side
 * session time out after timeout_s (the others are bounded by the waits
 * above, since an ALTER may be silent for long); a write that the server
 * does not take for network_ms fails.
 */
static void set_timeouts(MYSQL *my, const struct mydrv_url *u, unsigned timeout_s,
			 int network_ms)
{
	unsigned connect_s = (unsigned)(network_ms + 999) / 1000;
	unsigned write_s = connect_s;

	if (timeout_s)
		connect_s = timeout_s;
	if (u->connect_timeout)
		connect_s = u->connect_timeout;
	mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
	mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &write_s);
	if (timeout_s)
		mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
	/* NULL: the default stack for the non-blocking calls' context */
	mysql_options(my, MYSQL_OPT_NONBLOCK, NULL);
}

/*
 * A session with the server u names, set up for migrate; timeout_s bounds
 * connecting and, when not 0, each read (replicas, which --max-lag asks
 * while the backfill waits, get a short one; so do the probe and KILL
 * sessions of the bounded waits, which are side sessions too).
 */
int open_conn(const struct mydrv_url *u, const struct mg_conn_opts *opts,
	      unsigned timeout_s, struct mydrv_conn **out, struct mg_err *err)
{
	struct mydrv_conn *mc;
	char where[512];

	*out = NULL;
	mc = mg_xcalloc(1, sizeof(*mc));
	mc->base.drv = &mg_mysql_driver;
	mc->my = mysql_init(NULL);
	if (!mc->my) {
		free(mc);
		return mg_err_set(err, MG_EDB, "cannot start the MySQL client library (out of memory)");
	}
	set_options(mc->my, opts);
	mc->side = timeout_s != 0;
	mc->opts.network_timeout_ms = opts && opts->network_timeout_ms > 0 ?
				      opts->network_timeout_ms : MG_NETWORK_TIMEOUT_MS;
	if (timeout_s && mc->opts.network_timeout_ms > (int)timeout_s * 1000)
		mc->opts.network_timeout_ms = (int)timeout_s * 1000;
	set_timeouts(mc->my, u, timeout_s, mc->opts.network_timeout_ms);
	set_tls(mc->my, u);
	describe_server(where, sizeof(where), u);
	if (!mysql_real_connect(mc->my, u->host, u->user, u->password, u->db, u->port,
				u->socket, CLIENT_MULTI_STATEMENTS)) {
		unsigned no = mysql_errno(mc->my);

		set_my_error(err, mc);
		mg_err_prefix(err, "cannot connect to database '%s' on %s: ", u->db, where);
		if (no == CR_SSL_CONNECTION_ERROR)
			mg_err_hint(err, "ssl-mode=%s needs TLS: check that the server has TLS configured (SHOW VARIABLES LIKE 'have_ssl') and, for the VERIFY modes, that its certificate matches ssl-ca and the host name; ssl-mode=DISABLED connects without TLS",
				    ssl_mode_names[u->ssl_mode]);
		else
			mg_err_hint(err, "check --database (or MIGRATE_DATABASE_URL) and that the server is up; without a password in the URL, the client's option files (~/.my.cnf [client]) may give one");
		mydrv_close(&mc->base);
		return -1;
	}
	if (check_tls(mc, u, err) < 0) {
		mg_err_prefix(err, "cannot connect to database '%s' on %s: ", u->db, where);
		mydrv_close(&mc->base);
		return -1;
	}
	set_keepalives(mc->my, mc->opts.network_timeout_ms);
	if (opts) {
		int nt = mc->opts.network_timeout_ms;

		mc->opts = *opts;
		mc->opts.network_timeout_ms = nt;
	}
	if (!mc->opts.lock_timeout_ms)
		mc->opts.lock_timeout_ms = 500;
	if (!mc->opts.statement_timeout_ms)
		mc->opts.statement_timeout_ms = 10000;
	if (!mc->opts.max_tx_age_s)
		mc->opts.max_tx_age_s = 5;
	if (mc->opts.lock_retries <= 0)
		mc->opts.lock_retries = 5;
	mc->opts.application_name = NULL;	/* borrowed: not ours to keep */
	if (opts && opts->lock_holder)
		mc->guard = mg_xstrdup(opts->lock_holder);
	mc->opts.lock_holder = NULL;
	mc->mariadb = strstr(mysql_get_server_info(mc->my), "MariaDB") != NULL;
	set_dialect(mc);
	if (check_version(mc, err) < 0 || set_session(mc, err) < 0) {
		mydrv_close(&mc->base);
		return -1;
	}
	*out = mc;
	return 0;
}

int mydrv_connect(struct mg_conn **out, const char *url,
		  const struct mg_conn_opts *opts, struct mg_err *err)
{
	struct mydrv_conn *mc;
	struct mydrv_url u;

	*out = NULL;
	if (parse_url(&u, url, err) < 0 || open_conn(&u, opts, 0, &mc, err) < 0) {
		url_release(&u);
		return -1;
	}
	mc->url = mg_xmalloc(sizeof(*mc->url));	/* for reaching the replicas (--max-lag) */
	*mc->url = u;
	*out = &mc->base;
	return 0;
}

/*
 * Server identity + database. MySQL (5.6 and later) has @@server_uuid,
 * made once per data directory: that path is for MySQL 8 and was not run
 * here. MariaDB has no such id, so it is the host name, port and
 * server_id, which stay the same while the server does (a container that
 * is recreated under a new host name is a new fingerprint).
 */
int mydrv_fingerprint(struct mg_conn *c, struct mg_buf *out,
		      struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_rows r = MG_ROWS_INIT;

	if (mc->mariadb) {
		if (query_mc(mc, "SELECT CONCAT('mariadb:', @@hostname, ':', @@port, ':', "
			     "@@server_id, '/', DATABASE())", &r, err) < 0)
			return -1;
	} else {
		if (query_mc(mc, "SELECT CONCAT('mysql:', @@server_uuid, '/', DATABASE())",
			     &r, err) < 0)
			return -1;
	}
	if (r.nrows != 1 || !mg_rows_get(&r, 0, 0)) {
		mg_rows_release(&r);
		return mg_err_set(err, MG_EDB, "cannot read the server's identity");
	}
	mg_buf_adds(out, mg_rows_get(&r, 0, 0));
	mg_rows_release(&r);
	return 0;
}
