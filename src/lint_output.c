/*
 * lint_output.c - the formats of `migrate lint` (lint.h):
 *
 *   text    file:line:col: error[RULE]: message, then "  hint: ..."
 *           (suppressed findings only with -v)
 *   json    {"command":"lint","files","errors","warnings","infos","findings"}
 *   sarif   SARIF 2.1.0, what GitHub code scanning ingests
 *   github  workflow commands: ::error file=F,line=L,col=C,title=RULE::message
 *   gcc     file:line:col: error: message [RULE], then "note: hint"
 *
 * A finding of the whole file (line 0) shows no line and column.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lint.h"
#include "output.h"

/* Where the rules' pages live (helpUri): docs/lint/<id>.md of the
 * project's repository (CMake: -DMIGRATE_HOMEPAGE=...). */
#ifndef MIGRATE_HOMEPAGE
#define MIGRATE_HOMEPAGE "https://github.com/migrate-tool/migrate"
#endif
#define DOCS_BASE MIGRATE_HOMEPAGE "/blob/main/docs/lint/"

static const char *where(char buf[64], const struct mg_lint_finding *f)
{
	if (f->line > 0)
		snprintf(buf, 64, ":%d:%d", f->line, f->column);
	else
		buf[0] = '\0';
	return buf;
}

/* ---- text and gcc ---------------------------------------------------------- */

static void print_text(FILE *out, const struct mg_lint_report *r)
{
	char pos[64];

	for (size_t i = 0; i < r->n; i++) {
		const struct mg_lint_finding *f = &r->items[i];

		if (f->suppressed && mg_verbosity < 1)
			continue;
		fprintf(out, "%s%s: %s[%s]: %s", f->path, where(pos, f),
			mg_lint_severity_name(f->severity), f->rule->id, f->message);
		if (f->suppressed)
			fprintf(out, " (suppressed: %s)", f->suppressed);
		fputc('\n', out);
		if (f->hint)
			fprintf(out, "  hint: %s\n", f->hint);
	}
}

static const char *gcc_level(enum mg_lint_severity s)
{
	return s == MG_LINT_ERROR ? "error" : s == MG_LINT_WARNING ? "warning" : "note";
}

static void print_gcc(FILE *out, const struct mg_lint_report *r)
{
	char pos[64];

	for (size_t i = 0; i < r->n; i++) {
		const struct mg_lint_finding *f = &r->items[i];

		if (f->suppressed)
			continue;
		fprintf(out, "%s%s: %s: %s [%s]\n", f->path, where(pos, f),
			gcc_level(f->severity), f->message, f->rule->id);
		if (f->hint)
			fprintf(out, "%s%s: note: %s\n", f->path, where(pos, f), f->hint);
	}
}

/* ---- github ---------------------------------------------------------------- */

/* GitHub's workflow-command escapes (actions/toolkit, command.ts): data
 * escapes % CR LF; a property's value also : and ,. */
static void gh_escape(FILE *out, const char *s, int property)
{
	for (; *s; s++) {
		if (*s == '%')
			fputs("%25", out);
		else if (*s == '\r')
			fputs("%0D", out);
		else if (*s == '\n')
			fputs("%0A", out);
		else if (property && *s == ':')
			fputs("%3A", out);
		else if (property && *s == ',')
			fputs("%2C", out);
		else
			fputc(*s, out);
	}
}

static void print_github(FILE *out, const struct mg_lint_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct mg_lint_finding *f = &r->items[i];
		const char *level = f->severity == MG_LINT_ERROR ? "error"
			: f->severity == MG_LINT_WARNING ? "warning" : "notice";

		if (f->suppressed)
			continue;
		fprintf(out, "::%s file=", level);
		gh_escape(out, f->path, 1);
		if (f->line > 0)
			fprintf(out, ",line=%d,col=%d", f->line, f->column);
		fputs(",title=", out);
		gh_escape(out, f->rule->id, 1);
		fputs("::", out);
		gh_escape(out, f->message, 0);
		if (f->hint) {
			gh_escape(out, "\nhint: ", 0);
			gh_escape(out, f->hint, 0);
		}
		fputc('\n', out);
	}
}

/* ---- json ---------------------------------------------------------------- */

json_t *mg_lint_json(const struct mg_lint_report *r)
{
	json_t *findings = json_array();

	for (size_t i = 0; i < r->n; i++) {
		const struct mg_lint_finding *f = &r->items[i];

		json_array_append_new(findings, json_pack(
			"{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:o, s:o}",
			"rule", f->rule->id, "severity", mg_lint_severity_name(f->severity),
			"category", f->rule->category, "file", f->path,
			"line", f->line, "column", f->column, "message", f->message,
			"hint", f->hint ? json_string(f->hint) : json_null(),
			"suppressed", f->suppressed ? json_string(f->suppressed) : json_null()));
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:o}", "files", (json_int_t)r->files,
			 "errors", (json_int_t)r->errors, "warnings", (json_int_t)r->warnings,
			 "infos", (json_int_t)r->infos, "findings", findings);
}

json_t *mg_lint_rules_json(void)
{
	json_t *rules = json_array();

	for (size_t i = 0; i < mg_lint_n_rules; i++) {
		const struct mg_lint_rule *rule = &mg_lint_rules[i];

		json_array_append_new(rules, json_pack("{s:s, s:s, s:s, s:s}",
			"id", rule->id, "severity", mg_lint_severity_name(rule->severity),
			"category", rule->category, "summary", rule->summary));
	}
	return json_pack("{s:o}", "rules", rules);
}

static void dump(FILE *out, json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	fprintf(out, "%s\n", s);
	free(s);
	json_decref(doc);
}

/* ---- sarif --------------------------------------------------------------- */

static const char *sarif_level(enum mg_lint_severity s)
{
	return s == MG_LINT_ERROR ? "error" : s == MG_LINT_WARNING ? "warning" : "note";
}

static json_t *sarif_rules(void)
{
	json_t *rules = json_array();

	for (size_t i = 0; i < mg_lint_n_rules; i++) {
		const struct mg_lint_rule *rule = &mg_lint_rules[i];
		char *help = mg_xasprintf(DOCS_BASE "%s.md", rule->id);

		json_array_append_new(rules, json_pack(
			"{s:s, s:s, s:{s:s}, s:s, s:{s:s}, s:{s:s}}",
			"id", rule->id, "name", rule->id,
			"shortDescription", "text", rule->summary, "helpUri", help,
			"defaultConfiguration", "level", sarif_level(rule->severity),
			"properties", "category", rule->category));
		free(help);
	}
	return rules;
}

static size_t rule_index(const struct mg_lint_rule *rule)
{
	return (size_t)(rule - mg_lint_rules);
}

/* An artifact's URI: relative to the working directory (the repository's
 * root in CI) when it is below it, with what a URI cannot hold escaped. */
static char *sarif_uri(const char *path)
{
	struct mg_buf b = MG_BUF_INIT;
	char cwd[4096];
	size_t n;

	if (path[0] == '/' && getcwd(cwd, sizeof(cwd)) && (n = strlen(cwd)) > 1 &&
	    !strncmp(path, cwd, n) && path[n] == '/')
		path += n + 1;
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
			mg_buf_addc(&b, (char)*p);
		else
			mg_buf_addf(&b, "%%%02X", *p);
	}
	return mg_buf_detach(&b);
}

static json_t *sarif_result(const struct mg_lint_finding *f)
{
	char *uri = sarif_uri(f->path);
	json_t *loc = json_pack("{s:{s:s}}", "artifactLocation", "uri", uri);
	json_t *res;
	struct mg_buf text = MG_BUF_INIT;

	if (f->line > 0)
		json_object_set_new(loc, "region", json_pack("{s:i, s:i}", "startLine", f->line,
							     "startColumn", f->column > 0 ? f->column : 1));
	mg_buf_adds(&text, f->message);
	if (f->hint)
		mg_buf_addf(&text, "\nhint: %s", f->hint);
	res = json_pack("{s:s, s:I, s:s, s:{s:s}, s:[{s:o}]}", "ruleId", f->rule->id,
			"ruleIndex", (json_int_t)rule_index(f->rule),
			"level", sarif_level(f->severity), "message", "text", text.buf,
			"locations", "physicalLocation", loc);
	if (f->suppressed)
		json_object_set_new(res, "suppressions", json_pack("[{s:s, s:s}]", "kind", "inSource",
								   "justification", f->suppressed));
	mg_buf_release(&text);
	free(uri);
	return res;
}

static json_t *sarif_doc(const struct mg_lint_report *r)
{
	json_t *results = json_array();

	for (size_t i = 0; i < r->n; i++)
		json_array_append_new(results, sarif_result(&r->items[i]));
	return json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:s, s:o}]}",
			 "$schema", "https://json.schemastore.org/sarif-2.1.0.json",
			 "version", "2.1.0", "runs", "tool", "driver",
			 "name", "migrate", "version", MIGRATE_VERSION,
			 "informationUri", MIGRATE_HOMEPAGE, "rules", sarif_rules(),
			 "columnKind", "unicodeCodePoints", "results", results);
}

void mg_lint_print(FILE *f, const struct mg_lint_report *r, enum mg_lint_format format)
{
	json_t *doc, *body;

	switch (format) {
	case MG_LINT_TEXT:
		print_text(f, r);
		return;
	case MG_LINT_GCC:
		print_gcc(f, r);
		return;
	case MG_LINT_GITHUB:
		print_github(f, r);
		return;
	case MG_LINT_JSON:
		doc = json_pack("{s:s}", "command", "lint");
		body = mg_lint_json(r);
		json_object_update(doc, body);
		json_decref(body);
		dump(f, doc);
		return;
	case MG_LINT_SARIF:
		dump(f, sarif_doc(r));
		return;
	}
}

void mg_lint_print_rules(FILE *f, int json)
{
	if (json) {
		dump(f, mg_lint_rules_json());
		return;
	}
	for (size_t i = 0; i < mg_lint_n_rules; i++) {
		const struct mg_lint_rule *rule = &mg_lint_rules[i];

		fprintf(f, "%-28s %-7s %-8s %s\n", rule->id, mg_lint_severity_name(rule->severity),
			rule->category, rule->summary);
	}
}
