/*
 * migration.c - loading migration files (design §3): reading a file, its
 * id and name, the YAML document, and a directory of them. The walk of the
 * document against the operations' tables is in migration_ops.c.
 *
 * A file is read into memory once: the same bytes are hashed and parsed, so
 * the checksum always describes what was loaded.
 */
#include "migration_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static const char *const kind_names[] = {
	[MG_OP_ADD_COLUMN] = "add_column",
	[MG_OP_RENAME_COLUMN] = "rename_column",
	[MG_OP_ALTER_COLUMN] = "alter_column",
	[MG_OP_DROP_COLUMN] = "drop_column",
	[MG_OP_CREATE_INDEX] = "create_index",
	[MG_OP_SQL] = "sql",
	[MG_OP_DROP_INDEX] = "drop_index",
	[MG_OP_CREATE_TABLE] = "create_table",
	[MG_OP_DROP_TABLE] = "drop_table",
	[MG_OP_RENAME_TABLE] = "rename_table",
	[MG_OP_DROP_NOT_NULL] = "drop_not_null",
	[MG_OP_SET_DEFAULT] = "set_default",
	[MG_OP_DROP_DEFAULT] = "drop_default",
	[MG_OP_SET_COMMENT] = "set_comment",
	[MG_OP_SET_REPLICA_IDENTITY] = "set_replica_identity",
	[MG_OP_DROP_CONSTRAINT] = "drop_constraint",
	[MG_OP_RENAME_CONSTRAINT] = "rename_constraint",
	[MG_OP_SET_NOT_NULL] = "set_not_null",
	[MG_OP_ADD_CHECK] = "add_check",
	[MG_OP_ADD_UNIQUE] = "add_unique",
	[MG_OP_ADD_FOREIGN_KEY] = "add_foreign_key",
};

static const char *const phase_names[] = {
	[MG_SQL_EXPAND] = "expand",
	[MG_SQL_BACKFILL] = "backfill",
	[MG_SQL_SWITCH_READS] = "switch_reads",
	[MG_SQL_CONTRACT] = "contract",
	[MG_SQL_ROLLBACK] = "rollback",
};

const char *mg_op_kind_name(enum mg_op_kind kind)
{
	if ((size_t)kind >= ARRAY_SIZE(kind_names))
		return "unknown";
	return kind_names[kind];
}

const char *mg_sql_phase_name(enum mg_sql_phase p)
{
	if ((size_t)p >= ARRAY_SIZE(phase_names))
		return "unknown";
	return phase_names[p];
}

/* ---- small helpers ------------------------------------------------------- */

/*
 * Quote-safe copy of user text for a message: control characters become
 * '?', and text longer than SHOW_MAX bytes is cut (at a UTF-8 boundary)
 * and ends in "...". Returns buf.
 */
const char *mg_migration_show(char buf[SHOW_SIZE], const char *s, size_t len)
{
	size_t n = len > SHOW_MAX ? SHOW_MAX : len;

	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* The length of s without ".yaml" or ".yml", or 0 if it has neither. */
static size_t yaml_stem_len(const char *s)
{
	if (ends_with(s, ".yaml"))
		return strlen(s) - 5;
	if (ends_with(s, ".yml"))
		return strlen(s) - 4;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* ---- ids and file names -------------------------------------------------- */

/* Leading decimal digits of s as an int: 0 and *end set, or -1 on overflow. */
static int parse_digits(const char *s, int *out, const char **end)
{
	long long v = 0;

	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return -1;
	}
	*out = (int)v;
	*end = s;
	return 0;
}

int mg_migration_parse_id(const char *s, int *out, struct mg_err *err)
{
	const char *end;
	char shown[SHOW_SIZE];
	int id;

	if (!s)
		s = "";
	if (!isdigit((unsigned char)*s) || parse_digits(s, &id, &end) < 0 ||
	    (*end && (*end != '_' || !end[1])))
		return mg_err_set(err, MG_EINPUT, "bad migration id '%s': "
				  "expected a number like 3, 0003 or 0003_name",
				  mg_migration_show(shown, s, strlen(s)));
	*out = id;
	return 0;
}

/*
 * A new name for a badly named file when one is obvious: "3_add-x.yaml"
 * becomes "0003_add_x.yaml". NULL when there is no obvious one.
 */
static char *suggest_name(const char *base)
{
	size_t stem = yaml_stem_len(base);
	struct mg_buf b = MG_BUF_INIT;
	const char *p = base, *end;
	int id;

	if (!stem || !isdigit((unsigned char)*p) ||
	    parse_digits(p, &id, &end) < 0 || id == 0)
		return NULL;
	p = end;
	if (*p == '_' || *p == '-' || *p == ' ' || *p == '.')
		p++;
	if (p >= base + stem)
		return NULL;
	mg_buf_addf(&b, "%04d_", id);
	for (; p < base + stem; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '-' || c == ' ' || c == '.')
			c = '_';
		c = (unsigned char)tolower(c);
		if (!(islower(c) || isdigit(c) || c == '_')) {
			mg_buf_release(&b);
			return NULL;
		}
		mg_buf_addc(&b, (char)c);
	}
	mg_buf_adds(&b, base + stem);
	return mg_buf_detach(&b);
}

/*
 * Check that path's basename is NNNN_snake_name.yaml (or .yml) and take the
 * id from it. 0, or -1 with err set.
 */
int mg_migration_check_name(const char *path, int *id, struct mg_err *err)
{
	const char *base = base_name(path), *p = base, *end;
	size_t stem = yaml_stem_len(base);
	char *hint;

	if (!stem || !isdigit((unsigned char)*p) ||
	    parse_digits(p, id, &end) < 0 || end - p < 4 || *end != '_' ||
	    end + 1 >= base + stem)
		goto bad;
	for (p = end + 1; p < base + stem; p++)
		if (!islower((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && *p != '_')
			goto bad;
	if (*id == 0)
		return mg_err_set(err, MG_EINPUT, "bad migration id 0 in '%s': "
				  "migration ids start at 1", path);
	return 0;

bad:
	mg_err_set(err, MG_EINPUT, "badly named file '%s' at %s:1:1: expected "
		   "NNNN_snake_name.yaml (4+ digits, underscore, lowercase "
		   "letters, digits and underscores)", path, path);
	hint = suggest_name(base);
	if (hint)
		mg_err_hint(err, "rename it to '%s'", hint);
	else
		mg_err_hint(err, "rename it like '0001_create_users.yaml'");
	free(hint);
	return -1;
}

/* ---- loading ------------------------------------------------------------- */

static int read_file(struct mg_buf *out, const char *path, struct mg_err *err)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int failed;

	if (!f)
		return mg_err_set(err, MG_EINPUT, "cannot read '%s': %s", path,
				  strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		mg_buf_add(out, chunk, n);
	failed = ferror(f);
	if (failed)
		mg_err_set(err, MG_EINPUT, "cannot read '%s': %s", path,
			   strerror(errno));
	fclose(f);
	return failed ? -1 : 0;
}

static void die_oom(void)
{
	fprintf(stderr, "migrate: out of memory in the YAML parser\n");
	abort();
}

/* Line and column (1-based) of a byte offset, for reader errors. */
static void offset_pos(const struct mg_buf *b, size_t off, int *line, int *col)
{
	size_t start = 0;

	*line = 1;
	if (off > b->len)
		off = b->len;
	for (size_t i = 0; i < off; i++)
		if (b->buf[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	*col = (int)(off - start) + 1;
}

static int syntax_error(const yaml_parser_t *parser, const struct mg_buf *b,
			const char *path, struct mg_err *err)
{
	const char *problem = parser->problem ? parser->problem : "unknown";
	int line, col;

	if (parser->error == YAML_MEMORY_ERROR)
		die_oom();
	if (parser->error == YAML_READER_ERROR) {
		offset_pos(b, parser->problem_offset, &line, &col);
		return mg_err_set(err, MG_EINPUT, "YAML syntax error at "
				  "%s:%d:%d: %s", path, line, col, problem);
	}
	line = (int)parser->problem_mark.line + 1;
	col = (int)parser->problem_mark.column + 1;
	if (parser->context)
		return mg_err_set(err, MG_EINPUT, "YAML syntax error at "
				  "%s:%d:%d: %s (%s at line %d)", path, line,
				  col, problem, parser->context,
				  (int)parser->context_mark.line + 1);
	return mg_err_set(err, MG_EINPUT, "YAML syntax error at %s:%d:%d: %s",
			  path, line, col, problem);
}

/*
 * Refuse nesting deeper than MG_MAX_DEPTH before building the tree:
 * libyaml's scanner does work in proportion to the depth for every token,
 * so a file 100,000 levels deep took 20 s to load before the walk could
 * refuse it. This pass reads events and stops at the first collection too
 * deep (a migration file needs about 6 levels). 0, or -1 with err set.
 */
#define MG_MAX_DEPTH 64

static int check_depth(const struct mg_buf *b, const char *path, struct mg_err *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, rc = 0, done = 0;

	if (!yaml_parser_initialize(&parser))
		die_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)b->buf, b->len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = syntax_error(&parser, b, path, err);
			break;
		}
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > MG_MAX_DEPTH) {
				mg_err_set(err, MG_EINPUT, "nesting deeper than %d levels at %s:%d:%d",
					   MG_MAX_DEPTH, path, (int)ev.start_mark.line + 1,
					   (int)ev.start_mark.column + 1);
				rc = mg_err_hint(err, "a migration file needs a few levels: operations, then one mapping per operation");
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* Parse the bytes of one file into m. 0, or -1 with err set. */
static int parse_bytes(struct mg_migration *m, const struct mg_buf *b,
		       const char *path, size_t max_name, struct mg_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	int ret = -1;

	if (check_depth(b, path, err) < 0)
		return -1;
	if (!yaml_parser_initialize(&parser))
		die_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)b->buf,
				     b->len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&parser, b, path, err);
		yaml_parser_delete(&parser);
		return -1;
	}
	if (mg_migration_walk(m, &doc, path, max_name, err) < 0)
		goto out;

	/* One document per file: a second one would be silently ignored. */
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(&parser, b, path, err);
		goto out;
	}
	root = yaml_document_get_root_node(&extra);
	if (root)
		mg_err_set(err, MG_EINPUT, "more than one YAML document in "
			   "'%s' (another at line %d): expected one", path,
			   (int)root->start_mark.line + 1);
	else
		ret = 0;
	yaml_document_delete(&extra);
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int mg_migration_load_bytes(struct mg_migration *out, const char *path,
			    const char *text, size_t len, size_t max_name,
			    struct mg_err *err)
{
	/* parse_bytes reads a buffer; this one borrows text */
	const struct mg_buf b = { (char *)text, len, 0 };
	const char *base = base_name(path);
	int id;

	memset(out, 0, sizeof(*out));
	if (mg_migration_check_name(path, &id, err) < 0)
		return -1;
	out->id = id;
	out->path = mg_xstrdup(path);
	out->name = mg_xstrndup(base, yaml_stem_len(base));
	mg_sha256_hex(out->checksum, text, len);
	if (parse_bytes(out, &b, path, max_name, err) < 0) {
		mg_migration_release(out);
		return -1;
	}
	return 0;
}

int mg_migration_load(struct mg_migration *out, const char *path,
		      size_t max_name, struct mg_err *err)
{
	struct mg_buf b = MG_BUF_INIT;
	int id, rc;

	memset(out, 0, sizeof(*out));
	if (mg_migration_check_name(path, &id, err) < 0)
		return -1;
	if (read_file(&b, path, err) < 0)
		return -1;
	rc = mg_migration_load_bytes(out, path, b.buf, b.len, max_name, err);
	mg_buf_release(&b);
	return rc;
}

static void free_list(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

static void op_release(struct mg_op *op)
{
	free(op->table);
	free(op->column);
	free(op->to);
	free(op->type);
	free(op->default_expr);
	free(op->backfill);
	free(op->up);
	free(op->down);
	free_list(op->drops, op->n_drops);
	free(op->index_name);
	free_list(op->columns, op->n_columns);
	free(op->method);
	free(op->where);
	for (size_t i = 0; op->column_opts && i < op->n_columns; i++) {
		free(op->column_opts[i].opclass);
		free(op->column_opts[i].collate);
	}
	free(op->column_opts);
	free_list(op->include, op->n_include);
	for (size_t i = 0; i < op->n_storage; i++) {
		free(op->storage[i].key);
		free(op->storage[i].value);
	}
	free(op->storage);
	free(op->comment);
	free(op->identity);
	free(op->constraint_name);
	free(op->check);
	free(op->ref_table);
	free_list(op->ref_columns, op->n_ref_columns);
	free(op->on_delete);
	free(op->on_update);
	for (int i = 0; i < MG_SQL_NPHASES; i++)
		free(op->sql[i]);
	mg_table_def_free(op->tdef);
}

void mg_migration_release(struct mg_migration *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_ops; i++)
		op_release(&m->ops[i]);
	free(m->ops);
	free(m->name);
	free(m->path);
	free(m->description);
	memset(m, 0, sizeof(*m));
}

/* ---- a directory of migrations ------------------------------------------- */

struct entry {
	char *path;
	int id;
};

static int cmp_path(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

static int cmp_id(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* A file of the directory that is a migration (not migrate.yaml). */
static int is_migration_file(const char *name)
{
	return name[0] != '.' && yaml_stem_len(name) &&
	       strcmp(name, "migrate.yaml") && strcmp(name, "migrate.yml");
}

static int list_dir(struct entry **out, size_t *n, const char *dir,
		    struct mg_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t alloc = 0;
	int slash = *dir && dir[strlen(dir) - 1] == '/';

	*out = NULL;
	*n = 0;
	if (!d) {
		if (errno == ENOENT)
			mg_err_set(err, MG_EINPUT, "migrations directory '%s' "
				   "does not exist", dir);
		else if (errno == ENOTDIR)
			mg_err_set(err, MG_EINPUT, "migrations directory '%s' "
				   "is not a directory", dir);
		else
			return mg_err_set(err, MG_EINPUT, "cannot open "
					  "migrations directory '%s': %s", dir,
					  strerror(errno));
		return mg_err_hint(err, "pass --migrations DIR or set "
				   "MIGRATE_DIR");
	}
	while ((de = readdir(d))) {
		if (!is_migration_file(de->d_name))
			continue;
		MG_ALLOC_GROW(*out, *n + 1, alloc);
		(*out)[*n].path = mg_xasprintf("%s%s%s", dir, slash ? "" : "/",
					       de->d_name);
		(*out)[*n].id = 0;
		(*n)++;
	}
	closedir(d);
	return 0;
}

int mg_migration_set_load(struct mg_migration_set *out, const char *dir,
			  size_t max_name, struct mg_err *err)
{
	struct entry *e;
	size_t n, i;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (list_dir(&e, &n, dir, err) < 0)
		return -1;
	if (!n)
		return 0;

	/* A fixed order, so that a directory always gives the same error. */
	qsort(e, n, sizeof(*e), cmp_path);
	for (i = 0; i < n; i++)
		if (mg_migration_check_name(e[i].path, &e[i].id, err) < 0)
			goto out;
	qsort(e, n, sizeof(*e), cmp_id);
	for (i = 1; i < n; i++)
		if (e[i].id == e[i - 1].id) {
			mg_err_set(err, MG_EINPUT, "duplicate migration id %d: "
				   "%s:1:1 and %s:1:1", e[i].id,
				   e[i - 1].path, e[i].path);
			mg_err_hint(err, "give one of them the next free id");
			goto out;
		}

	out->items = mg_xcalloc(n, sizeof(*out->items));
	for (i = 0; i < n; i++) {
		if (mg_migration_load(&out->items[i], e[i].path, max_name, err) < 0) {
			mg_migration_set_release(out);
			goto out;
		}
		out->n++;
	}
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(e[i].path);
	free(e);
	return ret;
}

void mg_migration_set_release(struct mg_migration_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		mg_migration_release(&set->items[i]);
	free(set->items);
	set->items = NULL;
	set->n = 0;
}

struct mg_migration *mg_migration_set_find(const struct mg_migration_set *set,
					   int id)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->items[mid].id == id)
			return &set->items[mid];
		if (set->items[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
