/* util.c - errors, string builder, allocation, hashing and small helpers. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

int mg_verbosity;
char mg_buf_empty[1];

/* ---- errors ------------------------------------------------------------ */

int mg_err_set(struct mg_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	err->hint[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int mg_err_hint(struct mg_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
	return -1;
}

void mg_err_prefix(struct mg_err *err, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	size_t plen = strlen(prefix);

	memcpy(old, err->msg, sizeof(old));
	if (plen >= sizeof(err->msg))
		plen = sizeof(err->msg) - 1;
	memcpy(err->msg, prefix, plen);
	snprintf(err->msg + plen, sizeof(err->msg) - plen, "%.*s",
		 (int)(sizeof(err->msg) - plen - 1), old);
}

void mg_err_clear(struct mg_err *err)
{
	err->code = 0;
	err->msg[0] = '\0';
	err->hint[0] = '\0';
}

/* ---- allocation ---------------------------------------------------------- */

static void die_oom(size_t n)
{
	fprintf(stderr, "migrate: out of memory allocating %zu bytes\n", n);
	abort();
}

void *mg_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die_oom(n);
	return p;
}

void *mg_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		die_oom(nmemb * size);
	return p;
}

void *mg_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		die_oom(n);
	return q;
}

char *mg_xstrdup(const char *s)
{
	return s ? mg_xstrndup(s, strlen(s)) : NULL;
}

char *mg_xstrndup(const char *s, size_t n)
{
	char *p = mg_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *mg_xasprintf(const char *fmt, ...)
{
	struct mg_buf b = MG_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	mg_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return mg_buf_detach(&b);
}

/* ---- string builder ---------------------------------------------------------- */

void mg_buf_init(struct mg_buf *b)
{
	b->buf = mg_buf_empty;
	b->len = 0;
	b->alloc = 0;
}

void mg_buf_release(struct mg_buf *b)
{
	if (b->alloc)
		free(b->buf);
	mg_buf_init(b);
}

void mg_buf_reset(struct mg_buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->buf[0] = '\0';
}

static void buf_grow(struct mg_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->alloc)
		return;
	if (!b->alloc)
		b->buf = NULL;
	b->alloc = b->alloc ? b->alloc : 64;
	while (b->alloc < need)
		b->alloc *= 2;
	b->buf = mg_xrealloc(b->buf, b->alloc);
}

void mg_buf_add(struct mg_buf *b, const char *s, size_t n)
{
	buf_grow(b, n);
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

void mg_buf_adds(struct mg_buf *b, const char *s)
{
	mg_buf_add(b, s, strlen(s));
}

void mg_buf_addc(struct mg_buf *b, char c)
{
	mg_buf_add(b, &c, 1);
}

void mg_buf_vaddf(struct mg_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void mg_buf_addf(struct mg_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mg_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

char *mg_buf_detach(struct mg_buf *b)
{
	char *s = b->alloc ? b->buf : mg_xstrdup("");

	mg_buf_init(b);
	return s;
}

/* ---- string list ------------------------------------------------------------- */

void mg_strlist_push(struct mg_strlist *l, const char *s)
{
	mg_strlist_push_owned(l, mg_xstrdup(s));
}

void mg_strlist_push_owned(struct mg_strlist *l, char *s)
{
	MG_ALLOC_GROW(l->items, l->n + 1, l->alloc);
	l->items[l->n++] = s;
}

int mg_strlist_contains(const struct mg_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i], s) == 0)
			return 1;
	return 0;
}

void mg_strlist_release(struct mg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = l->alloc = 0;
}

/* ---- hashing ------------------------------------------------------------------ */

static void hex(char out[65], const unsigned char *md)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

void mg_sha256_hex(char out[65], const void *data, size_t len)
{
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	hex(out, md);
}

int mg_sha256_file(char out[65], const char *path, struct mg_err *err)
{
	unsigned char md[32], chunk[65536];
	unsigned int mdlen = sizeof(md);
	EVP_MD_CTX *ctx;
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return mg_err_set(err, MG_EINPUT, "cannot read '%s': %s", path,
				  strerror(errno));
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		die_oom(0);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		EVP_DigestUpdate(ctx, chunk, n);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	fclose(f);
	hex(out, md);
	return 0;
}

/* ---- time --------------------------------------------------------------------- */

int64_t mg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mg_iso_time(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *mg_glob_to_like(const char *glob)
{
	struct mg_buf b = MG_BUF_INIT;

	for (const char *p = glob; *p; p++) {
		if (*p == '*')
			mg_buf_adds(&b, "%");
		else if (*p == '?')
			mg_buf_adds(&b, "_");
		else if (*p == '%' || *p == '_' || *p == '\\')
			mg_buf_addf(&b, "\\%c", *p);
		else
			mg_buf_addf(&b, "%c", *p);
	}
	return mg_buf_detach(&b);
}

volatile sig_atomic_t mg_stop_requested;

static void on_stop_signal(int sig)
{
	static const char msg[] = "error: interrupted twice: exiting at once (a statement may still run on the server)\n"
		"hint: run the same command again: it resumes where it stopped\n";

	if (mg_stop_requested) {
		ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);

		(void)n;
		_exit(MG_EDB);
	}
	mg_stop_requested = sig;
}

void mg_stop_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int64_t mg_backoff_ms(int attempt)
{
	int64_t base = 100LL << (attempt < 5 ? attempt : 5);

	if (base > 3000)
		base = 3000;
	return base / 2 + (int64_t)(random() % (base + 1));
}

void mg_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int mg_parse_long(const char *s, long *out)
{
	char *end;
	long v;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* ---- diagnostics ----------------------------------------------------------------- */

void mg_info(const char *fmt, ...)
{
	va_list ap;

	if (mg_verbosity < 0)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void mg_debug(const char *fmt, ...)
{
	va_list ap;

	if (mg_verbosity < 1)
		return;
	va_start(ap, fmt);
	fputs("debug: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void mg_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int mg_parse_duration(const char *s, long bare_unit_ms, long *out_ms)
{
	static const struct { const char *unit; double ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { NULL, 0 }
	};
	double total = 0;
	const char *p = s;

	if (!s || !*s)
		return -1;
	if (mg_parse_long(s, out_ms) == 0) {
		if (*out_ms > LONG_MAX / bare_unit_ms)
			return -1;
		*out_ms *= bare_unit_ms;
		return 0;
	}
	while (*p) {
		char *end;
		double v;
		size_t i;

		if (!isdigit((unsigned char)*p))
			return -1;
		v = strtod(p, &end);
		p = end;
		for (i = 0; units[i].unit; i++) {
			size_t n = strlen(units[i].unit);

			/* "m" must not take the "m" of "ms" */
			if (!strncmp(p, units[i].unit, n) && !isalpha((unsigned char)p[n]))
				break;
		}
		if (!units[i].unit)
			return -1;
		total += v * units[i].ms;
		p += strlen(units[i].unit);
	}
	if (total > 9.0e15)
		return -1;
	*out_ms = (long)(total + 0.5);
	return 0;
}

void mg_format_duration(char out[32], int64_t ms)
{
	int64_t s;

	if (ms < 0)
		ms = 0;
	s = ms / 1000;
	if (ms < 1000)
		snprintf(out, 32, "%lldms", (long long)ms);
	else if (s < 60)
		snprintf(out, 32, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, 32, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(out, 32, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(out, 32, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

/* See util.h: the loader's key suggestions and migrate new's. */
size_t mg_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65], prev, tmp;

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}
