/*
 * planner_overlay.c - the catalog as it will be after the earlier
 * operations of the same migration.
 *
 * The planner checks each operation against the live catalog and this
 * overlay: the columns earlier operations add (new columns, the new
 * column of a rename or a type change) and the columns they remove from
 * the new version's view (dropped, renamed away, replaced). Operations
 * record what they change (mg_overlay_add_column, mg_overlay_remove_column);
 * the core's column checks and the drivers' expression and sql-step
 * checks read it (mg_overlay_find): a driver probes an expression against
 * a derived table with the overlay's columns, or (PostgreSQL) adds the
 * new columns in the planning transaction before a sql step's SQL runs.
 */
#include "planner.h"
#include "driver.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void overlay_push(struct mg_planner *pl, const struct mg_table_desc *t,
			 const char *col, int removed)
{
	struct mg_overlay_col *oc;

	MG_ALLOC_GROW(pl->overlay, pl->n_overlay + 1, pl->alloc_overlay);
	oc = &pl->overlay[pl->n_overlay++];
	memset(oc, 0, sizeof(*oc));
	oc->table_id = mg_xstrdup(t->id);
	oc->table_q = mg_xstrdup(t->q);
	oc->column = mg_xstrdup(col);
	oc->replaced = removed;
	oc->op = pl->op;
}

void mg_overlay_add_column(struct mg_planner *pl, const struct mg_table_desc *t,
			   const char *col, const char *type,
			   const char *collation)
{
	overlay_push(pl, t, col, 0);
	if (type && collation)
		pl->overlay[pl->n_overlay - 1].type =
			mg_xasprintf("%s COLLATE %s", type, collation);
	else
		pl->overlay[pl->n_overlay - 1].type = mg_xstrdup(type);
}

void mg_overlay_remove_column(struct mg_planner *pl,
			      const struct mg_table_desc *t, const char *col,
			      const char *to)
{
	overlay_push(pl, t, col, 1);
	pl->overlay[pl->n_overlay - 1].renamed_to = mg_xstrdup(to);
}

const struct mg_overlay_col *mg_overlay_find(const struct mg_planner *pl,
					     const char *table_id,
					     const char *col)
{
	const struct mg_overlay_col *found = NULL;
	int caseless = (pl->caps & MG_CAP_CASELESS_COLUMNS) != 0;

	for (size_t i = 0; i < pl->n_overlay; i++) {
		const struct mg_overlay_col *oc = &pl->overlay[i];

		if (strcmp(oc->table_id, table_id) != 0)
			continue;
		if (caseless ? !strcasecmp(oc->column, col) : !strcmp(oc->column, col))
			found = oc;
	}
	return found;
}

int mg_overlay_touches(const struct mg_planner *pl,
		       const struct mg_table_desc *t)
{
	for (size_t i = 0; i < pl->n_overlay; i++)
		if (!strcmp(pl->overlay[i].table_id, t->id))
			return 1;
	return 0;
}

int mg_overlay_hidden(const struct mg_overlay_col *oc, enum mg_expr_use use)
{
	if (!oc)
		return 0;
	if (use == MG_EXPR_ROW)
		return !oc->replaced;
	if (use == MG_EXPR_WHERE || use == MG_EXPR_NEW_ROW)
		return oc->replaced;
	return 0;
}

int mg_overlay_refuse(struct mg_err *err, const struct mg_planner *pl,
		      const struct mg_table_desc *t,
		      const struct mg_overlay_col *oc, struct mg_pos pos)
{
	const struct mg_migration *m = pl->m;
	const char *kind = mg_op_kind_name(oc->op->kind);
	const char *by = oc->op == pl->op ? "this operation" :
			 "an earlier operation of this migration";
	int line = oc->op->pos.line, column = oc->op->pos.column;

	if (!oc->replaced) {
		mg_plan_pos_error(err, MG_EINPUT, m, pos,
				  "column '%s' of %s is added by an earlier operation of this migration (%s at %s:%d:%d): an expression over the old row cannot use it",
				  oc->column, t->q, kind, m->path, line, column);
		return mg_err_hint(err, "the backfill and the old version's writes compute every new column from the row as it was before this migration: write the expression over the columns the table has now");
	}
	if (oc->renamed_to) {
		mg_plan_pos_error(err, MG_EINPUT, m, pos,
				  "column '%s' of %s is %s '%s' by %s (%s at %s:%d:%d)",
				  oc->column, t->q,
				  oc->op->kind == MG_OP_RENAME_COLUMN ? "renamed to" : "replaced by",
				  oc->renamed_to, by, kind, m->path, line, column);
		return mg_err_hint(err, "use its new name '%s': the old one is gone at contract", oc->renamed_to);
	}
	if (mg_op_in_place(oc->op)) {
		mg_plan_pos_error(err, MG_EINPUT, m, pos,
				  "column '%s' of %s changes type in place by %s (%s at %s:%d:%d)",
				  oc->column, t->q, by, kind, m->path, line, column);
		return mg_err_hint(err, "a column whose type changes in place cannot be changed again by the same migration: move this operation to a migration of its own");
	}
	mg_plan_pos_error(err, MG_EINPUT, m, pos,
			  "column '%s' of %s is dropped by %s (%s at %s:%d:%d)",
			  oc->column, t->q, by, kind, m->path, line, column);
	return mg_err_hint(err, "the column is gone at contract: leave it out, or keep it by removing the drop_column");
}
