/*
 * test_lockretry.c - the lock-retry loop of a step (src/lockretry.c),
 * against a fake try.
 *
 * The story: a try that succeeds is not tried again; a try that fails for
 * any reason but a lock wait is not tried again and keeps its error; a
 * try that fails waiting for locks is tried again, up to lock_retries more
 * times as the driver reported, with the try's number handed to each try
 * and the driver's progress kept between tries; the time of the tries
 * that waited is the stall; out of tries, the error names the step, the
 * wait per try and the number of tries, and says what to do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lockretry.h"

/* The fake: fails waiting for locks `lock_fails` times (sleeping
 * `wait_ms` each), then ends with `final` (0, or -1 with a database error
 * that is no lock wait). */
struct fake {
	int lock_fails;
	int wait_ms;
	int retries;
	int final;
	int calls;
	int attempts[16];
	int progress_seen[16];
};

static int fake_try(void *arg, struct mg_step_report *rep, struct mg_err *err)
{
	struct fake *f = arg;

	f->attempts[f->calls] = rep->attempt;
	f->progress_seen[f->calls] = rep->progress;
	f->calls++;
	rep->tries = rep->attempt;
	rep->lock_wait_ms = 500;
	rep->lock_retries = f->retries;
	if (f->calls <= f->lock_fails) {
		mg_sleep_ms(f->wait_ms);
		rep->lock_wait = 1;
		rep->progress = f->calls;	/* e.g. an ALGORITHM level */
		return mg_err_set(err, MG_EDB, "Lock wait timeout exceeded");
	}
	if (f->final < 0)
		return mg_err_set(err, MG_EDB, "syntax error at or near \"ALTR\"");
	return 0;
}

static void test_success_first_try(void **arg)
{
	struct fake f = { .retries = 5 };
	struct mg_step_report rep;
	struct mg_err err = MG_ERR_INIT;

	(void)arg;
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(mg_lockretry_run(fake_try, &f, "add column", &rep, &err), 0);
	assert_int_equal(f.calls, 1);
	assert_int_equal(rep.tries, 1);
	assert_int_equal(rep.stall_ms, 0);
}

static void test_other_error_not_retried(void **arg)
{
	struct fake f = { .retries = 5, .final = -1 };
	struct mg_step_report rep;
	struct mg_err err = MG_ERR_INIT;

	(void)arg;
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(mg_lockretry_run(fake_try, &f, "add column", &rep, &err), -1);
	assert_int_equal(f.calls, 1);
	assert_int_equal(err.code, MG_EDB);
	assert_string_equal(err.msg, "syntax error at or near \"ALTR\"");
}

static void test_lock_wait_retried(void **arg)
{
	struct fake f = { .lock_fails = 2, .wait_ms = 20, .retries = 5 };
	struct mg_step_report rep;
	struct mg_err err = MG_ERR_INIT;

	int64_t start, took;

	(void)arg;
	memset(&rep, 0, sizeof(rep));
	start = mg_now_ms();
	assert_int_equal(mg_lockretry_run(fake_try, &f, "add column", &rep, &err), 0);
	took = mg_now_ms() - start;
	assert_int_equal(f.calls, 3);
	assert_int_equal(rep.tries, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(f.attempts[i], i + 1);
		assert_int_equal(f.progress_seen[i], i);	/* kept between tries */
	}
	/* the two tries that waited, not the two backoffs between the tries
	 * (50 ms at least each): bounds that hold on a loaded machine too */
	assert_true(rep.stall_ms >= 40);
	assert_true(rep.stall_ms <= took - 2 * 50 + 2);
}

static void test_out_of_tries(void **arg)
{
	struct fake f = { .lock_fails = 10, .retries = 2 };
	struct mg_step_report rep;
	struct mg_err err = MG_ERR_INIT;

	(void)arg;
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(mg_lockretry_run(fake_try, &f, "add column", &rep, &err), -1);
	assert_int_equal(f.calls, 3);		/* the first and 2 retries */
	assert_int_equal(rep.tries, 3);
	assert_int_equal(err.code, MG_EDB);
	assert_non_null(strstr(err.msg,
		"could not take the locks for 'add column' within 500 ms after 3 tries ("));
	assert_non_null(strstr(err.msg, " s stalled in all)"));
	assert_string_equal(err.hint, "the table is busy with long-running statements; run the command again later or raise --lock-timeout");
}

static void test_no_retries(void **arg)
{
	struct fake f = { .lock_fails = 10, .retries = 0 };
	struct mg_step_report rep;
	struct mg_err err = MG_ERR_INIT;

	(void)arg;
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(mg_lockretry_run(fake_try, &f, "add column", &rep, &err), -1);
	assert_int_equal(f.calls, 1);
	assert_non_null(strstr(err.msg, "after 1 tries"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_first_try),
		cmocka_unit_test(test_other_error_not_retried),
		cmocka_unit_test(test_lock_wait_retried),
		cmocka_unit_test(test_out_of_tries),
		cmocka_unit_test(test_no_retries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
