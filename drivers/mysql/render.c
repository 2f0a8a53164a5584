/*
 * render.c - the MySQL/MariaDB driver's SQL for each piece of a plan
 * (driver.h: render, plan_notes). The core decides the steps and their
 * order (src/planner_emit.c); here the core's table plan is read through
 * the MySQL view of it (tplan_derive) and written as a table's expand,
 * contract and rollback steps, index copies, builds and checks, the
 * backfill spec, sql steps, and the notes plan shows.
 */
#include "mysql/myplan.h"

/* ==== the table plan as MySQL writes it =================================================== */

static void tplan_release(struct tplan *tp)
{
	for (size_t i = 0; i < tp->n_idx; i++)
		mg_strlist_release(&tp->idx[i].parts);
	free(tp->idx);
	mg_strlist_release(&tp->add_cols);
	mg_strlist_release(&tp->temp_defaults);
	mg_strlist_release(&tp->ph_cols);
	mg_strlist_release(&tp->ph_vals);
	mg_strlist_release(&tp->row_cols);
	mg_strlist_release(&tp->contract_defaults);
	mg_strlist_release(&tp->drop_defaults);
	mg_strlist_release(&tp->drop_default_cols);
	mg_strlist_release(&tp->contract_drops);
	mg_strlist_release(&tp->contract_cols);
	mg_strlist_release(&tp->dropped);
	mg_buf_release(&tp->contract_pre);
	mg_strlist_release(&tp->rollback_defaults);
	mg_strlist_release(&tp->rollback_default_cols);
	mg_strlist_release(&tp->rollback_cols);
	mg_strlist_release(&tp->renames);
	mg_strlist_release(&tp->renamed);
	mg_strlist_release(&tp->inplace_defaults);
}

static char *index_exists(struct mydrv_conn *mc, const struct tplan *tp, const char *name)
{
	return index_exists_in(mc, tp->t.lit, name);
}

/* The contract re-check of column col: what others_sql finds, but what
 * op lists under drops:. */
static char *dep_check_sql(struct planner *pl, const struct tplan *tp, const struct mg_op *op,
			   const char *col)
{
	struct mg_buf check = MG_BUF_INIT;
	char *q = others_sql(pl->mc, &tp->t, col);
	char *cl = lit(pl->mc, col);

	mg_buf_addf(&check, "SELECT CONCAT(o.what, ' depends on column ', %s) FROM (%s) o", cl, q);
	if (op->n_drops) {
		mg_buf_adds(&check, " WHERE o.name NOT IN (");
		for (size_t i = 0; i < op->n_drops; i++) {
			if (i)
				mg_buf_adds(&check, ", ");
			add_literal(pl->mc, &check, op->drops[i]);
		}
		mg_buf_adds(&check, ")");
	}
	free(cl);
	free(q);
	return mg_buf_detach(&check);
}

/* A dependent contract drops (listed under drops:, or an index over a
 * replaced or dropped column): views, triggers and other tables' foreign
 * keys before the columns, constraints and indexes as clauses of the
 * ALTER that drops them. */
static void plan_listed_drop(struct planner *pl, struct tplan *tp, const struct mg_dependent *d)
{
	char *qn = qi(d->name);

	if (d->kind == MG_DEP_INDEX)
		mg_strlist_push_owned(&tp->contract_drops, mg_xasprintf("DROP INDEX IF EXISTS %s", qn));
	else if (!strcmp(d->def, "view"))	/* child: in another database */
		mg_buf_addf(&tp->contract_pre, "DROP VIEW IF EXISTS %s;\n", d->child ? d->child : qn);
	else if (!strcmp(d->def, "trigger"))
		mg_buf_addf(&tp->contract_pre, "DROP TRIGGER IF EXISTS %s;\n", qn);
	else if (!strcmp(d->def, "check"))
		mg_strlist_push_owned(&tp->contract_drops, mg_xasprintf("DROP CONSTRAINT IF EXISTS %s", qn));
	else if (!strcmp(d->def, "fk"))
		mg_strlist_push_owned(&tp->contract_drops, mg_xasprintf("DROP FOREIGN KEY IF EXISTS %s", qn));
	else if (!strcmp(d->def, "inbound")) {
		char *qc = qi(d->child), *lc = lit(pl->mc, d->child);
		char *clause = mg_xasprintf("DROP FOREIGN KEY IF EXISTS %s", qn);

		alter_one(pl, &tp->contract_pre, qc, lc, clause, MYDRV_ALG_NOCOPY);
		free(clause);
		free(qc);
		free(lc);
	}
	free(qn);
}

/* One key part of an index copy as SQL, renamed by the copy's renames. */
static char *key_part(const struct mg_prim *p, const struct myindex *x, size_t k)
{
	const char *col = x->cols.items[k];
	const char *sub = *x->sub_parts.items[k] ? x->sub_parts.items[k] : NULL;
	char *qc, *s;

	for (size_t i = 0; i < p->from.n; i++)
		if (!strcmp(col, p->from.items[i]))
			col = p->to.items[i];
	qc = qi(col);
	s = mg_xasprintf("%s%s%s%s%s", qc, sub ? "(" : "", sub ? sub : "", sub ? ")" : "",
			 !strcmp(x->orders.items[k], "D") ? " DESC" : "");
	free(qc);
	return s;
}

/*
 * The new column at expand (design note 4): nullable as NULL; NOT NULL as
 * NOT NULL DEFAULT <placeholder>, which is instant, lets the old version's
 * inserts (which do not name it) through before the triggers exist, and is
 * dropped again at the end of the expand step (ALTER COLUMN ... DROP
 * DEFAULT, instant), so that from then on an insert that does not name the
 * column shows NULL to the BEFORE INSERT trigger, exactly as on
 * PostgreSQL: the trigger tells the two versions apart by NULL, never by
 * comparing with a value the new version might really write. The
 * placeholder in existing rows is overwritten by the backfill (the marker,
 * not the value, says whether a row is done). At contract the column gets
 * its final default; at rollback the placeholder again, before the
 * triggers go, so the old version's inserts stay valid until the column
 * is gone.
 */
static void add_new_column(struct planner *pl, struct tplan *tp, const struct mg_prim *p)
{
	const struct mycolumn *like = p->op->kind == MG_OP_RENAME_COLUMN && p->old ?
				      mycolumn_of(p->old) : NULL;
	/* in place: the comment stays, and the column its place (an instant
	 * ADD COLUMN ... AFTER on MariaDB 10.4+ and MySQL 8.0.29+) */
	const struct mycolumn *in_place = mg_op_in_place(p->op) && p->old ?
					  mycolumn_of(p->old) : NULL;
	struct mg_buf b = MG_BUF_INIT;
	char *qc = qi(p->column);
	const char *zero = p->notnull ? p->text : NULL;

	mg_buf_addf(&b, "ADD COLUMN IF NOT EXISTS %s %s", qc, p->type);
	if (like && like->charset && like->collation)
		mg_buf_addf(&b, " CHARACTER SET %s COLLATE %s", like->charset, like->collation);
	if (zero) {
		mg_buf_addf(&b, " NOT NULL DEFAULT %s", zero);
		mg_strlist_push_owned(&tp->temp_defaults, mg_xasprintf("ALTER COLUMN %s DROP DEFAULT", qc));
		mg_strlist_push(&tp->ph_cols, p->column);
		mg_strlist_push(&tp->ph_vals, zero);
		mg_strlist_push_owned(&tp->rollback_defaults,
				      mg_xasprintf("ALTER COLUMN %s SET DEFAULT %s", qc, zero));
		mg_strlist_push(&tp->rollback_default_cols, p->column);
	} else {
		mg_buf_adds(&b, " NULL");
	}
	if (like && like->comment) {
		mg_buf_adds(&b, " COMMENT ");
		add_literal(pl->mc, &b, like->comment);
	}
	if (in_place) {
		char *qo = qi(p->op->column);

		if (in_place->comment) {
			mg_buf_adds(&b, " COMMENT ");
			add_literal(pl->mc, &b, in_place->comment);
		}
		mg_buf_addf(&b, " AFTER %s", qo);
		free(qo);
	}
	mg_strlist_push_owned(&tp->add_cols, mg_buf_detach(&b));
	mg_strlist_push_owned(&tp->rollback_cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
	mg_strlist_push(&tp->row_cols, p->column);
	free(qc);
}

/* The column contract drops: NOT NULL without a default gets a
 * placeholder default first (the core found it: p->text), so that the
 * new version's inserts (which do not name it) stay valid between
 * dropping the triggers and dropping it. */
static void drop_old_column(struct tplan *tp, const struct mg_prim *p)
{
	char *qc = qi(p->column);

	if (p->text) {
		mg_strlist_push_owned(&tp->drop_defaults,
				      mg_xasprintf("ALTER COLUMN %s SET DEFAULT %s", qc, p->text));
		mg_strlist_push(&tp->drop_default_cols, p->column);
	}
	mg_strlist_push_owned(&tp->contract_cols, mg_xasprintf("DROP COLUMN IF EXISTS %s", qc));
	mg_strlist_push(&tp->dropped, p->column);
	free(qc);
}

/* The final default of a new column at contract. MySQL's ALTER COLUMN
 * ... SET DEFAULT takes a literal or (expr): add_column's expression goes
 * in parentheses there in the MySQL dialect; a renamed column's default
 * is the catalog's SQL already. */
static void contract_default(struct planner *pl, struct tplan *tp, const struct mg_prim *p)
{
	char *qc = qi(p->column);

	mg_strlist_push_owned(mg_op_in_place(p->op) ? &tp->inplace_defaults : &tp->contract_defaults,
			      mg_xasprintf(pl->mc->mysql_dialect && p->op->kind == MG_OP_ADD_COLUMN ?
					   "ALTER COLUMN %s SET DEFAULT (%s)" :
					   "ALTER COLUMN %s SET DEFAULT %s", qc, p->text));
	free(qc);
}

/* A type change in place: the temporary column renamed into place in
 * the ALTER that drops the old one. */
static void rename_column(struct tplan *tp, const struct mg_prim *p)
{
	char *qc = qi(p->column), *qn = qi(p->name);

	mg_strlist_push_owned(&tp->renames, mg_xasprintf("RENAME COLUMN %s TO %s", qc, qn));
	mg_strlist_push(&tp->renamed, p->column);
	free(qc);
	free(qn);
}

/* A copy of index p->dep on the new column(s), built at switch-reads. */
static void index_copy(struct tplan *tp, const struct mg_prim *p)
{
	const struct myindex *x = p->dep->drv;
	struct idxcopy *c;

	tp->idx = mg_xrealloc(tp->idx, (tp->n_idx + 1) * sizeof(*tp->idx));
	c = &tp->idx[tp->n_idx++];
	memset(c, 0, sizeof(*c));
	c->orig = p->dep->name;
	c->copy = p->name;
	c->kind = x->kind;
	for (size_t k = 0; k < x->cols.n; k++)
		mg_strlist_push_owned(&c->parts, key_part(p, x, k));
}

/* The fallbacks an operation of the table allows: every operation on it
 * left a primitive. */
static void allows(struct tplan *tp, const struct mg_tplan *ctp)
{
	for (size_t s = 0; s < MG_NSLOTS; s++)
		for (size_t i = 0; i < ctp->slot[s].n; i++) {
			tp->allow_rebuild |= ctp->slot[s].v[i]->op->allow_rebuild;
			tp->allow_copy |= ctp->slot[s].v[i]->op->allow_copy;
		}
}

/* The MySQL view of the core's table plan ctp (tplan_release). */
static void tplan_derive(struct planner *pl, const struct mg_tplan *ctp, struct tplan *tp)
{
	const struct mg_prims *sl = ctp->slot;

	memset(tp, 0, sizeof(*tp));
	tp->t = *mytable_of(&ctp->t);
	tp->pairs = ctp->pairs;
	tp->n_pairs = ctp->n_pairs;
	tp->has_marker = ctp->has_marker;
	mg_buf_init(&tp->contract_pre);
	allows(tp, ctp);
	for (size_t i = 0; i < tp->t.cols.n; i++)
		mg_strlist_push(&tp->row_cols, tp->t.cols.items[i]);
	for (size_t i = 0; i < sl[MG_SLOT_ADD_COLUMNS].n; i++)
		add_new_column(pl, tp, sl[MG_SLOT_ADD_COLUMNS].v[i]);
	for (size_t i = 0; i < sl[MG_SLOT_INDEX_COPIES].n; i++)
		index_copy(tp, sl[MG_SLOT_INDEX_COPIES].v[i]);
	for (size_t i = 0; i < sl[MG_SLOT_CONTRACT_POST].n; i++) {
		const struct mg_prim *p = sl[MG_SLOT_CONTRACT_POST].v[i];

		if (p->kind == MG_PRIM_SET_DEFAULT)
			contract_default(pl, tp, p);
		if (p->kind == MG_PRIM_RENAME_COLUMN)
			rename_column(tp, p);
	}
	for (size_t i = 0; i < sl[MG_SLOT_CONTRACT_PRE].n; i++)
		plan_listed_drop(pl, tp, sl[MG_SLOT_CONTRACT_PRE].v[i]->dep);
	for (size_t i = 0; i < sl[MG_SLOT_CONTRACT_COLUMNS].n; i++)
		drop_old_column(tp, sl[MG_SLOT_CONTRACT_COLUMNS].v[i]);
}


/* ==== steps ============================================================================== */

/* The options of a step: the fallbacks its operations allow (the
 * runner reads them: run_ddl_step). */
static unsigned allow_options(int rebuild, int copy)
{
	return (rebuild ? MG_STEP_ALLOW_REBUILD : 0) | (copy ? MG_STEP_ALLOW_COPY : 0);
}

static void allow(struct mg_step *st, const struct tplan *tp)
{
	st->options = allow_options(tp->allow_rebuild, tp->allow_copy);
}

/*
 * Defaults for columns the same step drops later (rollback: the new NOT
 * NULL columns get their placeholder back; contract: dropped NOT NULL
 * columns get one), set only while the columns exist: a rerun after they
 * went (a crash before the history row was written) finds nothing to do.
 * The columns go together in one ALTER, so one of them tells.
 */
static void add_defaults_of_dropped(struct planner *pl, const struct tplan *tp,
				    const struct mg_strlist *defaults,
				    const struct mg_strlist *cols, struct mg_buf *b)
{
	struct mg_buf alter = MG_BUF_INIT;

	join_alter(&alter, tp->t.q, defaults, NULL, MYDRV_ALG_INSTANT);
	if (alter.len) {
		char *cond = column_exists_in(pl->mc, tp->t.lit, cols->items[0]);

		alter.buf[alter.len - 2] = '\0';	/* the statement, without ";\n" */
		add_guarded(pl->mc, b, cond, alter.buf);
		free(cond);
	}
	mg_buf_release(&alter);
}

static int emit_table_expand(struct planner *pl, struct tplan *tp, struct mg_err *err)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	char *marker = NULL;

	if (tp->has_marker) {
		char *qm = qi(pl->marker_raw);

		marker = mg_xasprintf("ADD COLUMN IF NOT EXISTS %s TINYINT NOT NULL DEFAULT 0", qm);
		free(qm);
	}
	alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->add_cols, marker, MYDRV_ALG_INSTANT);
	if (tp->n_pairs && pl->mc->mysql_dialect) {
		if (emit_dialect_triggers(pl, tp, &b, err) < 0) {
			free(marker);
			mg_buf_release(&b);
			mg_buf_release(&d);
			return -1;
		}
	} else if (tp->n_pairs) {
		char *fi = follows_clause(pl, tp, "INSERT", err);
		char *fu = fi ? follows_clause(pl, tp, "UPDATE", err) : NULL;

		if (!fi || !fu) {
			free(fi);
			free(marker);
			mg_buf_release(&b);
			mg_buf_release(&d);
			return -1;
		}
		/*
		 * While a new NOT NULL column still has its placeholder
		 * DEFAULT, an old-version insert shows the placeholder, not
		 * NULL: the first insert trigger takes the placeholder for
		 * "not written". Once the default is dropped, the final one
		 * replaces it atomically (CREATE OR REPLACE), taking NULL for
		 * "not written" like PostgreSQL's. The new version is not
		 * deployed before expand ends, so nothing it writes meets the
		 * first one.
		 *
		 * The update trigger comes first. A step can stop between two
		 * statements (a crash, a lock not granted), and the old version
		 * writes on meanwhile: with only the insert trigger, a row
		 * inserted then (marker 1) and updated before the update
		 * trigger exists would keep a stale new column that the
		 * backfill skips. With only the update trigger, a row inserted
		 * then keeps marker 0 and the backfill copies it.
		 */
		if (tp->has_marker)
			render_update_trigger(&b, pl, tp, fu);
		render_insert_trigger(&b, pl, tp, fi, tp->temp_defaults.n > 0,
				      "CREATE TRIGGER IF NOT EXISTS", "bi", 0);
		join_alter(&b, tp->t.q, &tp->temp_defaults, NULL, MYDRV_ALG_INSTANT);
		if (tp->temp_defaults.n)
			render_insert_trigger(&b, pl, tp, fi, 0, "CREATE OR REPLACE TRIGGER", "bi", 0);
		free(fi);
		free(fu);
	} else {
		alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->temp_defaults, NULL, MYDRV_ALG_INSTANT);
	}
	mg_buf_addf(&d, "expand %s:", tp->t.q);	/* parts after ":" joined by "," */
	for (size_t i = 0; i < tp->add_cols.n; i++) {
		const char *def = tp->add_cols.items[i] + strlen("ADD COLUMN IF NOT EXISTS ");
		const char *cut = strstr(def, " NOT NULL DEFAULT ");

		if (!cut)
			cut = strstr(def, " NULL");
		mg_buf_addf(&d, "%s %.*s%s", i ? "," : "", (int)(cut ? (size_t)(cut - def) : strlen(def)), def,
			    cut && !strncmp(cut, " NOT NULL", 9) ? " NOT NULL" : "");
	}
	if (marker)
		mg_buf_addf(&d, "%s marker %s", tp->add_cols.n ? "," : "", pl->marker_raw);
	if (tp->n_pairs)
		mg_buf_addf(&d, "%s dual-write trigger%s", d.buf[d.len - 1] == ':' ? "" : ",",
			    tp->has_marker ? "s" : "");
	allow(mg_plan_add_step(pl->plan, MG_PLAN_EXPAND, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL), tp);
	free(marker);
	mg_buf_release(&b);
	mg_buf_release(&d);
	return 0;
}

/*
 * An index copy, built at switch-reads: indexes over a replaced column
 * are copied onto the new column (unless listed under drops:); at
 * contract the originals are dropped with the column (explicitly: MySQL
 * would otherwise keep a multi-column index without the dropped column)
 * and the copies take their names. The copies are built after the
 * backfill, when the new version starts to read the new column: one
 * sorted online build instead of an index update for every row the
 * backfill copies (the backfill of an indexed int column ran at half the
 * speed of one without), and a UNIQUE copy over a NOT NULL new column
 * could not be built before anyway (the rows not yet copied hold the same
 * placeholder value). Until then the old column's index keeps the new
 * version's writes unique: the triggers copy them into the old column.
 */
static void emit_index_copy(struct planner *pl, struct tplan *tp, const struct idxcopy *c)
{
	struct mg_buf b = MG_BUF_INIT, clause = MG_BUF_INIT;
	char *qc, *desc;

	qc = qi(c->copy);
	mg_buf_addf(&clause, "ADD %sINDEX IF NOT EXISTS %s (", c->kind, qc);
	for (size_t k = 0; k < c->parts.n; k++)
		mg_buf_addf(&clause, "%s%s", k ? ", " : "", c->parts.items[k]);
	mg_buf_adds(&clause, ")");
	alter_one(pl, &b, tp->t.q, tp->t.lit, clause.buf, MYDRV_ALG_NOCOPY);
	mg_buf_release(&clause);
	desc = mg_xasprintf("build %sindex %s on %s (copy of '%s' for the new column)",
			    *c->kind == 'U' ? "unique " : "", qc, tp->t.q, c->orig);
	allow(mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_NOTX,
			       tp->t.q, desc, b.buf, NULL), tp);
	free(desc);
	free(qc);
	mg_buf_release(&b);
}

/* Give the copies the originals' names; the originals went with the
 * columns. Guarded: RENAME INDEX has no IF EXISTS. */
static void render_index_renames(struct planner *pl, struct mg_buf *b, const struct tplan *tp)
{
	for (size_t i = 0; i < tp->n_idx; i++) {
		const struct idxcopy *c = &tp->idx[i];
		char *has_copy = index_exists(pl->mc, tp, c->copy);
		char *has_orig = index_exists(pl->mc, tp, c->orig);
		char *qc = qi(c->copy), *qo = qi(c->orig);
		char *cond = mg_xasprintf("%s AND NOT %s", has_copy, has_orig);
		char *stmt = mg_xasprintf("ALTER TABLE %s RENAME INDEX %s TO %s", tp->t.q, qc, qo);

		add_guarded(pl->mc, b, cond, stmt);
		free(has_copy);
		free(has_orig);
		free(qc);
		free(qo);
		free(cond);
		free(stmt);
	}
}

/* "one of the columns raw still exists" as SQL. */
static void any_column_exists(struct planner *pl, struct mg_buf *cond, const struct tplan *tp,
			      const struct mg_strlist *raw)
{
	mg_buf_addf(cond, "EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME IN (",
		    tp->t.lit);
	for (size_t i = 0; i < raw->n; i++) {
		if (i)
			mg_buf_adds(cond, ", ");
		add_literal(pl->mc, cond, raw->items[i]);
	}
	mg_buf_adds(cond, "))");
}

/* render_drop_columns with renames: one ALTER (drops, RENAME COLUMN),
 * guarded by the temporary columns (in the MySQL dialect the key
 * clauses go first under the same guard, see "the MySQL dialect"). */
static void render_drop_rename(struct planner *pl, struct mg_buf *b, const struct tplan *tp,
			       struct mg_strlist *parts, int keys)
{
	const char *alg = keys ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT;
	struct mg_buf alter = MG_BUF_INIT, cond = MG_BUF_INIT;

	for (size_t i = 0; i < tp->renames.n; i++)
		mg_strlist_push(parts, tp->renames.items[i]);
	any_column_exists(pl, &cond, tp, &tp->renamed);
	if (pl->mc->mysql_dialect) {
		/* two ALTERs (keys, then columns), both under the guard */
		struct mg_strlist kp = MG_STRLIST_INIT, cp = MG_STRLIST_INIT;

		for (size_t i = 0; i < parts->n; i++)
			mg_strlist_push(strstr(parts->items[i], " COLUMN ") ? &cp : &kp,
					parts->items[i]);
		if (kp.n)
			dialect_alter(pl->mc, b, tp->t.q, tp->t.lit, &kp, NULL, MYDRV_ALG_NOCOPY,
				      cond.buf, NULL);
		dialect_alter(pl->mc, b, tp->t.q, tp->t.lit, &cp, NULL, MYDRV_ALG_INSTANT,
			      cond.buf, NULL);
		mg_strlist_release(&kp);
		mg_strlist_release(&cp);
	} else {
		join_alter(&alter, tp->t.q, parts, NULL, alg);
		alter.buf[alter.len - 2] = '\0';	/* the statement, without ";\n" */
		add_guarded(pl->mc, b, cond.buf, alter.buf);
	}
	mg_buf_release(&alter);
	mg_buf_release(&cond);
}

/*
 * The ALTER that drops columns (and with them, explicitly, their indexes
 * and listed constraints). In the MySQL dialect the drops of indexes and
 * constraints come first, in an ALTER of their own under the same guard,
 * and the columns follow (see "the MySQL dialect"). When it drops indexes it runs only while one
 * of the columns is still there: after a crash past it the copies may
 * already carry the originals' names, and DROP INDEX IF EXISTS would drop
 * them. With type changes in place the temporary columns are renamed
 * into place in the same ALTER, which runs only while they are there
 * (after it the old names exist again, as the new columns).
 */
static void render_drop_columns(struct planner *pl, struct mg_buf *b, const struct tplan *tp,
				const struct mg_strlist *drops, const struct mg_strlist *cols,
				const struct mg_strlist *raw)
{
	struct mg_strlist parts = MG_STRLIST_INIT;
	struct mg_buf alter = MG_BUF_INIT, cond = MG_BUF_INIT;

	for (size_t i = 0; drops && i < drops->n; i++)
		mg_strlist_push(&parts, drops->items[i]);
	for (size_t i = 0; i < cols->n; i++)
		mg_strlist_push(&parts, cols->items[i]);
	if (tp->has_marker) {
		char *qm = qi(pl->marker_raw);

		mg_strlist_push_owned(&parts, mg_xasprintf("DROP COLUMN IF EXISTS %s", qm));
		free(qm);
	}
	if (tp->renames.n) {
		render_drop_rename(pl, b, tp, &parts, drops && drops->n);
		mg_strlist_release(&parts);
		return;
	}
	join_alter(&alter, tp->t.q, &parts, NULL,
		   drops && drops->n ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT);
	if (pl->mc->mysql_dialect) {
		if (drops && drops->n)
			any_column_exists(pl, &cond, tp, raw);
		if (parts.n)
			dialect_alter(pl->mc, b, tp->t.q, tp->t.lit, &parts, NULL,
				      drops && drops->n ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT,
				      cond.len ? cond.buf : NULL, NULL);
	} else if (!drops || !drops->n || !alter.len) {
		mg_buf_adds(b, alter.buf);
	} else {
		any_column_exists(pl, &cond, tp, raw);
		alter.buf[alter.len - 2] = '\0';	/* the statement, without ";\n" */
		add_guarded(pl->mc, b, cond.buf, alter.buf);
	}
	mg_strlist_release(&parts);
	mg_buf_release(&alter);
	mg_buf_release(&cond);
}

/*
 * contract: defaults first (the final ones for the new columns, a
 * placeholder for dropped NOT NULL columns without one), then our
 * triggers, the listed dependents, the columns and the marker, and the
 * copies' renames: every state in between is valid for the new version.
 */
static void emit_table_contract(struct planner *pl, struct tplan *tp)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;

	alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->contract_defaults, NULL, MYDRV_ALG_INSTANT);
	if (pl->mc->mysql_dialect)	/* guarded clause by clause already */
		alter_stmt(pl, &b, tp->t.q, tp->t.lit, &tp->drop_defaults, NULL, MYDRV_ALG_INSTANT);
	else
		add_defaults_of_dropped(pl, tp, &tp->drop_defaults, &tp->drop_default_cols, &b);
	/*
	 * In place: the temporary columns' final defaults while they are
	 * there; then no write may fall between the triggers and the ALTER
	 * that renames them into place (it would reach the old column only,
	 * and be lost with it): LOCK TABLES ... WRITE over both, a metadata
	 * lock for as long as the ALTER takes (drops and renames in place,
	 * no rebuild).
	 */
	if (tp->renames.n) {
		add_defaults_of_dropped(pl, tp, &tp->inplace_defaults, &tp->renamed, &b);
		mg_buf_addf(&b, "LOCK TABLES %s WRITE;\n", tp->t.q);
	}
	if (tp->n_pairs)
		render_drop_triggers(&b, pl, tp);
	mg_buf_adds(&b, tp->contract_pre.buf);
	render_drop_columns(pl, &b, tp, &tp->contract_drops, &tp->contract_cols, &tp->dropped);
	if (tp->renames.n)
		mg_buf_adds(&b, "UNLOCK TABLES;\n");
	render_index_renames(pl, &b, tp);
	mg_buf_addf(&d, "contract %s: drop trigger", tp->t.q);
	for (size_t i = 0; i < tp->dropped.n; i++)
		mg_buf_addf(&d, ", `%s`", tp->dropped.items[i]);
	if (tp->has_marker)
		mg_buf_addf(&d, ", `%s`", pl->marker_raw);
	for (size_t i = 0; i < tp->renames.n; i++) {
		const char *r = tp->renames.items[i] + strlen("RENAME COLUMN ");
		const char *to = strstr(r, "` TO `");

		mg_buf_addf(&d, ", %.*s renamed to %s", (int)(to - r + 1), r, to + 5);
	}
	mg_buf_adds(&d, " (never CASCADE); defaults and names moved to the new columns");
	allow(mg_plan_add_step(pl->plan, MG_PLAN_CONTRACT, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL), tp);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

/* rollback: placeholders back on the new NOT NULL columns, our triggers,
 * then the new columns, their index copies and the marker. */
static void emit_table_rollback(struct planner *pl, struct tplan *tp)
{
	struct mg_buf b = MG_BUF_INIT, d = MG_BUF_INIT;
	struct mg_strlist drops = MG_STRLIST_INIT;

	for (size_t i = 0; i < tp->n_idx; i++) {
		char *qc = qi(tp->idx[i].copy);

		mg_strlist_push_owned(&drops, mg_xasprintf("DROP INDEX IF EXISTS %s", qc));
		free(qc);
	}
	/*
	 * Once a new NOT NULL column has its placeholder default back, the
	 * insert trigger would take an old-version insert (which shows the
	 * placeholder) for a new-version write and copy the placeholder into
	 * the old column. So the default comes back and the triggers go
	 * under LOCK TABLES ... WRITE: no write sees the state in between
	 * (milliseconds, like the PostgreSQL driver's ACCESS EXCLUSIVE lock).
	 */
	if (tp->rollback_defaults.n && pl->mc->mysql_dialect) {
		/* the catalog is read before the lock, the ALTER runs under it */
		struct mg_buf run = MG_BUF_INIT;

		dialect_alter(pl->mc, &run, tp->t.q, tp->t.lit, &tp->rollback_defaults, NULL,
			      MYDRV_ALG_INSTANT, NULL, &b);
		mg_buf_addf(&b, "LOCK TABLES %s WRITE;\n%s", tp->t.q, run.buf);
		mg_buf_release(&run);
	} else {
		if (tp->rollback_defaults.n)
			mg_buf_addf(&b, "LOCK TABLES %s WRITE;\n", tp->t.q);
		add_defaults_of_dropped(pl, tp, &tp->rollback_defaults,
					&tp->rollback_default_cols, &b);
	}
	if (tp->n_pairs)
		render_drop_triggers(&b, pl, tp);
	if (tp->rollback_defaults.n)
		mg_buf_adds(&b, "UNLOCK TABLES;\n");
	{
		struct mg_strlist parts = MG_STRLIST_INIT;

		for (size_t i = 0; i < drops.n; i++)
			mg_strlist_push(&parts, drops.items[i]);
		for (size_t i = 0; i < tp->rollback_cols.n; i++)
			mg_strlist_push(&parts, tp->rollback_cols.items[i]);
		if (tp->has_marker) {
			char *qm = qi(pl->marker_raw);

			mg_strlist_push_owned(&parts, mg_xasprintf("DROP COLUMN IF EXISTS %s", qm));
			free(qm);
		}
		alter_stmt(pl, &b, tp->t.q, tp->t.lit, &parts, NULL,
			   drops.n ? MYDRV_ALG_NOCOPY : MYDRV_ALG_INSTANT);
		mg_strlist_release(&parts);
	}
	mg_buf_addf(&d, "roll back %s: drop trigger", tp->t.q);
	for (size_t i = 0; i < tp->rollback_cols.n; i++)
		mg_buf_addf(&d, ", %s", tp->rollback_cols.items[i] + strlen("DROP COLUMN IF EXISTS "));
	if (tp->has_marker)
		mg_buf_addf(&d, ", `%s`", pl->marker_raw);
	allow(mg_plan_add_step(pl->plan, MG_PLAN_ROLLBACK, MG_STEP_TX, tp->t.q, d.buf, b.buf, NULL), tp);
	mg_strlist_release(&drops);
	mg_buf_release(&b);
	mg_buf_release(&d);
}

/*
 * The backfill of one table (design §7). The set clause keeps columns
 * that the server sets ON UPDATE CURRENT_TIMESTAMP as they are: assigning
 * a column itself stops the automatic update. The mismatch test is
 * postgres/render.c's with <=> for IS NOT DISTINCT FROM.
 */
static void emit_backfill_spec(struct planner *pl, struct tplan *tp)
{
	struct mg_backfill_spec *s;
	struct mg_buf set = MG_BUF_INIT, mm = MG_BUF_INIT;
	char *qm = qi(pl->marker_raw);

	for (size_t i = 0; i < tp->n_pairs; i++) {
		const struct mg_pair *p = &tp->pairs[i];
		char *qn = p->new_col ? qi(p->new_col) : NULL;
		char *qo = p->old_col ? qi(p->old_col) : NULL;

		if (p->kind != MG_PAIR_DROP && p->kind != MG_PAIR_FIX && p->up)
			mg_buf_addf(&set, "%s%s = (%s)", set.len ? ", " : "", qn, p->up);
		if (p->kind == MG_PAIR_REPLACE)
			mg_buf_addf(&mm, " OR NOT (%s <=> (%s) OR %s <=> (%s))", qn, p->up, qo, p->down);
		if (p->kind == MG_PAIR_SHADOW)
			mg_buf_addf(&mm, " OR NOT (%s <=> (%s))", qn, p->up);
		free(qn);
		free(qo);
	}
	mydrv_fix_backfill(&set, &mm, tp);
	for (size_t i = 0; i < tp->t.on_update.n; i++)
		mg_buf_addf(&set, ", %s = %s", tp->t.on_update.items[i], tp->t.on_update.items[i]);
	s = mg_plan_add_backfill(pl->plan);
	s->table = mg_xstrdup(tp->t.q);
	s->n_keys = tp->t.n_keys;
	s->key_columns = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	s->key_types = mg_xcalloc(s->n_keys + 1, sizeof(char *));
	for (size_t k = 0; k < s->n_keys; k++) {
		s->key_columns[k] = mg_xstrdup(tp->t.key_cols[k]);
		s->key_types[k] = mg_xstrdup(tp->t.key_types[k]);
	}
	s->set_clause = mg_buf_detach(&set);
	s->marker = mg_xstrdup(qm);
	s->mismatch = mg_xasprintf("%s = 0%s", qm, mm.buf);
	s->session_sql = mg_xasprintf("SET @migrate_backfill = %d; "
				      "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", pl->m->id);
	mg_buf_release(&mm);
	free(qm);
}

/* switch-reads: every index create_index built is there (MySQL has no
 * invalid indexes: a failed build leaves none, and expand would have
 * failed). */
static void emit_index_assert(struct planner *pl)
{
	struct mg_buf b = MG_BUF_INIT;

	for (size_t i = 0; i < pl->m->n_ops; i++) {
		const struct mg_op *op = &pl->m->ops[i];
		const struct mytable *t;
		char *what;

		if (op->kind != MG_OP_CREATE_INDEX)
			continue;
		t = mytable_of(pl->core->index_tables[i]);
		what = mg_xasprintf("index `%s` on %s is missing", op->index_name, t->q);
		mg_buf_adds(&b, b.len ? " UNION ALL SELECT " : "SELECT ");
		add_literal(pl->mc, &b, what);
		mg_buf_addf(&b, " FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS "
			    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = ", t->lit);
		add_literal(pl->mc, &b, op->index_name);
		mg_buf_adds(&b, ")");
		free(what);
	}
	if (b.len)
		mg_plan_add_step(pl->plan, MG_PLAN_SWITCH_READS, MG_STEP_ASSERT, NULL,
				 "every index built at expand exists", b.buf, NULL);
	mg_buf_release(&b);
}

/*
 * A sql step: the user's SQL as written, sent as one multi-statement
 * request (no algorithm fallback, no table to check for long
 * transactions). in_transaction: true opens a transaction before it;
 * mydrv_run_step writes the history row in that transaction and commits.
 */
static void emit_sql_step(struct planner *pl, const struct mg_op *op,
			  enum mg_sql_phase sp, enum mg_plan_phase phase)
{
	char *desc, *sql;

	if (!op->sql[sp])
		return;
	desc = mg_xasprintf("%s SQL of the sql step at %s:%d:%d", mg_sql_phase_name(sp),
			    pl->m->name, op->pos.line, op->pos.column);
	sql = mg_xasprintf("%s%s", op->in_transaction ? MYDRV_START_TX : "", op->sql[sp]);
	mg_plan_add_step(pl->plan, phase, op->in_transaction ? MG_STEP_TX : MG_STEP_NOTX,
			 NULL, desc, sql, NULL);
	free(desc);
	free(sql);
}


/* ==== notes ============================================================================== */

/* Notes: what each kind of statement costs the application, and user
 * triggers the backfill fires. */
static void emit_notes(struct planner *pl, struct tplan *tp)
{
	struct mg_buf sql = MG_BUF_INIT;
	struct mg_rows r = MG_ROWS_INIT;
	struct mg_err ignored = MG_ERR_INIT;
	char *n;

	if (tp->add_cols.n || tp->has_marker) {
		n = mg_xasprintf("expand of %s: ALTER TABLE ... ADD COLUMN, ALGORITHM=INSTANT: instant, a metadata lock for milliseconds (queued behind running transactions on the table for at most --lock-timeout, then retried)",
				 tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->temp_defaults.n) {
		n = mg_xasprintf("expand of %s: a NOT NULL new column is added with a placeholder DEFAULT (instant; the old version's inserts stay valid until the triggers exist), which is dropped at the end of the step; existing rows hold the placeholder until the backfill writes them (the marker, not the value, says which rows are done)",
				 tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->n_pairs) {
		n = mg_xasprintf("the triggers on %s are created, and dropped at contract/rollback, with a metadata lock for milliseconds each",
				 tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	for (size_t i = 0; i < tp->n_idx; i++) {
		n = mg_xasprintf("index copy `%s` on %s: %s; replicas replay it single-threaded, so expect replication lag for the time of the build%s",
				 tp->idx[i].copy, tp->t.q,
				 pl->mc->mysql_dialect ? "ALGORITHM=INPLACE, LOCK=NONE: built in place without locks (the MySQL manual lists adding a secondary index as in place without a rebuild of the table)" :
				 "ALGORITHM=NOCOPY, LOCK=NONE: built in place without locks and without a rebuild of the table",
				 " (built at switch-reads, after the backfill: one sorted build instead of an index update for every row the backfill copies)");
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->contract_drops.n) {
		n = pl->mc->mysql_dialect ?
		    mg_xasprintf("contract of %s drops indexes and constraints of the columns first, ALGORITHM=INPLACE, LOCK=NONE (in place without locks and, per the MySQL manual, without a rebuild), then the columns, ALGORITHM=INSTANT", tp->t.q) :
		    mg_xasprintf("contract of %s drops indexes with the columns: ALGORITHM=NOCOPY, LOCK=NONE, in place without locks", tp->t.q);
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (tp->renames.n) {
		n = mg_xasprintf("contract of %s: a type change in place: the triggers are dropped and the old column%s dropped and the new one%s renamed into place under LOCK TABLES %s WRITE (writes wait for as long as the ALTER takes, in place without a rebuild: no write may reach only the old column); the ALTER runs only while the temporary column%s exist%s, so a run again after a crash finishes the step",
				 tp->t.q, tp->renames.n > 1 ? "s are" : " is", tp->renames.n > 1 ? "s" : "",
				 tp->t.q, tp->renames.n > 1 ? "s" : "", tp->renames.n > 1 ? "" : "s");
		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	if (pl->mc->mysql_dialect)
		n = mg_xasprintf("every ALTER TABLE on %s names its algorithm: if the server refuses ALGORITHM=INSTANT, the step falls back to ALGORITHM=INPLACE, LOCK=NONE, which on MySQL may rebuild the table (in place without locks, but the table is rewritten and replicas replay it single-threaded; MySQL has no NOCOPY to refuse just the rebuild), so it is refused unless the operation has allow_rebuild: true%s; a table copy (blocks writes) is refused unless allow_copy: true%s",
				 tp->t.q, tp->allow_rebuild ? " (it has)" : "", tp->allow_copy ? " (it has)" : "");
	else
		n = mg_xasprintf("every ALTER TABLE on %s names its algorithm: if the server refuses it, the step falls back to ALGORITHM=NOCOPY; a change the server can only do by rebuilding the table (in place without locks, but the table is rebuilt and replicas replay it single-threaded) is refused unless the operation has allow_rebuild: true%s; a table copy (blocks writes) is refused unless allow_copy: true%s",
				 tp->t.q, tp->allow_rebuild ? " (it has)" : "", tp->allow_copy ? " (it has)" : "");
	mg_plan_add_note(pl->plan, n);
	free(n);
	mg_buf_addf(&sql, "SELECT CONCAT('the backfill of ', %s, ' fires user trigger `', TRIGGER_NAME, '`') "
		    "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
		    "AND EVENT_OBJECT_TABLE = %s AND EVENT_MANIPULATION = 'UPDATE' "
		    "AND TRIGGER_NAME NOT LIKE '\\_mg%%' UNION ALL "
		    "SELECT CONCAT('the backfill of ', %s, ' is written to the binary log and replayed by replicas') FROM DUAL WHERE @@log_bin = 1",
		    tp->t.lit, tp->t.lit, tp->t.lit);
	if (tp->has_marker && query_mc(pl->mc, sql.buf, &r, &ignored) == 0)
		for (size_t i = 0; i < r.nrows; i++)
			mg_plan_add_note(pl->plan, mg_rows_get(&r, i, 0));
	mg_rows_release(&r);
	mg_buf_release(&sql);
}

static void emit_sql_notes(struct planner *pl)
{
	int tx = 0, notx = 0;

	for (size_t i = 0; i < pl->m->n_ops; i++)
		if (pl->m->ops[i].kind == MG_OP_SQL) {
			tx |= pl->m->ops[i].in_transaction;
			notx |= !pl->m->ops[i].in_transaction;
		}
	if (tx)
		mg_plan_add_note(pl->plan, "sql steps with in_transaction: true run after START TRANSACTION and are committed together with their history row; MySQL/MariaDB commit implicitly before and after every DDL statement (CREATE, ALTER, DROP, RENAME, TRUNCATE), so in_transaction does not make DDL atomic: a failure after a DDL statement leaves what ran before it, and such SQL must be idempotent (IF [NOT] EXISTS)");
	if (notx)
		mg_plan_add_note(pl->plan, "sql steps with in_transaction: false run statement by statement with autocommit and are recorded after they succeed: after a failure or a crash they run again from the start, so they must be idempotent (IF [NOT] EXISTS)");
	if (tx || notx)
		mg_plan_add_note(pl->plan, "migrate does not know which tables sql steps touch: no long-transaction check before them, no algorithm fallback; each of their statements waits at most --lock-timeout (whole seconds) for a metadata lock and is retried like the table steps");
}

/* The notes, in the order plan shows them: per table, per create_index
 * and drop_index, for the sql steps. */
void mydrv_plan_notes(struct mg_conn *c, const struct mg_planner *core, struct mg_plan *out)
{
	struct planner pl;

	planner_init(&pl, c, core, out);
	for (size_t t = 0; t < core->n_tables; t++) {
		struct tplan tp;

		tplan_derive(&pl, core->tables[t], &tp);
		emit_notes(&pl, &tp);
		tplan_release(&tp);
	}
	for (size_t i = 0; i < core->m->n_ops; i++)
		if (core->m->ops[i].kind == MG_OP_CREATE_INDEX ||
		    core->m->ops[i].kind == MG_OP_DROP_INDEX)
			mydrv_emit_index_notes(&pl, &core->m->ops[i], mytable_of(core->index_tables[i]));
	mydrv_attr_notes(&pl);
	emit_sql_notes(&pl);
}


/* ==== render ============================================================================= */

/* One table's step of a phase, from the MySQL view of its plan. */
static int render_table(struct planner *pl, const struct mg_render *r, struct mg_err *err)
{
	struct tplan tp;
	int rc = 0;

	tplan_derive(pl, r->tp, &tp);
	switch (r->kind) {
	case MG_RENDER_EXPAND_TABLE:
		rc = emit_table_expand(pl, &tp, err);
		break;
	case MG_RENDER_BACKFILL:
		emit_backfill_spec(pl, &tp);
		break;
	case MG_RENDER_CONTRACT_TABLE:
		emit_table_contract(pl, &tp);
		break;
	case MG_RENDER_ROLLBACK_TABLE:
		emit_table_rollback(pl, &tp);
		break;
	case MG_RENDER_COPY_INDEX:
		for (size_t i = 0; i < tp.n_idx; i++)
			if (!strcmp(tp.idx[i].copy, r->prim->name))
				emit_index_copy(pl, &tp, &tp.idx[i]);
		break;
	case MG_RENDER_RULE:
		mydrv_render_rule(pl, &tp, r);
		break;
	case MG_RENDER_ASSERT_DEPENDENTS: {
		char *sql = dep_check_sql(pl, &tp, r->prim->op, r->prim->column);

		char *desc = mg_xasprintf("nothing new depends on column '%s' of %s, which contract drops",
					  r->prim->column, tp.t.q);

		mg_plan_add_step(pl->plan, r->phase, MG_STEP_ASSERT, tp.t.q, desc, sql, NULL);
		free(desc);
		free(sql);
		break;
	}
	default:
		break;
	}
	tplan_release(&tp);
	return rc;
}

/*
 * Render one piece of the plan (driver.h). MySQL has no NOT VALID
 * constraints and carries no constraint or foreign key over: the core
 * asks for no VALIDATE or INBOUND step.
 */
int mydrv_render(struct mg_conn *c, const struct mg_render *r, struct mg_plan *out,
		 struct mg_err *err)
{
	struct planner pl;

	planner_init(&pl, c, r->pl, out);
	switch (r->kind) {
	case MG_RENDER_BUILD_INDEX:
		mydrv_emit_index_op(&pl, r->op, mytable_of(r->table));
		return 0;
	case MG_RENDER_DROP_INDEX:
		mydrv_emit_index_drop(&pl, r->op, mytable_of(r->table), r->phase);
		return 0;
	case MG_RENDER_ASSERT_INDEXES:
		emit_index_assert(&pl);
		return 0;
	case MG_RENDER_SQL:
		emit_sql_step(&pl, r->op, r->sql_phase, r->phase);
		return 0;
	case MG_RENDER_CREATE_TABLE:
	case MG_RENDER_DROP_CREATED_TABLE:
	case MG_RENDER_DROP_TABLE:
	case MG_RENDER_ADD_VIEW:
	case MG_RENDER_DROP_VIEW:
	case MG_RENDER_FINISH_RENAME:
		return mydrv_render_table_op(&pl, r);
	case MG_RENDER_ATTR:
	case MG_RENDER_ATTR_UNDO:
		return mydrv_render_attr(&pl, r, err);
	case MG_RENDER_VALIDATE:
	case MG_RENDER_INBOUND:
	case MG_RENDER_VALIDATE_INBOUND:
		assert(!"no such step on MySQL");
		return 0;
	default:
		return render_table(&pl, r, err);
	}
}
