/*
 * lint_int.h - what the lint engine's files share (lint.c: files, values,
 * rules, positions; lint_suppress.c: the migrate-lint comments;
 * lint_output.c: the formats). The rules and commands include lint.h.
 */
#ifndef MG_LINT_INT_H
#define MG_LINT_INT_H

#include "lint.h"

/* rule's severity after o's --disable, --error and --warning */
enum mg_lint_severity mg_lint_effective(const struct mg_lint_opts *o,
					const struct mg_lint_rule *rule);

/* Append a finding of rule (its default severity); takes message, copies
 * path and hint. */
struct mg_lint_finding *mg_lint_report_add(struct mg_lint_report *r,
					   const struct mg_lint_rule *rule,
					   const char *path, int line, int column,
					   const char *hint, char *message);

/* A finding of an engine rule (id: file-invalid, file-ignored,
 * suppression-...), unless o disables it. */
void mg_lint_engine_add(const struct mg_lint_opts *o, struct mg_lint_report *r,
			const char *id, const char *path, int line, int column,
			const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

/*
 * Apply the `# migrate-lint:` comments of one file's text to its findings
 * r->items[first..] (their severities already set): mark the suppressed
 * ones, and report invalid suppressions and, when the file loaded (its
 * rules ran), unused ones. text NULL: no comments.
 */
void mg_lint_suppress(const struct mg_lint_opts *o, struct mg_lint_report *r,
		      size_t first, const char *path, const char *text, size_t len,
		      int loaded);

#endif
