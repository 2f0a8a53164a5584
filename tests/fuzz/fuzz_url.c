/*
 * fuzz_url.c - libFuzzer target for the URL parsers that are ours: the
 * password redaction of every URL and conninfo string migrate shows
 * (mg_redact_url, src/util.c) and the mysql driver's mysql:// parser
 * (mg_mysql_url_check, drivers/mysql.c). libpq's own parser
 * (PQconninfoParse) is not fuzzed here.
 *
 * The input is one URL (a NUL ends it early, as in a C string). Checked
 * beyond the sanitizers, the promise of redaction for mysql:// URLs: when
 * the driver finds a password in a URL, the redacted copy must not carry
 * it, read by the same parser.
 *
 * regressions/url/scheme-with-query-before-slashes: "x?so/://u:pw@h/db?..."
 * was parsed by the mysql parser although the driver never takes it (no
 * mysql:// scheme), and the redaction, which takes the first '?' even in
 * the scheme, kept the password: mg_mysql_url_check now refuses the scheme
 * as the driver table does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mysql_url.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_cstr(data, size);
	char *redacted = mg_redact_url(url);
	struct mg_err err = MG_ERR_INIT;

	if (mg_mysql_url_check(url, NULL, &err) < 0 && err.code != MG_EINPUT)
		abort();
	check_redacted(url, redacted);
	free(redacted);
	free(url);
	return 0;
}
