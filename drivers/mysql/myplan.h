/*
 * myplan.h - private to the MySQL/MariaDB driver's planning (drivers/mysql/driver.c's
 * driver table and mysql/catalog.c, dialect.c, triggers.c, render.c): the
 * catalog's descriptions, the MySQL view of a table plan, and the helpers
 * these files share. The core's side is src/planner.h.
 */
#ifndef MG_MYPLAN_H
#define MG_MYPLAN_H

#include "mysql/my.h"
#include "planner.h"

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

/* MYDRV_ALG_* and MYDRV_START_TX: mysql/my.h (the runner reads them too) */

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
	/* type changes in place: RENAME COLUMN `tmp` TO `c` in the ALTER
	 * that drops the old columns, the temporary columns' raw names (the
	 * guard: all go in that one statement), their final defaults */
	struct mg_strlist renames;
	struct mg_strlist renamed;
	struct mg_strlist inplace_defaults;
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

/* Shared between the planning files, by the short names they had in one
 * file (function-like: struct mytable has a member lit). */
#define qi(...) mydrv_qi(__VA_ARGS__)
#define lit(...) mydrv_lit(__VA_ARGS__)
#define mkname(...) mydrv_mkname(__VA_ARGS__)
#define others_sql(...) mydrv_others_sql(__VA_ARGS__)
#define add_guarded(...) mydrv_add_guarded(__VA_ARGS__)
#define index_exists_in(...) mydrv_index_exists_in(__VA_ARGS__)
#define column_exists_in(...) mydrv_column_exists_in(__VA_ARGS__)
#define dialect_alter(...) mydrv_dialect_alter(__VA_ARGS__)
#define join_alter(...) mydrv_join_alter(__VA_ARGS__)
#define alter_stmt(...) mydrv_alter_stmt(__VA_ARGS__)
#define alter_one(...) mydrv_alter_one(__VA_ARGS__)
#define trigger_name(...) mydrv_trigger_name(__VA_ARGS__)
#define follows_clause(...) mydrv_follows_clause(__VA_ARGS__)
#define render_insert_trigger(...) mydrv_render_insert_trigger(__VA_ARGS__)
#define render_update_trigger(...) mydrv_render_update_trigger(__VA_ARGS__)
#define render_drop_triggers(...) mydrv_render_drop_triggers(__VA_ARGS__)
#define emit_dialect_triggers(...) mydrv_emit_dialect_triggers(__VA_ARGS__)

/* catalog.c: names, literals, the planner's questions */
char *qi(const char *name);
char *lit(struct mydrv_conn *mc, const char *s);
char *mkname(const char *base, const char *suffix);
char *others_sql(struct mydrv_conn *mc, const struct mytable *t, const char *col);
int mydrv_column_dependents(struct mg_conn *c, const struct mg_planner *pl,
			    const struct mg_table_desc *t, const char *col,
			    const struct mg_column_desc *cd, struct mg_dependents *out,
			    struct mg_err *err);
int mydrv_describe_table(struct mg_conn *c, const struct mg_planner *core,
			 const struct mg_op *op, struct mg_table_desc *out,
			 struct mg_err *err);
int mydrv_describe_column(struct mg_conn *c, const struct mg_planner *core,
			  const struct mg_table_desc *t, const char *name,
			  struct mg_column_desc *out, struct mg_err *err);
int mydrv_check_expr(struct mg_conn *c, const struct mg_planner *core,
		     const struct mg_table_desc *t, enum mg_expr_use use,
		     const char *expr, struct mg_pos pos, struct mg_err *err);
int mydrv_canonical_type(struct mg_conn *c, const struct mg_planner *core,
			 const struct mg_op *op, char **out, struct mg_err *err);
char *mydrv_placeholder_value(struct mg_conn *c, const char *type);
int mydrv_check_index(struct mg_conn *c, const struct mg_planner *core,
		      const struct mg_op *op, const struct mg_table_desc *t,
		      struct mg_err *err);
int mydrv_check_plan(struct mg_conn *c, const struct mg_planner *core, struct mg_err *err);
int mydrv_plan_begin(struct mg_conn *c, struct mg_planner *core, struct mg_err *err);
/* dialect.c */
void add_guarded(struct mydrv_conn *mc, struct mg_buf *b, const char *cond,
		 const char *stmt);
char *index_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name);
char *column_exists_in(struct mydrv_conn *mc, const char *tlit, const char *name);
void dialect_alter(struct mydrv_conn *mc, struct mg_buf *b, const char *table_q,
		   const char *tlit, const struct mg_strlist *parts, const char *extra,
		   const char *algorithm, const char *outer, struct mg_buf *split_set);
void join_alter(struct mg_buf *b, const char *table, const struct mg_strlist *parts,
		const char *extra, const char *algorithm);
void alter_stmt(const struct planner *pl, struct mg_buf *b, const char *table_q,
		const char *tlit, const struct mg_strlist *parts, const char *extra,
		const char *algorithm);
void alter_one(const struct planner *pl, struct mg_buf *b, const char *table_q,
	       const char *tlit, const char *clause, const char *algorithm);
/* catalog_index.c: check_index's create_index options and drop_index */
int mydrv_check_index_options(struct planner *pl, const struct mg_op *op,
			      const struct mytable *t, struct mg_err *err);
int mydrv_check_drop_index(struct planner *pl, const struct mg_op *op,
			   const struct mytable *t, struct mg_err *err);
/* render_index.c: create_index's build, its drop at rollback, drop_index's
 * drop at contract (phase), and their notes */
void mydrv_emit_index_op(struct planner *pl, const struct mg_op *op, const struct mytable *t);
void mydrv_emit_index_drop(struct planner *pl, const struct mg_op *op, const struct mytable *t,
			   enum mg_plan_phase phase);
void mydrv_emit_index_notes(struct planner *pl, const struct mg_op *op, const struct mytable *t);
/* triggers.c */
char *trigger_name(const struct planner *pl, const struct tplan *tp, const char *event);
char *follows_clause(struct planner *pl, const struct tplan *tp, const char *event,
		     struct mg_err *err);
void render_insert_trigger(struct mg_buf *b, const struct planner *pl,
			   const struct tplan *tp, const char *follows, int transitional,
			   const char *create, const char *suffix, int marked_passes);
void render_update_trigger(struct mg_buf *b, const struct planner *pl,
			   const struct tplan *tp, const char *follows);
void render_drop_triggers(struct mg_buf *b, const struct planner *pl, const struct tplan *tp);
int emit_dialect_triggers(struct planner *pl, struct tplan *tp, struct mg_buf *b,
			  struct mg_err *err);
/* catalog_attrs.c, render_attrs.c: the attribute operations */
int mydrv_describe_constraint(struct mg_conn *c, const struct mg_planner *pl,
			      const struct mg_table_desc *t, const char *name,
			      struct mg_constraint_desc *out, struct mg_err *err);
int mydrv_name_taken(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_table_desc *t, const char *name,
		     const struct mg_constraint_desc *like, char **what,
		     struct mg_err *err);
int mydrv_describe_table_attrs(struct mg_conn *c, const struct mg_planner *pl,
			       const struct mg_table_desc *t, struct mg_table_attrs *out,
			       struct mg_err *err);
int mydrv_check_attr(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_attr *a, struct mg_err *err);
int mydrv_null_is_instant(struct mydrv_conn *mc, const struct mytable *t, int *out,
			  struct mg_err *err);
int mydrv_render_attr(struct planner *pl, const struct mg_render *r, struct mg_err *err);
void mydrv_attr_notes(struct planner *pl);
/* rules.c: the rules on existing columns (src/planner_rules.c) */
void mydrv_fix_trigger(struct mg_buf *b, const struct tplan *tp, int update);
void mydrv_fix_backfill(struct mg_buf *set, struct mg_buf *mm, const struct tplan *tp);
void mydrv_render_rule(struct planner *pl, const struct tplan *tp, const struct mg_render *r);
int mydrv_check_rule(struct mg_conn *c, const struct mg_planner *core, const struct mg_op *op,
		     const struct mg_table_desc *t, const struct mg_column_desc *cd,
		     struct mg_err *err);
/* render.c */
void mydrv_plan_notes(struct mg_conn *c, const struct mg_planner *core, struct mg_plan *out);
int mydrv_render(struct mg_conn *c, const struct mg_render *r, struct mg_plan *out,
		 struct mg_err *err);

/* tables.c: create_table, drop_table, rename_table */
int mydrv_table_dependents(struct mg_conn *c, const struct mg_planner *pl,
			   const struct mg_table_desc *t, int by_name,
			   struct mg_dependents *out, struct mg_err *err);
int mydrv_check_table_op(struct mg_conn *c, struct mg_planner *pl,
			 const struct mg_tableop *top, struct mg_err *err);
int mydrv_render_table_op(struct planner *pl, const struct mg_render *r);

static inline void planner_init(struct planner *pl, struct mg_conn *c,
				const struct mg_planner *core, struct mg_plan *plan)
{
	pl->mc = downcast(c);
	pl->core = core;
	pl->m = core->m;
	pl->plan = plan;
	pl->marker_raw = core->marker;
}

static inline const struct mytable *mytable_of(const struct mg_table_desc *t)
{
	return t->drv;
}

static inline const struct mycolumn *mycolumn_of(const struct mg_column_desc *c)
{
	return c->drv;
}

#endif
