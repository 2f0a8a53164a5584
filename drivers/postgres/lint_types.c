/*
 * lint_types.c - what the PostgreSQL driver's lint reads in types and
 * expressions: a column type's hygiene flags (json, timestamp without time
 * zone, serial, char(n), 32-bit integers), whether ALTER COLUMN ... TYPE
 * rewrites the table or narrows the column, and calls of functions whose
 * result is not the same for every row or every run.
 */
#include "postgres/pg.h"
#include "postgres/pglint.h"

/* ---- reading a TypeName -------------------------------------------------- */

static int is(const struct pgdrv_lint_type *t, const char *base)
{
	return !t->schema && !strcmp(t->base, base);
}

/* Catalog names as PostgreSQL's format_type prints them. */
static const struct { const char *base, *shown; } shown_names[] = {
	{ "int2", "smallint" }, { "int4", "integer" }, { "int8", "bigint" },
	{ "float4", "real" }, { "float8", "double precision" },
	{ "bool", "boolean" }, { "bpchar", "character" },
	{ "varchar", "character varying" }, { "varbit", "bit varying" },
	{ "timestamp", "timestamp without time zone" },
	{ "timestamptz", "timestamp with time zone" },
	{ "time", "time without time zone" },
	{ "timetz", "time with time zone" },
	{ "char", "\"char\"" },
};

static void type_text(struct pgdrv_lint_type *t, const char *schema)
{
	struct mg_buf b = MG_BUF_INIT;
	const char *shown = t->base;
	const char *zone = NULL;

	for (size_t i = 0; i < sizeof(shown_names) / sizeof(shown_names[0]); i++)
		if (!t->schema && !strcmp(t->base, shown_names[i].base))
			shown = shown_names[i].shown;
	/* bpchar without a length has no limit: not character(1) */
	if (is(t, "bpchar") && !t->nmods)
		shown = "bpchar";
	/* timestamp(3) without time zone: the precision goes before. */
	if (!t->schema && !strncmp(shown, "time", 4) && strchr(shown, ' ')) {
		zone = strchr(shown, ' ');
		mg_buf_add(&b, shown, (size_t)(zone - shown));
	} else {
		if (schema)
			mg_buf_addf(&b, "%s.", schema);
		mg_buf_adds(&b, shown);
	}
	/* interval's modifiers are a field bitmask, not a length */
	if (t->nmods && strcmp(t->base, "interval")) {
		mg_buf_addf(&b, "(%ld", t->mods[0]);
		if (t->nmods > 1)
			mg_buf_addf(&b, ",%ld", t->mods[1]);
		mg_buf_addc(&b, ')');
	}
	if (zone)
		mg_buf_adds(&b, zone);
	for (int i = 0; i < t->array; i++)
		mg_buf_adds(&b, "[]");
	t->text = mg_buf_detach(&b);
}

void pgdrv_lint_type_read(json_t *tn, struct pgdrv_lint_type *out)
{
	json_t *names = json_object_get(tn, "names");
	size_t n = json_array_size(names);
	const char *schema = NULL, *base = NULL;
	size_t i;
	json_t *m;

	memset(out, 0, sizeof(*out));
	if (n >= 2)
		schema = pgdrv_lint_str(pgdrv_lint_node(json_array_get(names, n - 2),
						"String"), "sval");
	if (n >= 1)
		base = pgdrv_lint_str(pgdrv_lint_node(json_array_get(names, n - 1),
					      "String"), "sval");
	out->schema = schema && strcmp(schema, "pg_catalog");
	snprintf(out->base, sizeof(out->base), "%s", base ? base : "?");
	json_array_foreach(json_object_get(tn, "typmods"), i, m) {
		json_t *c = pgdrv_lint_node(m, "A_Const");

		if (out->nmods < 2 && c)
			out->mods[out->nmods++] = pgdrv_lint_int(
				json_object_get(c, "ival"), "ival", 0);
	}
	out->array = (int)json_array_size(json_object_get(tn, "arrayBounds"));
	if (pgdrv_lint_true(tn, "setof"))
		out->array = 0;
	type_text(out, out->schema ? schema : NULL);
}

void pgdrv_lint_type_release(struct pgdrv_lint_type *t)
{
	free(t->text);
	t->text = NULL;
}

static int is_any(const struct pgdrv_lint_type *t, const char *const *bases)
{
	for (; *bases; bases++)
		if (is(t, *bases))
			return 1;
	return 0;
}

static const char *const serial_types[] = {
	"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2",
	NULL
};
static const char *const small_ints[] = {
	"int4", "int2", "serial", "serial4", "smallserial", "serial2", NULL
};

/*
 * "char" in double quotes is PostgreSQL's one-byte internal type, not
 * char(n): it is not TYPE_CHAR (the parser reads it as the unqualified
 * name char, while char(n), character(n) and plain char become bpchar).
 */
unsigned pgdrv_lint_type_flags(const struct pgdrv_lint_type *t)
{
	unsigned f = 0;

	if (is(t, "json"))
		f |= MG_FACTF_TYPE_JSON;
	if (is(t, "timestamp"))
		f |= MG_FACTF_TYPE_TIMESTAMP;
	if (is_any(t, serial_types))
		f |= MG_FACTF_TYPE_SERIAL;
	if (is(t, "bpchar"))
		f |= MG_FACTF_TYPE_CHAR;
	if (is_any(t, small_ints))
		f |= MG_FACTF_TYPE_INT4;
	return f;
}

/* ---- ALTER COLUMN ... TYPE ----------------------------------------------- */

static const char *const string_types[] = { "text", "varchar", "bpchar",
					    "citext", NULL };

/* The decimal digits an integer type holds (0: not an integer). */
static int int_digits(const struct pgdrv_lint_type *t)
{
	if (is(t, "int2") || is(t, "smallserial") || is(t, "serial2"))
		return 5;
	if (is(t, "int4") || is(t, "serial") || is(t, "serial4"))
		return 10;
	if (is(t, "int8") || is(t, "bigserial") || is(t, "serial8"))
		return 19;
	return 0;
}

/* Digits before the point a numeric holds (1000: unconstrained). */
static long numeric_int_digits(const struct pgdrv_lint_type *t)
{
	if (!t->nmods)
		return 1000;
	return t->mods[0] - (t->nmods > 1 ? t->mods[1] : 0);
}

static long scale(const struct pgdrv_lint_type *t)
{
	return t->nmods > 1 ? t->mods[1] : 0;
}

/* A change PostgreSQL makes without touching the rows (binary-compatible
 * or a wider modifier): ATColumnChangeRequiresRewrite says no. */
static int keeps_rows(const struct pgdrv_lint_type *o,
		      const struct pgdrv_lint_type *n)
{
	if (o->array != n->array)
		return 0;
	if (!strcmp(o->base, n->base) && o->schema == n->schema) {
		if (!n->nmods)
			return 1;	/* varchar, numeric, timestamp: no limit */
		if (!o->nmods)
			return 0;
		if (is(n, "numeric"))
			return n->mods[0] >= o->mods[0] && scale(n) == scale(o);
		return n->mods[0] >= o->mods[0] && n->nmods == o->nmods;
	}
	if (is(n, "text") && (is(o, "varchar") || is(o, "citext")))
		return 1;
	if (is(n, "varchar") && !n->nmods && is(o, "text"))
		return 1;
	return is(o, "cidr") && is(n, "inet");
}

/* Fewer values fit in n than in o. */
static int narrows(const struct pgdrv_lint_type *o,
		   const struct pgdrv_lint_type *n)
{
	int od = int_digits(o), nd = int_digits(n);

	if (is_any(n, string_types) && !n->nmods)
		return 0;	/* every value has a text form */
	if (is_any(o, string_types))
		return !is_any(n, string_types) ||
		       (n->nmods && (!o->nmods || n->mods[0] < o->mods[0]));
	if (od && nd)
		return nd < od;
	if (od && is(n, "numeric"))
		return numeric_int_digits(n) < od;
	if (is(o, "numeric") && is(n, "numeric"))
		return numeric_int_digits(n) < numeric_int_digits(o) ||
		       (n->nmods && scale(n) < scale(o));
	if (is(o, "numeric") || is(o, "float8") || is(o, "float4"))
		return nd || (is(o, "float8") && is(n, "float4"));
	if (is(o, "timestamptz") || is(o, "timestamp"))
		return is(n, "date") || is(n, "time") || is(n, "timetz") ||
		       (!strcmp(o->base, n->base) && n->nmods &&
			(!o->nmods || n->mods[0] < o->mods[0]));
	if (is(o, "inet"))
		return is(n, "cidr");
	if (is(o, "jsonb") || is(o, "json"))
		return !is(n, "jsonb") && !is(n, "json");
	return 0;
}

/* The new types a binary-compatible change can produce: with the old type
 * unknown, a change to one of them is taken for a widening. */
static int maybe_keeps_rows(const struct pgdrv_lint_type *n)
{
	return !n->array && (is(n, "text") || is(n, "varchar") ||
			     is(n, "numeric") || is(n, "inet"));
}

unsigned pgdrv_lint_type_change(const struct pgdrv_lint_type *old,
				const struct pgdrv_lint_type *new_type, int using)
{
	unsigned f = 0;

	if (!old)
		return using || !maybe_keeps_rows(new_type) ? MG_FACTF_REWRITES
							     : 0;
	if (using || !keeps_rows(old, new_type))
		f |= MG_FACTF_REWRITES;
	if (narrows(old, new_type))
		f |= MG_FACTF_NARROWS | MG_FACTF_REWRITES;
	return f;
}

/* ---- columns declared earlier in the same text --------------------------- */

void pgdrv_lint_known_add(struct pgdrv_lint_walk *w, const char *table,
			  const char *column, json_t *type_name)
{
	struct pgdrv_lint_known *k;

	if (!table || !column || !type_name)
		return;
	w->known = mg_xrealloc(w->known, (w->nknown + 1) * sizeof(*w->known));
	k = &w->known[w->nknown++];
	k->table = mg_xstrdup(table);
	k->column = mg_xstrdup(column);
	pgdrv_lint_type_read(type_name, &k->type);
}

const struct pgdrv_lint_type *
pgdrv_lint_known_find(const struct pgdrv_lint_walk *w, const char *table,
		      const char *column)
{
	/* the latest declaration wins: a later ALTER TYPE records its own */
	for (size_t i = w->nknown; i-- > 0;)
		if (table && column && !strcmp(w->known[i].table, table) &&
		    !strcmp(w->known[i].column, column))
			return &w->known[i].type;
	return NULL;
}

void pgdrv_lint_known_release(struct pgdrv_lint_walk *w)
{
	for (size_t i = 0; i < w->nknown; i++) {
		free(w->known[i].table);
		free(w->known[i].column);
		pgdrv_lint_type_release(&w->known[i].type);
	}
	free(w->known);
	w->known = NULL;
	w->nknown = 0;
}

/* ---- volatile calls ------------------------------------------------------ */

/* VOLATILE in pg_proc: a column default calling one is evaluated per row,
 * so ADD COLUMN rewrites the table. */
static const char *const volatile_functions[] = {
	"random", "setseed", "clock_timestamp", "timeofday",
	"gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
	"uuid_generate_v4", "nextval", "setval", "pg_sleep", "currval",
	"lastval", NULL
};
/* STABLE (one value per statement, so a default costs no rewrite) but not
 * deterministic: two runs, or a trigger and a backfill, differ. */
static const char *const unstable_functions[] = {
	"now", "statement_timestamp", "transaction_timestamp",
	"txid_current", "pg_current_xact_id", NULL
};

static int listed(const char *name, const char *const *list)
{
	for (; name && *list; list++)
		if (!strcasecmp(name, *list))
			return 1;
	return 0;
}

/* The function a FuncCall or SQLValueFunction node calls, when it is one
 * of the lists; *is_volatile says which. */
static const char *called(const char *kind, json_t *node, int *is_volatile)
{
	static const char *const svf[] = {
		"SVFOP_CURRENT_DATE", "current_date",
		"SVFOP_CURRENT_TIME", "current_time",
		"SVFOP_CURRENT_TIME_N", "current_time",
		"SVFOP_CURRENT_TIMESTAMP", "current_timestamp",
		"SVFOP_CURRENT_TIMESTAMP_N", "current_timestamp",
		"SVFOP_LOCALTIME", "localtime",
		"SVFOP_LOCALTIME_N", "localtime",
		"SVFOP_LOCALTIMESTAMP", "localtimestamp",
		"SVFOP_LOCALTIMESTAMP_N", "localtimestamp",
	};
	const char *op, *name;
	json_t *names;

	*is_volatile = 0;
	if (!strcmp(kind, "SQLValueFunction")) {
		op = pgdrv_lint_str(node, "op");
		for (size_t i = 0; op && i < sizeof(svf) / sizeof(svf[0]); i += 2)
			if (!strcmp(op, svf[i]))
				return svf[i + 1];
		return NULL;
	}
	if (strcmp(kind, "FuncCall"))
		return NULL;
	names = json_object_get(node, "funcname");
	name = pgdrv_lint_str(pgdrv_lint_node(json_array_get(names,
			json_array_size(names) - 1), "String"), "sval");
	*is_volatile = listed(name, volatile_functions);
	return *is_volatile || listed(name, unstable_functions) ? name : NULL;
}

/* Walk v in document order; cb sees every call of the lists. jansson's
 * parser bounds the depth (2048), so the recursion is bounded too. */
static int walk_calls(json_t *v, int (*cb)(void *, const char *, int, long),
		      void *arg)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, val)
			if (walk_calls(val, cb, arg))
				return 1;
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, val) {
			int vol;
			const char *f = json_is_object(val)
						? called(key, val, &vol) : NULL;

			if (f && cb(arg, f, vol, pgdrv_lint_int(val, "location", -1)))
				return 1;
			if (walk_calls(val, cb, arg))
				return 1;
		}
	}
	return 0;
}

struct first_volatile {
	const char *name;
	long location;
};

static int take_first_volatile(void *arg, const char *f, int vol, long loc)
{
	struct first_volatile *fv = arg;

	if (!vol)
		return 0;
	fv->name = f;
	fv->location = loc;
	return 1;
}

const char *pgdrv_lint_volatile_call(json_t *expr, int *location)
{
	struct first_volatile fv = { NULL, -1 };

	walk_calls(expr, take_first_volatile, &fv);
	if (location)
		*location = (int)fv.location;
	return fv.name;
}

static int add_call(void *arg, const char *f, int vol, long loc)
{
	struct pgdrv_lint_walk *w = arg;

	pgdrv_lint_add(w, MG_FACT_VOLATILE_CALL,
		   vol ? MG_FACTF_VOLATILE_DEFAULT : 0, pgdrv_lint_offset(w, loc),
		   NULL, NULL, f);
	return 0;
}

void pgdrv_lint_volatile_facts(struct pgdrv_lint_walk *w, json_t *expr)
{
	walk_calls(expr, add_call, w);
}
