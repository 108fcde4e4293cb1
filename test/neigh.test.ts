import t, { type Test } from 'tap';
import { type Neighbour, type NeighSpec, encodeRequests } from '../src/index.js';
import { type TestNs, assertHome, testNs } from './lib.js';

// From <linux/socket.h> and <linux/rtnetlink.h>: only to read request bytes back.
const AF_UNSPEC = 0, AF_INET = 2, AF_INET6 = 10, AF_BRIDGE = 7;
const RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29, RTM_GETNEIGH = 30;
const NLM_F_REPLACE = 0x100, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400, NLM_F_DUMP = 0x300;

interface IpNeigh { dst: string; dev: string; lladdr?: string; state?: string[]; router?: null; proxy?: null; extern_learn?: null; managed?: null }

/** A namespace with a veth pair v0/v1 (both up); returns their ifindexes. */
function setup(t: Tap): TestNs & { v1: number; v0: number } {
  const n = testNs(t, 'neigh');
  // (peer.up at creation fails with ENOTCONN: the peer opens before v0 exists)
  n.h.linkAdd({ kind: 'veth', name: 'v0', up: true, peer: { name: 'v1' } });
  n.h.linkSetUp('v1');
  return { ...n, v0: n.h.linkGet('v0').index, v1: n.h.linkGet('v1').index };
}
type Tap = Test;

/** `ip -j -d neigh show nud all` (the default hides noarp entries), on one device. */
function ipNeigh(n: TestNs, dev: string): IpNeigh[] {
  // unfiltered, so that ip prints `dev` and agree() can check it
  return (n.ipJson<IpNeigh[]>('-d', 'neigh', 'show', 'nud', 'all') ?? []).filter((x) => x.dev === dev);
}

/** Our entry and iproute2's agree field by field. */
function agree(t: Tap, ours: Neighbour, theirs: IpNeigh | undefined, dev: string): void {
  if (!theirs) return void t.fail(`ip neigh shows ${ours.address}`);
  t.equal(theirs.dst, ours.address, 'address = dst');
  t.equal(theirs.dev, dev, 'link = dev');
  t.equal(theirs.lladdr, ours.lladdr, 'lladdr');
  t.same(theirs.state, [String(ours.state).toUpperCase()], 'state');
  for (const f of ['router', 'proxy', 'extern_learn', 'managed'] as const)
    t.equal(f in theirs, ours.flags.includes(f), `flag ${f} on both or neither`);
}

function find(list: Neighbour[], address: string): Neighbour | undefined {
  return list.find((x) => x.address === address);
}

t.test('ARP and NDP entries in every writable state read back, agreeing with ip neigh', (t) => {
  const n = setup(t);
  const specs: NeighSpec[] = [
    { address: '192.0.2.10', lladdr: '02:00:00:00:00:10', link: n.v1 },
    { address: '192.0.2.11', lladdr: '02:00:00:00:00:11', link: n.v1, state: 'noarp' },
    { address: '192.0.2.12', lladdr: '02:00:00:00:00:12', link: n.v1, state: 'reachable' },
    { address: '192.0.2.13', lladdr: '02:00:00:00:00:13', link: n.v1, state: 'stale', flags: ['extern_learn'] },
    { address: '2001:db8::10', lladdr: '02:00:00:00:00:20', link: n.v1, state: 'permanent' },
    { address: '2001:db8::11', lladdr: '02:00:00:00:00:21', link: n.v1, state: 'noarp' },
    { address: '2001:db8::12', lladdr: '02:00:00:00:00:22', link: n.v1, state: 'reachable', flags: ['router'] },
    { address: '2001:db8::13', lladdr: '02:00:00:00:00:23', link: n.v1, state: 'stale' },
  ];
  for (const s of specs) n.h.neighAdd(s);
  const ours = n.h.neighList({ link: n.v1 });
  const theirs = ipNeigh(n, 'v1');
  for (const s of specs) {
    const got = find(ours, s.address);
    if (!got) { t.fail(`${s.address} listed`); continue; }
    t.same(got, {
      family: s.address.includes(':') ? 6 : 4, link: n.v1, address: s.address, lladdr: s.lladdr,
      state: s.state ?? 'permanent', flags: s.flags ?? [],
    }, `${s.address} ${s.state ?? 'permanent'} reads back exactly`);
    agree(t, got, theirs.find((x) => x.dst === s.address), 'v1');
  }
  assertHome(t);
  t.end();
});

t.test('add refuses an existing entry, replace overwrites or creates, delete removes once', (t) => {
  const n = setup(t);
  const spec: NeighSpec = { address: '192.0.2.20', lladdr: '02:00:00:00:00:01', link: n.v1 };
  n.h.neighAdd(spec);
  t.throws(() => n.h.neighAdd({ ...spec, lladdr: '02:00:00:00:00:02' }), { name: 'NetlinkError', code: 'EEXIST', op: 'neighAdd' });
  t.equal(find(n.h.neighList({ link: n.v1 }), spec.address)?.lladdr, '02:00:00:00:00:01', 'a refused add changes nothing');

  n.h.neighReplace({ ...spec, lladdr: '02:00:00:00:00:02', state: 'stale' });
  const got = find(n.h.neighList({ link: n.v1 }), spec.address);
  t.equal(got?.lladdr, '02:00:00:00:00:02', 'replace changed lladdr');
  t.equal(got?.state, 'stale', 'replace changed state');
  agree(t, got!, ipNeigh(n, 'v1').find((x) => x.dst === spec.address), 'v1');

  n.h.neighReplace({ address: '2001:db8::20', lladdr: '02:00:00:00:00:03', link: n.v1 });
  t.ok(find(n.h.neighList({ link: n.v1 }), '2001:db8::20'), 'replace creates a missing entry');

  n.h.neighDel({ address: spec.address, link: n.v1 });
  t.notOk(find(n.h.neighList({ link: n.v1 }), spec.address), 'deleted');
  t.notOk(ipNeigh(n, 'v1').find((x) => x.dst === spec.address), 'ip neigh agrees it is gone');
  t.throws(() => n.h.neighDel({ address: spec.address, link: n.v1 }), { name: 'NetlinkError', code: 'ENOENT', op: 'neighDel', object: `${spec.address} dev ${n.v1}` });
  assertHome(t);
  t.end();
});

t.test('proxy entries live in their own table', (t) => {
  const n = setup(t);
  n.h.neighAdd({ address: '192.0.2.30', link: n.v1, flags: ['proxy'] });
  n.h.neighAdd({ address: '2001:db8::30', link: n.v1, flags: ['proxy'] });
  const proxies = n.h.neighList({ proxy: true, link: n.v1 });
  t.same(proxies.map((p) => [p.address, p.link, p.flags]).sort(), [
    ['192.0.2.30', n.v1, ['proxy']], ['2001:db8::30', n.v1, ['proxy']],
  ], 'both listed as proxy entries');
  const ip = n.ipJson<IpNeigh[]>('neigh', 'show', 'proxy');
  t.same(ip.map((p) => [p.dst, p.dev, 'proxy' in p]).sort(), [['192.0.2.30', 'v1', true], ['2001:db8::30', 'v1', true]], 'ip neigh show proxy agrees');
  t.notOk(find(n.h.neighList({ link: n.v1 }), '192.0.2.30'), 'not in the neighbour cache');
  t.same(n.h.neighList({ proxy: true, family: 6 }).map((p) => p.address), ['2001:db8::30'], 'family filter on the proxy table');

  t.throws(() => n.h.neighDel({ address: '192.0.2.30', link: n.v1 }), { code: 'ENOENT' }, 'a plain delete does not reach the proxy table');
  n.h.neighDel({ address: '192.0.2.30', link: n.v1, proxy: true });
  t.same(n.h.neighList({ proxy: true }).map((p) => p.address), ['2001:db8::30'], 'proxy delete removed just that one');
  assertHome(t);
  t.end();
});

t.test('dump filters are applied: link, family, master', (t) => {
  const n = setup(t);
  n.h.linkAdd({ kind: 'bridge', name: 'br0', up: true });
  const br = n.h.linkGet('br0').index;
  n.h.linkSet('v0', { master: br });
  n.h.neighAdd({ address: '192.0.2.40', lladdr: '02:00:00:00:00:40', link: n.v0 });
  n.h.neighAdd({ address: '2001:db8::40', lladdr: '02:00:00:00:00:40', link: n.v0 });
  n.h.neighAdd({ address: '192.0.2.41', lladdr: '02:00:00:00:00:41', link: n.v1 });
  n.h.neighAdd({ address: '2001:db8::41', lladdr: '02:00:00:00:00:41', link: n.v1 });

  const all = n.h.neighList();
  t.ok(['192.0.2.40', '2001:db8::40', '192.0.2.41', '2001:db8::41'].every((a) => find(all, a)), 'unfiltered: all four');
  t.ok(all.every((x) => x.family === 4 || x.family === 6), 'no FDB entries in a neighbour dump');
  const onV1 = n.h.neighList({ link: n.v1 });
  t.ok(onV1.length >= 2 && onV1.every((x) => x.link === n.v1), 'link filter: only v1');
  // multicast entries come and go on their own (MLD/IGMP); compare the rest
  const unicast = (a: string) => !a.startsWith('ff') && !a.startsWith('224.');
  t.same(onV1.map((x) => x.address).filter(unicast).sort(), ipNeigh(n, 'v1').map((x) => x.dst).filter(unicast).sort(), 'same set as ip neigh show dev v1');
  const v6 = n.h.neighList({ family: 6 });
  t.ok(v6.length >= 2 && v6.every((x) => x.family === 6 && x.address.includes(':')), 'family 6: only NDP');
  t.ok(n.h.neighList({ family: 4 }).every((x) => x.family === 4), 'family 4: only ARP');
  t.same(n.h.neighList({ family: 4, link: n.v1 }).map((x) => x.address), ['192.0.2.41'], 'filters combine');
  const underBr = n.h.neighList({ master: br });
  t.ok(underBr.length >= 2 && underBr.every((x) => x.link === n.v0), 'master filter: only ports of br0');
  t.same(underBr.map((x) => x.address).filter(unicast).sort(), n.ipJson<IpNeigh[]>('neigh', 'show', 'nud', 'all', 'master', 'br0').map((x) => x.dst).filter(unicast).sort(), 'same set as ip neigh show master br0');
  assertHome(t);
  t.end();
});

t.test('async and batch run the same verbs', async (t) => {
  const n = setup(t);
  await n.h.async.neighAdd({ address: '192.0.2.50', lladdr: '02:00:00:00:00:50', link: n.v1 });
  const r = n.h.batch((b) => {
    b.neighAdd({ address: '192.0.2.51', lladdr: '02:00:00:00:00:51', link: n.v1 });
    b.neighAdd({ address: '192.0.2.50', lladdr: '02:00:00:00:00:50', link: n.v1 });
    b.neighList({ link: n.v1, family: 4 });
  });
  t.equal(r[0]!.status, 'fulfilled');
  t.match(r[1], { status: 'rejected', reason: { code: 'EEXIST' } });
  const listed = r[2]!.status === 'fulfilled' ? (r[2].value as Neighbour[]).map((x) => x.address).sort() : [];
  t.same(listed, ['192.0.2.50', '192.0.2.51']);
  t.same((await n.h.async.neighList({ link: n.v1, family: 4 })).map((x) => x.address).sort(), ['192.0.2.50', '192.0.2.51'], 'async list');
  assertHome(t);
});

t.test('bad input is refused before anything is sent', (t) => {
  const n = setup(t);
  const ok: NeighSpec = { address: '192.0.2.60', lladdr: '02:00:00:00:00:60', link: n.v1 };
  const bad: [Record<string, unknown>, string][] = [
    [{ lladdr: '02:00:00:00:00' }, 'lladdr'],
    [{ lladdr: 'zz:00:00:00:00:60' }, 'lladdr'],
    [{ address: '192.0.2.300' }, 'address'],
    [{ address: 'fe80::1%v1' }, 'address'],
    [{ address: undefined }, 'address'],
    [{ link: undefined }, 'link'],
    [{ link: 0 }, 'link'],
    [{ state: 'static' }, 'state'],
    [{ state: 'PERMANENT' }, 'state'],
    [{ flags: ['offload'] }, 'flags[0]'],
    [{ flags: 'proxy' }, 'flags'],
    [{ mac: '02:00:00:00:00:60' }, 'mac'],
  ];
  for (const [change, field] of bad) {
    const spec = { ...ok, ...change } as unknown as NeighSpec;
    t.throws(() => n.h.neighAdd(spec), { name: 'RtnlInputError', field }, `${JSON.stringify(change)} -> ${field}`);
    t.throws(() => encodeRequests((b) => b.neighReplace(spec)), { name: 'RtnlInputError', field }, 'refused while recording a batch too');
  }
  t.throws(() => n.h.neighDel({ address: 'nope', link: n.v1 }), { name: 'RtnlInputError', field: 'address' });
  t.throws(() => n.h.neighList({ family: 7 as 4 }), { name: 'RtnlInputError', field: 'family' });
  t.throws(() => n.h.neighList({ dev: 'v1' } as never), { name: 'RtnlInputError', field: 'dev' });
  t.notOk(find(n.h.neighList({ link: n.v1 }), ok.address), 'nothing reached the kernel');
  assertHome(t);
  t.end();
});

interface Msg { type: number; flags: number; family: number }
function messages(buf: Buffer): Msg[] {
  const out: Msg[] = [];
  for (let at = 0; at < buf.length;) {
    const len = buf.readUInt32LE(at);
    out.push({ type: buf.readUInt16LE(at + 4), flags: buf.readUInt16LE(at + 6), family: buf[at + 16]! });
    at += (len + 3) & ~3;
  }
  return out;
}

t.test('a neighbour request is never AF_BRIDGE', (t) => {
  const msgs = messages(encodeRequests((b) => {
    b.neighAdd({ address: '192.0.2.1', lladdr: '02:00:00:00:00:01', link: 1 });
    b.neighReplace({ address: '2001:db8::1', lladdr: '02:00:00:00:00:01', link: 1 });
    b.neighDel({ address: '192.0.2.1', link: 1 });
    b.neighDel({ address: '2001:db8::1', link: 1, proxy: true });
    b.neighList();
    b.neighList({ family: 4 });
    b.neighList({ family: 6, proxy: true });
  }));
  t.same(msgs.map((m) => m.family), [AF_INET, AF_INET6, AF_INET, AF_INET6, AF_UNSPEC, AF_INET, AF_INET6], 'family follows the address / filter');
  t.ok(msgs.every((m) => m.family !== AF_BRIDGE), 'never AF_BRIDGE');
  t.same(msgs.map((m) => m.type), [RTM_NEWNEIGH, RTM_NEWNEIGH, RTM_DELNEIGH, RTM_DELNEIGH, RTM_GETNEIGH, RTM_GETNEIGH, RTM_GETNEIGH]);
  t.equal(msgs[0]!.flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_REPLACE), NLM_F_CREATE | NLM_F_EXCL, 'add: CREATE|EXCL');
  t.equal(msgs[1]!.flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_REPLACE), NLM_F_CREATE | NLM_F_REPLACE, 'replace: CREATE|REPLACE');
  t.equal(msgs[4]!.flags & NLM_F_DUMP, NLM_F_DUMP, 'list is a dump');
  t.end();
});
