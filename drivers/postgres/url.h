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

#endif
