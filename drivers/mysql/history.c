/*
 * history.c - the MySQL and MariaDB driver: the history table (_migrate_history).
 */
#include "my.h"

/* ==== the history table ======================================================== */

/*
 * The same table and rows as the PostgreSQL driver's public._migrate_history,
 * in the connection's database: one row per migration, row 0
 * (MG_REGISTRY_ID) for the colour registry, and a generation that grows by
 * one per write across the table. InnoDB, so a write and (later) a step's
 * bookkeeping commit or roll back together; utf8mb4_bin, so names compare
 * byte for byte as they do on PostgreSQL.
 */
static const char history_ddl[] =
	"CREATE TABLE IF NOT EXISTS " MYDRV_HISTORY " ("
	"migration_id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
	"checksum VARCHAR(128) NULL, phase VARCHAR(32) NOT NULL, "
	"step_phase VARCHAR(32) NULL, step_index INT NOT NULL DEFAULT 0, "
	"state_id VARCHAR(64) NOT NULL, generation BIGINT NOT NULL, "
	"updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

const char history_exists_sql[] =
	"SELECT COUNT(*) FROM information_schema.TABLES "
	"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '_migrate_history'";

static void add_literal_or_null(struct mydrv_conn *mc, struct mg_buf *b, const char *s)
{
	if (s)
		add_literal(mc, b, s);
	else
		mg_buf_adds(b, "NULL");
}

/*
 * One statement that inserts or updates row w->migration_id with the
 * highest generation + 1. INSERT ... SELECT from the table itself is
 * allowed (MySQL reads it first); VALUES() is deprecated on MySQL 8.0.20+
 * but is the spelling both servers accept.
 */
char *history_upsert_sql(struct mydrv_conn *mc, const struct mg_history_write *w)
{
	struct mg_buf b = MG_BUF_INIT;

	mg_buf_addf(&b, "INSERT INTO " MYDRV_HISTORY " (migration_id, name, checksum, "
		    "phase, step_phase, step_index, state_id, generation) SELECT %d, ",
		    w->migration_id);
	add_literal(mc, &b, w->name ? w->name : "");
	mg_buf_adds(&b, ", ");
	add_literal_or_null(mc, &b, w->checksum);
	mg_buf_adds(&b, ", ");
	add_literal(mc, &b, w->phase);
	mg_buf_adds(&b, ", ");
	add_literal_or_null(mc, &b, w->step_phase);
	mg_buf_addf(&b, ", %d, ", w->step_index);
	add_literal(mc, &b, w->state_id ? w->state_id : "");
	mg_buf_adds(&b, ", COALESCE(MAX(h.generation), 0) + 1 FROM " MYDRV_HISTORY " h "
		    "ON DUPLICATE KEY UPDATE name = VALUES(name), checksum = VALUES(checksum), "
		    "phase = VALUES(phase), step_phase = VALUES(step_phase), "
		    "step_index = VALUES(step_index), state_id = VALUES(state_id), "
		    "generation = VALUES(generation), updated_at = CURRENT_TIMESTAMP(6)");
	return mg_buf_detach(&b);
}

int mydrv_history_read(struct mg_conn *c, struct mg_history *out,
		       struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	struct mg_rows r = MG_ROWS_INIT;
	int64_t exists = 0;

	memset(out, 0, sizeof(*out));
	if (query_int(mc, history_exists_sql, &exists, err) < 0)
		return -1;
	if (!exists)
		return 0;
	out->exists = 1;
	if (query_mc(mc, "SELECT migration_id, name, checksum, phase, step_phase, "
		     "step_index, state_id, generation FROM " MYDRV_HISTORY
		     " ORDER BY migration_id", &r, err) < 0)
		return -1;
	out->n = r.nrows;
	out->rows = mg_xcalloc(out->n + 1, sizeof(*out->rows));
	for (size_t i = 0; i < out->n; i++) {
		struct mg_history_row *h = &out->rows[i];
		const char *step_index = mg_rows_get(&r, i, 5);
		const char *generation = mg_rows_get(&r, i, 7);

		h->id = atoi(mg_rows_get(&r, i, 0));
		h->name = mg_xstrdup(mg_rows_get(&r, i, 1));
		h->checksum = mg_xstrdup(mg_rows_get(&r, i, 2));
		h->phase = mg_xstrdup(mg_rows_get(&r, i, 3));
		h->step_phase = mg_xstrdup(mg_rows_get(&r, i, 4));
		h->step_index = step_index ? atoi(step_index) : 0;
		h->state_id = mg_xstrdup(mg_rows_get(&r, i, 6));
		h->generation = generation ? strtoll(generation, NULL, 10) : 0;
		if (h->generation > out->generation)
			out->generation = h->generation;
	}
	mg_rows_release(&r);
	return 0;
}

/*
 * Create the table when it is missing, then upsert in a transaction of its
 * own. MySQL commits implicitly before and after DDL, so CREATE TABLE
 * cannot share the transaction as on PostgreSQL; it runs only when the
 * table is missing, so a role without CREATE can keep writing once the
 * table exists.
 */
int mydrv_history_write(struct mg_conn *c, const struct mg_history_write *w,
			struct mg_err *err)
{
	struct mydrv_conn *mc = downcast(c);
	char *up = history_upsert_sql(mc, w);
	int64_t exists = 0;
	int rc;

	rc = query_int(mc, history_exists_sql, &exists, err);
	if (!rc && !exists)
		rc = exec_mc(mc, history_ddl, err);
	if (!rc)
		rc = exec_mc(mc, "START TRANSACTION", err);
	if (!rc) {
		rc = exec_mc(mc, up, err);
		if (!rc)
			rc = exec_mc(mc, "COMMIT", err);
		if (rc) {
			struct mg_err ignored = MG_ERR_INIT;

			exec_mc(mc, "ROLLBACK", &ignored);
		}
	}
	free(up);
	if (rc)
		mg_err_prefix(err, "cannot write the history table: ");
	return rc;
}
