/*
 * history.c - the PostgreSQL driver: the history table (_migrate_history).
 */
#include "pg.h"

/* ==== history table ========================================================== */

/* Runs before every history write, in its transaction. CREATE TABLE IF
 * NOT EXISTS checks the schema's CREATE privilege before it looks for the
 * table, so it runs only when the table is missing: a role that may write
 * the table but not create in its schema keeps working once it exists. */
const char history_ddl[] =
	"DO $mg$ BEGIN IF to_regclass('" PGDRV_HISTORY "') IS NULL THEN "
	"CREATE TABLE IF NOT EXISTS " PGDRV_HISTORY " ("
	"migration_id integer PRIMARY KEY, name text NOT NULL, checksum text, "
	"phase text NOT NULL, step_phase text, step_index integer NOT NULL DEFAULT 0, "
	"state_id text NOT NULL, generation bigint NOT NULL, "
	"updated_at timestamptz NOT NULL DEFAULT now()); END IF; END $mg$";

char *history_upsert_sql(const struct mg_history_write *w)
{
	struct mg_buf b = MG_BUF_INIT;

	mg_buf_addf(&b, "INSERT INTO " PGDRV_HISTORY " AS h (migration_id, name, checksum, "
		    "phase, step_phase, step_index, state_id, generation) VALUES (%d, ",
		    w->migration_id);
	add_literal(&b, w->name ? w->name : "");
	mg_buf_adds(&b, ", ");
	if (w->checksum)
		add_literal(&b, w->checksum);
	else
		mg_buf_adds(&b, "NULL");
	mg_buf_adds(&b, ", ");
	add_literal(&b, w->phase);
	mg_buf_adds(&b, ", ");
	if (w->step_phase)
		add_literal(&b, w->step_phase);
	else
		mg_buf_adds(&b, "NULL");
	mg_buf_addf(&b, ", %d, ", w->step_index);
	add_literal(&b, w->state_id ? w->state_id : "");
	mg_buf_adds(&b, ", (SELECT coalesce(max(generation), 0) + 1 FROM " PGDRV_HISTORY ")) "
		    "ON CONFLICT (migration_id) DO UPDATE SET name = excluded.name, "
		    "checksum = excluded.checksum, phase = excluded.phase, "
		    "step_phase = excluded.step_phase, step_index = excluded.step_index, "
		    "state_id = excluded.state_id, generation = excluded.generation, "
		    "updated_at = now()");
	return mg_buf_detach(&b);
}

int pgdrv_history_read(struct mg_conn *c, struct mg_history *out,
		       struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	char *exists = NULL;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if (query_scalar(pc, "SELECT to_regclass('" PGDRV_HISTORY "')::text", &exists, err) < 0)
		return -1;
	if (!exists)
		return 0;
	free(exists);
	out->exists = 1;
	res = query_pc(pc, "SELECT migration_id, name, checksum, phase, step_phase, "
		       "step_index, state_id, generation FROM " PGDRV_HISTORY
		       " ORDER BY migration_id", err);
	if (!res)
		return -1;
	out->n = (size_t)PQntuples(res);
	out->rows = mg_xcalloc(out->n + 1, sizeof(*out->rows));
	for (size_t i = 0; i < out->n; i++) {
		struct mg_history_row *r = &out->rows[i];
		int row = (int)i;

		r->id = atoi(PQgetvalue(res, row, 0));
		r->name = mg_xstrdup(PQgetvalue(res, row, 1));
		r->checksum = PQgetisnull(res, row, 2) ? NULL : mg_xstrdup(PQgetvalue(res, row, 2));
		r->phase = mg_xstrdup(PQgetvalue(res, row, 3));
		r->step_phase = PQgetisnull(res, row, 4) ? NULL : mg_xstrdup(PQgetvalue(res, row, 4));
		r->step_index = atoi(PQgetvalue(res, row, 5));
		r->state_id = mg_xstrdup(PQgetvalue(res, row, 6));
		r->generation = strtoll(PQgetvalue(res, row, 7), NULL, 10);
		if (r->generation > out->generation)
			out->generation = r->generation;
	}
	PQclear(res);
	return 0;
}

int pgdrv_history_write(struct mg_conn *c, const struct mg_history_write *w,
			struct mg_err *err)
{
	struct pgdrv_conn *pc = downcast(c);
	char *up = history_upsert_sql(w);
	int rc;

	rc = exec_pc(pc, "BEGIN", err);
	if (!rc)
		rc = exec_pc(pc, history_ddl, err);
	if (!rc)
		rc = exec_pc(pc, up, err);
	if (!rc)
		rc = exec_pc(pc, "COMMIT", err);
	else {
		struct mg_err ignored = MG_ERR_INIT;

		exec_pc(pc, "ROLLBACK", &ignored);
	}
	free(up);
	if (rc)
		mg_err_prefix(err, "cannot write the history table: ");
	return rc;
}
