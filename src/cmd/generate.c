/*
 * generate.c - `migrate __generate man|bash|zsh|fish` (hidden): the man
 * page and the shell completions, written from the same tables as --help
 * (main.c's commands, cli_options.c's options). CMake runs it at build
 * time and installs what it writes, so they cannot drift from the binary.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "output.h"

#ifndef MIGRATE_MAN_DATE	/* CMake sets the build date */
#define MIGRATE_MAN_DATE "2026-01-01"
#endif

/* ---- shared -------------------------------------------------------------- */

static int takes_value(const struct mg_opt_def *d)
{
	return d->value_name != NULL;
}

/* The commands as completions offer them: the table's, then help. */
static void command_words(struct mg_buf *out)
{
	for (const struct mg_cli_command *c = mg_cli_commands; c->name; c++)
		mg_buf_addf(out, "%s ", c->name);
	mg_buf_adds(out, "help");
}

/* Every spelling of the options of command (0: the global ones), "--x -y". */
static void option_words(struct mg_buf *out, unsigned command)
{
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		int global = d->commands == MG_C_ALL;

		if (command ? global || !(d->commands & command) : !global)
			continue;
		mg_buf_addf(out, "%s--%s", out->len ? " " : "", d->long_name);
		if (d->short_name)
			mg_buf_addf(out, " -%c", d->short_name);
	}
}

/* Shell words in single quotes: ' as '\'' */
static void add_quoted(struct mg_buf *out, const char *s)
{
	mg_buf_adds(out, "'");
	for (; *s; s++)
		if (*s == '\'')
			mg_buf_adds(out, "'\\''");
		else
			mg_buf_addf(out, "%c", *s);
	mg_buf_adds(out, "'");
}

/* ---- man page ------------------------------------------------------------ */

/* Text for roff: backslashes and hyphens escaped, a line starting with
 * '.' or '\'' protected. */
static void add_roff(struct mg_buf *out, const char *text)
{
	int line_start = 1;

	for (const char *p = text; *p; p++) {
		if (line_start && (*p == '.' || *p == '\''))
			mg_buf_adds(out, "\\&");
		line_start = *p == '\n';
		if (*p == '\\')
			mg_buf_adds(out, "\\e");
		else if (*p == '-')
			mg_buf_adds(out, "\\-");
		else
			mg_buf_addf(out, "%c", *p);
	}
}

/* A block of prose kept as written (a usage, an indented list). */
static int preformatted(const char *block, size_t len)
{
	if (!strncmp(block, "usage:", 6) || !strncmp(block, "example:", 8))
		return 1;
	for (size_t i = 0; i < len; i++)
		if ((block[i] == ' ' && (i == 0 || block[i - 1] == '\n')) ||
		    !strncmp(block + i, "   ", 3))
			return 1;
	return 0;
}

/* A command's prose: paragraphs filled, usages and lists as written. */
static void man_prose(struct mg_buf *out, const char *prose)
{
	for (const char *p = prose; *p;) {
		const char *end = strstr(p, "\n\n");
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct mg_buf block = MG_BUF_INIT;

		mg_buf_addf(&block, "%.*s", (int)len, p);
		while (block.len && block.buf[block.len - 1] == '\n')
			block.buf[--block.len] = '\0';
		if (block.len && preformatted(block.buf, block.len)) {
			mg_buf_adds(out, ".PP\n.nf\n");
			add_roff(out, block.buf);
			mg_buf_adds(out, "\n.fi\n");
		} else if (block.len) {
			mg_buf_adds(out, ".PP\n");
			add_roff(out, block.buf);
			mg_buf_adds(out, "\n");
		}
		mg_buf_release(&block);
		p += len;
		p += strspn(p, "\n");
	}
}

static void man_option(struct mg_buf *out, const struct mg_opt_def *d)
{
	struct mg_buf text = MG_BUF_INIT;

	mg_buf_adds(out, ".TP\n");
	if (d->short_name)
		mg_buf_addf(out, "\\fB\\-%c\\fR, ", d->short_name);
	mg_buf_adds(out, "\\fB\\-\\-");
	add_roff(out, d->long_name);
	mg_buf_adds(out, "\\fR");
	if (d->value_name)
		mg_buf_addf(out, " \\fI%s\\fR", d->value_name);
	mg_buf_adds(out, "\n");
	mg_cli_option_text(&text, d);
	add_roff(out, text.buf);
	mg_buf_adds(out, "\n");
	mg_buf_release(&text);
}

static void man_options(struct mg_buf *out, unsigned command)
{
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++)
		if (mg_cli_option_listed(d, command))
			man_option(out, d);
}

static void man_environment(struct mg_buf *out)
{
	mg_buf_adds(out, ".SH ENVIRONMENT\n"
		    "Precedence: the command line, then the environment, then "
		    "\\fImigrate.yaml\\fR, then the default. A bad value in a variable "
		    "is exit 2, naming the variable.\n");
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		if (!d->env || !strcmp(d->long_name, "state-file"))
			continue;
		mg_buf_adds(out, ".TP\n.B ");
		add_roff(out, d->env);
		mg_buf_adds(out, "\n\\-\\-");
		add_roff(out, d->long_name);
		if (!strcmp(d->long_name, "database"))
			mg_buf_adds(out, " (then \\fBDATABASE_URL\\fR)");
		mg_buf_adds(out, "\n");
	}
}

static void man_page(struct mg_buf *out)
{
	mg_buf_addf(out, ".TH MIGRATE 1 %s \"migrate %s\" \"User Commands\"\n",
		    MIGRATE_MAN_DATE, MIGRATE_VERSION);
	mg_buf_adds(out, ".SH NAME\nmigrate \\- expand\\-contract schema migrations for "
		    "blue\\-green and canary releases\n"
		    ".SH SYNOPSIS\n.B migrate\n[\\fIglobal options\\fR] \\fIcommand\\fR "
		    "[\\fIarguments\\fR]\n.br\n.B migrate help\n[\\fIcommand\\fR]\n"
		    ".SH DESCRIPTION\nA migration moves pending, expanded, backfilled, "
		    "switched, contracted: \\fBexpand\\fR adds the new structures beside the "
		    "old ones, \\fBbackfill\\fR copies the rows, \\fBswitch\\-reads\\fR "
		    "verifies them, \\fBcontract\\fR drops the old ones, and \\fBrollback\\fR "
		    "undoes a migration not contracted. Options may stand before or after "
		    "the command; an option a command does not take is exit 2. Short flags "
		    "group (\\fB\\-qV\\fR); \\fB\\-\\-\\fR ends the options.\n"
		    ".PP\nDurations: a number with a unit, \\fB500ms\\fR, \\fB2s\\fR, "
		    "\\fB1.5s\\fR, \\fB5m\\fR, \\fB1h30m\\fR, \\fB1d\\fR; a bare number is in "
		    "the unit the option names (milliseconds or seconds).\n"
		    ".SH COMMANDS\n");
	for (const struct mg_cli_command *c = mg_cli_commands; c->name; c++) {
		struct mg_buf prose = MG_BUF_INIT;

		mg_buf_adds(out, ".SS ");
		add_roff(out, c->name);
		mg_buf_adds(out, "\n");
		add_roff(out, c->summary);
		mg_buf_adds(out, ".\n");
		mg_cli_prose(&prose, c->help);
		man_prose(out, prose.buf);
		man_options(out, mg_cli_command_bit(c->name));
		mg_buf_release(&prose);
	}
	mg_buf_adds(out, ".SH GLOBAL OPTIONS\n");
	man_options(out, 0);
	man_environment(out);
	mg_buf_adds(out, ".SH FILES\n.TP\n.I migrate.yaml\nsettings (\\-\\-config)\n"
		    ".TP\n.I .migrate/state.db\nthe state file (\\-\\-state\\-file)\n"
		    ".SH EXIT STATUS\n.nf\n");
	add_roff(out, mg_cli_exit_help);
	mg_buf_adds(out, ".fi\n.SH SEE ALSO\nThe documentation in \\fIdocs/\\fR of the "
		    "source: commands.md, concepts.md, operations.md.\n");
}

/* ---- bash and zsh -------------------------------------------------------- */

/* The words typed so far, read the same way in bash and zsh: options
 * (and the value after one that takes a value) skipped, the first other
 * word is the command, the next the colour subcommand. in: one level of
 * indentation; the words are word (`${COMP_WORDS[i]}`), the first at
 * index first, the current one at index current. */
static void scan_words(struct mg_buf *out, const char *in, const char *word, int first,
		       const char *current)
{
	mg_buf_addf(out, "%slocal valued=' ", in);
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		if (!takes_value(d))
			continue;
		mg_buf_addf(out, " --%s", d->long_name);
		if (d->short_name)
			mg_buf_addf(out, " -%c", d->short_name);
	}
	mg_buf_addf(out, " '\n%sfor (( i = %d; i < %s; i++ )); do\n", in, first, current);
	mg_buf_addf(out, "%s%sw=%s\n", in, in, word);
	mg_buf_addf(out, "%s%s[[ $w == -- ]] && continue\n", in, in);
	mg_buf_addf(out, "%s%sif [[ $w == -* ]]; then\n", in, in);
	mg_buf_addf(out, "%s%s%s[[ $valued == *\" $w \"* ]] && (( i++ ))\n", in, in, in);
	mg_buf_addf(out, "%s%s%scontinue\n", in, in, in);
	mg_buf_addf(out, "%s%sfi\n", in, in);
	mg_buf_addf(out, "%s%sif [[ -z $cmd ]]; then cmd=$w; elif [[ -z $sub ]]; then sub=$w; fi\n",
		    in, in);
	mg_buf_addf(out, "%sdone\n%s[[ $cmd == color ]] && cmd=colour\n", in, in);
}

/* ---- bash ---------------------------------------------------------------- */

/* `case $prev in` arms: fixed values, files, folders; other valued
 * options complete nothing. */
static void bash_value_cases(struct mg_buf *out)
{
	struct mg_buf files = MG_BUF_INIT, dirs = MG_BUF_INIT, other = MG_BUF_INIT;

	mg_buf_adds(out, "    case $prev in\n"
		    "        --state)\n"
		    "            if [[ $cmd == colour ]]; then\n"
		    "                COMPREPLY=($(compgen -W 'live standby retired' -- \"$cur\"))\n"
		    "            else\n"
		    "                COMPREPLY=($(compgen -f -- \"$cur\"))\n"
		    "            fi\n"
		    "            return ;;\n");
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		struct mg_buf *to;

		if (!takes_value(d) || !strcmp(d->long_name, "state"))
			continue;
		if (d->values) {
			mg_buf_addf(out, "        --%s)\n            COMPREPLY=($(compgen -W ",
				    d->long_name);
			add_quoted(out, d->values);
			mg_buf_adds(out, " -- \"$cur\"))\n            return ;;\n");
			continue;
		}
		to = !strcmp(d->value_name, "PATH") ? &files :
		     !strcmp(d->value_name, "DIR") ? &dirs : &other;
		mg_buf_addf(to, "%s--%s", to->len ? "|" : "", d->long_name);
		if (d->short_name)
			mg_buf_addf(to, "|-%c", d->short_name);
	}
	mg_buf_addf(out, "        %s)\n            COMPREPLY=($(compgen -f -- \"$cur\"))\n"
		    "            return ;;\n", files.buf);
	mg_buf_addf(out, "        %s)\n            COMPREPLY=($(compgen -d -- \"$cur\"))\n"
		    "            return ;;\n", dirs.buf);
	mg_buf_addf(out, "        %s)\n            COMPREPLY=()\n            return ;;\n"
		    "    esac\n", other.buf);
	mg_buf_release(&files);
	mg_buf_release(&dirs);
	mg_buf_release(&other);
}

static void bash_completion(struct mg_buf *out)
{
	struct mg_buf words = MG_BUF_INIT;

	mg_buf_adds(out, "# bash completion for migrate: generated by 'migrate __generate bash'\n"
		    "# from the option table of --help; do not edit.\n"
		    "_migrate() {\n"
		    "    local cur=${COMP_WORDS[COMP_CWORD]} prev= cmd= sub= i w\n"
		    "    (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
		    "    local commands=");
	command_words(&words);
	add_quoted(out, words.buf);
	mg_buf_adds(out, "\n");
	scan_words(out, "    ", "${COMP_WORDS[i]}", 1, "COMP_CWORD");
	bash_value_cases(out);
	mg_buf_adds(out, "    if [[ $cur == -* ]]; then\n"
		    "        local opts=");
	mg_buf_reset(&words);
	option_words(&words, 0);
	add_quoted(out, words.buf);
	mg_buf_adds(out, "\n        case $cmd in\n");
	for (const struct mg_cli_command *c = mg_cli_commands; c->name; c++) {
		mg_buf_reset(&words);
		option_words(&words, mg_cli_command_bit(c->name));
		mg_buf_addf(out, "            %s) opts+=' '", c->name);
		add_quoted(out, words.buf);
		mg_buf_adds(out, " ;;\n");
	}
	mg_buf_adds(out, "        esac\n"
		    "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
		    "        return\n"
		    "    fi\n"
		    "    if [[ -z $cmd ]]; then\n"
		    "        COMPREPLY=($(compgen -W \"$commands\" -- \"$cur\"))\n"
		    "        return\n"
		    "    fi\n"
		    "    case $cmd in\n"
		    "        colour) [[ -z $sub ]] && COMPREPLY=($(compgen -W ");
	add_quoted(out, mg_cli_colour_subcommands);
	mg_buf_adds(out, " -- \"$cur\")) ;;\n"
		    "        help) [[ -z $sub ]] && COMPREPLY=($(compgen -W \"${commands% help}\" -- \"$cur\")) ;;\n"
		    "        lint) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
		    "    esac\n"
		    "}\n"
		    "complete -F _migrate migrate\n");
	mg_buf_release(&words);
}

/* ---- zsh ----------------------------------------------------------------- */

/* zsh _describe entries: 'name:summary' with ':' in the text escaped. */
static void zsh_described(struct mg_buf *out, const char *name, const char *text)
{
	struct mg_buf item = MG_BUF_INIT;

	mg_buf_adds(&item, name);
	mg_buf_adds(&item, ":");
	for (const char *p = text; *p; p++)
		mg_buf_addf(&item, "%s%c", *p == ':' ? "\\" : "", *p);
	mg_buf_adds(out, "    ");
	add_quoted(out, item.buf);
	mg_buf_adds(out, "\n");
	mg_buf_release(&item);
}

static void zsh_completion(struct mg_buf *out)
{
	struct mg_buf words = MG_BUF_INIT;

	mg_buf_adds(out, "#compdef migrate\n"
		    "# zsh completion for migrate: generated by 'migrate __generate zsh'\n"
		    "# from the option table of --help; do not edit.\n"
		    "_migrate() {\n"
		    "  local -a commands opts\n"
		    "  local cmd= sub= i w prev=${words[CURRENT-1]}\n"
		    "  commands=(\n");
	for (const struct mg_cli_command *c = mg_cli_commands; c->name; c++)
		zsh_described(out, c->name, c->summary);
	zsh_described(out, "help", "a command's help");
	mg_buf_adds(out, "  )\n");
	scan_words(out, "  ", "${words[i]}", 2, "CURRENT");
	mg_buf_adds(out, "  case $prev in\n"
		    "    --state)\n"
		    "      if [[ $cmd == colour ]]; then compadd live standby retired; else _files; fi\n"
		    "      return ;;\n");
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		if (!takes_value(d) || !strcmp(d->long_name, "state"))
			continue;
		mg_buf_addf(out, "    --%s%s%s) ", d->long_name, d->short_name ? "|-" : "",
			    d->short_name ? (char[2]){ d->short_name, 0 } : "");
		if (d->values)
			mg_buf_addf(out, "compadd %s; return ;;\n", d->values);
		else if (!strcmp(d->value_name, "PATH"))
			mg_buf_adds(out, "_files; return ;;\n");
		else if (!strcmp(d->value_name, "DIR"))
			mg_buf_adds(out, "_files -/; return ;;\n");
		else
			mg_buf_adds(out, "return ;;\n");
	}
	mg_buf_adds(out, "  esac\n"
		    "  if [[ $PREFIX == -* ]]; then\n"
		    "    opts=(");
	mg_buf_reset(&words);
	option_words(&words, 0);
	mg_buf_addf(out, "%s)\n    case $cmd in\n", words.buf);
	for (const struct mg_cli_command *c = mg_cli_commands; c->name; c++) {
		mg_buf_reset(&words);
		option_words(&words, mg_cli_command_bit(c->name));
		mg_buf_addf(out, "      %s) opts+=(%s) ;;\n", c->name, words.buf);
	}
	mg_buf_addf(out, "    esac\n"
		    "    compadd -- $opts\n"
		    "    return\n"
		    "  fi\n"
		    "  if [[ -z $cmd ]]; then\n"
		    "    _describe command commands\n"
		    "    return\n"
		    "  fi\n"
		    "  case $cmd in\n"
		    "    colour) [[ -z $sub ]] && compadd %s ;;\n"
		    "    help) [[ -z $sub ]] && _describe command commands ;;\n"
		    "    lint) _files ;;\n"
		    "  esac\n"
		    "}\n"
		    "_migrate \"$@\"\n", mg_cli_colour_subcommands);
	mg_buf_release(&words);
}

/* ---- fish ---------------------------------------------------------------- */

static void fish_option(struct mg_buf *out, const struct mg_opt_def *d, const char *cond)
{
	mg_buf_adds(out, "complete -c migrate");
	if (cond) {
		mg_buf_adds(out, " -n ");
		add_quoted(out, cond);
	}
	if (d->short_name)
		mg_buf_addf(out, " -s %c", d->short_name);
	mg_buf_addf(out, " -l %s", d->long_name);
	if (d->values) {
		mg_buf_adds(out, " -x -a ");
		add_quoted(out, d->values);
	} else if (takes_value(d)) {
		mg_buf_adds(out, !strcmp(d->value_name, "PATH") || !strcmp(d->value_name, "DIR") ?
			    " -r -F" : " -x");
	}
	if (d->help && d->help[0] != '\001') {
		char desc[60];

		snprintf(desc, sizeof(desc), "%s", d->help);
		mg_buf_adds(out, " -d ");
		add_quoted(out, desc);
	}
	mg_buf_adds(out, "\n");
}

static void fish_completion(struct mg_buf *out)
{
	struct mg_buf names = MG_BUF_INIT;

	mg_buf_adds(out, "# fish completion for migrate: generated by 'migrate __generate fish'\n"
		    "# from the option table of --help; do not edit.\n"
		    "complete -c migrate -f\n");
	command_words(&names);
	for (const struct mg_cli_command *c = mg_cli_commands; c->name; c++) {
		mg_buf_adds(out, "complete -c migrate -n '__fish_use_subcommand' -a ");
		mg_buf_addf(out, "%s -d ", c->name);
		add_quoted(out, c->summary);
		mg_buf_adds(out, "\n");
	}
	mg_buf_adds(out, "complete -c migrate -n '__fish_use_subcommand' -a help -d 'a command''s help'\n");
	mg_buf_addf(out, "complete -c migrate -n '__fish_seen_subcommand_from help' -a '%s'\n",
		    names.buf);
	mg_buf_addf(out, "complete -c migrate -n '__fish_seen_subcommand_from colour color; and "
		    "not __fish_seen_subcommand_from %s' -a '%s'\n",
		    mg_cli_colour_subcommands, mg_cli_colour_subcommands);
	for (const struct mg_opt_def *d = mg_opt_defs; d->long_name; d++) {
		struct mg_buf cond = MG_BUF_INIT;

		if (d->commands == MG_C_ALL) {
			fish_option(out, d, NULL);
			continue;
		}
		mg_buf_adds(&cond, "__fish_seen_subcommand_from");
		for (size_t i = 0; mg_cli_command_name(i); i++)
			if (d->commands & (1u << i))
				mg_buf_addf(&cond, " %s%s", mg_cli_command_name(i),
					    (1u << i) == MG_C_COLOUR ? " color" : "");
		fish_option(out, d, cond.buf);
		mg_buf_release(&cond);
	}
	mg_buf_release(&names);
}

int mg_cmd_generate(struct mg_options *opt)
{
	struct mg_buf out = MG_BUF_INIT;
	struct mg_err err = MG_ERR_INIT;
	const char *what = opt->n_args == 1 ? opt->args[0] : "";

	if (!strcmp(what, "man"))
		man_page(&out);
	else if (!strcmp(what, "bash"))
		bash_completion(&out);
	else if (!strcmp(what, "zsh"))
		zsh_completion(&out);
	else if (!strcmp(what, "fish"))
		fish_completion(&out);
	else {
		mg_err_set(&err, MG_EINPUT, "__generate needs one of: man, bash, zsh, fish");
		return mg_cmd_fail(&err);
	}
	fputs(out.buf, stdout);
	mg_buf_release(&out);
	return fflush(stdout) == 0 ? 0 : MG_EDB;
}
