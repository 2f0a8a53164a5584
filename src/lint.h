/*
 * lint.h - `migrate lint` (issue 14): phase-aware rules over migration
 * files, offline (no database).
 *
 *   lint.c         the engine: which files, loading each on its own (a
 *                  file that does not load is a finding, not a stop),
 *                  suppressions (`# migrate-lint: ignore RULE -- reason`),
 *                  severities, positions (mg_lint_locate);
 *   lint_rules.c   the rules: one table (mg_lint_rules) and one function
 *                  per rule over a loaded file and the facts its driver
 *                  reads in its SQL (drivers' lint_sql, driver.h);
 *   lint_output.c  text, json, sarif, github, gcc;
 *   cmd/lint.c     the command; cmd/check.c runs the same engine.
 *
 * Every rule has a page, docs/lint/<id>.md, and a failing and a passing
 * example in tests/lint/.
 */
#ifndef MG_LINT_H
#define MG_LINT_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "migration.h"
#include "../drivers/driver.h"

enum mg_lint_severity {
	MG_LINT_OFF,
	MG_LINT_INFO,
	MG_LINT_WARNING,
	MG_LINT_ERROR
};

const char *mg_lint_severity_name(enum mg_lint_severity s);	/* "error"... */

struct mg_lint_ctx;

struct mg_lint_rule {
	const char *id;			/* "expand-breaks-old": docs/lint/<id>.md */
	enum mg_lint_severity severity;	/* default */
	const char *category;		/* "file", "phase", "lock", "native", "hygiene" */
	const char *summary;		/* one line, for --list-rules and SARIF */
	/* runs over one loaded file (NULL: the engine raises it itself,
	 * e.g. file-invalid, suppression-unused) */
	void (*run)(struct mg_lint_ctx *c);
};

/* The rules (lint_rules.c), in the order lint --list-rules shows them. */
extern const struct mg_lint_rule mg_lint_rules[];
extern const size_t mg_lint_n_rules;
const struct mg_lint_rule *mg_lint_rule_find(const char *id);

struct mg_lint_finding {
	const struct mg_lint_rule *rule;
	enum mg_lint_severity severity;	/* after --error/--warning/--disable */
	char *path;			/* as given */
	int line, column;		/* 1-based; 0 when the whole file */
	char *message;			/* one sentence: what, and why unsafe */
	char *hint;			/* what to write instead, or NULL */
	char *suppressed;		/* the suppression's reason, or NULL */
};

struct mg_lint_report {
	struct mg_lint_finding *items;
	size_t n, cap;
	size_t files;			/* files linted */
	size_t errors, warnings, infos;	/* not counting suppressed ones */
};

#define MG_LINT_REPORT_INIT { NULL, 0, 0, 0, 0, 0, 0 }

/*
 * One SQL-bearing value of the file and what the driver read in it, read
 * once by the engine before the rules run: every sql step's phases, every
 * expression (add_column default and backfill, alter_column up and down,
 * drop_column down, create_index where, add_check check, the rules' up,
 * set_default default, create_table's column defaults and checks and its
 * table checks), every type (add_column, alter_column, create_table's
 * columns).
 */
struct mg_lint_value {
	size_t op;			/* index in m->ops */
	const char *field;		/* "expand" ... "rollback", "up", "down",
					 * "default", "backfill", "where",
					 * "check", "type" */
	enum mg_sql_phase phase;	/* sql steps; MG_SQL_NPHASES otherwise */
	enum mg_lint_text kind;		/* statements, expression or type */
	const char *column;		/* create_table: the column, else NULL */
	const char *value;		/* the text (owned by the migration) */
	struct mg_pos pos;		/* of the value */
	struct mg_sql_facts facts;
};

/* What a rule sees of one file. */
struct mg_lint_ctx {
	const struct mg_driver *drv;	/* reads the SQL; NULL: none */
	const struct mg_migration *m;	/* the loaded file */
	const char *text;		/* the file's bytes, NUL-terminated */
	size_t len;
	struct mg_lint_value *values;	/* in file order */
	size_t n_values;
	struct mg_lint_report *out;
	const struct mg_lint_rule *rule;	/* the rule running */
};

/*
 * Report a finding of the running rule at the position of byte `offset`
 * of value (a string of the loaded file whose value starts at pos; offset
 * -1 or value NULL: pos itself). hint may be NULL.
 */
void mg_lint_add(struct mg_lint_ctx *c, struct mg_pos pos, const char *value,
		 int offset, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/*
 * The file position of byte offset of value, a scalar of the YAML text
 * whose node starts at pos (plain, quoted, literal `|` or folded `>`):
 * found by matching the value's lines in the text after pos; pos when
 * they cannot be matched.
 */
struct mg_pos mg_lint_locate(const char *text, size_t len, struct mg_pos pos,
			     const char *value, int offset);

struct mg_lint_opts {
	const struct mg_driver *drv;	/* the target's dialect */
	const char *const *errors;	/* rule ids raised to error */
	size_t n_errors;
	const char *const *warnings;	/* rule ids lowered to warning */
	size_t n_warnings;
	const char *const *disabled;	/* rule ids not run */
	size_t n_disabled;
	size_t max_name;		/* as for mg_migration_load */
};

/* Lint the files (paths) into out; a directory is every file in it
 * (including those migrate would not read: file-ignored). 0, or -1 with
 * err when a path cannot be read at all (MG_EINPUT). */
int mg_lint_paths(const struct mg_lint_opts *o, const char *const *paths,
		  size_t n, struct mg_lint_report *out, struct mg_err *err);

/* Lint one file's bytes (the fuzzer's entry point: never fails). */
void mg_lint_buffer(const struct mg_lint_opts *o, const char *path,
		    const char *text, size_t len, struct mg_lint_report *out);

void mg_lint_report_release(struct mg_lint_report *r);

enum mg_lint_format {
	MG_LINT_TEXT,	/* file:line:col: error[RULE]: message */
	MG_LINT_JSON,
	MG_LINT_SARIF,	/* SARIF 2.1.0 */
	MG_LINT_GITHUB,	/* ::error file=...,line=...,col=...,title=RULE::message */
	MG_LINT_GCC	/* file:line:col: error: message [RULE] */
};

/* Print r to f in format (lint_output.c). Text hides suppressed findings
 * unless -v (mg_verbosity > 0); gcc and github never show them. */
void mg_lint_print(FILE *f, const struct mg_lint_report *r, enum mg_lint_format format);

/* r as JSON: {"files","errors","warnings","infos","findings":[...]} (the
 * lint document without "command"; check embeds it). New reference. */
json_t *mg_lint_json(const struct mg_lint_report *r);

/* --list-rules: one line per rule, or {"rules":[{id,severity,category,
 * summary}]} when json. */
void mg_lint_print_rules(FILE *f, int json);
json_t *mg_lint_rules_json(void);

#endif
