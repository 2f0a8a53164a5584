/*
 * testhooks.c - see testhooks.h. Compiled with MG_TEST_HOOKS only into the
 * test build; the release build gets the empty bodies.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testhooks.h"

#ifdef MG_TEST_HOOKS

const int mg_test_hooks_compiled = 1;

void mg_fault_point(const char *phase, int step, int batch)
{
	const char *spec = getenv("MIGRATE_FAULT");
	char want[128];

	if (!spec || !*spec)
		return;
	if (batch > 0)
		snprintf(want, sizeof(want), "%s:%d:%d", phase, step, batch);
	else
		snprintf(want, sizeof(want), "%s:%d", phase, step);
	if (strcmp(spec, want) != 0)
		return;
	fprintf(stderr, "migrate: MIGRATE_FAULT %s reached, killing the process\n",
		spec);
	fflush(stderr);
	kill(getpid(), SIGKILL);
	pause();
}

int mg_hook_lag_ms(int64_t *out)
{
	const char *fake = getenv("MIGRATE_TEST_LAG_MS");

	if (!fake || !*fake)
		return 0;
	if (!strcmp(fake, "unknown"))
		return -1;
	*out = strtoll(fake, NULL, 10);
	return 1;
}

unsigned long mg_hook_driver_number(const char *name)
{
	const char *hook;

	if (strncmp(name, "MIGRATE_TEST_", 13) != 0)
		abort();	/* only test variables steer a test build */
	hook = getenv(name);
	return hook ? strtoul(hook, NULL, 10) : 0;
}

#else

const int mg_test_hooks_compiled = 0;

void mg_fault_point(const char *phase, int step, int batch)
{
	(void)phase;
	(void)step;
	(void)batch;
}

int mg_hook_lag_ms(int64_t *out)
{
	(void)out;
	return 0;
}

unsigned long mg_hook_driver_number(const char *name)
{
	(void)name;
	return 0;
}

#endif
