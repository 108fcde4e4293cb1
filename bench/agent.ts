// Issue 5's join bench: how long from a node's join until every other node
// routes to its subnet. N simulated nodes (a namespace each, on one veth
// underlay) run the real Agent in this process against a real etcd on
// loopback; then new nodes join one at a time, and for each we time
//   lease:  Agent.start() until the node holds its lease and has published it,
//   first:  the same start until the first of the N other agents has synced
//           it (what one real node sees: etcd watch + debounce + one sync),
//   routes: ... until the last of them has (then the route is checked in
//           every node's kernel),
//   sync:   the median time one node's sync took (dump, diff, one batch):
//           with real nodes in parallel, `first` is what each node sees.
// The agents share this one event loop, so `routes` serialises N syncs that
// real nodes would run in parallel: an upper bound. Both backends: vxlan
// (per peer a neighbour, an FDB entry and an onlink route on the VXLAN
// device) and host-gw (per peer a route via its underlay address; the nodes
// share the bench's one L2 underlay). For scale, the same dataplane work
// (one new peer on N nodes) is timed through `ip`/`bridge` spawned per
// operation and one `ip -batch` (+ `bridge -batch`) per node.
//
//   npm run bench:agent   (scripts/sandbox node dist/bench/agent.js --n 3,200 --joins 5 [--backend vxlan,host-gw])
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Cluster, underlayIp } from '../demo/cluster.js';
import { startEtcd } from '../demo/etcd.js';
import { Agent } from '../src/agent/agent.js';
import type { BackendKind } from '../src/agent/backend.js';
import type { AgentOptions } from '../src/agent/cli.js';
import { jsonLogger } from '../src/agent/log.js';
import { bridge, envLine, ip, median, nowUs, parseArgs, pool, printTable, ratio, toolBatch } from './lib.js';

const NETWORK = '10.128.0.0/9';
const quiet = jsonLogger('error');

/** Resolves once cond() holds, polling every ms; the time it first held, in µs. */
async function until(cond: () => boolean, what: string, ms = 60_000): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return nowUs();
}

async function run(n: number, joins: number, backend: BackendKind): Promise<{ lease: number[]; first: number[]; routes: number[]; sync: number[]; ipPerOp: number; ipBatch: number }> {
  const etcd = await startEtcd();
  const c = new Cluster(`ab${n}${backend === 'vxlan' ? 'v' : 'h'}`);
  const tmp = fs.mkdtempSync(`${os.tmpdir()}/rtnl-bench-agent-`);
  const agents: Agent[] = [];
  const nodes: Array<ReturnType<Cluster['addBareNode']>> = [];
  try {
    c.underlay();
    const opts = (i: number, name: string): AgentOptions => ({
      nodeName: `node${i}`, netns: name, publicIp: underlayIp(i), stateDir: `${tmp}/${i}`, logLevel: 'error', backend,
      source: { kind: 'etcd', endpoints: [etcd.endpoint], prefix: '/bench', leaseTtlSec: 30, network: { network: NETWORK, subnetLen: 24 } },
    });
    const join = async (i: number): Promise<Agent> => {
      const node = c.addBareNode(i);
      nodes.push(node);
      const a = new Agent(opts(i, node.name), quiet);
      agents.push(a);
      await a.start();
      return a;
    };
    await pool(n, 8, (k) => join(k + 1));
    await until(() => agents.every((a) => a.status.peers.length === n - 1), `${n} nodes to converge`);

    const lease: number[] = [];
    const first: number[] = [];
    const sync: number[] = [];
    const routes: number[] = [];
    for (let j = 1; j <= joins; j++) {
      const i = n + j;
      const others = [...agents];
      const node = c.addBareNode(i);
      nodes.push(node);
      const a = new Agent(opts(i, node.name), quiet);
      agents.push(a);
      const t0 = nowUs();
      const leased = until(() => a.status.self !== undefined, `node${i} to lease`);
      await a.start();
      lease.push(await leased - t0);
      const has = (o: Agent) => o.status.peers.some((p) => p.name === `node${i}`);
      first.push(await until(() => others.some(has), `node${i} to reach a node`) - t0);
      routes.push(await until(() => others.every(has), `node${i} to reach every node`) - t0);
      sync.push(median(others.map((o) => o.status.lastSync!.durationMs * 1000)));
      const subnet = a.status.self!.subnet;
      for (const other of nodes.slice(0, -1)) {
        if (!other.h.routeList({ family: 4 }).some((r) => r.dst === subnet)) throw new Error(`${other.name} has no route to ${subnet}`);
      }
    }

    // The same dataplane work through iproute2: one new (made-up) peer on all N nodes.
    const peer = (k: number) => ({ subnet: `10.255.${k}.0/24`, vtep: `10.255.${k}.0`, mac: `02:00:00:00:ff:${k.toString(16).padStart(2, '0')}`, underlay: '192.168.100.250' });
    const dev = agents[0]!.status.device?.name;
    const perNode = nodes.slice(0, n);
    const lines = (p: ReturnType<typeof peer>) => (backend === 'vxlan'
      ? { ip: [`neigh add ${p.vtep} lladdr ${p.mac} dev ${dev} nud permanent`, `route add ${p.subnet} via ${p.vtep} dev ${dev} onlink`], bridge: [`fdb add ${p.mac} dev ${dev} dst ${p.underlay} self permanent`] }
      : { ip: [`route add ${p.subnet} via ${p.underlay} dev underlay`], bridge: [] });
    let t0 = nowUs();
    for (const node of perNode) {
      const l = lines(peer(1));
      for (const cmd of l.bridge) bridge(node.ns, cmd.split(' '));
      for (const cmd of l.ip) ip(node.ns, cmd.split(' '));
    }
    const ipPerOp = nowUs() - t0;
    t0 = nowUs();
    for (const node of perNode) {
      const l = lines(peer(2));
      toolBatch('ip', node.ns, l.ip);
      if (l.bridge.length > 0) toolBatch('bridge', node.ns, l.bridge);
    }
    return { lease, first, routes, sync, ipPerOp, ipBatch: nowUs() - t0 };
  } finally {
    for (const a of agents) await a.stop();
    c.destroy();
    await etcd.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ns = (args.get('n') ?? '3,200').split(',').map(Number);
  const joins = Number(args.get('joins') ?? 5);
  const backends = (args.get('backend') ?? 'vxlan,host-gw').split(',') as BackendKind[];
  console.log(envLine());
  console.log(`join → routes on the other nodes, median of ${joins} joins, ms (etcd on loopback, in-process agents)\n`);
  const ms = (us: number) => (us / 1000).toFixed(1);
  const rows: string[][] = [];
  for (const n of ns) for (const backend of backends) {
    const r = await run(n, joins, backend);
    const routes = median(r.routes);
    rows.push([`N=${n}`, backend, ms(median(r.lease)), ms(median(r.first)), ms(routes), ms(median(r.sync)), ms(r.ipPerOp), ms(r.ipBatch), ratio(routes, r.ipPerOp), ratio(routes, r.ipBatch)]);
  }
  printTable(['nodes', 'backend', 'lease', 'first node routes', 'all N nodes route', 'one node\'s sync', '`ip` per op, dataplane only', '`ip -batch`, dataplane only', 'all vs `ip` per op', 'all vs `ip -batch`'], rows);
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
