/* planner_int.h - between the planner's own files (not for drivers). */
#ifndef MG_PLANNER_INT_H
#define MG_PLANNER_INT_H

#include "planner.h"

/* Render every step of pl's table plans and operations into pl->plan, in
 * the order of each phase (planner_emit.c). 0 or -1. */
int mg_planner_emit(struct mg_planner *pl, struct mg_err *err);

#endif
