// RTM_{NEW,DEL,GET}ADDR: IPv4 and IPv6 interface addresses, their flags
// (IFA_FLAGS, which supersedes the 8-bit ifa_flags) and lifetimes.
#include <linux/if_addr.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cmath>
#include <cstring>

#include "attrs.h"
#include "ops.h"

namespace rtnl {

namespace {

// IFA_F_SECONDARY and IFA_F_TEMPORARY share a bit: IPv4 calls it secondary,
// IPv6 temporary. The first entry differs between the two tables; the next
// six are the flags an address can be created with, the rest the kernel's.
constexpr size_t kSettable = 6;
#define RTNL_IFA_FLAGS                                                                              \
  {IFA_F_NODAD, "nodad"}, {IFA_F_OPTIMISTIC, "optimistic"}, {IFA_F_HOMEADDRESS, "homeaddress"},     \
      {IFA_F_MANAGETEMPADDR, "managetempaddr"}, {IFA_F_NOPREFIXROUTE, "noprefixroute"},             \
      {IFA_F_MCAUTOJOIN, "mcautojoin"}, {IFA_F_DADFAILED, "dadfailed"},                             \
      {IFA_F_DEPRECATED, "deprecated"}, {IFA_F_TENTATIVE, "tentative"},                             \
      {IFA_F_PERMANENT, "permanent"}, {IFA_F_STABLE_PRIVACY, "stableprivacy"}
const EnumName kFlags4[] = {{IFA_F_SECONDARY, "secondary"}, RTNL_IFA_FLAGS};
const EnumName kFlags6[] = {{IFA_F_TEMPORARY, "temporary"}, RTNL_IFA_FLAGS};
#undef RTNL_IFA_FLAGS

// The attributes read as they are (broadcast: IPv4 only, which TS checks);
// the address, its peer, flags and lifetimes need the family or a struct.
const AttrTable kAddr{
    {"broadcast", IFA_BROADCAST, Wire::Ip},
    {.key = "label", .type = IFA_LABEL, .wire = Wire::Str, .max = IFNAMSIZ - 1},
};

// The kernel's INFINITY_LIFE_TIME (net/addrconf.h, not in the UAPI headers).
constexpr uint32_t kForever = 0xFFFFFFFF;

// A scope is a name or a raw number.
uint8_t scopeValue(const Napi::Value& v) {
  return v.IsNumber() ? static_cast<uint8_t>(v.As<Napi::Number>().Uint32Value()) : enumValue(v, kScopes, "scope");
}

// Seconds, where Infinity is the kernel's "forever".
uint32_t lifetime(const Napi::Value& v) {
  double d = v.As<Napi::Number>().DoubleValue();
  return std::isinf(d) ? kForever : static_cast<uint32_t>(d);
}

// Writes ifaddrmsg and the address attributes. IFA_LOCAL is the address
// itself; IFA_ADDRESS is the peer on point-to-point links and otherwise
// repeats the address, as iproute2 sends it (IPv6 reads IFA_LOCAL as the
// address and a different IFA_ADDRESS as the peer, too).
void encodeAddr(Encoder& enc, const Arg& arg, uint16_t type, uint16_t flags) {
  auto* ifa = enc.w.begin<ifaddrmsg>(type, flags, enc.seq);
  uint8_t local[16], peer[16];
  int fam = parseIp(get(arg, "local"), local);
  size_t n = fam == AF_INET ? 4 : 16;
  ifa->ifa_family = fam;
  ifa->ifa_prefixlen = u32(arg, "prefixLen");
  ifa->ifa_index = u32(arg, "link");
  if (has(arg, "scope")) ifa->ifa_scope = scopeValue(get(arg, "scope"));
  enc.w.put(IFA_LOCAL, local, n);
  if (has(arg, "peer")) {
    parseIp(get(arg, "peer"), peer);
    enc.w.put(IFA_ADDRESS, peer, n);
  } else if (type != RTM_DELADDR) {
    // A delete leaves it out, so a point-to-point address can go without naming its peer.
    enc.w.put(IFA_ADDRESS, local, n);
  }
  kAddr.encode(arg, enc.w);
  if (has(arg, "flags")) {
    uint32_t bits = flagBits(get(arg, "flags"), fam == AF_INET ? Names(kFlags4) : Names(kFlags6), "flags");
    ifa->ifa_flags = bits & 0xff;
    enc.w.put<uint32_t>(IFA_FLAGS, bits);
  }
  if (has(arg, "validLft") || has(arg, "preferredLft")) {
    ifa_cacheinfo ci{};
    ci.ifa_valid = has(arg, "validLft") ? lifetime(get(arg, "validLft")) : kForever;
    // Only a valid lifetime given: preferred follows it (the kernel refuses preferred > valid).
    ci.ifa_prefered = has(arg, "preferredLft") ? lifetime(get(arg, "preferredLft")) : ci.ifa_valid;
    enc.w.put(IFA_CACHEINFO, ci);
  }
  enc.w.end();
}

void encodeAddrAdd(Encoder& enc, const Arg& arg) {
  encodeAddr(enc, arg, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
}
void encodeAddrReplace(Encoder& enc, const Arg& arg) {
  encodeAddr(enc, arg, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
}
void encodeAddrDel(Encoder& enc, const Arg& arg) { encodeAddr(enc, arg, RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK); }

// The kernel filters by family and ifindex (strict checking).
void encodeAddrList(Encoder& enc, const Arg& arg) {
  auto* ifa = enc.w.begin<ifaddrmsg>(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, enc.seq);
  ifa->ifa_family = familyArg(arg);
  if (has(arg, "link")) ifa->ifa_index = u32(arg, "link");
  enc.w.end();
}

Napi::Value lifetimeValue(Napi::Env env, uint32_t v) {
  return Napi::Number::New(env, v == kForever ? INFINITY : v);
}

Napi::Value decodeAddr(Napi::Env env, const nlmsghdr* h) {
  auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  bool v4 = ifa->ifa_family == AF_INET;
  set(o, "family", v4 ? 4 : 6);
  set(o, "link", ifa->ifa_index);
  set(o, "prefixLen", ifa->ifa_prefixlen);
  set(o, "scope", enumName(env, ifa->ifa_scope, kScopes));
  uint32_t flags = ifa->ifa_flags;
  const rtattr *local = nullptr, *address = nullptr;
  for (auto a : Attrs(IFA_RTA(ifa), IFA_PAYLOAD(h))) {
    if (kAddr.decodeOne(env, a, o)) continue;
    switch (attrType(a)) {
      case IFA_LOCAL: local = a; break;
      case IFA_ADDRESS: address = a; break;
      case IFA_FLAGS: flags = attrGet<uint32_t>(a); break;
      case IFA_CACHEINFO: {
        auto ci = attrGet<ifa_cacheinfo>(a);
        set(o, "validLft", lifetimeValue(env, ci.ifa_valid));
        set(o, "preferredLft", lifetimeValue(env, ci.ifa_prefered));
        break;
      }
    }
  }
  // Without IFA_LOCAL (IPv6, not point-to-point) IFA_ADDRESS is the address;
  // with both, a different IFA_ADDRESS is the peer.
  const rtattr* self = local ? local : address;
  if (self) {
    Napi::Value ip = ipString(env, RTA_DATA(self), RTA_PAYLOAD(self));
    set(o, "local", ip);
    set(o, "address", cidrString(env, RTA_DATA(self), RTA_PAYLOAD(self), ifa->ifa_prefixlen));
  }
  if (local && address &&
      (RTA_PAYLOAD(local) != RTA_PAYLOAD(address) || std::memcmp(RTA_DATA(local), RTA_DATA(address), RTA_PAYLOAD(local))))
    set(o, "peer", ipString(env, RTA_DATA(address), RTA_PAYLOAD(address)));
  set(o, "flags", flagNames(env, flags, v4 ? Names(kFlags4) : Names(kFlags6)));
  return o;
}

RegisterDecoders decoders{{RTM_NEWADDR, decodeAddr}, {RTM_DELADDR, decodeAddr}};

RegisterSchema schema{"addr", [](Napi::Env env, Napi::Object out) {
  out.Set("attrs", schemaOf(env, {&kAddr}));
  out.Set("scopes", nameList(env, kScopes));
  out.Set("flags4", nameList(env, kFlags4));
  out.Set("flags6", nameList(env, kFlags6));
  out.Set("settableFlags", nameList(env, Names(kFlags4).subspan(1, kSettable)));
}};

RegisterOps ops{
    {"addrAdd", false, false, encodeAddrAdd, nullptr},
    {"addrReplace", false, false, encodeAddrReplace, nullptr},
    {"addrDel", false, false, encodeAddrDel, nullptr},
    {"addrList", true, true, encodeAddrList, listOf<decodeAddr>},
};

}  // namespace

}  // namespace rtnl
