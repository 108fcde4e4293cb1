// Traffic control filters: u32 and matchall with mirred actions made by rtnl,
// read back by rtnl and by `tc -j`, field by field; their requests against
// what `tc` sends (test/fixtures, captured by capture.sh); kernel refusals.
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import type { Batch, TcFilter, U32Filter } from '../src/index.js';
import { type TestNs, testNs } from './lib.js';
import { fixture, sameRequest } from './wire.js';

type Tap = Test;

/** A namespace with a veth pair v0/v1 (v0 with an ingress qdisc) and an ifb. */
function setup(t: Tap): TestNs & { v0: number; v1: number; ifb: number } {
  const n = testNs(t, 'tcf');
  n.h.linkAdd({ kind: 'veth', name: 'v0', peer: { name: 'v1' } });
  n.h.linkAdd({ kind: 'ifb', name: 'ifb7' });
  const v0 = n.h.linkGet('v0').index;
  n.h.qdiscAdd({ kind: 'ingress', link: v0 });
  return { ...n, v0, v1: n.h.linkGet('v1').index, ifb: n.h.linkGet('ifb7').index };
}

const tc = (n: TestNs, ...args: string[]) => execFileSync('tc', ['-n', n.name, ...args], { encoding: 'utf8' });

/** `tc -j filter show dev X ingress` (tc prints u32 keys raw without -p; with `ingress`, each entry's parent). */
function tcFilters(n: TestNs, dev: string): Array<Record<string, any>> {
  return JSON.parse(tc(n, '-j', 'filter', 'show', 'dev', dev, 'ingress') || '[]');
}

const hex = (x: number) => x.toString(16);

/** Our filter list and tc's agree entry by entry: kind, parent, prio, protocol, handle, divisor, classid, key, actions. */
function agree(t: Tap, n: TestNs, ours: TcFilter[], theirs: Array<Record<string, any>>, names: Record<number, string>): void {
  t.equal(ours.length, theirs.length, `as many entries as tc lists (${theirs.length})`);
  ours.forEach((o, i) => {
    const x = theirs[i] ?? {};
    const opts = x.options ?? {};
    const at = `entry ${i} (${o.kind} ${'handle' in o ? o.handle : ''})`;
    t.equal(x.kind, o.kind, `${at}: kind`);
    t.equal(x.parent, o.parent, `${at}: parent`);
    t.equal(x.pref, o.prio, `${at}: prio (tc: pref)`);
    t.equal(x.protocol, o.protocol, `${at}: protocol`);
    t.equal(x.chain, o.chain, `${at}: chain`);
    if (o.kind !== 'u32') return;
    t.equal(opts.fh, o.handle, `${at}: handle (tc: fh)`);
    t.equal(opts.ht_divisor, o.divisor, `${at}: divisor`);
    t.equal(opts.flowid, o.classid, `${at}: classid (tc: flowid)`);
    // tc -j prints one key (the last); each in the text output.
    const key = o.match?.at(-1);
    t.same(opts.match, key && { value: hex(key.value), mask: hex(key.mask), offmask: '', off: key.offset }, `${at}: key`);
    // tc -j has no terminal flag; the text says `terminal flowid` for a node
    // without a classid (with one, tc 6.1 marks it `*flowid` either way).
    const line = tc(n, 'filter', 'show', 'dev', 'v0', 'ingress').split('\n').find((l) => l.includes(` fh ${o.handle} `));
    if (o.match && !o.classid) t.equal(/ terminal flowid /.test(line ?? ''), o.terminal, `${at}: terminal`);
    t.same(opts.actions?.map((a: any) => ({ kind: a.kind, action: a.mirred_action, direction: a.direction, to: a.to_dev, control: a.control_action?.type, index: a.index })),
      o.actions?.map((a) => a.kind === 'mirred' && { kind: a.kind, action: a.action, direction: a.direction, to: names[a.link], control: a.control, index: a.index }), `${at}: actions`);
  });
}

t.test('u32 match-all with a mirred redirect: added, read back as tc shows it, deleted', (t) => {
  const n = setup(t);
  n.h.filterAdd({ kind: 'u32', link: n.v0, parent: 'ffff:', actions: [{ kind: 'mirred', direction: 'egress', action: 'redirect', link: n.ifb }] });
  const ours = n.h.filterList({ link: n.v0, parent: 'ffff:' });
  t.same(ours, [
    { kind: 'u32', link: n.v0, parent: 'ffff:', prio: 49152, protocol: 'all', chain: 0 },
    { kind: 'u32', link: n.v0, parent: 'ffff:', prio: 49152, protocol: 'all', chain: 0, handle: '800:', divisor: 1 },
    { kind: 'u32', link: n.v0, parent: 'ffff:', prio: 49152, protocol: 'all', chain: 0, handle: '800::800', terminal: true, match: [{ value: 0, mask: 0, offset: 0 }],
      actions: [{ kind: 'mirred', direction: 'egress', action: 'redirect', link: n.ifb, control: 'stolen', index: 1 }] },
  ], 'read back: the prio, its hash table and the key node; the kernel picked prio 49152');
  agree(t, n, ours, tcFilters(n, 'v0'), { [n.ifb]: 'ifb7' });
  n.h.filterDel({ link: n.v0, parent: 'ffff:', prio: 49152 });
  t.same(n.h.filterList({ link: n.v0, parent: 'ffff:' }), [], 'deleted');
  t.same(tcFilters(n, 'v0'), [], 'tc: gone');
  t.end();
});

t.test('a u32 key, a classid, two actions; replace by handle; sync, async and batch lists', async (t) => {
  const n = setup(t);
  const key = { value: 0x0a000001, mask: 0xffffffff, offset: 16 };
  n.h.filterAdd({
    kind: 'u32', link: n.v0, parent: 'ffff:', protocol: 'ip', prio: 3, classid: '1:1', match: [key],
    actions: [{ kind: 'mirred', direction: 'ingress', action: 'mirror', link: n.v1 }, { kind: 'mirred', direction: 'egress', action: 'redirect', link: n.ifb, control: 'pass' }],
  });
  const ours = n.h.filterList({ link: n.v0, parent: 'ffff:' });
  const node = ours.find((f): f is U32Filter => f.kind === 'u32' && f.handle?.includes('::') === true);
  t.match(node, { protocol: 'ip', prio: 3, classid: '1:1', terminal: true, match: [key], actions: [{ action: 'mirror', direction: 'ingress', link: n.v1, control: 'pipe' }, { action: 'redirect', link: n.ifb, control: 'pass' }] });
  agree(t, n, ours, tcFilters(n, 'v0'), { [n.v1]: 'v1', [n.ifb]: 'ifb7' });

  // The kernel keeps a node's keys on a change: a different key is ignored.
  n.h.filterReplace({ kind: 'u32', link: n.v0, parent: 'ffff:', protocol: 'ip', prio: 3, handle: node!.handle!, classid: '1:2', match: [{ value: 0x0a000002, mask: 0xffffffff, offset: 16 }],
    actions: [{ kind: 'mirred', direction: 'egress', action: 'redirect', link: n.ifb }] });
  const after = n.h.filterList({ link: n.v0, parent: 'ffff:' }).filter((f): f is U32Filter => f.kind === 'u32' && f.match !== undefined);
  t.equal(after.length, 1, 'replaced in place, not added');
  t.same(after[0], { ...node, classid: '1:2', actions: [{ kind: 'mirred', direction: 'egress', action: 'redirect', link: n.ifb, control: 'stolen', index: 3 }] }, 'new classid and actions, the same keys');
  agree(t, n, n.h.filterList({ link: n.v0, parent: 'ffff:' }), tcFilters(n, 'v0'), { [n.ifb]: 'ifb7' });

  t.same(await n.h.async.filterList({ link: n.v0, parent: 'ffff:' }), n.h.filterList({ link: n.v0, parent: 'ffff:' }), 'async: the same');
  const [a] = n.h.batch((b) => { b.filterList({ link: n.v0, parent: 'ffff:' }); });
  t.equal(a?.status === 'fulfilled' && (a.value as TcFilter[]).length, 3, 'batch: the three entries');
  t.same(n.h.filterList({ link: n.v1 }), [], 'v1: none (its root qdisc)');
  t.end();
});

t.test('kernel refusals are NetlinkErrors with the kernel\'s words', (t) => {
  const n = setup(t);
  const redirect = { kind: 'mirred', direction: 'egress', action: 'redirect', link: n.ifb } as const;
  t.throws(() => n.h.filterAdd({ kind: 'u32', link: n.v1, parent: 'ffff:', actions: [redirect] }), { name: 'NetlinkError', code: 'EINVAL', op: 'filterAdd', object: `u32 parent ffff: dev ${n.v1}`, extack: /qdisc/i }, 'no ingress qdisc on v1');
  t.throws(() => n.h.filterAdd({ kind: 'u32', link: n.v0, parent: 'ffff:', actions: [{ ...redirect, link: 0x7ffffff0 }] }), { name: 'NetlinkError', code: 'ENODEV', op: 'filterAdd' }, 'no such target device');
  n.h.filterAdd({ kind: 'u32', link: n.v0, parent: 'ffff:', prio: 1, actions: [redirect] });
  t.throws(() => n.h.filterDel({ link: n.v0, parent: 'ffff:', prio: 2 }), { name: 'NetlinkError', code: 'ENOENT', op: 'filterDel', object: `prio 2 parent ffff: dev ${n.v0}`, extack: /Filter with specified priority\/protocol not found/ });
  t.throws(() => n.h.filterAdd({ kind: 'u32', link: n.v0, parent: 'ffff:', prio: 1, protocol: 'ip', actions: [redirect] }), { code: 'EINVAL', extack: /protocol/i }, 'one protocol per prio');
  t.same(n.h.filterList({ link: n.v0, parent: '7:' }), [], 'no such qdisc: nothing listed');
  t.end();
});

t.test('bad input: RtnlInputError naming the field, nothing sent', (t) => {
  const n = setup(t);
  const base = { kind: 'u32', link: n.v0, parent: 'ffff:' } as const;
  const mirred = { kind: 'mirred', direction: 'egress', action: 'redirect', link: n.ifb } as const;
  const bad: Array<[string, () => void]> = [
    ['kind', () => n.h.filterAdd({ ...base, kind: 'flower' } as never)],
    ['parent', () => n.h.filterAdd({ ...base, parent: undefined } as never)],
    ['parent', () => n.h.filterAdd({ ...base, parent: 'ingress' })],
    ['prio', () => n.h.filterAdd({ ...base, prio: 0x10000 })],
    ['protocol', () => n.h.filterAdd({ ...base, protocol: 'ipx' as never })],
    ['classid', () => n.h.filterAdd({ ...base, classid: 'x' })],
    ['handle', () => n.h.filterAdd({ ...base, handle: '800' })],
    ['match', () => n.h.filterAdd({ ...base, match: [] })],
    ['match[0].value', () => n.h.filterAdd({ ...base, match: [{ value: 0x1ff, mask: 0xff, offset: 0 }] })],
    ['match[0].offset', () => n.h.filterAdd({ ...base, match: [{ value: 0, mask: 0, offset: 1.5 }] })],
    ['match[0].mask', () => n.h.filterAdd({ ...base, match: [{ value: 0, offset: 0 } as never] })],
    ['actions', () => n.h.filterAdd({ ...base, actions: [] })],
    ['actions[0].kind', () => n.h.filterAdd({ ...base, actions: [{ ...mirred, kind: 'gact' as never }] })],
    ['actions[0].direction', () => n.h.filterAdd({ ...base, actions: [{ ...mirred, direction: 'up' as never }] })],
    ['actions[0].link', () => n.h.filterAdd({ ...base, actions: [{ ...mirred, link: 0 }] })],
    ['actions[0].control', () => n.h.filterAdd({ ...base, actions: [{ ...mirred, control: 'shot' as never }] })],
    ['actions[0].port', () => n.h.filterAdd({ ...base, actions: [{ ...mirred, port: 1 } as never] })],
    ['handle', () => n.h.filterDel({ link: n.v0, parent: 'ffff:', handle: '800::800' })],
    ['link', () => n.h.filterList({} as never)],
  ];
  for (const [field, f] of bad) t.throws(f, { name: 'RtnlInputError', field }, field);
  t.same(tcFilters(n, 'v0'), [], 'nothing added');
  t.end();
});

// ---- the wire: rtnl's requests against tc's ----

const ETH0 = 10; // capture.sh's namespace: eth0, eth1 and the ifb ifbc
const ETH1 = 11;
const IFBC = 30;

t.test('requests are byte-identical to tc\'s', (t) => {
  const redirect = { kind: 'mirred', direction: 'egress', action: 'redirect', link: IFBC } as const;
  const cases: Array<[string, (b: Batch) => void]> = [
    ['filter-u32-redirect', (b) => b.filterAdd({ kind: 'u32', link: ETH0, parent: 'ffff:', actions: [redirect] })],
    ['filter-u32-classid', (b) => b.filterAdd({ kind: 'u32', link: ETH0, parent: 'ffff:', prio: 1, classid: '1:1', actions: [redirect, { kind: 'mirred', direction: 'egress', action: 'mirror', link: IFBC, control: 'pass' }] })],
    ['filter-u32-key', (b) => b.filterAdd({ kind: 'u32', link: ETH0, parent: 'ffff:', protocol: 'ip', prio: 3, match: [{ value: 0x0a000001, mask: 0xffffffff, offset: 16 }], actions: [{ kind: 'mirred', direction: 'ingress', action: 'mirror', link: ETH1 }] })],
    ['filter-matchall-mirror', (b) => b.filterAdd({ kind: 'matchall', link: ETH0, parent: 'ffff:', prio: 2, actions: [{ kind: 'mirred', direction: 'egress', action: 'mirror', link: IFBC }] })],
    ['filter-del', (b) => b.filterDel({ link: ETH0, parent: 'ffff:', protocol: 'ip', prio: 3, kind: 'u32' })],
  ];
  for (const [name, fill] of cases) sameRequest(t, name, fill);
  t.match(fixture('filter-u32-redirect').command, /^tc filter add /, 'the fixtures are tc\'s');
  t.end();
});
