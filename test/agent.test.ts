// The node agent end to end: a real etcd on loopback, three (then four)
// node namespaces on a veth underlay, one rtnl-agent process per node
// configuring its node namespace through namespace-bound sockets, and pods
// attached by the rtnl CNI plugin from the conflist each agent wrote.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { Cluster, ping, tcpEcho, underlayIp } from '../demo/cluster.js';
import { type RouteEvent, createNetns, deleteNetns, subscribe } from '../src/index.js';
import { Agent } from '../src/agent/agent.js';
import { jsonLogger } from '../src/agent/log.js';
import type { AgentStatus } from '../src/agent/state.js';
import { AgentProc, runAgent, waitFor } from './agent-harness.js';
import { startEtcd } from '../demo/etcd.js';
import { assertHome } from './lib.js';
import { type Conflist, Runtime, installPlugins, tmpDir } from './plugin-runtime.js';

/** Wider than an agent restart on a busy 2-CPU machine (a restart within the TTL must change nothing). */
const TTL = 15;
const ip = (args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const bridge = (args: string[]) => execFileSync('bridge', args, { encoding: 'utf8' });
const NETWORK = '10.244.0.0/16';

t.test('three nodes through etcd: leases, sync, pods across nodes, restarts, expiry, cleanup', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const c = new Cluster('ag');
  t.teardown(() => c.destroy());
  c.underlay();
  const tmp = tmpDir(t, 'rtnl-agent-');
  const cniPath = installPlugins(t);
  const agents = new Map<number, AgentProc>();
  t.teardown(async () => { for (const a of agents.values()) await a.stop('SIGKILL'); });

  const nodes = new Map<number, ReturnType<Cluster['addBareNode']>>();
  const dir = (i: number) => `${tmp}/node${i}`;
  const args = (i: number) => [
    '--etcd-endpoints', etcd.endpoint, '--node-name', `node${i}`, '--netns', nodes.get(i)!.name,
    '--public-ip', underlayIp(i), '--network', NETWORK, '--subnet-len', '24', '--lease-ttl', String(TTL),
    '--state-dir', dir(i), '--cni-conf-dir', `${dir(i)}/net.d`, '--ipam-data-dir', `${dir(i)}/ipam`, '--log-level', 'debug',
  ];
  const status = (i: number): AgentStatus => JSON.parse(fs.readFileSync(`${dir(i)}/status.json`, 'utf8'));
  const start = (i: number) => {
    const a = new AgentProc(args(i));
    agents.set(i, a);
    return a;
  };
  /** The subnets node i routes over its VXLAN device (the agent's routes), sorted. */
  const routed = (i: number): string[] => {
    const h = nodes.get(i)!.h;
    const dev = h.linkGet('rtnl.1').index;
    return h.routeList({ link: dev }).filter((r) => r.gateway !== undefined).map((r) => r.dst).sort();
  };
  const subnetOf = (i: number) => status(i).self!.subnet;
  const othersOf = (i: number, live: number[]) => live.filter((j) => j !== i).map(subnetOf).sort();
  const converged = (live: number[], ms = 30_000) => waitFor(
    () => live.every((i) => { try { return JSON.stringify(routed(i)) === JSON.stringify(othersOf(i, live)); } catch { return false; } }),
    ms, `routes on nodes ${live.join(',')} to match the membership`);

  for (const i of [1, 2, 3]) nodes.set(i, c.addBareNode(i));
  for (const i of [1, 2, 3]) start(i);
  for (const i of [1, 2, 3]) await agents.get(i)!.logged('joined');
  await converged([1, 2, 3]);
  const subnets = [1, 2, 3].map(subnetOf);
  t.equal(new Set(subnets).size, 3, `three distinct subnets: ${subnets.join(' ')}`);
  for (const s of subnets) t.match(s, /^10\.244\.\d+\.0\/24$/, `${s} is a /24 of ${NETWORK}`);

  t.test('the kernel holds what the agent reports, and iproute2 agrees', async (t) => {
    const s1 = status(1);
    t.equal(s1.peers.length, 2, 'node1 has two peers');
    const neigh = JSON.parse(ip(['-n', nodes.get(1)!.name, '-j', 'neigh', 'show', 'dev', 'rtnl.1']));
    const fdb = JSON.parse(bridge(['-n', nodes.get(1)!.name, '-j', 'fdb', 'show', 'dev', 'rtnl.1']));
    for (const p of s1.peers) {
      const vtep = p.subnet.replace(/\/\d+$/, '');
      t.ok(neigh.some((n: any) => n.dst === vtep && n.lladdr === p.vtepMac && n.state.includes('PERMANENT')), `neighbour ${vtep} -> ${p.vtepMac}`);
      t.ok(fdb.some((e: any) => e.mac === p.vtepMac && e.dst === p.underlay), `FDB ${p.vtepMac} -> ${p.underlay}`);
      const r = JSON.parse(ip(['-n', nodes.get(1)!.name, '-j', 'route', 'show', p.subnet]))[0];
      t.match(r, { dst: p.subnet, gateway: vtep, dev: 'rtnl.1', flags: ['onlink'] }, `route ${p.subnet} via ${vtep} onlink`);
    }
    const st = runAgent(['status', '--state-dir', dir(1)]);
    t.equal(st.code, 0, 'status: healthy');
    t.match(st.stdout, new RegExp(`subnet\\s+${s1.self!.subnet.replace(/\./g, '\\.')}`), 'status shows the lease');
    t.match(st.stdout, /peers\s+2/, 'status shows two peers');
    const sj = JSON.parse(runAgent(['status', '--state-dir', dir(1), '--json']).stdout);
    t.equal(sj.running, true);
  });

  const pods: Array<{ node: number; ns: string; ip: string }> = [];
  t.teardown(() => { for (const p of pods) try { deleteNetns(p.ns); } catch { /* gone */ } });

  t.test('pods from the written conflists reach each other across nodes (ping, TCP)', async (t) => {
    for (const i of [1, 2, 3]) {
      const list = JSON.parse(fs.readFileSync(`${dir(i)}/net.d/10-rtnl.conflist`, 'utf8')) as Conflist;
      t.equal((list.plugins[0]!.ipam as any).ranges[0][0].subnet, subnetOf(i), `node${i}'s conflist hands out its leased subnet`);
      const rt = new Runtime(list);
      for (const j of [1, 2]) {
        const ns = `ag-pod${i}-${j}`;
        createNetns(ns).close();
        pods.push({ node: i, ns, ip: '' });
        const out = rt.add({ netns: `/run/netns/${ns}`, node: nodes.get(i)!.name, id: `pod${i}-${j}`, cniPath });
        t.equal(out.code, 0, `ADD pod${i}-${j}: ${out.stderr}${out.stdout}`);
        pods[pods.length - 1]!.ip = out.json.ips[0].address.replace(/\/\d+$/, '');
      }
    }
    for (const a of pods) for (const b of pods) {
      if (a.node !== b.node && (a.ns.endsWith('-1') || b.ns.endsWith('-1'))) t.ok(ping(a.ns, b.ip) >= 0, `ping ${a.ns} ${a.ip} -> ${b.ns} ${b.ip}`);
    }
    const [a, b] = [pods[0]!, pods[5]!];
    t.equal(await tcpEcho(a.ns, b.ns, b.ip), a.ip, `TCP ${a.ns} -> ${b.ns}: the server sees the pod address`);
  });

  t.test('an agent restart removes and re-adds nothing', async (t) => {
    const seen: RouteEvent[] = [];
    const subs = [1, 2].map((i) => {
      const sub = subscribe({ kinds: ['route'], netns: { name: nodes.get(i)!.name } });
      // IPv4 only: pod veths' IPv6 link-local routes appear on their own schedule (DAD), unrelated to the agent.
      sub.on('event', (e) => { if (e.kind === 'route' && e.value.family === 4) seen.push(e); });
      return sub;
    });
    t.teardown(() => { for (const s of subs) s.close(); });
    const before = subnetOf(1);
    t.equal(await agents.get(1)!.stop('SIGTERM'), 0, 'SIGTERM: clean exit');
    t.same(routed(1), othersOf(1, [1, 2, 3]), 'routes stay in place while the agent is down');
    const a = start(1);
    await a.logged('synced');
    await new Promise((r) => setTimeout(r, 500));
    t.equal(subnetOf(1), before, 'same subnet after the restart');
    t.same(seen.map((e) => `${e.action} ${e.value.dst}`), [], 'no route event on node1 or node2');
    const sync = a.logs.find((l) => l.msg === 'synced');
    t.match(sync, { added: 0, updated: 0, removed: 0 }, 'the first sync after the restart changed nothing');
  });

  t.test('etcd restarted: the agents recover and see a new node', async (t) => {
    await etcd.restart();
    nodes.set(4, c.addBareNode(4));
    start(4);
    await agents.get(4)!.logged('joined', 60_000);
    await converged([1, 2, 3, 4], 60_000);
    t.pass('all four nodes route to each other after the etcd restart');
    await waitFor(() => [1, 2, 3].every((i) => status(i).problem === undefined), 30_000, 'no problem reported');
  });

  t.test('a node that stops: its routes vanish from the others after the lease TTL', async (t) => {
    const t0 = Date.now();
    await agents.get(4)!.stop('SIGKILL');
    await converged([1, 2, 3], (TTL + 30) * 1000);
    const ms = Date.now() - t0;
    t.ok(ms >= 1000, `not at once (the lease ran out): ${ms} ms`);
  });

  t.test('--cleanup removes the device, the record, the conflist and the state', async (t) => {
    await agents.get(3)!.stop('SIGTERM');
    const r = runAgent([...args(3), '--cleanup']);
    t.equal(r.code, 0, `cleanup exit code 0: ${r.stderr}`);
    t.throws(() => nodes.get(3)!.h.linkGet('rtnl.1'), { code: 'ENODEV' }, 'device gone');
    t.notOk(fs.existsSync(`${dir(3)}/net.d/10-rtnl.conflist`), 'conflist gone');
    t.notOk(fs.existsSync(`${dir(3)}/status.json`), 'state gone');
    const ms = await converged([1, 2], TTL * 1000 - 1000);
    t.pass(`the others dropped node3 at once (${ms} ms), not after the ${TTL} s TTL`);
  });
  assertHome(t);
});

t.test('static membership: agents follow the file, without etcd', async (t) => {
  const c = new Cluster('as');
  t.teardown(() => c.destroy());
  c.underlay();
  const tmp = tmpDir(t, 'rtnl-agent-static-');
  const file = `${tmp}/cluster.json`;
  const node = (i: number) => ({ name: `node${i}`, underlay: underlayIp(i), vtepMac: `02:00:00:00:00:0${i}`, subnet: `10.99.${i}.0/24` });
  const write = (nodes: number[]) => {
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ network: { network: '10.99.0.0/16', subnetLen: 24 }, nodes: nodes.map(node) }));
    fs.renameSync(`${file}.tmp`, file);
  };
  write([1, 2, 3]);
  const nodes = [1, 2, 3].map((i) => c.addBareNode(i));
  const sock = `${tmp}/cni.sock`;
  const agents = [1, 2, 3].map((i) => new AgentProc(['--static', file, '--node-name', `node${i}`, '--netns', nodes[i - 1]!.name,
    '--public-ip', underlayIp(i), '--state-dir', `${tmp}/s${i}`, '--no-cni', '--log-level', 'debug', ...(i === 1 ? ['--cni-socket', sock] : [])]));
  t.teardown(async () => { for (const a of agents) await a.stop('SIGKILL'); });
  const routes = (i: number) => nodes[i - 1]!.h.routeList({ family: 4 }).filter((r) => r.gateway !== undefined).map((r) => r.dst).sort();
  await waitFor(() => [1, 2, 3].every((i) => routes(i).length === 2), 30_000, 'three nodes to route to each other');
  t.same(routes(1), ['10.99.2.0/24', '10.99.3.0/24'], 'node1 routes to node2 and node3');
  t.equal(nodes[0]!.h.linkGet('rtnl.1').address, '02:00:00:00:00:01', 'the VTEP MAC is the file\'s');

  // node1's agent serves the plugin's resident helper: the installed client is answered with no Node.js fallback to run.
  const bin = installPlugins(t).split(':')[0]!;
  t.ok(fs.existsSync(`${bin}/.rtnl-node`), 'the installer put the native client in as rtnl');
  fs.rmSync(`${bin}/.rtnl-node`);
  const v = spawnSync(`${bin}/rtnl`, { input: '{"cniVersion":"1.1.0"}', encoding: 'utf8', env: { ...process.env, CNI_COMMAND: 'VERSION', RTNL_CNI_SOCKET: sock } });
  t.equal(v.status, 0, `VERSION through the agent's socket: ${v.stderr}`);
  t.match(JSON.parse(v.stdout), { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });

  write([1, 2]);
  await waitFor(() => routes(1).length === 1 && routes(2).length === 1, 30_000, 'node3 to leave after the edit');
  t.same(routes(1), ['10.99.2.0/24'], 'node3 removed from node1 after the file changed');
  fs.writeFileSync(file, '{"network": 1');
  await waitFor(() => runAgent(['status', '--state-dir', `${tmp}/s1`]).code === 3, 30_000, 'status to report the bad file');
  t.match(runAgent(['status', '--state-dir', `${tmp}/s1`]).stdout, /problem .*cluster\.json/, 'status names the bad file');
  t.same(routes(1), ['10.99.2.0/24'], 'a bad edit keeps the last good membership');
  await agents[0]!.stop('SIGTERM');
  t.notOk(fs.existsSync(sock), 'the socket goes with the agent');
});

t.test('50 agents lease distinct subnets concurrently and converge', async (t) => {
  const N = 50;
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const c = new Cluster('a50');
  t.teardown(() => c.destroy());
  c.underlay();
  const tmp = tmpDir(t, 'rtnl-agent50-');
  const agents: Agent[] = [];
  t.teardown(async () => { for (const a of agents) await a.stop(); });
  const nodes = Array.from({ length: N }, (_, k) => c.addBareNode(k + 1));
  // In this process (as bench/agent.ts): 50 agent processes would not fit a 2-CPU CI machine's time budget.
  await Promise.all(nodes.map(async (node, k) => {
    const a = new Agent({
      nodeName: `node${k + 1}`, netns: node.name, publicIp: underlayIp(k + 1), stateDir: `${tmp}/${k + 1}`, logLevel: 'error',
      source: { kind: 'etcd', endpoints: [etcd.endpoint], prefix: '/a50', leaseTtlSec: 30, network: { network: '10.200.0.0/16', subnetLen: 26 } },
    }, jsonLogger('error'));
    agents.push(a);
    await a.start();
  }));
  const subnets = agents.map((a) => a.status.self!.subnet);
  t.equal(new Set(subnets).size, N, `${N} distinct subnets`);
  await waitFor(() => agents.every((a) => a.status.peers.length === N - 1), 60_000, `every agent to see ${N - 1} peers`);
  for (const [k, node] of nodes.entries()) {
    const own = agents.find((a) => a.status.node === `node${k + 1}`)!.status.self!.subnet;
    const routed = node.h.routeList({ family: 4 }).filter((r) => r.gateway !== undefined && subnets.includes(r.dst)).map((r) => r.dst);
    t.same(routed.sort(), subnets.filter((s) => s !== own).sort(), `node${k + 1} routes to the other ${N - 1} subnets`, { diagnostic: false });
  }
});

t.test('the command line refuses bad input before doing anything', async (t) => {
  t.equal(runAgent(['--help']).code, 0);
  t.match(runAgent(['--help']).stdout, /--etcd-endpoints.*--etcd-cafile.*--etcd-password-file.*Exit codes/s);
  t.match(runAgent(['--version']), { code: 0, stdout: /^rtnl-agent \d+\.\d+\.\d+ \(rtnl, Node\.js v/ }, '--version');
  const bad: Array<[string[], RegExp]> = [
    [[], /exactly one of --etcd-endpoints and --static/],
    [['--static', 'x', '--etcd-endpoints', 'http://127.0.0.1:1'], /exactly one/],
    [['--etcd-endpoints', 'localhost'], /"localhost" is not an etcd endpoint like https:\/\/127\.0\.0\.1:2379/],
    [['--etcd-endpoints', 'https://127.0.0.1:2379/v3'], /not an etcd endpoint/],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--etcd-cafile', '/nonexistent/ca.pem'], /--etcd-cafile: cannot read \/nonexistent\/ca\.pem: ENOENT/],
    [['--etcd-endpoints', 'https://127.0.0.1:1', '--etcd-certfile', '/etc/hostname'], /--etcd-certfile and --etcd-keyfile go together/],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--etcd-cafile', '/etc/hostname'], /every endpoint must be https/],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--etcd-username', 'u'], /--etcd-username needs --etcd-password/],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--etcd-password', 'p'], /--etcd-username needs/],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--etcd-username', 'u', '--etcd-password', 'p', '--etcd-password-file', '/etc/hostname'], /not both/],
    [['--static', 'f', '--etcd-username', 'u'], /--etcd-username does not apply with --static/],
    [['--static', 'f', '--node-name'], /--node-name/],
    [['status', 'extra'], /unexpected argument "extra"/],
    [['stauts'], /unknown command "stauts"/],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--vni', '5'], /give it with --network/],
    [['--etcd-endpoints', 'http://127.0.0.1:1', '--network', '10.0.0.0/8', '--vni', 'x'], /--vni/],
    [['--static', 'f', '--device', 'a-name-longer-than-15'], /not an interface name/],
    [['--static', 'f', '--bogus'], /Unknown option '--bogus'/],
    [['--static', 'f', '--log-level', 'loud'], /--log-level/],
  ];
  for (const [argv, re] of bad) {
    const r = runAgent(argv);
    t.equal(r.code, 2, `${argv.join(' ')}: exit 2`);
    t.match(r.stderr, re);
  }
  t.equal(runAgent(['status', '--state-dir', '/nonexistent']).code, 3, 'status without an agent: 3');
});

