/**
 * Link kinds beyond the basic ones: bond, vrf, geneve, the GRE tunnels
 * (gre, gretap, ip6gre, ip6gretap), the IP-in-IP tunnels (ipip, sit) and
 * wireguard (the link only: its keys and peers are set over generic netlink,
 * which rtnl does not speak). tun/tap devices are read back (kind `tun`) but
 * not created: the kernel makes them only through `/dev/net/tun`.
 * @module
 */
import { RtnlInputError } from './errors.js';
import type { LinkBase, LinkCommonSpec } from './link.js';
import { type Check, enumNames, lazyList, schema } from './schema.js';
import * as v from './validate.js';

/** Bonding mode, named as iproute2 prints it (BOND_MODE_*). */
export type BondMode = 'balance-rr' | 'active-backup' | 'balance-xor' | 'broadcast' | '802.3ad' | 'balance-tlb' | 'balance-alb';
/** Every value {@link BondMode} can take (the addon's list). */
export const BOND_MODES: readonly BondMode[] = lazyList(() => enumNames(schema().link.kinds.bond!.attrs, 'mode'));
/** How a bond picks the port for a packet (BOND_XMIT_POLICY_*). */
export type BondXmitHashPolicy = 'layer2' | 'layer3+4' | 'layer2+3' | 'encap2+3' | 'encap3+4' | 'vlan+srcmac';
/** Every value {@link BondXmitHashPolicy} can take (the addon's list). */
export const BOND_XMIT_HASH_POLICIES: readonly BondXmitHashPolicy[] = lazyList(() => enumNames(schema().link.kinds.bond!.attrs, 'xmitHashPolicy'));

/** Bond settings (IFLA_BOND_*), as `ip link add ... type bond` takes them; times in milliseconds. */
export interface BondOptions {
  mode?: BondMode;
  /** ifindex of the active port (active-backup, balance-tlb, balance-alb). */
  activeSlave?: number;
  /** MII link monitoring interval (ms); 0 turns it off. */
  miimon?: number;
  /** Delay before a port whose link came up is used (ms, a multiple of miimon). */
  updelay?: number;
  /** Delay before a port whose link went down is dropped (ms, a multiple of miimon). */
  downdelay?: number;
  /** Use the driver's carrier state for link monitoring (rather than MII ioctls). */
  useCarrier?: boolean;
  /** ARP monitoring interval (ms); 0 turns it off. */
  arpInterval?: number;
  /** ifindex of the preferred port. */
  primary?: number;
  xmitHashPolicy?: BondXmitHashPolicy;
  /** IGMP membership reports sent after a failover, 0 to 255. */
  resendIgmp?: number;
  /** Gratuitous ARPs / unsolicited NAs sent after a failover, 0 to 255 (`num_grat_arp`). */
  numPeerNotif?: number;
  /** Deliver frames received on inactive ports too. */
  allSlavesActive?: boolean;
  /** Ports that must be up for the bond to report carrier. */
  minLinks?: number;
  /** Seconds between learning packets to peer switches (balance-tlb, balance-alb), at least 1. */
  lpInterval?: number;
  /** Packets sent through a port before moving on (balance-rr), 0 to 65535; 0 picks a port at random. */
  packetsPerSlave?: number;
  /** 802.3ad actor system priority, 1 to 65535. */
  adActorSysPrio?: number;
  /** 802.3ad user port key, 0 to 1023. */
  adUserPortKey?: number;
  /** 802.3ad actor system MAC. */
  adActorSystem?: string;
  /** Dynamic shuffling of flows (balance-tlb). */
  tlbDynamicLb?: boolean;
  /** Delay between peer notifications after a failover (ms). */
  peerNotifyDelay?: number;
  /** Send LACPDUs actively (802.3ad `lacp_active`). */
  adLacpActive?: boolean;
}
/**
 * A bond. Ports join it with {@link Verbs.linkSetMaster} and leave with {@link Verbs.linkSetNoMaster}.
 * @example
 * ```ts
 * h.linkAdd({ kind: 'bond', name: 'bond0', mode: 'active-backup', miimon: 100 });
 * h.linkSetMaster('eth1', h.linkGet('bond0').index);
 * h.linkGet('eth1').bondPort?.state;   // 'ACTIVE' or 'BACKUP'
 * h.linkSetNoMaster('eth1');
 * ```
 */
export interface BondSpec extends LinkCommonSpec, BondOptions {
  kind: 'bond';
}

/** A bond port as the kernel reports it (IFLA_BOND_SLAVE_*), named as iproute2 prints them. */
export interface BondPortInfo {
  state?: 'ACTIVE' | 'BACKUP';
  miiStatus?: 'UP' | 'GOING_DOWN' | 'DOWN' | 'GOING_BACK';
  linkFailureCount?: number;
  /** The port's own MAC address, before the bond gave it the bond's. */
  permHwaddr?: string;
  queueId?: number;
  /** 802.3ad aggregator id. */
  adAggregatorId?: number;
  /** Priority in the choice of the active port (Linux 6.0 and later). */
  prio?: number;
}

/**
 * A VRF: a routing table that the links enslaved to it use. Ports join with {@link Verbs.linkSetMaster}.
 * @example
 * ```ts
 * h.linkAdd({ kind: 'vrf', name: 'blue', table: 10, up: true });
 * h.linkSetMaster('eth3', h.linkGet('blue').index);   // eth3's connected routes go to table 10
 * ```
 */
export interface VrfSpec extends LinkCommonSpec {
  kind: 'vrf';
  /** The routing table (1 to 2^32-1). */
  table: number;
}
/** A VRF port as the kernel reports it. */
export interface VrfPortInfo {
  /** The routing table of its VRF. */
  table?: number;
}

/** Geneve attributes (IFLA_GENEVE_*), as set on creation and read back. */
export interface GeneveOptions {
  /** Virtual network identifier (24 bits). */
  vni?: number;
  /** Remote endpoint, IPv4 or IPv6. */
  remote?: string;
  ttl?: number;
  /** Take the TTL from the inner packet. */
  ttlInherit?: boolean;
  tos?: number;
  /** The outer header's Don't Fragment bit. */
  df?: 'unset' | 'set' | 'inherit';
  /** IPv6 flow label (20 bits). */
  label?: number;
  /** UDP destination port; the kernel's default is 6081. */
  port?: number;
  udpCsum?: boolean;
  udp6ZeroCsumTx?: boolean;
  udp6ZeroCsumRx?: boolean;
  /** Collect metadata (`external`): endpoints come from the routes or BPF, no vni or remote. */
  external?: boolean;
}
/**
 * A Geneve tunnel (UDP, default port 6081).
 * @example
 * ```ts
 * h.linkAdd({ kind: 'geneve', name: 'gnv0', vni: 42, remote: '192.0.2.2' });
 * ```
 */
export interface GeneveSpec extends LinkCommonSpec, GeneveOptions {
  kind: 'geneve';
}

/** GRE keys and flags, shared by the four GRE kinds. */
export interface GreKeyOptions {
  /** Key expected on received packets (sets the K flag inbound). */
  ikey?: number;
  /** Key put on sent packets (sets the K flag outbound). */
  okey?: number;
  /** Require checksums on received packets. */
  icsum?: boolean;
  /** Checksum sent packets. */
  ocsum?: boolean;
  /** Require sequence numbers on received packets. */
  iseq?: boolean;
  /** Number sent packets. */
  oseq?: boolean;
  /** Firewall mark of the encapsulated packets. */
  fwmark?: number;
  /** Collect metadata (`external`): endpoints come from the routes or BPF. */
  external?: boolean;
  /** ifindex of the underlay device (`dev`). */
  device?: number;
}
/** gre (layer 3) and gretap (Ethernet) over IPv4. */
export interface GreOptions extends GreKeyOptions {
  /** IPv4 source address. */
  local?: string;
  /** IPv4 destination address. */
  remote?: string;
  /** 0 (the default) copies the inner packet's TTL. */
  ttl?: number;
  tos?: number;
  /** Path MTU discovery (the outer DF bit); on by default. */
  pmtudisc?: boolean;
}
/**
 * A GRE tunnel over IPv4: `gre` carries IP packets, `gretap` Ethernet frames.
 * @example
 * ```ts
 * h.linkAdd({ kind: 'gre', name: 'gre1', local: '192.0.2.1', remote: '192.0.2.2', ikey: 7, okey: 7, ttl: 64 });
 * ```
 */
export interface GreSpec extends LinkCommonSpec, GreOptions {
  kind: 'gre' | 'gretap';
}
/** ip6gre (layer 3) and ip6gretap (Ethernet) over IPv6. */
export interface Ip6GreOptions extends GreKeyOptions {
  /** IPv6 source address. */
  local?: string;
  /** IPv6 destination address. */
  remote?: string;
  /** Hop limit. */
  ttl?: number;
  /** Tunnel encapsulation limit (RFC 2473). */
  encapLimit?: number;
}
/**
 * A GRE tunnel over IPv6: `ip6gre` carries IP packets, `ip6gretap` Ethernet
 * frames. Without `ttl` and `encapLimit` the kernel uses 0 for both, where
 * `ip link add` sends 64 and 4.
 * @example
 * ```ts
 * h.linkAdd({ kind: 'ip6gretap', name: 'g6', local: 'fd00::1', remote: 'fd00::2', ttl: 64, encapLimit: 4 });
 * ```
 */
export interface Ip6GreSpec extends LinkCommonSpec, Ip6GreOptions {
  kind: 'ip6gre' | 'ip6gretap';
}

/** What an IP-in-IP tunnel carries, as iproute2's `mode`: IPv4 (`ipip`), IPv6 (`ip6ip`, sit only), MPLS, or `any` of them. */
export type IpTunnelMode = 'ipip' | 'ip6ip' | 'mplsip' | 'any';
/** ipip (IPv4 or MPLS in IPv4) and sit (IPv6, IPv4 or MPLS in IPv4). */
export interface IpTunnelOptions {
  /**
   * The inner protocol. The kernel's default is `ipip` for an ipip tunnel and
   * `ip6ip` for sit; note `ip link add ... type ipip` without `mode` sends `any`.
   */
  mode?: IpTunnelMode;
  /** IPv4 source address. */
  local?: string;
  /** IPv4 destination address. */
  remote?: string;
  /** 0 (the default) copies the inner packet's TTL. */
  ttl?: number;
  tos?: number;
  /** Path MTU discovery (the outer DF bit); on by default. */
  pmtudisc?: boolean;
  /** ifindex of the underlay device (`dev`). */
  device?: number;
  fwmark?: number;
  /** Collect metadata (`external`). */
  external?: boolean;
}
/**
 * An IP-in-IP tunnel: `ipip` or `sit`.
 * @example
 * ```ts
 * h.linkAdd({ kind: 'sit', name: 'sit1', mode: 'ip6ip', local: '192.0.2.1', remote: '192.0.2.2' });
 * ```
 */
export interface IpTunnelSpec extends LinkCommonSpec, IpTunnelOptions {
  kind: 'ipip' | 'sit';
}

/**
 * A WireGuard link. Only the link: keys, peers and the listening port are generic netlink (`wg set`), which rtnl does not speak.
 * @example
 * ```ts
 * h.linkAdd({ kind: 'wireguard', name: 'wg0', mtu: 1420 });
 * ```
 */
export interface WireguardSpec extends LinkCommonSpec {
  kind: 'wireguard';
}

/**
 * An ifb (intermediate functional block) device: traffic redirected to it by
 * a tc filter is shaped on its egress, as the CNI `bandwidth` plugin does for
 * a pod's outbound traffic.
 * @example
 * ```ts
 * h.linkAdd({ kind: 'ifb', name: 'ifb0', up: true });
 * ```
 */
export interface IfbSpec extends LinkCommonSpec {
  kind: 'ifb';
}

/** A tun/tap device's settings (IFLA_TUN_*), read only: see {@link TunLink}. */
export interface TunInfo {
  /** `tun` (IP packets) or `tap` (Ethernet frames). */
  mode?: 'tun' | 'tap';
  /** uid allowed to attach, when restricted. */
  owner?: number;
  /** gid allowed to attach, when restricted. */
  group?: number;
  /** Packet information header on reads and writes (not IFF_NO_PI). */
  pi?: boolean;
  vnetHdr?: boolean;
  /** Survives its last file descriptor (TUNSETPERSIST). */
  persist?: boolean;
  multiQueue?: boolean;
  numQueues?: number;
  numDisabledQueues?: number;
}

/** A bond as the kernel reports it; its ports carry {@link BondPortInfo} in `bondPort`. */
export interface BondLink extends LinkBase, BondOptions { kind: 'bond' }
/** A VRF as the kernel reports it; its ports carry {@link VrfPortInfo} in `vrfPort`. */
export interface VrfLink extends LinkBase { kind: 'vrf'; table?: number }
/** A Geneve tunnel as the kernel reports it. */
export interface GeneveLink extends LinkBase, GeneveOptions { kind: 'geneve' }
/** A gre or gretap tunnel as the kernel reports it: `ikey`/`okey` only when the K flag is set, the checksum and sequence flags always. */
export interface GreLink extends LinkBase, GreOptions { kind: 'gre' | 'gretap' }
/** An ip6gre or ip6gretap tunnel as the kernel reports it. */
export interface Ip6GreLink extends LinkBase, Ip6GreOptions { kind: 'ip6gre' | 'ip6gretap' }
/** An ipip or sit tunnel as the kernel reports it. */
export interface IpTunnelLink extends LinkBase, IpTunnelOptions { kind: 'ipip' | 'sit' }
/** A WireGuard link as the kernel reports it (no keys or peers: those are generic netlink). */
export interface WireguardLink extends LinkBase { kind: 'wireguard' }
/** An ifb device as the kernel reports it. */
export interface IfbLink extends LinkBase { kind: 'ifb' }
/**
 * A tun or tap device. rtnl lists, changes and deletes them but cannot
 * create one: the kernel refuses tun/tap creation over rtnetlink
 * (EOPNOTSUPP, "tun/tap creation via rtnetlink is not supported."), so
 * `linkAdd({ kind: 'tun' })` is refused before sending with an
 * {@link RtnlInputError}. Make them with `ip tuntap add` or a program's own
 * TUNSETIFF ioctl on `/dev/net/tun`.
 * @example
 * ```ts
 * for (const l of h.linkList({ kind: 'tun' })) if (l.kind === 'tun') console.log(l.name, l.mode, l.persist);
 * ```
 */
export interface TunLink extends LinkBase, TunInfo { kind: 'tun' }

/** The kinds of this module that rtnl creates. */
export type MoreLinkSpec = BondSpec | VrfSpec | GeneveSpec | GreSpec | Ip6GreSpec | IpTunnelSpec | WireguardSpec | IfbSpec;
/** The links of this module as the kernel reports them. */
export type MoreLink = BondLink | VrfLink | GeneveLink | GreLink | Ip6GreLink | IpTunnelLink | WireguardLink | IfbLink | TunLink;
/** Kinds rtnl reads back but does not create (the addon's kinds marked decode-only). */
export type DecodeOnlyKind = 'tun';

// ---- the rules the addon's tables (native/link_kinds.cc) cannot say ----

/** @internal The GRE checksum and sequence flags: bits of IFLA_GRE_IFLAGS/OFLAGS, encoded by hand. */
export const GRE_FLAG_CHECKS: Record<'icsum' | 'ocsum' | 'iseq' | 'oseq', Check> = { icsum: v.bool, ocsum: v.bool, iseq: v.bool, oseq: v.bool };

/** @internal Refuses, before anything is sent, a tun device (kind `tun`, or `tap` as `ip tuntap` names one): the kernel makes them only through /dev/net/tun. */
export function refuseTun(kind: unknown): void {
  if (kind === 'tun' || kind === 'tap')
    throw new RtnlInputError('kind', 'tun/tap devices are made through /dev/net/tun (TUNSETIFF), not rtnetlink, whose requests the kernel refuses ("tun/tap creation via rtnetlink is not supported."): create one with `ip tuntap add` or a TUNSETIFF ioctl; rtnl lists, changes and deletes it');
}
