// bench-anchors W1 "pod setup", rtnl beside the C reference (bench/cref.c)
// in the same run: per pod, a namespace pod-<tag>-<i>; the veth vh-<i>
// (mtu 1450, master br0, up) with its peer eth0 created directly in it; in
// the pod, eth0's address /16, eth0 up, lo up, default route via br0's
// address. "sync": one request + ack at a time; C "pipe": a window of
// requests per send with one ack; rtnl "batch": one h.batch on the host, one
// per pod. Then the cost of a socket in a namespace: `new Handle(ns)` +
// close against C's open + setns + socket + bind + setns back + close.
//
//   npm run bench:pods -- --n 100,1000 --runs 3
//   options: --n LIST (100,1000)  --runs R (3)  --sockets S (1000)  --verbose
import * as os from 'node:os';
import { Handle, type Netns, type Verbs, assertBatch, createNetns, deleteNetns, listNetns } from '../src/index.js';
import { buildCref, cref } from './cref.js';
import { envLine, fmtUs, median, nowUs, parseArgs, printTable, range, ratio, settle, withNetns } from './lib.js';

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

/** A method's run: returns the µs it took (C times itself: its process start is not counted). */
const METHODS: { name: string; run(w: World): number }[] = [
  { name: 'C sync', run: (w) => cref<{ us: number }>(w.host, ['pods', 'sync', w.n, `pod-${w.tag}`, w.br]).us },
  { name: 'C pipelined', run: (w) => cref<{ us: number }>(w.host, ['pods', 'pipe', w.n, `pod-${w.tag}`, w.br]).us },
  {
    name: 'rtnl sync',
    run: (w) => {
      const t0 = nowUs();
      for (let i = 0; i < w.n; i++) {
        const pod = createNetns(podName(w, i));
        w.h.linkAdd(veth(w, i, pod));
        const p = new Handle(pod);
        for (const op of inside(i)) op(p);
        p.close();
        pod.close();
      }
      return nowUs() - t0;
    },
  },
  {
    name: 'rtnl batch',
    run: (w) => {
      const t0 = nowUs();
      const pods = range(w.n).map((i) => createNetns(podName(w, i)));
      assertBatch(w.h.batch((b) => pods.forEach((pod, i) => b.linkAdd(veth(w, i, pod)))));
      pods.forEach((pod, i) => {
        const p = new Handle(pod);
        assertBatch(p.batch((b) => inside(i).forEach((op) => op(b))));
        p.close();
        pod.close();
      });
      return nowUs() - t0;
    },
  },
];

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

async function once(m: (typeof METHODS)[number], n: number, tag: string): Promise<number> {
  return withNetns(`host-${tag}`, async (host) => {
    const h = new Handle(host);
    try {
      h.linkAdd({ kind: 'bridge', name: 'br0', up: true });
      const br = h.linkGet('br0').index;
      h.addrAdd({ link: br, address: `${BR_IP}/16` });
      const w: World = { n, tag, host, h, br };
      const us = m.run(w);
      verify(m.name, w);
      return us / n;
    } finally {
      h.close();
      for (const name of listNetns()) if (name.startsWith(`pod-${tag}-`)) deleteNetns(name);
    }
  });
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
  console.log('Every run in a fresh host namespace with br0 (10.99.0.1/16); each pod\'s state is read back after every run. C times itself (its process start is not counted).\n');
  for (const n of ns) {
    const xs = new Map(METHODS.map((m) => [m.name, [] as number[]]));
    const rs = { syncVsSync: [] as number[], batchVsPipe: [] as number[] };
    for (let r = 0; r < runs; r++) {
      const got = new Map<string, number>();
      for (const [mi, m] of METHODS.entries()) {
        await settle(5_000);
        const us = await once(m, n, `${r}${mi}`);
        got.set(m.name, us);
        xs.get(m.name)!.push(us);
        if (args.has('verbose')) console.error(`N=${n} run ${r + 1} ${m.name}: ${fmtUs(us)} µs/pod`);
      }
      rs.syncVsSync.push(got.get('rtnl sync')! / got.get('C sync')!);
      rs.batchVsPipe.push(got.get('rtnl batch')! / got.get('C pipelined')!);
    }
    const cSync = median(xs.get('C sync')!);
    console.log(`## N = ${n}\n`);
    printTable(['method', 'µs/pod', 'vs C sync'], METHODS.map((m) => [m.name, fmtUs(median(xs.get(m.name)!)), ratio(median(xs.get(m.name)!), cSync)]));
    console.log(`\nPer-run ratios (median): rtnl sync / C sync ${median(rs.syncVsSync).toFixed(2)}×, rtnl batch / C pipelined ${median(rs.batchVsPipe).toFixed(2)}×\n`);
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
