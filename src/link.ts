/**
 * Link types: what you ask for ({@link LinkSpec}, one shape per kind, where
 * `undefined` means "not sent") and what the kernel reports ({@link Link}, a
 * union discriminated by `kind`).
 * @module
 */
import { RtnlInputError } from './errors.js';
import { type NsRef, nsNative } from './netns.js';
import { type Check, type KindSchema, checks, enumNames, lazy, lazyList, schema } from './schema.js';
import * as v from './validate.js';
import { type BondPortInfo, type DecodeOnlyKind, type MoreLink, type MoreLinkSpec, type VrfPortInfo, GRE_FLAG_CHECKS, refuseTun } from './link-kinds.js';

// A kind attribute's enum names, from the addon.
const kindEnum = (kind: string, key: string) => enumNames(schema().link.kinds[kind]!.attrs, key);

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
  /** Largest GSO packet the stack builds for the link, bytes. */
  gsoMaxSize?: number;
  /** Largest number of segments in a GSO packet. */
  gsoMaxSegs?: number;
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
  /** Send multicast queries from the bridge's own IP address, not 0.0.0.0 (`mcast_query_use_ifaddr`). */
  multicastQueryUseIfaddr?: boolean;
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
/** Every {@link MacvlanMode}. */
export const MACVLAN_MODES: readonly MacvlanMode[] = lazyList(() => kindEnum('macvlan', 'mode'));
export interface MacvlanSpec extends LinkCommonSpec {
  kind: 'macvlan' | 'macvtap';
  /** ifindex of the parent device. */
  link: number;
  mode?: MacvlanMode;
}

/** ipvlan/ipvtap mode. */
export type IpvlanMode = 'l2' | 'l3' | 'l3s';
/** Every {@link IpvlanMode}. */
export const IPVLAN_MODES: readonly IpvlanMode[] = lazyList(() => kindEnum('ipvlan', 'mode'));
/** ipvlan/ipvtap port isolation (one of; `bridge` is the kernel default). */
export type IpvlanFlag = 'bridge' | 'private' | 'vepa';
/** Every {@link IpvlanFlag}. */
export const IPVLAN_FLAGS: readonly IpvlanFlag[] = lazyList(() => kindEnum('ipvlan', 'flag'));
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
  protocol?: VlanProtocol;
}
/** A vlan's protocol (`ip link ... type vlan protocol P`). */
export type VlanProtocol = '802.1Q' | '802.1ad';
/** Every {@link VlanProtocol}. */
export const VLAN_PROTOCOLS: readonly VlanProtocol[] = lazyList(() => kindEnum('vlan', 'protocol'));

export interface DummySpec extends LinkCommonSpec {
  kind: 'dummy';
}

/** A link to create, by kind. */
export type LinkSpec = VethSpec | BridgeSpec | VxlanSpec | MacvlanSpec | IpvlanSpec | VlanSpec | DummySpec | MoreLinkSpec;
/** The kinds rtnl can create. */
export type LinkKind = LinkSpec['kind'];
/** Every value {@link LinkKind} can take: the addon's kind registry, without the kinds it only decodes. */
export const LINK_KINDS: readonly LinkKind[] = lazyList(() => Object.entries(schema().link.kinds).filter(([, k]) => !k.decodeOnly).map(([n]) => n));

/** A bridge port's spanning tree state (`ip link ... type bridge_slave state N`, named as iproute2 prints them). */
export type BridgePortState = 'disabled' | 'listening' | 'learning' | 'forwarding' | 'blocking';
/** Every value {@link BridgePortState} can take, in the kernel's order (BR_STATE_DISABLED = 0 ... BR_STATE_BLOCKING = 4). */
export const BRIDGE_PORT_STATES: readonly BridgePortState[] = lazyList(() => enumNames(schema().link.bridgePort, 'state'));

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
export interface VlanLink extends LinkBase { kind: 'vlan'; id?: number; protocol?: VlanProtocol }
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
// The checks come from the addon's tables (src/schema.ts); what is written
// here are the rules no table says.

const ifindex = v.ifindex;
// ifi_flags bits, not attributes.
const flagChecks = { up: v.bool, promisc: v.bool };
// A struct attribute (ifla_vxlan_port_range), encoded by hand.
const portRange: Check = (f, x) => {
  const r = x as { low?: unknown; high?: unknown };
  const port = (g: string, y: unknown) => v.uint(g, y, 0xffff, 1);
  const low = port(`${f}.low`, r?.low), high = port(`${f}.high`, r?.high);
  if (low > high) throw new RtnlInputError(f, `low (${low}) is above high (${high})`);
  return { low, high };
};
const structChecks: Partial<Record<LinkKind, Record<string, Check>>> = {
  vxlan: { portRange }, gre: GRE_FLAG_CHECKS, gretap: GRE_FLAG_CHECKS, ip6gre: GRE_FLAG_CHECKS, ip6gretap: GRE_FLAG_CHECKS,
};

interface KindChecks {
  checks: Record<string, Check>;
  required: readonly string[];
  /** Every field a spec of the kind may have. */
  keys: ReadonlySet<string>;
}

// Field sets and checkers made once (on first use), not per request.
const compiled = lazy(() => {
  const s = schema().link;
  // `link` (the parent) belongs to the kinds that require it.
  const common: Record<string, Check> = { ...checks(s.common.filter((a) => a.key !== 'link')), ...flagChecks };
  const byKey = checks(s.common);
  const kinds = {} as Record<LinkKind, KindChecks>;
  for (const [kind, k] of Object.entries(s.kinds) as [LinkKind, KindSchema][]) {
    if (k.decodeOnly) continue;
    const own: Record<string, Check> = { ...checks(k.attrs), ...structChecks[kind] };
    for (const r of k.required) if (byKey[r]) own[r] = byKey[r];
    kinds[kind] = { checks: own, required: k.required, keys: new Set([...Object.keys(common), ...Object.keys(own), ...k.required, 'kind', 'netns']) };
  }
  // No `up`: the kernel refuses to open a veth end before its peer exists (ENOTCONN); bring it up after.
  const peer = checks(s.common, ['name', 'mtu', 'address', 'txqlen']);
  const update = { ...flagChecks, ...checks(s.common, ['mtu', 'name', 'address', 'broadcast', 'txqlen', 'linkGroup']), ...checks(s.state, ['alias']) };
  const bridgePort = checks(s.bridgePort);
  const kindNames = Object.keys(kinds) as LinkKind[];
  return {
    common, kinds, kindNames, peer, peerKeys: new Set([...Object.keys(peer), 'netns']),
    update, updateKeys: new Set([...Object.keys(update), 'master', 'netns', 'bridgePort']),
    bridgePort, bridgePortKeys: new Set(Object.keys(bridgePort)),
    // The kinds rtnl only decodes (tun) too.
    filter: { master: ifindex, kind: (f: string, x: unknown) => v.oneOf(f, x, Object.keys(s.kinds)), stats: v.bool },
  };
});
const FILTER_KEYS = new Set(['master', 'kind', 'stats']);
const GET_KEYS = new Set(['stats']);

function withNetns(out: Record<string, unknown>, ns: NsRef | undefined, field: string): Record<string, unknown> {
  if (ns === undefined) return out;
  if (typeof ns === 'object' && 'pid' in ns && !('fd' in ns)) out.netnsPid = v.uint(field, ns.pid, 0x7fffffff, 1);
  else out.netns = nsNative(ns, field);
  return out;
}

/** @internal Validates a spec into the native codec's argument. */
export function linkSpecArg(spec: LinkSpec): Record<string, unknown> {
  if (!spec || typeof spec !== 'object') throw new RtnlInputError('spec', 'expected a link spec object');
  const c = compiled();
  refuseTun(spec.kind);
  const kind = v.oneOf('kind', spec.kind, c.kindNames);
  if (spec.name === undefined) throw new RtnlInputError('name', 'required');
  const k = c.kinds[kind];
  // The kernel applies IFLA_IFALIAS only when changing a link: on creation it would be dropped silently.
  if ((spec as { alias?: unknown }).alias !== undefined)
    throw new RtnlInputError('alias', 'the kernel ignores an alias on creation: set it with linkSet afterwards');
  for (const r of k.required) {
    if ((spec as unknown as Record<string, unknown>)[r] === undefined) throw new RtnlInputError(r, `required for a ${kind} link`);
  }
  v.noExtraKeys(spec, '', k.keys);
  if (kind === 'vxlan' && (spec as VxlanSpec).remote !== undefined && (spec as VxlanSpec).group !== undefined)
    throw new RtnlInputError('remote', 'give remote or group, not both');
  const out = withNetns({ kind, ...v.pick(spec, '', c.common), ...v.pick(spec, '', k.checks) }, spec.netns, 'netns');
  if (kind === 'veth') {
    const peer = (spec as VethSpec).peer;
    if (!peer || typeof peer !== 'object') throw new RtnlInputError('peer', 'expected { name, ... }');
    if (peer.name === undefined) throw new RtnlInputError('peer.name', 'required');
    v.noExtraKeys(peer, 'peer.', c.peerKeys);
    out.peer = withNetns(v.pick(peer, 'peer.', c.peer), peer.netns, 'peer.netns');
  }
  return out;
}

/** @internal How the native codec identifies a link: by index, or by name (IFLA_IFNAME). */
export function linkRefArg(ref: LinkRef, field = 'link'): { index: number } | { target: string } {
  if (typeof ref === 'number') return { index: ifindex(field, ref) };
  return { target: v.ifname(field, ref) };
}

function bridgePortArg(p: unknown): Record<string, unknown> {
  if (!p || typeof p !== 'object') throw new RtnlInputError('bridgePort', 'expected an object of bridge port settings');
  const c = compiled();
  v.noExtraKeys(p, 'bridgePort.', c.bridgePortKeys);
  return v.pick(p, 'bridgePort.', c.bridgePort);
}

/** @internal Validates a link update into the native codec's argument. */
export function linkUpdateArg(ref: LinkRef, u: LinkUpdate): Record<string, unknown> {
  if (!u || typeof u !== 'object') throw new RtnlInputError('update', 'expected an object');
  const c = compiled();
  v.noExtraKeys(u, '', c.updateKeys);
  if (u.name !== undefined && typeof ref !== 'number')
    throw new RtnlInputError('name', 'renaming needs the link by index (the kernel finds links by name through the same attribute)');
  const out = v.pick(u, '', c.update, linkRefArg(ref));
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
  return v.pick(f, '', compiled().filter);
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
