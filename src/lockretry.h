/*
 * lockretry.h - the lock-retry loop of a step, one for every driver.
 *
 * A step's DDL waits for its table locks at most lock_wait_ms per try, so
 * the application never queues behind it for long. A try that runs out
 * of that time is tried again after a jittered backoff (mg_backoff_ms),
 * up to lock_retries times more, and the time those tries waited is
 * counted as the step's stall. The driver runs one try and says whether
 * it failed waiting for locks (struct mg_step_report, driver.h).
 */
#ifndef MG_LOCKRETRY_H
#define MG_LOCKRETRY_H

#include "driver.h"

/* One try of a step: 0, or -1 with err set and rep->lock_wait set when
 * the try failed waiting for its locks. */
typedef int (*mg_lockretry_try_fn)(void *arg, struct mg_step_report *rep,
				   struct mg_err *err);

/*
 * Run try_once(arg, rep, err) until it succeeds, fails otherwise, or has
 * failed on locks 1 + rep->lock_retries times (as its last try reported).
 * rep->attempt is set before each try (the driver copies it to
 * rep->tries for a step that waits for locks); rep->stall_ms sums the
 * tries that waited in vain. Out of tries: MG_EDB "could not take the locks for
 * '<description>' ..." with the hint to try later. Each retry is logged.
 * 0 or -1; rep must be zeroed by the caller.
 */
int mg_lockretry_run(mg_lockretry_try_fn try_once, void *arg,
		     const char *description, struct mg_step_report *rep,
		     struct mg_err *err);

#endif
