/*
 * render_attrs.c - the MySQL/MariaDB driver's SQL for the attribute
 * operations (src/planner_attrs.c decides the phase; catalog_attrs.c
 * lists what each ALTER costs and refuses what needs a rebuild or a copy
 * the operation does not allow).
 *
 * DDL commits on its own, so every step is idempotent: MODIFY COLUMN and
 * SET/DROP DEFAULT and COMMENT set a state (running them twice changes
 * nothing), drops say IF EXISTS, renames run under a catalog guard.
 * MODIFY COLUMN needs the column's whole definition: it is taken from
 * the catalog at plan time (type, character set and collation, NULL,
 * default, ON UPDATE, AUTO_INCREMENT, INVISIBLE, comment).
 */
#include "mysql/myplan.h"

/* The algorithm as this dialect writes it (MySQL has no NOCOPY). */
static const char *alg(const struct planner *pl, const char *a)
{
	if (pl->mc->mysql_dialect && !strcmp(a, MYDRV_ALG_NOCOPY))
		return MYDRV_ALG_INPLACE;
	return a;
}

static void plain_alter(const struct planner *pl, struct mg_buf *b, const struct mytable *t,
			const char *clause, const char *algorithm)
{
	mg_buf_addf(b, "ALTER TABLE %s %s%s;\n", t->q, clause, alg(pl, algorithm));
}

/* Where word is in s, compared without case, or NULL. */
static const char *find_word(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (; *s; s++)
		if (!strncasecmp(s, word, n))
			return s;
	return NULL;
}

/* "ON UPDATE current_timestamp()" out of EXTRA, or NULL. */
static char *on_update(const char *extra)
{
	const char *p = find_word(extra, "on update ");
	const char *e;

	if (!p)
		return NULL;
	p += strlen("on update ");
	for (e = p; *e && *e != ' '; e++)
		;
	return mg_xasprintf("ON UPDATE %.*s", (int)(e - p), p);
}

/* MODIFY COLUMN with the column's whole definition, NULL-ness and
 * comment as given. */
static char *modify_clause(const struct planner *pl, const struct mg_attr *a, int notnull,
			   const char *comment)
{
	const struct mycolumn *c = mycolumn_of(&a->col);
	struct mg_buf b = MG_BUF_INIT;
	char *qc = qi(a->op->column), *upd = on_update(c->extra);

	mg_buf_addf(&b, "MODIFY COLUMN %s %s", qc, c->column_type);
	if (c->charset && c->collation)
		mg_buf_addf(&b, " CHARACTER SET %s COLLATE %s", c->charset, c->collation);
	mg_buf_adds(&b, notnull ? " NOT NULL" : " NULL");
	if (c->default_expr)
		mg_buf_addf(&b, " DEFAULT %s", c->default_expr);
	if (upd)
		mg_buf_addf(&b, " %s", upd);
	if (find_word(c->extra, "auto_increment"))
		mg_buf_adds(&b, " AUTO_INCREMENT");
	if (find_word(c->extra, "invisible"))
		mg_buf_adds(&b, " INVISIBLE");
	if (comment) {
		mg_buf_adds(&b, " COMMENT ");
		add_literal(pl->mc, &b, comment);
	}
	free(qc);
	free(upd);
	return mg_buf_detach(&b);
}

/* SET DEFAULT takes an expression in parentheses (a literal too). */
static char *default_clause(const struct mg_attr *a, const char *expr)
{
	char *qc = qi(a->op->column);
	char *s = expr ? mg_xasprintf("ALTER COLUMN %s SET DEFAULT (%s)", qc, expr) :
		  mg_xasprintf("ALTER COLUMN %s DROP DEFAULT", qc);

	free(qc);
	return s;
}

static char *constraint_exists(struct planner *pl, const struct mytable *t, const char *name)
{
	char *nl = lit(pl->mc, name);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CONSTRAINT_NAME = %s)",
			       t->lit, nl);

	free(nl);
	return s;
}

/* A rename of constraint from to `to` (see catalog_attrs.c for what each
 * kind costs), guarded: it runs while from is there and to is not. */
static void rename_constraint(struct planner *pl, struct mg_buf *b, const struct mg_attr *a,
			      const char *from, const char *to)
{
	const struct mytable *t = mytable_of(&a->t);
	char *qf = qi(from), *qt = qi(to);
	char *has_from = constraint_exists(pl, t, from), *has_to = constraint_exists(pl, t, to);
	char *cond = mg_xasprintf("%s AND NOT %s", has_from, has_to);
	char *stmt;

	if (a->con.kind == MG_CON_UNIQUE)
		stmt = mg_xasprintf("ALTER TABLE %s RENAME INDEX %s TO %s", t->q, qf, qt);
	else
		stmt = mg_xasprintf("ALTER TABLE %s DROP %s %s, ADD CONSTRAINT %s %s%s", t->q,
				    a->con.kind == MG_CON_FOREIGN_KEY ? "FOREIGN KEY" : "CONSTRAINT",
				    qf, qt, a->con.def,
				    a->con.kind == MG_CON_FOREIGN_KEY ? alg(pl, MYDRV_ALG_NOCOPY) :
				    MYDRV_ALG_COPY);
	/* the foreign key is not checked again: it held under the old name */
	if (a->con.kind == MG_CON_FOREIGN_KEY)
		mg_buf_adds(b, "SET foreign_key_checks = 0;\n");
	add_guarded(pl->mc, b, cond, stmt);
	if (a->con.kind == MG_CON_FOREIGN_KEY)
		mg_buf_adds(b, "SET foreign_key_checks = 1;\n");
	free(qf);
	free(qt);
	free(has_from);
	free(has_to);
	free(cond);
	free(stmt);
}

/* drop_constraint at contract: the foreign keys listed under drops:
 * first, then the constraint. */
static void drop_constraint(struct planner *pl, struct mg_buf *b, const struct mg_attr *a)
{
	const struct mytable *t = mytable_of(&a->t);
	char *qn = qi(a->op->constraint_name), *clause;

	for (size_t i = 0; i < a->con.deps.n; i++) {
		const struct mg_dependent *d = &a->con.deps.v[i];
		char *qd = qi(d->name), *cl = mg_xasprintf("DROP FOREIGN KEY IF EXISTS %s", qd);
		char *child = mg_xstrndup(d->child + 1, strlen(d->child) - 2);
		char *lc = lit(pl->mc, child);

		alter_one(pl, b, d->child, lc, cl, MYDRV_ALG_NOCOPY);
		free(qd);
		free(cl);
		free(child);
		free(lc);
	}
	switch (a->con.kind) {
	case MG_CON_PRIMARY_KEY: {
		char *has = constraint_exists(pl, t, "PRIMARY");
		char *stmt = mg_xasprintf("ALTER TABLE %s DROP PRIMARY KEY%s", t->q, MYDRV_ALG_COPY);

		add_guarded(pl->mc, b, has, stmt);
		free(has);
		free(stmt);
		free(qn);
		return;
	}
	case MG_CON_UNIQUE:
		clause = mg_xasprintf("DROP INDEX IF EXISTS %s", qn);
		break;
	case MG_CON_FOREIGN_KEY:
		clause = mg_xasprintf("DROP FOREIGN KEY IF EXISTS %s", qn);
		break;
	default:
		clause = mg_xasprintf("DROP CONSTRAINT IF EXISTS %s", qn);
		break;
	}
	alter_one(pl, b, t->q, t->lit, clause, MYDRV_ALG_NOCOPY);
	free(clause);
	free(qn);
}

/* drop_not_null's algorithm: INSTANT where catalog_attrs.c found it so,
 * else the rebuild the operation allowed. */
static const char *null_alg(struct planner *pl, const struct mg_attr *a)
{
	struct mg_err ignored = MG_ERR_INIT;
	int instant = 0;

	if (mydrv_null_is_instant(pl->mc, mytable_of(&a->t), &instant, &ignored) < 0)
		instant = 0;
	return instant ? MYDRV_ALG_INSTANT : MYDRV_ALG_INPLACE;
}

/* rollback of drop_not_null: the rows the new version left NULL get down
 * (or the step refuses while there are any), then NOT NULL comes back. */
static void restore_not_null(struct planner *pl, const struct mg_render *r)
{
	const struct mg_attr *a = r->attr;
	const struct mytable *t = mytable_of(&a->t);
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	char *qc = qi(a->op->column);
	char *clause = modify_clause(pl, a, 1, a->col.comment);

	if (a->op->down) {
		mg_buf_addf(&b, "UPDATE %s SET %s = (%s) WHERE %s IS NULL;\n", t->q, qc,
			    a->op->down, qc);
		mg_buf_addf(&d, "set column `%s` of %s to down where the new version wrote NULL",
			    a->op->column, t->q);
		mg_plan_add_step(pl->plan, r->phase, MG_STEP_NOTX, NULL, d.buf, b.buf, NULL);
	} else {
		char *msg = mg_xasprintf("column `%s` of %s holds NULL written by the new version: rollback cannot restore NOT NULL until every row has a value (UPDATE them, then run rollback again)",
					 a->op->column, t->q);

		mg_buf_adds(&b, "SELECT ");
		add_literal(pl->mc, &b, msg);
		mg_buf_addf(&b, " FROM DUAL WHERE EXISTS (SELECT 1 FROM %s WHERE %s IS NULL)", t->q, qc);
		mg_buf_addf(&d, "no NULL in column `%s` of %s", a->op->column, t->q);
		mg_plan_add_step(pl->plan, r->phase, MG_STEP_ASSERT, t->q, d.buf, b.buf, NULL);
		free(msg);
	}
	mg_buf_reset(&b);
	mg_buf_reset(&d);
	plain_alter(pl, &b, t, clause, null_alg(pl, a));
	mg_buf_addf(&d, "restore NOT NULL of column `%s` of %s", a->op->column, t->q);
	mg_plan_add_step(pl->plan, r->phase, MG_STEP_NOTX, t->q, d.buf, b.buf,
			 NULL)->options = MG_STEP_ALLOW_REBUILD;
	mg_buf_release(&b);
	mg_buf_release(&d);
	free(qc);
	free(clause);
}

static char *describe(const struct mg_attr *a, int undo)
{
	const struct mg_op *op = a->op;
	const char *q = mytable_of(&a->t)->q;

	switch (op->kind) {
	case MG_OP_DROP_NOT_NULL:
		return mg_xasprintf("drop NOT NULL of column `%s` of %s", op->column, q);
	case MG_OP_SET_DEFAULT:
		return undo ? mg_xasprintf("restore the default of column `%s` of %s", op->column, q) :
			      mg_xasprintf("set the default of column `%s` of %s to %s", op->column, q,
					   op->default_expr);
	case MG_OP_DROP_DEFAULT:
		return mg_xasprintf("drop the default of column `%s` of %s", op->column, q);
	case MG_OP_SET_COMMENT:
		return op->column ? mg_xasprintf("%s the comment of column `%s` of %s",
						 undo ? "restore" : "set", op->column, q) :
				    mg_xasprintf("%s the comment of %s", undo ? "restore" : "set", q);
	case MG_OP_DROP_CONSTRAINT:
		return mg_xasprintf("drop constraint `%s` of %s", op->constraint_name, q);
	case MG_OP_RENAME_CONSTRAINT:
		return undo ? mg_xasprintf("rename constraint `%s` of %s back to `%s`", op->to, q,
					   op->constraint_name) :
			      mg_xasprintf("rename constraint `%s` of %s to `%s`", op->constraint_name, q,
					   op->to);
	default:
		return mg_xstrdup("?");
	}
}

int mydrv_render_attr(struct planner *pl, const struct mg_render *r, struct mg_err *err)
{
	const struct mg_attr *a = r->attr;
	const struct mg_op *op = a->op;
	const struct mytable *t = mytable_of(&a->t);
	int undo = r->kind == MG_RENDER_ATTR_UNDO;
	struct mg_buf b = MG_BUF_INIT;
	char *clause = NULL, *desc;
	const char *algorithm = MYDRV_ALG_INSTANT;
	unsigned options = (op->allow_rebuild ? MG_STEP_ALLOW_REBUILD : 0) |
			   (op->allow_copy ? MG_STEP_ALLOW_COPY : 0);

	(void)err;
	switch (op->kind) {
	case MG_OP_DROP_NOT_NULL:
		if (undo) {
			restore_not_null(pl, r);
			return 0;
		}
		clause = modify_clause(pl, a, 0, a->col.comment);
		algorithm = null_alg(pl, a);
		break;
	case MG_OP_SET_DEFAULT:
		clause = default_clause(a, undo ? a->col.default_expr : op->default_expr);
		break;
	case MG_OP_DROP_DEFAULT:
		clause = default_clause(a, NULL);
		break;
	case MG_OP_SET_COMMENT:
		if (op->column) {
			clause = modify_clause(pl, a, a->col.notnull,
					       undo ? a->col.comment : op->comment);
		} else {
			struct mg_buf c = MG_BUF_INIT;
			const char *text = undo ? a->ta.comment : op->comment;

			mg_buf_adds(&c, "COMMENT = ");
			add_literal(pl->mc, &c, text ? text : "");
			clause = mg_buf_detach(&c);
		}
		break;
	case MG_OP_DROP_CONSTRAINT:
		drop_constraint(pl, &b, a);
		break;
	case MG_OP_RENAME_CONSTRAINT:
		rename_constraint(pl, &b, a, undo ? op->to : op->constraint_name,
				  undo ? op->constraint_name : op->to);
		break;
	default:
		break;
	}
	if (clause)
		plain_alter(pl, &b, t, clause, algorithm);
	desc = describe(a, undo);
	mg_plan_add_step(pl->plan, r->phase, MG_STEP_NOTX, t->q, desc, b.buf, NULL)->options =
		options;
	free(desc);
	free(clause);
	mg_buf_release(&b);
	return 0;
}

/* What the attribute operations cost the application, for plan. */
void mydrv_attr_notes(struct planner *pl)
{
	const struct mg_planner *core = pl->core;

	for (size_t i = 0; core->attrs && i < core->m->n_ops; i++) {
		const struct mg_attr *a = core->attrs[i];
		char *n = NULL;

		if (!a)
			continue;
		if (a->op->kind == MG_OP_DROP_NOT_NULL &&
		    !strcmp(null_alg(pl, a), MYDRV_ALG_INPLACE))
			n = mg_xasprintf("drop_not_null of `%s` on %s: MODIFY COLUMN, ALGORITHM=INPLACE, LOCK=NONE rebuilds the table online (allow_rebuild: true), at expand and again at rollback; reads and writes go on, a short metadata lock at the start and the end, replicas replay the rebuild single-threaded",
					 a->op->column, mytable_of(&a->t)->q);
		else if (a->op->kind == MG_OP_RENAME_CONSTRAINT &&
			 a->con.kind == MG_CON_FOREIGN_KEY)
			n = mg_xasprintf("rename of foreign key `%s` on %s: DROP FOREIGN KEY and ADD CONSTRAINT in one ALTER with foreign_key_checks = 0 (in place, no copy, no check of the rows: the key held under its old name); an index the server made for the key is re-created under the new name",
					 a->op->constraint_name, mytable_of(&a->t)->q);
		else if (a->has_con && (a->con.kind == MG_CON_PRIMARY_KEY || (a->op->kind == MG_OP_RENAME_CONSTRAINT &&
							       a->con.kind == MG_CON_CHECK)))
			n = mg_xasprintf("%s of `%s` on %s: ALGORITHM=COPY (allow_copy: true): the table is copied while writes to it wait",
					 mg_op_kind_name(a->op->kind), a->op->constraint_name,
					 mytable_of(&a->t)->q);
		if (n)
			mg_plan_add_note(pl->plan, n);
		free(n);
	}
}
