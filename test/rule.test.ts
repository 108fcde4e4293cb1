// Policy rules (ruleAdd/ruleDel/ruleList): every selector and action
// written, read back and compared with `ip -j -d rule show` field by field,
// the list filters, typed errors, and the requests byte for byte against
// what `ip rule` sends (test/fixtures/rule*.hex).
import t from 'tap';
import { NetlinkError, type Rule, type RuleEvent, RtnlInputError, type SubscriptionItem, subscribe } from '../src/index.js';
import { assertHome, eventually, testNs } from './lib.js';
import { sameRequest } from './wire.js';

const TABLE_NAMES: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };
const PROTO_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp' };
const hex = (n: number) => (n === 0 ? '0' : `0x${n.toString(16)}`);

// Our rule in the shape `ip -j -d rule show` prints it.
function asIp(r: Rule): Record<string, unknown> {
  const host = r.family === 4 ? 32 : 128;
  const prefix = (p: string | undefined, key: string) => {
    if (p === undefined) return {};
    const [ip, len] = p.split('/');
    return Number(len) === host ? { [key]: ip } : { [key]: ip, [`${key}len`]: Number(len) };
  };
  const range = (x: { start: number; end: number } | undefined, key: string) =>
    x === undefined ? {} : x.start === x.end ? { [key]: x.start } : { [`${key}_start`]: x.start, [`${key}_end`]: x.end };
  const o: Record<string, unknown> = {
    priority: r.priority, ...(r.flags.includes('invert') ? { not: null } : {}),
    ...(r.src === undefined ? { src: 'all' } : prefix(r.src, 'src')), ...prefix(r.dst, 'dst'),
    tos: r.tos === undefined ? undefined : hex(r.tos),
    fwmark: r.fwmark === undefined && r.fwmask === undefined ? undefined : hex(r.fwmark ?? 0), // the kernel leaves out a mark of 0
    fwmask: r.fwmask === undefined || r.fwmask === 0xffffffff ? undefined : hex(r.fwmask),
    iif: r.iif, ...(r.flags.includes('iif_detached') ? { iif_detached: null } : {}),
    oif: r.oif, ...(r.flags.includes('oif_detached') ? { oif_detached: null } : {}),
    ...(r.l3mdev ? { l3mdev: null } : {}),
    ...(r.uidRange ? { uid_start: r.uidRange.start, uid_end: r.uidRange.end } : {}),
    ipproto: r.ipProto === undefined ? undefined : (PROTO_NAMES[r.ipProto] ?? `ipproto-${r.ipProto}`),
    ...range(r.sport, 'sport'), ...range(r.dport, 'dport'),
    table: r.table ? (TABLE_NAMES[r.table] ?? String(r.table)) : undefined,
    suppress_prefixlen: r.suppressPrefixlen, suppress_ifgroup: r.suppressIfgroup === undefined ? undefined : String(r.suppressIfgroup),
    protocol: String(r.protocol),
  };
  if (r.action === 'goto') o.goto = r.goto;
  else if (r.action === 'nop') o.nop = null;
  else if (r.action !== 'table') o.action = r.action;
  if (r.flags.includes('unresolved')) o.unresolved = null;
  return JSON.parse(JSON.stringify(o));
}

type Tap = Parameters<typeof testNs>[0];

// Every rule of both families, ours and iproute2's, field by field.
function agree(t: Tap, n: ReturnType<typeof testNs>): void {
  for (const family of [4, 6] as const) {
    const ours = n.h.ruleList({ family }).map(asIp);
    const theirs = n.ipJson(`-${family}`, '-d', 'rule', 'show');
    t.equal(ours.length, theirs.length, `IPv${family}: ${ours.length} rules both ways`);
    ours.forEach((r, i) => t.same(r, theirs[i], `IPv${family} pref ${r.priority}: as ip shows it`));
  }
}

t.test('IPv4 and IPv6 rules: every selector and action, read back, iproute2 agrees', (t) => {
  const n = testNs(t, 'rule');
  const { h } = n;
  h.ruleAdd({ priority: 100, src: '10.0.0.0/8', table: 1000 });
  h.ruleAdd({
    priority: 101, invert: true, src: '10.0.0.0/8', dst: '192.168.0.0/16', tos: 0x10, fwmark: 0x10, fwmask: 0xff, iif: 'lo', oif: 'eth9',
    ipProto: 6, uidRange: { start: 100, end: 200 }, sport: { start: 1000, end: 2000 }, dport: { start: 80, end: 80 }, table: 100, protocol: 'static',
  });
  h.ruleAdd({ priority: 102, goto: 105 });
  h.ruleAdd({ priority: 103, suppressPrefixlen: 0, suppressIfgroup: 5, table: 'main' });
  h.ruleAdd({ priority: 104, l3mdev: true });
  h.ruleAdd({ priority: 105, src: '10.1.2.3', fwmark: 5, table: 5000, action: 'unreachable' });
  h.ruleAdd({ priority: 106, fwmark: 0, fwmask: 1, action: 'prohibit' });
  h.ruleAdd({ priority: 107, ipProto: 17, action: 'nop', protocol: 77 });
  h.ruleAdd({ priority: 108, action: 'blackhole' });
  h.ruleAdd({ priority: 109, goto: 9999 }); // a target that does not exist yet: unresolved
  h.ruleAdd({ family: 6, priority: 100, dst: 'fd00::/64', table: 7 });
  h.ruleAdd({ priority: 101, src: 'fd00::1', iif: 'lo', fwmark: 3, table: 'main', protocol: 'bgp' });

  const at = (family: 4 | 6, priority: number) => h.ruleList({ family, priority })[0];
  t.match(at(4, 100), { family: 4, src: '10.0.0.0/8', table: 1000, action: 'table', protocol: 'unspec' }, 'a table above 255 (FRA_TABLE)');
  t.match(at(4, 101), {
    flags: ['invert'], src: '10.0.0.0/8', dst: '192.168.0.0/16', tos: 0x10, fwmark: 0x10, fwmask: 0xff, iif: 'lo', oif: 'eth9', ipProto: 6,
    uidRange: { start: 100, end: 200 }, sport: { start: 1000, end: 2000 }, dport: { start: 80, end: 80 }, table: 100, protocol: 'static',
  });
  t.match(at(4, 102), { action: 'goto', goto: 105, flags: [] });
  t.match(at(4, 103), { suppressPrefixlen: 0, suppressIfgroup: 5, table: 254 });
  t.match(at(4, 104), { l3mdev: true, action: 'table', table: 0 });
  t.match(at(4, 105), { action: 'unreachable', table: 5000, src: '10.1.2.3/32' });
  t.match(at(4, 107), { action: 'nop', ipProto: 17, protocol: 77 });
  t.match(at(4, 109), { action: 'goto', goto: 9999, flags: ['unresolved'] });
  t.equal(at(4, 100)!.suppressPrefixlen, undefined, 'suppress_prefixlength not set: not reported (the kernel says -1)');
  t.match(at(6, 100), { family: 6, dst: 'fd00::/64', table: 7 });
  t.match(at(6, 101), { family: 6, src: 'fd00::1/128', iif: 'lo', fwmark: 3, table: 254, protocol: 'bgp' }, 'family taken from src');
  agree(t, n);
  assertHome(t);
  t.end();
});

t.test('list filters: family by the kernel, table and priority on what it returns, in every mode', async (t) => {
  const n = testNs(t, 'rule');
  const { h } = n;
  h.ruleAdd({ priority: 200, table: 10 });
  h.ruleAdd({ priority: 201, table: 10 });
  h.ruleAdd({ family: 6, priority: 200, table: 10 });
  const key = (rs: Rule[]) => rs.map((r) => `${r.family}/${r.priority}/${r.table}`);
  t.same(key(h.ruleList({ table: 10 })), ['4/200/10', '4/201/10', '6/200/10'], 'table 10, both families');
  t.same(key(h.ruleList({ family: 6, table: 10 })), ['6/200/10']);
  t.same(key(h.ruleList({ priority: 200 })), ['4/200/10', '6/200/10']);
  t.same(key(h.ruleList({ family: 4, table: 254 })), ['4/32766/254'], 'the main rule');
  t.same(key(h.ruleList({ family: 6 })), n.ipJson('-6', 'rule', 'show').map((r: { priority: number; table: string }) => `6/${r.priority}/${{ local: 255, main: 254 }[r.table] ?? r.table}`), 'family 6: as `ip -6 rule`');
  t.same(key(await h.async.ruleList({ priority: 201 })), ['4/201/10'], 'async: filtered');
  const [res] = h.batch((b) => b.ruleList({ priority: 201 }));
  t.same(res!.status === 'fulfilled' ? key(res.value as Rule[]) : res, ['4/201/10'], 'batch: filtered');
  t.throws(() => h.ruleList({ table: 'main' as never }), { name: 'RtnlInputError', field: 'table' });
  assertHome(t);
});

t.test('delete, and kernel refusals as typed errors', (t) => {
  const n = testNs(t, 'rule');
  const { h } = n;
  h.ruleAdd({ priority: 300, fwmark: 1, table: 30 });
  t.throws(() => h.ruleAdd({ priority: 300, fwmark: 1, table: 30 }), { name: 'NetlinkError', code: 'EEXIST', op: 'ruleAdd', object: 'pref 300' });
  h.ruleAdd({ family: 6, priority: 300, table: 30 });
  h.ruleDel({ priority: 300 });
  t.same(n.ipJson('-4', 'rule', 'show', 'pref', '300'), [], 'IPv4 rule gone');
  t.equal(n.ipJson('-6', 'rule', 'show', 'pref', '300').length, 1, 'the IPv6 one with the same priority is still there');
  h.ruleDel({ family: 6, priority: 300, table: 30 });
  t.same(h.ruleList({ priority: 300 }), [], 'both gone');
  const e = t.throws(() => h.ruleDel({ priority: 300 }), { name: 'NetlinkError', code: 'ENOENT', op: 'ruleDel' });
  t.ok(e instanceof NetlinkError, 'a NetlinkError');
  t.throws(() => h.ruleAdd({ priority: 301, goto: 1 }), { code: 'EINVAL', extack: /Backward goto not supported/ }, 'a goto backwards: the kernel says why');
  assertHome(t);
  t.end();
});

t.test('bad input is an RtnlInputError naming the field, before anything is sent', (t) => {
  const n = testNs(t, 'rule');
  const { h } = n;
  const before = n.ip('rule', 'show');
  const bad: [object, string][] = [
    [{ priority: 1, src: '10.0.0.0/8', dst: 'fd00::/64' }, 'dst'],
    [{ family: 6, src: '10.0.0.0/8' }, 'src'],
    [{ sport: { start: 20, end: 10 } }, 'sport'],
    [{ dport: { start: 70000, end: 70000 } }, 'dport.start'],
    [{ uidRange: { start: 1 } }, 'uidRange.end'],
    [{ action: 'goto' }, 'goto'],
    [{ action: 'nop', goto: 5 }, 'goto'],
    [{ action: 'drop' }, 'action'],
    [{ iif: 'a/b' }, 'iif'],
    [{ table: 0 }, 'table'],
    [{ protocol: 'nope' }, 'protocol'],
    [{ suppressPrefixlen: 129 }, 'suppressPrefixlen'],
    [{ family: 5 }, 'family'],
    [{ fwmarks: 1 }, 'fwmarks'],
  ];
  for (const [spec, field] of bad) t.throws(() => h.ruleAdd(spec as never), { name: 'RtnlInputError', field }, `${JSON.stringify(spec)}: ${field}`);
  t.ok(new RtnlInputError('x', 'y') instanceof TypeError, 'RtnlInputError is a TypeError');
  t.equal(n.ip('rule', 'show'), before, 'no rule was added');
  assertHome(t);
  t.end();
});

t.test('rule events: added and removed, IPv4 and IPv6, decoded like ruleList', async (t) => {
  const n = testNs(t, 'rule');
  const sub = subscribe({ kinds: ['rule'], netns: n.ns });
  t.teardown(() => sub.close());
  const items: SubscriptionItem[] = [];
  sub.on('event', (e) => items.push(e));
  n.h.ruleAdd({ priority: 400, fwmark: 4, table: 40 });
  n.ip('-6', 'rule', 'add', 'pref', '400', 'from', 'fd00::/64', 'table', '40');
  n.h.ruleDel({ priority: 400 });
  const rules = (): RuleEvent[] => items.filter((i): i is RuleEvent => i.kind === 'rule');
  t.ok(await eventually(() => rules().length >= 3, 10000), 'three rule events');
  t.match(rules().map((e) => [e.action, e.value.family, e.value.priority]), [['new', 4, 400], ['new', 6, 400], ['del', 4, 400]]);
  t.same(rules()[1]!.value, n.h.ruleList({ family: 6, priority: 400 })[0], 'the IPv6 one as ruleList reads it');
  assertHome(t);
});

t.test('requests byte for byte as `ip rule` sends them', (t) => {
  sameRequest(t, 'rule-from-table', (b) => b.ruleAdd({ src: '10.0.0.0/8', priority: 100, table: 1000 }));
  sameRequest(t, 'rule-selectors', (b) => b.ruleAdd({
    invert: true, src: '10.0.0.0/8', dst: '192.168.0.0/16', tos: 0x10, priority: 101, fwmark: 0x10, fwmask: 0xff, iif: 'lo', oif: 'eth0',
    ipProto: 6, uidRange: { start: 100, end: 200 }, sport: { start: 1000, end: 2000 }, dport: { start: 80, end: 80 }, table: 100, protocol: 'static',
  }));
  sameRequest(t, 'rule-goto', (b) => b.ruleAdd({ priority: 102, goto: 200 }));
  sameRequest(t, 'rule-suppress', (b) => b.ruleAdd({ priority: 103, suppressPrefixlen: 0, suppressIfgroup: 5 }));
  sameRequest(t, 'rule-l3mdev', (b) => b.ruleAdd({ priority: 104, l3mdev: true }));
  sameRequest(t, 'rule-blackhole', (b) => b.ruleAdd({ priority: 105, action: 'blackhole' }));
  sameRequest(t, 'rule6-to', (b) => b.ruleAdd({ dst: 'fd00::/64', priority: 100, table: 'main' }));
  sameRequest(t, 'rule-del', (b) => b.ruleDel({ priority: 100, table: 1000 }));
  t.end();
});
