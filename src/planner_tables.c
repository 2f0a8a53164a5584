/*
 * planner_tables.c - create_table, drop_table and rename_table.
 *
 * A table operation changes the set of tables, not a table's columns, so
 * it has no table plan (no dual-write triggers, no backfill): it is one
 * struct mg_tableop the driver renders in the phases decided here.
 *
 *   create_table  expand: the table, in one transaction (PostgreSQL) or
 *                 one statement; rollback: dropped (lossy: rows the new
 *                 version wrote).
 *   drop_table    the old version uses it until contract, which drops the
 *                 dependents listed under drops: and then the table,
 *                 never with CASCADE; rollback has nothing to undo.
 *   rename_table  expand: an automatically updatable view under the new
 *                 name over the table, so both names read and write;
 *                 contract: the view goes and the table takes the new
 *                 name (one transaction, or MySQL's atomic RENAME TABLE
 *                 of both); rollback: the view goes.
 *
 * A table such an operation names cannot be named again by another
 * operation of the same migration (either name of a renamed table, a
 * dropped one), except a created table where the planning session sees
 * it (transactional DDL: the driver creates it in the planning
 * transaction), so that e.g. create_index can follow create_table.
 */
#include "planner.h"
#include "planner_int.h"
#include "driver.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void tableop_free(struct mg_tableop *top)
{
	if (!top)
		return;
	mg_table_desc_release(&top->t);
	for (size_t i = 0; top->types && i < top->op->tdef->n_columns; i++)
		free(top->types[i]);
	free(top->types);
	mg_dependents_release(&top->deps);
	free(top->view_tmp);
	free(top);
}

void mg_planner_tables_release(struct mg_planner *pl)
{
	for (size_t i = 0; pl->table_ops && i < pl->m->n_ops; i++)
		tableop_free(pl->table_ops[i]);
	free(pl->table_ops);
	for (size_t i = 0; i < pl->n_otables; i++) {
		free(pl->otables[i].name);
		free(pl->otables[i].id);
	}
	free(pl->otables);
}

static void otable_add(struct mg_planner *pl, const char *name, const char *id,
		       size_t op_index)
{
	struct mg_overlay_table *o;

	MG_ALLOC_GROW(pl->otables, pl->n_otables + 1, pl->alloc_otables);
	o = &pl->otables[pl->n_otables++];
	o->name = mg_xstrdup(name);
	o->id = mg_xstrdup(id);
	o->op_index = op_index;
}

static struct mg_tableop *tableop_new(struct mg_planner *pl, size_t i)
{
	struct mg_tableop *top = mg_xcalloc(1, sizeof(*top));

	top->op = &pl->m->ops[i];
	pl->table_ops[i] = top;
	return top;
}

/* What an earlier operation did to the table named name: its overlay
 * entry, or NULL. */
static const struct mg_overlay_table *otable_named(const struct mg_planner *pl,
						   const char *name)
{
	for (size_t i = 0; i < pl->n_otables; i++)
		if (!strcmp(pl->otables[i].name, name))
			return &pl->otables[i];
	return NULL;
}

static const char *done_to(const struct mg_op *op)
{
	switch (op->kind) {
	case MG_OP_CREATE_TABLE:
		return "created";
	case MG_OP_DROP_TABLE:
		return "dropped";
	default:
		break;
	}
	return "renamed";
}

static int refuse_named(struct mg_planner *pl, const struct mg_op *op,
			const char *name, const struct mg_overlay_table *o,
			struct mg_err *err)
{
	const struct mg_op *by = &pl->m->ops[o->op_index];

	mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->table_pos,
			  "table '%s' is %s by the %s at line %d of this migration: %s cannot name it in the same migration",
			  name, done_to(by), mg_op_kind_name(by->kind),
			  by->pos.line, mg_op_kind_name(op->kind));
	if (by->kind == MG_OP_CREATE_TABLE)
		return mg_err_hint(err, "declare it in create_table (columns, constraints), or move this operation to a later migration");
	return mg_err_hint(err, "move this operation to a later migration (a %s must be the only operation on its table in a migration)",
			   mg_op_kind_name(by->kind));
}

/* The identity of the table op names, or NULL when it cannot be
 * described (the operation's own planning reports why). */
static char *table_id(struct mg_planner *pl, const struct mg_op *op)
{
	struct mg_table_desc t;
	struct mg_err ignored = MG_ERR_INIT;
	char *id = NULL;

	memset(&t, 0, sizeof(t));
	if (mg_db_describe_table(pl->conn, pl, op, &t, &ignored) == 0)
		id = mg_xstrdup(t.id);
	mg_table_desc_release(&t);
	return id;
}

int mg_planner_table_check(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	const struct mg_overlay_table *o;
	int any_id = 0;
	char *id;

	if (op->kind == MG_OP_SQL || !pl->n_otables)
		return 0;
	o = otable_named(pl, op->table);
	if (o) {
		int created = pl->m->ops[o->op_index].kind == MG_OP_CREATE_TABLE;
		int table_op = op->kind == MG_OP_CREATE_TABLE ||
			       op->kind == MG_OP_DROP_TABLE ||
			       op->kind == MG_OP_RENAME_TABLE;

		if (created && !table_op && (pl->caps & MG_CAP_TRANSACTIONAL_DDL))
			return 0;
		return refuse_named(pl, op, op->table, o, err);
	}
	for (size_t k = 0; k < pl->n_otables; k++)
		any_id |= pl->otables[k].id != NULL;
	if (!any_id || op->kind == MG_OP_CREATE_TABLE)
		return 0;
	/* the same table spelled another way (schema.t and t) */
	id = table_id(pl, op);
	for (size_t k = 0; id && k < pl->n_otables; k++)
		if (pl->otables[k].id && !strcmp(pl->otables[k].id, id)) {
			free(id);
			return refuse_named(pl, op, op->table, &pl->otables[k], err);
		}
	free(id);
	return 0;
}

/* drop_table and rename_table must be the only operation on their table:
 * refuse one that an earlier operation already changes. */
static int refuse_touched(struct mg_planner *pl, const struct mg_op *op,
			  const struct mg_table_desc *t, struct mg_err *err)
{
	int touched = 0;

	for (size_t k = 0; k < pl->n_tables; k++)
		touched |= !strcmp(pl->tables[k]->t.id, t->id);
	for (size_t k = 0; k < (size_t)(op - pl->m->ops); k++)
		touched |= pl->index_tables[k] && pl->index_tables[k]->id &&
			   !strcmp(pl->index_tables[k]->id, t->id);
	if (!touched)
		return 0;
	mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->table_pos,
			  "table '%s' is changed by an earlier operation of this migration: %s cannot follow it in the same migration",
			  op->table, mg_op_kind_name(op->kind));
	return mg_err_hint(err, "move the %s to a later migration", mg_op_kind_name(op->kind));
}

/*
 * Is there a relation named name (as written at pos)? 0 no, 1 yes, -1
 * error. describe_table says MG_EINPUT for a name it cannot find, and
 * MG_EREFUSED for a relation that is not a plain table (a view ...).
 */
static int relation_exists(struct mg_planner *pl, const char *name,
			   struct mg_pos pos, struct mg_err *err)
{
	struct mg_op probe;
	struct mg_table_desc t;
	struct mg_err why = MG_ERR_INIT;
	int rc;

	memset(&probe, 0, sizeof(probe));
	memset(&t, 0, sizeof(t));
	probe.kind = MG_OP_CREATE_TABLE;
	probe.table = (char *)name;
	probe.table_pos = pos;
	rc = mg_db_describe_table(pl->conn, pl, &probe, &t, &why);
	mg_table_desc_release(&t);
	if (rc == 0 || why.code == MG_EREFUSED)
		return 1;
	if (why.code == MG_EINPUT)
		return 0;
	*err = why;
	return -1;
}

/* ==== create_table ======================================================== */

static const struct mg_op *created_by(const struct mg_planner *pl,
				      const char *name)
{
	const struct mg_overlay_table *o = otable_named(pl, name);

	if (o && pl->m->ops[o->op_index].kind == MG_OP_CREATE_TABLE)
		return &pl->m->ops[o->op_index];
	return NULL;
}

static int has_column(const struct mg_table_def *d, const char *name)
{
	for (size_t i = 0; i < d->n_columns; i++)
		if (!strcasecmp(d->columns[i].name, name))
			return 1;
	return 0;
}

/* The referenced table exists (in the catalog, or created by this or an
 * earlier operation) and has the referenced columns. */
static int check_ref(struct mg_planner *pl, const struct mg_op *op,
		     const struct mg_ref *r, struct mg_err *err)
{
	const struct mg_op *maker = !strcmp(r->table, op->table) ? op :
				    created_by(pl, r->table);
	const struct mg_overlay_table *o = otable_named(pl, r->table);
	struct mg_op probe;
	struct mg_table_desc t;
	int rc = 0;

	if (maker) {
		for (size_t k = 0; k < r->n_columns; k++)
			if (!has_column(maker->tdef, r->columns[k]))
				return mg_plan_pos_error(err, MG_EINPUT, pl->m, r->columns_pos,
							 "column '%s' is not a column of table '%s' (created by this migration)",
							 r->columns[k], r->table);
		return 0;
	}
	if (o)
		return refuse_named(pl, op, r->table, o, err);
	memset(&probe, 0, sizeof(probe));
	memset(&t, 0, sizeof(t));
	probe.kind = MG_OP_CREATE_TABLE;
	probe.table = r->table;
	probe.table_pos = r->table_pos;
	if (mg_db_describe_table(pl->conn, pl, &probe, &t, err) < 0) {
		mg_table_desc_release(&t);
		return -1;
	}
	for (size_t k = 0; rc == 0 && k < r->n_columns; k++) {
		struct mg_column_desc c;

		memset(&c, 0, sizeof(c));
		rc = mg_db_describe_column(pl->conn, pl, &t, r->columns[k], &c, err);
		mg_column_desc_release(&c);
		if (rc == 1)
			rc = mg_plan_pos_error(err, MG_EINPUT, pl->m, r->columns_pos,
					       "column '%s' does not exist in %s",
					       r->columns[k], t.q);
	}
	mg_table_desc_release(&t);
	return rc < 0 ? -1 : 0;
}

static int check_text(struct mg_planner *pl, const char *expr, struct mg_pos pos,
		      struct mg_err *err)
{
	struct mg_table_desc none;

	memset(&none, 0, sizeof(none));
	return mg_db_check_expr(pl->conn, pl, &none, MG_EXPR_TEXT, expr, pos, err);
}

static int check_column(struct mg_planner *pl, const struct mg_op *op,
			const struct mg_column_def *c, char **type,
			struct mg_err *err)
{
	struct mg_op probe = *op;

	probe.type = c->type;
	probe.type_pos = c->type_pos;
	if (mg_db_canonical_type(pl->conn, pl, &probe, type, err) < 0)
		return -1;
	if ((c->default_expr && check_text(pl, c->default_expr, c->default_pos, err) < 0) ||
	    (c->check && check_text(pl, c->check, c->check_pos, err) < 0) ||
	    (c->references && check_ref(pl, op, c->references, err) < 0))
		return -1;
	return 0;
}

int mg_plan_create_table(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	const struct mg_table_def *d = op->tdef;
	struct mg_tableop *top = tableop_new(pl, i);
	int rc = relation_exists(pl, op->table, op->table_pos, err);
	char *text;

	if (rc < 0)
		return -1;
	if (rc == 1) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->table_pos,
				  "table '%s' already exists", op->table);
		return mg_err_hint(err, "choose another name, or drop the existing table in an earlier migration");
	}
	top->types = mg_xcalloc(d->n_columns + 1, sizeof(*top->types));
	for (size_t k = 0; k < d->n_columns; k++)
		if (check_column(pl, op, &d->columns[k], &top->types[k], err) < 0)
			return -1;
	for (size_t k = 0; k < d->n_constraints; k++) {
		const struct mg_table_constraint *c = &d->constraints[k];

		if ((c->kind == MG_TCON_CHECK &&
		     check_text(pl, c->expression, c->expression_pos, err) < 0) ||
		    (c->kind == MG_TCON_FOREIGN_KEY && check_ref(pl, op, &c->ref, err) < 0))
			return -1;
	}
	if (mg_db_check_table_op(pl->conn, pl, top, err) < 0)
		return -1;
	otable_add(pl, op->table, NULL, i);
	text = mg_xasprintf("rollback of %04d drops table '%s' with every row the new version wrote into it",
			    pl->m->id, op->table);
	mg_plan_add_lossy(pl->plan, text);
	free(text);
	return 0;
}

/* ==== drop_table and rename_table ========================================= */

/* The table, described, and nothing earlier in the migration on it. */
static int describe_own(struct mg_planner *pl, struct mg_tableop *top,
			struct mg_err *err)
{
	if (mg_db_describe_table(pl->conn, pl, top->op, &top->t, err) < 0)
		return -1;
	return refuse_touched(pl, top->op, &top->t, err);
}

/* Dependents not listed under drops: are refused, naming the first. */
static int refuse_unlisted(struct mg_planner *pl, const struct mg_tableop *top,
			   const char *why, struct mg_err *err)
{
	const struct mg_op *op = top->op;

	for (size_t k = 0; k < top->deps.n; k++) {
		const struct mg_dependent *d = &top->deps.v[k];

		if (mg_op_drops(op, d->name))
			continue;
		if (d->kind == MG_DEP_INBOUND_FK)
			mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
					  "foreign key '%s' on %s references %s%s",
					  d->name, d->child, top->t.q, why);
		else
			mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
					  "%s depends on %s%s", d->what, top->t.q, why);
		return mg_err_hint(err, "name '%s' under 'drops:' to drop it at contract (re-create what the new version needs in the contract SQL of a sql step)",
				   d->name);
	}
	return 0;
}

int mg_plan_drop_table(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	struct mg_tableop *top = tableop_new(pl, i);
	char *text;

	if (describe_own(pl, top, err) < 0 ||
	    mg_db_table_dependents(pl->conn, pl, &top->t, 0, &top->deps, err) < 0 ||
	    refuse_unlisted(pl, top, "", err) < 0 ||
	    mg_db_check_table_op(pl->conn, pl, top, err) < 0)
		return -1;
	otable_add(pl, top->op->table, top->t.id, i);
	text = mg_xasprintf("contract of %04d drops table %s and its rows",
			    pl->m->id, top->t.q);
	mg_plan_add_lossy(pl->plan, text);
	free(text);
	return 0;
}

/* "schema.to" when the table was written with its schema, else "to". */
static char *sibling_name(const struct mg_op *op)
{
	const char *dot = strchr(op->table, '.');

	if (!dot)
		return mg_xstrdup(op->to);
	return mg_xasprintf("%.*s.%s", (int)(dot - op->table), op->table, op->to);
}

int mg_plan_rename_table(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	struct mg_tableop *top = tableop_new(pl, i);
	const struct mg_op *op = top->op;
	char *to = sibling_name(op);
	int rc;

	if (describe_own(pl, top, err) < 0)
		goto fail;
	rc = relation_exists(pl, to, op->to_pos, err);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->to_pos,
				  "a table or view named '%s' already exists", to);
		mg_err_hint(err, "choose another name, or drop that one in an earlier migration");
		goto fail;
	}
	if (mg_db_table_dependents(pl->conn, pl, &top->t, 1, &top->deps, err) < 0 ||
	    refuse_unlisted(pl, top, ", and names it: it would break when the table is renamed", err) < 0 ||
	    mg_db_check_table_op(pl->conn, pl, top, err) < 0)
		goto fail;
	top->view_tmp = top->t.utf8_names ?
		mg_planner_name_utf8(top->t.max_ident, op->to, pl->suffix) :
		mg_planner_name(top->t.max_ident, op->to, pl->suffix);
	otable_add(pl, op->table, top->t.id, i);
	otable_add(pl, to, NULL, i);
	free(to);
	return 0;
fail:
	free(to);
	return -1;
}

/* ==== the phases ========================================================== */

int mg_tableop_render_kind(const struct mg_op *op, enum mg_plan_phase phase,
			   enum mg_render_kind *out)
{
	static const struct {
		enum mg_op_kind op;
		enum mg_plan_phase phase;
		enum mg_render_kind kind;
	} map[] = {
		{ MG_OP_CREATE_TABLE, MG_PLAN_EXPAND, MG_RENDER_CREATE_TABLE },
		{ MG_OP_CREATE_TABLE, MG_PLAN_ROLLBACK, MG_RENDER_DROP_CREATED_TABLE },
		{ MG_OP_DROP_TABLE, MG_PLAN_CONTRACT, MG_RENDER_DROP_TABLE },
		{ MG_OP_RENAME_TABLE, MG_PLAN_EXPAND, MG_RENDER_ADD_VIEW },
		{ MG_OP_RENAME_TABLE, MG_PLAN_CONTRACT, MG_RENDER_FINISH_RENAME },
		{ MG_OP_RENAME_TABLE, MG_PLAN_ROLLBACK, MG_RENDER_DROP_VIEW },
	};

	for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
		if (map[k].op == op->kind && map[k].phase == phase) {
			*out = map[k].kind;
			return 1;
		}
	return 0;
}
