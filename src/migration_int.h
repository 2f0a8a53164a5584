/*
 * migration_int.h - what migration.c (files, loading) and migration_ops.c
 * (the walk of the YAML document) share. Private to the migration loader;
 * the rest of the core includes migration.h.
 */
#ifndef MG_MIGRATION_INT_H
#define MG_MIGRATION_INT_H

#include <yaml.h>

#include "migration.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* User text quoted in a message is cut to this many bytes. */
#define SHOW_MAX 48
#define SHOW_SIZE (SHOW_MAX + 4)

/*
 * Quote-safe copy of user text for a message: control characters become
 * '?', and text longer than SHOW_MAX bytes is cut (at a UTF-8 boundary)
 * and ends in "...". Returns buf.
 */
const char *mg_migration_show(char buf[SHOW_SIZE], const char *s, size_t len);

/*
 * Walk the loaded document doc of the file at path into m: its top-level
 * keys and every operation, checked against the operations' tables;
 * names longer than max_name bytes are refused.
 * 0, or -1 with err MG_EINPUT naming file:line:column; what was copied
 * before a failure is freed by mg_migration_release.
 */
int mg_migration_walk(struct mg_migration *m, yaml_document_t *doc,
		      const char *path, size_t max_name, struct mg_err *err);

#endif
