/*
 * my.h - private to the MySQL and MariaDB driver (drivers/mysql/driver.c and the
 * files of drivers/mysql/): the connection struct, the URL struct and the
 * helpers its files share. Nothing outside the driver includes it.
 */
#ifndef MG_MY_H
#define MG_MY_H

#include "driver.h"
#include "sqltext.h"
#include "keyset.h"
#include "mysql/url.h"

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
/* The test builds' variable that plans MariaDB in the MySQL dialect
 * (set_dialect). */
#define MYDRV_DIALECT_HOOK "MIGRATE_TEST_MYSQL_DIALECT"
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

/*
 * What the planner writes into a step and the runner reads back (runner.c:
 * the algorithm levels, the fallbacks a step allows, a sql step's own
 * transaction).
 */
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
	struct mydrv_lag *places;	/* the replicas colour sessions are counted on (places.c) */
};

struct mydrv_url;

/* A replica of the primary, reached at host:port with the primary's URL
 * settings (lag.c; --max-lag and colour sessions). */
struct mydrv_replica {
	char *host;
	unsigned port;
	char *name;			/* "host:port", for messages */
	struct mydrv_conn *conn;	/* NULL until connected */
	int unlisted;			/* --max-lag: listed earlier, not by the primary now */
};

/* A session's replicas (each session connects to them on its own). */
struct mydrv_lag {
	struct mydrv_replica *replicas;
	size_t n;
};

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

/*
 * The helpers below keep the short names the driver's code calls them by
 * (static functions of the one mysql.c they came from); the linker sees
 * them with the driver's prefix, so they never meet the PostgreSQL
 * driver's helpers of the same names.
 */
#define downcast mydrv_downcast
#define history_exists_sql mydrv_history_exists_sql
#define ssl_mode_names mydrv_ssl_mode_names
#define url_release mydrv_url_release
#define url_free mydrv_url_free
#define parse_url mydrv_parse_url
#define is_privilege_error mydrv_is_privilege_error
#define set_my_error mydrv_set_my_error
#define stmt_errno mydrv_stmt_errno
#define run mydrv_run
#define exec_mc mydrv_exec_mc
#define query_mc mydrv_query_mc
#define query_scalar mydrv_query_scalar
#define query_int mydrv_query_int
#define add_literal mydrv_add_literal
#define lock_wait_s mydrv_lock_wait_s
#define open_conn mydrv_open_conn
#define history_upsert_sql mydrv_history_upsert_sql
#define attrs_state mydrv_attrs_state
#define attrs_readable mydrv_attrs_readable
#define attr_join mydrv_attr_join
#define attr_value mydrv_attr_value
#define utf8_chars mydrv_utf8_chars
#define set_lock_name mydrv_set_lock_name
#define split_table mydrv_split_table
#define lag_release mydrv_lag_release
#define keep_replica mydrv_keep_replica
#define list_replicas mydrv_list_replicas
#define replica_connect mydrv_replica_connect
#define forget_heartbeat mydrv_forget_heartbeat
#define is_lock_wait mydrv_is_lock_wait

/* url.c */
extern const char *const ssl_mode_names[];
int mydrv_accepts(const char *url);
void url_release(struct mydrv_url *u);
void url_free(struct mydrv_url *u);
int parse_url(struct mydrv_url *u, const char *url, struct mg_err *err);

/* conn.c */
struct mydrv_conn *downcast(struct mg_conn *c);
int is_privilege_error(unsigned no);
int set_my_error(struct mg_err *err, struct mydrv_conn *mc);
void mydrv_close(struct mg_conn *c);
void mydrv_quote_ident(struct mg_buf *out, const char *name);
void add_literal(struct mydrv_conn *mc, struct mg_buf *b, const char *s);
int lock_wait_s(const struct mydrv_conn *mc);
int open_conn(const struct mydrv_url *u, const struct mg_conn_opts *opts,
	      unsigned timeout_s, struct mydrv_conn **out, struct mg_err *err);
int mydrv_connect(struct mg_conn **out, const char *url,
		  const struct mg_conn_opts *opts, struct mg_err *err);
int mydrv_fingerprint(struct mg_conn *c, struct mg_buf *out,
		      struct mg_err *err);

/* wait.c */
unsigned stmt_errno(const struct mydrv_conn *mc);
int run(struct mydrv_conn *mc, const char *sql, MYSQL_RES **res,
	struct mg_err *err);
int exec_mc(struct mydrv_conn *mc, const char *sql, struct mg_err *err);
int query_mc(struct mydrv_conn *mc, const char *sql, struct mg_rows *out,
	     struct mg_err *err);
int query_scalar(struct mydrv_conn *mc, const char *sql, char **out,
		 struct mg_err *err);
int query_int(struct mydrv_conn *mc, const char *sql, int64_t *out,
	      struct mg_err *err);
int mydrv_exec(struct mg_conn *c, const char *sql, struct mg_err *err);
int mydrv_query(struct mg_conn *c, const char *sql, struct mg_rows *out,
		struct mg_err *err);

/* history.c */
extern const char history_exists_sql[];
char *history_upsert_sql(struct mydrv_conn *mc, const struct mg_history_write *w);
int mydrv_history_read(struct mg_conn *c, struct mg_history *out,
		       struct mg_err *err);
int mydrv_history_write(struct mg_conn *c, const struct mg_history_write *w,
			struct mg_err *err);

/* lock.c */
enum mydrv_attrs attrs_state(struct mydrv_conn *mc);
int attrs_readable(struct mydrv_conn *mc);
const char *attr_join(struct mydrv_conn *mc);
const char *attr_value(struct mydrv_conn *mc);
size_t utf8_chars(const char *s);
void set_lock_name(struct mydrv_conn *mc, const char *db);
int mydrv_lock(struct mg_conn *c, struct mg_err *err);
void mydrv_unlock(struct mg_conn *c);
int mydrv_lock_holder(struct mg_conn *c, struct mg_buf *out, struct mg_err *err);
int mydrv_lock_lost(struct mg_conn *c, struct mg_err *err);
void split_table(const char *t, char **schema, char **name);
int mydrv_check_blockers(struct mg_conn *c, const char *const *tables,
			 size_t n, struct mg_err *err);

/* load.c */
/* The sessions a colour's pattern counts (count_sessions_by_place) on
 * one server: the primary's session or a replica's. */
int mydrv_count_sessions_here(struct mydrv_conn *mc, const char *pattern,
			      char *const *except, size_t n_except,
			      int64_t *out, struct mg_err *err);

/* places.c: the count on the primary and on every replica (the URL's
 * replica= ones, or the ones the primary lists), place by place into out
 * (empty on entry): "primary", then "replica HOST:PORT" for each replica
 * (count_sessions_by_place); -1 with err naming the replica that cannot
 * be reached or read, or saying that the primary refuses to list them. */
int mydrv_count_by_place(struct mg_conn *c, const char *pattern,
			 char *const *except, size_t n_except,
			 struct mg_place_counts *out, struct mg_err *err);
int mydrv_active_sessions(struct mg_conn *c, int64_t *out, int64_t *hidden,
			  struct mg_err *err);
int mydrv_lock_waits(struct mg_conn *c, int64_t *out, struct mg_err *err);
int mydrv_analyze(struct mg_conn *c, const char *table, struct mg_err *err);

/* lag.c */
void lag_release(struct mydrv_lag *lag);
/* Add a replica at host:port to list (n of them) unless it is there; one
 * that old has is moved over, connection and all (old may be NULL). */
void keep_replica(struct mydrv_replica **list, size_t *n, struct mydrv_lag *old,
		  const char *host, unsigned port);
/* lag's replicas := the ones the primary lists now (SHOW REPLICAS or SHOW
 * SLAVE HOSTS), their connections kept. -1 with err (and a --max-lag
 * hint) when the primary refuses to list them or one has no report_host. */
int list_replicas(struct mydrv_conn *mc, struct mydrv_lag *lag, struct mg_err *err);
/* Connect to rep (program_name migrate/replica) unless it is; 0 or -1
 * with err naming the replica. */
int replica_connect(struct mydrv_conn *mc, struct mydrv_replica *rep, struct mg_err *err);
void forget_heartbeat(struct mydrv_conn *mc);
int mydrv_replication_lag_ms(struct mg_conn *c, int64_t *out, struct mg_err *err);

/* runner.c */
int is_lock_wait(unsigned no);
int mydrv_run_step(struct mg_conn *c, const struct mg_step *s,
		   const struct mg_history_write *w,
		   struct mg_step_report *rep, struct mg_err *err);

/* backfill.c */
int mydrv_backfill_bounds(struct mg_conn *c, const struct mg_backfill_spec *s,
			  char ***upto_key, int64_t *estimate, struct mg_err *err);
int mydrv_lock_check(struct mg_conn *c, struct mg_err *err);
int mydrv_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int batch_size, struct mg_batch_result *out,
			 struct mg_err *err);
int mydrv_backfill_split(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int pieces, char ****bounds, size_t *n,
			 struct mg_err *err);
int mydrv_verify_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
		       char *const *after_key, int batch_size, int sample,
		       int64_t *mismatches, struct mg_strlist *sample_keys,
		       char ***last_key, struct mg_err *err);

/* lint.c (issue 14): what SQL text does, offline (driver.h lint_sql) */
void mydrv_lint_sql(const char *text, enum mg_lint_text kind,
		    struct mg_sql_facts *out);

#endif
