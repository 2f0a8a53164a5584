/*
 * planner_index.c - create_index and drop_index: what the planner decides
 * about them before the driver renders their steps (planner_emit.c says
 * when: create_index builds at expand and drops its index first at
 * rollback; drop_index drops at contract and has nothing to undo).
 *
 * What needs no catalog is checked while loading the file
 * (migration_ops.c: constraint needs unique, include does not repeat a
 * key column). Here: the table, the columns, the rule that a UNIQUE
 * constraint is made only from a plain B-tree index, and the driver's
 * answers (check_index: the method, opclasses, collations, storage
 * parameters on PostgreSQL; what InnoDB cannot do on MariaDB; whether the
 * index to drop exists and may be dropped on its own).
 */
#include "planner.h"
#include "planner_int.h"
#include "driver.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whether each of cols (n of them) exists in t, now or after the
 * operations before this one. what: "index" or "include" (messages). */
static int check_columns_exist(struct mg_planner *pl, const struct mg_op *op,
			       struct mg_table_desc *t, char *const *cols,
			       size_t n, struct mg_pos pos, struct mg_err *err)
{
	for (size_t k = 0; k < n; k++) {
		struct mg_column_desc c;
		int ov = mg_planner_overlay_find(pl, t->id, cols[k]);
		int rc = ov;

		if (ov == 0)
			continue;	/* added earlier in this migration */
		memset(&c, 0, sizeof(c));
		if (ov < 0)
			rc = mg_db_describe_column(pl->conn, pl, t, cols[k], &c, err);
		mg_column_desc_release(&c);
		if (rc < 0)
			return -1;
		if (ov == 1)	/* dropped or renamed away earlier: say by what,
				 * at the key that names it */
			return mg_overlay_refuse(err, pl, t,
						 mg_overlay_find(pl, t->id, cols[k]),
						 cols == op->columns ? op->columns_pos : pos);
		if (rc == 1)
			return mg_plan_pos_error(err, MG_EINPUT, pl->m, pos,
						 "column '%s' of index '%s' does not exist in %s",
						 cols[k], op->index_name, t->q);
	}
	return 0;
}

/*
 * A UNIQUE constraint made from an index (constraint: true) takes only
 * an index the database would have built for the constraint itself: every
 * row (no where:), B-tree, each key column with its default operator
 * class, collation and order (PostgreSQL refuses the others: "does not
 * have default sorting behavior"). The same rule on every database, so
 * that a file means the same everywhere.
 */
static int refuse_for_constraint(struct mg_planner *pl, const struct mg_op *op,
				 struct mg_pos pos, const char *what,
				 struct mg_err *err)
{
	mg_plan_pos_error(err, MG_EINPUT, pl->m, pos,
			  "index '%s' cannot become a UNIQUE constraint: %s",
			  op->index_name, what);
	return mg_err_hint(err, "remove 'constraint: true' to keep a unique index, or remove the option");
}

static int check_constraint_index(struct mg_planner *pl, const struct mg_op *op,
				  struct mg_err *err)
{
	if (op->where)
		return refuse_for_constraint(pl, op, op->where_pos,
					     "a UNIQUE constraint covers every row, and this index is partial ('where')", err);
	if (op->method && strcasecmp(op->method, "btree") != 0)
		return refuse_for_constraint(pl, op, op->method_pos,
					     "a UNIQUE constraint needs a btree index ('method')", err);
	for (size_t k = 0; op->column_opts && k < op->n_columns; k++) {
		const struct mg_index_col *c = &op->column_opts[k];

		if (c->opclass)
			return refuse_for_constraint(pl, op, c->opclass_pos,
						     "a UNIQUE constraint needs each column's default operator class ('opclass')", err);
		if (c->collate)
			return refuse_for_constraint(pl, op, c->collate_pos,
						     "a UNIQUE constraint needs each column's own collation ('collate')", err);
		if (c->order == MG_ORDER_DESC)
			return refuse_for_constraint(pl, op, c->order_pos,
						     "a UNIQUE constraint needs its columns in ascending order ('order: desc')", err);
		if (c->nulls == MG_NULLS_FIRST)
			return refuse_for_constraint(pl, op, c->nulls_pos,
						     "a UNIQUE constraint needs NULLs sorted last ('nulls: first')", err);
	}
	return 0;
}

/* Whether a column entry is a mapping with options, or the index has
 * included columns or storage parameters. */
static int has_options(const struct mg_op *op)
{
	if (op->n_include || op->n_storage)
		return 1;
	for (size_t k = 0; op->column_opts && k < op->n_columns; k++) {
		const struct mg_index_col *c = &op->column_opts[k];

		if (c->opclass || c->collate || c->order || c->nulls)
			return 1;
	}
	return 0;
}

/* The columns are checked after the driver's answers, as they always
 * were (the messages of files that were refused do not change), except
 * when the index has options: the driver then builds the index on an
 * empty copy of the table, and a missing column is better named here. */
int mg_planner_create_index(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_table_desc *t = mg_xcalloc(1, sizeof(*t));
	int first = has_options(op);

	pl->index_tables[i] = t;
	if (mg_db_describe_table(pl->conn, pl, op, t, err) < 0 ||
	    (first && check_columns_exist(pl, op, t, op->columns, op->n_columns,
					  op->pos, err) < 0) ||
	    check_columns_exist(pl, op, t, op->include, op->n_include,
				op->include_pos, err) < 0 ||
	    (op->constraint && check_constraint_index(pl, op, err) < 0) ||
	    mg_db_check_index(pl->conn, pl, op, t, err) < 0)
		return -1;
	if (first)
		return 0;
	return check_columns_exist(pl, op, t, op->columns, op->n_columns,
				   op->pos, err);
}

/* drop_index: the driver says whether the index exists on the table and
 * may be dropped on its own (no constraint owns it, no foreign key needs
 * it); the drop is rendered at contract. */
int mg_planner_drop_index(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_table_desc *t = mg_xcalloc(1, sizeof(*t));

	pl->index_tables[i] = t;
	if (mg_db_describe_table(pl->conn, pl, op, t, err) < 0)
		return -1;
	return mg_db_check_index(pl->conn, pl, op, t, err);
}
