/*
 * keyset.h - the arithmetic of a backfill key that is one integer column,
 * shared by the drivers: whether a key is one, where a batch of a given
 * number of keys ends, and where a key range is cut into parts for
 * parallel workers. Pure: no database, no I/O; which type names are
 * integers is the driver's to say.
 *
 * Keys are text, as every driver reads them from its server. Key arrays
 * returned here hold one malloc'd string and belong to the caller (free
 * the string, then the array).
 */
#ifndef MG_KEYSET_H
#define MG_KEYSET_H

#include <stddef.h>
#include "plan.h"

/* 1 when s's key is a single column whose type is one of int_types (a
 * NULL-terminated list of the driver's integer type names, compared
 * without regard to case), else 0. */
int mg_keyset_integer(const struct mg_backfill_spec *s,
		      const char *const *int_types);

/*
 * The key batch_size after after_key[0], as a key array, when upto_key[0]
 * is further than that: a batch of an integer key then reads the range
 * (after, after + batch_size] instead of counting batch_size rows. NULL
 * when upto_key is within batch_size (the batch ends at upto_key).
 */
char **mg_keyset_span_upper(char *const *after_key, char *const *upto_key,
			    int batch_size);

/*
 * Cut the integer key range (after_key, upto_key] into `pieces` parts of
 * equal width: *bounds gets the up to pieces - 1 cut points, ascending,
 * and *n their number (0 when the range is narrower than pieces).
 * after_key NULL: the range starts at lo (the smallest key). *bounds is
 * an array of *n key arrays, owned by the caller.
 */
void mg_keyset_split_span(char *const *after_key, char *const *upto_key,
			  long long lo, int pieces, char ****bounds, size_t *n);

#endif
