/*
 * test_lint_style.c - the native-operation and hygiene rules of `migrate
 * lint` (src/lint_rules_style.c), on their own: the migrations are the
 * corpus's case files (tests/lint/cases), loaded for real; the facts are
 * written here as a driver's lint_sql gives them; mg_lint_add is this
 * file's, recording what the rules report.
 *
 * The story: each rule reports what its page says and nothing else: a sql
 * step's change gets the native operation in the hint, once per change and
 * never in rollback SQL; a type fact is reported from a statement and from
 * a `type` value alike; only a single-column key of a 32-bit type is an
 * int-primary-key; `down` is asked of drop_column and drop_not_null; a
 * volatile call matters in alter_column's up/down and not in a backfill.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lint.h"
#include "lint_rules.h"

/* ---- what the rules report ---------------------------------------------- */

#define MAX_FOUND 16

struct found {
	struct mg_pos pos;
	int offset;
	char *hint;
	char *message;
};

static struct found found[MAX_FOUND];
static size_t n_found;

void mg_lint_add(struct mg_lint_ctx *c, struct mg_pos pos, const char *value,
		 int offset, const char *hint, const char *fmt, ...)
{
	va_list ap;
	struct mg_buf b = MG_BUF_INIT;

	(void)c;
	(void)value;
	assert_true(n_found < MAX_FOUND);
	va_start(ap, fmt);
	mg_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	assert_null(strchr(b.buf, '\n'));	/* one line */
	found[n_found].pos = pos;
	found[n_found].offset = offset;
	found[n_found].hint = mg_xstrdup(hint);
	found[n_found].message = mg_buf_detach(&b);
	n_found++;
}

static void forget_found(void)
{
	for (size_t i = 0; i < n_found; i++) {
		free(found[i].hint);
		free(found[i].message);
	}
	n_found = 0;
}

#define assert_contains(haystack, needle) do { \
	if (!(haystack) || !strstr((haystack), (needle))) \
		fail_msg("'%s' does not contain '%s'", (haystack) ? (haystack) : "(null)", (needle)); \
} while (0)

/* ---- a file and its values ---------------------------------------------- */

#define MAX_VALUES 4

struct file {
	struct mg_migration m;
	struct mg_lint_value values[MAX_VALUES];
	struct mg_lint_ctx ctx;
};

static void load_case(struct file *f, const char *rel)
{
	const char *dir = getenv("MG_FIXTURES");
	struct mg_err err = MG_ERR_INIT;
	char *path;

	if (!dir)
		fail_msg("MG_FIXTURES is not set: run through ctest");
	path = mg_xasprintf("%s/../../lint/cases/%s", dir, rel);
	memset(f, 0, sizeof(*f));
	if (mg_migration_load(&f->m, path, 63, &err) < 0)
		fail_msg("loading %s: %s", rel, err.msg);
	free(path);
	f->ctx.m = &f->m;
	f->ctx.values = f->values;
}

/* Add a value of op i: field, its text, and n facts (copied). */
static struct mg_lint_value *add_value(struct file *f, size_t op, const char *field,
				       enum mg_sql_phase phase, enum mg_lint_text kind,
				       const char *column, const char *text,
				       const struct mg_sql_fact *facts, size_t n)
{
	struct mg_lint_value *v = &f->values[f->ctx.n_values++];

	assert_true(f->ctx.n_values <= MAX_VALUES);
	v->op = op;
	v->field = field;
	v->phase = phase;
	v->kind = kind;
	v->column = column;
	v->value = text;
	v->pos = (struct mg_pos){ 10, 3 };
	v->facts.items = mg_xcalloc(n ? n : 1, sizeof(*facts));
	memcpy(v->facts.items, facts, n * sizeof(*facts));
	v->facts.n = v->facts.cap = n;
	return v;
}

static void release_file(struct file *f)
{
	for (size_t i = 0; i < f->ctx.n_values; i++)
		free(f->values[i].facts.items);
	mg_migration_release(&f->m);
	forget_found();
}

#define FACT(k, fl, off, t, n, d) { MG_FACT_##k, (fl), (off), (t), (n), (d) }

/* ---- prefer-native ------------------------------------------------------ */

static void rename_in_sql_gets_rename_column(void **state)
{
	struct file f;
	const struct mg_sql_fact facts[] = {
		FACT(RENAME_COLUMN, 0, 0, "users", "name", "full_name"),
	};

	(void)state;
	load_case(&f, "prefer-native/0001_fail_rename_column_in_sql.yaml");
	add_value(&f, 0, "expand", MG_SQL_EXPAND, MG_LINT_STATEMENTS, NULL,
		  f.m.ops[0].sql[MG_SQL_EXPAND], facts, 1);
	mg_lint_prefer_native(&f.ctx);
	assert_int_equal(n_found, 1);
	assert_int_equal(found[0].offset, 0);
	assert_contains(found[0].message, "expand SQL renames column 'name' of 'users' to 'full_name'");
	assert_contains(found[0].hint, "`rename_column: {table: users, from: name, to: full_name}`");
	release_file(&f);
}

/* Rollback SQL undoes the others: the finding on them covers it. */
static void rollback_sql_is_not_reported(void **state)
{
	struct file f;
	const struct mg_sql_fact add[] = {
		FACT(ADD_COLUMN, MG_FACTF_NOT_NULL | MG_FACTF_HAS_DEFAULT, 0, "orders", "priority", NULL),
		FACT(COLUMN_TYPE, 0, 40, "orders", "priority", "smallint"),
	};
	const struct mg_sql_fact drop[] = {
		FACT(DROP_COLUMN, 0, 0, "orders", "priority", NULL),
	};

	(void)state;
	load_case(&f, "prefer-native/0002_fail_add_column_not_null_default.yaml");
	add_value(&f, 0, "expand", MG_SQL_EXPAND, MG_LINT_STATEMENTS, NULL,
		  f.m.ops[0].sql[MG_SQL_EXPAND], add, 2);
	add_value(&f, 0, "rollback", MG_SQL_ROLLBACK, MG_LINT_STATEMENTS, NULL,
		  f.m.ops[0].sql[MG_SQL_ROLLBACK], drop, 1);
	mg_lint_prefer_native(&f.ctx);
	assert_int_equal(n_found, 1);
	assert_contains(found[0].hint, "`add_column: {table: orders, column: priority, type: smallint, nullable: false, default: ...}`");
	release_file(&f);
}

/* A CREATE TABLE's own constraints are not changes of their own; a table
 * without declared columns (AS SELECT, LIKE) is nothing create_table says;
 * an index built CONCURRENTLY is already the safe way; a PRIMARY KEY has
 * no operation. */
static void one_finding_per_change(void **state)
{
	struct file f;
	const struct mg_sql_fact facts[] = {
		FACT(CREATE_TABLE, 0, 0, "coupons", NULL, NULL),
		FACT(COLUMN_TYPE, 0, 20, "coupons", "code", "text"),
		FACT(ADD_CONSTRAINT, MG_FACTF_UNIQUE, 30, "coupons", NULL, NULL),
		FACT(CREATE_TABLE, 0, 60, "coupons_copy", NULL, NULL),	/* AS SELECT */
		FACT(CREATE_INDEX, MG_FACTF_CONCURRENTLY, 90, "coupons", "coupons_code_idx", NULL),
		FACT(ADD_CONSTRAINT, MG_FACTF_PRIMARY_KEY, 120, "orders", "orders_pkey", NULL),
		FACT(SET_DEFAULT, 0, 150, "orders", "status", NULL),
		FACT(ADD_CONSTRAINT, MG_FACTF_FOREIGN_KEY | MG_FACTF_NOT_VALID, 180, "orders", "orders_customer_fk", NULL),
	};

	(void)state;
	load_case(&f, "prefer-native/0003_fail_foreign_key_not_valid.yaml");
	add_value(&f, 0, "expand", MG_SQL_EXPAND, MG_LINT_STATEMENTS, NULL,
		  f.m.ops[0].sql[MG_SQL_EXPAND], facts, 8);
	mg_lint_prefer_native(&f.ctx);
	assert_int_equal(n_found, 3);
	assert_contains(found[0].hint, "create_table: {table: coupons");
	assert_int_equal(found[1].offset, 150);
	assert_contains(found[1].hint, "`drop_default: {table: orders, column: status}`");
	assert_contains(found[2].hint, "add_foreign_key: {table: orders, name: orders_customer_fk");
	release_file(&f);
}

/* ---- types -------------------------------------------------------------- */

static void json_type_value_names_the_column(void **state)
{
	struct file f;
	const struct mg_sql_fact facts[] = {
		FACT(COLUMN_TYPE, MG_FACTF_TYPE_JSON, 0, NULL, NULL, "json"),
	};

	(void)state;
	load_case(&f, "type-json/0001_fail_add_column_json.yaml");
	add_value(&f, 0, "type", MG_SQL_NPHASES, MG_LINT_TYPE, NULL, f.m.ops[0].type, facts, 1);
	mg_lint_type_json(&f.ctx);
	assert_int_equal(n_found, 1);
	assert_contains(found[0].message, "column 'payment_payload' of 'orders' is json");
	assert_contains(found[0].hint, "`type: jsonb`");
	/* rollback SQL restores an earlier migration's type: not reported */
	add_value(&f, 0, "rollback", MG_SQL_ROLLBACK, MG_LINT_STATEMENTS, NULL,
		  "ALTER TABLE orders ALTER COLUMN payment_payload TYPE json", facts, 1);
	mg_lint_type_json(&f.ctx);
	assert_int_equal(n_found, 2);	/* the type value's again, not the rollback's */
	/* the other type rules do not see a json fact */
	mg_lint_type_timestamp(&f.ctx);
	mg_lint_type_char(&f.ctx);
	mg_lint_type_serial(&f.ctx);
	mg_lint_int_primary_key(&f.ctx);
	assert_int_equal(n_found, 2);
	release_file(&f);
}

static void serial_in_sql_and_in_create_table(void **state)
{
	struct file f;
	const struct mg_sql_fact sql[] = {
		FACT(COLUMN_TYPE, MG_FACTF_TYPE_SERIAL | MG_FACTF_TYPE_INT4 | MG_FACTF_PRIMARY_KEY, 40,
		     "coupons", "id", "serial"),
	};

	(void)state;
	load_case(&f, "type-serial/0002_fail_sql_serial.yaml");
	add_value(&f, 0, "expand", MG_SQL_EXPAND, MG_LINT_STATEMENTS, NULL,
		  f.m.ops[0].sql[MG_SQL_EXPAND], sql, 1);
	mg_lint_type_serial(&f.ctx);
	mg_lint_int_primary_key(&f.ctx);
	assert_int_equal(n_found, 2);
	assert_contains(found[0].hint, "GENERATED BY DEFAULT AS IDENTITY");
	assert_contains(found[1].message, "primary key 'id' of 'coupons' is serial");
	release_file(&f);
}

/* ---- int-primary-key ---------------------------------------------------- */

static void int_key_of_create_table(void **state)
{
	struct file f;
	const struct mg_sql_fact int4[] = {
		FACT(COLUMN_TYPE, MG_FACTF_TYPE_INT4, 0, NULL, NULL, "integer"),
	};

	(void)state;
	/* the column's primary_key, and a table constraint over one column */
	load_case(&f, "int-primary-key/0001_fail_create_table_integer_id.yaml");
	add_value(&f, 0, "type", MG_SQL_NPHASES, MG_LINT_TYPE, "id", "integer", int4, 1);
	add_value(&f, 0, "type", MG_SQL_NPHASES, MG_LINT_TYPE, "path", "integer", int4, 1);
	mg_lint_int_primary_key(&f.ctx);
	assert_int_equal(n_found, 1);
	assert_contains(found[0].message, "primary key 'id' of 'page_views'");
	assert_contains(found[0].hint, "`type: bigint`");
	release_file(&f);

	load_case(&f, "int-primary-key/0002_fail_table_constraint_key.yaml");
	add_value(&f, 0, "type", MG_SQL_NPHASES, MG_LINT_TYPE, "shipment_no", "int4", int4, 1);
	mg_lint_int_primary_key(&f.ctx);
	assert_int_equal(n_found, 1);
	release_file(&f);

	/* a key over two references */
	load_case(&f, "int-primary-key/0005_pass_join_table_composite_key.yaml");
	add_value(&f, 0, "type", MG_SQL_NPHASES, MG_LINT_TYPE, "group_id", "integer", int4, 1);
	add_value(&f, 0, "type", MG_SQL_NPHASES, MG_LINT_TYPE, "user_id", "integer", int4, 1);
	mg_lint_int_primary_key(&f.ctx);
	assert_int_equal(n_found, 0);
	release_file(&f);
}

/* ---- down-missing ------------------------------------------------------- */

static void down_missing_at_the_operation(void **state)
{
	struct file f;

	(void)state;
	load_case(&f, "down-missing/0001_fail_drop_column.yaml");
	mg_lint_down_missing(&f.ctx);
	assert_int_equal(n_found, 1);
	assert_int_equal(found[0].pos.line, 6);
	assert_int_equal(found[0].pos.column, 5);
	assert_contains(found[0].message, "drop_column of 'discount' on 'orders' has no `down`");
	release_file(&f);

	load_case(&f, "down-missing/0002_fail_drop_not_null.yaml");
	mg_lint_down_missing(&f.ctx);
	assert_int_equal(n_found, 1);
	assert_contains(found[0].message, "rollback refuses");
	release_file(&f);

	load_case(&f, "down-missing/0003_pass_drop_column_with_down.yaml");
	mg_lint_down_missing(&f.ctx);
	assert_int_equal(n_found, 0);
	release_file(&f);
	load_case(&f, "down-missing/0004_pass_drop_not_null_with_down.yaml");
	mg_lint_down_missing(&f.ctx);
	assert_int_equal(n_found, 0);
	release_file(&f);
}

/* ---- non-deterministic -------------------------------------------------- */

static void volatile_only_where_recomputed(void **state)
{
	struct file f;
	const struct mg_sql_fact now[] = {
		FACT(VOLATILE_CALL, 0, 0, NULL, NULL, "now"),
	};
	const struct mg_sql_fact uuid[] = {
		FACT(VOLATILE_CALL, 0, 0, NULL, NULL, "gen_random_uuid"),
	};

	(void)state;
	load_case(&f, "non-deterministic/0001_fail_alter_up_now.yaml");
	add_value(&f, 0, "up", MG_SQL_NPHASES, MG_LINT_EXPRESSION, NULL, f.m.ops[0].up, now, 1);
	add_value(&f, 0, "down", MG_SQL_NPHASES, MG_LINT_EXPRESSION, NULL, f.m.ops[0].down, now, 1);
	mg_lint_non_deterministic(&f.ctx);
	assert_int_equal(n_found, 2);
	assert_contains(found[0].message, "now() in alter_column's `up`");
	assert_contains(found[1].message, "alter_column's `down`");
	release_file(&f);

	load_case(&f, "non-deterministic/0004_pass_add_column_uuid_backfill.yaml");
	add_value(&f, 0, "backfill", MG_SQL_NPHASES, MG_LINT_EXPRESSION, NULL, f.m.ops[0].backfill, uuid, 1);
	add_value(&f, 0, "default", MG_SQL_NPHASES, MG_LINT_EXPRESSION, NULL, f.m.ops[0].default_expr, uuid, 1);
	mg_lint_non_deterministic(&f.ctx);
	assert_int_equal(n_found, 0);
	release_file(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rename_in_sql_gets_rename_column),
		cmocka_unit_test(rollback_sql_is_not_reported),
		cmocka_unit_test(one_finding_per_change),
		cmocka_unit_test(json_type_value_names_the_column),
		cmocka_unit_test(serial_in_sql_and_in_create_table),
		cmocka_unit_test(int_key_of_create_table),
		cmocka_unit_test(down_missing_at_the_operation),
		cmocka_unit_test(volatile_only_where_recomputed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
