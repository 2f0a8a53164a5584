/*
 * init.c - `migrate init [--database URL] [--dir DIR] [--force]`: a new
 * project's migrate.yaml (every setting, commented with its default) and
 * its migrations folder. Refuses to replace an existing migrate.yaml
 * without --force; never writes a password.
 *
 * main.c does not read settings for init (migrate.yaml, environment):
 * init writes them, and a broken migrate.yaml is what --force replaces.
 * So opt->database, opt->migrations and opt->config are the command
 * line's alone (a URL in the environment is never written into the file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "driver.h"
#include "output.h"
#include "scaffold.h"

#define GITKEEP ".gitkeep"
#define GITKEEP_TEXT \
	"# Migration files: NNNN_name.yaml, applied in order of NNNN.\n" \
	"# 'migrate new NAME --op OPERATION' writes the next one; every key:\n" \
	"# docs/file-format.md.\n"

/* The URL holds a password when hiding passwords changes it. */
static int check_no_password(const char *url, struct mg_err *err)
{
	char *shown = mg_redact_url(url);
	int same = !strcmp(shown, url);

	if (!same) {
		mg_err_set(err, MG_EINPUT, "'--database' holds a password (%s): "
			   "migrate.yaml must not, it belongs in the repository", shown);
		mg_err_hint(err, "give the URL without the password, and the password "
			    "in PGPASSWORD or ~/.pgpass (PostgreSQL) or ~/.my.cnf "
			    "(MariaDB/MySQL); or leave --database out and set "
			    "MIGRATE_DATABASE_URL in the environment");
	}
	free(shown);
	return same ? 0 : -1;
}

/* mkdir -p dir. 0, or -1 (MG_EINPUT when something not a folder is in the
 * way, MG_EDB when the system refuses). */
static int make_dir(const char *dir, struct mg_err *err)
{
	char *path = mg_xstrdup(dir);
	struct stat st;
	int rc = 0;

	for (char *p = path + 1; ; p++) {
		char c = *p;

		if (c && c != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			rc = mg_err_set(err, MG_EDB, "cannot create folder '%s': %s",
					path, strerror(errno));
		else if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			rc = mg_err_set(err, MG_EINPUT, "'%s' exists and is not a folder",
					path);
		*p = c;
		if (rc < 0 || !c)
			break;
	}
	free(path);
	return rc;
}

static int refuse_existing(const char *path, struct mg_err *err)
{
	mg_err_set(err, MG_EINPUT, "'%s' exists: migrate init does not replace it", path);
	return mg_err_hint(err, "keep it, or run 'migrate init --force' to write "
			   "a new one over it (the migrations folder is kept)");
}

/* Write text to path: replacing a file only when replace is set. */
static int write_file(const char *path, const char *text, int replace,
		      struct mg_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | (replace ? O_TRUNC : O_EXCL), 0644);
	size_t len = strlen(text);
	ssize_t n;

	if (fd < 0 && errno == EEXIST)
		return refuse_existing(path, err);
	if (fd < 0)
		return mg_err_set(err, MG_EDB, "cannot create '%s': %s", path, strerror(errno));
	n = write(fd, text, len);
	if (close(fd) < 0 || n != (ssize_t)len)
		return mg_err_set(err, MG_EDB, "cannot write '%s': %s", path,
				  n < 0 ? strerror(errno) : "short write");
	return 0;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void print_done(const struct mg_options *opt, const char *config,
		       const char *dir, int replaced, const char *database)
{
	if (opt->json) {
		mg_json_print(json_pack("{s:s, s:s, s:s, s:b}", "command", "init",
					"config", config, "migrations", dir,
					"replaced", replaced));
		return;
	}
	printf("%s %s\n", replaced ? "replaced" : "wrote", config);
	printf("migrations folder: %s/ (%s inside, so that git keeps it)\n", dir, GITKEEP);
	if (!database)
		printf("the database: set MIGRATE_DATABASE_URL, or 'database:' in %s "
		       "(without the password)\n", config);
	printf("next: migrate new create_users --op create_table --table users "
	       "--columns \"id:bigint, email:text\"\n");
}

static int init_project(struct mg_options *opt, const struct mg_scaffold_args *a,
			struct mg_err *err)
{
	const char *config = opt->config ? opt->config : "migrate.yaml";
	const char *dir = a->dir ? a->dir : opt->migrations ? opt->migrations : "migrations";
	struct mg_buf text = MG_BUF_INIT;
	char *keep;
	int replaced = exists(config), rc;

	if (!*dir)
		return mg_err_set(err, MG_EINPUT, "bad value '' for option '--dir': "
				  "expected a folder");
	if (opt->database && check_no_password(opt->database, err) < 0)
		return -1;
	if (replaced && !a->force)
		return refuse_existing(config, err);
	if (make_dir(dir, err) < 0)
		return -1;
	keep = mg_xasprintf("%s/%s", dir, GITKEEP);
	rc = exists(keep) ? 0 : write_file(keep, GITKEEP_TEXT, 0, err);
	free(keep);
	if (rc < 0)
		return -1;
	mg_scaffold_config(&text, opt->database, dir);
	rc = write_file(config, text.buf, a->force, err);
	mg_buf_release(&text);
	if (rc == 0)
		print_done(opt, config, dir, replaced, opt->database);
	return rc;
}

int mg_cmd_init(struct mg_options *opt)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_scaffold_args *a = mg_cmd_scaffold_args();
	int rc = 0;

	if (opt->n_args) {
		mg_err_set(&err, MG_EINPUT, "unexpected argument '%s': migrate init "
			   "takes none", opt->args[0]);
		mg_err_hint(&err, "see 'migrate init --help'");
		rc = mg_cmd_fail(&err);
	} else if (init_project(opt, a, &err) < 0) {
		rc = mg_cmd_fail(&err);
	}
	mg_scaffold_args_release(a);
	return rc;
}
