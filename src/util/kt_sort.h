/* kt_sort.h - qsort for arrays that may be empty. qsort's base must be a
 * valid pointer even when there are no elements (C17 7.22.5), and an empty
 * array here is often NULL, never allocated: UBSan stops on
 * qsort(NULL, 0, ...). Every sort in ktape goes through kt_sort. */
#ifndef KT_SORT_H
#define KT_SORT_H

#include <stdlib.h>

static inline void kt_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

#endif
