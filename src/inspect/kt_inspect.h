/* kt_inspect.h - the inspect engines: ls, cat, verify, prune (offline:
 * they need no cluster). Written against the archive, catalog and format
 * modules; prints nothing itself. */
#ifndef KT_INSPECT_H
#define KT_INSPECT_H

#include "kt_archive.h"

#endif
