/*
 * rules.c - the PostgreSQL driver's part of the rules on existing
 * columns (src/planner_rules.c): the plan-time check (check_rule), "the
 * row breaks the rule" as SQL, the fix in the trigger and in the
 * backfill, the NOT VALID constraint of expand, and the steps of their
 * own (the helper index, SET NOT NULL, the unique index and constraint,
 * the rollback).
 *
 * PostgreSQL checks NOT NULL, CHECK, UNIQUE and foreign keys after the
 * BEFORE ROW triggers, so a write the trigger fixed meets the rule
 * already fixed.
 */
#include "postgres/pg.h"
#include "postgres/pgrules.h"

/* ==== the rule as SQL =================================================== */

/* "schema.table" or "table" as written in the file, each part quoted. */
static char *quote_written_table(const char *name)
{
	const char *dot = strchr(name, '.');
	struct mg_buf b = MG_BUF_INIT;

	if (dot) {
		char *schema = mg_xstrndup(name, (size_t)(dot - name));

		pgdrv_quote_ident(&b, schema);
		mg_buf_addc(&b, '.');
		free(schema);
		name = dot + 1;
	}
	pgdrv_quote_ident(&b, name);
	return mg_buf_detach(&b);
}

/* "row.c1 IS NOT NULL AND row.c2 IS NOT NULL" over the columns. */
static void all_not_null(struct mg_buf *b, const char *row, char *const *cols,
			 size_t n)
{
	for (size_t k = 0; k < n; k++) {
		char *q = qi(cols[k]);

		mg_buf_addf(b, "%s%s%s IS NOT NULL", k ? " AND " : "", row, q);
		free(q);
	}
}

/* " AND a.c1 = row.c1 ..." pairing cols of alias a with cols of row. */
static void columns_equal(struct mg_buf *b, const char *alias, char *const *acols,
			  const char *row, char *const *rcols, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		char *qa = qi(acols[k]), *qr = qi(rcols[k]);

		mg_buf_addf(b, " AND %s.%s = %s%s", alias, qa, row, qr);
		free(qa);
		free(qr);
	}
}

/* "(row.k1, row.k2)": the table's key (quoted already) over row. */
static void key_tuple(struct mg_buf *b, const struct mg_tplan *tp, const char *row)
{
	mg_buf_adds(b, "(");
	for (size_t k = 0; k < tp->t.key.n; k++)
		mg_buf_addf(b, "%s%s%s", k ? ", " : "", row, tp->t.key.cols[k]);
	mg_buf_adds(b, ")");
}

/*
 * "The row breaks the rule of op", over row: "NEW." in the trigger (how
 * 'I' insert or 'U' update), the table's name and a dot in the backfill
 * ('B'). NULL passes a CHECK and a foreign key (MATCH SIMPLE); a NULL in
 * a unique column is never a duplicate. add_unique: in the backfill the
 * first row in key order keeps its value; in the trigger a write whose
 * value another row holds breaks it, an update only when it changes the
 * value.
 */
static void broken(struct mg_buf *b, const struct mg_tplan *tp, const struct mg_op *op,
		   const char *ref, const char *row, char how)
{
	char *qc = op->column ? qi(op->column) : NULL;

	switch (op->kind) {
	case MG_OP_SET_NOT_NULL:
		mg_buf_addf(b, "%s%s IS NULL", row, qc);
		break;
	case MG_OP_ADD_CHECK:
		if (how == 'B')
			mg_buf_addf(b, "(%s) IS FALSE", op->check);
		else {
			pgdrv_row_expr(b, op->check);
			mg_buf_adds(b, " IS FALSE");
		}
		break;
	case MG_OP_ADD_FOREIGN_KEY:
		all_not_null(b, row, op->columns, op->n_columns);
		mg_buf_addf(b, " AND NOT EXISTS (SELECT 1 FROM %s AS _mg_p WHERE true", ref);
		columns_equal(b, "_mg_p", op->ref_columns, row, op->columns, op->n_columns);
		mg_buf_adds(b, ")");
		break;
	default:	/* MG_OP_ADD_UNIQUE */
		all_not_null(b, row, op->columns, op->n_columns);
		mg_buf_addf(b, " AND EXISTS (SELECT 1 FROM %s AS _mg_o WHERE true", tp->t.q);
		columns_equal(b, "_mg_o", op->columns, row, op->columns, op->n_columns);
		/* an update breaks it when it writes a value another row
		 * holds, or keeps one an earlier row holds (the backfill's
		 * rule: a row the trigger marks done must hold it) */
		if (how == 'U') {
			mg_buf_adds(b, " AND ");
			key_tuple(b, tp, "_mg_o.");
			mg_buf_adds(b, " <> ");
			key_tuple(b, tp, row);
			mg_buf_adds(b, " AND (");
			for (size_t k = 0; k < op->n_columns; k++) {
				char *q = qi(op->columns[k]);

				mg_buf_addf(b, "%sNEW.%s IS DISTINCT FROM OLD.%s", k ? " OR " : "", q, q);
				free(q);
			}
			mg_buf_adds(b, " OR ");
		} else if (how == 'B') {
			mg_buf_adds(b, " AND (");
		}
		if (how != 'I') {
			key_tuple(b, tp, "_mg_o.");
			mg_buf_adds(b, " < ");
			key_tuple(b, tp, row);
			mg_buf_adds(b, ")");
		}
		mg_buf_adds(b, ")");
		break;
	}
	free(qc);
}

/* ==== the trigger and the backfill ====================================== */

void pgdrv_fix_trigger(struct mg_buf *b, const struct mg_tplan *tp, int update)
{
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qc;

		if (p->kind != MG_PAIR_FIX)
			continue;
		qc = qi(p->new_col);
		mg_buf_adds(b, "    IF ");
		broken(b, tp, p->op, p->down, "NEW.", update ? 'U' : 'I');
		mg_buf_addf(b, " THEN\n      NEW.%s := ", qc);
		pgdrv_row_expr(b, p->up);
		mg_buf_adds(b, ";\n    END IF;\n");
		free(qc);
	}
}

void pgdrv_fix_backfill(struct mg_buf *set, struct mg_buf *mm, const struct mg_tplan *tp)
{
	char *row = mg_xasprintf("%s.", tp->t.q);

	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		int first = 1;
		char *qc;

		if (p->kind != MG_PAIR_FIX)
			continue;
		mg_buf_adds(mm, " OR (");
		broken(mm, tp, p->op, p->down, row, 'B');
		mg_buf_adds(mm, ")");
		/* one assignment per column: the rules on it in file order */
		for (size_t k = 0; k < i; k++)
			if (tp->pairs[k].kind == MG_PAIR_FIX &&
			    !strcmp(tp->pairs[k].new_col, p->new_col))
				first = 0;
		if (!first)
			continue;
		qc = qi(p->new_col);
		mg_buf_addf(set, "%s%s = CASE", set->len ? ", " : "", qc);
		for (size_t k = i; k < tp->n_pairs; k++) {
			const struct mg_pair *q = &tp->pairs[k];

			if (q->kind != MG_PAIR_FIX || strcmp(q->new_col, p->new_col))
				continue;
			mg_buf_adds(set, " WHEN ");
			broken(set, tp, q->op, q->down, row, 'B');
			mg_buf_addf(set, " THEN (%s)", q->up);
		}
		mg_buf_addf(set, " ELSE %s END", qc);
		free(qc);
	}
	free(row);
}

/* ==== expand: the constraint NOT VALID ================================== */

/* The constraint's definition, without NOT VALID. Owned. */
static char *rule_def(const struct mg_prim *p)
{
	const struct mg_op *op = p->op;
	struct mg_buf b = MG_BUF_INIT;

	switch (op->kind) {
	case MG_OP_SET_NOT_NULL: {
		char *qc = qi(op->column);

		mg_buf_addf(&b, "CHECK (%s IS NOT NULL)", qc);
		free(qc);
		break;
	}
	case MG_OP_ADD_CHECK:
		mg_buf_addf(&b, "CHECK (%s)", op->check);
		break;
	default: {	/* MG_OP_ADD_FOREIGN_KEY */
		char *ref = p->text ? mg_xstrdup(p->text) : quote_written_table(op->ref_table);

		mg_buf_adds(&b, "FOREIGN KEY (");
		for (size_t k = 0; k < op->n_columns; k++) {
			if (k)
				mg_buf_adds(&b, ", ");
			pgdrv_quote_ident(&b, op->columns[k]);
		}
		mg_buf_addf(&b, ") REFERENCES %s (", ref);
		for (size_t k = 0; k < op->n_ref_columns; k++) {
			if (k)
				mg_buf_adds(&b, ", ");
			pgdrv_quote_ident(&b, op->ref_columns[k]);
		}
		mg_buf_adds(&b, ")");
		if (op->on_delete)
			mg_buf_addf(&b, " ON DELETE %s", op->on_delete);
		if (op->on_update)
			mg_buf_addf(&b, " ON UPDATE %s", op->on_update);
		free(ref);
		break;
	}
	}
	return mg_buf_detach(&b);
}

static char *constraint_absent(const struct mg_tplan *tp, const char *name)
{
	char *nl = lit(name);
	char *s = mg_xasprintf("NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
			       pgdesc(&tp->t)->qlit, nl);

	free(nl);
	return s;
}

void pgdrv_render_add_rule(struct mg_buf *b, const struct mg_tplan *tp,
			   const struct mg_prim *p)
{
	char *def = rule_def(p), *qn = qi(p->name);
	char *cond = constraint_absent(tp, p->name);

	mg_buf_addf(b, "DO $mg$ BEGIN IF %s THEN ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID; END IF; END $mg$;\n",
		    cond, tp->t.q, qn, def);
	free(def);
	free(qn);
	free(cond);
}

/* ==== steps of their own ================================================ */

static void column_list(struct mg_buf *b, const struct mg_op *op)
{
	mg_buf_adds(b, "(");
	for (size_t k = 0; k < op->n_columns; k++) {
		if (k)
			mg_buf_adds(b, ", ");
		pgdrv_quote_ident(b, op->columns[k]);
	}
	mg_buf_adds(b, ")");
}

/* "schema"."name" of an index of the table. Owned. */
static char *index_object(const struct mg_tplan *tp, const char *name)
{
	char *qn = qi(name);
	char *s = mg_xasprintf("%s.%s", pgdesc(&tp->t)->qschema, qn);

	free(qn);
	return s;
}

/* expand: the plain index the duplicate lookups use, concurrently. */
static void render_helper(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_prim *p = r->prim;
	struct mg_buf b = MG_BUF_INIT;
	char *qn = qi(p->name), *obj = index_object(r->tp, p->name);
	char *desc = mg_xasprintf("build index %s on %s concurrently (looks up the duplicates '%s' fixes until its unique index exists)",
				  qn, r->tp->t.q, p->op->index_name);

	mg_buf_addf(&b, "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s ", qn, r->tp->t.q);
	column_list(&b, p->op);
	mg_plan_add_step(out, r->phase, MG_STEP_NOTX, r->tp->t.q, desc, b.buf, obj);
	mg_buf_release(&b);
	free(qn);
	free(obj);
	free(desc);
}

/* switch-reads, set_not_null: the CHECK is valid, so SET NOT NULL reads
 * no row; the check goes. */
static void render_set_not_null(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_tplan *tp = r->tp;
	char *qc = qi(r->prim->column), *qn = qi(r->prim->name);
	char *sql = mg_xasprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\n"
				 "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;\n"
				 "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n",
				 tp->t.q, tp->t.q, qc, tp->t.q, qn);
	char *desc = mg_xasprintf("set NOT NULL on column %s of %s (the valid check %s spares the scan), drop the check",
				  qc, tp->t.q, qn);

	mg_plan_add_step(out, r->phase, MG_STEP_TX, tp->t.q, desc, sql, NULL);
	free(qc);
	free(qn);
	free(sql);
	free(desc);
}

/* switch-reads, add_unique: the unique index concurrently (a failed
 * build is dropped and built again when the step runs again: runner.c),
 * then the constraint over it, and the helper index goes. */
static void render_unique(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_tplan *tp = r->tp;
	const struct mg_op *op = r->prim->op;
	struct mg_buf b = MG_BUF_INIT, t = MG_BUF_INIT;
	char *qn = qi(op->index_name), *obj = index_object(tp, op->index_name);
	char *desc = mg_xasprintf("build unique index %s on %s concurrently", qn, tp->t.q);
	char *cond = constraint_absent(tp, op->index_name);

	mg_buf_addf(&b, "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s ", qn, tp->t.q);
	column_list(&b, op);
	mg_plan_add_step(out, r->phase, MG_STEP_NOTX, tp->t.q, desc, b.buf, obj);
	free(desc);
	mg_buf_addf(&t, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\n"
		    "DO $mg$ BEGIN IF %s THEN ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s; END IF; END $mg$;\n",
		    tp->t.q, cond, tp->t.q, qn, qn);
	if (op->up) {
		char *helper = mg_planner_name(PGDRV_MAX_IDENT, op->index_name, r->pl->suffix);
		char *hobj = index_object(tp, helper);

		mg_buf_addf(&t, "DROP INDEX IF EXISTS %s;\n", hobj);
		free(helper);
		free(hobj);
	}
	desc = mg_xasprintf("add unique constraint %s on %s using its index%s", qn, tp->t.q,
			    op->up ? ", drop the lookup index" : "");
	mg_plan_add_step(out, r->phase, MG_STEP_TX, tp->t.q, desc, t.buf, NULL);
	mg_buf_release(&b);
	mg_buf_release(&t);
	free(qn);
	free(obj);
	free(desc);
	free(cond);
}

/* rollback: the rule (and the helper index) removed; the table's own
 * rollback drops the trigger and the marker after it. */
static void render_drop_rule(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_tplan *tp = r->tp;
	const struct mg_prim *p = r->prim;
	struct mg_buf b = MG_BUF_INIT;
	char *qn = qi(p->name), *desc;

	mg_buf_addf(&b, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\n"
		    "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", tp->t.q, tp->t.q, qn);
	if (p->op->kind == MG_OP_SET_NOT_NULL) {
		char *qc = qi(p->column);

		mg_buf_addf(&b, "ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL;\n", tp->t.q, qc);
		desc = mg_xasprintf("roll back NOT NULL on column %s of %s", qc, tp->t.q);
		free(qc);
	} else if (p->op->kind == MG_OP_ADD_UNIQUE) {
		char *obj = index_object(tp, p->name);
		char *helper = mg_planner_name(PGDRV_MAX_IDENT, p->name, r->pl->suffix);
		char *hobj = index_object(tp, helper);

		mg_buf_addf(&b, "DROP INDEX IF EXISTS %s;\nDROP INDEX IF EXISTS %s;\n", obj, hobj);
		desc = mg_xasprintf("roll back unique constraint %s on %s and its indexes", qn, tp->t.q);
		free(obj);
		free(helper);
		free(hobj);
	} else {
		desc = mg_xasprintf("roll back constraint %s on %s", qn, tp->t.q);
	}
	mg_plan_add_step(out, r->phase, MG_STEP_TX, tp->t.q, desc, b.buf, NULL);
	mg_buf_release(&b);
	free(qn);
	free(desc);
}

void pgdrv_render_rule(const struct mg_render *r, struct mg_plan *out)
{
	switch (r->prim->kind) {
	case MG_PRIM_RULE_HELPER:
		render_helper(r, out);
		break;
	case MG_PRIM_RULE:
		if (r->prim->op->kind == MG_OP_SET_NOT_NULL)
			render_set_not_null(r, out);
		else
			render_unique(r, out);
		break;
	case MG_PRIM_DROP_RULE:
		render_drop_rule(r, out);
		break;
	default:
		break;
	}
}

/* ==== plan time ========================================================= */

int pgdrv_check_rule(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_op *op, const struct mg_table_desc *t,
		     const struct mg_column_desc *cd, struct mg_err *err)
{
	struct mg_buf sql = MG_BUF_INIT;
	char *nl, *taken = NULL;
	int rc;

	(void)cd;
	if (op->kind == MG_OP_SET_NOT_NULL)
		return 0;
	nl = lit(op->index_name);
	mg_buf_addf(&sql, "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s AND conname = %s) THEN 'constraint' "
		    "WHEN EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = %s) AND relname = %s) "
		    "THEN 'relation' END",
		    pgdesc(t)->oid, nl, pgdesc(t)->oid, nl);
	free(nl);
	rc = query_scalar(downcast(c), sql.buf, &taken, err);
	mg_buf_release(&sql);
	if (rc < 0)
		return -1;
	if (taken && (!strcmp(taken, "constraint") || op->kind == MG_OP_ADD_UNIQUE)) {
		rc = mg_plan_pos_error(err, MG_EINPUT, pl->m, op->name_pos,
				       "%s '%s' already exists %s %s",
				       !strcmp(taken, "constraint") ? "constraint" : "a relation named",
				       op->index_name,
				       !strcmp(taken, "constraint") ? "on" : "in the schema of",
				       t->q);
		mg_err_hint(err, "choose another name (a rule that is there already needs no migration)");
	}
	free(taken);
	return rc;
}
