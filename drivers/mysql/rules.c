/*
 * rules.c - the MySQL/MariaDB driver's part of the rules on existing
 * columns (src/planner_rules.c): the plan-time check (check_rule), "the
 * row breaks the rule" as SQL, the fix in the triggers and in the
 * backfill, and the steps of their own.
 *
 * What MariaDB 10.11 does (measured): a BEFORE trigger runs before NOT
 * NULL and CHECK are checked (MDEV-8605, fixed in 10.5), so a write the
 * trigger fixed passes. Without NOT VALID, each rule is added at
 * switch-reads, after the backfill fixed the rows:
 *   NOT NULL: MODIFY COLUMN ... NOT NULL refuses NOCOPY, runs INPLACE,
 *     LOCK=NONE (an online rebuild): refused without allow_rebuild;
 *   CHECK: only ALGORITHM=COPY (writes wait), even with
 *     check_constraint_checks=0: refused without allow_copy;
 *   UNIQUE: ADD UNIQUE INDEX, NOCOPY, LOCK=NONE: online;
 *   FOREIGN KEY: with foreign_key_checks=0, NOCOPY, LOCK=NONE (also when
 *     it creates the index over the columns), the rows unchecked: the
 *     rows that broke it meanwhile are fixed right after (the key
 *     protects them from then on), then an anti-join asserts none is
 *     left.
 */
#include "mysql/myplan.h"

/* ==== the rule as SQL =================================================== */

/* `schema`.`table` or `table`, as written in the file. Owned. */
static char *quote_written_table(const char *name)
{
	const char *dot = strchr(name, '.');
	struct mg_buf b = MG_BUF_INIT;

	if (dot) {
		char *schema = mg_xstrndup(name, (size_t)(dot - name));

		mydrv_quote_ident(&b, schema);
		mg_buf_addc(&b, '.');
		free(schema);
		name = dot + 1;
	}
	mydrv_quote_ident(&b, name);
	return mg_buf_detach(&b);
}

/* An expression of the file over the row being written: the columns
 * named as in the table (triggers.c's row_expr). */
static void new_row_expr(struct mg_buf *b, const struct tplan *tp, const char *expr)
{
	mg_buf_addf(b, "(SELECT (%s) FROM (SELECT ", expr);
	for (size_t i = 0; i < tp->row_cols.n; i++) {
		char *q = qi(tp->row_cols.items[i]);

		mg_buf_addf(b, "%sNEW.%s AS %s", i ? ", " : "", q, q);
		free(q);
	}
	mg_buf_adds(b, ") AS _mg_row)");
}

static void all_not_null(struct mg_buf *b, const char *row, char *const *cols, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		char *q = qi(cols[k]);

		mg_buf_addf(b, "%s%s%s IS NOT NULL", k ? " AND " : "", row, q);
		free(q);
	}
}

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

static void key_tuple(struct mg_buf *b, const struct tplan *tp, const char *row)
{
	mg_buf_adds(b, "(");
	for (size_t k = 0; k < tp->t.n_keys; k++)
		mg_buf_addf(b, "%s%s%s", k ? ", " : "", row, tp->t.key_cols[k]);
	mg_buf_adds(b, ")");
}

/*
 * "The row breaks the rule of op" over row ("NEW." in the triggers: how
 * 'I' or 'U'; "`t`." in the backfill: 'B'), as postgres/rules.c's.
 * MariaDB 10.3+ lets an UPDATE read its own table in a subquery.
 */
static void broken(struct mg_buf *b, const struct tplan *tp, const struct mg_op *op,
		   const char *ref, const char *row, char how)
{
	switch (op->kind) {
	case MG_OP_SET_NOT_NULL: {
		char *qc = qi(op->column);

		mg_buf_addf(b, "%s%s IS NULL", row, qc);
		free(qc);
		break;
	}
	case MG_OP_ADD_CHECK:
		if (how == 'B')
			mg_buf_addf(b, "(%s) IS FALSE", op->check);
		else {
			new_row_expr(b, tp, op->check);
			mg_buf_adds(b, " IS FALSE");
		}
		break;
	case MG_OP_ADD_FOREIGN_KEY:
		all_not_null(b, row, op->columns, op->n_columns);
		mg_buf_addf(b, " AND NOT EXISTS (SELECT 1 FROM %s AS _mg_p WHERE TRUE", ref);
		columns_equal(b, "_mg_p", op->ref_columns, row, op->columns, op->n_columns);
		mg_buf_adds(b, ")");
		break;
	default:	/* MG_OP_ADD_UNIQUE */
		all_not_null(b, row, op->columns, op->n_columns);
		mg_buf_addf(b, " AND EXISTS (SELECT 1 FROM %s AS _mg_o WHERE TRUE", tp->t.q);
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

				mg_buf_addf(b, "%sNOT (NEW.%s <=> OLD.%s)", k ? " OR " : "", q, q);
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
}

/* ==== the triggers and the backfill ===================================== */

void mydrv_fix_trigger(struct mg_buf *b, const struct tplan *tp, int update)
{
	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qc;

		if (p->kind != MG_PAIR_FIX)
			continue;
		qc = qi(p->new_col);
		mg_buf_adds(b, "    IF ");
		broken(b, tp, p->op, p->down, "NEW.", update ? 'U' : 'I');
		mg_buf_addf(b, " THEN\n      SET NEW.%s = ", qc);
		new_row_expr(b, tp, p->up);
		mg_buf_adds(b, ";\n    END IF;\n");
		free(qc);
	}
}

void mydrv_fix_backfill(struct mg_buf *set, struct mg_buf *mm, const struct tplan *tp)
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

/* ==== the ALTER of each rule ============================================ */

/* The column as MODIFY COLUMN restates it, NULL or NOT NULL. Owned. */
static char *column_def(struct mydrv_conn *mc, const struct mg_prim *p, int notnull)
{
	const struct mycolumn *c = mycolumn_of(p->old);
	struct mg_buf b = MG_BUF_INIT;
	const char *on_update = c->extra ? strstr(c->extra, "on update ") : NULL;

	mydrv_quote_ident(&b, p->column);
	mg_buf_addf(&b, " %s", c->column_type);
	if (c->charset && c->collation)
		mg_buf_addf(&b, " CHARACTER SET %s COLLATE %s", c->charset, c->collation);
	mg_buf_adds(&b, notnull ? " NOT NULL" : " NULL");
	if (c->default_expr && strcmp(c->default_expr, "NULL"))
		mg_buf_addf(&b, " DEFAULT %s", c->default_expr);
	if (on_update)
		mg_buf_addf(&b, " ON UPDATE %s", on_update + strlen("on update "));
	if (c->comment && *c->comment) {
		mg_buf_adds(&b, " COMMENT ");
		add_literal(mc, &b, c->comment);
	}
	return mg_buf_detach(&b);
}

static char *column_list(const struct mg_op *op, char *const *cols, size_t n)
{
	struct mg_buf b = MG_BUF_INIT;

	(void)op;
	mg_buf_adds(&b, "(");
	for (size_t k = 0; k < n; k++) {
		if (k)
			mg_buf_adds(&b, ", ");
		mydrv_quote_ident(&b, cols[k]);
	}
	mg_buf_adds(&b, ")");
	return mg_buf_detach(&b);
}

/* The statement that adds the rule (NULL for add_unique: an ALTER
 * clause, see rule_clause). Owned. */
static char *rule_alter(struct planner *pl, const struct tplan *tp, const struct mg_prim *p)
{
	const struct mg_op *op = p->op;
	const char *name = op->index_name ? op->index_name : p->name;
	char *qn = name ? qi(name) : NULL, *s = NULL;

	switch (op->kind) {
	case MG_OP_SET_NOT_NULL: {
		char *def = column_def(pl->mc, p, 1);

		s = mg_xasprintf("ALTER TABLE %s MODIFY COLUMN %s%s", tp->t.q, def, MYDRV_ALG_INPLACE);
		free(def);
		break;
	}
	case MG_OP_ADD_CHECK:
		s = mg_xasprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s)%s", tp->t.q, qn,
				 op->check, MYDRV_ALG_COPY);
		break;
	case MG_OP_ADD_FOREIGN_KEY: {
		char *ref = p->text ? mg_xstrdup(p->text) : quote_written_table(op->ref_table);
		char *cols = column_list(op, op->columns, op->n_columns);
		char *rcols = column_list(op, op->ref_columns, op->n_ref_columns);

		/* MariaDB: the rows unchecked for this statement only */
		s = mg_xasprintf("%sALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY %s REFERENCES %s %s%s%s%s%s%s",
				 pl->mc->mysql_dialect ? "" : "SET STATEMENT foreign_key_checks = 0 FOR ",
				 tp->t.q, qn, cols, ref, rcols,
				 op->on_delete ? " ON DELETE " : "", op->on_delete ? op->on_delete : "",
				 op->on_update ? " ON UPDATE " : "", op->on_update ? op->on_update : "",
				 pl->mc->mysql_dialect ? MYDRV_ALG_INPLACE : MYDRV_ALG_NOCOPY);
		free(ref);
		free(cols);
		free(rcols);
		break;
	}
	default:
		break;
	}
	free(qn);
	return s;
}

/* "a constraint of this type named name exists on the table" (for a
 * foreign key: in the schema, InnoDB's names are per database). */
static char *constraint_exists(struct mydrv_conn *mc, const struct tplan *tp, const char *name,
			       const char *type)
{
	char *nl = lit(mc, name);
	char *s = !strcmp(type, "FOREIGN KEY") ?
		mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = %s AND CONSTRAINT_TYPE = 'FOREIGN KEY')", nl) :
		mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CONSTRAINT_NAME = %s AND CONSTRAINT_TYPE = '%s')",
			     tp->t.lit, nl, type);

	free(nl);
	return s;
}

/* "the column is nullable" (set_not_null: the MODIFY has work to do). */
static char *column_nullable(struct mydrv_conn *mc, const struct tplan *tp, const char *col,
			     int nullable)
{
	char *cl = lit(mc, col);
	char *s = mg_xasprintf("EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s AND IS_NULLABLE = '%s')",
			       tp->t.lit, cl, nullable ? "YES" : "NO");

	free(cl);
	return s;
}

static unsigned op_options(const struct mg_op *op)
{
	return (op->allow_rebuild ? MG_STEP_ALLOW_REBUILD : 0) |
	       (op->allow_copy ? MG_STEP_ALLOW_COPY : 0);
}

static void add_step(struct planner *pl, const struct mg_render *r, const char *desc,
		     const char *sql)
{
	mg_plan_add_step(pl->plan, r->phase, MG_STEP_NOTX, r->tp->t.q, desc, sql,
			 NULL)->options = op_options(r->prim->op);
}

/* expand: the plain index over add_unique's columns, online. */
static void render_helper(struct planner *pl, const struct tplan *tp, const struct mg_render *r)
{
	const struct mg_prim *p = r->prim;
	struct mg_buf b = MG_BUF_INIT;
	char *qn = qi(p->name), *cols = column_list(p->op, p->op->columns, p->op->n_columns);
	char *clause = mg_xasprintf("ADD INDEX IF NOT EXISTS %s %s", qn, cols);
	char *desc = mg_xasprintf("build index %s on %s online (looks up the duplicates '%s' fixes until its unique index exists)",
				  qn, tp->t.q, p->op->index_name);

	alter_one(pl, &b, tp->t.q, tp->t.lit, clause, MYDRV_ALG_NOCOPY);
	add_step(pl, r, desc, b.buf);
	mg_buf_release(&b);
	free(qn);
	free(cols);
	free(clause);
	free(desc);
}

/* switch-reads: the rule, after the backfill fixed the rows. */
static void render_rule(struct planner *pl, const struct tplan *tp, const struct mg_render *r)
{
	const struct mg_prim *p = r->prim;
	const struct mg_op *op = p->op;
	struct mg_buf b = MG_BUF_INIT;
	char *qn = qi(op->index_name ? op->index_name : p->name), *desc = NULL;

	if (op->kind == MG_OP_ADD_UNIQUE) {
		char *cols = column_list(op, op->columns, op->n_columns);
		char *clause = mg_xasprintf("ADD UNIQUE INDEX IF NOT EXISTS %s %s", qn, cols);

		alter_one(pl, &b, tp->t.q, tp->t.lit, clause, MYDRV_ALG_NOCOPY);
		if (op->up) {
			char *helper = mkname(op->index_name, pl->core->suffix);
			char *qh = qi(helper);
			char *drop = mg_xasprintf("DROP INDEX IF EXISTS %s", qh);

			alter_one(pl, &b, tp->t.q, tp->t.lit, drop, MYDRV_ALG_NOCOPY);
			free(helper);
			free(qh);
			free(drop);
		}
		desc = mg_xasprintf("build unique index %s on %s online%s", qn, tp->t.q,
				    op->up ? ", drop the lookup index" : "");
		free(cols);
		free(clause);
	} else {
		char *stmt = rule_alter(pl, tp, p);
		char *exists = op->kind == MG_OP_SET_NOT_NULL ? NULL :
			       constraint_exists(pl->mc, tp, op->index_name,
						 op->kind == MG_OP_ADD_CHECK ? "CHECK" : "FOREIGN KEY");
		char *cond = exists ? mg_xasprintf("NOT %s", exists) :
			     column_nullable(pl->mc, tp, p->column, 1);

		free(exists);

		/* MySQL has no SET STATEMENT: the session's, set back after */
		if (op->kind == MG_OP_ADD_FOREIGN_KEY && pl->mc->mysql_dialect)
			mg_buf_adds(&b, "SET SESSION foreign_key_checks = 0;\n");
		add_guarded(pl->mc, &b, cond, stmt);
		if (op->kind == MG_OP_ADD_FOREIGN_KEY) {
			if (pl->mc->mysql_dialect)
				mg_buf_adds(&b, "SET SESSION foreign_key_checks = 1;\n");
			if (op->up) {
				char *row = mg_xasprintf("%s.", tp->t.q), *qc = qi(p->column);

				mg_buf_addf(&b, "UPDATE %s SET %s = (%s) WHERE ", tp->t.q, qc, op->up);
				broken(&b, tp, op, p->text, row, 'B');
				mg_buf_adds(&b, ";\n");
				free(row);
				free(qc);
			}
		}
		desc = op->kind == MG_OP_SET_NOT_NULL ?
		       mg_xasprintf("set NOT NULL on column `%s` of %s (an online rebuild of the table)", p->column, tp->t.q) :
		       op->kind == MG_OP_ADD_CHECK ?
		       mg_xasprintf("add check %s on %s (ALGORITHM=COPY: writes to the table wait)", qn, tp->t.q) :
		       mg_xasprintf("add foreign key %s on %s online, without checking the rows (foreign_key_checks = 0)%s",
				    qn, tp->t.q, op->up ? ", then fix the rows that broke it since the backfill" : "");
		free(stmt);
		free(cond);
	}
	add_step(pl, r, desc, b.buf);
	free(desc);
	mg_buf_reset(&b);
	if (op->kind == MG_OP_ADD_FOREIGN_KEY) {
		/* the rows were not checked: no row may break it */
		char *row = mg_xasprintf("%s.", tp->t.q);
		char *what = mg_xasprintf("a row of %s references no row of %s (foreign key %s)",
					  tp->t.q, op->ref_table, qn);

		mg_buf_adds(&b, "SELECT ");
		add_literal(pl->mc, &b, what);
		mg_buf_addf(&b, " FROM %s WHERE ", tp->t.q);
		broken(&b, tp, op, p->text, row, 'B');
		mg_buf_adds(&b, " LIMIT 1");
		mg_plan_add_step(pl->plan, r->phase, MG_STEP_ASSERT, tp->t.q,
				 "every row satisfies the foreign key added without checks", b.buf, NULL);
		free(row);
		free(what);
	}
	mg_buf_release(&b);
	free(qn);
}

/* rollback: the rule removed (its index too where it made one). */
static void render_drop_rule(struct planner *pl, const struct tplan *tp, const struct mg_render *r)
{
	const struct mg_prim *p = r->prim;
	const struct mg_op *op = p->op;
	struct mg_buf b = MG_BUF_INIT;
	char *qn = qi(p->name), *desc;

	if (op->kind == MG_OP_SET_NOT_NULL) {
		char *def = column_def(pl->mc, p, 0);
		char *stmt = mg_xasprintf("ALTER TABLE %s MODIFY COLUMN %s%s", tp->t.q, def,
					  pl->mc->mysql_dialect ? MYDRV_ALG_INPLACE : MYDRV_ALG_NOCOPY);
		char *cond = column_nullable(pl->mc, tp, p->column, 0);

		add_guarded(pl->mc, &b, cond, stmt);
		desc = mg_xasprintf("roll back NOT NULL on column `%s` of %s", p->column, tp->t.q);
		free(def);
		free(stmt);
		free(cond);
	} else {
		struct mg_strlist parts = MG_STRLIST_INIT;

		if (op->kind == MG_OP_ADD_CHECK)
			mg_strlist_push_owned(&parts, mg_xasprintf("DROP CONSTRAINT IF EXISTS %s", qn));
		if (op->kind == MG_OP_ADD_FOREIGN_KEY)
			mg_strlist_push_owned(&parts, mg_xasprintf("DROP FOREIGN KEY IF EXISTS %s", qn));
		for (size_t i = 0; i < parts.n; i++)
			alter_one(pl, &b, tp->t.q, tp->t.lit, parts.items[i], MYDRV_ALG_NOCOPY);
		/* the index a foreign key made, or the unique one */
		if (op->kind != MG_OP_ADD_CHECK) {
			char *clause = mg_xasprintf("DROP INDEX IF EXISTS %s", qn);

			alter_one(pl, &b, tp->t.q, tp->t.lit, clause, MYDRV_ALG_NOCOPY);
			free(clause);
		}
		if (op->kind == MG_OP_ADD_UNIQUE && op->up) {
			char *helper = mkname(p->name, pl->core->suffix);
			char *qh = qi(helper);
			char *clause = mg_xasprintf("DROP INDEX IF EXISTS %s", qh);

			alter_one(pl, &b, tp->t.q, tp->t.lit, clause, MYDRV_ALG_NOCOPY);
			free(helper);
			free(qh);
			free(clause);
		}
		desc = mg_xasprintf("roll back %s %s on %s",
				    op->kind == MG_OP_ADD_CHECK ? "check" :
				    op->kind == MG_OP_ADD_UNIQUE ? "unique index" : "foreign key",
				    qn, tp->t.q);
		mg_strlist_release(&parts);
	}
	add_step(pl, r, desc, b.buf);
	mg_buf_release(&b);
	free(desc);
	free(qn);
}

void mydrv_render_rule(struct planner *pl, const struct tplan *tp, const struct mg_render *r)
{
	switch (r->prim->kind) {
	case MG_PRIM_RULE_HELPER:
		render_helper(pl, tp, r);
		break;
	case MG_PRIM_RULE:
		render_rule(pl, tp, r);
		break;
	case MG_PRIM_DROP_RULE:
		render_drop_rule(pl, tp, r);
		break;
	default:
		break;
	}
}

/* ==== plan time ========================================================= */

/* The name is free: no constraint or index of the table has it (nor, for
 * a foreign key, another foreign key of the database). */
static int check_name_free(struct planner *pl, const struct mg_op *op, const struct mytable *t,
			   struct mg_err *err)
{
	char *nl = lit(pl->mc, op->index_name);
	char *sql = mg_xasprintf("SELECT (SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = %s AND (TABLE_NAME = %s OR CONSTRAINT_TYPE = 'FOREIGN KEY')) + "
				 "(SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = %s)",
				 nl, t->lit, t->lit, nl);
	int64_t n = 0;
	int rc = query_int(pl->mc, sql, &n, err);

	free(nl);
	free(sql);
	if (rc < 0)
		return -1;
	if (!n)
		return 0;
	mg_plan_pos_error(err, MG_EINPUT, pl->m, op->name_pos,
			  "a constraint or index named '%s' already exists on %s%s", op->index_name, t->q,
			  op->kind == MG_OP_ADD_FOREIGN_KEY ? " (or a foreign key of that name in the database)" : "");
	return mg_err_hint(err, "choose another name (a rule that is there already needs no migration)");
}

/* Where there is no online way: refuse naming the ALTER and the key. */
static int check_online(struct planner *pl, const struct mg_op *op, const struct mg_table_desc *t,
			const struct mg_column_desc *cd, struct mg_err *err)
{
	struct tplan tp;
	struct mg_prim p;
	char *stmt;

	if ((op->kind != MG_OP_SET_NOT_NULL || op->allow_rebuild) &&
	    (op->kind != MG_OP_ADD_CHECK || op->allow_copy))
		return 0;
	memset(&tp, 0, sizeof(tp));
	memset(&p, 0, sizeof(p));
	tp.t = *mytable_of(t);
	p.op = op;
	p.old = cd;
	p.column = op->column;
	p.name = op->index_name;
	stmt = rule_alter(pl, &tp, &p);
	if (op->kind == MG_OP_SET_NOT_NULL) {
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
				  "set_not_null on %s has no online way on this database: it would run '%s' at switch-reads, which rebuilds the table (in place without locks, but the table is rewritten and replicas replay it single-threaded)",
				  t->q, stmt);
		mg_err_hint(err, "to accept the rebuild, add 'allow_rebuild: true' to the operation");
	} else {
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
				  "add_check on %s has no online way on this database: it would run '%s' at switch-reads, which copies the table while writes to it wait",
				  t->q, stmt);
		mg_err_hint(err, "to accept the copy, add 'allow_copy: true' to the operation");
	}
	free(stmt);
	return -1;
}

int mydrv_check_rule(struct mg_conn *c, const struct mg_planner *core, const struct mg_op *op,
		     const struct mg_table_desc *t, const struct mg_column_desc *cd,
		     struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, core, core->plan);
	if (op->kind != MG_OP_SET_NOT_NULL && check_name_free(&pl, op, mytable_of(t), err) < 0)
		return -1;
	if (cd && cd->unsupported)
		return mg_plan_pos_error(err, MG_EREFUSED, pl.m, op->pos,
					 "column '%s' of %s %s: not supported",
					 op->column ? op->column : op->columns[0], t->q, cd->unsupported);
	return check_online(&pl, op, t, cd, err);
}
