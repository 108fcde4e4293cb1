// `rtnl-agent --backend host-gw`: three node namespaces on one L2 underlay
// (a bridge in a switch namespace), a real etcd on loopback, one agent
// process per node. Each node routes the others' pod subnets via their
// underlay addresses, with no tunnel device; pods ping across nodes; refused
// peers (an underlay on no connected subnet, a route someone else made in
// the way) are reported and leave the kernel untouched; a node's --cleanup
// removes its routes and, through etcd, its route on the others.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { Cluster, ping, underlayIp } from '../demo/cluster.js';
import { startEtcd } from '../demo/etcd.js';
import { Handle, type Netns, assertBatch, createNetns, deleteNetns } from '../src/index.js';
import { EtcdClient } from '../src/etcd/client.js';
import { HostGw } from '../src/agent/hostgw.js';
import { subnetKey } from '../src/agent/lease.js';
import { OVERLAY_ROUTE_PROTOCOL } from '../src/agent/overlay.js';
import type { AgentStatus } from '../src/agent/state.js';
import { AgentProc, runAgent, waitFor } from './agent-harness.js';
import { assertHome, eventually } from './lib.js';
import { tmpDir } from './plugin-runtime.js';

const TTL = 15;
const PREFIX = '/hg';
const NETWORK = '10.244.0.0/16';
const FAR = { name: 'far', underlay: '10.9.9.9', subnet: '10.244.250.0/24' };
const BLOCKED = { name: 'blocked', underlay: underlayIp(50), subnet: '10.244.251.0/24' };

t.test('host-gw: three nodes on one L2 underlay, pods across nodes, refusals, cleanup', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const c = new Cluster('hg');
  t.teardown(() => c.destroy());
  c.underlay();
  const tmp = tmpDir(t, 'rtnl-hostgw-');
  const nodes = new Map([1, 2, 3].map((i) => [i, c.addBareNode(i)]));
  const agents = new Map<number, AgentProc>();
  t.teardown(async () => { for (const a of agents.values()) await a.stop('SIGKILL'); });
  const dir = (i: number) => `${tmp}/node${i}`;
  const args = (i: number) => [
    '--backend', 'host-gw', '--etcd-endpoints', etcd.endpoint, '--etcd-prefix', PREFIX, '--node-name', `node${i}`, '--netns', nodes.get(i)!.name,
    '--public-ip', underlayIp(i), '--network', NETWORK, '--lease-ttl', String(TTL), '--state-dir', dir(i), '--no-cni', '--log-level', 'debug',
  ];
  const status = (i: number): AgentStatus => JSON.parse(fs.readFileSync(`${dir(i)}/status.json`, 'utf8'));
  const ip = (i: number, ...a: string[]) => execFileSync('ip', ['-n', nodes.get(i)!.name, ...a], { encoding: 'utf8' });
  /** The agent's routes on node i as iproute2 shows them. */
  const ours = (i: number): string[] => (JSON.parse(ip(i, '-j', 'route', 'show', 'proto', String(OVERLAY_ROUTE_PROTOCOL))) as any[])
    .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`).sort();
  const subnetOf = (i: number) => status(i).self!.subnet;
  const expected = (i: number, live: number[]) => [
    ...live.filter((j) => j !== i).map((j) => `${subnetOf(j)} via ${underlayIp(j)} dev underlay`),
    ...(i === 1 ? [] : [`${BLOCKED.subnet} via ${BLOCKED.underlay} dev underlay`]),
  ].sort();
  const converged = (live: number[], ms = 30_000) => waitFor(
    () => live.every((i) => { try { return JSON.stringify(ours(i)) === JSON.stringify(expected(i, live)); } catch { return false; } }),
    ms, `host-gw routes on nodes ${live.join(',')} to match the membership`);

  // Before the agents: two records to refuse, and on node1 a route to one of their subnets that no agent made.
  const client = new EtcdClient({ endpoints: [etcd.endpoint] });
  t.teardown(() => client.close());
  for (const r of [FAR, BLOCKED]) await client.put(subnetKey(PREFIX, r.subnet), JSON.stringify(r));
  ip(1, 'route', 'add', BLOCKED.subnet, 'via', underlayIp(3), 'proto', 'static');
  const staticBefore = ip(1, '-d', 'route', 'show', BLOCKED.subnet);

  for (const i of [1, 2, 3]) agents.set(i, new AgentProc(args(i)));
  for (const i of [1, 2, 3]) await agents.get(i)!.logged('joined');
  await converged([1, 2, 3]);
  t.pass('every node routes to the others\' subnets via their underlay addresses (ip route show proto 62)');

  t.test('no tunnel: no VXLAN (or any other) device was made, records carry no VTEP MAC', async (t) => {
    for (const i of [1, 2, 3]) {
      const kinds = (JSON.parse(ip(i, '-j', '-d', 'link', 'show')) as any[]).map((l) => `${l.ifname}:${l.linkinfo?.info_kind ?? ''}`);
      t.strictSame(kinds.sort(), ['lo:', 'underlay:veth'], `node${i}: only lo and the underlay`);
      t.equal(status(i).self!.vtepMac, undefined, `node${i}'s record has no vtepMac`);
    }
  });

  const pods: Netns[] = [];
  t.teardown(() => { for (const [k, ns] of pods.entries()) { ns.close(); try { deleteNetns(`hg-pod${k + 1}`); } catch { /* gone */ } } });
  const podIp = (i: number) => subnetOf(i).replace(/0\/24$/, '10');

  t.test('pods (a veth into each node, an address of its subnet) ping across nodes', async (t) => {
    for (const i of [1, 2, 3]) {
      const ns = createNetns(`hg-pod${i}`);
      pods.push(ns);
      const h = nodes.get(i)!.h;
      h.linkAdd({ kind: 'veth', name: 'pod', up: true, peer: { name: 'eth0', netns: ns } });
      const gw = subnetOf(i).replace(/0\/24$/, '1');
      h.addrAdd({ link: h.linkGet('pod').index, address: `${gw}/24` });
      const ph = new Handle(ns);
      try {
        const eth0 = ph.linkGet('eth0').index;
        assertBatch(ph.batch((b) => {
          b.linkSetUp('lo');
          b.linkSetUp(eth0);
          b.addrAdd({ link: eth0, address: `${podIp(i)}/24`, flags: ['nodad'] });
          b.routeAdd({ dst: 'default', gateway: gw });
        }));
      } finally {
        ph.close();
      }
    }
    for (const a of [1, 2, 3]) for (const b of [1, 2, 3]) if (a !== b) t.ok(ping(`hg-pod${a}`, podIp(b)) >= 0, `pod on node${a} -> pod on node${b} (${podIp(b)})`);
  });

  t.test('refused peers: an underlay on no connected subnet, a route someone else made', async (t) => {
    for (const i of [1, 2, 3]) {
      const rejected = status(i).rejected;
      t.match(rejected.find((r) => r.name === 'far'), { reason: /underlay 10\.9\.9\.9 is on no directly connected subnet of this node/ }, `node${i} refuses far`);
      t.notOk(ip(i, 'route', 'show', FAR.subnet).trim(), `node${i} has no route to ${FAR.subnet}`);
    }
    t.match(status(1).rejected.find((r) => r.name === 'blocked'), { reason: /a route to 10\.244\.251\.0\/24 the agent did not make is in the way \(protocol static/ }, 'node1 refuses blocked');
    t.equal(ip(1, '-d', 'route', 'show', BLOCKED.subnet), staticBefore, "node1's static route is exactly as it was");
    t.match(ip(2, 'route', 'show', BLOCKED.subnet), /via 192\.168\.100\.50 dev underlay proto 62/, 'node2, with nothing in the way, routes it');
    t.ok(agents.get(1)!.logs.some((l) => l.msg === 'record rejected' && l.name === 'far' && /no directly connected subnet/.test(String(l.reason))), 'the refusal is logged');
    const st = runAgent(['status', '--state-dir', dir(1)]);
    t.equal(st.code, 0, 'status: healthy (refused records are no problem of the node)');
    t.match(st.stdout, /backend: host-gw/);
    t.match(st.stdout, /routes\s+2 learned, 2 missing, 0 stale/, 'status lists the routes');
    t.match(st.stdout, /missing\s+10\.244\.250\.0\/24 10\.244\.251\.0\/24/);
    const r2 = status(2).routes!;
    t.strictSame({ ...r2, learned: [...r2.learned].sort() }, { learned: [BLOCKED.subnet, subnetOf(1), subnetOf(3)].sort(), missing: [FAR.subnet], stale: [] }, 'node2: learned and missing');
  });

  t.test('a route of ours deleted by hand is put back (drift)', async (t) => {
    ip(2, 'route', 'del', subnetOf(1), 'proto', String(OVERLAY_ROUTE_PROTOCOL));
    await converged([1, 2, 3]);
    t.pass('node2 routes to node1 again');
  });

  t.test('a node leaving with --cleanup: its routes go, and the others drop it at once', async (t) => {
    t.equal(await agents.get(3)!.stop('SIGTERM'), 0, 'SIGTERM: clean exit');
    t.strictSame(ours(3), expected(3, [1, 2, 3]), 'SIGTERM leaves the routes in place');
    const r = runAgent([...args(3), '--cleanup']);
    t.equal(r.code, 0, `cleanup: exit 0 ${r.stderr}`);
    t.strictSame(ours(3), [], "node3's routes are gone");
    const ms = await converged([1, 2], TTL * 1000 - 1000);
    t.pass(`nodes 1 and 2 dropped node3's subnet in ${ms} ms, before the ${TTL} s TTL`);
    t.ok(ping('hg-pod1', podIp(2)) >= 0, 'pods on nodes 1 and 2 still reach each other');
  });
  assertHome(t);
});

t.test('host-gw with a static file: records without vtepMac; vxlan refuses them', async (t) => {
  const c = new Cluster('hs');
  t.teardown(() => c.destroy());
  c.underlay();
  const tmp = tmpDir(t, 'rtnl-hostgw-static-');
  const file = `${tmp}/cluster.json`;
  const node = (i: number) => ({ name: `node${i}`, underlay: underlayIp(i), subnet: `10.98.${i}.0/24` });
  fs.writeFileSync(file, JSON.stringify({ network: { network: '10.98.0.0/16', subnetLen: 24 }, nodes: [1, 2].map(node) }));
  const nodes = [1, 2].map((i) => c.addBareNode(i));
  const args = (i: number, backend: string) => ['--backend', backend, '--static', file, '--node-name', `node${i}`, '--netns', nodes[i - 1]!.name,
    '--public-ip', underlayIp(i), '--state-dir', `${tmp}/s${i}`, '--no-cni'];
  const agents = [1, 2].map((i) => new AgentProc(args(i, 'host-gw')));
  t.teardown(async () => { for (const a of agents) await a.stop('SIGKILL'); });
  const routes = (i: number) => nodes[i - 1]!.h.routeList({ family: 4, protocol: OVERLAY_ROUTE_PROTOCOL }).map((r) => `${r.dst} via ${r.gateway}`);
  await waitFor(() => routes(1).length === 1 && routes(2).length === 1, 30_000, 'two nodes to route to each other');
  t.strictSame(routes(1), [`10.98.2.0/24 via ${underlayIp(2)}`]);
  t.strictSame(routes(2), [`10.98.1.0/24 via ${underlayIp(1)}`]);
  for (const a of agents) await a.stop('SIGTERM');
  const r = runAgent([...args(1, 'vxlan'), '--state-dir', `${tmp}/v1`]);
  t.equal(r.code, 1, 'vxlan: start fails');
  t.match(r.stderr, /node node1 has no vtepMac, which the vxlan backend needs/);
  t.match(runAgent([...args(1, 'host-gw'), '--device', 'x']), { code: 2, stderr: /--device applies to the vxlan backend/ });
  t.match(runAgent([...args(1, 'geneve')]), { code: 2, stderr: /--backend: expected one of vxlan, host-gw, bgp, got "geneve"/ });
});

t.test('HostGw on its own: an IPv6 underlay, drift reported, cleanup removes only its routes', async (t) => {
  const c = new Cluster('h6');
  t.teardown(() => c.destroy());
  c.underlay();
  const ul6 = (i: number) => `fd00:100::${i}`;
  const sub6 = (i: number) => `fd00:244:0:${i}::/64`;
  const nodes = [1, 2].map((i) => {
    const n = c.addBareNode(i);
    n.h.addrAdd({ link: n.underlay, address: `${ul6(i)}/64`, flags: ['nodad'] });
    n.h.addrAdd({ link: n.h.linkGet('lo').index, address: `fd00:244:0:${i}::1/128`, flags: ['nodad'] });
    execFileSync('ip', ['netns', 'exec', n.name, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    return { ...n, gw: new HostGw({ handle: n.h, netns: n.ns, local: ul6(i), subnet: sub6(i) }) };
  });
  const records = [1, 2].map((i) => ({ name: `n${i}`, underlay: ul6(i), subnet: sub6(i) }));
  for (const n of nodes) {
    t.match(n.gw.ensure(), { mtu: 1500, replaced: false }, `${n.name}: nothing to make, the underlay's MTU`);
    t.match(n.gw.sync(records), { added: 1, removed: 0, refused: [] });
  }
  const n1 = nodes[0]!;
  const routes6 = (n: typeof n1) => (JSON.parse(execFileSync('ip', ['-n', n.name, '-6', '-j', 'route', 'show', 'proto', String(OVERLAY_ROUTE_PROTOCOL)], { encoding: 'utf8' })) as any[])
    .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`);
  t.strictSame(routes6(n1), [`${sub6(2)} via ${ul6(2)} dev underlay`], 'iproute2: the route via the IPv6 underlay');
  // The underlay's link-local addresses may still be tentative (DAD): neighbour discovery waits for them.
  const ping6 = () => execFileSync('ip', ['netns', 'exec', n1.name, 'ping', '-n', '-c', '1', '-W', '2', '-I', 'fd00:244:0:1::1', 'fd00:244:0:2::1'], { encoding: 'utf8' });
  t.ok(await eventually(() => { try { return /1 received/.test(ping6()); } catch { return false; } }, 15_000), 'node1 reaches an address of node2\'s subnet');
  t.match(n1.gw.sync(records), { unchanged: 1, added: 0 }, 'steady: nothing sent');
  t.strictSame(n1.gw.status(), { learned: [sub6(2)], missing: [], stale: [] });

  let drifts = 0;
  let wake: (() => void) | undefined;
  n1.gw.startWatching(() => { drifts++; wake?.(); }, { debounceMs: 30 });
  t.teardown(() => n1.gw.stop());
  const drifted = new Promise<void>((r) => (wake = r));
  execFileSync('ip', ['-n', n1.name, '-6', 'route', 'del', sub6(2)]);
  await drifted;
  t.equal(drifts, 1, 'a route of ours deleted by hand: onDrift');
  t.match(n1.gw.sync(records), { added: 1 }, 'and the sync puts it back');
  execFileSync('ip', ['-n', n1.name, '-6', 'route', 'add', 'fd00:77::/64', 'via', ul6(2), 'proto', 'static']);
  n1.gw.cleanup();
  t.strictSame(routes6(n1), [], 'cleanup: no route of ours');
  t.match(execFileSync('ip', ['-n', n1.name, '-6', 'route', 'show', 'fd00:77::/64'], { encoding: 'utf8' }), /proto static/, 'a static route stays');
});
