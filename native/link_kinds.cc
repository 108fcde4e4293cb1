// The link kinds bond, vrf, geneve, gre/gretap, ip6gre/ip6gretap, ipip,
// sit, wireguard and tun (decoded only), registered with the link codec, and
// the port data of bond and vrf masters. Each table lists its attributes in
// the order iproute2 sends them, so requests compare byte for byte with `ip
// link add`.
#include "link_kinds.h"

#include <linux/if_bonding.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/if_tunnel.h>
#include <linux/in.h>

namespace rtnl {

namespace {
// Named as iproute2 prints them.
const EnumName kBondModes[] = {{BOND_MODE_ROUNDROBIN, "balance-rr"}, {BOND_MODE_ACTIVEBACKUP, "active-backup"},
                               {BOND_MODE_XOR, "balance-xor"}, {BOND_MODE_BROADCAST, "broadcast"},
                               {BOND_MODE_8023AD, "802.3ad"}, {BOND_MODE_TLB, "balance-tlb"},
                               {BOND_MODE_ALB, "balance-alb"}};
const EnumName kBondHashPolicies[] = {{BOND_XMIT_POLICY_LAYER2, "layer2"}, {BOND_XMIT_POLICY_LAYER34, "layer3+4"},
                                      {BOND_XMIT_POLICY_LAYER23, "layer2+3"}, {BOND_XMIT_POLICY_ENCAP23, "encap2+3"},
                                      {BOND_XMIT_POLICY_ENCAP34, "encap3+4"},
                                      {BOND_XMIT_POLICY_VLAN_SRCMAC, "vlan+srcmac"}};
const EnumName kBondPortStates[] = {{BOND_STATE_ACTIVE, "ACTIVE"}, {BOND_STATE_BACKUP, "BACKUP"}};
const EnumName kBondMiiStates[] = {{BOND_LINK_UP, "UP"}, {BOND_LINK_FAIL, "GOING_DOWN"},
                                   {BOND_LINK_DOWN, "DOWN"}, {BOND_LINK_BACK, "GOING_BACK"}};
const EnumName kGeneveDf[] = {{GENEVE_DF_UNSET, "unset"}, {GENEVE_DF_SET, "set"}, {GENEVE_DF_INHERIT, "inherit"}};
const EnumName kTunTypes[] = {{IFF_TUN, "tun"}, {IFF_TAP, "tap"}};
// The inner protocol of an IP-in-IP tunnel, named as iproute2's `mode`; 0
// carries any of them. sit takes them all, ipip all but the first (IPv6).
const EnumName kIpTunnelModes[] = {{IPPROTO_IPV6, "ip6ip"}, {IPPROTO_IPIP, "ipip"}, {IPPROTO_MPLS, "mplsip"},
                                   {0, "any"}};

// Times in ms are kept in an int by the bonding driver: up to 2^31-1.
const AttrTable kBond{
    {"mode", IFLA_BOND_MODE, Wire::Enum, 0, kBondModes, 1},
    ifindexAttr("activeSlave", IFLA_BOND_ACTIVE_SLAVE),
    {.key = "miimon", .type = IFLA_BOND_MIIMON, .wire = Wire::U32, .max = 0x7fffffff},
    {.key = "updelay", .type = IFLA_BOND_UPDELAY, .wire = Wire::U32, .max = 0x7fffffff},
    {.key = "downdelay", .type = IFLA_BOND_DOWNDELAY, .wire = Wire::U32, .max = 0x7fffffff},
    {"useCarrier", IFLA_BOND_USE_CARRIER, Wire::Bool8},
    {.key = "arpInterval", .type = IFLA_BOND_ARP_INTERVAL, .wire = Wire::U32, .max = 0x7fffffff},
    ifindexAttr("primary", IFLA_BOND_PRIMARY),
    {"xmitHashPolicy", IFLA_BOND_XMIT_HASH_POLICY, Wire::Enum, 0, kBondHashPolicies, 1},
    {.key = "resendIgmp", .type = IFLA_BOND_RESEND_IGMP, .wire = Wire::U32, .max = 255},  // the driver's range
    {"numPeerNotif", IFLA_BOND_NUM_PEER_NOTIF, Wire::U8},
    {"allSlavesActive", IFLA_BOND_ALL_SLAVES_ACTIVE, Wire::Bool8},
    {"minLinks", IFLA_BOND_MIN_LINKS, Wire::U32},
    {.key = "lpInterval", .type = IFLA_BOND_LP_INTERVAL, .wire = Wire::U32, .min = 1, .max = 0x7fffffff},
    {.key = "packetsPerSlave", .type = IFLA_BOND_PACKETS_PER_SLAVE, .wire = Wire::U32, .max = 0xffff},
    {.key = "adActorSysPrio", .type = IFLA_BOND_AD_ACTOR_SYS_PRIO, .wire = Wire::U16, .min = 1},
    {.key = "adUserPortKey", .type = IFLA_BOND_AD_USER_PORT_KEY, .wire = Wire::U16, .max = 1023},  // 10 bits
    {"adActorSystem", IFLA_BOND_AD_ACTOR_SYSTEM, Wire::Mac},
    {"tlbDynamicLb", IFLA_BOND_TLB_DYNAMIC_LB, Wire::Bool8},
    {.key = "peerNotifyDelay", .type = IFLA_BOND_PEER_NOTIF_DELAY, .wire = Wire::U32, .max = 0x7fffffff},
    {"adLacpActive", IFLA_BOND_AD_LACP_ACTIVE, Wire::Bool8},
};

// The kernel refuses table 0.
const AttrTable kVrf{{.key = "table", .type = IFLA_VRF_TABLE, .wire = Wire::U32, .min = 1}};

// iproute2 sends df and ttl inherit as it parses them, the rest after.
const AttrTable kGeneve{
    {"df", IFLA_GENEVE_DF, Wire::Enum, 0, kGeneveDf, 1},
    {"ttlInherit", IFLA_GENEVE_TTL_INHERIT, Wire::Bool8},
    {.key = "vni", .type = IFLA_GENEVE_ID, .wire = Wire::U32, .max = 0xffffff},  // 24 bits
    {"remote", IFLA_GENEVE_REMOTE, Wire::Ip, IFLA_GENEVE_REMOTE6},
    {.key = "label", .type = IFLA_GENEVE_LABEL, .wire = Wire::Be32, .max = 0xfffff},  // 20-bit flow label
    {"ttl", IFLA_GENEVE_TTL, Wire::U8},
    {"tos", IFLA_GENEVE_TOS, Wire::U8},
    {.key = "port", .type = IFLA_GENEVE_PORT, .wire = Wire::Be16, .min = 1},
    {"udpCsum", IFLA_GENEVE_UDP_CSUM, Wire::Bool8},
    {"udp6ZeroCsumTx", IFLA_GENEVE_UDP_ZERO_CSUM6_TX, Wire::Bool8},
    {"udp6ZeroCsumRx", IFLA_GENEVE_UDP_ZERO_CSUM6_RX, Wire::Bool8},
    {"external", IFLA_GENEVE_COLLECT_METADATA, Wire::Flag},
};

// The four GRE kinds: the keys, then (encodeGreFlags) IFLAGS/OFLAGS, then
// the rest per address family.
const AttrTable kGreKeys{
    {"ikey", IFLA_GRE_IKEY, Wire::Be32},
    {"okey", IFLA_GRE_OKEY, Wire::Be32},
};
// gre, gretap: IPv4 endpoints; ttl 0 (the default) copies the inner packet's.
const AttrTable kGre{
    {"local", IFLA_GRE_LOCAL, Wire::Ip4},
    {"remote", IFLA_GRE_REMOTE, Wire::Ip4},
    {"pmtudisc", IFLA_GRE_PMTUDISC, Wire::Bool8},
    {"tos", IFLA_GRE_TOS, Wire::U8},
    ifindexAttr("device", IFLA_GRE_LINK),
    {"ttl", IFLA_GRE_TTL, Wire::U8},
    {"fwmark", IFLA_GRE_FWMARK, Wire::U32},
    {"external", IFLA_GRE_COLLECT_METADATA, Wire::Flag},
};
// ip6gre, ip6gretap: IPv6 endpoints; ttl is the hop limit.
const AttrTable kGre6{
    {"local", IFLA_GRE_LOCAL, Wire::Ip6},
    {"remote", IFLA_GRE_REMOTE, Wire::Ip6},
    ifindexAttr("device", IFLA_GRE_LINK),
    {"ttl", IFLA_GRE_TTL, Wire::U8},
    {"encapLimit", IFLA_GRE_ENCAP_LIMIT, Wire::U8},
    {"fwmark", IFLA_GRE_FWMARK, Wire::U32},
    {"external", IFLA_GRE_COLLECT_METADATA, Wire::Flag},
};

// ipip and sit differ in the modes they accept (ipip carries no IPv6).
AttrTable ipTunnel(Names modes) {
  return {
      {"mode", IFLA_IPTUN_PROTO, Wire::Enum, 0, modes, 1},
      {"local", IFLA_IPTUN_LOCAL, Wire::Ip4},
      {"remote", IFLA_IPTUN_REMOTE, Wire::Ip4},
      {"pmtudisc", IFLA_IPTUN_PMTUDISC, Wire::Bool8},
      {"tos", IFLA_IPTUN_TOS, Wire::U8},
      {"ttl", IFLA_IPTUN_TTL, Wire::U8},  // 0 (the default) copies the inner packet's
      ifindexAttr("device", IFLA_IPTUN_LINK),
      {"fwmark", IFLA_IPTUN_FWMARK, Wire::U32},
      {"external", IFLA_IPTUN_COLLECT_METADATA, Wire::Flag},
  };
}
const AttrTable kSit = ipTunnel(kIpTunnelModes);
const AttrTable kIpip = ipTunnel(Names(kIpTunnelModes).subspan(1));

// Read only: a tun/tap device's settings, as made through /dev/net/tun.
const AttrTable kTun{
    {"mode", IFLA_TUN_TYPE, Wire::Enum, 0, kTunTypes, 1},
    {"owner", IFLA_TUN_OWNER, Wire::U32},
    {"group", IFLA_TUN_GROUP, Wire::U32},
    {"pi", IFLA_TUN_PI, Wire::Bool8},
    {"vnetHdr", IFLA_TUN_VNET_HDR, Wire::Bool8},
    {"persist", IFLA_TUN_PERSIST, Wire::Bool8},
    {"multiQueue", IFLA_TUN_MULTI_QUEUE, Wire::Bool8},
    {"numQueues", IFLA_TUN_NUM_QUEUES, Wire::U32},
    {"numDisabledQueues", IFLA_TUN_NUM_DISABLED_QUEUES, Wire::U32},
};

// Read only.
const AttrTable kBondPort{
    {"state", IFLA_BOND_SLAVE_STATE, Wire::Enum, 0, kBondPortStates, 1},
    {"miiStatus", IFLA_BOND_SLAVE_MII_STATUS, Wire::Enum, 0, kBondMiiStates, 1},
    {"linkFailureCount", IFLA_BOND_SLAVE_LINK_FAILURE_COUNT, Wire::U32},
    {"permHwaddr", IFLA_BOND_SLAVE_PERM_HWADDR, Wire::Mac},
    {"queueId", IFLA_BOND_SLAVE_QUEUE_ID, Wire::U16},
    {"adAggregatorId", IFLA_BOND_SLAVE_AD_AGGREGATOR_ID, Wire::U16},
    {"prio", IFLA_BOND_SLAVE_PRIO, Wire::S32},
};
const AttrTable kVrfPort{{"table", IFLA_VRF_PORT_TABLE, Wire::U32}};
const PortKind kPortKinds[] = {{"bond", "bondPort", &kBondPort}, {"vrf", "vrfPort", &kVrfPort}};

struct GreDirection {
  const char *key, *csum, *seq;
  uint16_t flagsType;
};
const GreDirection kGreDirections[] = {{"ikey", "icsum", "iseq", IFLA_GRE_IFLAGS},
                                       {"okey", "ocsum", "oseq", IFLA_GRE_OFLAGS}};

void encodeGreFlags(const Arg& arg, MsgWriter& w) {
  for (const GreDirection& d : kGreDirections) {
    bool key = has(arg, d.key), csum = has(arg, d.csum), seq = has(arg, d.seq);
    if (!key && !csum && !seq) continue;
    uint16_t f = (key ? GRE_KEY : 0) | (csum && get(arg, d.csum).ToBoolean() ? GRE_CSUM : 0) |
                 (seq && get(arg, d.seq).ToBoolean() ? GRE_SEQ : 0);
    w.put<uint16_t>(d.flagsType, f);  // GRE_* are already big endian
  }
}

void decodeGreFlags(Napi::Env env, Attrs data, ObjBuilder& out) {
  for (auto a : data) {
    for (const GreDirection& d : kGreDirections) {
      if (attrType(a) != d.flagsType) continue;
      uint16_t f = attrGet<uint16_t>(a);
      if (!(f & GRE_KEY)) out.erase(d.key);
      out.set(d.csum, Napi::Boolean::New(env, f & GRE_CSUM));
      out.set(d.seq, Napi::Boolean::New(env, f & GRE_SEQ));
    }
  }
}

RegisterKinds kinds{
    {.name = "bond", .data = &kBond},
    {.name = "vrf", .data = &kVrf, .required = "table"},
    {.name = "geneve", .data = &kGeneve},
    {.name = "gre", .data = &kGreKeys, .tail = &kGre, .encodeExtra = encodeGreFlags, .decodeExtra = decodeGreFlags},
    {.name = "gretap", .data = &kGreKeys, .tail = &kGre, .encodeExtra = encodeGreFlags, .decodeExtra = decodeGreFlags},
    {.name = "ip6gre", .data = &kGreKeys, .tail = &kGre6, .encodeExtra = encodeGreFlags, .decodeExtra = decodeGreFlags},
    {.name = "ip6gretap", .data = &kGreKeys, .tail = &kGre6, .encodeExtra = encodeGreFlags, .decodeExtra = decodeGreFlags},
    {.name = "ipip", .data = &kIpip},
    {.name = "sit", .data = &kSit},
    {.name = "wireguard", .data = nullptr},
    {.name = "ifb", .data = nullptr},
    {.name = "tun", .data = &kTun, .decodeOnly = true},
};

// schema().link.ports: the port data of these masters (read only), for the
// TS types' agreement test.
RegisterSchema schema{"link", [](Napi::Env env, Napi::Object out) {
  Napi::Object ports = Napi::Object::New(env);
  for (const PortKind& p : kPortKinds) ports.Set(p.kind, schemaOf(env, {p.data}));
  out.Set("ports", ports);
}};
}  // namespace

const PortKind* findPortKind(std::string_view kind) {
  for (const PortKind& p : kPortKinds)
    if (kind == p.kind) return &p;
  return nullptr;
}

}  // namespace rtnl
