#include "kt_restore.h"
