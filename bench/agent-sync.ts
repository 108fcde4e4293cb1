// Issue 5 part 6, "full resync time with 1,000 simulated peers": the node
// agent's Overlay.sync reconciling a nolearning VXLAN device with N peer
// records (no peer namespaces: underlays are made-up addresses in the
// 192.168.0.0/16 connected to the node's underlay veth; nothing is ever sent
// to them). Phases, each timed around the whole call (dumps, diff, one batch):
//   fresh    empty device -> N peers
//   steady   the same N again: nothing to do
//   churn    10%: a third of them removed, a third changed MAC, a third new
//   restart  a new Overlay adopting the device: ensure() + sync() of N
// against the same fresh programming through one `ip -batch` + one
// `bridge -batch`, and against what a shell agent pays just to read the
// state back (`ip -j neigh`, `ip -j route`, `bridge -j fdb`). And the
// host-gw backend's fresh sync (a route per peer via its underlay, which
// the node's 192.168.0.0/16 makes directly connected) against one
// `ip -batch` of the same routes.
//
//   npm run bench:agent-sync -- --n 1000 --runs 3
import { Handle, type Netns } from '../src/index.js';
import { HostGw } from '../src/agent/hostgw.js';
import { OVERLAY_ROUTE_PROTOCOL, Overlay, type OverlaySyncResult } from '../src/agent/overlay.js';
import type { NodeRecord } from '../src/agent/types.js';
import { bridge, envLine, ipJson, median, nowUs, parseArgs, printTable, range, ratio, sampleMethods, sysctl, toolBatch, withNetns } from './lib.js';

const LOCAL = '192.168.0.1';
const DEV = 'vxlan0';
const SELF: NodeRecord = { name: 'self', underlay: LOCAL, vtepMac: '02:42:0a:00:00:01', subnet: '10.0.0.0/24' };

/** Peer i (generation gen of its MAC): a /24 of 10.0.0.0/8 and an underlay in 192.168.0.0/16; 250 per block keeps every octet valid. */
function peer(i: number, gen = 0): NodeRecord {
  const hi = 1 + Math.floor(i / 250);
  const lo = i % 250;
  const hex = (x: number) => x.toString(16).padStart(2, '0');
  return { name: `peer${i}`, underlay: `192.168.${hi}.${1 + lo}`, vtepMac: `02:42:${hex(gen)}:00:${hex(hi)}:${hex(lo)}`, subnet: `10.${hi}.${lo}.0/24` };
}

/** The node's namespace: a veth underlay holding LOCAL/16, IPv6 off (no DAD/MLD chatter from the new links). */
function underlay(ns: Netns, h: Handle): void {
  sysctl(ns, 'net.ipv6.conf.default.disable_ipv6', '1');
  h.linkAdd({ kind: 'veth', name: 'ul0', up: true, peer: { name: 'ul1' } });
  h.linkSetUp('ul1');
  h.addrAdd({ link: h.linkGet('ul0').index, address: `${LOCAL}/16` });
}

const overlay = (ns: Netns, h: Handle) =>
  new Overlay({ handle: h, netns: ns, device: DEV, vni: 1, port: 4789, local: LOCAL, subnet: SELF.subnet, mac: SELF.vtepMac });

/** The kernel's count of the device's routes (ours), permanent neighbours and FDB remotes; throws unless each is n. */
function census(h: Handle, n: number, what: string): void {
  const vx = h.linkGet(DEV).index;
  const c = [
    h.routeList({ link: vx, family: 4, protocol: OVERLAY_ROUTE_PROTOCOL }).length,
    h.neighList({ link: vx, family: 4 }).filter((e) => e.state === 'permanent').length,
    h.fdbList({ link: vx }).filter((e) => e.dst !== undefined).length,
  ];
  if (c.some((x) => x !== n)) throw new Error(`${what}: ${DEV} holds ${c.join('/')} routes/neighbours/FDB remotes, expected ${n}`);
}

function expect(r: OverlaySyncResult, want: Partial<OverlaySyncResult>, what: string): void {
  for (const [k, v] of Object.entries(want)) {
    if (r[k as keyof OverlaySyncResult] !== v) throw new Error(`${what}: ${k} = ${r[k as keyof OverlaySyncResult]}, expected ${v} (${JSON.stringify(r)})`);
  }
}

type Sample = Record<string, number>;
const timeMs = <T>(fn: () => T): [T, number] => {
  const t0 = nowUs();
  const x = fn();
  return [x, (nowUs() - t0) / 1e3];
};

/** rtnl: the four phases in one fresh namespace. ms each. */
function rtnlRun(ns: Netns, n: number): Sample {
  const h = new Handle(ns);
  try {
    underlay(ns, h);
    const ov = overlay(ns, h);
    ov.ensure();
    const all = [SELF, ...range(n).map((i) => peer(i))];
    const [fresh, freshMs] = timeMs(() => ov.sync(all));
    expect(fresh, { added: n, removed: 0 }, 'fresh');
    census(h, n, 'fresh');
    const [steady, steadyMs] = timeMs(() => ov.sync(all));
    expect(steady, { unchanged: n, added: 0, updated: 0, removed: 0 }, 'steady');
    // 10%: the first third of it removed, the second third with a new MAC, the last third new peers
    const k = Math.round(n / 10);
    const [gone, moved] = [Math.floor(k / 3), Math.floor(k / 3)];
    const added = k - gone - moved;
    const churned = [SELF, ...range(n - gone).map((j) => peer(gone + j, j < moved ? 1 : 0)), ...range(added).map((j) => peer(n + j))];
    const [churn, churnMs] = timeMs(() => ov.sync(churned));
    expect(churn, { removed: gone, updated: moved, added, unchanged: n - gone - moved }, 'churn');
    const total = n - gone + added;
    census(h, total, 'churn');
    const [restart, restartMs] = timeMs(() => {
      const again = overlay(ns, h);
      if (again.ensure().replaced) throw new Error('restart: the device was not adopted');
      return again.sync(churned);
    });
    expect(restart, { unchanged: total, added: 0, updated: 0, removed: 0 }, 'restart');
    return { fresh: freshMs, steady: steadyMs, churn: churnMs, restart: restartMs };
  } finally {
    h.close();
  }
}

/** iproute2: the fresh programming as two batch files, then reading the state back as JSON. ms each. */
function ipRun(ns: Netns, n: number): Sample {
  const h = new Handle(ns);
  try {
    underlay(ns, h);
    overlay(ns, h).ensure(); // the same device; its making is not timed for either
    const peers = range(n).map((i) => peer(i));
    const vtep = (p: NodeRecord) => p.subnet.replace('/24', '');
    const [, freshMs] = timeMs(() => {
      toolBatch('ip', ns, peers.flatMap((p) => [
        `neigh replace ${vtep(p)} lladdr ${p.vtepMac} dev ${DEV} nud permanent`,
        `route replace ${p.subnet} via ${vtep(p)} dev ${DEV} onlink proto ${OVERLAY_ROUTE_PROTOCOL}`,
      ]));
      toolBatch('bridge', ns, peers.map((p) => `fdb replace ${p.vtepMac} dev ${DEV} dst ${p.underlay} self permanent`));
    });
    census(h, n, 'ip -batch');
    const [, readMs] = timeMs(() => {
      ipJson(ns, ['neigh', 'show', 'dev', DEV]);
      ipJson(ns, ['route', 'show', 'dev', DEV, 'proto', String(OVERLAY_ROUTE_PROTOCOL)]);
      JSON.parse(bridge(ns, ['-j', 'fdb', 'show', 'dev', DEV]));
    });
    return { fresh: freshMs, read: readMs };
  } finally {
    h.close();
  }
}

/** host-gw: the fresh sync through HostGw, or the same routes through one `ip -batch`. ms. */
function hostGwRun(ns: Netns, n: number, tool: boolean): Sample {
  const h = new Handle(ns);
  try {
    underlay(ns, h);
    const peers = range(n).map((i) => peer(i));
    const [, freshMs] = timeMs(() => {
      if (tool) toolBatch('ip', ns, peers.map((p) => `route replace ${p.subnet} via ${p.underlay} dev ul0 proto ${OVERLAY_ROUTE_PROTOCOL}`));
      else expect(new HostGw({ handle: h, local: LOCAL, subnet: SELF.subnet }).sync([SELF, ...peers]), { added: n }, 'host-gw fresh');
    });
    const routes = h.routeList({ family: 4, protocol: OVERLAY_ROUTE_PROTOCOL }).length;
    if (routes !== n) throw new Error(`host-gw: ${routes} routes, expected ${n}`);
    return { fresh: freshMs };
  } finally {
    h.close();
  }
}

const METHODS = ['rtnl', 'iproute2', 'rtnl host-gw', 'iproute2 host-gw'] as const;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const n = Number(args.get('n') ?? 1000);
  const runs = Number(args.get('runs') ?? 3);
  if (!Number.isInteger(n) || n < 30 || n > 60_000 || !(runs >= 1)) throw new Error('usage: agent-sync.js [--n 1000] [--runs 3] [--verbose]');
  if (process.env.RTNL_SANDBOX !== '1') throw new Error('run me under scripts/sandbox');

  console.log(`# Agent overlay sync with ${n.toLocaleString('en-US')} simulated peers (medians of ${runs} runs, ms)\n`);
  console.log(envLine());
  console.log(`Per peer: permanent neighbour, FDB entry self permanent, route onlink proto ${OVERLAY_ROUTE_PROTOCOL} on a nolearning ${DEV}. Each run in a fresh namespace; results and the kernel's counts are checked.\n`);
  const { samples, busy } = await sampleMethods(METHODS, runs, async (m, tag) =>
    withNetns(`as-${tag}`, (ns) => (m === 'rtnl' ? rtnlRun(ns, n) : m === 'iproute2' ? ipRun(ns, n) : hostGwRun(ns, n, m === 'iproute2 host-gw'))),
  args.has('verbose') ? (m, r, s) => console.error(`run ${r} ${m}: ${JSON.stringify(s)}`) : undefined);
  const med = (m: (typeof METHODS)[number], k: string) => median(samples.get(m)!.map((s) => s[k]!));
  const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');
  const k = Math.round(n / 10);
  const rows: [string, number, string, number][] = [
    [`fresh: empty → ${n} peers`, med('rtnl', 'fresh'), '`ip -batch` + `bridge -batch`', med('iproute2', 'fresh')],
    [`steady: ${n} peers, nothing to change`, med('rtnl', 'steady'), 'reading the state: `ip -j neigh`, `ip -j route`, `bridge -j fdb`', med('iproute2', 'read')],
    [`churn 10%: ${Math.floor(k / 3)} removed, ${Math.floor(k / 3)} MAC changed, ${k - 2 * Math.floor(k / 3)} added`, med('rtnl', 'churn'), '', NaN],
    [`restart: new Overlay, ensure() + sync() adopting ${n}`, med('rtnl', 'restart'), 'reading the state (as above)', med('iproute2', 'read')],
    [`host-gw fresh: ${n} routes via underlays`, med('rtnl host-gw', 'fresh'), '`ip -batch` of the same routes', med('iproute2 host-gw', 'fresh')],
  ];
  printTable(['phase', 'rtnl backend (ms)', 'iproute2', 'iproute2 (ms)', 'ratio'], rows.map(([p, r, what, i]) => [p, ms(r), what || '—', ms(i), ratio(r, i)]));
  if (busy > 0) console.log(`\n${busy} run(s) started while the machine was still busy.`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
