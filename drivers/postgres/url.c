/*
 * url.c - the PostgreSQL database URL read the way libpq reads it
 * (PQconninfoParse, and libpq's own split of a URI into user, password,
 * host, database and parameters), before connecting.
 *
 * libpq's parse errors quote the text they stumbled on
 * (`invalid percent-encoded token: "50%off-Zq"`), and an unencoded '/' in
 * a password makes libpq read the rest as host and port
 * (`invalid integer value "sec" for connection option "port"`): pieces of
 * the password in an error message. So a malformed URL is refused here,
 * with MG_EINPUT (exit 2), naming the part that is wrong and quoting none
 * of it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "url.h"

/* One part of a URI: where it starts and how long it is. */
struct part {
	const char *s;
	size_t n;
};

/* user:password@host:port/dbname?params, split as libpq splits it
 * (conninfo_uri_parse_options): the credentials end at the first '@'
 * before any '/'. */
struct uri {
	struct part user, password, host, db, params;
	int extra_at;		/* another '@' before the first '/' */
};

static void split_uri(const char *url, struct uri *u)
{
	const char *s = strstr(url, "://") + 3;
	const char *q = s;

	memset(u, 0, sizeof(*u));
	while (*q && *q != '@' && *q != '/')
		q++;
	if (*q == '@') {
		const char *colon = memchr(s, ':', (size_t)(q - s));

		u->user.s = s;
		u->user.n = (size_t)((colon ? colon : q) - s);
		if (colon) {
			u->password.s = colon + 1;
			u->password.n = (size_t)(q - colon - 1);
		}
		s = q + 1;
		for (q = s; *q && *q != '/'; q++)
			if (*q == '@')
				u->extra_at = 1;
	}
	u->host.s = s;
	u->host.n = strcspn(s, "/?");
	s += u->host.n;
	if (*s == '/') {
		u->db.s = ++s;
		u->db.n = strcspn(s, "?");
		s += u->db.n;
	}
	if (*s == '?') {
		u->params.s = s + 1;
		u->params.n = strlen(s + 1);
	}
}

/* A '%' not followed by two hex digits, or %00 (libpq refuses both). */
static int bad_escape(struct part p)
{
	for (size_t i = 0; i < p.n; i++) {
		if (p.s[i] != '%')
			continue;
		if (i + 2 >= p.n)
			return 1;
		if (!isxdigit((unsigned char)p.s[i + 1]) || !isxdigit((unsigned char)p.s[i + 2]) ||
		    (p.s[i + 1] == '0' && p.s[i + 2] == '0'))
			return 1;
		i += 2;
	}
	return 0;
}

static const char encode_hint[] =
	"percent-encode it: '%' is %25, '/' %2F, '@' %40, ':' %3A, '?' %3F, '#' %23";

static int check_uri(const char *url, struct mg_err *err)
{
	struct uri u;
	const struct {
		const struct part *p;
		const char *name;
	} parts[] = {
		{ &u.user, "user name" }, { &u.password, "password" }, { &u.host, "host" },
		{ &u.db, "database name" }, { &u.params, "parameters" },
	};

	split_uri(url, &u);
	if (u.extra_at) {
		mg_err_set(err, MG_EINPUT, "the database URL has more than one '@' before the host");
		return mg_err_hint(err, "an '@' in the user name or password must be written %%40");
	}
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (bad_escape(*parts[i].p)) {
			mg_err_set(err, MG_EINPUT, "the %s in the database URL has an invalid %%-escape",
				   parts[i].name);
			return mg_err_hint(err, "%s", encode_hint);
		}
	return 0;
}

/* libpq's message with every "quoted" piece replaced by "...". */
static void unquoted(char *out, size_t size, const char *msg)
{
	size_t o = 0;
	int in = 0;

	for (const char *p = msg ? msg : ""; *p && *p != '\n' && o + 4 < size; p++) {
		if (*p == '"') {
			if (!in) {
				memcpy(out + o, "\"...", 4);
				o += 4;
			} else {
				out[o++] = '"';
			}
			in = !in;
		} else if (!in) {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

/* A port list as libpq takes it: numbers separated by commas. */
static int ports_ok(const char *v)
{
	for (const char *p = v; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != ',')
			return 0;
	return 1;
}

int pgdrv_check_url(const char *url, struct mg_err *err)
{
	char *msg = NULL;
	char line[512];
	PQconninfoOption *opts;
	int rc = 0;

	if (strstr(url, "://") && check_uri(url, err) < 0)
		return -1;
	opts = PQconninfoParse(url, &msg);
	if (!opts) {
		unquoted(line, sizeof(line), msg);
		PQfreemem(msg);
		mg_err_set(err, MG_EINPUT, "the database URL is not valid: %s", line);
		return mg_err_hint(err, "check --database (or MIGRATE_DATABASE_URL); percent-encode @ : / ? # %% in the user name and password");
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, "port") && o->val && !ports_ok(o->val)) {
			mg_err_set(err, MG_EINPUT, "the port in the database URL is not a number");
			mg_err_hint(err, "the port is a number; in a URL, a '/' in the password ends the host part: write it %%2F (and @ : ? # %% as %%40 %%3A %%3F %%23 %%25)");
			rc = -1;
		}
	PQconninfoFree(opts);
	return rc;
}

/* ==== migrate's own URI parameters: standby= and pooler= ================================= */

void pgdrv_places_release(struct pgdrv_places *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->list[i].host);
		free(p->list[i].name);
	}
	free(p->list);
	memset(p, 0, sizeof(*p));
}

size_t pgdrv_places_count(const struct pgdrv_places *p, enum pgdrv_place_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->list[i].kind == kind;
	return n;
}

/* "host:port" or "[v6]:port" into a place; 0 or -1 (not host:port). */
static int parse_place(const char *v, size_t n, struct pgdrv_place *out)
{
	const char *colon, *host = v;
	size_t hn;
	char digits[8];
	long port;

	if (n && v[0] == '[') {
		const char *end = memchr(v, ']', n);

		if (!end || end + 1 >= v + n || end[1] != ':')
			return -1;
		host = v + 1;
		hn = (size_t)(end - host);
		colon = end + 1;
	} else {
		colon = NULL;
		for (size_t i = 0; i < n; i++)
			if (v[i] == ':')
				colon = v + i;
		if (!colon)
			return -1;
		hn = (size_t)(colon - v);
	}
	if (hn == 0 || (size_t)(v + n - colon - 1) == 0 || (size_t)(v + n - colon - 1) >= sizeof(digits))
		return -1;
	memcpy(digits, colon + 1, (size_t)(v + n - colon - 1));
	digits[v + n - colon - 1] = '\0';
	for (const char *d = digits; *d; d++)
		if (!isdigit((unsigned char)*d))
			return -1;
	port = strtol(digits, NULL, 10);
	if (port <= 0 || port > 65535)
		return -1;
	out->host = mg_xstrndup(host, hn);
	out->port = (unsigned)port;
	out->name = memchr(host, ':', hn) ? mg_xasprintf("[%s]:%ld", out->host, port)
					  : mg_xasprintf("%s:%ld", out->host, port);
	return 0;
}

static const struct {
	const char *key;
	enum pgdrv_place_kind kind;
	const char *example;
} place_keys[] = {
	{ "standby", PGDRV_STANDBY, "postgres://app@primary:5432/shop?standby=replica1:5432&standby=replica2:5432" },
	{ "pooler", PGDRV_POOLER, "postgres://app@primary:5432/shop?pooler=pgbouncer1:6432" },
};

/* The place parameter that param (key=value, n bytes) is, or -1. */
static int place_key(const char *param, size_t n)
{
	for (size_t k = 0; k < sizeof(place_keys) / sizeof(place_keys[0]); k++) {
		size_t kl = strlen(place_keys[k].key);

		if (n > kl && !strncmp(param, place_keys[k].key, kl) && param[kl] == '=')
			return (int)k;
	}
	return -1;
}

int pgdrv_take_places(const char *url, char **libpq_url, struct pgdrv_places *out,
		      struct mg_err *err)
{
	const char *q = strstr(url, "://") ? strchr(strstr(url, "://"), '?') : NULL;
	struct mg_buf rest = MG_BUF_INIT;
	const char *p;

	memset(out, 0, sizeof(*out));
	*libpq_url = NULL;
	if (!q) {
		*libpq_url = mg_xstrdup(url);
		return 0;
	}
	mg_buf_add(&rest, url, (size_t)(q - url));
	for (p = q + 1; *p; ) {
		size_t n = strcspn(p, "&");
		int k = place_key(p, n);

		if (k < 0) {
			mg_buf_addc(&rest, rest.len == (size_t)(q - url) ? '?' : '&');
			mg_buf_add(&rest, p, n);
		} else {
			struct pgdrv_place pl = { .kind = place_keys[k].kind };
			size_t kl = strlen(place_keys[k].key) + 1;

			if (parse_place(p + kl, n - kl, &pl) < 0) {
				mg_buf_release(&rest);
				pgdrv_places_release(out);
				mg_err_set(err, MG_EINPUT, "bad database URL: parameter '%s' is not host:port",
					   place_keys[k].key);
				return mg_err_hint(err, "write each as %s=HOST:PORT (repeat it for more), e.g. %s",
						   place_keys[k].key, place_keys[k].example);
			}
			out->list = mg_xrealloc(out->list, (out->n + 1) * sizeof(*out->list));
			out->list[out->n++] = pl;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	*libpq_url = mg_buf_detach(&rest);
	return 0;
}
