/* metrics.c - --metrics-file: the Prometheus text format (issue 16: to be
 * written). */
#include "metrics.h"
#include "progress.h"

void mg_metrics_progress(const struct mg_progress *p)
{
	(void)p;
}

void mg_metrics_command_done(const struct mg_options *opt, const char *command, int rc)
{
	(void)opt;
	(void)command;
	(void)rc;
}
