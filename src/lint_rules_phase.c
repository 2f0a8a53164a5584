/*
 * lint_rules_phase.c - the phase and lock rules of `migrate lint` (lint.h).
 *
 * Every rule reads the facts the driver found in the file's SQL values
 * (ctx->values[], read once by the engine) and the loaded operations. What
 * makes the phase rules possible is that migrate knows which version runs
 * when: the old version runs through expand, backfill and switch-reads and
 * is gone at contract; the new version runs from switch-reads on.
 *
 * What counts as "new" to the migration (the old version cannot use it, a
 * table created by the migration holds no rows worth a lock) and the order
 * statements run in: lint_facts.h.
 *
 * Each rule's page is docs/lint/<id>.md; the cases are tests/lint/cases/.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "lint_facts.h"
#include "lint_rules.h"

/* A constraint's name for "%s%s%s" in a message: "'name' ", or nothing
 * when it has none. */
#define QUOTED_NAME(n) (n) ? "'" : "", (n) ? (n) : "", (n) ? "' " : ""

static const char *shown(const char *s)
{
	return s ? s : "?";
}

/* ---- file ------------------------------------------------------------- */

void mg_lint_sql_syntax(struct mg_lint_ctx *c)
{
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];
			const char *what = v->kind == MG_LINT_STATEMENTS ? "SQL"
					   : v->kind == MG_LINT_TYPE ? "type"
					   : "expression";

			if (f->kind != MG_FACT_SYNTAX_ERROR)
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    "fix the SQL: plan would refuse the file (exit 2) and nothing after it runs",
				    "the %s of %s `%s` does not parse: %s", what,
				    mg_op_kind_name(c->m->ops[v->op].kind), v->field,
				    shown(f->detail));
		}
	}
}

/* ---- phases ----------------------------------------------------------- */

/* The phases the old version still runs through. */
static int old_version_runs(enum mg_sql_phase p)
{
	return p == MG_SQL_EXPAND || p == MG_SQL_BACKFILL || p == MG_SQL_SWITCH_READS;
}

/* Did this migration give col a default before `at` (ADD COLUMN ...
 * DEFAULT, SET DEFAULT, native add_column with default)? Then the old
 * version's inserts that leave it out do not write NULL. */
static int column_has_new_default(const struct mg_lint_ctx *c, const char *table,
				  const char *col, struct mg_lint_at at)
{
	for (size_t i = 0; i < c->m->n_ops; i++) {
		const struct mg_op *op = &c->m->ops[i];

		if ((op->kind == MG_OP_ADD_COLUMN || op->kind == MG_OP_SET_DEFAULT)
		    && op->default_expr && mg_lint_same_table(op->table, table)
		    && mg_lint_same_name(op->column, col)
		    && mg_lint_native_runs_before(i, MG_SQL_EXPAND, at))
			return 1;
	}
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *w = &c->values[i];

		if (!mg_lint_is_sql_step(c, w) || w->phase == MG_SQL_ROLLBACK)
			continue;
		for (size_t j = 0; j < w->facts.n; j++) {
			const struct mg_sql_fact *g = &w->facts.items[j];

			if ((g->kind == MG_FACT_ADD_COLUMN || g->kind == MG_FACT_SET_DEFAULT)
			    && (g->flags & MG_FACTF_HAS_DEFAULT)
			    && mg_lint_match_column(g, table, col)
			    && mg_lint_fact_runs_before(w, j, at))
				return 1;
		}
	}
	return 0;
}

/* SET NOT NULL breaks the old version unless it cannot write NULL there:
 * a new table, or a column this migration added with a default. */
static int set_not_null_breaks_old(const struct mg_lint_ctx *c,
				   const struct mg_sql_fact *f, struct mg_lint_at at)
{
	/* a restated definition may keep the NOT NULL the column had: lint
	 * cannot tell, and an error here would be a guess */
	if (f->flags & MG_FACTF_RESTATED)
		return 0;
	if (mg_lint_table_unknown_to_old(c, f->table, at))
		return 0;
	if (mg_lint_column_unknown_to_old(c, f->table, f->name, at))
		return !column_has_new_default(c, f->table, f->name, at);
	return 1;
}

static void breaks_old(struct mg_lint_ctx *c, const struct mg_lint_value *v,
		       const struct mg_sql_fact *f, struct mg_lint_at at)
{
	const char *ph = mg_sql_phase_name(v->phase);
	const char *t = shown(f->table), *n = shown(f->name);

	switch (f->kind) {
	case MG_FACT_DROP_TABLE:
		if (mg_lint_table_unknown_to_old(c, f->table, at))
			return;
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "drop it at contract (move the statement to `contract:`), or use the native drop_table operation",
			    "DROP TABLE '%s' at %s breaks the old version, which still reads and writes it until contract",
			    t, ph);
		return;
	case MG_FACT_DROP_COLUMN:
		if (mg_lint_column_unknown_to_old(c, f->table, f->name, at))
			return;
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "drop it at contract (move the statement to `contract:`), or use the native drop_column operation (with `down` for the old version's inserts)",
			    "DROP COLUMN '%s.%s' at %s breaks the old version, which still reads and writes it until contract",
			    t, n, ph);
		return;
	case MG_FACT_RENAME_TABLE:
		if (mg_lint_table_unknown_to_old(c, f->table, at))
			return;
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "use the native rename_table operation: both names work until contract",
			    "renaming table '%s' to '%s' at %s breaks the old version, which still uses the old name until contract",
			    t, n, ph);
		return;
	case MG_FACT_RENAME_COLUMN:
		if (mg_lint_column_unknown_to_old(c, f->table, f->name, at))
			return;
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "use the native rename_column operation: the old version keeps the old name, the new version gets the new one, until contract",
			    "renaming column '%s.%s' to '%s' at %s breaks the old version, which still uses the old name until contract",
			    t, n, shown(f->detail), ph);
		return;
	case MG_FACT_ALTER_TYPE:
		if (!(f->flags & MG_FACTF_NARROWS)
		    || mg_lint_column_unknown_to_old(c, f->table, f->name, at))
			return;
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "use the native alter_column operation (type, up, down): the new type goes in a new column the old version does not see",
			    "changing '%s.%s' to %s at %s narrows it: the old version's writes that no longer fit fail",
			    t, n, shown(f->detail), ph);
		return;
	case MG_FACT_SET_NOT_NULL:
		if (!set_not_null_breaks_old(c, f, at))
			return;
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "use the native set_not_null operation (its `up` fixes the old version's NULLs), or SET NOT NULL at contract",
			    "SET NOT NULL on '%s.%s' at %s breaks the old version, which may still write NULL there until contract",
			    t, n, ph);
		return;
	case MG_FACT_SET_DEFAULT:
		if (f->flags & MG_FACTF_HAS_DEFAULT
		    || mg_lint_column_unknown_to_old(c, f->table, f->name, at))
			return;
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "drop the default at contract, or use the native drop_default operation (which does it at contract)",
			    "DROP DEFAULT on '%s.%s' at %s breaks the old version: its inserts that leave the column out get NULL (or fail on NOT NULL)",
			    t, n, ph);
		return;
	case MG_FACT_DELETE:
		if (!mg_lint_fact_truncate(f) || mg_lint_table_unknown_to_old(c, f->table, at))
			return;
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "empty it at contract, when the old version is gone, or delete only the rows no version needs (in batches)",
			    "TRUNCATE '%s' at %s empties a table the old version still reads and writes until contract",
			    t, ph);
		return;
	default:
		return;
	}
}

void mg_lint_expand_breaks_old(struct mg_lint_ctx *c)
{
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v) || !old_version_runs(v->phase))
			continue;
		for (size_t j = 0; j < v->facts.n; j++)
			breaks_old(c, v, &v->facts.items[j], (struct mg_lint_at){ v, j });
	}
}

static void adds_at_contract(struct mg_lint_ctx *c, const struct mg_lint_value *v,
			     const struct mg_sql_fact *f)
{
	const char *t = shown(f->table), *n = shown(f->name);

	switch (f->kind) {
	case MG_FACT_CREATE_TABLE:
		if (mg_lint_fact_temporary(f))
			return;
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "create it at expand (move the statement to `expand:`, with rollback SQL that drops it), or use the native create_table operation",
			    "CREATE TABLE '%s' at contract comes too late: the new version has run without it since switch-reads",
			    t);
		return;
	case MG_FACT_ADD_COLUMN:
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "add it at expand (move the statement to `expand:`), or use the native add_column operation",
			    "ADD COLUMN '%s.%s' at contract comes too late: the new version has run without it since switch-reads",
			    t, n);
		return;
	case MG_FACT_RENAME_TABLE:
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "use the native rename_table operation: the new name works from expand on",
			    "renaming table '%s' to '%s' at contract: the new version has run without the new name since switch-reads",
			    t, n);
		return;
	case MG_FACT_RENAME_COLUMN:
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "use the native rename_column operation: the new name works from expand on",
			    "renaming column '%s.%s' to '%s' at contract: the new version has run without the new name since switch-reads",
			    t, n, shown(f->detail));
		return;
	case MG_FACT_ADD_CONSTRAINT:
		mg_lint_add(c, v->pos, v->value, f->offset,
			    "add it NOT VALID at expand and VALIDATE CONSTRAINT at switch_reads, or use the native add_check, add_foreign_key or add_unique operation",
			    "ADD CONSTRAINT %s%s%son '%s' at contract: the new version has relied on the rule since switch-reads without it being enforced",
			    QUOTED_NAME(f->name), t);
		return;
	default:
		return;
	}
}

void mg_lint_contract_adds(struct mg_lint_ctx *c)
{
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v) || v->phase != MG_SQL_CONTRACT)
			continue;
		for (size_t j = 0; j < v->facts.n; j++)
			adds_at_contract(c, v, &v->facts.items[j]);
	}
}

/*
 * Any expand SQL without rollback SQL: migrate's rollback then refuses
 * the whole migration (planner_emit.c), whatever the SQL does, so the
 * rule does not try to tell DDL from DML.
 */
void mg_lint_rollback_missing(struct mg_lint_ctx *c)
{
	for (size_t i = 0; i < c->m->n_ops; i++) {
		const struct mg_op *op = &c->m->ops[i];

		if (op->kind != MG_OP_SQL || !op->sql[MG_SQL_EXPAND] || op->sql[MG_SQL_ROLLBACK])
			continue;
		mg_lint_add(c, op->pos, NULL, -1,
			    "add `rollback:` SQL that undoes the expand SQL (DROP ... IF EXISTS for what it creates); for SQL with nothing to undo, a rollback that says so: `rollback: \"SELECT 1 -- nothing to undo\"`",
			    "this sql step has expand SQL and no rollback SQL: `migrate rollback` refuses the whole migration");
	}
}

/* What a statement that is re-run after a crash needs to succeed again,
 * or NULL when it runs again as it is. */
static const char *rerun_guard(const struct mg_sql_fact *f)
{
	switch (f->kind) {
	case MG_FACT_CREATE_TABLE:
		if (mg_lint_fact_temporary(f))
			return NULL;
		/* fall through */
	case MG_FACT_CREATE_INDEX:
	case MG_FACT_ADD_COLUMN:
		return f->flags & MG_FACTF_IF_NOT_EXISTS ? NULL : "IF NOT EXISTS";
	case MG_FACT_DROP_TABLE:
	case MG_FACT_DROP_COLUMN:
	case MG_FACT_DROP_INDEX:
	case MG_FACT_DROP_CONSTRAINT:
		return f->flags & MG_FACTF_IF_EXISTS ? NULL : "IF EXISTS";
	case MG_FACT_ADD_CONSTRAINT:
		return f->flags & MG_FACTF_IF_NOT_EXISTS ? NULL : "a guard";
	case MG_FACT_RENAME_TABLE:
	case MG_FACT_RENAME_COLUMN:
		return f->flags & MG_FACTF_IF_EXISTS ? NULL : "a guard";
	default:
		return NULL;
	}
}

static const char *fact_verb(enum mg_fact_kind k)
{
	switch (k) {
	case MG_FACT_CREATE_TABLE: return "CREATE TABLE";
	case MG_FACT_CREATE_INDEX: return "CREATE INDEX";
	case MG_FACT_ADD_COLUMN: return "ADD COLUMN";
	case MG_FACT_DROP_TABLE: return "DROP TABLE";
	case MG_FACT_DROP_COLUMN: return "DROP COLUMN";
	case MG_FACT_DROP_INDEX: return "DROP INDEX";
	case MG_FACT_DROP_CONSTRAINT: return "DROP CONSTRAINT";
	case MG_FACT_ADD_CONSTRAINT: return "ADD CONSTRAINT";
	case MG_FACT_RENAME_TABLE: return "RENAME TABLE";
	case MG_FACT_RENAME_COLUMN: return "RENAME COLUMN";
	case MG_FACT_REINDEX: return "REINDEX";
	default: return "the statement";
	}
}

/* The object a fact is about, for a message: "t.c", "t" or the name. */
static void fact_object(char *out, size_t n, const struct mg_sql_fact *f)
{
	if (f->table && f->name && f->kind != MG_FACT_RENAME_TABLE
	    && f->kind != MG_FACT_CREATE_INDEX)
		snprintf(out, n, "%s.%s", f->table, f->name);
	else if (f->name && f->kind != MG_FACT_RENAME_TABLE)
		snprintf(out, n, "%s", f->name);
	else
		snprintf(out, n, "%s", shown(f->table));
}

void mg_lint_expand_not_rerunnable(struct mg_lint_ctx *c)
{
	int tx_ddl = mg_lint_transactional_ddl(c);

	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];
		const struct mg_op *op;

		if (!mg_lint_is_sql_step(c, v))
			continue;
		op = &c->m->ops[v->op];
		if (op->in_transaction && tx_ddl)
			continue;
		const char *how = !op->in_transaction ? "runs outside a transaction"
				  : "commits on its own (this database commits every DDL statement)";

		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];
			const char *guard = rerun_guard(f);
			char obj[300];

			if (!guard)
				continue;
			fact_object(obj, sizeof(obj), f);
			if (!strcmp(guard, "a guard"))
				mg_lint_add(c, v->pos, v->value, f->offset,
					    tx_ddl ? "keep in_transaction: true for it (only CONCURRENTLY needs false); or a DO block that checks the catalog first"
						   : "check the catalog first (a prepared statement chosen by a query on information_schema, as migrate's own MySQL plans do), or use the native operation",
					    "%s '%s' at %s %s: after a crash once it is done, the re-run fails because it is already done",
					    fact_verb(f->kind), obj, mg_sql_phase_name(v->phase), how);
			else
				mg_lint_add(c, v->pos, v->value, f->offset,
					    tx_ddl ? "write it with IF [NOT] EXISTS (CREATE INDEX CONCURRENTLY IF NOT EXISTS, DROP INDEX CONCURRENTLY IF EXISTS), or keep in_transaction: true when it needs no CONCURRENTLY"
						   : "write it with IF [NOT] EXISTS (MariaDB takes it on ADD/DROP COLUMN and INDEX too; on MySQL check information_schema first), or use the native operation",
					    "%s '%s' without %s at %s %s: after a crash once it is done, the re-run fails",
					    fact_verb(f->kind), obj, guard, mg_sql_phase_name(v->phase), how);
		}
	}
}

void mg_lint_transaction_control(struct mg_lint_ctx *c)
{
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v))
			continue;
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];

			if (f->kind != MG_FACT_TRANSACTION)
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    "remove it: migrate runs each phase's SQL in its own transaction (in_transaction: true) and records it done in the same one; use in_transaction: false only for a single CONCURRENTLY statement",
				    "%s in a sql step's %s SQL ends or starts a transaction migrate did not open: plan refuses it (exit 2)",
				    shown(f->detail), mg_sql_phase_name(v->phase));
		}
	}
}

/* ---- locks ------------------------------------------------------------ */

void mg_lint_index_not_concurrent(struct mg_lint_ctx *c)
{
	int pg = mg_lint_transactional_ddl(c);

	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v))
			continue;
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];
			struct mg_lint_at at = { v, j };

			if (f->flags & MG_FACTF_CONCURRENTLY)
				continue;
			if (f->kind == MG_FACT_CREATE_INDEX && !mg_lint_table_is_new(c, f->table, at))
				mg_lint_add(c, v->pos, v->value, f->offset,
					    pg ? "CREATE INDEX CONCURRENTLY IF NOT EXISTS ... in a sql step of its own with in_transaction: false, or the native create_index operation (builds it concurrently)"
					       : "add ALGORITHM=INPLACE, LOCK=NONE (the server then refuses instead of blocking), or use the native create_index operation",
					    "CREATE INDEX '%s' on '%s' blocks writes to the table until the index is built (the old and the new version wait)",
					    shown(f->name), shown(f->table));
			else if (f->kind == MG_FACT_DROP_INDEX
				 && !(f->table ? mg_lint_table_is_new(c, f->table, at)
					       : mg_lint_index_on_new_table(c, f->name, at)))
				mg_lint_add(c, v->pos, v->value, f->offset,
					    pg ? "DROP INDEX CONCURRENTLY IF EXISTS ... in a sql step of its own with in_transaction: false, or the native drop_index operation"
					       : "add ALGORITHM=INPLACE, LOCK=NONE, or use the native drop_index operation",
					    "DROP INDEX '%s' takes an exclusive lock on its table: it waits behind every running query and blocks all reads and writes queued after it",
					    shown(f->name));
		}
	}
}

/* Statements that are one statement each (an ALTER TABLE may give several
 * facts, one per clause, and is counted once by the caller). */
static int whole_statement(enum mg_fact_kind k)
{
	switch (k) {
	case MG_FACT_CREATE_TABLE: case MG_FACT_DROP_TABLE:
	case MG_FACT_CREATE_INDEX: case MG_FACT_DROP_INDEX:
	case MG_FACT_REINDEX: case MG_FACT_VACUUM_FULL: case MG_FACT_CLUSTER:
	case MG_FACT_LOCK_TABLE: case MG_FACT_TRANSACTION:
	case MG_FACT_UPDATE: case MG_FACT_DELETE: case MG_FACT_OTHER:
		return 1;
	default:
		return 0;
	}
}

static int is_alter_clause(enum mg_fact_kind k)
{
	switch (k) {
	case MG_FACT_RENAME_TABLE: case MG_FACT_ADD_COLUMN: case MG_FACT_DROP_COLUMN:
	case MG_FACT_RENAME_COLUMN: case MG_FACT_ALTER_TYPE: case MG_FACT_SET_NOT_NULL:
	case MG_FACT_DROP_NOT_NULL: case MG_FACT_SET_DEFAULT: case MG_FACT_ADD_CONSTRAINT:
	case MG_FACT_VALIDATE_CONSTRAINT: case MG_FACT_DROP_CONSTRAINT:
		return 1;
	default:
		return 0;
	}
}

/* At least how many statements the text holds: PostgreSQL runs several
 * statements sent together in one implicit transaction. */
static size_t statements_at_least(const struct mg_lint_value *v)
{
	size_t n = 0;
	int alter = 0;

	for (size_t j = 0; j < v->facts.n; j++) {
		enum mg_fact_kind k = v->facts.items[j].kind;

		if (whole_statement(k))
			n++;
		else if (is_alter_clause(k))
			alter = 1;
	}
	return n + (size_t)alter;
}

void mg_lint_concurrently_in_transaction(struct mg_lint_ctx *c)
{
	/* Without transactional DDL (MySQL) an online ALTER in a step's
	 * transaction commits it and runs: nothing fails. */
	if (!mg_lint_transactional_ddl(c))
		return;
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];
		const struct mg_op *op;

		if (!mg_lint_is_sql_step(c, v))
			continue;
		op = &c->m->ops[v->op];
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];
			const char *why;

			if (!(f->flags & MG_FACTF_CONCURRENTLY))
				continue;
			if (f->flags & MG_FACTF_IN_BLOCK)
				why = "after a BEGIN of the same SQL";
			else if (op->in_transaction)
				why = "in a step that runs in a transaction (in_transaction defaults to true)";
			else if (statements_at_least(v) > 1)
				why = "sent with other statements, which PostgreSQL runs in one implicit transaction";
			else
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    "put the CONCURRENTLY statement alone in a sql step with in_transaction: false (and IF [NOT] EXISTS), or use the native create_index/drop_index operation",
				    "%s CONCURRENTLY '%s' %s fails: it cannot run inside a transaction block",
				    fact_verb(f->kind), shown(f->name ? f->name : f->table), why);
		}
	}
}

void mg_lint_constraint_not_valid(struct mg_lint_ctx *c)
{
	int pg = mg_lint_transactional_ddl(c);

	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v))
			continue;
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];
			int fk = (f->flags & MG_FACTF_FOREIGN_KEY) != 0;
			/* ADD COLUMN ... REFERENCES: validated as it is added */
			int inline_fk = f->kind == MG_FACT_ADD_COLUMN && fk;
			const char *name = inline_fk ? NULL : f->name;

			if ((f->kind != MG_FACT_ADD_CONSTRAINT && !inline_fk)
			    || !(f->flags & (MG_FACTF_FOREIGN_KEY | MG_FACTF_CHECK))
			    || (f->flags & MG_FACTF_NOT_VALID) || mg_lint_fact_online(f)
			    || mg_lint_table_is_new(c, f->table, (struct mg_lint_at){ v, j }))
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    pg ? (fk ? "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID at expand, then ALTER TABLE ... VALIDATE CONSTRAINT at switch_reads (writes go on); or the native add_foreign_key operation"
					     : "ADD CONSTRAINT ... CHECK (...) NOT VALID at expand, then ALTER TABLE ... VALIDATE CONSTRAINT at switch_reads (writes go on); or the native add_check operation")
				       : (fk ? "SET foreign_key_checks = 0 before it in the same SQL (then ALGORITHM=INPLACE reads no row), and check the rows yourself; or the native add_foreign_key operation"
					     : "ADD CONSTRAINT ... CHECK (...) NOT ENFORCED, later ALTER CHECK ... ENFORCED; or the native add_check operation"),
				    "%s constraint %s%s%son '%s' checks every row while holding a lock that blocks writes%s",
				    fk ? "FOREIGN KEY" : "CHECK", QUOTED_NAME(name),
				    shown(f->table), fk ? " (on both tables)" : "");
		}
	}
}

/* "(email IS NOT NULL)" -> "emailisnotnull": enough to recognise the
 * check that lets SET NOT NULL skip its scan. */
static void squeeze(char *out, size_t n, const char *s)
{
	size_t j = 0;

	for (; s && *s && j + 1 < n; s++)
		if (!isspace((unsigned char)*s) && *s != '(' && *s != ')'
		    && *s != '"' && *s != '`')
			out[j++] = (char)tolower((unsigned char)*s);
	out[j] = '\0';
}

static int is_not_null_check(const char *expr, const char *col)
{
	char e[256], want[256], folded[200];

	if (!expr || !col)
		return 0;
	squeeze(e, sizeof(e), expr);
	squeeze(folded, sizeof(folded), col);
	snprintf(want, sizeof(want), "%sisnotnull", folded);
	return !strcmp(e, want);
}

/* Is there, before `at`, a validated CHECK (col IS NOT NULL) on the table:
 * added without NOT VALID, or NOT VALID and then VALIDATEd? A native
 * add_check of that expression validates at switch-reads. */
static int validated_not_null_check(const struct mg_lint_ctx *c,
				    const char *table, const char *col, struct mg_lint_at at)
{
	for (size_t i = 0; i < c->m->n_ops; i++) {
		const struct mg_op *op = &c->m->ops[i];

		if (op->kind == MG_OP_ADD_CHECK && mg_lint_same_table(op->table, table)
		    && is_not_null_check(op->check, col)
		    && mg_lint_native_runs_before(i, MG_SQL_SWITCH_READS, at))
			return 1;
	}
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *w = &c->values[i];

		if (!mg_lint_is_sql_step(c, w) || w->phase == MG_SQL_ROLLBACK)
			continue;
		for (size_t j = 0; j < w->facts.n; j++) {
			const struct mg_sql_fact *g = &w->facts.items[j];

			if (g->kind != MG_FACT_ADD_CONSTRAINT || !(g->flags & MG_FACTF_CHECK)
			    || !mg_lint_same_table(g->table, table) || !is_not_null_check(g->detail, col)
			    || !mg_lint_fact_runs_before(w, j, at))
				continue;
			if (!(g->flags & MG_FACTF_NOT_VALID))
				return 1;
			if (g->name && mg_lint_fact_before(c, at, MG_FACT_VALIDATE_CONSTRAINT,
						   mg_lint_match_column, table, g->name))
				return 1;
		}
	}
	return 0;
}

void mg_lint_set_not_null(struct mg_lint_ctx *c)
{
	int pg = mg_lint_transactional_ddl(c);

	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v))
			continue;
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];
			struct mg_lint_at at = { v, j };

			/* a restated definition's rebuild is type-rewrite's */
			if (f->kind != MG_FACT_SET_NOT_NULL || mg_lint_fact_online(f)
			    || (f->flags & MG_FACTF_RESTATED)
			    || mg_lint_table_is_new(c, f->table, at)
			    || validated_not_null_check(c, f->table, f->name, at))
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    pg ? "first ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT c (writes go on), then SET NOT NULL (reads no row) and DROP CONSTRAINT c; or the native set_not_null operation"
				       : "add ALGORITHM=INPLACE, LOCK=NONE (an online rebuild: writes go on), or use the native set_not_null operation (allow_rebuild: true)",
				    "SET NOT NULL on '%s.%s' %s: reads and writes of the table wait",
				    shown(f->table), shown(f->name),
				    pg ? "reads every row under an ACCESS EXCLUSIVE lock"
				       : "rebuilds the table without LOCK=NONE");
		}
	}
}

void mg_lint_type_rewrite(struct mg_lint_ctx *c)
{
	int pg = mg_lint_transactional_ddl(c);

	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v))
			continue;
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];

			if (f->kind != MG_FACT_ALTER_TYPE || !(f->flags & MG_FACTF_REWRITES)
			    || mg_lint_fact_online(f) || mg_lint_table_is_new(c, f->table, (struct mg_lint_at){ v, j }))
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    pg ? "use the native alter_column operation (type, up): it adds a column of the new type, backfills it in batches and switches at contract, with no long lock"
				       : "add ALGORITHM=INPLACE, LOCK=NONE (the server refuses what it cannot do online), or use the native alter_column operation (type, up)",
				    pg ? "changing '%s.%s' to %s rewrites the whole table and its indexes under an exclusive lock: reads and writes wait until it is done"
				       : "changing '%s.%s' to %s may copy the whole table, blocking writes until it is done (lint cannot know the type before)",
				    shown(f->table), shown(f->name), shown(f->detail));
		}
	}
}

void mg_lint_volatile_default(struct mg_lint_ctx *c)
{
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v))
			continue;
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];

			if (f->kind != MG_FACT_ADD_COLUMN || !(f->flags & MG_FACTF_VOLATILE_DEFAULT)
			    || mg_lint_fact_online(f) || mg_lint_table_is_new(c, f->table, (struct mg_lint_at){ v, j }))
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    "add the column without a default (or with a constant one), then SET DEFAULT (new rows only) and fill the rows in batches; the native add_column operation with `backfill` does that",
				    "ADD COLUMN '%s.%s' with a volatile default computes it for every row: the table is rewritten under an exclusive lock",
				    shown(f->table), shown(f->name));
		}
	}
}

static const char *maintenance_hint(const struct mg_sql_fact *f, int pg)
{
	switch (f->kind) {
	case MG_FACT_VACUUM_FULL:
		return pg ? "plain VACUUM (no lock against writes), or pg_repack outside migrate"
			  : "ALTER TABLE ... FORCE, ALGORITHM=INPLACE, LOCK=NONE (an online rebuild), outside a migration";
	case MG_FACT_CLUSTER:
		return "pg_repack --order-by outside migrate, or leave the order to new rows";
	case MG_FACT_LOCK_TABLE:
		return "remove it: migrate's own steps take only the locks they need, each under --lock-timeout";
	default:
		return pg ? "REINDEX ... CONCURRENTLY in a sql step of its own with in_transaction: false"
			  : "rebuild the index online (ALTER TABLE ... ALGORITHM=INPLACE, LOCK=NONE)";
	}
}

void mg_lint_blocking_maintenance(struct mg_lint_ctx *c)
{
	int pg = mg_lint_transactional_ddl(c);

	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v))
			continue;
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];
			const char *what;

			switch (f->kind) {
			case MG_FACT_VACUUM_FULL: what = pg ? "VACUUM FULL" : "rebuilding (OPTIMIZE, FORCE, ENGINE=)"; break;
			case MG_FACT_CLUSTER: what = "CLUSTER"; break;
			case MG_FACT_LOCK_TABLE: what = pg ? "LOCK TABLE" : "LOCK TABLES"; break;
			case MG_FACT_REINDEX: what = "REINDEX"; break;
			default: what = NULL; break;
			}
			if (!what || mg_lint_fact_online(f) || mg_lint_table_is_new(c, f->table, (struct mg_lint_at){ v, j }))
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset, maintenance_hint(f, pg),
				    "%s '%s' blocks %s until it is done",
				    what, f->table ? f->table : f->name ? f->name : "every table",
				    f->kind == MG_FACT_REINDEX ? "writes to the table (and reads using the index)"
				    : "every read and write of the table");
		}
	}
}

void mg_lint_unique_without_index(struct mg_lint_ctx *c)
{
	int pg = mg_lint_transactional_ddl(c);

	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v))
			continue;
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];
			int pk = (f->flags & MG_FACTF_PRIMARY_KEY) != 0;

			if (f->kind != MG_FACT_ADD_CONSTRAINT
			    || !(f->flags & (MG_FACTF_UNIQUE | MG_FACTF_PRIMARY_KEY))
			    || (f->flags & MG_FACTF_USING_INDEX) || mg_lint_fact_online(f)
			    || mg_lint_table_is_new(c, f->table, (struct mg_lint_at){ v, j }))
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    pg ? "CREATE UNIQUE INDEX CONCURRENTLY i ... (its own step, in_transaction: false), then ADD CONSTRAINT c " "UNIQUE USING INDEX i (or PRIMARY KEY USING INDEX i); or the native add_unique operation"
				       : "add ALGORITHM=INPLACE, LOCK=NONE, or use the native add_unique operation",
				    "%s constraint %s%s%son '%s' builds its index while holding a lock that blocks writes (and reads) of the table",
				    pk ? "PRIMARY KEY" : "UNIQUE", QUOTED_NAME(f->name),
				    shown(f->table));
		}
	}
}

void mg_lint_update_in_expand(struct mg_lint_ctx *c)
{
	for (size_t i = 0; i < c->n_values; i++) {
		const struct mg_lint_value *v = &c->values[i];

		if (!mg_lint_is_sql_step(c, v))
			continue;
		for (size_t j = 0; j < v->facts.n; j++) {
			const struct mg_sql_fact *f = &v->facts.items[j];

			/* TRUNCATE locks the table only for a moment */
			if ((f->kind != MG_FACT_UPDATE && f->kind != MG_FACT_DELETE)
			    || !(f->flags & MG_FACTF_NO_WHERE) || mg_lint_fact_truncate(f)
			    || mg_lint_table_is_new(c, f->table, (struct mg_lint_at){ v, j }))
				continue;
			mg_lint_add(c, v->pos, v->value, f->offset,
				    f->kind == MG_FACT_UPDATE
				    ? "fill the column with a native operation's backfill (add_column `backfill`, alter_column `up`, set_not_null `up`): keyset batches, each its own short transaction"
				    : "delete in batches (DELETE ... WHERE id IN (SELECT id ... LIMIT n), repeated), or TRUNCATE if the table may be emptied at once",
				    "%s of every row of '%s' at %s in one statement locks every row until it commits: the application's writes to them wait, and replicas lag",
				    f->kind == MG_FACT_UPDATE ? "UPDATE" : "DELETE", shown(f->table),
				    mg_sql_phase_name(v->phase));
		}
	}
}
