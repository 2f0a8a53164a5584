/*
 * sqltext.c - checks of the SQL text a migration file brings (see
 * sqltext.h): a lexer that proves an expression cannot leave the
 * parentheses it is pasted into, and the MySQL/MariaDB type grammar.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sqltext.h"
#include "util.h"

/* ==== expressions ============================================================= */

static int ident_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Index just after the literal that opens with the quote at s[i], or 0
 * when it is never closed. */
static size_t skip_quoted(const char *s, size_t i, char q, int backslash)
{
	for (i++; s[i]; i++) {
		if (backslash && s[i] == '\\') {
			if (!s[i + 1])
				return 0;
			i++;
		} else if (s[i] == q) {
			if (s[i + 1] != q)
				return i + 1;
			i++;
		}
	}
	return 0;
}

/*
 * Whether a backslash escapes in the PostgreSQL string at s[i]: 1 for
 * E'...' (the word before the quote is exactly E), 0 or 1 by the server's
 * standard_conforming_strings for a plain one (-1: either), and -1 too
 * when the word merely ends in E (1E'...' lexes as a number and an E
 * string in some versions).
 */
static int pg_backslash(const char *s, size_t i)
{
	size_t start = i;

	while (start > 0 && ident_char((unsigned char)s[start - 1]))
		start--;
	if (start == i || (s[i - 1] != 'E' && s[i - 1] != 'e'))
		return -1;
	return i - start == 1 ? 1 : -1;
}

/* PostgreSQL's $tag$ opens a dollar-quoted string (not $1, not a$b). */
static int is_dollar_quote(const char *s, size_t i)
{
	size_t j = i + 1;

	if (i > 0 && ident_char((unsigned char)s[i - 1]))
		return 0;
	if (s[j] != '$' && !isalpha((unsigned char)s[j]) && s[j] != '_' &&
	    (unsigned char)s[j] < 0x80)
		return 0;
	while (s[j] && s[j] != '$' && ident_char((unsigned char)s[j]))
		j++;
	return s[j] == '$';
}

/*
 * A quoted literal or name at s[*i]: 1 and *i past it, 0 when s[*i] opens
 * none, -1 with *why when it is never closed or when where it ends depends
 * on a server setting (a backslash escapes or not: standard_conforming_
 * strings, NO_BACKSLASH_ESCAPES, ANSI_QUOTES). Text whose every literal
 * ends at the same place under every setting reads the same to any
 * server outside its literals.
 */
static int skip_literal(const char *s, size_t *i, enum mg_sql_dialect d, const char **why)
{
	char c = s[*i];
	int bs;
	size_t end0, end1;

	if (c == '\'')
		bs = d == MG_SQL_POSTGRES ? pg_backslash(s, *i) : -1;
	else if (c == '"')
		bs = d == MG_SQL_MYSQL ? -1 : 0;
	else if (c == '`' && d == MG_SQL_MYSQL)
		bs = 0;
	else
		return 0;
	end0 = bs == 1 ? 0 : skip_quoted(s, *i, c, 0);
	end1 = bs == 0 ? 0 : skip_quoted(s, *i, c, 1);
	if ((bs != 1 && !end0) || (bs != 0 && !end1)) {
		*why = "has a string or quoted name that is not closed";
		return -1;
	}
	if (bs == -1 && end0 != end1) {
		*why = "has a backslash before a quote in a string (where the string ends depends on server settings)";
		return -1;
	}
	*i = bs == 1 ? end1 : end0;
	return 1;
}

/* What ends or escapes an expression at s[i], or NULL. */
static const char *breakout(const char *s, size_t i, enum mg_sql_dialect d)
{
	if (s[i] == ';')
		return "contains ';' outside a string";
	if ((s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*') ||
	    (s[i] == '#' && d == MG_SQL_MYSQL))
		return "contains a comment";
	if (s[i] == '$' && d == MG_SQL_POSTGRES && is_dollar_quote(s, i))
		return "contains a dollar-quoted string (write it as a '...' string)";
	return NULL;
}

static const char *lex(const char *s, enum mg_sql_dialect d)
{
	int parens = 0, brackets = 0;
	const char *why = NULL;
	size_t i = 0;

	while (s[i]) {
		int lit = skip_literal(s, &i, d, &why);

		if (lit < 0)
			return why;
		if (lit)
			continue;
		if ((why = breakout(s, i, d)))
			return why;
		if (s[i] == '(')
			parens++;
		else if (s[i] == '[')
			brackets++;
		else if (s[i] == ')' && --parens < 0)
			return "has a ')' without its '('";
		else if (s[i] == ']' && --brackets < 0)
			return "has a ']' without its '['";
		else if (s[i] == ',' && !parens && !brackets)
			return "has a ',' outside parentheses (more than one expression)";
		i++;
	}
	if (parens)
		return "has a '(' without its ')'";
	if (brackets)
		return "has a '[' without its ']'";
	return NULL;
}

int mg_sqltext_check_expr(const char *text, enum mg_sql_dialect d,
			  const char **why)
{
	size_t k;

	for (k = 0; text[k]; k++)
		if (!isspace((unsigned char)text[k]))
			break;
	if (!text[k]) {
		*why = "is empty";
		return -1;
	}
	*why = lex(text, d);
	return *why ? -1 : 0;
}

/* ==== PostgreSQL statements ================================================== */

/* Index past the comment, literal or dollar-quoted string at s[i], or i
 * when none starts there. Unclosed: the end of the text. */
static size_t pg_skip(const char *s, size_t i)
{
	size_t n = strlen(s);

	if (s[i] == '-' && s[i + 1] == '-')
		return i + strcspn(s + i, "\n");
	if (s[i] == '/' && s[i + 1] == '*') {
		int depth = 0;

		for (; i < n; i++) {
			if (s[i] == '/' && s[i + 1] == '*') {
				depth++;
				i++;
			} else if (s[i] == '*' && s[i + 1] == '/') {
				i++;
				if (--depth == 0)
					return i + 1;
			}
		}
		return n;
	}
	if (s[i] == '\'' || s[i] == '"') {
		size_t end = skip_quoted(s, i, s[i], s[i] == '\'' && pg_backslash(s, i) == 1);

		return end ? end : n;
	}
	if (s[i] == '$' && is_dollar_quote(s, i)) {
		size_t tag = strcspn(s + i + 1, "$") + 2;
		char *close = mg_xstrndup(s + i, tag);
		const char *at = strstr(s + i + tag, close);

		free(close);
		return at ? (size_t)(at - s) + tag : n;
	}
	return i;
}

static int word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && !strncasecmp(s, w, n);
}

int mg_sqltext_pg_tx_control(const char *s, const char **word)
{
	static const char *const words[] = { "begin", "start", "commit", "end",
		"rollback", "abort" };
	int start = 1, atomic = 0;
	size_t i = 0;

	for (size_t k = 0; s[k]; k++)	/* BEGIN ATOMIC ... END; has ';' inside */
		if (!strncasecmp(s + k, "atomic", 6))
			atomic = 1;
	while (s[i]) {
		size_t next = pg_skip(s, i), n = 0;

		if (next != i) {
			i = next;
			continue;
		}
		if (s[i] == ';' || isspace((unsigned char)s[i])) {
			start = start || s[i] == ';';
			i++;
			continue;
		}
		while (isalnum((unsigned char)s[i + n]) || s[i + n] == '_')
			n++;
		for (size_t k = 0; start && n && k < sizeof(words) / sizeof(words[0]); k++)
			if (word_is(s + i, n, words[k]) && !(atomic && k == 3)) {
				*word = words[k];
				return 1;
			}
		start = 0;
		i += n ? n : 1;
	}
	return 0;
}

/* ==== MySQL/MariaDB column types ============================================== */

enum {
	T_LEN = 1 << 0,		/* (n) allowed */
	T_LEN_REQ = 1 << 1,	/* (n) required */
	T_PREC = 1 << 2,	/* (m) or (m,d) allowed */
	T_SIGN = 1 << 3,	/* UNSIGNED, SIGNED, ZEROFILL */
	T_CHARS = 1 << 4,	/* CHARACTER SET, COLLATE */
	T_LIST = 1 << 5		/* ('a','b',...) required */
};

static const struct mytype {
	const char *name;
	unsigned flags;
} mytypes[] = {
	{ "tinyint", T_LEN | T_SIGN }, { "smallint", T_LEN | T_SIGN },
	{ "mediumint", T_LEN | T_SIGN }, { "int", T_LEN | T_SIGN },
	{ "integer", T_LEN | T_SIGN }, { "bigint", T_LEN | T_SIGN },
	{ "decimal", T_PREC | T_SIGN }, { "dec", T_PREC | T_SIGN },
	{ "numeric", T_PREC | T_SIGN }, { "fixed", T_PREC | T_SIGN },
	{ "float", T_PREC | T_SIGN }, { "double", T_PREC | T_SIGN },
	{ "real", T_PREC | T_SIGN }, { "bit", T_LEN },
	{ "bool", 0 }, { "boolean", 0 },
	{ "char", T_LEN | T_CHARS }, { "varchar", T_LEN_REQ | T_CHARS },
	{ "binary", T_LEN }, { "varbinary", T_LEN_REQ },
	{ "tinytext", T_CHARS }, { "text", T_LEN | T_CHARS },
	{ "mediumtext", T_CHARS }, { "longtext", T_CHARS },
	{ "tinyblob", 0 }, { "blob", T_LEN }, { "mediumblob", 0 }, { "longblob", 0 },
	{ "date", 0 }, { "time", T_LEN }, { "datetime", T_LEN },
	{ "timestamp", T_LEN }, { "year", T_LEN },
	{ "enum", T_LIST | T_CHARS }, { "set", T_LIST | T_CHARS },
	{ "json", 0 }, { "uuid", 0 }, { "inet4", 0 }, { "inet6", 0 },
	{ "geometry", 0 }, { "point", 0 }, { "linestring", 0 }, { "polygon", 0 },
	{ "multipoint", 0 }, { "multilinestring", 0 }, { "multipolygon", 0 },
	{ "geometrycollection", 0 },
};

const char mg_sqltext_mysql_types_hint[] =
	"write a MySQL/MariaDB type: a type name such as int, bigint, "
	"decimal, varchar, text, datetime, json, enum, set; an optional (n) "
	"or (m,d); UNSIGNED/SIGNED/ZEROFILL for numbers; CHARACTER SET name "
	"and COLLATE name for text; enum/set take ('a','b') with '' for a "
	"quote inside; anything else is a sql step";

struct tparse {
	const char *s;
	size_t i;
	struct mg_buf out;
	const char *why;
};

static void skip_space(struct tparse *t)
{
	while (isspace((unsigned char)t->s[t->i]))
		t->i++;
}

/* The next word ([A-Za-z0-9_]+), lowercased into w; 0 when none. */
static int word(struct tparse *t, char w[72])
{
	size_t n = 0;

	skip_space(t);
	while ((isalnum((unsigned char)t->s[t->i]) || t->s[t->i] == '_') && n < 71)
		w[n++] = (char)tolower((unsigned char)t->s[t->i++]);
	w[n] = '\0';
	if (isalnum((unsigned char)t->s[t->i]) || t->s[t->i] == '_')
		return 0;	/* too long for any name MySQL has */
	return n > 0;
}

static int punct(struct tparse *t, char c)
{
	skip_space(t);
	if (t->s[t->i] != c)
		return 0;
	t->i++;
	return 1;
}

static int number(struct tparse *t)
{
	size_t n = 0;

	skip_space(t);
	while (isdigit((unsigned char)t->s[t->i]) && n < 10) {
		mg_buf_addc(&t->out, t->s[t->i++]);
		n++;
	}
	if (!n || isdigit((unsigned char)t->s[t->i])) {
		t->why = "expects a number of up to 10 digits inside its parentheses";
		return -1;
	}
	return 0;
}

/* (n), (m) or (m,d) */
static int args(struct tparse *t, unsigned flags)
{
	if (!punct(t, '(')) {
		if (flags & T_LEN_REQ) {
			t->why = "needs a length: (n)";
			return -1;
		}
		return 0;
	}
	mg_buf_addc(&t->out, '(');
	if (number(t) < 0)
		return -1;
	if ((flags & T_PREC) && punct(t, ',')) {
		mg_buf_addc(&t->out, ',');
		if (number(t) < 0)
			return -1;
	}
	if (!punct(t, ')')) {
		t->why = "has something other than (n) or (m,d) after the type name";
		return -1;
	}
	mg_buf_addc(&t->out, ')');
	return 0;
}

/* One 'string' of an enum or set, re-quoted with '' for a quote. */
static int list_item(struct tparse *t)
{
	const char *s = t->s;

	skip_space(t);
	if (s[t->i] != '\'') {
		t->why = "expects a list of 'quoted' values";
		return -1;
	}
	mg_buf_addc(&t->out, '\'');
	for (t->i++;; t->i++) {
		if (!s[t->i]) {
			t->why = "has a value that is not closed with '";
			return -1;
		}
		if (s[t->i] == '\\') {
			t->why = "has a backslash in a value (its meaning depends on the server's sql_mode)";
			return -1;
		}
		if (s[t->i] == '\'' && s[t->i + 1] == '\'') {
			mg_buf_adds(&t->out, "''");
			t->i++;
		} else if (s[t->i] == '\'') {
			break;
		} else {
			mg_buf_addc(&t->out, s[t->i]);
		}
	}
	t->i++;
	mg_buf_addc(&t->out, '\'');
	return 0;
}

static int list(struct tparse *t)
{
	if (!punct(t, '(')) {
		t->why = "needs its values: ('a','b')";
		return -1;
	}
	mg_buf_addc(&t->out, '(');
	do {
		if (t->out.buf[t->out.len - 1] != '(')
			mg_buf_addc(&t->out, ',');
		if (list_item(t) < 0)
			return -1;
	} while (punct(t, ','));
	if (!punct(t, ')')) {
		t->why = "has something other than ',' or ')' after a value";
		return -1;
	}
	mg_buf_addc(&t->out, ')');
	return 0;
}

/* The attributes after the type: each at most once. */
static int attributes(struct tparse *t, unsigned flags)
{
	char w[72], name[72];
	int sign = 0, zerofill = 0, charset = 0, collate = 0;

	while (word(t, w)) {
		if ((flags & T_SIGN) && (!strcmp(w, "unsigned") || !strcmp(w, "signed")) && !sign++) {
			mg_buf_addf(&t->out, " %s", w);
		} else if ((flags & T_SIGN) && !strcmp(w, "zerofill") && !zerofill++) {
			mg_buf_adds(&t->out, " zerofill");
		} else if ((flags & T_CHARS) && !charset &&
			   (!strcmp(w, "charset") ||
			    (!strcmp(w, "character") && word(t, w) && !strcmp(w, "set")))) {
			if (!word(t, name))
				goto noname;
			mg_buf_addf(&t->out, " character set %s", name);
			charset = 1;
		} else if ((flags & T_CHARS) && !collate && !strcmp(w, "collate")) {
			if (!word(t, name))
				goto noname;
			mg_buf_addf(&t->out, " collate %s", name);
			collate = 1;
		} else {
			t->why = "has a word after the type that is not one of its attributes";
			return -1;
		}
	}
	skip_space(t);
	if (t->s[t->i]) {
		t->why = "has something after the type that is not one of its attributes";
		return -1;
	}
	return 0;
noname:
	t->why = "needs a name (letters, digits, _) after CHARACTER SET or COLLATE";
	return -1;
}

int mg_sqltext_mysql_type(const char *text, char **out, const char **why)
{
	struct tparse t = { text, 0, MG_BUF_INIT, NULL };
	const struct mytype *ty = NULL;
	char w[72];

	*out = NULL;
	if (word(&t, w))
		for (size_t k = 0; k < sizeof(mytypes) / sizeof(mytypes[0]); k++)
			if (!strcmp(w, mytypes[k].name))
				ty = &mytypes[k];
	if (!ty) {
		*why = "does not start with a type name migrate knows";
		mg_buf_release(&t.out);
		return -1;
	}
	mg_buf_adds(&t.out, ty->name);
	if (!strcmp(ty->name, "double")) {
		size_t at = t.i;

		if (!word(&t, w) || strcmp(w, "precision"))
			t.i = at;
	}
	if (((ty->flags & T_LIST) ? list(&t) : args(&t, ty->flags)) < 0 ||
	    attributes(&t, ty->flags) < 0) {
		*why = t.why;
		mg_buf_release(&t.out);
		return -1;
	}
	*out = mg_buf_detach(&t.out);
	return 0;
}
