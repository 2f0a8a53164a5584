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

/* ---- shared by planner.c and planner_deps.c ------------------------------ */

/* A primitive of kind in tp's slot (column and name copied, may be NULL). */
struct mg_prim *mg_planner_add_prim(struct mg_tplan *tp, enum mg_slot slot,
				    enum mg_prim_kind kind, const struct mg_op *op,
				    const char *column, const char *name);
/* The primitive of slot with this name, or NULL. */
struct mg_prim *mg_planner_find_prim(const struct mg_tplan *tp, enum mg_slot slot,
				     const char *name);
/* base + the migration's suffix, cut to fit the table's names. Owned. */
char *mg_planner_copy_name(const struct mg_planner *pl, const struct mg_tplan *tp,
			   const char *base);
int mg_planner_placeholder_not_null(const struct mg_planner *pl);
struct mg_prim *mg_planner_copy_constraint(struct mg_tplan *tp,
					   const struct mg_op *op,
					   const char *name,
					   const struct mg_dependent *dep,
					   const char *column);
void mg_planner_not_null_check(struct mg_planner *pl, struct mg_tplan *tp,
			       const struct mg_op *op, const char *col);
void mg_planner_set_default(struct mg_tplan *tp, const struct mg_op *op,
			    const char *col, const char *expr);

/* planner_deps.c: the dependents of column col (c as described), asked
 * of the driver and kept in the table plan; NULL on error. */
const struct mg_dependents *mg_planner_dependents(struct mg_planner *pl,
						  struct mg_tplan *tp,
						  const char *col,
						  const struct mg_column_desc *c,
						  struct mg_err *err);
/* Views, policies ...: refused unless listed under drops:. 0 or -1. */
int mg_planner_objects(struct mg_planner *pl, struct mg_tplan *tp,
		       const struct mg_op *op, const char *col,
		       const struct mg_dependents *ds, struct mg_err *err);
/* Triggers whose code names the column. 0 or -1. */
int mg_planner_code(struct mg_planner *pl, struct mg_tplan *tp,
		    const struct mg_op *op, const char *col,
		    const struct mg_dependents *ds, struct mg_err *err);
/* Other tables' foreign keys on it: moved to new_col, or (new_col NULL)
 * refused unless listed under drops:. 0 or -1. */
int mg_planner_inbound(struct mg_planner *pl, struct mg_tplan *tp,
		       const struct mg_op *op, const char *old,
		       const char *new_col, const struct mg_dependents *ds,
		       struct mg_err *err);
/* MG_CAP_EXPLICIT_INDEX_DROPS: its indexes dropped at contract. */
void mg_planner_drop_indexes(struct mg_planner *pl, struct mg_tplan *tp,
			     const struct mg_op *op, const char *col,
			     const struct mg_dependents *ds);
/* What a replaced column c carries to new_col: NOT NULL, comment,
 * default, and its dependents (copied, dropped or refused). is_alter:
 * the type changes (foreign keys are not copied, other tables' foreign
 * keys refused), unless in_place (the column keeps its role). 0 or -1. */
int mg_planner_carry_over(struct mg_planner *pl, struct mg_tplan *tp,
			  const struct mg_op *op, const struct mg_column_desc *c,
			  const char *new_col, int is_alter, struct mg_err *err);

/* planner_tables.c: create_table, drop_table, rename_table. */
/* Refuse an operation naming a table that an earlier table operation of
 * the migration creates (unless the planning session sees it), drops or
 * renames. 0 or -1. */
int mg_planner_table_check(struct mg_planner *pl, size_t i, struct mg_err *err);
int mg_plan_create_table(struct mg_planner *pl, size_t i, struct mg_err *err);
int mg_plan_drop_table(struct mg_planner *pl, size_t i, struct mg_err *err);
int mg_plan_rename_table(struct mg_planner *pl, size_t i, struct mg_err *err);
/* 1 and *out: what op renders in phase; 0: nothing. */
int mg_tableop_render_kind(const struct mg_op *op, enum mg_plan_phase phase,
			   enum mg_render_kind *out);
void mg_planner_tables_release(struct mg_planner *pl);
/* planner_attrs.c: plan the attribute operation ops[i] (drop_not_null,
 * set_default, drop_default, set_comment, set_replica_identity,
 * drop_constraint, rename_constraint) into pl->attrs[i]. 0 or -1. */
int mg_planner_plan_attr(struct mg_planner *pl, size_t i, struct mg_err *err);
/* Whether op is one of them. */
int mg_op_is_attr(const struct mg_op *op);
void mg_planner_attrs_release(struct mg_planner *pl);

/* planner.c's helpers, for the planning of the rules (planner_rules.c). */
struct mg_tplan *mg_planner_table(struct mg_planner *pl, size_t op_index,
				  struct mg_err *err);
int mg_planner_require_column(struct mg_planner *pl, struct mg_tplan *tp,
			      const char *name, struct mg_pos pos,
			      struct mg_column_desc **out, struct mg_err *err);
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
