// Names the route codec defines and the rule and next-hop object codecs
// share: one table each, in codec_route.cc.
#pragma once

#include "attrs.h"

namespace rtnl {

Names routeProtocols();  // rtm_protocol, FRA_PROTOCOL, nh_protocol
Names routeTables();     // main, local, default
Names nexthopFlags();    // RTNH_F_*: rtnh_flags, nh_flags

// A name from names, or a raw number (tables and protocols take either).
inline uint32_t nameOrNumber(const Napi::Value& v, Names names, const char* key) {
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : enumValue(v, names, key);
}

}  // namespace rtnl
