/*
 * lint_rules.c - the rules of `migrate lint` (see lint.h): one line of the
 * table per rule, one function per rule. Each rule's page is
 * docs/lint/<id>.md; its failing and passing examples are in tests/lint/.
 */
#include <string.h>

#include "lint.h"
#include "lint_rules.h"

#define RULE(id, sev, cat, summary, fn) { id, MG_LINT_##sev, cat, summary, fn }

const struct mg_lint_rule mg_lint_rules[] = {
	/* the file itself (raised by the engine, lint.c) */
	RULE("file-invalid", ERROR, "file", "the file does not load: bad YAML, an unknown key, a wrong value", NULL),
	RULE("file-ignored", WARNING, "file", "a file in the migrations folder that migrate does not read (not NNNN_name.yaml)", NULL),
	RULE("sql-syntax", ERROR, "file", "SQL or an SQL expression that does not parse", mg_lint_sql_syntax),
	RULE("suppression-invalid", ERROR, "file", "a migrate-lint comment without a reason or naming no known rule", NULL),
	RULE("suppression-unused", WARNING, "file", "a migrate-lint suppression that suppresses nothing", NULL),
	/* phases: what only a tool that knows which version runs when can say */
	RULE("expand-breaks-old", ERROR, "phase", "SQL before contract (expand, backfill, switch_reads) drops, renames or narrows something the old version still uses", mg_lint_expand_breaks_old),
	RULE("contract-adds", ERROR, "phase", "contract SQL adds something the new version needs (it ran without it since switch-reads)", mg_lint_contract_adds),
	RULE("rollback-missing", ERROR, "phase", "a sql step has expand SQL and no rollback SQL: migrate rollback refuses the whole migration", mg_lint_rollback_missing),
	RULE("expand-not-rerunnable", ERROR, "phase", "DDL no transaction undoes (in_transaction: false, or MySQL) that fails when run again after a crash", mg_lint_expand_not_rerunnable),
	RULE("transaction-control", ERROR, "phase", "BEGIN, COMMIT or ROLLBACK in a sql step: migrate runs each step's transaction itself", mg_lint_transaction_control),
	/* locks */
	RULE("index-not-concurrent", ERROR, "lock", "CREATE or DROP INDEX without CONCURRENTLY on an existing table blocks writes", mg_lint_index_not_concurrent),
	RULE("concurrently-in-transaction", ERROR, "lock", "CONCURRENTLY in a step that runs in a transaction fails", mg_lint_concurrently_in_transaction),
	RULE("constraint-not-valid", ERROR, "lock", "FOREIGN KEY or CHECK added without NOT VALID scans the table under a lock", mg_lint_constraint_not_valid),
	RULE("set-not-null", ERROR, "lock", "SET NOT NULL without a validated CHECK (col IS NOT NULL) scans the table under an exclusive lock", mg_lint_set_not_null),
	RULE("type-rewrite", ERROR, "lock", "ALTER COLUMN TYPE that rewrites the table under an exclusive lock", mg_lint_type_rewrite),
	RULE("volatile-default", ERROR, "lock", "ADD COLUMN with a volatile default rewrites the table", mg_lint_volatile_default),
	RULE("blocking-maintenance", ERROR, "lock", "VACUUM FULL, CLUSTER, LOCK TABLE or REINDEX without CONCURRENTLY blocks the table", mg_lint_blocking_maintenance),
	RULE("unique-without-index", ERROR, "lock", "UNIQUE or PRIMARY KEY constraint added without USING INDEX builds its index under a lock", mg_lint_unique_without_index),
	RULE("update-in-expand", WARNING, "lock", "an UPDATE or DELETE of every row in one statement: use a batched backfill", mg_lint_update_in_expand),
	/* native operations that do it safely */
	RULE("prefer-native", WARNING, "native", "a sql step doing what a native operation does safely for both versions", mg_lint_prefer_native),
	/* hygiene */
	RULE("type-json", WARNING, "hygiene", "json where jsonb is available", mg_lint_type_json),
	RULE("type-timestamp", WARNING, "hygiene", "timestamp without time zone", mg_lint_type_timestamp),
	RULE("type-serial", WARNING, "hygiene", "serial instead of an identity column", mg_lint_type_serial),
	RULE("int-primary-key", WARNING, "hygiene", "a single-column primary key of a 32-bit integer type runs out at 2^31", mg_lint_int_primary_key),
	RULE("type-char", WARNING, "hygiene", "char(n) pads and truncates: use varchar(n) or text", mg_lint_type_char),
	RULE("down-missing", WARNING, "hygiene", "drop_column without `down` (the old version reads NULL in the new version's rows) or drop_not_null without it (rollback stops at the NULLs)", mg_lint_down_missing),
	RULE("non-deterministic", WARNING, "hygiene", "a volatile function (now(), random()...) in alter_column's up or down, which switch-reads recomputes and compares", mg_lint_non_deterministic),
};

const size_t mg_lint_n_rules = sizeof(mg_lint_rules) / sizeof(mg_lint_rules[0]);

const struct mg_lint_rule *mg_lint_rule_find(const char *id)
{
	for (size_t i = 0; i < mg_lint_n_rules; i++)
		if (!strcmp(mg_lint_rules[i].id, id))
			return &mg_lint_rules[i];
	return NULL;
}
