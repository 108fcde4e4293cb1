// Attribute tables of the link kinds bond, vrf, geneve, gre/gretap,
// ip6gre/ip6gretap, ipip, sit and tun, and of bond and vrf ports. Each
// table lists its attributes in the order iproute2 sends them, so requests
// compare byte for byte with `ip link add`; the limits TS enforces are noted
// per line.
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
// The inner protocol of an IP-in-IP tunnel, named as iproute2's `mode`; 0 carries any of them.
const EnumName kIpTunnelModes[] = {{IPPROTO_IPIP, "ipip"}, {IPPROTO_IPV6, "ip6ip"}, {IPPROTO_MPLS, "mplsip"},
                                   {0, "any"}};
}  // namespace

const AttrTable kBond{
    {"mode", IFLA_BOND_MODE, Wire::Enum, 0, kBondModes, 1},
    {"activeSlave", IFLA_BOND_ACTIVE_SLAVE, Wire::U32},  // ifindex, 1..2^31-1
    {"miimon", IFLA_BOND_MIIMON, Wire::U32},             // ms, 0..2^31-1 (the kernel keeps an int)
    {"updelay", IFLA_BOND_UPDELAY, Wire::U32},           // ms, 0..2^31-1
    {"downdelay", IFLA_BOND_DOWNDELAY, Wire::U32},       // ms, 0..2^31-1
    {"useCarrier", IFLA_BOND_USE_CARRIER, Wire::Bool8},
    {"arpInterval", IFLA_BOND_ARP_INTERVAL, Wire::U32},  // ms, 0..2^31-1
    {"primary", IFLA_BOND_PRIMARY, Wire::U32},           // ifindex, 1..2^31-1
    {"xmitHashPolicy", IFLA_BOND_XMIT_HASH_POLICY, Wire::Enum, 0, kBondHashPolicies, 1},
    {"resendIgmp", IFLA_BOND_RESEND_IGMP, Wire::U32},         // 0..255
    {"numPeerNotif", IFLA_BOND_NUM_PEER_NOTIF, Wire::U8},     // 0..255
    {"allSlavesActive", IFLA_BOND_ALL_SLAVES_ACTIVE, Wire::Bool8},
    {"minLinks", IFLA_BOND_MIN_LINKS, Wire::U32},             // 0..2^32-1
    {"lpInterval", IFLA_BOND_LP_INTERVAL, Wire::U32},         // 1..2^31-1
    {"packetsPerSlave", IFLA_BOND_PACKETS_PER_SLAVE, Wire::U32},  // 0..65535
    {"adActorSysPrio", IFLA_BOND_AD_ACTOR_SYS_PRIO, Wire::U16},   // 1..65535
    {"adUserPortKey", IFLA_BOND_AD_USER_PORT_KEY, Wire::U16},     // 0..1023
    {"adActorSystem", IFLA_BOND_AD_ACTOR_SYSTEM, Wire::Mac},      // a unicast MAC
    {"tlbDynamicLb", IFLA_BOND_TLB_DYNAMIC_LB, Wire::Bool8},
    {"peerNotifyDelay", IFLA_BOND_PEER_NOTIF_DELAY, Wire::U32},  // ms, 0..2^31-1
    {"adLacpActive", IFLA_BOND_AD_LACP_ACTIVE, Wire::Bool8},
};

const AttrTable kVrf{{"table", IFLA_VRF_TABLE, Wire::U32}};  // 1..2^32-1 (0 is refused)

// iproute2 sends df and ttl inherit as it parses them, the rest after.
const AttrTable kGeneve{
    {"df", IFLA_GENEVE_DF, Wire::Enum, 0, kGeneveDf, 1},
    {"ttlInherit", IFLA_GENEVE_TTL_INHERIT, Wire::Bool8},
    {"vni", IFLA_GENEVE_ID, Wire::U32},  // 24 bits
    {"remote", IFLA_GENEVE_REMOTE, Wire::Ip, IFLA_GENEVE_REMOTE6},
    {"label", IFLA_GENEVE_LABEL, Wire::Be32},  // IPv6 flow label, 20 bits
    {"ttl", IFLA_GENEVE_TTL, Wire::U8},        // 0..255
    {"tos", IFLA_GENEVE_TOS, Wire::U8},        // 0..255
    {"port", IFLA_GENEVE_PORT, Wire::Be16},    // 1..65535
    {"udpCsum", IFLA_GENEVE_UDP_CSUM, Wire::Bool8},
    {"udp6ZeroCsumTx", IFLA_GENEVE_UDP_ZERO_CSUM6_TX, Wire::Bool8},
    {"udp6ZeroCsumRx", IFLA_GENEVE_UDP_ZERO_CSUM6_RX, Wire::Bool8},
    {"external", IFLA_GENEVE_COLLECT_METADATA, Wire::Flag},
};

const AttrTable kGreKeys{
    {"ikey", IFLA_GRE_IKEY, Wire::Be32},  // 0..2^32-1
    {"okey", IFLA_GRE_OKEY, Wire::Be32},  // 0..2^32-1
};
// gre, gretap: IPv4 endpoints.
const AttrTable kGre{
    {"local", IFLA_GRE_LOCAL, Wire::Ip},   // IPv4
    {"remote", IFLA_GRE_REMOTE, Wire::Ip}, // IPv4
    {"pmtudisc", IFLA_GRE_PMTUDISC, Wire::Bool8},
    {"tos", IFLA_GRE_TOS, Wire::U8},       // 0..255
    {"device", IFLA_GRE_LINK, Wire::U32},  // ifindex, 1..2^31-1
    {"ttl", IFLA_GRE_TTL, Wire::U8},       // 0..255, 0 = inherit
    {"fwmark", IFLA_GRE_FWMARK, Wire::U32},
    {"external", IFLA_GRE_COLLECT_METADATA, Wire::Flag},
};
// ip6gre, ip6gretap: IPv6 endpoints; ttl is the hop limit.
const AttrTable kGre6{
    {"local", IFLA_GRE_LOCAL, Wire::Ip},   // IPv6
    {"remote", IFLA_GRE_REMOTE, Wire::Ip}, // IPv6
    {"device", IFLA_GRE_LINK, Wire::U32},  // ifindex, 1..2^31-1
    {"ttl", IFLA_GRE_TTL, Wire::U8},       // 0..255
    {"encapLimit", IFLA_GRE_ENCAP_LIMIT, Wire::U8},  // 0..255
    {"fwmark", IFLA_GRE_FWMARK, Wire::U32},
    {"external", IFLA_GRE_COLLECT_METADATA, Wire::Flag},
};

const AttrTable kIpTunnel{
    {"mode", IFLA_IPTUN_PROTO, Wire::Enum, 0, kIpTunnelModes, 1},  // ipip: not ip6ip
    {"local", IFLA_IPTUN_LOCAL, Wire::Ip},   // IPv4
    {"remote", IFLA_IPTUN_REMOTE, Wire::Ip}, // IPv4
    {"pmtudisc", IFLA_IPTUN_PMTUDISC, Wire::Bool8},
    {"tos", IFLA_IPTUN_TOS, Wire::U8},       // 0..255
    {"ttl", IFLA_IPTUN_TTL, Wire::U8},       // 0..255, 0 = inherit
    {"device", IFLA_IPTUN_LINK, Wire::U32},  // ifindex, 1..2^31-1
    {"fwmark", IFLA_IPTUN_FWMARK, Wire::U32},
    {"external", IFLA_IPTUN_COLLECT_METADATA, Wire::Flag},
};

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

namespace {
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
}  // namespace

void encodeGreFlags(const Napi::Object& arg, MsgWriter& w) {
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

const PortKind* findPortKind(std::string_view kind) {
  for (const PortKind& p : kPortKinds)
    if (kind == p.kind) return &p;
  return nullptr;
}

}  // namespace rtnl
