/*
 * fuzz_url.c - libFuzzer target for the URL parsers that are ours: the
 * password redaction of every URL and conninfo string migrate shows
 * (mg_redact_url, drivers/redact.c) and the mysql driver's mysql:// parser
 * (mg_mysql_url_check, drivers/mysql/url.c). libpq's own parser
 * (PQconninfoParse) is the oracle for postgres URLs, not a target.
 *
 * The input is one URL (a NUL ends it early, as in a C string). Checked
 * beyond the sanitizers, the promise of redaction for mysql:// URLs: when
 * the driver finds a password in a URL, the redacted copy must not carry
 * it, read by the same parser. For postgres:// URLs and conninfo strings
 * that libpq accepts (PQconninfoParse), the password and sslpassword libpq
 * reads from the original (3 characters or more), or a piece of one
 * between blanks, must not be in the redacted copy unless the original
 * also has it outside the password (as often as the copy does) or in a
 * value libpq reads that is not a secret (a user named like the password).
 *
 * regressions/url/uri-*, conninfo-escaped-blank: the redaction read these
 * differently from libpq and showed the password (issue 11, defect 8);
 * mysql-ampersand-before-any-query: an '&' before any '?' was taken for a
 * query parameter, so the '@' after the password was not found.
 * regressions/url/oracle-*: inputs where the password's text is also in
 * the rest of the URL (repeated after the '@', or "%40te" and "@te"): not
 * leaks, kept so that the check stays free of these false findings.
 *
 * regressions/url/scheme-with-query-before-slashes: "x?so/://u:pw@h/db?..."
 * was parsed by the mysql parser although the driver never takes it (no
 * mysql:// scheme), and the redaction, which takes the first '?' even in
 * the scheme, kept the password: mg_mysql_url_check now refuses the scheme
 * as the driver table does.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "driver.h"
#include "fuzz_common.h"
#include "mysql/url.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The redacted URL, read by the mysql parser, must not give back the
 * password the original gave. */
static void check_redacted(const char *url, const char *redacted)
{
	struct mg_err err = MG_ERR_INIT;
	char *pw = NULL, *shown_pw = NULL;

	if (mg_mysql_url_check(url, &pw, &err) == 0 && pw && pw[0] &&
	    strcmp(pw, "****") != 0 &&
	    mg_mysql_url_check(redacted, &shown_pw, &err) == 0 &&
	    shown_pw && strcmp(shown_pw, pw) == 0) {
		fprintf(stderr, "the redacted URL keeps the password\n");
		abort();
	}
	free(pw);
	free(shown_pw);
}

static int is_secret(const char *keyword)
{
	return !strcmp(keyword, "password") || !strcmp(keyword, "sslpassword");
}

/* Whether pw is in text the redacted copy shows anyway: the scheme, a
 * keyword with its '=', a value libpq read that is not a secret (with any
 * delimiter around it: a user named like the password), or the marker. */
static int shown_anyway(const PQconninfoOption *opts, const char *pw)
{
	static const char seps[] = "/:@?&=,[]' ";
	char text[1024];

	if (strchr(pw, '*') || strstr("postgresql://", pw))
		return 1;
	for (const PQconninfoOption *o = opts; o->keyword; o++) {
		snprintf(text, sizeof(text), "%s=", o->keyword);
		if (strstr(text, pw))
			return 1;
		if (is_secret(o->keyword) || !o->val)
			continue;
		for (const char *a = seps; *a; a++)
			for (const char *b = seps; *b; b++) {
				snprintf(text, sizeof(text), "%c%s%c", *a, o->val, *b);
				if (strstr(text, pw))
					return 1;
			}
	}
	return 0;
}

/* How many times pw occurs in s (overlapping ones too). */
static size_t count(const char *s, const char *pw)
{
	size_t n = 0;

	for (const char *p = strstr(s, pw); p; p = strstr(p + 1, pw))
		n++;
	return n;
}

/* url with every %XX decoded (a NUL one ends it). */
static char *decoded(const char *url)
{
	char *out = malloc(strlen(url) + 1), *o = out;

	for (const char *p = url; *p; p++) {
		if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
			*o++ = (char)strtol((char[3]){ p[1], p[2], '\0' }, NULL, 16);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* s with the keyword "password" (also in "sslpassword") blanked out: a
 * piece of a password such as "passw" is in the keyword too, which the
 * redaction keeps. Caller frees. */
static char *without_keywords(const char *s)
{
	char *out = strdup(s);

	for (char *p = strstr(out, "password"); p; p = strstr(p, "password"))
		memset(p, '\x01', 8);
	return out;
}

/* Whether the redacted copy shows pw: 3 characters or more, and as often
 * as the original has it, as written or percent-decoded (a correct
 * redaction takes at least one occurrence away; "o:%40te @te/q" has "@te"
 * twice once decoded). */
static int shows(const PQconninfoOption *opts, const char *url, const char *redacted,
		 const char *pw)
{
	char *plain, *red, *orig;
	size_t in_url, n;

	if (strlen(pw) < 3)
		return 0;
	red = without_keywords(redacted);
	n = count(red, pw);
	free(red);
	if (n == 0)
		return 0;
	orig = without_keywords(url);
	plain = decoded(orig);
	in_url = count(orig, pw);
	if (count(plain, pw) > in_url)
		in_url = count(plain, pw);
	free(plain);
	free(orig);
	return n >= in_url && !shown_anyway(opts, pw);
}

/* Whether it shows pw. Pieces of a password (between escaped blanks) are
 * left to the unit tests: as a fuzz oracle they matched keys and values
 * around them ("er=bob" of "user=bob") and reported false leaks. */
static int leaks(const PQconninfoOption *opts, const char *url, const char *redacted,
		 const char *pw)
{
	return shows(opts, url, redacted, pw);
}

/* libpq's own reading of a postgres URL or conninfo string: the password
 * it would send must not be in the redacted copy. */
static void check_redacted_pg(const char *url, const char *redacted)
{
	PQconninfoOption *opts;
	char *msg = NULL;

	if (strstr(url, "://") && strncmp(url, "postgres://", 11) &&
	    strncmp(url, "postgresql://", 13))
		return;
	opts = PQconninfoParse(url, &msg);
	if (!opts) {
		PQfreemem(msg);
		return;
	}
	for (const PQconninfoOption *o = opts; o->keyword; o++)
		if (is_secret(o->keyword) && o->val && leaks(opts, url, redacted, o->val)) {
			fprintf(stderr, "the redacted text keeps the %s libpq reads\n",
				o->keyword);
			abort();
		}
	PQconninfoFree(opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_cstr(data, size);
	char *redacted = mg_redact_url(url);
	struct mg_err err = MG_ERR_INIT;

	if (mg_mysql_url_check(url, NULL, &err) < 0 && err.code != MG_EINPUT)
		abort();
	check_redacted(url, redacted);
	check_redacted_pg(url, redacted);
	free(redacted);
	free(url);
	return 0;
}
