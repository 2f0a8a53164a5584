/*
 * test_lint.c - the lint engine's positions (mg_lint_locate): a byte offset
 * inside a YAML scalar's value, as libyaml gives it, back to the file's
 * line:column, for every scalar style; and the engine's own findings over
 * a buffer (mg_lint_buffer): file-invalid's position, suppressions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <yaml.h>

#include "lint.h"
#include "lint_int.h"

/* The value of the scalar that follows the key `key` in text, and its
 * position, as the loader sees them (libyaml). */
static char *scalar_after(const char *text, const char *key, struct mg_pos *pos)
{
	yaml_parser_t p;
	yaml_event_t ev;
	char *out = NULL;
	int next = 0, done = 0;

	assert_true(yaml_parser_initialize(&p));
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	while (!done && !out) {
		assert_true(yaml_parser_parse(&p, &ev));
		if (ev.type == YAML_SCALAR_EVENT) {
			if (next) {
				out = strdup((const char *)ev.data.scalar.value);
				pos->line = (int)ev.start_mark.line + 1;
				pos->column = (int)ev.start_mark.column + 1;
			}
			next = !strcmp((const char *)ev.data.scalar.value, key);
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	assert_non_null(out);
	return out;
}

/* Where `needle` (its first occurrence in the value) is in the file. */
static void expect_at(const char *text, const char *needle, int line, int column)
{
	struct mg_pos pos, at;
	char *value = scalar_after(text, "expand", &pos);
	const char *hit = strstr(value, needle);

	assert_non_null(hit);
	at = mg_lint_locate(text, strlen(text), pos, value, (int)(hit - value));
	if (at.line != line || at.column != column)
		fail_msg("'%s' found at %d:%d, expected %d:%d (value %s)", needle, at.line,
			 at.column, line, column, value);
	free(value);
}

static void test_plain(void **state)
{
	(void)state;
	expect_at("sql:\n  expand: CREATE INDEX i ON t (c)\n", "ON t", 2, 26);
	expect_at("sql:\n  expand: CREATE INDEX i ON t (c)\n", "CREATE", 2, 11);
}

static void test_plain_multi_line(void **state)
{
	(void)state;
	/* a plain scalar's line break folds to a space */
	expect_at("sql:\n  expand: CREATE INDEX i\n    ON t (c)\n", "ON t", 3, 5);
}

static void test_double_quoted(void **state)
{
	(void)state;
	expect_at("sql:\n  expand: \"SELECT \\\"a\\\" FROM t\"\n", "FROM", 2, 25);
	expect_at("sql:\n  expand: \"SELECT\\tx FROM t\"\n", "FROM", 2, 22);
}

static void test_single_quoted(void **state)
{
	(void)state;
	expect_at("sql:\n  expand: 'SELECT ''x'' FROM t'\n", "FROM", 2, 25);
	expect_at("sql:\n  expand: 'UPDATE t SET a = 1'\n", "SET", 2, 21);
}

static void test_literal(void **state)
{
	static const char text[] =
		"operations:\n"
		"  - sql:\n"
		"      expand: |\n"
		"        CREATE TABLE t (id int);\n"
		"        CREATE INDEX i ON t (id);\n"
		"\n"
		"          ALTER TABLE t ADD c int;\n";

	(void)state;
	expect_at(text, "CREATE TABLE", 4, 9);
	expect_at(text, "ON t", 5, 24);
	/* a blank line and a line indented deeper than the block */
	expect_at(text, "ALTER", 7, 11);
	expect_at(text, "ADD c", 7, 25);
}

static void test_literal_with_header(void **state)
{
	(void)state;
	expect_at("sql:\n  expand: |-  # trailing comment\n    SELECT 1;\n    DROP TABLE t;\n",
		  "DROP", 4, 5);
	expect_at("sql:\n  expand: |2\n      SELECT 1;\n    DROP TABLE t;\n", "DROP", 4, 5);
}

static void test_folded(void **state)
{
	static const char text[] =
		"sql:\n"
		"  expand: >\n"
		"    ALTER TABLE t\n"
		"    ADD COLUMN c int\n"
		"    DEFAULT random();\n";

	(void)state;
	expect_at(text, "ALTER", 3, 5);
	expect_at(text, "ADD COLUMN", 4, 5);
	expect_at(text, "random", 5, 13);
}

static void test_tag_and_anchor_before_the_scalar(void **state)
{
	(void)state;
	expect_at("sql:\n  expand: !!str |\n    SELECT 1;\n    DROP TABLE t;\n", "DROP", 4, 5);
	expect_at("sql:\n  expand: &e \"SELECT 1; DROP TABLE t\"\n", "DROP", 2, 25);
}

static void test_crlf_line_breaks(void **state)
{
	(void)state;
	expect_at("sql:\r\n  expand: |\r\n    SELECT 1;\r\n    DROP TABLE t;\r\n", "TABLE", 4, 10);
}

static void test_utf8_columns_count_characters(void **state)
{
	(void)state;
	/* libyaml counts characters: so does the engine */
	expect_at("sql:\n  expand: \"SELECT 'é' AS x\"\n", "AS", 2, 23);
}

static void test_unmatched_gives_the_node(void **state)
{
	static const char text[] = "sql:\n  expand: SELECT 1\n";
	struct mg_pos pos = { 2, 11 }, at;

	(void)state;
	at = mg_lint_locate(text, strlen(text), pos, "SELECT 2 FROM elsewhere", 12);
	assert_int_equal(at.line, 2);
	assert_int_equal(at.column, 11);
	at = mg_lint_locate(text, strlen(text), pos, "SELECT 1", -1);
	assert_int_equal(at.line, 2);
	assert_int_equal(at.column, 11);
	/* a position past the end of the text */
	pos.line = 40;
	at = mg_lint_locate(text, strlen(text), pos, "SELECT 1", 3);
	assert_int_equal(at.line, 40);
}

/* ---- the engine over a buffer ------------------------------------------------ */

static const struct mg_lint_finding *find(const struct mg_lint_report *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->items[i].rule->id, id))
			return &r->items[i];
	return NULL;
}

static void lint_text(struct mg_lint_report *r, const char *path, const char *text)
{
	struct mg_lint_opts o;

	memset(&o, 0, sizeof(o));
	o.max_name = 63;
	mg_lint_buffer(&o, path, text, strlen(text), r);
}

static void test_bad_yaml_is_file_invalid_at_its_position(void **state)
{
	struct mg_lint_report r = MG_LINT_REPORT_INIT;
	const struct mg_lint_finding *f;

	(void)state;
	lint_text(&r, "m/0001_bad.yaml", "operations:\n  - add_column:\n      table: t\n     column: x\n");
	f = find(&r, "file-invalid");
	assert_non_null(f);
	assert_int_equal(f->line, 4);
	assert_true(f->column > 0);
	assert_null(strstr(f->message, "m/0001_bad.yaml"));
	assert_int_equal(r.errors, 1);
	assert_int_equal(r.files, 1);
	mg_lint_report_release(&r);
}

static void test_bad_name_is_file_ignored(void **state)
{
	struct mg_lint_report r = MG_LINT_REPORT_INIT;
	const struct mg_lint_finding *f;

	(void)state;
	lint_text(&r, "m/1_add-x.yaml", "operations: []\n");
	f = find(&r, "file-ignored");
	assert_non_null(f);
	assert_int_equal(f->line, 0);
	assert_non_null(strstr(f->hint, "0001_add_x.yaml"));
	assert_int_equal(r.warnings, 1);
	assert_int_equal(r.errors, 0);
	mg_lint_report_release(&r);
}

static void test_suppression_without_reason_or_rule(void **state)
{
	struct mg_lint_report r = MG_LINT_REPORT_INIT;

	(void)state;
	lint_text(&r, "m/0001_s.yaml",
		  "operations:\n"
		  "  # migrate-lint: ignore index-not-concurrent\n"
		  "  # migrate-lint: ignore no-such-rule -- because\n"
		  "  # migrate-lint: ignore-file type-json -- legacy table\n"
		  "  - sql:\n"
		  "      expand: SELECT 1\n"
		  "      rollback: SELECT 1\n");
	assert_int_equal(r.n, 3);
	assert_int_equal(r.items[0].line, 2);
	assert_string_equal(r.items[0].rule->id, "suppression-invalid");
	assert_non_null(strstr(r.items[0].message, "no reason"));
	assert_int_equal(r.items[1].line, 3);
	assert_non_null(strstr(r.items[1].message, "no-such-rule"));
	/* the valid one found nothing to suppress */
	assert_int_equal(r.items[2].line, 4);
	assert_int_equal(r.items[2].column, 3);
	assert_string_equal(r.items[2].rule->id, "suppression-unused");
	assert_int_equal(r.errors, 2);
	assert_int_equal(r.warnings, 1);
	mg_lint_report_release(&r);
}

/* ---- suppressions over findings placed by hand ----------------------------- */

static const char SUPPRESSED_FILE[] =
	"operations:\n"						/* 1 */
	"  # migrate-lint: ignore index-not-concurrent -- tiny lookup table\n"	/* 2 */
	"  - sql:\n"							/* 3 */
	"      expand: |\n"						/* 4 */
	"        CREATE INDEX a ON t (c);\n"				/* 5 */
	"      rollback: DROP INDEX a;\n"				/* 6 */
	"  - sql:\n"							/* 7 */
	"      expand: CREATE INDEX b ON t (c)  # migrate-lint: ignore index-not-concurrent,type-json -- built before launch\n" /* 8 */
	"      rollback: DROP INDEX b;\n"				/* 9 */
	"  - sql:\n"							/* 10 */
	"      expand: CREATE INDEX c ON t (c)\n"			/* 11 */
	"# migrate-lint: ignore-file type-char -- the legacy schema\n"	/* 12 */
	"# migrate-lint: ignore file-invalid -- no\n";			/* 13 */

static void place(struct mg_lint_report *r, const char *id, int line)
{
	mg_lint_report_add(r, mg_lint_rule_find(id), "0001_s.yaml", line, 9, NULL,
			   strdup("placed"));
}

static const struct mg_lint_finding *at_line(const struct mg_lint_report *r, const char *id,
					     int line)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->items[i].rule->id, id) && r->items[i].line == line)
			return &r->items[i];
	fail_msg("no %s finding at line %d", id, line);
	return NULL;
}

static void test_suppression_scopes(void **state)
{
	struct mg_lint_report r = MG_LINT_REPORT_INIT;
	struct mg_lint_opts o;

	(void)state;
	memset(&o, 0, sizeof(o));
	place(&r, "index-not-concurrent", 5);	/* in the node below line 2 */
	place(&r, "index-not-concurrent", 8);	/* trailing comment's own line */
	place(&r, "index-not-concurrent", 11);	/* no comment covers it */
	place(&r, "type-char", 11);		/* ignore-file */
	mg_lint_suppress(&o, &r, 0, "0001_s.yaml", SUPPRESSED_FILE, strlen(SUPPRESSED_FILE), 1);
	assert_string_equal(at_line(&r, "index-not-concurrent", 5)->suppressed, "tiny lookup table");
	assert_string_equal(at_line(&r, "index-not-concurrent", 8)->suppressed, "built before launch");
	assert_null(at_line(&r, "index-not-concurrent", 11)->suppressed);
	assert_string_equal(at_line(&r, "type-char", 11)->suppressed, "the legacy schema");
	/* line 8's comment also named type-json, which it did suppress: used */
	for (size_t i = 0; i < r.n; i++)
		if (!strcmp(r.items[i].rule->id, "suppression-unused"))
			fail_msg("unused at line %d", r.items[i].line);
	/* the engine's own rules cannot be suppressed */
	assert_non_null(strstr(at_line(&r, "suppression-invalid", 13)->message, "cannot be suppressed"));
	mg_lint_report_release(&r);
}

static void test_suppression_of_a_key_covers_its_items(void **state)
{
	static const char text[] =
		"# migrate-lint: ignore type-json -- every column of this file\n"
		"operations:\n"
		"- add_column:\n"
		"    table: t\n"
		"- add_column:\n"
		"    type: json\n"
		"description: x\n"
		"# migrate-lint: ignore type-json -- nothing below\n";
	struct mg_lint_report r = MG_LINT_REPORT_INIT;
	struct mg_lint_opts o;

	(void)state;
	memset(&o, 0, sizeof(o));
	place(&r, "type-json", 6);
	place(&r, "type-json", 7);
	mg_lint_suppress(&o, &r, 0, "0001_s.yaml", text, strlen(text), 1);
	assert_non_null(at_line(&r, "type-json", 6)->suppressed);
	assert_null(at_line(&r, "type-json", 7)->suppressed);
	assert_int_equal(at_line(&r, "suppression-unused", 8)->column, 1);
	/* a rule disabled on the command line: its suppression is not unused */
	mg_lint_report_release(&r);
	{
		const char *off[] = { "type-json" };

		o.disabled = off;
		o.n_disabled = 1;
		mg_lint_suppress(&o, &r, 0, "0001_s.yaml", text, strlen(text), 1);
		assert_int_equal(r.n, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_multi_line),
		cmocka_unit_test(test_double_quoted),
		cmocka_unit_test(test_single_quoted),
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_literal_with_header),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_tag_and_anchor_before_the_scalar),
		cmocka_unit_test(test_crlf_line_breaks),
		cmocka_unit_test(test_utf8_columns_count_characters),
		cmocka_unit_test(test_unmatched_gives_the_node),
		cmocka_unit_test(test_bad_yaml_is_file_invalid_at_its_position),
		cmocka_unit_test(test_bad_name_is_file_ignored),
		cmocka_unit_test(test_suppression_without_reason_or_rule),
		cmocka_unit_test(test_suppression_scopes),
		cmocka_unit_test(test_suppression_of_a_key_covers_its_items),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
