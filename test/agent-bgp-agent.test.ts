// `rtnl-agent --backend bgp` end to end: a real etcd, three node namespaces
// on a veth underlay, one agent process per node, each running its node's
// BIRD. Pods attached by the rtnl plugin from each agent's conflist reach
// each other over routes BGP installed; status reports them; an agent
// restart flaps nothing on the others; a node's --cleanup withdraws its
// subnet and stops its speaker; no speaker outlives the run.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { Cluster, ping, tcpEcho, underlayIp } from '../demo/cluster.js';
import { startEtcd } from '../demo/etcd.js';
import { type RouteEvent, createNetns, deleteNetns, subscribe } from '../src/index.js';
import type { AgentStatus } from '../src/agent/state.js';
import { AgentProc, runAgent, waitFor } from './agent-harness.js';
import { birdsUnder } from './bgp-harness.js';
import { assertHome } from './lib.js';
import { type Conflist, Runtime, installPlugins, tmpDir } from './plugin-runtime.js';

const HOLD = 6;
const TTL = 15;


t.test('three agents with --backend bgp: routed pods, status, restart, leave', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const c = new Cluster('ba');
  t.teardown(() => c.destroy());
  c.underlay();
  const tmp = tmpDir(t, 'rtnl-bgp-agent-');
  t.teardown(() => { for (const pid of birdsUnder(tmp)) process.kill(pid, 'SIGKILL'); });
  const cniPath = installPlugins(t);
  const nodes = new Map([1, 2, 3].map((i) => [i, c.addBareNode(i)]));
  const agents = new Map<number, AgentProc>();
  t.teardown(async () => { for (const a of agents.values()) await a.stop('SIGKILL'); });
  const dir = (i: number) => `${tmp}/node${i}`;
  const args = (i: number) => [
    '--backend', 'bgp', '--bgp-hold-time', String(HOLD), '--etcd-endpoints', etcd.endpoint, '--node-name', `node${i}`,
    '--netns', nodes.get(i)!.name, '--public-ip', underlayIp(i), '--network', '10.244.0.0/16', '--lease-ttl', String(TTL),
    '--state-dir', dir(i), '--cni-conf-dir', `${dir(i)}/net.d`, '--ipam-data-dir', `${dir(i)}/ipam`, '--log-level', 'debug',
  ];
  const start = (i: number) => {
    const a = new AgentProc(args(i));
    agents.set(i, a);
    return a;
  };
  const status = (i: number): AgentStatus => JSON.parse(fs.readFileSync(`${dir(i)}/status.json`, 'utf8'));
  /** node i's bird routes as iproute2 shows them. */
  const bird = (i: number): string[] => (JSON.parse(execFileSync('ip', ['-n', nodes.get(i)!.name, '-j', 'route', 'show', 'proto', 'bird'], { encoding: 'utf8' })) as any[])
    .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`).sort();
  const subnetOf = (i: number) => status(i).self!.subnet;
  const expected = (i: number, live: number[]) => live.filter((j) => j !== i).map((j) => `${subnetOf(j)} via ${underlayIp(j)} dev underlay`).sort();
  const converged = (live: number[], ms = 60_000) => waitFor(
    () => live.every((i) => { try { return JSON.stringify(bird(i)) === JSON.stringify(expected(i, live)); } catch { return false; } }),
    ms, `BGP routes on nodes ${live.join(',')}`);

  for (const i of [1, 2, 3]) start(i);
  for (const i of [1, 2, 3]) await agents.get(i)!.logged('joined');
  const ms = await converged([1, 2, 3]);
  t.pass(`every node holds the others' subnets via their underlay, proto bird (${ms} ms after the joins)`);

  t.test('status reports the learned routes; no tunnel device', async (t) => {
    for (const i of [1, 2, 3]) {
      await waitFor(() => status(i).routes?.learned.length === 2, 30_000, `node${i}'s status to list two learned routes`);
      const r = status(i).routes!;
      t.strictSame({ ...r, learned: [...r.learned].sort() }, { learned: [1, 2, 3].filter((j) => j !== i).map(subnetOf).sort(), missing: [], stale: [] }, `node${i}: both learned`);
      const kinds = (JSON.parse(execFileSync('ip', ['-n', nodes.get(i)!.name, '-j', '-d', 'link', 'show'], { encoding: 'utf8' })) as any[]).map((l) => l.linkinfo?.info_kind).filter(Boolean);
      t.notOk(kinds.some((k) => k !== 'veth' && k !== 'bridge'), `node${i}: no tunnel device (${kinds.join(',')})`);
    }
    const st = runAgent(['status', '--state-dir', dir(1)]);
    t.equal(st.code, 0, `status: healthy ${st.stdout}`);
    t.match(st.stdout, /routes\s+2 learned, 0 missing, 0 stale/);
  });

  const pods: Array<{ node: number; ns: string; ip: string }> = [];
  t.teardown(() => { for (const p of pods) try { deleteNetns(p.ns); } catch { /* gone */ } });

  t.test('pods from the conflists ping and TCP-connect across nodes', async (t) => {
    for (const i of [1, 2, 3]) {
      const rt = new Runtime(JSON.parse(fs.readFileSync(`${dir(i)}/net.d/10-rtnl.conflist`, 'utf8')) as Conflist);
      const ns = `ba-pod${i}`;
      createNetns(ns).close();
      const out = rt.add({ netns: `/run/netns/${ns}`, node: nodes.get(i)!.name, id: `pod${i}`, cniPath });
      t.equal(out.code, 0, `ADD pod${i}: ${out.stderr}${out.stdout}`);
      pods.push({ node: i, ns, ip: out.json.ips[0].address.replace(/\/\d+$/, '') });
    }
    for (const a of pods) for (const b of pods) if (a !== b) t.ok(ping(a.ns, b.ip) >= 0, `ping ${a.ns} -> ${b.ip}`);
    t.equal(await tcpEcho(pods[0]!.ns, pods[2]!.ns, pods[2]!.ip), pods[0]!.ip, 'TCP node1 -> node3: the server sees the pod address');
  });

  t.test('an agent restart: the speaker keeps running, no route event on the others', async (t) => {
    const seen: RouteEvent[] = [];
    const subs = [2, 3].map((i) => {
      const sub = subscribe({ kinds: ['route'], netns: nodes.get(i)!.ns });
      sub.on('event', (e) => { if (e.kind === 'route' && e.value.protocol === 'bird') seen.push(e); });
      return sub;
    });
    t.teardown(() => { for (const s of subs) s.close(); });
    const before = birdsUnder(dir(1));
    t.equal(before.length, 1, 'node1 has one speaker');
    t.equal(await agents.get(1)!.stop('SIGTERM'), 0, 'SIGTERM: clean exit');
    t.strictSame(birdsUnder(dir(1)), before, 'the speaker outlives the agent');
    const a = start(1);
    await a.logged('joined');
    await waitFor(() => a.logs.some((l) => l.msg === 'synced'), 30_000, 'the restarted agent to sync');
    await new Promise((r) => setTimeout(r, 3000));
    t.strictSame(birdsUnder(dir(1)), before, 'the restarted agent adopted it');
    t.strictSame(seen.map((e) => `${e.action} ${e.value.dst}`), [], 'nodes 2 and 3 saw no bird route change');
    t.ok(ping(pods[1]!.ns, pods[0]!.ip) >= 0, 'node2\'s pod still reaches node1\'s');
  });

  t.test('a node leaving with --cleanup: the others drop its subnet, its speaker stops', async (t) => {
    t.equal(await agents.get(3)!.stop('SIGTERM'), 0, 'SIGTERM: clean exit');
    const t0 = Date.now();
    const r = runAgent([...args(3), '--cleanup']);
    t.equal(r.code, 0, `cleanup: exit 0 ${r.stderr}`);
    const waited = await converged([1, 2], (HOLD + 30) * 1000);
    t.pass(`nodes 1 and 2 dropped node3's subnet ${Date.now() - t0} ms after --cleanup began (${waited} ms after it ended; hold time ${HOLD} s)`);
    t.strictSame(bird(3), [], 'node3 has no bird route left');
    t.strictSame(birdsUnder(dir(3)), [], 'node3\'s speaker is gone');
    t.ok(ping(pods[0]!.ns, pods[1]!.ip) >= 0, 'pods on nodes 1 and 2 still reach each other');
  });

  t.test('every node cleaned up: no speaker left', async (t) => {
    for (const i of [1, 2]) {
      t.equal(await agents.get(i)!.stop('SIGTERM'), 0, `node${i}: SIGTERM`);
      t.equal(runAgent([...args(i), '--cleanup']).code, 0, `node${i}: --cleanup`);
      t.strictSame(bird(i), [], `node${i}: no bird route left`);
    }
    t.strictSame(birdsUnder(tmp), [], 'no bird process names the test\'s directory');
  });
  assertHome(t);
});
