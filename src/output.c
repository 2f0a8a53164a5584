/* output.c - error reports and JSON documents. */
#include "output.h"

#include <stdio.h>

void mg_report_error(const struct mg_err *err)
{
	fprintf(stderr, "error: %s\n", err->msg[0] ? err->msg : "unknown error");
	if (err->hint[0])
		fprintf(stderr, "hint: %s\n", err->hint);
}

void mg_json_print(json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(doc);
}

json_t *mg_json_str(const char *s)
{
	return s ? json_string(s) : json_null();
}
