/* planner_int.h - between the planner's own files (not for drivers). */
#ifndef MG_PLANNER_INT_H
#define MG_PLANNER_INT_H

#include "planner.h"

/* Render every step of pl's table plans and operations into pl->plan, in
 * the order of each phase (planner_emit.c). 0 or -1. */
int mg_planner_emit(struct mg_planner *pl, struct mg_err *err);

/* -1 when no earlier operation adds, replaces or drops column col of the
 * table with identity id; else 1 when it is replaced or dropped, 0 when
 * added (planner.c). */
int mg_planner_overlay_find(const struct mg_planner *pl, const char *id,
			    const char *col);

/* create_index and drop_index (planner_index.c): the table described into
 * pl->index_tables[i], the operation checked against the file's rules
 * that need the catalog and the driver's answers (check_index). 0 or -1
 * (MG_EINPUT naming file:line:column). */
int mg_planner_create_index(struct mg_planner *pl, size_t i, struct mg_err *err);
int mg_planner_drop_index(struct mg_planner *pl, size_t i, struct mg_err *err);

/* planner_attrs.c: plan the attribute operation ops[i] (drop_not_null,
 * set_default, drop_default, set_comment, set_replica_identity,
 * drop_constraint, rename_constraint) into pl->attrs[i]. 0 or -1. */
int mg_planner_plan_attr(struct mg_planner *pl, size_t i, struct mg_err *err);
/* Whether op is one of them. */
int mg_op_is_attr(const struct mg_op *op);
void mg_planner_attrs_release(struct mg_planner *pl);

#endif
