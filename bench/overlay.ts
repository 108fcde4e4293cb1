// bench-anchors W2 "overlay sync": program N remote nodes on a nolearning
// vxlan0, flannel style (per node: permanent neighbour VTEP IP -> MAC, FDB
// entry MAC -> underlay IP `self permanent`, onlink route for the node's /24
// via its VTEP IP), then remove them (route, FDB entry, neighbour), through
// rtnl (sync, async sequential, async 16 in flight, one batch), the C
// reference (bench/cref.c: libmnl, sync and pipelined) and iproute2
// (`ip`/`bridge` per operation, one `ip -batch` + one `bridge -batch` per
// phase), all in the same run; ratios to C are taken run by run.
//
//   npm run compile && scripts/sandbox node dist/bench/overlay.js --n 100,1000 --runs 3
//   options: --n LIST (100,1000)  --runs R (3)  --only SUBSTR,...  --verbose
import * as os from 'node:os';
import { type Batch, Handle, type Netns, type Verbs, assertBatch, encodeRequests } from '../src/index.js';
import {
  type Cost, bridge, envLine, fmtUs, ip, median, nowUs, parseArgs, pool, printTable, range, ratio, sampleMethods, sysctl, timeUsAsync, toolBatch, withNetns,
} from './lib.js';
import { buildCref, cref } from './cref.js';

const CONCURRENCY = 16;
const LOCAL = '192.168.0.1';

/** Remote node i: its /24, VTEP IP (the subnet's .0, as flannel), VTEP MAC and underlay IP. 250 per block keeps every octet valid up to N=62,500. */
const hi = (i: number) => 1 + Math.floor(i / 250);
const lo = (i: number) => i % 250;
const subnet = (i: number) => `10.${hi(i)}.${lo(i)}.0/24`;
const vtep = (i: number) => `10.${hi(i)}.${lo(i)}.0`;
const mac = (i: number) => `02:42:0a:00:${hi(i).toString(16).padStart(2, '0')}:${lo(i).toString(16).padStart(2, '0')}`;
const underlay = (i: number) => `192.168.${hi(i)}.${1 + lo(i)}`;

interface World {
  n: number;
  ns: Netns;
  h: Handle;
  vx: number;
}

// The three requests of node i, for any mode of the verbs (sync, async,
// batch): static functions of (verbs, world, node), so the loops below
// allocate nothing per request, as a user's loop would not.
type M3 = 'sync' | 'async' | 'batch';
const addOps = [
  <M extends M3>(v: Verbs<M>, w: World, i: number) => v.neighAdd({ link: w.vx, address: vtep(i), lladdr: mac(i), state: 'permanent' }),
  <M extends M3>(v: Verbs<M>, w: World, i: number) => v.fdbAdd({ link: w.vx, mac: mac(i), dst: underlay(i), target: 'self', state: 'permanent' }),
  <M extends M3>(v: Verbs<M>, w: World, i: number) => v.routeAdd({ dst: subnet(i), gateway: vtep(i), link: w.vx, flags: ['onlink'] }),
];
const delOps = [
  <M extends M3>(v: Verbs<M>, w: World, i: number) => v.routeDel({ dst: subnet(i), gateway: vtep(i), link: w.vx }),
  <M extends M3>(v: Verbs<M>, w: World, i: number) => v.fdbDel({ link: w.vx, mac: mac(i), dst: underlay(i), target: 'self' }),
  <M extends M3>(v: Verbs<M>, w: World, i: number) => v.neighDel({ link: w.vx, address: vtep(i) }),
];
type Ops = typeof addOps;

const ipNeighAdd = (i: number) => ['neigh', 'add', vtep(i), 'lladdr', mac(i), 'dev', 'vxlan0', 'nud', 'permanent'];
const ipRouteAdd = (i: number) => ['route', 'add', subnet(i), 'via', vtep(i), 'dev', 'vxlan0', 'onlink'];
const fdbAdd = (i: number) => ['fdb', 'add', mac(i), 'dev', 'vxlan0', 'dst', underlay(i), 'self', 'permanent'];
const ipRouteDel = (i: number) => ['route', 'del', subnet(i), 'via', vtep(i), 'dev', 'vxlan0'];
const fdbDel = (i: number) => ['fdb', 'del', mac(i), 'dev', 'vxlan0', 'dst', underlay(i), 'self'];
const ipNeighDel = (i: number) => ['neigh', 'del', vtep(i), 'dev', 'vxlan0'];

interface Method {
  name: string;
  /** A Cost is what the method measured itself (the C reference: its process start is not counted). */
  add(w: World): void | Cost | Promise<void>;
  del(w: World): void | Cost | Promise<void>;
  /** Runs child processes (iproute2), whose CPU time this process does not see. */
  spawns?: boolean;
}

const cOverlay = (mode: 'sync' | 'pipe') => ({
  add: (w: World) => cref<Cost>(w.ns, ['overlay-add', mode, w.n, w.vx]),
  del: (w: World) => cref<Cost>(w.ns, ['overlay-del', mode, w.n, w.vx]),
});

const syncAll = (ops: Ops) => (w: World) => {
  for (let i = 0; i < w.n; i++) for (const op of ops) op(w.h, w, i);
};
const asyncSeq = (ops: Ops) => async (w: World) => {
  for (let i = 0; i < w.n; i++) for (const op of ops) await op(w.h.async, w, i);
};
// 16 independent requests outstanding: none of a node's three depends on another.
const asyncPool = (ops: Ops) => (w: World) => pool(3 * w.n, CONCURRENCY, (k) => ops[k % 3]!(w.h.async, w, Math.floor(k / 3)) as Promise<void>);
const fillBatch = (ops: Ops, w: World) => (b: Batch) => {
  for (let i = 0; i < w.n; i++) for (const op of ops) op(b, w, i);
};
const batchAll = (ops: Ops) => (w: World) => assertBatch(w.h.batch(fillBatch(ops, w)));

const METHODS: Method[] = [
  { name: 'C sync (libmnl)', ...cOverlay('sync') },
  { name: 'C pipelined (libmnl)', ...cOverlay('pipe') },
  {
    name: '`ip`/`bridge` per operation',
    spawns: true,
    add: (w) => range(w.n).forEach((i) => {
      ip(w.ns, ipNeighAdd(i));
      bridge(w.ns, fdbAdd(i));
      ip(w.ns, ipRouteAdd(i));
    }),
    del: (w) => range(w.n).forEach((i) => {
      ip(w.ns, ipRouteDel(i));
      bridge(w.ns, fdbDel(i));
      ip(w.ns, ipNeighDel(i));
    }),
  },
  {
    name: '`ip -batch` + `bridge -batch`',
    spawns: true,
    add: (w) => {
      toolBatch('ip', w.ns, range(w.n).flatMap((i) => [ipNeighAdd(i).join(' '), ipRouteAdd(i).join(' ')]));
      toolBatch('bridge', w.ns, range(w.n).map((i) => fdbAdd(i).join(' ')));
    },
    del: (w) => {
      toolBatch('ip', w.ns, range(w.n).flatMap((i) => [ipRouteDel(i).join(' '), ipNeighDel(i).join(' ')]));
      toolBatch('bridge', w.ns, range(w.n).map((i) => fdbDel(i).join(' ')));
    },
  },
  { name: 'rtnl sync', add: syncAll(addOps), del: syncAll(delOps) },
  { name: 'rtnl async, sequential', add: asyncSeq(addOps), del: asyncSeq(delOps) },
  { name: `rtnl async, ${CONCURRENCY} in flight`, add: asyncPool(addOps), del: asyncPool(delOps) },
  { name: 'rtnl batch (one h.batch of 3N)', add: batchAll(addOps), del: batchAll(delOps) },
];

/** What the kernel holds on vxlan0: our routes, neighbours and FDB remotes. */
function census(w: World): { routes: number; neighs: number; fdb: number } {
  return {
    routes: w.h.routeList({ link: w.vx, family: 4 }).length,
    neighs: w.h.neighList({ link: w.vx, family: 4 }).length,
    // The device's own multicast MACs are listed too; remotes are the entries with a dst.
    fdb: w.h.fdbList({ link: w.vx }).filter((e) => e.dst !== undefined).length,
  };
}

function expect(m: Method, w: World, phase: string, want: number): void {
  const c = census(w);
  if (c.routes !== want || c.neighs !== want || c.fdb !== want)
    throw new Error(`${m.name}: after ${phase}, vxlan0 holds ${c.routes} routes, ${c.neighs} neighbours, ${c.fdb} FDB remotes; expected ${want} of each`);
}

/** µs per node: wall, and CPU (NaN for methods that spawn processes). */
interface Sample {
  add: number;
  del: number;
  addCpu: number;
  delCpu: number;
}

/** One method at one N in a fresh namespace: underlay + vxlan0 (untimed), add (timed), verify, del (timed), verify. µs per node. */
async function runOnce(m: Method, n: number, tag: string): Promise<Sample> {
  return withNetns(`ov-${tag}`, async (ns) => {
    const h = new Handle(ns);
    try {
      sysctl(ns, 'net.ipv6.conf.default.disable_ipv6', '1'); // no DAD/MLD chatter from the new links
      h.linkAdd({ kind: 'veth', name: 'ul0', up: true, peer: { name: 'ul1' } });
      h.linkSetUp('ul1');
      const ul = h.linkGet('ul0').index;
      h.addrAdd({ link: ul, address: `${LOCAL}/16` });
      h.linkAdd({ kind: 'vxlan', name: 'vxlan0', vni: 1, port: 4789, learning: false, local: LOCAL, device: ul, up: true });
      const w: World = { n, ns, h, vx: h.linkGet('vxlan0').index };
      expect(m, w, 'setup', 0);
      const timed = async (f: () => void | Cost | Promise<void>): Promise<Cost> => {
        let self: Cost | undefined;
        const c0 = process.cpuUsage();
        const us = await timeUsAsync(async () => {
          const r = await f();
          if (r) self = r;
        });
        const c = process.cpuUsage(c0);
        const { us: wall, cpuUs } = self ?? { us, cpuUs: m.spawns ? NaN : c.user + c.system };
        return { us: wall / n, cpuUs: cpuUs / n };
      };
      const add = await timed(() => m.add(w));
      expect(m, w, 'add', n);
      const del = await timed(() => m.del(w));
      expect(m, w, 'del', 0);
      return { add: add.us, del: del.us, addCpu: add.cpuUs, delCpu: del.cpuUs };
    } finally {
      h.close();
    }
  });
}

/** Validation + encoding of the 3N requests alone (no kernel): rtnl's user-space share of a batch. µs per node. */
function encodeOnly(n: number): { add: number; del: number } {
  const w = { n, vx: 5 } as World;
  const t = (ops: Ops) => {
    const t0 = nowUs();
    encodeRequests(fillBatch(ops, w));
    return (nowUs() - t0) / n;
  };
  for (let i = 0; i < 10; i++) t(addOps), t(delOps); // warm-up: the JIT has tiered up before the timed rounds
  return { add: median(range(9).map(() => t(addOps))), del: median(range(9).map(() => t(delOps))) };
}

/** bench-anchors.md W2 (µs per remote node), measured elsewhere on this kind of machine: add N=100, add N=1000, del N=1000. */
const ANCHORS: [string, number, number, number][] = [
  ['C, one at a time', 20.2, 32.4, 15.5],
  ['C, pipelined', 9.4, 21.5, 5.7],
  ['Go vishvananda/netlink', 59.1, 74.0, 54.3],
  ['npm netlink 0.3.0', 309, 166, 119],
  ['pyroute2', 536, 594, 520],
  ['`ip`/`bridge -batch`', 136, 99.6, 78.5],
  ['`ip` per operation', 3754, 3710, 3832],
];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ns = (args.get('n') ?? '100,1000').split(',').map(Number);
  const runs = Number(args.get('runs') ?? 3);
  const only = args.get('only')?.split(',');
  const methods = only ? METHODS.filter((m) => only.some((o) => m.name.includes(o))) : METHODS;
  if (ns.some((n) => !Number.isInteger(n) || n < 1 || n > 62_500) || !(runs >= 1))
    throw new Error('usage: overlay.js [--n 100,1000] [--runs 3] [--only SUBSTR,...] [--verbose]');
  if (process.env.RTNL_SANDBOX !== '1') throw new Error('run me under scripts/sandbox');
  buildCref();

  const t0 = nowUs();
  console.log(`# W2 overlay sync: program then remove N remote nodes on a nolearning vxlan0 (medians of ${runs} runs, µs per node = 3 requests)\n`);
  console.log(envLine());
  console.log('Per node: permanent neighbour VTEP IP -> MAC, FDB entry MAC dst underlay IP self permanent, route /24 via VTEP IP dev vxlan0 onlink; delete: route, FDB entry (dst), neighbour.');
  console.log('vxlan0: vni 1, port 4789, nolearning, local 192.168.0.1 (on a veth underlay). Each method runs in a fresh namespace; the kernel\'s counts are checked after add and after del.');
  console.log('The machine is shared with other jobs: lib.ts settle() waits (up to 2 s) for an idle CPU before every method run, and every other run goes through the methods in reverse order. Ratios: time ratios taken run by run, then their median (min–max over runs); lower is better, add / del.\n');

  for (const n of ns) {
    const tn = nowUs();
    const { samples, busy } = await sampleMethods(methods, runs, (m, tag) => runOnce(m, n, tag), args.has('verbose')
      ? (m, r, x, idle) => console.error(`N=${n} run ${r} ${m.name}: add ${fmtUs(x.add)}, del ${fmtUs(x.del)} µs/node (CPU ${fmtUs(x.addCpu)} / ${fmtUs(x.delCpu)})${idle ? '' : ' (machine busy)'}`)
      : undefined, true);
    const med = new Map([...samples].map(([m, s]) => [m.name, {
      add: median(s.map((x) => x.add)), del: median(s.map((x) => x.del)), addCpu: median(s.map((x) => x.addCpu)), delCpu: median(s.map((x) => x.delCpu)),
    }]));
    const none = { add: NaN, del: NaN };
    const ipOp = med.get(METHODS[2]!.name) ?? none;
    const ipB = med.get(METHODS[3]!.name) ?? none;
    // Ratios to C taken run by run (same run, same machine load), then the median.
    const runRatios = (name: string, c: Method, k: keyof Sample) => {
      const a = samples.get(METHODS.find((m) => m.name === name)!) ?? [], b = samples.get(c) ?? [];
      return a.map((x, i) => x[k] / (b[i]?.[k] ?? NaN));
    };
    const perRun = (name: string, c: Method, k: keyof Sample) => median(runRatios(name, c, k));
    const spread = (name: string, c: Method, k: keyof Sample) => {
      const rs = runRatios(name, c, k).filter(Number.isFinite);
      return rs.length ? `${median(rs).toFixed(2)}× (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})` : '—';
    };
    const x2 = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '—');
    console.log(`## N = ${n} (${((nowUs() - tn) / 1e6).toFixed(1)} s)\n`);
    printTable(
      ['method', 'add µs/node', 'del µs/node', 'add µs/op', 'del µs/op', 'CPU add / del µs/node', 'vs C sync', 'vs C pipelined', 'ratio vs `ip` per op', 'ratio vs `-batch`'],
      [...med].map(([name, x]) => [name, fmtUs(x.add), fmtUs(x.del), fmtUs(x.add / 3), fmtUs(x.del / 3), `${fmtUs(x.addCpu)} / ${fmtUs(x.delCpu)}`,
        `${x2(perRun(name, METHODS[0]!, 'add'))} / ${x2(perRun(name, METHODS[0]!, 'del'))}`,
        `${x2(perRun(name, METHODS[1]!, 'add'))} / ${x2(perRun(name, METHODS[1]!, 'del'))}`,
        `${ratio(x.add, ipOp.add)} / ${ratio(x.del, ipOp.del)}`, `${ratio(x.add, ipB.add)} / ${ratio(x.del, ipB.del)}`]),
    );
    console.log('\nrtnl against C, ratios taken run by run: median (min–max); wall time, and CPU time (user + system: what waiting for the CPU on a busy machine does not stretch)\n');
    const vsC: [string, Method][] = [['rtnl sync', METHODS[0]!], ['rtnl batch (one h.batch of 3N)', METHODS[1]!]];
    printTable(['', 'add', 'del', 'add, CPU', 'del, CPU'], vsC.map(([r, c]) => [`${r} / ${c.name}`, spread(r, c, 'add'), spread(r, c, 'del'), spread(r, c, 'addCpu'), spread(r, c, 'delCpu')]));
    const enc = encodeOnly(n);
    console.log(`\nrtnl validate + encode only (encodeRequests, no kernel): add ${fmtUs(enc.add)}, del ${fmtUs(enc.del)} µs/node (${fmtUs(enc.add / 3)} / ${fmtUs(enc.del / 3)} µs/op).`);
    if (busy) console.log(`The machine was busy with other work before ${busy} of ${runs * methods.length} method runs (CPU not idle after 2 s): these figures are noisier.`);
    console.log('');
  }

  console.log('## For reference: bench-anchors.md W2, measured elsewhere (not in this run), µs per node\n');
  printTable(['tool', 'add N=100', 'add N=1000', 'del N=1000'], ANCHORS.map(([t, a, b, c]) => [t, fmtUs(a), fmtUs(b), fmtUs(c)]));
  console.log(`\ntotal ${((nowUs() - t0) / 1e6).toFixed(1)} s; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
