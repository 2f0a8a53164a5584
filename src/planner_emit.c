/*
 * planner_emit.c - the order of the steps of each phase.
 *
 * One order for every database; where they differ the driver's
 * capability bits decide (MG_CAP_CONCURRENT_INDEX: where index copies are
 * built and create_index's index is dropped). The driver renders each
 * piece (driver.h: render), the core only says which and when.
 */
#include "planner.h"
#include "planner_int.h"
#include "driver.h"

#include <stdlib.h>
#include <string.h>

struct emitter {
	struct mg_planner *pl;
	struct mg_strlist objects;	/* indexes built at expand (step objects) */
	int failed;
	struct mg_err *err;
};

static void render(struct emitter *e, struct mg_render *r)
{
	if (e->failed)
		return;
	r->pl = e->pl;
	if (mg_db_render(e->pl->conn, r, e->pl->plan, e->err) < 0)
		e->failed = 1;
}

/* Render r, remembering the objects (indexes) of the steps it added. */
static void render_build(struct emitter *e, struct mg_render *r)
{
	struct mg_plan *p = e->pl->plan;
	size_t from = p->n_steps[r->phase];

	render(e, r);
	for (size_t k = from; k < p->n_steps[r->phase]; k++)
		if (p->steps[r->phase][k].object)
			mg_strlist_push(&e->objects, p->steps[r->phase][k].object);
}

static void render_table(struct emitter *e, enum mg_render_kind kind,
			 enum mg_plan_phase phase, const struct mg_tplan *tp)
{
	render(e, &(struct mg_render){ .kind = kind, .phase = phase, .tp = tp });
}

/* One step per primitive of a slot. */
static void render_slot(struct emitter *e, enum mg_render_kind kind,
			enum mg_plan_phase phase, const struct mg_tplan *tp,
			enum mg_slot slot, int builds)
{
	for (size_t k = 0; k < tp->slot[slot].n; k++) {
		struct mg_render r = { .kind = kind, .phase = phase, .tp = tp,
				       .prim = tp->slot[slot].v[k] };

		if (builds)
			render_build(e, &r);
		else
			render(e, &r);
	}
}

static void render_sql(struct emitter *e, const struct mg_op *op,
		       enum mg_sql_phase sp, enum mg_plan_phase phase)
{
	if (!op->sql[sp])
		return;
	render(e, &(struct mg_render){ .kind = MG_RENDER_SQL, .phase = phase,
				       .op = op, .sql_phase = sp });
}

static void render_index_op(struct emitter *e, size_t i,
			    enum mg_render_kind kind, enum mg_plan_phase phase)
{
	struct mg_render r = { .kind = kind, .phase = phase,
			       .op = &e->pl->m->ops[i],
			       .table = e->pl->index_tables[i] };

	if (kind == MG_RENDER_BUILD_INDEX)
		render_build(e, &r);
	else
		render(e, &r);
}

/* What a create/drop/rename_table does in phase, if anything. */
static void render_table_op(struct emitter *e, size_t i, enum mg_plan_phase phase)
{
	const struct mg_tableop *top = e->pl->table_ops[i];
	enum mg_render_kind kind;

	if (!top || !mg_tableop_render_kind(top->op, phase, &kind))
		return;
	render(e, &(struct mg_render){ .kind = kind, .phase = phase,
				       .op = top->op, .tableop = top });
}

/* An attribute operation's change in phase (planner_attrs.c decided
 * which), or at rollback its undo. */
static void render_attr(struct emitter *e, size_t i, enum mg_plan_phase phase)
{
	const struct mg_attr *a = e->pl->attrs ? e->pl->attrs[i] : NULL;

	if (!a)
		return;
	if (phase == MG_PLAN_ROLLBACK && a->undo)
		render(e, &(struct mg_render){ .kind = MG_RENDER_ATTR_UNDO,
					       .phase = phase, .attr = a });
	else if (phase != MG_PLAN_ROLLBACK && a->phase == phase)
		render(e, &(struct mg_render){ .kind = MG_RENDER_ATTR,
					       .phase = phase, .attr = a });
}

static struct mg_tplan *table_of_first_op(struct mg_planner *pl, size_t i)
{
	for (size_t k = 0; k < pl->n_tables; k++)
		if (pl->tables[k]->first_op == i)
			return pl->tables[k];
	return NULL;
}

static int concurrent_index(const struct mg_planner *pl)
{
	return (pl->caps & MG_CAP_CONCURRENT_INDEX) != 0;
}

/* Expand, in file order: each table's transaction where its first
 * operation is, create_index builds, sql steps; then the index copies
 * (concurrently: after every column change) and the backfill specs. */
static void emit_expand(struct emitter *e)
{
	struct mg_planner *pl = e->pl;
	const struct mg_migration *m = pl->m;

	for (size_t i = 0; i < m->n_ops; i++) {
		struct mg_tplan *tp = table_of_first_op(pl, i);

		render_table_op(e, i, MG_PLAN_EXPAND);
		if (tp)
			render_table(e, MG_RENDER_EXPAND_TABLE, MG_PLAN_EXPAND, tp);
		if (m->ops[i].kind == MG_OP_CREATE_INDEX) {
			render_index_op(e, i, MG_RENDER_BUILD_INDEX, MG_PLAN_EXPAND);
			/* a concurrent build is dropped on its own, first */
			if (concurrent_index(pl))
				render_index_op(e, i, MG_RENDER_DROP_INDEX,
						MG_PLAN_ROLLBACK);
		}
		render_attr(e, i, MG_PLAN_EXPAND);
		if (m->ops[i].kind == MG_OP_SQL) {
			render_sql(e, &m->ops[i], MG_SQL_EXPAND, MG_PLAN_EXPAND);
			render_sql(e, &m->ops[i], MG_SQL_BACKFILL, MG_PLAN_BACKFILL);
		}
	}
	for (size_t t = 0; t < pl->n_tables; t++) {
		struct mg_tplan *tp = pl->tables[t];

		if (concurrent_index(pl))
			render_slot(e, MG_RENDER_COPY_INDEX, MG_PLAN_EXPAND, tp,
				    MG_SLOT_INDEX_COPIES, 1);
		/* the rules' helper indexes, once the triggers exist */
		render_slot(e, MG_RENDER_RULE, MG_PLAN_EXPAND, tp,
			    MG_SLOT_RULES_EXPAND, 0);
		if (tp->has_marker)
			render_table(e, MG_RENDER_BACKFILL, MG_PLAN_BACKFILL, tp);
	}
}

static int has_create_index(const struct mg_migration *m)
{
	for (size_t i = 0; i < m->n_ops; i++)
		if (m->ops[i].kind == MG_OP_CREATE_INDEX)
			return 1;
	return 0;
}

/* Switch-reads: the indexes built are there and valid; copies built now
 * when they could not be built concurrently; constraints validated;
 * other tables' foreign keys moved to the new columns; sql steps. */
static void emit_switch_reads(struct emitter *e)
{
	struct mg_planner *pl = e->pl;
	const enum mg_plan_phase ph = MG_PLAN_SWITCH_READS;

	if (e->objects.n || has_create_index(pl->m))
		render(e, &(struct mg_render){ .kind = MG_RENDER_ASSERT_INDEXES,
					       .phase = ph,
					       .objects = &e->objects });
	for (size_t t = 0; t < pl->n_tables; t++) {
		struct mg_tplan *tp = pl->tables[t];

		if (!concurrent_index(pl))
			render_slot(e, MG_RENDER_COPY_INDEX, ph, tp,
				    MG_SLOT_INDEX_COPIES, 0);
		render_slot(e, MG_RENDER_VALIDATE, ph, tp, MG_SLOT_VALIDATE, 0);
		render_slot(e, MG_RENDER_RULE, ph, tp, MG_SLOT_RULES, 0);
		if (tp->slot[MG_SLOT_INBOUND].n) {
			render_table(e, MG_RENDER_INBOUND, ph, tp);
			render_slot(e, MG_RENDER_VALIDATE_INBOUND, ph, tp,
				    MG_SLOT_INBOUND_VALIDATE, 0);
		}
	}
	for (size_t i = 0; i < pl->m->n_ops; i++)
		if (pl->m->ops[i].kind == MG_OP_SQL)
			render_sql(e, &pl->m->ops[i], MG_SQL_SWITCH_READS, ph);
}

/* Contract: re-check dependents, then one transaction per table (where
 * its first operation is) and the sql steps, in file order; then
 * drop_index's drops. */
static void emit_contract(struct emitter *e)
{
	struct mg_planner *pl = e->pl;

	for (size_t t = 0; t < pl->n_tables; t++)
		render_slot(e, MG_RENDER_ASSERT_DEPENDENTS, MG_PLAN_CONTRACT,
			    pl->tables[t], MG_SLOT_DEP_CHECKS, 0);
	for (size_t i = 0; i < pl->m->n_ops; i++) {
		struct mg_tplan *tp = table_of_first_op(pl, i);

		render_table_op(e, i, MG_PLAN_CONTRACT);
		if (tp)
			render_table(e, MG_RENDER_CONTRACT_TABLE, MG_PLAN_CONTRACT, tp);
		render_attr(e, i, MG_PLAN_CONTRACT);
		if (pl->m->ops[i].kind == MG_OP_SQL)
			render_sql(e, &pl->m->ops[i], MG_SQL_CONTRACT,
				   MG_PLAN_CONTRACT);
	}
	/* drop_index: the old version may use the index until now. Last,
	 * after the tables' transactions: an index over a column another
	 * operation renames is copied, and the copy takes the original's
	 * name in that transaction; dropping the name after it drops the
	 * index whichever one carries it. */
	for (size_t i = 0; i < pl->m->n_ops; i++)
		if (pl->m->ops[i].kind == MG_OP_DROP_INDEX)
			render_index_op(e, i, MG_RENDER_DROP_INDEX,
					MG_PLAN_CONTRACT);
}

/* Rollback: reverse file order. A sql step that changes something at
 * expand and has no rollback SQL refuses the whole rollback. */
static void emit_rollback(struct emitter *e)
{
	struct mg_planner *pl = e->pl;
	const struct mg_migration *m = pl->m;

	for (size_t i = m->n_ops; i-- > 0;) {
		const struct mg_op *op = &m->ops[i];
		struct mg_tplan *tp = table_of_first_op(pl, i);

		if (op->kind == MG_OP_SQL) {
			if (op->sql[MG_SQL_ROLLBACK])
				render_sql(e, op, MG_SQL_ROLLBACK, MG_PLAN_ROLLBACK);
			else if (op->sql[MG_SQL_EXPAND] && !pl->plan->rollback_refused) {
				pl->plan->rollback_refused = 1;
				pl->plan->rollback_refusal = mg_xasprintf(
					"the sql step at %s:%d:%d has no rollback SQL",
					m->path, op->pos.line, op->pos.column);
			}
		}
		if (op->kind == MG_OP_CREATE_INDEX && !concurrent_index(pl))
			render_index_op(e, i, MG_RENDER_DROP_INDEX, MG_PLAN_ROLLBACK);
		if (tp) {
			/* the rules go first, while the triggers still fix
			 * what the old version writes */
			render_slot(e, MG_RENDER_RULE, MG_PLAN_ROLLBACK, tp,
				    MG_SLOT_ROLLBACK_RULES, 0);
			render_table(e, MG_RENDER_ROLLBACK_TABLE, MG_PLAN_ROLLBACK, tp);
		}
		render_table_op(e, i, MG_PLAN_ROLLBACK);
		render_attr(e, i, MG_PLAN_ROLLBACK);
	}
}

int mg_planner_emit(struct mg_planner *pl, struct mg_err *err)
{
	struct emitter e = { .pl = pl, .err = err };

	emit_expand(&e);
	emit_switch_reads(&e);
	emit_contract(&e);
	emit_rollback(&e);
	if (!e.failed)
		mg_db_plan_notes(pl->conn, pl, pl->plan);
	mg_strlist_release(&e.objects);
	return e.failed ? -1 : 0;
}
