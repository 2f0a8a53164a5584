/*
 * planner_attrs.c - the attribute operations: drop_not_null, set_default,
 * drop_default, set_comment, set_replica_identity, drop_constraint and
 * rename_constraint (issue 13).
 *
 * None of them adds a column or needs a trigger: each is one change of
 * the catalog, made in the phase the rule below gives it, and undone by
 * rollback from the catalog as it was at plan time (struct mg_attr keeps
 * it). The rule: the old version keeps working through every phase; the
 * new version may rely on the change from switch-reads on.
 *
 *   drop_not_null       expand: the old version never writes NULL, so a
 *                       nullable column changes nothing for it (it may
 *                       read NULLs the new version writes).
 *   set_default         expand: the new version's inserts rely on it; the
 *                       old version's inserts that leave the column out
 *                       get the new default too.
 *   drop_default        contract: the old version's inserts may leave the
 *                       column out (a NOT NULL column would make them
 *                       fail); nothing relies on a default being absent.
 *   set_comment         expand: no application reads comments.
 *   set_replica_identity expand: what logical replication sends for
 *                       updates and deletes; no application SQL changes.
 *   drop_constraint     contract: the old version relies on it until it
 *                       is gone, so the new version must keep satisfying
 *                       it until contract.
 *   rename_constraint   expand: applications see constraint names only in
 *                       error messages; from expand on they carry the new
 *                       name (documented).
 *
 * The driver answers the catalog questions (describe_constraint,
 * name_taken, describe_table_attrs) and says what its database cannot do
 * online (check_attr); it renders each change and its undo.
 */
#include "planner.h"
#include "planner_int.h"
#include "driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int mg_op_is_attr(const struct mg_op *op)
{
	switch (op->kind) {
	case MG_OP_DROP_NOT_NULL:
	case MG_OP_SET_DEFAULT:
	case MG_OP_DROP_DEFAULT:
	case MG_OP_SET_COMMENT:
	case MG_OP_SET_REPLICA_IDENTITY:
	case MG_OP_DROP_CONSTRAINT:
	case MG_OP_RENAME_CONSTRAINT:
		return 1;
	default:
		return 0;
	}
}

static void table_attrs_release(struct mg_table_attrs *ta)
{
	free(ta->comment);
	free(ta->identity);
	free(ta->identity_index);
	memset(ta, 0, sizeof(*ta));
}

static void constraint_desc_release(struct mg_constraint_desc *c)
{
	free(c->def);
	mg_dependents_release(&c->deps);
	if (c->drv_free)
		c->drv_free(c->drv);
	memset(c, 0, sizeof(*c));
}

static void attr_free(struct mg_attr *a)
{
	mg_table_desc_release(&a->t);
	mg_column_desc_release(&a->col);
	table_attrs_release(&a->ta);
	constraint_desc_release(&a->con);
	free(a);
}

void mg_planner_attrs_release(struct mg_planner *pl)
{
	for (size_t i = 0; pl->attrs && i < pl->m->n_ops; i++)
		if (pl->attrs[i])
			attr_free(pl->attrs[i]);
	free(pl->attrs);
	pl->attrs = NULL;
}

/* ==== the column ========================================================== */

static int same_name(const struct mg_planner *pl, const char *a, const char *b)
{
	if (pl->caps & MG_CAP_CASELESS_COLUMNS)
		return !strcasecmp(a, b);
	return !strcmp(a, b);
}

/* -1: no earlier operation of the migration adds, replaces or drops the
 * column; else whether the latest one replaced or dropped it (1) or
 * added it (0). */
static int overlay_state(const struct mg_planner *pl, const char *id,
			 const char *col)
{
	int found = -1;

	for (size_t i = 0; i < pl->n_overlay; i++)
		if (!strcmp(pl->overlay[i].table_id, id) &&
		    same_name(pl, pl->overlay[i].column, col))
			found = pl->overlay[i].replaced;
	return found;
}

/* op->column as the catalog has it, into a->col: MG_EINPUT at the
 * column's position when it is absent or an earlier operation of the
 * migration adds, replaces or drops it. */
static int attr_column(struct mg_planner *pl, struct mg_attr *a,
		       struct mg_err *err)
{
	const struct mg_op *op = a->op;
	int ov = overlay_state(pl, a->t.id, op->column);
	int rc;

	if (ov == 0) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->column_pos,
				  "column '%s' of %s is created by an earlier operation of this migration and cannot be changed again in it",
				  op->column, a->t.q);
		return mg_err_hint(err, "move this operation to a later migration");
	}
	rc = ov == 1 ? 1 : mg_db_describe_column(pl->conn, pl, &a->t, op->column,
						 &a->col, err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->column_pos,
				  "column '%s' does not exist in %s", op->column, a->t.q);
		return mg_err_hint(err, "check the column name; an earlier operation of this migration may have replaced it");
	}
	a->has_col = 1;
	return 0;
}

/* Identity, generated and AUTO_INCREMENT columns take no default and
 * keep their NOT NULL: the database refuses or ignores the change. */
static int refuse_special_column(struct mg_planner *pl, const struct mg_attr *a,
				 struct mg_err *err)
{
	if (!a->col.unsupported)
		return 0;
	return mg_plan_pos_error(err, MG_EREFUSED, pl->m, a->op->column_pos,
				 "column '%s' of %s %s: %s is not supported on it",
				 a->op->column, a->t.q, a->col.unsupported,
				 mg_op_kind_name(a->op->kind));
}

static int refuse_noop(struct mg_planner *pl, const struct mg_attr *a,
		       struct mg_pos pos, const char *what, struct mg_err *err)
{
	mg_plan_pos_error(err, MG_EINPUT, pl->m, pos, "%s: %s would change nothing",
			  what, mg_op_kind_name(a->op->kind));
	return mg_err_hint(err, "remove the operation, or check the table and column names");
}

/* The key the backfill walks must stay NOT NULL (and a primary key's
 * columns cannot lose it at all). */
static int in_key(struct mg_planner *pl, const struct mg_attr *a)
{
	struct mg_buf b = MG_BUF_INIT;
	int found = 0;

	mg_db_quote_ident(pl->conn, &b, a->op->column);
	for (size_t i = 0; i < a->t.key.n; i++)
		if (same_name(pl, a->t.key.cols[i], b.buf))
			found = 1;
	mg_buf_release(&b);
	return found;
}

/* ==== each operation ====================================================== */

static int plan_drop_not_null(struct mg_planner *pl, struct mg_attr *a,
			      struct mg_err *err)
{
	const struct mg_op *op = a->op;
	char what[512];

	if (attr_column(pl, a, err) < 0 || refuse_special_column(pl, a, err) < 0)
		return -1;
	if (!a->col.notnull) {
		snprintf(what, sizeof(what), "column '%s' of %s is nullable already",
			 op->column, a->t.q);
		return refuse_noop(pl, a, op->column_pos, what, err);
	}
	if (in_key(pl, a)) {
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->column_pos,
				  "column '%s' is part of the key of %s (its primary key, or the unique index over NOT NULL columns that migrate walks): it keeps NOT NULL",
				  op->column, a->t.q);
		return mg_err_hint(err, "drop or replace the key first, in an earlier migration");
	}
	if (op->down && mg_db_check_expr(pl->conn, pl, &a->t, MG_EXPR_ROW, op->down,
					 op->down_pos, err) < 0)
		return -1;
	a->phase = MG_PLAN_EXPAND;
	a->undo = 1;
	if (op->down) {
		char *l = mg_xasprintf("rollback of %04d sets column '%s' of %s to down (%s) in the rows where the new version wrote NULL",
				       pl->m->id, op->column, a->t.q, op->down);

		mg_plan_add_lossy(pl->plan, l);
		free(l);
	}
	return 0;
}

static int plan_set_default(struct mg_planner *pl, struct mg_attr *a,
			    struct mg_err *err)
{
	const struct mg_op *op = a->op;
	char what[512];

	if (attr_column(pl, a, err) < 0 || refuse_special_column(pl, a, err) < 0 ||
	    mg_db_check_expr(pl->conn, pl, &a->t, MG_EXPR_ROW, op->default_expr,
			     op->default_pos, err) < 0)
		return -1;
	if (a->col.default_expr && !strcmp(a->col.default_expr, op->default_expr)) {
		snprintf(what, sizeof(what), "column '%s' of %s has this default already",
			 op->column, a->t.q);
		return refuse_noop(pl, a, op->default_pos, what, err);
	}
	a->phase = MG_PLAN_EXPAND;
	a->undo = 1;
	return 0;
}

static int plan_drop_default(struct mg_planner *pl, struct mg_attr *a,
			     struct mg_err *err)
{
	const struct mg_op *op = a->op;
	char what[512];

	if (attr_column(pl, a, err) < 0 || refuse_special_column(pl, a, err) < 0)
		return -1;
	if (!a->col.default_expr) {
		snprintf(what, sizeof(what), "column '%s' of %s has no default",
			 op->column, a->t.q);
		return refuse_noop(pl, a, op->column_pos, what, err);
	}
	a->phase = MG_PLAN_CONTRACT;
	return 0;
}

static int plan_set_comment(struct mg_planner *pl, struct mg_attr *a,
			    struct mg_err *err)
{
	const struct mg_op *op = a->op;
	const char *now;
	char what[512];

	if (mg_db_describe_table_attrs(pl->conn, pl, &a->t, &a->ta, err) < 0)
		return -1;
	if (op->column && attr_column(pl, a, err) < 0)
		return -1;
	now = op->column ? a->col.comment : a->ta.comment;
	if (now && !strcmp(now, op->comment)) {
		if (op->column)
			snprintf(what, sizeof(what), "column '%s' of %s has this comment already",
				 op->column, a->t.q);
		else
			snprintf(what, sizeof(what), "%s has this comment already", a->t.q);
		return refuse_noop(pl, a, op->comment_pos, what, err);
	}
	a->phase = MG_PLAN_EXPAND;
	a->undo = 1;
	return 0;
}

static int plan_set_replica_identity(struct mg_planner *pl, struct mg_attr *a,
				     struct mg_err *err)
{
	const struct mg_op *op = a->op;
	char what[512];

	if (mg_db_describe_table_attrs(pl->conn, pl, &a->t, &a->ta, err) < 0)
		return -1;
	if (!a->ta.identity) {
		/* the driver says why and what to use instead; this is the
		 * words of a driver that does not */
		if (mg_db_check_attr(pl->conn, pl, a, err) < 0)
			return -1;
		return mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
					 "%s has no replica identity on this database",
					 a->t.q);
	}
	if (!strcmp(a->ta.identity, op->identity) &&
	    (!op->index_name || (a->ta.identity_index &&
				 !strcmp(a->ta.identity_index, op->index_name)))) {
		snprintf(what, sizeof(what), "the replica identity of %s is %s%s%s already",
			 a->t.q, op->identity, op->index_name ? " " : "",
			 op->index_name ? op->index_name : "");
		return refuse_noop(pl, a, op->identity_pos, what, err);
	}
	a->phase = MG_PLAN_EXPAND;
	a->undo = 1;
	return 0;
}

/* op->constraint_name as the catalog has it, into a->con. */
static int attr_constraint(struct mg_planner *pl, struct mg_attr *a,
			   struct mg_err *err)
{
	const struct mg_op *op = a->op;
	int rc = mg_db_describe_constraint(pl->conn, pl, &a->t, op->constraint_name,
					   &a->con, err);

	if (rc < 0)
		return -1;
	if (rc == 1) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->constraint_name_pos,
				  "constraint '%s' does not exist on %s",
				  op->constraint_name, a->t.q);
		return mg_err_hint(err, "check the name (plan lists what the table has: \\d in psql, SHOW CREATE TABLE in MariaDB)");
	}
	a->has_con = 1;
	return 0;
}

/* A constraint an earlier operation of the migration renames or drops
 * (or renames to this name) is changed once per migration: its undo and
 * its guards read the catalog as it was at plan time. */
static int refuse_touched(struct mg_planner *pl, const struct mg_attr *a,
			  size_t i, struct mg_pos pos, const char *name,
			  struct mg_err *err)
{
	for (size_t k = 0; k < i; k++) {
		const struct mg_attr *e = pl->attrs[k];

		if (!e || !e->has_con || strcmp(e->t.id, a->t.id))
			continue;
		if (!strcmp(e->op->constraint_name, name) ||
		    (e->op->kind == MG_OP_RENAME_CONSTRAINT && !strcmp(e->op->to, name))) {
			mg_plan_pos_error(err, MG_EINPUT, pl->m, pos,
					  "constraint '%s' of %s is changed by an earlier operation of this migration (%s at line %d)",
					  name, a->t.q, mg_op_kind_name(e->op->kind),
					  e->op->pos.line);
			return mg_err_hint(err, "move this operation to a later migration");
		}
	}
	return 0;
}

static int plan_drop_constraint(struct mg_planner *pl, struct mg_attr *a,
				size_t i, struct mg_err *err)
{
	const struct mg_op *op = a->op;
	const struct mg_dependents *ds;

	if (refuse_touched(pl, a, i, op->constraint_name_pos, op->constraint_name, err) < 0 ||
	    attr_constraint(pl, a, err) < 0)
		return -1;
	ds = &a->con.deps;
	for (size_t k = 0; k < ds->n; k++) {
		if (ds->v[k].kind != MG_DEP_INBOUND_FK) {
			mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
					  "%s depends on constraint '%s' of %s",
					  ds->v[k].what, op->constraint_name, a->t.q);
			return mg_err_hint(err, "drop or change it first, in an earlier migration (migrate never drops with CASCADE)");
		}
		if (mg_op_drops(op, ds->v[k].name))
			continue;
		mg_plan_pos_error(err, MG_EREFUSED, pl->m, op->pos,
				  "%s on %s needs constraint '%s' of %s (it references the columns of its index)",
				  ds->v[k].what, ds->v[k].child, op->constraint_name, a->t.q);
		return mg_err_hint(err, "name '%s' under 'drops:' to drop it at contract first (never CASCADE), or drop it in an earlier migration",
				   ds->v[k].name);
	}
	for (size_t k = 0; k < op->n_drops; k++) {
		int found = 0;

		for (size_t j = 0; j < ds->n; j++)
			found |= !strcmp(ds->v[j].name, op->drops[k]);
		if (!found) {
			mg_plan_pos_error(err, MG_EINPUT, pl->m, op->pos,
					  "'drops' names '%s', which does not depend on constraint '%s' of %s",
					  op->drops[k], op->constraint_name, a->t.q);
			return mg_err_hint(err, "list only the foreign keys of other tables that need the constraint");
		}
	}
	a->phase = MG_PLAN_CONTRACT;
	return 0;
}

static int plan_rename_constraint(struct mg_planner *pl, struct mg_attr *a,
				  size_t i, struct mg_err *err)
{
	const struct mg_op *op = a->op;
	char *what = NULL;
	int rc;

	if (refuse_touched(pl, a, i, op->constraint_name_pos, op->constraint_name, err) < 0 ||
	    refuse_touched(pl, a, i, op->to_pos, op->to, err) < 0 ||
	    attr_constraint(pl, a, err) < 0)
		return -1;
	rc = mg_db_name_taken(pl->conn, pl, &a->t, op->to, &a->con, &what, err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		mg_plan_pos_error(err, MG_EINPUT, pl->m, op->to_pos,
				  "cannot rename constraint '%s' of %s to '%s': the name is taken by %s",
				  op->constraint_name, a->t.q, op->to, what);
		free(what);
		return mg_err_hint(err, "choose another name");
	}
	a->phase = MG_PLAN_EXPAND;
	a->undo = 1;
	return 0;
}

/* ==== entry =============================================================== */

int mg_planner_plan_attr(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_attr *a;
	int rc = -1;

	if (!pl->attrs)
		pl->attrs = mg_xcalloc(pl->m->n_ops + 1, sizeof(*pl->attrs));
	a = mg_xcalloc(1, sizeof(*a));
	a->op = op;
	pl->attrs[i] = a;
	if (mg_db_describe_table(pl->conn, pl, op, &a->t, err) < 0)
		return -1;
	switch (op->kind) {
	case MG_OP_DROP_NOT_NULL:
		rc = plan_drop_not_null(pl, a, err);
		break;
	case MG_OP_SET_DEFAULT:
		rc = plan_set_default(pl, a, err);
		break;
	case MG_OP_DROP_DEFAULT:
		rc = plan_drop_default(pl, a, err);
		break;
	case MG_OP_SET_COMMENT:
		rc = plan_set_comment(pl, a, err);
		break;
	case MG_OP_SET_REPLICA_IDENTITY:
		rc = plan_set_replica_identity(pl, a, err);
		break;
	case MG_OP_DROP_CONSTRAINT:
		rc = plan_drop_constraint(pl, a, i, err);
		break;
	case MG_OP_RENAME_CONSTRAINT:
		rc = plan_rename_constraint(pl, a, i, err);
		break;
	default:
		break;
	}
	if (rc < 0)
		return -1;
	return mg_db_check_attr(pl->conn, pl, a, err);
}
