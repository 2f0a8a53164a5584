/*
 * lint_rules_style.c - the native-operation and hygiene rules of `migrate
 * lint` (lint.h): prefer-native, type-json, type-timestamp, type-serial,
 * int-primary-key, type-char, down-missing, non-deterministic.
 *
 * The rules read the facts the driver found in each SQL-bearing value
 * (ctx->values[], read once by the engine) and the loaded operations; they
 * know no database: what a type or a statement is, the driver said in
 * name-neutral flags. Each rule's page is docs/lint/<id>.md.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lint_rules.h"
#include "util.h"

/* ==== helpers ============================================================ */

static const struct mg_op *value_op(const struct mg_lint_ctx *c,
				    const struct mg_lint_value *v)
{
	return &c->m->ops[v->op];
}

/* s, or what the user has to fill in when the facts do not say. */
static const char *or_blank(const char *s, const char *blank)
{
	return s && *s ? s : blank;
}

static int same_name(const char *a, const char *b)
{
	return a && b && !strcasecmp(a, b);
}

/* The table a fact is about: the one the SQL names, else the operation's
 * (a `type` value names no table). */
static const char *fact_table(const struct mg_lint_ctx *c,
			      const struct mg_lint_value *v,
			      const struct mg_sql_fact *f)
{
	if (f->table)
		return f->table;
	return or_blank(value_op(c, v)->table, "?");
}

/* The column a type fact is about: the one the SQL names; for a `type`
 * value, the create_table column, or the column the operation creates
 * (alter_column with `to`: the new one). */
static const char *fact_column(const struct mg_lint_ctx *c,
			       const struct mg_lint_value *v,
			       const struct mg_sql_fact *f)
{
	const struct mg_op *op = value_op(c, v);

	if (f->name)
		return f->name;
	if (v->column)
		return v->column;
	if (op->kind == MG_OP_ALTER_COLUMN && op->to)
		return op->to;
	return or_blank(op->column, "?");
}

/* Rollback SQL restores what was there before: its types were chosen by
 * an earlier migration, and are not this file's to change. */
static int is_rollback(const struct mg_lint_value *v)
{
	return v->phase == MG_SQL_ROLLBACK;
}

/* ==== prefer-native ====================================================== */

/* The type a column gets in the same value (ADD COLUMN's COLUMN_TYPE fact),
 * for the hint; NULL when the driver did not say. */
static const char *added_type(const struct mg_lint_value *v,
			      const struct mg_sql_fact *add)
{
	for (size_t i = 0; i < v->facts.n; i++) {
		const struct mg_sql_fact *f = &v->facts.items[i];

		if (f->kind == MG_FACT_COLUMN_TYPE && f->detail &&
		    same_name(f->name, add->name) &&
		    (!f->table || !add->table || same_name(f->table, add->table)))
			return f->detail;
	}
	return NULL;
}

/* Did an earlier statement of the same value create this table? Then the
 * change belongs in that create_table, not in an operation of its own,
 * and the CREATE TABLE is the one finding. */
static int created_before(const struct mg_lint_value *v, size_t i)
{
	const struct mg_sql_fact *f = &v->facts.items[i];

	if (!f->table)
		return 0;
	for (size_t j = 0; j < i; j++)
		if (v->facts.items[j].kind == MG_FACT_CREATE_TABLE &&
		    same_name(v->facts.items[j].table, f->table))
			return 1;
	return 0;
}

struct native {
	const char *op;		/* the operation's name */
	char *what;		/* what the SQL does, for the message */
	char *yaml;		/* the operation, in flow style */
	const char *why;	/* what the operation does better */
};

static void native_constraint(struct native *n, const struct mg_sql_fact *f,
			      const char *t)
{
	const char *name = or_blank(f->name, "<name>");

	if (f->flags & MG_FACTF_FOREIGN_KEY) {
		n->op = "add_foreign_key";
		n->what = mg_xasprintf("adds foreign key '%s' to '%s'", name, t);
		n->yaml = mg_xasprintf("add_foreign_key: {table: %s, name: %s, columns: [...], references: {table: ..., columns: [...]}}",
				       t, name);
		n->why = "NOT VALID at expand, validated without blocking writes, orphans fixed by `up`";
	} else if (f->flags & MG_FACTF_CHECK) {
		n->op = "add_check";
		n->what = mg_xasprintf("adds check '%s' to '%s'", name, t);
		n->yaml = mg_xasprintf("add_check: {table: %s, name: %s, column: ..., check: \"%s\", up: ...}",
				       t, name, or_blank(f->detail, "..."));
		n->why = "NOT VALID at expand, validated without blocking writes, the old version's breaking writes fixed by `up`";
	} else if ((f->flags & MG_FACTF_UNIQUE) && (f->flags & MG_FACTF_USING_INDEX)) {
		n->op = "create_index";
		n->what = mg_xasprintf("turns an index of '%s' into unique constraint '%s'", t, name);
		n->yaml = mg_xasprintf("create_index: {table: %s, name: %s, columns: [...], unique: true, constraint: true}",
				       t, name);
		n->why = "the index built concurrently, the constraint over it, both undone by rollback";
	} else if (f->flags & MG_FACTF_UNIQUE) {
		n->op = "add_unique";
		n->what = mg_xasprintf("adds unique constraint '%s' to '%s'", name, t);
		n->yaml = mg_xasprintf("add_unique: {table: %s, name: %s, columns: [...]}", t, name);
		n->why = "its index built concurrently, then UNIQUE USING INDEX at switch-reads";
	}
	/* PRIMARY KEY and the others: no operation does it */
}

static void native_column(struct native *n, const struct mg_lint_value *v,
			  const struct mg_sql_fact *f, const char *t)
{
	const char *col = or_blank(f->name, "<column>");

	switch (f->kind) {
	case MG_FACT_ADD_COLUMN:
		n->op = "add_column";
		n->what = mg_xasprintf("adds column '%s' to '%s'", col, t);
		n->yaml = mg_xasprintf("add_column: {table: %s, column: %s, type: %s%s%s}",
				       t, col, or_blank(added_type(v, f), "..."),
				       f->flags & MG_FACTF_NOT_NULL ? ", nullable: false" : "",
				       f->flags & MG_FACTF_HAS_DEFAULT ? ", default: ..." : "");
		n->why = "existing rows backfilled in batches, NOT NULL and the default at contract, dropped by rollback";
		break;
	case MG_FACT_DROP_COLUMN:
		n->op = "drop_column";
		n->what = mg_xasprintf("drops column '%s' of '%s'", col, t);
		n->yaml = mg_xasprintf("drop_column: {table: %s, column: %s, down: ...}", t, col);
		n->why = "dropped at contract, once the old version is gone, its dependents checked first";
		break;
	case MG_FACT_RENAME_COLUMN:
		n->op = "rename_column";
		n->what = mg_xasprintf("renames column '%s' of '%s' to '%s'", col, t,
				       or_blank(f->detail, "?"));
		n->yaml = mg_xasprintf("rename_column: {table: %s, from: %s, to: %s}", t, col,
				       or_blank(f->detail, "..."));
		n->why = "both names are read and written until contract";
		break;
	case MG_FACT_ALTER_TYPE:
		n->op = "alter_column";
		n->what = mg_xasprintf("changes the type of column '%s' of '%s'", col, t);
		n->yaml = mg_xasprintf("alter_column: {table: %s, column: %s, type: %s}", t, col,
				       or_blank(f->detail, "..."));
		n->why = "a new column backfilled in batches, the type switched at contract without a rewrite under lock";
		break;
	case MG_FACT_SET_NOT_NULL:
		n->op = "set_not_null";
		n->what = mg_xasprintf("sets NOT NULL on column '%s' of '%s'", col, t);
		n->yaml = mg_xasprintf("set_not_null: {table: %s, column: %s, up: <the value of a NULL>}", t, col);
		n->why = "a validated CHECK first, so SET NOT NULL reads no row; the old version's NULLs fixed by `up`";
		break;
	case MG_FACT_DROP_NOT_NULL:
		n->op = "drop_not_null";
		n->what = mg_xasprintf("drops NOT NULL from column '%s' of '%s'", col, t);
		n->yaml = mg_xasprintf("drop_not_null: {table: %s, column: %s, down: ...}", t, col);
		n->why = "rollback puts NOT NULL back without a long lock";
		break;
	case MG_FACT_SET_DEFAULT:
		if (f->flags & MG_FACTF_HAS_DEFAULT) {
			n->op = "set_default";
			n->what = mg_xasprintf("sets the default of column '%s' of '%s'", col, t);
			n->yaml = mg_xasprintf("set_default: {table: %s, column: %s, default: ...}", t, col);
			n->why = "the expression checked at plan time, the old default restored by rollback";
		} else {
			n->op = "drop_default";
			n->what = mg_xasprintf("drops the default of column '%s' of '%s'", col, t);
			n->yaml = mg_xasprintf("drop_default: {table: %s, column: %s}", t, col);
			n->why = "dropped at contract: the old version's inserts may rely on it until then";
		}
		break;
	default:
		break;
	}
}

/* Does the same value declare columns of table t? CREATE TABLE ... AS
 * SELECT, (LIKE ...) and PARTITION OF declare none: create_table cannot
 * say those. */
static int declares_columns(const struct mg_lint_value *v, const char *t)
{
	for (size_t i = 0; i < v->facts.n; i++)
		if (v->facts.items[i].kind == MG_FACT_COLUMN_TYPE &&
		    same_name(v->facts.items[i].table, t))
			return 1;
	return 0;
}

static void native_table(struct native *n, const struct mg_lint_value *v,
			 const struct mg_sql_fact *f, const char *t)
{
	switch (f->kind) {
	case MG_FACT_CREATE_TABLE:
		if (!declares_columns(v, f->table))
			break;
		n->op = "create_table";
		n->what = mg_xasprintf("creates table '%s'", t);
		n->yaml = mg_xasprintf("create_table: {table: %s, columns: [{name: id, type: bigint, primary_key: true, identity: by_default}, ...]}", t);
		n->why = "every type and expression checked at plan time, dropped by rollback";
		break;
	case MG_FACT_DROP_TABLE:
		n->op = "drop_table";
		n->what = mg_xasprintf("drops table '%s'", t);
		n->yaml = mg_xasprintf("drop_table: {table: %s}", t);
		n->why = "dropped at contract, once the old version is gone, never with CASCADE";
		break;
	case MG_FACT_RENAME_TABLE:
		n->op = "rename_table";
		n->what = mg_xasprintf("renames table '%s' to '%s'", t, or_blank(f->name, "?"));
		n->yaml = mg_xasprintf("rename_table: {table: %s, to: %s}", t, or_blank(f->name, "..."));
		n->why = "both names read and write until contract";
		break;
	case MG_FACT_DROP_CONSTRAINT:
		n->op = "drop_constraint";
		n->what = mg_xasprintf("drops constraint '%s' of '%s'", or_blank(f->name, "?"), t);
		n->yaml = mg_xasprintf("drop_constraint: {table: %s, name: %s}", t, or_blank(f->name, "..."));
		n->why = "dropped at contract: the old version relies on it until then";
		break;
	case MG_FACT_CREATE_INDEX:
		/* CONCURRENTLY: already the safe way, and maybe over an
		 * expression, which create_index cannot say */
		if (f->flags & MG_FACTF_CONCURRENTLY)
			break;
		n->op = "create_index";
		n->what = mg_xasprintf("creates index '%s' on '%s'", or_blank(f->name, "?"), t);
		n->yaml = mg_xasprintf("create_index: {table: %s, name: %s, columns: [...]%s}", t,
				       or_blank(f->name, "..."),
				       f->flags & MG_FACTF_UNIQUE ? ", unique: true" : "");
		n->why = "built CONCURRENTLY outside a transaction, an invalid build dropped and retried, dropped by rollback";
		break;
	case MG_FACT_DROP_INDEX:
		n->op = "drop_index";
		n->what = mg_xasprintf("drops index '%s'", or_blank(f->name, "?"));
		n->yaml = mg_xasprintf("drop_index: {table: %s, name: %s}",
				       or_blank(f->table, "<its table>"), or_blank(f->name, "..."));
		n->why = "dropped CONCURRENTLY at contract: the old version's queries use it until then";
		break;
	case MG_FACT_ADD_CONSTRAINT:
		native_constraint(n, f, t);
		break;
	default:
		native_column(n, v, f, t);
		break;
	}
}

/* What native operation does fact i of v, filled into n (n->op NULL:
 * none). */
static void native_for(struct native *n, const struct mg_lint_value *v, size_t i)
{
	const struct mg_sql_fact *f = &v->facts.items[i];
	const char *t = or_blank(f->table, "<table>");

	memset(n, 0, sizeof(*n));
	native_table(n, v, f, t);
}

/*
 * A sql step whose forward SQL (expand to contract) does what a native
 * operation does for both versions: one finding per change (an ALTER TABLE
 * with two actions is two operations). Rollback SQL is the undo of the
 * others: the finding on them covers it.
 */
void mg_lint_prefer_native(struct mg_lint_ctx *c)
{
	for (size_t k = 0; k < c->n_values; k++) {
		const struct mg_lint_value *v = &c->values[k];

		if (v->phase == MG_SQL_NPHASES || is_rollback(v) ||
		    v->kind != MG_LINT_STATEMENTS)
			continue;
		for (size_t i = 0; i < v->facts.n; i++) {
			const struct mg_sql_fact *f = &v->facts.items[i];
			struct native n;
			char *hint;

			if (created_before(v, i))
				continue;
			native_for(&n, v, i);
			if (!n.op)
				continue;
			hint = mg_xasprintf("use `%s`: %s", n.yaml, n.why);
			mg_lint_add(c, v->pos, v->value, f->offset, hint,
				    "%s SQL %s: the %s operation does it safely for both versions",
				    mg_sql_phase_name(v->phase), n.what, n.op);
			free(hint);
			free(n.what);
			free(n.yaml);
		}
	}
}

/* ==== types ============================================================== */

/*
 * Report every declared column type carrying flag (MG_FACTF_TYPE_*), in
 * sql statements and in `type` values alike, named as written (what when
 * the driver did not say). why completes the message; better is the type
 * to write instead.
 */
static void report_types(struct mg_lint_ctx *c, unsigned flag, const char *what,
			 const char *why, const char *better)
{
	for (size_t k = 0; k < c->n_values; k++) {
		const struct mg_lint_value *v = &c->values[k];

		if (is_rollback(v))
			continue;
		for (size_t i = 0; i < v->facts.n; i++) {
			const struct mg_sql_fact *f = &v->facts.items[i];
			char *hint;

			if (f->kind != MG_FACT_COLUMN_TYPE || !(f->flags & flag))
				continue;
			if (v->kind == MG_LINT_TYPE)
				hint = mg_xasprintf("write `type: %s`", better);
			else
				hint = mg_xasprintf("declare the column `%s`", better);
			mg_lint_add(c, v->pos, v->value, f->offset, hint,
				    "column '%s' of '%s' is %s: %s",
				    fact_column(c, v, f), fact_table(c, v, f),
				    or_blank(f->detail, what), why);
			free(hint);
		}
	}
}

void mg_lint_type_json(struct mg_lint_ctx *c)
{
	report_types(c, MG_FACTF_TYPE_JSON, "json",
		     "every read parses the text again, it has no equality (DISTINCT, GROUP BY fail) and no GIN index",
		     "jsonb");
}

void mg_lint_type_timestamp(struct mg_lint_ctx *c)
{
	report_types(c, MG_FACTF_TYPE_TIMESTAMP, "timestamp without time zone",
		     "it stores no instant, so the same value means another time in each session's time zone",
		     "timestamptz");
}

void mg_lint_type_serial(struct mg_lint_ctx *c)
{
	/* In a create_table column the identity is a key of its own. */
	for (size_t k = 0; k < c->n_values; k++) {
		const struct mg_lint_value *v = &c->values[k];

		if (is_rollback(v))
			continue;
		for (size_t i = 0; i < v->facts.n; i++) {
			const struct mg_sql_fact *f = &v->facts.items[i];
			const char *hint;

			if (f->kind != MG_FACT_COLUMN_TYPE || !(f->flags & MG_FACTF_TYPE_SERIAL))
				continue;
			if (v->kind == MG_LINT_TYPE && v->column)
				hint = "write `type: bigint` with `identity: by_default` (or `always`) in the column";
			else
				hint = "declare the column `bigint GENERATED BY DEFAULT AS IDENTITY`";
			mg_lint_add(c, v->pos, v->value, f->offset, hint,
				    "column '%s' of '%s' is %s: its sequence is an object of its own (its own grants; a copy of the table made with LIKE shares it), where an identity belongs to its column",
				    fact_column(c, v, f), fact_table(c, v, f),
				    or_blank(f->detail, v->value));
		}
	}
}

void mg_lint_type_char(struct mg_lint_ctx *c)
{
	report_types(c, MG_FACTF_TYPE_CHAR, "char(n)",
		     "values are padded with spaces to n, trailing spaces are ignored in comparisons and a longer value fails",
		     "varchar(n)` or `text");
}

/* ==== int-primary-key ==================================================== */

/* A create_table column that is the table's primary key by itself (a key
 * over several columns is made of references to other tables' keys, which
 * run out there first). A column that references another table takes its
 * values from there: not a key that runs out here. */
static int single_key_column(const struct mg_table_def *td, const char *col)
{
	for (size_t i = 0; i < td->n_columns; i++) {
		const struct mg_column_def *cd = &td->columns[i];

		if (cd->name && !strcmp(cd->name, col) && cd->primary_key)
			return !cd->references;
	}
	for (size_t i = 0; i < td->n_constraints; i++) {
		const struct mg_table_constraint *tc = &td->constraints[i];

		if (tc->kind == MG_TCON_PRIMARY_KEY && tc->n_columns == 1 &&
		    !strcmp(tc->columns[0], col)) {
			for (size_t j = 0; j < td->n_columns; j++)
				if (td->columns[j].name && !strcmp(td->columns[j].name, col) &&
				    td->columns[j].references)
					return 0;
			return 1;
		}
	}
	return 0;
}

static int is_int_key(const struct mg_lint_ctx *c, const struct mg_lint_value *v,
		      const struct mg_sql_fact *f)
{
	const struct mg_op *op = value_op(c, v);

	if (f->kind != MG_FACT_COLUMN_TYPE || !(f->flags & MG_FACTF_TYPE_INT4))
		return 0;
	if (f->flags & MG_FACTF_FOREIGN_KEY)
		return 0;
	if (f->flags & MG_FACTF_PRIMARY_KEY)
		return 1;
	return v->kind == MG_LINT_TYPE && v->column && op->tdef &&
	       single_key_column(op->tdef, v->column);
}

void mg_lint_int_primary_key(struct mg_lint_ctx *c)
{
	for (size_t k = 0; k < c->n_values; k++) {
		const struct mg_lint_value *v = &c->values[k];

		if (is_rollback(v))
			continue;
		for (size_t i = 0; i < v->facts.n; i++) {
			const struct mg_sql_fact *f = &v->facts.items[i];
			const char *hint;

			if (!is_int_key(c, v, f))
				continue;
			hint = v->kind == MG_LINT_TYPE ? "write `type: bigint`: changing the key later means rewriting the table and every key that references it"
						       : "declare the key `bigint`: changing it later means rewriting the table and every key that references it";
			mg_lint_add(c, v->pos, v->value, f->offset, hint,
				    "primary key '%s' of '%s' is %s: a 32-bit key runs out after 2,147,483,647 values, and migrate cannot replace a key column",
				    fact_column(c, v, f), fact_table(c, v, f),
				    or_blank(f->detail, v->value));
		}
	}
}

/* ==== down-missing ======================================================= */

/*
 * drop_column without `down`: until contract the old version still reads
 * the column, and the rows the new version inserts leave it NULL (or its
 * default; a NOT NULL column without one is refused by plan). drop_not_null
 * without `down`: rollback refuses while the new version's NULLs are in
 * the column, and the operator has to fix them by hand.
 */
void mg_lint_down_missing(struct mg_lint_ctx *c)
{
	for (size_t i = 0; i < c->m->n_ops; i++) {
		const struct mg_op *op = &c->m->ops[i];
		const char *t = or_blank(op->table, "?"), *col = or_blank(op->column, "?");

		if (op->down)
			continue;
		if (op->kind == MG_OP_DROP_COLUMN)
			mg_lint_add(c, op->pos, NULL, -1,
				    "add `down: <SQL>` with the value the old version should read in the new version's rows (e.g. `down: \"false\"`, or `down: \"NULL\"` to say it on purpose)",
				    "drop_column of '%s' on '%s' has no `down`: until contract the old version reads the column in rows the new version inserts, and finds NULL (or its default) there",
				    col, t);
		else if (op->kind == MG_OP_DROP_NOT_NULL)
			mg_lint_add(c, op->pos, NULL, -1,
				    "add `down: <SQL>` with the value rollback gives the NULLs (e.g. `down: \"0\"`)",
				    "drop_not_null of '%s' on '%s' has no `down`: rollback refuses while a NULL the new version wrote is in the column, and waits for someone to fix the rows by hand",
				    col, t);
	}
}

/* ==== non-deterministic ================================================== */

/*
 * alter_column's `up` and `down` are computed again and again for the same
 * row: by the trigger on every write (without `to`, on every write of the
 * row; with `to`, `up` on the old version's writes and `down` on the new
 * version's), by the backfill, and once more by switch-reads, which checks
 * every row against them. A volatile function (random(), now(),
 * gen_random_uuid()...) gives another value each time: the check finds
 * rows that differ and switch-reads fails. Elsewhere an expression is
 * computed once per row (add_column's backfill, drop_column's down, the
 * rules' up), where a value per row is what gen_random_uuid() is for.
 */
void mg_lint_non_deterministic(struct mg_lint_ctx *c)
{
	for (size_t k = 0; k < c->n_values; k++) {
		const struct mg_lint_value *v = &c->values[k];

		if (value_op(c, v)->kind != MG_OP_ALTER_COLUMN || v->kind != MG_LINT_EXPRESSION ||
		    !v->field || (strcmp(v->field, "up") && strcmp(v->field, "down")))
			continue;
		for (size_t i = 0; i < v->facts.n; i++) {
			const struct mg_sql_fact *f = &v->facts.items[i];

			if (f->kind != MG_FACT_VOLATILE_CALL)
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    "compute it from the row's own columns; a value drawn once per row belongs in an add_column backfill (computed once), copied by a later migration",
				    "%s() in alter_column's `%s` gives another value each time it runs: the trigger recomputes it on writes, and switch-reads, which checks every row against it, finds rows that differ",
				    or_blank(f->detail, "a volatile function"), v->field);
		}
	}
}
