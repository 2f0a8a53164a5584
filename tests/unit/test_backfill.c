/*
 * test_backfill.c - the adaptive batch size (src/backfill.c,
 * mg_backfill_next_size).
 *
 * The story: after a batch of `size` took `ms`, the next batch is scaled
 * toward the target time per batch; a fast batch at most doubles the size;
 * a batch within 20 % of the target keeps it; a slow batch cuts it at once,
 * in proportion, however much that is; the result never leaves
 * [MG_BATCH_FLOOR, MG_BATCH_CEILING]. Iterated against a server of steady
 * speed, the size settles where a batch takes about the target time and
 * stays there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include "backfill.h"

/* ---- growth ------------------------------------------------------------------ */

static void test_growth_capped_at_double(void **arg)
{
	(void)arg;
	/* a very fast batch: 100x under target, but only 2x growth */
	assert_int_equal(mg_backfill_next_size(1000, 1, 100), 2000);
	assert_int_equal(mg_backfill_next_size(1000, 10, 100), 2000);
	assert_int_equal(mg_backfill_next_size(5000, 2, 500), 10000);
	/* exactly half the target: the proportional answer is exactly 2x */
	assert_int_equal(mg_backfill_next_size(1000, 50, 100), 2000);
	/* 0 ms (a batch faster than the clock) counts as 1 ms, still capped */
	assert_int_equal(mg_backfill_next_size(1000, 0, 100), 2000);
	assert_int_equal(mg_backfill_next_size(1000, -5, 100), 2000);
}

static void test_growth_below_cap_is_proportional(void **arg)
{
	(void)arg;
	/* 60 ms of a 100 ms target: 1000 * 100 / 60 */
	assert_int_equal(mg_backfill_next_size(1000, 60, 100), 1666);
	/* just under the steady band (79 < 80) */
	assert_int_equal(mg_backfill_next_size(1000, 79, 100), 1265);
	assert_true(mg_backfill_next_size(3000, 70, 100) > 3000);
	assert_true(mg_backfill_next_size(3000, 70, 100) <= 6000);
}

/* ---- steady ------------------------------------------------------------------ */

static void test_steady_within_20_percent(void **arg)
{
	(void)arg;
	for (int64_t ms = 80; ms <= 120; ms++)
		assert_int_equal(mg_backfill_next_size(4321, ms, 100), 4321);
	/* the band scales with the target */
	assert_int_equal(mg_backfill_next_size(7000, 40, 50), 7000);
	assert_int_equal(mg_backfill_next_size(7000, 60, 50), 7000);
	assert_int_equal(mg_backfill_next_size(7000, 800, 1000), 7000);
	assert_int_equal(mg_backfill_next_size(7000, 1200, 1000), 7000);
	/* just outside the band, either way, the size moves */
	assert_int_not_equal(mg_backfill_next_size(7000, 39, 50), 7000);
	assert_int_not_equal(mg_backfill_next_size(7000, 61, 50), 7000);
	assert_int_not_equal(mg_backfill_next_size(7000, 799, 1000), 7000);
	assert_int_not_equal(mg_backfill_next_size(7000, 1201, 1000), 7000);
}

/* ---- cuts -------------------------------------------------------------------- */

static void test_slow_batch_cut_at_once_in_proportion(void **arg)
{
	(void)arg;
	/* 10x over target: a tenth, in one step */
	assert_int_equal(mg_backfill_next_size(10000, 1000, 100), 1000);
	/* 4x over: a quarter */
	assert_int_equal(mg_backfill_next_size(10000, 400, 100), 2500);
	/* just over the band (121 ms): 10000 * 100 / 121 */
	assert_int_equal(mg_backfill_next_size(10000, 121, 100), 8264);
	/* a batch that waited 1.5 s on a row lock, target 50 ms: 30x cut */
	assert_int_equal(mg_backfill_next_size(60000, 1500, 50), 2000);
	/* no limit on the size of the cut (down to the floor) */
	assert_int_equal(mg_backfill_next_size(200000, 100000, 100), 200);
}

/* ---- bounds ------------------------------------------------------------------ */

static void test_floor(void **arg)
{
	(void)arg;
	assert_int_equal(MG_BATCH_FLOOR, 100);
	assert_int_equal(mg_backfill_next_size(1000, 100000, 100), MG_BATCH_FLOOR);
	assert_int_equal(mg_backfill_next_size(MG_BATCH_FLOOR, 5000, 100), MG_BATCH_FLOOR);
	assert_int_equal(mg_backfill_next_size(150, 1000, 100), MG_BATCH_FLOOR);
	/* a size below the floor (a fixed one handed in) is lifted to it */
	assert_int_equal(mg_backfill_next_size(10, 100, 100), MG_BATCH_FLOOR);
	assert_int_equal(mg_backfill_next_size(1, INT64_MAX / 1000, 100), MG_BATCH_FLOOR);
}

static void test_ceiling(void **arg)
{
	(void)arg;
	assert_int_equal(MG_BATCH_CEILING, 200000);
	assert_int_equal(mg_backfill_next_size(150000, 1, 100), MG_BATCH_CEILING);
	assert_int_equal(mg_backfill_next_size(MG_BATCH_CEILING, 1, 100), MG_BATCH_CEILING);
	assert_int_equal(mg_backfill_next_size(MG_BATCH_CEILING, 100, 100), MG_BATCH_CEILING);
	/* no overflow with large sizes and targets */
	assert_int_equal(mg_backfill_next_size(MG_BATCH_CEILING, 1, INT_MAX), MG_BATCH_CEILING);
	assert_int_equal(mg_backfill_next_size(INT_MAX / 2, 1, INT_MAX), MG_BATCH_CEILING);
	/* a target below 1 ms counts as 1 ms: still within the bounds */
	assert_int_equal(mg_backfill_next_size(1000, 1, 0), 1000);
	assert_int_equal(mg_backfill_next_size(1000, 10, 0), MG_BATCH_FLOOR);
}

/* ---- a run against a server of steady speed -------------------------------- */

/* The batch time of a server that copies `rows_per_ms` rows a millisecond. */
static int64_t batch_ms(int size, int rows_per_ms)
{
	return (int64_t)size / rows_per_ms;
}

static void converges(int rows_per_ms, int target_ms)
{
	int size = MG_BATCH_START, prev;
	int64_t ms;

	for (int i = 0; i < 40; i++) {
		prev = size;
		size = mg_backfill_next_size(size, batch_ms(size, rows_per_ms), target_ms);
		/* every step: at most double, within the bounds */
		assert_true(size <= 2 * prev);
		assert_true(size >= MG_BATCH_FLOOR && size <= MG_BATCH_CEILING);
	}
	/* settled: a batch takes the target within 20 %, and the size holds */
	ms = batch_ms(size, rows_per_ms);
	assert_true(ms * 10 >= (int64_t)target_ms * 8);
	assert_true(ms * 10 <= (int64_t)target_ms * 12);
	assert_int_equal(mg_backfill_next_size(size, ms, target_ms), size);
}

static void test_converges_to_target(void **arg)
{
	(void)arg;
	converges(50, 100);	/* about 5000 rows a batch */
	converges(20, 100);
	converges(7, 250);
	converges(100, 50);
	converges(300, 100);	/* grows 1000 -> ~30000 in steps of 2x */
}

static void test_recovers_after_slow_batch(void **arg)
{
	int size = 8000, steps = 0;

	(void)arg;
	/* one batch stuck 2 s on a lock: the next is cut 40x */
	size = mg_backfill_next_size(size, 2000, 50);
	assert_int_equal(size, 200);
	/* then fast batches (1 ms per 200 rows) double it back, 2x a step */
	while (size < 8000) {
		int next = mg_backfill_next_size(size, size / 200, 50);

		assert_true(next <= 2 * size);
		assert_true(next > size);
		size = next;
		steps++;
	}
	assert_true(steps >= 5);	/* 200 -> 8000 needs at least 5 doublings */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth_capped_at_double),
		cmocka_unit_test(test_growth_below_cap_is_proportional),
		cmocka_unit_test(test_steady_within_20_percent),
		cmocka_unit_test(test_slow_batch_cut_at_once_in_proportion),
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_ceiling),
		cmocka_unit_test(test_converges_to_target),
		cmocka_unit_test(test_recovers_after_slow_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
