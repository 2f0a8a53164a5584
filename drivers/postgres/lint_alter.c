/*
 * lint_alter.c - the facts of ALTER TABLE for the PostgreSQL driver's lint:
 * one per subcommand (ADD COLUMN, DROP COLUMN, ALTER ... TYPE, SET NOT
 * NULL, constraints...), and the column types CREATE TABLE and ADD COLUMN
 * declare.
 *
 * PostgreSQL 15's parse tree gives most subcommands no location, so the
 * statement's text is cut at its top-level commas (outside parentheses,
 * brackets, strings, quoted names, dollar quotes and comments): the n-th
 * piece is the n-th subcommand, and its fact points at the piece's first
 * word ("DROP COLUMN c" of "ALTER TABLE t ADD d int, DROP COLUMN c").
 */
#include "postgres/pg.h"
#include "postgres/pglint.h"

/* ---- cutting the statement at its subcommands ---------------------------- */

static int ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$' ||
	       (unsigned char)c >= 0x80;
}

/* Past the quoted text starting at p ('...' or "..."; a doubled quote is
 * part of it; backslash escapes when escapes). */
static const char *skip_quoted(const char *p, int escapes)
{
	char q = *p++;

	while (*p) {
		if (escapes && *p == '\\' && p[1])
			p += 2;
		else if (*p == q && p[1] == q)
			p += 2;
		else if (*p++ == q)
			break;
	}
	return p;
}

/* Past a dollar-quoted string at p ($$...$$, $tag$...$tag$), or p. */
static const char *skip_dollar(const char *p)
{
	const char *q = p + 1, *end;
	char *tag;

	while (ident_char(*q) && *q != '$')
		q++;
	if (*q != '$' || isdigit((unsigned char)p[1]))
		return p;
	tag = mg_xstrndup(p, (size_t)(q - p + 1));
	end = strstr(q + 1, tag);
	p = end ? end + strlen(tag) : q + 1 + strlen(q + 1);
	free(tag);
	return p;
}

/* Past one lexical item at p that may hide a comma: a string, a quoted
 * name, a dollar quote or a comment; p itself when none starts there. */
static const char *skip_item(const char *text, const char *p)
{
	const char *q;
	int after_ident = p > text && ident_char(p[-1]);

	if (*p == '\'')
		return skip_quoted(p, p > text && (p[-1] == 'e' || p[-1] == 'E') &&
					      !(p - 1 > text && ident_char(p[-2])));
	if (*p == '"')
		return skip_quoted(p, 0);
	if (*p == '$' && !after_ident)
		return skip_dollar(p);
	if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
		q = p;
		if (p[0] == '-')
			return q + strcspn(q, "\n");
		for (int depth = 0; *q;) {
			if (q[0] == '/' && q[1] == '*') {
				depth++;
				q += 2;
			} else if (q[0] == '*' && q[1] == '/') {
				q += 2;
				if (--depth == 0)
					break;
			} else {
				q++;
			}
		}
		return q;
	}
	return p;
}

/* Past the relation name at p: name[.name...] and a trailing '*'. */
static const char *skip_relation(const char *p)
{
	for (;;) {
		if (*p == '"')
			p = skip_quoted(p, 0);
		else
			while (ident_char(*p))
				p++;
		if (*p != '.')
			break;
		p++;
	}
	while (isspace((unsigned char)*p))
		p++;
	return *p == '*' ? p + 1 : p;
}

/*
 * The offsets of the subcommands of the ALTER TABLE whose relation name is
 * at rel_loc, up to end: n pieces when the cut found n, else 0 (the caller
 * then uses the statement's offset).
 */
static size_t cut_subcommands(const struct pgdrv_lint_walk *w, long rel_loc,
			      int end, int *starts, size_t n)
{
	const char *text = w->text;
	const char *p, *stop = text + w->shift + end;
	size_t found = 0;
	int depth = 0;

	if (rel_loc < 0 || (size_t)rel_loc >= strlen(text))
		return 0;
	p = skip_relation(text + rel_loc);
	starts[found++] = pgdrv_lint_token_at(w, p - text);
	while (*p && p < stop && found <= n) {
		const char *q = skip_item(text, p);

		if (q != p) {
			p = q;
			continue;
		}
		if (*p == '(' || *p == '[')
			depth++;
		else if ((*p == ')' || *p == ']') && depth > 0)
			depth--;
		else if (*p == ';' && depth == 0)
			break;
		else if (*p == ',' && depth == 0 && found < n)
			starts[found++] = pgdrv_lint_token_at(w, p + 1 - text);
		else if (*p == ',' && depth == 0)
			return 0;
		p++;
	}
	return found == n ? n : 0;
}

/* The text inside the first balanced parentheses at or after raw offset
 * from, trimmed: the expression of CHECK (...). NULL when none. */
static char *paren_text(const struct pgdrv_lint_walk *w, long from)
{
	const char *text = w->text, *p, *open;
	int depth = 0;

	if (from < 0 || (size_t)from >= strlen(text))
		return NULL;
	p = strchr(text + from, '(');
	if (!p)
		return NULL;
	open = p;
	while (*p) {
		const char *q = skip_item(text, p);

		if (q != p) {
			p = q;
			continue;
		}
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			break;
		p++;
	}
	if (!*p)
		return NULL;
	open++;
	while (open < p && isspace((unsigned char)*open))
		open++;
	while (p > open && isspace((unsigned char)p[-1]))
		p--;
	return mg_xstrndup(open, (size_t)(p - open));
}

/* ---- columns ------------------------------------------------------------- */

static int is_serial(json_t *type_name)
{
	struct pgdrv_lint_type t;
	int serial;

	pgdrv_lint_type_read(type_name, &t);
	serial = (pgdrv_lint_type_flags(&t) & MG_FACTF_TYPE_SERIAL) != 0;
	pgdrv_lint_type_release(&t);
	return serial;
}

/*
 * A serial, identity or generated column gets a value per row when it is
 * added, as a volatile default does: the table is rewritten. They count as
 * VOLATILE_DEFAULT.
 */
unsigned pgdrv_lint_column_flags(json_t *coldef)
{
	unsigned f = 0;
	size_t i;
	json_t *c;

	if (is_serial(json_object_get(coldef, "typeName")))
		f |= MG_FACTF_HAS_DEFAULT | MG_FACTF_VOLATILE_DEFAULT |
		     MG_FACTF_NOT_NULL;
	json_array_foreach(json_object_get(coldef, "constraints"), i, c) {
		json_t *con = pgdrv_lint_node(c, "Constraint");
		const char *t = pgdrv_lint_str(con, "contype");

		if (!t)
			continue;
		if (!strcmp(t, "CONSTR_NOTNULL"))
			f |= MG_FACTF_NOT_NULL;
		else if (!strcmp(t, "CONSTR_PRIMARY"))
			f |= MG_FACTF_PRIMARY_KEY | MG_FACTF_NOT_NULL;
		else if (!strcmp(t, "CONSTR_UNIQUE"))
			f |= MG_FACTF_UNIQUE;
		else if (!strcmp(t, "CONSTR_FOREIGN"))
			f |= MG_FACTF_FOREIGN_KEY;
		else if (!strcmp(t, "CONSTR_CHECK"))
			f |= MG_FACTF_CHECK;
		else if (!strcmp(t, "CONSTR_IDENTITY") ||
			 !strcmp(t, "CONSTR_GENERATED"))
			f |= MG_FACTF_HAS_DEFAULT | MG_FACTF_VOLATILE_DEFAULT;
		else if (!strcmp(t, "CONSTR_DEFAULT"))
			f |= MG_FACTF_HAS_DEFAULT |
			     (pgdrv_lint_volatile_call(json_object_get(con, "raw_expr"),
						   NULL)
				      ? MG_FACTF_VOLATILE_DEFAULT : 0);
	}
	return f;
}

void pgdrv_lint_column_type(struct pgdrv_lint_walk *w, json_t *coldef,
			    const char *table, unsigned flags)
{
	json_t *tn = json_object_get(coldef, "typeName");
	const char *column = pgdrv_lint_str(coldef, "colname");
	struct pgdrv_lint_type t;

	if (!tn)
		return;
	pgdrv_lint_type_read(tn, &t);
	flags |= pgdrv_lint_type_flags(&t);
	flags |= pgdrv_lint_column_flags(coldef) & MG_FACTF_PRIMARY_KEY;
	pgdrv_lint_add(w, MG_FACT_COLUMN_TYPE, flags,
		   pgdrv_lint_offset(w, pgdrv_lint_int(tn, "location", -1)), table,
		   column, t.text);
	pgdrv_lint_type_release(&t);
	pgdrv_lint_known_add(w, table, column, tn);
}

/* ---- subcommands --------------------------------------------------------- */

struct alter {
	struct pgdrv_lint_walk *w;
	const char *table;
	int at;			/* the subcommand's offset */
};

static unsigned drop_flags(json_t *cmd)
{
	const char *b = pgdrv_lint_str(cmd, "behavior");

	return (pgdrv_lint_true(cmd, "missing_ok") ? MG_FACTF_IF_EXISTS : 0) |
	       (b && !strcmp(b, "DROP_CASCADE") ? MG_FACTF_CASCADE : 0);
}

static void add_column(struct alter *a, json_t *cmd)
{
	json_t *col = pgdrv_lint_node(json_object_get(cmd, "def"), "ColumnDef");
	unsigned flags = pgdrv_lint_column_flags(col);

	if (pgdrv_lint_true(cmd, "missing_ok"))
		flags |= MG_FACTF_IF_NOT_EXISTS;
	pgdrv_lint_add(a->w, MG_FACT_ADD_COLUMN, flags, a->at, a->table,
		   pgdrv_lint_str(col, "colname"), NULL);
	pgdrv_lint_column_type(a->w, col, a->table, 0);
}

static void alter_type(struct alter *a, json_t *cmd)
{
	json_t *col = pgdrv_lint_node(json_object_get(cmd, "def"), "ColumnDef");
	json_t *tn = json_object_get(col, "typeName");
	const char *column = pgdrv_lint_str(cmd, "name");
	const struct pgdrv_lint_type *old =
		pgdrv_lint_known_find(a->w, a->table, column);
	struct pgdrv_lint_type t;
	unsigned flags;

	if (!tn)
		return;
	pgdrv_lint_type_read(tn, &t);
	flags = pgdrv_lint_type_change(old, &t,
				   json_object_get(col, "raw_default") != NULL);
	pgdrv_lint_add(a->w, MG_FACT_ALTER_TYPE, flags, a->at, a->table, column,
		   t.text);
	pgdrv_lint_add(a->w, MG_FACT_COLUMN_TYPE, pgdrv_lint_type_flags(&t),
		   pgdrv_lint_offset(a->w, pgdrv_lint_int(tn, "location", -1)),
		   a->table, column, t.text);
	pgdrv_lint_type_release(&t);
	pgdrv_lint_known_add(a->w, a->table, column, tn);
}

static void set_default(struct alter *a, json_t *cmd)
{
	json_t *def = json_object_get(cmd, "def");
	unsigned flags = 0;

	if (def) {
		flags |= MG_FACTF_HAS_DEFAULT;
		if (pgdrv_lint_volatile_call(def, NULL))
			flags |= MG_FACTF_VOLATILE_DEFAULT;
	}
	pgdrv_lint_add(a->w, MG_FACT_SET_DEFAULT, flags, a->at, a->table,
		   pgdrv_lint_str(cmd, "name"), NULL);
}

static void add_constraint(struct alter *a, json_t *cmd)
{
	json_t *con = pgdrv_lint_node(json_object_get(cmd, "def"), "Constraint");
	const char *t = pgdrv_lint_str(con, "contype");
	unsigned flags = 0;
	char *check = NULL;

	if (!t)
		t = "";
	if (!strcmp(t, "CONSTR_FOREIGN"))
		flags |= MG_FACTF_FOREIGN_KEY;
	else if (!strcmp(t, "CONSTR_UNIQUE"))
		flags |= MG_FACTF_UNIQUE;
	else if (!strcmp(t, "CONSTR_PRIMARY"))
		flags |= MG_FACTF_PRIMARY_KEY;
	else if (!strcmp(t, "CONSTR_CHECK"))
		flags |= MG_FACTF_CHECK;
	if (pgdrv_lint_true(con, "skip_validation"))
		flags |= MG_FACTF_NOT_VALID;
	if (pgdrv_lint_str(con, "indexname"))
		flags |= MG_FACTF_USING_INDEX;
	if (flags & MG_FACTF_CHECK)
		check = paren_text(a->w, pgdrv_lint_int(con, "location", -1));
	pgdrv_lint_add(a->w, MG_FACT_ADD_CONSTRAINT, flags, a->at, a->table,
		   pgdrv_lint_str(con, "conname"),
		   check ? check : (!strcmp(t, "CONSTR_EXCLUSION") ? "EXCLUDE"
								    : NULL));
	free(check);
}

/* AT_SetStatistics -> "ALTER TABLE SET STATISTICS". */
static void other_subcommand(struct alter *a, const char *subtype)
{
	struct mg_buf b = MG_BUF_INIT;

	mg_buf_adds(&b, "ALTER TABLE");
	if (subtype && !strncmp(subtype, "AT_", 3))
		subtype += 3;
	for (const char *p = subtype ? subtype : ""; *p; p++) {
		if (p == subtype || isupper((unsigned char)*p))
			mg_buf_addc(&b, ' ');
		mg_buf_addc(&b, (char)toupper((unsigned char)*p));
	}
	pgdrv_lint_add(a->w, MG_FACT_OTHER, 0, a->at, a->table, NULL, b.buf);
	mg_buf_release(&b);
}

static void subcommand(struct alter *a, json_t *cmd)
{
	const char *st = pgdrv_lint_str(cmd, "subtype");
	const char *name = pgdrv_lint_str(cmd, "name");
	struct pgdrv_lint_walk *w = a->w;

	if (!st)
		st = "";
	if (!strcmp(st, "AT_AddColumn"))
		add_column(a, cmd);
	else if (!strcmp(st, "AT_DropColumn"))
		pgdrv_lint_add(w, MG_FACT_DROP_COLUMN, drop_flags(cmd), a->at,
			   a->table, name, NULL);
	else if (!strcmp(st, "AT_AlterColumnType"))
		alter_type(a, cmd);
	else if (!strcmp(st, "AT_SetNotNull"))
		pgdrv_lint_add(w, MG_FACT_SET_NOT_NULL, 0, a->at, a->table, name,
			   NULL);
	else if (!strcmp(st, "AT_DropNotNull"))
		pgdrv_lint_add(w, MG_FACT_DROP_NOT_NULL, 0, a->at, a->table, name,
			   NULL);
	else if (!strcmp(st, "AT_ColumnDefault"))
		set_default(a, cmd);
	else if (!strcmp(st, "AT_AddConstraint"))
		add_constraint(a, cmd);
	else if (!strcmp(st, "AT_ValidateConstraint"))
		pgdrv_lint_add(w, MG_FACT_VALIDATE_CONSTRAINT, 0, a->at, a->table,
			   name, NULL);
	else if (!strcmp(st, "AT_DropConstraint"))
		pgdrv_lint_add(w, MG_FACT_DROP_CONSTRAINT, drop_flags(cmd), a->at,
			   a->table, name, NULL);
	else
		other_subcommand(a, st);
}

/* OBJECT_FOREIGN_TABLE -> "ALTER FOREIGN TABLE". */
static char *object_words(const char *objtype)
{
	char *s;

	if (!strncmp(objtype, "OBJECT_", 7))
		objtype += 7;
	s = mg_xasprintf("ALTER %s", !strcmp(objtype, "MATVIEW")
					     ? "MATERIALIZED VIEW" : objtype);
	for (char *p = s; *p; p++)
		if (*p == '_')
			*p = ' ';
	return s;
}

void pgdrv_lint_alter_table(struct pgdrv_lint_walk *w, json_t *stmt,
			    int start, int end)
{
	json_t *rel = json_object_get(stmt, "relation");
	json_t *cmds = json_object_get(stmt, "cmds");
	const char *objtype = pgdrv_lint_str(stmt, "objtype");
	size_t n = json_array_size(cmds), i;
	char *table = pgdrv_lint_range_name(rel);
	struct alter a = { w, table, start };
	int *starts = mg_xcalloc(n + 1, sizeof(*starts));
	json_t *cmd;

	if (objtype && strcmp(objtype, "OBJECT_TABLE")) {
		char *what = object_words(objtype);

		pgdrv_lint_add(w, MG_FACT_OTHER, 0, start, NULL, table, what);
		free(what);
		goto out;
	}
	if (!cut_subcommands(w, pgdrv_lint_int(rel, "location", -1), end, starts, n))
		for (i = 0; i < n; i++)
			starts[i] = start;
	json_array_foreach(cmds, i, cmd) {
		a.at = starts[i];
		subcommand(&a, pgdrv_lint_node(cmd, "AlterTableCmd"));
	}
out:
	free(starts);
	free(table);
}
