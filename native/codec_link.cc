// RTM_{NEW,DEL,GET}LINK: links of every kind, their kind data (IFLA_LINKINFO),
// veth peers created directly in another namespace, and moves between
// namespaces.
#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/veth.h>

#include <cstring>
#include <utility>

#include "attrs.h"
#include "link_kinds.h"
#include "ops.h"

namespace rtnl {

namespace {

// Attributes every link has (ifinfomsg is handled separately). Encoding
// follows iproute2's order, so requests compare byte for byte with `ip link
// add`: the options it takes in command-line order first (kLink, then the
// namespace), then group, parent and name (kLinkTail), then IFLA_LINKINFO.
// The kernel keeps the MTU in an int: 2^31 and above would read as negative.
const AttrTable kLink{
    {.key = "mtu", .type = IFLA_MTU, .wire = Wire::U32, .max = 0x7fffffff},
    {"address", IFLA_ADDRESS, Wire::Mac},
    {"broadcast", IFLA_BROADCAST, Wire::Mac},
    {"txqlen", IFLA_TXQLEN, Wire::U32},
    ifindexAttr("master", IFLA_MASTER),
    {"numTxQueues", IFLA_NUM_TX_QUEUES, Wire::U32},
    {"numRxQueues", IFLA_NUM_RX_QUEUES, Wire::U32},
    {"gsoMaxSize", IFLA_GSO_MAX_SIZE, Wire::U32},
    {"gsoMaxSegs", IFLA_GSO_MAX_SEGS, Wire::U32},
};
const AttrTable kLinkTail{
    {"linkGroup", IFLA_GROUP, Wire::U32},
    ifindexAttr("link", IFLA_LINK),  // the parent: accepted only by kinds that require it
    {"name", IFLA_IFNAME, Wire::IfName},
};

// Read-only attributes, decoded but never sent.
const AttrTable kLinkState{
    {"alias", IFLA_IFALIAS, Wire::Str},  // encoded by hand: see putUnterminated
    {"minMtu", IFLA_MIN_MTU, Wire::U32},
    {"maxMtu", IFLA_MAX_MTU, Wire::U32},
    {"linkNetnsId", IFLA_LINK_NETNSID, Wire::S32},
    {"promiscuity", IFLA_PROMISCUITY, Wire::U32},
    {"carrier", IFLA_CARRIER, Wire::Bool8},
    {"carrierChanges", IFLA_CARRIER_CHANGES, Wire::U32},
    {"permAddress", IFLA_PERM_ADDRESS, Wire::Mac},
    {"qdisc", IFLA_QDISC, Wire::Str},
    {"protoDown", IFLA_PROTO_DOWN, Wire::Bool8},
};

const EnumName kOperStates[] = {{IF_OPER_UNKNOWN, "UNKNOWN"}, {IF_OPER_NOTPRESENT, "NOTPRESENT"},
                                {IF_OPER_DOWN, "DOWN"}, {IF_OPER_LOWERLAYERDOWN, "LOWERLAYERDOWN"},
                                {IF_OPER_TESTING, "TESTING"}, {IF_OPER_DORMANT, "DORMANT"},
                                {IF_OPER_UP, "UP"}};

// Named as iproute2 prints them.
const EnumName kIfFlags[] = {{IFF_LOOPBACK, "LOOPBACK"}, {IFF_BROADCAST, "BROADCAST"},
                             {IFF_POINTOPOINT, "POINTOPOINT"}, {IFF_MULTICAST, "MULTICAST"},
                             {IFF_NOARP, "NOARP"}, {IFF_ALLMULTI, "ALLMULTI"}, {IFF_PROMISC, "PROMISC"},
                             {IFF_MASTER, "MASTER"}, {IFF_SLAVE, "SLAVE"}, {IFF_DEBUG, "DEBUG"},
                             {IFF_DYNAMIC, "DYNAMIC"}, {IFF_AUTOMEDIA, "AUTOMEDIA"},
                             {IFF_PORTSEL, "PORTSEL"}, {IFF_NOTRAILERS, "NOTRAILERS"}, {IFF_UP, "UP"},
                             {IFF_LOWER_UP, "LOWER_UP"}, {IFF_DORMANT, "DORMANT"}, {IFF_ECHO, "ECHO"}};

const EnumName kLinkTypes[] = {{ARPHRD_ETHER, "ether"}, {ARPHRD_LOOPBACK, "loopback"}, {ARPHRD_NONE, "none"},
                               {ARPHRD_VOID, "void"}, {ARPHRD_IPGRE, "gre"}, {ARPHRD_TUNNEL, "ipip"},
                               {ARPHRD_TUNNEL6, "tunnel6"}, {ARPHRD_SIT, "sit"}, {ARPHRD_INFINIBAND, "infiniband"}};

const AttrTable kBridge{
    {"forwardDelay", IFLA_BR_FORWARD_DELAY, Wire::U32},
    {"helloTime", IFLA_BR_HELLO_TIME, Wire::U32},
    {"maxAge", IFLA_BR_MAX_AGE, Wire::U32},
    {"ageingTime", IFLA_BR_AGEING_TIME, Wire::U32},
    {"stp", IFLA_BR_STP_STATE, Wire::Bool32},
    {"priority", IFLA_BR_PRIORITY, Wire::U16},
    {"vlanFiltering", IFLA_BR_VLAN_FILTERING, Wire::Bool8},
    {.key = "vlanDefaultPvid", .type = IFLA_BR_VLAN_DEFAULT_PVID, .wire = Wire::U16, .max = 4094},
    {"groupFwdMask", IFLA_BR_GROUP_FWD_MASK, Wire::U16},
    {"multicastSnooping", IFLA_BR_MCAST_SNOOPING, Wire::Bool8},
    {"multicastQuerier", IFLA_BR_MCAST_QUERIER, Wire::Bool8},
    {"nfCallIptables", IFLA_BR_NF_CALL_IPTABLES, Wire::Bool8},
    {"nfCallIp6tables", IFLA_BR_NF_CALL_IP6TABLES, Wire::Bool8},
    {"multicastQueryUseIfaddr", IFLA_BR_MCAST_QUERY_USE_IFADDR, Wire::Bool8},
};

// In iproute2's order: the options it adds as it parses them (kVxlan, then
// portRange), then the ones it adds after the loop (kVxlanTail).
const AttrTable kVxlan{
    ifindexAttr("device", IFLA_VXLAN_LINK),
    {"ttl", IFLA_VXLAN_TTL, Wire::U8},
    {"tos", IFLA_VXLAN_TOS, Wire::U8},
    {.key = "label", .type = IFLA_VXLAN_LABEL, .wire = Wire::Be32, .max = 0xfffff},  // 20-bit flow label
    {"ageing", IFLA_VXLAN_AGEING, Wire::U32},
    {"limit", IFLA_VXLAN_LIMIT, Wire::U32},
    {"proxy", IFLA_VXLAN_PROXY, Wire::Bool8},
    {"rsc", IFLA_VXLAN_RSC, Wire::Bool8},
    {"l2miss", IFLA_VXLAN_L2MISS, Wire::Bool8},
    {"l3miss", IFLA_VXLAN_L3MISS, Wire::Bool8},
    {"udpCsum", IFLA_VXLAN_UDP_CSUM, Wire::Bool8},
    {"udp6ZeroCsumTx", IFLA_VXLAN_UDP_ZERO_CSUM6_TX, Wire::Bool8},
    {"udp6ZeroCsumRx", IFLA_VXLAN_UDP_ZERO_CSUM6_RX, Wire::Bool8},
    {"external", IFLA_VXLAN_COLLECT_METADATA, Wire::Bool8},
    {"gbp", IFLA_VXLAN_GBP, Wire::Flag},
};
// "remote" and "group" share IFLA_VXLAN_GROUP(6); decode names it by address type.
const AttrTable kVxlanTail{
    {.key = "vni", .type = IFLA_VXLAN_ID, .wire = Wire::U32, .max = 0xffffff},  // 24 bits
    {"local", IFLA_VXLAN_LOCAL, Wire::Ip, IFLA_VXLAN_LOCAL6},
    {"remote", IFLA_VXLAN_GROUP, Wire::Ip, IFLA_VXLAN_GROUP6},
    {"group", IFLA_VXLAN_GROUP, Wire::Ip, IFLA_VXLAN_GROUP6},
    {"learning", IFLA_VXLAN_LEARNING, Wire::Bool8},
    {.key = "port", .type = IFLA_VXLAN_PORT, .wire = Wire::Be16, .min = 1, .max = 0xffff},
};

const EnumName kMacvlanModes[] = {{MACVLAN_MODE_PRIVATE, "private"}, {MACVLAN_MODE_VEPA, "vepa"},
                                  {MACVLAN_MODE_BRIDGE, "bridge"}, {MACVLAN_MODE_PASSTHRU, "passthru"},
                                  {MACVLAN_MODE_SOURCE, "source"}};
const AttrTable kMacvlan{{"mode", IFLA_MACVLAN_MODE, Wire::Enum, 0, kMacvlanModes, 4}};

const EnumName kIpvlanModes[] = {{IPVLAN_MODE_L2, "l2"}, {IPVLAN_MODE_L3, "l3"}, {IPVLAN_MODE_L3S, "l3s"}};
// IPVLAN_F_* are bits, but the kernel accepts exactly one of them (or none).
const EnumName kIpvlanFlags[] = {{0, "bridge"}, {IPVLAN_F_PRIVATE, "private"}, {IPVLAN_F_VEPA, "vepa"}};
const AttrTable kIpvlan{{"mode", IFLA_IPVLAN_MODE, Wire::Enum, 0, kIpvlanModes, 2},
                        {"flag", IFLA_IPVLAN_FLAGS, Wire::Enum, 0, kIpvlanFlags, 2}};

// IFLA_VLAN_PROTOCOL is big endian (__be16): the values are stored swapped.
const EnumName kVlanProtocols[] = {{htons(ETH_P_8021Q), "802.1Q"}, {htons(ETH_P_8021AD), "802.1ad"}};
const AttrTable kVlan{{.key = "id", .type = IFLA_VLAN_ID, .wire = Wire::U16, .min = 1, .max = 4094},
                      {"protocol", IFLA_VLAN_PROTOCOL, Wire::Enum, 0, kVlanProtocols, 2}};

// A bridge port's settings (IFLA_INFO_SLAVE_DATA when the master is a
// bridge), in the order iproute2's `type bridge_slave` usage lists them.
// Widths follow the kernel's br_port_policy, limits the bridge driver
// (BR_MAX_PORT_PRIORITY, BR_MIN/MAX_PATH_COST).
const EnumName kPortStates[] = {{BR_STATE_DISABLED, "disabled"}, {BR_STATE_LISTENING, "listening"},
                                {BR_STATE_LEARNING, "learning"}, {BR_STATE_FORWARDING, "forwarding"},
                                {BR_STATE_BLOCKING, "blocking"}};
const AttrTable kBridgePort{
    {"state", IFLA_BRPORT_STATE, Wire::Enum, 0, kPortStates, 1},
    {.key = "priority", .type = IFLA_BRPORT_PRIORITY, .wire = Wire::U16, .max = 63},
    {.key = "cost", .type = IFLA_BRPORT_COST, .wire = Wire::U32, .min = 1, .max = 0xffff},
    {"guard", IFLA_BRPORT_GUARD, Wire::Bool8},
    {"hairpin", IFLA_BRPORT_MODE, Wire::Bool8},
    {"fastLeave", IFLA_BRPORT_FAST_LEAVE, Wire::Bool8},
    {"rootBlock", IFLA_BRPORT_PROTECT, Wire::Bool8},
    {"learning", IFLA_BRPORT_LEARNING, Wire::Bool8},
    {"flood", IFLA_BRPORT_UNICAST_FLOOD, Wire::Bool8},
    {"proxyArp", IFLA_BRPORT_PROXYARP, Wire::Bool8},
    {"proxyArpWifi", IFLA_BRPORT_PROXYARP_WIFI, Wire::Bool8},
    {"mcastFlood", IFLA_BRPORT_MCAST_FLOOD, Wire::Bool8},
    {"bcastFlood", IFLA_BRPORT_BCAST_FLOOD, Wire::Bool8},
    {"mcastToUnicast", IFLA_BRPORT_MCAST_TO_UCAST, Wire::Bool8},
    {"neighSuppress", IFLA_BRPORT_NEIGH_SUPPRESS, Wire::Bool8},
    {"isolated", IFLA_BRPORT_ISOLATED, Wire::Bool8},
};
// Read-only: the port's STP identifier and number.
const AttrTable kBridgePortState{
    {"id", IFLA_BRPORT_ID, Wire::U16},
    {"no", IFLA_BRPORT_NO, Wire::U16},
};

// vxlan's portRange (a struct attribute) goes between kVxlan and kVxlanTail.
void encodeVxlanExtra(const Arg& arg, MsgWriter& w) {
  if (!has(arg, "portRange")) return;
  Napi::Object r = get(arg, "portRange").As<Napi::Object>();
  ifla_vxlan_port_range pr{htons(u32(r, "low")), htons(u32(r, "high"))};
  w.put(IFLA_VXLAN_PORT_RANGE, pr);
}

// portRange, and a multicast destination read back as group, not remote.
void decodeVxlanExtra(Napi::Env env, Attrs data, ObjBuilder& out) {
  for (auto a : data) {
    if (attrType(a) == IFLA_VXLAN_PORT_RANGE) {
      auto pr = attrGet<ifla_vxlan_port_range>(a);
      Napi::Object r = Napi::Object::New(env);
      set(r, "low", ntohs(pr.low));
      set(r, "high", ntohs(pr.high));
      out.set("portRange", r);
    } else if ((attrType(a) == IFLA_VXLAN_GROUP && (ntohl(attrGet<uint32_t>(a)) >> 28) == 0xe) ||
               (attrType(a) == IFLA_VXLAN_GROUP6 && static_cast<const uint8_t*>(RTA_DATA(a))[0] == 0xff)) {
      napi_value remote = out.find("remote");
      out.erase("remote");
      if (remote) out.set("group", remote);
    }
  }
}

RegisterKinds kinds{{"veth", nullptr, nullptr, "peer"},
                    {"bridge", &kBridge},
                    {"vxlan", &kVxlan, &kVxlanTail, "vni", encodeVxlanExtra, decodeVxlanExtra},
                    {"macvlan", &kMacvlan, nullptr, "link"},
                    {"macvtap", &kMacvlan, nullptr, "link"},
                    {"ipvlan", &kIpvlan, nullptr, "link"},
                    {"ipvtap", &kIpvlan, nullptr, "link"},
                    {"vlan", &kVlan, nullptr, "link id"},
                    {"dummy", nullptr}};

const Kind* findKind(std::string_view name) {
  for (const Kind& k : linkKinds())
    if (name == k.name) return &k;
  return nullptr;
}

// A string without its NUL, as iproute2 sends IFLA_INFO_KIND and
// IFLA_IFALIAS. For the alias it matters: the kernel counts a NUL in the
// alias length, so a 255-byte alias sent with one is refused (ERANGE).
void putUnterminated(MsgWriter& w, uint16_t type, const std::string& s) { w.put(type, s.data(), s.size()); }

// ifinfomsg + the attributes shared by a link and a veth peer: up/down,
// the common tables, and a target namespace.
void encodeLinkBody(Encoder& enc, ifinfomsg* ifi, const Arg& arg) {
  // Interface flags as `ip link set X up|promisc on` sends them: the bit in
  // ifi_change says "change it", the one in ifi_flags what to.
  for (auto [key, bit] : {std::pair{"up", IFF_UP}, std::pair{"promisc", IFF_PROMISC}}) {
    Napi::Value v = get(arg, key);
    if (v.IsUndefined()) continue;
    ifi->ifi_change |= bit;
    if (v.ToBoolean()) ifi->ifi_flags |= bit;
  }
  if (has(arg, "index")) ifi->ifi_index = get(arg, "index").As<Napi::Number>().Int32Value();
  kLink.encode(arg, enc.w);
  if (has(arg, "alias")) putUnterminated(enc.w, IFLA_IFALIAS, get(arg, "alias").As<Napi::String>().Utf8Value());
  if (has(arg, "netns")) enc.w.put<uint32_t>(IFLA_NET_NS_FD, enc.nsFd(get(arg, "netns")));
  if (has(arg, "netnsPid")) enc.w.put<uint32_t>(IFLA_NET_NS_PID, get(arg, "netnsPid").As<Napi::Number>().Uint32Value());
  kLinkTail.encode(arg, enc.w);
  // Identifying a link by name (index 0) reuses IFLA_IFNAME.
  if (has(arg, "target")) putString(enc.w, IFLA_IFNAME, get(arg, "target"));
}

void encodeLinkInfo(Encoder& enc, const Arg& arg) {
  std::string kind = get(arg, "kind").As<Napi::String>().Utf8Value();
  const Kind* k = findKind(kind);
  if (!k || k->decodeOnly) unvalidated(arg.Env(), "kind");
  size_t info = enc.w.nestBegin(IFLA_LINKINFO);
  putUnterminated(enc.w, IFLA_INFO_KIND, kind);
  bool isVeth = kind == "veth";
  if (k->data || (isVeth && has(arg, "peer"))) {
    size_t data = enc.w.nestBegin(IFLA_INFO_DATA);
    if (k->data) k->data->encode(arg, enc.w);
    if (k->encodeExtra) k->encodeExtra(arg, enc.w);
    if (k->tail) k->tail->encode(arg, enc.w);
    if (isVeth) {
      // The peer is a whole ifinfomsg + attributes nested in VETH_INFO_PEER.
      size_t peer = enc.w.nestBegin(VETH_INFO_PEER);
      auto* pifi = enc.w.putStruct<ifinfomsg>();
      size_t pifiAt = reinterpret_cast<uint8_t*>(pifi) - enc.w.bytes().data();
      ifinfomsg tmp{};
      Napi::Object p = get(arg, "peer").As<Napi::Object>();
      encodeLinkBody(enc, &tmp, p);  // may reallocate the buffer: copy the header in after
      std::memcpy(enc.w.bytes().data() + pifiAt, &tmp, sizeof tmp);
      enc.w.nestEnd(peer);
    }
    enc.w.nestEndOrDrop(data);
  }
  enc.w.nestEnd(info);
}

// A bridge port's settings, as `ip link set dev X type bridge_slave ...`
// sends them (the settings are left out when none), but with the master's
// kind in IFLA_INFO_SLAVE_KIND where iproute2 puts "bridge_slave" in
// IFLA_INFO_KIND: the kernel looks an INFO_KIND up as a link type (and asks
// modprobe for one it lacks) on every request, which made iproute2's form
// take 5 times the kernel time of this one.
void encodeBridgePort(Encoder& enc, const Napi::Object& port) {
  size_t info = enc.w.nestBegin(IFLA_LINKINFO);
  putUnterminated(enc.w, IFLA_INFO_SLAVE_KIND, "bridge");
  size_t data = enc.w.nestBegin(IFLA_INFO_SLAVE_DATA);
  kBridgePort.encode(port, enc.w);
  enc.w.nestEndOrDrop(data);
  enc.w.nestEnd(info);
}

void encodeNewLink(Encoder& enc, const Arg& arg, uint16_t flags) {
  auto* ifi = enc.w.begin<ifinfomsg>(RTM_NEWLINK, flags, enc.seq);
  ifinfomsg tmp{};
  encodeLinkBody(enc, &tmp, arg);
  if (has(arg, "kind")) encodeLinkInfo(enc, arg);
  else if (has(arg, "bridgePort")) encodeBridgePort(enc, get(arg, "bridgePort").As<Napi::Object>());
  ifi = reinterpret_cast<ifinfomsg*>(NLMSG_DATA(enc.w.hdr()));
  *ifi = tmp;
  enc.w.end();
}

void encodeLinkAdd(Encoder& enc, const Arg& arg) {
  encodeNewLink(enc, arg, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
}

// Changes an existing link: no CREATE, so a missing link is ENODEV.
void encodeLinkSet(Encoder& enc, const Arg& arg) { encodeNewLink(enc, arg, NLM_F_REQUEST | NLM_F_ACK); }

void encodeLinkDel(Encoder& enc, const Arg& arg) {
  auto* ifi = enc.w.begin<ifinfomsg>(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, enc.seq);
  if (has(arg, "index")) ifi->ifi_index = get(arg, "index").As<Napi::Number>().Int32Value();
  if (has(arg, "target")) putString(enc.w, IFLA_IFNAME, get(arg, "target"));
  if (has(arg, "linkGroup")) enc.w.put<uint32_t>(IFLA_GROUP, get(arg, "linkGroup").As<Napi::Number>().Uint32Value());
  enc.w.end();
}

// Counters only when asked for: without them the kernel leaves out the VFs'
// (a link's own always come, and are decoded only when asked for).
void putStatsMask(Encoder& enc, const Arg& arg) {
  if (!get(arg, "stats").ToBoolean()) enc.w.put<uint32_t>(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
}

void encodeLinkGet(Encoder& enc, const Arg& arg) {
  auto* ifi = enc.w.begin<ifinfomsg>(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, enc.seq);
  if (has(arg, "index")) ifi->ifi_index = get(arg, "index").As<Napi::Number>().Int32Value();
  if (has(arg, "target")) putString(enc.w, IFLA_IFNAME, get(arg, "target"));
  putStatsMask(enc, arg);
  enc.w.end();
}

// Filters by master and kind are applied by the kernel (strict checking).
void encodeLinkList(Encoder& enc, const Arg& arg) {
  enc.w.begin<ifinfomsg>(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, enc.seq);
  putStatsMask(enc, arg);
  if (has(arg, "master")) enc.w.put<uint32_t>(IFLA_MASTER, get(arg, "master").As<Napi::Number>().Uint32Value());
  if (has(arg, "kind")) {
    size_t info = enc.w.nestBegin(IFLA_LINKINFO);
    enc.w.putStr(IFLA_INFO_KIND, get(arg, "kind").As<Napi::String>().Utf8Value());
    enc.w.nestEnd(info);
  }
  enc.w.end();
}

Napi::Object decodeStats(Napi::Env env, const rtnl_link_stats64& s) {
  Napi::Object o = Napi::Object::New(env);
  auto big = [&](uint64_t v) { return Napi::BigInt::New(env, v); };
  set(o, "rxPackets", big(s.rx_packets));
  set(o, "txPackets", big(s.tx_packets));
  set(o, "rxBytes", big(s.rx_bytes));
  set(o, "txBytes", big(s.tx_bytes));
  set(o, "rxErrors", big(s.rx_errors));
  set(o, "txErrors", big(s.tx_errors));
  set(o, "rxDropped", big(s.rx_dropped));
  set(o, "txDropped", big(s.tx_dropped));
  set(o, "multicast", big(s.multicast));
  set(o, "collisions", big(s.collisions));
  return o;
}

// IFLA_LINKINFO: the link's kind and kind data, and when it is a port, its
// master's kind and the port data. A kind-less link (a physical NIC) that is
// a port has only the latter, and stays kind 'device'.
void decodeLinkInfo(Napi::Env env, const rtattr* info, ObjBuilder& out) {
  const rtattr* data = nullptr;
  const rtattr* portData = nullptr;
  std::string_view kind, portKind;
  for (auto a : Attrs::of(info)) {
    switch (attrType(a)) {
      case IFLA_INFO_KIND: kind = attrStr(a); break;
      case IFLA_INFO_DATA: data = a; break;
      case IFLA_INFO_SLAVE_KIND: portKind = attrStr(a); break;
      case IFLA_INFO_SLAVE_DATA: portData = a; break;
    }
  }
  if (!portKind.empty()) out.set("portKind", Napi::String::New(env, std::string(portKind)));
  if (portKind == "bridge" && portData) {
    Napi::Object port = Napi::Object::New(env);
    for (auto a : Attrs::of(portData)) kBridgePort.decodeOne(env, a, port) || kBridgePortState.decodeOne(env, a, port);
    out.set("bridgePort", port);
  } else if (const PortKind* p = portData ? findPortKind(portKind) : nullptr) {
    Napi::Object port = Napi::Object::New(env);
    p->data->decode(env, Attrs::of(portData), port);
    out.set(p->key, port);
  }
  if (kind.empty()) return;
  const Kind* k = findKind(kind);
  out.set("kind", Napi::String::New(env, k ? k->name : "generic"));
  if (!k) out.set("infoKind", Napi::String::New(env, std::string(kind)));
  if (!data || !k || !k->data) return;
  k->data->decode(env, Attrs::of(data), out);
  if (k->tail) k->tail->decode(env, Attrs::of(data), out);
  if (k->decodeExtra) k->decodeExtra(env, Attrs::of(data), out);
}

template <bool Stats>
Napi::Value decodeLinkMsg(Napi::Env env, const nlmsghdr* h) {
  auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  ObjBuilder o(env);
  o.set("index", ifi->ifi_index);
  o.set("kind", name(env, "device"));
  o.set("flags", flagNames(env, ifi->ifi_flags, kIfFlags));
  o.set("up", Napi::Boolean::New(env, ifi->ifi_flags & IFF_UP));
  o.set("promisc", Napi::Boolean::New(env, ifi->ifi_flags & IFF_PROMISC));
  o.set("linkType", enumName(env, ifi->ifi_type, kLinkTypes));
  for (auto a : Attrs(IFLA_RTA(ifi), IFLA_PAYLOAD(h))) {
    if (kLink.decodeOne(env, a, o) || kLinkTail.decodeOne(env, a, o) || kLinkState.decodeOne(env, a, o)) continue;
    switch (attrType(a)) {
      case IFLA_OPERSTATE: o.set("operstate", enumName(env, attrGet<uint8_t>(a), kOperStates)); break;
      case IFLA_LINKINFO: decodeLinkInfo(env, a, o); break;
      case IFLA_STATS64:
        // The kernel always sends counters (RTEXT_FILTER_SKIP_STATS only drops
        // the VFs'); 10 BigInts per link are made only when asked for.
        if (Stats) o.set("stats", decodeStats(env, attrGet<rtnl_link_stats64>(a)));
        break;
    }
  }
  return o.done();
}

// Events carry the counters the kernel sends.
constexpr MsgDecoder decodeLink = decodeLinkMsg<true>;
constexpr MsgDecoder decodeLinkNoStats = decodeLinkMsg<false>;

RegisterDecoders decoders{{RTM_NEWLINK, decodeLink}, {RTM_DELLINK, decodeLink}};

// schema().link: the attributes of every link (common; state: read-only but
// alias), a bridge port's, the reported enums, and each kind's attributes,
// required keys and whether it is only decoded.
RegisterSchema schema{"link", [](Napi::Env env, Napi::Object out) {
  out.Set("common", schemaOf(env, {&kLink, &kLinkTail}));
  out.Set("state", schemaOf(env, {&kLinkState}));
  out.Set("bridgePort", schemaOf(env, {&kBridgePort}));
  out.Set("operStates", nameList(env, kOperStates));
  out.Set("flags", nameList(env, kIfFlags));
  Napi::Object kinds = Napi::Object::New(env);
  for (const Kind& k : linkKinds()) {
    Napi::Array required = Napi::Array::New(env);
    for (std::string_view r = k.required; !r.empty();) {
      size_t sp = r.find(' ');
      required.Set(required.Length(), std::string(r.substr(0, sp)));
      r = sp == r.npos ? std::string_view() : r.substr(sp + 1);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("attrs", schemaOf(env, {k.data, k.tail}));
    o.Set("required", required);
    o.Set("decodeOnly", k.decodeOnly);
    kinds.Set(k.name, o);
  }
  out.Set("kinds", kinds);
}};

RegisterOps ops{
    {"linkAdd", false, false, encodeLinkAdd, nullptr},
    {"linkSet", false, false, encodeLinkSet, nullptr},
    {"linkDel", false, false, encodeLinkDel, nullptr},
    {"linkGet", false, true, encodeLinkGet, firstOf<decodeLinkNoStats>},
    {"linkList", true, true, encodeLinkList, listOf<decodeLinkNoStats>},
    {"linkGetStats", false, true, encodeLinkGet, firstOf<decodeLink>, "linkGet"},
    {"linkListStats", true, true, encodeLinkList, listOf<decodeLink>, "linkList"},
};

}  // namespace

}  // namespace rtnl
