/*
 * render_attrs.c - the PostgreSQL driver's SQL for the attribute
 * operations (src/planner_attrs.c decides the phase): each change is one
 * transaction with its history row, so a crash leaves it done or not
 * done; the guards make the undo steps harmless where the change never
 * happened (a rollback after a failed expand).
 *
 * Restoring NOT NULL at rollback never scans the table under ACCESS
 * EXCLUSIVE: a CHECK (c IS NOT NULL) NOT VALID, VALIDATE under SHARE
 * UPDATE EXCLUSIVE (writes go on), then SET NOT NULL, which PostgreSQL
 * 12+ proves from the valid CHECK without a scan.
 */
#include "postgres/pg.h"

static void add_guarded(struct mg_buf *b, const char *cond_sql, const char *stmt)
{
	mg_buf_addf(b, "DO $mg$ BEGIN IF %s THEN %s; END IF; END $mg$;\n", cond_sql, stmt);
}

static char *constraint_exists(const struct mg_table_desc *t, const char *name)
{
	char *nl = lit(name);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s)",
			       pgdesc(t)->qlit, nl);

	free(nl);
	return s;
}

/* ALTER TABLE t RENAME CONSTRAINT from TO to, when from is there and to
 * is not. */
static void rename_constraint(struct mg_buf *b, const struct mg_table_desc *t,
			      const char *from, const char *to)
{
	char *qf = qi(from), *qt = qi(to);
	char *has_from = constraint_exists(t, from), *has_to = constraint_exists(t, to);
	char *cond = mg_xasprintf("%s AND NOT %s", has_from, has_to);
	char *stmt = mg_xasprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", t->q, qf, qt);

	add_guarded(b, cond, stmt);
	free(qf);
	free(qt);
	free(has_from);
	free(has_to);
	free(cond);
	free(stmt);
}

static void set_comment(struct mg_buf *b, const struct mg_attr *a, const char *text)
{
	char *tl = text ? lit(text) : mg_xstrdup("NULL");

	if (a->op->column) {
		char *qc = qi(a->op->column);

		mg_buf_addf(b, "COMMENT ON COLUMN %s.%s IS %s;\n", a->t.q, qc, tl);
		free(qc);
	} else {
		mg_buf_addf(b, "COMMENT ON TABLE %s IS %s;\n", a->t.q, tl);
	}
	free(tl);
}

static void set_identity(struct mg_buf *b, const struct mg_attr *a, const char *identity,
			 const char *index)
{
	if (index) {
		char *qx = qi(index);

		mg_buf_addf(b, "ALTER TABLE %s REPLICA IDENTITY USING INDEX %s;\n", a->t.q, qx);
		free(qx);
	} else {
		mg_buf_addf(b, "ALTER TABLE %s REPLICA IDENTITY %s;\n", a->t.q,
			    !strcmp(identity, "full") ? "FULL" :
			    !strcmp(identity, "nothing") ? "NOTHING" : "DEFAULT");
	}
}

static void set_default(struct mg_buf *b, const struct mg_attr *a, const char *expr)
{
	char *qc = qi(a->op->column);

	if (expr)
		mg_buf_addf(b, "ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s;\n", a->t.q, qc, expr);
	else
		mg_buf_addf(b, "ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT;\n", a->t.q, qc);
	free(qc);
}

/* drop_constraint at contract: the foreign keys listed under drops:
 * first, then the constraint; never CASCADE, so anything that came to
 * depend on it since plan time fails the step instead of going with it. */
static void drop_constraint(struct mg_buf *b, const struct mg_attr *a)
{
	char *qn = qi(a->op->constraint_name);

	for (size_t i = 0; i < a->con.deps.n; i++) {
		const struct mg_dependent *d = &a->con.deps.v[i];
		char *qd = qi(d->name);

		mg_buf_addf(b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", d->child, qd);
		free(qd);
	}
	mg_buf_addf(b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", a->t.q, qn);
	free(qn);
}

static char *describe(const struct mg_attr *a, int undo)
{
	const struct mg_op *op = a->op;
	const char *c = op->column;

	switch (op->kind) {
	case MG_OP_DROP_NOT_NULL:
		return mg_xasprintf("%s NOT NULL of column %s of %s", undo ? "restore" : "drop",
				    c, a->t.q);
	case MG_OP_SET_DEFAULT:
		return undo ? mg_xasprintf("restore the default of column %s of %s", c, a->t.q) :
			      mg_xasprintf("set the default of column %s of %s to %s", c, a->t.q,
					   op->default_expr);
	case MG_OP_DROP_DEFAULT:
		return mg_xasprintf("drop the default of column %s of %s", c, a->t.q);
	case MG_OP_SET_COMMENT:
		return mg_xasprintf("%s the comment of %s%s%s%s", undo ? "restore" : "set",
				    c ? "column " : "", c ? c : "", c ? " of " : "", a->t.q);
	case MG_OP_SET_REPLICA_IDENTITY:
		return undo ? mg_xasprintf("restore the replica identity of %s (%s)", a->t.q,
					   a->ta.identity) :
			      mg_xasprintf("set the replica identity of %s to %s", a->t.q,
					   op->identity);
	case MG_OP_DROP_CONSTRAINT:
		return mg_xasprintf("drop constraint %s of %s (never CASCADE)", op->constraint_name,
				    a->t.q);
	case MG_OP_RENAME_CONSTRAINT:
		return undo ? mg_xasprintf("rename constraint %s of %s back to %s", op->to, a->t.q,
					   op->constraint_name) :
			      mg_xasprintf("rename constraint %s of %s to %s", op->constraint_name,
					   a->t.q, op->to);
	default:
		return mg_xstrdup("?");
	}
}

/* The four steps that give a column its NOT NULL back (see the top). */
static void restore_not_null(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_attr *a = r->attr;
	const char *col = a->op->column;
	char *qc = qi(col), *cl = lit(col);
	char *base = mg_xasprintf("%s_not_null", col);
	char *chk = mg_planner_name(PGDRV_MAX_IDENT, base, r->pl->suffix);
	char *qchk = qi(chk), *has_chk = constraint_exists(&a->t, chk);
	char *nullable = mg_xasprintf("EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s AND NOT attnotnull)",
				      pgdesc(&a->t)->qlit, cl);
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	char *stmt;

	if (a->op->down) {
		mg_buf_addf(&b, "UPDATE %s SET %s = (%s) WHERE %s IS NULL;\n", a->t.q, qc,
			    a->op->down, qc);
		mg_buf_addf(&d, "set column %s of %s to down where the new version wrote NULL", col,
			    a->t.q);
		mg_plan_add_step(out, r->phase, MG_STEP_TX, a->t.q, d.buf, b.buf, NULL);
	} else {
		char *msg = mg_xasprintf("column %s of %s holds NULL written by the new version: rollback cannot restore NOT NULL until every row has a value (UPDATE them, then run rollback again)",
					 col, a->t.q);
		char *ml = lit(msg);

		mg_buf_addf(&b, "SELECT %s WHERE EXISTS (SELECT 1 FROM %s WHERE %s IS NULL)", ml,
			    a->t.q, qc);
		mg_buf_addf(&d, "no NULL in column %s of %s", col, a->t.q);
		mg_plan_add_step(out, r->phase, MG_STEP_ASSERT, a->t.q, d.buf, b.buf, NULL);
		free(msg);
		free(ml);
	}
	mg_buf_reset(&b);
	mg_buf_reset(&d);
	{
		char *cond = mg_xasprintf("%s AND NOT %s", nullable, has_chk);

		stmt = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID",
				    a->t.q, qchk, qc);
		add_guarded(&b, cond, stmt);
		free(cond);
		free(stmt);
	}
	mg_buf_addf(&d, "add CHECK (%s IS NOT NULL) NOT VALID on %s", col, a->t.q);
	mg_plan_add_step(out, r->phase, MG_STEP_TX, a->t.q, d.buf, b.buf, NULL);
	mg_buf_reset(&b);
	mg_buf_reset(&d);
	stmt = mg_xasprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", a->t.q, qchk);
	add_guarded(&b, has_chk, stmt);
	free(stmt);
	mg_buf_addf(&d, "validate constraint %s on %s", chk, a->t.q);
	mg_plan_add_step(out, r->phase, MG_STEP_NOTX, a->t.q, d.buf, b.buf, NULL);
	mg_buf_reset(&b);
	mg_buf_reset(&d);
	mg_buf_addf(&b, "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;\n"
		    "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", a->t.q, qc, a->t.q, qchk);
	mg_buf_addf(&d, "restore NOT NULL of column %s of %s (proved by the valid CHECK, no scan)",
		    col, a->t.q);
	mg_plan_add_step(out, r->phase, MG_STEP_TX, a->t.q, d.buf, b.buf, NULL);
	mg_buf_release(&b);
	mg_buf_release(&d);
	free(qc);
	free(cl);
	free(base);
	free(chk);
	free(qchk);
	free(has_chk);
	free(nullable);
}

int pgdrv_render_attr(const struct mg_render *r, struct mg_plan *out)
{
	const struct mg_attr *a = r->attr;
	const struct mg_op *op = a->op;
	int undo = r->kind == MG_RENDER_ATTR_UNDO;
	struct mg_buf b = MG_BUF_INIT;
	char *qc = op->column ? qi(op->column) : NULL;
	char *desc;

	if (undo && op->kind == MG_OP_DROP_NOT_NULL) {
		free(qc);
		restore_not_null(r, out);
		return 0;
	}
	switch (op->kind) {
	case MG_OP_DROP_NOT_NULL:
		mg_buf_addf(&b, "ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL;\n", a->t.q, qc);
		break;
	case MG_OP_SET_DEFAULT:
		set_default(&b, a, undo ? a->col.default_expr : op->default_expr);
		break;
	case MG_OP_DROP_DEFAULT:
		set_default(&b, a, NULL);
		break;
	case MG_OP_SET_COMMENT:
		set_comment(&b, a, undo ? (op->column ? a->col.comment : a->ta.comment) : op->comment);
		break;
	case MG_OP_SET_REPLICA_IDENTITY:
		if (undo)
			set_identity(&b, a, a->ta.identity,
				     !strcmp(a->ta.identity, "index") ? a->ta.identity_index : NULL);
		else
			set_identity(&b, a, op->identity, op->index_name);
		break;
	case MG_OP_DROP_CONSTRAINT:
		drop_constraint(&b, a);
		break;
	case MG_OP_RENAME_CONSTRAINT:
		rename_constraint(&b, &a->t, undo ? op->to : op->constraint_name,
				  undo ? op->constraint_name : op->to);
		break;
	default:
		break;
	}
	desc = describe(a, undo);
	mg_plan_add_step(out, r->phase, MG_STEP_TX, a->t.q, desc, b.buf, NULL);
	free(desc);
	free(qc);
	mg_buf_release(&b);
	return 0;
}
