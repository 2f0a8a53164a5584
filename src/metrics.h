/*
 * metrics.h - --metrics-file PATH: the Prometheus text format, written
 * atomically (a temporary file renamed over PATH: the node_exporter
 * textfile collector convention). docs/metrics.md lists every series.
 *
 * The file is written
 *   - after every command that ran (main() calls mg_metrics_command_done),
 *     whatever its exit status: a fresh snapshot of migrations, colours and
 *     contract gates, read as `migrate status` reads them;
 *   - while a phase or a backfill runs, at most once a second and on its
 *     last tick (mg_metrics_progress): the live figures of the last tick
 *     over the snapshot taken when the command started.
 * Nothing is written for a command line that never ran a command (a bad
 * option, --help, --version). Writing never changes the exit status: a file
 * that cannot be written is warned about once.
 */
#ifndef MG_METRICS_H
#define MG_METRICS_H

#include "config.h"

/* Called by main() just before a command runs: remembers the path (NULL =
 * no metrics) and the start time, and, for the commands that publish live
 * progress (expand, backfill, switch-reads, contract, rollback), takes the
 * snapshot the live writes show beside their figures. */
void mg_metrics_command_start(struct mg_options *opt, const char *command);

/* Called by main() after every command (rc its exit status): with
 * --metrics-file, writes the snapshot of migrations, colours and gates.
 * Never changes rc; a file that cannot be written is warned about. */
void mg_metrics_command_done(const struct mg_options *opt, const char *command, int rc);

#endif
