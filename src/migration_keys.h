/*
 * migration_keys.h - the operations of the file format and their keys
 * (design §3), as tables: migration_keys.c holds one table of fields per
 * operation, migration_ops.c walks a document against them. Adding an
 * operation is a table and a line in mg_opdefs. Private to the loader.
 */
#ifndef MG_MIGRATION_KEYS_H
#define MG_MIGRATION_KEYS_H

#include <stddef.h>

#include "migration.h"

enum ftype {
	F_STR,		/* a non-empty string (SQL or a type), as written */
	F_NAME,		/* an identifier: 1..max_name bytes */
	F_TABLE,	/* "table" or "schema.table", each part a name */
	F_BOOL,		/* true or false */
	F_NAMES,	/* a sequence of names */
	F_INDEX_COLUMNS,	/* create_index columns: names or mappings */
	F_PARAMS,	/* a mapping of parameter names to scalar values */
	F_TABLEDEF,	/* create_table's columns, constraints, comment
			 * (migration_tables.c) */
	F_MAP		/* a mapping whose keys are fields too, stored into
			 * struct mg_op like the operation's own: `off` is
			 * the index of their table in mg_submaps[] */
};

#define NO_POS ((size_t)-1)

struct field {
	const char *key;
	enum ftype type;
	int required;
	const char *what;	/* what an empty value should have been */
	size_t off;		/* of the value in struct mg_op */
	size_t n_off;		/* F_NAMES: of the count */
	size_t pos_off;		/* of a struct mg_pos, or NO_POS */
};

struct opdef {
	const char *name;
	enum mg_op_kind kind;
	const struct field *fields;
	size_t n_fields;
};

/* F_MAP fields: `off` indexes this table */
enum { SUB_REFERENCES };
struct submap {
	const struct field *fields;
	size_t n;
};

extern const struct opdef mg_opdefs[];
extern const size_t mg_n_opdefs;
extern const struct submap mg_submaps[];

#define OP_NAMES "add_column, rename_column, alter_column, drop_column, " \
		 "create_index, sql, drop_index, create_table, drop_table, " \
		 "rename_table, drop_not_null, set_default, drop_default, " \
		 "set_comment, set_replica_identity, drop_constraint, " \
		 "rename_constraint, set_not_null, add_check, add_unique, " \
		 "add_foreign_key"
#define TOP_KEYS "description, operations"
#define SQL_PHASES "expand, backfill, switch_reads, contract, rollback"

#endif
