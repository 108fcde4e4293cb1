// The node agent's dataplane: Overlay reconciles a nolearning VXLAN device's
// neighbours, FDB entries and routes with the membership (checked against
// iproute2 and with packets between VTEPs), adopts what a previous run left,
// reports drift; and the static-file membership that can feed it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test as Tap } from 'tap';
import { Cluster, ping, podSubnet, underlayIp, vtepIp } from '../demo/cluster.js';
import { type Handle, type Netns, type SubscriptionItem, subscribe } from '../src/index.js';
import { OVERLAY_ROUTE_PROTOCOL, Overlay, type OverlayOptions, OverlaySyncError } from '../src/agent/overlay.js';
import { StaticFileError, StaticMembership, parseStaticFile, readStaticFile } from '../src/agent/static.js';
import type { NodeRecord } from '../src/agent/types.js';
import { assertHome } from './lib.js';

const DEV = 'rtnl.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const vtepMac = (i: number, gen = 0) => `02:aa:00:00:${gen.toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}`;
const underlay6 = (i: number) => `fd00:100::${i}`;

interface Node {
  i: number;
  name: string;
  ns: Netns;
  h: Handle;
  rec: NodeRecord;
  ov: Overlay;
}

/** Three bare nodes on the cluster underlay, each with an Overlay (not yet ensured); v6: the underlay is IPv6. */
function setup(t: Tap, prefix: string, v6 = false): { nodes: Node[]; records: NodeRecord[]; overlay(n: Node, o?: Partial<OverlayOptions>): Overlay } {
  const c = new Cluster(prefix);
  t.teardown(() => c.destroy());
  c.underlay();
  const overlay = (n: Omit<Node, 'ov'>, o: Partial<OverlayOptions> = {}) =>
    new Overlay({ handle: n.h, netns: n.ns, device: DEV, vni: 1, port: 4789, local: n.rec.underlay, subnet: n.rec.subnet, mac: n.rec.vtepMac, ...o });
  const nodes = [1, 2, 3].map((i): Node => {
    const { name, ns, h, underlay } = c.addBareNode(i);
    if (v6) h.addrAdd({ link: underlay, address: `${underlay6(i)}/64`, flags: ['nodad'] });
    const rec = { name, underlay: v6 ? underlay6(i) : underlayIp(i), vtepMac: vtepMac(i), subnet: podSubnet(i) };
    return { i, name, ns, h, rec, ov: overlay({ i, name, ns, h, rec }) };
  });
  return { nodes, records: nodes.map((n) => n.rec), overlay };
}

/** What iproute2 shows on the node's device: permanent neighbours, unicast FDB remotes, routes of the overlay's protocol. */
function oracle(n: Node): { neigh: string[]; fdb: string[]; routes: string[] } {
  const j = (cmd: string, ...args: string[]) => JSON.parse(execFileSync(cmd, ['-n', n.name, '-j', ...args], { encoding: 'utf8' }) || '[]') as any[];
  return {
    neigh: j('ip', 'neigh', 'show', 'dev', DEV).filter((e) => e.state?.includes('PERMANENT')).map((e) => `${e.dst} ${e.lladdr}`).sort(),
    fdb: j('bridge', 'fdb', 'show', 'dev', DEV).filter((e) => e.dst && e.mac !== '00:00:00:00:00:00').map((e) => `${e.mac} ${e.dst}`).sort(),
    routes: j('ip', 'route', 'show', 'dev', DEV, 'proto', String(OVERLAY_ROUTE_PROTOCOL)).map((e) => `${e.dst} via ${e.gateway} ${(e.flags ?? []).join(',')}`).sort(),
  };
}

/** What the node's device should hold for these members (itself left out). */
function expected(n: Node, members: NodeRecord[]): ReturnType<typeof oracle> {
  const peers = members.filter((m) => m.subnet !== n.rec.subnet);
  const vtep = (m: NodeRecord) => m.subnet.replace(/\/\d+$/, '');
  return {
    neigh: peers.map((m) => `${vtep(m)} ${m.vtepMac}`).sort(),
    fdb: peers.map((m) => `${m.vtepMac} ${m.underlay}`).sort(),
    routes: peers.map((m) => `${m.subnet} via ${vtep(m)} onlink`).sort(),
  };
}

const counts = (r: { added: number; updated: number; removed: number; unchanged: number; skipped: number }) =>
  ({ added: r.added, updated: r.updated, removed: r.removed, unchanged: r.unchanged, skipped: r.skipped });

/** Every VTEP pings every other one, across the overlay. */
function pingAll(t: Tap, nodes: Node[]): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) t.ok(ping(a.name, vtepIp(b.i)) >= 0, `${a.name} reaches ${b.name}'s VTEP ${vtepIp(b.i)}`);
}

/** Counts onDrift calls; next() resolves at the next one. */
function driftWatch() {
  let calls = 0;
  let waiter: (() => void) | undefined;
  return {
    get calls() {
      return calls;
    },
    onDrift: () => {
      calls++;
      waiter?.();
      waiter = undefined;
    },
    next: (ms = 3000) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no onDrift')), ms);
      waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    }),
  };
}

t.test('three nodes: ensure makes the VTEP, sync programs exactly the membership, VTEPs reach each other', async (t) => {
  const { nodes, records } = setup(t, 'aov');
  for (const n of nodes) {
    const d = n.ov.ensure();
    t.match(d, { mac: n.rec.vtepMac, mtu: 1450, replaced: false }, `${n.name}: device made, MTU underlay - 50`);
    const [link] = JSON.parse(execFileSync('ip', ['-n', n.name, '-j', '-d', 'link', 'show', DEV], { encoding: 'utf8' }));
    t.match(link, { ifindex: d.index, mtu: 1450, address: n.rec.vtepMac, operstate: 'UNKNOWN', linkinfo: { info_kind: 'vxlan', info_data: { id: 1, port: 4789, local: n.rec.underlay, learning: false } } }, 'ip -d link: vxlan vni 1 dstport 4789 nolearning local');
    const addrs = JSON.parse(execFileSync('ip', ['-n', n.name, '-j', '-4', 'addr', 'show', 'dev', DEV], { encoding: 'utf8' }))[0].addr_info;
    t.strictSame(addrs.map((a: any) => `${a.local}/${a.prefixlen}`), [`${vtepIp(n.i)}/32`], 'the VTEP address, alone');
    t.equal(n.ov.vtepIp, vtepIp(n.i));
    t.equal(n.ov.device, DEV);
  }
  for (const n of nodes) {
    t.match(counts(n.ov.sync(records)), { added: 2, updated: 0, removed: 0, unchanged: 0, skipped: 0 }, `${n.name}: two peers added, itself left out`);
    t.strictSame(oracle(n), expected(n, records), `${n.name}: neighbours, FDB and routes as iproute2 shows them`);
  }
  pingAll(t, nodes);
  t.match(counts(nodes[0]!.ov.sync(records)), { added: 0, updated: 0, removed: 0, unchanged: 2 }, 'a second sync changes nothing');
  // node 3 leaves
  const two = records.slice(0, 2);
  t.match(counts(nodes[0]!.ov.sync(two)), { added: 0, removed: 1, unchanged: 1 }, 'a departed node is removed');
  t.strictSame(oracle(nodes[0]!), expected(nodes[0]!, two));
  nodes[2]!.ov.cleanup();
  nodes[2]!.ov.cleanup();
  t.throws(() => nodes[2]!.h.linkGet(DEV), { code: 'ENODEV' }, 'cleanup deleted the device; twice is fine');
  assertHome(t);
});

t.test('ensure: the MTU option, an adopted device set up with it, a wrong device replaced', async (t) => {
  const { nodes, overlay } = setup(t, 'aoa');
  const [n1, , n3] = nodes as [Node, Node, Node];
  const first = n1.ov.ensure();
  n1.h.linkSetDown(DEV);
  t.strictSame(overlay(n1, { mtu: 1400 }).ensure(), { ...first, mtu: 1400, device: { ...first.device!, mtu: 1400 } }, 'adopted: same device, MTU 1400');
  t.match(n1.h.linkGet(DEV), { index: first.index, mtu: 1400, up: true }, 'the kernel has it up with MTU 1400');
  t.throws(() => overlay(n1, { local: '192.168.100.77' }).ensure(), { name: 'RtnlInputError', field: 'local' }, 'a local address no device has is refused');
  t.throws(() => overlay(n1, { subnet: '10.244.1.1/24' }), { name: 'RtnlInputError', field: 'subnet' }, 'a subnet with host bits is refused');
  execFileSync('ip', ['-n', n3.name, 'link', 'add', DEV, 'type', 'vxlan', 'id', '2', 'dstport', '4789', 'local', underlayIp(3)]);
  const d = n3.ov.ensure();
  t.match(d, { replaced: true, mac: n3.rec.vtepMac }, 'a vxlan of another VNI (and learning on) is replaced');
  t.match(n3.h.linkGet(DEV), { kind: 'vxlan', vni: 1, learning: false, up: true });
  t.match(overlay(n3, { underlayDevice: 'underlay' }).ensure(), { replaced: false, index: d.index }, 'the named underlay device is the one it is on');
});

t.test('a restarted agent adopts what is there: nothing is sent, no route flaps', async (t) => {
  const { nodes, records, overlay } = setup(t, 'aor');
  for (const n of nodes) {
    n.ov.ensure();
    n.ov.sync(records);
  }
  const n1 = nodes[0]!;
  const sub = subscribe({ kinds: ['link', 'address', 'route', 'neighbour', 'fdb'], netns: n1.ns });
  t.teardown(() => sub.close());
  const seen: SubscriptionItem[] = [];
  sub.on('event', (e) => seen.push(e));
  sub.on('resync', (e) => seen.push(e));
  const again = overlay(n1);
  t.match(again.ensure(), { replaced: false, mtu: 1450, mac: n1.rec.vtepMac }, 'the device is adopted');
  t.match(counts(again.sync(records)), { added: 0, updated: 0, removed: 0, unchanged: 2 }, 'sync: every peer unchanged');
  n1.h.linkSet('lo', { alias: 'marker' }); // an event of our own, to know the socket is drained up to here
  for (let k = 0; k < 50 && !seen.some((e) => e.kind === 'link' && e.value.name === 'lo'); k++) await sleep(20);
  t.strictSame(seen.filter((e) => !(e.kind === 'link' && e.value.name === 'lo')), [], 'no link, address, route, neighbour or FDB event at all');
  pingAll(t, nodes);
});

t.test('stale entries go, a changed MAC or underlay is an update, bad records are skipped', async (t) => {
  const { nodes, records, overlay } = setup(t, 'aos');
  for (const n of nodes) n.ov.ensure();
  const [n1, n2] = nodes as [Node, Node, Node];
  const ip = (...args: string[]) => execFileSync('ip', ['-n', n1.name, ...args]);
  // leftovers of a node 9 from before a restart, one of node 2 with a metric, an unrelated route and a stray address
  ip('neigh', 'add', '10.244.9.0', 'lladdr', vtepMac(9), 'dev', DEV, 'nud', 'permanent');
  execFileSync('bridge', ['-n', n1.name, 'fdb', 'add', vtepMac(9), 'dev', DEV, 'dst', underlayIp(9), 'self', 'permanent']);
  ip('route', 'add', '10.244.9.0/24', 'via', '10.244.9.0', 'dev', DEV, 'onlink', 'proto', String(OVERLAY_ROUTE_PROTOCOL));
  ip('route', 'add', podSubnet(2), 'via', vtepIp(2), 'dev', DEV, 'onlink', 'proto', String(OVERLAY_ROUTE_PROTOCOL), 'metric', '5');
  ip('route', 'add', '10.99.0.0/24', 'dev', DEV);
  ip('addr', 'add', '10.1.1.1/24', 'dev', DEV);
  t.match(n1.ov.ensure(), { replaced: false }, 'ensure adopts the device');
  t.strictSame(n1.h.addrList({ link: n1.ov.ensure().index, family: 4 }).map((a) => a.address), [`${vtepIp(1)}/32`], 'the stray address is gone');

  const bad: NodeRecord[] = [
    { name: 'bad-mac', underlay: '192.168.100.20', vtepMac: 'zz', subnet: '10.244.20.0/24' },
    { name: 'multicast-mac', underlay: '192.168.100.21', vtepMac: '01:00:5e:00:00:01', subnet: '10.244.21.0/24' },
    { name: 'v6-subnet', underlay: '192.168.100.22', vtepMac: vtepMac(22), subnet: 'fd00:244::/64' },
    { name: 'v6-underlay', underlay: 'fd00::22', vtepMac: vtepMac(23), subnet: '10.244.23.0/24' },
    { name: 'in-our-subnet', underlay: '192.168.100.24', vtepMac: vtepMac(24), subnet: '10.244.1.128/25' },
    { name: 'host-bits', underlay: '192.168.100.25', vtepMac: vtepMac(25), subnet: '10.244.25.1/24' },
    { name: 'dup-subnet', underlay: '192.168.100.26', vtepMac: vtepMac(26), subnet: podSubnet(2) },
    { name: 'dup-mac', underlay: '192.168.100.27', vtepMac: vtepMac(3), subnet: '10.244.27.0/24' },
  ];
  const r = n1.ov.sync([...records, ...bad]);
  t.match(counts(r), { added: 2, updated: 0, removed: 1, unchanged: 0, skipped: bad.length }, 'node 9 removed, bad records skipped');
  t.ok(r.durationMs > 0 && r.durationMs < 1000, `took ${r.durationMs.toFixed(2)} ms`);
  t.strictSame(oracle(n1), expected(n1, records), 'exactly the membership');
  t.match(JSON.parse(ip('-j', 'route', 'show', '10.99.0.0/24').toString()), [{ dst: '10.99.0.0/24', dev: DEV }], "a route of another protocol is not the overlay's to remove");

  // node 2's VTEP gets a new MAC (its device is remade), node 3 is said to have moved
  for (const n of nodes.slice(1)) n.ov.sync(records);
  const moved = records.map((m) => (m === n2.rec ? { ...m, vtepMac: vtepMac(2, 1) } : m === records[2] ? { ...m, underlay: '192.168.100.33' } : m));
  t.match(overlay(n2, { mac: vtepMac(2, 1) }).ensure(), { replaced: true, mac: vtepMac(2, 1) }, "node 2's device is remade with the new MAC");
  t.match(counts(overlay(n2, { mac: vtepMac(2, 1) }).sync(moved)), { added: 2 }, 'node 2 reprograms its peers (they went with the old device)');
  t.match(counts(n1.ov.sync(moved)), { added: 0, updated: 2, removed: 0, unchanged: 0 }, 'node 1: two peers updated');
  t.strictSame(oracle(n1), expected(n1, moved), "the old MAC's FDB entry is gone, the new underlay is in");
  t.ok(ping(n1.name, vtepIp(2)) >= 0, 'node 1 reaches node 2 at its new MAC');
  const back = moved.map((m) => (m.name === records[2]!.name ? records[2]! : m));
  t.match(counts(n1.ov.sync(back)), { updated: 1, unchanged: 1 }, 'node 3 back at its underlay');
  t.ok(ping(n1.name, vtepIp(3)) >= 0, 'node 1 reaches node 3');
});

t.test('a sync the kernel partly refuses throws OverlaySyncError with each failure', async (t) => {
  const { nodes, records } = setup(t, 'aoe');
  const n1 = nodes[0]!;
  n1.ov.ensure();
  n1.h.linkSetDown(DEV); // neighbours and FDB entries go in, routes via a down device are refused (ENETDOWN)
  const e = t.throws(() => n1.ov.sync(records)) as unknown as OverlaySyncError;
  t.ok(e instanceof OverlaySyncError, 'an OverlaySyncError');
  t.equal(e.failures.length, 2, 'two failures: the two routes');
  t.match(e.failures[0], { op: 'routeReplace', object: podSubnet(2) });
  t.match(e.result, { added: 2 });
  n1.ov.ensure(); // up again
  t.match(counts(n1.ov.sync(records)), { added: 2 }, 'the next sync completes it');
  t.strictSame(oracle(n1), expected(n1, records));
  n1.ov.cleanup();
  t.throws(() => n1.ov.sync(records), { code: 'ENODEV' }, 'no device: the kernel says so');
});

t.test('a route the overlay did not make is never replaced or deleted: the peer is refused instead', async (t) => {
  const { nodes, records } = setup(t, 'aof');
  const n1 = nodes[0]!;
  n1.ov.ensure();
  const ip = (...args: string[]) => execFileSync('ip', ['-n', n1.name, ...args], { encoding: 'utf8' });
  ip('route', 'add', '10.244.77.0/24', 'via', underlayIp(2), 'proto', 'static');
  const before = ip('-d', 'route', 'show', 'table', 'main');
  // What the policy stops in the agent; the overlay must hold on its own too.
  const hostile: NodeRecord[] = [
    { name: 'underlay', underlay: underlayIp(8), vtepMac: vtepMac(8), subnet: '192.168.100.0/24' },
    { name: 'static', underlay: underlayIp(9), vtepMac: vtepMac(9), subnet: '10.244.77.0/24' },
  ];
  const r = n1.ov.sync([...records, ...hostile]);
  t.match(counts(r), { added: 2, skipped: 0 }, 'the real peers are added');
  t.match(r.refused, [
    { subnet: '192.168.100.0/24', reason: /a route to 192\.168\.100\.0\/24 the agent did not make is in the way \(protocol kernel/ },
    { subnet: '10.244.77.0/24', reason: /protocol static/ },
  ], 'the hostile ones are refused, naming the route in the way');
  const after = ip('-d', 'route', 'show', 'table', 'main');
  t.equal(after.split('\n').filter((l) => !l.includes(DEV)).join('\n'), before.split('\n').filter((l) => !l.includes(DEV)).join('\n'),
    'the connected underlay route and the static route are untouched');
  t.strictSame(oracle(n1), expected(n1, records), 'no neighbour or FDB entry for the refused peers');
  t.ok(ping(n1.name, underlayIp(2)) >= 0, 'the underlay still works');
  n1.ov.sync(records);
  t.equal(ip('-d', 'route', 'show', 'table', 'main').split('\n').filter((l) => !l.includes(DEV)).join('\n'),
    before.split('\n').filter((l) => !l.includes(DEV)).join('\n'), 'and the records going away deletes nothing of theirs');
});

t.test('drift: changes made behind its back call onDrift; our own syncs do not; ensure + sync repair', async (t) => {
  const { nodes, records } = setup(t, 'aod');
  for (const n of nodes) n.ov.ensure();
  const n1 = nodes[0]!;
  const d = driftWatch();
  n1.ov.startWatching(d.onDrift, { debounceMs: 50 });
  t.teardown(() => n1.ov.stop());
  for (const n of nodes) n.ov.sync(records);
  t.match(counts(n1.ov.sync(records.slice(0, 2))), { removed: 1 }, 'our own removal');
  t.match(counts(n1.ov.sync(records)), { added: 1 }, 'our own add');
  await sleep(300);
  t.equal(d.calls, 0, 'our own syncs are not drift');

  const repair = () => {
    n1.ov.ensure();
    return counts(n1.ov.sync(records));
  };
  const ip = (...args: string[]) => execFileSync('ip', ['-n', n1.name, ...args]);
  let next = d.next();
  ip('route', 'del', podSubnet(2), 'dev', DEV);
  await next;
  t.pass('ip route del: onDrift');
  t.match(repair(), { added: 1, unchanged: 1 }, 'the route is back');

  next = d.next();
  ip('neigh', 'del', vtepIp(3), 'dev', DEV);
  await next;
  t.pass('ip neigh del: onDrift');
  t.match(repair(), { updated: 1, unchanged: 1 }, 'the neighbour is back');

  next = d.next();
  execFileSync('bridge', ['-n', n1.name, 'fdb', 'replace', vtepMac(2), 'dev', DEV, 'dst', '192.168.100.99', 'self', 'permanent']);
  await next;
  t.pass('bridge fdb replace to a wrong underlay: onDrift');
  t.match(repair(), { updated: 1 }, 'the FDB entry is right again');

  next = d.next();
  ip('route', 'add', '10.244.42.0/24', 'via', '10.244.42.0', 'dev', DEV, 'onlink', 'proto', String(OVERLAY_ROUTE_PROTOCOL));
  await next;
  t.pass('a route of our protocol added by hand: onDrift');
  t.match(repair(), { removed: 1 }, 'removed again');

  next = d.next();
  ip('link', 'set', DEV, 'mtu', '1300');
  await next;
  t.pass('ip link set mtu: onDrift');
  t.match(repair(), { unchanged: 2 }, 'ensure set the MTU back; the peers were untouched');
  t.equal(n1.h.linkGet(DEV).mtu, 1450);

  next = d.next();
  ip('link', 'del', DEV);
  await next;
  t.pass('ip link del: onDrift');
  t.match(repair(), { added: 2 }, 'ensure remade the device, sync its peers');
  t.strictSame(oracle(n1), expected(n1, records));
  pingAll(t, nodes);

  // unrelated changes in the namespace are not drift
  const before = d.calls;
  n1.h.linkAdd({ kind: 'bridge', name: 'other0', up: true });
  ip('route', 'add', '10.77.0.0/24', 'dev', 'other0');
  await sleep(300);
  t.equal(d.calls, before, 'other devices are not watched');

  n1.ov.stop();
  ip('route', 'del', podSubnet(2), 'dev', DEV);
  await sleep(300);
  t.equal(d.calls, before, 'nothing after stopWatching');
});

t.test('a lost-events resync (receive buffer overflow) calls onDrift', async (t) => {
  const { nodes } = setup(t, 'aoo');
  const n1 = nodes[0]!;
  n1.ov.ensure();
  const d = driftWatch();
  n1.ov.startWatching(d.onDrift, { debounceMs: 20 });
  t.teardown(() => n1.ov.stop());
  n1.h.linkAdd({ kind: 'bridge', name: 'burst0', up: true }); // a down device's alias changes are not notified
  const next = d.next(10_000);
  // One synchronous batch: the event loop does not turn, so the watch's socket overflows.
  const res = n1.h.batch((b) => {
    for (let i = 0; i < 20_000; i++) b.linkSet('burst0', { alias: `b${i}` });
  });
  t.ok(res.every((r) => r.status === 'fulfilled'), 'a burst of changes on another device');
  await next;
  t.pass('onDrift after the resync');
});

t.test('IPv6 underlay', async (t) => {
  const { nodes, records } = setup(t, 'ao6', true);
  for (const n of nodes) {
    t.match(n.ov.ensure(), { mtu: 1430, replaced: false }, `${n.name}: MTU underlay - 70`);
    t.match(counts(n.ov.sync(records)), { added: 2 });
    t.strictSame(oracle(n), expected(n, records), `${n.name}: FDB remotes are IPv6`);
  }
  pingAll(t, nodes);
});

t.test('static membership drives sync: an edit removes a node from the overlay', async (t) => {
  const { nodes, records } = setup(t, 'aom');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-static-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'cluster.json');
  const write = (nodesList: NodeRecord[]) => {
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ network: { network: '10.244.0.0/16', subnetLen: 24 }, nodes: nodesList }));
    fs.renameSync(`${file}.tmp`, file);
  };
  write(records);
  const n1 = nodes[0]!;
  n1.ov.ensure();
  const synced: ReturnType<typeof counts>[] = [];
  let wake: (() => void) | undefined;
  const m = new StaticMembership(file, { debounceMs: 20 });
  await m.start((members) => {
    synced.push(counts(n1.ov.sync(members.records.map((c) => c.record))));
    wake?.();
  });
  t.teardown(() => m.stop());
  t.match(synced, [{ added: 2 }], 'start delivers the file');
  const delivered = new Promise<void>((r) => (wake = r));
  write(records.slice(0, 2));
  await delivered;
  t.match(synced[1], { removed: 1, unchanged: 1 }, 'after the edit node 3 is removed');
  t.strictSame(oracle(n1), expected(n1, records.slice(0, 2)));
});

t.test('static file: strict parsing', async (t) => {
  const net = { network: '10.244.0.0/16', subnetLen: 24 };
  const node = (i: number, extra: object = {}) => ({ name: `n${i}`, underlay: `192.168.0.${i}`, vtepMac: vtepMac(i), subnet: `10.244.${i}.0/24`, ...extra });
  const parse = (doc: unknown) => parseStaticFile(typeof doc === 'string' ? doc : JSON.stringify(doc), '/etc/rtnl/cluster.json');
  const ok = parse({ network: { ...net, vni: 7, port: 8472, mtu: 1400 }, nodes: [node(1, { underlay: 'fd00::1' }), node(2, { vtepMac: '02:AA:00:00:00:02', underlay: 'FD00:0:0::2' })] });
  t.strictSame(ok.network, { ...net, vni: 7, port: 8472, mtu: 1400 });
  t.strictSame(ok.nodes[1], { name: 'n2', vtepMac: '02:aa:00:00:00:02', underlay: 'fd00::2', subnet: '10.244.2.0/24' }, 'normalised: MAC lower case, canonical address');
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{', /cluster\.json: not valid JSON/],
    ['unknown top-level field', { network: net, nodes: [], extra: 1 }, /extra: unknown field/],
    ['network missing', { nodes: [] }, /network: expected an object/],
    ['network with host bits', { network: { ...net, network: '10.244.1.0/16' }, nodes: [] }, /network\.network: 10\.244\.1\.0\/16 has host bits set: did you mean 10\.244\.0\.0\/16/],
    ['subnetLen too short', { network: { ...net, subnetLen: 16 }, nodes: [] }, /network\.subnetLen: expected an integer from 17 to 32/],
    ['vni too big', { network: { ...net, vni: 1 << 24 }, nodes: [] }, /network\.vni/],
    ['unknown network field', { network: { ...net, backend: 'x' }, nodes: [] }, /network\.backend: unknown field/],
    ['nodes not an array', { network: net, nodes: {} }, /nodes: expected an array/],
    ['bad underlay', { network: net, nodes: [node(1), node(2, { underlay: 'nope' })] }, /nodes\[1\] \("n2"\)\.underlay: expected an IPv4 or IPv6 address/],
    ['mixed underlay families', { network: net, nodes: [node(1), node(2, { underlay: 'fd00::2' })] }, /nodes\[1\] \("n2"\)\.underlay: IPv6, but nodes\[0\]/],
    ['multicast MAC', { network: net, nodes: [node(1, { vtepMac: '01:00:5e:00:00:01' })] }, /nodes\[0\] \("n1"\)\.vtepMac: expected a unicast MAC/],
    ['subnet outside the network', { network: net, nodes: [node(1, { subnet: '10.245.1.0/24' })] }, /\.subnet: 10\.245\.1\.0\/24 is not inside network 10\.244\.0\.0\/16/],
    ['subnet of the wrong length', { network: net, nodes: [node(1, { subnet: '10.244.0.0/25' })] }, /\.subnet: 10\.244\.0\.0\/25 is not a \/24/],
    ['subnet with host bits', { network: net, nodes: [node(1, { subnet: '10.244.1.1/24' })] }, /\.subnet: expected a prefix without host bits/],
    ['unknown node field', { network: net, nodes: [node(1, { pods: 3 })] }, /nodes\[0\] \("n1"\)\.pods: unknown field/],
    ['no name', { network: net, nodes: [node(1, { name: '' })] }, /nodes\[0\] \(""\)\.name: expected a non-empty string/],
    ['duplicate name', { network: net, nodes: [node(1), node(2, { name: 'n1' })] }, /nodes\[1\] \("n1"\)\.name: n1 is also nodes\[0\]'s/],
    ['duplicate subnet', { network: net, nodes: [node(1), node(2, { subnet: '10.244.1.0/24' })] }, /nodes\[1\] \("n2"\)\.subnet: 10\.244\.1\.0\/24 is also nodes\[0\]'s/],
    ['duplicate underlay', { network: net, nodes: [node(1), node(2, { underlay: '192.168.0.1' })] }, /nodes\[1\] \("n2"\)\.underlay: 192\.168\.0\.1 is also nodes\[0\]'s/],
    ['duplicate MAC', { network: net, nodes: [node(1), node(2, { vtepMac: vtepMac(1) })] }, /nodes\[1\] \("n2"\)\.vtepMac: .* is also nodes\[0\]'s/],
  ];
  for (const [what, doc, msg] of cases) t.throws(() => parse(doc), { name: 'StaticFileError', message: msg, path: '/etc/rtnl/cluster.json' }, what);
  t.throws(() => readStaticFile('/nonexistent/cluster.json'), StaticFileError, 'a missing file');
  await t.rejects(new StaticMembership('/tmp/no-such-cluster.json').start(() => { t.fail('delivered'); }), StaticFileError, 'start() with a missing file rejects');
});

t.test('static membership: live reload, atomic replace, bad edits kept out', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-static-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'cluster.json');
  const doc = (n: number) => JSON.stringify({
    network: { network: '10.244.0.0/16', subnetLen: 24 },
    nodes: Array.from({ length: n }, (_, i) => ({ name: `n${i}`, underlay: `192.168.0.${i + 1}`, vtepMac: vtepMac(i + 1), subnet: `10.244.${i}.0/24` })),
  });
  fs.writeFileSync(file, doc(2));
  const got: number[] = [];
  const warnings: string[] = [];
  let wake: (() => void) | undefined;
  const until = (pred: () => boolean) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), 3000);
    wake = () => {
      if (!pred()) return;
      clearTimeout(timer);
      resolve();
    };
  });
  const m = new StaticMembership(file, { debounceMs: 30, onWarning: (w) => { warnings.push(w); wake?.(); } });
  let running = 0;
  await m.start(async (members) => {
    t.equal(running++, 0, 'never called concurrently');
    await sleep(10);
    got.push(members.records.length);
    running--;
    wake?.();
  });
  t.teardown(() => m.stop());
  t.strictSame(got, [2], 'the nodes at start');

  let p = until(() => got.length === 2);
  fs.writeFileSync(file, doc(3));
  await p;
  t.strictSame(got, [2, 3], 'an in-place write is delivered');

  p = until(() => got.length === 3);
  fs.writeFileSync(`${file}.new`, doc(4));
  fs.renameSync(`${file}.new`, file);
  await p;
  t.strictSame(got, [2, 3, 4], 'an atomic rename-replace is delivered');

  p = until(() => warnings.length === 1);
  fs.writeFileSync(file, '{"network": {}');
  await p;
  t.match(warnings[0], /cluster\.json: not valid JSON.*keeping the last good membership/, 'a bad edit is a warning');
  p = until(() => warnings.length === 2);
  fs.writeFileSync(file, doc(4).replace('"n1"', '"n0"'));
  await p;
  t.match(warnings[1], /duplicate|is also nodes\[0\]'s/, 'an invalid one too');
  t.strictSame(got, [2, 3, 4], 'and nothing was delivered');

  p = until(() => got.length === 4);
  fs.writeFileSync(file, doc(1));
  await p;
  t.strictSame(got, [2, 3, 4, 1], 'a good edit after them is delivered');
  fs.writeFileSync(file, doc(1)); // same content: nothing to deliver
  await sleep(150);
  await m.stop();
  fs.writeFileSync(file, doc(2));
  await sleep(150);
  t.strictSame(got, [2, 3, 4, 1], 'an unchanged rewrite delivers nothing, and nothing comes after stop()');
});
