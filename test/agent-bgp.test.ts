// The bgp backend against real speakers: three node namespaces on a veth
// underlay, a BIRD per node started by the backend, pods on each node's
// bridge. Pods reach each other through routes BGP installed (no tunnel),
// an adopted speaker flaps nothing, a killed one is restarted, a hostile
// member's announcements outside its own subnet are filtered, a node's
// cleanup withdraws its subnet from the others, and no speaker is left.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { Cluster, type ClusterNode, gatewayIp, ping, tcpEcho, underlayIp } from '../demo/cluster.js';
import { type RouteEvent, subscribe } from '../src/index.js';
import { BgpBackend } from '../src/agent/bgp/backend.js';
import { BirdSpeaker } from '../src/agent/bgp/speaker.js';
import type { NodeRecord } from '../src/agent/types.js';
import { waitFor } from './agent-harness.js';
import { birdsUnder } from './bgp-harness.js';
import { assertHome } from './lib.js';

const NETWORK = { network: '10.244.0.0/16', subnetLen: 24 };
const HOLD = 6;
const ipj = (ns: string, args: string[]): any => JSON.parse(execFileSync('ip', ['-n', ns, '-j', ...args], { encoding: 'utf8' }));
const record = (i: number): NodeRecord => ({ name: `node${i}`, underlay: underlayIp(i), subnet: `10.244.${i}.0/24` });

t.test('three nodes, a BIRD each: routed pods, restart, hostile member, leave', async (t) => {
  const dir = fs.mkdtempSync('/run/rtnl-bgp-');
  const c = new Cluster('bg');
  const backends = new Map<number, BgpBackend>();
  t.teardown(async () => {
    for (const b of backends.values()) await b.cleanup().catch(() => undefined);
    for (const pid of birdsUnder(dir)) process.kill(pid, 'SIGKILL');
    c.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  c.underlay();
  const nodes = new Map<number, ClusterNode>();
  for (const i of [1, 2, 3]) {
    const n = c.addBareNode(i);
    n.h.linkAdd({ kind: 'bridge', name: 'cni0', mtu: 1450, up: true });
    const bridge = n.h.linkGet('cni0').index;
    n.h.addrAdd({ link: bridge, address: `${gatewayIp(i)}/24` });
    nodes.set(i, { i, name: n.name, ns: n.ns, h: n.h, bridge, vxlan: 0, vtepMac: '', pods: [] });
  }
  const make = (i: number) => {
    const n = nodes.get(i)!;
    const b = new BgpBackend({ handle: n.h, netns: n.ns, self: record(i), network: NETWORK, settings: { asn: 64512, routeReflectors: [], holdTimeSec: HOLD, dir: `${dir}/node${i}` } });
    backends.set(i, b);
    return b;
  };
  const members = [1, 2, 3].map(record);
  for (const i of [1, 2, 3]) {
    const b = make(i);
    const ready = await b.ensure();
    t.equal(ready.mtu, 1500, `node${i}: the pods' MTU is the underlay's (no encapsulation)`);
    const s = await b.sync(members);
    t.match(s, { added: 2, removed: 0, unchanged: 0, skipped: 0 }, `node${i}: two peers configured, itself left out`);
  }
  /** The bird routes of node i as iproute2 shows them: dst -> gateway. */
  const birdRoutes = (i: number): Record<string, string> => Object.fromEntries(
    ipj(nodes.get(i)!.name, ['route', 'show', 'proto', 'bird']).map((r: any) => [r.dst, `${r.gateway} ${r.dev}`]));
  const expected = (i: number, live = [1, 2, 3]) => Object.fromEntries(live.filter((j) => j !== i).map((j) => [`10.244.${j}.0/24`, `${underlayIp(j)} underlay`]));
  const converged = (live: number[]) => waitFor(() => live.every((i) => JSON.stringify(birdRoutes(i)) === JSON.stringify(expected(i, live))), 60_000, `BGP routes on ${live.join(',')}`);
  const ms = await converged([1, 2, 3]);
  t.pass(`full mesh converged in ${ms} ms`);

  t.test('routes are BGP-learned via the peers\' underlay, no tunnel device, the speaker in the node\'s namespace', async (t) => {
    for (const i of [1, 2, 3]) {
      t.same(birdRoutes(i), expected(i), `node${i}: ip route show proto bird`);
      const kinds = ipj(nodes.get(i)!.name, ['-d', 'link', 'show']).map((l: any) => l.linkinfo?.info_kind).filter(Boolean).sort();
      t.same(kinds, ['bridge', 'veth'], `node${i}: a bridge and the underlay veth, no tunnel`);
      const rep = backends.get(i)!.status();
      t.same(rep, { learned: [1, 2, 3].filter((j) => j !== i).map((j) => `10.244.${j}.0/24`), missing: [], stale: [] }, `node${i}: status reports both learned`);
      const pid = backends.get(i)!.speaker.pid()!;
      t.equal(fs.statSync(`/proc/${pid}/ns/net`).ino, nodes.get(i)!.ns.inode, `node${i}: bird (pid ${pid}) runs in the node's namespace`);
    }
  });

  t.test('pods on three nodes ping and TCP-connect across nodes', async (t) => {
    for (const i of [1, 2, 3]) c.addPod(nodes.get(i)!, 1);
    const pods = [1, 2, 3].map((i) => nodes.get(i)!.pods[0]!);
    for (const a of pods) for (const b of pods) if (a !== b) t.ok(ping(a.name, b.ip) >= 0, `ping ${a.name} -> ${b.ip}`);
    t.equal(await tcpEcho(pods[0]!.name, pods[2]!.name, pods[2]!.ip), pods[0]!.ip, 'TCP node1 -> node3: the server sees the pod address');
  });

  t.test('a backend restart adopts the running speaker: no route event on the others', async (t) => {
    const seen: RouteEvent[] = [];
    const subs = [2, 3].map((i) => {
      const sub = subscribe({ kinds: ['route'], netns: nodes.get(i)!.ns });
      sub.on('event', (e) => { if (e.kind === 'route' && e.value.family === 4 && e.value.protocol === 'bird') seen.push(e); });
      return sub;
    });
    t.teardown(() => { for (const s of subs) s.close(); });
    const old = backends.get(1)!;
    const pid = old.speaker.pid();
    old.stop();
    const b = make(1);
    await b.ensure();
    const s = await b.sync(members);
    t.equal(b.speaker.pid(), pid, 'the same speaker process, adopted');
    t.match(s, { added: 2 }, 'the new backend configures both peers (a reload BIRD finds unchanged)');
    await new Promise((r) => setTimeout(r, 3000));
    t.same(seen.map((e) => `${e.action} ${e.value.dst}`), [], 'nodes 2 and 3 saw no bird route change');
    t.same(birdRoutes(2), expected(2), 'node2 still routes to node1');
  });

  t.test('a killed speaker is restarted by the supervisor and the routes come back', async (t) => {
    const b = backends.get(2)!;
    const pid = b.speaker.pid()!;
    let drift = 0;
    b.startWatching(() => {
      drift++;
      void b.ensure().then(() => b.sync(members));
    });
    t.teardown(() => b.stop());
    process.kill(pid, 'SIGKILL');
    await waitFor(() => { const p = b.speaker.pid(); return p !== undefined && p !== pid; }, 30_000, 'a new speaker on node2');
    t.ok(drift >= 1, 'the supervisor reported the dead speaker');
    await converged([1, 2, 3]);
    t.same(b.status(), { learned: ['10.244.1.0/24', '10.244.3.0/24'], missing: [], stale: [] }, 'node2 learned both again');
  });

  t.test('a hostile member announcing a default route, the underlay, an outside prefix and node1\'s subnet gets only its own subnet in', async (t) => {
    const hn = c.addBareNode(9);
    const hostile = new BirdSpeaker({ dir: `${dir}/hostile`, netns: hn.ns });
    t.teardown(() => hostile.stop());
    const evil = ['0.0.0.0/0', '192.168.100.0/24', '10.0.0.0/8', '10.244.1.0/24', '10.244.9.0/24'];
    await hostile.start([
      `router id ${underlayIp(9)};`, 'protocol device {}',
      `protocol static { ipv4; ${evil.map((p) => `route ${p} unreachable;`).join(' ')} }`,
      ...[2, 3].map((j) => `protocol bgp p${j} { local ${underlayIp(9)} as 64512; neighbor ${underlayIp(j)} as 64512; direct; connect delay time 1; ipv4 { import none; export all; next hop self; }; }`),
      '',
    ].join('\n'));
    const withHostile = [...members, record(9)];
    for (const i of [2, 3]) await backends.get(i)!.sync(withHostile);
    for (const i of [2, 3]) {
      await waitFor(() => birdRoutes(i)['10.244.9.0/24'] !== undefined, 60_000, `node${i} to learn 10.244.9.0/24`);
      const est = await hostile.command('show protocols');
      t.match(est.lines.join('\n'), new RegExp(`p${i}\\s+BGP.*Established`), `the hostile speaker's session with node${i} is up`);
      t.same(birdRoutes(i), { ...expected(i), '10.244.9.0/24': `${underlayIp(9)} underlay` }, `node${i}: only 10.244.9.0/24 via the hostile member; 0/0, the underlay, 10/8 and node1's subnet refused`);
      t.equal(ipj(nodes.get(i)!.name, ['route', 'show', 'default']).length, 0, `node${i}: no default route`);
    }
    await hostile.stop();
    for (const i of [2, 3]) await backends.get(i)!.sync(members);
    await converged([1, 2, 3]);
  });

  t.test('a node whose speaker dies and is not restarted is dropped by the others after the hold time (its graceful restart time)', async (t) => {
    const b3 = backends.get(3)!;
    const pid = b3.speaker.pid()!;
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    t.ok(birdRoutes(1)['10.244.3.0/24'], 'just after: node1 still routes to node3 (graceful restart keeps it while node3 may come back)');
    await waitFor(() => [1, 2].every((i) => birdRoutes(i)['10.244.3.0/24'] === undefined), (HOLD + 30) * 1000, 'node3\'s subnet dropped');
    t.pass(`nodes 1 and 2 dropped node3's subnet ${Date.now() - t0} ms after its speaker died (hold time ${HOLD} s)`);
    await b3.ensure();
    await b3.sync(members);
    await converged([1, 2, 3]);
    t.pass('node3\'s speaker started again: back everywhere');
  });

  t.test('a node that cleans up is withdrawn from the others within the hold time; its speaker and routes are gone', async (t) => {
    const b3 = backends.get(3)!;
    const pid = b3.speaker.pid()!;
    const t0 = Date.now();
    await b3.cleanup();
    backends.delete(3);
    const ms = await waitFor(() => [1, 2].every((i) => birdRoutes(i)['10.244.3.0/24'] === undefined), (HOLD + 30) * 1000, 'node3\'s subnet withdrawn');
    t.pass(`node3's subnet left nodes 1 and 2 ${Date.now() - t0} ms after its cleanup began (hold time ${HOLD} s; the route went ${ms} ms after the speaker stopped)`);
    t.same(birdRoutes(3), {}, 'node3 has no bird route left');
    t.same(birdsUnder(`${dir}/node3/`), [], `node3's speaker (pid ${pid}) is gone`);
    t.notOk(fs.existsSync(`${dir}/node3`), 'its files are removed');
    for (const i of [1, 2]) await backends.get(i)!.sync(members.slice(0, 2));
    await converged([1, 2]);
  });

  t.test('no speaker left after every backend cleaned up', async (t) => {
    for (const [i, b] of backends) {
      await b.cleanup();
      t.same(birdRoutes(i), {}, `node${i}: no bird route left`);
    }
    backends.clear();
    t.same(birdsUnder(dir), [], 'no bird process names the test\'s directory');
  });
  assertHome(t);
});

t.test('through a route reflector: clients peer only with it, and learn each other\'s subnets via the originator', async (t) => {
  const dir = fs.mkdtempSync('/run/rtnl-bgp-rr-');
  const c = new Cluster('br');
  const backends: BgpBackend[] = [];
  t.teardown(async () => {
    for (const b of backends) await b.cleanup().catch(() => undefined);
    for (const pid of birdsUnder(dir)) process.kill(pid, 'SIGKILL');
    c.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  c.underlay();
  const ids = [1, 2, 3, 9]; // node9 reflects
  const nodes = new Map(ids.map((i) => [i, c.addBareNode(i)]));
  const members = ids.map(record);
  for (const i of ids) {
    const n = nodes.get(i)!;
    const b = new BgpBackend({ handle: n.h, netns: n.ns, self: record(i), network: NETWORK, settings: { asn: 65000, routeReflectors: [underlayIp(9)], holdTimeSec: HOLD, dir: `${dir}/node${i}` } });
    backends.push(b);
    await b.ensure();
    await b.sync(members);
  }
  const routes = (i: number): string[] => ipj(nodes.get(i)!.name, ['route', 'show', 'proto', 'bird']).map((r: any) => `${r.dst} via ${r.gateway}`).sort();
  const want = (i: number) => ids.filter((j) => j !== i).map((j) => `10.244.${j}.0/24 via ${underlayIp(j)}`).sort();
  const ms = await waitFor(() => ids.every((i) => JSON.stringify(routes(i)) === JSON.stringify(want(i))), 60_000, 'routes through the reflector');
  t.pass(`every node learned every other subnet in ${ms} ms`);
  for (const i of ids) t.same(routes(i), want(i), `node${i}: the others' subnets via their own underlay (the reflector keeps the next hop)`);
  for (const [k, i] of [1, 2, 3].entries()) {
    const p = await backends[k]!.speaker.command('show protocols');
    const sessions = p.lines.filter((l) => /\bBGP\b/.test(l));
    t.equal(sessions.length, 1, `node${i} has one BGP session`);
    t.match(sessions[0], /^peer_192_168_100_9\s.*Established/, `node${i}: with the reflector`);
  }
  const rr = await backends[3]!.speaker.command('show protocols');
  t.equal(rr.lines.filter((l) => /\bBGP\b.*Established/.test(l)).length, 3, 'the reflector has a session with each client');
});
