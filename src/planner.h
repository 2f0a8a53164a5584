/*
 * planner.h - the driver-neutral planner: what a migration does to each
 * table in each phase (issue 12).
 *
 * The core (src/planner*.c) walks the migration's operations, asks the
 * driver narrow questions about the catalog (driver.h: describe_table,
 * describe_column, column_dependents, check_expr, canonical_type ...),
 * and builds ONE table plan per table: the table as the driver described
 * it, the column pairs the dual-write triggers keep in step, the
 * dependents found, and lists of primitives (add column, copy constraint,
 * copy index, validate, set default, set not null, drop dependent, drop
 * column ...) filed by the moment they run (enum mg_slot). Every decision
 * lives here: which operation needs which primitives, what is refused
 * and with which message, what is lossy, and the order of the steps of
 * each phase (capability bits decide where databases differ). The driver
 * then renders each step (render(): one table's transaction, one index
 * build, one validation ...) as SQL into the plan.
 *
 * Ownership: a struct mg_planner owns its table plans, which own their
 * descriptions, dependents and primitives; mg_planner_release(). The
 * void *drv pointers of descriptions are the driver's: the core frees
 * them through the drv_free function the driver set beside them.
 */
#ifndef MG_PLANNER_H
#define MG_PLANNER_H

#include <stddef.h>
#include "util.h"
#include "migration.h"
#include "plan.h"

struct mg_conn;

/* ---- what the driver answers -------------------------------------------- */

/* A key the backfill walks: quoted column names and their types. */
struct mg_key {
	size_t n;
	char **cols;		/* quoted */
	char **types;		/* as the server spells them (checkpoint casts) */
};

/* describe_table's answer. */
struct mg_table_desc {
	char *id;		/* identity: two names of one table share it */
	char *q;		/* quoted, qualified name, for SQL and messages */
	char *relname;		/* the table's own name, raw (trigger names) */
	struct mg_key key;	/* the backfill key; n == 0 when there is none */
	const char *key_problem;	/* static text: why no key, or NULL */
	size_t max_ident;	/* longest identifier the database takes, bytes */
	int utf8_names;		/* names are cut at a UTF-8 character boundary */
	void *drv;		/* the driver's own data about the table */
	void (*drv_free)(void *drv);	/* frees drv; may be NULL */
};

/* describe_column's answer. */
struct mg_column_desc {
	char *type;		/* as the server spells it */
	char *collation;	/* quoted, NULL for the type's default */
	int notnull;
	char *default_expr;	/* NULL: no default */
	char *comment;		/* NULL: none */
	/* static text completing "column 'c' of t ...: not supported" when
	 * migrate cannot replace or drop the column ("is an identity
	 * column"), else NULL */
	const char *unsupported;
	void *drv;		/* the driver's own data about the column */
	void (*drv_free)(void *drv);
};

/* A dependent of a column (column_dependents). */
enum mg_dep_kind {
	MG_DEP_OBJECT,		/* view, policy, trigger, generated column ...:
				 * not carried over; dropped at contract when
				 * listed under drops: and droppable */
	MG_DEP_CODE,		/* a trigger whose code names the column */
	MG_DEP_GRANT,		/* a privilege on the column */
	MG_DEP_INDEX,		/* an index over it that no constraint owns */
	MG_DEP_CHECK,		/* a CHECK constraint over it */
	MG_DEP_UNIQUE,		/* a UNIQUE constraint over it */
	MG_DEP_FOREIGN_KEY,	/* a foreign key of the table over it */
	MG_DEP_CONSTRAINT,	/* another constraint (primary key, exclusion) */
	MG_DEP_INBOUND_FK	/* a foreign key of another table referencing it */
};

struct mg_dependent {
	enum mg_dep_kind kind;
	char *name;		/* raw, as drops: lists it */
	char *what;		/* for messages: "view public.v"; CODE: the function */
	char *def;		/* the driver's definition (index, constraint, privilege) */
	char *child;		/* INBOUND_FK: the referencing table, quoted;
				 * GRANT: the grantee, quoted; OBJECT: a
				 * view's qualified name, quoted (else "") */
	int unique;		/* INDEX: unique; GRANT: with grant option */
	int droppable;		/* OBJECT: migrate can drop it at contract */
	void *drv;
	void (*drv_free)(void *drv);
};

struct mg_dependents {
	struct mg_dependent *v;
	size_t n, alloc;
	/* Words of the refusal of OBJECT dependents the driver may set (NULL:
	 * the core's): a tail after "which migrate cannot carry over", and
	 * the hint. Static text. */
	const char *refusal_tail;
	const char *refusal_hint;
};

/* Append a zeroed dependent of this kind (the driver fills it). */
struct mg_dependent *mg_dependents_add(struct mg_dependents *d,
				       enum mg_dep_kind kind);
void mg_dependents_release(struct mg_dependents *d);

/* What check_expr checks. The catalog an expression sees (planner.h's
 * overlay): ROW the old row, as the old version writes it: columns
 * earlier operations drop or rename are in it until contract, columns
 * they add are not (the backfill computes every new column from the row
 * as it was: refused with mg_overlay_refuse); WHERE the table as it will
 * be: columns added earlier are in it, columns dropped or renamed away
 * are not (refused likewise). */
enum mg_expr_use {
	MG_EXPR_TEXT,		/* one expression, lexically (a down) */
	MG_EXPR_ROW,		/* one expression over the old row (up,
				 * backfill, default) */
	MG_EXPR_WHERE,		/* a boolean over the table as it will be
				 * (create_index where:) */
	MG_EXPR_NEW_ROW		/* one expression over the new row (down),
				 * as WHERE sees the table: checked after the
				 * operation recorded its own changes, so its
				 * new column is in it and the column it
				 * computes is not */
};

/* describe_constraint's answer (drop_constraint, rename_constraint). */
enum mg_con_kind {
	MG_CON_PRIMARY_KEY,
	MG_CON_UNIQUE,
	MG_CON_CHECK,
	MG_CON_FOREIGN_KEY,
	MG_CON_OTHER		/* exclusion ... */
};

struct mg_constraint_desc {
	enum mg_con_kind kind;
	char *def;		/* as the server prints it (messages) */
	/* what needs it: foreign keys of other tables (INBOUND_FK) over the
	 * index a primary key or unique constraint owns */
	struct mg_dependents deps;
	void *drv;		/* the driver's own data (MySQL: columns) */
	void (*drv_free)(void *drv);
};

/* describe_table_attrs' answer. */
struct mg_table_attrs {
	char *comment;		/* NULL: none */
	char *identity;		/* replica identity: "default", "full",
				 * "nothing", "index"; NULL where the
				 * database has no such thing */
	char *identity_index;	/* raw, with "index" */
};

/* ---- what the core builds ----------------------------------------------- */

/* MG_PAIR_SHADOW: a type change in place. Both versions write the old
 * column; the new one (a temporary name) is up over the row on every
 * insert and update, whoever writes; it has no down. */
/*
 * MG_PAIR_FIX (the rules of issue 13: set_not_null, add_check,
 * add_unique, add_foreign_key): one column that keeps its name; a row
 * that breaks op's rule gets column := up, in the trigger (every write,
 * before the server checks its constraints) and in the backfill (the
 * rows already there). old_col == new_col: the column; down NULL, or for
 * add_foreign_key the referenced table as the catalog names it (quoted,
 * qualified; also the `text` of its primitives). The
 * driver writes "the row breaks the rule" from op (enum mg_op_kind) and,
 * for add_unique, the table's key (the first row in key order keeps its
 * value).
 */
enum mg_pair_kind { MG_PAIR_REPLACE, MG_PAIR_ADD, MG_PAIR_DROP,
		    MG_PAIR_SHADOW, MG_PAIR_FIX };

/* One column pair the dual-write trigger keeps in step. */
struct mg_pair {
	enum mg_pair_kind kind;
	char *old_col;		/* raw name, NULL for MG_PAIR_ADD */
	char *new_col;		/* raw name, NULL for MG_PAIR_DROP */
	char *up;		/* SQL over the old row, may be NULL */
	char *down;		/* SQL over the new row, may be NULL */
	const struct mg_op *op;	/* MG_PAIR_FIX: the rule's operation */
};

/* The primitives of a table plan. Fields each kind uses are named. */
enum mg_prim_kind {
	MG_PRIM_ADD_COLUMN,	/* column, type, collation, old (replace), op */
	MG_PRIM_COPY_CONSTRAINT,	/* name: the copy; dep, renames; dep NULL:
					 * a CHECK (column IS NOT NULL) */
	MG_PRIM_COMMENT,	/* column, text */
	MG_PRIM_GRANT,		/* column (the new one), dep */
	MG_PRIM_COPY_INDEX,	/* name: the copy; dep (INDEX or UNIQUE), renames */
	MG_PRIM_VALIDATE,	/* name: a constraint copy of the table */
	MG_PRIM_COPY_INBOUND_FK,	/* name: the copy on dep->child; dep, renames */
	MG_PRIM_VALIDATE_INBOUND_FK,	/* name: the copy on dep->child; dep */
	MG_PRIM_ASSERT_NO_DEPENDENTS,	/* column, op: nothing new depends on it */
	MG_PRIM_DROP_DEPENDENT,	/* dep: OBJECT/CODE listed under drops:, or
				 * the INBOUND_FK of a replaced column, or
				 * (MG_CAP_EXPLICIT_INDEX_DROPS) an INDEX
				 * over a replaced or dropped column */
	MG_PRIM_DROP_COLUMN,	/* column */
	MG_PRIM_SET_NOT_NULL,	/* column; name: the CHECK copy to drop after */
	MG_PRIM_SET_DEFAULT,	/* column, text */
	MG_PRIM_FINISH_CONSTRAINT,	/* name: the copy, renamed to dep->name */
	MG_PRIM_FINISH_INDEX,	/* name: the copy, renamed to dep->name (or,
				 * UNIQUE, the constraint added using it) */
	MG_PRIM_FINISH_INBOUND_FK,	/* name: the copy on dep->child, renamed */
	MG_PRIM_DROP_INBOUND_COPY,	/* name: the copy on dep->child (rollback) */
	MG_PRIM_RENAME_COLUMN,	/* contract, after the drops: column (the
				 * temporary one of a type change in place)
				 * renamed to name, in the transaction that
				 * dropped the old column; guarded: done once */
	/* the rules (planner_rules.c); op says which, name is the rule's
	 * (for set_not_null: the CHECK (column IS NOT NULL) that goes
	 * before it), column the one `up` writes, old its description */
	MG_PRIM_ADD_RULE,	/* expand (NOT VALID), in the table's transaction */
	MG_PRIM_RULE_HELPER,	/* add_unique: a plain index over the columns
				 * built at expand for the duplicate lookups
				 * of the trigger and the backfill; name */
	MG_PRIM_RULE,		/* switch-reads: the rule takes effect (SET
				 * NOT NULL after the valid CHECK; the unique
				 * index and constraint; where there is no NOT
				 * VALID, the ALTER that adds it), own steps */
	MG_PRIM_DROP_RULE	/* rollback: the rule (and helper) removed,
				 * own steps before the table's rollback */
};

struct mg_prim {
	enum mg_prim_kind kind;
	const struct mg_op *op;		/* the operation it comes from */
	char *column;			/* raw */
	char *name;			/* raw name of a copy (mg_planner_name) */
	char *type;			/* ADD_COLUMN */
	char *collation;		/* ADD_COLUMN: quoted, or NULL */
	char *text;			/* COMMENT, SET_DEFAULT; ADD_COLUMN and
					 * DROP_COLUMN (contract) under
					 * MG_CAP_PLACEHOLDER_NOT_NULL: the
					 * placeholder default, or NULL */
	int notnull;			/* ADD_COLUMN under
					 * MG_CAP_PLACEHOLDER_NOT_NULL: NOT NULL */
	const struct mg_dependent *dep;	/* owned by the table plan */
	/* ADD_COLUMN of a replace, DROP_COLUMN at contract: the old column */
	const struct mg_column_desc *old;
	/* renames in dep's definition, in order: from[i] becomes to[i]
	 * (an index over two replaced columns is copied once) */
	struct mg_strlist from, to;
};

/* When a table's primitives run. */
enum mg_slot {
	MG_SLOT_ADD_COLUMNS,	/* expand: columns added (ADD_COLUMN) */
	MG_SLOT_EXPAND,		/* expand, after them: copies NOT VALID,
				 * comments, grants */
	MG_SLOT_INDEX_COPIES,	/* COPY_INDEX, each built on its own */
	MG_SLOT_VALIDATE,	/* switch-reads: VALIDATE, each on its own */
	MG_SLOT_INBOUND,	/* switch-reads: COPY_INBOUND_FK, one transaction */
	MG_SLOT_INBOUND_VALIDATE,	/* switch-reads: VALIDATE_INBOUND_FK */
	MG_SLOT_DEP_CHECKS,	/* contract, first: ASSERT_NO_DEPENDENTS */
	MG_SLOT_CONTRACT_PRE,	/* contract transaction: before the drops */
	MG_SLOT_CONTRACT_COLUMNS,	/* contract: DROP_COLUMN */
	MG_SLOT_CONTRACT_POST,	/* contract: after the drops */
	MG_SLOT_ROLLBACK_PRE,	/* rollback transaction: before the drops */
	MG_SLOT_ROLLBACK_COLUMNS,	/* rollback: DROP_COLUMN */
	MG_SLOT_RULES_EXPAND,	/* expand, after the tables: RULE_HELPER */
	MG_SLOT_RULES,		/* switch-reads, after VALIDATE: RULE */
	MG_SLOT_ROLLBACK_RULES,	/* rollback, before the table: DROP_RULE */
	MG_NSLOTS
};

struct mg_prims {
	struct mg_prim **v;
	size_t n, alloc;
};

/* Everything one migration does to one table. */
struct mg_tplan {
	struct mg_table_desc t;
	size_t first_op;		/* index of its first operation */
	struct mg_pair *pairs;
	size_t n_pairs, alloc_pairs;
	int has_marker;			/* a pair has an up: rows get a marker */
	struct mg_strlist children;	/* quoted tables whose FKs reference it */
	struct mg_dependents **depsets;	/* every dependent found, owned */
	size_t n_depsets, alloc_depsets;
	struct mg_column_desc **cols;	/* columns described for replaces, owned */
	size_t n_cols, alloc_cols;
	struct mg_prims slot[MG_NSLOTS];
	void *drv;			/* the driver's, set while rendering */
	void (*drv_free)(void *drv);
};

/*
 * The catalog as it will be (src/planner_overlay.c): a column an earlier
 * operation of the migration adds, or removes from the new version's view
 * (drops, renames or replaces). Entries are in file order; the latest
 * entry of a column is its state. Operations record what they change with
 * mg_overlay_add_column() / mg_overlay_remove_column(); checks read it
 * with mg_overlay_find().
 */
struct mg_overlay_col {
	char *table_id;
	char *column;
	char *table_q;		/* the table's quoted, qualified name (SQL) */
	char *type;		/* added: as the server spells it (with a
				 * COLLATE clause where it has one), or NULL */
	char *renamed_to;	/* removed by a rename or replace: the new
				 * column's name; NULL: dropped */
	const struct mg_op *op;	/* the operation that added or removed it */
	int replaced;		/* 1: replaced or dropped, 0: added */
};

/*
 * create_table, drop_table, rename_table (planner_tables.c): one per such
 * operation, what its steps need.
 */
struct mg_tableop {
	const struct mg_op *op;
	struct mg_table_desc t;		/* drop/rename: the table as described */
	char **types;			/* create: each column's canonical type */
	struct mg_dependents deps;	/* drop/rename: dependents contract drops
					 * first (listed under drops:) */
	char *view_tmp;			/* rename: raw name the view under the
					 * new name takes at contract, just
					 * before it is dropped */
};

/* A table a create_table, drop_table or rename_table of the migration
 * names (a later operation cannot name it again). */
struct mg_overlay_table {
	char *name;			/* as written */
	char *id;			/* describe_table's identity, or NULL (created) */
	size_t op_index;
};

struct mg_planner {
	struct mg_conn *conn;
	const struct mg_migration *m;
	struct mg_plan *plan;
	unsigned caps;			/* the driver's enum mg_driver_caps */
	struct mg_tplan **tables;	/* in order of first use */
	size_t n_tables, alloc_tables;
	struct mg_table_desc **index_tables;	/* per operation: create_index's table */
	struct mg_overlay_col *overlay;
	size_t n_overlay, alloc_overlay;
	struct mg_tableop **table_ops;	/* per operation: create/drop/rename_table */
	struct mg_overlay_table *otables;
	size_t n_otables, alloc_otables;
	char marker[32];		/* raw marker column: "_migrate_3" */
	char suffix[32];		/* of copies' names: "_mg3" */
	void *drv;			/* the driver's planning session */
	const struct mg_op *op;		/* the operation being planned now */
	struct mg_attr **attrs;		/* per operation: an attribute op's plan */
};

/*
 * What an attribute operation (drop_not_null, set_default, drop_default,
 * set_comment, set_replica_identity, drop_constraint, rename_constraint)
 * does, decided by planner_attrs.c: the catalog as it was at plan time
 * (what rollback restores) and the phase the change is made in.
 */
struct mg_attr {
	const struct mg_op *op;
	struct mg_table_desc t;
	int has_col;
	struct mg_column_desc col;	/* op->column as it is now */
	struct mg_table_attrs ta;	/* the table's comment and identity */
	int has_con;
	struct mg_constraint_desc con;	/* op->constraint as it is now */
	enum mg_plan_phase phase;	/* MG_PLAN_EXPAND or MG_PLAN_CONTRACT */
	int undo;			/* rollback restores it (phase EXPAND) */
};

/* What render() renders. */
enum mg_render_kind {
	MG_RENDER_EXPAND_TABLE,		/* tp: ADD_COLUMNS + marker + EXPAND +
					 * triggers, one transaction */
	MG_RENDER_COPY_INDEX,		/* tp, prim: build one index copy */
	MG_RENDER_BACKFILL,		/* tp: add its mg_backfill_spec */
	MG_RENDER_BUILD_INDEX,		/* op, table: create_index */
	MG_RENDER_DROP_INDEX,		/* op, table: create_index undone (rollback),
					 * or drop_index (contract) */
	MG_RENDER_ASSERT_INDEXES,	/* objects: every index built is valid */
	MG_RENDER_VALIDATE,		/* tp, prim */
	MG_RENDER_INBOUND,		/* tp: the INBOUND slot, one transaction */
	MG_RENDER_VALIDATE_INBOUND,	/* tp, prim */
	MG_RENDER_ASSERT_DEPENDENTS,	/* tp, prim */
	MG_RENDER_CONTRACT_TABLE,	/* tp: triggers, PRE, COLUMNS + marker, POST */
	MG_RENDER_ROLLBACK_TABLE,	/* tp: triggers, PRE, COLUMNS + marker */
	MG_RENDER_SQL,			/* op, sql_phase: a sql step's SQL */
	MG_RENDER_CREATE_TABLE,		/* tableop: create_table (expand) */
	MG_RENDER_DROP_CREATED_TABLE,	/* tableop: its rollback */
	MG_RENDER_DROP_TABLE,		/* tableop: drop_table (contract): the
					 * listed dependents, then the table,
					 * never with CASCADE */
	MG_RENDER_ADD_VIEW,		/* tableop: rename_table (expand): an
					 * updatable view named op->to over
					 * the table */
	MG_RENDER_DROP_VIEW,		/* tableop: its rollback */
	MG_RENDER_FINISH_RENAME,	/* tableop: rename_table (contract): the
					 * listed dependents, the view, then
					 * the table takes op->to */
	MG_RENDER_ATTR,			/* attr: the change, in attr->phase */
	MG_RENDER_ATTR_UNDO,		/* attr: what it was again (rollback) */
	MG_RENDER_RULE			/* tp, prim: RULE_HELPER, RULE or
					 * DROP_RULE, steps of their own */
};

struct mg_render {
	enum mg_render_kind kind;
	enum mg_plan_phase phase;		/* where the steps go */
	const struct mg_planner *pl;
	const struct mg_tplan *tp;		/* or NULL */
	const struct mg_prim *prim;		/* or NULL */
	const struct mg_op *op;			/* or NULL */
	const struct mg_table_desc *table;	/* BUILD/DROP_INDEX */
	enum mg_sql_phase sql_phase;		/* SQL */
	const struct mg_strlist *objects;	/* ASSERT_INDEXES: step objects */
	const struct mg_tableop *tableop;	/* table operations */
	const struct mg_attr *attr;		/* ATTR, ATTR_UNDO */
};

/* ---- the core's entry and helpers ---------------------------------------- */

/*
 * Plan m against c's live catalog into out (initialised here): checks
 * every table and column (MG_EINPUT naming file:line:column), lists the
 * dependents of replaced columns (MG_EREFUSED naming one that cannot be
 * carried over), renders every step. Changes nothing. 0 or -1.
 */
int mg_plan_build(struct mg_conn *c, const struct mg_migration *m,
		  struct mg_plan *out, struct mg_err *err);

/* err = "<what> at <path>:<line>:<column>" with code; returns -1. For
 * drivers too: every error about the migration names its position. */
int mg_plan_pos_error(struct mg_err *err, int code,
		      const struct mg_migration *m, struct mg_pos pos,
		      const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* base + suffix, base cut (bytes) so the whole fits max_ident. Owned. */
char *mg_planner_name(size_t max_ident, const char *base, const char *suffix);
/* The same, base cut at a UTF-8 character boundary (t->utf8_names). */
char *mg_planner_name_utf8(size_t max_ident, const char *base, const char *suffix);

/* Whether op is an alter_column without `to:`: a type change that keeps
 * the column's name (a temporary column renamed into place at contract). */
static inline int mg_op_in_place(const struct mg_op *op)
{
	return op->kind == MG_OP_ALTER_COLUMN && !op->to;
}

/* Whether op lists name under drops:. */
int mg_op_drops(const struct mg_op *op, const char *name);

/* Whether an earlier operation of the migration adds a column to t. */
int mg_planner_adds_columns(const struct mg_planner *pl,
			    const struct mg_table_desc *t);

/* ---- the catalog as it will be (src/planner_overlay.c) -------------------- */

/*
 * What the operation being planned (pl->op) changes in the catalog the
 * later operations of the migration are checked against. Every
 * plan_<operation> that adds, drops, renames or replaces a column calls
 * these once its own checks passed (a new operation such as create_table
 * adds each of its columns; drop_table or rename_table will need a table
 * entry of their own). type: as the server spells it (canonical_type, or
 * a described column's type and collation), NULL when unknown.
 */
void mg_overlay_add_column(struct mg_planner *pl, const struct mg_table_desc *t,
			   const char *col, const char *type,
			   const char *collation);
/* to: the column that replaces col (rename_column, alter_column), or
 * NULL (dropped). */
void mg_overlay_remove_column(struct mg_planner *pl,
			      const struct mg_table_desc *t, const char *col,
			      const char *to);
/* The latest entry of column col of the table whose identity is table_id
 * (names compare as the database does: MG_CAP_CASELESS_COLUMNS), or NULL
 * when no earlier operation touches it. Borrowed. */
const struct mg_overlay_col *mg_overlay_find(const struct mg_planner *pl,
					     const char *table_id,
					     const char *col);
/* Whether an earlier operation adds or removes a column of t. */
int mg_overlay_touches(const struct mg_planner *pl,
		       const struct mg_table_desc *t);
/* Whether an expression of this use cannot see column oc (enum
 * mg_expr_use): ROW a column added earlier, WHERE and NEW_ROW one
 * removed. */
int mg_overlay_hidden(const struct mg_overlay_col *oc, enum mg_expr_use use);
/*
 * The refusal of a use (at pos) of a column that an earlier operation
 * changed (oc), naming that operation and where it is: a column dropped
 * or renamed away used where the new version's catalog counts, or a
 * column added used in an expression over the old row. MG_EINPUT, -1.
 */
int mg_overlay_refuse(struct mg_err *err, const struct mg_planner *pl,
		      const struct mg_table_desc *t,
		      const struct mg_overlay_col *oc, struct mg_pos pos);

void mg_table_desc_release(struct mg_table_desc *t);
void mg_column_desc_release(struct mg_column_desc *c);

#endif
