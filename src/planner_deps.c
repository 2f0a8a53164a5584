/*
 * planner_deps.c - the dependents of a replaced or dropped column: what
 * is copied onto the new column (indexes, constraints, grants, other
 * tables' foreign keys), what is dropped at contract (listed under
 * drops:) and what is refused, naming the dependent; and what a replaced
 * column carries over (NOT NULL, default, comment). Moved out of
 * planner.c unchanged.
 */
#include "planner.h"
#include "planner_int.h"
#include "driver.h"

#include <stdlib.h>
#include <string.h>

/* ==== dependents of a replaced or dropped column ========================== */

/* A copy of an index on the new column, built beside the original and
 * given its name at contract. An index over two columns this migration
 * replaces is copied once, with both renamed. */
static void copy_index(struct mg_planner *pl, struct mg_tplan *tp,
		       const struct mg_op *op, const struct mg_dependent *dep,
		       const char *old, const char *new_col)
{
	char *name = mg_planner_copy_name(pl, tp, dep->name);
	struct mg_prim *p = mg_planner_find_prim(tp, MG_SLOT_INDEX_COPIES, name);

	if (!p) {
		p = mg_planner_add_prim(tp, MG_SLOT_INDEX_COPIES, MG_PRIM_COPY_INDEX, op,
					new_col, name);
		p->dep = dep;
		mg_planner_add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_FINISH_INDEX, op,
				    new_col, name)->dep = dep;
	}
	mg_strlist_push(&p->from, old);
	mg_strlist_push(&p->to, new_col);
	free(name);
}

/* Views, policies, triggers ... on the column: refused unless listed
 * under drops:, then dropped at contract; re-checked before contract. */
int mg_planner_objects(struct mg_planner *pl, struct mg_tplan *tp,
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
	mg_planner_add_prim(tp, MG_SLOT_DEP_CHECKS, MG_PRIM_ASSERT_NO_DEPENDENTS, op, col,
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
		mg_planner_add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT, op, col,
				    NULL)->dep = d;
	}
	return 0;
}

/* Triggers whose code names the column: they must be rewritten for the
 * new column first, or listed under drops: (dropped at contract). */
int mg_planner_code(struct mg_planner *pl, struct mg_tplan *tp,
		    const struct mg_op *op, const char *col,
		    const struct mg_dependents *ds, struct mg_err *err)
{
	for (size_t i = 0; i < ds->n; i++) {
		const struct mg_dependent *d = &ds->v[i];

		if (d->kind != MG_DEP_CODE)
			continue;
		if (mg_op_drops(op, d->name)) {
			mg_planner_add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT, op,
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
			mg_planner_add_prim(tp, MG_SLOT_EXPAND, MG_PRIM_GRANT, op, new_col,
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
		copy = mg_planner_copy_name(pl, tp, d->name);
		copied = mg_planner_find_prim(tp, MG_SLOT_VALIDATE, copy) != NULL;
		if (d->kind != MG_DEP_UNIQUE && copied) {
			free(copy);
			mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
					  "constraint '%s' on %s spans two columns this migration replaces",
					  d->name, tp->t.q);
			return mg_err_hint(err, "replace those columns in separate migrations");
		}
		if (d->kind == MG_DEP_CHECK ||
		    (d->kind == MG_DEP_FOREIGN_KEY && same_type)) {
			struct mg_prim *p = mg_planner_copy_constraint(tp, op, copy, d, new_col);

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
int mg_planner_inbound(struct mg_planner *pl, struct mg_tplan *tp,
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
			mg_planner_add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT, op,
					    old, NULL)->dep = d;
			continue;
		}
		copy = mg_planner_copy_name(pl, tp, d->name);
		p = mg_planner_add_prim(tp, MG_SLOT_INBOUND, MG_PRIM_COPY_INBOUND_FK, op,
					new_col, copy);
		p->dep = d;
		mg_strlist_push(&p->from, old);
		mg_strlist_push(&p->to, new_col);
		mg_planner_add_prim(tp, MG_SLOT_INBOUND_VALIDATE, MG_PRIM_VALIDATE_INBOUND_FK,
				    op, new_col, copy)->dep = d;
		mg_planner_add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT, op, old,
				    NULL)->dep = d;
		mg_planner_add_prim(tp, MG_SLOT_CONTRACT_POST, MG_PRIM_FINISH_INBOUND_FK, op,
				    new_col, copy)->dep = d;
		mg_planner_add_prim(tp, MG_SLOT_ROLLBACK_PRE, MG_PRIM_DROP_INBOUND_COPY, op,
				    new_col, copy)->dep = d;
		free(copy);
	}
	return 0;
}

/* MG_CAP_EXPLICIT_INDEX_DROPS: every index over the column (copied,
 * listed under drops: or not) is dropped at contract with the column,
 * once per table. */
void mg_planner_drop_indexes(struct mg_planner *pl, struct mg_tplan *tp,
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
			mg_planner_add_prim(tp, MG_SLOT_CONTRACT_PRE, MG_PRIM_DROP_DEPENDENT,
					    op, col, NULL)->dep = d;
	}
}

/* Ask the driver for the column's dependents (kept in the table plan:
 * primitives point at them). */
const struct mg_dependents *mg_planner_dependents(struct mg_planner *pl,
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

/* What a replaced column carries to the new one, and its dependents. A
 * type change in place copies the foreign keys of the column (it keeps
 * its role; the database checks the types when the copy is added). */
int mg_planner_carry_over(struct mg_planner *pl, struct mg_tplan *tp,
			  const struct mg_op *op, const struct mg_column_desc *c,
			  const char *new_col, int is_alter, struct mg_err *err)
{
	const struct mg_dependents *ds;
	int same_role = !is_alter || mg_op_in_place(op);

	if (c->notnull && !mg_planner_placeholder_not_null(pl))
		mg_planner_not_null_check(pl, tp, op, new_col);
	if (c->comment)
		mg_planner_add_prim(tp, MG_SLOT_EXPAND, MG_PRIM_COMMENT, op, new_col,
				    NULL)->text = mg_xstrdup(c->comment);
	if (c->default_expr)
		mg_planner_set_default(tp, op, new_col, c->default_expr);
	ds = mg_planner_dependents(pl, tp, op->column, c, err);
	if (!ds || mg_planner_objects(pl, tp, op, op->column, ds, err) < 0 ||
	    mg_planner_code(pl, tp, op, op->column, ds, err) < 0)
		return -1;
	mg_planner_drop_indexes(pl, tp, op, op->column, ds);
	plan_grants_indexes(pl, tp, op, op->column, new_col, ds);
	if (plan_constraints(pl, tp, op, op->column, new_col, same_role, ds,
			     err) < 0 ||
	    mg_planner_inbound(pl, tp, op, op->column, is_alter ? NULL : new_col,
			       ds, err) < 0)
		return -1;
	return 0;
}
