/*
 * planner.c - the driver-neutral planner: operations into table plans.
 *
 * Every operation is checked and turned into primitives here, once for
 * every database; the driver only answers questions about its catalog
 * (driver.h) and renders the steps (planner_emit.c decides their order).
 * An operation is planned against the catalog as it will be after the
 * earlier operations of the same migration: the overlay records the
 * columns they add, replace or drop.
 */
#include "planner.h"
#include "planner_int.h"
#include "driver.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ==== helpers drivers use too ============================================= */

int mg_plan_pos_error(struct mg_err *err, int code,
		      const struct mg_migration *m, struct mg_pos pos,
		      const char *fmt, ...)
{
	char what[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mg_err_set(err, code, "%s at %s:%d:%d", what, m->path, pos.line,
			  pos.column);
}

char *mg_planner_name(size_t max_ident, const char *base, const char *suffix)
{
	size_t room = max_ident - strlen(suffix);
	size_t n = strlen(base);

	if (n > room)
		n = room;
	return mg_xasprintf("%.*s%s", (int)n, base, suffix);
}

char *mg_planner_name_utf8(size_t max_ident, const char *base, const char *suffix)
{
	size_t room = max_ident - strlen(suffix);
	size_t n = strlen(base);

	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)base[n] & 0xC0) == 0x80)
			n--;
	}
	return mg_xasprintf("%.*s%s", (int)n, base, suffix);
}

int mg_op_drops(const struct mg_op *op, const char *name)
{
	for (size_t i = 0; i < op->n_drops; i++)
		if (!strcmp(op->drops[i], name))
			return 1;
	return 0;
}

int mg_planner_adds_columns(const struct mg_planner *pl,
			    const struct mg_table_desc *t)
{
	for (size_t i = 0; i < pl->n_overlay; i++)
		if (!strcmp(pl->overlay[i].table_id, t->id) &&
		    !pl->overlay[i].replaced)
			return 1;
	return 0;
}

void mg_table_desc_release(struct mg_table_desc *t)
{
	free(t->id);
	free(t->q);
	free(t->relname);
	for (size_t i = 0; i < t->key.n; i++) {
		free(t->key.cols[i]);
		free(t->key.types[i]);
	}
	free(t->key.cols);
	free(t->key.types);
	if (t->drv_free)
		t->drv_free(t->drv);
	memset(t, 0, sizeof(*t));
}

void mg_column_desc_release(struct mg_column_desc *c)
{
	free(c->type);
	free(c->collation);
	free(c->default_expr);
	free(c->comment);
	if (c->drv_free)
		c->drv_free(c->drv);
	memset(c, 0, sizeof(*c));
}

struct mg_dependent *mg_dependents_add(struct mg_dependents *d,
				       enum mg_dep_kind kind)
{
	struct mg_dependent *x;

	MG_ALLOC_GROW(d->v, d->n + 1, d->alloc);
	x = &d->v[d->n++];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	return x;
}

void mg_dependents_release(struct mg_dependents *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct mg_dependent *x = &d->v[i];

		free(x->name);
		free(x->what);
		free(x->def);
		free(x->child);
		if (x->drv_free)
			x->drv_free(x->drv);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* ==== table plans and primitives ========================================== */

static void prim_free(struct mg_prim *p)
{
	free(p->column);
	free(p->name);
	free(p->type);
	free(p->collation);
	free(p->text);
	mg_strlist_release(&p->from);
	mg_strlist_release(&p->to);
	free(p);
}

static void tplan_free(struct mg_tplan *tp)
{
	mg_table_desc_release(&tp->t);
	for (size_t i = 0; i < tp->n_pairs; i++) {
		free(tp->pairs[i].old_col);
		free(tp->pairs[i].new_col);
		free(tp->pairs[i].up);
		free(tp->pairs[i].down);
	}
	free(tp->pairs);
	mg_strlist_release(&tp->children);
	for (size_t i = 0; i < tp->n_depsets; i++) {
		mg_dependents_release(tp->depsets[i]);
		free(tp->depsets[i]);
	}
	free(tp->depsets);
	for (size_t i = 0; i < tp->n_cols; i++) {
		mg_column_desc_release(tp->cols[i]);
		free(tp->cols[i]);
	}
	free(tp->cols);
	for (size_t s = 0; s < MG_NSLOTS; s++) {
		for (size_t i = 0; i < tp->slot[s].n; i++)
			prim_free(tp->slot[s].v[i]);
		free(tp->slot[s].v);
	}
	if (tp->drv_free)
		tp->drv_free(tp->drv);
	free(tp);
}

static void planner_release(struct mg_planner *pl)
{
	for (size_t i = 0; i < pl->n_tables; i++)
		tplan_free(pl->tables[i]);
	free(pl->tables);
	for (size_t i = 0; pl->index_tables && i < pl->m->n_ops; i++) {
		if (!pl->index_tables[i])
			continue;
		mg_table_desc_release(pl->index_tables[i]);
		free(pl->index_tables[i]);
	}
	free(pl->index_tables);
	for (size_t i = 0; i < pl->n_overlay; i++) {
		free(pl->overlay[i].table_id);
		free(pl->overlay[i].column);
		free(pl->overlay[i].table_q);
		free(pl->overlay[i].type);
		free(pl->overlay[i].renamed_to);
	}
	free(pl->overlay);
	mg_planner_tables_release(pl);
	mg_planner_attrs_release(pl);
}

struct mg_prim *mg_planner_add_prim(struct mg_tplan *tp, enum mg_slot slot,
				    enum mg_prim_kind kind, const struct mg_op *op,
				    const char *column, const char *name)
{
	struct mg_prims *l = &tp->slot[slot];
	struct mg_prim *p = mg_xcalloc(1, sizeof(*p));

	p->kind = kind;
	p->op = op;
	p->column = mg_xstrdup(column);
	p->name = mg_xstrdup(name);
	MG_ALLOC_GROW(l->v, l->n + 1, l->alloc);
	l->v[l->n++] = p;
	return p;
}

struct mg_prim *mg_planner_find_prim(const struct mg_tplan *tp, enum mg_slot slot,
				     const char *name)
{
	for (size_t i = 0; i < tp->slot[slot].n; i++)
		if (tp->slot[slot].v[i]->name &&
		    !strcmp(tp->slot[slot].v[i]->name, name))
			return tp->slot[slot].v[i];
	return NULL;
}

/* Record in the overlay (planner_overlay.c) what the operation being
 * planned does to column col of the table whose identity is id: added
 * (its type is that of its ADD_COLUMN primitive) or, replaced, removed
 * from the new version's view (renamed into the operation's `to`, or
 * dropped). */
static void overlay_add(struct mg_planner *pl, const char *id, const char *col,
			int replaced)
{
	const struct mg_op *op = pl->op;
	struct mg_tplan *tp = NULL;
	const struct mg_prim *p = NULL;

	for (size_t i = 0; i < pl->n_tables && !tp; i++)
		if (!strcmp(pl->tables[i]->t.id, id))
			tp = pl->tables[i];
	if (!tp)
		return;
	if (replaced) {
		int renamed = op->to && op->column && !strcmp(op->column, col);

		mg_overlay_remove_column(pl, &tp->t, col, renamed ? op->to : NULL);
		return;
	}
	for (size_t k = 0; k < tp->slot[MG_SLOT_ADD_COLUMNS].n; k++)
		if (!strcmp(tp->slot[MG_SLOT_ADD_COLUMNS].v[k]->column, col))
			p = tp->slot[MG_SLOT_ADD_COLUMNS].v[k];
	mg_overlay_add_column(pl, &tp->t, col, p ? p->type : NULL,
			      p ? p->collation : NULL);
}

/* Do two column names name the same column? */
static int same_column(const struct mg_planner *pl, const char *a, const char *b)
{
	if (pl->caps & MG_CAP_CASELESS_COLUMNS)
		return !strcasecmp(a, b);
	return !strcmp(a, b);
}

/* -1 not in the overlay, else its `replaced` flag; the latest operation
 * on the column counts (a column dropped, then added again, is added). */
static int overlay_find(const struct mg_planner *pl, const char *id,
			const char *col)
{
	int found = -1;

	for (size_t i = 0; i < pl->n_overlay; i++)
		if (!strcmp(pl->overlay[i].table_id, id) &&
		    same_column(pl, pl->overlay[i].column, col))
			found = pl->overlay[i].replaced;
	return found;
}

int mg_planner_overlay_find(const struct mg_planner *pl, const char *id,
			    const char *col)
{
	return overlay_find(pl, id, col);
}

/* The table's plan, created on first use (asking the driver about it). */
static struct mg_tplan *planner_table(struct mg_planner *pl, size_t op_index,
				      struct mg_err *err)
{
	struct mg_table_desc t;
	struct mg_tplan *tp;

	if (mg_db_describe_table(pl->conn, pl, &pl->m->ops[op_index], &t,
				 err) < 0) {
		mg_table_desc_release(&t);
		return NULL;
	}
	for (size_t i = 0; i < pl->n_tables; i++)
		if (!strcmp(pl->tables[i]->t.id, t.id)) {
			mg_table_desc_release(&t);
			return pl->tables[i];
		}
	tp = mg_xcalloc(1, sizeof(*tp));
	tp->t = t;
	tp->first_op = op_index;
	MG_ALLOC_GROW(pl->tables, pl->n_tables + 1, pl->alloc_tables);
	pl->tables[pl->n_tables++] = tp;
	return tp;
}

static struct mg_pair *add_pair(struct mg_tplan *tp, enum mg_pair_kind kind,
				const char *old_col, const char *new_col,
				const char *up, const char *down)
{
	struct mg_pair *p;

	MG_ALLOC_GROW(tp->pairs, tp->n_pairs + 1, tp->alloc_pairs);
	p = &tp->pairs[tp->n_pairs++];
	p->kind = kind;
	p->old_col = mg_xstrdup(old_col);
	p->new_col = mg_xstrdup(new_col);
	p->up = mg_xstrdup(up);
	p->down = mg_xstrdup(down);
	p->op = NULL;
	if (kind != MG_PAIR_DROP && up)
		tp->has_marker = 1;
	return p;
}

static char *quoted(const struct mg_planner *pl, const char *name)
{
	struct mg_buf b = MG_BUF_INIT;

	mg_db_quote_ident(pl->conn, &b, name);
	return mg_buf_detach(&b);
}

char *mg_planner_copy_name(const struct mg_planner *pl, const struct mg_tplan *tp,
			   const char *base)
{
	if (tp->t.utf8_names)
		return mg_planner_name_utf8(tp->t.max_ident, base, pl->suffix);
	return mg_planner_name(tp->t.max_ident, base, pl->suffix);
}

static void add_lossy(struct mg_planner *pl, char *text)
{
	mg_plan_add_lossy(pl->plan, text);
	free(text);
}

/* ==== columns ============================================================= */

/* The column as it will be after the earlier operations: 0 found (*out
 * set, NULL when an earlier operation adds it), 1 absent, -1 error. */
static int column_for_op(struct mg_planner *pl, struct mg_tplan *tp,
			 const char *name, struct mg_column_desc **out,
			 struct mg_err *err)
{
	int ov = overlay_find(pl, tp->t.id, name);
	struct mg_column_desc *c;
	int rc;

	*out = NULL;
	if (ov >= 0)
		return ov;
	c = mg_xcalloc(1, sizeof(*c));
	rc = mg_db_describe_column(pl->conn, pl, &tp->t, name, c, err);
	if (rc != 0) {
		mg_column_desc_release(c);
		free(c);
		return rc;
	}
	MG_ALLOC_GROW(tp->cols, tp->n_cols + 1, tp->alloc_cols);
	tp->cols[tp->n_cols++] = c;
	*out = c;
	return 0;
}

static int require_column(struct mg_planner *pl, struct mg_tplan *tp,
			  const char *name, struct mg_pos pos,
			  struct mg_column_desc **out, struct mg_err *err)
{
	int rc = column_for_op(pl, tp, name, out, err);

	if (rc < 0)
		return -1;
	if (rc == 1 && overlay_find(pl, tp->t.id, name) == 1)
		return mg_overlay_refuse(err, pl, &tp->t,
					 mg_overlay_find(pl, tp->t.id, name), pos);
	if (rc == 1) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, pos,
				  "column '%s' does not exist in %s", name, tp->t.q);
		return mg_err_hint(err, "check the column name; an earlier operation of this migration may have replaced it");
	}
	if (!*out) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, pos,
				  "column '%s' of %s is created by an earlier operation of this migration and cannot be changed again in it",
				  name, tp->t.q);
		return mg_err_hint(err, "move this operation to a later migration");
	}
	return 0;
}

static int require_absent(struct mg_planner *pl, struct mg_tplan *tp,
			  const char *name, struct mg_pos pos,
			  struct mg_err *err)
{
	struct mg_column_desc *c;
	int rc = column_for_op(pl, tp, name, &c, err);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return mg_plan_pos_error(err, MG_EINPUT, pl->m, pos,
					 "column '%s' already exists in %s",
					 name, tp->t.q);
	return 0;
}

/* Columns migrate cannot replace or drop: key columns, and what the
 * driver says it cannot carry (identity, generated, serial ...). */
static int refuse_special(struct mg_planner *pl, struct mg_tplan *tp,
			  const struct mg_op *op, const char *name,
			  const struct mg_column_desc *c, struct mg_err *err)
{
	char *qn = quoted(pl, name);
	int key = 0;

	for (size_t i = 0; i < tp->t.key.n; i++)
		if (same_column(pl, tp->t.key.cols[i], qn))
			key = 1;
	free(qn);
	if (key)
		return mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->column_pos,
					 "column '%s' is part of the key of %s: changing key columns is not supported",
					 name, tp->t.q);
	if (c->unsupported)
		return mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->column_pos,
					 "column '%s' of %s %s: not supported",
					 name, tp->t.q, c->unsupported);
	return 0;
}

/* A new column at expand, dropped again by rollback. */
static struct mg_prim *add_column(struct mg_tplan *tp, const struct mg_op *op,
				  const char *col, const char *type,
				  const char *collation,
				  const struct mg_column_desc *old)
{
	struct mg_prim *p = mg_planner_add_prim(tp, MG_SLOT_ADD_COLUMNS, MG_PRIM_ADD_COLUMN,
						op, col, NULL);

	p->type = mg_xstrdup(type);
	p->collation = mg_xstrdup(collation);
	p->old = old;
	mg_planner_add_prim(tp, MG_SLOT_ROLLBACK_COLUMNS, MG_PRIM_DROP_COLUMN, op, col, NULL);
	return p;
}

int mg_planner_placeholder_not_null(const struct mg_planner *pl)
{
	return (pl->caps & MG_CAP_PLACEHOLDER_NOT_NULL) != 0;
}

/* MG_CAP_PLACEHOLDER_NOT_NULL: the new column p is NOT NULL, with a
 * placeholder default while nothing real is in it; MG_EREFUSED when its
 * type has none. */
static int add_placeholder(struct mg_planner *pl, const struct mg_op *op,
			   struct mg_prim *p, struct mg_err *err)
{
	p->notnull = 1;
	p->text = mg_db_placeholder_value(pl->conn, p->type);
	if (p->text)
		return 0;
	mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
			  "column '%s' of type %s would be NOT NULL, and migrate has no placeholder value of that type to add it instantly",
			  p->column, p->type);
	return mg_err_hint(err, "make the new column nullable, or add it with a sql step");
}

/* The old column contract drops (c: as described). A NOT NULL one
 * without a default gets a placeholder default first where NOT NULL is
 * carried that way, so that the new version's inserts (which do not
 * name it) stay valid until it is gone. */
static void drop_old_column(struct mg_planner *pl, struct mg_tplan *tp,
			    const struct mg_op *op, const char *col,
			    const struct mg_column_desc *c)
{
	struct mg_prim *p = mg_planner_add_prim(tp, MG_SLOT_CONTRACT_COLUMNS,
						MG_PRIM_DROP_COLUMN, op, col, NULL);

	p->old = c;
	/* in place: both versions write the column itself until it goes */
	if (mg_planner_placeholder_not_null(pl) && c->notnull && !c->default_expr &&
	    !mg_op_in_place(op))
		p->text = mg_db_placeholder_value(pl->conn, c->type);
}

/* Add a NOT VALID constraint at expand, validated at switch-reads, renamed
 * to the original's name at contract when it copies one (dep). */
struct mg_prim *mg_planner_copy_constraint(struct mg_tplan *tp,
					   const struct mg_op *op,
					   const char *name,
					   const struct mg_dependent *dep,
					   const char *column)
{
	struct mg_prim *p = mg_planner_add_prim(tp, MG_SLOT_EXPAND, MG_PRIM_COPY_CONSTRAINT,
						op, column, name);

	p->dep = dep;
	mg_planner_add_prim(tp, MG_SLOT_VALIDATE, MG_PRIM_VALIDATE, op, column, name);
	if (dep)
		mg_planner_add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_FINISH_CONSTRAINT,
				    op, column, name)->dep = dep;
	return p;
}

/* NOT NULL on a new column: a CHECK NOT VALID until contract sets it. */
void mg_planner_not_null_check(struct mg_planner *pl, struct mg_tplan *tp,
			       const struct mg_op *op, const char *col)
{
	char *base = mg_xasprintf("%s_not_null", col);
	char *name = mg_planner_copy_name(pl, tp, base);

	mg_planner_copy_constraint(tp, op, name, NULL, col);
	mg_planner_add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_SET_NOT_NULL, op, col, name);
	free(base);
	free(name);
}

void mg_planner_set_default(struct mg_tplan *tp, const struct mg_op *op,
			    const char *col, const char *expr)
{
	mg_planner_add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_SET_DEFAULT, op, col,
			    NULL)->text = mg_xstrdup(expr);
}

/* ==== operations ========================================================== */

static int plan_add_column(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_tplan *tp = planner_table(pl, i, err);
	struct mg_prim *p;
	const char *up;
	char *type;

	if (!tp || require_absent(pl, tp, op->column, op->column_pos, err) < 0)
		return -1;
	up = op->backfill ? op->backfill : op->default_expr;
	if ((op->backfill && mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_ROW,
					      op->backfill, op->backfill_pos, err) < 0) ||
	    (op->default_expr && mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_ROW,
						  op->default_expr, op->default_pos, err) < 0) ||
	    mg_db_canonical_type(pl->conn, pl, op, &type, err) < 0)
		return -1;
	p = add_column(tp, op, op->column, type, NULL, NULL);
	free(type);
	if (!op->nullable && mg_planner_placeholder_not_null(pl) &&
	    add_placeholder(pl, op, p, err) < 0)
		return -1;
	if (up)
		add_pair(tp, MG_PAIR_ADD, NULL, op->column, up, NULL);
	if (!op->nullable && !mg_planner_placeholder_not_null(pl))
		mg_planner_not_null_check(pl, tp, op, op->column);
	if (op->default_expr)
		mg_planner_set_default(tp, op, op->column, op->default_expr);
	overlay_add(pl, tp->t.id, op->column, 0);
	add_lossy(pl, mg_xasprintf("rollback of %04d drops column '%s' of %s with every value the new version wrote into it",
				   pl->m->id, op->column, tp->t.q));
	return 0;
}

/* rename_column and alter_column: a new column beside the old one. */
static int plan_replace_column(struct mg_planner *pl, size_t i,
			       struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	int is_alter = op->kind == MG_OP_ALTER_COLUMN;
	struct mg_tplan *tp = planner_table(pl, i, err);
	struct mg_column_desc *c = NULL;
	struct mg_prim *p;
	char *qold = NULL, *qnew = NULL, *type = NULL;
	int rc = -1;

	if (!tp || require_column(pl, tp, op->column, op->column_pos, &c, err) < 0 ||
	    require_absent(pl, tp, op->to, op->to_pos, err) < 0 ||
	    refuse_special(pl, tp, op, op->column, c, err) < 0)
		goto out;
	if (is_alter &&
	    (mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_ROW, op->up,
			      op->up_pos, err) < 0 ||
	     mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_TEXT, op->down,
			      op->down_pos, err) < 0 ||
	     mg_db_canonical_type(pl->conn, pl, op, &type, err) < 0))
		goto out;
	qold = quoted(pl, op->column);
	qnew = quoted(pl, op->to);
	p = add_column(tp, op, op->to, is_alter ? type : c->type,
		       is_alter ? NULL : c->collation, c);
	add_pair(tp, MG_PAIR_REPLACE, op->column, op->to,
		 is_alter ? op->up : qold, is_alter ? op->down : qnew);
	/* the placeholder after the dependents: a refusal of those comes
	 * first */
	if (mg_planner_carry_over(pl, tp, op, c, op->to, is_alter, err) < 0 ||
	    (c->notnull && mg_planner_placeholder_not_null(pl) &&
	     add_placeholder(pl, op, p, err) < 0))
		goto out;
	drop_old_column(pl, tp, op, op->column, c);
	overlay_add(pl, tp->t.id, op->column, 1);
	overlay_add(pl, tp->t.id, op->to, 0);
	if (is_alter && mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_NEW_ROW,
					 op->down, op->down_pos, err) < 0)
		goto out;
	if (is_alter)
		add_lossy(pl, mg_xasprintf("rows the new version writes reach '%s' through down (%s), which may lose information",
					   op->column, op->down));
	rc = 0;
out:
	free(qold);
	free(qnew);
	free(type);
	return rc;
}

/* The new type of a change in place (canonical; owned by *type): not the
 * type the column has already. */
static int in_place_type(struct mg_planner *pl, const struct mg_op *op,
			 const struct mg_column_desc *c, char **type,
			 struct mg_err *err)
{
	if (mg_db_canonical_type(pl->conn, pl, op, type, err) < 0)
		return -1;
	if (strcasecmp(*type, c->type))
		return 0;
	mg_plan_pos_error(err, MG_EINPUT, pl->m, op->type_pos,
			  "column '%s' is of type %s already", op->column, c->type);
	return mg_err_hint(err, "give the type the column should have, or remove the operation");
}

/*
 * alter_column without `to:`: a type change that keeps the name. A
 * temporary column of the new type (the column's name with the
 * migration's suffix) is added beside it, kept equal to up over the row
 * by the trigger on every write of either version (MG_PAIR_SHADOW) and
 * by the backfill, and given the column's dependents like any replacing
 * column. Contract drops the old column and renames the temporary one
 * into its place in the same transaction (MG_PRIM_RENAME_COLUMN, after
 * the copies' renames): the new type takes effect at once. Rollback
 * drops the temporary column with its copies. Without up the old value
 * is assigned as it is (the database converts it as an assignment
 * would).
 */
static int plan_alter_in_place(struct mg_planner *pl, size_t i,
			       struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_tplan *tp = planner_table(pl, i, err);
	struct mg_column_desc *c = NULL;
	struct mg_prim *p;
	char *tmp = NULL, *type = NULL, *up = NULL;
	int rc = -1;

	if (!tp || require_column(pl, tp, op->column, op->column_pos, &c, err) < 0 ||
	    refuse_special(pl, tp, op, op->column, c, err) < 0)
		goto out;
	tmp = mg_planner_copy_name(pl, tp, op->column);
	if (require_absent(pl, tp, tmp, op->column_pos, err) < 0 ||
	    (op->up && mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_ROW, op->up,
					op->up_pos, err) < 0) ||
	    in_place_type(pl, op, c, &type, err) < 0)
		goto out;
	up = op->up ? mg_xstrdup(op->up) : quoted(pl, op->column);
	p = add_column(tp, op, tmp, type, NULL, c);
	add_pair(tp, MG_PAIR_SHADOW, op->column, tmp, up, NULL);
	if (mg_planner_carry_over(pl, tp, op, c, tmp, 1, err) < 0 ||
	    (c->notnull && mg_planner_placeholder_not_null(pl) &&
	     add_placeholder(pl, op, p, err) < 0))
		goto out;
	drop_old_column(pl, tp, op, op->column, c);
	mg_planner_add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_RENAME_COLUMN, op,
			    tmp, op->column);
	/* later operations of the migration see it as replaced */
	overlay_add(pl, tp->t.id, op->column, 1);
	if (op->up)
		add_lossy(pl, mg_xasprintf("contract of %04d keeps only up (%s) of every value of column '%s' of %s, which may lose information",
					   pl->m->id, op->up, op->column, tp->t.q));
	rc = 0;
out:
	free(tmp);
	free(type);
	free(up);
	return rc;
}

static int plan_drop_column(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_tplan *tp = planner_table(pl, i, err);
	const struct mg_dependents *ds;
	struct mg_column_desc *c = NULL;

	if (!tp || require_column(pl, tp, op->column, op->column_pos, &c, err) < 0 ||
	    refuse_special(pl, tp, op, op->column, c, err) < 0)
		return -1;
	if (c->notnull && !c->default_expr && !op->down) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->pos,
				  "drop_column of '%s': the column is NOT NULL without a default, so the new version's inserts would fail",
				  op->column);
		return mg_err_hint(err, "add 'down: <SQL>' with the value new rows get until contract");
	}
	if (op->down && mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_TEXT,
					 op->down, op->down_pos, err) < 0)
		return -1;
	if (op->down)
		add_pair(tp, MG_PAIR_DROP, op->column, NULL, NULL, op->down);
	ds = mg_planner_dependents(pl, tp, op->column, c, err);
	if (!ds || mg_planner_objects(pl, tp, op, op->column, ds, err) < 0 ||
	    mg_planner_code(pl, tp, op, op->column, ds, err) < 0 ||
	    mg_planner_inbound(pl, tp, op, op->column, NULL, ds, err) < 0)
		return -1;
	mg_planner_drop_indexes(pl, tp, op, op->column, ds);
	drop_old_column(pl, tp, op, op->column, c);
	add_lossy(pl, mg_xasprintf("contract of %04d drops column '%s' of %s and its data",
				   pl->m->id, op->column, tp->t.q));
	overlay_add(pl, tp->t.id, op->column, 1);
	if (op->down && mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_NEW_ROW,
					 op->down, op->down_pos, err) < 0)
		return -1;
	return 0;
}

static int plan_ops(struct mg_planner *pl, struct mg_err *err)
{
	const struct mg_migration *m = pl->m;

	for (size_t i = 0; i < m->n_ops; i++) {
		int rc = 0;

		pl->op = &m->ops[i];
		if (mg_planner_table_check(pl, i, err) < 0)
			return -1;
		switch (m->ops[i].kind) {
		case MG_OP_ADD_COLUMN:
			rc = plan_add_column(pl, i, err);
			break;
		case MG_OP_RENAME_COLUMN:
		case MG_OP_ALTER_COLUMN:
			rc = mg_op_in_place(&m->ops[i]) ?
			     plan_alter_in_place(pl, i, err) :
			     plan_replace_column(pl, i, err);
			break;
		case MG_OP_DROP_COLUMN:
			rc = plan_drop_column(pl, i, err);
			break;
		case MG_OP_CREATE_INDEX:
			rc = mg_planner_create_index(pl, i, err);
			break;
		case MG_OP_DROP_INDEX:
			rc = mg_planner_drop_index(pl, i, err);
			break;
		case MG_OP_SQL:
			rc = mg_db_check_sql(pl->conn, pl, &m->ops[i], err);
			break;
		case MG_OP_CREATE_TABLE:
			rc = mg_plan_create_table(pl, i, err);
			break;
		case MG_OP_DROP_TABLE:
			rc = mg_plan_drop_table(pl, i, err);
			break;
		case MG_OP_RENAME_TABLE:
			rc = mg_plan_rename_table(pl, i, err);
			break;
		case MG_OP_SET_NOT_NULL:
			rc = mg_plan_set_not_null(pl, i, err);
			break;
		case MG_OP_ADD_CHECK:
			rc = mg_plan_add_check(pl, i, err);
			break;
		case MG_OP_ADD_UNIQUE:
			rc = mg_plan_add_unique(pl, i, err);
			break;
		case MG_OP_ADD_FOREIGN_KEY:
			rc = mg_plan_add_foreign_key(pl, i, err);
			break;
		default:	/* attributes: planner_attrs.c */
			if (mg_op_is_attr(&m->ops[i]))
				rc = mg_planner_plan_attr(pl, i, err);
			break;
		}
		if (rc < 0)
			return -1;
	}
	for (size_t t = 0; t < pl->n_tables; t++) {
		struct mg_tplan *tp = pl->tables[t];

		if (tp->has_marker && tp->t.key_problem) {
			mg_plan_pos_error(err, MG_EREFUSED, m,
					  m->ops[tp->first_op].table_pos,
					  "cannot backfill %s: %s", tp->t.q,
					  tp->t.key_problem);
			return mg_err_hint(err, "add a primary key (or a unique index over NOT NULL columns) first");
		}
	}
	return mg_db_check_plan(pl->conn, pl, err);
}

/* ==== for planner_rules.c (planner_int.h) ================================ */

struct mg_tplan *mg_planner_table(struct mg_planner *pl, size_t op_index,
				  struct mg_err *err)
{
	return planner_table(pl, op_index, err);
}

int mg_planner_require_column(struct mg_planner *pl, struct mg_tplan *tp,
			      const char *name, struct mg_pos pos,
			      struct mg_column_desc **out, struct mg_err *err)
{
	return require_column(pl, tp, name, pos, out, err);
}

struct mg_pair *mg_planner_add_pair(struct mg_tplan *tp, enum mg_pair_kind kind,
				    const char *old_col, const char *new_col,
				    const char *up, const char *down)
{
	return add_pair(tp, kind, old_col, new_col, up, down);
}

/* ==== entry =============================================================== */

int mg_plan_build(struct mg_conn *c, const struct mg_migration *m,
		  struct mg_plan *out, struct mg_err *err)
{
	struct mg_planner pl;
	struct mg_err ignored = MG_ERR_INIT;
	int rc = -1;

	mg_plan_init(out);
	memset(&pl, 0, sizeof(pl));
	pl.conn = c;
	pl.m = m;
	pl.plan = out;
	pl.caps = c->drv->caps;
	pl.index_tables = mg_xcalloc(m->n_ops + 1, sizeof(*pl.index_tables));
	pl.table_ops = mg_xcalloc(m->n_ops + 1, sizeof(*pl.table_ops));
	snprintf(pl.marker, sizeof(pl.marker), "_migrate_%d", m->id);
	snprintf(pl.suffix, sizeof(pl.suffix), "_mg%d", m->id);
	if (mg_db_plan_begin(c, &pl, err) < 0)
		goto out;
	if (plan_ops(&pl, err) < 0 || mg_planner_emit(&pl, err) < 0) {
		mg_db_plan_end(c, &pl, 1, &ignored);
		goto out;
	}
	if (mg_db_plan_end(c, &pl, 0, err) < 0)
		goto out;
	rc = 0;
out:
	planner_release(&pl);
	return rc;
}
