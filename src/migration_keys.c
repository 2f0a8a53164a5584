/*
 * migration_keys.c - the operations of the file format and their keys, one
 * table per operation (see migration_keys.h).
 */
#include "migration_int.h"
#include "migration_keys.h"

#define OFF(member) offsetof(struct mg_op, member)

#define DROPS { "drops", F_NAMES, 0, "a sequence of names", OFF(drops), \
		OFF(n_drops), NO_POS }

/* Accepted on every operation; only a driver whose ALTER TABLE may copy
 * or rebuild a table acts on them. */
#define ALLOW_FIELDS \
	{ "allow_copy", F_BOOL, 0, "true or false", OFF(allow_copy), 0, NO_POS }, \
	{ "allow_rebuild", F_BOOL, 0, "true or false", OFF(allow_rebuild), 0, NO_POS }

static const struct field add_column_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "type", F_STR, 1, "a column type", OFF(type), 0, OFF(type_pos) },
	{ "default", F_STR, 0, "an SQL expression", OFF(default_expr), 0, OFF(default_pos) },
	{ "nullable", F_BOOL, 0, "true or false", OFF(nullable), 0, NO_POS },
	{ "backfill", F_STR, 0, "an SQL expression", OFF(backfill), 0, OFF(backfill_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field rename_column_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "from", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "to", F_NAME, 1, "a column name", OFF(to), 0, OFF(to_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field alter_column_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	/* without `to`: a type change in place (up optional, no down);
	 * with it, up and down are required (check_alter) */
	{ "to", F_NAME, 0, "a column name", OFF(to), 0, OFF(to_pos) },
	{ "type", F_STR, 1, "a column type", OFF(type), 0, OFF(type_pos) },
	{ "up", F_STR, 0, "an SQL expression", OFF(up), 0, OFF(up_pos) },
	{ "down", F_STR, 0, "an SQL expression", OFF(down), 0, OFF(down_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field drop_column_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "down", F_STR, 0, "an SQL expression", OFF(down), 0, OFF(down_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field create_index_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "name", F_NAME, 1, "an index name", OFF(index_name), 0, OFF(index_name_pos) },
	{ "columns", F_INDEX_COLUMNS, 1, "a non-empty sequence of column names",
	  OFF(columns), OFF(n_columns), OFF(columns_pos) },
	{ "unique", F_BOOL, 0, "true or false", OFF(unique), 0, NO_POS },
	{ "method", F_NAME, 0, "an index method", OFF(method), 0, OFF(method_pos) },
	{ "where", F_STR, 0, "an SQL expression", OFF(where), 0, OFF(where_pos) },
	{ "include", F_NAMES, 0, "a sequence of column names", OFF(include),
	  OFF(n_include), OFF(include_pos) },
	{ "storage", F_PARAMS, 0, "a mapping of storage parameters",
	  OFF(storage), OFF(n_storage), OFF(storage_pos) },
	{ "constraint", F_BOOL, 0, "true or false", OFF(constraint), 0,
	  OFF(constraint_pos) },
	ALLOW_FIELDS,
};

static const struct field drop_index_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "name", F_NAME, 1, "an index name", OFF(index_name), 0, OFF(index_name_pos) },
	ALLOW_FIELDS,
};

static const struct field sql_fields[] = {
	{ "expand", F_STR, 0, "SQL", OFF(sql[MG_SQL_EXPAND]), 0, OFF(sql_pos[MG_SQL_EXPAND]) },
	{ "backfill", F_STR, 0, "SQL", OFF(sql[MG_SQL_BACKFILL]), 0, OFF(sql_pos[MG_SQL_BACKFILL]) },
	{ "switch_reads", F_STR, 0, "SQL", OFF(sql[MG_SQL_SWITCH_READS]), 0,
	  OFF(sql_pos[MG_SQL_SWITCH_READS]) },
	{ "contract", F_STR, 0, "SQL", OFF(sql[MG_SQL_CONTRACT]), 0, OFF(sql_pos[MG_SQL_CONTRACT]) },
	{ "rollback", F_STR, 0, "SQL", OFF(sql[MG_SQL_ROLLBACK]), 0, OFF(sql_pos[MG_SQL_ROLLBACK]) },
	{ "in_transaction", F_BOOL, 0, "true or false", OFF(in_transaction), 0,
	  NO_POS },
	ALLOW_FIELDS,
};

/* Column and table attributes, constraints (planner_attrs.c). */
static const struct field drop_not_null_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "down", F_STR, 0, "an SQL expression", OFF(down), 0, OFF(down_pos) },
	ALLOW_FIELDS,
};

static const struct field set_default_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "default", F_STR, 1, "an SQL expression", OFF(default_expr), 0, OFF(default_pos) },
	ALLOW_FIELDS,
};

static const struct field drop_default_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	ALLOW_FIELDS,
};

static const struct field set_comment_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 0, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "comment", F_STR, 1, "the comment's text", OFF(comment), 0, OFF(comment_pos) },
	ALLOW_FIELDS,
};

static const struct field set_replica_identity_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "identity", F_NAME, 1, "one of: default, full, nothing, index",
	  OFF(identity), 0, OFF(identity_pos) },
	{ "index", F_NAME, 0, "an index name", OFF(index_name), 0, OFF(index_pos) },
	ALLOW_FIELDS,
};

/* create_table, drop_table, rename_table: migration_tables.c walks the
 * nested keys (F_TABLEDEF). */
static const struct field create_table_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "columns", F_TABLEDEF, 1, "a non-empty sequence of columns", 0, 0, NO_POS },
	{ "constraints", F_TABLEDEF, 0, "a sequence of constraints", 0, 0, NO_POS },
	{ "comment", F_TABLEDEF, 0, "a string", 0, 0, NO_POS },
	ALLOW_FIELDS,
};

static const struct field drop_table_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field drop_constraint_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "name", F_NAME, 1, "a constraint name", OFF(constraint_name), 0, OFF(constraint_name_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field rename_table_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "to", F_NAME, 1, "a table name", OFF(to), 0, OFF(to_pos) },
	DROPS,
	ALLOW_FIELDS,
};

static const struct field rename_constraint_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "from", F_NAME, 1, "a constraint name", OFF(constraint_name), 0, OFF(constraint_name_pos) },
	{ "to", F_NAME, 1, "a constraint name", OFF(to), 0, OFF(to_pos) },
	ALLOW_FIELDS,
};

/* The rules on existing columns (issue 13): the operation's `up` fixes a
 * row that breaks the rule, in the backfill and in the trigger. */
#define RULE_NAME { "name", F_NAME, 1, "a constraint name", OFF(index_name), 0, \
		    OFF(name_pos) }

static const struct field set_not_null_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	{ "up", F_STR, 1, "an SQL expression", OFF(up), 0, OFF(up_pos) },
	ALLOW_FIELDS,
};

static const struct field add_check_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "column", F_NAME, 1, "a column name", OFF(column), 0, OFF(column_pos) },
	RULE_NAME,
	{ "check", F_STR, 1, "an SQL boolean expression", OFF(check), 0, OFF(check_pos) },
	{ "up", F_STR, 1, "an SQL expression", OFF(up), 0, OFF(up_pos) },
	ALLOW_FIELDS,
};

static const struct field add_unique_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "columns", F_NAMES, 1, "a non-empty sequence of column names",
	  OFF(columns), OFF(n_columns), OFF(columns_pos) },
	RULE_NAME,
	{ "up", F_STR, 0, "an SQL expression", OFF(up), 0, OFF(up_pos) },
	ALLOW_FIELDS,
};

static const struct field references_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(ref_table), 0, OFF(ref_table_pos) },
	{ "columns", F_NAMES, 1, "a non-empty sequence of column names",
	  OFF(ref_columns), OFF(n_ref_columns), OFF(ref_columns_pos) },
};

/* The tables of the F_MAP fields, by the index in their `off`. */
const struct submap mg_submaps[] = {
	[SUB_REFERENCES] = { references_fields, ARRAY_SIZE(references_fields) },
};

static const struct field add_foreign_key_fields[] = {
	{ "table", F_TABLE, 1, "a table name", OFF(table), 0, OFF(table_pos) },
	{ "columns", F_NAMES, 1, "a non-empty sequence of column names",
	  OFF(columns), OFF(n_columns), OFF(columns_pos) },
	RULE_NAME,
	{ "references", F_MAP, 1, "a mapping with table and columns",
	  SUB_REFERENCES, 0, OFF(references_pos) },
	{ "on_delete", F_STR, 0, "an action", OFF(on_delete), 0, OFF(on_delete_pos) },
	{ "on_update", F_STR, 0, "an action", OFF(on_update), 0, OFF(on_update_pos) },
	{ "up", F_STR, 0, "an SQL expression", OFF(up), 0, OFF(up_pos) },
	ALLOW_FIELDS,
};


#define OPDEF(name, kind) { #name, kind, name##_fields, \
			    ARRAY_SIZE(name##_fields) }

const struct opdef mg_opdefs[] = {
	OPDEF(add_column, MG_OP_ADD_COLUMN),
	OPDEF(rename_column, MG_OP_RENAME_COLUMN),
	OPDEF(alter_column, MG_OP_ALTER_COLUMN),
	OPDEF(drop_column, MG_OP_DROP_COLUMN),
	OPDEF(create_index, MG_OP_CREATE_INDEX),
	OPDEF(sql, MG_OP_SQL),
	OPDEF(drop_index, MG_OP_DROP_INDEX),
	OPDEF(create_table, MG_OP_CREATE_TABLE),
	OPDEF(drop_table, MG_OP_DROP_TABLE),
	OPDEF(rename_table, MG_OP_RENAME_TABLE),
	OPDEF(drop_not_null, MG_OP_DROP_NOT_NULL),
	OPDEF(set_default, MG_OP_SET_DEFAULT),
	OPDEF(drop_default, MG_OP_DROP_DEFAULT),
	OPDEF(set_comment, MG_OP_SET_COMMENT),
	OPDEF(set_replica_identity, MG_OP_SET_REPLICA_IDENTITY),
	OPDEF(drop_constraint, MG_OP_DROP_CONSTRAINT),
	OPDEF(rename_constraint, MG_OP_RENAME_CONSTRAINT),
	OPDEF(set_not_null, MG_OP_SET_NOT_NULL),
	OPDEF(add_check, MG_OP_ADD_CHECK),
	OPDEF(add_unique, MG_OP_ADD_UNIQUE),
	OPDEF(add_foreign_key, MG_OP_ADD_FOREIGN_KEY),
};

const size_t mg_n_opdefs = ARRAY_SIZE(mg_opdefs);
