#include "kt_inspect.h"
