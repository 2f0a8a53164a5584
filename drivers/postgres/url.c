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
