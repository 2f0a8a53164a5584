/*
 * planner_rules.c - the rules on existing columns (issue 13):
 * set_not_null, add_check, add_unique, add_foreign_key.
 *
 * The promise is the one of every operation: the old version keeps
 * working through every phase, the new version may rely on the rule from
 * switch-reads on. The old version does not know the rule, so it may
 * write rows that break it; the operation's `up` fixes them. A pair of
 * kind MG_PAIR_FIX puts the fix into the table's trigger (every write,
 * before the server checks its constraints: PostgreSQL and MariaDB 10.5+
 * check NOT NULL and CHECK after the BEFORE triggers) and into the
 * backfill (the rows already there, in keyset batches under the marker).
 * The rule itself is added without a long lock:
 *
 *   with NOT VALID constraints (PostgreSQL): at expand, NOT VALID in the
 *   table's transaction (new writes are checked from then on, after the
 *   trigger fixed them), VALIDATE at switch-reads; set_not_null is a
 *   CHECK (c IS NOT NULL) NOT VALID, validated, then SET NOT NULL (which
 *   uses the valid check instead of a scan) and the check dropped;
 *
 *   without them (MySQL/MariaDB): at switch-reads, after the backfill,
 *   the ALTER that adds the rule (the driver refuses at plan time what
 *   its database cannot do online, naming the ALTER and the key that
 *   accepts it);
 *
 *   add_unique everywhere: the unique index at switch-reads, after the
 *   backfill fixed the duplicates (concurrently on PostgreSQL, then
 *   ADD CONSTRAINT ... UNIQUE USING INDEX); a plain index over the
 *   columns is built at expand for the duplicate lookups of the trigger
 *   and the backfill, and dropped once the unique one is there.
 *
 * Rollback from every phase before contract removes the rule (and the
 * helper index); values `up` changed stay changed (the plan's lossy
 * list says so). Contract only drops the trigger and the marker.
 */
#include "planner.h"
#include "planner_int.h"
#include "driver.h"

#include <stdlib.h>
#include <string.h>

/* base + the migration's suffix, fitting the table's identifiers. Owned. */
static char *copy_name(const struct mg_planner *pl, const struct mg_tplan *tp,
		       const char *base)
{
	if (tp->t.utf8_names)
		return mg_planner_name_utf8(tp->t.max_ident, base, pl->suffix);
	return mg_planner_name(tp->t.max_ident, base, pl->suffix);
}

static int has_not_valid(const struct mg_planner *pl)
{
	/* the capability says: no NOT VALID constraints (driver.h) */
	return !(pl->caps & MG_CAP_PLACEHOLDER_NOT_NULL);
}

/* What the rule is called in messages: "NOT NULL on 'c'", "check 'x'". */
static char *rule_words(const struct mg_op *op)
{
	switch (op->kind) {
	case MG_OP_SET_NOT_NULL:
		return mg_xasprintf("NOT NULL on column '%s'", op->column);
	case MG_OP_ADD_CHECK:
		return mg_xasprintf("check '%s' (%s)", op->index_name, op->check);
	case MG_OP_ADD_UNIQUE:
		return mg_xasprintf("unique constraint '%s'", op->index_name);
	default:
		return mg_xasprintf("foreign key '%s'", op->index_name);
	}
}

/* The columns of the rule exist (as the earlier operations leave them);
 * *first: the description of the column `up` writes. */
static int rule_columns(struct mg_planner *pl, struct mg_tplan *tp,
			const struct mg_op *op, struct mg_column_desc **first,
			struct mg_err *err)
{
	if (op->column)
		return mg_planner_require_column(pl, tp, op->column,
						 op->column_pos, first, err);
	for (size_t k = 0; k < op->n_columns; k++) {
		struct mg_column_desc *c;

		if (mg_planner_require_column(pl, tp, op->columns[k],
					      op->columns_pos, &c, err) < 0)
			return -1;
		if (k == 0)
			*first = c;
	}
	return 0;
}

/* The fix of the rows that break the rule: `up`, checked over the row. */
static int plan_fix(struct mg_planner *pl, struct mg_tplan *tp,
		    const struct mg_op *op, const char *col, struct mg_err *err)
{
	char *words, *lossy;

	if (!op->up) {
		words = rule_words(op);
		char *n = mg_xasprintf("%s has no 'up': from the moment it exists (%s), a write that breaks it fails, the old version's too, and rows of %s that break it already make %s fail",
				       words, has_not_valid(pl) && op->kind != MG_OP_ADD_UNIQUE ? "expand" : "switch-reads",
				       tp->t.q, op->kind == MG_OP_ADD_UNIQUE ? "the unique index build" : "its validation");

		mg_plan_add_note(pl->plan, n);
		free(n);
		free(words);
		return 0;
	}
	if (mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_ROW, op->up,
			     op->up_pos, err) < 0)
		return -1;
	mg_planner_add_pair(tp, MG_PAIR_FIX, col, col, op->up, NULL)->op = op;
	words = rule_words(op);
	lossy = mg_xasprintf("rows of %s that break %s get '%s' = %s (in the backfill and on every write until contract); rollback does not restore the values it replaced",
			     tp->t.q, words, col, op->up);
	mg_plan_add_lossy(pl->plan, lossy);
	free(lossy);
	free(words);
	return 0;
}

/*
 * The steps every rule shares: its table, its columns, the driver's
 * check (name free, online or accepted), the fix, and where NOT VALID
 * exists the constraint at expand and its validation. The caller adds
 * what is its own. *tpo: the table plan; *cdo: the column `up` writes.
 */
static int plan_rule(struct mg_planner *pl, size_t i, const char *name,
		     int not_valid, struct mg_tplan **tpo,
		     struct mg_column_desc **cdo, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_tplan *tp = mg_planner_table(pl, i, err);
	struct mg_column_desc *cd = NULL;
	const char *col;
	struct mg_prim *p;

	if (!tp || rule_columns(pl, tp, op, &cd, err) < 0 ||
	    mg_db_check_rule(pl->conn, pl, op, &tp->t, cd, err) < 0)
		return -1;
	col = op->column ? op->column : op->columns[0];
	if (plan_fix(pl, tp, op, col, err) < 0)
		return -1;
	if (not_valid && has_not_valid(pl)) {
		mg_planner_add_prim(tp, MG_SLOT_EXPAND, MG_PRIM_ADD_RULE, op, col,
				    name)->old = cd;
		mg_planner_add_prim(tp, MG_SLOT_VALIDATE, MG_PRIM_VALIDATE, op,
				    col, name);
	}
	p = mg_planner_add_prim(tp, MG_SLOT_ROLLBACK_RULES, MG_PRIM_DROP_RULE,
				op, col, name);
	p->old = cd;
	*tpo = tp;
	*cdo = cd;
	return 0;
}

/* The rule at switch-reads, in steps of its own. */
static void rule_at_switch_reads(struct mg_tplan *tp, const struct mg_op *op,
				 const char *name,
				 const struct mg_column_desc *cd)
{
	const char *col = op->column ? op->column : op->columns[0];

	mg_planner_add_prim(tp, MG_SLOT_RULES, MG_PRIM_RULE, op, col,
			    name)->old = cd;
}

int mg_plan_set_not_null(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_tplan *tp = mg_planner_table(pl, i, err);
	struct mg_column_desc *cd = NULL;
	char *base, *check;
	int rc;

	if (!tp || mg_planner_require_column(pl, tp, op->column, op->column_pos,
					     &cd, err) < 0)
		return -1;
	if (cd->notnull)
		return mg_plan_pos_error(err, MG_EINPUT, pl->m, op->column_pos,
					 "column '%s' of %s is NOT NULL already",
					 op->column, tp->t.q);
	/* the CHECK (c IS NOT NULL) that goes before SET NOT NULL */
	base = mg_xasprintf("%s_not_null", op->column);
	check = copy_name(pl, tp, base);
	free(base);
	rc = plan_rule(pl, i, check, 1, &tp, &cd, err);
	if (rc == 0)
		rule_at_switch_reads(tp, op, check, cd);
	free(check);
	return rc;
}

int mg_plan_add_check(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_tplan *tp = mg_planner_table(pl, i, err);
	struct mg_column_desc *cd;

	if (!tp || mg_db_check_expr(pl->conn, pl, &tp->t, MG_EXPR_WHERE,
				    op->check, op->check_pos, err) < 0 ||
	    plan_rule(pl, i, op->index_name, 1, &tp, &cd, err) < 0)
		return -1;
	if (!has_not_valid(pl))
		rule_at_switch_reads(tp, op, op->index_name, cd);
	return 0;
}

int mg_plan_add_unique(struct mg_planner *pl, size_t i, struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_tplan *tp;
	struct mg_column_desc *cd;

	if (plan_rule(pl, i, op->index_name, 0, &tp, &cd, err) < 0)
		return -1;
	if (op->up) {
		char *helper = copy_name(pl, tp, op->index_name);

		mg_planner_add_prim(tp, MG_SLOT_RULES_EXPAND, MG_PRIM_RULE_HELPER,
				    op, op->columns[0], helper);
		free(helper);
	}
	rule_at_switch_reads(tp, op, op->index_name, cd);
	return 0;
}

/* The referenced table and its columns exist (the referenced table as
 * the catalog has it: an earlier operation's new columns are not there
 * before expand). */
static int check_references(struct mg_planner *pl, const struct mg_op *op,
			    char **ref_q, struct mg_err *err)
{
	struct mg_op ref = *op;
	struct mg_table_desc t;
	int rc = 0;

	ref.table = op->ref_table;
	ref.table_pos = op->ref_table_pos;
	memset(&t, 0, sizeof(t));
	if (mg_db_describe_table(pl->conn, pl, &ref, &t, err) < 0) {
		mg_table_desc_release(&t);
		return -1;
	}
	for (size_t k = 0; rc == 0 && k < op->n_ref_columns; k++) {
		struct mg_column_desc c;

		memset(&c, 0, sizeof(c));
		rc = mg_db_describe_column(pl->conn, pl, &t, op->ref_columns[k],
					   &c, err);
		mg_column_desc_release(&c);
		if (rc == 1)
			rc = mg_plan_pos_error(err, MG_EINPUT, pl->m,
					       op->ref_columns_pos,
					       "column '%s' does not exist in %s",
					       op->ref_columns[k], t.q);
	}
	if (rc == 0)
		*ref_q = mg_xstrdup(t.q);
	mg_table_desc_release(&t);
	return rc < 0 ? -1 : 0;
}

/* The referenced table as the catalog names it (quoted, qualified), for
 * the driver: the pair's down, the prims' text (planner.h). */
static void set_referenced(struct mg_tplan *tp, const struct mg_op *op,
			   const char *ref_q)
{
	for (size_t i = 0; i < tp->n_pairs; i++)
		if (tp->pairs[i].op == op && !tp->pairs[i].down)
			tp->pairs[i].down = mg_xstrdup(ref_q);
	for (size_t s = 0; s < MG_NSLOTS; s++)
		for (size_t k = 0; k < tp->slot[s].n; k++)
			if (tp->slot[s].v[k]->op == op && !tp->slot[s].v[k]->text)
				tp->slot[s].v[k]->text = mg_xstrdup(ref_q);
}

int mg_plan_add_foreign_key(struct mg_planner *pl, size_t i,
			    struct mg_err *err)
{
	const struct mg_op *op = &pl->m->ops[i];
	struct mg_tplan *tp;
	struct mg_column_desc *cd;
	char *ref_q = NULL;

	if (check_references(pl, op, &ref_q, err) < 0 ||
	    plan_rule(pl, i, op->index_name, 1, &tp, &cd, err) < 0) {
		free(ref_q);
		return -1;
	}
	if (!has_not_valid(pl))
		rule_at_switch_reads(tp, op, op->index_name, cd);
	set_referenced(tp, op, ref_q);
	free(ref_q);
	if (!op->on_delete || !strcmp(op->on_delete, "NO ACTION") ||
	    !strcmp(op->on_delete, "RESTRICT")) {
		char *n = mg_xasprintf("from the moment foreign key '%s' exists (%s), deleting a row of %s that rows of %s reference fails, for the old version too: give it on_delete (set null, cascade) if the old version deletes such rows",
				       op->index_name,
				       has_not_valid(pl) ? "expand, NOT VALID" : "switch-reads",
				       op->ref_table, tp->t.q);

		mg_plan_add_note(pl->plan, n);
		free(n);
	}
	return 0;
}
