/*
 * test_keyset.c - the integer key arithmetic of the backfill (src/keyset.c).
 *
 * The story: a key is an integer key only when it is one column of one of
 * the driver's integer types, whatever the case of the name; a batch after
 * a key ends batch_size further on, unless the end of the range is nearer;
 * a range is cut into equal parts whose cut points ascend strictly inside
 * it, and a range narrower than the number of parts is not cut at all.
 * Checkpointed keys are resumed with these numbers, so they are pinned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "keyset.h"

static const char *const ints[] = { "smallint", "integer", "bigint", NULL };

static void free_key(char **k)
{
	if (!k)
		return;
	free(k[0]);
	free(k);
}

static void free_bounds(char ***b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free_key(b[i]);
	free(b);
}

static void test_integer_key(void **arg)
{
	char *cols[2] = { "\"id\"", "\"b\"" };
	char *types[2] = { "bigint", "integer" };
	struct mg_backfill_spec s = { .key_columns = cols, .key_types = types, .n_keys = 1 };

	(void)arg;
	assert_int_equal(mg_keyset_integer(&s, ints), 1);
	types[0] = "BIGINT";		/* MySQL spells types as it likes */
	assert_int_equal(mg_keyset_integer(&s, ints), 1);
	types[0] = "text";
	assert_int_equal(mg_keyset_integer(&s, ints), 0);
	types[0] = "bigint";
	s.n_keys = 2;			/* a composite key is never one */
	assert_int_equal(mg_keyset_integer(&s, ints), 0);
}

static void test_span_upper(void **arg)
{
	char *after[1] = { "100" }, *upto[1] = { "1000" };
	char **hi;

	(void)arg;
	hi = mg_keyset_span_upper(after, upto, 250);
	assert_non_null(hi);
	assert_string_equal(hi[0], "350");
	free_key(hi);
	/* the end of the range within batch_size: the batch ends there */
	assert_null(mg_keyset_span_upper(after, upto, 900));
	assert_null(mg_keyset_span_upper(after, upto, 1000));
	hi = mg_keyset_span_upper(after, upto, 899);
	assert_string_equal(hi[0], "999");
	free_key(hi);
	/* negative keys and big ones */
	after[0] = "-50";
	upto[0] = "9223372036854775000";
	hi = mg_keyset_span_upper(after, upto, 100);
	assert_string_equal(hi[0], "50");
	free_key(hi);
}

static void test_split_from_start(void **arg)
{
	char *upto[1] = { "100" };
	char ***b = NULL;
	size_t n = 99;

	(void)arg;
	/* no after key: the range starts at lo, so (lo - 1, upto] = (0, 100] */
	mg_keyset_split_span(NULL, upto, 1, 4, &b, &n);
	assert_int_equal(n, 3);
	assert_string_equal(b[0][0], "25");
	assert_string_equal(b[1][0], "50");
	assert_string_equal(b[2][0], "75");
	assert_null(b[3]);
	free_bounds(b, n);
}

static void test_split_after_key(void **arg)
{
	char *after[1] = { "1000" }, *upto[1] = { "1010" };
	char ***b = NULL;
	size_t n = 99;

	(void)arg;
	mg_keyset_split_span(after, upto, 0, 3, &b, &n);
	assert_int_equal(n, 2);
	assert_string_equal(b[0][0], "1003");
	assert_string_equal(b[1][0], "1006");
	free_bounds(b, n);
}

static void test_split_narrow_range(void **arg)
{
	char *after[1] = { "7" }, *upto[1] = { "9" };
	char ***b = NULL;
	size_t n = 99;

	(void)arg;
	/* two keys left for four workers: no cut, one part */
	mg_keyset_split_span(after, upto, 0, 4, &b, &n);
	assert_int_equal(n, 0);
	assert_non_null(b);
	free_bounds(b, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integer_key),
		cmocka_unit_test(test_span_upper),
		cmocka_unit_test(test_split_from_start),
		cmocka_unit_test(test_split_after_key),
		cmocka_unit_test(test_split_narrow_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
