// Links on the real kernel: every kind this kernel has is created through
// rtnl, read back through rtnl and through `ip -j -d link show`, and the two
// must agree field by field; every setter is observed through iproute2; bad
// input and kernel refusals throw the right typed error and leave nothing.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import t, { type Test } from 'tap';
import { type Link, NetlinkError, RtnlInputError, encodeRequests } from '../src/index.js';
import { type TestNs, assertHome, kernelHasKind, testNs, waitFor } from './lib.js';

// ---- iproute2's JSON, mapped onto rtnl's field names ----

/** One entry of `ip -j -d link show` (the fields we compare). */
interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  min_mtu?: number;
  max_mtu?: number;
  qdisc?: string;
  operstate: string;
  group: string;
  txqlen?: number;
  link_type: string;
  address?: string;
  broadcast?: string;
  ifalias?: string;
  master?: string;
  link?: string | null;
  link_index?: number;
  link_netnsid?: number;
  promiscuity?: number;
  num_tx_queues?: number;
  num_rx_queues?: number;
  gso_max_size?: number;
  gso_max_segs?: number;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_data?: Record<string, any> };
}

const on = (x: unknown) => x === 1 || x === true;
const hex = (x: unknown) => (x === undefined ? 0 : Number(x));

/** Kind data: iproute2 key -> (rtnl key, converter). Absent in iproute2's output means 0/false where iproute2 prints only non-defaults. */
function kindFromIp(kind: string, d: Record<string, any>, index: (name: string) => number | undefined): Record<string, unknown> {
  switch (kind) {
    case 'bridge':
      return {
        forwardDelay: d.forward_delay, helloTime: d.hello_time, maxAge: d.max_age, ageingTime: d.ageing_time,
        stp: on(d.stp_state), priority: d.priority, vlanFiltering: on(d.vlan_filtering), vlanDefaultPvid: d.vlan_default_pvid,
        groupFwdMask: hex(d.group_fwd_mask), multicastSnooping: on(d.mcast_snooping), multicastQuerier: on(d.mcast_querier),
        nfCallIptables: on(d.nf_call_iptables), nfCallIp6tables: on(d.nf_call_ip6tables),
        multicastQueryUseIfaddr: on(d.mcast_query_use_ifaddr),
      };
    case 'vxlan':
      return {
        vni: d.id, remote: d.remote ?? d.remote6, group: d.group ?? d.group6, local: d.local ?? d.local6,
        device: d.link === undefined ? undefined : index(d.link), port: d.port, portRange: d.port_range,
        ttl: d.ttl, tos: hex(d.tos), label: hex(d.label), learning: d.learning, proxy: d.proxy ?? false, rsc: d.rsc ?? false,
        l2miss: d.l2miss ?? false, l3miss: d.l3miss ?? false, udpCsum: d.udp_csum, udp6ZeroCsumTx: d.udp_zero_csum6_tx,
        udp6ZeroCsumRx: d.udp_zero_csum6_rx, ageing: d.ageing, limit: d.limit ?? 0, external: d.external ?? false, gbp: d.gbp,
      };
    case 'macvlan':
    case 'macvtap':
      return { mode: d.mode };
    default:
      return {};
  }
}

/** What rtnl should report for a link iproute2 printed; `all` resolves names (master, link) to indexes. */
function fromIp(j: IpLink, all: IpLink[]): Record<string, unknown> {
  const index = (name: string) => all.find((l) => l.ifname === name)?.ifindex;
  const kind = j.linkinfo?.info_kind;
  return {
    index: j.ifindex,
    name: j.ifname,
    // M-DOWN and NO-CARRIER are iproute2's own annotations, not interface flags.
    flags: j.flags.filter((f) => f !== 'M-DOWN' && f !== 'NO-CARRIER').sort(),
    up: j.flags.includes('UP'),
    promisc: j.flags.includes('PROMISC'),
    mtu: j.mtu,
    minMtu: j.min_mtu,
    maxMtu: j.max_mtu,
    qdisc: j.qdisc,
    operstate: j.operstate,
    linkGroup: j.group === 'default' ? 0 : Number(j.group),
    txqlen: j.txqlen,
    linkType: j.link_type,
    address: j.address,
    broadcast: j.broadcast,
    alias: j.ifalias,
    master: j.master === undefined ? undefined : index(j.master),
    portKind: j.linkinfo?.info_slave_kind,
    // Same namespace: iproute2 prints the peer/parent by name; another one: by index with link_netnsid.
    link: j.link_index ?? (typeof j.link === 'string' ? index(j.link) : undefined),
    linkNetnsId: j.link_netnsid,
    promiscuity: j.promiscuity,
    numTxQueues: j.num_tx_queues,
    numRxQueues: j.num_rx_queues,
    gsoMaxSize: j.gso_max_size,
    gsoMaxSegs: j.gso_max_segs,
    kind: kind ?? 'device',
    ...(kind ? kindFromIp(kind, j.linkinfo?.info_data ?? {}, index) : {}),
  };
}

function ipLinks(n: TestNs): IpLink[] {
  return n.ipJson<IpLink[]>('-d', 'link', 'show');
}

/** rtnl's view of a link and iproute2's agree on every mapped field. */
function agree(t: Test, ours: Link, all: IpLink[]): void {
  const j = all.find((l) => l.ifindex === ours.index);
  if (!t.ok(j, `iproute2 shows ifindex ${ours.index} (${ours.name})`)) return;
  const want = fromIp(j!, all);
  const got: Record<string, unknown> = { ...ours, flags: [...ours.flags].sort() };
  for (const [k, v] of Object.entries(want)) t.same(got[k], v, `${ours.name}.${k} agrees with iproute2 (${JSON.stringify(v)})`);
}

const names = (n: TestNs) => n.h.linkList().map((l) => l.name).sort();
const ipNames = (n: TestNs) => ipLinks(n).map((l) => l.ifname).sort();

// ---- every kind ----

t.test('every kind: created by linkAdd, read back by linkGet, linkList and ip -d, field by field', (t) => {
  const n = testNs(t, 'kinds');
  const { h } = n;
  h.linkSetUp('lo');
  h.linkAdd({ kind: 'bridge', name: 'br0', up: true, stp: true, forwardDelay: 400, helloTime: 300, maxAge: 2500, ageingTime: 10000, priority: 100, multicastSnooping: false, multicastQuerier: true, multicastQueryUseIfaddr: true, groupFwdMask: 8 });
  const br = h.linkGet('br0');
  h.linkAdd({ kind: 'veth', name: 've0', mtu: 1400, address: '02:00:00:00:01:01', txqlen: 500, master: br.index, up: true, peer: { name: 've1', mtu: 1400, address: '02:00:00:00:01:02', txqlen: 600 } });
  // Not `up` in the same request: the kernel refuses to enslave a veth whose peer is already up (ENOTCONN, iproute2 too).
  h.linkSetUp('ve1');
  h.linkSet('ve0', { alias: 'to the bridge' });
  const ve1 = h.linkGet('ve1');
  h.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 42, device: ve1.index, local: '10.0.0.1', group: '239.1.1.1', port: 4789, portRange: { low: 1000, high: 2000 }, ttl: 10, tos: 0x10, learning: false, proxy: true, l2miss: true, l3miss: true, udpCsum: false, ageing: 100, limit: 50 });
  h.linkAdd({ kind: 'vxlan', name: 'vx1', vni: 43, local: '10.0.0.1', remote: '10.0.0.2', port: 4790, linkGroup: 3 });
  h.linkAdd({ kind: 'vxlan', name: 'vx2', vni: 44, local: 'fd00::1', remote: 'fd00::2', port: 4791, label: 0x12345, udp6ZeroCsumTx: true });
  h.linkAdd({ kind: 'macvlan', name: 'mv0', link: ve1.index, mode: 'private', address: '02:00:00:00:02:01' });
  const macvtap = kernelHasKind('macvtap');
  if (macvtap) h.linkAdd({ kind: 'macvtap', name: 'mt0', link: ve1.index, mode: 'vepa' });
  else t.comment('macvtap: not in this kernel, skipped');

  // Snapshot only once the carrier changes have settled (the bridge itself stays without
  // carrier for 2 x forwardDelay = 8 s: STP keeps its port out of forwarding until then).
  t.ok(waitFor(() => h.linkGet('ve0').operstate === 'UP' && h.linkGet('ve1').operstate === 'UP'), 'both veth ends are operationally up');
  const all = ipLinks(n);
  const dump = h.linkList();
  t.same(dump.map((l) => l.index).sort(), all.map((l) => l.ifindex).sort(), 'the dump and iproute2 list the same links');
  for (const l of dump) {
    agree(t, l, all);
    const one = h.linkGet(l.index);
    t.same({ ...one, stats: undefined, carrierChanges: undefined }, { ...l, stats: undefined, carrierChanges: undefined }, `${l.name}: linkGet by index = the dump's entry`);
    t.equal(h.linkGet(l.name).index, l.index, `${l.name}: linkGet by name finds the same link`);
  }

  // What was asked for is what the kernel holds (so agreement is not vacuous).
  t.match(h.linkGet('br0'), { kind: 'bridge', up: true, stp: true, forwardDelay: 400, helloTime: 300, maxAge: 2500, ageingTime: 10000, priority: 100, multicastSnooping: false, multicastQuerier: true, multicastQueryUseIfaddr: true, groupFwdMask: 8 });
  t.match(h.linkGet('ve0'), { kind: 'veth', mtu: 1400, address: '02:00:00:00:01:01', txqlen: 500, alias: 'to the bridge', master: br.index, portKind: 'bridge', link: ve1.index, operstate: 'UP' });
  t.ok(h.linkGet('ve0').flags.includes('LOWER_UP'), 've0 has carrier');
  t.match(ve1, { kind: 'veth', mtu: 1400, address: '02:00:00:00:01:02', txqlen: 600, link: h.linkGet('ve0').index });
  t.match(h.linkGet('vx0'), { kind: 'vxlan', vni: 42, device: ve1.index, local: '10.0.0.1', group: '239.1.1.1', port: 4789, portRange: { low: 1000, high: 2000 }, ttl: 10, tos: 0x10, learning: false, proxy: true, l2miss: true, l3miss: true, udpCsum: false, ageing: 100, limit: 50 });
  t.notOk('remote' in h.linkGet('vx0'), 'a multicast destination is reported as group only');
  t.match(h.linkGet('vx1'), { vni: 43, remote: '10.0.0.2', local: '10.0.0.1', port: 4790, linkGroup: 3 });
  t.notOk('group' in h.linkGet('vx1'), 'a unicast destination is reported as remote only');
  t.match(h.linkGet('vx2'), { vni: 44, remote: 'fd00::2', local: 'fd00::1', port: 4791, label: 0x12345, udp6ZeroCsumTx: true });
  t.match(h.linkGet('mv0'), { kind: 'macvlan', mode: 'private', link: ve1.index, address: '02:00:00:00:02:01' });
  if (macvtap) t.match(h.linkGet('mt0'), { kind: 'macvtap', mode: 'vepa', link: ve1.index });
  t.match(h.linkGet('lo'), { kind: 'device', linkType: 'loopback', up: true });

  // Kernel-side filters.
  t.same(h.linkList({ kind: 'vxlan' }).map((l) => l.name).sort(), ['vx0', 'vx1', 'vx2']);
  t.same(h.linkList({ master: br.index }).map((l) => l.name), ['ve0']);
  assertHome(t);
  t.end();
});

t.test('a veth whose peer is created directly in another namespace', (t) => {
  const a = testNs(t, 'va');
  const b = testNs(t, 'vb');
  a.h.linkAdd({ kind: 'veth', name: 'inA', peer: { name: 'inB', mtu: 1300, address: '02:00:00:00:0b:01', netns: b.ns } });
  assertHome(t);
  a.h.linkAdd({ kind: 'veth', name: 'inA2', peer: { name: 'inB2', netns: { name: b.name } } });
  a.h.linkAdd({ kind: 'veth', name: 'inA3', peer: { name: 'inB3', netns: { path: `/run/netns/${b.name}` } } });
  assertHome(t);

  t.notOk(names(a).includes('inB'), 'the peer is not in the first namespace');
  t.notOk(ipNames(a).includes('inB'), 'iproute2 agrees');
  const peer = b.h.linkGet('inB');
  t.match(peer, { kind: 'veth', mtu: 1300, address: '02:00:00:00:0b:01' }, 'the peer has its name, mtu and address');
  const other = b.ipJson<IpLink[]>('-d', 'link', 'show', 'inB')[0]!;
  t.match(other, { ifname: 'inB', mtu: 1300, address: '02:00:00:00:0b:01' }, '`ip -n other -j link` shows it');
  t.ok(b.h.linkGet('inB2') && b.h.linkGet('inB3'), 'peers by {name} and {path} arrived too');

  // Each end names the other by index, in the namespace given by linkNetnsId.
  const end = a.h.linkGet('inA');
  t.equal(end.link, peer.index, 'the link attribute is the peer index in the other namespace');
  t.type(end.linkNetnsId, 'number', 'with the peer namespace id');
  t.equal(peer.link, end.index);
  agree(t, end, ipLinks(a));
  agree(t, peer, ipLinks(b));
  assertHome(t);
  t.end();
});

// ---- setters ----

t.test('setters, each observed through iproute2', (t) => {
  const n = testNs(t, 'set');
  const { h } = n;
  const ip = (name: string) => n.ipJson<IpLink[]>('-d', 'link', 'show', 'dev', name)[0]!;
  h.linkAdd({ kind: 'bridge', name: 'br0' });
  h.linkAdd({ kind: 'veth', name: 's0', peer: { name: 's1' } });
  const br = h.linkGet('br0').index;
  const s0 = h.linkGet('s0').index;

  h.linkSetUp('s1');
  h.linkSetUp('s0');
  t.ok(ip('s0').flags.includes('UP'), 'up');
  t.ok(waitFor(() => h.linkGet('s0').operstate === 'UP'), 'operstate reaches UP');
  t.equal(ip('s0').operstate, 'UP', 'operstate follows (both ends up)');
  t.equal(h.linkGet('s0').operstate, 'UP');
  h.linkSetDown('s0');
  t.notOk(ip('s0').flags.includes('UP'), 'down');
  t.equal(h.linkGet('s0').up, false);

  h.linkSet('s0', { mtu: 1280 });
  t.equal(ip('s0').mtu, 1280, 'mtu');
  h.linkSet(s0, { name: 'renamed0' });
  t.equal(ip('renamed0').ifindex, s0, 'rename by index');
  t.notOk(ipNames(n).includes('s0'), 'the old name is gone');
  t.throws(() => h.linkSet('renamed0', { name: 'x0' }), { name: 'RtnlInputError', field: 'name' }, 'renaming by name is refused before sending');
  h.linkSet(s0, { address: '02:aa:bb:cc:dd:ee' });
  t.equal(ip('renamed0').address, '02:aa:bb:cc:dd:ee', 'mac address');
  h.linkSetMaster(s0, br);
  t.equal(ip('renamed0').master, 'br0', 'master');
  t.equal(h.linkGet(s0).master, br);
  h.linkSetNoMaster(s0);
  t.equal(ip('renamed0').master, undefined, 'nomaster');
  t.equal(h.linkGet(s0).master, undefined);
  h.linkSet(s0, { txqlen: 123 });
  t.equal(ip('renamed0').txqlen, 123, 'txqlen');
  h.linkSet(s0, { alias: 'an alias with spaces' });
  t.equal(ip('renamed0').ifalias, 'an alias with spaces', 'alias');
  const longest = 'a'.repeat(255);
  h.linkSet(s0, { alias: longest });
  t.equal(ip('renamed0').ifalias, longest, 'a 255-byte alias (the most the kernel keeps)');
  t.equal(h.linkGet(s0).alias, longest);
  h.linkSet(s0, { alias: '' });
  t.equal(ip('renamed0').ifalias, undefined, 'an empty alias clears it');
  h.linkSet(s0, { linkGroup: 9 });
  t.equal(ip('renamed0').group, '9', 'group');
  // Several changes in one request.
  h.linkSet(s0, { up: true, mtu: 1300, txqlen: 77, master: br });
  t.match(ip('renamed0'), { mtu: 1300, txqlen: 77, master: 'br0' });
  t.ok(ip('renamed0').flags.includes('UP'));
  agree(t, h.linkGet(s0), ipLinks(n));
  assertHome(t);
  t.end();
});

t.test('moving a link to another namespace: by Netns, {fd}, {name}, {path} and {pid}', async (t) => {
  const a = testNs(t, 'mva');
  const b = testNs(t, 'mvb');
  // Bridges are netns-local (the kernel refuses to move them): move veth ends.
  for (const name of ['m0', 'm1', 'm2', 'm3', 'm4']) a.h.linkAdd({ kind: 'veth', name, peer: { name: `p${name}` } });
  const moved = (name: string, how: string) => {
    assertHome(t);
    t.notOk(names(a).includes(name), `${how}: gone from the first namespace`);
    t.notOk(ipNames(a).includes(name), `${how}: iproute2 agrees`);
    t.ok(b.h.linkGet(name), `${how}: present in the other namespace`);
    t.ok(ipNames(b).includes(name), `${how}: \`ip -n other\` shows it`);
  };
  a.h.linkSetNs('m0', b.ns);
  moved('m0', 'Netns');
  a.h.linkSetNs('m1', { fd: b.ns.fd });
  moved('m1', '{fd}');
  a.h.linkSetNs('m2', { name: b.name });
  moved('m2', '{name}');
  a.h.linkSet(a.h.linkGet('m3').index, { netns: { path: `/run/netns/${b.name}` } });
  moved('m3', '{path}');

  // A process inside the target namespace: `ip netns exec` execs sleep in place, so the pid is sleep's.
  const sleeper = spawn('ip', ['netns', 'exec', b.name, 'sleep', '30'], { stdio: 'ignore' });
  t.teardown(() => { sleeper.kill(); });
  const pid = sleeper.pid!;
  for (let i = 0; i < 200; i++) {
    try {
      if (fs.statSync(`/proc/${pid}/ns/net`).ino === b.ns.inode) break;
    } catch { /* not started yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  t.equal(fs.statSync(`/proc/${pid}/ns/net`).ino, b.ns.inode, 'the sleeper is inside the target namespace');
  a.h.linkSetNs('m4', { pid });
  moved('m4', '{pid}');
  sleeper.kill();
  await new Promise((r) => sleeper.once('exit', r));

  // And back again, with a rename on the way (one request).
  b.h.linkSet(b.h.linkGet('m0').index, { netns: a.ns, name: 'home0' });
  assertHome(t);
  t.ok(a.h.linkGet('home0'), 'moved back and renamed in one request');
  t.ok(ipNames(a).includes('home0'));
  t.end();
});

t.test('linkDelGroup deletes every link of a group at once', (t) => {
  const n = testNs(t, 'grp');
  for (let i = 0; i < 4; i++) n.h.linkAdd({ kind: 'bridge', name: `g7-${i}`, linkGroup: 7 });
  n.h.linkAdd({ kind: 'veth', name: 'g7v', linkGroup: 7, peer: { name: 'g0v' } });
  n.h.linkAdd({ kind: 'bridge', name: 'g8', linkGroup: 8 });
  t.same(ipLinks(n).filter((l) => l.group === '7').map((l) => l.ifname).sort(), ['g7-0', 'g7-1', 'g7-2', 'g7-3', 'g7v'], 'iproute2 sees group 7');
  n.h.linkDelGroup(7);
  t.same(ipNames(n), ['g8', 'lo'], 'only group 8 (and lo) are left; the veth peer went with its end');
  t.same(names(n), ['g8', 'lo']);
  t.throws(() => n.h.linkDelGroup(0), { name: 'RtnlInputError', field: 'group' }, 'group 0 (every link) is refused');
  assertHome(t);
  t.end();
});

t.test('counters only when asked for: linkGet and linkList with { stats: true }', (t) => {
  const n = testNs(t, 'sta');
  n.h.linkAdd({ kind: 'veth', name: 's0', up: true, peer: { name: 's1' } });
  n.h.linkSetUp('s1');
  t.ok(waitFor(() => (n.h.linkGet('s0', { stats: true }).stats?.txPackets ?? 0n) > 0n), 's0 has sent something (IPv6 solicitations)');
  t.equal(n.h.linkGet('s0').stats, undefined, 'linkGet: no counters by default');
  t.ok(n.h.linkList().every((l) => l.stats === undefined), 'linkList: none either');
  const one = n.h.linkGet('s0', { stats: true }).stats!;
  t.equal(typeof one.rxBytes, 'bigint', 'asked for: 64-bit counters as bigints');
  const listed = n.h.linkList({ stats: true });
  t.ok(listed.every((l) => l.stats !== undefined && typeof l.stats.txPackets === 'bigint'), 'linkList({ stats: true }): every link has them');
  const j = JSON.parse(n.ip('-s', '-j', 'link', 'show', 's0')) as { stats64: { tx: { packets: number } } }[];
  t.ok(j[0]!.stats64.tx.packets >= Number(one.txPackets), 'the counters iproute2 reads (taken later, so not fewer)');
  t.throws(() => n.h.linkGet('s0', { stats: 1 as never }), { name: 'RtnlInputError', field: 'stats' });
  t.throws(() => n.h.linkList({ stats: 'yes' as never }), { name: 'RtnlInputError', field: 'stats' });
  assertHome(t);
  t.end();
});

// ---- errors ----

t.test('refusals throw typed errors and leave nothing behind', (t) => {
  const n = testNs(t, 'err');
  const { h } = n;
  h.linkAdd({ kind: 'bridge', name: 'br0' });
  const before = names(n);
  const unchanged = (what: string) => {
    t.same(names(n), before, `${what}: rtnl lists the same links`);
    t.same(ipNames(n), before, `${what}: iproute2 lists the same links`);
  };

  t.throws(() => h.linkAdd({ kind: 'bridge', name: 'br0' }), { name: 'NetlinkError', code: 'EEXIST', op: 'linkAdd', object: 'br0' });
  unchanged('duplicate');
  for (const bad of ['sixteen-bytes-xx', 'a/b', 'a b', 'tab\tx', 'nl\n', '', '..', 'co:lon']) {
    t.throws(() => h.linkAdd({ kind: 'bridge', name: bad }), { name: 'RtnlInputError', field: 'name' }, `name ${JSON.stringify(bad)}`);
  }
  t.equal(Buffer.byteLength('fifteen-bytes-x'), 15);
  h.linkAdd({ kind: 'bridge', name: 'fifteen-bytes-x' });
  t.ok(ipNames(n).includes('fifteen-bytes-x'), 'while 15 bytes is fine');
  h.linkDel('fifteen-bytes-x');
  t.throws(() => h.linkAdd({ kind: 'veth', name: 'ok0', peer: { name: 'x'.repeat(16) } }), { name: 'RtnlInputError', field: 'peer.name' });
  t.throws(() => h.linkAdd({ kind: 'nosuch', name: 'x0' } as never), { name: 'RtnlInputError', field: 'kind' });
  t.throws(() => h.linkAdd({ kind: 'bridge', name: 'x0', address: '02:00:00:00:00' }), { name: 'RtnlInputError', field: 'address' });
  t.throws(() => h.linkAdd({ kind: 'veth', name: 'x0', peer: { name: 'x1', address: 'zz:00:00:00:00:01' } }), { name: 'RtnlInputError', field: 'peer.address' });
  t.throws(() => h.linkSet('br0', { address: 'not-a-mac' }), { name: 'RtnlInputError', field: 'address' });
  t.throws(() => h.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 1, remote: '10.0.0.2', group: '239.1.1.1' }), { name: 'RtnlInputError', field: 'remote' });
  t.throws(() => h.linkAdd({ kind: 'bridge', name: 'x0', typo: 1 } as never), { name: 'RtnlInputError', field: 'typo' });
  // The kernel drops IFLA_IFALIAS on creation without a word: refused rather than silently lost.
  t.throws(() => h.linkAdd({ kind: 'bridge', name: 'x0', alias: 'lost' } as never), { name: 'RtnlInputError', field: 'alias', message: /linkSet/ });
  unchanged('input errors');

  // A master that does not exist: the kernel creates the link, fails to enslave it and removes it again.
  t.throws(() => h.linkAdd({ kind: 'veth', name: 'x0', master: 9999, peer: { name: 'x1' } }), { name: 'NetlinkError', code: 'EINVAL', op: 'linkAdd' }, 'missing master: EINVAL');
  unchanged('missing master');
  t.throws(() => h.linkSetMaster('br0', 9999), { name: 'NetlinkError', code: 'EINVAL', op: 'linkSet' });

  // A namespace path that is not a namespace: refused while encoding, nothing is sent.
  t.throws(() => h.linkSetNs('br0', { path: '/etc/hostname' }), { name: 'NetlinkError', code: 'EINVAL', extack: /not a network namespace/ });
  t.throws(() => h.linkAdd({ kind: 'veth', name: 'x0', peer: { name: 'x1', netns: { path: '/proc/self/status' } } }), { name: 'NetlinkError', code: 'EINVAL' });
  t.throws(() => h.linkSetNs('br0', { name: 'no-such-ns' }), { name: 'NetlinkError', code: 'ENOENT' });
  unchanged('bad namespaces');
  assertHome(t);

  h.linkAdd({ kind: 'bridge', name: 'gone0' });
  const idx = h.linkGet('gone0').index;
  h.linkDel('gone0');
  t.throws(() => h.linkDel('gone0'), { name: 'NetlinkError', code: 'ENODEV', op: 'linkDel', object: 'gone0' }, 'deleting what is gone, by name');
  t.throws(() => h.linkDel(idx), { name: 'NetlinkError', code: 'ENODEV', object: `ifindex ${idx}` }, 'and by index');
  t.throws(() => h.linkGet('gone0'), { name: 'NetlinkError', code: 'ENODEV', op: 'linkGet' });
  t.throws(() => h.linkSet('gone0', { mtu: 1400 }), { name: 'NetlinkError', code: 'ENODEV', op: 'linkSet' });
  t.throws(() => h.linkAdd({ kind: 'macvlan', name: 'mv0', link: 9999 }), { name: 'NetlinkError', code: 'ENODEV' }, 'macvlan on a missing parent');
  unchanged('missing links');

  t.throws(() => h.linkAdd({ kind: 'bridge', name: 'vf0', vlanFiltering: true }), { name: 'NetlinkError', code: 'EOPNOTSUPP' }, 'vlan_filtering is not in this kernel');
  unchanged('vlan filtering');
  t.end();
});

t.test('the kernel\'s extended ack message is carried in NetlinkError', (t) => {
  const n = testNs(t, 'ext');
  const { h } = n;
  h.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 5, port: 4789 });
  const before = names(n);
  const e = t.throws(() => h.linkAdd({ kind: 'vxlan', name: 'vx1', vni: 5, port: 4789 })) as NetlinkError;
  t.ok(e instanceof NetlinkError, 'a NetlinkError');
  t.match(e, { code: 'EEXIST', errno: 17, op: 'linkAdd', object: 'vx1', extack: 'A VXLAN device with the specified VNI already exists' });
  t.match(e.message, /linkAdd vx1: EEXIST .*A VXLAN device with the specified VNI already exists/, 'and in the message');
  t.throws(() => h.linkAdd({ kind: 'vxlan', name: 'vx2', vni: 6, local: '10.0.0.1', remote: 'fd00::1' }), { code: 'EINVAL', extack: 'Local and remote address must be from the same family' });
  t.throws(() => h.linkAdd({ kind: 'vxlan', name: 'vx3', vni: 7, group: '239.1.1.1' }), { code: 'EINVAL', extack: 'Local interface required for multicast remote destination' });
  t.throws(() => h.linkAdd({ kind: 'vxlan', name: 'vx4', vni: 8, device: 9999 }), { code: 'ENODEV', extack: /device not found/ });
  t.throws(() => h.linkSet('vx0', { mtu: 10 }), { code: 'EINVAL', op: 'linkSet', extack: 'mtu less than device minimum' });
  // The kernel also points at the offending attribute: its offset in our own request.
  const spec = { kind: 'vxlan', name: 'vx5', vni: 9, mtu: 70000 } as const;
  const bad = t.throws(() => h.linkAdd(spec), { code: 'EINVAL', extack: 'MTU must be between 68 and 65535' }) as NetlinkError;
  t.type(bad.extackOffset, 'number', 'with an attribute offset');
  const sent = encodeRequests((b) => b.linkAdd(spec));
  t.equal(sent.readUInt16LE(bad.extackOffset!), 8, 'the offset is an attribute of 4 bytes of payload in the request we send');
  t.equal(sent.readUInt32LE(bad.extackOffset! + 4), 70000, 'carrying the refused mtu');
  const mac = t.throws(() => h.linkAdd({ kind: 'vxlan', name: 'vx5', vni: 9, address: '01:00:5e:00:00:01' }), { code: 'EADDRNOTAVAIL', extack: 'Provided Ethernet address is not unicast' }) as NetlinkError;
  t.type(mac.extackOffset, 'number');
  t.same(names(n), before, 'none of them left anything');
  const plain = t.throws(() => h.linkDel('nope0')) as NetlinkError;
  t.equal(plain.extack, undefined, 'no extack when the kernel gives none');
  t.ok(plain instanceof Error && !(plain instanceof RtnlInputError));
  t.end();
});
