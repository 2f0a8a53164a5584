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

/* Print "next: ..." after a phase command on v: v's next step, or the
 * lowest migration that must move first (see phase.c). */
void mg_phase_print_next(const struct mg_ctx *ctx, const struct mg_view *v);

/*
 * A phase command described by what differs between them; mg_phase_run()
 * does the rest: options, setup, picking the migration, blocker checks,
 * running the steps, the event log, the "next:" line and --json output.
 */
struct mg_phase_cmd {
	const char *name;		/* "expand" */
	enum mg_phase pick;		/* for mg_ctx_pick (rollback: PENDING) */
	enum mg_plan_phase steps;	/* which steps of the plan it runs */
	enum mg_phase reaches;		/* the phase afterwards */
	/* 1: nothing to do (message printed), 0: go on, -1: refused */
	int (*ready)(struct mg_ctx *ctx, struct mg_view *v, struct mg_err *err);
	/* fill plan (recorded, or new for expand); may refuse */
	int (*load_plan)(struct mg_ctx *ctx, struct mg_view *v,
			 struct mg_plan *plan, struct mg_err *err);
	/* optional: runs after the blocker check, before the steps */
	int (*before_steps)(struct mg_ctx *ctx, struct mg_view *v,
			    const struct mg_plan *plan, struct mg_err *err);
	/* optional: runs after the phase is recorded */
	int (*after_steps)(struct mg_ctx *ctx, struct mg_view *v,
			   struct mg_err *err);
	const char *done;		/* printf format, %s = migration name */
};

int mg_phase_run(struct mg_options *opt, const struct mg_phase_cmd *def);

/* load_plan for the commands after expand: refuse an edited file, then
 * the recorded plan. */
int mg_phase_recorded_unchanged(struct mg_ctx *ctx, struct mg_view *v,
				struct mg_plan *plan, struct mg_err *err);

#endif
