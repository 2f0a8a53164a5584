/*
 * test_planjson.c - a plan survives the trip through the state store's JSON
 * unchanged, and a plan this version cannot read is refused as a whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "plan.h"

static void test_names(void **arg)
{
	enum mg_phase p;

	(void)arg;
	assert_string_equal(mg_phase_name(MG_PHASE_PENDING), "pending");
	assert_string_equal(mg_phase_name(MG_PHASE_EXPANDED), "expanded");
	assert_string_equal(mg_phase_name(MG_PHASE_BACKFILLED), "backfilled");
	assert_string_equal(mg_phase_name(MG_PHASE_SWITCHED), "switched");
	assert_string_equal(mg_phase_name(MG_PHASE_CONTRACTED), "contracted");
	assert_int_equal(mg_phase_parse("switched", &p), 0);
	assert_int_equal(p, MG_PHASE_SWITCHED);
	assert_int_equal(mg_phase_parse("pending", &p), 0);
	assert_int_equal(p, MG_PHASE_PENDING);
	assert_int_equal(mg_phase_parse("Switched", &p), -1);
	assert_int_equal(mg_phase_parse("", &p), -1);
	assert_int_equal(mg_phase_parse(NULL, &p), -1);

	assert_string_equal(mg_plan_phase_name(MG_PLAN_EXPAND), "expand");
	assert_string_equal(mg_plan_phase_name(MG_PLAN_BACKFILL), "backfill");
	assert_string_equal(mg_plan_phase_name(MG_PLAN_SWITCH_READS),
			    "switch-reads");
	assert_string_equal(mg_plan_phase_name(MG_PLAN_CONTRACT), "contract");
	assert_string_equal(mg_plan_phase_name(MG_PLAN_ROLLBACK), "rollback");
}

static char **strings(const char *a, const char *b)
{
	char **v = mg_xcalloc(2, sizeof(*v));

	v[0] = mg_xstrdup(a);
	v[1] = mg_xstrdup(b);
	return v;
}

/* A plan touching every field: three kinds, NULLs, two backfills. */
static void build(struct mg_plan *p)
{
	struct mg_backfill_spec *b;

	mg_plan_init(p);
	mg_plan_add_step(p, MG_PLAN_EXPAND, MG_STEP_TX, "\"public\".\"users\"",
			 "add column \"username\" to \"users\"",
			 "ALTER TABLE \"public\".\"users\" ADD COLUMN \"username\" text;\n"
			 "-- a comment with 'quotes', a tab\tand ünïcödé",
			 NULL);
	mg_plan_add_step(p, MG_PLAN_EXPAND, MG_STEP_NOTX, "\"public\".\"users\"",
			 "create index \"users_username\"",
			 "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"users_username\""
			 " ON \"public\".\"users\" (\"username\")",
			 "\"public\".\"users_username\"");
	mg_plan_add_step(p, MG_PLAN_BACKFILL, MG_STEP_ASSERT, NULL,
			 "no row left unfilled",
			 "SELECT 'row ' || id FROM users WHERE username IS NULL",
			 NULL);
	mg_plan_add_step(p, MG_PLAN_CONTRACT, MG_STEP_TX, "\"public\".\"users\"",
			 "drop column \"user_name\"",
			 "ALTER TABLE \"public\".\"users\" DROP COLUMN \"user_name\"",
			 NULL);
	mg_plan_add_step(p, MG_PLAN_ROLLBACK, MG_STEP_TX, NULL, NULL,
			 "DROP TRIGGER IF EXISTS t ON users", NULL);

	b = mg_plan_add_backfill(p);
	b->table = mg_xstrdup("\"public\".\"users\"");
	b->key_columns = strings("\"tenant\"", "\"id\"");
	b->key_types = strings("integer", "bigint");
	b->n_keys = 2;
	b->set_clause = mg_xstrdup("\"username\" = (\"user_name\")");
	b->marker = mg_xstrdup("\"_migrate_3\"");
	b->mismatch = mg_xstrdup("\"username\" IS DISTINCT FROM \"user_name\"");
	b->session_sql = mg_xstrdup("SET LOCAL migrate.backfill = 'on'");

	b = mg_plan_add_backfill(p);
	b->table = mg_xstrdup("\"public\".\"accounts\"");
	b->key_columns = strings("\"a\"", "\"b\"");
	b->key_types = strings("text", "uuid");
	b->n_keys = 2;
	b->set_clause = mg_xstrdup("\"x\" = 1");
	/* marker, mismatch and session_sql left NULL */

	mg_plan_add_lossy(p, "\"user_name\" values longer than 32 characters");
	mg_plan_add_note(p, "trigger \"audit\" fires for each backfilled row");
	mg_plan_add_note(p, "ACCESS EXCLUSIVE lock on \"users\" for a moment");
	p->rollback_refused = 1;
	p->rollback_refusal = mg_xstrdup("sql step 2 has no down");
}

static void assert_str_or_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_plans_equal(const struct mg_plan *a, const struct mg_plan *b)
{
	size_t ph, i, k;

	for (ph = 0; ph < MG_PLAN_NPHASES; ph++) {
		assert_int_equal(a->n_steps[ph], b->n_steps[ph]);
		for (i = 0; i < a->n_steps[ph]; i++) {
			const struct mg_step *x = &a->steps[ph][i];
			const struct mg_step *y = &b->steps[ph][i];

			assert_int_equal(x->kind, y->kind);
			assert_str_or_null(x->table, y->table);
			assert_str_or_null(x->description, y->description);
			assert_str_or_null(x->sql, y->sql);
			assert_str_or_null(x->object, y->object);
		}
	}
	assert_int_equal(a->n_backfills, b->n_backfills);
	for (i = 0; i < a->n_backfills; i++) {
		const struct mg_backfill_spec *x = &a->backfills[i];
		const struct mg_backfill_spec *y = &b->backfills[i];

		assert_str_or_null(x->table, y->table);
		assert_int_equal(x->n_keys, y->n_keys);
		for (k = 0; k < x->n_keys; k++) {
			assert_string_equal(x->key_columns[k], y->key_columns[k]);
			assert_string_equal(x->key_types[k], y->key_types[k]);
		}
		assert_str_or_null(x->set_clause, y->set_clause);
		assert_str_or_null(x->marker, y->marker);
		assert_str_or_null(x->mismatch, y->mismatch);
		assert_str_or_null(x->session_sql, y->session_sql);
	}
	assert_int_equal(a->n_lossy, b->n_lossy);
	for (i = 0; i < a->n_lossy; i++)
		assert_string_equal(a->lossy[i], b->lossy[i]);
	assert_int_equal(a->n_notes, b->n_notes);
	for (i = 0; i < a->n_notes; i++)
		assert_string_equal(a->notes[i], b->notes[i]);
	assert_int_equal(a->rollback_refused, b->rollback_refused);
	assert_str_or_null(a->rollback_refusal, b->rollback_refusal);
}

static void test_round_trip(void **arg)
{
	struct mg_plan p, q;
	struct mg_err err = MG_ERR_INIT;
	char *json, *again;

	(void)arg;
	build(&p);
	json = mg_plan_to_json(&p);
	assert_non_null(json);
	assert_int_equal(mg_plan_from_json(&q, json, &err), 0);
	assert_plans_equal(&p, &q);
	assert_int_equal(q.n_steps[MG_PLAN_EXPAND], 2);
	assert_int_equal(q.steps[MG_PLAN_EXPAND][1].kind, MG_STEP_NOTX);
	assert_int_equal(q.steps[MG_PLAN_BACKFILL][0].kind, MG_STEP_ASSERT);
	assert_null(q.steps[MG_PLAN_ROLLBACK][0].description);
	assert_null(q.backfills[1].session_sql);
	assert_int_equal(q.n_steps[MG_PLAN_SWITCH_READS], 0);

	/* the text is stable: writing what was read gives the same text */
	again = mg_plan_to_json(&q);
	assert_string_equal(json, again);
	assert_non_null(strstr(json, "\"version\":1"));
	assert_non_null(strstr(json, "\"switch-reads\":[]"));
	assert_non_null(strstr(json, "\"kind\":\"notx\""));
	free(again);
	free(json);
	mg_plan_release(&q);
	mg_plan_release(&p);
	/* released plans are empty and may be released again */
	mg_plan_release(&p);
	assert_int_equal(p.n_backfills, 0);
}

static void test_empty_plan(void **arg)
{
	struct mg_plan p = MG_PLAN_INIT, q;
	struct mg_err err = MG_ERR_INIT;
	char *json;

	(void)arg;
	json = mg_plan_to_json(&p);
	assert_non_null(json);
	assert_int_equal(mg_plan_from_json(&q, json, &err), 0);
	assert_plans_equal(&p, &q);
	assert_null(q.rollback_refusal);
	assert_int_equal(q.rollback_refused, 0);
	free(json);
	mg_plan_release(&q);

	/* absent fields read as empty / NULL */
	assert_int_equal(mg_plan_from_json(&q, "{\"version\":1,\"phases\":"
					   "{\"contract\":[{\"kind\":\"tx\","
					   "\"sql\":\"DROP\"}]}}", &err), 0);
	assert_int_equal(q.n_steps[MG_PLAN_CONTRACT], 1);
	assert_string_equal(q.steps[MG_PLAN_CONTRACT][0].sql, "DROP");
	assert_null(q.steps[MG_PLAN_CONTRACT][0].table);
	assert_int_equal(q.n_backfills, 0);
	assert_int_equal(q.n_notes, 0);
	mg_plan_release(&q);
}

static void expect_bad(const char *json, const char *detail)
{
	struct mg_plan q;
	struct mg_err err = MG_ERR_INIT;

	assert_int_equal(mg_plan_from_json(&q, json, &err), -1);
	assert_int_equal(err.code, MG_EDB);
	assert_true(strncmp(err.msg, "recorded plan cannot be read: ",
			    strlen("recorded plan cannot be read: ")) == 0);
	if (!strstr(err.msg, detail))
		fail_msg("'%s' does not mention '%s'", err.msg, detail);
	/* nothing half-built is left to free */
	assert_int_equal(q.n_steps[MG_PLAN_EXPAND], 0);
	assert_null(q.backfills);
	mg_plan_release(&q);
}

static void test_bad_json(void **arg)
{
	(void)arg;
	expect_bad("{\"version\":1,", "invalid JSON at line 1");
	expect_bad("", "invalid JSON");
	expect_bad(NULL, "no plan recorded");
	expect_bad("[]", "not an object");
	expect_bad("{\"phases\":{}}", "no version");
	expect_bad("{\"version\":2}", "plan version 2");
	expect_bad("{\"version\":1,\"phases\":{\"explode\":[]}}",
		   "unknown phase 'explode'");
	expect_bad("{\"version\":1,\"phases\":{\"expand\":{}}}",
		   "phases.expand is not an array");
	expect_bad("{\"version\":1,\"phases\":{\"expand\":[{\"kind\":\"tx\"},"
		   "{\"kind\":\"maybe\"}]}}",
		   "phases.expand[1] has unknown step kind 'maybe'");
	expect_bad("{\"version\":1,\"phases\":{\"expand\":[{\"sql\":\"x\"}]}}",
		   "phases.expand[0] has no kind");
	expect_bad("{\"version\":1,\"phases\":{\"expand\":[{\"kind\":\"tx\","
		   "\"sql\":5}]}}", "phases.expand[0].sql is not a string");
	expect_bad("{\"version\":1,\"backfills\":[{\"table\":\"t\","
		   "\"key_columns\":[\"a\",\"b\"],\"key_types\":[\"int\"]}]}",
		   "backfills[0] has key_types and key_columns of different lengths");
	expect_bad("{\"version\":1,\"backfills\":[{\"key_columns\":[\"a\",1],"
		   "\"key_types\":[\"int\",\"int\"]}]}",
		   "backfills[0].key_columns holds a value that is not a string");
	expect_bad("{\"version\":1,\"notes\":\"x\"}", "notes is not an array");
	expect_bad("{\"version\":1,\"rollback_refused\":\"yes\"}",
		   "rollback_refused is not a boolean");
	expect_bad("{\"version\":1,\"version\":1}", "invalid JSON");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_plan),
		cmocka_unit_test(test_bad_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
