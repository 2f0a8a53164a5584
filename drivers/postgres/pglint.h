/*
 * pglint.h - private to the PostgreSQL driver's lint (lint.c, lint_alter.c,
 * lint_types.c): the walk over libpg_query's JSON parse tree that turns
 * each statement into struct mg_sql_fact (driver.h, "lint (issue 14)").
 *
 * The tree is jansson's (borrowed from the walk's root); every string a
 * function returns as char * is the caller's to free.
 */
#ifndef MG_PG_LINT_H
#define MG_PG_LINT_H

#include "driver.h"

#include <jansson.h>

/* A column type read from a TypeName node. */
struct pgdrv_lint_type {
	char base[64];		/* the catalog name: int4, varchar, bpchar,
				 * timestamptz, serial, json, "char"... */
	int schema;		/* written with a schema other than pg_catalog */
	int nmods;		/* type modifiers given: varchar(10) has 1 */
	long mods[2];
	int array;		/* int[] */
	char *text;		/* readable: "character varying(10)[]" */
};

/* A column whose type an earlier statement of the same text declared (for
 * ALTER TYPE: is the change binary compatible?). */
struct pgdrv_lint_known {
	char *table, *column;
	struct pgdrv_lint_type type;
};

struct pgdrv_lint_walk {
	const char *text;	/* what libpg_query parsed */
	int shift;		/* bytes of it before the caller's text */
	int len;		/* the caller's text's length */
	struct mg_sql_facts *out;
	unsigned block;		/* MG_FACTF_IN_BLOCK after a BEGIN */
	struct pgdrv_lint_known *known;
	size_t nknown;
};

/* ---- lint.c: the walk's small helpers ------------------------------------ */

/* obj's member key, when it is of that JSON kind; NULL / 0 / def else. */
const char *pgdrv_lint_str(json_t *obj, const char *key);
int pgdrv_lint_true(json_t *obj, const char *key);
long pgdrv_lint_int(json_t *obj, const char *key, long def);
/* The node of a {"Kind": {...}} wrapper when it is that kind, else NULL. */
json_t *pgdrv_lint_node(json_t *wrapper, const char *kind);
/* The kind of a {"Kind": {...}} wrapper ("ColumnDef"), or "". */
const char *pgdrv_lint_kind(json_t *wrapper);
/* A RangeVar as written: "schema.table" or "table". */
char *pgdrv_lint_range_name(json_t *range_var);
/* A List of String nodes joined with '.', as in DROP INDEX s.i. */
char *pgdrv_lint_dotted(json_t *list);
/* The caller's offset of a location of the parsed text (-1 unknown). */
int pgdrv_lint_offset(const struct pgdrv_lint_walk *w, long location);
/* The first byte at or after location that is not blank or a comment. */
int pgdrv_lint_token_at(const struct pgdrv_lint_walk *w, long location);
void pgdrv_lint_add(struct pgdrv_lint_walk *w, enum mg_fact_kind kind,
		    unsigned flags, int offset, const char *table,
		    const char *name, const char *detail);

/* ---- lint_alter.c -------------------------------------------------------- */

/* The facts of ALTER TABLE (stmt: the AlterTableStmt node). */
void pgdrv_lint_alter_table(struct pgdrv_lint_walk *w, json_t *stmt,
			    int start, int end);
/* The facts of a ColumnDef added by CREATE TABLE (pk: the column alone is
 * the table's primary key) or ALTER TABLE ADD COLUMN. */
void pgdrv_lint_column_type(struct pgdrv_lint_walk *w, json_t *coldef,
			    const char *table, unsigned flags);
/* The ADD COLUMN flags of a ColumnDef's constraints and type. */
unsigned pgdrv_lint_column_flags(json_t *coldef);

/* ---- lint_types.c -------------------------------------------------------- */

/* Read a TypeName node; pgdrv_lint_type_release frees text. */
void pgdrv_lint_type_read(json_t *type_name, struct pgdrv_lint_type *out);
void pgdrv_lint_type_release(struct pgdrv_lint_type *t);
/* MG_FACTF_TYPE_* of a type. */
unsigned pgdrv_lint_type_flags(const struct pgdrv_lint_type *t);
/* MG_FACTF_REWRITES / MG_FACTF_NARROWS of changing a column from old (NULL:
 * unknown) to new; using: the change has a USING expression. */
unsigned pgdrv_lint_type_change(const struct pgdrv_lint_type *old,
				const struct pgdrv_lint_type *new_type, int using);
/* The first volatile function an expression calls, or NULL (borrowed). */
const char *pgdrv_lint_volatile_call(json_t *expr, int *location);
/* Every volatile call of an expression, as MG_FACT_VOLATILE_CALL facts. */
void pgdrv_lint_volatile_facts(struct pgdrv_lint_walk *w, json_t *expr);
/* Remember / look up the type a statement declared for table.column. */
void pgdrv_lint_known_add(struct pgdrv_lint_walk *w, const char *table,
			  const char *column, json_t *type_name);
const struct pgdrv_lint_type *
pgdrv_lint_known_find(const struct pgdrv_lint_walk *w, const char *table,
		      const char *column);
void pgdrv_lint_known_release(struct pgdrv_lint_walk *w);

#endif
