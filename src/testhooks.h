/*
 * testhooks.h - the test build's hooks, in one place.
 *
 * src/testhooks.c is compiled twice: with MG_TEST_HOOKS into the test build
 * (cmake -DMIGRATE_TEST_HOOKS=ON, which scripts/test.sh sets) and without it
 * into every release build, where each function below is a no-op that says
 * "no hook". Nothing else in src/ or drivers/ reads a test variable, so a
 * release binary cannot be steered by MIGRATE_FAULT or MIGRATE_TEST_*.
 */
#ifndef MG_TESTHOOKS_H
#define MG_TESTHOOKS_H

#include <stdint.h>

/* 1 in a test build, 0 in a release build (`migrate --version` says so). */
extern const int mg_test_hooks_compiled;

/*
 * MIGRATE_FAULT=<phase>:<step>[:<batch>]. Returns when the point does not
 * match (always in a release build); otherwise kills the process with
 * SIGKILL, as a crash would. Step and batch are the caller's 1-based
 * counters.
 */
void mg_fault_point(const char *phase, int step, int batch);

/*
 * MIGRATE_TEST_LAG_MS=<n|unknown>: 0 when not set (read the server), 1 with
 * *out set to n, -1 for "unknown" (the caller reports the lag as unreadable).
 */
int mg_hook_lag_ms(int64_t *out);

/*
 * A driver's own test variable, named by the driver that reads it (its
 * table entry's test_variable), as a number: 0 when not set, and always
 * in a release build. name must start with MIGRATE_TEST_.
 */
unsigned long mg_hook_driver_number(const char *name);

#endif
