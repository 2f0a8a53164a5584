/*
 * keyset.c - integer key arithmetic for the drivers' backfill statements
 * (see keyset.h). The drivers had one copy each; the numbers must be the
 * same for every database, since a checkpointed key is resumed by them.
 */
#include <stdlib.h>
#include <strings.h>

#include "keyset.h"
#include "util.h"

int mg_keyset_integer(const struct mg_backfill_spec *s,
		      const char *const *int_types)
{
	if (s->n_keys != 1)
		return 0;
	for (const char *const *t = int_types; *t; t++)
		if (!strcasecmp(s->key_types[0], *t))
			return 1;
	return 0;
}

char **mg_keyset_span_upper(char *const *after_key, char *const *upto_key,
			    int batch_size)
{
	long long after = strtoll(after_key[0], NULL, 10);
	long long upto = strtoll(upto_key[0], NULL, 10);
	char **hi;

	if (upto - after <= batch_size)
		return NULL;
	hi = mg_xcalloc(2, sizeof(char *));
	hi[0] = mg_xasprintf("%lld", after + batch_size);
	return hi;
}

void mg_keyset_split_span(char *const *after_key, char *const *upto_key,
			  long long lo, int pieces, char ****bounds, size_t *n)
{
	long long a = after_key ? strtoll(after_key[0], NULL, 10) : lo - 1;
	long long u = strtoll(upto_key[0], NULL, 10);
	long long step = (u - a) / pieces;

	*n = 0;
	*bounds = mg_xcalloc((size_t)pieces + 1, sizeof(char **));
	for (int i = 1; i < pieces && step > 0; i++) {
		char **k = mg_xcalloc(2, sizeof(char *));

		k[0] = mg_xasprintf("%lld", a + step * i);
		(*bounds)[(*n)++] = k;
	}
}
