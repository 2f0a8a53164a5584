/*
 * output.h - printing results: the error report the command layer shows,
 * JSON documents (jansson) on stdout, JSON event lines on stderr, and what
 * a progress display needs to know about the terminal.
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

/* Wall-clock time as ISO 8601 UTC with milliseconds,
 * "2026-12-06T11:03:43.123Z", into out[32]. */
void mg_iso_time_ms(char out[32]);

/*
 * A JSON event line (docs/json.md, "JSON lines"): an object whose first
 * key is "event", then "ts", "migration", "migration_id" and "phase", the
 * keys every line carries. The caller adds its own keys, then hands it to
 * mg_json_line. migration may be NULL (JSON null), id 0 then too.
 */
json_t *mg_json_event(const char *event, const char *migration, int migration_id,
		      const char *phase);

/* Write j as one compact line on stderr, flush, release j. */
void mg_json_line(json_t *j);

/* Whether fd is a terminal that understands "\r" and "\033[K": a tty
 * whose TERM is set and not "dumb". Else progress is plain lines. */
int mg_term_fancy(int fd);

/* The terminal's width in columns: the tty's size (TIOCGWINSZ), else
 * $COLUMNS, else 80. Read on every call: the terminal may be resized. */
int mg_term_width(int fd);

#endif
