/*
 * cmd.h - one file per command under src/cmd/, registered in main.c's
 * table. A command returns the process exit status (design §4): 0 done,
 * 1 refused, 2 bad input, 3 database or runtime error.
 */
#ifndef MG_CMD_H
#define MG_CMD_H

#include <jansson.h>

#include "config.h"
#include "lint.h"
#include "state.h"

struct mg_ctx;

typedef int (*mg_cmd_fn)(struct mg_options *opt);

/* init and new (scaffolding): their own options (--op, --table, --force
 * ...) leave argv before the global parser sees it; the command reads
 * them from mg_cmd_scaffold_args(). mg_cmd_scaffold_options: 0, or -1
 * after reporting a bad option (exit 2). */
struct mg_scaffold_args;
int mg_cmd_init(struct mg_options *opt);
int mg_cmd_new(struct mg_options *opt);
int mg_cmd_scaffold_options(int *argc, char **argv);
struct mg_scaffold_args *mg_cmd_scaffold_args(void);

int mg_cmd_status(struct mg_options *opt);
int mg_cmd_plan(struct mg_options *opt);
int mg_cmd_expand(struct mg_options *opt);
int mg_cmd_backfill(struct mg_options *opt);
int mg_cmd_switch_reads(struct mg_options *opt);
int mg_cmd_contract(struct mg_options *opt);
int mg_cmd_rollback(struct mg_options *opt);
int mg_cmd_colour(struct mg_options *opt);
int mg_cmd_check(struct mg_options *opt);
int mg_cmd_log(struct mg_options *opt);
int mg_cmd_lint(struct mg_options *opt);

/* lint's options from the command line (cmd/lint.c; check runs lint too):
 * --error/--warning/--disable checked against the rules, the dialect from
 * --dialect or the configured URL (default postgres). */
struct mg_lint_setup {
	struct mg_lint_opts o;
	struct mg_strlist errors, warnings, disabled;
};
int mg_lint_setup_init(struct mg_lint_setup *s, const struct mg_options *opt,
		       struct mg_err *err);
void mg_lint_setup_release(struct mg_lint_setup *s);
/* "N files, E errors, W warnings" */
void mg_lint_summary(FILE *f, const struct mg_lint_report *r);

/* Print the newest `limit` events (text), or fill *json_out with them. */
int mg_events_show(struct mg_state *st, int limit, json_t **json_out, struct mg_err *err);

/* Print every colour (text), or fill *out with a JSON array (json = 1). */
int mg_colour_print_all(struct mg_ctx *ctx, int json, json_t **out, struct mg_err *err);

/* Shared by the phase commands: at most one ID argument. */
int mg_cmd_one_id(struct mg_options *opt, const char **id);

/* Report err, log it, and return its exit status. */
int mg_cmd_fail(const struct mg_err *err);

#endif
