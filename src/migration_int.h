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

/*
 * The walk's helpers, for the nested keys of create_table
 * (migration_tables.c). struct mg_walk is the walk's state; each helper
 * sets err (MG_EINPUT, file:line:column) and returns -1 on failure.
 */
struct mg_walk;
const char *mg_walk_path(const struct mg_walk *p);
struct mg_err *mg_walk_err(struct mg_walk *p);
yaml_node_t *mg_walk_node(struct mg_walk *p, int i);
yaml_node_t *mg_walk_pair_key(struct mg_walk *p, const yaml_node_pair_t *pair);
int mg_walk_check_duplicate(struct mg_walk *p, const yaml_node_t *map,
			    const yaml_node_pair_t *pair, const yaml_node_t *key);
int mg_walk_unknown(struct mg_walk *p, const char *what, const yaml_node_t *key,
		    const char *expected);
int mg_walk_string(struct mg_walk *p, const char *keyname, const char *what,
		   const yaml_node_t *key, const yaml_node_t *val, const char **out);
int mg_walk_name(struct mg_walk *p, const char *keyname, const yaml_node_t *val,
		 const char *s);
int mg_walk_table(struct mg_walk *p, const char *keyname, const yaml_node_t *val,
		  const char *s);
int mg_walk_bool(struct mg_walk *p, const char *keyname, const yaml_node_t *key,
		 const yaml_node_t *val, int *out);
int mg_walk_is_empty(const yaml_node_t *n);
const char *mg_walk_describe(char buf[SHOW_SIZE + 2], const yaml_node_t *n);

/* create_table's nested keys (columns, constraints, comment): key and
 * val of one pair of the operation's mapping, into op->tdef. 0 or -1. */
int mg_walk_table_key(struct mg_walk *p, const yaml_node_t *key,
		      const yaml_node_t *val, struct mg_op *op);
/* create_table's rules after the walk (a column, duplicates, references
 * to its own columns). 0 or -1. */
int mg_walk_check_create_table(struct mg_walk *p, const yaml_node_t *opkey,
			       const struct mg_op *op);
void mg_table_def_free(struct mg_table_def *d);

#endif
