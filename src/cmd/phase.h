/*
 * phase.h - what the phase commands (expand, backfill, switch-reads,
 * contract, rollback) share: the order rule across migrations and the
 * blocker check before DDL.
 */
#ifndef MG_CMD_PHASE_H
#define MG_CMD_PHASE_H

#include "runner.h"

/* Refuse (MG_EREFUSED) when a migration below v is in a phase below
 * `need`, naming it and the command to run for it. */
int mg_phase_require_lower(struct mg_ctx *ctx, const struct mg_view *v,
			   enum mg_phase need, const char *verb,
			   struct mg_err *err);

/* Refuse (MG_EREFUSED) when a migration above v is not pending. */
int mg_phase_require_higher_pending(struct mg_ctx *ctx, const struct mg_view *v,
				    struct mg_err *err);

/* Check for long transactions on the tables the phase's steps change. */
int mg_phase_check_blockers(struct mg_ctx *ctx, const struct mg_plan *plan,
			    enum mg_plan_phase phase, struct mg_err *err);

/* The command that moves a migration in phase p one step on. */
const char *mg_phase_next_command(enum mg_phase p);

/* Print "next: ..." after a phase command. */
void mg_phase_print_next(const struct mg_view *v);

#endif
