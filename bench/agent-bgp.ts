// The bgp backend's convergence: N node namespaces on one veth underlay, a
// real BIRD per node run by the backend (in this process, no etcd: the
// membership change is handed to every backend at once, so what is timed is
// the speakers, not the etcd watch that bench:agent times). Per run a new
// node joins a converged cluster of N-1, then leaves; we time
//   start:   its ensure() (BIRD started, answering) + first sync,
//   first:   from the join until the first other node has its subnet in the kernel (proto bird),
//   all:     ... until every other node has it, and the joiner has all theirs,
//   leave:   from the joiner's cleanup() until no node routes to it any more.
// Reported, never asserted: BIRD's timers (connect delay 1 s, the session's
// OPEN/KEEPALIVE exchange) dominate, not rtnl.
//
//   npm run compile && scripts/sandbox node dist/bench/agent-bgp.js --n 3,10 --runs 3
import * as fs from 'node:fs';
import { Cluster, underlayIp } from '../demo/cluster.js';
import { BgpBackend } from '../src/agent/bgp/backend.js';
import type { NodeRecord } from '../src/agent/types.js';
import { envLine, median, parseArgs, printTable } from './lib.js';

const record = (i: number): NodeRecord => ({ name: `node${i}`, underlay: underlayIp(i), subnet: `10.244.${i}.0/24` });

/** Resolves when cond() holds (polled every ms); ms since t0. */
async function until(cond: () => boolean, t0: number, what: string): Promise<number> {
  while (!cond()) {
    if (performance.now() - t0 > 120_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return performance.now() - t0;
}

async function run(n: number, runs: number): Promise<Record<'start' | 'first' | 'all' | 'leave', number[]>> {
  const dir = fs.mkdtempSync('/run/rtnl-bench-bgp-');
  const c = new Cluster(`bb${n}`);
  const backends = new Map<number, BgpBackend>();
  const out = { start: [] as number[], first: [] as number[], all: [] as number[], leave: [] as number[] };
  try {
    c.underlay();
    const nodes = new Map<number, ReturnType<Cluster['addBareNode']>>();
    const make = (i: number) => {
      const node = c.addBareNode(i);
      nodes.set(i, node);
      const b = new BgpBackend({ handle: node.h, netns: node.ns, self: record(i), network: { network: '10.244.0.0/16', subnetLen: 24 }, settings: { asn: 64512, routeReflectors: [], holdTimeSec: 30, dir: `${dir}/node${i}` } });
      backends.set(i, b);
      return b;
    };
    const has = (i: number, j: number) => nodes.get(i)!.h.routeList({ family: 4, protocol: 'bird' }).some((r) => r.dst === record(j).subnet && r.gateway === underlayIp(j));
    const base = Array.from({ length: n - 1 }, (_, k) => k + 1);
    for (const i of base) await make(i).ensure();
    for (const i of base) await backends.get(i)!.sync(base.map(record));
    await until(() => base.every((i) => base.every((j) => i === j || has(i, j))), performance.now(), 'the base cluster');
    for (let r = 0; r < runs; r++) {
      const j = 100 + r; // a fresh node each run
      const t0 = performance.now();
      const all = [...base, j].map(record);
      for (const i of base) await backends.get(i)!.sync(all);
      const b = make(j);
      await b.ensure();
      await b.sync(all);
      out.start.push(performance.now() - t0);
      out.first.push(await until(() => base.some((i) => has(i, j)), t0, 'the first node'));
      out.all.push(await until(() => base.every((i) => has(i, j)) && base.every((i) => has(j, i)), t0, 'every node'));
      const t1 = performance.now();
      await b.cleanup();
      backends.delete(j);
      for (const i of base) await backends.get(i)!.sync(base.map(record));
      out.leave.push(await until(() => base.every((i) => !has(i, j)), t1, 'the leave'));
    }
    return out;
  } finally {
    for (const b of backends.values()) await b.cleanup().catch(() => undefined);
    c.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const sizes = (args.get('n') ?? '3,10').split(',').map(Number);
  const runs = Number(args.get('runs') ?? 3);
  console.log(`bgp backend convergence (BIRD 2, full mesh), median of ${runs} joins, ms; ${envLine()}\n`);
  const rows: string[][] = [];
  for (const n of sizes) {
    const s = await run(n, runs);
    rows.push([String(n), ...(['start', 'first', 'all', 'leave'] as const).map((k) => median(s[k]).toFixed(1))]);
  }
  printTable(['nodes', 'joiner started + synced', 'first node routes to it', 'all routes everywhere', 'leave: withdrawn everywhere'], rows);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
