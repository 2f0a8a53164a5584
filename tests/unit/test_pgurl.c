/*
 * test_pgurl.c - migrate's own PostgreSQL URL parameters (standby=,
 * pooler=: drivers/postgres/url.c), offline.
 *
 * The story: the places come out of the URL in order, each as host and
 * port (IPv6 in brackets too), and libpq gets the URL without them, its
 * own parameters kept in order; a value that is not HOST:PORT is bad input
 * naming the parameter and quoting nothing of the URL (a password stays
 * out of the message); a conninfo string and a URL without them pass
 * through untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "postgres/url.h"

static void places_come_out_in_order(void **arg)
{
	struct pgdrv_places p;
	struct mg_err err = MG_ERR_INIT;
	char *url;

	(void)arg;
	assert_int_equal(pgdrv_take_places("postgresql://app:s3cret@db:5432/shop?sslmode=disable"
					   "&standby=replica1:5433&pooler=[::1]:6432"
					   "&connect_timeout=5&standby=10.0.0.7:5432",
					   &url, &p, &err), 0);
	assert_string_equal(url, "postgresql://app:s3cret@db:5432/shop?sslmode=disable&connect_timeout=5");
	assert_int_equal(p.n, 3);
	assert_int_equal(p.list[0].kind, PGDRV_STANDBY);
	assert_string_equal(p.list[0].host, "replica1");
	assert_int_equal(p.list[0].port, 5433);
	assert_string_equal(p.list[0].name, "replica1:5433");
	assert_int_equal(p.list[1].kind, PGDRV_POOLER);
	assert_string_equal(p.list[1].host, "::1");
	assert_string_equal(p.list[1].name, "[::1]:6432");
	assert_string_equal(p.list[2].host, "10.0.0.7");
	assert_int_equal(pgdrv_places_count(&p, PGDRV_STANDBY), 2);
	assert_int_equal(pgdrv_places_count(&p, PGDRV_POOLER), 1);
	free(url);
	pgdrv_places_release(&p);
}

static void only_places_leave_no_question_mark(void **arg)
{
	struct pgdrv_places p;
	struct mg_err err = MG_ERR_INIT;
	char *url;

	(void)arg;
	assert_int_equal(pgdrv_take_places("postgres://app@db/shop?pooler=pgb:6432", &url, &p, &err), 0);
	assert_string_equal(url, "postgres://app@db/shop");
	assert_int_equal(p.n, 1);
	free(url);
	pgdrv_places_release(&p);
}

static void without_places_nothing_changes(void **arg)
{
	const char *urls[] = {
		"postgres://app@db/shop", "postgres://app@db/shop?sslmode=require",
		"host=/tmp port=5432 dbname=shop", "postgres://app@db/shop?application_name=standbyish",
	};
	struct pgdrv_places p;
	struct mg_err err = MG_ERR_INIT;
	char *url;

	(void)arg;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		assert_int_equal(pgdrv_take_places(urls[i], &url, &p, &err), 0);
		assert_string_equal(url, urls[i]);
		assert_int_equal(p.n, 0);
		free(url);
		pgdrv_places_release(&p);
	}
}

static void a_bad_place_is_bad_input_naming_it(void **arg)
{
	const char *bad[] = {
		"postgres://app:hunter2@db/shop?standby=replica1",
		"postgres://app:hunter2@db/shop?standby=replica1:",
		"postgres://app:hunter2@db/shop?standby=:5432",
		"postgres://app:hunter2@db/shop?standby=replica1:99999",
		"postgres://app:hunter2@db/shop?standby=replica1:54x",
		"postgres://app:hunter2@db/shop?pooler=[::1]6432",
	};

	(void)arg;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pgdrv_places p;
		struct mg_err err = MG_ERR_INIT;
		char *url = (char *)"unchanged";

		assert_int_equal(pgdrv_take_places(bad[i], &url, &p, &err), -1);
		assert_int_equal(err.code, MG_EINPUT);
		assert_null(url);
		assert_int_equal(p.n, 0);
		assert_non_null(strstr(err.msg, i < 5 ? "'standby'" : "'pooler'"));
		assert_null(strstr(err.msg, "hunter2"));
		assert_null(strstr(err.hint, "hunter2"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(places_come_out_in_order),
		cmocka_unit_test(only_places_leave_no_question_mark),
		cmocka_unit_test(without_places_nothing_changes),
		cmocka_unit_test(a_bad_place_is_bad_input_naming_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
