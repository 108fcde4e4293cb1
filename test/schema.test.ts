// One declaration per attribute (issue 15): the addon's tables (native/*.cc)
// are what TS validates against. Checked here: the TS literal unions and
// field interfaces agree with the addon's lists and tables (so they cannot
// drift apart), the limits declared in C++ are the ones enforced, with the
// field named, the exported name lists come from the addon and load it only
// when read, and the encoder no longer validates anything itself.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import t from 'tap';
import * as rtnl from '../src/index.js';
import { NativeBatch, addon, opId } from '../src/native.js';
import { schema } from '../src/schema.js';

// Each Record below must name exactly the union's members (TS refuses a
// missing or an extra key): its keys are the union, read at run time.
const unions = {
  LinkKind: {
    veth: 1, bridge: 1, vxlan: 1, macvlan: 1, macvtap: 1, ipvlan: 1, ipvtap: 1, vlan: 1, dummy: 1, bond: 1, vrf: 1, geneve: 1, gre: 1, gretap: 1,
    ip6gre: 1, ip6gretap: 1, ipip: 1, sit: 1, wireguard: 1, ifb: 1,
  } satisfies Record<rtnl.LinkKind, 1>,
  DecodeOnlyKind: { tun: 1 } satisfies Record<rtnl.DecodeOnlyKind, 1>,
  BondMode: {
    'balance-rr': 1, 'active-backup': 1, 'balance-xor': 1, broadcast: 1, '802.3ad': 1, 'balance-tlb': 1, 'balance-alb': 1,
  } satisfies Record<rtnl.BondMode, 1>,
  BondXmitHashPolicy: { layer2: 1, 'layer3+4': 1, 'layer2+3': 1, 'encap2+3': 1, 'encap3+4': 1, 'vlan+srcmac': 1 } satisfies Record<rtnl.BondXmitHashPolicy, 1>,
  GeneveDf: { unset: 1, set: 1, inherit: 1 } satisfies Record<NonNullable<rtnl.GeneveOptions['df']>, 1>,
  IpTunnelMode: { ipip: 1, ip6ip: 1, mplsip: 1, any: 1 } satisfies Record<rtnl.IpTunnelMode, 1>,
  TunMode: { tun: 1, tap: 1 } satisfies Record<NonNullable<rtnl.TunInfo['mode']>, 1>,
  BondPortState: { ACTIVE: 1, BACKUP: 1 } satisfies Record<NonNullable<rtnl.BondPortInfo['state']>, 1>,
  BondMiiStatus: { UP: 1, GOING_DOWN: 1, DOWN: 1, GOING_BACK: 1 } satisfies Record<NonNullable<rtnl.BondPortInfo['miiStatus']>, 1>,
  MacvlanMode: { private: 1, vepa: 1, bridge: 1, passthru: 1, source: 1 } satisfies Record<rtnl.MacvlanMode, 1>,
  IpvlanMode: { l2: 1, l3: 1, l3s: 1 } satisfies Record<rtnl.IpvlanMode, 1>,
  IpvlanFlag: { bridge: 1, private: 1, vepa: 1 } satisfies Record<rtnl.IpvlanFlag, 1>,
  VlanProtocol: { '802.1Q': 1, '802.1ad': 1 } satisfies Record<rtnl.VlanProtocol, 1>,
  BridgePortState: { disabled: 1, listening: 1, learning: 1, forwarding: 1, blocking: 1 } satisfies Record<rtnl.BridgePortState, 1>,
  LinkFlag: {
    UP: 1, BROADCAST: 1, LOOPBACK: 1, POINTOPOINT: 1, MULTICAST: 1, NOARP: 1, ALLMULTI: 1, PROMISC: 1, MASTER: 1, SLAVE: 1, DEBUG: 1,
    DYNAMIC: 1, AUTOMEDIA: 1, PORTSEL: 1, NOTRAILERS: 1, LOWER_UP: 1, DORMANT: 1, ECHO: 1,
  } satisfies Record<rtnl.LinkFlag, 1>,
  OperState: { UNKNOWN: 1, NOTPRESENT: 1, DOWN: 1, LOWERLAYERDOWN: 1, TESTING: 1, DORMANT: 1, UP: 1 } satisfies Record<rtnl.OperState, 1>,
  Scope: { universe: 1, site: 1, link: 1, host: 1, nowhere: 1 } satisfies Record<rtnl.Scope, 1>,
  AddrSettableFlag: { nodad: 1, optimistic: 1, homeaddress: 1, managetempaddr: 1, noprefixroute: 1, mcautojoin: 1 } satisfies Record<rtnl.AddrSettableFlag, 1>,
  AddrFlag: {
    nodad: 1, optimistic: 1, homeaddress: 1, managetempaddr: 1, noprefixroute: 1, mcautojoin: 1, secondary: 1, temporary: 1, dadfailed: 1,
    deprecated: 1, tentative: 1, permanent: 1, stableprivacy: 1,
  } satisfies Record<rtnl.AddrFlag, 1>,
  RouteType: {
    unspec: 1, unicast: 1, local: 1, broadcast: 1, anycast: 1, multicast: 1, blackhole: 1, unreachable: 1, prohibit: 1, throw: 1, nat: 1, xresolve: 1,
  } satisfies Record<rtnl.RouteType, 1>,
  RouteProtocol: {
    unspec: 1, redirect: 1, kernel: 1, boot: 1, static: 1, gated: 1, ra: 1, mrt: 1, zebra: 1, bird: 1, dnrouted: 1, xorp: 1, ntk: 1, dhcp: 1,
    mrouted: 1, keepalived: 1, babel: 1, openr: 1, bgp: 1, isis: 1, ospf: 1, rip: 1, eigrp: 1,
  } satisfies Record<rtnl.RouteProtocol, 1>,
  RouteTable: { main: 1, local: 1, default: 1 } satisfies Record<Exclude<rtnl.RouteTable, number>, 1>,
  NexthopFlag: { onlink: 1, dead: 1, pervasive: 1, offload: 1, linkdown: 1, unresolved: 1, trap: 1 } satisfies Record<rtnl.NexthopFlag, 1>,
  RouteFlag: {
    onlink: 1, dead: 1, pervasive: 1, offload: 1, linkdown: 1, unresolved: 1, trap: 1, notify: 1, cloned: 1, equalize: 1, prefix: 1, offload_failed: 1,
  } satisfies Record<rtnl.RouteFlag, 1>,
  RoutePref: { low: 1, medium: 1, high: 1 } satisfies Record<rtnl.RoutePref, 1>,
  NeighState: { permanent: 1, noarp: 1, reachable: 1, stale: 1, delay: 1, probe: 1, failed: 1, incomplete: 1, none: 1 } satisfies Record<rtnl.NeighState, 1>,
  NeighWriteFlag: { proxy: 1, router: 1, extern_learn: 1, use: 1, managed: 1 } satisfies Record<rtnl.NeighWriteFlag, 1>,
  NeighFlag: { proxy: 1, router: 1, extern_learn: 1, managed: 1, offload: 1 } satisfies Record<rtnl.NeighFlag, 1>,
  FdbState: { permanent: 1, static: 1, dynamic: 1 } satisfies Record<rtnl.FdbState, 1>,
  FdbWriteFlag: { extern_learn: 1, sticky: 1, router: 1, use: 1 } satisfies Record<rtnl.FdbWriteFlag, 1>,
  FdbFlag: { extern_learn: 1, sticky: 1, router: 1, offload: 1 } satisfies Record<rtnl.FdbFlag, 1>,
  RuleAction: { table: 1, goto: 1, nop: 1, blackhole: 1, unreachable: 1, prohibit: 1 } satisfies Record<rtnl.RuleAction, 1>,
  RuleFlag: { permanent: 1, invert: 1, unresolved: 1, iif_detached: 1, oif_detached: 1 } satisfies Record<rtnl.RuleFlag, 1>,
  NexthopGroupType: { mpath: 1, resilient: 1 } satisfies Record<rtnl.NexthopGroupType, 1>,
  QdiscKind: { tbf: 1, htb: 1, ingress: 1, clsact: 1 } satisfies Record<rtnl.QdiscKind, 1>,
  ClassKind: { htb: 1 } satisfies Record<rtnl.ClassSpec['kind'], 1>,
  FilterKind: { u32: 1, matchall: 1 } satisfies Record<rtnl.FilterSpec['kind'], 1>,
  FilterProtocol: { all: 1, ip: 1, ipv6: 1, arp: 1, '802.1Q': 1, '802.1ad': 1 } satisfies Record<rtnl.FilterProtocol, 1>,
  TcActionKind: { mirred: 1 } satisfies Record<rtnl.TcAction['kind'], 1>,
  MirredDirection: { egress: 1, ingress: 1 } satisfies Record<rtnl.MirredAction['direction'], 1>,
  MirredMode: { redirect: 1, mirror: 1 } satisfies Record<rtnl.MirredAction['action'], 1>,
  TcControl: { continue: 1, pass: 1, reclassify: 1, drop: 1, pipe: 1, stolen: 1, trap: 1 } satisfies Record<rtnl.TcControl, 1>,
};

// The fields of the option interfaces, against the tables: a new attribute
// is declared in C++ and named in its interface, and this says if one is missing.
const fields = {
  BridgeOptions: {
    stp: 1, forwardDelay: 1, helloTime: 1, maxAge: 1, ageingTime: 1, priority: 1, vlanFiltering: 1, vlanDefaultPvid: 1, groupFwdMask: 1,
    multicastSnooping: 1, multicastQuerier: 1, nfCallIptables: 1, nfCallIp6tables: 1, multicastQueryUseIfaddr: 1,
  } satisfies Record<keyof rtnl.BridgeOptions, 1>,
  // portRange is a struct, encoded by hand.
  VxlanOptions: {
    vni: 1, remote: 1, group: 1, local: 1, device: 1, port: 1, ttl: 1, tos: 1, label: 1, learning: 1, proxy: 1, rsc: 1, l2miss: 1,
    l3miss: 1, udpCsum: 1, udp6ZeroCsumTx: 1, udp6ZeroCsumRx: 1, ageing: 1, limit: 1, external: 1, gbp: 1,
  } satisfies Record<Exclude<keyof rtnl.VxlanOptions, 'portRange'>, 1>,
  BridgePortSettings: {
    state: 1, priority: 1, cost: 1, guard: 1, hairpin: 1, fastLeave: 1, rootBlock: 1, learning: 1, flood: 1, proxyArp: 1, proxyArpWifi: 1,
    mcastFlood: 1, bcastFlood: 1, mcastToUnicast: 1, neighSuppress: 1, isolated: 1,
  } satisfies Record<keyof rtnl.BridgePortSettings, 1>,
  BondOptions: {
    mode: 1, activeSlave: 1, miimon: 1, updelay: 1, downdelay: 1, useCarrier: 1, arpInterval: 1, primary: 1, xmitHashPolicy: 1, resendIgmp: 1,
    numPeerNotif: 1, allSlavesActive: 1, minLinks: 1, lpInterval: 1, packetsPerSlave: 1, adActorSysPrio: 1, adUserPortKey: 1, adActorSystem: 1,
    tlbDynamicLb: 1, peerNotifyDelay: 1, adLacpActive: 1,
  } satisfies Record<keyof rtnl.BondOptions, 1>,
  VrfSpec: { table: 1 } satisfies Record<Exclude<keyof rtnl.VrfSpec, keyof rtnl.LinkCommonSpec | 'kind'>, 1>,
  GeneveOptions: {
    vni: 1, remote: 1, ttl: 1, ttlInherit: 1, tos: 1, df: 1, label: 1, port: 1, udpCsum: 1, udp6ZeroCsumTx: 1, udp6ZeroCsumRx: 1, external: 1,
  } satisfies Record<keyof rtnl.GeneveOptions, 1>,
  // The checksum and sequence flags are bits of IFLA_GRE_[IO]FLAGS, encoded by hand.
  GreOptions: {
    ikey: 1, okey: 1, fwmark: 1, external: 1, device: 1, local: 1, remote: 1, ttl: 1, tos: 1, pmtudisc: 1,
  } satisfies Record<Exclude<keyof rtnl.GreOptions, 'icsum' | 'ocsum' | 'iseq' | 'oseq'>, 1>,
  Ip6GreOptions: {
    ikey: 1, okey: 1, fwmark: 1, external: 1, device: 1, local: 1, remote: 1, ttl: 1, encapLimit: 1,
  } satisfies Record<Exclude<keyof rtnl.Ip6GreOptions, 'icsum' | 'ocsum' | 'iseq' | 'oseq'>, 1>,
  IpTunnelOptions: { mode: 1, local: 1, remote: 1, ttl: 1, tos: 1, pmtudisc: 1, device: 1, fwmark: 1, external: 1 } satisfies Record<keyof rtnl.IpTunnelOptions, 1>,
  TunInfo: {
    mode: 1, owner: 1, group: 1, pi: 1, vnetHdr: 1, persist: 1, multiQueue: 1, numQueues: 1, numDisabledQueues: 1,
  } satisfies Record<keyof rtnl.TunInfo, 1>,
  BondPortInfo: {
    state: 1, miiStatus: 1, linkFailureCount: 1, permHwaddr: 1, queueId: 1, adAggregatorId: 1, prio: 1,
  } satisfies Record<keyof rtnl.BondPortInfo, 1>,
  VrfPortInfo: { table: 1 } satisfies Record<keyof rtnl.VrfPortInfo, 1>,
  // Less what fib_rule_hdr carries and the range structs, encoded by hand.
  RuleMatch: {
    fwmark: 1, fwmask: 1, iif: 1, oif: 1, ipProto: 1, l3mdev: 1, goto: 1, suppressPrefixlen: 1, suppressIfgroup: 1,
  } satisfies Record<Exclude<keyof rtnl.RuleMatch, 'src' | 'dst' | 'tos' | 'sport' | 'dport' | 'uidRange'>, 1>,
  // Less nhmsg's fields and the group structs.
  NexthopObjectSpec: {
    id: 1, gateway: 1, link: 1, blackhole: 1, fdb: 1,
  } satisfies Record<Exclude<keyof rtnl.NexthopObjectSpec, 'family' | 'flags' | 'protocol' | 'group' | 'groupType' | 'resilient'>, 1>,
  // Less tc_htb_glob's fields and what every qdisc has.
  HtbSpec: { directQlen: 1 } satisfies Record<Exclude<keyof rtnl.HtbSpec, 'kind' | 'link' | 'parent' | 'handle' | 'defaultClass' | 'r2q'>, 1>,
  RouteMetrics: {
    mtu: 1, window: 1, rtt: 1, rttvar: 1, ssthresh: 1, cwnd: 1, advmss: 1, reordering: 1, hoplimit: 1, initcwnd: 1, features: 1, rtoMin: 1,
    initrwnd: 1, quickack: 1, congctl: 1, fastopenNoCookie: 1,
  } satisfies Record<keyof rtnl.RouteMetrics, 1>,
};

const sorted = (l: Iterable<string>) => [...l].sort();
const keysOf = (o: object) => sorted(Object.keys(o));

t.test('the TS unions and the addon lists name the same values', (t) => {
  const s = schema();
  const attr = (attrs: { key: string; names?: string[] }[], key: string) => attrs.find((a) => a.key === key)!.names!;
  const without = (l: string[], x: string) => l.filter((n) => n !== x);
  const addon: Record<keyof typeof unions, string[]> = {
    LinkKind: Object.keys(s.link.kinds).filter((k) => !s.link.kinds[k]!.decodeOnly),
    DecodeOnlyKind: Object.keys(s.link.kinds).filter((k) => s.link.kinds[k]!.decodeOnly),
    BondMode: attr(s.link.kinds.bond!.attrs, 'mode'),
    BondXmitHashPolicy: attr(s.link.kinds.bond!.attrs, 'xmitHashPolicy'),
    GeneveDf: attr(s.link.kinds.geneve!.attrs, 'df'),
    // sit takes every mode; ipip the same but IPv6.
    IpTunnelMode: attr(s.link.kinds.sit!.attrs, 'mode'),
    TunMode: attr(s.link.kinds.tun!.attrs, 'mode'),
    BondPortState: attr(s.link.ports.bond!, 'state'),
    BondMiiStatus: attr(s.link.ports.bond!, 'miiStatus'),
    MacvlanMode: attr(s.link.kinds.macvlan!.attrs, 'mode'),
    IpvlanMode: attr(s.link.kinds.ipvlan!.attrs, 'mode'),
    IpvlanFlag: attr(s.link.kinds.ipvlan!.attrs, 'flag'),
    VlanProtocol: attr(s.link.kinds.vlan!.attrs, 'protocol'),
    BridgePortState: attr(s.link.bridgePort, 'state'),
    LinkFlag: s.link.flags,
    OperState: s.link.operStates,
    Scope: s.addr.scopes,
    AddrSettableFlag: s.addr.settableFlags,
    AddrFlag: [...new Set([...s.addr.flags4, ...s.addr.flags6])],
    RouteType: s.route.types,
    RouteProtocol: s.route.protocols,
    RouteTable: s.route.tables,
    NexthopFlag: s.route.nexthopFlags,
    RouteFlag: s.route.flags,
    RoutePref: attr(s.route.attrs, 'pref'),
    NeighState: s.neigh.states,
    NeighWriteFlag: [...s.neigh.writeFlags, ...s.neigh.extFlags],
    // `use` is a request, never reported.
    NeighFlag: without([...s.neigh.flags, ...s.neigh.extFlags], 'use'),
    FdbState: s.fdb.states,
    FdbWriteFlag: s.fdb.writeFlags,
    FdbFlag: without(s.fdb.flags, 'use'),
    RuleAction: s.rule.actions,
    RuleFlag: s.rule.flags,
    NexthopGroupType: s.nexthop.groupTypes,
    QdiscKind: s.tc.qdiscKinds,
    ClassKind: s.tc.classKinds,
    FilterKind: s.tcFilter.kinds,
    FilterProtocol: s.tcFilter.protocols,
    TcActionKind: s.tcFilter.actionKinds,
    MirredDirection: s.tcFilter.directions,
    MirredMode: s.tcFilter.mirredActions,
    TcControl: s.tcFilter.controls,
  };
  for (const [name, union] of Object.entries(unions)) t.same(keysOf(union), sorted(addon[name as keyof typeof unions]), name);
  t.same(s.route.scopes, s.addr.scopes, 'routes and addresses share one scope list');
  t.same(attr(s.link.kinds.ipip!.attrs, 'mode'), without(attr(s.link.kinds.sit!.attrs, 'mode'), 'ip6ip'), 'ipip: the IpTunnelModes but ip6ip');
  t.end();
});

t.test('the option interfaces and the tables name the same fields', (t) => {
  const s = schema();
  const keys = (attrs: { key: string }[]) => sorted(attrs.map((a) => a.key));
  const without = (l: string[], x: string) => l.filter((n) => n !== x);
  t.same(keysOf(fields.BridgeOptions), keys(s.link.kinds.bridge!.attrs), 'bridge');
  t.same(keysOf(fields.VxlanOptions), keys(s.link.kinds.vxlan!.attrs), 'vxlan');
  t.same(keysOf(fields.BridgePortSettings), keys(s.link.bridgePort), 'bridge port');
  t.same(keysOf(fields.RouteMetrics), keys(s.route.metrics), 'route metrics');
  t.same(keysOf(fields.RuleMatch), without(keys(s.rule.attrs), 'priority'), 'rule (priority: in RuleSpec)');
  t.same(keysOf(fields.NexthopObjectSpec), keys(s.nexthop.attrs), 'next hop');
  t.same(keysOf(fields.HtbSpec), keys(s.tc.htb), 'htb qdisc');
  t.same(keysOf(fields.BondOptions), keys(s.link.kinds.bond!.attrs), 'bond');
  t.same(keysOf(fields.VrfSpec), keys(s.link.kinds.vrf!.attrs), 'vrf');
  t.same(keysOf(fields.GeneveOptions), keys(s.link.kinds.geneve!.attrs), 'geneve');
  for (const k of ['gre', 'gretap']) t.same(keysOf(fields.GreOptions), keys(s.link.kinds[k]!.attrs), k);
  for (const k of ['ip6gre', 'ip6gretap']) t.same(keysOf(fields.Ip6GreOptions), keys(s.link.kinds[k]!.attrs), k);
  for (const k of ['ipip', 'sit']) t.same(keysOf(fields.IpTunnelOptions), keys(s.link.kinds[k]!.attrs), k);
  t.same(keysOf(fields.TunInfo), keys(s.link.kinds.tun!.attrs), 'tun');
  t.same(keysOf(fields.BondPortInfo), keys(s.link.ports.bond!), 'bond port');
  t.same(keysOf(fields.VrfPortInfo), keys(s.link.ports.vrf!), 'vrf port');
  t.end();
});

t.test('the exported lists are the addon lists, read-only', (t) => {
  const s = schema();
  t.same([...rtnl.LINK_KINDS], Object.keys(s.link.kinds).filter((k) => k !== 'tun'), 'the kinds rtnl creates: not tun');
  t.same([...rtnl.BOND_MODES], s.link.kinds.bond!.attrs.find((a) => a.key === 'mode')!.names);
  t.same([...rtnl.NEIGH_STATES], s.neigh.states);
  t.same([...rtnl.FDB_STATES], s.fdb.states);
  t.same([...rtnl.ROUTE_TYPES], s.route.types);
  t.same([...rtnl.ROUTE_PROTOCOLS], s.route.protocols);
  t.same([...rtnl.SCOPES], s.addr.scopes);
  t.same([...rtnl.ADDR_SETTABLE_FLAGS], s.addr.settableFlags);
  t.same(sorted(rtnl.MACVLAN_MODES), keysOf(unions.MacvlanMode));
  t.equal(rtnl.BRIDGE_PORT_STATES[3], 'forwarding', 'kernel order (BR_STATE_FORWARDING = 3)');
  t.ok(Array.isArray(rtnl.VLAN_PROTOCOLS) && rtnl.VLAN_PROTOCOLS.includes('802.1ad'), 'an array to Array.isArray and includes');
  t.equal(JSON.stringify(rtnl.IPVLAN_FLAGS), '["bridge","private","vepa"]');
  t.throws(() => (rtnl.LINK_KINDS as string[]).push('x'), TypeError, 'cannot be added to');
  t.equal(rtnl.LINK_KINDS.length, Object.keys(s.link.kinds).length - 1);
  t.end();
});

t.test('importing rtnl loads no addon; the first list read does', (t) => {
  const index = path.join(__dirname, '..', 'src', 'index.js');
  const script = `const r = require(${JSON.stringify(index)});
    const loaded = () => Object.keys(require.cache).some((f) => f.endsWith('.node'));
    const before = loaded(); const first = r.LINK_KINDS[0];
    console.log(JSON.stringify([before, first, loaded()]));`;
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.equal(out.status, 0, out.stderr);
  t.same(JSON.parse(out.stdout), [false, 'veth', true]);
  t.end();
});

t.test('the limits declared in C++ are enforced in TS, naming the field', (t) => {
  const bad: [string, (b: rtnl.Batch) => void][] = [
    ['vni', (b) => b.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 0x1000000 })],
    ['label', (b) => b.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 1, label: 0x100000 })],
    ['port', (b) => b.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 1, port: 0 })],
    ['device', (b) => b.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 1, device: 0 })],
    ['ttl', (b) => b.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 1, ttl: 256 })],
    ['vlanDefaultPvid', (b) => b.linkAdd({ kind: 'bridge', name: 'br0', vlanDefaultPvid: 4095 })],
    ['mtu', (b) => b.linkAdd({ kind: 'bridge', name: 'br0', mtu: 2 ** 31 })],
    ['gsoMaxSegs', (b) => b.linkAdd({ kind: 'bridge', name: 'br0', gsoMaxSegs: -1 })],
    ['id', (b) => b.linkAdd({ kind: 'vlan', name: 'v0', link: 1, id: 4095 })],
    ['mode', (b) => b.linkAdd({ kind: 'macvlan', name: 'm0', link: 1, mode: 'l2' as never })],
    ['link', (b) => b.linkAdd({ kind: 'bridge', name: 'br0', link: 1 } as never)],
    ['bridgePort.priority', (b) => b.linkSet('ve0', { bridgePort: { priority: 64 } })],
    ['bridgePort.cost', (b) => b.linkSet('ve0', { bridgePort: { cost: 0 } })],
    ['vlan', (b) => b.fdbAdd({ mac: '02:00:00:00:00:01', link: 1, vlan: 4095 })],
    ['srcVni', (b) => b.fdbAdd({ mac: '02:00:00:00:00:01', link: 1, srcVni: 0x1000000 })],
    ['metrics.congctl', (b) => b.routeAdd({ dst: '10.0.0.0/8', link: 1, metrics: { congctl: 'x'.repeat(16) } })],
    ['link', (b) => b.routeAdd({ dst: '10.0.0.0/8', link: 0 })],
    ['label', (b) => b.addrAdd({ link: 1, address: '10.0.0.1/24', label: 'x'.repeat(16) })],
    ['broadcast', (b) => b.addrAdd({ link: 1, address: '10.0.0.1/24', broadcast: 'fd00::1' })],
    ['lladdr', (b) => b.neighAdd({ address: '10.0.0.1', link: 1, lladdr: '02:00' })],
    ['flags[0]', (b) => b.neighAdd({ address: '10.0.0.1', link: 1, flags: ['offload' as never] })],
    ['suppressPrefixlen', (b) => b.ruleAdd({ suppressPrefixlen: 129 })],
    ['iif', (b) => b.ruleAdd({ iif: 'x'.repeat(16) })],
    ['action', (b) => b.ruleAdd({ action: 'drop' as never })],
    ['id', (b) => b.nexthopAdd({ id: 0, blackhole: true })],
    ['link', (b) => b.nexthopAdd({ id: 1, link: 0 })],
    ['groupType', (b) => b.nexthopAdd({ id: 1, group: [{ id: 2 }], groupType: 'x' as never })],
    ['kind', (b) => b.qdiscAdd({ kind: 'fq' as never, link: 1 })],
    ['directQlen', (b) => b.qdiscAdd({ kind: 'htb', link: 1, directQlen: -1 })],
    ['kind', (b) => b.classAdd({ kind: 'tbf' as never, link: 1, handle: '1:1', parent: '1:', rate: 1 })],
  ];
  for (const [field, add] of bad) t.throws(() => rtnl.encodeRequests(add), { name: 'RtnlInputError', field }, field);
  // And the edges are accepted.
  t.ok(rtnl.encodeRequests((b) => {
    b.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 0xffffff, label: 0xfffff, port: 1, ttl: 255 });
    b.fdbAdd({ mac: '02:00:00:00:00:01', link: 1, vlan: 4094, srcVni: 0xffffff });
    b.linkSet('ve0', { bridgePort: { priority: 63, cost: 0xffff } });
    b.ruleAdd({ suppressPrefixlen: 128, iif: 'x'.repeat(15) });
    b.nexthopAdd({ id: 0xffffffff, link: 0x7fffffff });
    b.qdiscAdd({ kind: 'htb', link: 1, directQlen: 0xffffffff });
  }).length > 0);
  t.end();
});

t.test('the encoder trusts its argument: bad input there is a bug, not an input error', (t) => {
  const enc = (op: string, arg: object) => () => {
    const b = new NativeBatch();
    b.add([opId(op), arg, 'x']);
    return addon().encode(...b.args());
  };
  t.throws(enc('linkAdd', { kind: 'nosuch', name: 'x0' }), { message: /internal error: kind reached the encoder unvalidated/ });
  t.throws(enc('neighAdd', { address: '10.0.0.1', link: 1, state: 'nosuch' }), { message: /internal error: state/ });
  t.throws(enc('linkAdd', { kind: 'tun', name: 'x0' }), { message: /internal error: kind/ }, 'a decode-only kind');
  t.throws(enc('qdiscAdd', { kind: 'fq', link: 1 }), { message: /internal error: kind/ });
  t.throws(enc('qdiscDel', { link: 1, parent: 'nosuch' }), { message: /internal error: parent/ });
  t.throws(enc('filterAdd', { kind: 'flower', link: 1, parent: 'ffff:' }), { message: /internal error: kind/ });
  t.throws(enc('ruleAdd', { family: 4, action: 'drop' }), { message: /internal error: action/ });
  t.end();
});
