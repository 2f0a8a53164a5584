/*
 * lockretry.c - the lock-retry loop of a step (see lockretry.h). It was
 * written once per driver; the wording of its messages is the one both
 * had.
 */
#include "lockretry.h"

static int out_of_tries(const char *description, const struct mg_step_report *rep,
			int64_t start, struct mg_err *err)
{
	mg_err_set(err, MG_EDB,
		   "could not take the locks for '%s' within %d ms after %d tries (%.1f s stalled in all)",
		   description, rep->lock_wait_ms, rep->attempt,
		   (double)(mg_now_ms() - start) / 1000.0);
	return mg_err_hint(err, "the table is busy with long-running statements; run the command again later or raise --lock-timeout");
}

int mg_lockretry_run(mg_lockretry_try_fn try_once, void *arg,
		     const char *description, struct mg_step_report *rep,
		     struct mg_err *err)
{
	int64_t start = mg_now_ms();

	for (int attempt = 0;; attempt++) {
		int64_t t0 = mg_now_ms();
		int64_t wait;

		rep->attempt = attempt + 1;
		rep->lock_wait = 0;
		if (try_once(arg, rep, err) == 0)
			return 0;
		if (!rep->lock_wait)
			return -1;
		rep->stall_ms += mg_now_ms() - t0;
		if (attempt >= rep->lock_retries)
			return out_of_tries(description, rep, start, err);
		wait = mg_backoff_ms(attempt);
		mg_info("  lock not granted within %d ms (try %d of %d): retrying in %lld ms",
			rep->lock_wait_ms, attempt + 1, rep->lock_retries + 1,
			(long long)wait);
		mg_sleep_ms(wait);
	}
}
