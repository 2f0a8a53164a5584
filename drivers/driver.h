/*
 * driver.h - the one interface between the core and a database (design §6).
 *
 * Each database is one folder, drivers/<name>/ (postgres, mysql), one file
 * per concern; its driver.c defines one
 * `const struct mg_driver` with designated initialisers, listed once in
 * the table of drivers/drivers.c; mg_driver_for_url() picks it by URL
 * scheme. Connections subclass struct mg_conn (it is the first member of
 * each driver's connection struct).
 *
 * The core calls drivers only through the mg_db_* wrappers at the bottom:
 * they check preconditions, supply the default of an optional method and
 * host the test builds' fault injection (ctest unit_no_driver_calls
 * refuses a ->drv use in src/). What differs by database that the core
 * needs without a connection (the name length limit, the URL forms for
 * --help, a test variable) is a field of the table entry.
 *
 * Conventions: methods return 0 on success or -1 with err set
 * (MG_EDB for database failures, MG_EREFUSED for a safety refusal,
 * MG_EINPUT for a migration that does not fit the catalog: missing table or
 * column, named with file:line:column). Out parameters are owned by the
 * caller unless documented otherwise.
 */
#ifndef MG_DRIVER_H
#define MG_DRIVER_H

#include <stdint.h>
#include "util.h"
#include "migration.h"
#include "plan.h"
#include "planner.h"

#define MG_DRIVER_VERSION 1

struct mg_driver;

struct mg_conn {
	const struct mg_driver *drv;
};

struct mg_conn_opts {
	const char *application_name;	/* "migrate/expand" */
	int lock_timeout_ms;		/* DDL lock wait per try (default 500) */
	int statement_timeout_ms;	/* DDL statement limit (default 10000) */
	int index_timeout_ms;		/* CREATE INDEX CONCURRENTLY limit, 0 = none */
	int lock_retries;		/* tries after the first (default 5) */
	int max_tx_age_s;		/* blockers older than this refuse DDL (default 5) */
	int network_timeout_ms;		/* 0 = MG_NETWORK_TIMEOUT_MS: see below */
	/* The lock guard: when set, every backfill batch on this connection
	 * checks in its own transaction, right before it commits, that the
	 * session named here (lock_holder() of the connection that took the
	 * lock) still holds the migrate lock; when it does not, the batch is
	 * rolled back and fails with mg_err_lock_lost(). Copied. */
	const char *lock_holder;
};

/*
 * How long a driver waits for the server with no byte coming back before
 * it checks on a second connection that the statement still runs (an
 * index build may be silent for hours); it also bounds connecting (unless
 * the URL sets connect_timeout), that check, and TCP keepalives and
 * tcp_user_timeout where the URL does not set them. Every wait also ends
 * within about a second of SIGINT/SIGTERM (mg_stop_requested): the
 * statement is cancelled on the server and no new one starts.
 */
#define MG_NETWORK_TIMEOUT_MS 10000

/* A query result: text cells, row-major, NULL for SQL NULL. */
struct mg_rows {
	size_t nrows;
	size_t ncols;
	char **cells;
};
#define MG_ROWS_INIT { 0, 0, NULL }
const char *mg_rows_get(const struct mg_rows *r, size_t row, size_t col);
void mg_rows_release(struct mg_rows *r);

/* One row of the target's history table (_migrate_history). */
struct mg_history_row {
	int id;
	char *name;
	char *checksum;		/* NULL once rolled back */
	char *phase;		/* "expanded" ... */
	char *step_phase;	/* the plan phase of the last step done, or NULL */
	int step_index;		/* 1-based index of the last step done in step_phase */
	char *state_id;		/* identity of the state file that wrote it */
	int64_t generation;
};

struct mg_history {
	int exists;		/* the table exists in the target */
	struct mg_history_row *rows;
	size_t n;
	int64_t generation;	/* highest generation, 0 when empty */
};
void mg_history_release(struct mg_history *h);
const struct mg_history_row *mg_history_find(const struct mg_history *h, int id);

/*
 * What a step writes into the target's history table, in the same
 * transaction as the step where the database allows it. step_phase and
 * step_index name the step just done (NULL/0 for a phase change alone);
 * phase is the migration's phase after it. generation: the driver writes
 * the current highest generation + 1.
 */
struct mg_history_write {
	int migration_id;
	const char *name;
	const char *checksum;	/* NULL forgets it (rollback) */
	const char *phase;
	const char *step_phase;
	int step_index;
	const char *state_id;
};

/*
 * What running one step cost: lock retries and the time spent waiting.
 * The core (mg_db_run_step) retries a step whose try ran out of time
 * waiting for its locks; the driver's run_step runs one try and fills the
 * second group for it.
 */
struct mg_step_report {
	int tries;		/* tries of a step that waits for its locks
				 * (0 for one that does not: an assert,
				 * an index build) */
	int64_t stall_ms;	/* time spent in tries that waited in vain */
	int skipped;		/* already done according to the catalog */

	int attempt;		/* set by the core: the try being run, from 1 */
	int lock_wait;		/* this try failed waiting for locks: retry it */
	int lock_wait_ms;	/* how long each try waits for them (messages) */
	int lock_retries;	/* tries after the first (mg_conn_opts) */
	int progress;		/* the driver's own, kept from one try of the
				 * step to the next, 0 at the first (MySQL: the
				 * ALGORITHM level the server accepted) */
};

/*
 * What a long step (an index build) is doing, for watch_steps. The core
 * shows it; the driver only reads it from its database's own progress
 * view.
 */
struct mg_step_progress {
	const char *object;	/* the index being built */
	char phase[96];		/* the database's words ("building index: scanning table") */
	long long done, total;	/* of unit; total 0 = unknown */
	char unit[16];		/* "blocks", "tuples" */
	char waiting_for[768];	/* "" or who the build waits for and how to end it */
	long long waiting_pid;	/* the session it waits for, 0 none or unknown */
};
typedef void (*mg_step_progress_fn)(void *arg, const struct mg_step_progress *p);
/* how often watch_steps reads the progress (2-5 s: one query on a second
 * connection each time) */
#define MG_STEP_WATCH_MS 3000

/* One backfill batch's result. last_key: n_keys text values, owned. */
struct mg_batch_result {
	int64_t rows;		/* rows updated */
	int64_t scanned;	/* rows in the key range of the batch */
	char **last_key;	/* NULL when the range after after_key is empty */
	int done;		/* no rows left up to upto_key */
	int64_t retry_ms;	/* spent in tries that timed out on locked rows
				 * and in the backoff between them: not batch
				 * cost for the adaptive size */
	int64_t skipped;	/* rows of the batch's range still at marker 0
				 * that other transactions held: the batch did
				 * not wait for them and left them for a later
				 * pass over (after_key, last_key]. May count
				 * more rows than were held, never fewer; 0 when
				 * every row was taken (issue 15) */
};
void mg_batch_result_release(struct mg_batch_result *r, size_t n_keys);

/*
 * Where a colour's sessions are (count_sessions_by_place): each place the
 * driver counted them at, with its count, 0 included. The labels say what
 * an operator reads: "primary", "standby 127.0.0.1:5433", "pooler
 * 127.0.0.1:6432", "replica 127.0.0.1:3307". The list and its labels
 * belong to the struct (MG_PLACE_COUNTS_INIT, mg_place_counts_release).
 */
struct mg_place_count {
	char *place;
	int64_t sessions;
};
struct mg_place_counts {
	struct mg_place_count *list;
	size_t n;
};
#define MG_PLACE_COUNTS_INIT { NULL, 0 }
/* Append place "kind name" ("kind" alone when name is NULL) counted at
 * sessions; its index in out->list. */
size_t mg_place_counts_add(struct mg_place_counts *out, const char *kind, const char *name,
			   int64_t sessions);
int64_t mg_place_counts_total(const struct mg_place_counts *pc);
void mg_place_counts_release(struct mg_place_counts *pc);

/* The --help remarks a driver may make where its database behaves its own
 * way (struct mg_driver.help_notes). */
enum mg_help_note {
	MG_HELP_MAX_LAG,	/* how backfill --max-lag reads the lag */
	MG_HELP_MAX_LOAD,	/* what backfill --max-load counts */
	MG_HELP_MATCH,		/* what a colour's --match pattern is matched against */
	MG_HELP_MATCH_WHAT,	/* the same as a phrase for a warning, not shown
				 * in --help ("application_name (PostgreSQL)") */
	MG_HELP_NNOTES
};

/* Capabilities: read by the callers where behaviour differs. */
enum mg_driver_caps {
	/* DDL runs inside transactions (plan shows TX steps as such) */
	MG_CAP_TRANSACTIONAL_DDL = 1 << 0,
	/* indexes build outside any transaction while writes go on
	 * (CREATE INDEX CONCURRENTLY): the planner builds index copies at
	 * expand right after the tables' transactions, checks them at
	 * switch-reads, and drops create_index's indexes first at rollback;
	 * without it copies are built at switch-reads (after the backfill)
	 * and create_index's index goes in reverse file order */
	MG_CAP_CONCURRENT_INDEX = 1 << 1,
	/* no NOT VALID constraints, but adding a column with a default is a
	 * metadata change (MySQL/MariaDB): a new NOT NULL column is added NOT
	 * NULL with a placeholder default (placeholder_value) instead of a
	 * CHECK NOT VALID validated at switch-reads and SET NOT NULL at
	 * contract; a dropped NOT NULL column without a default gets one
	 * before contract drops it */
	MG_CAP_PLACEHOLDER_NOT_NULL = 1 << 2,
	/* dropping a column keeps the indexes over it (MySQL keeps a
	 * multi-column index without the column): contract drops every
	 * index over a replaced or dropped column itself */
	MG_CAP_EXPLICIT_INDEX_DROPS = 1 << 3,
	/* column names compare without case (MySQL/MariaDB) */
	MG_CAP_CASELESS_COLUMNS = 1 << 4
};

/* ---- lint (issue 14): what a driver reads in SQL text, offline ---------- */

/* What the text given to lint_sql is: a sql step's statements, an
 * expression (up, down, default, backfill, where, check), or a type. */
enum mg_lint_text { MG_LINT_STATEMENTS, MG_LINT_EXPRESSION, MG_LINT_TYPE };

/* One thing a statement does that a lint rule (src/lint_rules.c) may care
 * about. Database-neutral: the driver parses, the core decides. */
enum mg_fact_kind {
	MG_FACT_SYNTAX_ERROR,	/* detail: the parser's message */
	MG_FACT_CREATE_TABLE,	/* table */
	MG_FACT_DROP_TABLE,	/* table */
	MG_FACT_RENAME_TABLE,	/* table, name: the new name */
	MG_FACT_ADD_COLUMN,	/* table, name */
	MG_FACT_DROP_COLUMN,	/* table, name */
	MG_FACT_RENAME_COLUMN,	/* table, name: old, detail: new */
	MG_FACT_ALTER_TYPE,	/* table, name, detail: the new type */
	MG_FACT_SET_NOT_NULL,	/* table, name */
	MG_FACT_DROP_NOT_NULL,	/* table, name */
	MG_FACT_SET_DEFAULT,	/* table, name (also DROP DEFAULT: no HAS_DEFAULT) */
	MG_FACT_ADD_CONSTRAINT,	/* table, name (or NULL); flags say which kind */
	MG_FACT_VALIDATE_CONSTRAINT,	/* table, name */
	MG_FACT_DROP_CONSTRAINT,	/* table, name */
	MG_FACT_CREATE_INDEX,	/* table, name (or NULL) */
	MG_FACT_DROP_INDEX,	/* name */
	MG_FACT_REINDEX,	/* table or name */
	MG_FACT_VACUUM_FULL,	/* table (or NULL: the database) */
	MG_FACT_CLUSTER,	/* table */
	MG_FACT_LOCK_TABLE,	/* table */
	MG_FACT_TRANSACTION,	/* BEGIN, COMMIT...: detail the word */
	MG_FACT_COLUMN_TYPE,	/* a declared column type (CREATE TABLE, ADD
				 * COLUMN, ALTER TYPE, or MG_LINT_TYPE text):
				 * table, name (column, or NULL), detail: the
				 * type as written; MG_FACTF_TYPE_* and
				 * PRIMARY_KEY flags */
	MG_FACT_VOLATILE_CALL,	/* detail: the function (random, now, nextval,
				 * gen_random_uuid, clock_timestamp...) */
	MG_FACT_UPDATE,		/* table; NO_WHERE when every row */
	MG_FACT_DELETE,		/* table; NO_WHERE when every row */
	MG_FACT_OTHER		/* any other statement; detail: its kind
				 * ("CREATE FUNCTION") */
};

enum mg_fact_flags {
	MG_FACTF_IF_EXISTS = 1u << 0,
	MG_FACTF_IF_NOT_EXISTS = 1u << 1,
	MG_FACTF_CONCURRENTLY = 1u << 2,
	MG_FACTF_NOT_VALID = 1u << 3,	/* ADD CONSTRAINT ... NOT VALID */
	MG_FACTF_USING_INDEX = 1u << 4,	/* ADD UNIQUE/PRIMARY KEY USING INDEX */
	MG_FACTF_UNIQUE = 1u << 5,	/* index or constraint */
	MG_FACTF_PRIMARY_KEY = 1u << 6,	/* constraint, or a column type's column */
	MG_FACTF_FOREIGN_KEY = 1u << 7,
	MG_FACTF_CHECK = 1u << 8,	/* detail: the CHECK expression */
	MG_FACTF_NOT_NULL = 1u << 9,	/* ADD COLUMN ... NOT NULL */
	MG_FACTF_HAS_DEFAULT = 1u << 10,
	MG_FACTF_VOLATILE_DEFAULT = 1u << 11,	/* the default calls a volatile function */
	MG_FACTF_REWRITES = 1u << 12,	/* ALTER TYPE: the table is rewritten */
	MG_FACTF_NARROWS = 1u << 13,	/* ALTER TYPE: fewer values fit */
	MG_FACTF_CASCADE = 1u << 14,
	MG_FACTF_NO_WHERE = 1u << 15,	/* UPDATE/DELETE of every row */
	MG_FACTF_TYPE_JSON = 1u << 16,	/* json where jsonb exists */
	MG_FACTF_TYPE_TIMESTAMP = 1u << 17,	/* timestamp without time zone */
	MG_FACTF_TYPE_SERIAL = 1u << 18,	/* serial/bigserial/smallserial */
	MG_FACTF_TYPE_CHAR = 1u << 19,	/* char(n) / character(n) */
	MG_FACTF_TYPE_INT4 = 1u << 20,	/* a 32-bit (or smaller) integer */
	MG_FACTF_IN_BLOCK = 1u << 21,	/* after a BEGIN of the same text */
	MG_FACTF_RESTATED = 1u << 22	/* SET/DROP NOT NULL, SET DEFAULT of a
					 * column definition restated whole
					 * (MySQL's MODIFY, CHANGE): the column
					 * may have had it already */
};

struct mg_sql_fact {
	enum mg_fact_kind kind;
	unsigned flags;		/* enum mg_fact_flags */
	int offset;		/* byte offset in the text of what the fact is
				 * about (the statement, or the clause), -1 unknown */
	char *table;		/* as written ("s.t" or "t"), or NULL */
	char *name;		/* column, index, constraint, new table name */
	char *detail;
};

struct mg_sql_facts {
	struct mg_sql_fact *items;
	size_t n, cap;
};

#define MG_SQL_FACTS_INIT { NULL, 0, 0 }

/* Append a fact; the strings (each may be NULL) are copied. */
void mg_sql_facts_add(struct mg_sql_facts *f, enum mg_fact_kind kind,
		      unsigned flags, int offset, const char *table,
		      const char *name, const char *detail);
void mg_sql_facts_release(struct mg_sql_facts *f);


struct mg_driver {
	const char *name;		/* "postgres" */
	int version;			/* MG_DRIVER_VERSION */
	unsigned caps;			/* enum mg_driver_caps */
	/* The longest name (table, column, index) the database takes, in
	 * bytes: the migration loader refuses a longer one at its file
	 * position (mg_driver_name_limit). */
	size_t max_name_len;
	/* The URL forms it takes, as --help lists them after each other:
	 * "mysql://user:pass@host:port/db (also mariadb://...)". */
	const char *url_help;
	/* The MIGRATE_TEST_ variable a test build lets this driver read
	 * (mg_hook_driver_number), for --version to list; NULL when none. */
	const char *test_variable;
	/* Its remarks for --help, each a phrase naming the database
	 * ("MySQL: Threads_running"); NULL where it has none. */
	const char *help_notes[MG_HELP_NNOTES];

	/* Does this driver take this URL? (scheme check only) */
	int (*accepts)(const char *url);
	int (*connect)(struct mg_conn **out, const char *url,
		       const struct mg_conn_opts *opts, struct mg_err *err);
	void (*close)(struct mg_conn *c);

	int (*exec)(struct mg_conn *c, const char *sql, struct mg_err *err);
	int (*query)(struct mg_conn *c, const char *sql, struct mg_rows *out,
		     struct mg_err *err);
	/* Append name quoted as an identifier. */
	void (*quote_ident)(struct mg_buf *out, const char *name);

	/* Server identity + database name, stable for the database. */
	int (*fingerprint)(struct mg_conn *c, struct mg_buf *out,
			   struct mg_err *err);
	/* Advisory lock for this target; MG_EDB naming the holder if taken. */
	int (*lock)(struct mg_conn *c, struct mg_err *err);
	void (*unlock)(struct mg_conn *c);
	/* The session that took the lock on c, as the other connections'
	 * mg_conn_opts.lock_holder names it (PostgreSQL backend pid, MariaDB
	 * connection id). */
	int (*lock_holder)(struct mg_conn *c, struct mg_buf *out, struct mg_err *err);
	/* After a failure on c, the connection that took the lock: when its
	 * session is gone (terminated, server restarted), rewrite err with
	 * mg_err_lock_lost() and return 1; 0 when the session is alive or
	 * c never took the lock. Sends one trivial query. */
	int (*lock_lost)(struct mg_conn *c, struct mg_err *err);
	/* The lock guard now, outside a batch: 0 when c has no guard or the
	 * lock's session still holds the lock, else -1 with
	 * mg_err_lock_lost() (or a database error). */
	int (*lock_check)(struct mg_conn *c, struct mg_err *err);

	/* Read the history table (exists = 0 and n = 0 when it is absent). */
	int (*history_read)(struct mg_conn *c, struct mg_history *out,
			    struct mg_err *err);
	/* Write one history row in its own transaction (creating the table
	 * if needed). */
	int (*history_write)(struct mg_conn *c, const struct mg_history_write *w,
			     struct mg_err *err);

	/*
	 * ---- planning: the core keeps the plan (src/planner.h), the driver
	 * answers narrow questions about the catalog and renders steps ----
	 *
	 * Errors about the migration name its position (mg_plan_pos_error):
	 * MG_EINPUT for what does not fit the catalog, MG_EREFUSED for what
	 * migrate cannot do on this database. Nothing here changes the
	 * database (plan_begin may open a transaction that plan_end undoes).
	 *
	 * describe_table: resolve op->table (MG_EINPUT at op->table_pos when
	 * absent, MG_EREFUSED when it is not a plain table); fill out (the
	 * key, or key_problem; max_ident).
	 */
	int (*describe_table)(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_op *op, struct mg_table_desc *out,
			      struct mg_err *err);
	/* A column of t as the catalog has it now: 0 found (out filled), 1
	 * absent, -1 error. */
	int (*describe_column)(struct mg_conn *c, const struct mg_planner *pl,
			       const struct mg_table_desc *t, const char *name,
			       struct mg_column_desc *out, struct mg_err *err);
	/* Every dependent of column col (described as cd) of t, appended to
	 * out: indexes, constraints, foreign keys of other tables, grants,
	 * and what the core can only refuse or drop (views, policies,
	 * triggers ...). The core decides what is copied, dropped or refused;
	 * objects come in the order their messages should list them. */
	int (*column_dependents)(struct mg_conn *c, const struct mg_planner *pl,
				 const struct mg_table_desc *t, const char *col,
				 const struct mg_column_desc *cd,
				 struct mg_dependents *out, struct mg_err *err);
	/* Check an expression of the migration at pos (enum mg_expr_use):
	 * MG_EINPUT when it is not one expression or does not work on t as
	 * the use sees it through the overlay (planner.h: a column hidden
	 * from the use, mg_overlay_hidden, is refused with
	 * mg_overlay_refuse, naming the operation that changed it). */
	int (*check_expr)(struct mg_conn *c, const struct mg_planner *pl,
			  const struct mg_table_desc *t, enum mg_expr_use use,
			  const char *expr, struct mg_pos pos, struct mg_err *err);
	/* op->type as the server spells it (with its collation): *out owned. */
	int (*canonical_type)(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_op *op, char **out,
			      struct mg_err *err);
	/* Append the step(s) of one piece of the plan (struct mg_render) to
	 * out, in phase r->phase: one step, or for a table's transaction on a
	 * database without transactional DDL as many as it needs, in order. */
	int (*render)(struct mg_conn *c, const struct mg_render *r,
		      struct mg_plan *out, struct mg_err *err);

	/* Refuse (MG_EREFUSED) when a long or idle-in-transaction session
	 * holds a lock on one of the tables, naming pid, application, age and
	 * query. */
	int (*check_blockers)(struct mg_conn *c, const char *const *tables,
			      size_t n, struct mg_err *err);

	/*
	 * Run one try of a step. MG_STEP_TX: in one transaction with the
	 * history write. A try that runs out of lock_timeout_ms waiting for
	 * its locks fails with rep->lock_wait set (and lock_wait_ms,
	 * lock_retries): the core tries again with jittered backoff.
	 * MG_STEP_NOTX: outside a transaction, history written after.
	 * MG_STEP_ASSERT: MG_EREFUSED listing the rows returned (no history
	 * write). w may be NULL (no history write).
	 */
	int (*run_step)(struct mg_conn *c, const struct mg_step *s,
			const struct mg_history_write *w,
			struct mg_step_report *rep, struct mg_err *err);

	/* Highest key now (NULL when the table is empty) and a row estimate. */
	int (*backfill_bounds)(struct mg_conn *c,
			       const struct mg_backfill_spec *s,
			       char ***upto_key, int64_t *estimate,
			       struct mg_err *err);
	/*
	 * Backfill the next batch of at most batch_size keys after after_key
	 * (NULL: from the start) and up to upto_key, touching only rows
	 * whose marker is 0. Never waits for a row lock another transaction
	 * holds (so a batch is never part of a deadlock and an application
	 * transaction waits at most one batch for a row of it): rows it
	 * cannot lock at once are left at marker 0 and counted in
	 * out->skipped, and the core passes over (after_key, last_key]
	 * again later. Commits before it returns.
	 */
	int (*backfill_batch)(struct mg_conn *c,
			      const struct mg_backfill_spec *s,
			      char *const *after_key, char *const *upto_key,
			      int batch_size, struct mg_batch_result *out,
			      struct mg_err *err);
	/*
	 * Up to pieces - 1 keys strictly between after_key (NULL: the start)
	 * and upto_key, ascending, cutting the range into parts of about
	 * equal size for parallel workers. *bounds is an array of *n key
	 * arrays (n_keys text values each), owned by the caller.
	 */
	int (*backfill_split)(struct mg_conn *c, const struct mg_backfill_spec *s,
			      char *const *after_key, char *const *upto_key,
			      int pieces, char ****bounds, size_t *n,
			      struct mg_err *err);
	/*
	 * Verify the next batch of at most batch_size rows after after_key
	 * (NULL: from the start) in key order: count rows whose sides
	 * disagree, append up to `sample` of their keys as text. *last_key is
	 * the batch's last key (NULL when no row is left).
	 */
	int (*verify_batch)(struct mg_conn *c, const struct mg_backfill_spec *s,
			    char *const *after_key, int batch_size, int sample,
			    int64_t *mismatches, struct mg_strlist *sample_keys,
			    char ***last_key, struct mg_err *err);
	int (*analyze)(struct mg_conn *c, const char *table, struct mg_err *err);

	/* optional: may be NULL */
	/* Open / close the planning session (PostgreSQL: a transaction,
	 * always rolled back, so sql steps' expand SQL can run in it).
	 * plan_end runs after rendering, failed or not. */
	int (*plan_begin)(struct mg_conn *c, struct mg_planner *pl,
			  struct mg_err *err);
	int (*plan_end)(struct mg_conn *c, struct mg_planner *pl, int failed,
			struct mg_err *err);
	/* What create_index op asks of this database beyond its columns
	 * (method, where:, column options, include, storage); the core
	 * checks the columns. For a drop_index op: whether the index
	 * exists on t and may be dropped on its own (MG_EINPUT naming the
	 * constraint that owns it or the foreign key that needs it). */
	int (*check_index)(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_op *op, const struct mg_table_desc *t,
			   struct mg_err *err);
	/* What a rule on existing columns (set_not_null, add_check,
	 * add_unique, add_foreign_key: op, on table t, the column `up`
	 * writes described as cd) asks of this database: its name free on
	 * the table (MG_EINPUT at op->name_pos), and where the database
	 * cannot add it online, MG_EREFUSED naming the ALTER it would run
	 * and the key (allow_rebuild, allow_copy) that accepts it, unless
	 * op has that key. */
	int (*check_rule)(struct mg_conn *c, const struct mg_planner *pl,
			  const struct mg_op *op, const struct mg_table_desc *t,
			  const struct mg_column_desc *cd, struct mg_err *err);
	/* A sql operation at plan time (PostgreSQL runs its expand SQL in
	 * the planning transaction, so later operations see its tables,
	 * after adding there the columns the overlay's earlier operations
	 * add, so the SQL meets the table as expand leaves it). */
	int (*check_sql)(struct mg_conn *c, struct mg_planner *pl,
			 const struct mg_op *op, struct mg_err *err);
	/* What depends on table t (appended to out): with by_name, only
	 * what names it and breaks when it is renamed (MySQL views); else
	 * everything that keeps it from being dropped: views (OBJECT,
	 * droppable) and other tables' foreign keys (INBOUND_FK). */
	int (*table_dependents)(struct mg_conn *c, const struct mg_planner *pl,
				const struct mg_table_desc *t, int by_name,
				struct mg_dependents *out, struct mg_err *err);
	/* A table operation at plan time, beyond what the core checks:
	 * create_table what this database cannot map (MG_EREFUSED at the
	 * key's position), or the whole statement tried in the planning
	 * transaction, where later operations then see the table. */
	int (*check_table_op)(struct mg_conn *c, struct mg_planner *pl,
			      const struct mg_tableop *top, struct mg_err *err);
	/* Last check with every table planned, before rendering (MySQL: the
	 * right to create triggers). */
	int (*check_plan)(struct mg_conn *c, const struct mg_planner *pl,
			  struct mg_err *err);
	/* MG_CAP_PLACEHOLDER_NOT_NULL: a value of type every row can hold
	 * while nothing real is in a NOT NULL column (SQL, owned), or NULL
	 * when the type has none. */
	char *(*placeholder_value)(struct mg_conn *c, const char *type);
	/*
	 * Attribute operations (src/planner_attrs.c). describe_constraint:
	 * the constraint name of t now: 0 found (out filled, with what
	 * needs it), 1 absent, -1 error. name_taken: whether a constraint
	 * like `like` could not be renamed to name on t (a constraint, or
	 * an index the rename would clash with): 0 free, 1 taken (*what:
	 * "index public.x", owned). describe_table_attrs: t's comment and
	 * replica identity. check_attr: what this database asks of the
	 * operation beyond the catalog (an ALTER it can only do by a rebuild
	 * or a copy, refused naming allow_rebuild/allow_copy; a replica
	 * identity it has no such thing as): MG_EREFUSED or MG_EINPUT at
	 * the operation's position.
	 */
	int (*describe_constraint)(struct mg_conn *c, const struct mg_planner *pl,
				   const struct mg_table_desc *t, const char *name,
				   struct mg_constraint_desc *out, struct mg_err *err);
	int (*name_taken)(struct mg_conn *c, const struct mg_planner *pl,
			  const struct mg_table_desc *t, const char *name,
			  const struct mg_constraint_desc *like, char **what,
			  struct mg_err *err);
	int (*describe_table_attrs)(struct mg_conn *c, const struct mg_planner *pl,
				    const struct mg_table_desc *t,
				    struct mg_table_attrs *out, struct mg_err *err);
	int (*check_attr)(struct mg_conn *c, const struct mg_planner *pl,
			  const struct mg_attr *a, struct mg_err *err);
	/* Notes plan shows (triggers a backfill fires, lock impact), added
	 * with mg_plan_add_note after every step is rendered. */
	void (*plan_notes)(struct mg_conn *c, const struct mg_planner *pl,
			   struct mg_plan *out);
	/* Replication lag of the slowest replica in ms (0 without replicas;
	 * clients that never replay, such as pg_receivewal, are not
	 * replicas); -1 with err when it cannot be read. */
	int (*replication_lag_ms)(struct mg_conn *c, int64_t *out,
				  struct mg_err *err);
	/* Sessions of the target database running a statement now, not
	 * counting migrate's own. Sessions whose state this role cannot see
	 * count as active (fail closed); *hidden says how many of them. */
	int (*active_sessions)(struct mg_conn *c, int64_t *out, int64_t *hidden,
			       struct mg_err *err);
	/* Sessions of the server waiting now for a row lock (or a
	 * transaction's lock) another session holds, not counting migrate's
	 * own: what backfill --max-lock-waits reads. */
	int (*lock_waits)(struct mg_conn *c, int64_t *out, struct mg_err *err);
	/* Client sessions whose names match the glob pattern and none of
	 * the n_except globs in except (NULL when none), migrate's own
	 * never counted. Not needed with count_sessions_by_place (the core
	 * sums that). */
	int (*count_sessions)(struct mg_conn *c, const char *pattern,
			      char *const *except, size_t n_except,
			      int64_t *out, struct mg_err *err);
	/*
	 * Optional (NULL: no breakdown, the core sees one place): the same
	 * count place by place, from the same walk, one query per place:
	 * the primary first, then every other place the URL names or the
	 * server lists (standbys, poolers, replicas), each with its count,
	 * 0 included; the sum is the count (mg_db_count_sessions). out starts empty;
	 * on failure (-1, err naming the place) it is released.
	 */
	int (*count_sessions_by_place)(struct mg_conn *c, const char *pattern,
				       char *const *except, size_t n_except,
				       struct mg_place_counts *out, struct mg_err *err);
	/*
	 * Optional (NULL: steps run without a word until they end): while
	 * run_step builds an index, call fn(arg, progress) every few seconds
	 * (MG_STEP_WATCH_MS) with what the build does, read on a second
	 * connection. fn = NULL stops watching. fn runs on the thread that
	 * runs the step and must not use the connection.
	 */
	void (*watch_steps)(struct mg_conn *c, mg_step_progress_fn fn, void *arg);
	/*
	 * Lint (issue 14), offline: no connection. What text (a sql step's
	 * statements, an expression or a type, as kind says) does, appended
	 * to out, each fact with its byte offset in text. Text that does not
	 * parse is an MG_FACT_SYNTAX_ERROR fact, never a failure. NULL: the
	 * driver reads no SQL (lint's file rules still apply).
	 */
	void (*lint_sql)(const char *text, enum mg_lint_text kind,
			 struct mg_sql_facts *out);
};

extern const struct mg_driver mg_postgres_driver;
extern const struct mg_driver mg_mysql_driver;
/* Every driver of this build, NULL-terminated (drivers/drivers.c; a unit
 * test links its own table, e.g. one fake driver). */
extern const struct mg_driver *const mg_drivers[];

/*
 * The error of a lost migrate lock (MG_EDB): "lost the advisory lock: its
 * session (<session>) <what>" plus the server's words in cause (may be
 * NULL), and the hint to re-run. The one wording both drivers use. -1.
 */
int mg_err_lock_lost(struct mg_err *err, const char *session, const char *what,
		     const char *cause);
/* The hint when another session holds the lock: never "kill it" first,
 * for the holder is most likely a live runner. */
#define MG_LOCK_HELD_HINT "another migrate is running: wait for it to finish (check its CI job or terminal) and run the command again; a runner that died lets go of the lock as soon as its connection closes, so end that session only after making sure its runner is gone"

/* The hint of an error that ended the session (server restart, terminated
 * backend, KILL): nothing is lost, the next run resumes. */
#define MG_SESSION_ENDED_HINT "the session ended (server restart, terminated session or network): run the same command again, it resumes where it stopped"

/* Does err say the lock was lost (set by mg_err_lock_lost)? */
int mg_err_is_lock_lost(const struct mg_err *err);

/*
 * A copy of a database URL or libpq conninfo with any password replaced by
 * "****" (user:pass@ in URLs, password=... in conninfo), by every driver's
 * rules at once (drivers/redact.c). NULL gives "". Caller frees.
 */
char *mg_redact_url(const char *url);

/* The driver for url, or NULL (err MG_EINPUT naming the scheme). */
const struct mg_driver *mg_driver_for_url(const char *url, struct mg_err *err);

/*
 * The name length limit to load migrations with: that of url's driver, or
 * when url is NULL or no driver takes it (check --offline without a
 * database, a URL refused later on connect) the strictest of all drivers,
 * so that a file that loads fits every database.
 */
size_t mg_driver_name_limit(const char *url);

/* The connected driver's help note n, or NULL when it has none. */
const char *mg_db_help_note(struct mg_conn *c, enum mg_help_note n);

/* Every driver's help note n, in table order, joined with "; " (nothing
 * when none has one). */
void mg_driver_help_note(struct mg_buf *out, enum mg_help_note n);

/* Every driver's url_help, in table order, as one phrase: "A, or B";
 * "A, B, or C". */
void mg_driver_url_help(struct mg_buf *out);

/* The driver named name ("postgres", "mysql"), or NULL. */
const struct mg_driver *mg_driver_named(const char *name);

/* ---- wrappers the core calls --------------------------------------------- */

/* d's lint_sql, or nothing when d has none (offline: no connection). */
void mg_driver_lint_sql(const struct mg_driver *d, const char *text,
			enum mg_lint_text kind, struct mg_sql_facts *out);

int mg_db_connect(struct mg_conn **out, const char *url,
		  const struct mg_conn_opts *opts, struct mg_err *err);
void mg_db_close(struct mg_conn *c);
int mg_db_exec(struct mg_conn *c, const char *sql, struct mg_err *err);
int mg_db_query(struct mg_conn *c, const char *sql, struct mg_rows *out,
		struct mg_err *err);
/* The target's identity, the advisory lock and the history table: the
 * methods of the same names (unlock is quiet: it runs on the way out). */
int mg_db_fingerprint(struct mg_conn *c, struct mg_buf *out, struct mg_err *err);
int mg_db_lock(struct mg_conn *c, struct mg_err *err);
void mg_db_unlock(struct mg_conn *c);
int mg_db_history_read(struct mg_conn *c, struct mg_history *out,
		       struct mg_err *err);
int mg_db_history_write(struct mg_conn *c, const struct mg_history_write *w,
			struct mg_err *err);
int mg_db_check_blockers(struct mg_conn *c, const char *const *tables,
			 size_t n, struct mg_err *err);
/* The backfill methods. backfill_split may be NULL: the range is not cut
 * (*bounds NULL, *n 0) and one worker copies it. */
int mg_db_backfill_bounds(struct mg_conn *c, const struct mg_backfill_spec *s,
			  char ***upto_key, int64_t *estimate, struct mg_err *err);
int mg_db_backfill_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int batch_size, struct mg_batch_result *out,
			 struct mg_err *err);
int mg_db_backfill_split(struct mg_conn *c, const struct mg_backfill_spec *s,
			 char *const *after_key, char *const *upto_key,
			 int pieces, char ****bounds, size_t *n,
			 struct mg_err *err);
int mg_db_verify_batch(struct mg_conn *c, const struct mg_backfill_spec *s,
		       char *const *after_key, int batch_size, int sample,
		       int64_t *mismatches, struct mg_strlist *sample_keys,
		       char ***last_key, struct mg_err *err);
int mg_db_analyze(struct mg_conn *c, const char *table, struct mg_err *err);
/* Optional session counts: without the method, -1 with MG_EDB "not
 * supported by the driver" (active_sessions; --max-load then pauses) or
 * "the driver cannot list sessions" (count_sessions; a colour whose
 * sessions cannot be seen counts as alive). */
int mg_db_active_sessions(struct mg_conn *c, int64_t *out, int64_t *hidden,
			  struct mg_err *err);
int mg_db_count_sessions(struct mg_conn *c, const char *pattern, int64_t *out,
			 struct mg_err *err);
/* The same, not counting sessions that also match one of the n_except
 * globs (a colour's sessions that a newer colour claims). */
int mg_db_count_sessions_except(struct mg_conn *c, const char *pattern,
				char *const *except, size_t n_except, int64_t *out,
				struct mg_err *err);
/* The same count place by place (count_sessions_by_place; without the
 * method, one place "server" holding count_sessions' answer). out is
 * released first and, on failure, left empty. */
int mg_db_count_sessions_by_place(struct mg_conn *c, const char *pattern,
				  char *const *except, size_t n_except,
				  struct mg_place_counts *out, struct mg_err *err);
/* Optional: without the method, -1 with MG_EDB "not supported by the
 * driver" (--max-lock-waits then pauses, like --max-load). */
int mg_db_lock_waits(struct mg_conn *c, int64_t *out, struct mg_err *err);
/* Watch long steps (see watch_steps); nothing when the driver cannot. */
void mg_db_watch_steps(struct mg_conn *c, mg_step_progress_fn fn, void *arg);
/* Replication lag; in test builds MIGRATE_TEST_LAG_MS=<n|unknown> replaces
 * what the server reports (the throttle code path stays the same). The
 * mysql driver's test hook MIGRATE_TEST_MYSQL_DIALECT=1 (mysql/conn.c,
 * set_dialect) plans for MySQL 8.0.29+ on MariaDB. */
int mg_db_replication_lag_ms(struct mg_conn *c, int64_t *out, struct mg_err *err);
/* The lock's session (lock_holder), whether it is gone after a failure
 * (lock_lost: 0 when the driver cannot tell) and the guard now (lock_check:
 * 0 when the driver has none). */
int mg_db_lock_holder(struct mg_conn *c, struct mg_buf *out, struct mg_err *err);
int mg_db_lock_lost(struct mg_conn *c, struct mg_err *err);
int mg_db_lock_check(struct mg_conn *c, struct mg_err *err);
/* Run a step, trying again while it fails waiting for its locks
 * (src/lockretry.c); in test builds MIGRATE_FAULT=<phase>:<index> kills
 * the process right after step <index> of <phase> committed. */
int mg_db_run_step(struct mg_conn *c, enum mg_plan_phase phase, int index,
		   const struct mg_step *s, const struct mg_history_write *w,
		   struct mg_step_report *rep, struct mg_err *err);


/* Planning (planner.h): the core's only way to the methods above. The
 * optional ones default to: nothing to open or close, nothing to check,
 * no notes. */
void mg_db_quote_ident(struct mg_conn *c, struct mg_buf *out, const char *name);
int mg_db_plan_begin(struct mg_conn *c, struct mg_planner *pl, struct mg_err *err);
int mg_db_plan_end(struct mg_conn *c, struct mg_planner *pl, int failed,
		   struct mg_err *err);
int mg_db_describe_table(struct mg_conn *c, const struct mg_planner *pl,
			 const struct mg_op *op, struct mg_table_desc *out,
			 struct mg_err *err);
int mg_db_describe_column(struct mg_conn *c, const struct mg_planner *pl,
			  const struct mg_table_desc *t, const char *name,
			  struct mg_column_desc *out, struct mg_err *err);
int mg_db_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
			    const struct mg_table_desc *t, const char *col,
			    const struct mg_column_desc *cd,
			    struct mg_dependents *out, struct mg_err *err);
int mg_db_check_expr(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_table_desc *t, enum mg_expr_use use,
		     const char *expr, struct mg_pos pos, struct mg_err *err);
int mg_db_canonical_type(struct mg_conn *c, const struct mg_planner *pl,
			 const struct mg_op *op, char **out, struct mg_err *err);
int mg_db_check_index(struct mg_conn *c, const struct mg_planner *pl,
		      const struct mg_op *op, const struct mg_table_desc *t,
		      struct mg_err *err);
int mg_db_check_sql(struct mg_conn *c, struct mg_planner *pl,
		    const struct mg_op *op, struct mg_err *err);
int mg_db_check_rule(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_op *op, const struct mg_table_desc *t,
		     const struct mg_column_desc *cd, struct mg_err *err);
int mg_db_check_plan(struct mg_conn *c, const struct mg_planner *pl,
		     struct mg_err *err);
/* Without the method: no dependents, nothing to check. */
int mg_db_table_dependents(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_table_desc *t, int by_name,
			   struct mg_dependents *out, struct mg_err *err);
int mg_db_check_table_op(struct mg_conn *c, struct mg_planner *pl,
			 const struct mg_tableop *top, struct mg_err *err);
/* Attribute operations: without describe_constraint or
 * describe_table_attrs, MG_EREFUSED at the operation ("not supported by
 * the driver"); without name_taken nothing is taken; without check_attr
 * nothing to check. */
int mg_db_describe_constraint(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_table_desc *t, const char *name,
			      struct mg_constraint_desc *out, struct mg_err *err);
int mg_db_name_taken(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_table_desc *t, const char *name,
		     const struct mg_constraint_desc *like, char **what,
		     struct mg_err *err);
int mg_db_describe_table_attrs(struct mg_conn *c, const struct mg_planner *pl,
			       const struct mg_table_desc *t,
			       struct mg_table_attrs *out, struct mg_err *err);
int mg_db_check_attr(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_attr *a, struct mg_err *err);
/* NULL when the driver has no placeholder_value. */
char *mg_db_placeholder_value(struct mg_conn *c, const char *type);
int mg_db_render(struct mg_conn *c, const struct mg_render *r,
		 struct mg_plan *out, struct mg_err *err);
void mg_db_plan_notes(struct mg_conn *c, const struct mg_planner *pl,
		      struct mg_plan *out);

#endif
