/*
 * lint_facts.h - what the facts of one migration file (struct mg_lint_ctx,
 * lint.h) say about the objects it touches, for the rules: which names are
 * the same, which statement runs first, and which tables and columns the
 * migration itself creates before a statement.
 *
 * Order: the phases run in their enum order (expand of every operation in
 * file order, then backfill, switch-reads, contract, rollback); a native
 * operation counts at expand, at its place in the file; within one value,
 * its facts run in their order. "New" objects are those this migration
 * creates before a statement (rollback SQL creates nothing new): the old
 * version of the application cannot use them, and a table this migration
 * created holds no rows worth a lock.
 *
 * Names are compared without quotes and in lower case ("s.t" and "t" name
 * the same table when one gives no schema): what the database folds most
 * names to; a NULL name matches nothing. Nothing here allocates.
 */
#ifndef MG_LINT_FACTS_H
#define MG_LINT_FACTS_H

#include "lint.h"

/* A fact: the `fact`-th of value v. */
struct mg_lint_at {
	const struct mg_lint_value *v;
	size_t fact;
};

int mg_lint_same_name(const char *a, const char *b);
int mg_lint_same_table(const char *a, const char *b);

/* v is a sql step's SQL (the statements of one phase), not an expression. */
int mg_lint_is_sql_step(const struct mg_lint_ctx *c, const struct mg_lint_value *v);

/* Does fact `fact` of value w run before at? Does native operation op,
 * which does its work in phase, run before at? */
int mg_lint_fact_runs_before(const struct mg_lint_value *w, size_t fact,
			     struct mg_lint_at at);
int mg_lint_native_runs_before(size_t op, enum mg_sql_phase phase, struct mg_lint_at at);

/* The first fact of kind for which match(fact, table, name) holds, in a
 * sql step's SQL before at (not rollback SQL), or NULL. */
typedef int (*mg_lint_fact_match)(const struct mg_sql_fact *f, const char *table,
				  const char *name);
const struct mg_sql_fact *mg_lint_fact_before(const struct mg_lint_ctx *c,
					      struct mg_lint_at at,
					      enum mg_fact_kind kind,
					      mg_lint_fact_match match,
					      const char *table, const char *name);
int mg_lint_match_table(const struct mg_sql_fact *f, const char *table, const char *name);
int mg_lint_match_column(const struct mg_sql_fact *f, const char *table, const char *name);

/* Created by this migration before at (create_table, CREATE TABLE). */
int mg_lint_table_is_new(const struct mg_lint_ctx *c, const char *table,
			 struct mg_lint_at at);
/* New, or a name this migration renamed a table to, before at. */
int mg_lint_table_unknown_to_old(const struct mg_lint_ctx *c, const char *table,
				 struct mg_lint_at at);
/* Of such a table, or added (add_column, ADD COLUMN) or renamed to (a
 * rename's or alter_column's `to`, RENAME COLUMN) before at. */
int mg_lint_column_unknown_to_old(const struct mg_lint_ctx *c, const char *table,
				  const char *col, struct mg_lint_at at);
/* An index of this name created before at on a new table. */
int mg_lint_index_on_new_table(const struct mg_lint_ctx *c, const char *name,
			       struct mg_lint_at at);

/* The target has transactional DDL (PostgreSQL): rules read the dialect
 * only through its capabilities. */
int mg_lint_transactional_ddl(const struct mg_lint_ctx *c);

/* Done without blocking writes: CONCURRENTLY on PostgreSQL; on MySQL the
 * driver sets it for ALGORITHM=INSTANT or LOCK=NONE. */
int mg_lint_fact_online(const struct mg_sql_fact *f);
/* TRUNCATE: a DELETE whose detail says so. */
int mg_lint_fact_truncate(const struct mg_sql_fact *f);
/* CREATE TEMPORARY TABLE: a CREATE TABLE whose detail says so. */
int mg_lint_fact_temporary(const struct mg_sql_fact *f);

#endif
