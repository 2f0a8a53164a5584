/* common.c - small pieces the command files share. */
#include "cmd.h"

#include "output.h"

int mg_cmd_one_id(struct mg_options *opt, const char **id)
{
	struct mg_err err = MG_ERR_INIT;

	*id = opt->n_args > 0 ? opt->args[0] : NULL;
	if (opt->n_args > 1) {
		mg_err_set(&err, MG_EINPUT, "unexpected argument '%s': '%s' takes at most one migration id",
			   opt->args[1], opt->command);
		mg_err_hint(&err, "see 'migrate %s --help'", opt->command);
		mg_report_error(&err);
		return -1;
	}
	return 0;
}

int mg_cmd_fail(const struct mg_err *err)
{
	mg_report_error(err);
	return err->code ? err->code : MG_EDB;
}
