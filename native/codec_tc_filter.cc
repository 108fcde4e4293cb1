// Traffic control filters: RTM_{NEW,DEL,GET}TFILTER (struct tcmsg, with
// tcm_info = prio << 16 | protocol in network order). Classifiers u32 and
// matchall, and the one action a bandwidth limit needs: mirred, which
// redirects or mirrors packets to another device (an ifb, to shape a
// device's ingress). Attributes go in the order tc sends them, so requests
// match iproute2's byte for byte.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attrs.h"
#include "ops.h"
#include "tc_handle.h"

namespace rtnl {

namespace {

// The classifiers rtnl creates and decodes (values index kFilterKinds).
enum FilterKind : uint32_t { kU32, kMatchall, kOther };
const EnumName kFilterKinds[] = {{kU32, "u32"}, {kMatchall, "matchall"}};

// tcm_info's protocol, as tc names it (ETH_P_*, host order here).
const EnumName kProtocols[] = {{ETH_P_ALL, "all"},       {ETH_P_IP, "ip"},          {ETH_P_IPV6, "ipv6"},
                               {ETH_P_ARP, "arp"},       {ETH_P_8021Q, "802.1Q"},   {ETH_P_8021AD, "802.1ad"}};

// mirred's eaction is one of four: a direction (index 0 egress, 1 ingress)
// by what happens to the packet (0 redirect: it goes there instead; 1 mirror: a copy does).
const EnumName kDirections[] = {{0, "egress"}, {1, "ingress"}};
const EnumName kMirredModes[] = {{0, "redirect"}, {1, "mirror"}};
constexpr int kEaction[2][2] = {{TCA_EGRESS_REDIR, TCA_EGRESS_MIRROR}, {TCA_INGRESS_REDIR, TCA_INGRESS_MIRROR}};

// What becomes of the packet after an action (tc_gen's action), as tc names them.
const EnumName kControls[] = {{static_cast<uint32_t>(TC_ACT_UNSPEC), "continue"}, {TC_ACT_OK, "pass"},
                              {TC_ACT_RECLASSIFY, "reclassify"}, {TC_ACT_SHOT, "drop"},
                              {TC_ACT_PIPE, "pipe"}, {TC_ACT_STOLEN, "stolen"}, {TC_ACT_TRAP, "trap"}};

const EnumName kActionKinds[] = {{0, "mirred"}};

constexpr uint16_t kReq = NLM_F_REQUEST | NLM_F_ACK;

// ---- u32 handles: "htid:hash:node" in hex, as tc writes them ----

// "800:", "800::800", "800:0:800" (TS validated the form).
uint32_t u32Handle(const Napi::Value& v) {
  char s[16];
  if (ascii(v, s, sizeof s) == SIZE_MAX) unvalidated(v.Env(), "handle");
  unsigned long part[3] = {0, 0, 0};
  char* p = s;
  for (int i = 0; i < 3 && *p; i++) {
    part[i] = std::strtoul(p, &p, 16);
    if (*p == ':') p++;
  }
  return static_cast<uint32_t>(part[0] << 20 | part[1] << 12 | part[2]);
}

// As tc prints them (sprint_u32_handle): empty fields left out, "800::800".
Napi::Value u32HandleText(Napi::Env env, uint32_t h) {
  char buf[32];
  int n = 0;
  uint32_t ht = h >> 20, hash = (h >> 12) & 0xff, node = h & 0xfff;
  if (ht) n += std::snprintf(buf + n, sizeof buf - n, "%x:", ht);
  if (hash) n += std::snprintf(buf + n, sizeof buf - n, "%x", hash);
  if (node) n += std::snprintf(buf + n, sizeof buf - n, ":%x", node);
  return Napi::String::New(env, buf, n);
}

// ---- encoding ----

// A list of actions (TCA_ACT_TAB style: one nest per action, numbered from 1).
void putActions(MsgWriter& w, uint16_t type, const Napi::Value& v) {
  Napi::Array list = v.As<Napi::Array>();
  size_t nest = w.nestBegin(type);
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Object a = list.Get(i).As<Napi::Object>();
    size_t order = w.nestBegin(static_cast<uint16_t>(i + 1));
    w.putStr(TCA_ACT_KIND, "mirred");  // the one kind (TS checked)
    size_t opts = w.nestBegin(TCA_ACT_OPTIONS | NLA_F_NESTED);
    uint32_t dir = enumValue(get(a, "direction"), kDirections, "direction");
    uint32_t mode = enumValue(get(a, "action"), kMirredModes, "action");
    tc_mirred m{};
    m.eaction = kEaction[dir][mode];
    m.ifindex = u32(a, "link");
    uint32_t control;
    // tc's defaults: a redirected packet is gone from here, a mirrored one goes on.
    if (!optEnum(get(a, "control"), kControls, "control", control)) control = mode == 0 ? TC_ACT_STOLEN : TC_ACT_PIPE;
    m.action = static_cast<int>(control);
    w.put(TCA_MIRRED_PARMS, m);
    w.nestEnd(opts);
    w.nestEnd(order);
  }
  w.nestEnd(nest);
}

void u32Options(MsgWriter& w, const Arg& arg) {
  Napi::Value classid = get(arg, "classid"), actions = get(arg, "actions"), match = get(arg, "match");
  size_t nest = w.nestBegin(TCA_OPTIONS);
  if (!classid.IsUndefined()) w.put<uint32_t>(TCA_U32_CLASSID, tcHandle(classid, "classid"));
  if (!actions.IsUndefined()) putActions(w, TCA_U32_ACT, actions);
  // The selector: its 32-bit keys, in network order; none given is tc's
  // `match u32 0 0` (one key matching everything).
  std::vector<tc_u32_key> keys;
  if (!match.IsUndefined()) {
    Napi::Array list = match.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Object k = list.Get(i).As<Napi::Object>();
      tc_u32_key key{};
      key.mask = htonl(u32(k, "mask"));
      key.val = htonl(u32(k, "value"));
      key.off = get(k, "offset").As<Napi::Number>().Int32Value();
      keys.push_back(key);
    }
  }
  if (keys.empty()) keys.push_back(tc_u32_key{});
  std::vector<uint8_t> sel(sizeof(tc_u32_sel) + keys.size() * sizeof(tc_u32_key));
  auto* s = reinterpret_cast<tc_u32_sel*>(sel.data());
  s->nkeys = static_cast<uint8_t>(keys.size());
  // A match that classifies or acts ends the lookup, as tc marks it.
  if (!classid.IsUndefined() || !actions.IsUndefined()) s->flags = TC_U32_TERMINAL;
  std::memcpy(sel.data() + sizeof(tc_u32_sel), keys.data(), keys.size() * sizeof(tc_u32_key));
  w.put(TCA_U32_SEL, sel.data(), sel.size());
  w.nestEnd(nest);
}

void matchallOptions(MsgWriter& w, const Arg& arg) {
  Napi::Value classid = get(arg, "classid"), actions = get(arg, "actions");
  size_t nest = w.nestBegin(TCA_OPTIONS);
  if (!classid.IsUndefined()) w.put<uint32_t>(TCA_MATCHALL_CLASSID, tcHandle(classid, "classid"));
  if (!actions.IsUndefined()) putActions(w, TCA_MATCHALL_ACT, actions);
  w.nestEnd(nest);
}

FilterKind kindOf(const Napi::Value& v) {
  uint32_t k;
  return optEnum(v, kFilterKinds, "kind", k) ? static_cast<FilterKind>(k) : kOther;
}

// An add/replace (with options) or a delete (kind, prio, protocol and handle select).
void encodeFilter(Encoder& enc, const Arg& arg, uint16_t type, uint16_t flags) {
  Napi::Value kindV = get(arg, "kind"), parentV = get(arg, "parent"), handleV = get(arg, "handle");
  Napi::Value prioV = get(arg, "prio"), protoV = get(arg, "protocol");
  FilterKind kind = kindOf(kindV);
  auto* t = enc.w.begin<tcmsg>(type, flags, enc.seq);
  t->tcm_family = AF_UNSPEC;
  t->tcm_ifindex = static_cast<int>(u32(arg, "link"));
  if (!parentV.IsUndefined()) t->tcm_parent = tcHandle(parentV, "parent");
  if (!handleV.IsUndefined()) t->tcm_handle = kind == kU32 ? u32Handle(handleV) : handleV.As<Napi::Number>().Uint32Value();
  uint32_t prio = 0, proto = 0;
  optU32(prioV, prio);
  optEnum(protoV, kProtocols, "protocol", proto);
  t->tcm_info = TC_H_MAKE(prio << 16, htons(static_cast<uint16_t>(proto)));
  if (!kindV.IsUndefined()) putString(enc.w, TCA_KIND, kindV);
  if (type == RTM_NEWTFILTER) {
    if (kind == kU32) u32Options(enc.w, arg);
    else if (kind == kMatchall) matchallOptions(enc.w, arg);
    else unvalidated(arg.Env(), "kind");
  }
  enc.w.end();
}

void encodeFilterAdd(Encoder& enc, const Arg& arg) { encodeFilter(enc, arg, RTM_NEWTFILTER, kReq | NLM_F_CREATE | NLM_F_EXCL); }
// tc's replace: no NLM_F_REPLACE for filters; the handle names the one changed.
void encodeFilterReplace(Encoder& enc, const Arg& arg) { encodeFilter(enc, arg, RTM_NEWTFILTER, kReq | NLM_F_CREATE); }
void encodeFilterDel(Encoder& enc, const Arg& arg) { encodeFilter(enc, arg, RTM_DELTFILTER, kReq); }

// The kernel dumps the filters of one device's qdisc or class (tcm_parent;
// 0: the root qdisc's).
void encodeFilterList(Encoder& enc, const Arg& arg) {
  auto* t = enc.w.begin<tcmsg>(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, enc.seq);
  t->tcm_family = AF_UNSPEC;
  t->tcm_ifindex = static_cast<int>(u32(arg, "link"));
  Napi::Value parentV = get(arg, "parent");
  if (!parentV.IsUndefined()) t->tcm_parent = tcHandle(parentV, "parent");
  enc.w.end();
}

// ---- decoding ----

void decodeMirred(Napi::Env env, const rtattr* opts, ObjBuilder& o) {
  for (auto a : Attrs::of(opts)) {
    if (attrType(a) != TCA_MIRRED_PARMS) continue;
    auto m = attrGet<tc_mirred>(a);
    for (uint32_t d = 0; d < 2; d++)
      for (uint32_t k = 0; k < 2; k++)
        if (kEaction[d][k] == m.eaction) {
          o.set("direction", name(env, kDirections[d].name));
          o.set("action", name(env, kMirredModes[k].name));
        }
    o.set("link", m.ifindex);
    o.set("control", enumName(env, static_cast<uint32_t>(m.action), kControls));
    o.set("index", m.index);
  }
}

// Actions in order; kinds other than mirred as `generic`, with the kernel's name.
Napi::Array decodeActions(Napi::Env env, const rtattr* nest) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto order : Attrs::of(nest)) {
    const rtattr *kindA = nullptr, *opts = nullptr;
    for (auto a : Attrs::of(order)) {
      if (attrType(a) == TCA_ACT_KIND) kindA = a;
      else if (attrType(a) == TCA_ACT_OPTIONS) opts = a;
    }
    ObjBuilder o(env);
    std::string_view k = kindA ? attrStr(kindA) : "";
    if (k == kActionKinds[0].name) {
      o.set("kind", name(env, kActionKinds[0].name));
      if (opts) decodeMirred(env, opts, o);
    } else {
      o.set("kind", name(env, "generic"));
      o.set("tcKind", Napi::String::New(env, std::string(k)));
    }
    out.Set(i++, o.done());
  }
  return out;
}

void decodeU32(Napi::Env env, const rtattr* opts, ObjBuilder& o) {
  for (auto a : Attrs::of(opts)) {
    switch (attrType(a)) {
      case TCA_U32_DIVISOR: o.set("divisor", attrGet<uint32_t>(a)); break;
      case TCA_U32_CLASSID: o.set("classid", handleText(env, attrGet<uint32_t>(a))); break;
      case TCA_U32_ACT: o.set("actions", static_cast<napi_value>(decodeActions(env, a))); break;
      case TCA_U32_SEL: {
        if (RTA_PAYLOAD(a) < sizeof(tc_u32_sel)) break;
        auto s = attrGet<tc_u32_sel>(a);
        size_t n = std::min<size_t>(s.nkeys, (RTA_PAYLOAD(a) - sizeof(tc_u32_sel)) / sizeof(tc_u32_key));
        const auto* keys = reinterpret_cast<const uint8_t*>(RTA_DATA(a)) + sizeof(tc_u32_sel);
        Napi::Array match = Napi::Array::New(env, n);
        for (size_t i = 0; i < n; i++) {
          tc_u32_key k;
          std::memcpy(&k, keys + i * sizeof k, sizeof k);
          ObjBuilder key(env);
          key.set("value", ntohl(k.val));
          key.set("mask", ntohl(k.mask));
          key.set("offset", k.off);
          match.Set(static_cast<uint32_t>(i), key.done());
        }
        o.set("terminal", (s.flags & TC_U32_TERMINAL) != 0);
        o.set("match", static_cast<napi_value>(match));
        break;
      }
    }
  }
}

void decodeMatchall(Napi::Env env, const rtattr* opts, ObjBuilder& o) {
  for (auto a : Attrs::of(opts)) {
    if (attrType(a) == TCA_MATCHALL_CLASSID) o.set("classid", handleText(env, attrGet<uint32_t>(a)));
    else if (attrType(a) == TCA_MATCHALL_ACT) o.set("actions", static_cast<napi_value>(decodeActions(env, a)));
  }
}

// A filter of a dump. u32 reports its hash table (handle "800:", a divisor)
// and each key node ("800::800") besides the prio's own entry (no handle),
// as `tc filter show` lists them.
Napi::Value decodeFilter(Napi::Env env, const nlmsghdr* h) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(tcmsg))) return env.Undefined();
  auto* t = static_cast<const tcmsg*>(NLMSG_DATA(h));
  const rtattr *kindA = nullptr, *opts = nullptr, *chain = nullptr;
  for (auto a : Attrs(reinterpret_cast<const uint8_t*>(t) + NLMSG_ALIGN(sizeof(tcmsg)), h->nlmsg_len - NLMSG_LENGTH(sizeof(tcmsg)))) {
    if (attrType(a) == TCA_KIND) kindA = a;
    else if (attrType(a) == TCA_OPTIONS) opts = a;
    else if (attrType(a) == TCA_CHAIN) chain = a;
  }
  ObjBuilder o(env);
  FilterKind kind = kOther;
  std::string_view k = kindA ? attrStr(kindA) : "";
  for (const auto& n : kFilterKinds)
    if (k == n.name) kind = static_cast<FilterKind>(n.value);
  if (kind == kOther) {
    o.set("kind", name(env, "generic"));
    o.set("tcKind", Napi::String::New(env, std::string(k)));
  } else {
    o.set("kind", name(env, kFilterKinds[kind].name));
  }
  o.set("link", t->tcm_ifindex);
  o.set("parent", handleText(env, t->tcm_parent));
  o.set("prio", TC_H_MAJ(t->tcm_info) >> 16);
  o.set("protocol", enumName(env, ntohs(static_cast<uint16_t>(TC_H_MIN(t->tcm_info))), kProtocols));
  if (chain) o.set("chain", attrGet<uint32_t>(chain));
  if (t->tcm_handle) {
    if (kind == kU32) o.set("handle", u32HandleText(env, t->tcm_handle));
    else o.set("handle", t->tcm_handle);
  }
  if (opts && kind == kU32) decodeU32(env, opts, o);
  else if (opts && kind == kMatchall) decodeMatchall(env, opts, o);
  return o.done();
}

// schema().tcFilter: the names a filter spec takes (its options are structs
// and their fields, checked in src/tc-filter.ts).
RegisterSchema schema{"tcFilter", [](Napi::Env env, Napi::Object out) {
  out.Set("kinds", nameList(env, kFilterKinds));
  out.Set("protocols", nameList(env, kProtocols));
  out.Set("actionKinds", nameList(env, kActionKinds));
  out.Set("directions", nameList(env, kDirections));
  out.Set("mirredActions", nameList(env, kMirredModes));
  out.Set("controls", nameList(env, kControls));
}};

RegisterOps ops{
    {"filterAdd", false, false, encodeFilterAdd, nullptr},
    {"filterReplace", false, false, encodeFilterReplace, nullptr},
    {"filterDel", false, false, encodeFilterDel, nullptr},
    {"filterList", true, true, encodeFilterList, listOf<decodeFilter>},
};

}  // namespace

}  // namespace rtnl
