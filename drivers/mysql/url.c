/*
 * url.c - the MySQL and MariaDB driver: the mysql:// (mariadb://) URL, parsed
 * as connect reads it (mg_mysql_url_check, url.h).
 */
#include "my.h"

/* ==== the URL ================================================================= */

int mydrv_accepts(const char *url)
{
	return strncmp(url, "mysql://", 8) == 0 || strncmp(url, "mariadb://", 10) == 0;
}

const char *const ssl_mode_names[] = {
	[MYDRV_SSL_PREFERRED] = "PREFERRED",
	[MYDRV_SSL_DISABLED] = "DISABLED",
	[MYDRV_SSL_REQUIRED] = "REQUIRED",
	[MYDRV_SSL_VERIFY_CA] = "VERIFY_CA",
	[MYDRV_SSL_VERIFY_IDENTITY] = "VERIFY_IDENTITY",
};

void url_release(struct mydrv_url *u)
{
	free(u->user);
	if (u->password) {
		memset(u->password, 0, strlen(u->password));
		free(u->password);
	}
	free(u->host);
	free(u->socket);
	free(u->db);
	free(u->ssl_ca);
	for (size_t i = 0; i < u->n_replicas; i++)
		url_release(&u->replicas[i]);
	free(u->replicas);
	memset(u, 0, sizeof(*u));
}

void url_free(struct mydrv_url *u)
{
	if (u) {
		url_release(u);
		free(u);
	}
}

/*
 * Messages about a bad URL never quote the URL or any part of it that
 * could hold the password (a password with an unencoded '?' or '#' ends
 * up in the wrong part): they say what is wrong and show the expected form.
 */
static int bad_url(struct mg_err *err, const char *what)
{
	mg_err_set(err, MG_EINPUT, "bad database URL: %s", what);
	return mg_err_hint(err, "expected mysql://user:password@host:port/database or mysql://user:password@localhost/database?socket=/path/to/mysqld.sock (percent-encode @ : / ? # %% in the user and password)");
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new string; NULL when a %xx is malformed
 * or would decode to a NUL byte. An empty part is NULL too (unset). */
static char *pct_decode(const char *s, size_t n, int *bad)
{
	char *out, *o;

	if (n == 0)
		return NULL;
	out = mg_xmalloc(n + 1);
	o = out;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		hi = i + 1 < n ? hex_digit((unsigned char)s[i + 1]) : -1;
		lo = i + 2 < n ? hex_digit((unsigned char)s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			*bad = 1;
			memset(out, 0, n + 1);	/* it may be part of a password */
			free(out);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/* A parameter name is quoted in a message only when it looks like one:
 * anything else may be a piece of a password with an unencoded '?'. */
static int plain_word(const char *s, size_t n)
{
	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return 0;
	return 1;
}

/* ssl-mode=value, any case. The value is quoted in the message only when
 * it looks like a word (it could be a piece of a password otherwise). */
static int parse_ssl_mode(struct mydrv_url *u, const char *v, size_t n, struct mg_err *err)
{
	for (size_t i = 0; i < sizeof(ssl_mode_names) / sizeof(*ssl_mode_names); i++)
		if (strlen(ssl_mode_names[i]) == n && !strncasecmp(v, ssl_mode_names[i], n)) {
			u->ssl_mode = (enum mydrv_ssl)i;
			return 0;
		}
	if (plain_word(v, n))
		mg_err_set(err, MG_EINPUT, "bad database URL: unknown ssl-mode '%.*s'", (int)n, v);
	else
		mg_err_set(err, MG_EINPUT, "bad database URL: ssl-mode has a value that is not a mode");
	return mg_err_hint(err, "ssl-mode is one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY");
}

static int parse_hostport(struct mydrv_url *u, const char *s, size_t n,
			  struct mg_err *err);

/* replica=host:port (repeatable): a replica --max-lag asks, instead of
 * the ones the primary lists. The port is required: a replica on the
 * default port is rare enough to be a mistake worth naming. */
static int parse_replica(struct mydrv_url *u, const char *v, size_t n, struct mg_err *err)
{
	struct mydrv_url r;

	memset(&r, 0, sizeof(r));
	if (n == 0 || parse_hostport(&r, v, n, err) < 0 || !r.host || !r.port) {
		url_release(&r);
		mg_err_set(err, MG_EINPUT, "bad database URL: parameter 'replica' is not host:port");
		return mg_err_hint(err, "name each replica --max-lag should ask as replica=host:port, e.g. mysql://user:password@primary:3306/app?replica=replica1:3306&replica=replica2:3306");
	}
	u->replicas = mg_xrealloc(u->replicas, (u->n_replicas + 1) * sizeof(*u->replicas));
	u->replicas[u->n_replicas++] = r;
	return 0;
}

/* "=N" up to end: N whole seconds, 1 to 86400. */
static int parse_seconds(unsigned *out, const char *eq, const char *end)
{
	unsigned long v = 0;

	if (!eq || eq + 1 >= end)
		return -1;
	for (const char *p = eq + 1; p < end; p++) {
		if (!isdigit((unsigned char)*p) || v > 86400)
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 86400)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/*
 * The query string: socket=/path and ssl-ca=/path (percent-decoded),
 * ssl-mode=... (see enum mydrv_ssl), replica=host:port and
 * connect_timeout=SECONDS. Anything else is MG_EINPUT naming it.
 */
static int parse_query(struct mydrv_url *u, const char *q, struct mg_err *err)
{
	int has_mode = 0;

	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t klen = eq ? (size_t)(eq - q) : n;
		int bad = 0;

		if (n == 0) {
			q++;
			continue;
		}
		if (klen == 6 && !strncmp(q, "socket", 6)) {
			free(u->socket);
			u->socket = eq ? pct_decode(eq + 1, n - klen - 1, &bad) : NULL;
			if (bad || !u->socket)
				return bad_url(err, "parameter 'socket' needs a path");
		} else if (klen == 8 && !strncmp(q, "ssl-mode", 8)) {
			if (!eq || parse_ssl_mode(u, eq + 1, n - klen - 1, err) < 0)
				return eq ? -1 : bad_url(err, "parameter 'ssl-mode' needs a value");
			has_mode = 1;
		} else if (klen == 6 && !strncmp(q, "ssl-ca", 6)) {
			free(u->ssl_ca);
			u->ssl_ca = eq ? pct_decode(eq + 1, n - klen - 1, &bad) : NULL;
			if (bad || !u->ssl_ca)
				return bad_url(err, "parameter 'ssl-ca' needs a path");
		} else if (klen == 7 && !strncmp(q, "replica", 7)) {
			if (parse_replica(u, eq ? eq + 1 : q + n, eq ? n - klen - 1 : 0, err) < 0)
				return -1;
		} else if (klen == 15 && !strncmp(q, "connect_timeout", 15)) {
			if (parse_seconds(&u->connect_timeout, eq, q + n) < 0)
				return bad_url(err, "parameter 'connect_timeout' needs a whole number of seconds (1 or more)");
		} else if (plain_word(q, klen)) {
			mg_err_set(err, MG_EINPUT,
				   "bad database URL: unknown parameter '%.*s' (expected socket, ssl-mode, ssl-ca, replica or connect_timeout)",
				   (int)klen, q);
			return mg_err_hint(err, "the mysql driver takes mysql://user:password@host:port/database[?socket=/path/to/mysqld.sock][&ssl-mode=REQUIRED][&ssl-ca=/path/to/ca.pem][&replica=host:port][&connect_timeout=SECONDS]");
		} else {
			return bad_url(err, "it has a parameter that is not socket, ssl-mode, ssl-ca, replica or connect_timeout");
		}
		q += n;
	}
	if (u->ssl_ca && u->ssl_mode != MYDRV_SSL_VERIFY_CA &&
	    u->ssl_mode != MYDRV_SSL_VERIFY_IDENTITY) {
		mg_err_set(err, MG_EINPUT, "bad database URL: ssl-ca needs ssl-mode=VERIFY_CA or VERIFY_IDENTITY (ssl-mode is %s)",
			   has_mode ? ssl_mode_names[u->ssl_mode] : "not given");
		return mg_err_hint(err, "the CA file is used only to check the server's certificate: add ssl-mode=VERIFY_IDENTITY");
	}
	return 0;
}

/* host[:port] or [v6-address][:port]; an empty host is NULL (localhost). */
static int parse_hostport(struct mydrv_url *u, const char *s, size_t n,
			  struct mg_err *err)
{
	const char *colon;
	int bad = 0;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close)
			return bad_url(err, "an IPv6 host lacks its closing ']'");
		u->host = mg_xstrndup(s + 1, (size_t)(close - s - 1));
		colon = close + 1 < s + n ? close + 1 : NULL;
		if (colon && *colon != ':')
			return bad_url(err, "unexpected text after the IPv6 host");
	} else {
		colon = memchr(s, ':', n);
		u->host = pct_decode(s, colon ? (size_t)(colon - s) : n, &bad);
		if (bad)
			return bad_url(err, "the host has a bad %-escape");
	}
	if (colon) {
		const char *p = colon + 1, *end = s + n;
		long port = 0;

		if (p == end)
			return bad_url(err, "':' after the host but no port");
		for (; p < end; p++) {
			if (!isdigit((unsigned char)*p) || port > 65535)
				return bad_url(err, "the port is not a number from 1 to 65535");
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535)
			return bad_url(err, "the port is not a number from 1 to 65535");
		u->port = (unsigned)port;
	}
	return 0;
}

/*
 * mysql://[user[:password]@][host][:port]/database[?socket=...&ssl-mode=...&ssl-ca=...]
 * (or mariadb://). The userinfo ends at the last '@' before the query, so
 * an unencoded '@' or '/' in a password still works, the way the core's
 * URL redaction reads it. A '#' is refused: it would end the URL for any
 * other reader, and in a password it must be %23.
 */
int parse_url(struct mydrv_url *u, const char *url, struct mg_err *err)
{
	const char *p = strstr(url, "://");
	const char *end, *at = NULL, *host, *slash;
	int bad = 0;

	memset(u, 0, sizeof(*u));
	if (!p)
		return bad_url(err, "it does not start with mysql:// or mariadb://");
	p += 3;
	end = p + strcspn(p, "?");
	if (strchr(url, '#'))
		return bad_url(err, "it contains '#' (percent-encode it as %23, in a password too)");
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (!at && *end == '?' && strchr(end, '@'))
		return bad_url(err, "it has an '@' after the '?' (percent-encode '?' in the user and password as %3F)");
	host = at ? at + 1 : p;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		u->user = pct_decode(p, (size_t)((colon ? colon : at) - p), &bad);
		if (bad)
			return bad_url(err, "the user name has an invalid %-escape");
		if (colon) {
			u->password = pct_decode(colon + 1, (size_t)(at - colon - 1), &bad);
			if (!u->password && !bad)
				u->password = mg_xstrdup("");	/* "user:@host": an empty password */
		}
		if (bad)
			return bad_url(err, "the password has an invalid %-escape ('%' is written %25)");
	}
	slash = memchr(host, '/', (size_t)(end - host));
	if (parse_hostport(u, host, (size_t)((slash ? slash : end) - host), err) < 0)
		return -1;
	if (slash)
		u->db = pct_decode(slash + 1, (size_t)(end - slash - 1), &bad);
	if (bad)
		return bad_url(err, "the database name has a bad %-escape");
	if (!u->db) {
		mg_err_set(err, MG_EINPUT, "bad database URL: it names no database");
		return mg_err_hint(err, "add the database as the URL's path: mysql://user:password@host:port/database");
	}
	if (strchr(u->db, '/'))
		return bad_url(err, "the database name contains '/'");
	return *end == '?' ? parse_query(u, end + 1, err) : 0;
}

int mg_mysql_url_check(const char *url, char **password, struct mg_err *err)
{
	struct mydrv_url u;
	int rc;

	if (password)
		*password = NULL;
	if (!mydrv_accepts(url))	/* the driver is not chosen for it */
		return bad_url(err, "it does not start with mysql:// or mariadb://");
	rc = parse_url(&u, url, err);
	if (password && rc == 0)
		*password = mg_xstrdup(u.password);
	url_release(&u);
	return rc;
}
