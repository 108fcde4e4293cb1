// bench-anchors W1 "pod setup", rtnl beside the C reference (bench/cref.c)
// in the same run: per pod, a namespace pod-<tag>-<i>; the veth vh-<i>
// (mtu 1450, master br0, up) with its peer eth0 created directly in it; in
// the pod, eth0's address /16, eth0 up, lo up, default route via br0's
// address. "sync": one request + ack at a time; C "pipe": a window of
// requests per send with one ack; rtnl "batch": one h.batch on the host, one
// per pod. Then the cost of a socket in a namespace: `new Handle(ns)` +
// close against C's open + setns + socket + bind + setns back + close.
// Each run waits for the kernel to free the namespaces of the one before
// (lib.ts settleNetns), and runs alternate which of C and rtnl goes first.
// Beside the wall time, the CPU time (user + system) each side used: it
// leaves out the waiting (RCU grace periods, the RTNL lock) that a busy
// machine stretches.
//
//   npm run bench:pods -- --n 100,1000 --runs 3
//   options: --n LIST (100,1000)  --runs R (3)  --sockets S (1000)  --verbose
import * as os from 'node:os';
import { Handle, type Netns, type Verbs, assertBatch, createNetns, deleteNetns, listNetns } from '../src/index.js';
import { buildCref, cref } from './cref.js';
import { type Cost, envLine, fmtUs, liveNetns, median, nowUs, parseArgs, printTable, range, ratio, settle, settleNetns, withNetns } from './lib.js';

const BR_IP = '10.99.0.1';
// eth0 is the first link made in a fresh namespace after lo: ifindex 2, so no lookup is needed (C does the same).
const ETH0 = 2;
const podIp = (i: number) => `10.99.${(i + 2) >> 8}.${(i + 2) & 255}`;

interface World {
  n: number;
  tag: string;
  host: Netns;
  h: Handle;
  br: number;
}

const podName = (w: World, i: number) => `pod-${w.tag}-${i}`;
const veth = (w: World, i: number, pod: Netns) =>
  ({ kind: 'veth', name: `vh-${i}`, mtu: 1450, master: w.br, up: true, peer: { name: 'eth0', mtu: 1450, netns: pod } }) as const;
const inside = (i: number) => [
  <M extends 'sync' | 'batch'>(b: Verbs<M>) => b.addrAdd({ link: ETH0, address: `${podIp(i)}/16` }),
  <M extends 'sync' | 'batch'>(b: Verbs<M>) => b.linkSetUp(ETH0),
  <M extends 'sync' | 'batch'>(b: Verbs<M>) => b.linkSetUp(1),
  <M extends 'sync' | 'batch'>(b: Verbs<M>) => b.routeAdd({ dst: 'default', gateway: BR_IP }),
];

/** Times fn in this process: wall, and CPU of all its threads. */
function cost(fn: () => void): Cost {
  const t0 = nowUs(), c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return { us: nowUs() - t0, cpuUs: c.user + c.system };
}

/** A method's run (C times itself: its process start is not counted). */
const METHODS: { name: string; run(w: World): Cost }[] = [
  { name: 'C sync', run: (w) => cref<Cost>(w.host, ['pods', 'sync', w.n, `pod-${w.tag}`, w.br]) },
  { name: 'C pipelined', run: (w) => cref<Cost>(w.host, ['pods', 'pipe', w.n, `pod-${w.tag}`, w.br]) },
  {
    name: 'rtnl sync',
    run: (w) => cost(() => {
      for (let i = 0; i < w.n; i++) {
        const pod = createNetns(podName(w, i));
        w.h.linkAdd(veth(w, i, pod));
        const p = new Handle(pod);
        for (const op of inside(i)) op(p);
        p.close();
        pod.close();
      }
    }),
  },
  {
    name: 'rtnl batch',
    run: (w) => cost(() => {
      const pods = range(w.n).map((i) => createNetns(podName(w, i)));
      assertBatch(w.h.batch((b) => pods.forEach((pod, i) => b.linkAdd(veth(w, i, pod)))));
      pods.forEach((pod, i) => {
        const p = new Handle(pod);
        assertBatch(p.batch((b) => inside(i).forEach((op) => op(b))));
        p.close();
        pod.close();
      });
    }),
  },
];
// Run by run, C and rtnl take turns going first: [C sync, rtnl sync, C pipelined, rtnl batch], then the mirror.
const ORDER = [[0, 2, 1, 3], [2, 0, 3, 1]] as const;

/** Every pod is on br0 with its address and default route, whoever made it. */
function verify(name: string, w: World): void {
  const ports = w.h.linkList({ master: w.br }).filter((l) => l.up && l.mtu === 1450).length;
  if (ports !== w.n) throw new Error(`${name}: br0 has ${ports} up ports of mtu 1450, expected ${w.n}`);
  for (let i = 0; i < w.n; i++) {
    const p = new Handle({ name: podName(w, i) });
    try {
      const addr = p.addrList({ link: ETH0, family: 4 }).map((a) => a.address);
      const routes = p.routeList({ family: 4 }).filter((r) => r.dst === 'default' && r.gateway === BR_IP);
      const up = p.linkList().filter((l) => l.up).length;
      if (addr[0] !== `${podIp(i)}/16` || routes.length !== 1 || up !== 2) throw new Error(`${name}: pod ${i} holds ${addr.join()} / ${routes.length} default routes / ${up} links up`);
    } finally {
      p.close();
    }
  }
}

/** One run of m in a fresh host namespace, per pod; then waits for the kernel to free what it made. */
async function once(m: (typeof METHODS)[number], n: number, tag: string): Promise<Cost & { freedMs: number }> {
  const before = liveNetns();
  const c = await withNetns(`host-${tag}`, async (host) => {
    const h = new Handle(host);
    try {
      h.linkAdd({ kind: 'bridge', name: 'br0', up: true });
      const br = h.linkGet('br0').index;
      h.addrAdd({ link: br, address: `${BR_IP}/16` });
      const w: World = { n, tag, host, h, br };
      const c = m.run(w);
      verify(m.name, w);
      return { us: c.us / n, cpuUs: c.cpuUs / n };
    } finally {
      h.close();
      for (const name of listNetns()) if (name.startsWith(`pod-${tag}-`)) deleteNetns(name);
    }
  });
  return { ...c, freedMs: await settleNetns(before) };
}

/** µs per socket opened in ns and closed: C, then rtnl's `new Handle(ns)` + close. */
function sockets(ns: Netns, count: number): { c: number; rtnl: number } {
  const c = cref<{ us: number }>(undefined, ['sockets', count, ns.path]).us;
  const ref = { path: ns.path }; // opened by path, as C does
  new Handle(ref).close(); // warm
  const t0 = nowUs();
  for (let i = 0; i < count; i++) new Handle(ref).close();
  return { c, rtnl: (nowUs() - t0) / count };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ns = (args.get('n') ?? '100,1000').split(',').map(Number);
  const runs = Number(args.get('runs') ?? 3);
  const count = Number(args.get('sockets') ?? 1000);
  if (ns.some((n) => !Number.isInteger(n) || n < 1 || n > 1000) || !(runs >= 1) || !(count >= 1))
    throw new Error('usage: pods.js [--n 100,1000 (at most 1000: a bridge holds 1,023 ports)] [--runs 3] [--sockets 1000] [--verbose]');
  if (process.env.RTNL_SANDBOX !== '1') throw new Error('run me under scripts/sandbox');
  buildCref();

  const t0 = nowUs();
  console.log(`# W1 pod setup, rtnl beside C/libmnl in the same run (µs per pod; medians of ${runs} runs, interleaved; ratios to C of the same run)\n`);
  console.log(envLine());
  console.log('Every run in a fresh host namespace with br0 (10.99.0.1/16); each pod\'s state is read back after every run, then the kernel is left to free the run\'s namespaces before the next. C times itself (its process start is not counted). CPU: user + system time of the whole process (rtnl: every thread of node).\n');
  for (const n of ns) {
    const xs = new Map(METHODS.map((m) => [m.name, [] as (Cost & { freedMs: number })[]]));
    for (let r = 0; r < runs; r++) {
      for (const mi of ORDER[r % 2]) {
        const m = METHODS[mi]!;
        await settle(5_000);
        const x = await once(m, n, `${r}${mi}`);
        xs.get(m.name)!.push(x);
        if (args.has('verbose')) console.error(`N=${n} run ${r + 1} ${m.name}: ${fmtUs(x.us)} µs/pod, CPU ${fmtUs(x.cpuUs)}; namespaces freed ${x.freedMs} ms after`);
      }
    }
    const col = (name: string, k: keyof Cost) => xs.get(name)!.map((x) => x[k]);
    // The ratio of a and b in each run (same machine load), then their median and spread.
    const perRun = (a: string, b: string, k: keyof Cost) => {
      const rs = col(a, k).map((x, i) => x / col(b, k)[i]!);
      return `${median(rs).toFixed(2)}× (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})`;
    };
    const spread = (v: number[]) => `${fmtUs(Math.min(...v))}–${fmtUs(Math.max(...v))}`;
    console.log(`## N = ${n}\n`);
    printTable(['method', 'µs/pod', 'runs', 'CPU µs/pod', 'runs'], METHODS.map((m) => [m.name, fmtUs(median(col(m.name, 'us'))), spread(col(m.name, 'us')), fmtUs(median(col(m.name, 'cpuUs'))), spread(col(m.name, 'cpuUs'))]));
    console.log('\nPer-run ratios, median (min–max):\n');
    printTable(['', 'wall', 'CPU'], [
      ['rtnl sync / C sync', perRun('rtnl sync', 'C sync', 'us'), perRun('rtnl sync', 'C sync', 'cpuUs')],
      ['rtnl batch / C pipelined', perRun('rtnl batch', 'C pipelined', 'us'), perRun('rtnl batch', 'C pipelined', 'cpuUs')],
    ]);
    console.log('');
  }

  await withNetns('sock', (sns) => {
    const xs = range(runs).map(() => sockets(sns, count));
    console.log(`## A socket in a namespace (µs each, ${count} per run, median of ${runs})\n`);
    const c = median(xs.map((x) => x.c)), r = median(xs.map((x) => x.rtnl));
    printTable(['method', 'µs', 'vs C'], [['C: open ns, setns, socket, bind, setns back, close', fmtUs(c), '1.00×'], ['rtnl: new Handle(ns) + close()', fmtUs(r), ratio(r, c)]]);
    console.log(`\nPer-run ratio (median): ${median(xs.map((x) => x.rtnl / x.c)).toFixed(2)}×`);
  });
  console.log(`\ntotal ${((nowUs() - t0) / 1e6).toFixed(1)} s; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
