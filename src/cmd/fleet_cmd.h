/*
 * cmd/fleet_cmd.h - `migrate --fleet FILE <command>` (docs/commands.md,
 * "Fleets"): the command layer over src/fleet.h. fleet.c runs a command
 * on every target and prints the summary; fleet_status.c reads every
 * target's `status --json` (the status table, and the fleet-wide colour
 * gate of fleet_gate.c).
 *
 * Ownership: struct mg_fleet_views owns its documents (mg_fleet_views_release).
 */
#ifndef MG_CMD_FLEET_CMD_H
#define MG_CMD_FLEET_CMD_H

#include <jansson.h>

#include "config.h"
#include "fleet.h"

/*
 * Run opt->command on every target of opt->fleet. argc and argv are
 * main's: the children get them without --fleet and --fleet-jobs. Returns
 * the exit status: the worst of the targets' (3, 2, 1, 0), 3 after a
 * signal, 2 for a bad fleet file or a command that takes no database.
 */
int mg_cmd_fleet(struct mg_options *opt, int argc, char **argv);

/*
 * MIGRATE_FLEET: when the command line gives neither --fleet nor
 * --database and opt->command runs on a fleet (not init, new, lint),
 * opt->fleet is set from it, so that main runs mg_cmd_fleet. Called
 * before the command runs; MIGRATE_FLEET_JOBS is read by mg_cmd_fleet.
 */
void mg_fleet_from_env(struct mg_options *opt);

/* ---- shared by fleet*.c ---- */

/* Print one JSON document on stdout and release it: as mg_json_print, with
 * reals at 15 significant digits (0.363 seconds, not 0.36299999999999999). */
void mg_fleet_json_print(json_t *doc);

/* Every target's `status --json`, parsed. */
struct mg_fleet_views {
	size_t n;
	json_t **doc;			/* NULL where it could not be read */
	struct mg_fleet_result *res;	/* the children's results */
};

/* The options of `status` given on the command line that mean the same
 * on every target (-m, --config, --network-timeout, --lock-timeout, -q,
 * -v; --events with --json), as arguments for each child's `status
 * --json`, into out. The ones the fleet's table cannot show are refused
 * by mg_cmd_fleet before (--watch, --interval, --events without --json). */
void mg_fleet_status_args(const struct mg_options *opt, struct mg_strlist *out);

/* Run `status --json` on every target. 0, or -1 with err set (MG_EDB:
 * the state directory cannot be written). *stopped as mg_fleet_run. */
int mg_fleet_views_read(struct mg_fleet_views *out, const struct mg_fleet *f,
			const struct mg_options *opt, int jobs, const char *why,
			int *stopped, struct mg_err *err);
void mg_fleet_views_release(struct mg_fleet_views *v);

/* The phases in order: pending 0 ... contracted 4; -1 for an unknown one. */
int mg_fleet_phase_rank(const char *phase);

/* A target's one-line reason it could not be read. Borrowed or static. */
const char *mg_fleet_view_error(const struct mg_fleet_views *v, size_t i);

/* `--fleet F status`: the table (or --json). Returns the exit status. */
int mg_fleet_status(const struct mg_fleet *f, const struct mg_options *opt, int jobs);

/* The fleet-wide colour gate before `contract` or `rollback` (command):
 * 0 when every target may go ahead, else the exit status (1 refused,
 * with every blocking colour and its target named; 3 a target whose
 * status cannot be read). */
int mg_fleet_gate(const struct mg_fleet *f, const struct mg_options *opt, int jobs,
		  const char *command);

#endif
