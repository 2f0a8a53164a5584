/* log.c - `migrate log [--limit N]`: the append-only event log. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "output.h"
#include "runner.h"

static json_t *event_json(const struct mg_event *e)
{
	return json_pack("{s:I, s:s, s:s, s:o, s:o, s:s, s:s}", "seq", (json_int_t)e->seq,
			 "at", e->at ? e->at : "", "command", e->command ? e->command : "",
			 "migration", e->migration_id ? json_integer(e->migration_id) : json_null(),
			 "colour", mg_json_str(e->colour), "result", e->result ? e->result : "",
			 "message", e->message ? e->message : "");
}

static void event_print(const struct mg_event *e)
{
	char idbuf[16] = "-";

	if (e->migration_id)
		mg_id_str(e->migration_id, idbuf);
	printf("%s  %-12s %-5s %-8s %-8s %s\n", e->at ? e->at : "", e->command ? e->command : "",
	       idbuf, e->colour ? e->colour : "-", e->result ? e->result : "",
	       e->message ? e->message : "");
}

int mg_events_show(struct mg_state *st, int limit, json_t **json_out, struct mg_err *err)
{
	struct mg_event *evs = NULL;
	size_t n = 0;

	if (st && mg_state_event_list(st, limit, &evs, &n, err) < 0)
		return -1;
	if (json_out) {
		*json_out = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(*json_out, event_json(&evs[i]));
	} else if (!n) {
		printf("no events recorded\n");
	} else {
		printf("%-20s  %-12s %-5s %-8s %-8s %s\n", "AT (UTC)", "COMMAND", "ID", "COLOUR",
		       "RESULT", "MESSAGE");
		for (size_t i = 0; i < n; i++)
			event_print(&evs[i]);
	}
	mg_state_event_list_free(evs, n);
	return 0;
}

int mg_cmd_log(struct mg_options *opt)
{
	struct mg_err err = MG_ERR_INIT;
	struct mg_state *st = NULL;
	json_t *arr = NULL;
	int rc;

	if (opt->n_args > 0) {
		mg_err_set(&err, MG_EINPUT, "unexpected argument '%s': log takes none", opt->args[0]);
		mg_err_hint(&err, "use --limit N for the last N events");
		return mg_cmd_fail(&err);
	}
	if (opt->limit < 1) {
		mg_err_set(&err, MG_EINPUT, "bad value '%d' for option '--limit': expected at least 1", opt->limit);
		return mg_cmd_fail(&err);
	}
	if (mg_state_open(&st, opt->state, 0, 0, NULL, &err) < 0)
		return mg_cmd_fail(&err);
	rc = mg_events_show(st, opt->limit, opt->json ? &arr : NULL, &err);
	mg_state_close(st);
	if (rc < 0)
		return mg_cmd_fail(&err);
	if (opt->json)
		mg_json_print(json_pack("{s:o}", "events", arr));
	return 0;
}
