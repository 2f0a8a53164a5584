/*
 * new.c - `migrate new NAME [--op OPERATION] [--KEY VALUE ...]`: the next
 * numbered migration file, its operation's keys filled in from the
 * command line, the others left for the user (scaffold.c). Never
 * overwrites a file.
 *
 * Also the options of `init` and `new`: they are not global options, so
 * they leave argv before the global parser sees it
 * (mg_cmd_scaffold_options).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "driver.h"
#include "migration.h"
#include "output.h"
#include "scaffold.h"


/* The options of init or new taken out of argv (one command per process). */
static struct mg_scaffold_args cmdline;

struct mg_scaffold_args *mg_cmd_scaffold_args(void)
{
	return &cmdline;
}

/* ---- the options of init and new ---------------------------------------- */

/* The index of argv's command when it is init or new, else 0: the first
 * such word the global parser would take for the command (not the value
 * of an option before it). */
static int scaffold_command(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct mg_options o;
		struct mg_err err = MG_ERR_INIT;
		int found;

		if (strcmp(argv[i], "init") && strcmp(argv[i], "new"))
			continue;
		mg_options_init(&o);
		found = mg_options_parse(&o, i + 1, argv, &err) == 0 &&
			o.command == argv[i];
		mg_options_release(&o);
		if (found)
			return i;
	}
	return 0;
}

enum own { OWN_NONE, OWN_VALUE, OWN_BOOL, OWN_FLAG };

/* Which of command's own options key ("op", "table", "on_delete") is. */
static enum own own_option(const char *command, const char *key)
{
	if (!strcmp(command, "init")) {
		if (!strcmp(key, "force"))
			return OWN_FLAG;
		return !strcmp(key, "dir") ? OWN_VALUE : OWN_NONE;
	}
	if (!strcmp(key, "op") || !strcmp(key, "description"))
		return OWN_VALUE;
	switch (mg_scaffold_key_kind(key)) {
	case MG_SCAFFOLD_KEY_VALUE:
		return OWN_VALUE;
	case MG_SCAFFOLD_KEY_BOOL:
		return OWN_BOOL;
	}
	return OWN_NONE;
}

static int store(struct mg_scaffold_args *a, const char *key, const char *value,
		 struct mg_err *err)
{
	char **slot = !strcmp(key, "op") ? &a->op :
		      !strcmp(key, "description") ? &a->description :
		      !strcmp(key, "dir") ? &a->dir : NULL;

	if (!slot)
		return mg_scaffold_args_set(a, key, value, err);
	if (*slot)
		return mg_err_set(err, MG_EINPUT, "option '--%s' given twice", key);
	*slot = mg_xstrdup(value);
	return 0;
}

/* Whether arg is one of the global options (config.c knows them). */
static int is_global_option(const char *arg)
{
	char *argv[] = { "migrate", (char *)arg, "x", NULL };
	struct mg_options o;
	struct mg_err err = MG_ERR_INIT;
	int ok;

	mg_options_init(&o);
	ok = mg_options_parse(&o, 3, argv, &err) == 0;
	mg_options_release(&o);
	return ok;
}

/* new: an option that is neither its own nor global but near a key of an
 * operation is a typo of that key (the global parser would only say
 * "unknown option"). */
static int misspelt_key(const char *arg, const char *key, struct mg_err *err)
{
	char near[64];

	if (is_global_option(arg) || !mg_scaffold_near_key(key, near, sizeof(near)))
		return 0;
	for (char *p = near; *p; p++)
		*p = *p == '_' ? '-' : *p;
	return mg_err_set(err, MG_EINPUT, "unknown option '%s': did you mean '--%s'?",
			  arg, near);
}

/*
 * One option at argv[*i] if it is the command's own: stored, and *i moved
 * past its value. 1 taken, 0 not the command's, -1 err set.
 */
static int take_option(const char *command, int argc, char **argv, int *i,
		       struct mg_err *err)
{
	const char *a = argv[*i], *eq, *value;
	char key[64];
	size_t n;
	enum own kind;

	if (strncmp(a, "--", 2) || !a[2])
		return 0;
	eq = strchr(a + 2, '=');
	n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
	if (n >= sizeof(key))
		return 0;
	for (size_t k = 0; k < n; k++)
		key[k] = a[2 + k] == '-' ? '_' : a[2 + k];
	key[n] = '\0';
	kind = own_option(command, key);
	if (kind == OWN_NONE)
		return strcmp(command, "new") ? 0 : misspelt_key(a, key, err);
	if (kind == OWN_FLAG) {
		if (eq)
			return mg_err_set(err, MG_EINPUT, "option '--%s' takes no value", key);
		cmdline.force = 1;
		return 1;
	}
	value = eq ? eq + 1 : NULL;
	if (!value && kind == OWN_BOOL)
		value = *i + 1 < argc && (!strcmp(argv[*i + 1], "true") ||
					  !strcmp(argv[*i + 1], "false")) ?
			argv[++*i] : "true";
	if (!value && *i + 1 >= argc)
		return mg_err_set(err, MG_EINPUT, "option '--%s' needs a value", key);
	if (!value)
		value = argv[++*i];
	return store(&cmdline, key, value, err) < 0 ? -1 : 1;
}

int mg_cmd_scaffold_options(int *argc, char **argv)
{
	struct mg_err err = MG_ERR_INIT;
	int k = scaffold_command(*argc, argv), out;

	if (!k)
		return 0;
	out = k + 1;
	for (int i = k + 1; i < *argc; i++) {
		int rc;

		if (!strcmp(argv[i], "--")) {	/* the rest is arguments */
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		rc = take_option(argv[k], *argc, argv, &i, &err);
		if (rc < 0) {
			mg_err_hint(&err, "see 'migrate %s --help'", argv[k]);
			mg_report_error(&err);
			return -1;
		}
		if (rc == 0)
			argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

/* ---- new ------------------------------------------------------------------ */

/* Write text to path, never over an existing file. */
static int write_new_file(const char *path, const char *text, struct mg_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	size_t len = strlen(text);
	ssize_t n;

	if (fd < 0 && errno == EEXIST) {
		mg_err_set(err, MG_EINPUT, "'%s' exists: migrate new never overwrites a file", path);
		return mg_err_hint(err, "run it again: it takes the next number");
	}
	if (fd < 0)
		return mg_err_set(err, MG_EDB, "cannot create '%s': %s", path, strerror(errno));
	n = write(fd, text, len);
	if (n != (ssize_t)len || close(fd) < 0) {
		mg_err_set(err, MG_EDB, "cannot write '%s': %s", path,
			   n < 0 ? strerror(errno) : "short write");
		if (n >= 0)
			close(fd);
		unlink(path);
		return -1;
	}
	return 0;
}

static void print_result(const struct mg_options *opt, const char *path, int id,
			 const struct mg_scaffold_file *info, const struct mg_err *load)
{
	if (opt->json) {
		json_t *todo = json_array();

		for (size_t i = 0; i < info->n_placeholders; i++)
			json_array_append_new(todo, json_pack("{s:s, s:i}", "key",
				info->placeholder_keys[i], "line", info->placeholders[i]));
		mg_json_print(json_pack("{s:s, s:s, s:i, s:o, s:b}", "command", "new",
					"path", path, "id", id, "fill_in", todo,
					"loads", load->code == 0));
		return;
	}
	printf("wrote %s\n", path);
	if (info->n_placeholders) {
		printf("fill in:");
		for (size_t i = 0; i < info->n_placeholders; i++)
			printf("%s %s (line %d)", i ? "," : "", info->placeholder_keys[i],
			       info->placeholders[i]);
		printf("\nmigrate refuses the file until then: %s\n", load->msg);
	}
	printf("next: migrate lint %s%s\n", path, info->n_placeholders ? ", once filled in" : "");
}

static int new_migration(struct mg_options *opt, const char *name,
			 struct mg_err *err)
{
	struct mg_buf text = MG_BUF_INIT;
	struct mg_scaffold_file info;
	struct mg_migration m;
	struct mg_err load = MG_ERR_INIT;
	char *file = NULL, *path = NULL;
	int id, width, rc = -1;

	if (mg_scaffold_next_id(opt->migrations, &id, &width, err) < 0)
		return -1;
	file = mg_xasprintf("%0*d_%s.yaml", width, id, name);
	path = mg_xasprintf("%s%s%s", opt->migrations,
			    opt->migrations[strlen(opt->migrations) - 1] == '/' ? "" : "/",
			    file);
	if (mg_scaffold_migration(&text, &info, file, name, &cmdline, err) < 0)
		goto out;
	/* what `lint` and `check` will say of it: refused while a value is
	 * to fill in; a file that does not load for a value given is not
	 * written (exit 2 changes nothing) */
	if (mg_migration_load_bytes(&m, path, text.buf, text.len,
				    mg_driver_name_limit(opt->database), &load) == 0)
		mg_migration_release(&m);
	if (load.code && !info.n_placeholders) {
		*err = load;
		mg_err_prefix(err, "%s not written, the values given do not load: ", path);
		if (!err->hint[0])
			mg_err_hint(err, "see 'migrate new --help' and docs/file-format.md");
		goto out;
	}
	if (write_new_file(path, text.buf, err) < 0)
		goto out;
	print_result(opt, path, id, &info, &load);
	rc = 0;
out:
	free(file);
	free(path);
	mg_buf_release(&text);
	return rc;
}

int mg_cmd_new(struct mg_options *opt)
{
	struct mg_err err = MG_ERR_INIT;
	char *name = NULL;
	int rc = 0;

	if (opt->n_args != 1) {
		if (opt->n_args)
			mg_err_set(&err, MG_EINPUT, "unexpected argument '%s': "
				   "migrate new takes one NAME", opt->args[1]);
		else
			mg_err_set(&err, MG_EINPUT, "migrate new needs a NAME");
		mg_err_hint(&err, "e.g. migrate new add_user_email --op add_column "
			    "--table users --column email --type text");
		return mg_cmd_fail(&err);
	}
	if (mg_scaffold_name(&name, opt->args[0], &err) < 0 ||
	    new_migration(opt, name, &err) < 0)
		rc = mg_cmd_fail(&err);
	free(name);
	mg_scaffold_args_release(&cmdline);
	return rc;
}
