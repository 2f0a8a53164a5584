/*
 * plan.c - building plans, and their JSON form in the state store.
 *
 * The recorded plan is what every phase after expand runs, so the JSON is
 * read strictly: an unknown step kind or phase, a field of the wrong type or
 * a newer document version refuses the whole plan rather than run part of
 * it. Absent and null strings are both NULL; the writer writes null.
 *
 *   {"version": 1,
 *    "phases": {"expand": [{"kind": "tx", "table": ..., "description": ...,
 *                           "sql": ..., "object": ...,
 *                           "options": ["allow_rebuild", ...]}, ...], ...},
 *    "backfills": [{"table": ..., "key_columns": [...], "key_types": [...],
 *                   "set_clause": ..., "marker": ..., "mismatch": ...,
 *                   "session_sql": ...}],
 *    "lossy": [...], "notes": [...],
 *    "rollback_refused": false, "rollback_refusal": null}
 */
#include "plan.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#define PLAN_JSON_VERSION 1

/* ---- names --------------------------------------------------------------- */

static const char *const phase_names[] = {
	[MG_PHASE_PENDING] = "pending",
	[MG_PHASE_EXPANDED] = "expanded",
	[MG_PHASE_BACKFILLED] = "backfilled",
	[MG_PHASE_SWITCHED] = "switched",
	[MG_PHASE_CONTRACTED] = "contracted",
};

static const char *const plan_phase_names[MG_PLAN_NPHASES] = {
	[MG_PLAN_EXPAND] = "expand",
	[MG_PLAN_BACKFILL] = "backfill",
	[MG_PLAN_SWITCH_READS] = "switch-reads",
	[MG_PLAN_CONTRACT] = "contract",
	[MG_PLAN_ROLLBACK] = "rollback",
};

static const char *const step_option_names[] = {
	"allow_rebuild",	/* MG_STEP_ALLOW_REBUILD */
	"allow_copy",		/* MG_STEP_ALLOW_COPY */
};

_Static_assert(sizeof(step_option_names) / sizeof(step_option_names[0]) == MG_STEP_OPTION_BITS,
	       "a name for every step option");

const char *mg_step_option_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(step_option_names) / sizeof(step_option_names[0]); i++)
		if (bit == 1u << i)
			return step_option_names[i];
	return NULL;
}

static const char *const step_kind_names[] = {
	[MG_STEP_TX] = "tx",
	[MG_STEP_NOTX] = "notx",
	[MG_STEP_ASSERT] = "assert",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const char *mg_phase_name(enum mg_phase p)
{
	if ((size_t)p >= ARRAY_SIZE(phase_names))
		return "unknown";
	return phase_names[p];
}

int mg_phase_parse(const char *s, enum mg_phase *out)
{
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < ARRAY_SIZE(phase_names); i++) {
		if (!strcmp(s, phase_names[i])) {
			*out = (enum mg_phase)i;
			return 0;
		}
	}
	return -1;
}

const char *mg_plan_phase_name(enum mg_plan_phase p)
{
	if ((size_t)p >= ARRAY_SIZE(plan_phase_names))
		return "unknown";
	return plan_phase_names[p];
}

/* ---- building ------------------------------------------------------------ */

void mg_plan_init(struct mg_plan *p)
{
	memset(p, 0, sizeof(*p));
}

static void free_strings(char **v, size_t n)
{
	size_t i;

	if (!v)		/* a half-read backfill has n_keys but no types */
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void backfill_release(struct mg_backfill_spec *b)
{
	free(b->table);
	free_strings(b->key_columns, b->n_keys);
	free_strings(b->key_types, b->n_keys);
	free(b->set_clause);
	free(b->marker);
	free(b->mismatch);
	free(b->session_sql);
}

void mg_plan_release(struct mg_plan *p)
{
	size_t ph, i;

	for (ph = 0; ph < MG_PLAN_NPHASES; ph++) {
		for (i = 0; i < p->n_steps[ph]; i++) {
			struct mg_step *st = &p->steps[ph][i];

			free(st->table);
			free(st->description);
			free(st->sql);
			free(st->object);
		}
		free(p->steps[ph]);
	}
	for (i = 0; i < p->n_backfills; i++)
		backfill_release(&p->backfills[i]);
	free(p->backfills);
	free_strings(p->lossy, p->n_lossy);
	free_strings(p->notes, p->n_notes);
	free(p->rollback_refusal);
	mg_plan_init(p);
}

struct mg_step *mg_plan_add_step(struct mg_plan *p, enum mg_plan_phase phase,
				 enum mg_step_kind kind, const char *table,
				 const char *description, const char *sql,
				 const char *object)
{
	struct mg_step *st;

	MG_ALLOC_GROW(p->steps[phase], p->n_steps[phase] + 1,
		      p->alloc_steps[phase]);
	st = &p->steps[phase][p->n_steps[phase]++];
	st->kind = kind;
	st->options = 0;
	st->table = mg_xstrdup(table);
	st->description = mg_xstrdup(description);
	st->sql = mg_xstrdup(sql);
	st->object = mg_xstrdup(object);
	return st;
}

/* The returned pointer is valid until the next mg_plan_add_backfill. */
struct mg_backfill_spec *mg_plan_add_backfill(struct mg_plan *p)
{
	struct mg_backfill_spec *b;

	MG_ALLOC_GROW(p->backfills, p->n_backfills + 1, p->alloc_backfills);
	b = &p->backfills[p->n_backfills++];
	memset(b, 0, sizeof(*b));
	return b;
}

/* lossy and notes have no alloc count: they stay short, grow one by one. */
static void push_string(char ***v, size_t *n, const char *text)
{
	*v = mg_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = mg_xstrdup(text ? text : "");
}

void mg_plan_add_lossy(struct mg_plan *p, const char *text)
{
	push_string(&p->lossy, &p->n_lossy, text);
}

void mg_plan_add_note(struct mg_plan *p, const char *text)
{
	push_string(&p->notes, &p->n_notes, text);
}

/* ---- to JSON ------------------------------------------------------------- */

/*
 * jansson refuses strings that are not UTF-8 (json_string returns NULL);
 * the writer then fails as a whole instead of recording a plan that lost a
 * field. Our inputs are UTF-8 already (libyaml checks the migration files).
 */
struct writer {
	int bad;
};

static json_t *jstr(struct writer *w, const char *s)
{
	json_t *v;

	if (!s)
		return json_null();
	v = json_string(s);
	if (!v) {
		w->bad = 1;
		return json_null();
	}
	return v;
}

static void set(struct writer *w, json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) != 0)
		w->bad = 1;
}

static void append(struct writer *w, json_t *arr, json_t *v)
{
	if (!v || json_array_append_new(arr, v) != 0)
		w->bad = 1;
}

static json_t *jstrings(struct writer *w, char *const *v, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		append(w, arr, jstr(w, v[i]));
	return arr;
}

static json_t *step_to_json(struct writer *w, const struct mg_step *st)
{
	json_t *o = json_object();
	const char *kind = (size_t)st->kind < ARRAY_SIZE(step_kind_names) ?
		step_kind_names[st->kind] : NULL;

	if (!kind)
		w->bad = 1;
	set(w, o, "kind", jstr(w, kind));
	set(w, o, "table", jstr(w, st->table));
	set(w, o, "description", jstr(w, st->description));
	set(w, o, "sql", jstr(w, st->sql));
	set(w, o, "object", jstr(w, st->object));
	if (st->options) {	/* absent when 0: older plans stay the same text */
		json_t *opts = json_array();
		size_t i;

		for (i = 0; i < ARRAY_SIZE(step_option_names); i++)
			if (st->options & (1u << i))
				append(w, opts, jstr(w, step_option_names[i]));
		if (st->options >> ARRAY_SIZE(step_option_names))
			w->bad = 1;
		set(w, o, "options", opts);
	}
	return o;
}

static json_t *backfill_to_json(struct writer *w,
				const struct mg_backfill_spec *b)
{
	json_t *o = json_object();

	set(w, o, "table", jstr(w, b->table));
	set(w, o, "key_columns", jstrings(w, b->key_columns, b->n_keys));
	set(w, o, "key_types", jstrings(w, b->key_types, b->n_keys));
	set(w, o, "set_clause", jstr(w, b->set_clause));
	set(w, o, "marker", jstr(w, b->marker));
	set(w, o, "mismatch", jstr(w, b->mismatch));
	set(w, o, "session_sql", jstr(w, b->session_sql));
	return o;
}

/*
 * Returns a malloc'd string (free()), or NULL when a string in the plan is
 * not valid UTF-8.
 */
char *mg_plan_to_json(const struct mg_plan *p)
{
	struct writer w = { 0 };
	json_t *doc = json_object(), *phases = json_object(), *arr;
	char *text = NULL, *out = NULL;
	size_t ph, i;

	if (!doc || !phases)
		abort();
	set(&w, doc, "version", json_integer(PLAN_JSON_VERSION));
	for (ph = 0; ph < MG_PLAN_NPHASES; ph++) {
		arr = json_array();
		for (i = 0; i < p->n_steps[ph]; i++)
			append(&w, arr, step_to_json(&w, &p->steps[ph][i]));
		set(&w, phases, plan_phase_names[ph], arr);
	}
	set(&w, doc, "phases", phases);
	arr = json_array();
	for (i = 0; i < p->n_backfills; i++)
		append(&w, arr, backfill_to_json(&w, &p->backfills[i]));
	set(&w, doc, "backfills", arr);
	set(&w, doc, "lossy", jstrings(&w, p->lossy, p->n_lossy));
	set(&w, doc, "notes", jstrings(&w, p->notes, p->n_notes));
	set(&w, doc, "rollback_refused", json_boolean(p->rollback_refused));
	set(&w, doc, "rollback_refusal", jstr(&w, p->rollback_refusal));

	if (!w.bad) {
		text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!text)
			abort();	/* jansson fails only for want of memory */
		/* ours, so the caller's free() matches our allocator */
		out = mg_xstrdup(text);
		free(text);
	}
	json_decref(doc);
	return out;
}

/* ---- from JSON ----------------------------------------------------------- */

static int bad_plan(struct mg_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int bad_plan(struct mg_err *err, const char *fmt, ...)
{
	struct mg_buf b = MG_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	mg_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	mg_err_set(err, MG_EDB, "recorded plan cannot be read: %s", b.buf);
	mg_buf_release(&b);
	return mg_err_hint(err,
			   "the state file was written by another migrate version: use that version, or a newer one");
}

/* Absent or null: NULL. Otherwise it must be a string. */
static int get_str(json_t *obj, const char *key, const char *where,
		   char **out, struct mg_err *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad_plan(err, "%s.%s is not a string", where, key);
	*out = mg_xstrndup(json_string_value(v), json_string_length(v));
	return 0;
}

/* An array of strings (absent: empty); *out holds *n owned strings. */
static int get_strings(json_t *obj, const char *key, const char *where,
		       char ***out, size_t *n, struct mg_err *err)
{
	json_t *arr = json_object_get(obj, key), *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return bad_plan(err, "%s.%s is not an array", where, key);
	json_array_foreach(arr, i, v)
		if (!json_is_string(v))
			return bad_plan(err, "%s.%s holds a value that is not a string",
					where, key);
	*n = json_array_size(arr);
	if (*n)
		*out = mg_xcalloc(*n, sizeof(**out));
	json_array_foreach(arr, i, v)
		(*out)[i] = mg_xstrndup(json_string_value(v),
					json_string_length(v));
	return 0;
}

/* "options": an array of known option names (absent or null: none). */
static int step_options_from_json(struct mg_step *st, json_t *o,
				  const char *where, struct mg_err *err)
{
	json_t *arr = json_object_get(o, "options"), *v;
	size_t i, k;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return bad_plan(err, "%s.options is not an array", where);
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			return bad_plan(err, "%s.options holds a value that is not a string",
					where);
		for (k = 0; k < ARRAY_SIZE(step_option_names); k++)
			if (!strcmp(json_string_value(v), step_option_names[k]))
				break;
		if (k == ARRAY_SIZE(step_option_names))
			return bad_plan(err, "%s has unknown step option '%s'", where,
					json_string_value(v));
		st->options |= 1u << k;
	}
	return 0;
}

static int step_from_json(struct mg_plan *p, enum mg_plan_phase ph, json_t *o,
			  const char *where, struct mg_err *err)
{
	json_t *kind = json_object_get(o, "kind");
	struct mg_step *st;
	size_t k;

	if (!json_is_object(o))
		return bad_plan(err, "%s is not an object", where);
	if (!json_is_string(kind))
		return bad_plan(err, "%s has no kind", where);
	for (k = 0; k < ARRAY_SIZE(step_kind_names); k++)
		if (!strcmp(json_string_value(kind), step_kind_names[k]))
			break;
	if (k == ARRAY_SIZE(step_kind_names))
		return bad_plan(err, "%s has unknown step kind '%s'", where,
				json_string_value(kind));
	st = mg_plan_add_step(p, ph, (enum mg_step_kind)k, NULL, NULL, NULL,
			      NULL);
	if (get_str(o, "table", where, &st->table, err) < 0 ||
	    get_str(o, "description", where, &st->description, err) < 0 ||
	    get_str(o, "sql", where, &st->sql, err) < 0 ||
	    get_str(o, "object", where, &st->object, err) < 0)
		return -1;
	return step_options_from_json(st, o, where, err);
}

static int backfill_from_json(struct mg_plan *p, json_t *o, const char *where,
			      struct mg_err *err)
{
	struct mg_backfill_spec *b;
	char **types = NULL;
	size_t n_types = 0;

	if (!json_is_object(o))
		return bad_plan(err, "%s is not an object", where);
	b = mg_plan_add_backfill(p);
	if (get_str(o, "table", where, &b->table, err) < 0 ||
	    get_strings(o, "key_columns", where, &b->key_columns, &b->n_keys,
			err) < 0)
		return -1;
	if (get_strings(o, "key_types", where, &types, &n_types, err) < 0)
		return -1;
	if (n_types != b->n_keys) {
		free_strings(types, n_types);
		return bad_plan(err,
				"%s has key_types and key_columns of different lengths",
				where);
	}
	b->key_types = types;
	if (get_str(o, "set_clause", where, &b->set_clause, err) < 0 ||
	    get_str(o, "marker", where, &b->marker, err) < 0 ||
	    get_str(o, "mismatch", where, &b->mismatch, err) < 0 ||
	    get_str(o, "session_sql", where, &b->session_sql, err) < 0)
		return -1;
	return 0;
}

static int plan_from_doc(struct mg_plan *p, json_t *doc, struct mg_err *err)
{
	json_t *version, *phases, *arr, *v;
	const char *key;
	char where[64];
	size_t ph, i;

	if (!json_is_object(doc))
		return bad_plan(err, "the document is not an object");
	version = json_object_get(doc, "version");
	if (!json_is_integer(version))
		return bad_plan(err, "no version field");
	if (json_integer_value(version) != PLAN_JSON_VERSION) {
		return bad_plan(err,
				"plan version %lld is not the one this migrate understands (%d)",
				(long long)json_integer_value(version),
				PLAN_JSON_VERSION);
	}

	phases = json_object_get(doc, "phases");
	if (phases && !json_is_object(phases))
		return bad_plan(err, "phases is not an object");
	json_object_foreach(phases, key, arr) {
		for (ph = 0; ph < MG_PLAN_NPHASES; ph++)
			if (!strcmp(key, plan_phase_names[ph]))
				break;
		if (ph == MG_PLAN_NPHASES)
			return bad_plan(err, "unknown phase '%s'", key);
		if (json_is_null(arr))
			continue;
		if (!json_is_array(arr))
			return bad_plan(err, "phases.%s is not an array", key);
		json_array_foreach(arr, i, v) {
			snprintf(where, sizeof(where), "phases.%s[%zu]", key, i);
			if (step_from_json(p, (enum mg_plan_phase)ph, v, where,
					   err) < 0)
				return -1;
		}
	}

	arr = json_object_get(doc, "backfills");
	if (arr && !json_is_null(arr) && !json_is_array(arr))
		return bad_plan(err, "backfills is not an array");
	json_array_foreach(arr, i, v) {
		snprintf(where, sizeof(where), "backfills[%zu]", i);
		if (backfill_from_json(p, v, where, err) < 0)
			return -1;
	}

	if (get_strings(doc, "lossy", "plan", &p->lossy, &p->n_lossy, err) < 0 ||
	    get_strings(doc, "notes", "plan", &p->notes, &p->n_notes, err) < 0)
		return -1;

	v = json_object_get(doc, "rollback_refused");
	if (v && !json_is_null(v) && !json_is_boolean(v))
		return bad_plan(err, "rollback_refused is not a boolean");
	p->rollback_refused = json_is_true(v);
	return get_str(doc, "rollback_refusal", "plan", &p->rollback_refusal,
		       err);
}

int mg_plan_from_json(struct mg_plan *out, const char *json, struct mg_err *err)
{
	json_error_t jerr;
	json_t *doc;
	int ret;

	mg_plan_init(out);
	if (!json)
		return bad_plan(err, "no plan recorded");
	doc = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		return bad_plan(err, "invalid JSON at line %d column %d: %s",
				jerr.line, jerr.column, jerr.text);
	}
	ret = plan_from_doc(out, doc, err);
	json_decref(doc);
	if (ret < 0)
		mg_plan_release(out);
	return ret;
}
