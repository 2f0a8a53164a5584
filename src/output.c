/* output.c - error reports, JSON documents and lines, the terminal. */
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

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

void mg_iso_time_ms(char out[32])
{
	struct timespec ts;
	struct tm tm;
	char day[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", day, (int)(ts.tv_nsec / 1000000));
}

json_t *mg_json_event(const char *event, const char *migration, int migration_id,
		      const char *phase)
{
	char ts[32];
	json_t *j = json_object();

	mg_iso_time_ms(ts);
	json_object_set_new(j, "event", json_string(event));
	json_object_set_new(j, "ts", json_string(ts));
	json_object_set_new(j, "migration", mg_json_str(migration));
	json_object_set_new(j, "migration_id", migration ? json_integer(migration_id) : json_null());
	json_object_set_new(j, "phase", mg_json_str(phase));
	return j;
}

void mg_json_line(json_t *j)
{
	json_dumpf(j, stderr, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stderr);
	fflush(stderr);
	json_decref(j);
}

int mg_term_fancy(int fd)
{
	const char *term = getenv("TERM");

	return isatty(fd) && term && term[0] && strcmp(term, "dumb") != 0;
}

int mg_term_width(int fd)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");
	long n = 0;

	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (cols && mg_parse_long(cols, &n) == 0 && n > 0 && n < 10000)
		return (int)n;
	return 80;
}
