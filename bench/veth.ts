// The workload: create, then delete, N veth pairs whose peer lives in
// another namespace, through rtnl (sync, async, async with 16 in flight,
// one batch) and through iproute2 (a process per operation, one `ip -batch`),
// all in the same run. Layout as bench-anchors W1: host end `vh<i>` (mtu 1450)
// in a fresh host namespace, peer `eth0` created directly in namespace pod-<i>.
//
//   npm run build:ts && npm run bench -- --n 100,1000 --runs 3
//   options: --n LIST (1000)  --runs R (3)  --del-sample S (200)  --layout pods|one (pods)
//            --only SUBSTR,... (methods whose name contains one)  --verbose (progress, per-run figures on stderr)
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import { Handle, type Netns, type VethSpec, assertBatch, createNetns, deleteNetns } from '../src/index.js';
import { fmtUs, ip, ipBatch, median, nowUs, parseArgs, pool, printTable, range, ratio, sampleMethods, timeUsAsync, withNetns } from './lib.js';

/** Every pair is created in this interface group, so group delete (and cleanup) can take them all at once. */
const GROUP = 7;
const MTU = 1450;
const CONCURRENCY = 16;

type Layout = 'pods' | 'one';

/** One run's world: a fresh host namespace, the peers' namespaces, a handle in the host namespace. */
interface World {
  n: number;
  host: Netns;
  h: Handle;
  /** Namespace name and peer name of pair i. */
  peerNs(i: number): string;
  peerName(i: number): string;
}

interface Method {
  name: string;
  create(w: World): void | Promise<void>;
  /** 'each': deletes vh0..vh<count-1> one at a time (by its means); 'group': deletes the whole group in one request. */
  del: 'each' | 'group';
  remove(w: World, count: number): void | Promise<void>;
}

const vh = (i: number) => `vh${i}`;
const spec = (w: World, i: number): VethSpec => ({
  kind: 'veth', name: vh(i), mtu: MTU, linkGroup: GROUP, peer: { name: w.peerName(i), netns: { name: w.peerNs(i) } },
});
const ipAdd = (w: World, i: number) =>
  ['link', 'add', vh(i), 'mtu', String(MTU), 'group', String(GROUP), 'type', 'veth', 'peer', 'name', w.peerName(i), 'netns', w.peerNs(i)];

const ipBatchCreate = (w: World) => ipBatch(w.host, range(w.n).map((i) => ipAdd(w, i).join(' ')));
const rtnlBatchCreate = (w: World) => assertBatch(w.h.batch((b) => range(w.n).forEach((i) => b.linkAdd(spec(w, i)))));

const METHODS: Method[] = [
  {
    name: '`ip` per operation',
    create: (w) => range(w.n).forEach((i) => ip(w.host, ipAdd(w, i))),
    del: 'each',
    remove: (w, k) => range(k).forEach((i) => ip(w.host, ['link', 'del', vh(i)])),
  },
  {
    name: '`ip -batch`',
    create: ipBatchCreate,
    del: 'each',
    remove: (w, k) => ipBatch(w.host, range(k).map((i) => `link del ${vh(i)}`)),
  },
  {
    name: '`ip -batch`, delete: `ip link del group`',
    create: ipBatchCreate,
    del: 'group',
    remove: (w) => ip(w.host, ['link', 'del', 'group', String(GROUP)]),
  },
  {
    name: 'rtnl sync (h.linkAdd)',
    create: (w) => range(w.n).forEach((i) => w.h.linkAdd(spec(w, i))),
    del: 'each',
    remove: (w, k) => range(k).forEach((i) => w.h.linkDel(vh(i))),
  },
  {
    name: 'rtnl async, sequential',
    create: async (w) => {
      for (let i = 0; i < w.n; i++) await w.h.async.linkAdd(spec(w, i));
    },
    del: 'each',
    remove: async (w, k) => {
      for (let i = 0; i < k; i++) await w.h.async.linkDel(vh(i));
    },
  },
  {
    name: `rtnl async, ${CONCURRENCY} in flight`,
    create: (w) => pool(w.n, CONCURRENCY, (i) => w.h.async.linkAdd(spec(w, i))),
    del: 'each',
    remove: (w, k) => pool(k, CONCURRENCY, (i) => w.h.async.linkDel(vh(i))),
  },
  {
    name: 'rtnl batch (one h.batch)',
    create: rtnlBatchCreate,
    del: 'each',
    remove: (w, k) => assertBatch(w.h.batch((b) => range(k).forEach((i) => b.linkDel(vh(i))))),
  },
  {
    name: 'rtnl batch, delete: h.linkDelGroup',
    create: rtnlBatchCreate,
    del: 'group',
    remove: (w) => w.h.linkDelGroup(GROUP),
  },
];

interface Sample {
  create: number;
  del: number;
}

function vethCount(h: Handle): number {
  return h.linkList({ kind: 'veth' }).length;
}

/** One method at one N: fresh namespaces, create (timed), delete (timed), verify, clean up. µs per pair. */
async function runOnce(m: Method, n: number, layout: Layout, delSample: number, tag: string): Promise<Sample> {
  const peerNs = layout === 'pods' ? (i: number) => `pod-${tag}-${i}` : () => `peers-${tag}`;
  const nsNames = layout === 'pods' ? range(n).map(peerNs) : [peerNs(0)];
  for (const name of nsNames) createNetns(name).close();
  try {
    return await withNetns(`bh-${tag}`, async (host) => {
      const h = new Handle(host);
      const w: World = { n, host, h, peerNs, peerName: layout === 'pods' ? () => 'eth0' : (i) => `p${i}` };
      try {
        const create = (await timeUsAsync(async () => m.create(w))) / n;
        const made = vethCount(h);
        if (made !== n) throw new Error(`${m.name}: ${made} veths after creating ${n}`);
        const k = m.del === 'group' ? n : Math.min(n, delSample);
        const del = (await timeUsAsync(async () => m.remove(w, k))) / k;
        const left = vethCount(h);
        if (left !== n - k) throw new Error(`${m.name}: ${left} veths left after deleting ${k} of ${n}`);
        if (left) h.linkDelGroup(GROUP); // the rest of a sampled delete: untimed
        return { create, del };
      } finally {
        h.close();
      }
    });
  } finally {
    for (const name of nsNames) deleteNetns(name);
  }
}

function env(): string {
  const ipv = execFileSync('ip', ['-V'], { encoding: 'utf8' }).trim();
  return `Linux ${os.release()}, ${os.cpus().length} CPUs, node ${process.version}, ${ipv}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ns = (args.get('n') ?? '1000').split(',').map(Number);
  const runs = Number(args.get('runs') ?? 3);
  const delSample = Number(args.get('del-sample') ?? 200);
  const layout = (args.get('layout') ?? 'pods') as Layout;
  const only = args.get('only')?.split(',');
  const methods = only ? METHODS.filter((m) => only.some((o) => m.name.includes(o))) : METHODS;
  if (ns.some((n) => !Number.isInteger(n) || n < 1) || !(runs >= 1) || !(delSample >= 1) || !['pods', 'one'].includes(layout))
    throw new Error('usage: veth.js [--n 100,1000] [--runs 3] [--del-sample 200] [--layout pods|one] [--only SUBSTR,...] [--verbose]');
  if (process.env.RTNL_SANDBOX !== '1') throw new Error('run me under scripts/sandbox (npm run bench)');

  const t0 = nowUs();
  console.log(`# veth pairs: create then delete (medians of ${runs} runs, µs per pair)\n`);
  console.log(env());
  console.log(layout === 'pods'
    ? `Per pair: host end vh<i> (mtu ${MTU}, group ${GROUP}) in a fresh host namespace, peer eth0 created directly in its own namespace pod-<i> (bench-anchors W1 layout). Links stay down.`
    : `Per pair: host end vh<i> (mtu ${MTU}, group ${GROUP}) in a fresh host namespace, peer p<i> created directly in ONE peer namespace. Links stay down.`);
  console.log('Every method runs in fresh namespaces (created and removed untimed); the machine is let settle between methods.');
  console.log('Ratios are time ratios (lower is better), create / delete.\n');

  for (const n of ns) {
    const tn = nowUs();
    const { samples, busy } = await sampleMethods(methods, runs, (m, tag) => runOnce(m, n, layout, delSample, tag), args.has('verbose')
      ? (m, r, x, idle) => console.error(`N=${n} run ${r} ${m.name}: create ${fmtUs(x.create)}, delete ${fmtUs(x.del)} µs/pair${idle ? '' : ' (machine busy)'}`)
      : undefined);
    const med = new Map([...samples].map(([m, s]) => [m, { create: median(s.map((x) => x.create)), del: median(s.map((x) => x.del)) }]));
    const none = { create: NaN, del: NaN };
    const ipOp = med.get(METHODS[0]!) ?? none;
    const ipB = med.get(METHODS[1]!) ?? none;
    const sampled = n > delSample;
    console.log(`## N = ${n} (${((nowUs() - tn) / 1e6).toFixed(1)} s)\n`);
    printTable(
      ['method', 'create µs/pair', `delete µs/pair${sampled ? ' *' : ''}`, 'ratio vs `ip` per op', 'ratio vs `ip -batch`'],
      methods.map((m) => {
        const x = med.get(m)!;
        return [m.name, fmtUs(x.create), fmtUs(x.del),
          `${ratio(x.create, ipOp.create)} / ${ratio(x.del, ipOp.del)}`,
          `${ratio(x.create, ipB.create)} / ${ratio(x.del, ipB.del)}`];
      }),
    );
    if (sampled)
      console.log(`\n\\* one-by-one deletes are timed on the first ${delSample} of the ${n} pairs (the cost is per link and kernel-bound, ~RCU grace periods), the rest then go by group, untimed; group deletes take all ${n}. \`--del-sample ${n}\` times them all (~20 ms per link per method per run).`);
    if (busy) console.log(`\nThe machine was busy with other work before ${busy} of ${runs * methods.length} method runs (CPU not idle after 2 s): these figures are noisier.`);
    console.log('');
  }
  console.log(`total ${((nowUs() - t0) / 1e6).toFixed(1)} s; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
