/* planner_int.h - between the planner's own files (not for drivers). */
#ifndef MG_PLANNER_INT_H
#define MG_PLANNER_INT_H

#include "planner.h"

/* Render every step of pl's table plans and operations into pl->plan, in
 * the order of each phase (planner_emit.c). 0 or -1. */
int mg_planner_emit(struct mg_planner *pl, struct mg_err *err);

/* planner.c's helpers, for the planning of the rules (planner_rules.c). */
struct mg_tplan *mg_planner_table(struct mg_planner *pl, size_t op_index,
				  struct mg_err *err);
int mg_planner_require_column(struct mg_planner *pl, struct mg_tplan *tp,
			      const char *name, struct mg_pos pos,
			      struct mg_column_desc **out, struct mg_err *err);
struct mg_prim *mg_planner_add_prim(struct mg_tplan *tp, enum mg_slot slot,
				    enum mg_prim_kind kind,
				    const struct mg_op *op, const char *column,
				    const char *name);
/* A pair; its op is set by the caller. */
struct mg_pair *mg_planner_add_pair(struct mg_tplan *tp, enum mg_pair_kind kind,
				    const char *old_col, const char *new_col,
				    const char *up, const char *down);

/* The rules on existing columns (planner_rules.c): plan_ops' cases. */
int mg_plan_set_not_null(struct mg_planner *pl, size_t i, struct mg_err *err);
int mg_plan_add_check(struct mg_planner *pl, size_t i, struct mg_err *err);
int mg_plan_add_unique(struct mg_planner *pl, size_t i, struct mg_err *err);
int mg_plan_add_foreign_key(struct mg_planner *pl, size_t i,
			    struct mg_err *err);

#endif
