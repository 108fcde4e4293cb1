// Placeholder: filled in by its owner.
#include "ops.h"
