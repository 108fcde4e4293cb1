// bond, vrf, geneve, the GRE and IP-in-IP tunnels and wireguard, which this
// VM's kernel lacks, created for real wherever the kernel has them (the 6.1
// guest: kvm.test.ts runs this file there): rtnl's reading and iproute2's
// (`ip -j -d link show`) must both say what the spec asked for; the link is
// changed, deleted, and made again by iproute2 with the same options, which
// must give the same kind data (proving the attributes iproute2 sends and
// rtnl leaves out are the kernel's defaults). Bond and VRF ports are
// enslaved and released. On a kernel without a kind its cases are skipped
// with the reason; the wire format is proven in link-wire.test.ts. tun/tap
// devices (made with `ip tuntap`) run on any kernel with /dev/net/tun.
//   ../shared/tools/kvm-run.sh scripts/sandbox node dist/test/link-kinds2.test.js
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { type Link, type LinkSpec, RtnlInputError } from '../src/index.js';
import { assertHome, kernelHasKind, testNs } from './lib.js';

const missing = (kind: string) => `the kernel has no ${kind} (EOPNOTSUPP "Unknown device type"); wire format checked in link-wire.test.ts`;
const PARENT = -1; // stands for the parent veth's ifindex in a spec

interface Case {
  title: string;
  spec: LinkSpec;
  /** What rtnl must read back (a subset of the link). */
  ours: Record<string, unknown>;
  /** What iproute2 must print in linkinfo.info_data (a subset). */
  ip: Record<string, unknown>;
  /** What iproute2's text output must say, for what its JSON leaves out. */
  ipText?: RegExp;
  /** `ip link add NAME ...` making the same link; PARENT's name is `parent0`. */
  iproute2?: string[];
}

const cases: Case[] = [
  {
    title: 'bond: 802.3ad with miimon', spec: { kind: 'bond', name: 'bond0', mode: '802.3ad', miimon: 100 },
    ours: { mode: '802.3ad', miimon: 100 }, ip: { mode: '802.3ad', miimon: 100 }, iproute2: ['type', 'bond', 'mode', '802.3ad', 'miimon', '100'],
  },
  {
    title: 'bond: balance-tlb with its timers and counters',
    spec: {
      kind: 'bond', name: 'bond1', mode: 'balance-tlb', miimon: 100, updelay: 200, downdelay: 300, useCarrier: false, xmitHashPolicy: 'layer3+4',
      resendIgmp: 2, numPeerNotif: 3, allSlavesActive: true, minLinks: 1, lpInterval: 2, tlbDynamicLb: false, peerNotifyDelay: 400,
    },
    ours: { mode: 'balance-tlb', miimon: 100, updelay: 200, downdelay: 300, useCarrier: false, xmitHashPolicy: 'layer3+4', resendIgmp: 2, numPeerNotif: 3, allSlavesActive: true, minLinks: 1, lpInterval: 2, tlbDynamicLb: false, peerNotifyDelay: 400 },
    ip: { mode: 'balance-tlb', miimon: 100, updelay: 200, downdelay: 300, use_carrier: 0, xmit_hash_policy: 'layer3+4', resend_igmp: 2, num_peer_notif: 3, all_slaves_active: 1, min_links: 1, lp_interval: 2, tlb_dynamic_lb: 0, peer_notify_delay: 400 },
    iproute2: ['type', 'bond', 'mode', 'balance-tlb', 'miimon', '100', 'updelay', '200', 'downdelay', '300', 'use_carrier', '0', 'xmit_hash_policy', 'layer3+4', 'resend_igmp', '2', 'num_grat_arp', '3', 'all_slaves_active', '1', 'min_links', '1', 'lp_interval', '2', 'tlb_dynamic_lb', '0', 'peer_notify_delay', '400'],
  },
  {
    title: 'bond: 802.3ad actor settings',
    spec: { kind: 'bond', name: 'bond2', mode: '802.3ad', adActorSysPrio: 10, adUserPortKey: 5, adActorSystem: '02:00:00:00:00:01', adLacpActive: false },
    ours: { mode: '802.3ad', adActorSysPrio: 10, adUserPortKey: 5, adActorSystem: '02:00:00:00:00:01', adLacpActive: false },
    ip: { mode: '802.3ad', ad_actor_sys_prio: 10, ad_user_port_key: 5, ad_actor_system: '02:00:00:00:00:01', ad_lacp_active: 'off' },
  },
  {
    title: 'bond: balance-rr packets per port', spec: { kind: 'bond', name: 'bond3', mode: 'balance-rr', packetsPerSlave: 4 },
    ours: { mode: 'balance-rr', packetsPerSlave: 4 }, ip: { mode: 'balance-rr', packets_per_slave: 4 },
  },
  {
    title: 'vrf: table 10', spec: { kind: 'vrf', name: 'vrf1', table: 10 }, ours: { table: 10 }, ip: { table: 10 },
    iproute2: ['type', 'vrf', 'table', '10'],
  },
  {
    title: 'geneve: vni, an IPv4 remote, UDP checksums', spec: { kind: 'geneve', name: 'gnv0', vni: 5, remote: '10.0.0.2', udpCsum: true },
    ours: { vni: 5, remote: '10.0.0.2', udpCsum: true }, ip: { id: 5, remote: '10.0.0.2', udp_csum: true },
    iproute2: ['type', 'geneve', 'id', '5', 'remote', '10.0.0.2', 'udpcsum'],
  },
  {
    title: 'geneve: IPv6 remote with every option',
    spec: { kind: 'geneve', name: 'gnv1', df: 'set', vni: 6, remote: 'fd00::1', label: 9, ttl: 5, tos: 3, port: 6082, udpCsum: false, udp6ZeroCsumTx: true, udp6ZeroCsumRx: true },
    // (no udp_csum read back: the kernel reports it for an IPv4 remote only)
    ours: { df: 'set', vni: 6, remote: 'fd00::1', label: 9, ttl: 5, tos: 3, port: 6082, udp6ZeroCsumTx: true, udp6ZeroCsumRx: true },
    ip: { df: 'set', id: 6, remote6: 'fd00::1', label: '0x9', ttl: 5, tos: '0x3', port: 6082, udp_zero_csum6_tx: true, udp_zero_csum6_rx: true },
    iproute2: ['type', 'geneve', 'df', 'set', 'id', '6', 'remote', 'fd00::1', 'flowlabel', '9', 'ttl', '5', 'tos', '3', 'dstport', '6082', 'noudpcsum', 'udp6zerocsumtx', 'udp6zerocsumrx'],
  },
  {
    title: 'geneve: external, ttl inherited', spec: { kind: 'geneve', name: 'gnv2', ttlInherit: true, external: true },
    ours: { ttlInherit: true, external: true }, ip: { external: true }, ipText: /ttl inherit/, iproute2: ['type', 'geneve', 'ttl', 'inherit', 'external'],
  },
  {
    title: 'gre: one key both ways', spec: { kind: 'gre', name: 'gre1', ikey: 42, okey: 42, local: '10.0.0.1', remote: '10.0.0.2', ttl: 64 },
    ours: { ikey: 42, okey: 42, icsum: false, ocsum: false, iseq: false, oseq: false, local: '10.0.0.1', remote: '10.0.0.2', ttl: 64, pmtudisc: true },
    ip: { ikey: '0.0.0.42', okey: '0.0.0.42', local: '10.0.0.1', remote: '10.0.0.2', ttl: 64, pmtudisc: true },
    iproute2: ['type', 'gre', 'remote', '10.0.0.2', 'local', '10.0.0.1', 'ttl', '64', 'key', '42'],
  },
  {
    title: 'gre: keys, checksum and sequence flags, underlay, fwmark',
    spec: { kind: 'gre', name: 'gre2', ikey: 1, okey: 2, icsum: true, oseq: true, local: '10.0.0.1', remote: '10.0.0.3', pmtudisc: false, tos: 0x10, device: PARENT, fwmark: 7 },
    ours: { ikey: 1, okey: 2, icsum: true, ocsum: false, iseq: false, oseq: true, pmtudisc: false, tos: 0x10, device: PARENT, fwmark: 7 },
    ip: { ikey: '0.0.0.1', okey: '0.0.0.2', icsum: true, oseq: true, pmtudisc: false, tos: '0x10', fwmark: '0x7' },
    iproute2: ['type', 'gre', 'dev', 'parent0', 'remote', '10.0.0.3', 'local', '10.0.0.1', 'ikey', '1', 'okey', '2', 'icsum', 'oseq', 'tos', '0x10', 'nopmtudisc', 'fwmark', '7'],
  },
  {
    title: 'gretap: endpoints only', spec: { kind: 'gretap', name: 'gt1', local: '10.0.0.1', remote: '10.0.0.4' },
    ours: { local: '10.0.0.1', remote: '10.0.0.4', ttl: 0, pmtudisc: true }, ip: { local: '10.0.0.1', remote: '10.0.0.4' },
    iproute2: ['type', 'gretap', 'remote', '10.0.0.4', 'local', '10.0.0.1'],
  },
  {
    title: 'gretap: external', spec: { kind: 'gretap', name: 'gt2', external: true }, ours: { external: true }, ip: { external: true },
    iproute2: ['type', 'gretap', 'external'],
  },
  {
    title: 'ip6gre: underlay, hop limit, encapsulation limit',
    spec: { kind: 'ip6gre', name: 'g61', local: 'fd00::1', remote: 'fd00::2', device: PARENT, ttl: 10, encapLimit: 5 },
    ours: { local: 'fd00::1', remote: 'fd00::2', device: PARENT, ttl: 10, encapLimit: 5 }, ip: { local: 'fd00::1', remote: 'fd00::2', ttl: 10, encap_limit: 5 },
    iproute2: ['type', 'ip6gre', 'dev', 'parent0', 'remote', 'fd00::2', 'local', 'fd00::1', 'hoplimit', '10', 'encaplimit', '5'],
  },
  {
    // The kernel's own defaults are hop limit 0 and no encapsulation limit; iproute2 sends 64 and 4.
    title: 'ip6gretap: endpoints, hop limit and encapsulation limit as iproute2 defaults them',
    spec: { kind: 'ip6gretap', name: 'g62', local: 'fd00::1', remote: 'fd00::3', ttl: 64, encapLimit: 4 },
    ours: { local: 'fd00::1', remote: 'fd00::3', ttl: 64, encapLimit: 4 }, ip: { local: 'fd00::1', remote: 'fd00::3', ttl: 64, encap_limit: 4 },
    iproute2: ['type', 'ip6gretap', 'remote', 'fd00::3', 'local', 'fd00::1'],
  },
  {
    title: 'ipip: any inner protocol, as `ip link add type ipip` makes it', spec: { kind: 'ipip', name: 'ipip1', mode: 'any', local: '10.0.0.1', remote: '10.0.0.2' },
    ours: { mode: 'any', local: '10.0.0.1', remote: '10.0.0.2', pmtudisc: true }, ip: { proto: 'any', local: '10.0.0.1', remote: '10.0.0.2', pmtudisc: true },
    iproute2: ['type', 'ipip', 'remote', '10.0.0.2', 'local', '10.0.0.1'],
  },
  {
    title: 'ipip: no mode is the kernel\'s default, IPv4 in IPv4', spec: { kind: 'ipip', name: 'ipip2', local: '10.0.0.1', remote: '10.0.0.5', ttl: 10, tos: 0x10, device: PARENT, fwmark: 7 },
    ours: { mode: 'ipip', ttl: 10, tos: 0x10, device: PARENT, fwmark: 7 }, ip: { proto: 'ipip', ttl: 10, tos: '0x10', fwmark: '0x7' },
    iproute2: ['type', 'ipip', 'mode', 'ipip', 'dev', 'parent0', 'ttl', '10', 'tos', '0x10', 'remote', '10.0.0.5', 'local', '10.0.0.1', 'fwmark', '7'],
  },
  {
    title: 'sit: IPv6 in IPv4', spec: { kind: 'sit', name: 'sit1', mode: 'ip6ip', local: '10.0.0.1', remote: '10.0.0.2', ttl: 64 },
    ours: { mode: 'ip6ip', local: '10.0.0.1', remote: '10.0.0.2', ttl: 64 }, ip: { proto: 'ip6ip', local: '10.0.0.1', remote: '10.0.0.2', ttl: 64 },
    iproute2: ['type', 'sit', 'mode', 'ip6ip', 'remote', '10.0.0.2', 'local', '10.0.0.1', 'ttl', '64'],
  },
  {
    title: 'wireguard: the link', spec: { kind: 'wireguard', name: 'wg0' }, ours: {}, ip: {}, iproute2: ['type', 'wireguard'],
  },
  {
    title: 'ifb: the link', spec: { kind: 'ifb', name: 'ifb9' }, ours: {}, ip: {}, iproute2: ['type', 'ifb'],
  },
];

const has = new Map<string, boolean>();
const kernelHas = (kind: string) => has.get(kind) ?? has.set(kind, kernelHasKind(kind)).get(kind)!;
const withParent = (o: Record<string, unknown>, parent: number) =>
  Object.fromEntries(Object.entries(o).map(([k, x]) => [k, x === PARENT ? parent : x]));

for (const c of cases) {
  const { kind, name } = c.spec;
  t.test(c.title, { skip: kernelHas(kind) ? false : missing(kind) }, (t) => {
    const env = testNs(t, 'kind');
    env.h.linkAdd({ kind: 'veth', name: 'parent0', peer: { name: 'parent1' } });
    const parent = env.h.linkGet('parent0').index;
    env.h.linkAdd(withParent(c.spec as never, parent) as never);
    const ours = env.h.linkGet(name);
    const ip = env.ipJson('-d', 'link', 'show', 'dev', name)[0];
    t.equal(ours.kind, kind);
    t.equal(ip.linkinfo.info_kind, kind, 'iproute2 sees the same kind');
    t.equal(ours.index, ip.ifindex);
    t.match(ours, withParent(c.ours, parent), 'rtnl reads back what was asked for');
    t.match(ip.linkinfo.info_data ?? {}, c.ip, 'iproute2 reads back what was asked for');
    if (c.ipText) t.match(env.ip('-d', 'link', 'show', 'dev', name), c.ipText, `iproute2 says ${c.ipText.source}`);
    if ('device' in c.ours) t.equal(ip.link, 'parent0', 'iproute2 sees the underlay');

    env.h.linkSet(name, { mtu: 1300, up: true });
    const changed = env.ipJson('-d', 'link', 'show', 'dev', name)[0];
    t.equal(changed.mtu, 1300, 'mtu changed');
    t.ok(changed.flags.includes('UP'), 'up');
    t.equal(env.h.linkGet(name).mtu, 1300, 'rtnl agrees');

    env.h.linkDel(name);
    t.throws(() => env.h.linkGet(name), { code: 'ENODEV' }, 'deleted');
    if (c.iproute2) {
      env.ip('link', 'add', name, ...c.iproute2);
      const theirs = env.ipJson('-d', 'link', 'show', 'dev', name)[0];
      t.same(theirs.linkinfo.info_data, ip.linkinfo.info_data, `the same link as \`ip link add ${name} ${c.iproute2.join(' ')}\``);
      env.h.linkDel(name);
    }
    assertHome(t);
    t.end();
  });
}

/** A veth end enslaved to a master of this kind reads back its port data as iproute2 prints it. */
t.test('bond ports: enslaved, read back, released', { skip: kernelHas('bond') ? false : missing('bond') }, (t) => {
  const { h, ipJson } = testNs(t, 'bond');
  h.linkAdd({ kind: 'bond', name: 'bond0', mode: 'active-backup', miimon: 100 });
  const bond = h.linkGet('bond0').index;
  h.linkAdd({ kind: 'veth', name: 'p0', peer: { name: 'q0' } });
  h.linkAdd({ kind: 'veth', name: 'p1', peer: { name: 'q1' } });
  h.linkSetMaster('p0', bond);
  h.linkSetMaster('p1', bond);
  const ports = h.linkList({ master: bond });
  t.same(ports.map((l) => l.name).sort(), ['p0', 'p1'], 'both ports, listed by master');
  for (const p of ports) {
    const ip = ipJson('-d', 'link', 'show', 'dev', p.name)[0];
    t.equal(p.portKind, 'bond');
    t.equal(ip.linkinfo.info_slave_kind, 'bond');
    const d = ip.linkinfo.info_slave_data;
    t.same(
      [p.bondPort?.state, p.bondPort?.miiStatus, p.bondPort?.linkFailureCount, p.bondPort?.permHwaddr, p.bondPort?.queueId, p.bondPort?.prio],
      [d.state, d.mii_status, d.link_failure_count, d.perm_hwaddr, d.queue_id, d.prio],
      `${p.name}: port data agrees with iproute2`,
    );
  }
  h.linkSetNoMaster('p0');
  const p0 = h.linkGet('p0');
  t.equal(p0.master, undefined, 'released');
  t.equal(p0.bondPort, undefined, 'no port data once released');
  t.equal(ipJson('-d', 'link', 'show', 'dev', 'p0')[0].master, undefined, 'iproute2 agrees');
  t.same(h.linkList({ master: bond }).map((l) => l.name), ['p1'], 'one port left');
  assertHome(t);
  t.end();
});

t.test('vrf ports: enslaved, routed by the VRF table, released', { skip: kernelHas('vrf') ? false : missing('vrf') }, (t) => {
  const { h, ipJson } = testNs(t, 'vrf');
  h.linkAdd({ kind: 'vrf', name: 'vrf1', table: 10, up: true });
  const vrf = h.linkGet('vrf1').index;
  h.linkAdd({ kind: 'veth', name: 'p0', peer: { name: 'q0' } });
  h.linkSetMaster('p0', vrf);
  h.linkSetUp('p0');
  h.addrAdd({ link: h.linkGet('p0').index, address: '192.0.2.1/24' });
  const p0 = h.linkGet('p0');
  const ip = ipJson('-d', 'link', 'show', 'dev', 'p0')[0];
  t.equal(p0.master, vrf);
  t.equal(p0.portKind, 'vrf');
  t.same(p0.vrfPort, { table: 10 }, 'the port reports its VRF table');
  t.equal(ip.linkinfo.info_slave_data.table, 10, 'iproute2 agrees');
  t.ok(h.routeList({ table: 10 }).some((r) => r.dst === '192.0.2.0/24'), "the port's connected route is in the VRF table");
  h.linkSetNoMaster('p0');
  t.equal(h.linkGet('p0').vrfPort, undefined, 'released');
  t.equal(ipJson('-d', 'link', 'show', 'dev', 'p0')[0].master, undefined, 'iproute2 agrees');
  assertHome(t);
  t.end();
});

// tun/tap: made through /dev/net/tun (here by `ip tuntap`), then read, changed and deleted through rtnl.
const tunDev = fs.existsSync('/dev/net/tun') || spawnSync('modprobe', ['tun']).status === 0;
t.test('tun/tap: decoded, changed, deleted; creation refused before sending', { skip: tunDev ? false : 'no /dev/net/tun' }, (t) => {
  const env = testNs(t, 'tun');
  env.ip('tuntap', 'add', 'dev', 'tap0', 'mode', 'tap', 'user', '1000', 'group', '1001', 'multi_queue', 'vnet_hdr');
  env.ip('tuntap', 'add', 'dev', 'tun0', 'mode', 'tun', 'pi');
  const byName = (ls: Link[]) => Object.fromEntries(ls.map((l) => [l.name, l]));
  const links = byName(env.h.linkList({ kind: 'tun' }));
  t.same(Object.keys(links).sort(), ['tap0', 'tun0'], 'linkList({ kind: "tun" }) filters by kind');
  for (const n of ['tap0', 'tun0']) {
    const l = links[n]!;
    const d = env.ipJson('-d', 'link', 'show', 'dev', n)[0].linkinfo.info_data;
    if (l.kind !== 'tun') throw new Error(`${n} decoded as ${l.kind}`);
    t.same([l.mode, l.pi, l.vnetHdr, l.persist, l.multiQueue], [d.type, d.pi, d.vnet_hdr, d.persist, d.multi_queue], `${n}: flags agree with iproute2`);
  }
  t.match(links.tap0, { mode: 'tap', owner: 1000, group: 1001, multiQueue: true, vnetHdr: true, persist: true, pi: false });
  t.match(links.tun0, { mode: 'tun', pi: true, multiQueue: false });
  env.h.linkSet('tap0', { mtu: 1400, up: true });
  t.equal(env.ipJson('link', 'show', 'dev', 'tap0')[0].mtu, 1400, 'changed through rtnl');
  env.h.linkDel('tap0');
  t.throws(() => env.h.linkGet('tap0'), { code: 'ENODEV' }, 'deleted through rtnl');

  // The kernel's refusal, through iproute2 (the oracle), is what rtnl's error says.
  const r = spawnSync('ip', ['-n', env.name, 'link', 'add', 'tun9', 'type', 'tun'], { encoding: 'utf8' });
  t.match(r.stderr, /tun\/tap creation via rtnetlink is not supported/, 'the kernel refuses tun creation over rtnetlink');
  for (const kind of ['tun', 'tap'])
    t.throws(() => env.h.linkAdd({ kind, name: 'tun9' } as never), { constructor: RtnlInputError, field: 'kind', message: /\/dev\/net\/tun/ }, `linkAdd({ kind: '${kind}' }) is refused, naming /dev/net/tun`);
  t.same(execFileSync('ip', ['-n', env.name, '-o', 'link', 'show', 'dev', 'tun0'], { encoding: 'utf8' }).includes('tun0'), true, 'tun0 is untouched');
  assertHome(t);
  t.end();
});

t.test('bad input is refused before anything is sent, naming the field', (t) => {
  const { h, ipJson } = testNs(t, 'input');
  const before = ipJson('link', 'show').length;
  const bad: [LinkSpec, string][] = [
    [{ kind: 'vrf', name: 'v0' } as never, 'table'],
    [{ kind: 'vrf', name: 'v0', table: 0 }, 'table'],
    [{ kind: 'gre', name: 'g0', local: 'fd00::1' }, 'local'],
    [{ kind: 'ip6gre', name: 'g0', remote: '10.0.0.1' }, 'remote'],
    [{ kind: 'ipip', name: 'i0', mode: 'ip6ip' }, 'mode'],
    [{ kind: 'sit', name: 's0', ttl: 256 }, 'ttl'],
    [{ kind: 'bond', name: 'b0', mode: 'round-robin' as never }, 'mode'],
    [{ kind: 'bond', name: 'b0', adUserPortKey: 1024 }, 'adUserPortKey'],
    [{ kind: 'bond', name: 'b0', miimon: 2 ** 31 }, 'miimon'],
    [{ kind: 'bond', name: 'b0', activeSlave: 0 }, 'activeSlave'],
    [{ kind: 'geneve', name: 'n0', vni: 2 ** 24 }, 'vni'],
    [{ kind: 'geneve', name: 'n0', df: 'maybe' as never }, 'df'],
    [{ kind: 'geneve', name: 'n0', label: 0x100000 }, 'label'],
    [{ kind: 'wireguard', name: 'w0', privateKey: 'x' } as never, 'privateKey'],
    [{ kind: 'gretap', name: 'g0', encapLimit: 4 } as never, 'encapLimit'],
  ];
  for (const [spec, field] of bad) t.throws(() => h.linkAdd(spec), { name: 'RtnlInputError', field }, `${JSON.stringify(spec)}: ${field}`);
  t.equal(ipJson('link', 'show').length, before, 'nothing was created');
  assertHome(t);
  t.end();
});
