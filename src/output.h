/*
 * output.h - printing results: the error report the command layer shows,
 * and JSON documents (jansson) on stdout.
 */
#ifndef MG_OUTPUT_H
#define MG_OUTPUT_H

#include <jansson.h>
#include "util.h"

/* "error: <msg>" and "hint: <hint>" on stderr. */
void mg_report_error(const struct mg_err *err);

/* Print one JSON document on stdout and release it. */
void mg_json_print(json_t *doc);

/* json_string of s, or JSON null for NULL. */
json_t *mg_json_str(const char *s);

#endif
