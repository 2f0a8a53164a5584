/*
 * pgrules.h - private to the PostgreSQL driver: the rules on existing
 * columns (rules.c), called from render.c and the driver table.
 */
#ifndef MG_PGRULES_H
#define MG_PGRULES_H

#include "planner.h"

/* The trigger's fix of every MG_PAIR_FIX of tp (update: in its UPDATE
 * branch), before the marker is set. */
void pgdrv_fix_trigger(struct mg_buf *b, const struct mg_tplan *tp, int update);
/* The backfill's assignments of the fixed columns (appended to set, ", "
 * between) and the rows still breaking a rule (appended to mm as
 * " OR (...)"). */
void pgdrv_fix_backfill(struct mg_buf *set, struct mg_buf *mm, const struct mg_tplan *tp);
/* MG_PRIM_ADD_RULE in the expand transaction: the constraint NOT VALID. */
void pgdrv_render_add_rule(struct mg_buf *b, const struct mg_tplan *tp,
			   const struct mg_prim *p);
/* MG_RENDER_RULE. */
void pgdrv_render_rule(const struct mg_render *r, struct mg_plan *out);
/* driver.h: check_rule. */
int pgdrv_check_rule(struct mg_conn *c, const struct mg_planner *pl,
		     const struct mg_op *op, const struct mg_table_desc *t,
		     const struct mg_column_desc *cd, struct mg_err *err);

#endif
