/*
 * fleet_file.c - the fleet file (docs/commands.md, "Fleets"): targets
 * listed in YAML and/or printed by a command, each with its own state
 * file. Every mistake is refused before anything runs, naming
 * file:line:column, so that a fleet never runs half its targets because
 * the file was half right.
 */
#include "fleet.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "driver.h"	/* mg_redact_url */

#define MG_STR_(x) #x
#define MG_STR(x) MG_STR_(x)

static const char *const top_keys[] = { "concurrency", "state_dir", "targets",
					"targets_command", NULL };
static const char *const target_keys[] = { "name", "url", "state", NULL };

/* What a walk of the document needs at hand. */
struct walk {
	struct mg_fleet *f;
	yaml_document_t *doc;
	const char *path;
	struct mg_err *err;
};

static int at(const struct walk *w, const yaml_node_t *n, const char *fmt, const char *what)
{
	return mg_err_set(w->err, MG_EINPUT, fmt, what, w->path, (int)n->start_mark.line + 1,
			  (int)n->start_mark.column + 1);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int unknown_key(const struct walk *w, const yaml_node_t *k, const char *const *keys,
		       const char *where)
{
	const char *key = scalar(k), *near = NULL;
	size_t best = 3;
	struct mg_buf list = MG_BUF_INIT;

	for (const char *const *p = keys; *p; p++) {
		size_t d = mg_edit_distance(key ? key : "", *p);

		if (d < best) {
			best = d;
			near = *p;
		}
		mg_buf_addf(&list, "%s%s", p == keys ? "" : ", ", *p);
	}
	if (near)
		mg_err_set(w->err, MG_EINPUT, "unknown key '%s' %s at %s:%d:%d: did you mean '%s'?",
			   key ? key : "?", where, w->path, (int)k->start_mark.line + 1,
			   (int)k->start_mark.column + 1, near);
	else
		mg_err_set(w->err, MG_EINPUT, "unknown key '%s' %s at %s:%d:%d (expected one of: %s)",
			   key ? key : "?", where, w->path, (int)k->start_mark.line + 1,
			   (int)k->start_mark.column + 1, list.buf);
	mg_buf_release(&list);
	return -1;
}

/* ---- names and variables -------------------------------------------------- */

static void add_safe(struct mg_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		mg_buf_addc(b, isalnum(c) || c == '-' || c == '.' ? (char)c : '_');
	}
}

/* The name from the URL with its password hidden (mg_redact_url knows
 * every place a password hides, an unencoded '/' or '@' in it too), so
 * that no part of a password ever becomes part of a name. */
char *mg_fleet_name_from_url(const char *url)
{
	struct mg_buf b = MG_BUF_INIT;
	char *shown = mg_redact_url(url);
	const char *p = strstr(shown, "://"), *slash, *at, *host, *colon, *db, *end;

	if (!p) {	/* sqlite:path, or a conninfo: the whole text made safe */
		add_safe(&b, shown, strlen(shown));
		free(shown);
		return mg_buf_detach(&b);
	}
	p += 3;
	slash = p + strcspn(p, "/?");
	at = NULL;
	for (const char *q = p; q < slash; q++)
		if (*q == '@')
			at = q;	/* the last '@' before the path */
	host = at ? at + 1 : p;
	colon = memchr(host, ':', (size_t)(slash - host));
	add_safe(&b, host, (size_t)((colon ? colon : slash) - host));
	if (colon) {
		mg_buf_addc(&b, '_');
		add_safe(&b, colon + 1, (size_t)(slash - colon - 1));
	}
	db = *slash == '/' ? slash + 1 : slash;
	end = db + strcspn(db, "?");
	if (end > db) {
		mg_buf_addc(&b, '_');
		add_safe(&b, db, (size_t)(end - db));
	}
	free(shown);
	return mg_buf_detach(&b);
}

/* ${VAR} from the environment; an unset one is refused at line:col. */
static char *expand_vars(const struct walk *w, const char *s, int line, int col)
{
	struct mg_buf b = MG_BUF_INIT;

	for (const char *p = s; *p;) {
		const char *open = strstr(p, "${"), *close;
		char *name;
		const char *val;

		if (!open) {
			mg_buf_adds(&b, p);
			break;
		}
		mg_buf_add(&b, p, (size_t)(open - p));
		close = strchr(open, '}');
		if (!close) {
			mg_err_set(w->err, MG_EINPUT, "unclosed '${' at %s:%d:%d", w->path, line,
				   col + (int)(open - s));
			mg_buf_release(&b);
			return NULL;
		}
		name = mg_xstrndup(open + 2, (size_t)(close - open - 2));
		val = getenv(name);
		if (!val) {
			mg_err_set(w->err, MG_EINPUT, "environment variable '%s' is not set "
				   "(used at %s:%d:%d)", name, w->path, line, col + (int)(open - s));
			mg_err_hint(w->err, "export %s before running the fleet", name);
			free(name);
			mg_buf_release(&b);
			return NULL;
		}
		free(name);
		mg_buf_adds(&b, val);
		p = close + 1;
	}
	return mg_buf_detach(&b);
}

static char *relative_to(const struct mg_fleet *f, const char *path)
{
	if (path[0] == '/' || !strcmp(f->dir, "."))
		return mg_xstrdup(path);
	return mg_xasprintf("%s/%s", f->dir, path);
}

static int name_ok(const char *name)
{
	if (!name[0] || name[0] == '.' || strlen(name) > 200)
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
			return 0;
	return 1;
}

/* ---- adding a target -------------------------------------------------------- */

/* Add a target; where says where it came from, for messages ("f.yaml:4:7"). */
static int add_target(struct mg_fleet *f, const char *name, char *url, const char *state,
		      const char *where, int line, struct mg_err *err)
{
	struct mg_fleet_target *t;
	char *own = name ? mg_xstrdup(name) : mg_fleet_name_from_url(url);

	if (!name_ok(own)) {
		mg_err_set(err, MG_EINPUT, "target name '%s' at %s is not a file name "
			   "(letters, digits, '-', '_' and '.', not first)", own, where);
		free(own);
		free(url);
		return -1;
	}
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->targets[i].name, own))
			continue;
		mg_err_set(err, MG_EINPUT, "duplicate target name '%s' at %s (also at %s%s%d)", own,
			   where, f->targets[i].line ? f->path : "targets_command",
			   f->targets[i].line ? ":" : " line ", f->targets[i].line ? f->targets[i].line : 0);
		mg_err_hint(err, "give each target its own 'name:' (state and log files are named after it)");
		free(own);
		free(url);
		return -1;
	}
	MG_ALLOC_GROW(f->targets, f->n + 1, f->alloc);
	t = &f->targets[f->n++];
	memset(t, 0, sizeof(*t));
	t->name = own;
	t->url = url;
	t->shown = mg_redact_url(url);
	t->state = state ? relative_to(f, state) : mg_xasprintf("%s/%s.db", f->state_dir, own);
	t->log = mg_xasprintf("%s/%s.log", f->state_dir, own);
	t->line = line;
	return 0;
}

/* ---- the YAML document -------------------------------------------------------- */

static int walk_target(struct walk *w, yaml_node_t *n)
{
	const yaml_node_t *name = NULL, *url = NULL, *state = NULL;
	char where[1100], *expanded;

	if (n->type != YAML_MAPPING_NODE)
		return at(w, n, "%s at %s:%d:%d: a target is a mapping (url:, name:, state:)",
			  "bad target");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		const char *key = scalar(k);

		if (!key || !(!strcmp(key, "name") || !strcmp(key, "url") || !strcmp(key, "state")))
			return unknown_key(w, k, target_keys, "in a target");
		if (!scalar(v) || !scalar(v)[0])
			return at(w, v, "'%s' at %s:%d:%d must be a non-empty string", key);
		*(!strcmp(key, "name") ? &name : !strcmp(key, "url") ? &url : &state) = v;
	}
	if (!url)
		return at(w, n, "%s at %s:%d:%d: every target needs one (postgres://..., mysql://...)",
			  "missing 'url'");
	expanded = expand_vars(w, scalar(url), (int)url->start_mark.line + 1,
			       (int)url->start_mark.column + 1);
	if (!expanded)
		return -1;
	snprintf(where, sizeof(where), "%s:%d:%d", w->path,
		 (int)(name ? name : n)->start_mark.line + 1, (int)(name ? name : n)->start_mark.column + 1);
	return add_target(w->f, scalar(name), expanded, scalar(state), where,
			  (int)n->start_mark.line + 1, w->err);
}

static int walk_targets(struct walk *w, yaml_node_t *v)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return at(w, v, "'%s' at %s:%d:%d must be a list of targets", "targets");
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++)
		if (walk_target(w, yaml_document_get_node(w->doc, *i)) < 0)
			return -1;
	return 0;
}

static int walk_concurrency(struct walk *w, const yaml_node_t *v)
{
	long n;

	if (!scalar(v) || mg_parse_long(scalar(v), &n) < 0 || n < 1 || n > MG_FLEET_MAX_CONCURRENCY)
		return at(w, v, "'%s' at %s:%d:%d must be a whole number from 1 to "
			  MG_STR(MG_FLEET_MAX_CONCURRENCY), "concurrency");
	w->f->concurrency = (int)n;
	return 0;
}

/* The top level: the keys other than targets first (state_dir decides the
 * targets' paths), then the targets. *command gets targets_command. */
static int walk_top(struct walk *w, yaml_node_t *root, const char **command)
{
	yaml_node_t *targets = NULL;

	if (!root || root->type != YAML_MAPPING_NODE)
		return mg_err_set(w->err, MG_EINPUT, "'%s' is not a fleet file: expected a mapping "
				  "with 'targets:' or 'targets_command:'", w->path);
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		const char *key = scalar(k);

		if (key && !strcmp(key, "targets")) {
			targets = v;
		} else if (key && !strcmp(key, "concurrency")) {
			if (walk_concurrency(w, v) < 0)
				return -1;
		} else if (key && (!strcmp(key, "state_dir") || !strcmp(key, "targets_command"))) {
			if (!scalar(v) || !scalar(v)[0])
				return at(w, v, "'%s' at %s:%d:%d must be a non-empty string", key);
			if (!strcmp(key, "targets_command")) {
				*command = scalar(v);
			} else {
				free(w->f->state_dir);
				w->f->state_dir = relative_to(w->f, scalar(v));
			}
		} else {
			return unknown_key(w, k, top_keys, "in the fleet file");
		}
	}
	return targets ? walk_targets(w, targets) : 0;
}

/* ---- targets_command ------------------------------------------------------------ */

/* One line of its output: "URL" or "NAME URL". */
static int command_line(struct mg_fleet *f, char *line, int n, struct mg_err *err)
{
	char *sp, where[64];

	line[strcspn(line, "\r\n")] = 0;
	while (isspace((unsigned char)*line))
		line++;
	if (!*line || *line == '#')
		return 0;
	snprintf(where, sizeof(where), "targets_command line %d", n);
	sp = line + strcspn(line, " \t");
	if (!*sp)
		return add_target(f, NULL, mg_xstrdup(line), NULL, where, 0, err);
	*sp++ = 0;
	while (isspace((unsigned char)*sp))
		sp++;
	if (!*sp || strpbrk(sp, " \t"))
		return mg_err_set(err, MG_EINPUT, "%s: expected 'URL' or 'NAME URL'", where);
	return add_target(f, line, mg_xstrdup(sp), NULL, where, 0, err);
}

static int run_targets_command(struct mg_fleet *f, const char *command, struct mg_err *err)
{
	int fds[2], status, n = 0, rc = 0;
	pid_t pid;
	FILE *in;
	char *line = NULL;
	size_t cap = 0;

	if (pipe(fds) < 0 || (pid = fork()) < 0)
		return mg_err_set(err, MG_EDB, "cannot run targets_command: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (chdir(f->dir) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	while (getline(&line, &cap, in) >= 0)
		if (rc == 0 && command_line(f, line, ++n, err) < 0)
			rc = -1;	/* keep reading: the command must not block on a full pipe */
	free(line);
	fclose(in);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		mg_err_set(err, MG_EINPUT, "targets_command '%s' of '%s' failed (%s %d)", command,
			   f->path, WIFEXITED(status) ? "exit status" : "signal",
			   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return mg_err_hint(err, "run it by hand in %s: it must print one 'URL' or "
				   "'NAME URL' per line and exit 0", f->dir);
	}
	return rc;
}

/* ---- loading ----------------------------------------------------------------------- */

static int load_document(struct mg_fleet *f, FILE *in, const char **command_out,
			 char **command_copy, struct mg_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct walk w = { f, &doc, f->path, err };
	int rc;

	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_file(&parser, in);
	if (!yaml_parser_load(&parser, &doc)) {
		mg_err_set(err, MG_EINPUT, "YAML syntax error at %s:%d:%d: %s", f->path,
			   (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
			   parser.problem ? parser.problem : "unknown");
		yaml_parser_delete(&parser);
		return -1;
	}
	rc = walk_top(&w, yaml_document_get_root_node(&doc), command_out);
	*command_copy = rc == 0 ? mg_xstrdup(*command_out) : NULL;
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

int mg_fleet_load(struct mg_fleet *out, const char *path, struct mg_err *err)
{
	const char *slash = strrchr(path, '/');
	const char *command = NULL;
	char *command_copy = NULL;
	FILE *in = fopen(path, "r");
	int rc;

	memset(out, 0, sizeof(*out));
	if (!in) {
		mg_err_set(err, MG_EINPUT, "cannot read fleet file '%s': %s", path, strerror(errno));
		return mg_err_hint(err, "--fleet FILE names a YAML file listing the targets");
	}
	out->path = mg_xstrdup(path);
	out->dir = slash ? mg_xstrndup(path, (size_t)(slash - path) + (slash == path)) : mg_xstrdup(".");
	out->state_dir = relative_to(out, MG_FLEET_DEFAULT_STATE_DIR);
	out->concurrency = MG_FLEET_DEFAULT_CONCURRENCY;
	rc = load_document(out, in, &command, &command_copy, err);
	fclose(in);
	if (rc == 0 && command_copy)
		rc = run_targets_command(out, command_copy, err);
	free(command_copy);
	if (rc == 0 && out->n == 0) {
		mg_err_set(err, MG_EINPUT, "fleet file '%s' lists no target", path);
		rc = mg_err_hint(err, "add 'targets:' (a list of url:) or a 'targets_command:' "
				 "that prints one URL per line");
	}
	if (rc < 0)
		mg_fleet_release(out);
	return rc;
}

void mg_fleet_release(struct mg_fleet *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->targets[i].name);
		free(f->targets[i].url);
		free(f->targets[i].shown);
		free(f->targets[i].state);
		free(f->targets[i].log);
	}
	free(f->targets);
	free(f->path);
	free(f->dir);
	free(f->state_dir);
	memset(f, 0, sizeof(*f));
}

int mg_fleet_worst(int a, int b)
{
	/* the exit statuses are ranked as they are numbered: 3 worst */
	if (a < 0 || a > 3)
		a = 3;
	if (b < 0 || b > 3)
		b = 3;
	return a > b ? a : b;
}
