/*
 * url.h - the mysql:// (mariadb://) URL parser of the mysql driver
 * (drivers/mysql/url.c),
 * reachable without a connection: for the fuzz target
 * (tests/fuzz/fuzz_url.c) and anything else that must read such a URL
 * exactly the way the driver does.
 */
#ifndef MG_MYSQL_URL_H
#define MG_MYSQL_URL_H

#include "util.h"

/*
 * Parse url as the mysql driver's connect does, without connecting. 0, or
 * -1 with err MG_EINPUT (the message never quotes the password); a URL
 * that does not start with mysql:// or mariadb:// is refused, since the
 * driver is never chosen for it. When
 * password is not NULL, *password is the decoded password (malloc'd; NULL
 * when the URL has none or does not parse).
 */
int mg_mysql_url_check(const char *url, char **password, struct mg_err *err);

#endif
