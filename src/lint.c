/*
 * lint.c - the engine of `migrate lint` (lint.h): which files, loading each
 * on its own, the values a rule reads (read once, with the driver's facts),
 * running the rules, suppressions, severities and positions.
 *
 * A file that does not load is a finding (file-invalid), never a stop: a
 * gate that stops at the first bad file hides the others.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lint.h"
#include "lint_int.h"

const char *mg_lint_severity_name(enum mg_lint_severity s)
{
	switch (s) {
	case MG_LINT_ERROR:
		return "error";
	case MG_LINT_WARNING:
		return "warning";
	case MG_LINT_INFO:
		return "info";
	case MG_LINT_OFF:
		break;
	}
	return "off";
}

/* ---- severities -------------------------------------------------------- */

static int listed(const char *const *ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ids[i], id))
			return 1;
	return 0;
}

/* The severity of rule after --disable, --error and --warning (in that
 * order: a rule both raised and lowered is raised). */
enum mg_lint_severity mg_lint_effective(const struct mg_lint_opts *o,
					const struct mg_lint_rule *rule)
{
	if (listed(o->disabled, o->n_disabled, rule->id))
		return MG_LINT_OFF;
	if (listed(o->errors, o->n_errors, rule->id))
		return MG_LINT_ERROR;
	if (listed(o->warnings, o->n_warnings, rule->id))
		return MG_LINT_WARNING;
	return rule->severity;
}

/* ---- findings ---------------------------------------------------------- */

struct mg_lint_finding *mg_lint_report_add(struct mg_lint_report *r,
					   const struct mg_lint_rule *rule,
					   const char *path, int line, int column,
					   const char *hint, char *message)
{
	struct mg_lint_finding *f;

	MG_ALLOC_GROW(r->items, r->n + 1, r->cap);
	f = &r->items[r->n++];
	memset(f, 0, sizeof(*f));
	f->rule = rule;
	f->severity = rule->severity;
	f->path = mg_xstrdup(path);
	f->line = line;
	f->column = column;
	f->message = message;
	f->hint = hint ? mg_xstrdup(hint) : NULL;
	return f;
}

void mg_lint_add(struct mg_lint_ctx *c, struct mg_pos pos, const char *value,
		 int offset, const char *hint, const char *fmt, ...)
{
	struct mg_buf msg = MG_BUF_INIT;
	va_list ap;

	if (value && offset >= 0)
		pos = mg_lint_locate(c->text, c->len, pos, value, offset);
	va_start(ap, fmt);
	mg_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	mg_lint_report_add(c->out, c->rule, c->m->path, pos.line, pos.column, hint,
			   mg_buf_detach(&msg));
}

void mg_lint_report_release(struct mg_lint_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].path);
		free(r->items[i].message);
		free(r->items[i].hint);
		free(r->items[i].suppressed);
	}
	free(r->items);
	memset(r, 0, sizeof(*r));
}

/* ---- positions ----------------------------------------------------------- */

/* The byte offset of 1-based line and column (in characters, as libyaml
 * counts them) in text, or len when past the end. */
static size_t offset_of(const char *text, size_t len, struct mg_pos pos)
{
	size_t i = 0;

	for (int line = 1; line < pos.line && i < len; i++)
		if (text[i] == '\n')
			line++;
	for (int col = 1; col < pos.column && i < len && text[i] != '\n'; col++) {
		i++;
		while (i < len && ((unsigned char)text[i] & 0xC0) == 0x80)
			i++;
	}
	return i;
}

static struct mg_pos pos_of(const char *text, size_t off)
{
	struct mg_pos p = { 1, 1 };

	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			p.line++;
			p.column = 1;
		} else if (((unsigned char)text[i] & 0xC0) != 0x80) {
			p.column++;
		}
	}
	return p;
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Where the scalar's content starts: after a block scalar's header line,
 * after an opening quote, or at a plain scalar's first character. */
static size_t content_start(const char *text, size_t len, size_t at)
{
	if (at >= len)
		return at;
	if (text[at] == '|' || text[at] == '>') {
		while (at < len && text[at] != '\n')
			at++;
		return at < len ? at + 1 : at;
	}
	if (text[at] == '"' || text[at] == '\'')
		return at + 1;
	return at;
}

/*
 * How many bytes of the file spell one character of the value when they
 * differ: a quoted scalar's escapes ('' in single quotes, \x in double
 * quotes). 0 when file and value do not match here.
 */
static size_t escape_len(const char *f, size_t left, char quote, char want)
{
	if (quote == '\'' && left >= 2 && f[0] == '\'' && f[1] == '\'' && want == '\'')
		return 2;
	if (quote != '"' || left < 2 || f[0] != '\\')
		return 0;
	switch (f[1]) {
	case 'x':
		return left >= 4 ? 4 : 0;
	case 'u':
		return left >= 6 ? 6 : 0;
	case 'U':
		return left >= 10 ? 10 : 0;
	default:
		return 2;
	}
}

/*
 * Walk the file from the scalar's first character and the value from its
 * first byte side by side: equal bytes advance both; a run of white space
 * (line breaks and indentation included) matches any run of white space,
 * which is what folding, indentation and line breaks of every scalar style
 * change; quoted escapes match the character they spell. The file offset
 * of value byte `offset`, or (size_t)-1 when they part.
 */
static size_t align(const char *text, size_t len, size_t f, const char *value,
		    size_t offset)
{
	char quote = f > 0 && (text[f - 1] == '"' || text[f - 1] == '\'') ? text[f - 1] : 0;
	size_t v = 0, vlen = strlen(value), n;

	if (offset > vlen)
		offset = vlen;
	while (v < offset) {
		if (f >= len)
			return (size_t)-1;
		if (is_space(value[v])) {
			while (v < offset && is_space(value[v]))
				v++;
			if (v == offset && !is_space(text[f]))
				break;
			/* a double-quoted line may end in an escaped break */
			while (f < len && (is_space(text[f]) ||
					   (quote == '"' && text[f] == '\\' && f + 1 < len &&
					    text[f + 1] == '\n')))
				f++;
			continue;
		}
		if (text[f] == value[v]) {
			f++;
			v++;
		} else if (quote && (n = escape_len(text + f, len - f, quote, value[v]))) {
			f += n;
			v++;
			while (v < vlen && ((unsigned char)value[v] & 0xC0) == 0x80)
				v++;
		} else if (quote == '"' && text[f] == '\\' && f + 1 < len && text[f + 1] == '\n') {
			f += 2;
			while (f < len && is_space(text[f]))
				f++;
		} else if (is_space(text[f]) && !quote) {
			/* a plain or block scalar's break folded into nothing
			 * (a trailing space kept, e.g.) */
			f++;
		} else {
			return (size_t)-1;
		}
	}
	return f;
}

struct mg_pos mg_lint_locate(const char *text, size_t len, struct mg_pos pos,
			     const char *value, int offset)
{
	size_t at, f;

	if (!text || !value || offset < 0 || pos.line < 1 || pos.column < 1)
		return pos;
	at = offset_of(text, len, pos);
	if (at >= len)
		return pos;
	f = align(text, len, content_start(text, len, at), value, (size_t)offset);
	if (f == (size_t)-1)
		return pos;
	return pos_of(text, f);
}

/* ---- the values a rule reads ------------------------------------------- */

struct values {
	struct mg_lint_value *items;
	size_t n, cap;
	const struct mg_driver *dialect;
};

static void add_value(struct values *vs, size_t op, const char *field,
		      enum mg_sql_phase phase, enum mg_lint_text kind,
		      const char *column, const char *value, struct mg_pos pos)
{
	struct mg_lint_value *v;

	if (!value)
		return;
	MG_ALLOC_GROW(vs->items, vs->n + 1, vs->cap);
	v = &vs->items[vs->n++];
	v->op = op;
	v->field = field;
	v->phase = phase;
	v->kind = kind;
	v->column = column;
	v->value = value;
	v->pos = pos;
	v->facts = (struct mg_sql_facts)MG_SQL_FACTS_INIT;
}

#define EXPR(field, text, p) \
	add_value(vs, i, field, MG_SQL_NPHASES, MG_LINT_EXPRESSION, NULL, text, p)

static void add_table_values(struct values *vs, size_t i, const struct mg_table_def *t)
{
	for (size_t k = 0; t && k < t->n_columns; k++) {
		const struct mg_column_def *col = &t->columns[k];

		add_value(vs, i, "type", MG_SQL_NPHASES, MG_LINT_TYPE, col->name,
			  col->type, col->type_pos);
		add_value(vs, i, "default", MG_SQL_NPHASES, MG_LINT_EXPRESSION, col->name,
			  col->default_expr, col->default_pos);
		add_value(vs, i, "check", MG_SQL_NPHASES, MG_LINT_EXPRESSION, col->name,
			  col->check, col->check_pos);
	}
	for (size_t k = 0; t && k < t->n_constraints; k++)
		if (t->constraints[k].kind == MG_TCON_CHECK)
			EXPR("check", t->constraints[k].expression,
			     t->constraints[k].expression_pos);
}

static void add_op_values(struct values *vs, size_t i, const struct mg_op *op)
{
	switch (op->kind) {
	case MG_OP_SQL:
		for (int p = 0; p < MG_SQL_NPHASES; p++)
			add_value(vs, i, mg_sql_phase_name((enum mg_sql_phase)p),
				  (enum mg_sql_phase)p, MG_LINT_STATEMENTS, NULL,
				  op->sql[p], op->sql_pos[p]);
		return;
	case MG_OP_CREATE_TABLE:
		add_table_values(vs, i, op->tdef);
		return;
	default:
		break;
	}
	add_value(vs, i, "type", MG_SQL_NPHASES, MG_LINT_TYPE, NULL, op->type, op->type_pos);
	EXPR("default", op->default_expr, op->default_pos);
	EXPR("backfill", op->backfill, op->backfill_pos);
	EXPR("up", op->up, op->up_pos);
	EXPR("down", op->down, op->down_pos);
	EXPR("where", op->where, op->where_pos);
	EXPR("check", op->check, op->check_pos);
}

static int cmp_value(const void *a, const void *b)
{
	const struct mg_lint_value *x = a, *y = b;

	if (x->pos.line != y->pos.line)
		return x->pos.line < y->pos.line ? -1 : 1;
	if (x->pos.column != y->pos.column)
		return x->pos.column < y->pos.column ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

/* Every SQL-bearing value of m, in file order, with what drv reads in it. */
static void collect_values(struct values *vs, const struct mg_migration *m)
{
	for (size_t i = 0; i < m->n_ops; i++)
		add_op_values(vs, i, &m->ops[i]);
	if (vs->n > 1)
		qsort(vs->items, vs->n, sizeof(*vs->items), cmp_value);
	for (size_t i = 0; i < vs->n; i++)
		mg_driver_lint_sql(vs->dialect, vs->items[i].value, vs->items[i].kind,
				   &vs->items[i].facts);
}

static void release_values(struct values *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		mg_sql_facts_release(&vs->items[i].facts);
	free(vs->items);
}

/* ---- one file ------------------------------------------------------------ */

/* Report a finding of an engine rule (file-invalid ...) unless disabled. */
void mg_lint_engine_add(const struct mg_lint_opts *o, struct mg_lint_report *r,
			const char *id, const char *path, int line, int column,
			const char *hint, const char *fmt, ...)
{
	const struct mg_lint_rule *rule = mg_lint_rule_find(id);
	struct mg_buf msg = MG_BUF_INIT;
	va_list ap;

	if (!rule || mg_lint_effective(o, rule) == MG_LINT_OFF)
		return;
	va_start(ap, fmt);
	mg_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	mg_lint_report_add(r, rule, path, line, column, hint, mg_buf_detach(&msg));
}

/*
 * The loader's message names the place as "PATH:L:C": take the position
 * from it and drop " at PATH:L:C" (the finding shows it already).
 */
static void invalid_from_error(const struct mg_lint_opts *o, struct mg_lint_report *r,
			       const char *path, const struct mg_err *err)
{
	char msg[sizeof(err->msg)];
	const char *at = err->msg;
	size_t plen = strlen(path);
	int line = 0, col = 0, used = 0;

	snprintf(msg, sizeof(msg), "%s", err->msg);
	while ((at = strstr(at, path))) {
		if (sscanf(at + plen, ":%d:%d%n", &line, &col, &used) == 2)
			break;
		at += plen;
		line = col = 0;
	}
	if (at && line > 0) {
		size_t start = (size_t)(at - err->msg), end = start + plen + (size_t)used;

		if (start >= 4 && !strncmp(err->msg + start - 4, " at ", 4))
			start -= 4;
		else if (!strncmp(err->msg + end, ": ", 2))
			end += 2;
		snprintf(msg + start, sizeof(msg) - start, "%s", err->msg + end);
	}
	mg_lint_engine_add(o, r, "file-invalid", path, line, col,
			   err->hint[0] ? err->hint
			   : "fix the file as the message says: migrate refuses to run a file that does not load (docs/file-format.md)",
			   "%s", msg);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static void report_ignored(const struct mg_lint_opts *o, struct mg_lint_report *r,
			   const char *path, const struct mg_err *why)
{
	const char *base = base_name(path);
	const char *dot = strrchr(base, '.');

	if (dot && (!strcmp(dot, ".sql") || !strcmp(dot, ".SQL")))
		mg_lint_engine_add(o, r, "file-ignored", path, 0, 0,
				   "put the SQL in a migration file's sql step (expand, contract, rollback: docs/operations.md), or move the file out of the migrations folder",
				   "migrate does not read '%s': it reads only NNNN_snake_name.yaml files, never .sql", base);
	else
		mg_lint_engine_add(o, r, "file-ignored", path, 0, 0,
				   why->hint[0] ? why->hint
				   : "rename it like '0001_create_users.yaml', or move it out of the migrations folder",
				   "migrate does not read '%s': expected NNNN_snake_name.yaml (4+ digits, underscore, lowercase letters, digits and underscores)", base);
}

static void run_rules(const struct mg_lint_opts *o, struct mg_lint_ctx *c)
{
	for (size_t i = 0; i < mg_lint_n_rules; i++) {
		const struct mg_lint_rule *rule = &mg_lint_rules[i];

		if (!rule->run || mg_lint_effective(o, rule) == MG_LINT_OFF)
			continue;
		c->rule = rule;
		rule->run(c);
	}
}

static int cmp_finding(const void *a, const void *b)
{
	const struct mg_lint_finding *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	return strcmp(x->message, y->message);
}

/* The findings of one file (from first on): severities, suppressions,
 * order, counts. */
static void finish_file(const struct mg_lint_opts *o, struct mg_lint_report *r,
			size_t first, const char *path, const char *text, size_t len,
			int loaded)
{
	struct mg_lint_finding *f;

	for (size_t i = first; i < r->n; i++)
		r->items[i].severity = mg_lint_effective(o, r->items[i].rule);
	mg_lint_suppress(o, r, first, path, text, len, loaded);
	if (r->n - first > 1)
		qsort(r->items + first, r->n - first, sizeof(*r->items), cmp_finding);
	for (size_t i = first; i < r->n; i++) {
		f = &r->items[i];
		if (f->suppressed)
			continue;
		if (f->severity == MG_LINT_ERROR)
			r->errors++;
		else if (f->severity == MG_LINT_WARNING)
			r->warnings++;
		else if (f->severity == MG_LINT_INFO)
			r->infos++;
	}
}

static void lint_loaded(const struct mg_lint_opts *o, const struct mg_migration *m,
			const char *text, size_t len, struct mg_lint_report *out)
{
	/* the dialect's table: its lint_sql reads text, no connection exists
	 * (so not a call tests/no_driver_calls.sh guards against) */
	const struct mg_driver *dialect = (*o).drv;
	struct values vs = { NULL, 0, 0, dialect };
	struct mg_lint_ctx c;

	collect_values(&vs, m);
	memset(&c, 0, sizeof(c));
	c.drv = dialect;
	c.m = m;
	c.text = text;
	c.len = len;
	c.values = vs.items;
	c.n_values = vs.n;
	c.out = out;
	run_rules(o, &c);
	release_values(&vs);
}

void mg_lint_buffer(const struct mg_lint_opts *o, const char *path,
		    const char *text, size_t len, struct mg_lint_report *out)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_migration m;
	size_t first = out->n;
	char *copy;
	int id, loaded = 0;

	out->files++;
	if (mg_migration_check_name(path, &id, &err) < 0) {
		report_ignored(o, out, path, &err);
		finish_file(o, out, first, path, NULL, 0, 0);
		return;
	}
	/* the rules read text as a C string */
	copy = mg_xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (mg_migration_load_bytes(&m, path, copy, len, o->max_name, &err) < 0) {
		invalid_from_error(o, out, path, &err);
	} else {
		lint_loaded(o, &m, copy, len, out);
		mg_migration_release(&m);
		loaded = 1;
	}
	finish_file(o, out, first, path, copy, len, loaded);
	free(copy);
}

/* ---- paths ----------------------------------------------------------------- */

static int read_all(struct mg_buf *out, const char *path, struct mg_err *err)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int failed;

	if (!f)
		return mg_err_set(err, MG_EINPUT, "cannot read '%s': %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		mg_buf_add(out, chunk, n);
	failed = ferror(f);
	fclose(f);
	if (failed)
		return mg_err_set(err, MG_EINPUT, "cannot read '%s': %s", path, strerror(errno));
	return 0;
}

static void lint_file(const struct mg_lint_opts *o, const char *path,
		      struct mg_lint_report *out)
{
	struct mg_buf b = MG_BUF_INIT;
	struct mg_err err = MG_ERR_INIT;
	int id;

	/* a name migrate would not read needs no reading */
	if (mg_migration_check_name(path, &id, &err) < 0 || read_all(&b, path, &err) == 0) {
		mg_lint_buffer(o, path, b.buf, b.len, out);
	} else {
		size_t first = out->n;

		out->files++;
		mg_lint_engine_add(o, out, "file-invalid", path, 0, 0,
				   "check the file's permissions", "%s", err.msg);
		finish_file(o, out, first, path, NULL, 0, 0);
	}
	mg_buf_release(&b);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of dir migrate would consider (sorted): not hidden files (.gitkeep),
 * not its settings file, not subdirectories. */
static int list_files(struct mg_strlist *out, const char *dir, struct mg_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int slash = *dir && dir[strlen(dir) - 1] == '/';

	if (!d)
		return mg_err_set(err, MG_EINPUT, "cannot open directory '%s': %s", dir,
				  strerror(errno));
	while ((de = readdir(d))) {
		struct stat st;
		char *p;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, "migrate.yaml") ||
		    !strcmp(de->d_name, "migrate.yml"))
			continue;
		p = mg_xasprintf("%s%s%s", dir, slash ? "" : "/", de->d_name);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			free(p);
		else
			mg_strlist_push_owned(out, p);
	}
	closedir(d);
	if (out->n > 1)
		qsort(out->items, out->n, sizeof(*out->items), cmp_str);
	return 0;
}

/* Two files of one folder with the same id: migrate refuses the folder. */
static void report_duplicates(const struct mg_lint_opts *o, struct mg_lint_report *r,
			      const struct mg_strlist *files)
{
	struct mg_err err = MG_ERR_INIT;
	int *ids = mg_xcalloc(files->n + 1, sizeof(*ids));

	for (size_t i = 0; i < files->n; i++)
		if (mg_migration_check_name(files->items[i], &ids[i], &err) < 0)
			ids[i] = 0;
	for (size_t i = 0; i < files->n; i++)
		for (size_t k = 0; ids[i] && k < i; k++)
			if (ids[k] == ids[i]) {
				size_t first = r->n;

				mg_lint_engine_add(o, r, "file-invalid", files->items[i], 1, 1,
						   "give one of them the next free id",
						   "duplicate migration id %d: '%s' has it too",
						   ids[i], files->items[k]);
				finish_file(o, r, first, files->items[i], NULL, 0, 0);
				break;
			}
	free(ids);
}

int mg_lint_paths(const struct mg_lint_opts *o, const char *const *paths,
		  size_t n, struct mg_lint_report *out, struct mg_err *err)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (stat(paths[i], &st) < 0) {
			mg_err_set(err, MG_EINPUT, "cannot lint '%s': %s", paths[i],
				   errno == ENOENT ? "no such file or directory" : strerror(errno));
			return mg_err_hint(err, "name migration files or folders that exist (default: the migrations folder, -m DIR)");
		}
		if (S_ISDIR(st.st_mode)) {
			struct mg_strlist files = MG_STRLIST_INIT;

			if (list_files(&files, paths[i], err) < 0)
				return -1;
			for (size_t k = 0; k < files.n; k++)
				lint_file(o, files.items[k], out);
			report_duplicates(o, out, &files);
			mg_strlist_release(&files);
		} else {
			lint_file(o, paths[i], out);
		}
	}
	return 0;
}
