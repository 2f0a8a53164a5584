/* progress.c - live progress handed to its readers: see progress.h. */
#include "progress.h"

#include <time.h>

const char *mg_progress_state_name(enum mg_progress_state s)
{
	switch (s) {
	case MG_PROGRESS_RUNNING: return "running";
	case MG_PROGRESS_THROTTLED: return "throttled";
	case MG_PROGRESS_PAUSED: return "paused";
	case MG_PROGRESS_DONE: return "done";
	case MG_PROGRESS_STOPPED: return "stopped";
	}
	return "running";
}

int64_t mg_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define MAX_READERS 4

static mg_progress_reader readers[MAX_READERS];
static int n_readers;

void mg_progress_add_reader(mg_progress_reader fn)
{
	for (int i = 0; i < n_readers; i++)
		if (readers[i] == fn)
			return;
	if (n_readers < MAX_READERS)
		readers[n_readers++] = fn;
}

void mg_progress_publish(const struct mg_progress *p)
{
	mg_runinfo_progress(p);
	for (int i = 0; i < n_readers; i++)
		readers[i](p);
}
