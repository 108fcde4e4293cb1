// Next-hop objects (nexthopAdd/Replace/Del/Get/List) and routes using them
// (nhid): every kind written, read back and compared with `ip -j -d nexthop
// show` field by field, the list filters, typed errors, traffic through a
// route via a next-hop group, and the requests byte for byte against what
// `ip nexthop` / `ip route ... nhid` send (test/fixtures/nexthop*.hex).
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { type NexthopEvent, type NexthopObject, type SubscriptionItem, subscribe } from '../src/index.js';
import { type TestNs, assertHome, eventually, testNs } from './lib.js';
import { sameRequest } from './wire.js';

type Tap = Parameters<typeof testNs>[0];

// A veth pair va/vb, both up, 10.1.0.1/24 and fd00:1::1/64 on va; lo up (blackholes use it).
function setup(t: Tap): TestNs & { a: number; b: number } {
  const n = testNs(t, 'nh');
  n.h.linkAdd({ kind: 'veth', name: 'va', peer: { name: 'vb' } });
  for (const l of ['va', 'vb', 'lo']) n.h.linkSetUp(l);
  const a = n.h.linkGet('va').index, b = n.h.linkGet('vb').index;
  n.h.addrAdd({ link: a, address: '10.1.0.1/24' });
  n.h.addrAdd({ link: a, address: 'fd00:1::1/64', flags: ['nodad'] });
  return { ...n, a, b };
}

function linkNames(n: TestNs): Map<number, string> {
  return new Map(n.ipJson('link', 'show').map((l: { ifindex: number; ifname: string }) => [l.ifindex, l.ifname]));
}

// Our next hop in the shape `ip -j -d nexthop show` prints it (less scope, which rtnl does not report).
function asIp(nh: NexthopObject, names: Map<number, string>): Record<string, unknown> {
  const o: Record<string, unknown> = {
    id: nh.id, gateway: nh.gateway, dev: nh.link === undefined ? undefined : names.get(nh.link),
    ...(nh.blackhole ? { blackhole: null } : {}), protocol: String(nh.protocol), flags: nh.flags, ...(nh.fdb ? { fdb: null } : {}),
  };
  if (nh.group) o.group = nh.group.map((m) => (m.weight === 1 ? { id: m.id } : m));
  if (nh.groupType === 'resilient') {
    o.type = 'resilient';
    const r = nh.resilient!;
    o.resilient_args = { buckets: r.buckets, idle_timer: r.idleTimer, unbalanced_timer: r.unbalancedTimer, unbalanced_time: r.unbalancedTime };
  }
  return JSON.parse(JSON.stringify(o));
}

function agree(t: Tap, n: TestNs): void {
  const names = linkNames(n);
  const ours = n.h.nexthopList().map((nh) => asIp(nh, names));
  const theirs = n.ipJson('-d', 'nexthop', 'show').map(({ scope: _, ...rest }: Record<string, unknown>) => rest);
  t.equal(ours.length, theirs.length, `${ours.length} next hops both ways`);
  ours.forEach((nh, i) => t.same(nh, theirs[i], `id ${nh.id}: as ip shows it`));
}

t.test('IPv4 and IPv6 next hops, groups, blackhole, FDB: read back, iproute2 agrees', (t) => {
  const n = setup(t);
  const { h, a } = n;
  h.nexthopAdd({ id: 1, gateway: '10.1.0.2', link: a });
  h.nexthopAdd({ id: 2, gateway: '10.1.0.3', link: a, flags: ['onlink'], protocol: 'static' });
  h.nexthopAdd({ id: 3, blackhole: true });
  h.nexthopAdd({ id: 4, link: a });
  h.nexthopAdd({ id: 5, gateway: 'fd00:1::2', link: a, protocol: 77 });
  h.nexthopAdd({ id: 6, family: 6, link: a });
  h.nexthopAdd({ id: 10, group: [{ id: 1 }, { id: 2, weight: 5 }], protocol: 'zebra' });
  h.nexthopAdd({ id: 11, group: [{ id: 1 }, { id: 2 }], groupType: 'resilient', resilient: { buckets: 8, idleTimer: 10, unbalancedTimer: 20 } });
  h.nexthopAdd({ id: 12, group: [{ id: 5 }], groupType: 'mpath' });
  h.nexthopAdd({ id: 20, gateway: '10.1.0.9', fdb: true });
  h.nexthopAdd({ id: 21, group: [{ id: 20 }], fdb: true });

  t.match(h.nexthopGet(1), { id: 1, family: 4, gateway: '10.1.0.2', link: a, protocol: 'unspec', flags: [] });
  t.match(h.nexthopGet(2), { flags: ['onlink'], protocol: 'static' });
  t.match(h.nexthopGet(3), { id: 3, blackhole: true });
  t.match(h.nexthopGet(5), { family: 6, gateway: 'fd00:1::2', protocol: 77 });
  t.match(h.nexthopGet(6), { family: 6, link: a });
  t.match(h.nexthopGet(10), { group: [{ id: 1, weight: 1 }, { id: 2, weight: 5 }], groupType: 'mpath', protocol: 'zebra' });
  t.equal(h.nexthopGet(10).family, undefined, 'a group has no family');
  t.match(h.nexthopGet(11), { groupType: 'resilient', resilient: { buckets: 8, idleTimer: 10, unbalancedTimer: 20 } });
  t.match(h.nexthopGet(20), { fdb: true, gateway: '10.1.0.9' });
  t.match(h.nexthopGet(21), { fdb: true, group: [{ id: 20, weight: 1 }] });
  agree(t, n);
  assertHome(t);
  t.end();
});

t.test('list filters are applied by the kernel', (t) => {
  const n = setup(t);
  const { h, a, b } = n;
  n.h.addrAdd({ link: b, address: '10.2.0.1/24' });
  h.linkAdd({ kind: 'bridge', name: 'br0', up: true });
  h.linkAdd({ kind: 'veth', name: 'vc', peer: { name: 'vd' } });
  const br = h.linkGet('br0').index, c = h.linkGet('vc').index;
  h.linkSet('vc', { master: br, up: true });
  h.linkSetUp('vd');
  h.nexthopAdd({ id: 1, gateway: '10.1.0.2', link: a });
  h.nexthopAdd({ id: 2, gateway: '10.2.0.2', link: b });
  h.nexthopAdd({ id: 3, gateway: 'fd00:1::2', link: a });
  h.nexthopAdd({ id: 4, link: c });
  h.nexthopAdd({ id: 10, group: [{ id: 1 }, { id: 2 }] });
  h.nexthopAdd({ id: 20, gateway: '10.1.0.9', fdb: true });
  const ids = (f?: Parameters<typeof h.nexthopList>[0]) => h.nexthopList(f).map((nh) => nh.id);
  const theirs = (...args: string[]) => n.ipJson('nexthop', 'show', ...args).map((nh: { id: number }) => nh.id);
  t.same(ids(), [1, 2, 3, 4, 10, 20], 'all');
  t.same(ids({ link: a }), [1, 3], 'dev va');
  t.same(ids({ link: a }), theirs('dev', 'va'), 'as `ip nexthop show dev va`');
  t.same(ids({ groups: true }), [10], 'groups');
  t.same(ids({ groups: true }), theirs('groups'));
  t.same(ids({ fdb: true }), [20], 'fdb (applied by rtnl: this kernel ignores NHA_FDB in a dump, and `ip nexthop show fdb` lists all)');
  t.same(ids({ family: 6 }), [3], 'IPv6');
  t.same(ids({ master: br }), [4], 'ports of br0');
  t.same(ids({ master: br }), theirs('master', 'br0'));
  t.same(ids({ groups: false, fdb: false }), ids(), 'false filters filter nothing');
  t.same(ids({ id: 10 }), [10], 'id');
  t.same(ids({ id: 10 }), theirs('id', '10'), 'as `ip nexthop show id 10`');
  t.same(ids({ id: 99 }), [], 'an id that is not there: none');
  t.same(ids({ id: 20, fdb: true, link: a }), [], 'filters combine');
  assertHome(t);
  t.end();
});

t.test('replace, delete, and kernel refusals as typed errors with the kernel text', (t) => {
  const n = setup(t);
  const { h, a } = n;
  h.nexthopAdd({ id: 1, gateway: '10.1.0.2', link: a });
  t.throws(() => h.nexthopAdd({ id: 1, gateway: '10.1.0.3', link: a }), { name: 'NetlinkError', code: 'EEXIST', op: 'nexthopAdd', object: 'id 1' });
  h.nexthopReplace({ id: 1, gateway: '10.1.0.3', link: a });
  t.equal(h.nexthopGet(1).gateway, '10.1.0.3', 'replaced');
  h.routeAdd({ dst: '10.9.0.0/16', nhid: 1 });
  t.match(h.routeList().find((r) => r.dst === '10.9.0.0/16'), { nhid: 1, gateway: '10.1.0.3', link: a }, 'a route through it follows the object');
  t.throws(() => h.nexthopAdd({ id: 2, group: [{ id: 1 }, { id: 99 }] }), { name: 'NetlinkError', code: 'EINVAL', op: 'nexthopAdd', extack: 'Invalid nexthop id' }, 'a group with a missing member');
  t.throws(() => h.nexthopAdd({ id: 2, group: [{ id: 1 }, { id: 1 }] }), { code: 'EINVAL', extack: 'Nexthop id can not be used twice in a group' }, 'a member twice');
  t.throws(() => h.routeAdd({ dst: '10.8.0.0/16', nhid: 99 }), { name: 'NetlinkError', code: 'EINVAL', op: 'routeAdd', extack: 'Nexthop id does not exist' });
  h.nexthopDel(1);
  t.same(n.ipJson('nexthop', 'show'), [], 'gone');
  t.equal(h.routeList().find((r) => r.dst === '10.9.0.0/16'), undefined, 'and the route through it with it');
  t.throws(() => h.nexthopDel(1), { name: 'NetlinkError', code: 'ENOENT', op: 'nexthopDel', object: 'id 1' });
  t.throws(() => h.nexthopGet(1), { name: 'NetlinkError', code: 'ENOENT', op: 'nexthopGet' });
  assertHome(t);
  t.end();
});

t.test('bad input is an RtnlInputError naming the field, before anything is sent', (t) => {
  const n = setup(t);
  const { h, a } = n;
  const bad: [object, string][] = [
    [{ id: 1 }, 'nexthop'],
    [{ id: 0, link: a }, 'id'],
    [{ id: 1, family: 4, gateway: 'fd00::1' }, 'gateway'],
    [{ id: 1, blackhole: true, link: a }, 'blackhole'],
    [{ id: 1, group: [] }, 'group'],
    [{ id: 1, group: [{ weight: 2 }] }, 'group[0].id'],
    [{ id: 1, group: [{ id: 2, weight: 257 }] }, 'group[0].weight'],
    [{ id: 1, group: [{ id: 2 }], link: a }, 'link'],
    [{ id: 1, group: [{ id: 2 }], resilient: { buckets: 8 } }, 'resilient'],
    [{ id: 1, link: a, groupType: 'mpath' }, 'groupType'],
    [{ id: 1, group: [{ id: 2 }], groupType: 'resilient', resilient: { buckets: 0 } }, 'resilient.buckets'],
    [{ id: 1, link: a, flags: ['dead'] }, 'flags[0]'],
    [{ id: 1, link: a, via: '10.1.0.2' }, 'via'],
  ];
  for (const [spec, field] of bad) t.throws(() => h.nexthopAdd(spec as never), { name: 'RtnlInputError', field }, `${JSON.stringify(spec)}: ${field}`);
  t.throws(() => h.nexthopDel(0), { name: 'RtnlInputError', field: 'id' });
  t.throws(() => h.nexthopList({ link: 'va' as never }), { name: 'RtnlInputError', field: 'link' });
  t.throws(() => h.routeAdd({ dst: '10.9.0.0/16', nhid: 0 }), { name: 'RtnlInputError', field: 'nhid' });
  t.same(n.ipJson('nexthop', 'show'), [], 'nothing was created');
  assertHome(t);
  t.end();
});

t.test('a route via a next-hop group, picked by a rule, carries traffic between two namespaces, IPv4 and IPv6', (t) => {
  const A = testNs(t, 'nha'), B = testNs(t, 'nhb');
  A.h.linkAdd({ kind: 'veth', name: 'ab', peer: { name: 'ba', netns: B.ns } });
  A.h.linkSetUp('ab');
  B.h.linkSetUp('ba');
  B.h.linkSetUp('lo');
  const ab = A.h.linkGet('ab').index, ba = B.h.linkGet('ba').index, lo = B.h.linkGet('lo').index;
  A.h.addrAdd({ link: ab, address: '10.50.0.1/24' });
  A.h.addrAdd({ link: ab, address: 'fd50::1/64', flags: ['nodad'] });
  B.h.addrAdd({ link: ba, address: '10.50.0.2/24' });
  B.h.addrAdd({ link: ba, address: 'fd50::2/64', flags: ['nodad'] });
  B.h.addrAdd({ link: lo, address: '10.99.0.1/32' });
  B.h.addrAdd({ link: lo, address: 'fd99::1/128' });
  // A reaches B's loopback addresses only through the next-hop objects.
  A.h.nexthopAdd({ id: 1, gateway: '10.50.0.2', link: ab });
  A.h.nexthopAdd({ id: 2, gateway: 'fd50::2', link: ab });
  A.h.nexthopAdd({ id: 10, group: [{ id: 1 }] });
  // IPv4: the route is in table 100, which only a rule sends the packets to.
  A.h.routeAdd({ dst: '10.99.0.0/24', nhid: 10, table: 100 });
  A.h.ruleAdd({ priority: 100, dst: '10.99.0.0/24', table: 100 });
  A.h.routeAdd({ dst: 'fd99::/64', nhid: 2 });
  // One echo, asked up to `tries` times: a busy machine may lose the first to neighbour discovery.
  const ping = (ip: string, tries = 3): string => {
    for (let i = 1; ; i++) {
      try {
        return execFileSync('ip', ['netns', 'exec', A.name, 'ping', '-n', '-c', '1', '-W', '5', ip], { encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        if (i >= tries) throw e;
      }
    }
  };
  t.match(ping('10.99.0.1'), /1 received/, 'IPv4 ping through nhid 10 (a group)');
  t.match(ping('fd99::1'), /1 received/, 'IPv6 ping through nhid 2');
  const v4 = A.h.routeList({ table: 100 }).find((r) => r.dst === '10.99.0.0/24');
  t.match(v4, { nhid: 10, gateway: '10.50.0.2', link: ab }, 'read back with its nhid (and the path of its one member)');
  t.match(A.ipJson('route', 'show', 'table', '100', '10.99.0.0/24'), [{ nhid: v4!.nhid, gateway: v4!.gateway }], 'as `ip route` shows it');
  t.match(A.h.routeList({ family: 6 }).find((r) => r.dst === 'fd99::/64'), { nhid: 2, gateway: 'fd50::2', link: ab });
  t.match(A.h.routeGet('10.99.0.1'), { gateway: '10.50.0.2', link: ab }, 'route get resolves it');
  A.h.nexthopReplace({ id: 10, group: [{ id: 1 }], protocol: 'static' });
  t.match(ping('10.99.0.1'), /1 received/, 'still after the group is replaced');
  A.h.ruleDel({ priority: 100 });
  t.throws(() => ping('10.99.0.1', 1), 'without the rule, no route to B');
  assertHome(t);
  t.end();
});

t.test('next-hop events: created, replaced, deleted, decoded like nexthopGet', async (t) => {
  const n = setup(t);
  const sub = subscribe({ kinds: ['nexthop'], netns: n.ns });
  t.teardown(() => sub.close());
  const items: SubscriptionItem[] = [];
  sub.on('event', (e) => items.push(e));
  n.h.nexthopAdd({ id: 1, gateway: '10.1.0.2', link: n.a });
  n.h.nexthopAdd({ id: 2, group: [{ id: 1 }] });
  const group = n.h.nexthopGet(2);
  n.h.nexthopDel(2);
  const evs = (): NexthopEvent[] => items.filter((i): i is NexthopEvent => i.kind === 'nexthop');
  t.ok(await eventually(() => evs().length >= 3, 10000), 'three next-hop events');
  t.match(evs().map((e) => [e.action, e.value.id]), [['new', 1], ['new', 2], ['del', 2]]);
  t.same(evs()[1]!.value, group, 'the group as nexthopGet reads it');
  assertHome(t);
});

t.test('requests byte for byte as `ip nexthop` and `ip route ... nhid` send them', (t) => {
  const ETH0 = 10; // eth0's ifindex in capture.sh's namespace
  sameRequest(t, 'nexthop-gateway', (b) => b.nexthopAdd({ id: 3, gateway: '10.1.0.4', link: ETH0, flags: ['onlink'], protocol: 'static' }));
  sameRequest(t, 'nexthop6-gateway', (b) => b.nexthopAdd({ id: 4, gateway: 'fd00::2', link: ETH0 }));
  sameRequest(t, 'nexthop-dev', (b) => b.nexthopAdd({ id: 5, link: ETH0 }));
  sameRequest(t, 'nexthop-blackhole', (b) => b.nexthopAdd({ id: 6, blackhole: true }));
  sameRequest(t, 'nexthop-group', (b) => b.nexthopAdd({ id: 7, group: [{ id: 1 }, { id: 2, weight: 5 }], protocol: 'zebra' }));
  sameRequest(t, 'nexthop-resilient', (b) => b.nexthopAdd({ id: 9, group: [{ id: 1 }, { id: 2 }], groupType: 'resilient', resilient: { buckets: 8, idleTimer: 10, unbalancedTimer: 20 } }));
  sameRequest(t, 'nexthop-fdb', (b) => b.nexthopAdd({ id: 10, gateway: '10.1.0.9', fdb: true }));
  sameRequest(t, 'nexthop-fdb-group', (b) => b.nexthopAdd({ id: 11, group: [{ id: 8 }], fdb: true }));
  sameRequest(t, 'nexthop-del', (b) => b.nexthopDel(11));
  sameRequest(t, 'route-nhid', (b) => b.routeAdd({ dst: '10.9.0.0/16', nhid: 7 }));
  t.end();
});
