/*
 * scaffold.h - the files `migrate init` and `migrate new` write: a
 * commented migrate.yaml, and a migration file with one operation whose
 * keys come from the loader's own tables (migration_keys.c), so that a key
 * added there shows up in `new` by itself.
 *
 * Ownership: the text goes into a caller-owned struct mg_buf; struct
 * mg_scaffold_args owns its strings (mg_scaffold_args_release); the line
 * numbers of struct mg_scaffold_file are the caller's.
 */
#ifndef MG_SCAFFOLD_H
#define MG_SCAFFOLD_H

#include <stddef.h>

#include "util.h"

/* One `--key value` of `migrate new`: key as the file spells it. */
struct mg_scaffold_value {
	char *key;		/* "table", "on_delete", "references_table" */
	char *value;		/* as given on the command line */
};

/* The command line of `init` and `new` beyond the global options. */
struct mg_scaffold_args {
	char *op;			/* new --op */
	char *description;		/* new --description */
	struct mg_scaffold_value *values;	/* new --<key> */
	size_t n_values, alloc_values;
	int force;			/* init --force */
	char *dir;			/* init --dir */
};

void mg_scaffold_args_release(struct mg_scaffold_args *a);

/* Record --key value (copies both). 0, or -1 (MG_EINPUT: given twice). */
int mg_scaffold_args_set(struct mg_scaffold_args *a, const char *key,
			 const char *value, struct mg_err *err);

/*
 * Whether key (as the file spells it: "on_delete"; a key of a nested
 * mapping as "references_table") is a key of some operation, and whether
 * it is a boolean (written `--unique`, `--unique true` or `--unique=false`).
 */
enum { MG_SCAFFOLD_KEY_NONE, MG_SCAFFOLD_KEY_VALUE, MG_SCAFFOLD_KEY_BOOL };
int mg_scaffold_key_kind(const char *key);

/* The key of some operation nearest to word ("colum": "column"), when one
 * is near enough to be the likely intent: 1 and out set, or 0. */
int mg_scaffold_near_key(const char *word, char *out, size_t size);

/*
 * The migration name NAME of `new` as a file name takes it: lowercase,
 * '-' and ' ' as '_', runs of '_' as one. *out is allocated. 0, or -1
 * (MG_EINPUT naming the argument: a character other than letters, digits,
 * '_', '-' and ' ', an empty name, one that already starts with an id).
 */
int mg_scaffold_name(char **out, const char *arg, struct mg_err *err);

/*
 * The next migration id of dir: the highest id of its NNNN_*.yaml / .yml
 * files plus one (1 in an empty folder); *width the digits to write it
 * with (4, or more when the folder's files use more). 0, or -1
 * (MG_EINPUT: dir missing, not a folder or unreadable).
 */
int mg_scaffold_next_id(const char *dir, int *id, int *width,
			struct mg_err *err);

/* What mg_scaffold_migration wrote. */
struct mg_scaffold_file {
	int placeholders[32];	/* lines of the required values left empty */
	const char *placeholder_keys[32];
	size_t n_placeholders;
};

/*
 * A migration file with one operation op (NULL: none yet, and a commented
 * list of every operation), its keys: given ones filled in, required ones
 * left empty (the loader refuses an empty value, naming its line, until it
 * is filled in), optional ones commented out with their meaning and
 * default. description NULL: made from name. 0, or -1 (MG_EINPUT: an
 * unknown op, with the closest one; a key op does not take; a bad value).
 */
int mg_scaffold_migration(struct mg_buf *out, struct mg_scaffold_file *info,
			  const char *file_name, const char *name,
			  const struct mg_scaffold_args *a, struct mg_err *err);

/*
 * migrate.yaml: every setting config.c reads, commented out with its
 * default, except migrations (dir) and, when given, database (which the
 * caller has checked holds no password: the file is committed).
 */
void mg_scaffold_config(struct mg_buf *out, const char *database,
			const char *dir);

#endif
