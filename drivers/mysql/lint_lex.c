/*
 * lint_lex.c - the tokens of MySQL/MariaDB SQL text, for lint (see
 * mylint.h): words, `names`, "double quoted" text, 'strings' and single
 * punctuation characters, with comments dropped.
 *
 * What the server's settings change is read so that no setting can make
 * the text mean something else than lint thinks:
 * - a backslash escapes in '...' and "..." unless sql_mode has
 *   NO_BACKSLASH_ESCAPES: both readings are tried, and a string whose end
 *   differs between them is a problem of its own (write '' for a quote);
 *   the default reading (backslash escapes) is kept;
 * - "..." is a string, or a name under ANSI_QUOTES: it ends at the same
 *   place either way, and the readers take it as either;
 * - the contents of versioned comments (slash-star-bang, MariaDB's
 *   slash-star-M-bang) run on every server recent enough, so they are
 *   read as code.
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/mylint.h"
#include "util.h"

static int word_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Index just past the literal opening with the quote at s[i], or 0 when
 * it is never closed; bs: a backslash escapes the next character. */
static size_t quoted_end(const char *s, size_t i, char q, int bs)
{
	for (i++; s[i]; i++) {
		if (bs && s[i] == '\\') {
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

static void add_issue(struct mylint_lex *lx, size_t off, const char *why)
{
	if (lx->n_issues == lx->cap_issues) {
		lx->cap_issues = lx->cap_issues ? lx->cap_issues * 2 : 4;
		lx->issues = mg_xrealloc(lx->issues, lx->cap_issues * sizeof(*lx->issues));
	}
	lx->issues[lx->n_issues].off = (int)off;
	lx->issues[lx->n_issues++].why = why;
}

static void add_token(struct mylint_lex *lx, enum mylint_tok kind, size_t off,
		      size_t len, int line_start)
{
	struct mylint_token *t;

	if (lx->n == lx->cap) {
		lx->cap = lx->cap ? lx->cap * 2 : 64;
		lx->t = mg_xrealloc(lx->t, lx->cap * sizeof(*lx->t));
	}
	t = &lx->t[lx->n++];
	t->kind = kind;
	t->off = (int)off;
	t->len = (int)len;
	t->line_start = line_start;
}

/* Stop reading at off: what follows cannot be told apart. */
static void stop(struct mylint_lex *lx, size_t off, const char *why)
{
	add_issue(lx, off, why);
	lx->stopped_at = (int)off;
}

static void note_comment(struct mylint_lex *lx, size_t off)
{
	if (lx->first_comment < 0)
		lx->first_comment = (int)off;
}

/* A -- comment needs a space or a control character after it (MySQL's
 * rule: a--1 is a - -1). */
static int line_comment_at(const char *s, size_t i)
{
	if (s[i] == '#')
		return 1;
	return s[i] == '-' && s[i + 1] == '-' &&
	       (!s[i + 2] || (unsigned char)s[i + 2] <= ' ');
}

/* Length of a versioned comment's opening (slash-star-bang plus its
 * version digits, or MariaDB's slash-star-M-bang), or 0. */
static size_t versioned_open(const char *s, size_t i)
{
	size_t n;

	if (s[i + 2] == '!')
		n = 3;
	else if (s[i + 2] == 'M' && s[i + 3] == '!')
		n = 4;
	else
		return 0;
	for (size_t k = 0; k < 6 && isdigit((unsigned char)s[i + n]); k++)
		n++;
	return n;
}

/*
 * A '...' or "..." literal at s[i]: its end by the default reading, or 0
 * (the reading stops) when it is not closed. A literal that ends
 * elsewhere when backslashes do not escape is an issue.
 */
static size_t string_end(struct mylint_lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t escaped = quoted_end(s, i, s[i], 1);
	size_t plain = quoted_end(s, i, s[i], 0);

	if (!escaped) {
		stop(lx, i, plain ? "a string is not closed unless sql_mode has NO_BACKSLASH_ESCAPES (a backslash before its quote): write '' for a quote inside a string"
			     : "a string or quoted name is not closed");
		return 0;
	}
	if (plain != escaped)
		add_issue(lx, i, "where this string ends depends on the server's sql_mode (NO_BACKSLASH_ESCAPES: a backslash before a quote): write '' for a quote inside a string");
	return escaped;
}

void mylint_lex(struct mylint_lex *lx, const char *text)
{
	const char *s = text;
	size_t i = 0, versioned_at = 0;
	int bol = 1, in_versioned = 0;

	memset(lx, 0, sizeof(*lx));
	lx->s = text;
	lx->stopped_at = -1;
	lx->first_comment = -1;
	if (strlen(text) > INT_MAX / 2) {
		stop(lx, 0, "is too long to read");
		return;
	}
	while (s[i]) {
		unsigned char c = (unsigned char)s[i];
		size_t end, n;

		if (isspace(c)) {
			bol = bol || c == '\n';
			i++;
		} else if (line_comment_at(s, i)) {
			note_comment(lx, i);
			i += strcspn(s + i, "\n");
		} else if (c == '/' && s[i + 1] == '*' && !in_versioned &&
			   (n = versioned_open(s, i))) {
			in_versioned = 1;
			versioned_at = i;
			i += n;
		} else if (c == '/' && s[i + 1] == '*') {
			const char *close = strstr(s + i + 2, "*/");

			note_comment(lx, i);
			if (!close) {
				stop(lx, i, "a comment is not closed (/* without */)");
				return;
			}
			i = (size_t)(close - s) + 2;
		} else if (c == '*' && s[i + 1] == '/' && in_versioned) {
			in_versioned = 0;
			i += 2;
		} else if (c == '\'' || c == '"' || c == '`') {
			end = c == '`' ? quoted_end(s, i, '`', 0) : string_end(lx, i);
			if (!end) {
				if (c == '`')
					stop(lx, i, "a `quoted name` is not closed");
				return;
			}
			add_token(lx, c == '`' ? MYTOK_IDENT : c == '"' ? MYTOK_DQUOTE : MYTOK_STRING,
				  i, end - i, bol);
			bol = 0;
			i = end;
		} else if (word_char(c)) {
			for (end = i; word_char((unsigned char)s[end]); end++)
				;
			add_token(lx, MYTOK_WORD, i, end - i, bol);
			bol = 0;
			i = end;
		} else {
			add_token(lx, MYTOK_PUNCT, i, 1, bol);
			bol = 0;
			i++;
		}
	}
	if (in_versioned)
		stop(lx, versioned_at, "a versioned comment (/*!) is not closed");
}

void mylint_lex_release(struct mylint_lex *lx)
{
	free(lx->t);
	free(lx->issues);
	memset(lx, 0, sizeof(*lx));
}

int mylint_is_word(const struct mylint_lex *lx, const struct mylint_token *t,
		   const char *w)
{
	return t->kind == MYTOK_WORD && (size_t)t->len == strlen(w) &&
	       !strncasecmp(lx->s + t->off, w, (size_t)t->len);
}

char *mylint_name_text(const struct mylint_lex *lx, const struct mylint_token *t)
{
	const char *s = lx->s + t->off;
	struct mg_buf b = MG_BUF_INIT;

	if (t->kind == MYTOK_WORD || t->kind == MYTOK_PUNCT || t->len < 2)
		return mg_xstrndup(s, (size_t)t->len);
	for (int k = 1; k < t->len - 1; k++) {
		mg_buf_addc(&b, s[k]);
		if (s[k] == s[0] && k + 1 < t->len - 1)
			k++;	/* a doubled quote is one quote */
	}
	return mg_buf_detach(&b);
}

int mylint_punct_is(const struct mylint_lex *lx, size_t k, char c)
{
	return k < lx->n && lx->t[k].kind == MYTOK_PUNCT && lx->s[lx->t[k].off] == c;
}
