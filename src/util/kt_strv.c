#include "kt_strv.h"

#include <stdlib.h>
#include <string.h>

enum kt_err kt_strv_push(char ***v, size_t *n, const char *s)
{
	char *copy = strdup(s);
	char **grown = copy ? realloc(*v, (*n + 1) * sizeof(*grown)) : NULL;
	if (!grown) {
		free(copy);
		return KT_ERR_NOMEM;
	}
	grown[(*n)++] = copy;
	*v = grown;
	return KT_OK;
}

void kt_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int kt_strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}
