/**
 * Link types: what you ask for ({@link LinkSpec}, one shape per kind, where
 * `undefined` means "not sent") and what the kernel reports ({@link Link}, a
 * union discriminated by `kind`).
 * @module
 */
import { RtnlInputError } from './errors.js';
import { type NsRef, nsNative } from './netns.js';
import * as v from './validate.js';
import { type BondPortInfo, type DecodeOnlyKind, type MoreLink, type MoreLinkSpec, type VrfPortInfo, DECODE_ONLY_KINDS, MORE_KIND_CHECKS, MORE_LINK_KINDS, MORE_REQUIRED, refuseDecodeOnly } from './link-kinds.js';

/** A link by name or by ifindex. */
export type LinkRef = string | number;

/** Attributes any link can be created with. */
export interface LinkCommonSpec {
  /** Interface name: at most 15 bytes, no `/`, `:` or whitespace. */
  name: string;
  mtu?: number;
  /** MAC address, e.g. `02:00:00:00:00:01`. */
  address?: string;
  broadcast?: string;
  /** Transmit queue length. */
  txqlen?: number;
  /** ifindex of the master (e.g. a bridge) to enslave the link to. */
  master?: number;
  /** Bring the link up on creation. */
  up?: boolean;
  /** Promiscuous mode (IFF_PROMISC, `ip link ... promisc on`). */
  promisc?: boolean;
  /** Interface group (`ip link ... group N`); {@link Verbs.linkDelGroup} deletes a whole group at once. */
  linkGroup?: number;
  numTxQueues?: number;
  numRxQueues?: number;
  /** Create the link directly in another namespace. */
  netns?: NsRef;
}

/** The other end of a veth pair. */
export interface VethPeerSpec {
  name: string;
  mtu?: number;
  address?: string;
  txqlen?: number;
  /** Create the peer directly in this namespace, in the same request. */
  netns?: NsRef;
}

export interface VethSpec extends LinkCommonSpec {
  kind: 'veth';
  peer: VethPeerSpec;
}

/** Bridge options; times are in centiseconds (1/100 s), as the kernel and iproute2 take them. */
export interface BridgeOptions {
  stp?: boolean;
  forwardDelay?: number;
  helloTime?: number;
  maxAge?: number;
  ageingTime?: number;
  priority?: number;
  vlanFiltering?: boolean;
  vlanDefaultPvid?: number;
  groupFwdMask?: number;
  multicastSnooping?: boolean;
  multicastQuerier?: boolean;
  nfCallIptables?: boolean;
  nfCallIp6tables?: boolean;
}
export interface BridgeSpec extends LinkCommonSpec, BridgeOptions {
  kind: 'bridge';
}

/** VXLAN attributes (IFLA_VXLAN_*), as set on creation and read back. */
export interface VxlanOptions {
  /** VXLAN network identifier (24 bits). */
  vni: number;
  /** Unicast destination for unknown traffic (`remote`). */
  remote?: string;
  /** Multicast group for unknown traffic (`group`). */
  group?: string;
  /** Source address of the tunnel. */
  local?: string;
  /** ifindex of the underlay device (`dev`). */
  device?: number;
  /** UDP destination port (`dstport`); the kernel's default is 8472. */
  port?: number;
  /** UDP source port range. */
  portRange?: { low: number; high: number };
  ttl?: number;
  tos?: number;
  label?: number;
  /** Learn remote MACs from received packets; `false` for FDB-programmed VTEPs. */
  learning?: boolean;
  proxy?: boolean;
  rsc?: boolean;
  l2miss?: boolean;
  l3miss?: boolean;
  udpCsum?: boolean;
  udp6ZeroCsumTx?: boolean;
  udp6ZeroCsumRx?: boolean;
  /** FDB ageing, seconds. */
  ageing?: number;
  /** Maximum FDB entries. */
  limit?: number;
  /** Collect metadata (`external`). */
  external?: boolean;
  gbp?: boolean;
}
export interface VxlanSpec extends LinkCommonSpec, VxlanOptions {
  kind: 'vxlan';
}

/** macvlan/macvtap mode (`ip link ... type macvlan mode M`). */
export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
export interface MacvlanSpec extends LinkCommonSpec {
  kind: 'macvlan' | 'macvtap';
  /** ifindex of the parent device. */
  link: number;
  mode?: MacvlanMode;
}

/** ipvlan/ipvtap mode. */
export type IpvlanMode = 'l2' | 'l3' | 'l3s';
/** ipvlan/ipvtap port isolation (one of; `bridge` is the kernel default). */
export type IpvlanFlag = 'bridge' | 'private' | 'vepa';
export interface IpvlanSpec extends LinkCommonSpec {
  kind: 'ipvlan' | 'ipvtap';
  /** ifindex of the parent device. */
  link: number;
  mode?: IpvlanMode;
  flag?: IpvlanFlag;
}

export interface VlanSpec extends LinkCommonSpec {
  kind: 'vlan';
  /** ifindex of the parent device. */
  link: number;
  id: number;
  protocol?: '802.1Q' | '802.1ad';
}

export interface DummySpec extends LinkCommonSpec {
  kind: 'dummy';
}

/** A link to create, by kind. */
export type LinkSpec = VethSpec | BridgeSpec | VxlanSpec | MacvlanSpec | IpvlanSpec | VlanSpec | DummySpec | MoreLinkSpec;
/** The kinds rtnl can create. */
export type LinkKind = LinkSpec['kind'];
/** Every value {@link LinkKind} can take. */
export const LINK_KINDS: readonly LinkKind[] = ['veth', 'bridge', 'vxlan', 'macvlan', 'macvtap', 'ipvlan', 'ipvtap', 'vlan', 'dummy', ...MORE_LINK_KINDS];

/** A bridge port's spanning tree state (`ip link ... type bridge_slave state N`, named as iproute2 prints them). */
export type BridgePortState = 'disabled' | 'listening' | 'learning' | 'forwarding' | 'blocking';
/** Every value {@link BridgePortState} can take, in the kernel's order (BR_STATE_DISABLED = 0 ... BR_STATE_BLOCKING = 4). */
export const BRIDGE_PORT_STATES: readonly BridgePortState[] = ['disabled', 'listening', 'learning', 'forwarding', 'blocking'];

/**
 * Settings of a bridge port (IFLA_BRPORT_*), as `ip link set dev X type
 * bridge_slave ...` takes them; `undefined` fields are left alone.
 */
export interface BridgePortSettings {
  /**
   * STP state, for a bridge whose STP runs in user space. The kernel refuses
   * a change while the bridge runs kernel STP (EBUSY), on a port that is
   * down, and to any state but `disabled` on a port without carrier
   * (ENETDOWN); without STP it puts an up port back to forwarding at once.
   */
  state?: BridgePortState;
  /** STP port priority, 0 to 63. */
  priority?: number;
  /** STP path cost, 1 to 65535. */
  cost?: number;
  /** BPDU guard: disable the port when it receives a BPDU. */
  guard?: boolean;
  /** Hairpin (reflective relay): frames may go back out of the port they came in on. */
  hairpin?: boolean;
  /** Multicast fast leave. */
  fastLeave?: boolean;
  /** Root port protection (`root_block`): the port never becomes the root port. */
  rootBlock?: boolean;
  /** Learn source MACs from frames received on the port. */
  learning?: boolean;
  /** Flood unicast frames with an unknown destination to the port. */
  flood?: boolean;
  /** Answer ARP for known neighbours instead of flooding the request to the port. */
  proxyArp?: boolean;
  /** Proxy ARP for Wi-Fi (IEEE 802.11). */
  proxyArpWifi?: boolean;
  /** Flood multicast frames with no known listener to the port. */
  mcastFlood?: boolean;
  /** Flood broadcast frames to the port. */
  bcastFlood?: boolean;
  /** Send multicast to the port as unicast copies, one per listener. */
  mcastToUnicast?: boolean;
  /** ARP/ND suppression. */
  neighSuppress?: boolean;
  /** Isolated: no traffic to or from other isolated ports. */
  isolated?: boolean;
}

/** A bridge port as the kernel reports it: its settings, and its STP identity. */
export interface BridgePortInfo extends BridgePortSettings {
  /** STP port identifier (priority and number). */
  id?: number;
  /** Port number. */
  no?: number;
}

/** Changes to an existing link, sent in one request; `undefined` fields are left alone. */
export interface LinkUpdate {
  up?: boolean;
  /** Promiscuous mode on or off (IFF_PROMISC, `ip link set X promisc on|off`). */
  promisc?: boolean;
  mtu?: number;
  /** New name; the link must then be referred to by index. */
  name?: string;
  address?: string;
  broadcast?: string;
  txqlen?: number;
  alias?: string;
  /** ifindex of the new master, or `null` to detach (`nomaster`). */
  master?: number | null;
  /** Interface group. */
  linkGroup?: number;
  /** Move the link to another namespace. */
  netns?: NsRef;
  /**
   * Settings of the link as a bridge port. The link must be a port of a
   * bridge already (else EOPNOTSUPP): the kernel applies them before the
   * rest of the update, so not with `master`, and `state` not with `up`.
   */
  bridgePort?: BridgePortSettings;
}

/** Interface flags as iproute2 prints them. */
export type LinkFlag = 'UP' | 'BROADCAST' | 'LOOPBACK' | 'POINTOPOINT' | 'MULTICAST' | 'NOARP' | 'ALLMULTI' | 'PROMISC' | 'MASTER' | 'SLAVE' | 'DEBUG' | 'DYNAMIC' | 'AUTOMEDIA' | 'PORTSEL' | 'NOTRAILERS' | 'LOWER_UP' | 'DORMANT' | 'ECHO';

/** RFC 2863 operational state, as iproute2 prints it. */
export type OperState = 'UNKNOWN' | 'NOTPRESENT' | 'DOWN' | 'LOWERLAYERDOWN' | 'TESTING' | 'DORMANT' | 'UP';

/** Interface counters (IFLA_STATS64), as bigints: byte counters pass 2^53 on fast links. */
export interface LinkStats {
  rxPackets: bigint;
  txPackets: bigint;
  rxBytes: bigint;
  txBytes: bigint;
  rxErrors: bigint;
  txErrors: bigint;
  rxDropped: bigint;
  txDropped: bigint;
  multicast: bigint;
  collisions: bigint;
}

/** What every link reports. */
export interface LinkBase {
  index: number;
  name: string;
  flags: LinkFlag[];
  /** IFF_UP is set (administratively up). */
  up: boolean;
  /** IFF_PROMISC is set: promiscuous mode asked for. A bridge port's own promiscuity shows in `promiscuity` only. */
  promisc: boolean;
  operstate?: OperState;
  /** ARPHRD type: `ether`, `loopback`, `none`... (a number when rtnl has no name for it). */
  linkType: string | number;
  mtu?: number;
  minMtu?: number;
  maxMtu?: number;
  address?: string;
  broadcast?: string;
  permAddress?: string;
  txqlen?: number;
  alias?: string;
  /** ifindex of the master, when enslaved. */
  master?: number;
  /** The kind of the master, when enslaved (`bridge`). */
  portKind?: string;
  /** The port's settings, when the master is a bridge. */
  bridgePort?: BridgePortInfo;
  /** The port's state, when the master is a bond. */
  bondPort?: BondPortInfo;
  /** The port's table, when the master is a VRF. */
  vrfPort?: VrfPortInfo;
  /** ifindex of the parent (macvlan, vlan) or the veth peer; in `linkNetnsId`'s namespace when that is set. */
  link?: number;
  /** The peer namespace's id as seen from this namespace (veth peer, macvlan parent elsewhere). */
  linkNetnsId?: number;
  /** Interface group. */
  linkGroup?: number;
  promiscuity?: number;
  carrier?: boolean;
  carrierChanges?: number;
  numTxQueues?: number;
  numRxQueues?: number;
  gsoMaxSize?: number;
  gsoMaxSegs?: number;
  qdisc?: string;
  protoDown?: boolean;
  /** Counters: only when asked for (`linkGet(ref, { stats: true })`, `linkList({ stats: true })`); events carry them as the kernel sends them. */
  stats?: LinkStats;
}

export interface VethLink extends LinkBase { kind: 'veth' }
export interface BridgeLink extends LinkBase, BridgeOptions { kind: 'bridge' }
export interface VxlanLink extends LinkBase, VxlanOptions { kind: 'vxlan' }
export interface MacvlanLink extends LinkBase { kind: 'macvlan' | 'macvtap'; mode?: MacvlanMode }
export interface IpvlanLink extends LinkBase { kind: 'ipvlan' | 'ipvtap'; mode?: IpvlanMode; flag?: IpvlanFlag }
export interface VlanLink extends LinkBase { kind: 'vlan'; id?: number; protocol?: '802.1Q' | '802.1ad' }
export interface DummyLink extends LinkBase { kind: 'dummy' }
/** A link without a kind (loopback, physical NICs), whether a port or not. */
export interface DeviceLink extends LinkBase { kind: 'device' }
/** A link of a kind rtnl does not decode; `infoKind` is the kernel's name for it. */
export interface GenericLink extends LinkBase { kind: 'generic'; infoKind: string }

/** A link as the kernel reports it. */
export type Link = VethLink | BridgeLink | VxlanLink | MacvlanLink | IpvlanLink | VlanLink | DummyLink | MoreLink | DeviceLink | GenericLink;

/** Filters applied by the kernel to a link dump. */
export interface LinkFilter {
  /** Only ports of this master (ifindex). */
  master?: number;
  /** Only links of this kind (`tun` too, which rtnl lists but does not create). */
  kind?: LinkKind | DecodeOnlyKind;
  /** Include each link's counters (`stats`, 10 bigints per link). Off by default: a dump is then cheaper to decode. */
  stats?: boolean;
}

// ---- validation: spec -> the argument the native codec reads ----

const u8 = (f: string, x: unknown) => v.uint(f, x, 0xff);
const u16 = (f: string, x: unknown) => v.uint(f, x, 0xffff);
const u32 = (f: string, x: unknown) => v.uint(f, x);
const ifindex = (f: string, x: unknown) => v.uint(f, x, 0x7fffffff, 1);
const port = (f: string, x: unknown) => v.uint(f, x, 0xffff, 1);
const alias = (f: string, x: unknown) => v.str(f, x, 255);

const common = {
  name: v.ifname, mtu: v.mtu, address: v.mac, broadcast: v.mac, txqlen: u32, master: ifindex,
  up: v.bool, promisc: v.bool, linkGroup: u32, numTxQueues: u32, numRxQueues: u32,
};
// No `up`: the kernel refuses to open a veth end before its peer exists (ENOTCONN); bring it up after.
const peerChecks = { name: v.ifname, mtu: v.mtu, address: v.mac, txqlen: u32 };

const kindChecks: Record<LinkKind, Record<string, (f: string, x: unknown) => unknown>> = {
  veth: {},
  bridge: {
    stp: v.bool, forwardDelay: u32, helloTime: u32, maxAge: u32, ageingTime: u32, priority: u16,
    vlanFiltering: v.bool, vlanDefaultPvid: (f, x) => v.uint(f, x, 4094), groupFwdMask: u16,
    multicastSnooping: v.bool, multicastQuerier: v.bool, nfCallIptables: v.bool, nfCallIp6tables: v.bool,
  },
  vxlan: {
    vni: (f, x) => v.uint(f, x, 0xffffff), remote: v.ip, group: v.ip, local: v.ip, device: ifindex, port,
    ttl: u8, tos: u8, label: (f, x) => v.uint(f, x, 0xfffff), learning: v.bool, proxy: v.bool, rsc: v.bool,
    l2miss: v.bool, l3miss: v.bool, udpCsum: v.bool, udp6ZeroCsumTx: v.bool, udp6ZeroCsumRx: v.bool,
    ageing: u32, limit: u32, external: v.bool, gbp: v.bool,
    portRange: (f, x) => {
      const r = x as { low?: unknown; high?: unknown };
      const low = port(`${f}.low`, r?.low), high = port(`${f}.high`, r?.high);
      if (low > high) throw new RtnlInputError(f, `low (${low}) is above high (${high})`);
      return { low, high };
    },
  },
  macvlan: { link: ifindex, mode: (f, x) => v.oneOf(f, x, ['private', 'vepa', 'bridge', 'passthru', 'source']) },
  macvtap: {},
  ipvlan: { link: ifindex, mode: (f, x) => v.oneOf(f, x, ['l2', 'l3', 'l3s']), flag: (f, x) => v.oneOf(f, x, ['bridge', 'private', 'vepa']) },
  ipvtap: {},
  vlan: { link: ifindex, id: (f, x) => v.uint(f, x, 4094, 1), protocol: (f, x) => v.oneOf(f, x, ['802.1Q', '802.1ad']) },
  dummy: {},
  ...MORE_KIND_CHECKS,
};
kindChecks.macvtap = kindChecks.macvlan;
kindChecks.ipvtap = kindChecks.ipvlan;
// Field sets made once, not per request: per kind for specs.
const specKeys = {} as Record<LinkKind, ReadonlySet<string>>;
for (const k of LINK_KINDS) specKeys[k] = new Set([...Object.keys(common), ...Object.keys(kindChecks[k]), 'kind', 'netns', 'peer']);
const PEER_KEYS = new Set([...Object.keys(peerChecks), 'netns']);
const required: Partial<Record<LinkKind, string[]>> = { vxlan: ['vni'], macvlan: ['link'], macvtap: ['link'], ipvlan: ['link'], ipvtap: ['link'], vlan: ['link', 'id'], veth: ['peer'], ...MORE_REQUIRED };

function withNetns(out: Record<string, unknown>, ns: NsRef | undefined, field: string): Record<string, unknown> {
  if (ns === undefined) return out;
  if (typeof ns === 'object' && 'pid' in ns && !('fd' in ns)) out.netnsPid = v.uint(field, ns.pid, 0x7fffffff, 1);
  else out.netns = nsNative(ns, field);
  return out;
}

/** @internal Validates a spec into the native codec's argument. */
export function linkSpecArg(spec: LinkSpec): Record<string, unknown> {
  if (!spec || typeof spec !== 'object') throw new RtnlInputError('spec', 'expected a link spec object');
  refuseDecodeOnly(spec.kind);
  const kind = v.oneOf('kind', spec.kind, LINK_KINDS);
  if (spec.name === undefined) throw new RtnlInputError('name', 'required');
  const checks = kindChecks[kind];
  // The kernel applies IFLA_IFALIAS only when changing a link: on creation it would be dropped silently.
  if ((spec as { alias?: unknown }).alias !== undefined)
    throw new RtnlInputError('alias', 'the kernel ignores an alias on creation: set it with linkSet afterwards');
  for (const k of required[kind] ?? []) {
    if ((spec as unknown as Record<string, unknown>)[k] === undefined) throw new RtnlInputError(k, `required for a ${kind} link`);
  }
  v.noExtraKeys(spec, '', specKeys[kind]);
  if (kind === 'vxlan' && (spec as VxlanSpec).remote !== undefined && (spec as VxlanSpec).group !== undefined)
    throw new RtnlInputError('remote', 'give remote or group, not both');
  const out = withNetns({ kind, ...v.pick(spec, '', common as never), ...v.pick(spec, '', checks as never) }, spec.netns, 'netns');
  if (kind === 'veth') {
    const peer = (spec as VethSpec).peer;
    if (!peer || typeof peer !== 'object') throw new RtnlInputError('peer', 'expected { name, ... }');
    if (peer.name === undefined) throw new RtnlInputError('peer.name', 'required');
    v.noExtraKeys(peer, 'peer.', PEER_KEYS);
    out.peer = withNetns(v.pick(peer, 'peer.', peerChecks as never), peer.netns, 'peer.netns');
  }
  return out;
}

/** @internal How the native codec identifies a link: by index, or by name (IFLA_IFNAME). */
export function linkRefArg(ref: LinkRef, field = 'link'): { index: number } | { target: string } {
  if (typeof ref === 'number') return { index: ifindex(field, ref) };
  return { target: v.ifname(field, ref) };
}

// Ranges as the bridge driver enforces them (BR_MAX_PORT_PRIORITY, BR_MIN/MAX_PATH_COST).
const bridgePortChecks: Record<keyof BridgePortSettings, (f: string, x: unknown) => unknown> = {
  state: (f, x) => v.oneOf(f, x, BRIDGE_PORT_STATES), priority: (f, x) => v.uint(f, x, 63), cost: (f, x) => v.uint(f, x, 0xffff, 1),
  guard: v.bool, hairpin: v.bool, fastLeave: v.bool, rootBlock: v.bool, learning: v.bool, flood: v.bool, proxyArp: v.bool,
  proxyArpWifi: v.bool, mcastFlood: v.bool, bcastFlood: v.bool, mcastToUnicast: v.bool, neighSuppress: v.bool, isolated: v.bool,
};

const BRIDGE_PORT_KEYS = new Set(Object.keys(bridgePortChecks));
const UPDATE_KEYS = new Set(['up', 'promisc', 'mtu', 'name', 'address', 'broadcast', 'txqlen', 'alias', 'master', 'linkGroup', 'netns', 'bridgePort']);
const updateChecks = { up: v.bool, promisc: v.bool, mtu: v.mtu, name: v.ifname, address: v.mac, broadcast: v.mac, txqlen: u32, alias, linkGroup: u32 };
const FILTER_KEYS = new Set(['master', 'kind', 'stats']);
const FILTER_KINDS = [...LINK_KINDS, ...DECODE_ONLY_KINDS];
const filterChecks = { master: ifindex, kind: (fl: string, x: unknown) => v.oneOf(fl, x, FILTER_KINDS), stats: v.bool };
const GET_KEYS = new Set(['stats']);

function bridgePortArg(p: unknown): Record<string, unknown> {
  if (!p || typeof p !== 'object') throw new RtnlInputError('bridgePort', 'expected an object of bridge port settings');
  v.noExtraKeys(p, 'bridgePort.', BRIDGE_PORT_KEYS);
  return v.pick(p, 'bridgePort.', bridgePortChecks as never);
}

/** @internal Validates a link update into the native codec's argument. */
export function linkUpdateArg(ref: LinkRef, u: LinkUpdate): Record<string, unknown> {
  if (!u || typeof u !== 'object') throw new RtnlInputError('update', 'expected an object');
  v.noExtraKeys(u, '', UPDATE_KEYS);
  if (u.name !== undefined && typeof ref !== 'number')
    throw new RtnlInputError('name', 'renaming needs the link by index (the kernel finds links by name through the same attribute)');
  const out = v.pick(u, '', updateChecks, linkRefArg(ref));
  if (u.master !== undefined) out.master = u.master === null ? 0 : ifindex('master', u.master);
  if (u.bridgePort !== undefined) {
    if (u.master !== undefined) throw new RtnlInputError('bridgePort', 'the kernel applies port settings before a master change: set master first, in its own request');
    out.bridgePort = bridgePortArg(u.bridgePort);
  }
  return withNetns(out, u.netns, 'netns');
}

/** @internal */
export function linkFilterArg(f: LinkFilter = {}): Record<string, unknown> {
  v.noExtraKeys(f, '', FILTER_KEYS);
  return v.pick(f, '', filterChecks);
}

/** Options of {@link Verbs.linkGet}. */
export interface LinkGetOptions {
  /** Include the link's counters (`stats`, as bigints). Off by default. */
  stats?: boolean;
}

/** @internal The native argument of linkGet: the reference, and whether counters are wanted. */
export function linkGetArg(ref: LinkRef, opts: LinkGetOptions = {}): Record<string, unknown> {
  if (typeof opts !== 'object' || opts === null) throw new RtnlInputError('options', 'expected an object');
  v.noExtraKeys(opts, '', GET_KEYS);
  const out: Record<string, unknown> = linkRefArg(ref);
  if (opts.stats !== undefined) out.stats = v.bool('stats', opts.stats);
  return out;
}

/** @internal A short name for a link reference in error messages. */
export function linkLabel(ref: LinkRef): string {
  return typeof ref === 'number' ? `ifindex ${ref}` : ref;
}
