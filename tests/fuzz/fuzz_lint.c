/*
 * fuzz_lint.c - libFuzzer target for the lint engine (mg_lint_buffer,
 * src/lint.c): the input is the bytes of a migration file, linted for
 * both dialects (PostgreSQL's parser and the MySQL/MariaDB reader), and
 * every finding printed in every format (to /dev/null: the output code
 * escapes what it is given).
 *
 * Checked beyond the sanitizers: lint never fails on a file, so every
 * input gives one file counted; each finding names a known rule, has a
 * one-line message and a position that is in the file (or 0: the whole
 * file); the counts agree with the findings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "lint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

/* Lines as YAML counts them: LF, CR LF, a lone CR, NEL, LS, PS. */
static int lines_of(const uint8_t *d, size_t size)
{
	int n = 1;

	for (size_t i = 0; i < size; i++) {
		if (d[i] == '\n' || (d[i] == '\r' && (i + 1 >= size || d[i + 1] != '\n')))
			n++;
		else if (d[i] == 0xC2 && i + 1 < size && d[i + 1] == 0x85)
			n++;
		else if (d[i] == 0xE2 && i + 2 < size && d[i + 1] == 0x80 &&
			 (d[i + 2] == 0xA8 || d[i + 2] == 0xA9))
			n++;
	}
	return n;
}

static void check_report(const struct mg_lint_report *r, int max_line)
{
	size_t errors = 0, warnings = 0, infos = 0;

	if (r->files != 1) {
		fprintf(stderr, "%zu files counted for one input\n", r->files);
		abort();
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct mg_lint_finding *f = &r->items[i];

		if (!f->rule || mg_lint_rule_find(f->rule->id) != f->rule || !f->message[0] ||
		    strchr(f->message, '\n') || (f->hint && strchr(f->hint, '\n')) || f->line < 0 || f->line > max_line ||
		    f->column < 0 || (f->line > 0) != (f->column > 0)) {
			fprintf(stderr, "bad finding %s at %d:%d: %s\n",
				f->rule ? f->rule->id : "?", f->line, f->column, f->message);
			abort();
		}
		if (f->suppressed)
			continue;
		errors += f->severity == MG_LINT_ERROR;
		warnings += f->severity == MG_LINT_WARNING;
		infos += f->severity == MG_LINT_INFO;
	}
	if (errors != r->errors || warnings != r->warnings || infos != r->infos) {
		fprintf(stderr, "counts %zu/%zu/%zu, findings say %zu/%zu/%zu\n", r->errors,
			r->warnings, r->infos, errors, warnings, infos);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const dialects[] = { "postgres", "mysql" };

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	for (size_t d = 0; d < 2; d++) {
		struct mg_lint_report r = MG_LINT_REPORT_INIT;
		struct mg_lint_opts o;

		memset(&o, 0, sizeof(o));
		o.drv = mg_driver_named(dialects[d]);
		if (!o.drv)
			abort();
		o.max_name = o.drv->max_name_len;
		mg_lint_buffer(&o, "0001_fuzz.yaml", (const char *)data, size, &r);
		check_report(&r, lines_of(data, size));
		for (int f = MG_LINT_TEXT; f <= MG_LINT_GCC; f++)
			mg_lint_print(devnull, &r, (enum mg_lint_format)f);
		mg_lint_report_release(&r);
	}
	return 0;
}
