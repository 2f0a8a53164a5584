/*
 * scaffold_project.c - what `migrate init` and `migrate new` need beside a
 * migration's text (scaffold.c): their arguments, the migration's name
 * and number, and migrate.yaml.
 */
#include "scaffold.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 100	/* of a migration's name, in its file name */

/* ---- arguments ------------------------------------------------------------ */

void mg_scaffold_args_release(struct mg_scaffold_args *a)
{
	for (size_t i = 0; i < a->n_values; i++) {
		free(a->values[i].key);
		free(a->values[i].value);
	}
	free(a->values);
	free(a->op);
	free(a->description);
	free(a->dir);
	memset(a, 0, sizeof(*a));
}

int mg_scaffold_args_set(struct mg_scaffold_args *a, const char *key,
			 const char *value, struct mg_err *err)
{
	for (size_t i = 0; i < a->n_values; i++)
		if (!strcmp(a->values[i].key, key))
			return mg_err_set(err, MG_EINPUT, "option '--%s' given twice",
					  key);
	MG_ALLOC_GROW(a->values, a->n_values + 1, a->alloc_values);
	a->values[a->n_values].key = mg_xstrdup(key);
	a->values[a->n_values++].value = mg_xstrdup(value);
	return 0;
}

/* ---- the migration's name and number ------------------------------------- */

static int bad_name(struct mg_err *err, const char *arg, const char *why)
{
	mg_err_set(err, MG_EINPUT, "bad migration name '%s' (argument NAME): %s",
		   arg, why);
	return mg_err_hint(err, "e.g. migrate new add_user_email (letters, "
			   "digits and '_'; '-' and ' ' become '_')");
}

int mg_scaffold_name(char **out, const char *arg, struct mg_err *err)
{
	struct mg_buf b = MG_BUF_INIT;
	size_t digits = strspn(arg, "0123456789");

	*out = NULL;
	if (digits && arg[digits] == '_')
		return bad_name(err, arg, "it starts with a number already: "
				"migrate numbers the file itself");
	for (const char *p = arg; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '-' || c == ' ' || c == '_') {
			if (b.len && b.buf[b.len - 1] != '_')
				mg_buf_addc(&b, '_');
		} else if (isalnum(c) && c < 0x80) {
			mg_buf_addc(&b, (char)tolower(c));
		} else {
			mg_buf_release(&b);
			return bad_name(err, arg, c == '.' ? "a name, not a file "
					"name, is expected" : "it holds a character "
					"a migration's file name may not");
		}
	}
	while (b.len && b.buf[b.len - 1] == '_')
		b.buf[--b.len] = '\0';
	if (!b.len || b.len > NAME_MAX_BYTES) {
		const char *why = b.len ? "longer than 100 characters" :
				  "it has no letter or digit";

		mg_buf_release(&b);
		return bad_name(err, arg, why);
	}
	*out = mg_buf_detach(&b);
	return 0;
}

/* The id and its digits of a file name NNNN_*.yaml / .yml; 0 for any
 * other name (the loader reports badly named files, `new` only numbers
 * after the ones it can read). */
static int file_id(const char *name, int *width)
{
	size_t digits = strspn(name, "0123456789"), len = strlen(name);
	long id;

	if (!digits || digits > 9 || name[digits] != '_' ||
	    !((len > 5 && !strcmp(name + len - 5, ".yaml")) ||
	      (len > 4 && !strcmp(name + len - 4, ".yml"))))
		return 0;
	id = strtol(name, NULL, 10);
	*width = (int)digits;
	return (int)id;
}

int mg_scaffold_next_id(const char *dir, int *id, int *width,
			struct mg_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int top = 0, top_width = 4;

	if (!d) {
		if (errno == ENOENT)
			mg_err_set(err, MG_EINPUT, "migrations folder '%s' does "
				   "not exist", dir);
		else
			mg_err_set(err, MG_EINPUT, "cannot read migrations "
				   "folder '%s': %s", dir, strerror(errno));
		return mg_err_hint(err, "run 'migrate init' to create the "
				   "project, or give the folder with --migrations DIR");
	}
	while ((de = readdir(d))) {
		int w = 0, n = de->d_name[0] == '.' ? 0 : file_id(de->d_name, &w);

		if (n > top) {
			top = n;
			top_width = w > 4 ? w : 4;
		}
	}
	closedir(d);
	if (top == INT_MAX || top >= 999999999)
		return mg_err_set(err, MG_EINPUT, "migrations folder '%s' holds "
				  "id %d: no id follows it", dir, top);
	*id = top + 1;
	*width = top_width;
	return 0;
}

/* ---- migrate.yaml ---------------------------------------------------------- */

/*
 * Every key config.c reads (its yaml_keys), in the order of
 * `migrate --help`, with its default; test_scaffold.py checks the list
 * against the keys config.c names when it refuses an unknown one.
 */
static const struct {
	const char *key, *value, *comment;
} settings[] = {
	{ NULL, NULL, "DDL safety (migrate <command> --help explains each)" },
	{ "lock_timeout", "500", "ms a DDL statement waits for a table lock, per try" },
	{ "lock_retries", "5", "tries after the first, with jittered backoff" },
	{ "statement_timeout", "10000", "ms, the limit of each DDL statement" },
	{ "index_timeout", "0", "ms, the limit of CREATE INDEX CONCURRENTLY (0: none)" },
	{ "max_tx_age", "5", "s: refuse while a transaction this old holds a lock on the table" },
	{ "network_timeout", "10000", "ms of silence before migrate asks whether the server still runs the statement" },
	{ NULL, NULL, "Backfill" },
	{ "batch_size", "1000", "fixed rows per batch (default: adaptive, see target_batch_ms)" },
	{ "target_batch_ms", "20", "adaptive batches take about this long" },
	{ "max_rows_per_sec", "0", "rate limit over all workers (0: none)" },
	{ "sleep", "0", "ms of pause after every batch" },
	{ "jobs", "1", "workers, 1 to 64" },
	{ "max_lag", "0", "ms: pause while the slowest standby lags more (0: none)" },
	{ "max_load", "0", "pause while more sessions of the database are active (0: none)" },
	{ "max_lock_waits", "0", "pause while more sessions wait for a row lock (0: none)" },
	{ "critical_load", "0", "stop (resumable, exit 3) while more sessions are active, twice (0: none)" },
	{ "critical_load_interval", "1000", "ms between critical_load's two readings (0: one reading)" },
	{ "pause_file", "/tmp/migrate.pause", "pause while this file exists (default: none)" },
	{ NULL, NULL, "Lint (migrate lint, and check's lint): rule ids, docs/lint.md" },
	{ "lint", "{disable: [], error: [], warning: []}", "severities; dialect: postgres|mysql too" },
};

static void add_quoted(struct mg_buf *b, const char *s)
{
	mg_buf_addc(b, '"');
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			mg_buf_addf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			mg_buf_addf(b, "\\x%02x", (unsigned char)*s);
		else
			mg_buf_addc(b, *s);
	mg_buf_addc(b, '"');
}

static void config_database(struct mg_buf *b, const char *database)
{
	mg_buf_adds(b,
		"# The database (--database, MIGRATE_DATABASE_URL and DATABASE_URL come\n"
		"# first). Never write a password here: this file belongs in the\n"
		"# repository. Leave the password out of the URL and let the client find\n"
		"# it (PostgreSQL: PGPASSWORD or ~/.pgpass; MariaDB/MySQL: ~/.my.cnf\n"
		"# [client]), or keep the whole URL in the environment, not here:\n"
		"#   export MIGRATE_DATABASE_URL=\"postgres://app:${APP_DB_PASSWORD}@db.example.com:5432/app\"\n");
	if (database) {
		mg_buf_adds(b, "database: ");
		add_quoted(b, database);
		mg_buf_adds(b, "\n\n");
	} else {
		mg_buf_adds(b, "# database: \"postgres://app@localhost:5432/app\"\n"
			    "# database: \"mysql://app@localhost:3306/app\"\n\n");
	}
}

void mg_scaffold_config(struct mg_buf *b, const char *database, const char *dir)
{
	mg_buf_adds(b,
		"# migrate.yaml, written by 'migrate init': the project's settings.\n"
		"# The command line and the environment come first. Every setting:\n"
		"# docs/commands.md (\"Global options\", \"migrate.yaml\").\n\n");
	config_database(b, database);
	mg_buf_adds(b, "# The migration files, NNNN_name.yaml ('migrate new NAME' writes the next).\n"
		    "migrations: ");
	add_quoted(b, dir);
	mg_buf_adds(b, "\n\n"
		    "# The state file (SQLite). In a pipeline it must live where every step\n"
		    "# finds it (a volume, an artifact): docs/pipelines.md.\n"
		    "# state: \".migrate/state.db\"\n");
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (!settings[i].key)
			mg_buf_addf(b, "\n# %s\n", settings[i].comment);
		else
			mg_buf_addf(b, "# %s: %-*s # %s\n", settings[i].key,
				    (int)(27 - strlen(settings[i].key)),
				    settings[i].value, settings[i].comment);
	}
}
