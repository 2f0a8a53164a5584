/*
 * migration.h - migration files (design §3, a public contract): loading one
 * YAML file with libyaml into a struct mg_migration, and scanning a
 * directory of them.
 *
 * Every error is MG_EINPUT with a message naming "file:line:column" and what
 * was expected, e.g.
 *   unknown key 'colum' at migrations/0003_add.yaml:5:7 (expected one of: table, column, type, default, nullable, backfill)
 *
 * Ownership: a struct mg_migration owns all its strings and arrays and is
 * freed with mg_migration_release(); a struct mg_migration_set owns its
 * migrations and is freed with mg_migration_set_release().
 */
#ifndef MG_MIGRATION_H
#define MG_MIGRATION_H

#include <stddef.h>
#include "util.h"

enum mg_op_kind {
	MG_OP_ADD_COLUMN,
	MG_OP_RENAME_COLUMN,
	MG_OP_ALTER_COLUMN,
	MG_OP_DROP_COLUMN,
	MG_OP_CREATE_INDEX,
	MG_OP_SQL,
	MG_OP_DROP_INDEX,
	MG_OP_CREATE_TABLE,
	MG_OP_DROP_TABLE,
	MG_OP_RENAME_TABLE,
	/* column and table attributes, constraints (planner_attrs.c) */
	MG_OP_DROP_NOT_NULL,
	MG_OP_SET_DEFAULT,
	MG_OP_DROP_DEFAULT,
	MG_OP_SET_COMMENT,
	MG_OP_SET_REPLICA_IDENTITY,
	MG_OP_DROP_CONSTRAINT,
	MG_OP_RENAME_CONSTRAINT,
	MG_OP_SET_NOT_NULL,
	MG_OP_ADD_CHECK,
	MG_OP_ADD_UNIQUE,
	MG_OP_ADD_FOREIGN_KEY
};

/* 1-based position in the YAML file (libyaml marks are 0-based: add 1). */
struct mg_pos {
	int line;
	int column;
};

/*
 * One operation. Which fields are set depends on kind (unset strings are
 * NULL):
 *   add_column:    table, column, type, default_expr, nullable, backfill
 *   rename_column: table, column (= from), to
 *   alter_column:  table, column, to, type, up, down
 *   drop_column:   table, column, down
 *   create_index:  table, index_name (= name), columns, unique, method,
 *                  where, column_opts, include, storage, constraint
 *   drop_index:    table, index_name (= name)
 *   sql:           sql[MG_SQL_*], in_transaction
 *   create_table:  table, tdef (columns, constraints, comment)
 *   drop_table:    table, drops
 *   rename_table:  table, to, drops
 *   drop_not_null: table, column, down (the value of NULLs at rollback)
 *   set_default:   table, column, default_expr
 *   drop_default:  table, column
 *   set_comment:   table, column (NULL: the table's comment), comment
 *   set_replica_identity: table, identity, index_name (= index)
 *   drop_constraint:   table, constraint_name (= name), drops
 *   rename_constraint: table, constraint_name (= from), to
 *   set_not_null:  table, column, up
 *   add_check:     table, column, index_name (= name), check, up
 *   add_unique:    table, index_name (= name), columns, up (optional)
 *   add_foreign_key: table, index_name (= name), columns, ref_table and
 *                  ref_columns (= references: {table, columns}),
 *                  on_delete, on_update (optional, canonical SQL words:
 *                  "CASCADE", "SET NULL" ...), up (optional)
 *   The rules' `up` fixes a row that breaks the rule (assigned to
 *   `column`, or to the first of `columns`).
 * add/rename/alter/drop also take an optional `drops: [name, ...]`: the
 * dependents of the replaced column the user accepts to drop at contract.
 * Every operation takes `allow_copy` and `allow_rebuild` (default false):
 * whether an ALTER TABLE may fall back to copying or rebuilding the table,
 * for a driver whose database does that; the others ignore them.
 */
enum mg_sql_phase {
	MG_SQL_EXPAND,
	MG_SQL_BACKFILL,
	MG_SQL_SWITCH_READS,
	MG_SQL_CONTRACT,
	MG_SQL_ROLLBACK,
	MG_SQL_NPHASES
};

/* create_index: the options of one `columns` entry (written as a mapping
 * {name, opclass, collate, order, nulls}; a plain name leaves them unset). */
enum mg_index_order { MG_ORDER_DEFAULT, MG_ORDER_ASC, MG_ORDER_DESC };
enum mg_index_nulls { MG_NULLS_DEFAULT, MG_NULLS_FIRST, MG_NULLS_LAST };

struct mg_index_col {
	struct mg_pos pos;		/* of the entry */
	char *opclass;			/* operator class, or NULL */
	struct mg_pos opclass_pos;
	char *collate;			/* collation, or NULL */
	struct mg_pos collate_pos;
	enum mg_index_order order;
	struct mg_pos order_pos;
	enum mg_index_nulls nulls;
	struct mg_pos nulls_pos;
};

/* create_index `storage:` one parameter, as written (the value is text). */
struct mg_param {
	char *key;
	char *value;
	struct mg_pos pos;		/* of the key */
	struct mg_pos value_pos;
};

/* create_table (migration_tables.c): a foreign key's target. */
struct mg_ref {
	char *table;			/* as written */
	struct mg_pos table_pos;
	char **columns;			/* column-level: one (`column`) */
	size_t n_columns;
	struct mg_pos columns_pos;
	char *name;			/* optional constraint name */
	char *on_delete;		/* SQL words ("SET NULL"), or NULL */
	struct mg_pos on_delete_pos;
	char *on_update;
	struct mg_pos on_update_pos;
};

/* create_table: one column. */
struct mg_column_def {
	struct mg_pos pos;		/* of the item */
	char *name;
	struct mg_pos name_pos;
	char *type;
	struct mg_pos type_pos;
	char *default_expr;
	struct mg_pos default_pos;
	int nullable;			/* default 1 */
	int primary_key;
	int unique;
	char *check;
	struct mg_pos check_pos;
	struct mg_ref *references;	/* or NULL */
	char *comment;
	char *identity;			/* "always", "by_default" or NULL */
	struct mg_pos identity_pos;
};

enum mg_tcon_kind {
	MG_TCON_PRIMARY_KEY,
	MG_TCON_UNIQUE,
	MG_TCON_CHECK,
	MG_TCON_FOREIGN_KEY
};

/* create_table: one table-level constraint. */
struct mg_table_constraint {
	enum mg_tcon_kind kind;
	struct mg_pos pos;		/* of its key (primary_key: ...) */
	char *name;			/* optional */
	char **columns;			/* primary key, unique, foreign key */
	size_t n_columns;
	struct mg_pos columns_pos;
	char *expression;		/* check */
	struct mg_pos expression_pos;
	struct mg_ref ref;		/* foreign key: table, columns, actions */
};

struct mg_table_def {
	struct mg_column_def *columns;
	size_t n_columns;
	struct mg_pos columns_pos;
	struct mg_table_constraint *constraints;
	size_t n_constraints;
	char *comment;
};

struct mg_op {
	enum mg_op_kind kind;
	struct mg_pos pos;		/* of the operation's key, e.g. add_column */
	char *table;			/* "t" or "schema.t" as written */
	struct mg_pos table_pos;
	char *column;			/* add: column; rename: from; alter/drop: column */
	struct mg_pos column_pos;
	char *to;			/* rename, alter */
	struct mg_pos to_pos;
	char *type;			/* add, alter */
	struct mg_pos type_pos;
	char *default_expr;		/* add: `default` */
	struct mg_pos default_pos;
	int nullable;			/* add: 1 unless `nullable: false` */
	char *backfill;			/* add */
	struct mg_pos backfill_pos;
	char *up;			/* alter */
	struct mg_pos up_pos;
	char *down;			/* alter, drop */
	struct mg_pos down_pos;
	char **drops;			/* add/rename/alter/drop: accepted drops */
	size_t n_drops;
	char *index_name;		/* create_index: `name` */
	char **columns;			/* create_index */
	size_t n_columns;
	struct mg_pos columns_pos;
	int unique;			/* create_index, default 0 */
	char *method;			/* create_index: `method` (btree, gin...), optional */
	struct mg_pos method_pos;
	char *where;			/* create_index: partial index predicate, optional */
	struct mg_pos where_pos;
	struct mg_pos index_name_pos;	/* create_index, drop_index: of `name` */
	struct mg_index_col *column_opts;	/* create_index: n_columns of them */
	char **include;			/* create_index: `include` columns */
	size_t n_include;
	struct mg_pos include_pos;
	struct mg_param *storage;	/* create_index: `storage` parameters */
	size_t n_storage;
	struct mg_pos storage_pos;
	int constraint;			/* create_index: the unique index becomes a UNIQUE constraint */
	struct mg_pos constraint_pos;
	char *sql[MG_SQL_NPHASES];	/* sql: expand, backfill, switch_reads, contract, rollback */
	struct mg_pos sql_pos[MG_SQL_NPHASES];	/* of each phase's SQL value */
	int in_transaction;		/* sql: default 1 */
	/* attrs (issue 13): set_comment, set_replica_identity, constraints */
	char *comment;			/* set_comment */
	struct mg_pos comment_pos;
	char *identity;			/* set_replica_identity: default|full|nothing|index */
	struct mg_pos identity_pos;
	struct mg_pos index_pos;	/* set_replica_identity: of `index` */
	char *constraint_name;		/* drop_constraint: name; rename_constraint: from */
	struct mg_pos constraint_name_pos;
	struct mg_pos name_pos;		/* of `name` (create_index, rules) */
	char *check;			/* add_check: the CHECK expression */
	struct mg_pos check_pos;
	char *ref_table;		/* add_foreign_key: references.table */
	struct mg_pos ref_table_pos;
	char **ref_columns;		/* add_foreign_key: references.columns */
	size_t n_ref_columns;
	struct mg_pos ref_columns_pos;
	char *on_delete;		/* add_foreign_key, optional */
	struct mg_pos on_delete_pos;
	char *on_update;		/* add_foreign_key, optional */
	struct mg_pos on_update_pos;
	struct mg_pos references_pos;	/* of the `references` mapping */
	int allow_copy;			/* any: the server may copy the table */
	int allow_rebuild;		/* any: the server may rebuild it in place */
	struct mg_table_def *tdef;	/* create_table, else NULL */
};

struct mg_migration {
	int id;				/* NNNN from the file name */
	char *name;			/* file name without directory and ".yaml" */
	char *path;			/* as opened */
	char checksum[65];		/* SHA-256 of the file's bytes, hex */
	char *description;		/* optional */
	struct mg_op *ops;
	size_t n_ops;
};

struct mg_migration_set {
	struct mg_migration *items;	/* sorted by id ascending */
	size_t n;
};

const char *mg_op_kind_name(enum mg_op_kind kind);	/* "add_column" ... */
const char *mg_sql_phase_name(enum mg_sql_phase p);	/* "expand" ... "rollback" */

/*
 * Parse a migration id as written on the command line or in a file name:
 * "3", "0003" or "0003_rename_user_name". On success *out is the number and
 * 0 is returned; -1 (err MG_EINPUT) otherwise.
 */
int mg_migration_parse_id(const char *s, int *out, struct mg_err *err);

/*
 * Load one file. The file name (basename) must be NNNN_snake_name.yaml
 * (digits, underscore, [a-z0-9_]+). Checks keys, types, required fields,
 * and the operation-level rules that need no database (e.g. add_column with
 * nullable: false needs a default or a backfill), and that no table,
 * column or index name is longer than max_name bytes: the limit of the
 * target's driver (mg_driver_name_limit), for a name the database would
 * cut or refuse. 0 or -1 (MG_EINPUT).
 */
int mg_migration_load(struct mg_migration *out, const char *path,
		      size_t max_name, struct mg_err *err);
void mg_migration_release(struct mg_migration *m);

/*
 * mg_migration_load from bytes already read (text[0..len), borrowed; path
 * names the file in messages and gives the id): lint reads each file once
 * and keeps its text. 0 or -1 (MG_EINPUT).
 */
int mg_migration_load_bytes(struct mg_migration *out, const char *path,
			    const char *text, size_t len, size_t max_name,
			    struct mg_err *err);

/*
 * Is path's basename a migration file name (NNNN_snake_name.yaml or
 * .yml, id above 0)? 0 with *id set, or -1 with err MG_EINPUT saying what
 * is wrong and a hint with a better name when one is obvious.
 */
int mg_migration_check_name(const char *path, int *id, struct mg_err *err);

/*
 * Load every *.yaml / *.yml file of dir, sorted by id. A badly named file,
 * a duplicate id (both files named) or any load error fails the whole scan
 * (MG_EINPUT). A directory that does not exist is MG_EINPUT too; an empty
 * one gives n == 0. max_name: as for mg_migration_load.
 */
int mg_migration_set_load(struct mg_migration_set *out, const char *dir,
			  size_t max_name, struct mg_err *err);
void mg_migration_set_release(struct mg_migration_set *set);

/* The migration with this id, or NULL. */
struct mg_migration *mg_migration_set_find(const struct mg_migration_set *set,
					   int id);

#endif
