/*
 * util.h - errors, the string builder, allocation and small helpers shared by
 * the core and the drivers.
 *
 * Ownership: functions named _new return memory the caller frees with the
 * matching _free (or free() for plain strings from mg_xstrdup/mg_buf_detach);
 * _init/_release work on caller-embedded structs; const char * results are
 * borrowed.
 */
#ifndef MG_UTIL_H
#define MG_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>

/* ---- errors ------------------------------------------------------------ */

/*
 * Error classes double as exit status (design §4): the command layer returns
 * err.code as the process exit status.
 */
enum mg_code {
	MG_OK = 0,
	MG_EREFUSED = 1,	/* a safety gate or check refused */
	MG_EINPUT = 2,		/* usage or input error; nothing was changed */
	MG_EDB = 3		/* database, state store or runtime error */
};

/*
 * A caller-owned error. msg is one line, lowercase, subject in quotes; hint
 * (optional, may be empty) is what the operator can do next.
 */
struct mg_err {
	int code;
	char msg[2048];
	char hint[1024];
};

#define MG_ERR_INIT { 0, "", "" }

/* Set code and message; returns -1 so callers can `return mg_err_set(...)`. */
int mg_err_set(struct mg_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Set the hint line (what to do next). Returns -1. */
int mg_err_hint(struct mg_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prefix the existing message with context ("expand 0003: "). */
void mg_err_prefix(struct mg_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mg_err_clear(struct mg_err *err);

/* ---- allocation: failure aborts ----------------------------------------- */

void *mg_xmalloc(size_t n);
void *mg_xcalloc(size_t nmemb, size_t size);
void *mg_xrealloc(void *p, size_t n);
char *mg_xstrdup(const char *s);		/* NULL in, NULL out */
char *mg_xstrndup(const char *s, size_t n);
char *mg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow an array: MG_ALLOC_GROW(items, n + 1, alloc). */
#define MG_ALLOC_GROW(x, nr, alloc) do { \
	if ((size_t)(nr) > (alloc)) { \
		(alloc) = (alloc) ? (alloc) * 2 : 8; \
		if ((alloc) < (size_t)(nr)) (alloc) = (nr); \
		(x) = mg_xrealloc((x), (alloc) * sizeof(*(x))); \
	} \
} while (0)

/* ---- string builder (git's strbuf): buf is never NULL ------------------ */

struct mg_buf {
	char *buf;
	size_t len;
	size_t alloc;
};

extern char mg_buf_empty[];
#define MG_BUF_INIT { mg_buf_empty, 0, 0 }

void mg_buf_init(struct mg_buf *b);
void mg_buf_release(struct mg_buf *b);
void mg_buf_reset(struct mg_buf *b);		/* len = 0, keeps memory */
void mg_buf_add(struct mg_buf *b, const char *s, size_t n);
void mg_buf_adds(struct mg_buf *b, const char *s);
void mg_buf_addc(struct mg_buf *b, char c);
void mg_buf_addf(struct mg_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mg_buf_vaddf(struct mg_buf *b, const char *fmt, va_list ap);
/* The caller now owns the string; b is reset to empty. */
char *mg_buf_detach(struct mg_buf *b);

/* ---- a list of owned strings ------------------------------------------- */

struct mg_strlist {
	char **items;
	size_t n;
	size_t alloc;
};
#define MG_STRLIST_INIT { NULL, 0, 0 }
void mg_strlist_push(struct mg_strlist *l, const char *s);	/* copies s */
void mg_strlist_push_owned(struct mg_strlist *l, char *s);	/* takes s */
int mg_strlist_contains(const struct mg_strlist *l, const char *s);
void mg_strlist_release(struct mg_strlist *l);

/* ---- misc ---------------------------------------------------------------- */

/* SHA-256 of a file as 64 lowercase hex chars + NUL. 0 or -1 (err set). */
int mg_sha256_file(char out[65], const char *path, struct mg_err *err);
void mg_sha256_hex(char out[65], const void *data, size_t len);

/* Milliseconds from a monotonic clock. */
int64_t mg_now_ms(void);
/* Wall-clock time as ISO 8601 UTC "2026-11-25T19:08:21Z" into out[32]. */
void mg_iso_time(char out[32]);

/* A glob (`*` any run, `?` one character, the rest literal) as an SQL LIKE
 * pattern with backslash as the escape character. malloc'd. */
char *mg_glob_to_like(const char *glob);
void mg_sleep_ms(int64_t ms);
/* How long to wait before retry `attempt` (0-based) of a step that met a
 * lock: 100 ms doubling up to 3 s, jittered +-50 %. */
int64_t mg_backoff_ms(int attempt);

/* Set (to the signal number) by the SIGINT/SIGTERM handler of a long
 * command such as backfill: loops that wait (row locks, throttles) give up
 * early so the command can checkpoint and exit. */
extern volatile sig_atomic_t mg_stop_requested;

/*
 * Install the SIGINT/SIGTERM handler of every command: the first signal
 * sets mg_stop_requested (the drivers then cancel the running statement
 * and start no other, so the command fails with exit 3 and a re-run
 * resumes); a second one exits at once with status 3. Async-signal-safe:
 * it sets a flag, or write()s one line and _exit()s.
 */
void mg_stop_signals_install(void);

/* Parse a non-negative decimal integer; 0 or -1. */
int mg_parse_long(const char *s, long *out);

/*
 * Parse a duration into milliseconds: a number with a unit ("500ms",
 * "2s", "1.5s", "5m", "1h", "1d"), or several ("1h30m"); a bare number
 * is in bare_unit_ms (1 for options that were milliseconds, 1000 for
 * ones that were seconds). 0 or -1 (nothing set) for anything else.
 */
int mg_parse_duration(const char *s, long bare_unit_ms, long *out_ms);

/* A duration for people: "850ms", "45s", "3m05s", "1h02m", "2d03h". */
void mg_format_duration(char out[32], int64_t ms);

/* Verbosity set by the command line: -1 quiet, 0 normal, 1 verbose. */
extern int mg_verbosity;
/* Progress and diagnostics on stderr (suppressed by --quiet). */
void mg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* mg_fault_point, the test builds' crash points: testhooks.h */
#include "testhooks.h"

/* Levenshtein distance of two short strings (did-you-mean suggestions);
 * SIZE_MAX when either is longer than 64 bytes. */
size_t mg_edit_distance(const char *a, const char *b);

#endif
