// The bgp backend's convergence: N node namespaces on one veth underlay, a
// real BIRD per node run by the backend (in this process, no etcd: the
// membership change is handed to every backend at once, so what is timed is
// the speakers, not the etcd watch that bench:agent times). Per run a new
// node joins a converged cluster of N-1, then leaves; we time
//   start:   its ensure() (BIRD started, answering) + first sync,
//   first:   from the join until the first other node has its subnet in the kernel (proto bird),
//   all:     ... until every other node has it, and the joiner has all theirs,
//   leave:   from the joiner's cleanup() until no node routes to it any more.
// Then the same for BGP EVPN (FRR's zebra + bgpd per node, a route
// reflector): a node joins a VNI (its FRR started, its `vx100` on `br100`
// made, as the plugin's evpn mode does with a VNI's first pod) and we time
//   start:   FRR started (both daemons running) + the device made,
//   all:     ... until every other node has a flood entry (type-3) to it and it has one to each,
//   leave:   from its `vx100` deleted (its last pod gone) until no node floods to it.
// Reported, never asserted: the speakers' timers (BIRD's connect delay 1 s,
// FRR's connect retry 1 s, the sessions' OPEN/KEEPALIVE exchange) dominate, not rtnl.
//
//   npm run compile && scripts/sandbox node dist/bench/agent-bgp.js --n 3,10 --runs 3
import * as fs from 'node:fs';
import { Cluster, underlayIp } from '../demo/cluster.js';
import { BgpBackend } from '../src/agent/bgp/backend.js';
import { FrrSpeaker, frrEvpnConfig } from '../src/agent/bgp/evpn.js';
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

async function evpn(n: number, runs: number): Promise<Record<'start' | 'all' | 'leave', number[]>> {
  const dir = fs.mkdtempSync('/run/rtnl-bench-evpn-');
  fs.chmodSync(dir, 0o755); // FRR's daemons run as the frr user
  const c = new Cluster(`be${n}`);
  const speakers: FrrSpeaker[] = [];
  const out = { start: [] as number[], all: [] as number[], leave: [] as number[] };
  try {
    c.underlay();
    const nodes = new Map<number, ReturnType<Cluster['addBareNode']>>();
    const frr = async (i: number, conf: string) => {
      const node = c.addBareNode(i);
      nodes.set(i, node);
      const s = new FrrSpeaker({ dir: `${dir}/frr${i}`, pathspace: `be${n}-${i}`, netns: node.ns });
      speakers.push(s);
      await s.start(conf);
      return s;
    };
    const vtep = (i: number) => frrEvpnConfig({ asn: 65010, routerId: underlayIp(i), holdTimeSec: 9, routeReflectors: [underlayIp(250)] });
    /** Joins VNI 100 as the plugin's evpn mode does: br100 with a nolearning vx100 on it. */
    const join = (i: number) => {
      const h = nodes.get(i)!.h;
      h.linkAdd({ kind: 'bridge', name: 'br100', up: true });
      h.linkAdd({ kind: 'vxlan', name: 'vx100', vni: 100, port: 4789, learning: false, local: underlayIp(i), master: h.linkGet('br100').index, up: true });
    };
    const floods = (i: number, j: number) => {
      try {
        const h = nodes.get(i)!.h;
        return h.fdbList({ link: h.linkGet('vx100').index }).some((e) => e.mac === '00:00:00:00:00:00' && e.dst === underlayIp(j));
      } catch {
        return false;
      }
    };
    await frr(250, frrEvpnConfig({ asn: 65010, routerId: underlayIp(250), holdTimeSec: 9, listenRange: '192.168.100.0/24' }));
    const base = Array.from({ length: n - 1 }, (_, k) => k + 1);
    for (const i of base) {
      await frr(i, vtep(i));
      join(i);
    }
    await until(() => base.every((i) => base.every((j) => i === j || floods(i, j))), performance.now(), 'the base VTEPs');
    for (let r = 0; r < runs; r++) {
      const j = 100 + r;
      const t0 = performance.now();
      const s = await frr(j, vtep(j));
      join(j);
      out.start.push(performance.now() - t0);
      out.all.push(await until(() => base.every((i) => floods(i, j) && floods(j, i)), t0, 'every VTEP'));
      const t1 = performance.now();
      nodes.get(j)!.h.linkDel('vx100');
      out.leave.push(await until(() => base.every((i) => !floods(i, j)), t1, 'the leave'));
      await s.stop();
    }
    return out;
  } finally {
    for (const s of speakers) await s.stop().catch(() => undefined);
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
  console.log(`\nBGP EVPN (FRR, one route reflector), a VTEP joining VNI 100, median of ${runs} joins, ms\n`);
  const erows: string[][] = [];
  for (const n of sizes) {
    const s = await evpn(n, runs);
    erows.push([String(n), ...(['start', 'all', 'leave'] as const).map((k) => median(s[k]).toFixed(1))]);
  }
  printTable(['VTEPs', 'FRR started + device made', 'flood entries everywhere', 'leave: withdrawn everywhere'], erows);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
