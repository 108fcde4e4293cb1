// RTM_{NEW,DEL,GET}ROUTE: IPv4 and IPv6 routes in any table, with gateways
// of either family (RTA_VIA), metrics (RTA_METRICS) and multipath next hops
// (RTA_MULTIPATH), plus the kernel's own lookup (route get).
#include <linux/icmpv6.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "attrs.h"
#include "ops.h"
#include "route_names.h"

namespace rtnl {

namespace {

const EnumName kTypes[] = {{RTN_UNSPEC, "unspec"}, {RTN_UNICAST, "unicast"}, {RTN_LOCAL, "local"},
                           {RTN_BROADCAST, "broadcast"}, {RTN_ANYCAST, "anycast"}, {RTN_MULTICAST, "multicast"},
                           {RTN_BLACKHOLE, "blackhole"}, {RTN_UNREACHABLE, "unreachable"},
                           {RTN_PROHIBIT, "prohibit"}, {RTN_THROW, "throw"}, {RTN_NAT, "nat"},
                           {RTN_XRESOLVE, "xresolve"}};

// As iproute2's rt_protos names them.
const EnumName kProtocols[] = {{RTPROT_UNSPEC, "unspec"}, {RTPROT_REDIRECT, "redirect"}, {RTPROT_KERNEL, "kernel"},
                               {RTPROT_BOOT, "boot"}, {RTPROT_STATIC, "static"}, {RTPROT_GATED, "gated"},
                               {RTPROT_RA, "ra"}, {RTPROT_MRT, "mrt"}, {RTPROT_ZEBRA, "zebra"},
                               {RTPROT_BIRD, "bird"}, {RTPROT_DNROUTED, "dnrouted"}, {RTPROT_XORP, "xorp"},
                               {RTPROT_NTK, "ntk"}, {RTPROT_DHCP, "dhcp"}, {RTPROT_MROUTED, "mrouted"},
                               {RTPROT_KEEPALIVED, "keepalived"}, {RTPROT_BABEL, "babel"},
                               {RTPROT_OPENR, "openr"}, {RTPROT_BGP, "bgp"}, {RTPROT_ISIS, "isis"},
                               {RTPROT_OSPF, "ospf"}, {RTPROT_RIP, "rip"}, {RTPROT_EIGRP, "eigrp"}};

const EnumName kTables[] = {{RT_TABLE_MAIN, "main"}, {RT_TABLE_LOCAL, "local"}, {RT_TABLE_DEFAULT, "default"}};

// Next-hop flags (rtnh_flags, and the low byte of rtm_flags) then route-only flags.
const EnumName kNhFlags[] = {{RTNH_F_DEAD, "dead"}, {RTNH_F_PERVASIVE, "pervasive"}, {RTNH_F_ONLINK, "onlink"},
                             {RTNH_F_OFFLOAD, "offload"}, {RTNH_F_LINKDOWN, "linkdown"},
                             {RTNH_F_UNRESOLVED, "unresolved"}, {RTNH_F_TRAP, "trap"}};
const EnumName kRouteFlags[] = {{RTNH_F_DEAD, "dead"}, {RTNH_F_PERVASIVE, "pervasive"}, {RTNH_F_ONLINK, "onlink"},
                                {RTNH_F_OFFLOAD, "offload"}, {RTNH_F_LINKDOWN, "linkdown"},
                                {RTNH_F_UNRESOLVED, "unresolved"}, {RTNH_F_TRAP, "trap"},
                                {RTM_F_NOTIFY, "notify"}, {RTM_F_CLONED, "cloned"}, {RTM_F_EQUALIZE, "equalize"},
                                {RTM_F_PREFIX, "prefix"}, {RTM_F_OFFLOAD_FAILED, "offload_failed"}};

const AttrTable kMetrics{
    {"mtu", RTAX_MTU, Wire::U32},           {"window", RTAX_WINDOW, Wire::U32},
    {"rtt", RTAX_RTT, Wire::U32},           {"rttvar", RTAX_RTTVAR, Wire::U32},
    {"ssthresh", RTAX_SSTHRESH, Wire::U32}, {"cwnd", RTAX_CWND, Wire::U32},
    {"advmss", RTAX_ADVMSS, Wire::U32},     {"reordering", RTAX_REORDERING, Wire::U32},
    {"hoplimit", RTAX_HOPLIMIT, Wire::U32}, {"initcwnd", RTAX_INITCWND, Wire::U32},
    {"features", RTAX_FEATURES, Wire::U32}, {"rtoMin", RTAX_RTO_MIN, Wire::U32},
    {"initrwnd", RTAX_INITRWND, Wire::U32}, {"quickack", RTAX_QUICKACK, Wire::U32},
    {.key = "congctl", .type = RTAX_CC_ALGO, .wire = Wire::Str, .max = 15},  // TCP_CA_NAME_MAX - 1
    {"fastopenNoCookie", RTAX_FASTOPEN_NO_COOKIE, Wire::U32},
};

// IPv6 router preference (RTA_PREF).
const EnumName kPrefs[] = {{ICMPV6_ROUTER_PREF_LOW, "low"}, {ICMPV6_ROUTER_PREF_MEDIUM, "medium"},
                           {ICMPV6_ROUTER_PREF_HIGH, "high"}};

// The attributes read as they are; the rest needs the family or a struct.
const AttrTable kRoute{
    ifindexAttr("link", RTA_OIF),
    {"priority", RTA_PRIORITY, Wire::U32},
    {"prefsrc", RTA_PREFSRC, Wire::Ip},
    {"pref", RTA_PREF, Wire::Enum, 0, kPrefs, 1},
    {.key = "nhid", .type = RTA_NH_ID, .wire = Wire::U32, .min = 1},
};
// Reported only (route get).
const AttrTable kRouteState{
    {"iif", RTA_IIF, Wire::U32},
    {"mark", RTA_MARK, Wire::U32},
};

size_t addrLen(int fam) { return fam == AF_INET ? 4 : 16; }

// A gateway of the route's own family is RTA_GATEWAY; of the other family
// (IPv4 over an IPv6 next hop) it is RTA_VIA with struct rtvia. fam: the
// gateway's, 0 for none.
void putGateway(MsgWriter& w, const uint8_t ip[16], int fam, int routeFam) {
  if (!fam) return;
  if (fam == routeFam) return w.put(RTA_GATEWAY, ip, addrLen(fam));
  uint8_t via[sizeof(rtvia) + 16];
  auto* rv = reinterpret_cast<rtvia*>(via);
  rv->rtvia_family = fam;
  std::memcpy(rv->rtvia_addr, ip, addrLen(fam));
  w.put(RTA_VIA, via, sizeof(rtvia) + addrLen(fam));
}

void putPrefix(Encoder& enc, const Arg& arg, const char* key, const char* lenKey, uint16_t type, uint8_t& len, int fam) {
  uint8_t ip[16];
  if (!parseIp(get(arg, key), ip)) return;  // absent
  len = static_cast<uint8_t>(u32(arg, lenKey));
  enc.w.put(type, ip, addrLen(fam));
}

uint8_t nhFlags(const Napi::Object& o) { return has(o, "flags") ? flagBits(get(o, "flags"), kNhFlags, "flags") : 0; }

void putMultipath(Encoder& enc, const Napi::Array& hops, int fam) {
  size_t mp = enc.w.nestBegin(RTA_MULTIPATH);  // holds rtnexthop structs, not attributes
  for (uint32_t i = 0; i < hops.Length(); i++) {
    Napi::Object nh = hops.Get(i).As<Napi::Object>();
    size_t at = enc.w.bytes().size();
    auto* rtnh = enc.w.putStruct<rtnexthop>();
    rtnh->rtnh_flags = nhFlags(nh);
    rtnh->rtnh_hops = has(nh, "weight") ? u32(nh, "weight") - 1 : 0;  // the kernel stores weight - 1
    rtnh->rtnh_ifindex = has(nh, "link") ? u32(nh, "link") : 0;
    uint8_t gw[16];
    putGateway(enc.w, gw, parseIp(get(nh, "gateway"), gw), fam);
    reinterpret_cast<rtnexthop*>(enc.w.bytes().data() + at)->rtnh_len =
        static_cast<uint16_t>(enc.w.bytes().size() - at);
  }
  enc.w.nestEnd(mp);
}

// rtmsg + attributes for new/replace/append/delete. Defaults follow
// iproute2: a new route is 'boot', 'unicast', in main, with a scope that
// fits its type; a delete leaves type, protocol and scope as wildcards.
void encodeRoute(Encoder& enc, const Arg& arg, uint16_t type, uint16_t flags) {
  auto* rtm = enc.w.begin<rtmsg>(type, flags, enc.seq);
  rtmsg m{};
  int fam = familyArg(arg);
  bool del = type == RTM_DELROUTE;
  m.rtm_family = fam;
  m.rtm_table = RT_TABLE_MAIN;
  m.rtm_scope = RT_SCOPE_NOWHERE;
  if (!del) {
    m.rtm_protocol = RTPROT_BOOT;
    m.rtm_type = RTN_UNICAST;
  }
  Napi::Value v;
  if (!(v = get(arg, "type")).IsUndefined()) m.rtm_type = nameOrNumber(v, kTypes, "type");
  if (!(v = get(arg, "protocol")).IsUndefined()) m.rtm_protocol = nameOrNumber(v, kProtocols, "protocol");
  if (!(v = get(arg, "tos")).IsUndefined()) m.rtm_tos = v.As<Napi::Number>().Uint32Value();
  if (!(v = get(arg, "flags")).IsUndefined()) m.rtm_flags = flagBits(v, kNhFlags, "flags");
  putPrefix(enc, arg, "dst", "dstLen", RTA_DST, m.rtm_dst_len, fam);
  putPrefix(enc, arg, "src", "srcLen", RTA_SRC, m.rtm_src_len, fam);
  if (!(v = get(arg, "table")).IsUndefined()) {
    uint32_t t = nameOrNumber(v, kTables, "table");
    // Ids that fit rtm_table go there; larger ones only in RTA_TABLE.
    if (t < 256) m.rtm_table = t;
    else {
      m.rtm_table = RT_TABLE_UNSPEC;
      enc.w.put<uint32_t>(RTA_TABLE, t);
    }
  }
  uint8_t gwIp[16];
  int gwFam = parseIp(get(arg, "gateway"), gwIp);
  Napi::Value nexthops = get(arg, "nexthops");
  bool gw = gwFam != 0, hops = !nexthops.IsUndefined();
  if (!(v = get(arg, "scope")).IsUndefined()) {
    m.rtm_scope = nameOrNumber(v, kScopes, "scope");
  } else if (!del) {
    if (fam == AF_INET6) m.rtm_scope = RT_SCOPE_UNIVERSE;
    else if (m.rtm_type == RTN_LOCAL || m.rtm_type == RTN_NAT) m.rtm_scope = RT_SCOPE_HOST;
    else if (m.rtm_type == RTN_BROADCAST || m.rtm_type == RTN_MULTICAST || m.rtm_type == RTN_ANYCAST)
      m.rtm_scope = RT_SCOPE_LINK;
    else if (m.rtm_type == RTN_UNICAST && !gw && !hops && !has(arg, "nhid")) m.rtm_scope = RT_SCOPE_LINK;
    else m.rtm_scope = RT_SCOPE_UNIVERSE;
  }
  kRoute.encode(arg, enc.w);
  putGateway(enc.w, gwIp, gwFam, fam);
  if (!(v = get(arg, "metrics")).IsUndefined()) {
    size_t mx = enc.w.nestBegin(RTA_METRICS);
    kMetrics.encode(v.As<Napi::Object>(), enc.w);
    enc.w.nestEndOrDrop(mx);
  }
  if (hops) putMultipath(enc, nexthops.As<Napi::Array>(), fam);
  rtm = reinterpret_cast<rtmsg*>(NLMSG_DATA(enc.w.hdr()));
  *rtm = m;
  enc.w.end();
}

void encodeRouteAdd(Encoder& enc, const Arg& arg) {
  encodeRoute(enc, arg, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
}
void encodeRouteReplace(Encoder& enc, const Arg& arg) {
  encodeRoute(enc, arg, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
}
void encodeRouteAppend(Encoder& enc, const Arg& arg) {
  encodeRoute(enc, arg, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND);
}
void encodeRouteDel(Encoder& enc, const Arg& arg) {
  encodeRoute(enc, arg, RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK);
}

// One destination through the kernel's lookup. Strict checking wants a
// host-length dst and an otherwise empty header.
void encodeRouteGet(Encoder& enc, const Arg& arg) {
  auto* rtm = enc.w.begin<rtmsg>(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK, enc.seq);
  int fam = familyArg(arg);
  rtm->rtm_family = fam;
  uint8_t ip[16];
  parseIp(get(arg, "dst"), ip);
  rtm->rtm_dst_len = addrLen(fam) * 8;
  enc.w.put(RTA_DST, ip, addrLen(fam));
  if (has(arg, "src")) {
    parseIp(get(arg, "src"), ip);
    reinterpret_cast<rtmsg*>(NLMSG_DATA(enc.w.hdr()))->rtm_src_len = addrLen(fam) * 8;
    enc.w.put(RTA_SRC, ip, addrLen(fam));
  }
  if (has(arg, "oif")) enc.w.put<uint32_t>(RTA_OIF, u32(arg, "oif"));
  if (has(arg, "iif")) enc.w.put<uint32_t>(RTA_IIF, u32(arg, "iif"));
  if (has(arg, "mark")) enc.w.put<uint32_t>(RTA_MARK, u32(arg, "mark"));
  enc.w.end();
}

// Filters go in the request (strict checking). Without RTM_F_CLONED in
// rtm_flags the kernel leaves out cached/exception routes, as `ip route`.
void encodeRouteList(Encoder& enc, const Arg& arg) {
  auto* rtm = enc.w.begin<rtmsg>(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, enc.seq);
  rtm->rtm_family = familyArg(arg);
  if (has(arg, "protocol")) rtm->rtm_protocol = nameOrNumber(get(arg, "protocol"), kProtocols, "protocol");
  if (has(arg, "type")) rtm->rtm_type = nameOrNumber(get(arg, "type"), kTypes, "type");
  if (has(arg, "table")) {
    uint32_t t = nameOrNumber(get(arg, "table"), kTables, "table");
    if (t < 256) rtm->rtm_table = t;
    else enc.w.put<uint32_t>(RTA_TABLE, t);
  }
  if (has(arg, "link")) enc.w.put<uint32_t>(RTA_OIF, u32(arg, "link"));
  enc.w.end();
}

Napi::Value viaString(Napi::Env env, const rtattr* a) {
  auto* rv = static_cast<const rtvia*>(RTA_DATA(a));
  if (RTA_PAYLOAD(a) < sizeof(rtvia)) return env.Undefined();
  return ipString(env, rv->rtvia_addr, RTA_PAYLOAD(a) - sizeof(rtvia));
}

Napi::Array decodeMultipath(Napi::Env env, const rtattr* mp) {
  Napi::Array out = Napi::Array::New(env);
  const uint8_t* p = static_cast<const uint8_t*>(RTA_DATA(mp));
  size_t left = RTA_PAYLOAD(mp);
  uint32_t i = 0;
  while (left >= sizeof(rtnexthop)) {
    auto* nh = reinterpret_cast<const rtnexthop*>(p);
    if (nh->rtnh_len < sizeof(rtnexthop) || nh->rtnh_len > left) break;
    Napi::Object o = Napi::Object::New(env);
    if (nh->rtnh_ifindex) set(o, "link", nh->rtnh_ifindex);
    set(o, "weight", nh->rtnh_hops + 1);
    set(o, "flags", flagNames(env, nh->rtnh_flags, kNhFlags));
    for (auto a : Attrs(RTNH_DATA(nh), nh->rtnh_len - RTNH_LENGTH(0))) {
      if (attrType(a) == RTA_GATEWAY) set(o, "gateway", ipString(env, RTA_DATA(a), RTA_PAYLOAD(a)));
      else if (attrType(a) == RTA_VIA) set(o, "gateway", viaString(env, a));
    }
    out.Set(i++, o);
    size_t step = RTNH_ALIGN(nh->rtnh_len);
    if (step > left) break;
    p += step;
    left -= step;
  }
  return out;
}

Napi::Value decodeRoute(Napi::Env env, const nlmsghdr* h) {
  auto* rtm = static_cast<const rtmsg*>(NLMSG_DATA(h));
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) return env.Undefined();
  // dst and table first, each set once: every route object gets the same
  // shape (V8 hidden class) and no property is written twice.
  const rtattr *dst = nullptr, *table = nullptr;
  for (auto a : Attrs(RTM_RTA(rtm), RTM_PAYLOAD(h))) {
    if (attrType(a) == RTA_DST) dst = a;
    else if (attrType(a) == RTA_TABLE) table = a;
  }
  ObjBuilder o(env);
  o.set("family", rtm->rtm_family == AF_INET ? 4 : 6);
  o.set("dst", dst ? cidrString(env, RTA_DATA(dst), RTA_PAYLOAD(dst), rtm->rtm_dst_len) : name(env, "default"));
  o.set("table", table ? attrGet<uint32_t>(table) : rtm->rtm_table);
  o.set("protocol", enumName(env, rtm->rtm_protocol, kProtocols));
  o.set("scope", enumName(env, rtm->rtm_scope, kScopes));
  o.set("type", enumName(env, rtm->rtm_type, kTypes));
  o.set("flags", flagNames(env, rtm->rtm_flags, kRouteFlags));
  if (rtm->rtm_tos) o.set("tos", rtm->rtm_tos);
  for (auto a : Attrs(RTM_RTA(rtm), RTM_PAYLOAD(h))) {
    if (kRoute.decodeOne(env, a, o) || kRouteState.decodeOne(env, a, o)) continue;
    switch (attrType(a)) {
      case RTA_SRC: o.set("src", cidrString(env, RTA_DATA(a), RTA_PAYLOAD(a), rtm->rtm_src_len)); break;
      case RTA_GATEWAY: o.set("gateway", ipString(env, RTA_DATA(a), RTA_PAYLOAD(a))); break;
      case RTA_VIA: o.set("gateway", viaString(env, a)); break;
      case RTA_MULTIPATH: o.set("nexthops", decodeMultipath(env, a)); break;
      case RTA_METRICS: {
        Napi::Object m = Napi::Object::New(env);
        kMetrics.decode(env, Attrs::of(a), m);
        o.set("metrics", m);
        break;
      }
    }
  }
  return o.done();
}

// A dump lists routes only; anything cloned (a cache entry) is left out.
Napi::Value decodeListedRoute(Napi::Env env, const nlmsghdr* h) {
  auto* rtm = static_cast<const rtmsg*>(NLMSG_DATA(h));
  return rtm->rtm_flags & RTM_F_CLONED ? env.Undefined() : decodeRoute(env, h);
}

RegisterDecoders decoders{{RTM_NEWROUTE, decodeRoute}, {RTM_DELROUTE, decodeRoute}};

RegisterSchema schema{"route", [](Napi::Env env, Napi::Object out) {
  out.Set("attrs", schemaOf(env, {&kRoute}));
  out.Set("metrics", schemaOf(env, {&kMetrics}));
  out.Set("types", nameList(env, kTypes));
  out.Set("protocols", nameList(env, kProtocols));
  out.Set("scopes", nameList(env, kScopes));
  out.Set("tables", nameList(env, kTables));
  out.Set("nexthopFlags", nameList(env, kNhFlags));
  out.Set("flags", nameList(env, kRouteFlags));
}};

RegisterOps ops{
    {"routeAdd", false, false, encodeRouteAdd, nullptr},
    {"routeReplace", false, false, encodeRouteReplace, nullptr},
    {"routeAppend", false, false, encodeRouteAppend, nullptr},
    {"routeDel", false, false, encodeRouteDel, nullptr},
    {"routeGet", false, true, encodeRouteGet, firstOf<decodeRoute>},
    {"routeList", true, true, encodeRouteList, listOf<decodeListedRoute>},
};

}  // namespace

Names routeProtocols() { return kProtocols; }
Names routeTables() { return kTables; }
Names nexthopFlags() { return kNhFlags; }

}  // namespace rtnl
