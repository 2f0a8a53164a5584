/*
 * driver.c - the PostgreSQL driver (libpq): its driver table. The driver
 * is in drivers/postgres/, one file per concern: conn.c (connection and
 * errors), url.c (the URL check), wait.c (bounded waits), lock.c (lock and
 * blockers), history.c, catalog.c (the planner's questions), render.c (the
 * SQL of each step), runner.c (running steps), backfill.c, load.c (lag and
 * sessions); postgres/pg.h declares what they share.
 */
#include "postgres/pg.h"
#include "postgres/pgrules.h"

const struct mg_driver mg_postgres_driver = {
	.name = "postgres",
	.version = MG_DRIVER_VERSION,
	.caps = MG_CAP_TRANSACTIONAL_DDL | MG_CAP_CONCURRENT_INDEX,
	.max_name_len = 63,		/* NAMEDATALEN - 1 */
	.url_help = "postgres://user:pass@host:port/db, postgresql://..., a libpq conninfo string",
	.help_notes = {
		[MG_HELP_MATCH] = "PostgreSQL: application_name of sessions in the target database",
		[MG_HELP_MATCH_WHAT] = "the application_name of sessions in this database (PostgreSQL)",
	},
	.accepts = pgdrv_accepts,
	.connect = pgdrv_connect,
	.close = pgdrv_close,
	.exec = pgdrv_exec,
	.query = pgdrv_query,
	.quote_ident = pgdrv_quote_ident,
	.fingerprint = pgdrv_fingerprint,
	.lock = pgdrv_lock,
	.unlock = pgdrv_unlock,
	.lock_holder = pgdrv_lock_holder,
	.lock_lost = pgdrv_lock_lost,
	.lock_check = pgdrv_lock_check,
	.history_read = pgdrv_history_read,
	.history_write = pgdrv_history_write,
	.describe_table = pgdrv_describe_table,
	.describe_column = pgdrv_describe_column,
	.column_dependents = pgdrv_column_dependents,
	.check_expr = pgdrv_check_expr,
	.canonical_type = pgdrv_canonical_type,
	.render = pgdrv_render,
	.check_blockers = pgdrv_check_blockers,
	.run_step = pgdrv_run_step,
	.backfill_bounds = pgdrv_backfill_bounds,
	.backfill_batch = pgdrv_backfill_batch,
	.backfill_split = pgdrv_backfill_split,
	.verify_batch = pgdrv_verify_batch,
	.analyze = pgdrv_analyze,
	.replication_lag_ms = pgdrv_replication_lag_ms,
	.active_sessions = pgdrv_active_sessions,
	.lock_waits = pgdrv_lock_waits,
	.count_sessions_by_place = pgdrv_count_sessions_by_place,
	.watch_steps = pgdrv_watch_steps,
	.plan_begin = pgdrv_plan_begin,
	.plan_end = pgdrv_plan_end,
	.check_index = pgdrv_check_index,
	.check_rule = pgdrv_check_rule,
	.check_sql = pgdrv_check_sql,
	.table_dependents = pgdrv_table_dependents,
	.check_table_op = pgdrv_check_table_op,
	.plan_notes = pgdrv_plan_notes,
	.lint_sql = pgdrv_lint_sql,
	.describe_constraint = pgdrv_describe_constraint,
	.name_taken = pgdrv_name_taken,
	.describe_table_attrs = pgdrv_describe_table_attrs,
	.check_attr = pgdrv_check_attr,
};
