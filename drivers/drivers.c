/*
 * drivers.c - the databases this build speaks: one line per driver.
 * mg_driver_for_url (driver.c) asks each in turn whether it takes a URL.
 * Kept apart from driver.c so that a unit test can link the wrappers with
 * a table of its own (a fake driver) instead of the real drivers.
 */
#include "driver.h"

const struct mg_driver *const mg_drivers[] = {
	&mg_postgres_driver,
	&mg_mysql_driver,
	NULL
};
