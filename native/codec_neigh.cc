// RTM_{NEW,DEL,GET}NEIGH: two objects share struct ndmsg. Neighbours (ARP/NDP)
// are AF_INET/AF_INET6, their family taken from the IP address; bridge FDB
// entries are always AF_BRIDGE. The two have separate ops and encoders so
// that no neighbour call can become an FDB request or the other way round;
// one decoder serves both and tells them apart by ndm_family.
#include <linux/neighbour.h>
#include <sys/socket.h>

#include "attrs.h"
#include "ops.h"

namespace rtnl {

namespace {

const EnumName kNudStates[] = {{NUD_PERMANENT, "permanent"}, {NUD_NOARP, "noarp"},   {NUD_REACHABLE, "reachable"},
                               {NUD_STALE, "stale"},         {NUD_DELAY, "delay"},   {NUD_PROBE, "probe"},
                               {NUD_FAILED, "failed"},       {NUD_INCOMPLETE, "incomplete"}, {NUD_NONE, "none"}};

// FDB states as `bridge fdb` writes them: vxlan wants PERMANENT or REACHABLE
// among the bits, so `static` is NOARP|REACHABLE (the bridge reads NOARP).
const EnumName kFdbStates[] = {
    {NUD_PERMANENT, "permanent"}, {NUD_NOARP | NUD_REACHABLE, "static"}, {NUD_REACHABLE, "dynamic"}};

// vxlan reports the bits it was given, the bridge one bit: read them in
// `bridge fdb`'s order of precedence.
Napi::Value fdbStateName(Napi::Env env, uint16_t state) {
  if (state & NUD_PERMANENT) return name(env, "permanent");
  if (state & NUD_NOARP) return name(env, "static");
  if (state & NUD_STALE) return name(env, "stale");
  if (state & NUD_REACHABLE) return name(env, "dynamic");
  return Napi::Number::New(env, state);
}

// ndm_flags; NTF_SELF/NTF_MASTER are the FDB `target`, NTF_PROXY a neighbour matter.
const EnumName kNeighFlags[] = {{NTF_PROXY, "proxy"}, {NTF_ROUTER, "router"}, {NTF_EXT_LEARNED, "extern_learn"},
                                {NTF_USE, "use"}, {NTF_OFFLOADED, "offload"}};
const EnumName kFdbFlags[] = {{NTF_EXT_LEARNED, "extern_learn"}, {NTF_STICKY, "sticky"}, {NTF_ROUTER, "router"},
                              {NTF_USE, "use"}, {NTF_OFFLOADED, "offload"}};
// NDA_FLAGS_EXT, shown to TS in the same `flags` list.
const EnumName kNeighExtFlags[] = {{NTF_EXT_MANAGED, "managed"}};

const AttrTable kNeigh{
    {"address", NDA_DST, Wire::Ip},
    {"lladdr", NDA_LLADDR, Wire::Mac},
};

const AttrTable kFdb{
    {"mac", NDA_LLADDR, Wire::Mac},
    {"dst", NDA_DST, Wire::Ip},
    {.key = "vni", .type = NDA_VNI, .wire = Wire::U32, .max = 0xffffff},
    {.key = "port", .type = NDA_PORT, .wire = Wire::Be16, .min = 1, .max = 0xffff},
    {.key = "srcVni", .type = NDA_SRC_VNI, .wire = Wire::U32, .max = 0xffffff},
    {.key = "vlan", .type = NDA_VLAN, .wire = Wire::U16, .min = 1, .max = 4094},
};

// Splits flag names between ndm_flags and NDA_FLAGS_EXT.
void neighFlagBits(const Napi::Value& v, uint8_t& flags, uint32_t& ext) {
  if (v.IsUndefined()) return;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value name = a.Get(i);
    std::string s = name.IsString() ? name.As<Napi::String>().Utf8Value() : "";
    bool isExt = false;
    for (const auto& n : kNeighExtFlags)
      if (s == n.name) ext |= n.value, isExt = true;
    if (!isExt) flags |= enumValue(name, kNeighFlags, "flags");
  }
}

// ---- neighbours ----

// A delete's argument (neighRefArg) has no state or lladdr.
void encodeNeigh(Encoder& enc, const Arg& arg, uint16_t type, uint16_t nlflags) {
  bool del = type == RTM_DELNEIGH;
  uint8_t ip[16];
  int family = parseIp(get(arg, "address"), ip);
  uint8_t flags = 0;
  uint32_t ext = 0;
  neighFlagBits(get(arg, "flags"), flags, ext);
  uint32_t state = 0;
  if (!del) optEnum(get(arg, "state"), kNudStates, "state", state);
  auto* ndm = enc.w.begin<ndmsg>(type, nlflags, enc.seq);
  ndm->ndm_family = family;  // from the address: never AF_BRIDGE
  ndm->ndm_ifindex = static_cast<int>(u32(arg, "link"));
  ndm->ndm_state = state;
  ndm->ndm_flags = flags;
  // kNeigh's attributes in its order; the address as parsed above, not read again.
  enc.w.put(NDA_DST, ip, family == AF_INET ? 4 : 16);
  uint8_t mac[32];
  if (size_t n = del ? 0 : parseMac(get(arg, "lladdr"), mac)) enc.w.put(NDA_LLADDR, mac, n);
  if (ext) enc.w.put<uint32_t>(NDA_FLAGS_EXT, ext);
  enc.w.end();
}

constexpr uint16_t kReq = NLM_F_REQUEST | NLM_F_ACK;

void encodeNeighAdd(Encoder& enc, const Arg& arg) { encodeNeigh(enc, arg, RTM_NEWNEIGH, kReq | NLM_F_CREATE | NLM_F_EXCL); }
void encodeNeighReplace(Encoder& enc, const Arg& arg) { encodeNeigh(enc, arg, RTM_NEWNEIGH, kReq | NLM_F_CREATE | NLM_F_REPLACE); }
void encodeNeighDel(Encoder& enc, const Arg& arg) { encodeNeigh(enc, arg, RTM_DELNEIGH, kReq); }

// Filters are applied by the kernel (strict checking): family in the header,
// device and master as attributes; NTF_PROXY selects the proxy table.
void encodeNeighList(Encoder& enc, const Arg& arg) {
  uint8_t family = familyArg(arg);  // AF_UNSPEC reaches the neighbour tables only, never the FDB
  bool proxy = has(arg, "proxy") && get(arg, "proxy").ToBoolean();
  auto* ndm = enc.w.begin<ndmsg>(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, enc.seq);
  ndm->ndm_family = family;
  if (proxy) ndm->ndm_flags = NTF_PROXY;
  if (has(arg, "link")) enc.w.put<uint32_t>(NDA_IFINDEX, u32(arg, "link"));
  if (has(arg, "master")) enc.w.put<uint32_t>(NDA_MASTER, u32(arg, "master"));
  enc.w.end();
}

// ---- bridge FDB ----

// A delete's argument (fdbRefArg) has no state or flags: they are not read.
void encodeFdb(Encoder& enc, const Arg& arg, uint16_t type, uint16_t nlflags) {
  bool del = type == RTM_DELNEIGH;
  Napi::Value fl = del ? arg.Env().Undefined() : get(arg, "flags");
  uint8_t flags = fl.IsUndefined() ? 0 : flagBits(fl, kFdbFlags, "flags");
  flags |= isString(get(arg, "target"), "master") ? NTF_MASTER : NTF_SELF;
  uint32_t state = 0;
  if (!del) optEnum(get(arg, "state"), kFdbStates, "state", state);
  auto* ndm = enc.w.begin<ndmsg>(type, nlflags, enc.seq);
  ndm->ndm_family = AF_BRIDGE;  // always: an FDB call can never touch the ARP/NDP tables
  ndm->ndm_ifindex = static_cast<int>(u32(arg, "link"));
  ndm->ndm_state = state;
  ndm->ndm_flags = flags;
  kFdb.encode(arg, enc.w);
  enc.w.end();
}

void encodeFdbAdd(Encoder& enc, const Arg& arg) { encodeFdb(enc, arg, RTM_NEWNEIGH, kReq | NLM_F_CREATE | NLM_F_EXCL); }
// vxlan: adds one more remote to an existing MAC (the per-VTEP flood entries).
void encodeFdbAppend(Encoder& enc, const Arg& arg) { encodeFdb(enc, arg, RTM_NEWNEIGH, kReq | NLM_F_CREATE | NLM_F_APPEND); }
void encodeFdbReplace(Encoder& enc, const Arg& arg) { encodeFdb(enc, arg, RTM_NEWNEIGH, kReq | NLM_F_CREATE | NLM_F_REPLACE); }
void encodeFdbDel(Encoder& enc, const Arg& arg) { encodeFdb(enc, arg, RTM_DELNEIGH, kReq); }

// The kernel filters by port (NDA_IFINDEX) and bridge (NDA_MASTER); strict
// checking wants the rest of the header zero.
void encodeFdbList(Encoder& enc, const Arg& arg) {
  auto* ndm = enc.w.begin<ndmsg>(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, enc.seq);
  ndm->ndm_family = AF_BRIDGE;
  if (has(arg, "link")) enc.w.put<uint32_t>(NDA_IFINDEX, u32(arg, "link"));
  if (has(arg, "master")) enc.w.put<uint32_t>(NDA_MASTER, u32(arg, "master"));
  enc.w.end();
}

// ---- decoding ----

Napi::Array flagList(Napi::Env env, uint32_t bits, Names names, uint32_t ext) {
  Napi::Array out = flagNames(env, bits, names);
  for (const auto& n : kNeighExtFlags)
    if (ext & n.value) out.Set(out.Length(), Napi::String::New(env, n.name));
  return out;
}

uint32_t extFlags(const ndmsg* ndm, const nlmsghdr* h) {
  for (auto a : Attrs(RTM_RTA(ndm), RTM_PAYLOAD(h)))
    if (attrType(a) == NDA_FLAGS_EXT) return attrGet<uint32_t>(a);
  return 0;
}

Napi::Value decodeNeighbour(Napi::Env env, const nlmsghdr* h, const ndmsg* ndm) {
  ObjBuilder o(env);
  o.set("family", ndm->ndm_family == AF_INET ? 4 : 6);
  o.set("link", ndm->ndm_ifindex);
  o.set("state", enumName(env, ndm->ndm_state, kNudStates));
  o.set("flags", flagList(env, ndm->ndm_flags, kNeighFlags, extFlags(ndm, h)));
  kNeigh.decode(env, Attrs(RTM_RTA(ndm), RTM_PAYLOAD(h)), o);
  return o.done();
}

Napi::Value decodeFdbEntry(Napi::Env env, const nlmsghdr* h, const ndmsg* ndm) {
  ObjBuilder o(env);
  o.set("family", name(env, "bridge"));
  o.set("link", ndm->ndm_ifindex);
  // The bridge reports its own entries with neither flag (but NDA_MASTER).
  bool master = (ndm->ndm_flags & NTF_MASTER) || !(ndm->ndm_flags & NTF_SELF);
  o.set("target", name(env, master ? "master" : "self"));
  o.set("state", fdbStateName(env, ndm->ndm_state));
  o.set("flags", flagList(env, ndm->ndm_flags, kFdbFlags, extFlags(ndm, h)));
  for (auto a : Attrs(RTM_RTA(ndm), RTM_PAYLOAD(h))) {
    if (kFdb.decodeOne(env, a, o)) continue;
    if (attrType(a) == NDA_MASTER) o.set("master", attrGet<uint32_t>(a));
  }
  return o.done();
}

// RTM_NEWNEIGH/RTM_DELNEIGH, replies and events alike: a Neighbour
// (family 4/6) or an FdbEntry (family 'bridge'); other families are skipped.
Napi::Value decodeNeighMsg(Napi::Env env, const nlmsghdr* h) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) return env.Undefined();
  auto* ndm = static_cast<const ndmsg*>(NLMSG_DATA(h));
  switch (ndm->ndm_family) {
    case AF_INET:
    case AF_INET6: return decodeNeighbour(env, h, ndm);
    case AF_BRIDGE: return decodeFdbEntry(env, h, ndm);
    default: return env.Undefined();
  }
}

RegisterDecoders decoders{{RTM_NEWNEIGH, decodeNeighMsg}, {RTM_DELNEIGH, decodeNeighMsg}};

// Both flag lists end with `offload`, which only hardware sets: writeFlags
// are the others (and for neighbours the NDA_FLAGS_EXT ones).
Names writable(Names flags) { return flags.first(flags.size() - 1); }
RegisterSchema neighSchema{"neigh", [](Napi::Env env, Napi::Object out) {
  out.Set("attrs", schemaOf(env, {&kNeigh}));
  out.Set("states", nameList(env, kNudStates));
  out.Set("flags", nameList(env, kNeighFlags));
  out.Set("extFlags", nameList(env, kNeighExtFlags));
  out.Set("writeFlags", nameList(env, writable(kNeighFlags)));
}};
RegisterSchema fdbSchema{"fdb", [](Napi::Env env, Napi::Object out) {
  out.Set("attrs", schemaOf(env, {&kFdb}));
  out.Set("states", nameList(env, kFdbStates));
  out.Set("flags", nameList(env, kFdbFlags));
  out.Set("writeFlags", nameList(env, writable(kFdbFlags)));
}};

RegisterOps ops{
    {"neighAdd", false, false, encodeNeighAdd, nullptr},
    {"neighReplace", false, false, encodeNeighReplace, nullptr},
    {"neighDel", false, false, encodeNeighDel, nullptr},
    {"neighList", true, true, encodeNeighList, listOf<decodeNeighMsg>},
    {"fdbAdd", false, false, encodeFdbAdd, nullptr},
    {"fdbAppend", false, false, encodeFdbAppend, nullptr},
    {"fdbReplace", false, false, encodeFdbReplace, nullptr},
    {"fdbDel", false, false, encodeFdbDel, nullptr},
    {"fdbList", true, true, encodeFdbList, listOf<decodeNeighMsg>},
};

}  // namespace

}  // namespace rtnl
