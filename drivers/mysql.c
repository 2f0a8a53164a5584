/*
 * mysql.c - the MySQL and MariaDB driver (MariaDB Connector/C).
 *
 * Sections: the URL; connection and errors; the history table; the migrate
 * lock and blockers; sessions, replicas and load; planning (catalog,
 * per-table work, dependents, operations, rendering, entry point);
 * running steps; backfill.
 *
 * Planning covers every operation (add_column, rename_column,
 * alter_column, drop_column, create_index, sql) on MariaDB 10.3+ and
 * MySQL 8.0.29+ (the design of the plan is explained at the top of the
 * planning section); older MySQL is refused at plan time with MG_EINPUT.
 * On MySQL the planner writes only SQL that both servers accept (the
 * MySQL dialect, mc->mysql_dialect), so the MariaDB tests run it too
 * (test hook MIGRATE_TEST_MYSQL_DIALECT=1).
 *
 * Names: a MySQL "schema" is a database, and the connection already has
 * one (the URL's path). Every table this driver creates or names is
 * unqualified and lives in the connection's database: `_migrate_history`,
 * not `db`.`_migrate_history`. quote_ident() quotes one name with
 * backticks; the session keeps ANSI_QUOTES off, so "..." stays a string.
 *
 * Seeing other sessions: information_schema.PROCESSLIST shows a user only
 * its own sessions unless it has the PROCESS privilege, and the client's
 * program name (our application_name) is a connection attribute in
 * performance_schema.session_connect_attrs, which needs SELECT on
 * performance_schema and the schema switched on. Where this driver cannot
 * see what it needs it says so (MG_EDB) instead of answering 0, so that the
 * core fails closed: a colour counts as alive, a throttle pauses.
 *
 * Verified against MariaDB 10.11; the MySQL 8 paths (noted where they
 * differ) follow the MySQL manual and were not run against a MySQL server
 * here: the MySQL dialect's SQL ran on MariaDB 10.11 only.
 */
#include "driver.h"
#include "sqltext.h"
#include "mysql_url.h"

#include <assert.h>
#include <ctype.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#define MYDRV_HISTORY "`_migrate_history`"
#define MYDRV_DEFAULT_PORT 3306
#define MYDRV_LOCK_PREFIX "migrate:"
#define MYDRV_LOCK_NAME_MAX 64		/* characters, GET_LOCK's limit on MySQL */
#define MYDRV_CONNECT_TIMEOUT_S 10
/* MySQL 8.0.16+ "check constraint is violated" (MariaDB says ER_CONSTRAINT_FAILED) */
#define MYDRV_ER_CHECK_CONSTRAINT_VIOLATED 3819

/*
 * The session's sql_mode, set whole rather than patched so that a server
 * default cannot change what our SQL means: strict for every table (a
 * value that does not fit fails instead of being cut, even on MyISAM),
 * no zero dates, and no ANSI_QUOTES, since identifiers are quoted with
 * backticks and "..." must stay a string. Backslash escapes stay as the
 * server's default has them, so that a migration's own SQL means what it
 * means in the mysql client; our literals go through
 * mysql_real_escape_string(), which follows the mode either way. Every
 * mode named here exists on MySQL 5.7, 8.x and MariaDB 10.3+.
 */
#define MYDRV_SQL_MODE "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE," \
	"ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"

/*
 * A client session in PROCESSLIST `p`: not this one and not one of the
 * server's own threads (event scheduler, replication threads, the
 * threads that send the binary log to replicas).
 */
#define MYDRV_CLIENT_SESSION \
	"p.ID <> CONNECTION_ID() " \
	"AND p.USER NOT IN ('system user', 'event_scheduler', 'unauthenticated user') " \
	"AND p.COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID', " \
	"'Register Slave', 'Slave_IO', 'Slave_SQL', 'Slave_worker') "

/* The program_name attribute of session `p`, as `a`.ATTR_VALUE. */
#define MYDRV_ATTR_JOIN \
	"LEFT JOIN performance_schema.session_connect_attrs a " \
	"ON a.PROCESSLIST_ID = p.ID AND a.ATTR_NAME = 'program_name' "

/* Can the program_name connection attribute of other sessions be read? */
enum mydrv_attrs {
	MYDRV_ATTRS_UNKNOWN,	/* not asked yet */
	MYDRV_ATTRS_OFF,	/* performance_schema is off: nobody can */
	MYDRV_ATTRS_HIDDEN,	/* it is on, but this user may not read it */
	MYDRV_ATTRS_READABLE
};

struct mydrv_conn {
	struct mg_conn base;
	MYSQL *my;
	struct mg_conn_opts opts;
	int mariadb;		/* the server is MariaDB, not MySQL */
	int mysql_dialect;	/* plan only SQL that MySQL 8.0.29+ accepts */
	unsigned long mysql_version;	/* MySQL's version (80029), 0 on MariaDB */
	enum mydrv_attrs attrs;	/* what we may know of program names */
	int locked;		/* we hold lock_name */
	unsigned long lock_id;	/* our connection id when we took it */
	char *guard;		/* connection id of the lock's session (opts.lock_holder) */
	int64_t affected;	/* rows the last statement of run() changed */
	char lock_name[4 * MYDRV_LOCK_NAME_MAX + 1];
	struct mydrv_url *url;	/* the URL connected to (NULL for a replica's session) */
	int side;		/* a probe, KILL or replica session: no probe of its own */
	int broken;		/* the link was given up: no more statements */
	char net_error[512];	/* why the last statement got no result */
	struct mydrv_lag *lag;	/* --max-lag's replicas and heartbeats, NULL until asked */
};

struct mydrv_url;
struct mydrv_lag;
static void url_free(struct mydrv_url *u);
static void forget_heartbeat(struct mydrv_conn *mc);
static void lag_release(struct mydrv_lag *lag);

static struct mydrv_conn *downcast(struct mg_conn *c)
{
	assert(c && c->drv == &mg_mysql_driver);
	return (struct mydrv_conn *)c;
}

/* ==== the URL ================================================================= */

static int mydrv_accepts(const char *url)
{
	return strncmp(url, "mysql://", 8) == 0 || strncmp(url, "mariadb://", 10) == 0;
}

/*
 * ssl-mode, as the mysql client of MySQL 5.7+ spells it. Connector/C 3.3
 * has no mode option: it has "use TLS and fail without it"
 * (MYSQL_OPT_SSL_ENFORCE) and "verify the server's certificate"
 * (MYSQL_OPT_SSL_VERIFY_SERVER_CERT), which checks the chain and the host
 * name together. So VERIFY_CA checks the host name too (stricter than
 * asked, never weaker), and PREFERRED is the library's default: TLS only
 * when the option files ask for it.
 */
enum mydrv_ssl {
	MYDRV_SSL_PREFERRED,	/* also: not given */
	MYDRV_SSL_DISABLED,
	MYDRV_SSL_REQUIRED,
	MYDRV_SSL_VERIFY_CA,
	MYDRV_SSL_VERIFY_IDENTITY
};

static const char *const ssl_mode_names[] = {
	[MYDRV_SSL_PREFERRED] = "PREFERRED",
	[MYDRV_SSL_DISABLED] = "DISABLED",
	[MYDRV_SSL_REQUIRED] = "REQUIRED",
	[MYDRV_SSL_VERIFY_CA] = "VERIFY_CA",
	[MYDRV_SSL_VERIFY_IDENTITY] = "VERIFY_IDENTITY",
};

/* What a mysql:// URL says. NULL members leave the choice to the client
 * library and its option files (~/.my.cnf [client]). */
struct mydrv_url {
	char *user;
	char *password;
	char *host;
	unsigned port;		/* 0: the library's default, 3306 */
	char *socket;
	char *db;
	enum mydrv_ssl ssl_mode;
	char *ssl_ca;		/* a CA file for the VERIFY modes */
	struct mydrv_url *replicas;	/* replica=host:port, each with host and port only */
	size_t n_replicas;
	unsigned connect_timeout;	/* connect_timeout=SECONDS, 0: not given */
};

static void url_release(struct mydrv_url *u)
{
	free(u->user);
	if (u->password) {
		memset(u->password, 0, strlen(u->password));
		free(u->password);
	}
	free(u->host);
	free(u->socket);
	free(u->db);
	free(u->ssl_ca);
	for (size_t i = 0; i < u->n_replicas; i++)
		url_release(&u->replicas[i]);
	free(u->replicas);
	memset(u, 0, sizeof(*u));
}

static void url_free(struct mydrv_url *u)
{
	if (u) {
		url_release(u);
		free(u);
	}
}

/*
 * Messages about a bad URL never quote the URL or any part of it that
 * could hold the password (a password with an unencoded '?' or '#' ends
 * up in the wrong part): they say what is wrong and show the expected form.
 */
static int bad_url(struct mg_err *err, const char *what)
{
	mg_err_set(err, MG_EINPUT, "bad database URL: %s", what);
	return mg_err_hint(err, "expected mysql://user:password@host:port/database or mysql://user:password@localhost/database?socket=/path/to/mysqld.sock (percent-encode @ : / ? # %% in the user and password)");
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new string; NULL when a %xx is malformed
 * or would decode to a NUL byte. An empty part is NULL too (unset). */
static char *pct_decode(const char *s, size_t n, int *bad)
{
	char *out, *o;

	if (n == 0)
		return NULL;
	out = mg_xmalloc(n + 1);
	o = out;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		hi = i + 1 < n ? hex_digit((unsigned char)s[i + 1]) : -1;
		lo = i + 2 < n ? hex_digit((unsigned char)s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			*bad = 1;
			memset(out, 0, n + 1);	/* it may be part of a password */
			free(out);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/* A parameter name is quoted in a message only when it looks like one:
 * anything else may be a piece of a password with an unencoded '?'. */
static int plain_word(const char *s, size_t n)
{
	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return 0;
	return 1;
}

/* ssl-mode=value, any case. The value is quoted in the message only when
 * it looks like a word (it could be a piece of a password otherwise). */
static int parse_ssl_mode(struct mydrv_url *u, const char *v, size_t n, struct mg_err *err)
{
	for (size_t i = 0; i < sizeof(ssl_mode_names) / sizeof(*ssl_mode_names); i++)
		if (strlen(ssl_mode_names[i]) == n && !strncasecmp(v, ssl_mode_names[i], n)) {
			u->ssl_mode = (enum mydrv_ssl)i;
			return 0;
		}
	if (plain_word(v, n))
		mg_err_set(err, MG_EINPUT, "bad database URL: unknown ssl-mode '%.*s'", (int)n, v);
	else
		mg_err_set(err, MG_EINPUT, "bad database URL: ssl-mode has a value that is not a mode");
	return mg_err_hint(err, "ssl-mode is one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY");
}

static int parse_hostport(struct mydrv_url *u, const char *s, size_t n,
			  struct mg_err *err);

/* replica=host:port (repeatable): a replica --max-lag asks, instead of
 * the ones the primary lists. The port is required: a replica on the
 * default port is rare enough to be a mistake worth naming. */
static int parse_replica(struct mydrv_url *u, const char *v, size_t n, struct mg_err *err)
{
	struct mydrv_url r;

	memset(&r, 0, sizeof(r));
	if (n == 0 || parse_hostport(&r, v, n, err) < 0 || !r.host || !r.port) {
		url_release(&r);
		mg_err_set(err, MG_EINPUT, "bad database URL: parameter 'replica' is not host:port");
		return mg_err_hint(err, "name each replica --max-lag should ask as replica=host:port, e.g. mysql://user:password@primary:3306/app?replica=replica1:3306&replica=replica2:3306");
	}
	u->replicas = mg_xrealloc(u->replicas, (u->n_replicas + 1) * sizeof(*u->replicas));
	u->replicas[u->n_replicas++] = r;
	return 0;
}

/* "=N" up to end: N whole seconds, 1 to 86400. */
static int parse_seconds(unsigned *out, const char *eq, const char *end)
{
	unsigned long v = 0;

	if (!eq || eq + 1 >= end)
		return -1;
	for (const char *p = eq + 1; p < end; p++) {
		if (!isdigit((unsigned char)*p) || v > 86400)
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 86400)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/*
 * The query string: socket=/path and ssl-ca=/path (percent-decoded),
 * ssl-mode=... (see enum mydrv_ssl), replica=host:port and
 * connect_timeout=SECONDS. Anything else is MG_EINPUT naming it.
 */
static int parse_query(struct mydrv_url *u, const char *q, struct mg_err *err)
{
	int has_mode = 0;

	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t klen = eq ? (size_t)(eq - q) : n;
		int bad = 0;

		if (n == 0) {
			q++;
			continue;
		}
		if (klen == 6 && !strncmp(q, "socket", 6)) {
			free(u->socket);
			u->socket = eq ? pct_decode(eq + 1, n - klen - 1, &bad) : NULL;
			if (bad || !u->socket)
				return bad_url(err, "parameter 'socket' needs a path");
		} else if (klen == 8 && !strncmp(q, "ssl-mode", 8)) {
			if (!eq || parse_ssl_mode(u, eq + 1, n - klen - 1, err) < 0)
				return eq ? -1 : bad_url(err, "parameter 'ssl-mode' needs a value");
			has_mode = 1;
		} else if (klen == 6 && !strncmp(q, "ssl-ca", 6)) {
			free(u->ssl_ca);
			u->ssl_ca = eq ? pct_decode(eq + 1, n - klen - 1, &bad) : NULL;
			if (bad || !u->ssl_ca)
				return bad_url(err, "parameter 'ssl-ca' needs a path");
		} else if (klen == 7 && !strncmp(q, "replica", 7)) {
			if (parse_replica(u, eq ? eq + 1 : q + n, eq ? n - klen - 1 : 0, err) < 0)
				return -1;
		} else if (klen == 15 && !strncmp(q, "connect_timeout", 15)) {
			if (parse_seconds(&u->connect_timeout, eq, q + n) < 0)
				return bad_url(err, "parameter 'connect_timeout' needs a whole number of seconds (1 or more)");
		} else if (plain_word(q, klen)) {
			mg_err_set(err, MG_EINPUT,
				   "bad database URL: unknown parameter '%.*s' (expected socket, ssl-mode, ssl-ca, replica or connect_timeout)",
				   (int)klen, q);
			return mg_err_hint(err, "the mysql driver takes mysql://user:password@host:port/database[?socket=/path/to/mysqld.sock][&ssl-mode=REQUIRED][&ssl-ca=/path/to/ca.pem][&replica=host:port][&connect_timeout=SECONDS]");
		} else {
			return bad_url(err, "it has a parameter that is not socket, ssl-mode, ssl-ca, replica or connect_timeout");
		}
		q += n;
	}
	if (u->ssl_ca && u->ssl_mode != MYDRV_SSL_VERIFY_CA &&
	    u->ssl_mode != MYDRV_SSL_VERIFY_IDENTITY) {
		mg_err_set(err, MG_EINPUT, "bad database URL: ssl-ca needs ssl-mode=VERIFY_CA or VERIFY_IDENTITY (ssl-mode is %s)",
			   has_mode ? ssl_mode_names[u->ssl_mode] : "not given");
		return mg_err_hint(err, "the CA file is used only to check the server's certificate: add ssl-mode=VERIFY_IDENTITY");
	}
	return 0;
}

/* host[:port] or [v6-address][:port]; an empty host is NULL (localhost). */
static int parse_hostport(struct mydrv_url *u, const char *s, size_t n,
			  struct mg_err *err)
{
	const char *colon;
	int bad = 0;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close)
			return bad_url(err, "an IPv6 host lacks its closing ']'");
		u->host = mg_xstrndup(s + 1, (size_t)(close - s - 1));
		colon = close + 1 < s + n ? close + 1 : NULL;
		if (colon && *colon != ':')
			return bad_url(err, "unexpected text after the IPv6 host");
	} else {
		colon = memchr(s, ':', n);
		u->host = pct_decode(s, colon ? (size_t)(colon - s) : n, &bad);
		if (bad)
			return bad_url(err, "the host has a bad %-escape");
	}
	if (colon) {
		const char *p = colon + 1, *end = s + n;
		long port = 0;

		if (p == end)
			return bad_url(err, "':' after the host but no port");
		for (; p < end; p++) {
			if (!isdigit((unsigned char)*p) || port > 65535)
				return bad_url(err, "the port is not a number from 1 to 65535");
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535)
			return bad_url(err, "the port is not a number from 1 to 65535");
		u->port = (unsigned)port;
	}
	return 0;
}

/*
 * mysql://[user[:password]@][host][:port]/database[?socket=...&ssl-mode=...&ssl-ca=...]
 * (or mariadb://). The userinfo ends at the last '@' before the query, so
 * an unencoded '@' or '/' in a password still works, the way the core's
 * URL redaction reads it. A '#' is refused: it would end the URL for any
 * other reader, and in a password it must be %23.
 */
static int parse_url(struct mydrv_url *u, const char *url, struct mg_err *err)
{
	const char *p = strstr(url, "://");
	const char *end, *at = NULL, *host, *slash;
	int bad = 0;

	memset(u, 0, sizeof(*u));
	if (!p)
		return bad_url(err, "it does not start with mysql:// or mariadb://");
	p += 3;
	end = p + strcspn(p, "?");
	if (strchr(url, '#'))
		return bad_url(err, "it contains '#' (percent-encode it as %23, in a password too)");
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (!at && *end == '?' && strchr(end, '@'))
		return bad_url(err, "it has an '@' after the '?' (percent-encode '?' in the user and password as %3F)");
	host = at ? at + 1 : p;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		u->user = pct_decode(p, (size_t)((colon ? colon : at) - p), &bad);
		if (bad)
			return bad_url(err, "the user name has an invalid %-escape");
		if (colon) {
			u->password = pct_decode(colon + 1, (size_t)(at - colon - 1), &bad);
			if (!u->password && !bad)
				u->password = mg_xstrdup("");	/* "user:@host": an empty password */
		}
		if (bad)
			return bad_url(err, "the password has an invalid %-escape ('%' is written %25)");
	}
	slash = memchr(host, '/', (size_t)(end - host));
	if (parse_hostport(u, host, (size_t)((slash ? slash : end) - host), err) < 0)
		return -1;
	if (slash)
		u->db = pct_decode(slash + 1, (size_t)(end - slash - 1), &bad);
	if (bad)
		return bad_url(err, "the database name has a bad %-escape");
	if (!u->db) {
		mg_err_set(err, MG_EINPUT, "bad database URL: it names no database");
		return mg_err_hint(err, "add the database as the URL's path: mysql://user:password@host:port/database");
	}
	if (strchr(u->db, '/'))
		return bad_url(err, "the database name contains '/'");
	return *end == '?' ? parse_query(u, end + 1, err) : 0;
}

int mg_mysql_url_check(const char *url, char **password, struct mg_err *err)
{
	struct mydrv_url u;
	int rc;

	if (password)
		*password = NULL;
	if (!mydrv_accepts(url))	/* the driver is not chosen for it */
		return bad_url(err, "it does not start with mysql:// or mariadb://");
	rc = parse_url(&u, url, err);
	if (password && rc == 0)
		*password = mg_xstrdup(u.password);
	url_release(&u);
	return rc;
}

/* ==== connection and errors ================================================== */

static int is_constraint_error(unsigned no)
{
	return no == ER_DUP_ENTRY || no == ER_ROW_IS_REFERENCED_2 ||
	       no == ER_NO_REFERENCED_ROW_2 || no == ER_BAD_NULL_ERROR ||
	       no == ER_CONSTRAINT_FAILED || no == MYDRV_ER_CHECK_CONSTRAINT_VIOLATED;
}

static int is_privilege_error(unsigned no)
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
static int set_my_error(struct mg_err *err, struct mydrv_conn *mc)
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

static void mydrv_close(struct mg_conn *c)
{
	struct mydrv_conn *mc;

	if (!c)
		return;
	mc = downcast(c);
	forget_heartbeat(mc);
	lag_release(mc->lag);
	free(mc->guard);
	url_free(mc->url);
	mysql_close(mc->my);
	free(mc);
}

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

static int open_conn(const struct mydrv_url *u, const struct mg_conn_opts *opts,
		     unsigned timeout_s, struct mydrv_conn **out, struct mg_err *err);
static int exec_mc(struct mydrv_conn *mc, const char *sql, struct mg_err *err);

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

static int query_mc(struct mydrv_conn *mc, const char *sql, struct mg_rows *out,
		    struct mg_err *err);

static volatile int mydrv_unreachable;

/* Does the server still run mc's statement? 1 yes, 0 no or cannot tell
 * within network_timeout_ms (see above). */
static int probe_alive(struct mydrv_conn *mc)
{
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	struct mydrv_conn *side;
	char sql[200];
	int alive = 0;

	if (__atomic_load_n(&mydrv_unreachable, __ATOMIC_RELAXED))
		return 0;
	side = side_session(mc, side_timeout_s(mc));
	__atomic_store_n(&mydrv_unreachable, !side, __ATOMIC_RELAXED);
	if (!side)
		return 0;
	snprintf(sql, sizeof(sql),
		 "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %lu "
		 "AND COMMAND IN ('Query', 'Execute') "
		 "AND COALESCE(STATE, '') NOT IN ('Writing to net', 'Sending to client')",
		 mysql_thread_id(mc->my));
	if (query_mc(side, sql, &r, &ignored) == 0 && r.nrows == 1)
		alive = 1;
	mg_rows_release(&r);
	mydrv_close(&side->base);
	return alive;
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
			if (w->killed || mc->side || !probe_alive(mc)) {
				if (!w->killed)
					snprintf(mc->net_error, sizeof(mc->net_error), "no answer from the server for %d ms, and it does not show the statement running to a second session: gave up the connection",
						 (int)(mg_now_ms() - w->last));
				give_up(mc);
				return 0;
			}
			w->last = mg_now_ms();
		}
		if (poll(&pfd, 1, MYDRV_SLICE_MS) > 0) {
			int ready = 0;

			w->last = mg_now_ms();
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
static unsigned stmt_errno(const struct mydrv_conn *mc)
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
static int run(struct mydrv_conn *mc, const char *sql, MYSQL_RES **res,
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

static int exec_mc(struct mydrv_conn *mc, const char *sql, struct mg_err *err)
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

static int query_mc(struct mydrv_conn *mc, const char *sql, struct mg_rows *out,
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
static int query_scalar(struct mydrv_conn *mc, const char *sql, char **out,
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
static int query_int(struct mydrv_conn *mc, const char *sql, int64_t *out,
		     struct mg_err *err)
{
	char *v = NULL;

	if (query_scalar(mc, sql, &v, err) < 0)
		return -1;
	*out = v ? strtoll(v, NULL, 10) : 0;
	free(v);
	return 0;
}

static int mydrv_exec(struct mg_conn *c, const char *sql, struct mg_err *err)
{
	return exec_mc(downcast(c), sql, err);
}

static int mydrv_query(struct mg_conn *c, const char *sql, struct mg_rows *out,
		       struct mg_err *err)
{
	return query_mc(downcast(c), sql, out, err);
}

/* Tables are unqualified names in the connection's database (see the top
 * of this file), so one quoted name is a whole table reference. */
static void mydrv_quote_ident(struct mg_buf *out, const char *name)
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
static void add_literal(struct mydrv_conn *mc, struct mg_buf *b, const char *s)
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
 * were that MySQL (the version check of mydrv_plan).
 */
static void set_dialect(struct mydrv_conn *mc)
{
	mc->mysql_version = mc->mariadb ? 0 : mysql_get_server_version(mc->my);
	mc->mysql_dialect = !mc->mariadb;
	{
		unsigned long v = mg_hook_mysql_dialect();

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
static int lock_wait_s(const struct mydrv_conn *mc)
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
static int open_conn(const struct mydrv_url *u, const struct mg_conn_opts *opts,
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

static int mydrv_connect(struct mg_conn **out, const char *url,
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
static int mydrv_fingerprint(struct mg_conn *c, struct mg_buf *out,
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

/* ==== the history table ======================================================== */

/*
 * The same table and rows as the PostgreSQL driver's public._migrate_history,
 * in the connection's database: one row per migration, row 0
 * (MG_REGISTRY_ID) for the colour registry, and a generation that grows by
 * one per write across the table. InnoDB, so a write and (later) a step's
 * bookkeeping commit or roll back together; utf8mb4_bin, so names compare
 * byte for byte as they do on PostgreSQL.
 */
static const char history_ddl[] =
	"CREATE TABLE IF NOT EXISTS " MYDRV_HISTORY " ("
	"migration_id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
	"checksum VARCHAR(128) NULL, phase VARCHAR(32) NOT NULL, "
	"step_phase VARCHAR(32) NULL, step_index INT NOT NULL DEFAULT 0, "
	"state_id VARCHAR(64) NOT NULL, generation BIGINT NOT NULL, "
	"updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

static const char history_exists_sql[] =
	"SELECT COUNT(*) FROM information_schema.TABLES "
	"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '_migrate_history'";

static void add_literal_or_null(struct mydrv_conn *mc, struct mg_buf *b, const char *s)
{
	if (s)
		add_literal(mc, b, s);
	else
		mg_buf_adds(b, "NULL");
}

/*
 * One statement that inserts or updates row w->migration_id with the
 * highest generation + 1. INSERT ... SELECT from the table itself is
 * allowed (MySQL reads it first); VALUES() is deprecated on MySQL 8.0.20+
 * but is the spelling both servers accept.
 */
static char *history_upsert_sql(struct mydrv_conn *mc, const struct mg_history_write *w)
{
	struct mg_buf b = MG_BUF_INIT;

	mg_buf_addf(&b, "INSERT INTO " MYDRV_HISTORY " (migration_id, name, checksum, "
		    "phase, step_phase, step_index, state_id, generation) SELECT %d, ",
		    w->migration_id);
	add_literal(mc, &b, w->name ? w->name : "");
	mg_buf_adds(&b, ", ");
	add_literal_or_null(mc, &b, w->checksum);
	mg_buf_adds(&b, ", ");
	add_literal(mc, &b, w->phase);
	mg_buf_adds(&b, ", ");
	add_literal_or_null(mc, &b, w->step_phase);
	mg_buf_addf(&b, ", %d, ", w->step_index);
	add_literal(mc, &b, w->state_id ? w->state_id : "");
	mg_buf_adds(&b, ", COALESCE(MAX(h.generation), 0) + 1 FROM " MYDRV_HISTORY " h "
		    "ON DUPLICATE KEY UPDATE name = VALUES(name), checksum = VALUES(checksum), "
		    "phase = VALUES(phase), step_phase = VALUES(step_phase), "
		    "step_index = VALUES(step_index), state_id = VALUES(state_id), "
		    "generation = VALUES(generation), updated_at = CURRENT_TIMESTAMP(6)");
	return mg_buf_detach(&b);
}

static int mydrv_history_read(struct mg_conn *c, struct mg_history *out,
			      struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_rows r = MG_ROWS_INIT;
	int64_t exists = 0;

	memset(out, 0, sizeof(*out));
	if (query_int(mc, history_exists_sql, &exists, err) < 0)
		return -1;
	if (!exists)
		return 0;
	out->exists = 1;
	if (query_mc(mc, "SELECT migration_id, name, checksum, phase, step_phase, "
		     "step_index, state_id, generation FROM " MYDRV_HISTORY
		     " ORDER BY migration_id", &r, err) < 0)
		return -1;
	out->n = r.nrows;
	out->rows = mg_xcalloc(out->n + 1, sizeof(*out->rows));
	for (size_t i = 0; i < out->n; i++) {
		struct mg_history_row *h = &out->rows[i];
		const char *step_index = mg_rows_get(&r, i, 5);
		const char *generation = mg_rows_get(&r, i, 7);

		h->id = atoi(mg_rows_get(&r, i, 0));
		h->name = mg_xstrdup(mg_rows_get(&r, i, 1));
		h->checksum = mg_xstrdup(mg_rows_get(&r, i, 2));
		h->phase = mg_xstrdup(mg_rows_get(&r, i, 3));
		h->step_phase = mg_xstrdup(mg_rows_get(&r, i, 4));
		h->step_index = step_index ? atoi(step_index) : 0;
		h->state_id = mg_xstrdup(mg_rows_get(&r, i, 6));
		h->generation = generation ? strtoll(generation, NULL, 10) : 0;
		if (h->generation > out->generation)
			out->generation = h->generation;
	}
	mg_rows_release(&r);
	return 0;
}

/*
 * Create the table when it is missing, then upsert in a transaction of its
 * own. MySQL commits implicitly before and after DDL, so CREATE TABLE
 * cannot share the transaction as on PostgreSQL; it runs only when the
 * table is missing, so a role without CREATE can keep writing once the
 * table exists.
 */
static int mydrv_history_write(struct mg_conn *c, const struct mg_history_write *w,
			       struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	char *up = history_upsert_sql(mc, w);
	int64_t exists = 0;
	int rc;

	rc = query_int(mc, history_exists_sql, &exists, err);
	if (!rc && !exists)
		rc = exec_mc(mc, history_ddl, err);
	if (!rc)
		rc = exec_mc(mc, "START TRANSACTION", err);
	if (!rc) {
		rc = exec_mc(mc, up, err);
		if (!rc)
			rc = exec_mc(mc, "COMMIT", err);
		if (rc) {
			struct mg_err ignored = MG_ERR_INIT;

			exec_mc(mc, "ROLLBACK", &ignored);
		}
	}
	free(up);
	if (rc)
		mg_err_prefix(err, "cannot write the history table: ");
	return rc;
}

/* ==== the migrate lock and blockers ============================================ */

/*
 * Is performance_schema on, and may this user read the connection
 * attributes (program_name) in it? Asked once per connection: it needs
 * SELECT on performance_schema, and grants rarely change under us.
 */
static enum mydrv_attrs attrs_state(struct mydrv_conn *mc)
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

static int attrs_readable(struct mydrv_conn *mc)
{
	return attrs_state(mc) == MYDRV_ATTRS_READABLE;
}

/* The SQL for session p's program_name, when it can be read. */
static const char *attr_join(struct mydrv_conn *mc)
{
	return attrs_readable(mc) ? MYDRV_ATTR_JOIN : "";
}

static const char *attr_value(struct mydrv_conn *mc)
{
	return attrs_readable(mc) ? "a.ATTR_VALUE" : "NULL";
}

/* Count the characters of UTF-8 text (the server's unit for names). */
static size_t utf8_chars(const char *s)
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
static void set_lock_name(struct mydrv_conn *mc, const char *db)
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
static int mydrv_lock(struct mg_conn *c, struct mg_err *err)
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

static void mydrv_unlock(struct mg_conn *c)
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

static int mydrv_lock_holder(struct mg_conn *c, struct mg_buf *out, struct mg_err *err)
{
	(void)err;
	mg_buf_addf(out, "%lu", mysql_thread_id(downcast(c)->my));
	return 0;
}

static int mydrv_lock_lost(struct mg_conn *c, struct mg_err *err)
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
static void split_table(const char *t, char **schema, char **name)
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

static int mydrv_check_blockers(struct mg_conn *c, const char *const *tables,
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

/* ==== sessions, replicas and load ============================================= */

/*
 * Does PROCESSLIST show this user every session? Only with the PROCESS
 * privilege. Asking for it by name misses privileges that come through a
 * role (information_schema.USER_PRIVILEGES lists the account's own), so
 * ask a table that needs the same privilege: INNODB_TRX refuses to be read
 * without PROCESS, however it was granted (and an empty read is not
 * enough: the server skips the check for WHERE 1 = 0).
 * 1 yes, 0 no, -1 error.
 */
static int sees_all_sessions(struct mydrv_conn *mc, struct mg_err *err)
{
	int64_t n;

	if (query_int(mc, "SELECT COUNT(*) FROM information_schema.INNODB_TRX", &n, err) == 0)
		return 1;
	if (stmt_errno(mc) != ER_SPECIFIC_ACCESS_DENIED_ERROR)
		return -1;
	mg_err_clear(err);
	return 0;
}

/*
 * Sessions whose user, or whose program_name connection attribute, matches
 * the colour's glob, migrate's own (program_name migrate/...) excepted.
 * With performance_schema off no session has a program name to see, and
 * sessions match by user alone. With it on but not readable by this user,
 * a session matching by program name would go unseen: -1, so the colour
 * counts as alive (the hint names the grant). Any database counts, not only this one: an application's session
 * may sit in another default database and still use ours, and a session
 * too many keeps a colour alive, which is the safe side. Matching is
 * case-insensitive (PROCESSLIST's collation), the safe side again.
 * Without PROCESS this user sees only its own sessions: -1, so the colour
 * counts as alive.
 */
static int mydrv_count_sessions(struct mg_conn *c, const char *pattern,
				int64_t *out, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT, pat = MG_BUF_INIT, esc = MG_BUF_INIT;
	char *like = mg_glob_to_like(pattern);
	int rc, all;

	*out = 0;
	all = sees_all_sessions(mc, err);
	if (all <= 0) {
		free(like);
		if (all < 0)
			return -1;
		mg_err_set(err, MG_EDB, "this MySQL user lacks the PROCESS privilege, so other users' sessions are hidden from it");
		return mg_err_hint(err, "GRANT PROCESS ON *.* TO the user migrate connects as (see docs/grants.md)");
	}
	if (attrs_state(mc) == MYDRV_ATTRS_HIDDEN) {
		free(like);
		mg_err_set(err, MG_EDB, "this MySQL user may not read performance_schema, so sessions' program names are hidden from it");
		return mg_err_hint(err, "GRANT SELECT ON performance_schema.* TO the user migrate connects as (see docs/grants.md)");
	}
	add_literal(mc, &pat, like);
	add_literal(mc, &esc, "\\");
	mg_buf_addf(&sql, "SELECT COUNT(*) FROM information_schema.PROCESSLIST p %s"
		    "WHERE " MYDRV_CLIENT_SESSION "AND COALESCE(%s, '') NOT LIKE 'migrate/%%' "
		    "AND (p.USER LIKE %s ESCAPE %s",
		    attr_join(mc), attr_value(mc), pat.buf, esc.buf);
	if (attrs_readable(mc))
		mg_buf_addf(&sql, " OR a.ATTR_VALUE LIKE %s ESCAPE %s", pat.buf, esc.buf);
	mg_buf_adds(&sql, ")");
	rc = query_int(mc, sql.buf, out, err);
	mg_buf_release(&sql);
	mg_buf_release(&pat);
	mg_buf_release(&esc);
	free(like);
	return rc;
}

/*
 * --max-load is Threads_running, the figure gh-ost and pt-osc throttle on:
 * the server's threads running a statement now, in any database, the
 * server's own busy threads included. It needs no privilege. Not counted:
 * this session (running the SHOW) and migrate's other sessions running a
 * batch at that moment, told apart by their program_name migrate/...
 * (they are this user's, which PROCESSLIST always shows). With
 * performance_schema off they cannot be told apart and count. *hidden is
 * always 0: nothing is hidden from Threads_running.
 */
static int mydrv_active_sessions(struct mg_conn *c, int64_t *out, int64_t *hidden,
				 struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_rows r = MG_ROWS_INIT;
	int64_t running, ours = 0;
	int rc;

	*out = *hidden = 0;
	rc = query_mc(mc, "SHOW GLOBAL STATUS LIKE 'Threads_running'", &r, err);
	if (rc == 0 && (r.nrows != 1 || r.ncols < 2 || !mg_rows_get(&r, 0, 1)))
		rc = mg_err_set(err, MG_EDB, "the server reports no Threads_running");
	running = rc == 0 ? strtoll(mg_rows_get(&r, 0, 1), NULL, 10) : 0;
	mg_rows_release(&r);
	if (rc < 0)
		return -1;
	if (attrs_readable(mc) &&
	    query_int(mc, "SELECT COUNT(*) FROM information_schema.PROCESSLIST p " MYDRV_ATTR_JOIN
		      "WHERE p.ID <> CONNECTION_ID() AND p.COMMAND NOT IN ('Sleep', 'Daemon') "
		      "AND a.ATTR_VALUE LIKE 'migrate/%'", &ours, err) < 0)
		return -1;
	*out = running - 1 - ours;
	if (*out < 0)
		*out = 0;
	return 0;
}

/* ==== replication lag (--max-lag) ========================================================= */

/*
 * The primary cannot tell how far its replicas have replayed, so migrate
 * asks each replica itself, as gh-ost and pt-osc do:
 *  - which replicas: the URL's replica=host:port parameters, or else the
 *    ones the primary lists (SHOW REPLICAS on MySQL 8.0.22+, SHOW SLAVE
 *    HOSTS on MariaDB and older MySQL) at their report_host and
 *    report_port, reached with the primary's user, password, database and
 *    TLS settings. Only direct replicas: a replica's own replicas are not
 *    looked for;
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

struct mydrv_replica {
	char *host;
	unsigned port;
	char *name;			/* "host:port", for messages */
	struct mydrv_conn *conn;	/* NULL until connected */
};

/* A session's replicas (each session connects to them on its own). */
struct mydrv_lag {
	struct mydrv_replica *replicas;
	size_t n;
};

/* The heartbeats of this process, under mu: one row, shared by every
 * session that checks the lag (see above); reset when the last goes. */
static struct heartbeats {
	pthread_mutex_t mu;
	int users;			/* sessions with a struct mydrv_lag */
	int table_ready;		/* _migrate_heartbeat exists */
	int64_t id;			/* the row: the connection id of the first user */
	int64_t sent[MYDRV_HEARTBEATS];	/* heartbeats written, a ring, oldest first */
	size_t n_sent, first;
} heartbeats = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void replica_release(struct mydrv_replica *r)
{
	free(r->host);
	free(r->name);
	if (r->conn)
		mydrv_close(&r->conn->base);
	memset(r, 0, sizeof(*r));
}

static void lag_release(struct mydrv_lag *lag)
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

/* Add a replica at host:port unless it is there; it is kept (marked). */
static void keep_replica(struct mydrv_replica **list, size_t *n, struct mydrv_lag *old,
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
 * The replicas as the primary lists them now (they come and go): their
 * server_id, report_host and report_port. A replica without report_host
 * cannot be reached: an error naming the way out.
 */
static int list_replicas(struct mydrv_conn *mc, struct mydrv_lag *lag, struct mg_err *err)
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

	if (!rep->conn) {
		struct mydrv_url u = *mc->url;	/* the primary's, but for host and port */

		u.host = rep->host;
		u.port = rep->port;
		u.socket = NULL;
		if (open_conn(&u, &mc->opts, MYDRV_REPLICA_TIMEOUT_S, &rep->conn, err) < 0) {
			mg_err_prefix(err, "replica %s: ", rep->name);
			return -1;
		}
	}
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
static void forget_heartbeat(struct mydrv_conn *mc)
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
	}
	pthread_mutex_unlock(&h->mu);
}

static int mydrv_replication_lag_ms(struct mg_conn *c, int64_t *out, struct mg_err *err)
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
	if (!mc->url->n_replicas && list_replicas(mc, lag, err) < 0)
		return -1;
	if (lag->n == 0)
		return 0;
	now = mg_now_ms();
	for (size_t i = 0; i < lag->n; i++) {
		int64_t v = 0;

		if (replica_lag(mc, &lag->replicas[i], now, &v, err) < 0)
			return -1;
		if (v > worst)
			worst = v;
	}
	if (send_heartbeat(mc, now, err) < 0)
		return -1;
	*out = worst;
	return 0;
}

/* ANALYZE TABLE reports a failure as a result row, not as an error. */
static int mydrv_analyze(struct mg_conn *c, const char *table, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	char *sql = mg_xasprintf("ANALYZE TABLE %s", table);
	struct mg_rows r = MG_ROWS_INIT;
	int rc = query_mc(mc, sql, &r, err);

	for (size_t i = 0; rc == 0 && r.ncols >= 4 && i < r.nrows; i++) {
		const char *type = mg_rows_get(&r, i, 2);

		if (type && !strcasecmp(type, "error")) {
			const char *text = mg_rows_get(&r, i, 3);

			rc = mg_err_set(err, MG_EDB, "analyze %s: %s", table, text ? text : "failed");
		}
	}
	mg_rows_release(&r);
	free(sql);
	return rc;
}

/* ==== planning: catalog ========================================================== */

/*
 * How the MySQL/MariaDB plan differs from the PostgreSQL one, and why.
 *
 * DDL commits implicitly: a step cannot share a transaction with its
 * history row. So every statement of a step is idempotent (IF [NOT]
 * EXISTS, or a catalog guard around a prepared statement: the only way on
 * MySQL, see "the MySQL dialect"), the step runs
 * its statements in order and then writes the history row; a crash in
 * between runs the step again, harmlessly. The order of the statements
 * keeps every intermediate state valid for both application versions:
 * columns before triggers at expand, triggers dropped before columns at
 * contract and rollback.
 *
 * A step is sent whole as one multi-statement request (the connection has
 * CLIENT_MULTI_STATEMENTS): the server parses it, so the semicolons inside
 * a trigger body need no client-side splitting; run() checks every
 * result. The plan shows exactly the text that is sent.
 *
 * Every ALTER TABLE names its algorithm, so the server can never choose a
 * table copy behind our back: ALGORITHM=INSTANT where the server can do it
 * as a metadata change (MariaDB 10.3+ adds, 10.4+ drops columns and
 * changes defaults instantly; MySQL 8.0.29+ adds and drops them and
 * changes defaults instantly), ALGORITHM=NOCOPY, LOCK=NONE (MariaDB: in
 * place, never a rebuild; MySQL has no NOCOPY and gets INPLACE, LOCK=NONE)
 * for index changes. When the server refuses the
 * planned algorithm, run_step falls back one level at a time, as far as
 * the operations of the step allow (see run_ddl_step).
 */

#define MYDRV_MAX_IDENT 64
#define MYDRV_MYSQL_PLAN_MIN 80029	/* MySQL 8.0.29 */
#define MYDRV_ALG_INSTANT ", ALGORITHM=INSTANT"
#define MYDRV_ALG_NOCOPY ", ALGORITHM=NOCOPY, LOCK=NONE"
#define MYDRV_ALG_INPLACE ", ALGORITHM=INPLACE, LOCK=NONE"
#define MYDRV_ALG_COPY ", ALGORITHM=COPY"
/* The first lines of a step whose operations allowed a fallback, in
 * plans recorded by v0.11.0 (now the step's options: step_allows). */
#define MYDRV_ALLOW_REBUILD "-- allow_rebuild\n"
#define MYDRV_ALLOW_COPY "-- allow_copy\n"
/* The first line of a sql step with in_transaction: true. */
#define MYDRV_START_TX "START TRANSACTION;\n"

/* A table as the catalog knows it. */
struct mytable {
	char *name;		/* raw, as in the catalog */
	char *q;		/* `name` */
	char *lit;		/* 'name', for information_schema */
	char **key_cols;	/* quoted */
	char **key_types;	/* DATA_TYPE: int, bigint, varchar ... */
	size_t n_keys;
	const char *key_problem;
	struct mg_strlist cols;		/* every column, raw, in order */
	struct mg_strlist on_update;	/* columns ON UPDATE CURRENT_TIMESTAMP, quoted */
};

/* A column as the catalog knows it. */
struct mycolumn {
	int found;
	char *column_type;	/* varchar(50), int(10) unsigned, enum('a','b') */
	char *data_type;	/* varchar, int, enum */
	char *charset;
	char *collation;
	int notnull;
	char *default_expr;	/* SQL, or NULL for none */
	char *extra;		/* auto_increment, VIRTUAL GENERATED ... */
	char *comment;
};

static void mytable_release(struct mytable *t)
{
	free(t->name);
	free(t->q);
	free(t->lit);
	for (size_t i = 0; i < t->n_keys; i++) {
		free(t->key_cols[i]);
		free(t->key_types[i]);
	}
	free(t->key_cols);
	free(t->key_types);
	mg_strlist_release(&t->cols);
	mg_strlist_release(&t->on_update);
	memset(t, 0, sizeof(*t));
}

static void mycolumn_release(struct mycolumn *c)
{
	free(c->column_type);
	free(c->data_type);
	free(c->charset);
	free(c->collation);
	free(c->default_expr);
	free(c->extra);
	free(c->comment);
	memset(c, 0, sizeof(*c));
}

static char *qi(const char *name)
{
	struct mg_buf b = MG_BUF_INIT;

	mydrv_quote_ident(&b, name);
	return mg_buf_detach(&b);
}

static char *lit(struct mydrv_conn *mc, const char *s)
{
	struct mg_buf b = MG_BUF_INIT;

	add_literal(mc, &b, s);
	return mg_buf_detach(&b);
}

/* base + suffix, base cut so the whole fits a MySQL identifier (64
 * characters; names here are cut by bytes, at a UTF-8 boundary). */
static char *mkname(const char *base, const char *suffix)
{
	return mg_planner_name_utf8(MYDRV_MAX_IDENT, base, suffix);
}

/*
 * The key the backfill walks: the PRIMARY KEY, else the unique index with
 * the fewest columns whose columns are all NOT NULL and whole (no prefix,
 * no expression).
 */
static int fetch_key(struct mydrv_conn *mc, struct mytable *t, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;

	mg_buf_addf(&sql,
		"SELECT s.COLUMN_NAME, c.DATA_TYPE FROM information_schema.STATISTICS s "
		"JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA "
		"AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME "
		"WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME = %s AND s.INDEX_NAME = ("
		"SELECT x.INDEX_NAME FROM information_schema.STATISTICS x "
		"WHERE x.TABLE_SCHEMA = DATABASE() AND x.TABLE_NAME = %s AND x.NON_UNIQUE = 0 "
		"GROUP BY x.INDEX_NAME HAVING SUM(x.NULLABLE = 'YES' OR x.SUB_PART IS NOT NULL "
		"OR x.COLUMN_NAME IS NULL) = 0 "
		"ORDER BY x.INDEX_NAME = 'PRIMARY' DESC, COUNT(*), x.INDEX_NAME LIMIT 1) "
		"ORDER BY s.SEQ_IN_INDEX", t->lit, t->lit);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	t->n_keys = r.nrows;
	t->key_cols = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	t->key_types = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	for (size_t i = 0; i < r.nrows; i++) {
		t->key_cols[i] = qi(mg_rows_get(&r, i, 0));
		t->key_types[i] = mg_xstrdup(mg_rows_get(&r, i, 1));
	}
	mg_rows_release(&r);
	if (!t->n_keys)
		t->key_problem = "it has no primary key and no unique index over NOT NULL columns";
	return 0;
}

/* Every column in order, and those the server sets on each update. */
static int fetch_columns(struct mydrv_conn *mc, struct mytable *t, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;

	mg_buf_addf(&sql, "SELECT COLUMN_NAME, LOWER(EXTRA) LIKE '%%on update%%' "
		    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
		    "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", t->lit);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	for (size_t i = 0; i < r.nrows; i++) {
		mg_strlist_push(&t->cols, mg_rows_get(&r, i, 0));
		if (!strcmp(mg_rows_get(&r, i, 1), "1"))
			mg_strlist_push_owned(&t->on_update, qi(mg_rows_get(&r, i, 0)));
	}
	mg_rows_release(&r);
	return 0;
}

/*
 * Resolve op->table in the connection's database; MG_EINPUT naming the
 * file position when it is absent or qualified with another database.
 */
static int resolve_table(struct mydrv_conn *mc, const struct mg_migration *m,
			 const struct mg_op *op, struct mytable *out,
			 struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	const char *dot = strchr(op->table, '.');
	const char *name = dot ? dot + 1 : op->table;
	char *nl = lit(mc, name);
	int rc = -1;

	memset(out, 0, sizeof(*out));
	mg_buf_adds(&sql, "SELECT TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE, ''), ");
	if (dot) {
		char *db = mg_xstrndup(op->table, (size_t)(dot - op->table));

		mg_buf_adds(&sql, "DATABASE() = ");
		add_literal(mc, &sql, db);
		free(db);
	} else {
		mg_buf_adds(&sql, "1");
	}
	mg_buf_addf(&sql, " FROM information_schema.TABLES "
		    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", nl);
	free(nl);
	if (query_mc(mc, sql.buf, &r, err) < 0)
		goto out;
	if (r.nrows == 0 || strcmp(mg_rows_get(&r, 0, 3), "1") != 0) {
		mg_plan_pos_error(err, MG_EINPUT, m, op->table_pos, "table '%s' does not exist", op->table);
		mg_err_hint(err, "check the table name; on MySQL/MariaDB tables are named without a database and live in the database of the URL");
		goto out;
	}
	if (strcmp(mg_rows_get(&r, 0, 1), "BASE TABLE") != 0) {
		mg_plan_pos_error(err, MG_EREFUSED, m, op->table_pos, "'%s' is not a plain table (%s): views and other relations cannot be migrated",
			  op->table, mg_rows_get(&r, 0, 1));
		goto out;
	}
	if (strcasecmp(mg_rows_get(&r, 0, 2), "InnoDB") != 0) {
		mg_plan_pos_error(err, MG_EREFUSED, m, op->table_pos, "table '%s' uses the %s engine: only InnoDB tables can be changed online",
			  op->table, mg_rows_get(&r, 0, 2));
		goto out;
	}
	out->name = mg_xstrdup(mg_rows_get(&r, 0, 0));
	out->q = qi(out->name);
	out->lit = lit(mc, out->name);
	rc = fetch_key(mc, out, err) < 0 || fetch_columns(mc, out, err) < 0 ? -1 : 0;
out:
	mg_rows_release(&r);
	mg_buf_release(&sql);
	return rc;
}

/*
 * COLUMN_DEFAULT as SQL. MariaDB 10.2.7+ shows an expression ('x' quoted,
 * current_timestamp(), NULL spelled out); MySQL 8 shows a bare literal and
 * marks expressions DEFAULT_GENERATED in EXTRA (that branch was not run
 * here).
 */
static char *default_sql(struct mydrv_conn *mc, const char *def, const char *extra)
{
	if (!def || !strcmp(def, "NULL"))
		return NULL;
	if (mc->mariadb)
		return mg_xstrdup(def);
	if (extra && strstr(extra, "DEFAULT_GENERATED"))
		return mg_xasprintf("(%s)", def);
	return lit(mc, def);
}

/* 0 found, 1 absent, -1 error. */
static int fetch_column(struct mydrv_conn *mc, const struct mytable *t,
			const char *name, struct mycolumn *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	char *nl = lit(mc, name);

	memset(out, 0, sizeof(*out));
	mg_buf_addf(&sql, "SELECT COLUMN_TYPE, DATA_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, "
		    "IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLUMN_COMMENT "
		    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
		    "AND TABLE_NAME = %s AND COLUMN_NAME = %s", t->lit, nl);
	free(nl);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	if (r.nrows == 0) {
		mg_rows_release(&r);
		return 1;
	}
	out->found = 1;
	out->column_type = mg_xstrdup(mg_rows_get(&r, 0, 0));
	out->data_type = mg_xstrdup(mg_rows_get(&r, 0, 1));
	out->charset = mg_xstrdup(mg_rows_get(&r, 0, 2));
	out->collation = mg_xstrdup(mg_rows_get(&r, 0, 3));
	out->notnull = !strcmp(mg_rows_get(&r, 0, 4), "NO");
	out->extra = mg_xstrdup(mg_rows_get(&r, 0, 6) ? mg_rows_get(&r, 0, 6) : "");
	out->default_expr = default_sql(mc, mg_rows_get(&r, 0, 5), out->extra);
	if (mg_rows_get(&r, 0, 7) && *mg_rows_get(&r, 0, 7))
		out->comment = mg_xstrdup(mg_rows_get(&r, 0, 7));
	mg_rows_release(&r);
	return 0;
}

/*
 * A value of the type that every row can hold, for a NOT NULL column
 * while nothing real is in it: '' for strings, 0 for numbers, the first
 * value of an ENUM, the Unix epoch for dates (the session runs in UTC and
 * without zero dates). NULL when there is none (spatial types): the
 * column then gets no temporary default.
 */
static char *zero_value(const char *type)
{
	static const char *const strings[] = { "char", "varchar", "tinytext", "text",
		"mediumtext", "longtext", "binary", "varbinary", "tinyblob", "blob",
		"mediumblob", "longblob", "set", "json", "inet6", "inet4", "uuid", NULL };
	static const char *const numbers[] = { "tinyint", "smallint", "mediumint", "int",
		"integer", "bigint", "decimal", "numeric", "dec", "fixed", "float", "double",
		"real", "bit", "bool", "boolean", "serial", NULL };
	char word[32];
	size_t n = 0;

	while (type[n] && n < sizeof(word) - 1 && (isalnum((unsigned char)type[n]) || type[n] == '_')) {
		word[n] = (char)tolower((unsigned char)type[n]);
		n++;
	}
	word[n] = '\0';
	for (const char *const *w = strings; *w; w++)
		if (!strcmp(word, *w))
			return mg_xstrdup(!strcmp(word, "uuid") ? "'00000000-0000-0000-0000-000000000000'" :
					  !strcmp(word, "inet4") ? "'0.0.0.0'" :
					  !strcmp(word, "inet6") ? "'::'" : "''");
	for (const char *const *w = numbers; *w; w++)
		if (!strcmp(word, *w))
			return mg_xstrdup("0");
	if (!strcmp(word, "date"))
		return mg_xstrdup("'1970-01-01'");
	if (!strcmp(word, "datetime"))
		return mg_xstrdup("'1970-01-01 00:00:00'");
	if (!strcmp(word, "timestamp"))
		return mg_xstrdup("'1970-01-01 00:00:01'");
	if (!strcmp(word, "time"))
		return mg_xstrdup("'00:00:00'");
	if (!strcmp(word, "year"))
		return mg_xstrdup("1970");
	if (!strcmp(word, "enum")) {
		const char *open = strchr(type, '\'');
		const char *close = open ? open + 1 : NULL;

		while (close && *close && !(*close == '\'' && close[1] != '\''))
			close += *close == '\'' ? 2 : 1;
		if (close && *close)
			return mg_xstrndup(open, (size_t)(close - open) + 1);
	}
	return NULL;
}

/* ==== planning: per-table work ==================================================== */

/*
 * The core (src/planner.c) keeps the table plan: pairs, primitives by
 * slot. Rendering a table's step reads it through this view, which puts
 * the primitives back into the clause lists the MySQL steps are written
 * from (mytplan_derive): the ALTER clauses of one statement are the
 * primitives of one slot, in the order the core filed them.
 */

/* A copy of an index over a replaced column, on the new column. */
struct idxcopy {
	const char *orig;	/* raw name of the original */
	const char *copy;	/* raw name of the copy */
	const char *kind;	/* "UNIQUE ", "FULLTEXT ", "SPATIAL " or "" */
	struct mg_strlist parts;	/* rendered key parts: `col`(10) DESC */
};

/* The MySQL view of one table plan (borrowed names, owned lists). */
struct tplan {
	struct mytable t;		/* shallow copy of the table's description */
	const struct mg_pair *pairs;
	size_t n_pairs;
	int has_marker;
	int allow_rebuild, allow_copy;
	struct mg_strlist add_cols;		/* ADD COLUMN IF NOT EXISTS ... */
	struct mg_strlist temp_defaults;	/* ALTER COLUMN `c` DROP DEFAULT */
	struct mg_strlist ph_cols, ph_vals;	/* new columns with a placeholder, and it */
	struct mg_strlist row_cols;		/* every column the triggers see, raw */
	struct idxcopy *idx;
	size_t n_idx;
	struct mg_strlist contract_defaults;	/* ALTER COLUMN ... SET DEFAULT */
	struct mg_strlist drop_defaults;	/* the same, for columns contract drops */
	struct mg_strlist drop_default_cols;	/* those columns' names, unquoted */
	struct mg_strlist contract_drops;	/* DROP INDEX/CONSTRAINT/FOREIGN KEY IF EXISTS */
	struct mg_strlist contract_cols;	/* DROP COLUMN IF EXISTS `old` */
	struct mg_strlist dropped;		/* raw names of the columns contract drops */
	struct mg_buf contract_pre;		/* listed drops: views, triggers, other tables' keys */
	struct mg_strlist rollback_defaults;	/* ALTER COLUMN `new` SET DEFAULT zero */
	struct mg_strlist rollback_default_cols;	/* those columns' names, unquoted */
	struct mg_strlist rollback_cols;	/* DROP COLUMN IF EXISTS `new` */
};

/* What rendering needs of the planning session. */
struct planner {
	struct mydrv_conn *mc;
	const struct mg_planner *core;
	const struct mg_migration *m;
	struct mg_plan *plan;
	const char *marker_raw;	/* "_migrate_3" */
};

/* An index over a column (column_dependents): its kind and key parts. */
struct myindex {
	const char *kind;	/* "UNIQUE ", "FULLTEXT ", "SPATIAL " or "" */
	struct mg_strlist cols, sub_parts, orders;	/* raw; "" for none */
};

static void myindex_free(void *p)
{
	struct myindex *x = p;

	mg_strlist_release(&x->cols);
	mg_strlist_release(&x->sub_parts);
	mg_strlist_release(&x->orders);
	free(x);
}

static void planner_init(struct planner *pl, struct mg_conn *c, const struct mg_planner *core,
			 struct mg_plan *plan)
{
	pl->mc = downcast(c);
	pl->core = core;
	pl->m = core->m;
	pl->plan = plan;
	pl->marker_raw = core->marker;
}

static const struct mytable *mytable_of(const struct mg_table_desc *t)
{
	return t->drv;
}

static const struct mycolumn *mycolumn_of(const struct mg_column_desc *c)
{
	return c->drv;
}

static void tplan_release(struct tplan *tp)
{
	for (size_t i = 0; i < tp->n_idx; i++)
		mg_strlist_release(&tp->idx[i].parts);
	free(tp->idx);
	mg_strlist_release(&tp->add_cols);
	mg_strlist_release(&tp->temp_defaults);
	mg_strlist_release(&tp->ph_cols);
	mg_strlist_release(&tp->ph_vals);
	mg_strlist_release(&tp->row_cols);
	mg_strlist_release(&tp->contract_defaults);
	mg_strlist_release(&tp->drop_defaults);
	mg_strlist_release(&tp->drop_default_cols);
	mg_strlist_release(&tp->contract_drops);
	mg_strlist_release(&tp->contract_cols);
	mg_strlist_release(&tp->dropped);
	mg_buf_release(&tp->contract_pre);
	mg_strlist_release(&tp->rollback_defaults);
	mg_strlist_release(&tp->rollback_default_cols);
	mg_strlist_release(&tp->rollback_cols);
}

/*
 * A statement that runs only when cond (a boolean SQL expression) is true:
 * MySQL has no IF outside stored programs, so the statement is prepared
 * from a string chosen by the condition. Idempotence for the steps that
 * cannot say IF EXISTS (RENAME INDEX).
 */
static void add_guarded(struct mydrv_conn *mc, struct mg_buf *b, const char *cond,
			const char *stmt)
{
	mg_buf_addf(b, "SET @_mg_sql = IF(%s, ", cond);
	add_literal(mc, b, stmt);
	mg_buf_adds(b, ", 'DO 0');\nPREPARE _mg_stmt FROM @_mg_sql;\nEXECUTE _mg_stmt;\n"
		    "DEALLOCATE PREPARE _mg_stmt;\n");
}

/* "an index named name exists on table tlit ('t')" as SQL. */
static char *index_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name)
{
	char *nl = lit(mc, name);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = %s)",
			       tlit, nl);

	free(nl);
	return s;
}

static char *index_exists(struct mydrv_conn *mc, const struct tplan *tp, const char *name)
{
	return index_exists_in(mc, tp->t.lit, name);
}

/* ---- the MySQL dialect ------------------------------------------------------
 *
 * MySQL 8 has none of MariaDB's ADD COLUMN IF NOT EXISTS, DROP COLUMN /
 * INDEX / CONSTRAINT / FOREIGN KEY IF EXISTS, ADD INDEX IF NOT EXISTS,
 * ALGORITHM=NOCOPY or CREATE OR REPLACE TRIGGER. The planner keeps its
 * ALTER clauses in MariaDB's form; with mc->mysql_dialect set they are
 * rendered as one ALTER TABLE prepared from a string that the catalog
 * puts together when the step runs: each clause is in it only while it
 * still has something to do, exactly what IF [NOT] EXISTS does per
 * clause, so a step that stopped halfway (a crash, a failure) runs again
 * harmlessly; with no clause left it is DO 0. Every form here runs on
 * MySQL 8.0.29+ and on MariaDB 10.3+ (PREPARE of ALTER TABLE and DO,
 * CONCAT_WS skipping NULLs, information_schema COLUMNS, STATISTICS and
 * TABLE_CONSTRAINTS), which is what lets the MariaDB tests run it.
 *
 * The algorithm stays in the text outside the quoted clauses, as its own
 * literal (', ALGORITHM=INSTANT'), so run_ddl_step's fallback rewrites it
 * as in any other step: neither the algorithm nor its replacement holds a
 * quote or a backslash, so the literal stays valid.
 *
 * NOCOPY becomes INPLACE, LOCK=NONE. MySQL cannot be told "in place but
 * never a rebuild", so an ALTER that mixes index or constraint changes
 * (INPLACE, no rebuild per the manual's online DDL tables) with column
 * changes (INSTANT) is split in two: INPLACE on DROP COLUMN would rebuild
 * the table. Each half is atomic (one ALTER TABLE on InnoDB), and the
 * guards make the pair idempotent.
 */

/* "a column named name exists in table tlit" as SQL. */
static char *column_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name)
{
	char *nl = lit(mc, name);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s)",
			       tlit, nl);

	free(nl);
	return s;
}

/* "a constraint of this type ('CHECK', 'FOREIGN KEY') named name exists on
 * table tlit" as SQL. */
static char *constraint_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name,
				  const char *type)
{
	char *nl = lit(mc, name);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CONSTRAINT_NAME = %s AND CONSTRAINT_TYPE = '%s')",
			       tlit, nl, type);

	free(nl);
	return s;
}

enum dialect_obj { DIALECT_COLUMN, DIALECT_INDEX, DIALECT_CHECK, DIALECT_FK };

/* The MariaDB clause forms the planner writes, and what each is on MySQL. */
static const struct dialect_form {
	const char *mariadb;	/* prefix up to the backquoted name */
	const char *mysql;	/* the same without IF [NOT] EXISTS */
	enum dialect_obj obj;
	int absent;		/* runs while the object is absent (ADD) */
} dialect_forms[] = {
	{ "ADD COLUMN IF NOT EXISTS ", "ADD COLUMN ", DIALECT_COLUMN, 1 },
	{ "DROP COLUMN IF EXISTS ", "DROP COLUMN ", DIALECT_COLUMN, 0 },
	{ "ALTER COLUMN ", "ALTER COLUMN ", DIALECT_COLUMN, 0 },
	{ "ADD INDEX IF NOT EXISTS ", "ADD INDEX ", DIALECT_INDEX, 1 },
	{ "ADD UNIQUE INDEX IF NOT EXISTS ", "ADD UNIQUE INDEX ", DIALECT_INDEX, 1 },
	{ "ADD FULLTEXT INDEX IF NOT EXISTS ", "ADD FULLTEXT INDEX ", DIALECT_INDEX, 1 },
	{ "ADD SPATIAL INDEX IF NOT EXISTS ", "ADD SPATIAL INDEX ", DIALECT_INDEX, 1 },
	{ "DROP INDEX IF EXISTS ", "DROP INDEX ", DIALECT_INDEX, 0 },
	{ "DROP CONSTRAINT IF EXISTS ", "DROP CONSTRAINT ", DIALECT_CHECK, 0 },
	{ "DROP FOREIGN KEY IF EXISTS ", "DROP FOREIGN KEY ", DIALECT_FK, 0 },
};

/* The raw name of the backquoted identifier at s (`a``b` is a`b); *len
 * is the length of the quoted form. */
static char *take_ident(const char *s, size_t *len)
{
	struct mg_buf b = MG_BUF_INIT;
	const char *p = s + 1;

	assert(*s == '`');
	for (; *p; p++) {
		if (*p == '`' && p[1] != '`')
			break;
		if (*p == '`')
			p++;
		mg_buf_addc(&b, *p);
	}
	*len = (size_t)(p - s) + (*p ? 1 : 0);
	return mg_buf_detach(&b);
}

/*
 * One clause in MySQL's words: *plain the clause without IF [NOT] EXISTS,
 * *cond the SQL condition under which it still has work to do, *is_key 1
 * for index and constraint clauses (INPLACE), 0 for column clauses
 * (INSTANT).
 */
static void dialect_clause(struct mydrv_conn *mc, const char *tlit, const char *part,
			   char **plain, char **cond, int *is_key)
{
	for (size_t i = 0; i < sizeof(dialect_forms) / sizeof(dialect_forms[0]); i++) {
		const struct dialect_form *f = &dialect_forms[i];
		size_t n = strlen(f->mariadb), len;
		char *name, *exists;

		if (strncmp(part, f->mariadb, n) != 0 || part[n] != '`')
			continue;
		name = take_ident(part + n, &len);
		*plain = mg_xasprintf("%s%s", f->mysql, part + n);
		exists = f->obj == DIALECT_COLUMN ? column_exists_in(mc, tlit, name) :
			 f->obj == DIALECT_INDEX ? index_exists_in(mc, tlit, name) :
			 constraint_exists_in(mc, tlit, name,
					      f->obj == DIALECT_FK ? "FOREIGN KEY" : "CHECK");
		*cond = f->absent ? mg_xasprintf("NOT %s", exists) : mg_xstrdup(exists);
		*is_key = f->obj != DIALECT_COLUMN;
		free(exists);
		free(name);
		return;
	}
	/* not a form the planner writes: run it unconditionally */
	assert(!"unknown ALTER clause");
	*plain = mg_xstrdup(part);
	*cond = mg_xstrdup("TRUE");
	*is_key = 0;
}

/*
 * "SET @_mg_sql = ..." twice: the clauses (plain, cond) that still have
 * work to do, then the ALTER TABLE of them with the algorithm, or DO 0
 * when none has (or when outer, if given, is false).
 */
static void dialect_alter_set(struct mydrv_conn *mc, struct mg_buf *b, const char *table_q,
			      const struct mg_strlist *plain, const struct mg_strlist *cond,
			      const char *algorithm, const char *outer)
{
	char *head = mg_xasprintf("ALTER TABLE %s ", table_q);

	mg_buf_adds(b, "SET @_mg_sql = CONCAT_WS(', '");
	for (size_t i = 0; i < plain->n; i++) {
		mg_buf_addf(b, ",\n  IF(%s, ", cond->items[i]);
		add_literal(mc, b, plain->items[i]);
		mg_buf_adds(b, ", NULL)");
	}
	mg_buf_addf(b, ");\nSET @_mg_sql = IF(%s%s@_mg_sql <> '', CONCAT(", outer ? outer : "",
		    outer ? " AND " : "");
	add_literal(mc, b, head);
	mg_buf_adds(b, ", @_mg_sql, ");
	add_literal(mc, b, algorithm);
	mg_buf_adds(b, "), 'DO 0');\n");
	free(head);
}

static void dialect_run(struct mg_buf *b)
{
	mg_buf_adds(b, "PREPARE _mg_stmt FROM @_mg_sql;\nEXECUTE _mg_stmt;\nDEALLOCATE PREPARE _mg_stmt;\n");
}

/*
 * The ALTER TABLE of parts (and extra) in the MySQL dialect: one guarded
 * statement, or two when index/constraint clauses meet column clauses
 * (keys first, INPLACE; then columns, INSTANT). outer, when given, guards
 * the key statement (see render_drop_columns). With split_set, the SET
 * lines go to set and only the run to b (a step that must read the
 * catalog before LOCK TABLES); then there must be no keys.
 */
static void dialect_alter(struct mydrv_conn *mc, struct mg_buf *b, const char *table_q,
			  const char *tlit, const struct mg_strlist *parts, const char *extra,
			  const char *algorithm, const char *outer, struct mg_buf *split_set)
{
	struct mg_strlist kp = MG_STRLIST_INIT, kc = MG_STRLIST_INIT;
	struct mg_strlist cp = MG_STRLIST_INIT, cc = MG_STRLIST_INIT;
	const char *alg = !strcmp(algorithm, MYDRV_ALG_NOCOPY) ? MYDRV_ALG_INPLACE : algorithm;

	for (size_t i = 0; i <= parts->n; i++) {
		const char *part = i < parts->n ? parts->items[i] : extra;
		char *plain, *cond;
		int is_key;

		if (!part)
			continue;
		dialect_clause(mc, tlit, part, &plain, &cond, &is_key);
		mg_strlist_push_owned(is_key ? &kp : &cp, plain);
		mg_strlist_push_owned(is_key ? &kc : &cc, cond);
	}
	if (kp.n) {
		dialect_alter_set(mc, b, table_q, &kp, &kc, cp.n ? MYDRV_ALG_INPLACE : alg, outer);
		dialect_run(b);
	}
	if (cp.n) {
		assert(!split_set || !kp.n);
		dialect_alter_set(mc, split_set ? split_set : b, table_q, &cp, &cc,
				  kp.n ? MYDRV_ALG_INSTANT : alg, kp.n ? NULL : outer);
		dialect_run(b);
	}
	mg_strlist_release(&kp);
	mg_strlist_release(&kc);
	mg_strlist_release(&cp);
	mg_strlist_release(&cc);
}

/* "ALTER TABLE t a, b, ALGORITHM=...;\n" (nothing for no parts). */
static void join_alter(struct mg_buf *b, const char *table, const struct mg_strlist *parts,
		       const char *extra, const char *algorithm)
{
	if (!parts->n && !extra)
		return;
	mg_buf_addf(b, "ALTER TABLE %s ", table);
	for (size_t i = 0; i < parts->n; i++)
		mg_buf_addf(b, "%s%s", i ? ", " : "", parts->items[i]);
	if (extra)
		mg_buf_addf(b, "%s%s", parts->n ? ", " : "", extra);
	mg_buf_addf(b, "%s;\n", algorithm);
}

/* join_alter, or on MySQL its guarded form (see "the MySQL dialect"). */
static void alter_stmt(const struct planner *pl, struct mg_buf *b, const char *table_q,
		       const char *tlit, const struct mg_strlist *parts, const char *extra,
		       const char *algorithm)
{
	if (!pl->mc->mysql_dialect)
		join_alter(b, table_q, parts, extra, algorithm);
	else if (parts->n || extra)
		dialect_alter(pl->mc, b, table_q, tlit, parts, extra, algorithm, NULL, NULL);
}

/* alter_stmt of one clause. */
static void alter_one(const struct planner *pl, struct mg_buf *b, const char *table_q,
		      const char *tlit, const char *clause, const char *algorithm)
{
	struct mg_strlist parts = MG_STRLIST_INIT;

	mg_strlist_push(&parts, clause);
	alter_stmt(pl, b, table_q, tlit, &parts, NULL, algorithm);
	mg_strlist_release(&parts);
}

/* ==== planning: dependents of a replaced or dropped column ======================== */

/* Append s as a PCRE matching s literally, as a whole word. */
static void add_word_regex(struct mg_buf *b, const char *s)
{
	mg_buf_adds(b, "(?i)\\b");
	for (const char *p = s; *p; p++) {
		if (strchr("\\.^$|?*+()[]{}", *p))
			mg_buf_addc(b, '\\');
		mg_buf_addc(b, *p);
	}
	mg_buf_adds(b, "\\b");
}

/* s as a LIKE pattern for text containing `s` (backquoted), escaped. */
static char *like_quoted(struct mydrv_conn *mc, const char *s)
{
	struct mg_buf b = MG_BUF_INIT;
	char *out;

	mg_buf_adds(&b, "%`");
	for (const char *p = s; *p; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			mg_buf_addc(&b, '\\');
		if (*p == '`')
			mg_buf_addc(&b, '`');
		mg_buf_addc(&b, *p);
	}
	mg_buf_adds(&b, "`%");
	out = lit(mc, b.buf);
	mg_buf_release(&b);
	return out;
}

/*
 * SQL returning (what, name, class) for each object that depends on
 * column col of the table and that migrate neither copies nor lets die
 * with the column: views whose text names the table and the column (the
 * catalog has no column dependencies: a text search, on the safe side),
 * generated columns, CHECK constraints, triggers whose body names the
 * column, foreign keys from the column and other tables' foreign keys
 * referencing it. Our own triggers (_mg...) are left out.
 */
static char *others_sql(struct mydrv_conn *mc, const struct mytable *t, const char *col)
{
	struct mg_buf b = MG_BUF_INIT, re = MG_BUF_INIT, tre = MG_BUF_INIT;
	char *cl = lit(mc, col), *clike = like_quoted(mc, col), *tlike = like_quoted(mc, t->name);
	char *rel, *trel;

	add_word_regex(&re, col);
	add_word_regex(&tre, t->name);
	rel = lit(mc, re.buf);
	trel = lit(mc, tre.buf);
	mg_buf_addf(&b,
		"SELECT CONCAT('view `', TABLE_NAME, '`') AS what, TABLE_NAME AS name, 'view' AS class "
		"FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() "
		"AND VIEW_DEFINITION LIKE %s AND VIEW_DEFINITION LIKE %s "
		"UNION ALL SELECT CONCAT('generated column `', COLUMN_NAME, '`'), COLUMN_NAME, 'generated' "
		"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
		"AND COALESCE(GENERATION_EXPRESSION, '') LIKE %s "
		"UNION ALL SELECT CONCAT('check constraint `', cc.CONSTRAINT_NAME, '`'), cc.CONSTRAINT_NAME, 'check' "
		"FROM information_schema.CHECK_CONSTRAINTS cc JOIN information_schema.TABLE_CONSTRAINTS tc "
		"ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME "
		"AND tc.CONSTRAINT_TYPE = 'CHECK' WHERE cc.CONSTRAINT_SCHEMA = DATABASE() "
		"AND tc.TABLE_NAME = %s AND cc.CHECK_CLAUSE LIKE %s "
		"UNION ALL SELECT CONCAT('trigger `', TRIGGER_NAME, '`'), TRIGGER_NAME, 'trigger' "
		"FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
		"AND TRIGGER_NAME NOT LIKE '\\_mg%%' AND (EVENT_OBJECT_TABLE = %s OR ACTION_STATEMENT REGEXP %s) "
		"AND ACTION_STATEMENT REGEXP %s "
		"UNION ALL SELECT CONCAT('foreign key `', CONSTRAINT_NAME, '`'), CONSTRAINT_NAME, 'fk' "
		"FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
		"AND COLUMN_NAME = %s AND REFERENCED_TABLE_NAME IS NOT NULL "
		"UNION ALL SELECT CONCAT('foreign key `', CONSTRAINT_NAME, '` of `', TABLE_NAME, '`'), "
		"CONSTRAINT_NAME, CONCAT('inbound:', TABLE_NAME) "
		"FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_SCHEMA = DATABASE() "
		"AND REFERENCED_TABLE_NAME = %s AND REFERENCED_COLUMN_NAME = %s",
		tlike, clike, t->lit, clike, t->lit, clike, t->lit, trel, rel,
		t->lit, cl, t->lit, cl);
	free(cl);
	free(clike);
	free(tlike);
	free(rel);
	free(trel);
	mg_buf_release(&re);
	mg_buf_release(&tre);
	return mg_buf_detach(&b);
}

/*
 * The dependents of column col (column_dependents): first every object
 * that migrate neither copies nor lets die with the column (others_sql;
 * its class in def: view, trigger, check, fk, generated, inbound with
 * the referencing table in child), then every index over it but the
 * primary key, with its key parts (myindex). Nothing but indexes is
 * carried over on MySQL: the core refuses the objects unless they are
 * listed under drops:, and a generated column even then (it has no name
 * drops: could list).
 */
static int object_dependents(struct mydrv_conn *mc, const struct mytable *t, const char *col,
			     struct mg_dependents *out, struct mg_err *err)
{
	char *q = others_sql(mc, t, col);
	struct mg_rows r = MG_ROWS_INIT;

	if (query_mc(mc, q, &r, err) < 0) {
		free(q);
		return -1;
	}
	free(q);
	for (size_t i = 0; i < r.nrows; i++) {
		struct mg_dependent *d = mg_dependents_add(out, MG_DEP_OBJECT);
		const char *cls = mg_rows_get(&r, i, 2);
		int generated = !strcmp(cls, "generated");

		d->what = mg_xstrdup(mg_rows_get(&r, i, 0));
		d->name = mg_xstrdup(generated ? "" : mg_rows_get(&r, i, 1));
		d->droppable = !generated;
		if (!strncmp(cls, "inbound:", 8)) {
			d->def = mg_xstrdup("inbound");
			d->child = mg_xstrdup(cls + 8);
		} else {
			d->def = mg_xstrdup(cls);
		}
	}
	mg_rows_release(&r);
	out->refusal_tail = " on MySQL/MariaDB";
	out->refusal_hint = "change or drop it first, or name it under 'drops:' in the operation to drop it at contract (generated columns: change them in an earlier migration)";
	return 0;
}

static int index_dependents(struct mydrv_conn *mc, const struct mytable *t, const char *col,
			    struct mg_dependents *out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	char *ol = lit(mc, col);

	mg_buf_addf(&sql, "SELECT s.INDEX_NAME, s.NON_UNIQUE, s.INDEX_TYPE, s.COLUMN_NAME, "
		    "s.SUB_PART, s.COLLATION FROM information_schema.STATISTICS s "
		    "WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME = %s AND s.INDEX_NAME IN ("
		    "SELECT x.INDEX_NAME FROM information_schema.STATISTICS x WHERE x.TABLE_SCHEMA = DATABASE() "
		    "AND x.TABLE_NAME = %s AND x.COLUMN_NAME = %s) ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX",
		    t->lit, t->lit, ol);
	free(ol);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	for (size_t i = 0; i < r.nrows; i++) {
		const char *name = mg_rows_get(&r, i, 0);
		const char *type = mg_rows_get(&r, i, 2);
		struct mg_dependent *d;
		struct myindex *x;

		if (!strcmp(name, "PRIMARY"))
			continue;	/* key columns are refused (refuse_special) */
		if (i > 0 && !strcmp(mg_rows_get(&r, i - 1, 0), name))
			continue;	/* the parts were taken with its first row */
		x = mg_xcalloc(1, sizeof(*x));
		x->kind = !strcmp(type, "FULLTEXT") ? "FULLTEXT " : !strcmp(type, "SPATIAL") ? "SPATIAL " :
			  !strcmp(mg_rows_get(&r, i, 1), "0") ? "UNIQUE " : "";
		for (size_t k = i; k < r.nrows && !strcmp(mg_rows_get(&r, k, 0), name); k++) {
			mg_strlist_push(&x->cols, mg_rows_get(&r, k, 3));
			mg_strlist_push(&x->sub_parts, mg_rows_get(&r, k, 4) ? mg_rows_get(&r, k, 4) : "");
			mg_strlist_push(&x->orders, mg_rows_get(&r, k, 5) ? mg_rows_get(&r, k, 5) : "");
		}
		d = mg_dependents_add(out, MG_DEP_INDEX);
		d->name = mg_xstrdup(name);
		d->what = mg_xasprintf("index `%s`", name);
		d->unique = *x->kind == 'U';
		d->drv = x;
		d->drv_free = myindex_free;
	}
	mg_rows_release(&r);
	return 0;
}

static int mydrv_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
				   const struct mg_table_desc *t, const char *col,
				   const struct mg_column_desc *cd, struct mg_dependents *out,
				   struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);

	(void)pl;
	(void)cd;
	if (object_dependents(mc, mytable_of(t), col, out, err) < 0)
		return -1;
	return index_dependents(mc, mytable_of(t), col, out, err);
}

/* The contract re-check of column col: what others_sql finds, but what
 * op lists under drops:. */
static char *dep_check_sql(struct planner *pl, const struct tplan *tp, const struct mg_op *op,
			   const char *col)
{
	struct mg_buf check = MG_BUF_INIT;
	char *q = others_sql(pl->mc, &tp->t, col);
	char *cl = lit(pl->mc, col);

	mg_buf_addf(&check, "SELECT CONCAT(o.what, ' depends on column ', %s) FROM (%s) o", cl, q);
	if (op->n_drops) {
		mg_buf_adds(&check, " WHERE o.name NOT IN (");
		for (size_t i = 0; i < op->n_drops; i++) {
			if (i)
				mg_buf_adds(&check, ", ");
			add_literal(pl->mc, &check, op->drops[i]);
		}
		mg_buf_adds(&check, ")");
	}
	free(cl);
	free(q);
	return mg_buf_detach(&check);
}

/* A dependent contract drops (listed under drops:, or an index over a
 * replaced or dropped column): views, triggers and other tables' foreign
 * keys before the columns, constraints and indexes as clauses of the
 * ALTER that drops them. */
static void plan_listed_drop(struct planner *pl, struct tplan *tp, const struct mg_dependent *d)
{
	char *qn = qi(d->name);

	if (d->kind == MG_DEP_INDEX)
		mg_strlist_push_owned(&tp->contract_drops, mg_xasprintf("DROP INDEX IF EXISTS %s", qn));
	else if (!strcmp(d->def, "view"))
		mg_buf_addf(&tp->contract_pre, "DROP VIEW IF EXISTS %s;\n", qn);
	else if (!strcmp(d->def, "trigger"))
		mg_buf_addf(&tp->contract_pre, "DROP TRIGGER IF EXISTS %s;\n", qn);
	else if (!strcmp(d->def, "check"))
		mg_strlist_push_owned(&tp->contract_drops, mg_xasprintf("DROP CONSTRAINT IF EXISTS %s", qn));
	else if (!strcmp(d->def, "fk"))
		mg_strlist_push_owned(&tp->contract_drops, mg_xasprintf("DROP FOREIGN KEY IF EXISTS %s", qn));
	else if (!strcmp(d->def, "inbound")) {
		char *qc = qi(d->child), *lc = lit(pl->mc, d->child);
		char *clause = mg_xasprintf("DROP FOREIGN KEY IF EXISTS %s", qn);

		alter_one(pl, &tp->contract_pre, qc, lc, clause, MYDRV_ALG_NOCOPY);
		free(clause);
		free(qc);
		free(lc);
	}
	free(qn);
}

/* One key part of an index copy as SQL, renamed by the copy's renames. */
static char *key_part(const struct mg_prim *p, const struct myindex *x, size_t k)
{
	const char *col = x->cols.items[k];
	const char *sub = *x->sub_parts.items[k] ? x->sub_parts.items[k] : NULL;
	char *qc, *s;

	for (size_t i = 0; i < p->from.n; i++)
		if (!strcmp(col, p->from.items[i]))
			col = p->to.items[i];
	qc = qi(col);
	s = mg_xasprintf("%s%s%s%s%s", qc, sub ? "(" : "", sub ? sub : "", sub ? ")" : "",
			 !strcmp(x->orders.items[k], "D") ? " DESC" : "");
	free(qc);
	return s;
}

/* ==== planning: catalog answers ======================================================= */

/* -1 when no earlier operation of the migration adds, replaces or drops
 * column col of the table named name, else 1 (replaced or dropped) or 0
 * (added); the latest counts. Column names compare without case. */
static int overlay_find(const struct mg_planner *core, const char *name, const char *col)
{
	int found = -1;

	for (size_t i = 0; i < core->n_overlay; i++)
		if (!strcmp(core->overlay[i].table_id, name) &&
		    !strcasecmp(core->overlay[i].column, col))
			found = core->overlay[i].replaced;
	return found;
}

static void mytable_free(void *p)
{
	mytable_release(p);
	free(p);
}

static void mycolumn_free(void *p)
{
	mycolumn_release(p);
	free(p);
}

/* The table of op->table: resolve_table, identity = its name. */
static int mydrv_describe_table(struct mg_conn *c, const struct mg_planner *core,
				const struct mg_op *op, struct mg_table_desc *out,
				struct mg_err *err)
{
	struct mytable *t = mg_xcalloc(1, sizeof(*t));

	out->drv = t;
	out->drv_free = mytable_free;
	if (resolve_table(downcast(c), core->m, op, t, err) < 0)
		return -1;
	out->id = mg_xstrdup(t->name);
	out->q = mg_xstrdup(t->q);
	out->relname = mg_xstrdup(t->name);
	out->key.n = t->n_keys;
	out->key.cols = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	out->key.types = mg_xcalloc(t->n_keys + 1, sizeof(char *));
	for (size_t k = 0; k < t->n_keys; k++) {
		out->key.cols[k] = mg_xstrdup(t->key_cols[k]);
		out->key.types[k] = mg_xstrdup(t->key_types[k]);
	}
	out->key_problem = t->key_problem;
	out->max_ident = MYDRV_MAX_IDENT;
	out->utf8_names = 1;
	return 0;
}

/* Does text contain word, ignoring case? */
static int has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; *p; p++)
		if (!strncasecmp(p, word, n))
			return 1;
	return 0;
}

/* A column as the catalog has it: COLUMN_TYPE is the type a copy gets;
 * what migrate cannot replace or drop is said in unsupported. */
static int mydrv_describe_column(struct mg_conn *c, const struct mg_planner *core,
				 const struct mg_table_desc *t, const char *name,
				 struct mg_column_desc *out, struct mg_err *err)
{
	struct mycolumn *mcol = mg_xcalloc(1, sizeof(*mcol));
	int rc;

	(void)core;
	out->drv = mcol;
	out->drv_free = mycolumn_free;
	rc = fetch_column(downcast(c), mytable_of(t), name, mcol, err);
	if (rc != 0)
		return rc;
	out->type = mg_xstrdup(mcol->column_type);
	out->notnull = mcol->notnull;
	out->default_expr = mg_xstrdup(mcol->default_expr);
	out->comment = mg_xstrdup(mcol->comment);
	if (has_word(mcol->extra, "auto_increment"))
		out->unsupported = "is AUTO_INCREMENT";
	else if (has_word(mcol->extra, "GENERATED") || has_word(mcol->extra, "VIRTUAL") ||
		 has_word(mcol->extra, "PERSISTENT") || has_word(mcol->extra, "STORED"))
		out->unsupported = "is a generated column";
	return 0;
}

/* The lexical check of an expression (sqltext.h), with its position: the
 * connection runs several statements per request, so text that could end
 * its statement must never reach the server, not even to be checked. */
static int check_expr_text(struct planner *pl, const char *what, const char *expr,
			   struct mg_pos pos, struct mg_err *err)
{
	const char *why;

	if (mg_sqltext_check_expr(expr, MG_SQL_MYSQL, &why) == 0)
		return 0;
	mg_plan_pos_error(err, MG_EINPUT, pl->m, pos, "%s '%s' %s", what, expr, why);
	return mg_err_hint(err, "write one SQL expression: no ';', no comments, balanced parentheses, no backslash in a string; statements of their own belong in a sql step");
}

/* A typo in an expression would break every write through the trigger:
 * evaluate it against the table (no rows read) before anything changes. */
static int check_row_expr(struct planner *pl, const struct mytable *t, const char *expr,
			  struct mg_pos pos, struct mg_err *err)
{
	char *sql;
	int rc;

	if (check_expr_text(pl, "expression", expr, pos, err) < 0)
		return -1;
	sql = mg_xasprintf("SELECT (%s) FROM %s LIMIT 0", expr, t->q);
	rc = exec_mc(pl->mc, sql, err);
	free(sql);
	if (rc < 0) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		mg_plan_pos_error(err, MG_EINPUT, pl->m, pos,
			  "expression '%s' does not work on %s: %s", expr, t->q, msg);
		return mg_err_hint(err, "write an expression over the columns of %s", t->q);
	}
	return 0;
}

/* The server knows the character set and collation a canonical type
 * names (the grammar made them identifier-shaped). */
static int check_type_names(struct planner *pl, const struct mg_op *op, const char *type,
			    struct mg_err *err)
{
	static const char *const what[][3] = {
		{ " character set ", "CHARACTER_SETS", "CHARACTER_SET_NAME" },
		{ " collate ", "COLLATIONS", "COLLATION_NAME" },
	};

	for (size_t k = 0; k < 2; k++) {
		const char *at = strstr(type, what[k][0]);
		char *name, *sql;
		int64_t n = 0;
		int rc;

		if (!at)
			continue;
		at += strlen(what[k][0]);
		name = mg_xstrndup(at, strcspn(at, " "));
		sql = mg_xasprintf("SELECT COUNT(*) FROM information_schema.%s WHERE %s = '%s'",
				   what[k][1], what[k][2], name);
		rc = query_int(pl->mc, sql, &n, err);
		free(sql);
		if (rc == 0 && n == 0) {
			mg_plan_pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s': the server has no %s '%s'",
				  op->type, k ? "collation" : "character set", name);
			mg_err_hint(err, "see SHOW %s", k ? "COLLATION" : "CHARACTER SET");
			rc = -1;
		}
		free(name);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* The type of a new column, by the grammar of sqltext.c: *out is its
 * canonical text (lowercase keywords), owned by the caller. */
static int canonical_type(struct planner *pl, const struct mg_op *op, char **out,
			  struct mg_err *err)
{
	const char *why;

	if (mg_sqltext_mysql_type(op->type, out, &why) < 0) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->type_pos, "type '%s' %s", op->type, why);
		return mg_err_hint(err, "%s", mg_sqltext_mysql_types_hint);
	}
	if (check_type_names(pl, op, *out, err) < 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static int mydrv_check_expr(struct mg_conn *c, const struct mg_planner *core,
			    const struct mg_table_desc *t, enum mg_expr_use use,
			    const char *expr, struct mg_pos pos, struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	if (use == MG_EXPR_TEXT)
		return check_expr_text(&pl, "expression", expr, pos, err);
	return check_row_expr(&pl, mytable_of(t), expr, pos, err);
}

static int mydrv_canonical_type(struct mg_conn *c, const struct mg_planner *core,
				const struct mg_op *op, char **out, struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	return canonical_type(&pl, op, out, err);
}

static char *mydrv_placeholder_value(struct mg_conn *c, const char *type)
{
	(void)c;
	return zero_value(type);
}

/* Types MySQL/MariaDB index only by a prefix (`col`(100)), which
 * `columns:` cannot say. JSON is LONGTEXT on MariaDB. */
static int is_lob_type(const char *data_type)
{
	static const char *const lobs[] = { "tinytext", "text", "mediumtext", "longtext",
		"tinyblob", "blob", "mediumblob", "longblob", "json", NULL };

	for (const char *const *w = lobs; *w; w++)
		if (!strcasecmp(data_type, *w))
			return 1;
	return 0;
}

/*
 * An index of this name on the table already: fine when it is the same
 * index (an expand that stopped after building it runs again), MG_EINPUT
 * otherwise, since ADD INDEX IF NOT EXISTS would keep the other one and
 * rollback would drop it.
 */
static int check_existing_index(struct planner *pl, const struct mg_op *op,
				const struct mytable *t, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	int same, rc = -1;

	mg_buf_addf(&sql, "SELECT COLUMN_NAME, NON_UNIQUE, SUB_PART, INDEX_TYPE "
		    "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
		    "AND TABLE_NAME = %s AND INDEX_NAME = ", t->lit);
	add_literal(pl->mc, &sql, op->index_name);
	mg_buf_adds(&sql, " ORDER BY SEQ_IN_INDEX");
	if (query_mc(pl->mc, sql.buf, &r, err) < 0)
		goto out;
	same = r.nrows == op->n_columns;
	for (size_t k = 0; same && k < r.nrows; k++) {
		const char *col = mg_rows_get(&r, k, 0);
		const char *non_unique = mg_rows_get(&r, k, 1);
		const char *type = mg_rows_get(&r, k, 3);

		same = col && !strcasecmp(col, op->columns[k]) && !mg_rows_get(&r, k, 2) &&
		       non_unique && atoi(non_unique) == !op->unique && type && !strcmp(type, "BTREE");
	}
	if (r.nrows && !same) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->pos, "an index named '%s' already exists on %s, with another definition",
			  op->index_name, t->q);
		mg_err_hint(err, "choose another name for the index, or drop the existing one first");
		goto out;
	}
	rc = 0;
out:
	mg_rows_release(&r);
	mg_buf_release(&sql);
	return rc;
}

/*
 * create_index: checked here, rendered by emit_index_op(). What the file
 * format allows and InnoDB lacks is refused where the file says it: a
 * partial index (`where:`) and methods other than B-tree (InnoDB accepts
 * USING HASH and builds a B-tree). Expressions cannot be written in
 * `columns:` (names only); MySQL 8.0.13+ has functional key parts
 * ((expr)) and MariaDB has none, so an index over an expression is a sql
 * step over a generated column.
 */
static int check_create_index(struct planner *pl, const struct mg_op *op,
			      const struct mytable *t, struct mg_err *err)
{

	if (op->where) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->where_pos,
			  "a partial index ('where') is not supported on MySQL/MariaDB: their indexes cover every row");
		return mg_err_hint(err, "remove 'where' to index every row (a unique index there allows any number of NULLs, as a partial one WHERE col IS NOT NULL would)");
	}
	if (op->method && strcasecmp(op->method, "btree") != 0) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->method_pos,
			  "index method '%s' is not supported on MySQL/MariaDB: InnoDB builds B-tree indexes only",
			  op->method);
		return mg_err_hint(err, "remove 'method' (or write 'method: btree'); a FULLTEXT or SPATIAL index is a sql step");
	}
	for (size_t k = 0; k < op->n_columns; k++) {
		struct mycolumn c;
		int ov = overlay_find(pl->core, t->name, op->columns[k]);
		int rc;

		if (ov == 0)
			continue;	/* added earlier in this migration */
		memset(&c, 0, sizeof(c));
		rc = ov == 1 ? 1 : fetch_column(pl->mc, t, op->columns[k], &c, err);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return mg_plan_pos_error(err, MG_EINPUT, pl->m, op->columns_pos,
					 "column '%s' of index '%s' does not exist in %s",
					 op->columns[k], op->index_name, t->q);
		if (is_lob_type(c.data_type)) {
			mg_plan_pos_error(err, MG_EINPUT, pl->m, op->columns_pos,
				  "column '%s' of %s is %s: MySQL/MariaDB index only a prefix of it, which create_index cannot say",
				  op->columns[k], t->q, c.data_type);
			mycolumn_release(&c);
			return mg_err_hint(err, pl->mc->mysql_dialect ?
					   "use a sql step: ALTER TABLE ... ADD INDEX name (col(100)), ALGORITHM=INPLACE, LOCK=NONE" :
					   "use a sql step: ALTER TABLE ... ADD INDEX name (col(100)), ALGORITHM=NOCOPY, LOCK=NONE");
		}
		mycolumn_release(&c);
	}
	return check_existing_index(pl, op, t, err);
}


static int mydrv_check_index(struct mg_conn *c, const struct mg_planner *core,
			     const struct mg_op *op, const struct mg_table_desc *t,
			     struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	return check_create_index(&pl, op, mytable_of(t), err);
}

/* ==== planning: the table plan as MySQL writes it ====================================== */

/*
 * The new column at expand (design note 4): nullable as NULL; NOT NULL as
 * NOT NULL DEFAULT <placeholder>, which is instant, lets the old version's
 * inserts (which do not name it) through before the triggers exist, and is
 * dropped again at the end of the expand step (ALTER COLUMN ... DROP
 * DEFAULT, instant), so that from then on an insert that does not name the
 * column shows NULL to the BEFORE INSERT trigger, exactly as on
 * PostgreSQL: the trigger tells the two versions apart by NULL, never by
 * comparing with a value the new version might really write. The
 * placeholder in existing rows is overwritten by the backfill (the marker,
 * not the value, says whether a row is done). At contract the column gets
 * its final default; at rollback the placeholder again, before the
 * triggers go, so the old version's inserts stay valid until the column
 * is gone.
 */
static void add_new_column(struct planner *pl, struct tplan *tp, const struct mg_prim *p)
{
	const struct mycolumn *like = p->op->kind == MG_OP_RENAME_COLUMN && p->old ?
				      mycolumn_of(p->old) : NULL;
	struct mg_buf b = MG_BUF_INIT;
	char *qc = qi(p->column);
	const char *zero = p->notnull ? p->text : NULL;

	mg_buf_addf(&b, "ADD COLUMN IF NOT EXISTS %s %s", qc, p->type);
	if (like && like->charset && like->collation)
		mg_buf_addf(&b, " CHARACTER SET %s COLLATE %s", like->charset, like->collation);
	if (zero) {
		mg_buf_addf(&b, " NOT NULL DEFAULT %s", zero);
		mg_strlist_push_owned(&tp->temp_defaults, mg_xasprintf("ALTER COLUMN %s DROP DEFAULT", qc));
		mg_strlist_push(&tp->ph_cols, p->column);
		mg_strlist_push(&tp->ph_vals, zero);
		mg_strlist_push_owned(&tp->rollback_defaults,
				      mg_xasprintf("ALTER COLUMN %s SET DEFAULT %s", qc, zero));
		mg_strlist_push(&tp->rollback_default_cols, p->column);
	} else {
		mg_buf_adds(&b, " NULL");
	}
	if (like && like->comment) {
		mg_buf_adds(&b, " COMMENT ");
		add_literal(pl->mc, &b, like->comment);
	}
	mg_strlist_push_owned(&tp->add_cols, mg_buf_detach(&b));
	mg_strlist_push_owned(&tp->rollback_cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
	mg_strlist_push(&tp->row_cols, p->column);
	free(qc);
}

/* The column contract drops: NOT NULL without a default gets a
 * placeholder default first (the core found it: p->text), so that the
 * new version's inserts (which do not name it) stay valid between
 * dropping the triggers and dropping it. */
static void drop_old_column(struct tplan *tp, const struct mg_prim *p)
{
	char *qc = qi(p->column);

	if (p->text) {
		mg_strlist_push_owned(&tp->drop_defaults,
				      mg_xasprintf("ALTER COLUMN %s SET DEFAULT %s", qc, p->text));
		mg_strlist_push(&tp->drop_default_cols, p->column);
	}
	mg_strlist_push_owned(&tp->contract_cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
	mg_strlist_push(&tp->dropped, p->column);
	free(qc);
}

/* The final default of a new column at contract. MySQL's ALTER COLUMN
 * ... SET DEFAULT takes a literal or (expr): add_column's expression goes
 * in parentheses there in the MySQL dialect; a renamed column's default
 * is the catalog's SQL already. */
static void contract_default(struct planner *pl, struct tplan *tp, const struct mg_prim *p)
{
	char *qc = qi(p->column);

	mg_strlist_push_owned(&tp->contract_defaults,
			      mg_xasprintf(pl->mc->mysql_dialect && p->op->kind == MG_OP_ADD_COLUMN ?
					   "ALTER COLUMN %s SET DEFAULT (%s)" :
					   "ALTER COLUMN %s SET DEFAULT %s", qc, p->text));
	free(qc);
}

/* A copy of index p->dep on the new column(s), built at switch-reads. */
static void index_copy(struct tplan *tp, const struct mg_prim *p)
{
	const struct myindex *x = p->dep->drv;
	struct idxcopy *c;

	tp->idx = mg_xrealloc(tp->idx, (tp->n_idx + 1) * sizeof(*tp->idx));
	c = &tp->idx[tp->n_idx++];
	memset(c, 0, sizeof(*c));
	c->orig = p->dep->name;
	c->copy = p->name;
	c->kind = x->kind;
	for (size_t k = 0; k < x->cols.n; k++)
		mg_strlist_push_owned(&c->parts, key_part(p, x, k));
}

/* The fallbacks an operation of the table allows: every operation on it
 * left a primitive. */
static void allows(struct tplan *tp, const struct mg_tplan *ctp)
{
	for (size_t s = 0; s < MG_NSLOTS; s++)
		for (size_t i = 0; i < ctp->slot[s].n; i++) {
			tp->allow_rebuild |= ctp->slot[s].v[i]->op->allow_rebuild;
			tp->allow_copy |= ctp->slot[s].v[i]->op->allow_copy;
		}
}

/* The MySQL view of the core's table plan ctp (tplan_release). */
static void tplan_derive(struct planner *pl, const struct mg_tplan *ctp, struct tplan *tp)
{
	const struct mg_prims *sl = ctp->slot;

	memset(tp, 0, sizeof(*tp));
	tp->t = *mytable_of(&ctp->t);
	tp->pairs = ctp->pairs;
	tp->n_pairs = ctp->n_pairs;
	tp->has_marker = ctp->has_marker;
	mg_buf_init(&tp->contract_pre);
	allows(tp, ctp);
	for (size_t i = 0; i < tp->t.cols.n; i++)
		mg_strlist_push(&tp->row_cols, tp->t.cols.items[i]);
	for (size_t i = 0; i < sl[MG_SLOT_ADD_COLUMNS].n; i++)
		add_new_column(pl, tp, sl[MG_SLOT_ADD_COLUMNS].v[i]);
	for (size_t i = 0; i < sl[MG_SLOT_INDEX_COPIES].n; i++)
		index_copy(tp, sl[MG_SLOT_INDEX_COPIES].v[i]);
	for (size_t i = 0; i < sl[MG_SLOT_CONTRACT_POST].n; i++)
		if (sl[MG_SLOT_CONTRACT_POST].v[i]->kind == MG_PRIM_SET_DEFAULT)
			contract_default(pl, tp, sl[MG_SLOT_CONTRACT_POST].v[i]);
	for (size_t i = 0; i < sl[MG_SLOT_CONTRACT_PRE].n; i++)
		plan_listed_drop(pl, tp, sl[MG_SLOT_CONTRACT_PRE].v[i]->dep);
	for (size_t i = 0; i < sl[MG_SLOT_CONTRACT_COLUMNS].n; i++)
		drop_old_column(tp, sl[MG_SLOT_CONTRACT_COLUMNS].v[i]);
}

/* ==== planning: rendering steps ===================================================== */

static int is_quoted_ident(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || s[0] != '`' || s[n - 1] != '`')
		return 0;
	for (size_t i = 1; i < n - 1; i++)
		if (s[i] == '`' && s[++i] != '`')
			return 0;
	return 1;
}

/*
 * An expression over the row being written, usable in a trigger. The
 * user's expressions name bare columns; a trigger only has NEW.col, so
 * the expression runs over a one-row derived table that gives every
 * column of the table its name (MariaDB accepts NEW in a derived table
 * inside a trigger body; checked on 10.11).
 */
static void row_expr(struct mg_buf *b, const struct tplan *tp, const char *expr)
{
	if (is_quoted_ident(expr)) {
		mg_buf_addf(b, "NEW.%s", expr);
		return;
	}
	mg_buf_addf(b, "(SELECT (%s) FROM (SELECT ", expr);
	for (size_t i = 0; i < tp->row_cols.n; i++) {
		char *q = qi(tp->row_cols.items[i]);

		mg_buf_addf(b, "%sNEW.%s AS %s", i ? ", " : "", q, q);
		free(q);
	}
	mg_buf_adds(b, ") AS _mg_row)");
}

/*
 * `_mg<id>_<table>_bi` / `_bu`. A name longer than 64 characters keeps
 * the start of the table name and 8 hex digits of its SHA-256, so that two
 * long names with the same start still get different triggers.
 */
static char *trigger_name(const struct planner *pl, const struct tplan *tp, const char *event)
{
	char *full = mg_xasprintf("_mg%d_%s_%s", pl->m->id, tp->t.name, event);
	char hex[65], *tail, *out;

	if (utf8_chars(full) <= MYDRV_MAX_IDENT && strlen(full) <= MYDRV_MAX_IDENT)
		return full;
	free(full);
	mg_sha256_hex(hex, tp->t.name, strlen(tp->t.name));
	tail = mg_xasprintf("_%.8s_%s", hex, event);
	full = mg_xasprintf("_mg%d_%s", pl->m->id, tp->t.name);
	out = mkname(full, tail);
	free(full);
	free(tail);
	return out;
}

/* " FOLLOWS `last`" after the user's last BEFORE trigger for the event,
 * so ours see what the user's triggers wrote; "" when there is none. */
static char *follows_clause(struct planner *pl, const struct tplan *tp, const char *event,
			    struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *last = NULL, *out;

	mg_buf_addf(&sql, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
		    "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s "
		    "AND ACTION_TIMING = 'BEFORE' AND EVENT_MANIPULATION = '%s' "
		    "AND TRIGGER_NAME NOT LIKE '\\_mg%d\\_%%' ORDER BY ACTION_ORDER DESC LIMIT 1",
		    tp->t.lit, event, pl->m->id);
	if (query_scalar(pl->mc, sql.buf, &last, err) < 0) {
		mg_buf_release(&sql);
		return NULL;
	}
	mg_buf_release(&sql);
	if (!last)
		return mg_xstrdup("");
	{
		char *q = qi(last);

		out = mg_xasprintf(" FOLLOWS %s", q);
		free(q);
	}
	free(last);
	return out;
}

/*
 * The head of a trigger: the backfill's own writes (it sets both sides
 * itself) pass untouched; MySQL triggers have no WHEN clause. The test is
 * the body's first statement and the variables are declared in the block
 * it guards: MariaDB sets up a trigger's local variables on every row it
 * fires for, and with them at the top the backfill spent about a sixth
 * of its time in its own trigger (measured on 300k rows: 3.44 s against
 * 2.90 s). marked_passes: a row whose marker is already set passes too
 * (emit_dialect_triggers). trigger_tail() closes both.
 */
static void trigger_head(struct mg_buf *b, const struct planner *pl, const struct tplan *tp,
			 const char *create, const char *name, const char *event,
			 const char *follows, int marked_passes)
{
	char *q = qi(name);
	char *qm = qi(pl->marker_raw);

	mg_buf_addf(b, "%s %s BEFORE %s ON %s FOR EACH ROW%s\nBEGIN\n"
		    "  IF NOT (@migrate_backfill <=> %d", create, q, event, tp->t.q, follows,
		    pl->m->id);
	if (marked_passes)
		mg_buf_addf(b, " OR NEW.%s <> 0", qm);
	mg_buf_adds(b, ") THEN BEGIN\n"
		    "    DECLARE _mg_writer VARCHAR(16) DEFAULT NULLIF(@migrate_writer, '');\n"
		    "    DECLARE _mg_new BOOLEAN DEFAULT FALSE;\n"
		    "    DECLARE _mg_old BOOLEAN DEFAULT FALSE;\n");
	free(q);
	free(qm);
}

static void trigger_tail(struct mg_buf *b)
{
	mg_buf_adds(b, "  END; END IF;\nEND;\n");
}

/*
 * The dual-write triggers (design §6), postgres.c's render_trigger in
 * MySQL: on INSERT a pair whose new side is set is the new version's
 * (old := down(new), marker 2), otherwise the old version's (new :=
 * up(old), marker 1); on UPDATE whichever side changed wins, the new one on
 * conflict; a row untouched so far gets new := up(old). @migrate_writer
 * ('new' or 'old') overrides the guess, as migrate.writer does.
 */
/* The placeholder of new column col while it has one, or NULL. */
static const char *placeholder(const struct tplan *tp, const char *col)
{
	for (size_t i = 0; col && i < tp->ph_cols.n; i++)
		if (!strcmp(tp->ph_cols.items[i], col))
			return tp->ph_vals.items[i];
	return NULL;
}

/* "the insert wrote the new column": NOT NULL, as on PostgreSQL; in the
 * transitional trigger, while the column still has (or has just lost)
 * its placeholder DEFAULT, "neither NULL nor the placeholder" (see
 * emit_table_expand). */
static void new_side_written(struct mg_buf *b, const struct tplan *tp, const char *col,
			     const char *qn, int transitional)
{
	const char *ph = transitional ? placeholder(tp, col) : NULL;

	if (ph)
		mg_buf_addf(b, "(NEW.%s IS NOT NULL AND NEW.%s <> %s)", qn, qn, ph);
	else
		mg_buf_addf(b, "NEW.%s IS NOT NULL", qn);
}

/* The insert trigger `create`d as _mg<id>_<table>_<suffix>; with
 * marked_passes, a row whose marker is set already passes untouched (see
 * emit_table_expand). */
static void render_insert_trigger(struct mg_buf *b, const struct planner *pl,
				  const struct tplan *tp, const char *follows, int transitional,
				  const char *create, const char *suffix, int marked_passes)
{
	char *name = trigger_name(pl, tp, suffix);
	char *qm = qi(pl->marker_raw);

	trigger_head(b, pl, tp, create, name, "INSERT", follows, marked_passes);
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind == MG_PAIR_REPLACE) {
			mg_buf_adds(b, "    IF COALESCE(_mg_writer = 'new', ");
			new_side_written(b, tp, p->new_col, qn, transitional);
			mg_buf_addf(b, ") THEN\n      SET NEW.%s = ", qo);
			row_expr(b, tp, p->down);
			mg_buf_addf(b, ";\n      SET _mg_new = TRUE;\n    ELSE\n      SET NEW.%s = ", qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else if (p->kind == MG_PAIR_ADD) {
			mg_buf_adds(b, "    IF ");
			new_side_written(b, tp, p->new_col, qn, transitional);
			mg_buf_addf(b, " OR _mg_writer <=> 'new' THEN\n"
				    "      SET _mg_new = TRUE;\n    ELSE\n      SET NEW.%s = ", qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else {
			mg_buf_addf(b, "    IF NEW.%s IS NULL THEN\n      SET NEW.%s = ", qo, qo);
			row_expr(b, tp, p->down);
			mg_buf_adds(b, ";\n    END IF;\n");
		}
		free(qo);
		free(qn);
	}
	if (tp->has_marker)
		mg_buf_addf(b, "    SET NEW.%s = IF(_mg_new, 2, 1);\n", qm);
	trigger_tail(b);
	free(name);
	free(qm);
}

static void render_update_trigger(struct mg_buf *b, const struct planner *pl,
				  const struct tplan *tp, const char *follows)
{
	char *name = trigger_name(pl, tp, "bu");
	char *qm = qi(pl->marker_raw);

	trigger_head(b, pl, tp, "CREATE TRIGGER IF NOT EXISTS", name, "UPDATE", follows, 0);
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind != MG_PAIR_DROP && p->up)
			mg_buf_addf(b, "    SET _mg_new = _mg_new OR NOT (NEW.%s <=> OLD.%s);\n", qn, qn);
		if (p->kind == MG_PAIR_REPLACE)
			mg_buf_addf(b, "    SET _mg_old = _mg_old OR NOT (NEW.%s <=> OLD.%s);\n", qo, qo);
		free(qo);
		free(qn);
	}
	mg_buf_adds(b, "    IF _mg_writer <=> 'new' THEN\n      SET _mg_new = TRUE;\n"
		    "    ELSEIF _mg_writer <=> 'old' THEN\n      SET _mg_new = FALSE;\n      SET _mg_old = TRUE;\n    END IF;\n");
	/* each pair follows the side of it that changed: a write to one new
	 * column never recomputes another pair's old column */
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qo = p->old_col ? qi(p->old_col) : NULL;
		char *qn = p->new_col ? qi(p->new_col) : NULL;

		if (p->kind == MG_PAIR_REPLACE) {
			mg_buf_addf(b, "    IF _mg_writer <=> 'new' OR (_mg_writer IS NULL AND NOT (NEW.%s <=> OLD.%s)) THEN\n      SET NEW.%s = ",
				    qn, qn, qo);
			row_expr(b, tp, p->down);
			mg_buf_addf(b, ";\n    ELSEIF _mg_writer <=> 'old' OR NOT (NEW.%s <=> OLD.%s) OR NEW.%s = 0 THEN\n      SET NEW.%s = ",
				    qo, qo, qm, qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		} else if (p->kind == MG_PAIR_ADD && p->up) {
			/* not "IS NULL" as on PostgreSQL: a NOT NULL column holds
			 * its placeholder until the row is written */
			mg_buf_addf(b, "    IF NEW.%s = 0 AND NEW.%s <=> OLD.%s AND NOT (_mg_writer <=> 'new') THEN\n      SET NEW.%s = ",
				    qm, qn, qn, qn);
			row_expr(b, tp, p->up);
			mg_buf_adds(b, ";\n    END IF;\n");
		}
		free(qo);
		free(qn);
	}
	mg_buf_addf(b, "    IF _mg_new THEN\n      SET NEW.%s = 2;\n    ELSEIF _mg_old OR NEW.%s = 0 THEN\n"
		    "      SET NEW.%s = 1;\n    END IF;\n", qm, qm, qm);
	trigger_tail(b);
	free(name);
	free(qm);
}

/*
 * Our triggers, the update trigger first: every DROP TRIGGER commits on
 * its own, and the state after one of them lasts for the lock retries of
 * the next (the step starts over) or until a run after a crash. With the
 * insert trigger gone and the update trigger still there, a row the new
 * version inserted would keep marker 0, and its next update that leaves
 * the new column as it is would look like the old version's first write
 * to a row the backfill has not reached: the new column recomputed with
 * `up`, the new version's value lost. The other way round nothing reads
 * the marker of a row the new version updates. (Expand creates the
 * update trigger first too, for the old version's sake: see
 * emit_table_expand.) The MySQL dialect's transitional insert trigger,
 * _bt, stays only when expand stopped halfway.
 */
static void render_drop_triggers(struct mg_buf *b, const struct planner *pl, const struct tplan *tp)
{
	static const char *const order[] = { "bu", "bi", "bt" };

	for (int k = 0; k < (pl->mc->mysql_dialect ? 3 : 2); k++) {
		char *name = trigger_name(pl, tp, order[k]);
		char *q = qi(name);

		mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s;\n", q);
		free(name);
		free(q);
	}
}

/* The options of a step: the fallbacks its operations allow (the
 * runner reads them: run_ddl_step). */
static unsigned allow_options(int rebuild, int copy)
{
	return (rebuild ? MG_STEP_ALLOW_REBUILD : 0) | (copy ? MG_STEP_ALLOW_COPY : 0);
}

static void allow(struct mg_step *st, const struct tplan *tp)
{
	st->options = allow_options(tp->allow_rebuild, tp->allow_copy);
}

/*
 * Defaults for columns the same step drops later (rollback: the new NOT
 * NULL columns get their placeholder back; contract: dropped NOT NULL
 * columns get one), set only while the columns exist: a rerun after they
 * went (a crash before the history row was written) finds nothing to do.
 * The columns go together in one ALTER, so one of them tells.
 */
static void add_defaults_of_dropped(struct planner *pl, const struct tplan *tp,
				    const struct mg_strlist *defaults,
				    const struct mg_strlist *cols, struct mg_buf *b)
{
	struct mg_buf alter = MG_BUF_INIT;

	join_alter(&alter, tp->t.q, defaults, NULL, MYDRV_ALG_INSTANT);
	if (alter.len) {
		char *cond = column_exists_in(pl->mc, tp->t.lit, cols->items[0]);

		alter.buf[alter.len - 2] = '\0';	/* the statement, without ";\n" */
		add_guarded(pl->mc, b, cond, alter.buf);
		free(cond);
	}
	mg_buf_release(&alter);
}

/*
 * The triggers of expand in the MySQL dialect, which has no CREATE OR
 * REPLACE TRIGGER. With a new NOT NULL column the transitional insert
 * trigger (placeholder = "not written", see below) must give way to the
 * final one once the placeholder default is gone, and never may an
 * insert meet neither: the default is gone, so an old-version insert
 * that does not name the column would fail. Nor may it meet the final
 * trigger while the default is still there (it would take the
 * placeholder for a new-version write and overwrite the old column).
 * DROP + CREATE under LOCK TABLES would leave no trigger at all if migrate
 * died between the two (the lock goes with the connection). So the
 * transitional trigger is created as _bt, the final one as _bi beside it,
 * and _bt is dropped after: for a moment both fire on an insert, and
 * whichever runs first sets the marker (1 or 2), which makes the other
 * let the row pass (marked_passes). Every state in between, and every
 * state a crash can leave, has at least one correct insert trigger; a
 * run again after a crash may create _bt once more, which is as harmless.
 * The pass-through stays in _bi: an insert that sets the marker itself
 * (nothing but a copy of a whole row of this table does) is taken as
 * already in step. Without a new NOT NULL column (or without a marker,
 * when both triggers would be the same text) _bi is created directly.
 */
static int emit_dialect_triggers(struct planner *pl, struct tplan *tp, struct mg_buf *b,
				 struct mg_err *err)
{
	char *fi = follows_clause(pl, tp, "INSERT", err);
	char *fu = fi ? follows_clause(pl, tp, "UPDATE", err) : NULL;
	int swap = tp->temp_defaults.n > 0 && tp->has_marker;

	if (!fi || !fu) {
		free(fi);
		return -1;
	}
	if (tp->has_marker)	/* first: see emit_table_expand */
		render_update_trigger(b, pl, tp, fu);
	render_insert_trigger(b, pl, tp, fi, swap, "CREATE TRIGGER IF NOT EXISTS",
			      swap ? "bt" : "bi", swap);
	alter_stmt(pl, b, tp->t.q, tp->t.lit, &tp->temp_defaults, NULL, MYDRV_ALG_INSTANT);
	if (swap) {
		char *bt = trigger_name(pl, tp, "bt");
		char *q = qi(bt);

		render_insert_trigger(b, pl, tp, fi, 0, "CREATE TRIGGER IF NOT EXISTS", "bi", 1);
		mg_buf_addf(b, "DROP TRIGGER IF EXISTS %s;\n", q);
		free(q);
		free(bt);
	}
	free(fi);
	free(fu);
	return 0;
}

static int emit_table_expand(struct planner *pl, struct tplan *tp, struct mg_err *err)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	char *marker = NULL;

	if (tp->has_marker) {
		char *qm = qi(pl->marker_raw);

		marker = mg_xasprintf("ADD COLUMN IF NOT EXISTS %s TINYINT NOT NULL DEFAULT 0", qm);
		free(qm);
	}
	alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->add_cols, marker, MYDRV_ALG_INSTANT);
	if (tp->n_pairs && pl->mc->mysql_dialect) {
		if (emit_dialect_triggers(pl, tp, &b, err) < 0) {
			free(marker);
			mg_buf_release(&b);
			mg_buf_release(&d);
			return -1;
		}
	} else if (tp->n_pairs) {
		char *fi = follows_clause(pl, tp, "INSERT", err);
		char *fu = fi ? follows_clause(pl, tp, "UPDATE", err) : NULL;

		if (!fi || !fu) {
			free(fi);
			free(marker);
			mg_buf_release(&b);
			mg_buf_release(&d);
			return -1;
		}
		/*
		 * While a new NOT NULL column still has its placeholder
		 * DEFAULT, an old-version insert shows the placeholder, not
		 * NULL: the first insert trigger takes the placeholder for
		 * "not written". Once the default is dropped, the final one
		 * replaces it atomically (CREATE OR REPLACE), taking NULL for
		 * "not written" like PostgreSQL's. The new version is not
		 * deployed before expand ends, so nothing it writes meets the
		 * first one.
		 *
		 * The update trigger comes first. A step can stop between two
		 * statements (a crash, a lock not granted), and the old version
		 * writes on meanwhile: with only the insert trigger, a row
		 * inserted then (marker 1) and updated before the update
		 * trigger exists would keep a stale new column that the
		 * backfill skips. With only the update trigger, a row inserted
		 * then keeps marker 0 and the backfill copies it.
		 */
		if (tp->has_marker)
			render_update_trigger(&b, pl, tp, fu);
		render_insert_trigger(&b, pl, tp, fi, tp->temp_defaults.n > 0,
				      "CREATE TRIGGER IF NOT EXISTS", "bi", 0);
		join_alter(&b, tp->t.q, &tp->temp_defaults, NULL, MYDRV_ALG_INSTANT);
		if (tp->temp_defaults.n)
			render_insert_trigger(&b, pl, tp, fi, 0, "CREATE OR REPLACE TRIGGER", "bi", 0);
		free(fi);
		free(fu);
	} else {
		alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->temp_defaults, NULL, MYDRV_ALG_INSTANT);
	}
	mg_buf_addf(&d, "expand %s:", tp->t.q);
	for (size_t i = 0; i < tp->add_cols.n; i++) {
		const char *def = tp->add_cols.items[i] + strlen("ADD COLUMN IF NOT EXISTS ");
		const char *cut = strstr(def, " NOT NULL DEFAULT ");

		if (!cut)
			cut = strstr(def, " NULL");
		mg_buf_addf(&d, "%s %.*s%s", i ? "," : "", (int)(cut ? (size_t)(cut - def) : strlen(def)), def,
			    cut && !strncmp(cut, " NOT NULL", 9) ? " NOT NULL" : "");
	}
	if (marker)
		mg_buf_addf(&d, "%s marker %s", tp->add_cols.n ? "," : "", pl->marker_raw);
	if (tp->n_pairs)
		mg_buf_addf(&d, ", dual-write trigger%s", tp->has_marker ? "s" : "");
	allow(mg_plan_add_step(pl->plan, MG_PLAN_EXPAND, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL), tp);
	free(marker);
	mg_buf_release(&b);
	mg_buf_release(&d);
	return 0;
}

/*
 * An index copy, built at switch-reads: indexes over a replaced column
 * are copied onto the new column (unless listed under drops:); at
 * contract the originals are dropped with the column (explicitly: MySQL
 * would otherwise keep a multi-column index without the dropped column)
 * and the copies take their names. The copies are built after the
 * backfill, when the new version starts to read the new column: one
 * sorted online build instead of an index update for every row the
 * backfill copies (the backfill of an indexed int column ran at half the
 * speed of one without), and a UNIQUE copy over a NOT NULL new column
 * could not be built before anyway (the rows not yet copied hold the same
 * placeholder value). Until then the old column's index keeps the new
 * version's writes unique: the triggers copy them into the old column.
 */
static void emit_index_copy(struct planner *pl, struct tplan *tp, const struct idxcopy *c)
{
	struct mg_buf b = MG_BUF_INIT, clause = MG_BUF_INIT;
	char *qc, *desc;

	qc = qi(c->copy);
	mg_buf_addf(&clause, "ADD %sINDEX IF NOT EXISTS %s (", c->kind, qc);
	for (size_t k = 0; k < c->parts.n; k++)
		mg_buf_addf(&clause, "%s%s", k ? ", " : "", c->parts.items[k]);
	mg_buf_adds(&clause, ")");
	alter_one(pl, &b, tp->t.q, tp->t.lit, clause.buf, MYDRV_ALG_NOCOPY);
	mg_buf_release(&clause);
	desc = mg_xasprintf("build %sindex %s on %s (copy of '%s' for the new column)",
			    *c->kind == 'U' ? "unique " : "", qc, tp->t.q, c->orig);
	allow(mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_NOTX,
			       tp->t.q, desc, b.buf, NULL), tp);
	free(desc);
	free(qc);
	mg_buf_release(&b);
}

/* Give the copies the originals' names; the originals went with the
 * columns. Guarded: RENAME INDEX has no IF EXISTS. */
static void render_index_renames(struct planner *pl, struct mg_buf *b, const struct tplan *tp)
{
	for (size_t i = 0; i < tp->n_idx; i++) {
		const struct idxcopy *c = &tp->idx[i];
		char *has_copy = index_exists(pl->mc, tp, c->copy);
		char *has_orig = index_exists(pl->mc, tp, c->orig);
		char *qc = qi(c->copy), *qo = qi(c->orig);
		char *cond = mg_xasprintf("%s AND NOT %s", has_copy, has_orig);
		char *stmt = mg_xasprintf("ALTER TABLE %s RENAME INDEX %s TO %s", tp->t.q, qc, qo);

		add_guarded(pl->mc, b, cond, stmt);
		free(has_copy);
		free(has_orig);
		free(qc);
		free(qo);
		free(cond);
		free(stmt);
	}
}

/* "one of the columns raw still exists" as SQL. */
static void any_column_exists(struct planner *pl, struct mg_buf *cond, const struct tplan *tp,
			      const struct mg_strlist *raw)
{
	mg_buf_addf(cond, "EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME IN (",
		    tp->t.lit);
	for (size_t i = 0; i < raw->n; i++) {
		if (i)
			mg_buf_adds(cond, ", ");
		add_literal(pl->mc, cond, raw->items[i]);
	}
	mg_buf_adds(cond, "))");
}

/*
 * The ALTER that drops columns (and with them, explicitly, their indexes
 * and listed constraints). In the MySQL dialect the drops of indexes and
 * constraints come first, in an ALTER of their own under the same guard,
 * and the columns follow (see "the MySQL dialect"). When it drops indexes it runs only while one
 * of the columns is still there: after a crash past it the copies may
 * already carry the originals' names, and DROP INDEX IF EXISTS would drop
 * them.
 */
static void render_drop_columns(struct planner *pl, struct mg_buf *b, const struct tplan *tp,
				const struct mg_strlist *drops, const struct mg_strlist *cols,
				const struct mg_strlist *raw)
{
	struct mg_strlist parts = MG_STRLIST_INIT;
	struct mg_buf alter = MG_BUF_INIT, cond = MG_BUF_INIT;

	for (size_t i = 0; drops && i < drops->n; i++)
		mg_strlist_push(&parts, drops->items[i]);
	for (size_t i = 0; i < cols->n; i++)
		mg_strlist_push(&parts, cols->items[i]);
	if (tp->has_marker) {
		char *qm = qi(pl->marker_raw);

		mg_strlist_push_owned(&parts, mg_xasprintf("DROP COLUMN IF EXISTS %s", qm));
		free(qm);
	}
	join_alter(&alter, tp->t.q, &parts, NULL,
		   drops && drops->n ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT);
	if (pl->mc->mysql_dialect) {
		if (drops && drops->n)
			any_column_exists(pl, &cond, tp, raw);
		if (parts.n)
			dialect_alter(pl->mc, b, tp->t.q, tp->t.lit, &parts, NULL,
				      drops && drops->n ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT,
				      cond.len ? cond.buf : NULL, NULL);
	} else if (!drops || !drops->n || !alter.len) {
		mg_buf_adds(b, alter.buf);
	} else {
		any_column_exists(pl, &cond, tp, raw);
		alter.buf[alter.len - 2] = '\0';	/* the statement, without ";\n" */
		add_guarded(pl->mc, b, cond.buf, alter.buf);
	}
	mg_strlist_release(&parts);
	mg_buf_release(&alter);
	mg_buf_release(&cond);
}

/*
 * contract: defaults first (the final ones for the new columns, a
 * placeholder for dropped NOT NULL columns without one), then our
 * triggers, the listed dependents, the columns and the marker, and the
 * copies' renames: every state in between is valid for the new version.
 */
static void emit_table_contract(struct planner *pl, struct tplan *tp)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;

	alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->contract_defaults, NULL, MYDRV_ALG_INSTANT);
	if (pl->mc->mysql_dialect)	/* guarded clause by clause already */
		alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->drop_defaults, NULL, MYDRV_ALG_INSTANT);
	else
		add_defaults_of_dropped(pl, tp, &tp->drop_defaults, &tp->drop_default_cols, &b);
	if (tp->n_pairs)
		render_drop_triggers(&b, pl, tp);
	mg_buf_adds(&b, tp->contract_pre.buf);
	render_drop_columns(pl, &b, tp, &tp->contract_drops, &tp->contract_cols, &tp->dropped);
	render_index_renames(pl, &b, tp);
	mg_buf_addf(&d, "contract %s: drop trigger", tp->t.q);
	for (size_t i = 0; i < tp->dropped.n; i++)
		mg_buf_addf(&d, ", `%s`", tp->dropped.items[i]);
	if (tp->has_marker)
		mg_buf_addf(&d, ", `%s`", pl->marker_raw);
	mg_buf_adds(&d, " (never CASCADE); defaults and names moved to the new columns");
	allow(mg_plan_add_step(pl->plan, MG_PLAN_CONTRACT, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL), tp);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

/* rollback: placeholders back on the new NOT NULL columns, our triggers,
 * then the new columns, their index copies and the marker. */
static void emit_table_rollback(struct planner *pl, struct tplan *tp)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	struct mg_strlist drops = MG_STRLIST_INIT;

	for (size_t i = 0; i < tp->n_idx; i++) {
		char *qc = qi(tp->idx[i].copy);

		mg_strlist_push_owned(&drops, mg_xasprintf("DROP INDEX IF EXISTS %s", qc));
		free(qc);
	}
	/*
	 * Once a new NOT NULL column has its placeholder default back, the
	 * insert trigger would take an old-version insert (which shows the
	 * placeholder) for a new-version write and copy the placeholder into
	 * the old column. So the default comes back and the triggers go
	 * under LOCK TABLES ... WRITE: no write sees the state in between
	 * (milliseconds, like the PostgreSQL driver's ACCESS EXCLUSIVE lock).
	 */
	if (tp->rollback_defaults.n && pl->mc->mysql_dialect) {
		/* the catalog is read before the lock, the ALTER runs under it */
		struct mg_buf run = MG_BUF_INIT;

		dialect_alter(pl->mc, &run, tp->t.q, tp->t.lit, &tp->rollback_defaults, NULL,
			      MYDRV_ALG_INSTANT, NULL, &b);
		mg_buf_addf(&b, "LOCK TABLES %s WRITE;\n%s", tp->t.q, run.buf);
		mg_buf_release(&run);
	} else {
		if (tp->rollback_defaults.n)
			mg_buf_addf(&b, "LOCK TABLES %s WRITE;\n", tp->t.q);
		add_defaults_of_dropped(pl, tp, &tp->rollback_defaults,
					&tp->rollback_default_cols, &b);
	}
	if (tp->n_pairs)
		render_drop_triggers(&b, pl, tp);
	if (tp->rollback_defaults.n)
		mg_buf_adds(&b, "UNLOCK TABLES;\n");
	{
		struct mg_strlist parts = MG_STRLIST_INIT;

		for (size_t i = 0; i < drops.n; i++)
			mg_strlist_push(&parts, drops.items[i]);
		for (size_t i = 0; i < tp->rollback_cols.n; i++)
			mg_strlist_push(&parts, tp->rollback_cols.items[i]);
		if (tp->has_marker) {
			char *qm = qi(pl->marker_raw);

			mg_strlist_push_owned(&parts, mg_xasprintf("DROP COLUMN IF EXISTS %s", qm));
			free(qm);
		}
		alter_stmt(pl, &b, tp->t.q, tp->t.lit, &parts, NULL,
			   drops.n ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT);
		mg_strlist_release(&parts);
	}
	mg_buf_addf(&d, "roll back %s: drop trigger", tp->t.q);
	for (size_t i = 0; i < tp->rollback_cols.n; i++)
		mg_buf_addf(&d, ", %s", tp->rollback_cols.items[i] + strlen("DROP COLUMN IF EXISTS "));
	if (tp->has_marker)
		mg_buf_addf(&d, ", `%s`", pl->marker_raw);
	allow(mg_plan_add_step(pl->plan, MG_PLAN_ROLLBACK, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL), tp);
	mg_strlist_release(&drops);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

/*
 * The backfill of one table (design §7). The set clause keeps columns
 * that the server sets ON UPDATE CURRENT_TIMESTAMP as they are: assigning
 * a column itself stops the automatic update. The mismatch test is
 * postgres.c's with <=> for IS NOT DISTINCT FROM.
 */
static void emit_backfill_spec(struct planner *pl, struct tplan *tp)
{
	struct mg_backfill_spec *s;
	struct mg_buf set = MG_BUF_INIT, mm = MG_BUF_INIT;
	char *qm = qi(pl->marker_raw);

	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qn = p->new_col ? qi(p->new_col) : NULL;
		char *qo = p->old_col ? qi(p->old_col) : NULL;

		if (p->kind != MG_PAIR_DROP && p->up)
			mg_buf_addf(&set, "%s%s = (%s)", set.len ? ", " : "", qn, p->up);
		if (p->kind == MG_PAIR_REPLACE)
			mg_buf_addf(&mm, " OR NOT (%s <=> (%s) OR %s <=> (%s))", qn, p->up, qo, p->down);
		free(qn);
		free(qo);
	}
	for (size_t i = 0; i < tp->t.on_update.n; i++)
		mg_buf_addf(&set, ", %s = %s", tp->t.on_update.items[i], tp->t.on_update.items[i]);
	s = mg_plan_add_backfill(pl->plan);
	s->table = mg_xstrdup(tp->t.q);
	s->n_keys = tp->t.n_keys;
	s->key_columns = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	s->key_types = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	for (size_t k = 0; k < s->n_keys; k++) {
		s->key_columns[k] = mg_xstrdup(tp->t.key_cols[k]);
		s->key_types[k] = mg_xstrdup(tp->t.key_types[k]);
	}
	s->set_clause = mg_buf_detach(&set);
	s->marker = mg_xstrdup(qm);
	s->mismatch = mg_xasprintf("%s = 0%s", qm, mm.buf);
	s->session_sql = mg_xasprintf("SET @migrate_backfill = %d; "
				      "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", pl->m->id);
	mg_buf_release(&mm);
	free(qm);
}

/* Notes: what each kind of statement costs the application, and user
 * triggers the backfill fires. */
static void emit_notes(struct planner *pl, struct tplan *tp)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	char *n;

	if (tp->add_cols.n || tp->has_marker) {
		n = mg_xasprintf("expand of %s: ALTER TABLE ... ADD COLUMN, ALGORITHM=INSTANT: instant, a metadata lock for milliseconds (queued behind running transactions on the table for at most --lock-timeout, then retried)",
				 tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->temp_defaults.n) {
		n = mg_xasprintf("expand of %s: a NOT NULL new column is added with a placeholder DEFAULT (instant; the old version's inserts stay valid until the triggers exist), which is dropped at the end of the step; existing rows hold the placeholder until the backfill writes them (the marker, not the value, says which rows are done)",
				 tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->n_pairs) {
		n = mg_xasprintf("the triggers on %s are created, and dropped at contract/rollback, with a metadata lock for milliseconds each",
				 tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	for (size_t i = 0; i < tp->n_idx; i++) {
		n = mg_xasprintf("index copy `%s` on %s: %s; replicas replay it single-threaded, so expect replication lag for the time of the build%s",
				 tp->idx[i].copy, tp->t.q,
				 pl->mc->mysql_dialect ? "ALGORITHM=INPLACE, LOCK=NONE: built in place without locks (the MySQL manual lists adding a secondary index as in place without a rebuild of the table)" :
				 "ALGORITHM=NOCOPY, LOCK=NONE: built in place without locks and without a rebuild of the table",
				 " (built at switch-reads, after the backfill: one sorted build instead of an index update for every row the backfill copies)");
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->contract_drops.n) {
		n = pl->mc->mysql_dialect ?
		    mg_xasprintf("contract of %s drops indexes and constraints of the columns first, ALGORITHM=INPLACE, LOCK=NONE (in place without locks and, per the MySQL manual, without a rebuild), then the columns, ALGORITHM=INSTANT", tp->t.q) :
		    mg_xasprintf("contract of %s drops indexes with the columns: ALGORITHM=NOCOPY, LOCK=NONE, in place without locks", tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (pl->mc->mysql_dialect)
		n = mg_xasprintf("every ALTER TABLE on %s names its algorithm: if the server refuses ALGORITHM=INSTANT, the step falls back to ALGORITHM=INPLACE, LOCK=NONE, which on MySQL may rebuild the table (in place without locks, but the table is rewritten and replicas replay it single-threaded; MySQL has no NOCOPY to refuse just the rebuild), so it is refused unless the operation has allow_rebuild: true%s; a table copy (blocks writes) is refused unless allow_copy: true%s",
				 tp->t.q, tp->allow_rebuild ? " (it has)" : "", tp->allow_copy ? " (it has)" : "");
	else
		n = mg_xasprintf("every ALTER TABLE on %s names its algorithm: if the server refuses it, the step falls back to ALGORITHM=NOCOPY; a change the server can only do by rebuilding the table (in place without locks, but the table is rebuilt and replicas replay it single-threaded) is refused unless the operation has allow_rebuild: true%s; a table copy (blocks writes) is refused unless allow_copy: true%s",
				 tp->t.q, tp->allow_rebuild ? " (it has)" : "", tp->allow_copy ? " (it has)" : "");
	mg_plan_add_note(pl->plan, n);
	free(n);
	mg_buf_addf(&sql, "SELECT CONCAT('the backfill of ', %s, ' fires user trigger `', TRIGGER_NAME, '`') "
		    "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
		    "AND EVENT_OBJECT_TABLE = %s AND EVENT_MANIPULATION = 'UPDATE' "
		    "AND TRIGGER_NAME NOT LIKE '\\_mg%%' UNION ALL "
		    "SELECT CONCAT('the backfill of ', %s, ' is written to the binary log and replayed by replicas') FROM DUAL WHERE @@log_bin = 1",
		    tp->t.lit, tp->t.lit, tp->t.lit);
	if (tp->has_marker && query_mc(pl->mc, sql.buf, &r, &ignored) == 0)
		for (size_t i = 0; i < r.nrows; i++)
			mg_plan_add_note(pl->plan, mg_rows_get(&r, i, 0));
	mg_rows_release(&r);
	mg_buf_release(&sql);
}

/*
 * create_index: built at expand with ALTER TABLE ... ADD INDEX, ALGORITHM=
 * NOCOPY, LOCK=NONE (InnoDB's online build: reads and writes go on, a
 * short exclusive metadata lock at the start and at the end), dropped at
 * rollback. A unique build that meets a duplicate (in the rows or written
 * meanwhile) fails with ER_DUP_ENTRY naming the value, and InnoDB throws
 * the half-built index away: the step fails, exit 1, nothing changed.
 */
static void emit_index_op(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	struct mg_buf b = MG_BUF_INIT, clause = MG_BUF_INIT;
	char *qn = qi(op->index_name), *desc;

	mg_buf_addf(&clause, "ADD %sINDEX IF NOT EXISTS %s (", op->unique ? "UNIQUE " : "", qn);
	for (size_t k = 0; k < op->n_columns; k++) {
		if (k)
			mg_buf_adds(&clause, ", ");
		mydrv_quote_ident(&clause, op->columns[k]);
	}
	mg_buf_adds(&clause, ")");
	alter_one(pl, &b, t->q, t->lit, clause.buf, MYDRV_ALG_NOCOPY);
	mg_buf_release(&clause);
	desc = mg_xasprintf("build %sindex %s on %s online", op->unique ? "unique " : "", qn, t->q);
	mg_plan_add_step(pl->plan, MG_PLAN_EXPAND, MG_STEP_NOTX, t->q, desc, b.buf,
			 NULL)->options = allow_options(op->allow_rebuild, op->allow_copy);
	free(desc);
	free(qn);
	mg_buf_release(&b);
}

static void emit_index_drop(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	char *qn = qi(op->index_name);
	char *clause = mg_xasprintf("DROP INDEX IF EXISTS %s", qn);
	char *desc = mg_xasprintf("drop index %s on %s", qn, t->q);
	struct mg_buf b = MG_BUF_INIT;

	alter_one(pl, &b, t->q, t->lit, clause, MYDRV_ALG_NOCOPY);
	mg_plan_add_step(pl->plan, MG_PLAN_ROLLBACK, MG_STEP_NOTX, t->q, desc, b.buf,
			 NULL)->options = allow_options(op->allow_rebuild, op->allow_copy);
	mg_buf_release(&b);
	free(desc);
	free(clause);
	free(qn);
}

/* switch-reads: every index create_index built is there (MySQL has no
 * invalid indexes: a failed build leaves none, and expand would have
 * failed). */
static void emit_index_assert(struct planner *pl)
{
	struct mg_buf b = MG_BUF_INIT;

	for (size_t i = 0; i < pl->m->n_ops; i++) {
		const struct mg_op *op = &pl->m->ops[i];
		const struct mytable *t;
		char *what;

		if (op->kind != MG_OP_CREATE_INDEX)
			continue;
		t = mytable_of(pl->core->index_tables[i]);
		what = mg_xasprintf("index `%s` on %s is missing", op->index_name, t->q);
		mg_buf_adds(&b, b.len ? " UNION ALL SELECT " : "SELECT ");
		add_literal(pl->mc, &b, what);
		mg_buf_addf(&b, " FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS "
			    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = ", t->lit);
		add_literal(pl->mc, &b, op->index_name);
		mg_buf_adds(&b, ")");
		free(what);
	}
	if (b.len)
		mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_ASSERT, NULL,
				 "every index built at expand exists", b.buf, NULL);
	mg_buf_release(&b);
}

static void emit_index_notes(struct planner *pl, const struct mg_op *op, const struct mytable *t)
{
	char *n = mg_xasprintf("index `%s` on %s: ALTER TABLE ... ADD %sINDEX, %s: built online, reads and writes go on during the build; a short exclusive metadata lock at its start and at its end, each queued behind running transactions on the table for at most --lock-timeout (if the one at the end is not granted, the build is undone and retried); replicas replay the build single-threaded, so expect replication lag for its duration%s",
			       op->index_name, t->q, op->unique ? "UNIQUE " : "",
			       pl->mc->mysql_dialect ? "ALGORITHM=INPLACE, LOCK=NONE (MySQL: in place, and per its manual without a rebuild of the table)" : "ALGORITHM=NOCOPY, LOCK=NONE",
			       op->unique ? "; a duplicate key, in the rows or written during the build, fails the step naming the value (exit 1), and the server removes the half-built index" : "");

	mg_plan_add_note(pl->plan, n);
	free(n);
}

/*
 * A sql step: the user's SQL as written, sent as one multi-statement
 * request (no algorithm fallback, no table to check for long
 * transactions). in_transaction: true opens a transaction before it;
 * mydrv_run_step writes the history row in that transaction and commits.
 */
static void emit_sql_step(struct planner *pl, const struct mg_op *op,
			  enum mg_sql_phase sp, enum mg_plan_phase phase)
{
	char *desc, *sql;

	if (!op->sql[sp])
		return;
	desc = mg_xasprintf("%s SQL of the sql step at %s:%d:%d", mg_sql_phase_name(sp),
			    pl->m->name, op->pos.line, op->pos.column);
	sql = mg_xasprintf("%s%s", op->in_transaction ? MYDRV_START_TX : "", op->sql[sp]);
	mg_plan_add_step(pl->plan, phase, op->in_transaction ? MG_STEP_TX : MG_STEP_NOTX,
			 NULL, desc, sql, NULL);
	free(desc);
	free(sql);
}

static void emit_sql_notes(struct planner *pl)
{
	int tx = 0, notx = 0;

	for (size_t i = 0; i < pl->m->n_ops; i++)
		if (pl->m->ops[i].kind == MG_OP_SQL) {
			tx |= pl->m->ops[i].in_transaction;
			notx |= !pl->m->ops[i].in_transaction;
		}
	if (tx)
		mg_plan_add_note(pl->plan, "sql steps with in_transaction: true run after START TRANSACTION and are committed together with their history row; MySQL/MariaDB commit implicitly before and after every DDL statement (CREATE, ALTER, DROP, RENAME, TRUNCATE), so in_transaction does not make DDL atomic: a failure after a DDL statement leaves what ran before it, and such SQL must be idempotent (IF [NOT] EXISTS)");
	if (notx)
		mg_plan_add_note(pl->plan, "sql steps with in_transaction: false run statement by statement with autocommit and are recorded after they succeed: after a failure or a crash they run again from the start, so they must be idempotent (IF [NOT] EXISTS)");
	if (tx || notx)
		mg_plan_add_note(pl->plan, "migrate does not know which tables sql steps touch: no long-transaction check before them, no algorithm fallback; each of their statements waits at most --lock-timeout (whole seconds) for a metadata lock and is retried like the table steps");
}

/* ==== planning: entry point ============================================================ */

/*
 * With binary logging on, creating a trigger needs SUPER (or, on MySQL
 * 8, SET_USER_ID / on MariaDB BINLOG ADMIN-like rights) unless
 * log_bin_trust_function_creators is ON; otherwise the server refuses
 * with error 1419 halfway through expand. Refuse before anything changes.
 */
static int check_trigger_rights(struct planner *pl, struct mg_err *err)
{
	int64_t bad = 0;

	if (query_int(pl->mc, "SELECT @@GLOBAL.log_bin = 1 AND @@GLOBAL.log_bin_trust_function_creators = 0 "
		      "AND NOT EXISTS (SELECT 1 FROM information_schema.USER_PRIVILEGES "
		      "WHERE PRIVILEGE_TYPE = 'SUPER' AND GRANTEE = CONCAT('''', "
		      "SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
		      "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), ''''))", &bad, err) < 0)
		return -1;
	if (!bad)
		return 0;
	mg_err_set(err, MG_EREFUSED, "this migration needs dual-write triggers, and with binary logging on (log_bin) a user without SUPER may create triggers only when log_bin_trust_function_creators is ON");
	return mg_err_hint(err, "SET GLOBAL log_bin_trust_function_creators = 1 (and in the server's configuration), or run migrate as a user with SUPER");
}

/* With every table planned: the right to create triggers when one gets
 * them. */
static int mydrv_check_plan(struct mg_conn *c, const struct mg_planner *core, struct mg_err *err)
{
	struct planner pl;
	int triggers = 0;

	planner_init(&pl, c, core, core->plan);
	for (size_t t = 0; t < core->n_tables; t++)
		triggers |= core->tables[t]->n_pairs > 0;
	return triggers ? check_trigger_rights(&pl, err) : 0;
}

/*
 * Planning reads the catalog only. Unlike PostgreSQL, the expand SQL of
 * sql steps is not run here: MySQL cannot roll DDL back.
 */
static int mydrv_plan_begin(struct mg_conn *c, struct mg_planner *core, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);

	(void)core;
	if (mc->mysql_version && mc->mysql_version < MYDRV_MYSQL_PLAN_MIN) {
		/* CREATE TRIGGER IF NOT EXISTS and instant DROP COLUMN are
		 * MySQL 8.0.29's */
		mg_err_set(err, MG_EINPUT, "MySQL %lu.%lu.%lu cannot run migrate's plans: planning needs MySQL 8.0.29 or later (or MariaDB 10.3 or later)",
			   mc->mysql_version / 10000, mc->mysql_version / 100 % 100,
			   mc->mysql_version % 100);
		return mg_err_hint(err, "upgrade the server to MySQL 8.0.29 or later; on this server migrate runs status, check, colour and log");
	}
	return 0;
}

/* The notes, in the order plan shows them: per table, per create_index,
 * for the sql steps. */
static void mydrv_plan_notes(struct mg_conn *c, const struct mg_planner *core, struct mg_plan *out)
{
	struct planner pl;

	planner_init(&pl, c, core, out);
	for (size_t t = 0; t < core->n_tables; t++) {
		struct tplan tp;

		tplan_derive(&pl, core->tables[t], &tp);
		emit_notes(&pl, &tp);
		tplan_release(&tp);
	}
	for (size_t i = 0; i < core->m->n_ops; i++)
		if (core->m->ops[i].kind == MG_OP_CREATE_INDEX)
			emit_index_notes(&pl, &core->m->ops[i], mytable_of(core->index_tables[i]));
	emit_sql_notes(&pl);
}

/* One table's step of a phase, from the MySQL view of its plan. */
static int render_table(struct planner *pl, const struct mg_render *r, struct mg_err *err)
{
	struct tplan tp;
	int rc = 0;

	tplan_derive(pl, r->tp, &tp);
	switch (r->kind) {
	case MG_RENDER_EXPAND_TABLE:
		rc = emit_table_expand(pl, &tp, err);
		break;
	case MG_RENDER_BACKFILL:
		emit_backfill_spec(pl, &tp);
		break;
	case MG_RENDER_CONTRACT_TABLE:
		emit_table_contract(pl, &tp);
		break;
	case MG_RENDER_ROLLBACK_TABLE:
		emit_table_rollback(pl, &tp);
		break;
	case MG_RENDER_COPY_INDEX:
		for (size_t i = 0; i < tp.n_idx; i++)
			if (!strcmp(tp.idx[i].copy, r->prim->name))
				emit_index_copy(pl, &tp, &tp.idx[i]);
		break;
	case MG_RENDER_ASSERT_DEPENDENTS: {
		char *sql = dep_check_sql(pl, &tp, r->prim->op, r->prim->column);

		mg_plan_add_step(pl->plan, r->phase, MG_STEP_ASSERT, tp.t.q,
				 "nothing new depends on the columns contract drops", sql, NULL);
		free(sql);
		break;
	}
	default:
		break;
	}
	tplan_release(&tp);
	return rc;
}

/*
 * Render one piece of the plan (driver.h). MySQL has no NOT VALID
 * constraints and carries no constraint or foreign key over: the core
 * asks for no VALIDATE or INBOUND step.
 */
static int mydrv_render(struct mg_conn *c, const struct mg_render *r, struct mg_plan *out,
			struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, r->pl, out);
	switch (r->kind) {
	case MG_RENDER_BUILD_INDEX:
		emit_index_op(&pl, r->op, mytable_of(r->table));
		return 0;
	case MG_RENDER_DROP_INDEX:
		emit_index_drop(&pl, r->op, mytable_of(r->table));
		return 0;
	case MG_RENDER_ASSERT_INDEXES:
		emit_index_assert(&pl);
		return 0;
	case MG_RENDER_SQL:
		emit_sql_step(&pl, r->op, r->sql_phase, r->phase);
		return 0;
	case MG_RENDER_VALIDATE:
	case MG_RENDER_INBOUND:
	case MG_RENDER_VALIDATE_INBOUND:
		assert(!"no such step on MySQL");
		return 0;
	default:
		return render_table(&pl, r, err);
	}
}
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
static int is_lock_wait(unsigned no)
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

/*
 * Run the statements of a step until they all succeed: a refused
 * algorithm moves the step one level down the chain (not a try), a lock
 * wait that ran out (lock_wait_timeout = --lock-timeout, in whole
 * seconds) is retried with jittered backoff up to --lock-retries times,
 * counting the stall, as postgres.c's run_with_retries does.
 */
/* After a failed try: a step that failed under LOCK TABLES must not keep
 * them, nor a sql step its open transaction. */
static void undo_open_state(struct mydrv_conn *mc)
{
	struct mg_err ignored = MG_ERR_INIT;

	exec_mc(mc, "ROLLBACK", &ignored);
	exec_mc(mc, "UNLOCK TABLES", &ignored);
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

static int run_ddl_step(struct mydrv_conn *mc, const struct mg_step *s,
			struct mg_step_report *rep, struct mg_err *err)
{
	int level = 0, lock_s = lock_wait_s(mc);
	int64_t start = mg_now_ms();

	for (int attempt = 0;;) {
		int64_t t0 = mg_now_ms();
		char *sql = sql_at_level(s->sql, level);
		int rc = done_without_waiting(mc, s, sql) ? 0 : exec_mc(mc, sql, err);
		unsigned no = rc < 0 ? stmt_errno(mc) : 0;

		free(sql);
		rep->tries = attempt + 1;
		if (rc == 0)
			return 0;
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
		if (!is_lock_wait(no))
			return -1;
		rep->stall_ms += mg_now_ms() - t0;
		if (attempt >= mc->opts.lock_retries) {
			mg_err_set(err, MG_EDB,
				   "could not take the locks for '%s' within %d ms after %d tries (%.1f s stalled in all)",
				   s->description, lock_s * 1000, attempt + 1,
				   (double)(mg_now_ms() - start) / 1000.0);
			return mg_err_hint(err, "the table is busy with long-running statements; run the command again later or raise --lock-timeout");
		}
		{
			int64_t wait = mg_backoff_ms(attempt);

			mg_info("  lock not granted within %d ms (try %d of %d): retrying in %lld ms",
				lock_s * 1000, attempt + 1, mc->opts.lock_retries + 1, (long long)wait);
			mg_sleep_ms(wait);
		}
		attempt++;
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
 * queues the application behind its metadata lock while it waits.
 */
static int mydrv_run_step(struct mg_conn *c, const struct mg_step *s,
			  const struct mg_history_write *w,
			  struct mg_step_report *rep, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);

	memset(rep, 0, sizeof(*rep));
	if (s->kind == MG_STEP_ASSERT)
		return run_assert(mc, s, err);
	if (s->table) {
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

/* ==== backfill ============================================================================== */

static int is_integer_type(const char *t)
{
	static const char *const ints[] = { "tinyint", "smallint", "mediumint", "int",
					    "integer", "bigint", NULL };

	for (const char *const *i = ints; *i; i++)
		if (!strcasecmp(t, *i))
			return 1;
	return 0;
}

/* A single integer key: batches are key spans, no boundary query. */
static int integer_key(const struct mg_backfill_spec *s)
{
	return s->n_keys == 1 && is_integer_type(s->key_types[0]);
}

/* A key value as SQL: integers as numbers (checked), the rest as string
 * literals the server converts to the column's type. */
static void key_value(struct mydrv_conn *mc, struct mg_buf *b, const struct mg_backfill_spec *s,
		      size_t k, const char *v)
{
	const char *p = v + (*v == '-');

	if (is_integer_type(s->key_types[k]) && *p && strspn(p, "0123456789") == strlen(p))
		mg_buf_adds(b, v);
	else
		add_literal(mc, b, v);
}

/*
 * keys op vals, spelled out column by column: (a > x) OR (a = x AND b >
 * y) ..., with "OR all equal" for <= and >=. MariaDB does not use an index
 * range for row constructors, (a, b) > (x, y), but does for this.
 */
static void key_cmp(struct mydrv_conn *mc, struct mg_buf *b, const struct mg_backfill_spec *s,
		    char *const *vals, const char *op, int or_equal)
{
	mg_buf_adds(b, "(");
	for (size_t i = 0; i < s->n_keys; i++) {
		mg_buf_adds(b, i ? " OR (" : "(");
		for (size_t j = 0; j < i; j++) {
			mg_buf_addf(b, "%s = ", s->key_columns[j]);
			key_value(mc, b, s, j, vals[j]);
			mg_buf_adds(b, " AND ");
		}
		mg_buf_addf(b, "%s %s ", s->key_columns[i], op);
		key_value(mc, b, s, i, vals[i]);
		mg_buf_adds(b, ")");
	}
	if (or_equal) {
		mg_buf_adds(b, " OR (");
		for (size_t j = 0; j < s->n_keys; j++) {
			mg_buf_addf(b, "%s%s = ", j ? " AND " : "", s->key_columns[j]);
			key_value(mc, b, s, j, vals[j]);
		}
		mg_buf_adds(b, ")");
	}
	mg_buf_adds(b, ")");
}

/* " WHERE keys > after AND keys <= upto" (either may be NULL). */
static void key_range(struct mydrv_conn *mc, struct mg_buf *b, const struct mg_backfill_spec *s,
		      char *const *after_key, char *const *upto_key)
{
	mg_buf_adds(b, " WHERE ");
	if (after_key) {
		key_cmp(mc, b, s, after_key, ">", 0);
		mg_buf_adds(b, upto_key ? " AND " : "");
	}
	if (upto_key)
		key_cmp(mc, b, s, upto_key, "<", 1);
	if (!after_key && !upto_key)
		mg_buf_adds(b, "1");
}

static void key_select(struct mg_buf *b, const struct mg_backfill_spec *s)
{
	mg_buf_adds(b, "SELECT ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(b, "%s%s", k ? ", " : "", s->key_columns[k]);
}

static void key_order(struct mg_buf *b, const struct mg_backfill_spec *s, const char *dir)
{
	mg_buf_adds(b, " ORDER BY ");
	for (size_t k = 0; k < s->n_keys; k++)
		mg_buf_addf(b, "%s%s%s", k ? ", " : "", s->key_columns[k], dir);
}

static char **row_keys(const struct mg_rows *r, size_t row, size_t first_col, size_t n_keys)
{
	char **k = mg_xcalloc(n_keys + 1, sizeof(char *));

	for (size_t i = 0; i < n_keys; i++)
		k[i] = mg_xstrdup(mg_rows_get(r, row, first_col + i));
	return k;
}

static void free_keys(char **k, size_t n)
{
	if (!k)
		return;
	for (size_t i = 0; i < n; i++)
		free(k[i]);
	free(k);
}

static char **copy_keys(char *const *k, size_t n)
{
	char **out = mg_xcalloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		out[i] = mg_xstrdup(k[i]);
	return out;
}

/* The first row's keys of sql as *out (NULL for no row). */
static int query_keys(struct mydrv_conn *mc, const char *sql, size_t n_keys, char ***out,
		      struct mg_err *err)
{
	struct mg_rows r = MG_ROWS_INIT;

	*out = NULL;
	if (query_mc(mc, sql, &r, err) < 0)
		return -1;
	if (r.nrows > 0)
		*out = row_keys(&r, 0, 0, n_keys);
	mg_rows_release(&r);
	return 0;
}

static int mydrv_backfill_bounds(struct mg_conn *c, const struct mg_backfill_spec *s,
				 char ***upto_key, int64_t *estimate, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	char *schema = NULL, *name = NULL;
	int rc;

	*estimate = 0;
	key_select(&sql, s);
	mg_buf_addf(&sql, " FROM %s", s->table);
	key_order(&sql, s, " DESC");
	mg_buf_adds(&sql, " LIMIT 1");
	rc = query_keys(mc, sql.buf, s->n_keys, upto_key, err);
	mg_buf_reset(&sql);
	split_table(s->table, &schema, &name);
	mg_buf_adds(&sql, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ");
	add_literal(mc, &sql, name);
	if (rc == 0)
		rc = query_int(mc, sql.buf, estimate, err);
	if (rc == 0 && *estimate <= 0 && *upto_key) {
		mg_buf_reset(&sql);
		mg_buf_addf(&sql, "SELECT COUNT(*) FROM %s", s->table);
		rc = query_int(mc, sql.buf, estimate, err);
	}
	free(schema);
	free(name);
	mg_buf_release(&sql);
	return rc;
}

/* Run a batch's UPDATE, waiting for application row locks
 * (innodb_lock_wait_timeout 2 s per try) and retrying up to 30 times: a
 * locked row delays the batch, it is never skipped. */
static int exec_waiting_for_rows(struct mydrv_conn *mc, const char *sql,
				 const struct mg_backfill_spec *s, int64_t *rows,
				 int64_t *retry_ms, struct mg_err *err)
{
	int64_t start = mg_now_ms();

	for (int attempt = 0;; attempt++) {
		struct mg_err ignored = MG_ERR_INIT;
		int64_t t0 = mg_now_ms();
		unsigned no;

		if ((!mc->guard || exec_mc(mc, "START TRANSACTION", err) == 0) &&
		    exec_mc(mc, sql, err) == 0) {
			*rows = mc->affected;
			*retry_ms = t0 - start;
			return 0;
		}
		no = stmt_errno(mc);
		if (mc->guard)
			exec_mc(mc, "ROLLBACK", &ignored);
		mg_err_prefix(err, "backfill batch: ");
		if (!is_lock_wait(no) || attempt >= 30 || mg_stop_requested)
			return -1;
		mg_info("  rows of %s are locked by another transaction: waiting (try %d)",
			s->table, attempt + 1);
		mg_sleep_ms(mg_backoff_ms(attempt < 4 ? attempt : 4));
	}
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

/* The key of the batch_size-th row after after_key (NULL when fewer rows
 * remain up to upto_key): keys only, from the key's index. */
static int batch_upper_key(struct mydrv_conn *mc, const struct mg_backfill_spec *s,
			   char *const *after_key, char *const *upto_key,
			   int batch_size, char ***out, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	int rc;

	key_select(&sql, s);
	mg_buf_addf(&sql, " FROM %s", s->table);
	key_range(mc, &sql, s, after_key, upto_key);
	key_order(&sql, s, "");
	mg_buf_addf(&sql, " LIMIT 1 OFFSET %d", batch_size - 1);
	rc = query_keys(mc, sql.buf, s->n_keys, out, err);
	mg_buf_release(&sql);
	return rc;
}

/*
 * The lock guard (mg_conn_opts.lock_holder): after the batch's UPDATE, in
 * its transaction, is the lock still held by the lock's session? COMMIT
 * only then. Between that answer and COMMIT the batch holds its rows and
 * the table's metadata lock, so a second migrate's DDL (a rollback) waits
 * for the batch instead of running beside it.
 */
static int check_guard(struct mydrv_conn *mc, int in_batch, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *holder = NULL, *db = NULL, session[48], what[128];
	int rc = -1;

	if (!mc->lock_name[0]) {
		if (query_scalar(mc, "SELECT DATABASE()", &db, err) < 0)
			goto out;
		set_lock_name(mc, db ? db : "");
	}
	mg_buf_adds(&sql, "SELECT IS_USED_LOCK(");
	add_literal(mc, &sql, mc->lock_name);
	mg_buf_adds(&sql, ")");
	if (query_scalar(mc, sql.buf, &holder, err) < 0)
		goto out;
	if (holder && !strcmp(holder, mc->guard)) {
		rc = 0;
		goto out;
	}
	snprintf(session, sizeof(session), "connection %s", mc->guard);
	snprintf(what, sizeof(what), "was terminated%s%s%s%s",
		 holder ? " and connection " : "", holder ? holder : "",
		 holder ? " holds it now" : "", in_batch ? "; the batch was rolled back" : "");
	mg_err_lock_lost(err, session, what, NULL);
out:
	free(holder);
	free(db);
	mg_buf_release(&sql);
	return rc;
}

static int guarded_commit(struct mydrv_conn *mc, struct mg_err *err)
{
	struct mg_err ignored = MG_ERR_INIT;

	if (check_guard(mc, 1, err) == 0 && exec_mc(mc, "COMMIT", err) == 0)
		return 0;
	exec_mc(mc, "ROLLBACK", &ignored);
	return -1;
}

static int mydrv_lock_check(struct mg_conn *c, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);

	return mc->guard ? check_guard(mc, 0, err) : 0;
}

static int mydrv_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
				char *const *after_key, char *const *upto_key,
				int batch_size, struct mg_batch_result *out,
				struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	char **hi = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (after_key && integer_key(s))
		hi = span_upper_key(after_key, upto_key, batch_size);
	else if (batch_upper_key(mc, s, after_key, upto_key, batch_size, &hi, err) < 0)
		return -1;
	/* one statement per batch: the new side and the marker, only for
	 * rows still at marker 0 (never a row the new version wrote) */
	mg_buf_addf(&sql, "UPDATE %s SET %s, %s = 1", s->table, s->set_clause, s->marker);
	key_range(mc, &sql, s, after_key, hi ? hi : upto_key);
	mg_buf_addf(&sql, " AND %s = 0", s->marker);
	rc = exec_waiting_for_rows(mc, sql.buf, s, &out->rows, &out->retry_ms, err);
	if (rc == 0 && mc->guard)
		rc = guarded_commit(mc, err);
	mg_buf_release(&sql);
	if (rc < 0) {
		free_keys(hi, s->n_keys);
		return -1;
	}
	out->done = hi == NULL;
	out->last_key = hi ? hi : copy_keys(upto_key, s->n_keys);
	out->scanned = out->rows;
	return 0;
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
 * Other keys: MySQL has no TABLESAMPLE, so count the keys in the range
 * and read the key at evenly spaced offsets (keys only, from the index,
 * in key order).
 */
static int mydrv_backfill_split(struct mg_conn *c, const struct mg_backfill_spec *s,
				char *const *after_key, char *const *upto_key,
				int pieces, char ****bounds, size_t *n,
				struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	int64_t count = 0;
	int rc = 0;

	*bounds = NULL;
	*n = 0;
	if (pieces < 2)
		return 0;
	if (integer_key(s)) {
		char *v = NULL;

		if (!after_key) {
			mg_buf_addf(&sql, "SELECT MIN(%s) FROM %s", s->key_columns[0], s->table);
			rc = query_scalar(mc, sql.buf, &v, err);
		}
		if (rc == 0)
			split_integer_span(after_key, upto_key, v ? strtoll(v, NULL, 10) : 0,
					   pieces, bounds, n);
		free(v);
		mg_buf_release(&sql);
		return rc;
	}
	mg_buf_addf(&sql, "SELECT COUNT(*) FROM %s", s->table);
	key_range(mc, &sql, s, after_key, upto_key);
	if (query_int(mc, sql.buf, &count, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	*bounds = mg_xcalloc((size_t)pieces + 1, sizeof(char **));
	for (int i = 1; i < pieces && count >= pieces && rc == 0; i++) {
		char **k = NULL;

		mg_buf_reset(&sql);
		key_select(&sql, s);
		mg_buf_addf(&sql, " FROM %s", s->table);
		key_range(mc, &sql, s, after_key, upto_key);
		key_order(&sql, s, "");
		mg_buf_addf(&sql, " LIMIT 1 OFFSET %lld", (long long)(count * i / pieces));
		rc = query_keys(mc, sql.buf, s->n_keys, &k, err);
		if (k)
			(*bounds)[(*n)++] = k;
	}
	mg_buf_release(&sql);
	return rc;
}

static int mydrv_verify_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
			      char *const *after_key, int batch_size, int sample,
			      int64_t *mismatches, struct mg_strlist *sample_keys,
			      char ***last_key, struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	int taken = 0;

	*mismatches = 0;
	*last_key = NULL;
	key_select(&sql, s);
	mg_buf_addf(&sql, ", (%s) IS TRUE FROM %s", s->mismatch, s->table);
	if (after_key)
		key_range(mc, &sql, s, after_key, NULL);
	key_order(&sql, s, "");
	mg_buf_addf(&sql, " LIMIT %d", batch_size);
	if (query_mc(mc, sql.buf, &r, err) < 0) {
		mg_buf_release(&sql);
		return -1;
	}
	mg_buf_release(&sql);
	for (size_t i = 0; i < r.nrows; i++) {
		struct mg_buf k = MG_BUF_INIT;

		if (strcmp(mg_rows_get(&r, i, s->n_keys), "1") != 0)
			continue;
		(*mismatches)++;
		if (taken >= sample)
			continue;
		for (size_t j = 0; j < s->n_keys; j++)
			mg_buf_addf(&k, "%s%s", j ? ", " : "", mg_rows_get(&r, i, j));
		mg_strlist_push_owned(sample_keys, mg_buf_detach(&k));
		taken++;
	}
	if (r.nrows > 0)
		*last_key = row_keys(&r, r.nrows - 1, 0, s->n_keys);
	mg_rows_release(&r);
	return 0;
}

const struct mg_driver mg_mysql_driver = {
	.name = "mysql",
	.version = MG_DRIVER_VERSION,
	.caps = MG_CAP_PLACEHOLDER_NOT_NULL | MG_CAP_EXPLICIT_INDEX_DROPS | MG_CAP_CASELESS_COLUMNS,
	.accepts = mydrv_accepts,
	.connect = mydrv_connect,
	.close = mydrv_close,
	.exec = mydrv_exec,
	.query = mydrv_query,
	.quote_ident = mydrv_quote_ident,
	.fingerprint = mydrv_fingerprint,
	.lock = mydrv_lock,
	.unlock = mydrv_unlock,
	.lock_holder = mydrv_lock_holder,
	.lock_lost = mydrv_lock_lost,
	.lock_check = mydrv_lock_check,
	.history_read = mydrv_history_read,
	.history_write = mydrv_history_write,
	.describe_table = mydrv_describe_table,
	.describe_column = mydrv_describe_column,
	.column_dependents = mydrv_column_dependents,
	.check_expr = mydrv_check_expr,
	.canonical_type = mydrv_canonical_type,
	.render = mydrv_render,
	.check_blockers = mydrv_check_blockers,
	.run_step = mydrv_run_step,
	.backfill_bounds = mydrv_backfill_bounds,
	.backfill_batch = mydrv_backfill_batch,
	.backfill_split = mydrv_backfill_split,
	.verify_batch = mydrv_verify_batch,
	.analyze = mydrv_analyze,
	.plan_begin = mydrv_plan_begin,
	.check_index = mydrv_check_index,
	.check_plan = mydrv_check_plan,
	.plan_notes = mydrv_plan_notes,
	.placeholder_value = mydrv_placeholder_value,
	.replication_lag_ms = mydrv_replication_lag_ms,
	.active_sessions = mydrv_active_sessions,
	.count_sessions = mydrv_count_sessions,
};
