/*
 * driver.c - the MySQL and MariaDB driver (MariaDB Connector/C): its
 * driver table. The driver is in drivers/mysql/, one file per concern:
 * url.c (the URL), conn.c (connection and errors), wait.c (bounded
 * waits), history.c, lock.c (the migrate lock and blockers), load.c
 * (sessions), lag.c (replication lag), catalog.c (the planner's
 * questions), render.c (the SQL of each piece of a plan), triggers.c
 * (the dual-write triggers), dialect.c (ALTER TABLE on MariaDB and in
 * the MySQL dialect), runner.c (running steps), backfill.c; mysql/my.h
 * declares what they share, mysql/myplan.h what the planning files do.
 *
 * Planning covers every operation (add_column, rename_column,
 * alter_column, drop_column, create_index, sql) on MariaDB 10.3+ and
 * MySQL 8.0.29+ (the design of the plan is explained in mysql/myplan.h);
 * older MySQL is refused at plan time with MG_EINPUT.
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
#include "mysql/myplan.h"

const struct mg_driver mg_mysql_driver = {
	.name = "mysql",
	.version = MG_DRIVER_VERSION,
	.caps = MG_CAP_PLACEHOLDER_NOT_NULL | MG_CAP_EXPLICIT_INDEX_DROPS | MG_CAP_CASELESS_COLUMNS,
	/* MySQL and MariaDB take 64 characters, but migrate has always
	 * refused names over 63 bytes on every database: allowing 64 is a
	 * change of behaviour for a tested commit of its own */
	.max_name_len = 63,
	.url_help = "mysql://user:pass@host:port/db (also mariadb://, and ?socket=/path for a unix socket)",
	.test_variable = MYDRV_DIALECT_HOOK,
	.help_notes = {
		[MG_HELP_MAX_LAG] = "MySQL: each replica is asked; the URL's replica=HOST:PORT names them when the server's list will not do",
		[MG_HELP_MAX_LOAD] = "MySQL: Threads_running",
		[MG_HELP_MATCH_WHAT] = "the user name or the program_name connection attribute of sessions on the server (MySQL, MariaDB)",
	},
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
	.check_rule = mydrv_check_rule,
	.check_plan = mydrv_check_plan,
	.table_dependents = mydrv_table_dependents,
	.check_table_op = mydrv_check_table_op,
	.plan_notes = mydrv_plan_notes,
	.describe_constraint = mydrv_describe_constraint,
	.name_taken = mydrv_name_taken,
	.describe_table_attrs = mydrv_describe_table_attrs,
	.check_attr = mydrv_check_attr,
	.placeholder_value = mydrv_placeholder_value,
	.replication_lag_ms = mydrv_replication_lag_ms,
	.active_sessions = mydrv_active_sessions,
	.lock_waits = mydrv_lock_waits,
	.count_sessions_by_place = mydrv_count_by_place,
	.lint_sql = mydrv_lint_sql,
};
