/*
 * test_lint_phase.c - the phase and lock rules of `migrate lint`
 * (src/lint_rules_phase.c) over facts built by hand, without a driver:
 * what the corpus (tests/lint/cases) cannot pin down because no driver
 * gives such facts today, or because only the absence of a finding shows
 * it. Which objects count as new to the migration (schema-qualified and
 * quoted names, order of phases and statements, a table dropped and made
 * again), SET NOT NULL after a validated check, CONCURRENTLY with several
 * statements, and facts whose names are all missing (never a crash, never
 * "(null)" in a message).
 *
 * mg_lint_add is replaced by a recorder: the engine (lint.c) is not linked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lint_facts.h"
#include "lint_rules.h"

/* ---- the recorder ------------------------------------------------------ */

static int n_found;
static char last_msg[512];
static int messages_ok = 1;

void mg_lint_add(struct mg_lint_ctx *c, struct mg_pos pos, const char *value,
		 int offset, const char *hint, const char *fmt, ...)
{
	va_list ap;

	(void)c;
	(void)pos;
	(void)value;
	(void)offset;
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	if (!last_msg[0] || strstr(last_msg, "(null)") || (hint && strstr(hint, "(null)")))
		messages_ok = 0;
	n_found++;
}

/* ---- a migration made by hand ------------------------------------------ */

static const struct mg_driver pg_like = { .name = "pg-like",
	.caps = MG_CAP_TRANSACTIONAL_DDL | MG_CAP_CONCURRENT_INDEX };
static const struct mg_driver my_like = { .name = "my-like",
	.caps = MG_CAP_PLACEHOLDER_NOT_NULL };

#define MAXV 8

struct fixture {
	struct mg_op ops[MAXV];
	struct mg_migration m;
	struct mg_lint_value values[MAXV];
	struct mg_lint_ctx c;
};

static void fixture_init(struct fixture *f, const struct mg_driver *drv)
{
	memset(f, 0, sizeof(*f));
	f->m.path = "0001_t.yaml";
	f->m.ops = f->ops;
	f->c.drv = drv;
	f->c.m = &f->m;
	f->c.values = f->values;
	n_found = 0;
	last_msg[0] = '\0';
}

/* A sql step (in_transaction as given) whose phase holds the facts. */
static void sql_step(struct fixture *f, enum mg_sql_phase phase, int in_tx,
		     struct mg_sql_fact *facts, size_t n)
{
	struct mg_op *op = &f->ops[f->m.n_ops];
	struct mg_lint_value *v = &f->values[f->c.n_values++];

	op->kind = MG_OP_SQL;
	op->in_transaction = in_tx;
	op->sql[phase] = "SQL";
	v->op = f->m.n_ops++;
	v->field = mg_sql_phase_name(phase);
	v->phase = phase;
	v->kind = MG_LINT_STATEMENTS;
	v->value = "SQL";
	v->facts.items = facts;
	v->facts.n = n;
}

/* One more phase of the last sql step. */
static void sql_phase(struct fixture *f, enum mg_sql_phase phase,
		      struct mg_sql_fact *facts, size_t n)
{
	struct mg_lint_value *v = &f->values[f->c.n_values++];

	f->ops[f->m.n_ops - 1].sql[phase] = "SQL";
	v->op = f->m.n_ops - 1;
	v->field = mg_sql_phase_name(phase);
	v->phase = phase;
	v->kind = MG_LINT_STATEMENTS;
	v->value = "SQL";
	v->facts.items = facts;
	v->facts.n = n;
}

#define FACT(k, fl, t, n, d) { MG_FACT_##k, (fl), 0, (char *)(t), (char *)(n), (char *)(d) }
#define RUN(rule, f) (n_found = 0, mg_lint_##rule(&(f)->c), n_found)

/* ---- new objects ------------------------------------------------------- */

static void test_table_created_before_is_new(void **state)
{
	struct fixture f;
	struct mg_sql_fact facts[] = {
		FACT(CREATE_TABLE, 0, "public.orders", NULL, NULL),
		FACT(CREATE_INDEX, 0, "\"orders\"", "orders_a_idx", NULL),
		FACT(CREATE_INDEX, 0, "customers", "customers_a_idx", NULL),
	};

	(void)state;
	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, facts, 3);
	assert_int_equal(RUN(index_not_concurrent, &f), 1);
	assert_non_null(strstr(last_msg, "customers"));
}

static void test_create_after_use_is_not_new(void **state)
{
	struct fixture f;
	struct mg_sql_fact facts[] = {
		FACT(DROP_TABLE, 0, "sessions", NULL, NULL),
		FACT(CREATE_TABLE, 0, "sessions", NULL, NULL),
	};

	(void)state;
	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, facts, 2);
	/* dropped and made again: the old version's rows are gone */
	assert_int_equal(RUN(expand_breaks_old, &f), 1);
}

static void test_native_create_table_is_new(void **state)
{
	struct fixture f;
	struct mg_sql_fact facts[] = {
		FACT(ADD_CONSTRAINT, MG_FACTF_FOREIGN_KEY, "tags", "tags_fk", NULL),
		FACT(ADD_CONSTRAINT, MG_FACTF_UNIQUE, "tags", "tags_key", NULL),
		FACT(ALTER_TYPE, MG_FACTF_REWRITES | MG_FACTF_NARROWS, "tags", "label", "varchar(10)"),
		FACT(UPDATE, MG_FACTF_NO_WHERE, "tags", NULL, NULL),
	};

	(void)state;
	fixture_init(&f, &pg_like);
	f.ops[0].kind = MG_OP_CREATE_TABLE;
	f.ops[0].table = "tags";
	f.m.n_ops = 1;
	sql_step(&f, MG_SQL_EXPAND, 1, facts, 4);
	assert_int_equal(RUN(constraint_not_valid, &f), 0);
	assert_int_equal(RUN(unique_without_index, &f), 0);
	assert_int_equal(RUN(type_rewrite, &f), 0);
	assert_int_equal(RUN(expand_breaks_old, &f), 0);
	assert_int_equal(RUN(update_in_expand, &f), 0);
}

static void test_set_not_null_on_added_column(void **state)
{
	struct fixture f;
	struct mg_sql_fact with_default[] = {
		FACT(ADD_COLUMN, MG_FACTF_HAS_DEFAULT, "orders", "priority", NULL),
		FACT(SET_NOT_NULL, 0, "orders", "priority", NULL),
	};
	struct mg_sql_fact without[] = {
		FACT(ADD_COLUMN, 0, "orders", "priority", NULL),
		FACT(SET_NOT_NULL, 0, "orders", "priority", NULL),
	};

	(void)state;
	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, with_default, 2);
	assert_int_equal(RUN(expand_breaks_old, &f), 0);
	/* the lock is another matter: the table is not new */
	assert_int_equal(RUN(set_not_null, &f), 1);

	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, without, 2);
	/* the old version's inserts leave the new column NULL */
	assert_int_equal(RUN(expand_breaks_old, &f), 1);
}

static void test_renamed_column_is_unknown_to_old(void **state)
{
	struct fixture f;
	struct mg_sql_fact facts[] = {
		FACT(DROP_COLUMN, 0, "users", "full_name", NULL),
	};

	(void)state;
	fixture_init(&f, &pg_like);
	f.ops[0].kind = MG_OP_RENAME_COLUMN;
	f.ops[0].table = "users";
	f.ops[0].column = "name";
	f.ops[0].to = "full_name";
	f.m.n_ops = 1;
	sql_step(&f, MG_SQL_SWITCH_READS, 1, facts, 1);
	assert_int_equal(RUN(expand_breaks_old, &f), 0);
}

/* ---- phases ------------------------------------------------------------ */

static void test_breaks_old_only_while_it_runs(void **state)
{
	struct fixture f;
	struct mg_sql_fact facts[] = {
		FACT(DROP_COLUMN, 0, "orders", "legacy", NULL),
		FACT(SET_DEFAULT, 0, "orders", "status", NULL),	/* DROP DEFAULT */
		FACT(SET_DEFAULT, MG_FACTF_HAS_DEFAULT, "orders", "kind", NULL),
	};

	(void)state;
	for (int p = 0; p < MG_SQL_NPHASES; p++) {
		fixture_init(&f, &pg_like);
		sql_step(&f, (enum mg_sql_phase)p, 1, facts, 3);
		assert_int_equal(RUN(expand_breaks_old, &f),
				 p == MG_SQL_CONTRACT || p == MG_SQL_ROLLBACK ? 0 : 2);
	}
}

static void test_rollback_missing(void **state)
{
	struct fixture f;
	struct mg_sql_fact facts[] = { FACT(OTHER, 0, NULL, NULL, "INSERT") };

	(void)state;
	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, facts, 1);
	assert_int_equal(RUN(rollback_missing, &f), 1);
	sql_phase(&f, MG_SQL_ROLLBACK, facts, 1);
	assert_int_equal(RUN(rollback_missing, &f), 0);

	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_CONTRACT, 1, facts, 1);
	assert_int_equal(RUN(rollback_missing, &f), 0);
}

static void test_rerunnable_depends_on_the_dialect(void **state)
{
	struct fixture f;
	struct mg_sql_fact facts[] = {
		FACT(ADD_COLUMN, 0, "users", "locale", NULL),
		FACT(ADD_COLUMN, MG_FACTF_IF_NOT_EXISTS, "users", "tz", NULL),
		FACT(RENAME_COLUMN, MG_FACTF_IF_EXISTS, "users", "a", "b"),
		FACT(DROP_CONSTRAINT, 0, "users", "c", NULL),
	};

	(void)state;
	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, facts, 4);
	assert_int_equal(RUN(expand_not_rerunnable, &f), 0);	/* one transaction */
	f.ops[0].in_transaction = 0;
	assert_int_equal(RUN(expand_not_rerunnable, &f), 2);
	f.c.drv = &my_like;
	f.ops[0].in_transaction = 1;
	assert_int_equal(RUN(expand_not_rerunnable, &f), 2);	/* DDL commits */
}

/* ---- locks ------------------------------------------------------------- */

static void test_set_not_null_after_validated_check(void **state)
{
	struct fixture f;
	struct mg_sql_fact add[] = {
		FACT(ADD_CONSTRAINT, MG_FACTF_CHECK | MG_FACTF_NOT_VALID, "users", "nn",
		     "(\"Email\" IS  NOT NULL)"),
	};
	struct mg_sql_fact validate[] = { FACT(VALIDATE_CONSTRAINT, 0, "users", "nn", NULL) };
	struct mg_sql_fact set[] = { FACT(SET_NOT_NULL, 0, "public.users", "email", NULL) };
	struct mg_sql_fact set_then_validate[] = {
		FACT(SET_NOT_NULL, 0, "users", "email", NULL),
		FACT(VALIDATE_CONSTRAINT, 0, "users", "nn", NULL),
	};

	(void)state;
	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, add, 1);
	sql_phase(&f, MG_SQL_SWITCH_READS, validate, 1);
	sql_phase(&f, MG_SQL_CONTRACT, set, 1);
	assert_int_equal(RUN(set_not_null, &f), 0);

	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, add, 1);
	sql_phase(&f, MG_SQL_CONTRACT, set, 1);
	assert_int_equal(RUN(set_not_null, &f), 1);	/* never validated */

	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, add, 1);
	sql_phase(&f, MG_SQL_CONTRACT, set_then_validate, 2);
	assert_int_equal(RUN(set_not_null, &f), 1);	/* validated too late */
}

static void test_concurrently_and_statements(void **state)
{
	struct fixture f;
	struct mg_sql_fact one[] = {
		FACT(CREATE_INDEX, MG_FACTF_CONCURRENTLY | MG_FACTF_IF_NOT_EXISTS, "t", "i", NULL),
	};
	struct mg_sql_fact two[] = {
		FACT(CREATE_INDEX, MG_FACTF_CONCURRENTLY | MG_FACTF_IF_NOT_EXISTS, "t", "i", NULL),
		FACT(ADD_COLUMN, 0, "t", "c", NULL),
	};
	struct mg_sql_fact block[] = {
		FACT(TRANSACTION, MG_FACTF_IN_BLOCK, NULL, NULL, "BEGIN"),
		FACT(DROP_INDEX, MG_FACTF_CONCURRENTLY | MG_FACTF_IN_BLOCK, NULL, "i", NULL),
	};

	(void)state;
	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 0, one, 1);
	assert_int_equal(RUN(concurrently_in_transaction, &f), 0);
	assert_int_equal(RUN(index_not_concurrent, &f), 0);
	f.ops[0].in_transaction = 1;
	assert_int_equal(RUN(concurrently_in_transaction, &f), 1);

	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 0, two, 2);
	assert_int_equal(RUN(concurrently_in_transaction, &f), 1);

	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_CONTRACT, 0, block, 2);
	assert_int_equal(RUN(concurrently_in_transaction, &f), 1);
	assert_int_equal(RUN(transaction_control, &f), 1);

	/* no transactional DDL: the statement commits instead of failing */
	fixture_init(&f, &my_like);
	sql_step(&f, MG_SQL_EXPAND, 1, one, 1);
	assert_int_equal(RUN(concurrently_in_transaction, &f), 0);
}

static void test_drop_index_of_new_table(void **state)
{
	struct fixture f;
	struct mg_sql_fact expand[] = {
		FACT(CREATE_TABLE, 0, "shipments", NULL, NULL),
		FACT(CREATE_INDEX, 0, "shipments", "shipments_idx", NULL),
	};
	struct mg_sql_fact rollback[] = {
		FACT(DROP_INDEX, MG_FACTF_IF_EXISTS, NULL, "shipments_idx", NULL),
		FACT(DROP_INDEX, MG_FACTF_IF_EXISTS, NULL, "orders_idx", NULL),
	};

	(void)state;
	fixture_init(&f, &pg_like);
	sql_step(&f, MG_SQL_EXPAND, 1, expand, 2);
	sql_phase(&f, MG_SQL_ROLLBACK, rollback, 2);
	assert_int_equal(RUN(index_not_concurrent, &f), 1);
	assert_non_null(strstr(last_msg, "orders_idx"));
}

static void test_online_facts_are_not_lock_findings(void **state)
{
	struct fixture f;
	unsigned on = MG_FACTF_CONCURRENTLY;
	struct mg_sql_fact facts[] = {
		FACT(ALTER_TYPE, MG_FACTF_REWRITES | on, "t", "c", "BIGINT"),
		FACT(SET_NOT_NULL, on, "t", "c", NULL),
		FACT(ADD_CONSTRAINT, MG_FACTF_UNIQUE | on, "t", "k", NULL),
		FACT(VACUUM_FULL, on, "t", NULL, NULL),
		FACT(CREATE_INDEX, on | MG_FACTF_IF_NOT_EXISTS, "t", "i", NULL),
		FACT(DELETE, MG_FACTF_NO_WHERE, "t", NULL, "TRUNCATE"),
	};

	(void)state;
	fixture_init(&f, &my_like);
	sql_step(&f, MG_SQL_CONTRACT, 1, facts, 6);
	assert_int_equal(RUN(type_rewrite, &f), 0);
	assert_int_equal(RUN(set_not_null, &f), 0);
	assert_int_equal(RUN(unique_without_index, &f), 0);
	assert_int_equal(RUN(blocking_maintenance, &f), 0);
	assert_int_equal(RUN(index_not_concurrent, &f), 0);
	assert_int_equal(RUN(update_in_expand, &f), 0);	/* TRUNCATE */
}

/* ---- facts without names ----------------------------------------------- */

static void run_all(struct mg_lint_ctx *c)
{
	mg_lint_sql_syntax(c);
	mg_lint_expand_breaks_old(c);
	mg_lint_contract_adds(c);
	mg_lint_rollback_missing(c);
	mg_lint_expand_not_rerunnable(c);
	mg_lint_transaction_control(c);
	mg_lint_index_not_concurrent(c);
	mg_lint_concurrently_in_transaction(c);
	mg_lint_constraint_not_valid(c);
	mg_lint_set_not_null(c);
	mg_lint_type_rewrite(c);
	mg_lint_volatile_default(c);
	mg_lint_blocking_maintenance(c);
	mg_lint_unique_without_index(c);
	mg_lint_update_in_expand(c);
}

static void test_facts_without_names(void **state)
{
	const struct mg_driver *drivers[] = { &pg_like, &my_like, NULL };
	unsigned flag_sets[] = { 0, ~0u, MG_FACTF_NO_WHERE, MG_FACTF_CHECK,
				 MG_FACTF_FOREIGN_KEY | MG_FACTF_NOT_VALID,
				 MG_FACTF_UNIQUE | MG_FACTF_PRIMARY_KEY,
				 MG_FACTF_VOLATILE_DEFAULT, MG_FACTF_REWRITES | MG_FACTF_NARROWS,
				 MG_FACTF_CONCURRENTLY };
	struct mg_sql_fact facts[MG_FACT_OTHER + 1];
	int total = 0;

	(void)state;
	messages_ok = 1;
	for (size_t d = 0; d < 3; d++)
		for (size_t s = 0; s < sizeof(flag_sets) / sizeof(flag_sets[0]); s++)
			for (int p = 0; p < MG_SQL_NPHASES; p++)
				for (int tx = 0; tx < 2; tx++) {
					struct fixture f;

					for (int k = 0; k <= MG_FACT_OTHER; k++)
						facts[k] = (struct mg_sql_fact){
							(enum mg_fact_kind)k, flag_sets[s], -1,
							NULL, NULL, NULL };
					fixture_init(&f, drivers[d]);
					sql_step(&f, (enum mg_sql_phase)p, tx, facts,
						 MG_FACT_OTHER + 1);
					run_all(&f.c);
					total += n_found;
				}
	assert_true(messages_ok);
	assert_true(total > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_created_before_is_new),
		cmocka_unit_test(test_create_after_use_is_not_new),
		cmocka_unit_test(test_native_create_table_is_new),
		cmocka_unit_test(test_set_not_null_on_added_column),
		cmocka_unit_test(test_renamed_column_is_unknown_to_old),
		cmocka_unit_test(test_breaks_old_only_while_it_runs),
		cmocka_unit_test(test_rollback_missing),
		cmocka_unit_test(test_rerunnable_depends_on_the_dialect),
		cmocka_unit_test(test_set_not_null_after_validated_check),
		cmocka_unit_test(test_concurrently_and_statements),
		cmocka_unit_test(test_drop_index_of_new_table),
		cmocka_unit_test(test_online_facts_are_not_lock_findings),
		cmocka_unit_test(test_facts_without_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
