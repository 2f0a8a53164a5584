/* status.h - `migrate status`, once or --watch (status_watch.c). */
#ifndef MG_STATUS_H
#define MG_STATUS_H

#include "cmd.h"

/* One status (text or --json) on stdout: 0, or -1 with err set. */
int mg_status_once(struct mg_options *opt, struct mg_err *err);

/* status --watch: a refresh every opt->interval_ms until SIGINT/SIGTERM,
 * in place on a terminal, else frame after frame. The exit status. */
int mg_status_watch(struct mg_options *opt);

#endif
