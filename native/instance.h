// What one addon instance (one per JS environment: the main thread, each
// worker) keeps: the hook to the TS error class and the property-name cache.
#pragma once

#include <napi.h>

#include "keys.h"

namespace rtnl {

struct Instance {
  Napi::FunctionReference errorFactory;
  KeyCache keys;
};

}  // namespace rtnl
