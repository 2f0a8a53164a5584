/*
 * test_migration.c - loading migration files (design §3).
 *
 * The story: a file with every operation loads into exactly the fields it
 * names, defaults fill what it leaves out; every way a file can be wrong is
 * MG_EINPUT with a message that names file:line:column and what was
 * expected; ids parse as the command line writes them; and a directory
 * loads sorted, ignoring what is not a migration, refusing duplicates and
 * bad names.
 *
 * Fixtures live in $MG_FIXTURES/migration/{valid,invalid,set}; the set
 * tests that need odd directories build them with mkdtemp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migration.h"

/* The name length limit a caller passes: its driver's (PostgreSQL's 63
 * bytes here, what the fixtures were written against). */
#define NAME_LIMIT 63

/* ---- helpers ------------------------------------------------------------- */

static char *fixture(const char *rel)
{
	const char *dir = getenv("MG_FIXTURES");

	if (!dir)
		fail_msg("MG_FIXTURES is not set: run through ctest, or set "
			 "it to tests/unit/fixtures");
	return mg_xasprintf("%s/migration/%s", dir, rel);
}

#define assert_contains(haystack, needle) do { \
	if (!strstr((haystack), (needle))) \
		fail_msg("'%s' does not contain '%s'", (haystack), (needle)); \
} while (0)

static void load_fixture(struct mg_migration *m, const char *rel)
{
	struct mg_err err = MG_ERR_INIT;
	char *path = fixture(rel);

	if (mg_migration_load(m, path, NAME_LIMIT, &err) < 0)
		fail_msg("loading %s: %s", rel, err.msg);
	free(path);
}

static char *make_dir(void)
{
	char *dir = mg_xstrdup("/tmp/mg_test_migration_XXXXXX");

	if (!mkdtemp(dir))
		fail_msg("mkdtemp failed");
	return dir;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = mg_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static void remove_dir(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char *path;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		path = mg_xasprintf("%s/%s", dir, de->d_name);
		unlink(path);
		free(path);
	}
	closedir(d);
	rmdir(dir);
	free(dir);
}

static void assert_pos(struct mg_pos pos, int line, int column)
{
	assert_int_equal(pos.line, line);
	assert_int_equal(pos.column, column);
}

/* ---- a valid file -------------------------------------------------------- */

static void test_every_operation(void **state)
{
	struct mg_migration m;
	struct mg_op *op;

	(void)state;
	load_fixture(&m, "valid/0003_every_operation.yaml");

	assert_int_equal(m.id, 3);
	assert_string_equal(m.name, "0003_every_operation");
	assert_contains(m.path, "valid/0003_every_operation.yaml");
	assert_string_equal(m.description,
			    "Rename users.user_name to users.username");
	assert_int_equal(m.n_ops, 6);

	op = &m.ops[0];
	assert_int_equal(op->kind, MG_OP_RENAME_COLUMN);
	assert_pos(op->pos, 4, 5);
	assert_string_equal(op->table, "users");
	assert_pos(op->table_pos, 5, 14);
	assert_string_equal(op->column, "user_name");
	assert_pos(op->column_pos, 6, 13);
	assert_string_equal(op->to, "username");
	assert_pos(op->to_pos, 7, 11);
	assert_int_equal(op->n_drops, 1);
	assert_string_equal(op->drops[0], "users_user_name_idx");
	assert_null(op->type);

	op = &m.ops[1];
	assert_int_equal(op->kind, MG_OP_ADD_COLUMN);
	assert_pos(op->pos, 10, 5);
	assert_string_equal(op->table, "orders");
	assert_pos(op->table_pos, 11, 14);
	assert_string_equal(op->column, "priority");
	assert_pos(op->column_pos, 12, 15);
	assert_string_equal(op->type, "smallint");
	assert_pos(op->type_pos, 13, 13);
	assert_string_equal(op->default_expr, "0");
	assert_int_equal(op->nullable, 0);
	assert_string_equal(op->backfill,
			    "CASE WHEN total > 1000 THEN 1 ELSE 0 END");
	assert_int_equal(op->n_drops, 0);
	assert_null(op->to);

	op = &m.ops[2];
	assert_int_equal(op->kind, MG_OP_ALTER_COLUMN);
	assert_pos(op->pos, 19, 5);
	assert_string_equal(op->table, "users");
	assert_string_equal(op->column, "age");
	assert_string_equal(op->to, "age_years");
	assert_pos(op->to_pos, 22, 11);
	assert_string_equal(op->type, "bigint");
	assert_pos(op->type_pos, 23, 13);
	assert_string_equal(op->up, "age::bigint");
	assert_string_equal(op->down, "age_years::integer");
	assert_int_equal(op->n_drops, 2);
	assert_string_equal(op->drops[0], "users_age_check");
	assert_string_equal(op->drops[1], "users_age_idx");

	op = &m.ops[3];
	assert_int_equal(op->kind, MG_OP_DROP_COLUMN);
	assert_pos(op->pos, 30, 5);
	assert_string_equal(op->table, "users");
	assert_string_equal(op->column, "legacy_flag");
	assert_pos(op->column_pos, 32, 15);
	assert_string_equal(op->down, "false");
	assert_null(op->drops);

	op = &m.ops[4];
	assert_int_equal(op->kind, MG_OP_CREATE_INDEX);
	assert_pos(op->pos, 35, 5);
	assert_string_equal(op->table, "users");
	assert_string_equal(op->index_name, "users_username_key");
	assert_int_equal(op->n_columns, 2);
	assert_string_equal(op->columns[0], "username");
	assert_string_equal(op->columns[1], "tenant_id");
	assert_int_equal(op->unique, 1);
	assert_string_equal(op->method, "btree");
	assert_string_equal(op->where, "deleted_at IS NULL");

	op = &m.ops[5];
	assert_int_equal(op->kind, MG_OP_SQL);
	assert_pos(op->pos, 43, 5);
	assert_string_equal(op->sql[MG_SQL_EXPAND],
			    "CREATE TABLE audit (id bigserial PRIMARY KEY)");
	assert_string_equal(op->sql[MG_SQL_BACKFILL],
			    "INSERT INTO audit DEFAULT VALUES");
	assert_string_equal(op->sql[MG_SQL_SWITCH_READS], "SELECT 1");
	assert_string_equal(op->sql[MG_SQL_CONTRACT], "DROP TABLE old_audit");
	assert_string_equal(op->sql[MG_SQL_ROLLBACK], "DROP TABLE audit");
	assert_int_equal(op->in_transaction, 0);

	mg_migration_release(&m);
	assert_null(m.ops);
	assert_int_equal(m.n_ops, 0);
	mg_migration_release(&m);	/* released twice is harmless */
}

static void test_defaults(void **state)
{
	struct mg_migration m;
	struct mg_op *op;

	(void)state;
	load_fixture(&m, "valid/0042_defaults.yml");

	assert_int_equal(m.id, 42);
	assert_string_equal(m.name, "0042_defaults");
	assert_null(m.description);
	assert_int_equal(m.n_ops, 4);

	op = &m.ops[0];
	assert_int_equal(op->kind, MG_OP_ADD_COLUMN);
	assert_string_equal(op->table, "app.orders");
	assert_string_equal(op->type, "text");
	assert_int_equal(op->nullable, 1);
	assert_null(op->default_expr);
	assert_null(op->backfill);

	op = &m.ops[1];
	assert_int_equal(op->kind, MG_OP_CREATE_INDEX);
	assert_int_equal(op->unique, 0);
	assert_null(op->method);
	assert_null(op->where);

	op = &m.ops[2];
	assert_int_equal(op->kind, MG_OP_SQL);
	assert_int_equal(op->in_transaction, 1);
	assert_string_equal(op->sql[MG_SQL_EXPAND], "CREATE INDEX CONCURRENTLY "
			    "IF NOT EXISTS orders_x ON orders (x);\n");
	assert_null(op->sql[MG_SQL_ROLLBACK]);

	op = &m.ops[3];
	assert_int_equal(op->kind, MG_OP_DROP_COLUMN);
	assert_null(op->down);

	mg_migration_release(&m);
}

/* create_index's column entries (names or mappings), include, storage,
 * constraint; drop_index's table and name with its position. */
static void test_index_options(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration m;
	char *path = fixture("valid/0013_index_options.yaml");
	const struct mg_op *op;

	(void)state;
	assert_int_equal(mg_migration_load(&m, path, NAME_LIMIT, &err), 0);
	free(path);
	assert_int_equal(m.n_ops, 2);
	op = &m.ops[0];
	assert_int_equal(op->n_columns, 3);
	assert_string_equal(op->columns[0], "title");
	assert_string_equal(op->column_opts[0].collate, "C");
	assert_string_equal(op->column_opts[0].opclass, "text_pattern_ops");
	assert_int_equal(op->column_opts[0].order, MG_ORDER_DEFAULT);
	assert_string_equal(op->columns[1], "rank");
	assert_int_equal(op->column_opts[1].order, MG_ORDER_DESC);
	assert_int_equal(op->column_opts[1].nulls, MG_NULLS_LAST);
	assert_int_equal(op->column_opts[1].order_pos.line, 8);
	assert_int_equal(op->column_opts[1].order_pos.column, 31);
	assert_string_equal(op->columns[2], "id");
	assert_null(op->column_opts[2].opclass);
	assert_int_equal(op->n_include, 1);
	assert_string_equal(op->include[0], "body");
	assert_int_equal(op->n_storage, 2);
	assert_string_equal(op->storage[0].key, "fillfactor");
	assert_string_equal(op->storage[0].value, "70");
	assert_string_equal(op->storage[1].key, "deduplicate_items");
	assert_string_equal(op->storage[1].value, "off");
	assert_int_equal(op->storage[1].value_pos.line, 11);
	assert_int_equal(op->unique, 1);
	assert_int_equal(op->constraint, 1);
	op = &m.ops[1];
	assert_int_equal(op->kind, MG_OP_DROP_INDEX);
	assert_string_equal(op->table, "docs");
	assert_string_equal(op->index_name, "docs_rank_idx");
	assert_int_equal(op->index_name_pos.line, 16);
	assert_int_equal(op->index_name_pos.column, 13);
	assert_string_equal(mg_op_kind_name(op->kind), "drop_index");
	mg_migration_release(&m);
}

static void test_checksum_is_sha256_of_the_bytes(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration m;
	char *path = fixture("valid/0003_every_operation.yaml");
	char expected[65];

	(void)state;
	assert_int_equal(mg_sha256_file(expected, path, &err), 0);
	assert_int_equal(mg_migration_load(&m, path, NAME_LIMIT, &err), 0);
	assert_string_equal(m.checksum, expected);
	assert_int_equal(strlen(m.checksum), 64);
	mg_migration_release(&m);
	free(path);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(mg_op_kind_name(MG_OP_ADD_COLUMN), "add_column");
	assert_string_equal(mg_op_kind_name(MG_OP_RENAME_COLUMN),
			    "rename_column");
	assert_string_equal(mg_op_kind_name(MG_OP_ALTER_COLUMN),
			    "alter_column");
	assert_string_equal(mg_op_kind_name(MG_OP_DROP_COLUMN), "drop_column");
	assert_string_equal(mg_op_kind_name(MG_OP_CREATE_INDEX),
			    "create_index");
	assert_string_equal(mg_op_kind_name(MG_OP_SQL), "sql");
	assert_string_equal(mg_sql_phase_name(MG_SQL_EXPAND), "expand");
	assert_string_equal(mg_sql_phase_name(MG_SQL_BACKFILL), "backfill");
	assert_string_equal(mg_sql_phase_name(MG_SQL_SWITCH_READS),
			    "switch_reads");
	assert_string_equal(mg_sql_phase_name(MG_SQL_CONTRACT), "contract");
	assert_string_equal(mg_sql_phase_name(MG_SQL_ROLLBACK), "rollback");
}

/* ---- invalid files: one fixture each ------------------------------------- */

/* The limit is the caller's (the target's driver): the same 64-byte name
 * loads for a database that takes it and is refused, naming the limit,
 * for one that does not. */
static void test_name_limit_from_caller(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration m;
	char *path = fixture("invalid/0010_long_name.yaml");

	(void)state;
	assert_int_equal(mg_migration_load(&m, path, 64, &err), 0);
	mg_migration_release(&m);
	assert_int_equal(mg_migration_load(&m, path, 40, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_contains(err.msg, "is 64 bytes, at most 40");
	free(path);
}

struct error_case {
	const char *file;		/* under invalid/ */
	const char *expect[4];		/* substrings of the message */
	const char *hint;		/* substring of the hint, or NULL */
};

static void test_error_case(void **state)
{
	const struct error_case *c = *state;
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration m;
	char *rel = mg_xasprintf("invalid/%s", c->file);
	char *path = fixture(rel);

	assert_int_equal(mg_migration_load(&m, path, NAME_LIMIT, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	for (size_t i = 0; i < 4 && c->expect[i]; i++)
		assert_contains(err.msg, c->expect[i]);
	assert_null(strchr(err.msg, '\n'));
	if (c->hint)
		assert_contains(err.hint, c->hint);
	/* A failed load leaves nothing to release. */
	assert_null(m.ops);
	assert_null(m.path);
	assert_int_equal(m.n_ops, 0);
	free(rel);
	free(path);
}

#define ERROR_CASE(var, file_, hint_, ...) \
	static struct error_case var = { file_, { __VA_ARGS__ }, hint_ }

ERROR_CASE(unknown_key, "0001_unknown_key.yaml", "did you mean 'column'?",
	   "unknown key 'colum' at ", "0001_unknown_key.yaml:5:7 ",
	   "(expected one of: table, column, type, default, nullable, "
	   "backfill, drops, allow_copy, allow_rebuild)");
ERROR_CASE(missing_key, "0002_missing_key.yaml",
	   "add_column requires: table, column, type",
	   "missing key 'type' in add_column at ",
	   "0002_missing_key.yaml:4:5");
ERROR_CASE(wrong_bool, "0003_wrong_bool.yaml", NULL,
	   "wrong type for 'nullable' at ", "0003_wrong_bool.yaml:8:17: ",
	   "expected true or false, got 'maybe'");
ERROR_CASE(columns_not_sequence, "0004_columns_not_sequence.yaml",
	   "columns: [username]",
	   "wrong type for 'columns' at ",
	   "0004_columns_not_sequence.yaml:5:16: ",
	   "expected a sequence of strings, got 'username'");
ERROR_CASE(unknown_operation, "0005_unknown_operation.yaml",
	   "did you mean 'add_column'?",
	   "unknown operation 'add_colum' at ",
	   "0005_unknown_operation.yaml:3:5 ",
	   "(expected one of: add_column, rename_column, alter_column, "
	   "drop_column, create_index, sql, drop_index, create_table, "
	   "drop_table, rename_table, drop_not_null, set_default, "
	   "drop_default, set_comment, set_replica_identity, "
	   "drop_constraint, rename_constraint, set_not_null, add_check, "
	   "add_unique, add_foreign_key)");
ERROR_CASE(syntax_error, "0006_syntax_error.yaml", NULL,
	   "YAML syntax error at ", "0006_syntax_error.yaml:5:1: ",
	   "found unexpected end of stream",
	   "while scanning a quoted scalar at line 3");
ERROR_CASE(empty_file, "0007_empty.yaml", "'operations:'",
	   "empty file '", "0007_empty.yaml'");
ERROR_CASE(empty_operations, "0008_empty_operations.yaml", "'operations:'",
	   "'operations' at ", "0008_empty_operations.yaml:2:1 ",
	   "must be a non-empty sequence");
ERROR_CASE(not_nullable, "0009_not_nullable.yaml", "default or a backfill",
	   "add_column 'orders.priority' at ", "0009_not_nullable.yaml:2:5 ",
	   "is not nullable but has neither 'default' nor 'backfill'");
ERROR_CASE(long_name, "0010_long_name.yaml", NULL,
	   "name too long for 'column' at ", "0010_long_name.yaml:4:15: ",
	   "is 64 bytes, at most 63");
ERROR_CASE(rename_to_itself, "0011_rename_to_itself.yaml", NULL,
	   "'to' at ", "0011_rename_to_itself.yaml:5:11 ",
	   "must differ from 'from' ('username')");
ERROR_CASE(alter_same_name, "0012_alter_same_name.yaml", "'age_new'",
	   "'to' at ", "0012_alter_same_name.yaml:5:11 ",
	   "must differ from 'column' ('age')");
ERROR_CASE(duplicate_key, "0013_duplicate_key.yaml", NULL,
	   "duplicate key 'table' at ", "0013_duplicate_key.yaml:5:7 ",
	   "(already at line 3)");
ERROR_CASE(mapping_for_string, "0014_mapping_for_string.yaml", NULL,
	   "wrong type for 'table' at ", "0014_mapping_for_string.yaml:4:9: ",
	   "expected a string, got a mapping");
ERROR_CASE(sql_without_sql, "0015_sql_without_sql.yaml", NULL,
	   "sql at ", "0015_sql_without_sql.yaml:2:5 ",
	   "has no SQL (expected at least one of: expand, backfill, "
	   "switch_reads, contract, rollback)");
ERROR_CASE(keys_not_indented, "0016_keys_not_indented.yaml",
	   "indent the keys of 'drop_column' below it",
	   "operation 'drop_column' at ", "0016_keys_not_indented.yaml:2:5 ",
	   "more than one key ('table' at line 3): expected exactly one");
ERROR_CASE(missing_operations, "0017_missing_operations.yaml", NULL,
	   "missing key 'operations' at ",
	   "0017_missing_operations.yaml:1:1");
ERROR_CASE(empty_name, "0018_empty_name.yaml", NULL,
	   "empty value for 'column' at ", "0018_empty_name.yaml:4:7: ",
	   "expected a column name");
ERROR_CASE(bad_table, "0019_bad_table.yaml", NULL,
	   "bad table name 'db.public.users' at ", "0019_bad_table.yaml:3:14: ",
	   "expected table or schema.table");
ERROR_CASE(quoted_bool, "0020_quoted_bool.yaml", "drop the quotes",
	   "wrong type for 'unique' at ", "0020_quoted_bool.yaml:6:15: ",
	   "expected true or false, got the quoted string 'true'");
ERROR_CASE(two_documents, "0021_two_documents.yaml", NULL,
	   "more than one YAML document in '", "0021_two_documents.yaml' ",
	   "(another at line 4)");
/* a columns entry may be a mapping {name, opclass, ...} (issue 13): an
 * unknown key in it is named */
ERROR_CASE(columns_item_mapping, "0022_columns_item_mapping.yaml", NULL,
	   "unknown key 'b' at ",
	   "0022_columns_item_mapping.yaml:5:21 ",
	   "(expected one of: name, opclass, collate, order, nulls)");
ERROR_CASE(top_unknown_key, "0023_top_unknown_key.yaml",
	   "did you mean 'description'?",
	   "unknown key 'descripton' at ", "0023_top_unknown_key.yaml:1:1 ",
	   "(expected one of: description, operations)");
ERROR_CASE(top_sequence, "0024_top_sequence.yaml", NULL,
	   "wrong type at ", "0024_top_sequence.yaml:1:1: ",
	   "expected a mapping", "got a sequence");
ERROR_CASE(columns_empty, "0025_columns_empty.yaml", NULL,
	   "'columns' at ", "0025_columns_empty.yaml:5:7 ",
	   "must be a non-empty sequence of strings");
ERROR_CASE(operation_scalar, "0026_operation_scalar.yaml", NULL,
	   "wrong type for an operation at ",
	   "0026_operation_scalar.yaml:2:5: ",
	   "got 'drop_column'");
ERROR_CASE(operation_empty, "0027_operation_empty.yaml", NULL,
	   "wrong type for 'drop_column' at ",
	   "0027_operation_empty.yaml:2:5: ",
	   "expected a mapping of its keys, got nothing");
ERROR_CASE(operations_mapping, "0028_operations_mapping.yaml", NULL,
	   "wrong type for 'operations' at ",
	   "0028_operations_mapping.yaml:2:3: ",
	   "expected a non-empty sequence, got a mapping");
ERROR_CASE(invalid_utf8, "0029_invalid_utf8.yaml", NULL,
	   "YAML syntax error at ", "0029_invalid_utf8.yaml:2:28: ",
	   "invalid leading UTF-8 octet");
ERROR_CASE(nullable_empty, "0030_nullable_empty.yaml", NULL,
	   "wrong type for 'nullable' at ", "0030_nullable_empty.yaml:6:7: ",
	   "expected true or false, got nothing");
ERROR_CASE(drops_not_sequence, "0031_drops_not_sequence.yaml", NULL,
	   "wrong type for 'drops' at ", "0031_drops_not_sequence.yaml:6:14: ",
	   "expected a sequence of strings, got a mapping");

#define ERROR_TEST(var) { "error: " #var, test_error_case, NULL, NULL, &var }

/* ---- file names and ids -------------------------------------------------- */

static void test_badly_named_file(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration m;

	(void)state;
	/* The name is checked before the file is opened. */
	assert_int_equal(mg_migration_load(&m, "migrations/3_x.yaml", NAME_LIMIT, &err),
			 -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_string_equal(err.msg, "badly named file 'migrations/3_x.yaml' "
			    "at migrations/3_x.yaml:1:1: "
			    "expected NNNN_snake_name.yaml (4+ digits, "
			    "underscore, lowercase letters, digits and "
			    "underscores)");
	assert_string_equal(err.hint, "rename it to '0003_x.yaml'");
}

static void test_other_bad_names(void **state)
{
	static const char *const bad[] = {
		"m/0003_Rename.yaml", "m/0003.yaml", "m/0003_.yaml",
		"m/003_x.yaml", "m/0003-x.yaml", "m/0003_x.json",
		"m/0003_x", "m/abcd_x.yaml", "m/0003_x y.yaml",
		"m/99999999999_x.yaml", "",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mg_err err = MG_ERR_INIT;
		struct mg_migration m;

		if (mg_migration_load(&m, bad[i], NAME_LIMIT, &err) != -1)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(err.code, MG_EINPUT);
		assert_contains(err.msg, "badly named file '");
		assert_contains(err.msg, bad[i]);
		assert_true(err.hint[0] != '\0');
	}
}

static void test_id_zero_is_not_a_migration(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration m;

	(void)state;
	assert_int_equal(mg_migration_load(&m, "m/0000_init.yaml", NAME_LIMIT, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_contains(err.msg, "bad migration id 0 in 'm/0000_init.yaml'");
}

static void test_missing_file(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration m;
	char *path = fixture("valid/0099_not_there.yaml");

	(void)state;
	assert_int_equal(mg_migration_load(&m, path, NAME_LIMIT, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_contains(err.msg, "cannot read '");
	assert_contains(err.msg, "0099_not_there.yaml'");
	free(path);
}

/* 100,000 levels of flow nesting, each form: refused by its depth, before
 * the tree is built (this took 20 s, quadratic in the depth; the time is
 * printed, not asserted). */
static void test_deep_nesting(void **state)
{
	static const char *const forms[][2] = { { "[", "]" }, { "{a: ", "}" } };
	enum { DEPTH = 100000 };

	(void)state;
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		struct mg_err err = MG_ERR_INIT;
		struct mg_migration m;
		struct mg_buf b = MG_BUF_INIT;
		char *dir = make_dir(), *path;
		int64_t t0;

		mg_buf_adds(&b, "description: deep\noperations: ");
		for (int i = 0; i < DEPTH; i++)
			mg_buf_adds(&b, forms[f][0]);
		mg_buf_adds(&b, "1");
		for (int i = 0; i < DEPTH; i++)
			mg_buf_adds(&b, forms[f][1]);
		mg_buf_adds(&b, "\n");
		write_file(dir, "0001_deep.yaml", b.buf);
		path = mg_xasprintf("%s/0001_deep.yaml", dir);
		t0 = mg_now_ms();
		assert_int_equal(mg_migration_load(&m, path, NAME_LIMIT, &err), -1);
		print_message("%d levels of '%s' refused in %lld ms\n", DEPTH, forms[f][0],
			      (long long)(mg_now_ms() - t0));
		assert_int_equal(err.code, MG_EINPUT);
		assert_contains(err.msg, "nesting deeper than 64 levels at ");
		assert_contains(err.msg, "0001_deep.yaml:2:");
		free(path);
		mg_buf_release(&b);
		remove_dir(dir);
	}
}

static void test_parse_id(void **state)
{
	static const struct { const char *s; int id; } good[] = {
		{ "3", 3 }, { "0003", 3 }, { "0003_rename_user_name", 3 },
		{ "0", 0 }, { "12345", 12345 }, { "2147483647", 2147483647 },
	};
	static const char *const bad[] = {
		"", "abc", "-1", "3x", "+3", " 3", "3 ", "0003_", "_3",
		"2147483648", "99999999999999999999",
	};
	struct mg_err err = MG_ERR_INIT;
	int id;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		id = -1;
		if (mg_migration_parse_id(good[i].s, &id, &err) != 0)
			fail_msg("'%s' was refused: %s", good[i].s, err.msg);
		assert_int_equal(id, good[i].id);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mg_err_clear(&err);
		id = -1;
		if (mg_migration_parse_id(bad[i], &id, &err) != -1)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(err.code, MG_EINPUT);
		assert_int_equal(id, -1);
	}
	mg_err_clear(&err);
	assert_int_equal(mg_migration_parse_id("abc", &id, &err), -1);
	assert_string_equal(err.msg, "bad migration id 'abc': expected a "
			    "number like 3, 0003 or 0003_name");
}

/* ---- a directory of migrations ------------------------------------------- */

static void test_set_sorted_and_filtered(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration_set set;
	char *dir = fixture("set");

	(void)state;
	/* migrate.yaml, README.md and the dotfile are not migrations. */
	if (mg_migration_set_load(&set, dir, NAME_LIMIT, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(set.n, 3);
	assert_int_equal(set.items[0].id, 1);
	assert_string_equal(set.items[0].name, "0001_create_audit");
	assert_string_equal(set.items[0].description, "the first migration");
	assert_int_equal(set.items[1].id, 2);
	assert_string_equal(set.items[1].name, "0002_add_audit_note");
	assert_int_equal(set.items[2].id, 10);
	assert_string_equal(set.items[2].name, "0010_index_audit_note");

	assert_ptr_equal(mg_migration_set_find(&set, 1), &set.items[0]);
	assert_ptr_equal(mg_migration_set_find(&set, 2), &set.items[1]);
	assert_ptr_equal(mg_migration_set_find(&set, 10), &set.items[2]);
	assert_null(mg_migration_set_find(&set, 0));
	assert_null(mg_migration_set_find(&set, 5));
	assert_null(mg_migration_set_find(&set, 11));

	mg_migration_set_release(&set);
	assert_int_equal(set.n, 0);
	free(dir);
}

static void test_set_trailing_slash(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration_set set;
	char *dir = fixture("set/");

	(void)state;
	assert_int_equal(mg_migration_set_load(&set, dir, NAME_LIMIT, &err), 0);
	assert_int_equal(set.n, 3);
	assert_null(strstr(set.items[0].path, "//"));
	mg_migration_set_release(&set);
	free(dir);
}

static void test_set_duplicate_id(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration_set set;
	char *dir = make_dir(), *expected;
	const char *ops = "operations:\n  - sql: {expand: \"SELECT 1\"}\n";

	(void)state;
	write_file(dir, "0001_first.yaml", ops);
	write_file(dir, "0003_b.yaml", ops);
	write_file(dir, "0003_a.yml", ops);
	assert_int_equal(mg_migration_set_load(&set, dir, NAME_LIMIT, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	expected = mg_xasprintf("duplicate migration id 3: %s/0003_a.yml:1:1 "
				"and %s/0003_b.yaml:1:1", dir, dir);
	assert_string_equal(err.msg, expected);
	assert_true(err.hint[0] != '\0');
	assert_null(set.items);
	assert_int_equal(set.n, 0);
	free(expected);
	remove_dir(dir);
}

static void test_set_bad_name(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration_set set;
	char *dir = make_dir(), *expected;

	(void)state;
	write_file(dir, "0001_ok.yaml",
		   "operations:\n  - sql: {expand: \"SELECT 1\"}\n");
	write_file(dir, "3_x.yaml", "operations: []\n");
	assert_int_equal(mg_migration_set_load(&set, dir, NAME_LIMIT, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	expected = mg_xasprintf("badly named file '%s/3_x.yaml' at %s/3_x.yaml:1:1: expected "
				"NNNN_snake_name.yaml", dir, dir);
	assert_contains(err.msg, expected);
	assert_string_equal(err.hint, "rename it to '0003_x.yaml'");
	assert_int_equal(set.n, 0);
	free(expected);
	remove_dir(dir);
}

static void test_set_load_error(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration_set set;
	char *dir = make_dir();

	(void)state;
	/* The first file loads; the second's error fails the whole scan. */
	write_file(dir, "0001_ok.yaml",
		   "operations:\n  - sql: {expand: \"SELECT 1\"}\n");
	write_file(dir, "0002_bad.yaml",
		   "operations:\n  - drop_column: {table: t, colum: c}\n");
	assert_int_equal(mg_migration_set_load(&set, dir, NAME_LIMIT, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_contains(err.msg, "unknown key 'colum' at ");
	assert_contains(err.msg, "/0002_bad.yaml:2:29 ");
	assert_null(set.items);
	assert_int_equal(set.n, 0);
	remove_dir(dir);
}

static void test_set_empty_dir(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration_set set;
	char *dir = make_dir();

	(void)state;
	write_file(dir, "migrate.yaml", "database: sqlite:app.db\n");
	write_file(dir, "migrate.yml", "database: sqlite:app.db\n");
	assert_int_equal(mg_migration_set_load(&set, dir, NAME_LIMIT, &err), 0);
	assert_int_equal(set.n, 0);
	assert_null(mg_migration_set_find(&set, 1));
	mg_migration_set_release(&set);
	remove_dir(dir);
}

static void test_set_missing_dir(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration_set set;

	(void)state;
	assert_int_equal(mg_migration_set_load(&set, "/nonexistent/migrations", NAME_LIMIT, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_string_equal(err.msg, "migrations directory "
			    "'/nonexistent/migrations' does not exist");
	assert_string_equal(err.hint, "pass --migrations DIR or set "
			    "MIGRATE_DIR");
	assert_int_equal(set.n, 0);
}

static void test_set_not_a_dir(void **state)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration_set set;
	char *file = fixture("set/README.md");

	(void)state;
	assert_int_equal(mg_migration_set_load(&set, file, NAME_LIMIT, &err), -1);
	assert_int_equal(err.code, MG_EINPUT);
	assert_contains(err.msg, "is not a directory");
	assert_contains(err.hint, "--migrations DIR");
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_operation),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_index_options),
		cmocka_unit_test(test_checksum_is_sha256_of_the_bytes),
		cmocka_unit_test(test_names),
		ERROR_TEST(unknown_key),
		ERROR_TEST(missing_key),
		ERROR_TEST(wrong_bool),
		ERROR_TEST(columns_not_sequence),
		ERROR_TEST(unknown_operation),
		ERROR_TEST(syntax_error),
		ERROR_TEST(empty_file),
		ERROR_TEST(empty_operations),
		ERROR_TEST(not_nullable),
		ERROR_TEST(long_name),
		cmocka_unit_test(test_name_limit_from_caller),
		ERROR_TEST(rename_to_itself),
		ERROR_TEST(alter_same_name),
		ERROR_TEST(duplicate_key),
		ERROR_TEST(mapping_for_string),
		ERROR_TEST(sql_without_sql),
		ERROR_TEST(keys_not_indented),
		ERROR_TEST(missing_operations),
		ERROR_TEST(empty_name),
		ERROR_TEST(bad_table),
		ERROR_TEST(quoted_bool),
		ERROR_TEST(two_documents),
		ERROR_TEST(columns_item_mapping),
		ERROR_TEST(top_unknown_key),
		ERROR_TEST(top_sequence),
		ERROR_TEST(columns_empty),
		ERROR_TEST(operation_scalar),
		ERROR_TEST(operation_empty),
		ERROR_TEST(operations_mapping),
		ERROR_TEST(invalid_utf8),
		ERROR_TEST(nullable_empty),
		ERROR_TEST(drops_not_sequence),
		cmocka_unit_test(test_badly_named_file),
		cmocka_unit_test(test_other_bad_names),
		cmocka_unit_test(test_id_zero_is_not_a_migration),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_set_sorted_and_filtered),
		cmocka_unit_test(test_set_trailing_slash),
		cmocka_unit_test(test_set_duplicate_id),
		cmocka_unit_test(test_set_bad_name),
		cmocka_unit_test(test_set_load_error),
		cmocka_unit_test(test_set_empty_dir),
		cmocka_unit_test(test_set_missing_dir),
		cmocka_unit_test(test_set_not_a_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
