// bench-anchors W3 "dump + parse": time one full dump, parsed into objects,
// of 1,000 links, 10,000 routes and 10,000 neighbours, through rtnl (sync,
// async), the C reference (bench/cref.c, libmnl) and `ip -j ...` spawned and
// JSON.parse'd, in the same run.
//
// The world, built fresh for every run in its own namespace (untimed, but its
// build rate is reported): 500 veth pairs with both ends in the namespace
// (= 1,000 links, plus lo; veth rather than bridges because a pair is two
// links for one request, and a bridge adds its own multicast/IPv6 work),
// 10,000 IPv4 /32 routes `dev a0` in one h.batch, 10,000 permanent ARP
// entries on a0 in one h.batch. Every dump's length is checked against that.
//
//   npm run compile && scripts/sandbox node dist/bench/dump.js --runs 3
//   options: --links L (1000, even)  --routes R (10000)  --neighs K (10000)  --runs 3  --reps 5 (timed dumps per method per run)  --verbose
import * as os from 'node:os';
import { Handle, type Netns, assertBatch } from '../src/index.js';
import { buildCref, cref } from './cref.js';
import { envLine, ipJson, median, nowUs, parseArgs, printTable, range, ratio, settle, sysctl, withNetns } from './lib.js';

const hex = (x: number) => x.toString(16).padStart(2, '0');
const routeDst = (i: number) => `10.${i >> 8}.${i & 255}.1/32`;
const neighIp = (i: number) => `172.16.${i >> 8}.${i & 255}`;
const neighMac = (i: number) => `02:00:00:00:${hex(i >> 8)}:${hex(i & 255)}`;

interface Sizes {
  links: number;
  routes: number;
  neighs: number;
}

type Kind = keyof Sizes;
const KINDS: Kind[] = ['links', 'routes', 'neighs'];

/** A dump method: returns the number of objects it parsed, and the ms when it timed itself (the C reference). */
interface Method {
  name: string;
  dump: Record<Kind, (ns: Netns, h: Handle) => number | Promise<number> | { count: number; ms: number }>;
}

// One timed dump after a warm-up inside the C process: its start-up is not counted.
const cDump = (kind: string) => (ns: Netns) => cref<{ count: number; ms: number }>(ns, ['dump', kind, 1]);

const METHODS: Method[] = [
  { name: 'C (libmnl, parsed into structs)', dump: { links: cDump('links'), routes: cDump('routes'), neighs: cDump('neighs') } },
  {
    name: 'rtnl sync (h.linkList / routeList / neighList)',
    dump: {
      links: (_, h) => h.linkList().length,
      routes: (_, h) => h.routeList({ family: 4 }).length, // `ip route`: IPv4, main table
      neighs: (_, h) => h.neighList().length,
    },
  },
  {
    name: 'rtnl async (await h.async.…List)',
    dump: {
      links: async (_, h) => (await h.async.linkList()).length,
      routes: async (_, h) => (await h.async.routeList({ family: 4 })).length,
      neighs: async (_, h) => (await h.async.neighList()).length,
    },
  },
  {
    name: '`ip -j link|route|neigh` (spawnSync + JSON.parse)',
    dump: {
      links: (ns) => ipJson(ns, ['link']).length,
      routes: (ns) => ipJson(ns, ['route']).length,
      neighs: (ns) => ipJson(ns, ['neigh']).length,
    },
  },
];

/** bench-anchors.md W3 (ms per full dump), measured elsewhere on this kind of machine. */
const ANCHORS: [string, number, number, number][] = [
  ['C', 15.2, 4.6, 4.7],
  ['Go vishvananda/netlink', 23.8, 25.8, 18.3],
  ['npm netlink 0.3.0', 59.3, 39.3, 39.2],
  ['pyroute2', 370, 660, 641],
  ['`ip -j` via spawnSync + JSON.parse', 30.4, 67.3, 84.9],
];

interface Build {
  /** µs per request of each timed build step. */
  veth: number;
  route: number;
  neigh: number;
}

/** Fills h's namespace with the world; returns µs per request of each step. */
function build(h: Handle, z: Sizes): Build {
  const t = (fn: () => void, n: number) => {
    const t0 = nowUs();
    fn();
    return (nowUs() - t0) / n;
  };
  const pairs = z.links / 2;
  const veth = t(() => assertBatch(h.batch((b) => range(pairs).forEach((i) => b.linkAdd({ kind: 'veth', name: `a${i}`, peer: { name: `b${i}` } })))), pairs);
  assertBatch(h.batch((b) => {
    b.linkSetUp('a0'); // a route needs its device up
    b.linkSetUp('b0');
  }));
  const a0 = h.linkGet('a0').index;
  const route = t(() => assertBatch(h.batch((b) => range(z.routes).forEach((i) => b.routeAdd({ dst: routeDst(i), link: a0 })))), z.routes);
  const neigh = t(() => assertBatch(h.batch((b) => range(z.neighs).forEach((i) => b.neighAdd({ link: a0, address: neighIp(i), lladdr: neighMac(i), state: 'permanent' })))), z.neighs);
  return { veth, route, neigh };
}

function gcThresh3(ns: Netns): string {
  try {
    return `${sysctl(ns, 'net.ipv4.neigh.default.gc_thresh3')} (permanent entries do not count against it)`;
  } catch {
    return 'not listed (a global setting shown only in the initial namespace; permanent entries do not count against it)';
  }
}

const want = (z: Sizes, k: Kind) => (k === 'links' ? z.links + 1 : z[k]); // + lo

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const z: Sizes = { links: Number(args.get('links') ?? 1000), routes: Number(args.get('routes') ?? 10_000), neighs: Number(args.get('neighs') ?? 10_000) };
  const runs = Number(args.get('runs') ?? 3);
  const reps = Number(args.get('reps') ?? 5);
  if (!(z.links >= 2 && z.links % 2 === 0) || !(z.routes >= 1 && z.routes <= 65_536) || !(z.neighs >= 1 && z.neighs <= 65_536) || !(runs >= 1) || !(reps >= 1))
    throw new Error('usage: dump.js [--links 1000 (even)] [--routes 10000] [--neighs 10000] [--runs 3] [--reps 5] [--verbose]');
  if (process.env.RTNL_SANDBOX !== '1') throw new Error('run me under scripts/sandbox');
  buildCref();

  const t0 = nowUs();
  console.log(`# W3 dump + parse: one full dump, parsed into objects (ms per dump; per run the median of ${reps} dumps after one warm-up, then the median of ${runs} runs)\n`);
  console.log(envLine());
  console.log(`World, fresh per run in its own namespace: ${z.links / 2} veth pairs (${z.links} links + lo), ${z.routes} IPv4 /32 routes dev a0, ${z.neighs} permanent ARP entries on a0; IPv6 disabled on the new links (no NDP entries in the counts).`);
  console.log('Dumps as iproute2 shows them: every link; IPv4 routes of the main table (`ip route`); neighbours of every family (`ip neigh`). Every dump\'s length is checked.');
  console.log('The machine is shared with other jobs: lib.ts settle() waits (up to 2 s) for an idle CPU before every method and kind.\n');

  const samples = new Map<string, number[]>(); // `${method}|${kind}` -> per-run medians
  const builds: Build[] = [];
  let busy = 0;
  let settles = 0;
  for (let r = 0; r < runs; r++) {
    await withNetns(`dump-${r}`, async (ns) => {
      const h = new Handle(ns);
      try {
        // gc_thresh1-3 belong to the ARP table, which every namespace shares: the kernel lists them only in the
        // initial namespace, so a sandbox can neither read nor raise them. Not needed: permanent entries are
        // exempt from the neighbour GC and do not count against gc_thresh3 (kernel 4.19+).
        if (r === 0) console.log(`net.ipv4.neigh.default.gc_thresh3 in the namespace: ${gcThresh3(ns)}\n`);
        // Up links with IPv6 would add NDP entries (multicast, DAD) to the neighbour dump; the counts must be exact.
        sysctl(ns, 'net.ipv6.conf.default.disable_ipv6', '1');
        builds.push(build(h, z));
        for (const m of METHODS) {
          for (const k of KINDS) {
            const s = await settle();
            settles++;
            if (!s.idle) busy++;
            const once = async () => {
              const t = nowUs();
              const r = await m.dump[k](ns, h);
              const got = typeof r === 'number' ? r : r.count;
              const ms = typeof r === 'number' ? (nowUs() - t) / 1e3 : r.ms;
              if (got !== want(z, k)) throw new Error(`${m.name}: ${k} dump returned ${got}, expected ${want(z, k)}`);
              return ms;
            };
            await once(); // warm-up: first-call costs (JIT, page faults) are not the dump's
            const xs: number[] = [];
            for (let i = 0; i < reps; i++) xs.push(await once());
            const key = `${m.name}|${k}`;
            samples.set(key, [...(samples.get(key) ?? []), median(xs)]);
            if (args.has('verbose')) console.error(`run ${r + 1} ${m.name} ${k}: ${xs.map((x) => x.toFixed(1)).join(' ')} ms${s.idle ? '' : ' (machine busy)'}`);
          }
        }
      } finally {
        h.close();
      }
    });
  }

  const med = (m: Method, k: Kind) => median(samples.get(`${m.name}|${k}`) ?? []);
  const ms = (x: number) => (Number.isFinite(x) ? (x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US')) : '—');
  const c = METHODS[0]!;
  const ipj = METHODS[3]!;
  // Ratios to C run by run (same world, same machine load), then the median.
  const vsC = (m: Method, k: Kind) => {
    const a = samples.get(`${m.name}|${k}`) ?? [], b = samples.get(`${c.name}|${k}`) ?? [];
    const r = median(a.map((x, i) => x / (b[i] ?? NaN)));
    return Number.isFinite(r) ? `${r.toFixed(2)}×` : '—';
  };
  console.log(`## ms per full dump (medians)\n`);
  printTable(
    ['method', `${z.links} links`, `${z.routes} routes`, `${z.neighs} neighbours`, 'vs C (links / routes / neighs)', 'ratio vs `ip -j`'],
    METHODS.map((m) => [m.name, ...KINDS.map((k) => ms(med(m, k))), KINDS.map((k) => vsC(m, k)).join(' / '),
      KINDS.map((k) => ratio(med(m, k), med(ipj, k))).join(' / ')]),
  );
  console.log('\nPer object (µs): ' + METHODS.map((m) => `${m.name.split(' (')[0]}: ${KINDS.map((k) => (1e3 * med(m, k) / want(z, k)).toFixed(2)).join(' / ')}`).join('; '));
  const b = (f: keyof Build) => median(builds.map((x) => x[f])).toFixed(1);
  console.log(`\nBuilding the world through one h.batch per step (µs per request, median of runs): veth pair ${b('veth')}, route ${b('route')}, permanent neighbour ${b('neigh')}.`);
  if (busy) console.log(`The machine was busy with other work before ${busy} of ${settles} measurements (CPU not idle after 2 s): these figures are noisier.`);

  console.log('\n## For reference: bench-anchors.md W3, measured elsewhere (not in this run), ms per full dump\n');
  printTable(['tool', '1000 links', '10k routes', '10k neighbours'], ANCHORS.map(([t, a, b2, c]) => [t, ms(a), ms(b2), ms(c)]));
  console.log(`\ntotal ${((nowUs() - t0) / 1e6).toFixed(1)} s; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
