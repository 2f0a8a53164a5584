/*
 * metrics.h - --metrics-file PATH: the Prometheus text format, written
 * atomically (a temporary file renamed over PATH: the node_exporter
 * textfile collector convention).
 */
#ifndef MG_METRICS_H
#define MG_METRICS_H

#include "config.h"

/* Called by main() after every command (rc its exit status): with
 * --metrics-file, writes the snapshot of migrations, colours and gates.
 * Never changes rc; a file that cannot be written is warned about. */
void mg_metrics_command_done(const struct mg_options *opt, const char *command, int rc);

#endif
