/*
 * pg.h - private to the PostgreSQL driver (drivers/postgres/driver.c and
 * the files of drivers/postgres/): the connection struct and the helpers its files
 * share. Nothing outside the driver includes it.
 */
#ifndef MG_PG_H
#define MG_PG_H

#include "driver.h"
#include "sqltext.h"
#include "keyset.h"
#include "postgres/url.h"

#include <assert.h>
#include <ctype.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#define PGDRV_LOCK_KEY "hashtextextended('migrate', 0)"
#define PGDRV_HISTORY "public.\"_migrate_history\""
#define PGDRV_MAX_IDENT 63

struct pgdrv_conn {
	struct mg_conn base;
	PGconn *pg;
	struct mg_conn_opts opts;
	int backfill_ready;	/* backfill session settings applied */
	int broken;		/* the link was given up: no more statements */
	char net_error[512];	/* why the last statement got no result */
	int locked;		/* this session took the migrate lock */
	int lock_pid;		/* its pid then (libpq forgets it on a lost connection) */
	char *guard;		/* pid of the lock's session (opts.lock_holder) */
	/* watch_steps (progress.c): an index build's progress, read on a
	 * second connection while the build runs */
	mg_step_progress_fn watch_fn;
	void *watch_arg;
	const char *building;	/* the index being built now, NULL otherwise */
	int64_t watch_next;	/* when to read it next (mg_now_ms) */
	PGconn *watch_pg;
	/* the URL as libpq got it (migrate's own parameters taken out) and
	 * the places it names (url.h): standbys and poolers, with a session
	 * to each once one was needed (NULL until then, or after a failure:
	 * the next use connects again) */
	char *libpq_url;
	struct pgdrv_places places;
	PGconn **place_pg;	/* [places.n] */
};

/*
 * The helpers below keep the short names the driver's code calls them by
 * (static functions of the one postgres.c they came from); the linker
 * sees them with the driver's prefix, so they never meet the MySQL
 * driver's helpers of the same names.
 */
#define downcast pgdrv_downcast
#define history_ddl pgdrv_history_ddl
#define sqlstate pgdrv_sqlstate
#define set_result_error pgdrv_set_result_error
#define qi pgdrv_qi
#define add_literal pgdrv_add_literal
#define lit pgdrv_lit
#define query_scalar pgdrv_query_scalar
#define give_up pgdrv_give_up
#define exec_bounded pgdrv_exec_bounded
#define exec_bounded_params pgdrv_exec_bounded_params
#define exec_pc pgdrv_exec_pc
#define query_pc pgdrv_query_pc
#define add_lock_held pgdrv_add_lock_held
#define guard_lost pgdrv_guard_lost
#define history_upsert_sql pgdrv_history_upsert_sql
#define is_lock_timeout pgdrv_is_lock_timeout

/* conn.c */
struct pgdrv_conn *downcast(struct mg_conn *c);
int pgdrv_accepts(const char *url);
/*
 * A session to places.list[i] (url.h), connected on first use with the
 * URL's settings at the place's host and port (dbname instead of the
 * URL's database when not NULL: "pgbouncer" for a pooler's console), a
 * short connect timeout, application_name migrate/place. NULL with err
 * (MG_EDB, naming the place) when it cannot be reached; the next call
 * tries again.
 */
PGconn *pgdrv_place_session(struct pgdrv_conn *pc, size_t i, const char *dbname,
			    struct mg_err *err);
/*
 * One statement on place i's session (a pooler's: its admin console),
 * its answer waited for at most wait_ms: the rows, or NULL with err
 * "on standby|pooler NAME: why" and the session dropped (the next call
 * connects again).
 */
PGresult *pgdrv_place_query(struct pgdrv_conn *pc, size_t i, const char *sql, int wait_ms,
			    struct mg_err *err);
/* Forget place i's session (after a failed statement on it). */
void pgdrv_place_drop(struct pgdrv_conn *pc, size_t i);
const char *sqlstate(const PGresult *res);
int set_result_error(struct mg_err *err, const PGresult *res,
		     struct pgdrv_conn *pc, const char *context);
void pgdrv_close(struct mg_conn *c);
int pgdrv_connect(struct mg_conn **out, const char *url,
		  const struct mg_conn_opts *opts, struct mg_err *err);
void pgdrv_quote_ident(struct mg_buf *out, const char *name);
/* "schema.table" or "table" as written in a migration, quoted (catalog.c). */
char *pgdrv_quote_table_name(const char *name);
/* An expression of the file over the row being written, for a trigger:
 * NEW.col for a bare quoted column, else a subquery over NEW (render.c). */
void pgdrv_row_expr(struct mg_buf *b, const char *expr);
char *qi(const char *name);
void add_literal(struct mg_buf *b, const char *s);
char *lit(const char *s);
int query_scalar(struct pgdrv_conn *pc, const char *sql, char **out,
		 struct mg_err *err);
int pgdrv_fingerprint(struct mg_conn *c, struct mg_buf *out,
		      struct mg_err *err);

/* wait.c */
void give_up(struct pgdrv_conn *pc);
PGresult *exec_bounded(struct pgdrv_conn *pc, const char *sql);
/* A second connection to pc's server as pc's user, named app, given up
 * at until (mg_now_ms); NULL when it cannot be made in time. */
PGconn *pgdrv_second_connect(struct pgdrv_conn *pc, const char *app, int64_t until);
/* Read pg's input until no result is pending (1), or ms pass with no
 * byte (0). */
int pgdrv_await_idle(PGconn *pg, int64_t ms);
/* progress.c: watch_steps, and what the step runner calls */
void pgdrv_watch_steps(struct mg_conn *c, mg_step_progress_fn fn, void *arg);
void pgdrv_watch_begin(struct pgdrv_conn *pc, const char *index);
void pgdrv_watch_tick(struct pgdrv_conn *pc);
void pgdrv_watch_end(struct pgdrv_conn *pc);
PGresult *exec_bounded_params(struct pgdrv_conn *pc, const char *sql,
			      int n, const char *const *values);
int exec_pc(struct pgdrv_conn *pc, const char *sql, struct mg_err *err);
PGresult *query_pc(struct pgdrv_conn *pc, const char *sql,
		   struct mg_err *err);
int pgdrv_exec(struct mg_conn *c, const char *sql, struct mg_err *err);
int pgdrv_query(struct mg_conn *c, const char *sql, struct mg_rows *out,
		struct mg_err *err);

/* lock.c */
int pgdrv_lock(struct mg_conn *c, struct mg_err *err);
void pgdrv_unlock(struct mg_conn *c);
int pgdrv_lock_holder(struct mg_conn *c, struct mg_buf *out, struct mg_err *err);
int pgdrv_lock_lost(struct mg_conn *c, struct mg_err *err);
void add_lock_held(struct mg_buf *b, const char *pid);
int guard_lost(struct pgdrv_conn *pc, int in_batch, struct mg_err *err);
int pgdrv_lock_check(struct mg_conn *c, struct mg_err *err);
int pgdrv_check_blockers(struct mg_conn *c, const char *const *tables,
			 size_t n, struct mg_err *err);

/* history.c */
extern const char history_ddl[];
char *history_upsert_sql(const struct mg_history_write *w);
int pgdrv_history_read(struct mg_conn *c, struct mg_history *out,
		       struct mg_err *err);
int pgdrv_history_write(struct mg_conn *c, const struct mg_history_write *w,
			struct mg_err *err);

/* overlay.c: the catalog as it will be (planner.h's overlay) */
/* The relation an expression of this use is probed against: t->q when no
 * earlier operation changes t, else a derived table with the columns the
 * use sees (added ones as typed NULLs), aliased as the table's name.
 * Owned; NULL with err set. */
char *pgdrv_overlay_relation(struct pgdrv_conn *pc, const struct mg_planner *pl,
			     const struct mg_table_desc *t, enum mg_expr_use use,
			     struct mg_err *err);
/* A probe failed with state and msg: 1 (err set, naming the earlier
 * operation) when it names a column the overlay hides from this use, else
 * 0. */
int pgdrv_overlay_refusal(const struct mg_planner *pl, const struct mg_table_desc *t,
			  enum mg_expr_use use, const char *state, const char *msg,
			  struct mg_pos pos, struct mg_err *err);
/* Add, in the planning transaction, the columns earlier operations add
 * (before a sql step's expand SQL runs there). */
int pgdrv_overlay_apply(struct pgdrv_conn *pc, const struct mg_planner *pl,
			struct mg_err *err);

/* catalog.c: the planner's questions */
/* What the renderer needs to know of a table beyond struct mg_table_desc
 * (its drv). */
struct pgdesc {
	char *oid;		/* text */
	char *qlit;		/* q as a string literal, for ::regclass */
	char *qschema;		/* "schema" */
};
#define pgdesc(t) pgdrv_pgdesc(t)	/* function-like: struct pgdesc stays */
#define others_sql pgdrv_others_sql
const struct pgdesc *pgdrv_pgdesc(const struct mg_table_desc *t);
/* One text per dependent of col that migrate neither copies nor lets die
 * with it (views, policies, triggers ...); op (may be NULL) leaves out
 * what it lists under drops:. Owned. */
char *others_sql(const char *tqlit, const char *col, const struct mg_op *op);
int pgdrv_describe_table(struct mg_conn *c, const struct mg_planner *pl,
			 const struct mg_op *op, struct mg_table_desc *out,
			 struct mg_err *err);
int pgdrv_describe_column(struct mg_conn *c, const struct mg_planner *pl,
			  const struct mg_table_desc *t, const char *name,
			  struct mg_column_desc *out, struct mg_err *err);
int pgdrv_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
			    const struct mg_table_desc *t, const char *col,
			    const struct mg_column_desc *cd,
			    struct mg_dependents *out, struct mg_err *err);
int pgdrv_check_expr(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_table_desc *t, enum mg_expr_use use,
		     const char *expr, struct mg_pos pos, struct mg_err *err);
int pgdrv_canonical_type(struct mg_conn *c, const struct mg_planner *pl,
			 const struct mg_op *op, char **out, struct mg_err *err);
int pgdrv_check_index(struct mg_conn *c, const struct mg_planner *pl,
		      const struct mg_op *op, const struct mg_table_desc *t,
		      struct mg_err *err);
int pgdrv_check_sql(struct mg_conn *c, struct mg_planner *pl,
		    const struct mg_op *op, struct mg_err *err);
int pgdrv_plan_begin(struct mg_conn *c, struct mg_planner *pl,
		     struct mg_err *err);
int pgdrv_plan_end(struct mg_conn *c, struct mg_planner *pl, int failed,
		   struct mg_err *err);
void pgdrv_plan_notes(struct mg_conn *c, const struct mg_planner *pl,
		      struct mg_plan *out);

/* render.c */
/* catalog_attrs.c, render_attrs.c: the attribute operations */
int pgdrv_describe_constraint(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_table_desc *t, const char *name,
			      struct mg_constraint_desc *out, struct mg_err *err);
int pgdrv_name_taken(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_table_desc *t, const char *name,
		     const struct mg_constraint_desc *like, char **what,
		     struct mg_err *err);
int pgdrv_describe_table_attrs(struct mg_conn *c, const struct mg_planner *pl,
			       const struct mg_table_desc *t, struct mg_table_attrs *out,
			       struct mg_err *err);
int pgdrv_check_attr(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_attr *a, struct mg_err *err);
int pgdrv_render_attr(const struct mg_render *r, struct mg_plan *out);
int pgdrv_render(struct mg_conn *c, const struct mg_render *r,
		 struct mg_plan *out, struct mg_err *err);
/* render_index.c: create_index's build (and constraint), its drop at
 * rollback, drop_index's drop at contract */
void pgdrv_render_index_op(const struct mg_render *r, struct mg_plan *out);
/* CREATE INDEX's text after "ON table": USING, key columns with their
 * options, INCLUDE, WITH, WHERE */
void pgdrv_index_body(struct mg_buf *b, const struct mg_op *op);

/* catalog_index.c: check_index's create_index options and drop_index */
int pgdrv_check_index_options(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_op *op, const struct mg_table_desc *t,
			      struct mg_err *err);
int pgdrv_check_drop_index(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_op *op, const struct mg_table_desc *t,
			   struct mg_err *err);

/* runner.c */
int is_lock_timeout(const char *state);
int pgdrv_run_step(struct mg_conn *c, const struct mg_step *s,
		   const struct mg_history_write *w,
		   struct mg_step_report *rep, struct mg_err *err);

/* backfill.c */
int pgdrv_backfill_bounds(struct mg_conn *c, const struct mg_backfill_spec *s,
			  char ***upto_key, int64_t *estimate, struct mg_err *err);
int pgdrv_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int batch_size, struct mg_batch_result *out,
			 struct mg_err *err);
int pgdrv_backfill_split(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key, int pieces,
			 char ****bounds, size_t *n, struct mg_err *err);
int pgdrv_verify_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
		       char *const *after_key, int batch_size, int sample,
		       int64_t *mismatches, struct mg_strlist *sample_keys,
		       char ***last_key, struct mg_err *err);

/* lag.c */
int pgdrv_replication_lag_ms(struct mg_conn *c, int64_t *out, struct mg_err *err);
/* load.c */
int pgdrv_active_sessions(struct mg_conn *c, int64_t *out, int64_t *hidden,
			  struct mg_err *err);
int pgdrv_lock_waits(struct mg_conn *c, int64_t *out, struct mg_err *err);
int pgdrv_analyze(struct mg_conn *c, const char *table, struct mg_err *err);
int pgdrv_count_sessions_by_place(struct mg_conn *c, const char *pattern,
				  char *const *except, size_t n_except,
				  struct mg_place_counts *out, struct mg_err *err);

/* tables.c: create_table, drop_table, rename_table */
int pgdrv_table_dependents(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_table_desc *t, int by_name,
			   struct mg_dependents *out, struct mg_err *err);
int pgdrv_check_table_op(struct mg_conn *c, struct mg_planner *pl,
			 const struct mg_tableop *top, struct mg_err *err);
int pgdrv_render_table_op(struct mg_conn *c, const struct mg_render *r,
			  struct mg_plan *out);

/* lint.c: what the SQL of a migration does, read offline with libpg_query
 * (driver.h, lint_sql). */
void pgdrv_lint_sql(const char *text, enum mg_lint_text kind,
		    struct mg_sql_facts *out);

#endif
