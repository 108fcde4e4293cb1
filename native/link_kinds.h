// Kind data of bond, vrf, geneve, the GRE and IP-in-IP tunnels and tun
// (decoded only: the kernel creates tun/tap through /dev/net/tun), and the
// port data of bond and vrf masters. codec_link.cc lists them in its kinds.
#pragma once

#include <string_view>

#include "attrs.h"

namespace rtnl {

extern const AttrTable kBond, kVrf, kGeneve, kTun;
// GRE: the keys, then (encodeGreFlags) IFLAGS/OFLAGS, then the rest, per address family.
extern const AttrTable kGreKeys, kGre, kGre6;
extern const AttrTable kIpTunnel;  // ipip and sit

// IFLA_GRE_IFLAGS/OFLAGS from ikey/icsum/iseq and okey/ocsum/oseq: a
// direction's flags are sent when any of its three is given.
void encodeGreFlags(const Napi::Object& arg, MsgWriter& w);
// icsum/iseq/ocsum/oseq from the flags; a key the flags do not use is dropped.
void decodeGreFlags(Napi::Env env, Attrs data, ObjBuilder& out);

// The port data (IFLA_INFO_SLAVE_DATA) of a master kind other than bridge.
struct PortKind {
  const char* kind;  // IFLA_INFO_SLAVE_KIND
  const char* key;   // the property of the decoded link that holds it
  const AttrTable* data;
};
const PortKind* findPortKind(std::string_view kind);

}  // namespace rtnl
