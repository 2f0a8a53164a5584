/*
 * redact.c - database URLs as they may be shown: every password hidden.
 *
 * The forms are the drivers' (URLs user:pass@host, ?password=, and libpq's
 * key=value conninfo strings); they are hidden by every driver's rules at
 * once, so that a URL no driver takes, shown in the error that says so,
 * hides its password too.
 */
#include "driver.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/*
 * The password is found the way libpq finds it (fe-connect.c,
 * conninfo_uri_parse_options / conninfo_uri_parse_params / conninfo_parse),
 * and where our reading and libpq's could differ we hide more, never less.
 */

static int hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

/* Whether the key s[0..n), once %XX-decoded (libpq decodes query keys),
 * ends in "password" (password, sslpassword). */
static int is_password_key(const char *s, size_t n)
{
	char key[9];
	size_t k = 0;

	/* decode from the end: the last 8 decoded characters */
	while (n > 0 && k < 8) {
		char c = s[n - 1];

		if (n >= 3 && s[n - 3] == '%' && isxdigit((unsigned char)s[n - 2]) &&
		    isxdigit((unsigned char)c)) {
			c = (char)(hexval(s[n - 2]) * 16 + hexval(c));
			n -= 3;
		} else {
			n--;
		}
		key[7 - k++] = c;
	}
	return k == 8 && !memcmp(key, "password", 8);
}

/* Replace the value of every ...password=value parameter (sslpassword too)
 * after the first '?' or '&' of the URL in b. A key runs back to the
 * nearest '?' or '&'; a value runs to the next '&' only (libpq does not
 * end it at '#' or '?'). From the first '&' even before any '?': the '?'
 * that starts libpq's parameters may be inside the user info we hid (an
 * '@' further on ended it for us), and what follows is still libpq's
 * parameters (found by fuzz_url). Hiding more, never less. */
static void redact_query(struct mg_buf *b)
{
	char *s = mg_buf_detach(b);
	const char *q = s + strcspn(s, "?&");
	const char *p = s;

	if (!*q)
		q = NULL;

	for (const char *eq = q ? strchr(q, '=') : NULL; eq; eq = strchr(eq + 1, '=')) {
		const char *k = eq;

		while (k[-1] != '?' && k[-1] != '&')
			k--;
		if (!is_password_key(k, (size_t)(eq - k)))
			continue;
		mg_buf_add(b, p, (size_t)(eq + 1 - p));
		mg_buf_adds(b, "****");
		p = eq + 1 + strcspn(eq + 1, "&");
		eq = p - 1;
	}
	mg_buf_adds(b, p);
	free(s);
}

/* Whether the '@' at `at` is in the value of a ?key=value parameter (an
 * '&' before any '?' starts no parameter). */
static int in_query_value(const char *auth, const char *at)
{
	const char *p = at;

	if (!memchr(auth, '?', (size_t)(at - auth)))
		return 0;
	while (p > auth && p[-1] != '?' && p[-1] != '&')
		p--;
	return p > auth && memchr(p, '=', (size_t)(at - p)) != NULL;
}

static void redact_uri(struct mg_buf *b, const char *url)
{
	const char *auth = strstr(url, "://") + 3;
	const char *at = NULL, *first, *colon;

	/* libpq's: the first '@' before any '/' ends the password, even after
	 * a '?', '&', '=' or '#' */
	first = auth + strcspn(auth, "@/");
	/* ours: the last '@' that is not inside a query value, so that an
	 * unencoded '/' in a password does not hide it either */
	for (const char *p = auth + strlen(auth); p > auth && !at; p--)
		if (p[-1] == '@' && !in_query_value(auth, p - 1))
			at = p - 1;
	/* hide up to the later of the two */
	if (*first == '@' && (!at || first > at))
		at = first;
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (!colon) {
		mg_buf_adds(b, url);
	} else {
		mg_buf_add(b, url, (size_t)(colon + 1 - url));
		mg_buf_adds(b, "****");
		mg_buf_adds(b, at);
	}
	redact_query(b);
}

/* The end of the conninfo value at q, read as conninfo_parse reads it: up
 * to the closing quote of a quoted value, else up to white space; a
 * backslash escapes the next character in both (an unterminated quote
 * runs to the end). */
static const char *conninfo_value_end(const char *q)
{
	int quoted = *q == '\'';

	if (quoted)
		q++;
	while (*q) {
		if (*q == '\\') {
			q++;
			if (*q)
				q++;
			continue;
		}
		if (quoted ? *q == '\'' : isspace((unsigned char)*q))
			return quoted ? q + 1 : q;
		q++;
	}
	return q;
}

static int has_scheme(const char *s);

/* A value that is not a password, copied; a URL in it (dbname=postgres://
 * u:pw@h/db, which libpq does not expand, but whose password it shows) is
 * redacted as a URL, inside its quotes if it has them. */
static void redact_conninfo_value(struct mg_buf *b, const char *v, size_t n)
{
	struct mg_buf url = MG_BUF_INIT;
	int quoted = n > 0 && v[0] == '\'';
	char *s = mg_xstrndup(v + quoted, n - (size_t)quoted);

	if (!has_scheme(s)) {
		mg_buf_add(b, v, n);
	} else {
		redact_uri(&url, s);
		free(s);
		s = mg_buf_detach(&url);
		if (quoted)
			mg_buf_adds(b, "'");
		mg_buf_adds(b, s);
	}
	free(s);
}

/* key = value pairs as conninfo_parse reads them; the value of every key
 * ending in "password" (sslpassword too) is replaced, the rest copied as
 * it is. A word without '=' (which libpq refuses) is copied and the
 * reading goes on after it. */
static void redact_conninfo(struct mg_buf *b, const char *s)
{
	const char *p = s;

	while (*p) {
		const char *name = p, *q;
		size_t n;

		if (isspace((unsigned char)*p)) {
			mg_buf_add(b, p++, 1);
			continue;
		}
		for (q = name; *q && *q != '=' && !isspace((unsigned char)*q); q++)
			;
		n = (size_t)(q - name);
		while (isspace((unsigned char)*q))
			q++;
		if (*q != '=') {
			mg_buf_add(b, p, (size_t)(q - p));
			p = q;
			continue;
		}
		for (q++; isspace((unsigned char)*q); q++)
			;
		mg_buf_add(b, p, (size_t)(q - p));
		p = conninfo_value_end(q);
		if (n >= 8 && !memcmp(name + n - 8, "password", 8))
			mg_buf_adds(b, "****");
		else
			redact_conninfo_value(b, q, (size_t)(p - q));
	}
}

/* Whether s starts with a URI scheme and "://" (libpq reads anything else
 * as a conninfo string, even with a "://" further on). */
static int has_scheme(const char *s)
{
	const char *p = s;

	if (!isalpha((unsigned char)*p))
		return 0;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return !strncmp(p, "://", 3);
}

char *mg_redact_url(const char *url)
{
	struct mg_buf b = MG_BUF_INIT;

	if (!url)
		return mg_xstrdup("");
	if (has_scheme(url))
		redact_uri(&b, url);
	else
		redact_conninfo(&b, url);
	return mg_buf_detach(&b);
}
