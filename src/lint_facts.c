/*
 * lint_facts.c - what the facts of one migration file say about its
 * objects, for the rules (lint_facts.h): names compared as the database
 * folds them, the order statements run in, and the tables and columns the
 * migration itself creates before a statement.
 */
#include <ctype.h>
#include <string.h>

#include "lint_facts.h"

/* ---- names ------------------------------------------------------------ */

/* Copy name into out (size n) without quotes, in lower case: the rules
 * compare names as the database would fold most of them. */
static void fold_name(char *out, size_t n, const char *name)
{
	size_t j = 0;

	for (const char *p = name; *p && j + 1 < n; p++)
		if (*p != '"' && *p != '`')
			out[j++] = (char)tolower((unsigned char)*p);
	out[j] = '\0';
}

int mg_lint_same_name(const char *a, const char *b)
{
	char fa[256], fb[256];

	if (!a || !b)
		return 0;
	fold_name(fa, sizeof(fa), a);
	fold_name(fb, sizeof(fb), b);
	return !strcmp(fa, fb);
}

/* "s.t" and "t" name the same table when one of them gives no schema. */
int mg_lint_same_table(const char *a, const char *b)
{
	char fa[256], fb[256];
	const char *da, *db;

	if (!a || !b)
		return 0;
	fold_name(fa, sizeof(fa), a);
	fold_name(fb, sizeof(fb), b);
	if (!strcmp(fa, fb))
		return 1;
	da = strrchr(fa, '.');
	db = strrchr(fb, '.');
	if (da && db)
		return 0;
	return !strcmp(da ? da + 1 : fa, db ? db + 1 : fb);
}

/* ---- the file's values and their order ------------------------------- */

static const struct mg_op *op_of(const struct mg_lint_ctx *c,
				 const struct mg_lint_value *v)
{
	return &c->m->ops[v->op];
}

/* A sql step's SQL (the statements of one phase), not an expression. */
int mg_lint_is_sql_step(const struct mg_lint_ctx *c, const struct mg_lint_value *v)
{
	return v->phase < MG_SQL_NPHASES && op_of(c, v)->kind == MG_OP_SQL;
}

/* The phase a value runs in: a native operation's expressions at expand. */
static enum mg_sql_phase phase_of(const struct mg_lint_value *v)
{
	return v->phase < MG_SQL_NPHASES ? v->phase : MG_SQL_EXPAND;
}

/* Does (phase a, op a, fact a) run before (b...)? The phases' enum order
 * is the order they run in. */
static int runs_before(enum mg_sql_phase pa, size_t oa, size_t fa,
		       enum mg_sql_phase pb, size_t ob, size_t fb)
{
	if (pa != pb)
		return pa < pb;
	if (oa != ob)
		return oa < ob;
	return fa < fb;
}

const struct mg_sql_fact *mg_lint_fact_before(const struct mg_lint_ctx *c,
					     struct mg_lint_at at, enum mg_fact_kind kind,
					     mg_lint_fact_match match, const char *table,
					     const char *name)
{
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *w = &c->values[i];

		if (!mg_lint_is_sql_step(c, w) || w->phase == MG_SQL_ROLLBACK)
			continue;
		for (size_t j = 0; j < w->facts.n; j++) {
			const struct mg_sql_fact *g = &w->facts.items[j];

			if (g->kind != kind || !match(g, table, name))
				continue;
			if (runs_before(w->phase, w->op, j, phase_of(at.v),
					at.v->op, at.fact))
				return g;
		}
	}
	return NULL;
}

int mg_lint_fact_runs_before(const struct mg_lint_value *w, size_t fact,
			     struct mg_lint_at at)
{
	return runs_before(phase_of(w), w->op, fact, phase_of(at.v), at.v->op, at.fact);
}

int mg_lint_native_runs_before(size_t op, enum mg_sql_phase phase, struct mg_lint_at at)
{
	return runs_before(phase, op, 0, phase_of(at.v), at.v->op, at.fact);
}

static int native_before(size_t op, struct mg_lint_at at)
{
	return mg_lint_native_runs_before(op, MG_SQL_EXPAND, at);
}

int mg_lint_match_table(const struct mg_sql_fact *f, const char *table,
		       const char *name)
{
	(void)name;
	return mg_lint_same_table(f->table, table);
}

int mg_lint_match_column(const struct mg_sql_fact *f, const char *table,
			const char *name)
{
	return mg_lint_same_table(f->table, table) && mg_lint_same_name(f->name, name);
}

/* RENAME COLUMN: name is the old name, detail the new one. */
static int match_renamed_column(const struct mg_sql_fact *f, const char *table,
				const char *name)
{
	return mg_lint_same_table(f->table, table) && mg_lint_same_name(f->detail, name);
}

static int match_renamed_table(const struct mg_sql_fact *f, const char *table,
			       const char *name)
{
	(void)name;
	return mg_lint_same_name(f->name, table) || mg_lint_same_table(f->name, table);
}

static int match_index(const struct mg_sql_fact *f, const char *table,
		       const char *name)
{
	(void)table;
	return mg_lint_same_name(f->name, name);
}

/* Was table created by this migration before `at` (create_table, or a
 * CREATE TABLE of a sql step)? NULL: not known, so not new. */
int mg_lint_table_is_new(const struct mg_lint_ctx *c, const char *table, struct mg_lint_at at)
{
	if (!table)
		return 0;
	for (size_t i = 0; i < c->m->n_ops; i++) {
		const struct mg_op *op = &c->m->ops[i];

		if (op->kind == MG_OP_CREATE_TABLE && mg_lint_same_table(op->table, table)
		    && native_before(i, at))
			return 1;
	}
	return mg_lint_fact_before(c, at, MG_FACT_CREATE_TABLE, mg_lint_match_table, table, NULL) != NULL;
}

/* A name the old version cannot know: a table created, or renamed to this
 * name, by this migration before `at`. */
int mg_lint_table_unknown_to_old(const struct mg_lint_ctx *c, const char *table,
				struct mg_lint_at at)
{
	if (mg_lint_table_is_new(c, table, at))
		return 1;
	for (size_t i = 0; i < c->m->n_ops; i++) {
		const struct mg_op *op = &c->m->ops[i];

		if (op->kind == MG_OP_RENAME_TABLE && mg_lint_same_table(op->to, table)
		    && native_before(i, at))
			return 1;
	}
	return mg_lint_fact_before(c, at, MG_FACT_RENAME_TABLE, match_renamed_table,
			   table, NULL) != NULL;
}

/* A column the old version cannot know: of a new table, or added (or
 * renamed to this name) by this migration before `at`. */
int mg_lint_column_unknown_to_old(const struct mg_lint_ctx *c, const char *table,
				 const char *col, struct mg_lint_at at)
{
	if (mg_lint_table_unknown_to_old(c, table, at))
		return 1;
	for (size_t i = 0; i < c->m->n_ops; i++) {
		const struct mg_op *op = &c->m->ops[i];
		const char *added = NULL;

		if (op->kind == MG_OP_ADD_COLUMN)
			added = op->column;
		else if (op->kind == MG_OP_RENAME_COLUMN || op->kind == MG_OP_ALTER_COLUMN)
			added = op->to;
		if (added && mg_lint_same_table(op->table, table) && mg_lint_same_name(added, col)
		    && native_before(i, at))
			return 1;
	}
	return mg_lint_fact_before(c, at, MG_FACT_ADD_COLUMN, mg_lint_match_column, table, col)
	       || mg_lint_fact_before(c, at, MG_FACT_RENAME_COLUMN, match_renamed_column,
			      table, col);
}

/* Was an index of this name created by this migration before `at`, on a
 * table it created? (Then dropping it blocks nobody.) */
int mg_lint_index_on_new_table(const struct mg_lint_ctx *c, const char *name,
			      struct mg_lint_at at)
{
	const struct mg_sql_fact *f;

	if (!name)
		return 0;
	for (size_t i = 0; i < c->m->n_ops; i++) {
		const struct mg_op *op = &c->m->ops[i];

		if (op->kind == MG_OP_CREATE_INDEX && mg_lint_same_name(op->index_name, name)
		    && native_before(i, at))
			return mg_lint_table_is_new(c, op->table, at);
	}
	f = mg_lint_fact_before(c, at, MG_FACT_CREATE_INDEX, match_index, NULL, name);
	return f && mg_lint_table_is_new(c, f->table, at);
}

/* PostgreSQL-like: DDL in transactions, CONCURRENTLY, NOT VALID. The
 * rules read the dialect only through its capabilities. */
int mg_lint_transactional_ddl(const struct mg_lint_ctx *c)
{
	return c->drv && (c->drv->caps & MG_CAP_TRANSACTIONAL_DDL);
}

/* Done without blocking writes: CONCURRENTLY on PostgreSQL; on MySQL the
 * driver sets it for ALGORITHM=INSTANT or LOCK=NONE (the server then
 * refuses what it cannot do online instead of taking the lock). */
int mg_lint_fact_online(const struct mg_sql_fact *f)
{
	return (f->flags & MG_FACTF_CONCURRENTLY) != 0;
}

/* TRUNCATE: a DELETE fact whose detail says so (MySQL driver). */
int mg_lint_fact_truncate(const struct mg_sql_fact *f)
{
	return f->kind == MG_FACT_DELETE && f->detail && mg_lint_same_name(f->detail, "TRUNCATE");
}

/* A session's scratch table: gone when the step's connection ends, so
 * neither the new version's nor a re-run's concern. The driver says so in
 * the detail of CREATE TABLE. */
int mg_lint_fact_temporary(const struct mg_sql_fact *f)
{
	return f->kind == MG_FACT_CREATE_TABLE && f->detail && mg_lint_same_name(f->detail, "TEMPORARY");
}
