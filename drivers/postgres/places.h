/*
 * places.h - a colour's sessions on the primary, the standbys and the
 * poolers a PostgreSQL URL names (see places.c).
 */
#ifndef MG_PG_PLACES_H
#define MG_PG_PLACES_H

#include "pg.h"

/*
 * The sessions of this database that pass filter (SQL conditions on
 * application_name, each starting with " AND "), place by place into out
 * (empty on entry): the primary ("primary"), then each standby= and
 * pooler= of the URL in its order ("standby HOST:PORT", "pooler
 * HOST:PORT": the pooler's clients of this database), 0 included;
 * PgBouncer's own server connections are not counted. 0, or -1 with err
 * (MG_EDB) naming the place that cannot be read ("on pooler
 * 127.0.0.1:6432: ...") and a hint saying what to do (out then holds
 * partial counts: the caller releases it).
 */
int pgdrv_count_at_places(struct pgdrv_conn *pc, const char *filter,
			  struct mg_place_counts *out, struct mg_err *err);

#endif
