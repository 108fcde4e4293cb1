// RTM_{NEW,DEL,GET}RULE: IPv4 and IPv6 policy routing rules (struct
// fib_rule_hdr + FRA_* attributes), as `ip rule` writes and reads them.
#include <linux/fib_rules.h>
#include <sys/socket.h>

#include "attrs.h"
#include "ops.h"
#include "route_names.h"

namespace rtnl {

namespace {

// The names TS uses for fib_rule_hdr.action.
const EnumName kActions[] = {{FR_ACT_TO_TBL, "table"},           {FR_ACT_GOTO, "goto"},
                             {FR_ACT_NOP, "nop"},                {FR_ACT_BLACKHOLE, "blackhole"},
                             {FR_ACT_UNREACHABLE, "unreachable"}, {FR_ACT_PROHIBIT, "prohibit"}};

const EnumName kRuleFlags[] = {{FIB_RULE_PERMANENT, "permanent"}, {FIB_RULE_INVERT, "invert"},
                               {FIB_RULE_UNRESOLVED, "unresolved"}, {FIB_RULE_IIF_DETACHED, "iif_detached"},
                               {FIB_RULE_OIF_DETACHED, "oif_detached"}};

// The attributes read as they are, in the order they go out. The
// interface names need not exist yet (a rule for a device to come).
const AttrTable kRule{
    {"priority", FRA_PRIORITY, Wire::U32},
    {"fwmark", FRA_FWMARK, Wire::U32},
    {"fwmask", FRA_FWMASK, Wire::U32},
    {"iif", FRA_IIFNAME, Wire::IfName},
    {"oif", FRA_OIFNAME, Wire::IfName},
    {"ipProto", FRA_IP_PROTO, Wire::U8},
    {"l3mdev", FRA_L3MDEV, Wire::Bool8},
    {"goto", FRA_GOTO, Wire::U32},
    {.key = "suppressPrefixlen", .type = FRA_SUPPRESS_PREFIXLEN, .wire = Wire::U32, .max = 128},  // an IPv6 prefix's at most
    {"suppressIfgroup", FRA_SUPPRESS_IFGROUP, Wire::U32},
};

size_t addrLen(uint8_t fam) { return fam == AF_INET ? 4 : 16; }

void putPrefix(MsgWriter& w, const Arg& arg, const char* key, const char* lenKey, uint16_t type, uint8_t& len,
               uint8_t fam) {
  Napi::Value v = get(arg, key);
  if (v.IsUndefined()) return;
  uint8_t ip[16];
  parseIp(v, ip);
  len = static_cast<uint8_t>(u32(arg, lenKey));
  w.put(type, ip, addrLen(fam));
}

// { start, end } as a port range (u16) or a uid range (u32).
template <typename Range, typename Field>
void putRange(MsgWriter& w, const Arg& arg, const char* key, uint16_t type) {
  Napi::Value v = get(arg, key);
  if (v.IsUndefined()) return;
  Napi::Object r = v.As<Napi::Object>();
  Range range{static_cast<Field>(u32(r, "start")), static_cast<Field>(u32(r, "end"))};
  w.put(type, range);
}

// Defaults follow iproute2: a new rule looks up a table (main unless told
// otherwise, or the l3mdev's); a delete leaves action and table as wildcards.
void encodeRule(Encoder& enc, const Arg& arg, uint16_t type, uint16_t flags) {
  enc.w.begin<fib_rule_hdr>(type, flags, enc.seq);
  fib_rule_hdr h{};
  bool add = type == RTM_NEWRULE;
  h.family = familyArg(arg);  // TS always sends it
  Napi::Value v;
  if (!(v = get(arg, "tos")).IsUndefined()) h.tos = v.As<Napi::Number>().Uint32Value();
  if (get(arg, "invert").ToBoolean()) h.flags |= FIB_RULE_INVERT;
  if (!(v = get(arg, "action")).IsUndefined()) h.action = enumValue(v, kActions, "action");
  else if (has(arg, "goto")) h.action = FR_ACT_GOTO;
  else if (add) h.action = FR_ACT_TO_TBL;
  putPrefix(enc.w, arg, "src", "srcLen", FRA_SRC, h.src_len, h.family);
  putPrefix(enc.w, arg, "dst", "dstLen", FRA_DST, h.dst_len, h.family);
  kRule.encode(arg, enc.w);
  putRange<fib_rule_uid_range, uint32_t>(enc.w, arg, "uidRange", FRA_UID_RANGE);
  putRange<fib_rule_port_range, uint16_t>(enc.w, arg, "sport", FRA_SPORT_RANGE);
  putRange<fib_rule_port_range, uint16_t>(enc.w, arg, "dport", FRA_DPORT_RANGE);
  if (!(v = get(arg, "table")).IsUndefined()) {
    uint32_t t = nameOrNumber(v, routeTables(), "table");
    // Ids that fit the header go there; larger ones only in FRA_TABLE.
    if (t < 256) h.table = t;
    else enc.w.put<uint32_t>(FRA_TABLE, t);
  } else if (add && h.action == FR_ACT_TO_TBL && !has(arg, "l3mdev")) {
    h.table = RT_TABLE_MAIN;
  }
  if (!(v = get(arg, "protocol")).IsUndefined()) enc.w.put<uint8_t>(FRA_PROTOCOL, nameOrNumber(v, routeProtocols(), "protocol"));
  *reinterpret_cast<fib_rule_hdr*>(NLMSG_DATA(enc.w.hdr())) = h;
  enc.w.end();
}

void encodeRuleAdd(Encoder& enc, const Arg& arg) {
  encodeRule(enc, arg, RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
}
void encodeRuleDel(Encoder& enc, const Arg& arg) { encodeRule(enc, arg, RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK); }

// The kernel takes no attributes in a rule dump request, only the family:
// the other filters are applied in TS.
void encodeRuleList(Encoder& enc, const Arg& arg) {
  auto* h = enc.w.begin<fib_rule_hdr>(RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, enc.seq);
  h->family = familyArg(arg);
  enc.w.end();
}

template <typename Range>
Napi::Object rangeObject(Napi::Env env, const rtattr* a) {
  auto r = attrGet<Range>(a);
  Napi::Object o = Napi::Object::New(env);
  set(o, "start", r.start);
  set(o, "end", r.end);
  return o;
}

// RTM_NEWRULE/RTM_DELRULE, replies and events: IPv4 and IPv6 rules only
// (the multicast routing families' rules are skipped).
Napi::Value decodeRule(Napi::Env env, const nlmsghdr* h) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(fib_rule_hdr))) return env.Undefined();
  auto* frh = static_cast<const fib_rule_hdr*>(NLMSG_DATA(h));
  if (frh->family != AF_INET && frh->family != AF_INET6) return env.Undefined();
  Attrs attrs(reinterpret_cast<const uint8_t*>(frh) + NLMSG_ALIGN(sizeof(fib_rule_hdr)),
              h->nlmsg_len - NLMSG_LENGTH(sizeof(fib_rule_hdr)));
  // priority and table first, each set once: every rule gets the same shape.
  uint32_t priority = 0, table = frh->table;
  for (auto a : attrs) {
    if (attrType(a) == FRA_PRIORITY) priority = attrGet<uint32_t>(a);
    else if (attrType(a) == FRA_TABLE) table = attrGet<uint32_t>(a);
  }
  ObjBuilder o(env);
  o.set("family", frh->family == AF_INET ? 4 : 6);
  o.set("priority", priority);
  o.set("action", enumName(env, frh->action, kActions));
  o.set("table", table);
  o.set("flags", flagNames(env, frh->flags, kRuleFlags));
  if (frh->tos) o.set("tos", frh->tos);
  for (auto a : attrs) {
    switch (attrType(a)) {
      case FRA_PRIORITY:
      case FRA_TABLE: break;
      case FRA_SRC: o.set("src", cidrString(env, RTA_DATA(a), RTA_PAYLOAD(a), frh->src_len)); break;
      case FRA_DST: o.set("dst", cidrString(env, RTA_DATA(a), RTA_PAYLOAD(a), frh->dst_len)); break;
      case FRA_UID_RANGE: o.set("uidRange", rangeObject<fib_rule_uid_range>(env, a)); break;
      case FRA_SPORT_RANGE: o.set("sport", rangeObject<fib_rule_port_range>(env, a)); break;
      case FRA_DPORT_RANGE: o.set("dport", rangeObject<fib_rule_port_range>(env, a)); break;
      case FRA_PROTOCOL: o.set("protocol", enumName(env, attrGet<uint8_t>(a), routeProtocols())); break;
      case FRA_SUPPRESS_PREFIXLEN:  // the kernel reports -1 for "not set"
        if (attrGet<int32_t>(a) >= 0) o.set("suppressPrefixlen", attrGet<uint32_t>(a));
        break;
      default: kRule.decodeOne(env, a, o);
    }
  }
  return o.done();
}

RegisterDecoders decoders{{RTM_NEWRULE, decodeRule}, {RTM_DELRULE, decodeRule}};

// schema().rule: the attributes, the actions (fib_rule_hdr.action) and the reported flags.
RegisterSchema schema{"rule", [](Napi::Env env, Napi::Object out) {
  out.Set("attrs", schemaOf(env, {&kRule}));
  out.Set("actions", nameList(env, kActions));
  out.Set("flags", nameList(env, kRuleFlags));
}};

RegisterOps ops{
    {"ruleAdd", false, false, encodeRuleAdd, nullptr},
    {"ruleDel", false, false, encodeRuleDel, nullptr},
    {"ruleList", true, true, encodeRuleList, listOf<decodeRule>},
};

}  // namespace

}  // namespace rtnl
