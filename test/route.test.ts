import { execFileSync } from 'node:child_process';
import t from 'tap';
import { NetlinkError, type Route, RtnlInputError } from '../src/index.js';
import { type TestNs, assertHome, churn, testNs } from './lib.js';

type Tap = Parameters<typeof testNs>[0];

// A veth pair, both ends up, with 10.1.0.1/24 and fd00:1::1/64 on va.
function setup(t: Tap): TestNs & { a: number; b: number } {
  const n = testNs(t, 'route');
  n.h.linkAdd({ kind: 'veth', name: 'va', peer: { name: 'vb' } });
  n.h.linkSetUp('va');
  n.h.linkSetUp('vb');
  n.h.linkSetUp('lo');
  const a = n.h.linkGet('va').index, b = n.h.linkGet('vb').index;
  n.h.addrAdd({ link: a, address: '10.1.0.1/24' });
  n.h.addrAdd({ link: a, address: 'fd00:1::1/64', flags: ['nodad'] });
  n.h.addrAdd({ link: b, address: '10.8.0.1/24' });
  return { ...n, a, b };
}

const TABLE_NAMES: Record<number, string> = { 254: 'main', 255: 'local', 253: 'default' };
const SCOPES: Record<string, string> = { universe: 'global' };

// Our route in the shape `ip -j -d route show` prints it.
function asIp(r: Route, names: Map<number, string>): Record<string, unknown> {
  const host = r.family === 4 ? '/32' : '/128';
  const gw = (g: string | undefined) => (g === undefined ? {} : g.includes(':') === (r.family === 6) ? { gateway: g } : { via: { family: g.includes(':') ? 'inet6' : 'inet', host: g } });
  const o: Record<string, unknown> = {
    type: r.type, dst: r.dst.endsWith(host) ? r.dst.slice(0, -host.length) : r.dst, from: r.src, ...gw(r.gateway),
    dev: r.link === undefined ? undefined : names.get(r.link), table: TABLE_NAMES[r.table] ?? String(r.table),
    protocol: String(r.protocol), scope: SCOPES[String(r.scope)] ?? String(r.scope), metric: r.priority, prefsrc: r.prefsrc,
    flags: r.flags, pref: r.pref, tos: r.tos === undefined ? undefined : `0x${r.tos.toString(16)}`,
  };
  if (r.metrics) {
    const { congctl, ...rest } = r.metrics;
    o.metrics = [{ ...rest, congestion: congctl }];
  }
  if (r.nexthops) o.nexthops = r.nexthops.map((nh) => ({ ...gw(nh.gateway), dev: nh.link === undefined ? undefined : names.get(nh.link), weight: nh.weight, flags: nh.flags }));
  return JSON.parse(JSON.stringify(o));
}

function linkNames(n: TestNs): Map<number, string> {
  return new Map(n.ipJson('link', 'show').map((l: { ifindex: number; ifname: string }) => [l.ifindex, l.ifname]));
}

const order = (x: Record<string, unknown>) => JSON.stringify([x.table, x.dst, x.type, x.dev, x.metric, x.gateway, x.via]);
const sortIp = (xs: Record<string, unknown>[]) => xs.sort((p, q) => (order(p) < order(q) ? -1 : 1));

// Every route in every table, ours and iproute2's, field by field.
function agreeAll(t: Tap, n: TestNs): void {
  const names = linkNames(n);
  const ours = sortIp(n.h.routeList({ table: 'all' }).map((r) => asIp(r, names)));
  const theirs = sortIp(n.ipJson('-d', 'route', 'show', 'table', 'all'));
  t.equal(ours.length, theirs.length, `${ours.length} routes both ways`);
  ours.forEach((r, i) => t.same(r, theirs[i], `${r.table} ${r.dst} ${r.dev}: as ip shows it`));
}

t.test('IPv4 and IPv6 routes: every field written and read back, iproute2 agrees', (t) => {
  const n = setup(t);
  const { h, a, b } = n;
  h.routeAdd({ dst: '10.2.0.0/16', gateway: '10.1.0.2', link: a, priority: 7, protocol: 'static', prefsrc: '10.1.0.1', metrics: { mtu: 1400, advmss: 1300, hoplimit: 9, window: 20000, initcwnd: 12 } });
  h.routeAdd({ dst: '10.3.0.0/24', link: b, scope: 'link', protocol: 77, table: 100 });
  h.routeAdd({ dst: '10.4.0.7', gateway: '10.1.0.3', link: a, protocol: 'bgp', tos: 0x10 });
  h.routeAdd({ dst: 'default', gateway: '10.1.0.254', link: a, table: 'default' });
  h.routeAdd({ dst: '10.5.0.0/16', gateway: 'fd00:1::2', link: a });
  h.routeAdd({ dst: 'fd00:2::/64', gateway: 'fd00:1::2', link: a, priority: 1024, pref: 'high', metrics: { mtu: 1300, hoplimit: 5, congctl: 'cubic' } });
  h.routeAdd({ dst: 'default', family: 6, link: a, table: 300, protocol: 'ra' });
  h.routeAdd({ dst: 'fd00:3::/64', src: 'fd00:9::/64', link: a });

  const mine = (dst: string) => h.routeList({ table: 'all' }).find((r) => r.dst === dst && r.protocol !== 'kernel');
  t.match(mine('10.2.0.0/16'), { family: 4, gateway: '10.1.0.2', link: a, priority: 7, protocol: 'static', prefsrc: '10.1.0.1', table: 254, scope: 'universe', type: 'unicast', metrics: { mtu: 1400, advmss: 1300, hoplimit: 9, window: 20000, initcwnd: 12 } });
  t.match(mine('10.3.0.0/24'), { link: b, scope: 'link', protocol: 77, table: 100 });
  t.match(mine('10.4.0.7/32'), { tos: 0x10, protocol: 'bgp', gateway: '10.1.0.3' });
  t.match(mine('default'), { family: 4, table: 253, gateway: '10.1.0.254' });
  t.match(mine('10.5.0.0/16'), { family: 4, gateway: 'fd00:1::2' }, 'an IPv6 gateway on an IPv4 route (RTA_VIA)');
  t.match(mine('fd00:2::/64'), { family: 6, gateway: 'fd00:1::2', priority: 1024, pref: 'high', metrics: { mtu: 1300, hoplimit: 5, congctl: 'cubic' } });
  t.match(mine('fd00:3::/64'), { src: 'fd00:9::/64', link: a }, 'IPv6 source prefix (RTA_SRC)');
  t.match(h.routeList({ table: 300 }), [{ family: 6, dst: 'default', link: a, protocol: 'ra', table: 300 }]);
  agreeAll(t, n);
  t.match(n.ipJson('route', 'get', '10.5.9.9'), [{ via: { family: 'inet6', host: 'fd00:1::2' }, dev: 'va' }], 'the kernel routes IPv4 via IPv6');
  assertHome(t);
  t.end();
});

t.test('onlink and weighted multipath, checked with ip route get', (t) => {
  const n = setup(t);
  const { h, a, b } = n;
  const e = t.throws(() => h.routeAdd({ dst: '10.20.0.0/16', gateway: '192.0.2.1', link: a }), { name: 'NetlinkError', code: 'ENETUNREACH', op: 'routeAdd' }) as NetlinkError;
  t.equal(e?.extack, 'Nexthop has invalid gateway', 'extack says why');
  h.routeAdd({ dst: '10.20.0.0/16', gateway: '192.0.2.1', link: a, flags: ['onlink'] });
  t.match(h.routeList().find((r) => r.dst === '10.20.0.0/16'), { gateway: '192.0.2.1', flags: ['onlink'] });
  t.match(n.ipJson('route', 'show', '10.20.0.0/16'), [{ gateway: '192.0.2.1', dev: 'va', flags: ['onlink'] }], 'ip shows it onlink');
  t.match(n.ipJson('route', 'get', '10.20.1.1'), [{ gateway: '192.0.2.1', dev: 'va' }], 'and the kernel routes through it');
  t.match(h.routeGet('10.20.1.1'), { gateway: '192.0.2.1', link: a });

  h.routeAdd({ dst: '10.30.0.0/16', nexthops: [{ gateway: '10.1.0.2', link: a, weight: 3 }, { gateway: '198.51.100.1', link: b, weight: 1, flags: ['onlink'] }] });
  h.routeAdd({ dst: '10.31.0.0/16', nexthops: [{ gateway: 'fd00:1::2', link: a, weight: 2 }, { gateway: '10.1.0.2', link: a }] });
  t.match(h.routeList().find((r) => r.dst === '10.31.0.0/16')?.nexthops, [{ gateway: 'fd00:1::2', weight: 2 }, { gateway: '10.1.0.2', weight: 1 }], 'an IPv6 next hop in an IPv4 multipath route (RTA_VIA)');
  const mp = h.routeList().find((r) => r.dst === '10.30.0.0/16');
  t.same(mp?.nexthops, [{ gateway: '10.1.0.2', link: a, weight: 3, flags: [] }, { gateway: '198.51.100.1', link: b, weight: 1, flags: ['onlink'] }]);
  h.routeAdd({ dst: 'fd00:30::/64', nexthops: [{ gateway: 'fd00:1::2', link: a, weight: 2 }, { gateway: 'fd00:1::3', link: a, weight: 5 }] });
  t.match(h.routeList({ family: 6 }).find((r) => r.dst === 'fd00:30::/64')?.nexthops, [{ gateway: 'fd00:1::2', weight: 2 }, { gateway: 'fd00:1::3', weight: 5 }]);
  agreeAll(t, n);

  // The kernel's choice per destination: ours and ip's agree, and the weights show.
  const picks = new Map<string, number>();
  for (let i = 0; i < 48; i++) {
    const dst = `10.30.${i}.${(i * 37) % 250 + 1}`;
    const ours = h.routeGet(dst);
    const theirs = n.ipJson('route', 'get', dst)[0];
    t.equal(ours.gateway, theirs.gateway, `${dst}: same next hop as ip route get (${theirs.gateway})`);
    picks.set(ours.gateway!, (picks.get(ours.gateway!) ?? 0) + 1);
  }
  t.ok((picks.get('10.1.0.2') ?? 0) > (picks.get('198.51.100.1') ?? 0) && (picks.get('198.51.100.1') ?? 0) > 0, `weight 3:1 shows (${[...picks]})`);
  assertHome(t);
  t.end();
});

t.test('routeGet is the kernel lookup ip route get does', (t) => {
  const n = setup(t);
  const { h, a, b } = n;
  h.routeAdd({ dst: '10.40.0.0/16', gateway: '10.1.0.2', link: a });
  h.routeAdd({ dst: '10.40.0.0/16', gateway: '10.8.0.2', link: b, priority: 10 });
  h.routeAdd({ dst: 'fd00:40::/64', gateway: 'fd00:1::9', link: a });
  const names = linkNames(n);
  const cases: [string, Parameters<typeof h.routeGet>[1], string[]][] = [
    ['10.40.1.1', undefined, []],
    ['10.40.1.1', { oif: b }, ['oif', 'vb']],
    ['10.40.1.1', { src: '10.8.0.1', mark: 7 }, ['from', '10.8.0.1', 'mark', '7']],
    ['10.1.0.77', undefined, []],
    ['fd00:40::5', undefined, []],
    ['fd00:1::1', undefined, []],
    ['127.0.0.1', undefined, []],
    ['10.40.1.1', { iif: b, src: '10.8.0.2' }, ['from', '10.8.0.2', 'iif', 'vb']],
  ];
  // A lookup for a forwarded packet (iif) needs forwarding on.
  execFileSync('ip', ['netns', 'exec', n.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  for (const [dst, opts, args] of cases) {
    const ours = h.routeGet(dst, opts);
    const theirs = n.ipJson('-d', 'route', 'get', dst, ...args)[0];
    const label = `${dst} ${args.join(' ')}`;
    t.equal(ours.dst, `${dst}/${ours.family === 4 ? 32 : 128}`, `${label}: dst`);
    t.equal(ours.gateway, theirs.gateway, `${label}: gateway`);
    t.equal(names.get(ours.link!), theirs.dev, `${label}: dev`);
    t.equal(ours.prefsrc, theirs.prefsrc, `${label}: prefsrc`);
    t.equal(ours.src, theirs.from === undefined ? undefined : `${theirs.from}/${ours.family === 4 ? 32 : 128}`, `${label}: from`);
    t.equal(ours.iif === undefined ? undefined : names.get(ours.iif), theirs.iif, `${label}: iif`);
    t.equal(ours.type, theirs.type, `${label}: type`);
    t.equal(TABLE_NAMES[ours.table] ?? String(ours.table), theirs.table, `${label}: table`);
    if (ours.family === 4) t.ok(ours.flags.includes('cloned'), `${label}: an IPv4 lookup result is flagged cloned`);
  }
  t.throws(() => h.routeGet('192.0.2.1'), { name: 'NetlinkError', code: 'ENETUNREACH', op: 'routeGet', object: '192.0.2.1' });
  t.throws(() => h.routeGet('10.40.0.1', { src: 'fd00::1' }), { name: 'RtnlInputError', field: 'src' });
  t.throws(() => h.routeGet('10.40.0.0/16'), { name: 'RtnlInputError', field: 'dst' });
  assertHome(t);
  t.end();
});

t.test('tables above 255, and blackhole/unreachable/prohibit/throw', (t) => {
  const n = setup(t);
  const { h, a } = n;
  h.routeAdd({ dst: '10.50.0.0/16', link: a, table: 1000 });
  h.routeAdd({ dst: '10.51.0.0/16', link: a, table: 4000000000 });
  t.match(h.routeList({ table: 1000 }), [{ dst: '10.50.0.0/16', table: 1000 }]);
  t.equal(h.routeList({ table: 1000 }).length, 1, 'table 1000 alone');
  t.match(n.ipJson('route', 'show', 'table', '4000000000'), [{ dst: '10.51.0.0/16', dev: 'va' }]);
  t.notOk(h.routeList().some((r) => r.table !== 254), 'the default listing is the main table only');
  h.routeDel({ dst: '10.50.0.0/16', table: 1000 });
  t.same(n.ipJson('route', 'show', 'table', '1000'), [], 'deleted from table 1000');

  const types = ['blackhole', 'unreachable', 'prohibit', 'throw'] as const;
  types.forEach((type, i) => {
    h.routeAdd({ dst: `10.6${i}.0.0/16`, type });
    h.routeAdd({ dst: `fd00:6${i}::/64`, type });
  });
  for (const [i, type] of types.entries()) {
    t.match(h.routeList({ type, family: 4 }), [{ dst: `10.6${i}.0.0/16`, type }], `${type} v4`);
    t.match(h.routeList({ type, family: 6 }), [{ dst: `fd00:6${i}::/64`, type }], `${type} v6`);
  }
  // The kernel's lookup refuses each in its own way, for us and for ip.
  const errs: Record<string, string> = { blackhole: 'EINVAL', unreachable: 'EHOSTUNREACH', prohibit: 'EACCES' };
  for (const [i, type] of types.slice(0, 3).entries()) {
    t.throws(() => h.routeGet(`10.6${i}.1.1`), { code: errs[type] }, `route get through ${type}`);
    t.throws(() => execFileSync('ip', ['-n', n.name, 'route', 'get', `10.6${i}.1.1`], { stdio: 'pipe' }), `ip route get fails too (${type})`);
  }
  agreeAll(t, n);
  assertHome(t);
  t.end();
});

t.test('add, replace, append, delete: EEXIST, ESRCH, extack', (t) => {
  const n = setup(t);
  const { h, a, b } = n;
  const r = { dst: '10.70.0.0/16', gateway: '10.1.0.2', link: a };
  h.routeAdd(r);
  t.throws(() => h.routeAdd(r), { name: 'NetlinkError', code: 'EEXIST', op: 'routeAdd', object: '10.70.0.0/16' });
  h.routeReplace({ ...r, gateway: '10.8.0.2', link: b });
  t.match(h.routeList({ family: 4 }).filter((x) => x.dst === '10.70.0.0/16'), [{ gateway: '10.8.0.2', link: b }]);
  t.equal(h.routeList({ family: 4 }).filter((x) => x.dst === '10.70.0.0/16').length, 1, 'replaced, not added');
  h.routeAppend({ ...r, gateway: '10.1.0.3' });
  t.same(h.routeList({ family: 4 }).filter((x) => x.dst === '10.70.0.0/16').map((x) => x.gateway), ['10.8.0.2', '10.1.0.3'], 'IPv4 append: a second route after the first');
  h.routeAdd({ dst: 'fd00:70::/64', gateway: 'fd00:1::2', link: a });
  h.routeAppend({ dst: 'fd00:70::/64', gateway: 'fd00:1::3', link: a });
  t.match(h.routeList({ family: 6 }).filter((x) => x.dst === 'fd00:70::/64'), [{ nexthops: [{ gateway: 'fd00:1::2' }, { gateway: 'fd00:1::3' }] }], 'IPv6 append: one multipath route');
  agreeAll(t, n);

  h.routeDel({ dst: '10.70.0.0/16', gateway: '10.1.0.3' });
  t.same(h.routeList().filter((x) => x.dst === '10.70.0.0/16').map((x) => x.gateway), ['10.8.0.2'], 'delete matched the gateway');
  h.routeDel({ dst: '10.70.0.0/16' });
  t.same(n.ipJson('route', 'show', '10.70.0.0/16'), [], 'ip agrees it is gone');
  t.throws(() => h.routeDel({ dst: '10.70.0.0/16' }), { name: 'NetlinkError', code: 'ESRCH', op: 'routeDel' });
  h.routeDel({ dst: 'fd00:70::/64' });
  t.throws(() => h.routeDel({ dst: 'fd00:70::/64' }), { code: 'ESRCH' });
  t.throws(() => h.routeAdd({ dst: '10.71.0.1/16', link: a }), { code: 'EINVAL', extack: /prefix/i }, 'host bits set: the kernel says why');
  t.throws(() => h.routeList({ table: 77, family: 4 }), { code: 'ENOENT', extack: /table does not exist/ }, 'IPv4: a missing table is ENOENT');
  assertHome(t);
  t.end();
});

t.test('the kernel-side filters filter', (t) => {
  const n = setup(t);
  const { h, a, b } = n;
  h.batch((x) => {
    x.routeAdd({ dst: '10.80.0.0/16', link: a, protocol: 'static' });
    x.routeAdd({ dst: '10.81.0.0/16', link: b, protocol: 'bgp' });
    x.routeAdd({ dst: '10.82.0.0/16', link: b, protocol: 'static', table: 500 });
    x.routeAdd({ dst: 'fd00:80::/64', link: a, protocol: 'static' });
    x.routeAdd({ dst: 'fd00:81::/64', link: b, protocol: 'bgp', table: 500 });
    x.routeAdd({ dst: '10.83.0.0/16', type: 'blackhole', protocol: 'static' });
  });
  const all = h.routeList({ table: 'all' });
  const key = (r: Route) => `${r.table} ${r.dst} ${r.link}`;
  const expect = (pred: (r: Route) => boolean) => all.filter(pred).map(key).sort();
  const cases: [Parameters<typeof h.routeList>[0], (r: Route) => boolean][] = [
    [{}, (r) => r.table === 254],
    [{ table: 500 }, (r) => r.table === 500],
    [{ table: 'all', link: b }, (r) => r.link === b],
    [{ link: a, family: 6 }, (r) => r.link === a && r.family === 6 && r.table === 254],
    [{ table: 'all', protocol: 'static' }, (r) => r.protocol === 'static'],
    [{ table: 'all', protocol: 'bgp', family: 6 }, (r) => r.protocol === 'bgp' && r.family === 6],
    [{ table: 'all', type: 'blackhole' }, (r) => r.type === 'blackhole'],
    [{ table: 'local', family: 4 }, (r) => r.table === 255 && r.family === 4],
  ];
  for (const [filter, pred] of cases) {
    const got = h.routeList(filter).map(key).sort();
    t.same(got, expect(pred), JSON.stringify(filter));
    t.ok(got.length > 0 && got.length < all.length, `${JSON.stringify(filter)} narrowed ${all.length} to ${got.length}`);
  }
  t.equal(h.routeList({ table: 'all', link: b }).length, n.ipJson('route', 'show', 'table', 'all', 'dev', 'vb').length, 'ip shows as many routes on vb');
  t.throws(() => h.routeList({ table: 0 as never }), { name: 'RtnlInputError', field: 'table' });
  t.throws(() => h.routeList({ colour: 1 } as never), RtnlInputError);
  assertHome(t);
  t.end();
});

t.test('a dump of 10,000 routes', (t) => {
  const n = setup(t);
  const { h, a } = n;
  const dsts = Array.from({ length: 10000 }, (_, i) => `10.100.${i >> 8}.${i & 255}`);
  const res = h.batch((x) => dsts.forEach((d, i) => x.routeAdd({ dst: d, link: a, priority: i + 1 })));
  t.ok(res.every((r) => r.status === 'fulfilled'), '10,000 adds in one batch');
  const ours = h.routeList({ family: 4, link: a }).filter((r) => r.dst.startsWith('10.100.'));
  const theirs = n.ipJson('route', 'show', 'dev', 'va').filter((r: { dst: string }) => r.dst.startsWith('10.100.'));
  t.equal(ours.length, 10000, 'all 10,000 parsed');
  t.equal(theirs.length, 10000, 'ip sees 10,000');
  const byDst = new Map(ours.map((r) => [r.dst, r]));
  t.equal(byDst.size, 10000, 'no duplicates');
  for (const i of [0, 1, 255, 256, 4097, 7777, 9999]) {
    const r = byDst.get(`${dsts[i]}/32`);
    const ip = theirs.find((x: { dst: string }) => x.dst === dsts[i]);
    t.match(r, { link: a, priority: i + 1, scope: 'link', protocol: 'boot' }, `route ${i}`);
    t.equal(ip?.metric, i + 1, `ip agrees on route ${i}`);
  }
  assertHome(t);
  t.end();
});

// A dump under concurrent changes: either complete (maybe after retries),
// or NetlinkError EINTR once the retries are spent; never partial.
t.test('route dumps while another process adds and deletes routes', async (t) => {
  const n = setup(t);
  const { h, a } = n;
  h.batch((x) => { for (let i = 0; i < 10000; i++) x.routeAdd({ dst: `10.100.${i >> 8}.${i & 255}`, link: a }); });
  const lines: string[] = [];
  for (let i = 0; i < 100; i++) lines.push(`route add 10.200.0.${i}/32 dev va`);
  for (let i = 0; i < 100; i++) lines.push(`route del 10.200.0.${i}/32 dev va`);
  const stopChurn = churn(t, n.name, lines);
  await new Promise((r) => setTimeout(r, 200));
  let complete = 0, interrupted = 0, churned = 0;
  for (let round = 0; round < 20; round++) {
    try {
      const rs = await h.async.routeList({ family: 4 });
      const stable = rs.filter((r) => r.dst.startsWith('10.100.'));
      if (stable.length !== 10000 || new Set(stable.map((r) => r.dst)).size !== 10000) {
        t.fail(`partial dump: ${stable.length} of 10,000 stable routes`);
        continue;
      }
      churned += rs.filter((r) => r.dst.startsWith('10.200.')).length;
      complete++;
    } catch (e) {
      t.match(e, { name: 'NetlinkError', code: 'EINTR', op: 'routeList', extack: /NLM_F_DUMP_INTR/ });
      interrupted++;
    }
  }
  stopChurn();
  t.equal(complete + interrupted, 20, `${complete} complete, ${interrupted} EINTR; ${churned} churned routes seen in flight`);
  t.ok(churned > 0, 'the churn was really going on during the dumps');
  assertHome(t);
});
