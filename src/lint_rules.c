/*
 * lint_rules.c - the rules of `migrate lint` (see lint.h): one line of the
 * table per rule, one function per rule. Each rule's page is
 * docs/lint/<id>.md; its failing and passing examples are in tests/lint/.
 */
#include <string.h>

#include "lint.h"

#define RULE(id, sev, cat, summary, fn) { id, MG_LINT_##sev, cat, summary, fn }

const struct mg_lint_rule mg_lint_rules[] = {
	/* the file itself (raised by the engine, lint.c) */
	RULE("file-invalid", ERROR, "file", "the file does not load: bad YAML, an unknown key, a wrong value", NULL),
	RULE("file-ignored", WARNING, "file", "a file in the migrations folder that migrate does not read (not NNNN_name.yaml)", NULL),
	RULE("sql-syntax", ERROR, "file", "SQL or an SQL expression that does not parse", NULL),
	RULE("suppression-invalid", ERROR, "file", "a migrate-lint comment without a reason or naming no known rule", NULL),
	RULE("suppression-unused", WARNING, "file", "a migrate-lint suppression that suppresses nothing", NULL),
	/* phases: what only a tool that knows which version runs when can say */
	RULE("expand-breaks-old", ERROR, "phase", "expand SQL drops, renames or narrows something the old version still uses", NULL),
	RULE("contract-adds", ERROR, "phase", "contract SQL adds something the new version needs (it ran without it since switch-reads)", NULL),
	RULE("rollback-missing", ERROR, "phase", "a sql step changes the schema at expand and has no rollback SQL", NULL),
	RULE("expand-not-rerunnable", ERROR, "phase", "expand SQL outside a transaction that fails when run again after a crash", NULL),
	RULE("transaction-control", ERROR, "phase", "BEGIN, COMMIT or ROLLBACK in a sql step: migrate runs each step's transaction itself", NULL),
	/* locks */
	RULE("index-not-concurrent", ERROR, "lock", "CREATE or DROP INDEX without CONCURRENTLY on an existing table blocks writes", NULL),
	RULE("concurrently-in-transaction", ERROR, "lock", "CONCURRENTLY in a step that runs in a transaction fails", NULL),
	RULE("constraint-not-valid", ERROR, "lock", "FOREIGN KEY or CHECK added without NOT VALID scans the table under a lock", NULL),
	RULE("set-not-null", ERROR, "lock", "SET NOT NULL without a validated CHECK (col IS NOT NULL) scans the table under an exclusive lock", NULL),
	RULE("type-rewrite", ERROR, "lock", "ALTER COLUMN TYPE that rewrites the table under an exclusive lock", NULL),
	RULE("volatile-default", ERROR, "lock", "ADD COLUMN with a volatile default rewrites the table", NULL),
	RULE("blocking-maintenance", ERROR, "lock", "VACUUM FULL, CLUSTER, LOCK TABLE or REINDEX without CONCURRENTLY blocks the table", NULL),
	RULE("unique-without-index", ERROR, "lock", "UNIQUE or PRIMARY KEY constraint added without USING INDEX builds its index under a lock", NULL),
	RULE("update-in-expand", WARNING, "lock", "an UPDATE or DELETE of a whole table in one statement: use a backfill", NULL),
	/* native operations that do it safely */
	RULE("prefer-native", WARNING, "native", "a sql step doing what a native operation does safely for both versions", NULL),
	/* hygiene */
	RULE("type-json", WARNING, "hygiene", "json where jsonb is available", NULL),
	RULE("type-timestamp", WARNING, "hygiene", "timestamp without time zone", NULL),
	RULE("type-serial", WARNING, "hygiene", "serial instead of an identity column", NULL),
	RULE("int-primary-key", WARNING, "hygiene", "a 32-bit integer primary key runs out", NULL),
	RULE("type-char", WARNING, "hygiene", "char(n) pads and truncates: use varchar(n) or text", NULL),
	RULE("down-missing", WARNING, "hygiene", "no `down` where the old version keeps writing the column", NULL),
	RULE("non-deterministic", WARNING, "hygiene", "a volatile function in an expression that must give the same value each time (up, down, backfill)", NULL),
};

const size_t mg_lint_n_rules = sizeof(mg_lint_rules) / sizeof(mg_lint_rules[0]);

const struct mg_lint_rule *mg_lint_rule_find(const char *id)
{
	for (size_t i = 0; i < mg_lint_n_rules; i++)
		if (!strcmp(mg_lint_rules[i].id, id))
			return &mg_lint_rules[i];
	return NULL;
}
