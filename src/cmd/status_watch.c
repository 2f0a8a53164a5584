/*
 * status_watch.c - `migrate status --watch [--interval DURATION]`.
 *
 * Every refresh renders the whole status into memory (a new context each
 * time: the state and the database are read afresh, nothing is kept), then
 * shows it: on a terminal in place (home, each line cleared to its end,
 * the rest of the screen cleared), cut to the window; elsewhere (a pipe,
 * TERM=dumb) frame after frame under a "---- time ----" line, or with
 * --json one compact JSON object a line. A failed refresh (the database
 * went away) is shown like a frame and retried; only SIGINT/SIGTERM end
 * the watch, with exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "status.h"
#include "util.h"

#define CSI "\033["
/* how often a sleeping watch looks at mg_stop_requested */
#define STOP_POLL_MS 50

enum watch_mode { WATCH_SCREEN, WATCH_FRAMES, WATCH_JSON_LINES };

static enum watch_mode watch_mode(const struct mg_options *opt)
{
	const char *term = getenv("TERM");

	if (opt->json)
		return WATCH_JSON_LINES;
	if (!isatty(STDOUT_FILENO) || !term || !*term || !strcmp(term, "dumb"))
		return WATCH_FRAMES;
	return WATCH_SCREEN;
}

/*
 * One status into a malloc'd string. The status code prints with printf
 * (and so do the colour and event listings it calls), so stdout is pointed
 * at a memory stream for the duration: glibc's stdout is an assignable
 * variable. On failure the error and its hint are the text.
 */
static char *render_status(struct mg_options *opt, struct mg_err *err, int *failed)
{
	FILE *saved = stdout, *mem;
	char *text = NULL;
	size_t len = 0;
	int rc;

	fflush(stdout);
	mem = open_memstream(&text, &len);
	if (!mem) {
		*failed = 1;
		return mg_xasprintf("error: out of memory\n");
	}
	stdout = mem;
	rc = mg_status_once(opt, err);
	stdout = saved;
	fclose(mem);
	*failed = rc < 0;
	if (rc < 0) {
		free(text);
		return mg_xasprintf("error: %s\n%s%s%s", err->msg[0] ? err->msg : "unknown error",
				    err->hint[0] ? "hint: " : "", err->hint, err->hint[0] ? "\n" : "");
	}
	return text;
}

/* The rendered JSON document as one compact line, or the error as
 * {"error": {"message", "hint", "time"}}. */
static void emit_json_line(const char *text, const struct mg_err *err, int failed)
{
	json_t *doc = failed ? NULL : json_loads(text, 0, NULL);
	char when[32];

	if (!doc) {
		mg_iso_time(when);
		doc = json_pack("{s:{s:s, s:o, s:s}}", "error",
				"message", failed && err->msg[0] ? err->msg : "status failed",
				"hint", mg_json_str(failed && err->hint[0] ? err->hint : NULL),
				"time", when);
	}
	json_dumpf(doc, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(doc);
}

static void emit_frame(const char *text)
{
	char when[32];

	mg_iso_time(when);
	printf("---- %s ----\n%s", when, text);
}

/* ---- the terminal screen ------------------------------------------------ */

struct screen {
	int cols, rows;
	int used;		/* lines written this frame */
};

static void screen_size(struct screen *s)
{
	struct winsize ws;

	s->cols = 80;
	s->rows = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
		s->cols = ws.ws_col;
		s->rows = ws.ws_row;
	}
	s->used = 0;
}

/* Bytes of line (len bytes) that fill at most cols columns, counting a
 * UTF-8 character as one column; *shown the columns they take. */
static size_t fit_bytes(const char *line, size_t len, int cols, int *shown)
{
	size_t i = 0;
	int n = 0;

	while (i < len) {
		size_t next = i + 1;

		while (next < len && ((unsigned char)line[next] & 0xC0) == 0x80)
			next++;
		if (n == cols)
			break;
		n++;
		i = next;
	}
	*shown = n;
	return i;
}

/* One screen line, cut (never wrapped) to the width: a cut line ends in
 * "…". A line shorter than the width is cleared to its end. */
static void screen_line(struct screen *s, const char *line, size_t len)
{
	int shown;
	size_t keep = fit_bytes(line, len, s->cols, &shown);

	if (keep < len) {
		keep = fit_bytes(line, len, s->cols - 1, &shown);
		fwrite(line, 1, keep, stdout);
		fputs("…", stdout);
		shown++;
	} else {
		fwrite(line, 1, keep, stdout);
	}
	/* at the last column the cursor waits to wrap, and ESC[K there
	 * would erase the last character */
	if (shown < s->cols)
		fputs(CSI "K", stdout);
	fputc('\n', stdout);
	s->used++;
}

static int count_lines(const char *text)
{
	int n = 0;

	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n + (*text && text[strlen(text) - 1] != '\n');
}

static void screen_header(struct screen *s, const struct mg_options *opt)
{
	char every[32], host[256] = "?", when[64], line[512];
	time_t now = time(NULL);
	struct tm tm;

	mg_format_duration(every, opt->interval_ms);
	gethostname(host, sizeof(host) - 1);
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
	snprintf(line, sizeof(line), "every %s · %s · %s   (Ctrl-C to quit)", every, host, when);
	screen_line(s, line, strlen(line));
	screen_line(s, "", 0);
}

/*
 * The frame in place: the header, then as many lines as the window holds
 * below it (the last row stays free so the final newline never scrolls),
 * "… N more lines" when they do not all fit, and the rest cleared.
 */
static void emit_screen(const struct mg_options *opt, const char *text)
{
	struct screen s;
	int total = count_lines(text), room;
	const char *p = text;

	screen_size(&s);
	fputs(CSI "H", stdout);
	screen_header(&s, opt);
	room = s.rows - 1 - s.used;
	if (total > room)
		room--;		/* the "more lines" line */
	for (int i = 0; i < total && i < room; i++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		screen_line(&s, p, len);
		p += len + (nl != NULL);
	}
	if (total > room && room >= 0) {
		char more[64];

		snprintf(more, sizeof(more), "… %d more lines", total - room);
		screen_line(&s, more, strlen(more));
	}
	fputs(CSI "J", stdout);
}

/* ---- the loop ----------------------------------------------------------- */

/* Sleep until `until` (mg_now_ms) unless a signal asks to stop first. */
static void sleep_until(int64_t until)
{
	int64_t now;

	while (!mg_stop_requested && (now = mg_now_ms()) < until)
		mg_sleep_ms(until - now < STOP_POLL_MS ? until - now : STOP_POLL_MS);
}

int mg_status_watch(struct mg_options *opt)
{
	enum watch_mode mode = watch_mode(opt);
	int64_t next = mg_now_ms();

	if (mode == WATCH_SCREEN)
		fputs(CSI "H" CSI "2J", stdout);
	while (!mg_stop_requested) {
		struct mg_err err = MG_ERR_INIT;
		int failed;
		char *text;

		next += opt->interval_ms;
		text = render_status(opt, &err, &failed);
		/* a refresh cut short by the signal is not shown */
		if (mg_stop_requested) {
			free(text);
			break;
		}
		if (mode == WATCH_JSON_LINES)
			emit_json_line(text, &err, failed);
		else if (mode == WATCH_FRAMES)
			emit_frame(text);
		else
			emit_screen(opt, text);
		fflush(stdout);
		free(text);
		if (mg_now_ms() > next)
			next = mg_now_ms();	/* a slow refresh: no catching up */
		sleep_until(next);
	}
	fflush(stdout);
	return 0;
}
