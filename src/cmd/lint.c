/*
 * lint.c - `migrate lint [PATH...]`: the rules of src/lint_rules.c over
 * migration files, offline (no connection is ever opened).
 *
 * Exit 0 no unsuppressed error-level finding, 1 some, 2 bad arguments (an
 * unknown option, format, dialect or rule id, a path that does not exist).
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"

/* A comma list ("a,b, c") into l, each id checked against the rules. */
static int split_rules(struct mg_strlist *l, const char *list, const char *option,
		       struct mg_err *err)
{
	for (const char *p = list; p && *p;) {
		size_t n;
		char *id;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (!n)
			break;
		id = mg_xstrndup(p, n);
		p += n;
		if (!mg_lint_rule_find(id)) {
			mg_err_set(err, MG_EINPUT, "unknown rule '%s' in --%s", id, option);
			free(id);
			return mg_err_hint(err, "'migrate lint --list-rules' lists the rules");
		}
		mg_strlist_push_owned(l, id);
	}
	return 0;
}

/* The target's dialect: --dialect, else the configured URL's driver, else
 * PostgreSQL. Reading the URL opens no connection. */
static int pick_dialect(const struct mg_driver **out, const struct mg_options *opt,
			struct mg_err *err)
{
	struct mg_err ignored = MG_ERR_INIT;
	const char *d = opt->dialect;

	if (d) {
		if (!strcmp(d, "postgresql"))
			d = "postgres";
		else if (!strcmp(d, "mariadb"))
			d = "mysql";
		*out = mg_driver_named(d);
		if (!*out) {
			mg_err_set(err, MG_EINPUT, "unknown dialect '%s' for --dialect", opt->dialect);
			return mg_err_hint(err, "use --dialect postgres or --dialect mysql (MySQL and MariaDB)");
		}
		return 0;
	}
	*out = opt->database ? mg_driver_for_url(opt->database, &ignored) : NULL;
	if (!*out)
		*out = mg_driver_named("postgres");
	return 0;
}

void mg_lint_setup_release(struct mg_lint_setup *s)
{
	mg_strlist_release(&s->errors);
	mg_strlist_release(&s->warnings);
	mg_strlist_release(&s->disabled);
	memset(s, 0, sizeof(*s));
}

int mg_lint_setup_init(struct mg_lint_setup *s, const struct mg_options *opt,
		       struct mg_err *err)
{
	memset(s, 0, sizeof(*s));
	if (split_rules(&s->errors, opt->lint_error, "error", err) < 0 ||
	    split_rules(&s->warnings, opt->lint_warning, "warning", err) < 0 ||
	    split_rules(&s->disabled, opt->lint_disable, "disable", err) < 0 ||
	    pick_dialect(&s->o.drv, opt, err) < 0)
		return -1;
	s->o.errors = (const char *const *)s->errors.items;
	s->o.n_errors = s->errors.n;
	s->o.warnings = (const char *const *)s->warnings.items;
	s->o.n_warnings = s->warnings.n;
	s->o.disabled = (const char *const *)s->disabled.items;
	s->o.n_disabled = s->disabled.n;
	s->o.max_name = s->o.drv ? s->o.drv->max_name_len : mg_driver_name_limit(NULL);
	return 0;
}

static int parse_format(enum mg_lint_format *out, const struct mg_options *opt,
			struct mg_err *err)
{
	static const struct { const char *name; enum mg_lint_format f; } formats[] = {
		{ "text", MG_LINT_TEXT }, { "json", MG_LINT_JSON }, { "sarif", MG_LINT_SARIF },
		{ "github", MG_LINT_GITHUB }, { "gcc", MG_LINT_GCC },
	};

	*out = opt->json ? MG_LINT_JSON : MG_LINT_TEXT;
	if (!opt->format)
		return 0;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(formats[i].name, opt->format)) {
			*out = formats[i].f;
			return 0;
		}
	mg_err_set(err, MG_EINPUT, "unknown format '%s' for --format", opt->format);
	return mg_err_hint(err, "use one of: text, json, sarif, github, gcc");
}

/* "3 files, 1 error, 2 warnings" (infos and suppressed when there are any). */
void mg_lint_summary(FILE *f, const struct mg_lint_report *r)
{
	size_t suppressed = 0;

	for (size_t i = 0; i < r->n; i++)
		suppressed += r->items[i].suppressed != NULL;
	fprintf(f, "%zu file%s, %zu error%s, %zu warning%s", r->files, r->files == 1 ? "" : "s",
		r->errors, r->errors == 1 ? "" : "s", r->warnings, r->warnings == 1 ? "" : "s");
	if (r->infos)
		fprintf(f, ", %zu info%s", r->infos, r->infos == 1 ? "" : "s");
	if (suppressed)
		fprintf(f, ", %zu suppressed", suppressed);
	fputc('\n', f);
}

int mg_cmd_lint(struct mg_options *opt)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_lint_report r = MG_LINT_REPORT_INIT;
	struct mg_lint_setup s;
	enum mg_lint_format format;
	const char *dir = opt->migrations;
	int rc;

	if (parse_format(&format, opt, &err) < 0)
		return mg_cmd_fail(&err);
	if (opt->list_rules) {
		mg_lint_print_rules(stdout, format == MG_LINT_JSON);
		return 0;
	}
	if (mg_lint_setup_init(&s, opt, &err) < 0) {
		mg_lint_setup_release(&s);
		return mg_cmd_fail(&err);
	}
	if (opt->n_args > 0)
		rc = mg_lint_paths(&s.o, (const char *const *)opt->args, (size_t)opt->n_args, &r, &err);
	else
		rc = mg_lint_paths(&s.o, &dir, 1, &r, &err);
	mg_lint_setup_release(&s);
	if (rc < 0) {
		mg_lint_report_release(&r);
		return mg_cmd_fail(&err);
	}
	mg_lint_print(stdout, &r, format);
	if (format == MG_LINT_TEXT && mg_verbosity >= 0)
		mg_lint_summary(stderr, &r);
	rc = r.errors ? MG_EREFUSED : 0;
	mg_lint_report_release(&r);
	return rc;
}
