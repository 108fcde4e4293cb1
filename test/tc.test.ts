// Traffic control: qdiscs (tbf, htb, ingress, clsact) and htb classes made by
// rtnl, read back by rtnl and by `tc`, field by field; their requests against
// what `tc` sends (test/fixtures, captured by capture.sh); and the reference
// CNI bandwidth plugin's shaping (qdiscs and its mirred filter) rebuilt with these verbs.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import t, { type Test } from 'tap';
import type { HtbClass, Qdisc, TbfQdisc } from '../src/index.js';
import { type TestNs, assertHome, testNs, untapped } from './lib.js';
import { REF_DIR, exec } from './plugin-runtime.js';
import { fixture, sameRequest } from './wire.js';

type Tap = Test;

/** A namespace with a veth pair v0/v1; returns their ifindexes. */
function setup(t: Tap): TestNs & { v0: number; v1: number } {
  const n = testNs(t, 'tc');
  n.h.linkAdd({ kind: 'veth', name: 'v0', peer: { name: 'v1' } });
  return { ...n, v0: n.h.linkGet('v0').index, v1: n.h.linkGet('v1').index };
}

const tc = (n: TestNs, ...args: string[]) => execFileSync('tc', ['-n', n.name, ...args], { encoding: 'utf8' });

interface TcQdisc { kind: string; handle: string; dev?: string; root?: boolean; parent?: string; options: Record<string, any> }

/** `tc -j qdisc show dev X`. */
function tcQdiscs(n: TestNs, dev: string): TcQdisc[] {
  return JSON.parse(tc(n, '-j', 'qdisc', 'show', 'dev', dev) || '[]');
}

// tc prints rates in bits with SI prefixes and sizes in bytes with binary ones.
const RATE_UNITS: Record<string, number> = { bit: 1, Kbit: 1e3, Mbit: 1e6, Gbit: 1e9, Tbit: 1e12 };
const SIZE_UNITS: Record<string, number> = { b: 1, Kb: 1024, Mb: 1024 * 1024, Gb: 1024 * 1024 * 1024 };
function unit(s: string, units: Record<string, number>): number {
  const m = /^([\d.]+)([A-Za-z]+)$/.exec(s);
  if (!m || !(m[2]! in units)) throw new Error(`tc printed ${s}`);
  return Number(m[1]) * units[m[2]!]!;
}

/**
 * `tc -d class show dev X`, parsed: iproute2 6.1 prints htb classes as text
 * even with -j. A line reads `class htb 1:10 root|parent 1:1 [prio P]
 * [quantum Q] rate R ceil C linklayer L burst B/cell mpu M cburst ... level N`.
 */
function tcClasses(n: TestNs, dev: string): Array<Record<string, string | number>> {
  return tc(n, '-d', 'class', 'show', 'dev', dev).split('\n').filter((l) => l.startsWith('class ')).map((line) => {
    const w = line.trim().split(/\s+/);
    const c: Record<string, string | number> = { kind: w[1]!, handle: w[2]! };
    for (let i = 3; i < w.length; i += 2) {
      if (w[i] === 'root') { c.parent = 'root'; i--; continue; }
      c[w[i]!] = w[i + 1]!.replace(/\/\d+$/, '');
    }
    for (const k of ['rate', 'ceil']) c[k] = unit(c[k] as string, RATE_UNITS) / 8;
    for (const k of ['burst', 'cburst']) c[k] = unit(c[k] as string, SIZE_UNITS);
    for (const k of ['prio', 'quantum', 'level']) if (c[k] !== undefined) c[k] = Number(c[k]);
    return c;
  });
}

/** tc's `lat` for a tbf: the time the queue (limit) holds beyond the bucket, in microseconds. */
function latency(q: TbfQdisc): number {
  const lat = (limit: number, rate: number, burst: number) => 1e6 * (limit - burst) / rate;
  return Math.max(lat(q.limit, q.rate, q.burst), q.peakrate ? lat(q.limit, q.peakrate, q.mtu!) : -Infinity);
}

/** Our tbf and tc's agree: kind, handle, where it sits, rate, burst, latency, peak bucket. */
function agreeTbf(t: Tap, ours: Qdisc | undefined, theirs: TcQdisc | undefined): void {
  if (ours?.kind !== 'tbf' || !theirs) return void t.fail(`both list the tbf (rtnl: ${ours?.kind}, tc: ${theirs?.kind})`);
  t.equal(theirs.kind, 'tbf', 'kind');
  t.equal(theirs.handle, ours.handle, 'handle');
  t.equal(theirs.root === true, ours.parent === 'root', 'at the root');
  t.equal(theirs.options.rate, ours.rate, 'rate (bytes/s)');
  t.equal(theirs.options.burst, ours.burst, 'burst (bytes)');
  // tc derives lat from the kernel's ticks, we from bytes rounded down: a
  // byte's time apart, and a microsecond or two of tc's rounding.
  const slack = 2 + 1e6 / Math.min(ours.rate, ours.peakrate ?? Infinity);
  t.ok(Math.abs(theirs.options.lat - latency(ours)) <= slack, `lat ${theirs.options.lat} µs, from limit ${ours.limit}: ${latency(ours).toFixed(1)}`);
  t.equal(theirs.options.minburst, ours.mtu, 'peak bucket (tc: minburst)');
}

const find = <T extends { link: number }>(list: T[], link: number, kind?: string) => list.find((q) => q.link === link && (!kind || (q as { kind?: string }).kind === kind));

t.test('tbf: add, read back as tc shows it, replace with a peak rate, delete', (t) => {
  const n = setup(t);
  n.h.qdiscAdd({ kind: 'tbf', link: n.v0, handle: '1:', rate: 125_000, burst: 4096, latency: 400_000 });
  const q = find(n.h.qdiscList({ link: n.v0 }), n.v0) as TbfQdisc;
  t.same(q, { kind: 'tbf', link: n.v0, handle: '1:', parent: 'root', rate: 125_000, burst: 4096, limit: 125_000 * 0.4 + 4096 }, 'read back: the queue holds 400 ms at the rate, plus the bucket');
  agreeTbf(t, q, tcQdiscs(n, 'v0')[0]);

  n.h.qdiscReplace({ kind: 'tbf', link: n.v0, handle: '1:', rate: 250_000, burst: 16384, limit: 30_000, peakrate: 375_000, mtu: 2000 });
  const r = find(n.h.qdiscList({ link: n.v0 }), n.v0) as TbfQdisc;
  t.match(r, { rate: 250_000, burst: 16384, limit: 30_000, peakrate: 375_000 }, 'replaced in place');
  t.ok(r.mtu === 2000 || r.mtu === 1999, `peak bucket ${r.mtu}: 2000 bytes as a transmit time, rounded down`);
  agreeTbf(t, r, tcQdiscs(n, 'v0')[0]);

  n.h.qdiscDel({ link: n.v0 });
  t.notOk(tcQdiscs(n, 'v0').some((x) => x.kind === 'tbf'), 'tc: gone');
  t.notOk(n.h.qdiscList({ link: n.v0 }).some((x) => x.kind === 'tbf'), 'rtnl: gone');
  assertHome(t);
  t.end();
});

t.test('tbf above 4 GiB/s: the 64-bit rate attribute', (t) => {
  const n = setup(t);
  n.h.qdiscAdd({ kind: 'tbf', link: n.v0, rate: 5e9, burst: 1 << 20, latency: 1000 });
  const q = find(n.h.qdiscList({ link: n.v0 }), n.v0) as TbfQdisc;
  t.equal(q.rate, 5e9, 'rate read back past 32 bits');
  t.match(q.handle, /^[0-9a-f]+:$/, `the kernel chose a handle (${q.handle})`);
  t.equal(tcQdiscs(n, 'v0')[0]!.options.rate, 5e9, 'tc agrees');
  t.end();
});

t.test('htb with classes: qdisc and classes agree with tc; replace; delete', (t) => {
  const n = setup(t);
  n.h.qdiscAdd({ kind: 'htb', link: n.v1, handle: '1:', defaultClass: 0x10, r2q: 5 });
  const q = find(n.h.qdiscList({ link: n.v1 }), n.v1)!;
  t.match(q, { kind: 'htb', handle: '1:', parent: 'root', defaultClass: 0x10, r2q: 5 }, 'qdisc read back');
  const tq = tcQdiscs(n, 'v1')[0]!;
  t.match(tq, { kind: 'htb', handle: '1:', root: true }, 'tc: htb at the root');
  t.equal(Number(tq.options.default), 0x10, 'default class (tc prints it in hex)');
  t.equal(tq.options.r2q, 5, 'r2q');
  if (q.kind === 'htb') t.equal(tq.options.direct_qlen, q.directQlen, 'direct_qlen');

  n.h.classAdd({ kind: 'htb', link: n.v1, parent: '1:', handle: '1:10', rate: 1_250_000, ceil: 2_500_000, burst: 15360, cburst: 20480, prio: 2 });
  n.h.classAdd({ kind: 'htb', link: n.v1, parent: '1:10', handle: '1:11', rate: 125_000 });
  n.h.classAdd({ kind: 'htb', link: n.v1, parent: '1:10', handle: '1:12', rate: 625_000_000, ceil: 5e9, prio: 3, quantum: 3000 });
  const ours = n.h.classList({ link: n.v1 }) as HtbClass[];
  const theirs = tcClasses(n, 'v1');
  t.equal(ours.length, 3, 'three classes');
  const inner = ours.find((c) => c.handle === '1:10');
  t.match(inner, { kind: 'htb', link: n.v1, parent: 'root', rate: 1_250_000, ceil: 2_500_000, burst: 15360, cburst: 20480, prio: 2 }, 'a top class reads back with parent root');
  t.match(ours.find((c) => c.handle === '1:11'), { parent: '1:10', rate: 125_000, ceil: 125_000, burst: 1600, cburst: 1600, level: 0 }, 'defaults as tc: ceil = rate, bursts of one 1600-byte packet');
  t.match(ours.find((c) => c.handle === '1:12'), { rate: 625_000_000, ceil: 5e9, prio: 3, quantum: 3000 }, 'ceil past 32 bits');
  for (const c of ours) {
    const x = theirs.find((y) => y.handle === c.handle);
    if (!x) { t.fail(`tc shows ${c.handle}`); continue; }
    for (const k of ['kind', 'parent', 'rate', 'ceil', 'burst', 'cburst', 'level'] as const) t.equal(x[k], c[k], `${c.handle} ${k}`);
    // tc shows prio and quantum for leaves only
    if (c.level === 0) {
      t.equal(x.prio, c.prio, `${c.handle} prio`);
      t.equal(x.quantum, c.quantum, `${c.handle} quantum`);
    }
  }

  const counted = n.h.classList({ link: n.v1, stats: true });
  t.ok(counted.every((c) => typeof c.stats?.bytes === 'bigint' && typeof c.stats.overlimits === 'number'), 'class counters with { stats: true }');
  t.notOk(ours.some((c) => 'stats' in c), 'and only then');

  n.h.classReplace({ kind: 'htb', link: n.v1, parent: '1:10', handle: '1:11', rate: 250_000, ceil: 500_000 });
  t.match(n.h.classList({ link: n.v1 }).find((c) => c.handle === '1:11'), { rate: 250_000, ceil: 500_000 }, 'class replaced');
  t.match(tcClasses(n, 'v1').find((c) => c.handle === '1:11'), { rate: 250_000, ceil: 500_000 }, 'tc agrees');

  n.h.classDel({ link: n.v1, handle: '1:11' });
  t.same(n.h.classList({ link: n.v1 }).map((c) => c.handle).sort(), ['1:10', '1:12'], 'class deleted');
  t.same(tcClasses(n, 'v1').map((c) => c.handle).sort(), ['1:10', '1:12'], 'tc agrees');
  n.h.qdiscDel({ link: n.v1, handle: '1:' });
  t.same(n.h.classList({ link: n.v1 }), [], 'deleting the qdisc took its classes');
  assertHome(t);
  t.end();
});

t.test('ingress and clsact sit at ffff:fff1 with handle ffff:', (t) => {
  const n = setup(t);
  n.h.qdiscAdd({ kind: 'ingress', link: n.v0 });
  n.h.qdiscAdd({ kind: 'clsact', link: n.v1 });
  for (const [dev, link, kind] of [['v0', n.v0, 'ingress'], ['v1', n.v1, 'clsact']] as const) {
    const q = find(n.h.qdiscList({ link }), link, kind);
    t.same(q, { kind, link, handle: 'ffff:', parent: 'ffff:fff1' }, `${kind} read back`);
    t.match(tcQdiscs(n, dev).find((x) => x.kind === kind), { kind, handle: q?.handle, parent: q?.parent }, `tc shows the ${kind} alike`);
  }
  n.h.qdiscDel({ link: n.v0, kind: 'ingress' });
  n.h.qdiscDel({ link: n.v1, parent: 'clsact' });
  t.same([...tcQdiscs(n, 'v0'), ...tcQdiscs(n, 'v1')].filter((x) => x.kind === 'ingress' || x.kind === 'clsact'), [], 'both deleted');
  t.end();
});

t.test('qdiscList: every device, or one (the filter applies in sync, async and batch calls)', async (t) => {
  const n = setup(t);
  n.h.qdiscAdd({ kind: 'ingress', link: n.v0 });
  n.h.qdiscAdd({ kind: 'clsact', link: n.v1 });
  const kinds = (l: Qdisc[]) => l.map((q) => `${q.link}:${q.kind}`).sort();
  t.same(kinds(n.h.qdiscList()).filter((k) => /ingress|clsact/.test(k)), [`${n.v0}:ingress`, `${n.v1}:clsact`].sort(), 'all devices');
  t.same(kinds(n.h.qdiscList({ link: n.v1 })).filter((k) => !k.endsWith('generic')), [`${n.v1}:clsact`], 'sync: v1 only');
  t.ok((await n.h.async.qdiscList({ link: n.v0 })).every((q) => q.link === n.v0), 'async: v0 only');
  const [a, b] = n.h.batch((x) => { x.qdiscList({ link: n.v0 }); x.qdiscList({ link: n.v1 }); });
  t.ok(a?.status === 'fulfilled' && (a.value as Qdisc[]).every((q) => q.link === n.v0) && (a.value as Qdisc[]).length > 0, 'batch: the first for v0');
  t.ok(b?.status === 'fulfilled' && (b.value as Qdisc[]).every((q) => q.link === n.v1) && (b.value as Qdisc[]).length > 0, 'batch: the second for v1');
  n.h.linkSetUp('v0');
  t.ok(n.h.qdiscList({ link: n.v0 }).some((q) => q.kind === 'generic' && q.tcKind === 'noqueue'), 'a default qdisc reads as generic, with the kernel\'s name');
  t.end();
});

t.test('kernel refusals are NetlinkErrors with the kernel\'s words', (t) => {
  const n = setup(t);
  const tbf = { kind: 'tbf', link: n.v0, handle: '1:', rate: 125_000, burst: 4096, latency: 50_000 } as const;
  n.h.qdiscAdd(tbf);
  t.throws(() => n.h.qdiscAdd(tbf), { name: 'NetlinkError', code: 'EEXIST', op: 'qdiscAdd', object: `tbf 1: dev ${n.v0}`, extack: /Exclusivity flag on/ });
  t.throws(() => n.h.qdiscReplace({ kind: 'htb', link: n.v0, handle: '1:' }), { code: 'EINVAL', op: 'qdiscReplace', extack: /Invalid qdisc name/ }, 'replace cannot change the kind');
  t.throws(() => n.h.qdiscDel({ link: n.v0, kind: 'htb' }), { code: 'EINVAL', extack: /must match existing qdisc/ }, 'delete checks the kind');
  t.throws(() => n.h.qdiscDel({ link: n.v1 }), { code: 'ENOENT', op: 'qdiscDel', extack: /handle of zero/ }, 'v1 has only its default');
  // tbf is not classful: its single fixed class cannot be added to or changed
  t.throws(() => n.h.classAdd({ kind: 'htb', link: n.v0, parent: '1:', handle: '1:10', rate: 1000 }), { code: 'EEXIST', op: 'classAdd' });
  t.throws(() => n.h.classReplace({ kind: 'htb', link: n.v0, parent: '1:', handle: '1:10', rate: 1000 }), { code: 'EOPNOTSUPP', op: 'classReplace' });
  t.throws(() => n.h.classAdd({ kind: 'htb', link: n.v1, parent: '7:', handle: '7:1', rate: 1000 }), { code: 'ENOENT' }, 'no such qdisc');
  t.throws(() => n.h.qdiscAdd({ kind: 'ingress', link: 0x7ffffff0 }), { code: 'ENODEV' });
  n.h.qdiscAdd({ kind: 'htb', link: n.v1, handle: '1:' });
  n.h.classAdd({ kind: 'htb', link: n.v1, parent: '1:', handle: '1:10', rate: 1000 });
  n.h.classAdd({ kind: 'htb', link: n.v1, parent: '1:10', handle: '1:11', rate: 1000 });
  t.throws(() => n.h.classDel({ link: n.v1, handle: '1:10' }), { code: 'EBUSY', op: 'classDel', object: `1:10 dev ${n.v1}`, extack: /HTB class in use/ }, 'a class with children stays');
  t.same(n.h.classList({ link: n.v1 }).map((c) => c.handle).sort(), ['1:10', '1:11'], 'both classes still there');
  t.end();
});

t.test('bad input: RtnlInputError naming the field, nothing sent', (t) => {
  const n = setup(t);
  const before = tc(n, 'qdisc', 'show');
  const bad: Array<[string, () => void]> = [
    ['latency', () => n.h.qdiscAdd({ kind: 'tbf', link: n.v0, rate: 1000, burst: 1600 })],
    ['latency', () => n.h.qdiscAdd({ kind: 'tbf', link: n.v0, rate: 1000, burst: 1600, latency: 1, limit: 1 })],
    ['mtu', () => n.h.qdiscAdd({ kind: 'tbf', link: n.v0, rate: 1000, burst: 1600, limit: 1, peakrate: 2000 })],
    ['rate', () => n.h.qdiscAdd({ kind: 'tbf', link: n.v0, rate: 0, burst: 1600, limit: 1 })],
    ['rate', () => n.h.qdiscAdd({ kind: 'tbf', link: n.v0, rate: 1.5, burst: 1600, limit: 1 })],
    ['burst', () => n.h.qdiscAdd({ kind: 'tbf', link: n.v0, rate: 1000, limit: 1 } as never)],
    ['handle', () => n.h.qdiscAdd({ kind: 'htb', link: n.v0, handle: '1:10' })],
    ['handle', () => n.h.qdiscAdd({ kind: 'htb', link: n.v0, handle: '10000:' })],
    ['parent', () => n.h.qdiscAdd({ kind: 'htb', link: n.v0, parent: 'egress' })],
    ['kind', () => n.h.qdiscAdd({ kind: 'fq', link: n.v0 } as never)],
    ['link', () => n.h.qdiscAdd({ kind: 'ingress', link: 0 })],
    ['parent', () => n.h.qdiscAdd({ kind: 'ingress', link: n.v0, parent: 'root' } as never)],
    ['defaultClass', () => n.h.qdiscAdd({ kind: 'htb', link: n.v0, defaultClass: 0x10000 })],
    ['handle', () => n.h.classAdd({ kind: 'htb', link: n.v0, parent: '1:', handle: '1:', rate: 1000 })],
    ['rate', () => n.h.classAdd({ kind: 'htb', link: n.v0, parent: '1:', handle: '1:1' } as never)],
    ['prio', () => n.h.classAdd({ kind: 'htb', link: n.v0, parent: '1:', handle: '1:1', rate: 1000, prio: -1 })],
    ['link', () => n.h.classList({} as never)],
    ['handle', () => n.h.classDel({ link: n.v0, handle: 'x' })],
  ];
  for (const [field, f] of bad) t.throws(f, { name: 'RtnlInputError', field }, field);
  t.equal(tc(n, 'qdisc', 'show'), before, 'nothing changed');
  t.end();
});

// ---- the wire: rtnl's requests against tc's ----

// From <linux/rtnetlink.h> and <linux/pkt_sched.h>: only to read tc's requests.
const TCMSG_END = 16 + 20; // nlmsghdr + struct tcmsg
const TCA_OPTIONS = 2;
const RATE_TABLES: Record<string, number[]> = { tbf: [2 /* TCA_TBF_RTAB */, 3 /* TCA_TBF_PTAB */], htb: [3 /* TCA_HTB_CTAB */, 4 /* TCA_HTB_RTAB */] };
const RTAB_SIZE = 1024;

/** Attributes in b from offset `at` on: [type, whole attribute]. */
function attrs(b: Buffer, at: number, end = b.length): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  while (at + 4 <= end) {
    const len = b.readUInt16LE(at);
    out.push([b.readUInt16LE(at + 2) & 0x3fff, b.subarray(at, at + ((len + 3) & ~3))]);
    at += (len + 3) & ~3;
  }
  return out;
}

/** tc's request without its rate tables (see test/fixtures/README.md); `tables` counts the ones dropped. */
function withoutRateTables(b: Buffer, kind: string, dropped: { tables: number }): Buffer {
  const parts = attrs(b, TCMSG_END).map(([type, a]) => {
    if (type !== TCA_OPTIONS) return a;
    const inner = attrs(a, 4).filter(([ty, x]) => {
      const table = RATE_TABLES[kind]?.includes(ty) && x.length === 4 + RTAB_SIZE;
      if (table) dropped.tables++;
      return !table;
    }).map(([, x]) => x);
    const head = Buffer.from(a.subarray(0, 4));
    head.writeUInt16LE(4 + inner.reduce((s, x) => s + x.length, 0), 0);
    return Buffer.concat([head, ...inner]);
  });
  const out = Buffer.concat([b.subarray(0, TCMSG_END), ...parts]);
  out.writeUInt32LE(out.length, 0);
  return out;
}

const ETH0 = 10; // eth0's ifindex in capture.sh's namespace
const ETH1 = 11;

t.test('requests are byte-identical to tc\'s (rate tables aside)', (t) => {
  const cases: Array<[string, string, number, (b: import('../src/index.js').Batch) => void]> = [
    ['tbf', 'tbf', 1, (b) => b.qdiscAdd({ kind: 'tbf', link: ETH0, handle: '1:', rate: 125_000, burst: 4096, latency: 400_000 })],
    ['tbf-peak-replace', 'tbf', 2, (b) => b.qdiscReplace({ kind: 'tbf', link: ETH0, handle: '1:', rate: 250_000, burst: 16 * 1024, limit: 30_000, peakrate: 375_000, mtu: 2000 })],
    ['tbf-rate64', 'tbf', 1, (b) => b.qdiscAdd({ kind: 'tbf', link: ETH0, rate: 5e9, burst: 1 << 20, latency: 1000 })],
    ['qdisc-del-root', '', 0, (b) => b.qdiscDel({ link: ETH0 })],
    ['htb', 'htb', 0, (b) => b.qdiscAdd({ kind: 'htb', link: ETH0, handle: '1:', defaultClass: 0x10, r2q: 5 })],
    ['htb-class', 'htb', 2, (b) => b.classAdd({ kind: 'htb', link: ETH0, parent: '1:', handle: '1:10', rate: 1_250_000, ceil: 2_500_000, burst: 15 * 1024, cburst: 20 * 1024, prio: 2 })],
    ['htb-class-default-burst', 'htb', 2, (b) => b.classAdd({ kind: 'htb', link: ETH0, parent: '1:10', handle: '1:11', rate: 125_000 })],
    ['htb-class-rate64', 'htb', 2, (b) => b.classAdd({ kind: 'htb', link: ETH0, parent: '1:10', handle: '1:12', rate: 625_000_000, ceil: 5e9 })],
    ['htb-class-del', '', 0, (b) => b.classDel({ link: ETH0, handle: '1:11' })],
    ['ingress', '', 0, (b) => b.qdiscAdd({ kind: 'ingress', link: ETH0 })],
    ['ingress-del', '', 0, (b) => b.qdiscDel({ link: ETH0, kind: 'ingress' })],
    ['clsact', '', 0, (b) => b.qdiscAdd({ kind: 'clsact', link: ETH1 })],
  ];
  for (const [name, kind, tables, fill] of cases) {
    const dropped = { tables: 0 };
    sameRequest(t, name, fill, (b) => withoutRateTables(b, kind, dropped));
    t.equal(dropped.tables, tables, `${name}: tc sent ${tables} rate table(s), rtnl none`);
  }
  t.match(fixture('tbf').command, /^tc qdisc add /, 'the fixtures are tc\'s');
  t.end();
});

// ---- the reference bandwidth plugin, rebuilt ----

const BANDWIDTH = `${REF_DIR}/bandwidth`;
const noPlugin = fs.existsSync(BANDWIDTH) ? false : `${BANDWIDTH} is not installed (Debian containernetworking-plugins)`;

/** A node namespace with a host veth hv0 whose peer eth0 is in a pod namespace, both up. */
function podPair(t: Tap, prefix: string): { node: TestNs; pod: TestNs; hv0: number } {
  const node = testNs(t, `${prefix}n`), pod = testNs(t, `${prefix}p`);
  node.h.linkAdd({ kind: 'veth', name: 'hv0', up: true, peer: { name: 'eth0', netns: pod.ns } });
  pod.h.linkSetUp('eth0');
  return { node, pod, hv0: node.h.linkGet('hv0').index };
}

/** tc's view of a node: each device's qdiscs, devices named by role (their names differ). */
function shaping(n: TestNs, roles: Record<string, string>): Record<string, Array<Omit<TcQdisc, 'dev'>>> {
  const out: Record<string, Array<Omit<TcQdisc, 'dev'>>> = {};
  for (const [dev, role] of Object.entries(roles)) out[role] = tcQdiscs(n, dev).map(({ dev: _, ...q }) => q);
  return out;
}

t.test('the bandwidth plugin\'s shaping, rebuilt with rtnl, reads the same in tc', { skip: noPlugin }, (t) => {
  // bits/s and bits, as the plugin's runtimeConfig takes them
  const bw = { ingressRate: 8_000_000, ingressBurst: 1_000_000, egressRate: 4_000_000, egressBurst: 800_000 };

  // The plugin, in its own node, on a host veth it finds from prevResult.
  const ref = podPair(t, 'bwr');
  const out = exec('ADD', {
    cniVersion: '1.0.0', name: 'bw', type: 'bandwidth', runtimeConfig: { bandwidth: bw },
    prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'hv0' }, { name: 'eth0', sandbox: `/run/netns/${ref.pod.name}` }], ips: [] },
  }, { netns: `/run/netns/${ref.pod.name}`, node: ref.node.name, cniPath: REF_DIR, id: 'bw1' });
  t.equal(out.code, 0, `bandwidth ADD: ${out.stdout}${out.stderr}`);
  const refIfb = ref.node.h.linkList({ kind: 'ifb' })[0]?.name;
  t.ok(refIfb, `the plugin made an ifb (${refIfb})`);

  // The same with rtnl: traffic to the pod is shaped by a tbf on the host
  // veth; traffic from it is redirected from hv0's ingress to an ifb and
  // shaped there. (The plugin's latency: 25 ms.)
  const ours = podPair(t, 'bwo');
  ours.node.h.linkAdd({ kind: 'ifb', name: 'ifb0', up: true });
  const ifb0 = ours.node.h.linkGet('ifb0').index;
  const h = ours.node.h;
  h.qdiscAdd({ kind: 'tbf', link: ours.hv0, handle: '1:', rate: bw.ingressRate / 8, burst: bw.ingressBurst / 8, latency: 25_000 });
  h.qdiscAdd({ kind: 'ingress', link: ours.hv0 });
  h.qdiscAdd({ kind: 'tbf', link: ifb0, handle: '1:', rate: bw.egressRate / 8, burst: bw.egressBurst / 8, latency: 25_000 });

  // Traffic from the pod arrives on hv0's ingress: the plugin's u32 filter
  // sends all of it to the ifb (two redirects, as the Go netlink library
  // adds them: its RedirIndex and the action it was given), flow 1:1.
  const redirect = { kind: 'mirred', direction: 'egress', action: 'redirect', link: ifb0 } as const;
  h.filterAdd({ kind: 'u32', link: ours.hv0, parent: 'ffff:', prio: 1, classid: '1:1', actions: [redirect, { ...redirect, control: 'pass' }] });

  const theirs = shaping(ref.node, { hv0: 'host', [refIfb ?? 'none']: 'ifb' });
  t.same(shaping(ours.node, { hv0: 'host', ifb0: 'ifb' }), theirs, 'tc -j qdisc show: the same qdiscs, handles, rates, bursts and latencies on both devices');
  t.match(theirs.host, [{ kind: 'tbf', options: { rate: 1_000_000, burst: 125_000, lat: 25_000 } }, { kind: 'ingress' }], 'as the plugin was asked');
  t.match(theirs.ifb, [{ kind: 'tbf', options: { rate: 500_000, burst: 100_000, lat: 25_000 } }]);
  // tc's view of the filters, the ifb named by role.
  const filters = (n: TestNs) => tc(n, '-j', 'filter', 'show', 'dev', 'hv0', 'ingress').replaceAll(`"${n === ref.node ? refIfb : 'ifb0'}"`, '"IFB"');
  const theirFilters = JSON.parse(filters(ref.node) || '[]');
  t.ok(theirFilters.some((f: any) => f.options?.actions?.some((a: any) => a.kind === 'mirred' && a.to_dev === 'IFB')), 'the plugin adds a mirred redirect to its ifb');
  t.same(JSON.parse(filters(ours.node) || '[]'), theirFilters, 'tc -j filter show: the same filter, key, flow and actions');
  // And rtnl's view, the ifb's ifindex aside.
  const refIfbIndex = ref.node.h.linkGet(refIfb ?? 'lo').index;
  const view = (n: TestNs, ifb: number) => JSON.stringify(n.h.filterList({ link: n.h.linkGet('hv0').index, parent: 'ffff:' })).replaceAll(`"link":${ifb},`, '"link":"IFB",');
  t.same(JSON.parse(view(ours.node, ifb0)), JSON.parse(view(ref.node, refIfbIndex).replaceAll(`"link":${ref.hv0},`, `"link":${ours.hv0},`)), 'filterList: the same on both nodes');
  assertHome(t);
  t.end();
});

/**
 * Sends `bytes` over TCP from `from` to a server on `to` listening at addr:5001,
 * as separate processes in the namespaces; the time it took, and the bytes
 * the server counted.
 */
async function timedTransfer(t: Tap, from: TestNs, to: TestNs, addr: string, bytes: number): Promise<{ bytes?: number; ms?: number }> {
  const inNs = (ns: TestNs, code: string): [string, string[]] => ['ip', ['netns', 'exec', ns.name, ...untapped(process.execPath, ['-e', code]).flat()]];
  const server = spawn(...inNs(to, `require('net').createServer((s) => { let n = 0; s.on('data', (d) => { n += d.length; }); s.on('end', () => s.end(String(n))); }).listen(5001, '${addr}', () => console.log('ready'))`), { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { server.kill(); });
  await once(server.stdout!, 'data');
  const client = spawnSync(...inNs(from, `const t0 = Date.now(); const s = require('net').connect(5001, '${addr}', () => s.end(Buffer.alloc(${bytes}))); let d = ''; s.on('data', (c) => { d += c; }); s.on('close', () => console.log(JSON.stringify({ bytes: Number(d), ms: Date.now() - t0 })));`), { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(client.stdout || '{}') as { bytes?: number; ms?: number };
}

// Shaping, end to end: a transfer through a tbf cannot beat its rate (less
// the bucket). Only that lower bound is asserted: a slow machine only makes
// the transfer longer. (Unshaped, the same transfer takes about 100 ms.)
t.test('a tbf holds a TCP transfer to its rate', async (t) => {
  const { node, pod, hv0 } = podPair(t, 'shp');
  node.h.addrAdd({ link: hv0, address: '10.99.0.1/24' });
  pod.h.addrAdd({ link: pod.h.linkGet('eth0').index, address: '10.99.0.2/24' });
  const rate = 1_000_000, burst = 16_000, bytes = 2_000_000;
  node.h.qdiscAdd({ kind: 'tbf', link: hv0, rate, burst, latency: 50_000 }); // toward the pod
  const got = await timedTransfer(t, node, pod, '10.99.0.2', bytes);
  t.equal(got.bytes, bytes, 'every byte arrived');
  const least = ((bytes - burst) / rate) * 1000;
  t.ok((got.ms ?? 0) >= least / 2, `${bytes} bytes at ${rate} B/s took ${got.ms} ms (the rate allows no less than ${least} ms)`);

  // The counters, against tc -s read just before and after (stray packets, e.g. IPv6 ND, may pass between).
  const tcStats = () => (JSON.parse(tc(node, '-s', '-j', 'qdisc', 'show', 'dev', 'hv0')) as Array<Record<string, number>>).find((q) => (q.kind as unknown) === 'tbf') ?? {};
  const before = tcStats();
  const ours = find(node.h.qdiscList({ link: hv0, stats: true }), hv0, 'tbf')?.stats;
  const after = tcStats();
  if (!ours) return void t.fail('tbf counters read');
  t.ok(ours.bytes >= BigInt(bytes), `the tbf passed the transfer (${ours.bytes} bytes)`);
  t.ok(ours.overlimits > 0, `and held packets back for tokens (overlimits ${ours.overlimits})`);
  for (const k of ['bytes', 'packets', 'drops', 'overlimits', 'requeues'] as const)
    t.ok(before[k]! <= Number(ours[k]) && Number(ours[k]) <= after[k]!, `${k}: ${before[k]} <= ${ours[k]} <= ${after[k]} (tc -s)`);
  t.notOk('stats' in find(node.h.qdiscList({ link: hv0 }), hv0, 'tbf')!, 'counters only when asked for');
});

// Egress shaping, end to end, as the bandwidth plugin does it: the pod's
// upload arrives on hv0's ingress, the u32 filter redirects it to the ifb,
// and the ifb's tbf holds it to its rate (a lower bound on time only, as above).
t.test('a mirred redirect to an ifb shapes a pod\'s upload', async (t) => {
  const { node, pod, hv0 } = podPair(t, 'egs');
  node.h.addrAdd({ link: hv0, address: '10.99.0.1/24' });
  pod.h.addrAdd({ link: pod.h.linkGet('eth0').index, address: '10.99.0.2/24' });
  const rate = 1_000_000, burst = 16_000, bytes = 2_000_000;
  node.h.linkAdd({ kind: 'ifb', name: 'ifb0', up: true });
  const ifb0 = node.h.linkGet('ifb0').index;
  node.h.qdiscAdd({ kind: 'tbf', link: ifb0, rate, burst, latency: 50_000 });
  node.h.qdiscAdd({ kind: 'ingress', link: hv0 });
  node.h.filterAdd({ kind: 'u32', link: hv0, parent: 'ffff:', actions: [{ kind: 'mirred', direction: 'egress', action: 'redirect', link: ifb0 }] });
  const got = await timedTransfer(t, pod, node, '10.99.0.1', bytes);
  t.equal(got.bytes, bytes, 'every byte arrived');
  const least = ((bytes - burst) / rate) * 1000;
  t.ok((got.ms ?? 0) >= least / 2, `${bytes} bytes at ${rate} B/s took ${got.ms} ms (the rate allows no less than ${least} ms)`);
  const tbf = find(node.h.qdiscList({ link: ifb0, stats: true }), ifb0, 'tbf')?.stats;
  t.ok(tbf && tbf.bytes >= BigInt(bytes), `the ifb's tbf passed the upload (${tbf?.bytes} bytes)`);
  t.ok(tbf && tbf.overlimits > 0, `and held it back (overlimits ${tbf?.overlimits})`);
});
