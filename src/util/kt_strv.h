/* kt_strv.h - a growable array of owned strings (char **, count), as the
 * engines' results carry their warnings. The array and every string in it
 * belong to the array; kt_strv_free() releases them. */
#ifndef KT_STRV_H
#define KT_STRV_H

#include <stddef.h>

#include "kt_error.h"

/* Appends a copy of s. On KT_ERR_NOMEM the array is left as it was. */
enum kt_err kt_strv_push(char ***v, size_t *n, const char *s);
void kt_strv_free(char **v, size_t n);
/* Whether s is one of the n strings of v. */
int kt_strv_has(char *const *v, size_t n, const char *s);

#endif
