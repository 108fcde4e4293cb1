// The port data of bond and vrf masters; the kinds themselves register with
// the link codec from link_kinds.cc.
#pragma once

#include <string_view>

#include "attrs.h"

namespace rtnl {

// The port data (IFLA_INFO_SLAVE_DATA) of a master kind other than bridge.
struct PortKind {
  const char* kind;  // IFLA_INFO_SLAVE_KIND
  const char* key;   // the property of the decoded link that holds it
  const AttrTable* data;
};
const PortKind* findPortKind(std::string_view kind);

}  // namespace rtnl
