/*
 * lint_suppress.c - `# migrate-lint:` comments (lint.h):
 *
 *   # migrate-lint: ignore RULE[,RULE] -- reason
 *       on a line of its own: the rules' findings in the YAML node that
 *       starts on the next line that is not blank or a comment (the
 *       operation, or the key, and everything indented below it);
 *       trailing a value: in the node that starts on its own line;
 *   # migrate-lint: ignore-file RULE[,RULE] -- reason
 *       anywhere: in the whole file.
 *
 * The reason is required: a suppression is a decision someone made, and
 * the next reader needs to know why. A comment that names no known rule
 * or gives no reason is suppression-invalid (it suppresses nothing); one
 * that suppresses nothing is suppression-unused.
 *
 * The YAML parser drops comments, so they are read from the text, and a
 * node's extent is read from indentation: the block style every migration
 * file is written in.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lint_int.h"

#define MARK "migrate-lint:"

struct suppression {
	int line, column;	/* of the comment's '#' */
	int file_wide;
	int first, last;	/* lines it covers (ignore) */
	char **rules;
	size_t n_rules;
	char *reason;
	int used;
};

struct lines {
	const char *text;
	size_t len;
	size_t *start;		/* byte offset of each line (0-based index) */
	size_t n;
};

static void split_lines(struct lines *l, const char *text, size_t len)
{
	size_t cap = 0;

	l->text = text;
	l->len = len;
	l->start = NULL;
	l->n = 0;
	for (size_t i = 0; i <= len; i++)
		if (i == 0 || text[i - 1] == '\n') {
			if (i == len && i > 0)
				break;
			MG_ALLOC_GROW(l->start, l->n + 1, cap);
			l->start[l->n++] = i;
		}
}

static size_t line_end(const struct lines *l, size_t i)
{
	const char *nl = memchr(l->text + l->start[i], '\n', l->len - l->start[i]);

	return nl ? (size_t)(nl - l->text) : l->len;
}

/* Indentation of line i, or -1 when it is blank or a comment. */
static int indent_of(const struct lines *l, size_t i)
{
	size_t p = l->start[i], end = line_end(l, i);
	int n = 0;

	while (p < end && l->text[p] == ' ') {
		p++;
		n++;
	}
	if (p >= end || l->text[p] == '#' || l->text[p] == '\r')
		return -1;
	return n;
}

static int is_item(const struct lines *l, size_t i, int indent)
{
	const char *s = l->text + l->start[i] + indent;

	return s[0] == '-' && (s[1] == ' ' || s[1] == '\n' || s[1] == '\0');
}

/* The last line (0-based) of the node that starts on line i: the lines
 * indented deeper, and a key's sequence items written at its own
 * indentation ("operations:" then "- sql:"). */
static size_t node_end(const struct lines *l, size_t i)
{
	int ind = indent_of(l, i), key_of_items = ind >= 0 && !is_item(l, i, ind);
	size_t last = i;

	for (size_t k = i + 1; k < l->n; k++) {
		int d = indent_of(l, k);

		if (d < 0)
			continue;
		if (d > ind || (d == ind && key_of_items && is_item(l, k, d)))
			last = k;
		else
			break;
	}
	return last;
}

/* ---- reading one comment ----------------------------------------------- */

static void free_suppression(struct suppression *s)
{
	for (size_t i = 0; i < s->n_rules; i++)
		free(s->rules[i]);
	free(s->rules);
	free(s->reason);
}

static char *trimmed(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return mg_xstrndup(s, n);
}

/*
 * Parse "ignore R1,R2 -- reason" (p..end, after the mark) into s. NULL, or
 * what is wrong with it (and the hint in *hint).
 */
static const char *parse_directive(struct suppression *s, const char *p, const char *end,
				   const char **hint, char bad_rule[64])
{
	const char *dash, *word = p;
	size_t alloc = 0;

	while (word < end && isspace((unsigned char)*word))
		word++;
	p = word;
	while (p < end && !isspace((unsigned char)*p))
		p++;
	*hint = "write '# migrate-lint: ignore RULE -- why it is safe here' (or ignore-file for the whole file)";
	if ((size_t)(p - word) == 11 && !strncmp(word, "ignore-file", 11))
		s->file_wide = 1;
	else if (!((size_t)(p - word) == 6 && !strncmp(word, "ignore", 6)))
		return "expected 'ignore' or 'ignore-file' after 'migrate-lint:'";
	dash = p;
	while (dash + 1 < end && !(dash[0] == '-' && dash[1] == '-'))
		dash++;
	if (dash + 1 >= end)
		dash = end;
	for (const char *r = p; r < dash;) {
		size_t n;

		while (r < dash && (isspace((unsigned char)*r) || *r == ','))
			r++;
		n = strcspn(r, ", \t\r\n");
		if (r + n > dash)
			n = (size_t)(dash - r);
		if (!n)
			break;
		MG_ALLOC_GROW(s->rules, s->n_rules + 1, alloc);
		s->rules[s->n_rules++] = mg_xstrndup(r, n);
		r += n;
	}
	if (!s->n_rules)
		return "names no rule";
	for (size_t i = 0; i < s->n_rules; i++)
		if (!mg_lint_rule_find(s->rules[i])) {
			snprintf(bad_rule, 64, "%s", s->rules[i]);
			*hint = "name a rule of 'migrate lint --list-rules'";
			return "names an unknown rule";
		}
	s->reason = dash < end ? trimmed(dash + 2, (size_t)(end - dash - 2)) : NULL;
	if (!s->reason || !s->reason[0]) {
		*hint = "add the reason after ' -- ': '# migrate-lint: ignore RULE -- why it is safe here'";
		return "gives no reason";
	}
	return NULL;
}

/* The comment's '#' on line i, if the line has a migrate-lint comment:
 * a '#' at the start of the line or after white space (YAML's rule). */
static const char *find_mark(const struct lines *l, size_t i, const char **after)
{
	const char *s = l->text + l->start[i], *end = l->text + line_end(l, i);

	for (const char *h = s; h < end; h++) {
		const char *p = h + 1;

		if (*h != '#' || (h > s && h[-1] != ' ' && h[-1] != '\t'))
			continue;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(end - p) >= strlen(MARK) && !strncmp(p, MARK, strlen(MARK))) {
			*after = p + strlen(MARK);
			return h;
		}
	}
	return NULL;
}

static void read_comment(const struct mg_lint_opts *o, struct mg_lint_report *r,
			 const char *path, const struct lines *l, size_t i,
			 struct suppression **out, size_t *n, size_t *alloc)
{
	const char *after, *hash = find_mark(l, i, &after), *hint, *why;
	const char *end = l->text + line_end(l, i);
	struct suppression s;
	char bad_rule[64] = "";
	size_t k;

	if (!hash)
		return;
	memset(&s, 0, sizeof(s));
	s.line = (int)i + 1;
	s.column = (int)(hash - (l->text + l->start[i])) + 1;
	why = parse_directive(&s, after, end, &hint, bad_rule);
	if (why) {
		mg_lint_engine_add(o, r, "suppression-invalid", path, s.line, s.column, hint,
				   "this migrate-lint comment %s%s%s%s: it suppresses nothing", why,
				   bad_rule[0] ? " ('" : "", bad_rule, bad_rule[0] ? "')" : "");
		free_suppression(&s);
		return;
	}
	/* on its own line: the next node; trailing a value: its own */
	k = i;
	if (hash == l->text + l->start[i] + strspn(l->text + l->start[i], " \t"))
		for (k = i + 1; k < l->n && indent_of(l, k) < 0; k++)
			;
	s.first = (int)k + 1;
	s.last = k < l->n ? (int)node_end(l, k) + 1 : 0;
	MG_ALLOC_GROW(*out, *n + 1, *alloc);
	(*out)[(*n)++] = s;
}

/* ---- applying them --------------------------------------------------------- */

static int names(const struct suppression *s, const char *id)
{
	for (size_t i = 0; i < s->n_rules; i++)
		if (!strcmp(s->rules[i], id))
			return 1;
	return 0;
}

static int covers(const struct suppression *s, const struct mg_lint_finding *f)
{
	if (!names(s, f->rule->id))
		return 0;
	if (s->file_wide)
		return 1;
	return f->line >= s->first && f->line <= s->last;
}

/* Does s name any rule that ran (is not disabled)? */
static int names_live_rule(const struct mg_lint_opts *o, const struct suppression *s)
{
	for (size_t i = 0; i < s->n_rules; i++)
		if (mg_lint_effective(o, mg_lint_rule_find(s->rules[i])) != MG_LINT_OFF)
			return 1;
	return 0;
}

static void report_unused(const struct mg_lint_opts *o, struct mg_lint_report *r,
			  const char *path, const struct suppression *s)
{
	struct mg_buf ids = MG_BUF_INIT;

	for (size_t i = 0; i < s->n_rules; i++)
		mg_buf_addf(&ids, "%s%s", i ? "," : "", s->rules[i]);
	mg_lint_engine_add(o, r, "suppression-unused", path, s->line, s->column,
			   "remove the comment: the finding it was written for is gone (or it stands above the wrong operation)",
			   "this migrate-lint comment suppresses nothing: no %s finding %s",
			   ids.buf, s->file_wide ? "in the file" : "in the node below it");
	mg_buf_release(&ids);
}

void mg_lint_suppress(const struct mg_lint_opts *o, struct mg_lint_report *r,
		      size_t first, const char *path, const char *text, size_t len,
		      int loaded)
{
	struct suppression *sup = NULL;
	size_t n = 0, alloc = 0, end = r->n;
	struct lines l;

	if (!text || !memchr(text, '#', len))
		return;
	split_lines(&l, text, len);
	for (size_t i = 0; i < l.n; i++)
		read_comment(o, r, path, &l, i, &sup, &n, &alloc);
	for (size_t i = first; i < end; i++)
		for (size_t k = 0; k < n; k++)
			if (covers(&sup[k], &r->items[i])) {
				sup[k].used = 1;
				if (!r->items[i].suppressed)
					r->items[i].suppressed = mg_xstrdup(sup[k].reason);
			}
	for (size_t k = 0; k < n; k++) {
		if (loaded && !sup[k].used && names_live_rule(o, &sup[k]))
			report_unused(o, r, path, &sup[k]);
		free_suppression(&sup[k]);
	}
	free(sup);
	free(l.start);
}
