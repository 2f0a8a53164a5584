/* metrics.c - --metrics-file: the Prometheus text format (issue 16: to be
 * written). */
#include "progress.h"

void mg_metrics_progress(const struct mg_progress *p)
{
	(void)p;
}
