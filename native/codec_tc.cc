// Traffic control: RTM_{NEW,DEL,GET}QDISC and RTM_{NEW,DEL,GET}TCLASS, both
// struct tcmsg. Qdiscs tbf, htb, ingress and clsact, and htb classes: what a
// bandwidth limit needs. Rates are bytes per second, as the kernel keeps them.
//
// TBF and HTB take burst sizes as transmit times in the packet scheduler's
// ticks; the arithmetic below is tc's (same rounding), so requests match
// iproute2's byte for byte and values read back match what `tc` shows.
#include <linux/gen_stats.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "attrs.h"
#include "ops.h"
#include "tc_handle.h"

namespace rtnl {

namespace {

// ---- the scheduler clock and tc's conversions ----

constexpr double kUsecPerSec = 1e6;  // tc's times are in microseconds

struct Psched {
  double tickInUsec;  // scheduler ticks per microsecond
  uint32_t hz;        // the clock rate tc sizes htb's default bursts with
};

// The clock as the kernel states it in /proc/net/psched (what tc reads): the
// tick length is a kernel internal that no UAPI header carries.
const Psched& psched(Napi::Env env) {
  static Psched p{0, 0};
  if (p.tickInUsec > 0) return p;
  unsigned t2us = 0, us2t = 0, res = 0, hz = 0;
  FILE* f = std::fopen("/proc/net/psched", "r");
  int err = f ? EINVAL : errno;
  int n = f ? std::fscanf(f, "%08x%08x%08x%08x", &t2us, &us2t, &res, &hz) : 0;
  if (f) std::fclose(f);
  if (n != 4 || !us2t || !res) throw makeError(env, err, "tc", "/proc/net/psched", "cannot read the packet scheduler's clock");
  // A nanosecond clock advertises t2us 1000 for old tc binaries: it means 1.
  if (res == 1000000000) t2us = us2t;
  p.hz = res == 1000000 ? hz : 0;
  p.tickInUsec = static_cast<double>(t2us) / us2t * (res / kUsecPerSec);
  return p;
}

// A u32 field from tc's double arithmetic, truncated as tc does; capped
// where tc's conversion would overflow (tiny rates, huge bursts).
uint32_t toU32(double d) { return d >= UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(d); }

// The time to send size bytes at rate, in ticks (whole microseconds first, as tc).
uint32_t xmitTicks(Napi::Env env, uint64_t rate, uint32_t size) {
  uint32_t us = toU32(kUsecPerSec * (static_cast<double>(size) / static_cast<double>(rate)));
  return toU32(us * psched(env).tickInUsec);
}

// The bytes sent at rate in ticks: the inverse, as tc shows bursts.
uint32_t xmitSize(Napi::Env env, uint64_t rate, uint32_t ticks) {
  uint32_t us = toU32(ticks / psched(env).tickInUsec);
  return toU32(static_cast<double>(rate) * us / kUsecPerSec);
}

// A rate as tc describes it. cell_log is the cell size of the rate table tc
// would send for packets up to mtu; rtnl sends no table (the kernel reads one
// only when linklayer is unset), but keeps the field as tc sets it.
tc_ratespec rateSpec(uint64_t rate, uint32_t mtu) {
  tc_ratespec r{};
  if (!mtu) mtu = 2047;  // tc's default for a table without an mtu
  while ((mtu >> r.cell_log) > 255) r.cell_log++;
  r.linklayer = TC_LINKLAYER_ETHERNET;
  r.cell_align = -1;
  r.rate = static_cast<uint32_t>(std::min<uint64_t>(rate, UINT32_MAX));  // more: in a *64 attribute
  return r;
}

constexpr uint64_t k32 = 1ull << 32;

uint64_t num64(const Arg& o, const char* key) { return static_cast<uint64_t>(get(o, key).As<Napi::Number>().DoubleValue()); }

// ---- handles ----

constexpr uint16_t kReq = NLM_F_REQUEST | NLM_F_ACK;

tcmsg* begin(Encoder& enc, const Arg& arg, uint16_t type, uint16_t flags) {
  auto* t = enc.w.begin<tcmsg>(type, flags, enc.seq);
  t->tcm_family = AF_UNSPEC;
  if (has(arg, "link")) t->tcm_ifindex = static_cast<int>(u32(arg, "link"));
  return t;
}

// ---- qdisc options ----

void tbfOptions(Napi::Env env, MsgWriter& w, const Arg& arg) {
  uint64_t rate = num64(arg, "rate"), peak = has(arg, "peakrate") ? num64(arg, "peakrate") : 0;
  uint32_t burst = u32(arg, "burst"), mtu = has(arg, "mtu") ? u32(arg, "mtu") : 0;
  tc_tbf_qopt q{};
  q.rate = rateSpec(rate, mtu);
  if (has(arg, "limit")) {
    q.limit = u32(arg, "limit");
  } else {  // the queue that holds latency's worth of packets, as tc sizes it
    double us = u32(arg, "latency");
    double lim = rate * us / kUsecPerSec + burst;
    if (peak) lim = std::min(lim, peak * us / kUsecPerSec + mtu);
    q.limit = toU32(lim);
  }
  q.buffer = xmitTicks(env, q.rate.rate, burst);
  if (peak) {
    q.peakrate = rateSpec(peak, mtu);
    q.mtu = xmitTicks(env, q.peakrate.rate, mtu);
  }
  size_t nest = w.nestBegin(TCA_OPTIONS);
  w.put(TCA_TBF_PARMS, q);
  w.put<uint32_t>(TCA_TBF_BURST, burst);  // bytes: the kernel prefers it to the ticks in PARMS
  if (rate >= k32) w.put<uint64_t>(TCA_TBF_RATE64, rate);
  if (peak >= k32) w.put<uint64_t>(TCA_TBF_PRATE64, peak);
  if (peak) w.put<uint32_t>(TCA_TBF_PBURST, mtu);
  w.nestEnd(nest);
}

// An htb qdisc's attributes besides its tc_htb_glob.
const AttrTable kHtbAttrs{{"directQlen", TCA_HTB_DIRECT_QLEN, Wire::U32}};

void htbOptions(MsgWriter& w, const Arg& arg) {
  tc_htb_glob g{};
  g.version = TC_HTB_PROTOVER;
  g.rate2quantum = has(arg, "r2q") ? u32(arg, "r2q") : 10;  // tc's default
  if (has(arg, "defaultClass")) g.defcls = u32(arg, "defaultClass");
  size_t nest = w.nestBegin(TCA_OPTIONS);
  w.put(TCA_HTB_INIT, g);
  kHtbAttrs.encode(arg, w);
  w.nestEnd(nest);
}

// The qdisc kinds rtnl creates and decodes (values index kKinds); the
// first is also the one class kind.
enum Kind : uint32_t { kHtb, kTbf, kIngress, kClsact, kOther };
const EnumName kKinds[] = {{kHtb, "htb"}, {kTbf, "tbf"}, {kIngress, "ingress"}, {kClsact, "clsact"}};
const Names kClassKinds = Names(kKinds).first(1);

Kind kindOf(const Napi::Value& v) {
  char s[16];
  if (ascii(v, s, sizeof s) != SIZE_MAX)
    for (const auto& k : kKinds)
      if (!std::strcmp(s, k.name)) return static_cast<Kind>(k.value);
  return kOther;
}

// A qdisc add/replace (options) or delete (the kind only checks which qdisc).
void encodeQdisc(Encoder& enc, const Arg& arg, uint16_t type, uint16_t flags) {
  Napi::Env env = arg.Env();
  Napi::Value kindV = get(arg, "kind"), parentV = get(arg, "parent"), handleV = get(arg, "handle");
  Kind kind = kindV.IsUndefined() ? kOther : kindOf(kindV);
  // ingress and clsact sit at their own parent with handle ffff:, as tc puts
  // them; anything else at the root unless told.
  bool special = kind == kIngress || kind == kClsact;
  uint32_t parent = !parentV.IsUndefined() ? tcHandle(parentV, "parent")
                    : special ? (kind == kIngress ? TC_H_INGRESS : TC_H_CLSACT) : TC_H_ROOT;
  uint32_t handle = !handleV.IsUndefined() ? tcHandle(handleV, "handle") : special ? TC_H_MAKE(TC_H_INGRESS, 0) : 0;
  tcmsg* t = begin(enc, arg, type, flags);
  t->tcm_parent = parent;
  t->tcm_handle = handle;
  if (!kindV.IsUndefined()) putString(enc.w, TCA_KIND, kindV);
  if (type == RTM_NEWQDISC) {
    if (kind == kTbf) tbfOptions(env, enc.w, arg);
    else if (kind == kHtb) htbOptions(enc.w, arg);
    else if (!special) unvalidated(env, "kind");
  }
  enc.w.end();
}

void encodeQdiscAdd(Encoder& enc, const Arg& arg) { encodeQdisc(enc, arg, RTM_NEWQDISC, kReq | NLM_F_CREATE | NLM_F_EXCL); }
void encodeQdiscReplace(Encoder& enc, const Arg& arg) { encodeQdisc(enc, arg, RTM_NEWQDISC, kReq | NLM_F_CREATE | NLM_F_REPLACE); }
void encodeQdiscDel(Encoder& enc, const Arg& arg) { encodeQdisc(enc, arg, RTM_DELQDISC, kReq); }

void encodeQdiscList(Encoder& enc, const Arg& arg) {
  begin(enc, arg, RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP);
  enc.w.end();
}

// ---- classes (htb) ----

void htbClassOptions(Napi::Env env, MsgWriter& w, const Arg& arg) {
  constexpr uint32_t kMtu = 1600;  // tc's packet size for htb: sizes the default bursts and cell_log
  uint64_t rate = num64(arg, "rate"), ceil = has(arg, "ceil") ? num64(arg, "ceil") : rate;
  uint32_t hz = psched(env).hz;
  // The least burst that keeps the rate at the clock's granularity, plus a packet (tc's default).
  auto burstFor = [&](uint64_t r, const char* key) {
    return has(arg, key) ? u32(arg, key) : static_cast<uint32_t>((hz ? r / hz : 0) + kMtu);
  };
  tc_htb_opt o{};
  o.rate = rateSpec(rate, kMtu);
  o.ceil = rateSpec(ceil, kMtu);
  o.buffer = xmitTicks(env, rate, burstFor(rate, "burst"));
  o.cbuffer = xmitTicks(env, ceil, burstFor(ceil, "cburst"));
  if (has(arg, "quantum")) o.quantum = u32(arg, "quantum");
  if (has(arg, "prio")) o.prio = u32(arg, "prio");
  size_t nest = w.nestBegin(TCA_OPTIONS);
  if (rate >= k32) w.put<uint64_t>(TCA_HTB_RATE64, rate);
  if (ceil >= k32) w.put<uint64_t>(TCA_HTB_CEIL64, ceil);
  w.put(TCA_HTB_PARMS, o);
  w.nestEnd(nest);
}

void encodeClass(Encoder& enc, const Arg& arg, uint16_t type, uint16_t flags) {
  Napi::Value kindV = get(arg, "kind"), parentV = get(arg, "parent");
  tcmsg* t = begin(enc, arg, type, flags);
  t->tcm_handle = tcHandle(get(arg, "handle"), "handle");
  if (!parentV.IsUndefined()) t->tcm_parent = tcHandle(parentV, "parent");
  if (!kindV.IsUndefined()) putString(enc.w, TCA_KIND, kindV);
  if (type == RTM_NEWTCLASS) {
    if (kindOf(kindV) != kHtb) unvalidated(arg.Env(), "kind");
    htbClassOptions(arg.Env(), enc.w, arg);
  }
  enc.w.end();
}

void encodeClassAdd(Encoder& enc, const Arg& arg) { encodeClass(enc, arg, RTM_NEWTCLASS, kReq | NLM_F_CREATE | NLM_F_EXCL); }
void encodeClassReplace(Encoder& enc, const Arg& arg) { encodeClass(enc, arg, RTM_NEWTCLASS, kReq | NLM_F_CREATE | NLM_F_REPLACE); }
void encodeClassDel(Encoder& enc, const Arg& arg) { encodeClass(enc, arg, RTM_DELTCLASS, kReq); }

// The kernel dumps the classes of one device (tcm_ifindex), none without.
void encodeClassList(Encoder& enc, const Arg& arg) {
  begin(enc, arg, RTM_GETTCLASS, NLM_F_REQUEST | NLM_F_DUMP);
  enc.w.end();
}

// ---- decoding ----

// A kind's parameter struct, and the 64-bit attributes that carry rates
// past 32 bits (where the struct's field then reads UINT32_MAX).
template <typename T>
T params(const rtattr* opts, uint16_t parms, uint16_t type64a, uint64_t& a, uint16_t type64b, uint64_t& b) {
  T p{};
  for (auto x : Attrs::of(opts)) {
    uint16_t type = attrType(x);
    if (type == parms) p = attrGet<T>(x);
    else if (type == type64a) a = attrGet<uint64_t>(x);
    else if (type == type64b) b = attrGet<uint64_t>(x);
  }
  return p;
}

void decodeTbf(Napi::Env env, const rtattr* opts, ObjBuilder& o) {
  uint64_t rate = 0, peak = 0;
  auto q = params<tc_tbf_qopt>(opts, TCA_TBF_PARMS, TCA_TBF_RATE64, rate, TCA_TBF_PRATE64, peak);
  if (!rate) rate = q.rate.rate;
  if (!peak) peak = q.peakrate.rate;
  o.set("rate", static_cast<double>(rate));
  o.set("burst", xmitSize(env, rate, q.buffer));
  o.set("limit", q.limit);
  if (peak) {
    o.set("peakrate", static_cast<double>(peak));
    o.set("mtu", xmitSize(env, peak, q.mtu));
  }
}

void decodeHtb(Napi::Env env, const rtattr* opts, ObjBuilder& o) {
  for (auto a : Attrs::of(opts)) {
    if (attrType(a) == TCA_HTB_INIT) {
      auto g = attrGet<tc_htb_glob>(a);
      o.set("defaultClass", g.defcls);
      o.set("r2q", g.rate2quantum);
    } else {
      kHtbAttrs.decodeOne(env, a, o);
    }
  }
}

void decodeHtbClass(Napi::Env env, const rtattr* opts, ObjBuilder& o) {
  uint64_t rate = 0, ceil = 0;
  auto h = params<tc_htb_opt>(opts, TCA_HTB_PARMS, TCA_HTB_RATE64, rate, TCA_HTB_CEIL64, ceil);
  if (!rate) rate = h.rate.rate;
  if (!ceil) ceil = h.ceil.rate;
  o.set("rate", static_cast<double>(rate));
  o.set("ceil", static_cast<double>(ceil));
  o.set("burst", xmitSize(env, rate, h.buffer));
  o.set("cburst", xmitSize(env, ceil, h.cbuffer));
  o.set("prio", h.prio);
  o.set("quantum", h.quantum);
  o.set("level", h.level);
}

// Counters (TCA_STATS2), as `tc -s` names them; 64-bit ones as BigInts.
Napi::Object decodeStats(Napi::Env env, const rtattr* nest) {
  gnet_stats_basic basic{};
  gnet_stats_queue queue{};
  uint64_t packets = 0;
  for (auto a : Attrs::of(nest)) {
    switch (attrType(a)) {
      case TCA_STATS_BASIC: basic = attrGet<gnet_stats_basic>(a); break;
      case TCA_STATS_QUEUE: queue = attrGet<gnet_stats_queue>(a); break;
      case TCA_STATS_PKT64: packets = attrGet<uint64_t>(a); break;  // past 2^32 packets
    }
  }
  ObjBuilder o(env);
  o.set("bytes", Napi::BigInt::New(env, static_cast<uint64_t>(basic.bytes)));
  o.set("packets", Napi::BigInt::New(env, packets ? packets : static_cast<uint64_t>(basic.packets)));
  o.set("drops", queue.drops);
  o.set("overlimits", queue.overlimits);
  o.set("requeues", queue.requeues);
  o.set("backlog", queue.backlog);
  o.set("qlen", queue.qlen);
  return o.done();
}

// A qdisc (RTM_NEWQDISC) or a class (RTM_NEWTCLASS) of a dump; its counters
// only when asked for (the kernel always sends them).
template <bool Stats>
Napi::Value decodeTcMsg(Napi::Env env, const nlmsghdr* h) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(tcmsg))) return env.Undefined();
  auto* t = static_cast<const tcmsg*>(NLMSG_DATA(h));
  bool isClass = h->nlmsg_type == RTM_NEWTCLASS;
  const rtattr *kindA = nullptr, *opts = nullptr, *stats = nullptr;
  for (auto a : Attrs(reinterpret_cast<const uint8_t*>(t) + NLMSG_ALIGN(sizeof(tcmsg)), h->nlmsg_len - NLMSG_LENGTH(sizeof(tcmsg)))) {
    if (attrType(a) == TCA_KIND) kindA = a;
    else if (attrType(a) == TCA_OPTIONS) opts = a;
    else if (Stats && attrType(a) == TCA_STATS2) stats = a;
  }
  ObjBuilder o(env);
  Kind kind = kOther;
  std::string_view k = kindA ? attrStr(kindA) : "";
  for (const auto& n : kKinds)
    if (k == n.name) kind = static_cast<Kind>(n.value);
  if (kind == kOther) {  // as links of other kinds: `generic`, with the kernel's name
    o.set("kind", name(env, "generic"));
    o.set("tcKind", Napi::String::New(env, std::string(k)));
  } else {
    o.set("kind", name(env, kKinds[kind].name));
  }
  o.set("link", t->tcm_ifindex);
  o.set("handle", handleText(env, t->tcm_handle));
  o.set("parent", handleText(env, t->tcm_parent));
  if (opts && kind == kHtb) {
    if (isClass) decodeHtbClass(env, opts, o);
    else decodeHtb(env, opts, o);
  } else if (opts && kind == kTbf && !isClass) {
    decodeTbf(env, opts, o);
  }
  if (stats) o.set("stats", static_cast<napi_value>(decodeStats(env, stats)));
  return o.done();
}

constexpr MsgDecoder decodeTc = decodeTcMsg<false>;
constexpr MsgDecoder decodeTcStats = decodeTcMsg<true>;

// schema().tc: the qdisc and class kinds, and htb's attributes (the rest
// of tc's options are structs, checked in src/tc.ts).
RegisterSchema schema{"tc", [](Napi::Env env, Napi::Object out) {
  out.Set("htb", schemaOf(env, {&kHtbAttrs}));
  out.Set("qdiscKinds", nameList(env, kKinds));
  out.Set("classKinds", nameList(env, kClassKinds));
}};

RegisterOps ops{
    {"qdiscAdd", false, false, encodeQdiscAdd, nullptr},
    {"qdiscReplace", false, false, encodeQdiscReplace, nullptr},
    {"qdiscDel", false, false, encodeQdiscDel, nullptr},
    {"qdiscList", true, true, encodeQdiscList, listOf<decodeTc>},
    {"qdiscListStats", true, true, encodeQdiscList, listOf<decodeTcStats>, "qdiscList"},
    {"classAdd", false, false, encodeClassAdd, nullptr},
    {"classReplace", false, false, encodeClassReplace, nullptr},
    {"classDel", false, false, encodeClassDel, nullptr},
    {"classList", true, true, encodeClassList, listOf<decodeTc>},
    {"classListStats", true, true, encodeClassList, listOf<decodeTcStats>, "classList"},
};

}  // namespace

}  // namespace rtnl
