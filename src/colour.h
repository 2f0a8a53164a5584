/*
 * colour.h - colours, the readable window and the gates that follow from
 * them (design §2).
 *
 * A colour is alive while its registry state is live or standby, or while
 * the database shows sessions of its own matching its pattern, or when
 * those sessions cannot be seen: every doubt counts as alive. A session
 * that a retired colour's pattern and the pattern of a live or standby
 * colour registered after it both match is the newer colour's (the latest
 * registration is the operator's latest word on what runs). The gates
 * refuse (MG_EREFUSED) with every blocking colour, its app version, its
 * requirement, why it is alive and what the operator can do next; the
 * command logs the one refusal event.
 */
#ifndef MG_COLOUR_H
#define MG_COLOUR_H

#include "runner.h"

/* Schema versions an application may require now: [low, high]. */
struct mg_window {
	int low;	/* highest contracted id, 0 when none */
	int high;	/* highest id with every migration up to it switched */
};
void mg_window_compute(const struct mg_ctx *ctx, struct mg_window *w);

/*
 * 0 when schema version v is readable now; otherwise MG_EREFUSED in err
 * ("<what> refused: schema version 0004 is not readable: ...") with the
 * command(s) that would make it readable, and returns -1.
 */
int mg_window_require(const struct mg_ctx *ctx, int v, const char *what,
		      struct mg_err *err);

/* A place where some of a colour's own sessions are ("pooler
 * 127.0.0.1:6432": the driver's label, cut at 127 bytes) and how many. */
struct mg_place_sessions {
	char place[128];
	int64_t sessions;
};
#define MG_LIVENESS_PLACES 8

/* What a colour's liveness is made of. */
struct mg_liveness {
	int alive;
	int valid;		/* its required migration still has the checksum it recorded */
	int stale;		/* ttl set and the heartbeat is older */
	int64_t sessions;	/* its own matching sessions, which keep it alive;
				 * -1 unknown; 0 without a pattern */
	int64_t matching;	/* every session its pattern matches now, own or
				 * claimed; -1 unknown or no pattern */
	int64_t claimed;	/* of them, the sessions newer colours claim */
	char claimed_by[256];	/* those colours' names, ", "-separated */
	int64_t heartbeat_age_s;
	char reason[768];	/* "standby", "retired, but 3 sessions connected", ... */
	char unseen_hint[1024];	/* when its sessions cannot be seen (sessions -1):
				 * what makes them visible ("add the user to
				 * pgbouncer's stats_users ..."), "" otherwise */
	/* where its own sessions are (mg_liveness_set_places): the places
	 * with sessions, in the driver's order, when the URL names places
	 * besides the primary (standbys, poolers, replicas); none when it
	 * has no session, when they cannot be seen, or when the primary is
	 * the only place */
	struct mg_place_sessions places[MG_LIVENESS_PLACES];
	size_t n_places;
};

/*
 * l->places := the places of counts that hold sessions, when counts has
 * more than one place and l->sessions > 0; none otherwise. Past
 * MG_LIVENESS_PLACES - 1 places, the rest are summed as "other places".
 */
void mg_liveness_set_places(struct mg_liveness *l, const struct mg_place_counts *counts);

/* Append " (pooler 127.0.0.1:6432: 2)" or " (primary: 1, standby
 * 127.0.0.1:5433: 1)" to out: where l's own sessions are; nothing when
 * l has no places. */
void mg_liveness_add_places(struct mg_buf *out, const struct mg_liveness *l);

/* Evaluate c against the registry, the database's sessions and the clock. */
void mg_colour_liveness(struct mg_ctx *ctx, const struct mg_colour *c,
			struct mg_liveness *out);

/* The schema version as people read it: "0004_add_email" or "0 (before any migration)". */
char *mg_version_label(const struct mg_ctx *ctx, int v);

/*
 * Resolve a --requires argument: "0", "3", "0003" or "0003_name" naming a
 * known migration. MG_EINPUT naming the argument otherwise.
 */
int mg_version_parse(const struct mg_ctx *ctx, const char *arg, int *out,
		     struct mg_err *err);

/*
 * The gates' rules: an alive colour requiring schema version `requires`
 * blocks contract of migration m when it needs the old schema (requires
 * < m), and rollback of m when it needs m's new one (requires >= m).
 * Everything that names blocking colours (metrics, fleets) asks these.
 */
int mg_colour_blocks_contract(int requires, int m);
int mg_colour_blocks_rollback(int requires, int m);

/* Gates: 0 allowed, -1 refused (MG_EREFUSED) or error. */
int mg_gate_contract(struct mg_ctx *ctx, int m, struct mg_err *err);
int mg_gate_rollback(struct mg_ctx *ctx, int m, struct mg_err *err);
/* The contract gate without logging (status's "next:" line). */
int mg_gate_contract_preview(struct mg_ctx *ctx, int m, struct mg_err *err);

/*
 * For a colour that is not live: is switching traffic back to it safe now,
 * and until which step? A malloc'd sentence; *safe set to 1 or 0.
 */
char *mg_colour_switch_back(const struct mg_ctx *ctx, const struct mg_colour *c,
			    const struct mg_liveness *l, int *safe);

/*
 * "--match 'shop-blue-*' matches 3 sessions now" and the like, for register, set,
 * list and status: how many sessions the pattern matches and whose they
 * are. A malloc'd phrase.
 */
char *mg_colour_match_summary(const struct mg_colour *c, const struct mg_liveness *l);

/*
 * 0 when pattern is a usable --match glob; MG_EINPUT naming the option
 * otherwise: '%' (SQL LIKE's wildcard, literal in a glob, so that
 * 'shop-blue%' would match nothing) with the glob meant as the hint.
 * '_' is allowed: it is common in real names and literal in a glob.
 */
int mg_match_pattern_check(const char *pattern, struct mg_err *err);

/* "live", "standby", "retired"; 0 when s is none of them. */
int mg_colour_state_valid(const char *s);

/* The colour's registry record alone, the database not asked: the keys of
 * mg_colour_json that the state file holds (colour heartbeat). */
json_t *mg_colour_record_json(const struct mg_colour *c);

/* One colour as a JSON object (colour list, status). */
json_t *mg_colour_json(const struct mg_ctx *ctx, const struct mg_colour *c,
		       const struct mg_liveness *l);

/* The readable window as JSON: {"low": L, "high": H}. */
json_t *mg_window_json(const struct mg_ctx *ctx);

#endif
