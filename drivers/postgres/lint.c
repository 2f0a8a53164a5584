/*
 * lint.c - the PostgreSQL driver's lint_sql (driver.h, "lint (issue 14)"):
 * parse SQL offline with libpg_query (PostgreSQL 15's own parser) and say
 * what each statement does as struct mg_sql_fact, at byte offsets of the
 * caller's text. The rules (src/lint_rules*.c) decide what is unsafe; this
 * file only describes.
 *
 * libpg_query hands back its parse tree as JSON; jansson walks it. The
 * tree's "location" fields are byte offsets into the parsed text, which for
 * an expression or a type is the caller's text behind a prefix we wrote
 * (pgdrv_lint_walk.shift). ALTER TABLE is lint_alter.c, types and volatile
 * functions lint_types.c.
 *
 * What a rule can rely on (offsets are of the caller's text):
 *  - a statement's facts point at its first word (after comments), an
 *    ALTER TABLE subcommand's at the subcommand's first word ("DROP" of
 *    ", DROP COLUMN c"), a COLUMN_TYPE at the type's first word;
 *    a SYNTAX_ERROR at the parser's cursor (the text's length: at its
 *    end), or at the ';' that ends an expression too early;
 *  - table is "schema.table" or "table", unquoted and case-folded as
 *    PostgreSQL reads it; DROP INDEX and REINDEX INDEX/SCHEMA give name;
 *  - ADD_COLUMN flags: NOT_NULL (also PRIMARY KEY, serial), HAS_DEFAULT,
 *    VOLATILE_DEFAULT (a volatile call in the default, or serial, identity
 *    or a stored generated column: values per row, the table is
 *    rewritten; now()/CURRENT_TIMESTAMP are STABLE: no flag), UNIQUE,
 *    PRIMARY_KEY, FOREIGN_KEY (inline REFERENCES), CHECK, IF_NOT_EXISTS;
 *  - ALTER_TYPE: REWRITES/NARROWS against the type the same text declared
 *    (CREATE TABLE, ADD COLUMN, an earlier ALTER TYPE); with the old type
 *    unknown, REWRITES unless the new type is text, varchar[(n)],
 *    numeric[(p,s)] or inet without USING (taken for a widening), never
 *    NARROWS; detail and COLUMN_TYPE detail are format_type's spelling
 *    ("character varying(20)", "timestamp(3) without time zone");
 *  - VOLATILE_CALL (expressions only): every call that is not the same
 *    for every row and run, VOLATILE_DEFAULT set on the truly volatile
 *    ones (random, gen_random_uuid, nextval, clock_timestamp...), not on
 *    now(), CURRENT_TIMESTAMP, statement_timestamp(), txid_current();
 *  - IN_BLOCK on everything after BEGIN/START TRANSACTION up to COMMIT,
 *    END, ROLLBACK, ABORT or PREPARE TRANSACTION (those carry none);
 *  - OTHER: detail "CREATE FUNCTION", "DROP VIEW", "ALTER TABLE SET
 *    LOGGED", "RENAME CONSTRAINT" (table, name: the old name), ...
 */
#include "postgres/pg.h"
#include "postgres/pglint.h"

#include <pg_query.h>

/* ---- JSON helpers -------------------------------------------------------- */

const char *pgdrv_lint_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int pgdrv_lint_true(json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

long pgdrv_lint_int(json_t *obj, const char *key, long def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : def;
}

json_t *pgdrv_lint_node(json_t *wrapper, const char *kind)
{
	json_t *n = json_object_get(wrapper, kind);

	return json_is_object(n) ? n : NULL;
}

const char *pgdrv_lint_kind(json_t *wrapper)
{
	void *it = json_is_object(wrapper) ? json_object_iter(wrapper) : NULL;

	return it ? json_object_iter_key(it) : "";
}

char *pgdrv_lint_range_name(json_t *rv)
{
	const char *schema = pgdrv_lint_str(rv, "schemaname");
	const char *rel = pgdrv_lint_str(rv, "relname");

	if (!rel)
		return NULL;
	return schema ? mg_xasprintf("%s.%s", schema, rel) : mg_xstrdup(rel);
}

char *pgdrv_lint_dotted(json_t *list)
{
	struct mg_buf b = MG_BUF_INIT;
	size_t i;
	json_t *item;

	json_array_foreach(list, i, item) {
		const char *s = pgdrv_lint_str(pgdrv_lint_node(item, "String"), "sval");

		if (!s)
			continue;
		if (b.len)
			mg_buf_addc(&b, '.');
		mg_buf_adds(&b, s);
	}
	return b.len ? mg_buf_detach(&b) : NULL;
}

/* ---- offsets ------------------------------------------------------------- */

int pgdrv_lint_offset(const struct pgdrv_lint_walk *w, long location)
{
	/* a position in what we wrapped around an expression is its
	 * nearest end */
	if (location < 0)
		return -1;
	location -= w->shift;
	if (location < 0)
		return 0;
	return (int)(location > w->len ? w->len : location);
}

/* Past a comment at p (-- to the end of the line, nested slash-star), or p
 * itself when none starts there. */
static const char *skip_comment(const char *p)
{
	int depth = 0;

	if (p[0] == '-' && p[1] == '-')
		return p + strcspn(p, "\n");
	if (p[0] != '/' || p[1] != '*')
		return p;
	do {
		if (p[0] == '/' && p[1] == '*') {
			depth++;
			p += 2;
		} else if (p[0] == '*' && p[1] == '/') {
			depth--;
			p += 2;
		} else if (*p) {
			p++;
		}
	} while (depth > 0 && *p);
	return p;
}

int pgdrv_lint_token_at(const struct pgdrv_lint_walk *w, long location)
{
	const char *p, *q;
	size_t len = strlen(w->text);

	if (location < 0 || (size_t)location > len)
		return -1;
	p = w->text + location;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		q = skip_comment(p);
		if (q == p)
			break;
		p = q;
	}
	return pgdrv_lint_offset(w, p - w->text);
}

void pgdrv_lint_add(struct pgdrv_lint_walk *w, enum mg_fact_kind kind,
		    unsigned flags, int offset, const char *table,
		    const char *name, const char *detail)
{
	mg_sql_facts_add(w->out, kind, flags | w->block, offset, table, name,
			 detail);
}

/* ---- parsing ------------------------------------------------------------- */

/* The byte offset of PostgreSQL's 1-based character position cursor in
 * text (it counts characters, UTF-8 here), or -1 when it has none. */
static long cursor_byte(const char *text, int cursor)
{
	long i = 0;

	if (cursor <= 0)
		return -1;
	while (text[i] && cursor > 1) {
		i++;
		while (((unsigned char)text[i] & 0xC0) == 0x80)
			i++;
		cursor--;
	}
	return i;
}

static void syntax_error(struct pgdrv_lint_walk *w, long location,
			 const char *message)
{
	mg_sql_facts_add(w->out, MG_FACT_SYNTAX_ERROR, 0,
			 pgdrv_lint_offset(w, location), NULL, NULL, message);
}

/* The length of the UTF-8 sequence at p, or 0 when it is not one (an
 * overlong form, a surrogate, past U+10FFFF, a cut sequence). */
static int utf8_length(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xBF;
	int n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xE0)
		lo = 0xA0;
	else if (p[0] == 0xED)
		hi = 0x9F;
	else if (p[0] == 0xF0)
		lo = 0x90;
	else if (p[0] == 0xF4)
		hi = 0x8F;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/* PostgreSQL reads the text as UTF-8 (and the tree it hands back is JSON,
 * which must be): the offset of the first byte that is not, or -1. */
static long invalid_utf8(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;

	while (*p) {
		int n = utf8_length(p);

		if (!n)
			return (long)(p - (const unsigned char *)text);
		p += n;
	}
	return -1;
}

/* Parse w->text: its tree, or NULL after a syntax error fact. */
static json_t *parse(struct pgdrv_lint_walk *w)
{
	long bad = invalid_utf8(w->text);
	PgQueryParseResult r;
	json_t *root = NULL;
	json_error_t jerr;

	if (bad >= 0) {
		syntax_error(w, bad, "invalid UTF-8 byte sequence");
		return NULL;
	}
	r = pg_query_parse(w->text);
	if (r.error) {
		syntax_error(w, cursor_byte(w->text, r.error->cursorpos),
			     r.error->message ? r.error->message
					      : "syntax error");
	} else {
		root = json_loads(r.parse_tree, 0, &jerr);
		/* jansson refuses a tree nested deeper than it takes. */
		if (!root)
			syntax_error(w, 0, "statement too deeply nested to read");
	}
	pg_query_free_parse_result(r);
	return root;
}

/* ---- statements ---------------------------------------------------------- */

/* "CreateFunctionStmt" -> "CREATE FUNCTION": the readable kind of a
 * statement no rule looks into. */
static char *readable_kind(const char *node)
{
	static const struct { const char *node, *words; } named[] = {
		{ "ViewStmt", "CREATE VIEW" },
		{ "CreateSeqStmt", "CREATE SEQUENCE" },
		{ "AlterSeqStmt", "ALTER SEQUENCE" },
		{ "CreateTrigStmt", "CREATE TRIGGER" },
		{ "CreateEnumStmt", "CREATE TYPE" },
		{ "CompositeTypeStmt", "CREATE TYPE" },
		{ "CreateRangeStmt", "CREATE TYPE" },
		{ "AlterEnumStmt", "ALTER TYPE" },
		{ "VariableSetStmt", "SET" },
		{ "VariableShowStmt", "SHOW" },
		{ "CreateSchemaStmt", "CREATE SCHEMA" },
		{ "CreatedbStmt", "CREATE DATABASE" },
		{ "DropdbStmt", "DROP DATABASE" },
		{ "CreateRoleStmt", "CREATE ROLE" },
		{ "ExplainStmt", "EXPLAIN" },
		{ "DoStmt", "DO" },
		{ "CopyStmt", "COPY" },
		{ "RuleStmt", "CREATE RULE" },
		{ "CreatePLangStmt", "CREATE LANGUAGE" },
		{ "DefineStmt", "CREATE" },
	};
	struct mg_buf b = MG_BUF_INIT;
	size_t n = strlen(node);

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (!strcmp(node, named[i].node))
			return mg_xstrdup(named[i].words);
	if (n > 4 && !strcmp(node + n - 4, "Stmt"))
		n -= 4;
	for (size_t i = 0; i < n; i++) {
		if (i && isupper((unsigned char)node[i]))
			mg_buf_addc(&b, ' ');
		mg_buf_addc(&b, (char)toupper((unsigned char)node[i]));
	}
	return mg_buf_detach(&b);
}

/* OBJECT_MATVIEW -> "MATERIALIZED VIEW", OBJECT_FOREIGN_TABLE -> "FOREIGN
 * TABLE": the object words of DROP / ALTER. */
static char *object_words(const char *objtype)
{
	char *s;

	if (!objtype)
		return mg_xstrdup("OBJECT");
	if (!strcmp(objtype, "OBJECT_MATVIEW"))
		return mg_xstrdup("MATERIALIZED VIEW");
	if (!strncmp(objtype, "OBJECT_", 7))
		objtype += 7;
	s = mg_xstrdup(objtype);
	for (char *p = s; *p; p++)
		if (*p == '_')
			*p = ' ';
	return s;
}

static void other(struct pgdrv_lint_walk *w, int start, const char *what,
		  const char *objtype)
{
	char *words = objtype ? object_words(objtype) : NULL;
	char *detail = words ? mg_xasprintf("%s %s", what, words)
			     : readable_kind(what);

	pgdrv_lint_add(w, MG_FACT_OTHER, 0, start, NULL, NULL, detail);
	free(detail);
	free(words);
}

/* DefElem's boolean as PostgreSQL's defGetBoolean reads it: no argument,
 * true/on/1 are true. */
static int defelem_true(json_t *def)
{
	json_t *arg = json_object_get(def, "arg");
	const char *s;

	if (!arg)
		return 1;
	if (pgdrv_lint_node(arg, "Integer"))
		return pgdrv_lint_int(pgdrv_lint_node(arg, "Integer"), "ival", 0) != 0;
	s = pgdrv_lint_str(pgdrv_lint_node(arg, "String"), "sval");
	if (!s)
		s = pgdrv_lint_str(pgdrv_lint_node(arg, "Boolean"), "boolval");
	return !s || !strcasecmp(s, "true") || !strcasecmp(s, "on") ||
	       !strcmp(s, "1");
}

/* Is option name (a DefElem of list) given and true? */
static int option_on(json_t *list, const char *name)
{
	size_t i;
	json_t *item;

	json_array_foreach(list, i, item) {
		json_t *def = pgdrv_lint_node(item, "DefElem");
		const char *n = pgdrv_lint_str(def, "defname");

		if (n && !strcmp(n, name))
			return defelem_true(def);
	}
	return 0;
}

static void create_table(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	char *table = pgdrv_lint_range_name(json_object_get(s, "relation"));
	json_t *elts = json_object_get(s, "tableElts");
	const char *pk = NULL;
	size_t i;
	json_t *e;

	pgdrv_lint_add(w, MG_FACT_CREATE_TABLE,
		   pgdrv_lint_true(s, "if_not_exists") ? MG_FACTF_IF_NOT_EXISTS : 0,
		   start, table, NULL, NULL);
	/* A table-level PRIMARY KEY (a) makes column a alone the key. */
	json_array_foreach(elts, i, e) {
		json_t *c = pgdrv_lint_node(e, "Constraint");
		json_t *keys = json_object_get(c, "keys");
		const char *t = pgdrv_lint_str(c, "contype");

		if (t && !strcmp(t, "CONSTR_PRIMARY") && json_array_size(keys) == 1)
			pk = pgdrv_lint_str(pgdrv_lint_node(json_array_get(keys, 0),
						    "String"), "sval");
	}
	json_array_foreach(elts, i, e) {
		json_t *col = pgdrv_lint_node(e, "ColumnDef");
		const char *name = pgdrv_lint_str(col, "colname");

		if (!col)
			continue;
		pgdrv_lint_column_type(w, col, table,
				   pk && name && !strcmp(pk, name)
					   ? MG_FACTF_PRIMARY_KEY : 0);
	}
	free(table);
}

static void create_table_as(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	json_t *into = json_object_get(s, "into");
	char *table = pgdrv_lint_range_name(json_object_get(into, "rel"));
	const char *objtype = pgdrv_lint_str(s, "objtype");

	if (objtype && strcmp(objtype, "OBJECT_TABLE")) {
		other(w, start, "CREATE", objtype);
	} else {
		pgdrv_lint_add(w, MG_FACT_CREATE_TABLE,
			   pgdrv_lint_true(s, "if_not_exists")
				   ? MG_FACTF_IF_NOT_EXISTS : 0,
			   start, table, NULL, "AS");
	}
	free(table);
}

static void select_into(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	json_t *into = json_object_get(s, "intoClause");
	char *table = pgdrv_lint_range_name(json_object_get(into, "rel"));

	pgdrv_lint_add(w, MG_FACT_CREATE_TABLE, 0, start, table, NULL,
		   "SELECT INTO");
	free(table);
}

static void drop(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	const char *type = pgdrv_lint_str(s, "removeType");
	enum mg_fact_kind kind;
	unsigned flags = 0;
	size_t i;
	json_t *o;

	if (type && !strcmp(type, "OBJECT_TABLE"))
		kind = MG_FACT_DROP_TABLE;
	else if (type && !strcmp(type, "OBJECT_INDEX"))
		kind = MG_FACT_DROP_INDEX;
	else
		return other(w, start, "DROP", type);
	if (pgdrv_lint_true(s, "missing_ok"))
		flags |= MG_FACTF_IF_EXISTS;
	if (pgdrv_lint_true(s, "concurrent"))
		flags |= MG_FACTF_CONCURRENTLY;
	if (!strcmp(pgdrv_lint_str(s, "behavior") ? pgdrv_lint_str(s, "behavior") : "",
		    "DROP_CASCADE"))
		flags |= MG_FACTF_CASCADE;
	json_array_foreach(json_object_get(s, "objects"), i, o) {
		char *name = pgdrv_lint_dotted(json_object_get(
			pgdrv_lint_node(o, "List"), "items"));

		if (kind == MG_FACT_DROP_TABLE)
			pgdrv_lint_add(w, kind, flags, start, name, NULL, NULL);
		else
			pgdrv_lint_add(w, kind, flags, start, NULL, name, NULL);
		free(name);
	}
}

static void rename_stmt(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	const char *type = pgdrv_lint_str(s, "renameType");
	char *table = pgdrv_lint_range_name(json_object_get(s, "relation"));
	const char *sub = pgdrv_lint_str(s, "subname");
	const char *to = pgdrv_lint_str(s, "newname");
	const char *rel = pgdrv_lint_str(s, "relationType");

	if (!type)
		type = "OBJECT";
	if (table && !strcmp(type, "OBJECT_TABLE"))
		pgdrv_lint_add(w, MG_FACT_RENAME_TABLE, 0, start, table, to, NULL);
	else if (table && !strcmp(type, "OBJECT_COLUMN") && rel &&
		 !strcmp(rel, "OBJECT_TABLE"))
		pgdrv_lint_add(w, MG_FACT_RENAME_COLUMN, 0, start, table, sub, to);
	else if (table && !strcmp(type, "OBJECT_TABCONSTRAINT"))
		pgdrv_lint_add(w, MG_FACT_OTHER, 0, start, table, sub,
			   "RENAME CONSTRAINT");
	else
		other(w, start, "RENAME", type);
	free(table);
}

static void create_index(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	char *table = pgdrv_lint_range_name(json_object_get(s, "relation"));
	unsigned flags = 0;

	if (pgdrv_lint_true(s, "concurrent"))
		flags |= MG_FACTF_CONCURRENTLY;
	if (pgdrv_lint_true(s, "unique"))
		flags |= MG_FACTF_UNIQUE;
	if (pgdrv_lint_true(s, "if_not_exists"))
		flags |= MG_FACTF_IF_NOT_EXISTS;
	pgdrv_lint_add(w, MG_FACT_CREATE_INDEX, flags, start, table,
		   pgdrv_lint_str(s, "idxname"), NULL);
	free(table);
}

static void reindex(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	const char *kind = pgdrv_lint_str(s, "kind");
	char *rel = pgdrv_lint_range_name(json_object_get(s, "relation"));
	unsigned flags = option_on(json_object_get(s, "params"), "concurrently")
				 ? MG_FACTF_CONCURRENTLY : 0;

	if (kind && !strcmp(kind, "REINDEX_OBJECT_TABLE"))
		pgdrv_lint_add(w, MG_FACT_REINDEX, flags, start, rel, NULL, NULL);
	else
		pgdrv_lint_add(w, MG_FACT_REINDEX, flags, start, NULL,
			   rel ? rel : pgdrv_lint_str(s, "name"), NULL);
	free(rel);
}

static void vacuum(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	json_t *rels = json_object_get(s, "rels");
	size_t i;
	json_t *r;

	if (!pgdrv_lint_true(s, "is_vacuumcmd"))
		return other(w, start, "AnalyzeStmt", NULL);
	if (!option_on(json_object_get(s, "options"), "full"))
		return other(w, start, "VacuumStmt", NULL);
	if (!json_array_size(rels))
		pgdrv_lint_add(w, MG_FACT_VACUUM_FULL, 0, start, NULL, NULL, NULL);
	json_array_foreach(rels, i, r) {
		char *t = pgdrv_lint_range_name(json_object_get(
			pgdrv_lint_node(r, "VacuumRelation"), "relation"));

		pgdrv_lint_add(w, MG_FACT_VACUUM_FULL, 0, start, t, NULL, NULL);
		free(t);
	}
}

static void cluster(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	char *t = pgdrv_lint_range_name(json_object_get(s, "relation"));

	pgdrv_lint_add(w, MG_FACT_CLUSTER, 0, start, t, pgdrv_lint_str(s, "indexname"),
		   NULL);
	free(t);
}

static void lock_table(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	static const char *const modes[] = {
		NULL, "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE",
		"SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE",
		"EXCLUSIVE", "ACCESS EXCLUSIVE"
	};
	long mode = pgdrv_lint_int(s, "mode", 8);
	size_t i;
	json_t *r;

	if (mode < 1 || mode > 8)
		mode = 8;
	json_array_foreach(json_object_get(s, "relations"), i, r) {
		char *t = pgdrv_lint_range_name(pgdrv_lint_node(r, "RangeVar"));

		pgdrv_lint_add(w, MG_FACT_LOCK_TABLE, 0, start, t, NULL,
			   modes[mode]);
		free(t);
	}
}

/* The first word of the statement at start, upper case: "BEGIN". */
static char *first_word(const struct pgdrv_lint_walk *w, int start)
{
	const char *p = w->text + w->shift + (start < 0 ? 0 : start);
	size_t n = 0;
	char *s;

	while (isalpha((unsigned char)p[n]))
		n++;
	s = mg_xstrndup(p, n);
	for (char *q = s; *q; q++)
		*q = (char)toupper((unsigned char)*q);
	return s;
}

static void transaction(struct pgdrv_lint_walk *w, json_t *s, int start)
{
	const char *kind = pgdrv_lint_str(s, "kind");
	char *word = first_word(w, start);
	int begins = kind && (!strcmp(kind, "TRANS_STMT_BEGIN") ||
			      !strcmp(kind, "TRANS_STMT_START"));
	int ends = kind && (!strcmp(kind, "TRANS_STMT_COMMIT") ||
			    !strcmp(kind, "TRANS_STMT_ROLLBACK") ||
			    !strcmp(kind, "TRANS_STMT_PREPARE"));

	if (ends)
		w->block = 0;
	pgdrv_lint_add(w, MG_FACT_TRANSACTION, 0, start, NULL, NULL, word);
	if (begins)
		w->block = MG_FACTF_IN_BLOCK;
	free(word);
}

static void update_delete(struct pgdrv_lint_walk *w, json_t *s, int start,
			  enum mg_fact_kind kind)
{
	char *t = pgdrv_lint_range_name(json_object_get(s, "relation"));
	unsigned flags = json_object_get(s, "whereClause") ? 0
							    : MG_FACTF_NO_WHERE;

	pgdrv_lint_add(w, kind, flags, start, t, NULL, NULL);
	free(t);
}

static void statement(struct pgdrv_lint_walk *w, json_t *raw)
{
	json_t *wrapper = json_object_get(raw, "stmt");
	const char *kind = pgdrv_lint_kind(wrapper);
	json_t *s = pgdrv_lint_node(wrapper, kind);
	long loc = pgdrv_lint_int(raw, "stmt_location", 0);
	long len = pgdrv_lint_int(raw, "stmt_len", 0);
	int start = pgdrv_lint_token_at(w, loc);
	int end = len ? pgdrv_lint_offset(w, loc + len)
		      : pgdrv_lint_offset(w, (long)strlen(w->text));

	if (!strcmp(kind, "CreateStmt"))
		create_table(w, s, start);
	else if (!strcmp(kind, "CreateTableAsStmt"))
		create_table_as(w, s, start);
	else if (!strcmp(kind, "DropStmt"))
		drop(w, s, start);
	else if (!strcmp(kind, "AlterTableStmt"))
		pgdrv_lint_alter_table(w, s, start, end);
	else if (!strcmp(kind, "RenameStmt"))
		rename_stmt(w, s, start);
	else if (!strcmp(kind, "IndexStmt"))
		create_index(w, s, start);
	else if (!strcmp(kind, "ReindexStmt"))
		reindex(w, s, start);
	else if (!strcmp(kind, "VacuumStmt"))
		vacuum(w, s, start);
	else if (!strcmp(kind, "ClusterStmt"))
		cluster(w, s, start);
	else if (!strcmp(kind, "LockStmt"))
		lock_table(w, s, start);
	else if (!strcmp(kind, "TransactionStmt"))
		transaction(w, s, start);
	else if (!strcmp(kind, "SelectStmt") && json_object_get(s, "intoClause"))
		select_into(w, s, start);
	else if (!strcmp(kind, "UpdateStmt"))
		update_delete(w, s, start, MG_FACT_UPDATE);
	else if (!strcmp(kind, "DeleteStmt"))
		update_delete(w, s, start, MG_FACT_DELETE);
	else
		other(w, start, kind, NULL);
}

static void lint_statements(struct pgdrv_lint_walk *w)
{
	json_t *root = parse(w);
	size_t i;
	json_t *raw;

	json_array_foreach(json_object_get(root, "stmts"), i, raw)
		statement(w, raw);
	json_decref(root);
}

/* ---- expressions and types ----------------------------------------------- */

#define EXPR_PREFIX "SELECT "
#define TYPE_PREFIX "CREATE TABLE t (c "

/* The one statement of root when it is the only one, else NULL after a
 * syntax error fact: "1; DROP TABLE x" must not pass as an expression. */
static json_t *only_statement(struct pgdrv_lint_walk *w, json_t *root,
			      const char *what, const char *error)
{
	json_t *stmts = json_object_get(root, "stmts");
	json_t *raw = json_array_get(stmts, 0);

	long len = pgdrv_lint_int(raw, "stmt_len", 0);

	/* one statement with a length ends at a ';' before the text's end */
	if (json_array_size(stmts) == 1 && !len)
		return pgdrv_lint_node(json_object_get(raw, "stmt"), what);
	syntax_error(w, len ? pgdrv_lint_int(raw, "stmt_location", 0) + len
			    : w->shift, error);
	return NULL;
}

/* Nothing but blanks and comments: no expression or type at all. */
static int blank(struct pgdrv_lint_walk *w, const char *error)
{
	if (pgdrv_lint_token_at(w, w->shift) < w->len)
		return 0;
	syntax_error(w, w->shift, error);
	return 1;
}

static void lint_expression(struct pgdrv_lint_walk *w)
{
	json_t *root = blank(w, "empty expression") ? NULL : parse(w);
	json_t *sel = root ? only_statement(w, root, "SelectStmt",
		"not one expression (a ';' ends it)") : NULL;
	json_t *targets = json_object_get(sel, "targetList");
	size_t n = json_object_size(sel);

	/* SELECT 1 has targetList, limitOption and op: anything more (FROM,
	 * WHERE, UNION, a second column) is more than one expression. */
	if (sel && (json_array_size(targets) != 1 || n > 3 ||
		    json_object_get(sel, "fromClause")))
		syntax_error(w, w->shift, "not one expression");
	else if (sel)
		pgdrv_lint_volatile_facts(w, targets);
	json_decref(root);
}

static void lint_type(struct pgdrv_lint_walk *w)
{
	json_t *root = blank(w, "empty type") ? NULL : parse(w);
	json_t *create = root ? only_statement(w, root, "CreateStmt",
		"not one type (a ';' ends it)") : NULL;
	json_t *elts = json_object_get(create, "tableElts");
	json_t *col = pgdrv_lint_node(json_array_get(elts, 0), "ColumnDef");
	json_t *type = json_object_get(col, "typeName");
	struct pgdrv_lint_type t;

	if (create && (json_array_size(elts) != 1 || !type ||
		       json_object_get(col, "constraints"))) {
		syntax_error(w, w->shift, "not one type");
	} else if (create) {
		pgdrv_lint_type_read(type, &t);
		pgdrv_lint_add(w, MG_FACT_COLUMN_TYPE, pgdrv_lint_type_flags(&t),
			   pgdrv_lint_offset(w, pgdrv_lint_int(type, "location", -1)),
			   NULL, NULL, t.text);
		pgdrv_lint_type_release(&t);
	}
	json_decref(root);
}

/* ---- the driver method --------------------------------------------------- */

void pgdrv_lint_sql(const char *text, enum mg_lint_text kind,
		    struct mg_sql_facts *out)
{
	struct pgdrv_lint_walk w = { .text = text, .out = out,
				 .len = (int)strlen(text) };
	char *wrapped = NULL;

	switch (kind) {
	case MG_LINT_STATEMENTS:
		lint_statements(&w);
		break;
	case MG_LINT_EXPRESSION:
		wrapped = mg_xasprintf(EXPR_PREFIX "%s", text);
		w.text = wrapped;
		w.shift = (int)strlen(EXPR_PREFIX);
		lint_expression(&w);
		break;
	case MG_LINT_TYPE:
		/* A newline before the closing: a trailing -- comment of the
		 * caller's text must not swallow it. */
		wrapped = mg_xasprintf(TYPE_PREFIX "%s\n)", text);
		w.text = wrapped;
		w.shift = (int)strlen(TYPE_PREFIX);
		lint_type(&w);
		break;
	}
	pgdrv_lint_known_release(&w);
	free(wrapped);
}
