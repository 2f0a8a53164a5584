/*
 * url.h - the PostgreSQL driver's check of a database URL before it
 * connects (see url.c).
 */
#ifndef MG_PG_URL_H
#define MG_PG_URL_H

#include "util.h"

/* 0, or -1 with err MG_EINPUT naming the part of url that is malformed
 * (never quoting it). */
int pgdrv_check_url(const char *url, struct mg_err *err);

/*
 * migrate's own URI query parameters, which libpq does not know and which
 * are taken out of the URL before libpq sees it (URIs only; a conninfo
 * string has none):
 *  - standby=HOST:PORT (repeatable): a streaming standby the application
 *    may read from: colour sessions are counted there too, and
 *    backfill --max-lag checks that it is there and replaying;
 *  - pooler=HOST:PORT (repeatable): a PgBouncer in front of this
 *    database; colour sessions are counted among its clients (its admin
 *    console, database "pgbouncer", as the URL's user and password).
 * Each place is reached with the URL's other settings (user, password,
 * database, TLS) at its own host and port.
 */
enum pgdrv_place_kind { PGDRV_STANDBY, PGDRV_POOLER };

struct pgdrv_place {
	enum pgdrv_place_kind kind;
	char *host;
	unsigned port;
	char *name;		/* "host:port" ("[v6]:port"), for messages */
};

struct pgdrv_places {
	struct pgdrv_place *list;	/* in the URL's order */
	size_t n;
};

/*
 * Split url into the URL libpq is given (malloc'd, *libpq_url) and the
 * places it names (out). MG_EINPUT naming the parameter when a value is
 * not HOST:PORT (never quoting the URL).
 */
int pgdrv_take_places(const char *url, char **libpq_url, struct pgdrv_places *out,
		      struct mg_err *err);
size_t pgdrv_places_count(const struct pgdrv_places *p, enum pgdrv_place_kind kind);
void pgdrv_places_release(struct pgdrv_places *p);

#endif
