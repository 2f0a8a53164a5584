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
	}
	free(pl->overlay);
}

static struct mg_prim *add_prim(struct mg_tplan *tp, enum mg_slot slot,
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

static struct mg_prim *find_prim(const struct mg_tplan *tp, enum mg_slot slot,
				 const char *name)
{
	for (size_t i = 0; i < tp->slot[slot].n; i++)
		if (tp->slot[slot].v[i]->name &&
		    !strcmp(tp->slot[slot].v[i]->name, name))
			return tp->slot[slot].v[i];
	return NULL;
}

static void overlay_add(struct mg_planner *pl, const char *id, const char *col,
			int replaced)
{
	MG_ALLOC_GROW(pl->overlay, pl->n_overlay + 1, pl->alloc_overlay);
	pl->overlay[pl->n_overlay].table_id = mg_xstrdup(id);
	pl->overlay[pl->n_overlay].column = mg_xstrdup(col);
	pl->overlay[pl->n_overlay].replaced = replaced;
	pl->n_overlay++;
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

static char *copy_name(const struct mg_planner *pl, const struct mg_tplan *tp,
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
	struct mg_prim *p = add_prim(tp, MG_SLOT_ADD_COLUMNS, MG_PRIM_ADD_COLUMN,
				     op, col, NULL);

	p->type = mg_xstrdup(type);
	p->collation = mg_xstrdup(collation);
	p->old = old;
	add_prim(tp, MG_SLOT_ROLLBACK_COLUMNS, MG_PRIM_DROP_COLUMN, op, col, NULL);
	return p;
}

static int placeholder_not_null(const struct mg_planner *pl)
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
	struct mg_prim *p = add_prim(tp, MG_SLOT_CONTRACT_COLUMNS,
				     MG_PRIM_DROP_COLUMN, op, col, NULL);

	p->old = c;
	if (placeholder_not_null(pl) && c->notnull && !c->default_expr)
		p->text = mg_db_placeholder_value(pl->conn, c->type);
}

/* Add a NOT VALID constraint at expand, validated at switch-reads, renamed
 * to the original's name at contract when it copies one (dep). */
static struct mg_prim *copy_constraint(struct mg_tplan *tp,
				       const struct mg_op *op,
				       const char *name,
				       const struct mg_dependent *dep,
				       const char *column)
{
	struct mg_prim *p = add_prim(tp, MG_SLOT_EXPAND, MG_PRIM_COPY_CONSTRAINT,
				     op, column, name);

	p->dep = dep;
	add_prim(tp, MG_SLOT_VALIDATE, MG_PRIM_VALIDATE, op, column, name);
	if (dep)
		add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_FINISH_CONSTRAINT,
			 op, column, name)->dep = dep;
	return p;
}

/* NOT NULL on a new column: a CHECK NOT VALID until contract sets it. */
static void add_not_null_check(struct mg_planner *pl, struct mg_tplan *tp,
			       const struct mg_op *op, const char *col)
{
	char *base = mg_xasprintf("%s_not_null", col);
	char *name = copy_name(pl, tp, base);

	copy_constraint(tp, op, name, NULL, col);
	add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_SET_NOT_NULL, op, col, name);
	free(base);
	free(name);
}

static void set_default(struct mg_tplan *tp, const struct mg_op *op,
			const char *col, const char *expr)
{
	add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_SET_DEFAULT, op, col,
		 NULL)->text = mg_xstrdup(expr);
}

/* ==== dependents of a replaced or dropped column ========================== */

/* A copy of an index on the new column, built beside the original and
 * given its name at contract. An index over two columns this migration
 * replaces is copied once, with both renamed. */
static void copy_index(struct mg_planner *pl, struct mg_tplan *tp,
		       const struct mg_op *op, const struct mg_dependent *dep,
		       const char *old, const char *new_col)
{
	char *name = copy_name(pl, tp, dep->name);
	struct mg_prim *p = find_prim(tp, MG_SLOT_INDEX_COPIES, name);

	if (!p) {
		p = add_prim(tp, MG_SLOT_INDEX_COPIES, MG_PRIM_COPY_INDEX, op,
			     new_col, name);
		p->dep = dep;
		add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_FINISH_INDEX, op,
			 new_col, name)->dep = dep;
	}
	mg_strlist_push(&p->from, old);
	mg_strlist_push(&p->to, new_col);
	free(name);
}

/* Views, policies, triggers ... on the column: refused unless listed
 * under drops:, then dropped at contract; re-checked before contract. */
static int plan_objects(struct mg_planner *pl, struct mg_tplan *tp,
			const struct mg_op *op, const char *col,
			const struct mg_dependents *ds, struct mg_err *err)
{
	struct mg_buf who = MG_BUF_INIT;
	size_t n = 0;

	for (size_t i = 0; i < ds->n; i++) {
		if (ds->v[i].kind != MG_DEP_OBJECT || mg_op_drops(op, ds->v[i].name))
			continue;
		mg_buf_addf(&who, "%s%s", n++ ? ", " : "", ds->v[i].what);
	}
	if (n) {
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
				  "%s %s on column '%s' of %s, which migrate cannot carry over%s",
				  who.buf, n > 1 ? "depend" : "depends", col, tp->t.q,
				  ds->refusal_tail ? ds->refusal_tail : "");
		mg_buf_release(&who);
		return mg_err_hint(err, "%s", ds->refusal_hint ? ds->refusal_hint :
				   "change or drop it first, or name it under 'drops:' in the operation to drop it at contract");
	}
	mg_buf_release(&who);
	add_prim(tp, MG_SLOT_DEP_CHECKS, MG_PRIM_ASSERT_NO_DEPENDENTS, op, col,
		 NULL);
	for (size_t i = 0; i < ds->n; i++) {
		const struct mg_dependent *d = &ds->v[i];

		if (d->kind != MG_DEP_OBJECT || !mg_op_drops(op, d->name))
			continue;
		if (!d->droppable) {
			mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
					  "%s depends on column '%s' of %s and migrate cannot drop it",
					  d->what, col, tp->t.q);
			return mg_err_hint(err, "drop or change it in a sql step of an earlier migration");
		}
		add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT, op, col,
			 NULL)->dep = d;
	}
	return 0;
}

/* Triggers whose code names the column: they must be rewritten for the
 * new column first, or listed under drops: (dropped at contract). */
static int plan_code(struct mg_planner *pl, struct mg_tplan *tp,
		     const struct mg_op *op, const char *col,
		     const struct mg_dependents *ds, struct mg_err *err)
{
	for (size_t i = 0; i < ds->n; i++) {
		const struct mg_dependent *d = &ds->v[i];

		if (d->kind != MG_DEP_CODE)
			continue;
		if (mg_op_drops(op, d->name)) {
			add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT, op,
				 col, NULL)->dep = d;
			continue;
		}
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
				  "trigger '%s' on %s runs %s, whose code names column '%s'",
				  d->name, tp->t.q, d->what, col);
		return mg_err_hint(err, "make the function handle both columns first (a sql step in an earlier migration), or name the trigger under 'drops:' and re-create it in this migration's contract SQL");
	}
	return 0;
}

/* Grants and indexes of the old column, carried to the new one. */
static void plan_grants_indexes(struct mg_planner *pl, struct mg_tplan *tp,
				const struct mg_op *op, const char *old,
				const char *new_col,
				const struct mg_dependents *ds)
{
	for (size_t i = 0; i < ds->n; i++)
		if (ds->v[i].kind == MG_DEP_GRANT)
			add_prim(tp, MG_SLOT_EXPAND, MG_PRIM_GRANT, op, new_col,
				 NULL)->dep = &ds->v[i];
	for (size_t i = 0; i < ds->n; i++)
		if (ds->v[i].kind == MG_DEP_INDEX && !mg_op_drops(op, ds->v[i].name))
			copy_index(pl, tp, op, &ds->v[i], old, new_col);
}

static int is_constraint(enum mg_dep_kind k)
{
	return k == MG_DEP_CHECK || k == MG_DEP_UNIQUE ||
	       k == MG_DEP_FOREIGN_KEY || k == MG_DEP_CONSTRAINT;
}

/* Constraints of the table over the column: copied NOT VALID (a foreign
 * key only when the type stays), unique ones as index copies. */
static int plan_constraints(struct mg_planner *pl, struct mg_tplan *tp,
			    const struct mg_op *op, const char *old,
			    const char *new_col, int same_type,
			    const struct mg_dependents *ds, struct mg_err *err)
{
	for (size_t i = 0; i < ds->n; i++) {
		const struct mg_dependent *d = &ds->v[i];
		char *copy;
		int copied;

		if (!is_constraint(d->kind) || mg_op_drops(op, d->name))
			continue;
		copy = copy_name(pl, tp, d->name);
		copied = find_prim(tp, MG_SLOT_VALIDATE, copy) != NULL;
		if (d->kind != MG_DEP_UNIQUE && copied) {
			free(copy);
			mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
					  "constraint '%s' on %s spans two columns this migration replaces",
					  d->name, tp->t.q);
			return mg_err_hint(err, "replace those columns in separate migrations");
		}
		if (d->kind == MG_DEP_CHECK ||
		    (d->kind == MG_DEP_FOREIGN_KEY && same_type)) {
			struct mg_prim *p = copy_constraint(tp, op, copy, d, new_col);

			mg_strlist_push(&p->from, old);
			mg_strlist_push(&p->to, new_col);
		} else if (d->kind == MG_DEP_UNIQUE) {
			copy_index(pl, tp, op, d, old, new_col);
		} else {
			free(copy);
			mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
					  "constraint '%s' (%s) on column '%s' of %s cannot be carried over to '%s'",
					  d->name, d->def, old, tp->t.q, new_col);
			return mg_err_hint(err, "name it under 'drops:' to drop it at contract, and add what the new column needs in a later migration");
		}
		free(copy);
	}
	return 0;
}

/* Foreign keys of other tables referencing the column: copied onto the
 * new column at switch-reads (rename), refused or dropped otherwise. */
static int plan_inbound(struct mg_planner *pl, struct mg_tplan *tp,
			const struct mg_op *op, const char *old,
			const char *new_col, const struct mg_dependents *ds,
			struct mg_err *err)
{
	for (size_t i = 0; i < ds->n; i++) {
		const struct mg_dependent *d = &ds->v[i];
		struct mg_prim *p;
		char *copy;

		if (d->kind != MG_DEP_INBOUND_FK)
			continue;
		if (!mg_strlist_contains(&tp->children, d->child))
			mg_strlist_push(&tp->children, d->child);
		if (!mg_op_drops(op, d->name) && !new_col) {
			mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
					  "foreign key '%s' on %s references column '%s' of %s",
					  d->name, d->child, old, tp->t.q);
			return mg_err_hint(err, "name it under 'drops:' to drop it at contract");
		}
		if (mg_op_drops(op, d->name)) {
			add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT, op,
				 old, NULL)->dep = d;
			continue;
		}
		copy = copy_name(pl, tp, d->name);
		p = add_prim(tp, MG_SLOT_INBOUND, MG_PRIM_COPY_INBOUND_FK, op,
			     new_col, copy);
		p->dep = d;
		mg_strlist_push(&p->from, old);
		mg_strlist_push(&p->to, new_col);
		add_prim(tp, MG_SLOT_INBOUND_VALIDATE, MG_PRIM_VALIDATE_INBOUND_FK,
			 op, new_col, copy)->dep = d;
		add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT, op, old,
			 NULL)->dep = d;
		add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_FINISH_INBOUND_FK, op,
			 new_col, copy)->dep = d;
		add_prim(tp, MG_SLOT_ROLLBACK_PRE, MG_PRIM_DROP_INBOUND_COPY, op,
			 new_col, copy)->dep = d;
		free(copy);
	}
	return 0;
}

/* MG_CAP_EXPLICIT_INDEX_DROPS: every index over the column (copied,
 * listed under drops: or not) is dropped at contract with the column,
 * once per table. */
static void drop_indexes(struct mg_planner *pl, struct mg_tplan *tp,
			 const struct mg_op *op, const char *col,
			 const struct mg_dependents *ds)
{
	const struct mg_prims *pre = &tp->slot[MG_SLOT_CONTRACT_PRE];

	if (!(pl->caps & MG_CAP_EXPLICIT_INDEX_DROPS))
		return;
	for (size_t i = 0; i < ds->n; i++) {
		const struct mg_dependent *d = &ds->v[i];
		int dropped = 0;

		if (d->kind != MG_DEP_INDEX)
			continue;
		for (size_t k = 0; k < pre->n; k++)
			if (pre->v[k]->kind == MG_PRIM_DROP_DEPENDENT &&
			    pre->v[k]->dep->kind == MG_DEP_INDEX &&
			    !strcmp(pre->v[k]->dep->name, d->name))
				dropped = 1;
		if (!dropped)
			add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT,
				 op, col, NULL)->dep = d;
	}
}

/* Ask the driver for the column's dependents (kept in the table plan:
 * primitives point at them). */
static const struct mg_dependents *dependents(struct mg_planner *pl,
					      struct mg_tplan *tp,
					      const char *col,
					      const struct mg_column_desc *c,
					      struct mg_err *err)
{
	struct mg_dependents *ds = mg_xcalloc(1, sizeof(*ds));

	MG_ALLOC_GROW(tp->depsets, tp->n_depsets + 1, tp->alloc_depsets);
	tp->depsets[tp->n_depsets++] = ds;
	if (mg_db_column_dependents(pl->conn, pl, &tp->t, col, c, ds, err) < 0)
		return NULL;
	return ds;
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
	if (!op->nullable && placeholder_not_null(pl) &&
	    add_placeholder(pl, op, p, err) < 0)
		return -1;
	if (up)
		add_pair(tp, MG_PAIR_ADD, NULL, op->column, up, NULL);
	if (!op->nullable && !placeholder_not_null(pl))
		add_not_null_check(pl, tp, op, op->column);
	if (op->default_expr)
		set_default(tp, op, op->column, op->default_expr);
	overlay_add(pl, tp->t.id, op->column, 0);
	add_lossy(pl, mg_xasprintf("rollback of %04d drops column '%s' of %s with every value the new version wrote into it",
				   pl->m->id, op->column, tp->t.q));
	return 0;
}

/* What a replaced column carries to the new one, and its dependents. */
static int carry_over(struct mg_planner *pl, struct mg_tplan *tp,
		      const struct mg_op *op, const struct mg_column_desc *c,
		      int is_alter, struct mg_err *err)
{
	const struct mg_dependents *ds;

	if (c->notnull && !placeholder_not_null(pl))
		add_not_null_check(pl, tp, op, op->to);
	if (c->comment)
		add_prim(tp, MG_SLOT_EXPAND, MG_PRIM_COMMENT, op, op->to,
			 NULL)->text = mg_xstrdup(c->comment);
	if (c->default_expr)
		set_default(tp, op, op->to, c->default_expr);
	ds = dependents(pl, tp, op->column, c, err);
	if (!ds || plan_objects(pl, tp, op, op->column, ds, err) < 0 ||
	    plan_code(pl, tp, op, op->column, ds, err) < 0)
		return -1;
	drop_indexes(pl, tp, op, op->column, ds);
	plan_grants_indexes(pl, tp, op, op->column, op->to, ds);
	if (plan_constraints(pl, tp, op, op->column, op->to, !is_alter, ds,
			     err) < 0 ||
	    plan_inbound(pl, tp, op, op->column, is_alter ? NULL : op->to, ds,
			 err) < 0)
		return -1;
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
	if (carry_over(pl, tp, op, c, is_alter, err) < 0 ||
	    (c->notnull && placeholder_not_null(pl) &&
	     add_placeholder(pl, op, p, err) < 0))
		goto out;
	drop_old_column(pl, tp, op, op->column, c);
	overlay_add(pl, tp->t.id, op->column, 1);
	overlay_add(pl, tp->t.id, op->to, 0);
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
	ds = dependents(pl, tp, op->column, c, err);
	if (!ds || plan_objects(pl, tp, op, op->column, ds, err) < 0 ||
	    plan_code(pl, tp, op, op->column, ds, err) < 0 ||
	    plan_inbound(pl, tp, op, op->column, NULL, ds, err) < 0)
		return -1;
	drop_indexes(pl, tp, op, op->column, ds);
	drop_old_column(pl, tp, op, op->column, c);
	add_lossy(pl, mg_xasprintf("contract of %04d drops column '%s' of %s and its data",
				   pl->m->id, op->column, tp->t.q));
	overlay_add(pl, tp->t.id, op->column, 1);
	return 0;
}

/* create_index: the table, what the driver checks (method, where:), and
 * the columns; its steps are rendered in planner_emit.c. */
static int check_create_index(struct mg_planner *pl, size_t i,
			      struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_table_desc *t = mg_xcalloc(1, sizeof(*t));

	pl->index_tables[i] = t;
	if (mg_db_describe_table(pl->conn, pl, op, t, err) < 0 ||
	    mg_db_check_index(pl->conn, pl, op, t, err) < 0)
		return -1;
	for (size_t k = 0; k < op->n_columns; k++) {
		struct mg_column_desc c;
		int ov = overlay_find(pl, t->id, op->columns[k]);
		int rc = ov;

		if (ov == 0)
			continue;
		if (ov < 0)
			rc = mg_db_describe_column(pl->conn, pl, t, op->columns[k],
						   &c, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			mg_column_desc_release(&c);
		if (rc == 1)
			return mg_plan_pos_error(err, MG_EINPUT, pl->m, op->pos,
						 "column '%s' of index '%s' does not exist in %s",
						 op->columns[k], op->index_name, t->q);
	}
	return 0;
}

static int plan_ops(struct mg_planner *pl, struct mg_err *err)
{
	const struct mg_migration *m = pl->m;

	for (size_t i = 0; i < m->n_ops; i++) {
		int rc = 0;

		pl->op = &m->ops[i];
		switch (m->ops[i].kind) {
		case MG_OP_ADD_COLUMN:
			rc = plan_add_column(pl, i, err);
			break;
		case MG_OP_RENAME_COLUMN:
		case MG_OP_ALTER_COLUMN:
			rc = plan_replace_column(pl, i, err);
			break;
		case MG_OP_DROP_COLUMN:
			rc = plan_drop_column(pl, i, err);
			break;
		case MG_OP_CREATE_INDEX:
			rc = check_create_index(pl, i, err);
			break;
		case MG_OP_SQL:
			rc = mg_db_check_sql(pl->conn, pl, &m->ops[i], err);
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

struct mg_prim *mg_planner_add_prim(struct mg_tplan *tp, enum mg_slot slot,
				    enum mg_prim_kind kind,
				    const struct mg_op *op, const char *column,
				    const char *name)
{
	return add_prim(tp, slot, kind, op, column, name);
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
