/*
 * cmd.h - one file per command under src/cmd/, registered in main.c's
 * table. A command returns the process exit status (design §4): 0 done,
 * 1 refused, 2 bad input, 3 database or runtime error.
 */
#ifndef MG_CMD_H
#define MG_CMD_H

#include "config.h"

typedef int (*mg_cmd_fn)(struct mg_options *opt);

int mg_cmd_status(struct mg_options *opt);
int mg_cmd_plan(struct mg_options *opt);
int mg_cmd_expand(struct mg_options *opt);
int mg_cmd_backfill(struct mg_options *opt);
int mg_cmd_switch_reads(struct mg_options *opt);
int mg_cmd_contract(struct mg_options *opt);
int mg_cmd_rollback(struct mg_options *opt);

/* Shared by the phase commands: at most one ID argument. */
int mg_cmd_one_id(struct mg_options *opt, const char **id);

/* Report err, log it, and return its exit status. */
int mg_cmd_fail(const struct mg_err *err);

#endif
