// RTM_{NEW,DEL,GET}NEXTHOP: next-hop objects (struct nhmsg + NHA_*), single
// (a gateway and/or device, a blackhole, an FDB next hop) or groups
// (multipath or resilient), which routes then name by id (RTA_NH_ID).
#include <linux/nexthop.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attrs.h"
#include "ops.h"
#include "route_names.h"

namespace rtnl {

namespace {

const EnumName kGroupTypes[] = {{NEXTHOP_GRP_TYPE_MPATH, "mpath"}, {NEXTHOP_GRP_TYPE_RES, "resilient"}};

// The attributes read as they are. The first four go out after the group
// (as iproute2 orders them); id is written first, by hand.
const AttrTable kNexthop{
    {"blackhole", NHA_BLACKHOLE, Wire::Flag},
    {"gateway", NHA_GATEWAY, Wire::Ip},
    ifindexAttr("link", NHA_OIF),
    {"fdb", NHA_FDB, Wire::Flag},
    {.key = "id", .type = NHA_ID, .wire = Wire::U32, .min = 1},  // 0 asks the kernel to pick one
};
constexpr size_t kAfterGroup = 4;

// Resilient group timers travel in clock_t units (USER_HZ); TS has seconds.
uint32_t clockTicks() {
  static const long hz = sysconf(_SC_CLK_TCK);
  return hz > 0 ? static_cast<uint32_t>(hz) : 100;
}

void putGroup(MsgWriter& w, const Napi::Array& members) {
  std::vector<nexthop_grp> grp(members.Length());
  for (uint32_t i = 0; i < members.Length(); i++) {
    Napi::Object m = members.Get(i).As<Napi::Object>();
    grp[i].id = u32(m, "id");
    grp[i].weight = has(m, "weight") ? u32(m, "weight") - 1 : 0;  // the kernel stores weight - 1
  }
  w.put(NHA_GROUP, grp.data(), grp.size() * sizeof(nexthop_grp));
}

void putResilient(MsgWriter& w, const Napi::Object& r) {
  size_t at = w.nestBegin(NHA_RES_GROUP | NLA_F_NESTED);  // the kernel wants the flag on this nest
  if (has(r, "buckets")) w.put<uint16_t>(NHA_RES_GROUP_BUCKETS, u32(r, "buckets"));
  if (has(r, "idleTimer")) w.put<uint32_t>(NHA_RES_GROUP_IDLE_TIMER, u32(r, "idleTimer") * clockTicks());
  if (has(r, "unbalancedTimer")) w.put<uint32_t>(NHA_RES_GROUP_UNBALANCED_TIMER, u32(r, "unbalancedTimer") * clockTicks());
  w.nestEnd(at);
}

void encodeNexthop(Encoder& enc, const Arg& arg, uint16_t flags) {
  auto* nhm = enc.w.begin<nhmsg>(RTM_NEWNEXTHOP, flags, enc.seq);
  Napi::Value v;
  nhm->nh_family = familyArg(arg);
  if (!(v = get(arg, "protocol")).IsUndefined()) nhm->nh_protocol = nameOrNumber(v, routeProtocols(), "protocol");
  if (!(v = get(arg, "flags")).IsUndefined()) nhm->nh_flags = flagBits(v, nexthopFlags(), "flags");
  if (has(arg, "id")) enc.w.put<uint32_t>(NHA_ID, u32(arg, "id"));
  if (!(v = get(arg, "group")).IsUndefined()) putGroup(enc.w, v.As<Napi::Array>());
  if (!(v = get(arg, "resilient")).IsUndefined()) putResilient(enc.w, v.As<Napi::Object>());
  if (!(v = get(arg, "groupType")).IsUndefined()) enc.w.put<uint16_t>(NHA_GROUP_TYPE, enumValue(v, kGroupTypes, "groupType"));
  kNexthop.encode(arg, enc.w, kAfterGroup);
  enc.w.end();
}

constexpr uint16_t kReq = NLM_F_REQUEST | NLM_F_ACK;

void encodeNexthopAdd(Encoder& enc, const Arg& arg) { encodeNexthop(enc, arg, kReq | NLM_F_CREATE | NLM_F_EXCL); }
void encodeNexthopReplace(Encoder& enc, const Arg& arg) { encodeNexthop(enc, arg, kReq | NLM_F_CREATE | NLM_F_REPLACE); }

// Delete and get name the object by id alone.
void encodeById(Encoder& enc, const Arg& arg, uint16_t type) {
  enc.w.begin<nhmsg>(type, kReq, enc.seq);
  enc.w.put<uint32_t>(NHA_ID, u32(arg, "id"));
  enc.w.end();
}
void encodeNexthopDel(Encoder& enc, const Arg& arg) { encodeById(enc, arg, RTM_DELNEXTHOP); }
void encodeNexthopGet(Encoder& enc, const Arg& arg) { encodeById(enc, arg, RTM_GETNEXTHOP); }

// Filters the kernel applies: family in the header, device, master and
// groups as attributes (id and fdb are applied in src/nexthop.ts).
void encodeNexthopList(Encoder& enc, const Arg& arg) {
  auto* nhm = enc.w.begin<nhmsg>(RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP, enc.seq);
  nhm->nh_family = familyArg(arg);
  if (has(arg, "link")) enc.w.put<uint32_t>(NHA_OIF, u32(arg, "link"));
  if (has(arg, "master")) enc.w.put<uint32_t>(NHA_MASTER, u32(arg, "master"));
  if (get(arg, "groups").ToBoolean()) enc.w.putFlag(NHA_GROUPS);
  enc.w.end();
}

Napi::Array decodeGroup(Napi::Env env, const rtattr* a) {
  Napi::Array out = Napi::Array::New(env);
  auto* g = static_cast<const nexthop_grp*>(RTA_DATA(a));
  for (uint32_t i = 0; i < RTA_PAYLOAD(a) / sizeof(nexthop_grp); i++) {
    Napi::Object m = Napi::Object::New(env);
    set(m, "id", g[i].id);
    // Kernels with 16-bit weights keep the high byte in what the header calls resvd1.
    set(m, "weight", (g[i].weight | (static_cast<uint32_t>(g[i].resvd1) << 8)) + 1);
    out.Set(i, m);
  }
  return out;
}

Napi::Object decodeResilient(Napi::Env env, const rtattr* nest) {
  Napi::Object r = Napi::Object::New(env);
  for (auto a : Attrs::of(nest)) {
    switch (attrType(a)) {
      case NHA_RES_GROUP_BUCKETS: set(r, "buckets", attrGet<uint16_t>(a)); break;
      case NHA_RES_GROUP_IDLE_TIMER: set(r, "idleTimer", attrGet<uint32_t>(a) / clockTicks()); break;
      case NHA_RES_GROUP_UNBALANCED_TIMER: set(r, "unbalancedTimer", attrGet<uint32_t>(a) / clockTicks()); break;
      case NHA_RES_GROUP_UNBALANCED_TIME:
        set(r, "unbalancedTime", static_cast<double>(attrGet<uint64_t>(a) / clockTicks()));
        break;
    }
  }
  return r;
}

// RTM_NEWNEXTHOP/RTM_DELNEXTHOP, replies and events.
Napi::Value decodeNexthop(Napi::Env env, const nlmsghdr* h) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nhmsg))) return env.Undefined();
  auto* nhm = static_cast<const nhmsg*>(NLMSG_DATA(h));
  Attrs attrs(reinterpret_cast<const uint8_t*>(nhm) + NLMSG_ALIGN(sizeof(nhmsg)), h->nlmsg_len - NLMSG_LENGTH(sizeof(nhmsg)));
  uint32_t id = 0;
  for (auto a : attrs)
    if (attrType(a) == NHA_ID) id = attrGet<uint32_t>(a);
  ObjBuilder o(env);
  o.set("id", id);  // first, set once: every next hop gets the same shape
  if (nhm->nh_family == AF_INET || nhm->nh_family == AF_INET6) o.set("family", nhm->nh_family == AF_INET ? 4 : 6);
  o.set("protocol", enumName(env, nhm->nh_protocol, routeProtocols()));
  o.set("flags", flagNames(env, nhm->nh_flags, nexthopFlags()));
  for (auto a : attrs) {
    switch (attrType(a)) {
      case NHA_ID: break;
      case NHA_GROUP: o.set("group", decodeGroup(env, a)); break;
      case NHA_GROUP_TYPE: o.set("groupType", enumName(env, attrGet<uint16_t>(a), kGroupTypes)); break;
      case NHA_RES_GROUP: o.set("resilient", decodeResilient(env, a)); break;
      default: kNexthop.decodeOne(env, a, o);
    }
  }
  return o.done();
}

RegisterDecoders decoders{{RTM_NEWNEXTHOP, decodeNexthop}, {RTM_DELNEXTHOP, decodeNexthop}};

// schema().nexthop: the attributes and the group types.
RegisterSchema schema{"nexthop", [](Napi::Env env, Napi::Object out) {
  out.Set("attrs", schemaOf(env, {&kNexthop}));
  out.Set("groupTypes", nameList(env, kGroupTypes));
}};

RegisterOps ops{
    {"nexthopAdd", false, false, encodeNexthopAdd, nullptr},
    {"nexthopReplace", false, false, encodeNexthopReplace, nullptr},
    {"nexthopDel", false, false, encodeNexthopDel, nullptr},
    {"nexthopGet", false, true, encodeNexthopGet, firstOf<decodeNexthop>},
    {"nexthopList", true, true, encodeNexthopList, listOf<decodeNexthop>},
};

}  // namespace

}  // namespace rtnl
