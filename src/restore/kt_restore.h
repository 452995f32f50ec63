/* kt_restore.h - the restore engine. */
#ifndef KT_RESTORE_H
#define KT_RESTORE_H

#include "kt_archive.h"
#include "kt_kafka.h"

#endif
