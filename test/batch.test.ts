// Batches (pipelined requests, one result each, in order), the async verbs,
// and the handle's life cycle, on the real kernel.
import t from 'tap';
import { type Link, NetlinkError, RtnlInputError, encodeRequests } from '../src/index.js';

const NLM_F_ACK = 4;
import { assertHome, testNs } from './lib.js';

const ipNames = (ipJson: <T>(...a: string[]) => T) => ipJson<{ ifname: string }[]>('link', 'show').map((l) => l.ifname).sort();

t.test('a failing request in the middle: every result in order, the later ones still run', (t) => {
  const { h, ipJson } = testNs(t, 'bat');
  const results = h.batch((b) => {
    b.linkAdd({ kind: 'bridge', name: 'a0' });
    b.linkAdd({ kind: 'bridge', name: 'a0' }); // EEXIST
    b.linkAdd({ kind: 'bridge', name: 'b0' });
    b.linkGet('a0');
    b.linkDel('nope0'); // ENODEV
    b.linkSet('b0', { mtu: 1400 });
    b.linkList({ kind: 'bridge' });
  });
  t.equal(results.length, 7, 'one result per request');
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  t.equal((results[0] as PromiseFulfilledResult<unknown>).value, undefined, 'an add resolves to undefined');
  const dup = (results[1] as PromiseRejectedResult).reason;
  t.ok(dup instanceof NetlinkError, 'failures are NetlinkErrors');
  t.match(dup, { code: 'EEXIST', op: 'linkAdd', object: 'a0' });
  t.match((results[3] as PromiseFulfilledResult<Link>).value, { name: 'a0', kind: 'bridge' }, 'a get in a batch returns the link');
  t.match((results[4] as PromiseRejectedResult).reason, { name: 'NetlinkError', code: 'ENODEV', op: 'linkDel', object: 'nope0' });
  const listed = (results[6] as PromiseFulfilledResult<Link[]>).value;
  t.same(listed.map((l) => l.name).sort(), ['a0', 'b0'], 'a dump in a batch sees the earlier requests');
  t.equal(listed.find((l) => l.name === 'b0')!.mtu, 1400, 'and the set after the failure ran');
  t.same(ipNames(ipJson), ['a0', 'b0', 'lo'], 'iproute2 agrees');
  t.same(h.batch(() => {}), [], 'an empty batch sends nothing');
  // Input errors are thrown while recording, before anything is sent.
  t.throws(() => h.batch((b) => { b.linkAdd({ kind: 'bridge', name: 'c0' }); b.linkAdd({ kind: 'bridge', name: 'bad name' }); }), { name: 'RtnlInputError', field: 'name' });
  t.same(ipNames(ipJson), ['a0', 'b0', 'lo'], 'so an invalid batch changes nothing');
  assertHome(t);
  t.end();
});

t.test('async verbs resolve, or reject with NetlinkError', async (t) => {
  const { h, ipJson } = testNs(t, 'asy');
  t.equal(await h.async.linkAdd({ kind: 'bridge', name: 'br0' }), undefined);
  const br = await h.async.linkGet('br0');
  t.match(br, { name: 'br0', kind: 'bridge' });
  await t.rejects(h.async.linkAdd({ kind: 'bridge', name: 'br0' }), { name: 'NetlinkError', code: 'EEXIST', op: 'linkAdd' });
  await t.rejects(h.async.linkDel('nope0'), { name: 'NetlinkError', code: 'ENODEV' });
  await t.rejects(h.async.linkGet(9999), NetlinkError);
  // Bad input is refused before anything is sent, as a rejection (never a synchronous throw).
  let p: Promise<void> | undefined;
  t.doesNotThrow(() => { p = h.async.linkAdd({ kind: 'bridge', name: 'x'.repeat(16) }); }, 'no synchronous throw');
  await t.rejects(p!, { name: 'RtnlInputError', field: 'name' });
  t.same(ipNames(ipJson), ['br0', 'lo'], 'nothing was sent');
  await h.async.linkSet('br0', { mtu: 1400, up: true });
  t.match(ipJson('link', 'show', 'br0')[0], { mtu: 1400 });
  t.ok(ipJson('link', 'show', 'br0')[0].flags.includes('UP'), 'async set observed through iproute2');
  const res = await h.async.batch((b) => {
    b.linkAdd({ kind: 'bridge', name: 'br1' });
    b.linkAdd({ kind: 'bridge', name: 'br1' });
    b.linkGet('br1');
  });
  t.same(res.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'an async batch reports like a sync one');
  t.match((res[1] as PromiseRejectedResult).reason, { name: 'NetlinkError', code: 'EEXIST' });
  t.same((await h.async.linkList()).map((l) => l.name).sort(), ['br0', 'br1', 'lo']);
  assertHome(t);
});

t.test('1000 link adds in one batch, then a dump of 2000+ links and 1000 gets', (t) => {
  const { h, ipJson } = testNs(t, 'big');
  const N = 1000;
  // veth pairs, not bridges: the kernel deletes veths quickly (bridges take ~17 ms each), which keeps teardown cheap.
  const added = h.batch((b) => {
    for (let i = 0; i < N; i++) b.linkAdd({ kind: 'veth', name: `v${i}`, mtu: 1000 + (i % 400), linkGroup: 5, peer: { name: `p${i}` } });
  });
  t.equal(added.length, N);
  t.equal(added.filter((r) => r.status === 'fulfilled').length, N, 'every add succeeded (acks across several pipelining windows)');
  const rejected = added.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (rejected) t.fail(String(rejected.reason));

  const dump = h.linkList();
  t.equal(dump.length, 2 * N + 1, 'the dump returns every link (many multipart messages)');
  const byName = new Map(dump.map((l) => [l.name, l]));
  let right = 0;
  for (let i = 0; i < N; i++) {
    const v = byName.get(`v${i}`), p = byName.get(`p${i}`);
    if (v?.mtu === 1000 + (i % 400) && v.link === p?.index && p?.link === v.index) right++;
  }
  t.equal(right, N, 'each end with its own mtu and its own peer');
  const ip = ipJson<{ ifindex: number; ifname: string; mtu: number }[]>('link', 'show');
  t.equal(ip.length, 2 * N + 1, 'iproute2 counts the same');
  t.same(ip.map((l) => `${l.ifindex}:${l.ifname}:${l.mtu}`).sort(), dump.map((l) => `${l.index}:${l.name}:${l.mtu}`).sort(), 'and agrees on index, name and mtu');

  // 1000 requests answered with data: the receive path must keep every reply.
  const got = h.batch((b) => { for (let i = 0; i < N; i++) b.linkGet(`v${i}`); });
  t.equal(got.filter((r, i) => r.status === 'fulfilled' && (r.value as Link).name === `v${i}`).length, N, '1000 gets, each its own link, in order');

  const gone = h.batch((b) => { for (let i = 0; i < 20; i++) b.linkDel(`v${i}`); });
  t.equal(gone.filter((r) => r.status === 'fulfilled').length, 20, 'a batch of deletes');
  t.equal(h.linkList().length, 2 * (N - 20) + 1, 'each took its peer along');
  h.linkDelGroup(5);
  t.same(ipNames(ipJson), ['lo'], 'the group delete removed the rest at once');
  assertHome(t);
  t.end();
});

t.test('a closed handle says so: sync, async and batch', async (t) => {
  const { ns } = testNs(t, 'cls');
  const { Handle } = await import('../src/index.js');
  const h = new Handle(ns);
  h.linkList();
  h.close();
  t.throws(() => h.linkList(), { name: 'RtnlInputError', field: 'handle', message: /closed/ });
  t.throws(() => h.batch((b) => b.linkList()), RtnlInputError);
  await t.rejects(h.async.linkList(), { name: 'RtnlInputError', message: /closed/ });
  await t.rejects(h.async.batch((b) => b.linkList()), RtnlInputError);
  h.close();
  t.pass('closing twice is harmless');
  assertHome(t);
});

t.test('async and sync calls interleaved on one handle', async (t) => {
  const { h, ipJson } = testNs(t, 'mix');
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 50; i++) {
    pending.push(h.async.linkAdd({ kind: 'bridge', name: `a${i}` }));
    h.linkAdd({ kind: 'bridge', name: `s${i}` }); // sync, while async requests are in flight
    if (i % 10 === 0) pending.push(h.async.linkList());
  }
  pending.push(h.async.batch((b) => { for (let i = 0; i < 20; i++) b.linkAdd({ kind: 'bridge', name: `b${i}` }); }));
  t.ok(h.linkList().length >= 51, 'a sync dump meanwhile');
  const settled = await Promise.allSettled(pending);
  t.equal(settled.filter((r) => r.status === 'rejected').length, 0, 'every async call resolved');
  const batch = (settled.at(-1) as PromiseFulfilledResult<{ status: string }[]>).value;
  t.equal(batch.filter((r) => r.status === 'fulfilled').length, 20, 'the async batch too');
  const want = [...Array(50).keys()].flatMap((i) => [`a${i}`, `s${i}`]).concat([...Array(20).keys()].map((i) => `b${i}`), ['lo']).sort();
  t.same(h.linkList().map((l) => l.name).sort(), want, 'all 120 links exist');
  t.same(ipNames(ipJson), want, 'iproute2 agrees');
  assertHome(t);
});

t.test('async calls in one tick go out together, each with its own outcome', async (t) => {
  const { h } = testNs(t, 'coal');
  const names = Array.from({ length: 200 }, (_, i) => `c${i}`);
  names[120] = 'c7'; // a duplicate: only this one may fail
  const settled = await Promise.allSettled(names.map((name) => h.async.linkAdd({ kind: 'bridge', name })));
  const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
  t.same(failed, [120], 'exactly the duplicate failed');
  t.match((settled[120] as PromiseRejectedResult).reason, { name: 'NetlinkError', code: 'EEXIST', object: 'c7' });
  t.equal(h.linkList({ kind: 'bridge' }).length, 199, 'the other 199 exist');
  // a bad argument in the same tick rejects alone, before anything is sent
  const mixed = await Promise.allSettled([h.async.linkGet('c0'), h.async.linkGet('bad/name'), h.async.linkGet('c1')]);
  t.same(mixed.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assertHome(t);
});

t.test('one ack per window: each failure still lands on its own request, the silent ones around it succeed', (t) => {
  const { h, ipJson } = testNs(t, 'ack');
  h.linkAdd({ kind: 'veth', name: 'a0', up: true, peer: { name: 'b0' } });
  const a0 = h.linkGet('a0').index;
  const N = 600; // three pipelining windows (256 requests each at most)
  const ip = (i: number) => `172.16.${i >> 8}.${i & 255}`;
  const dup = new Set([0, 5, 255, 256, 400, N - 1]); // first and last of a window, and in between
  const addr = (i: number) => (dup.has(i) ? ip(N + 1) : ip(i)); // all of them the same address: only the first succeeds
  const results = h.batch((b) => {
    for (let i = 0; i < N; i++) b.neighAdd({ link: a0, address: addr(i), lladdr: '02:00:00:00:00:01', state: 'permanent' });
    b.neighDel({ link: a0, address: '172.31.0.1' }); // ENOENT, the last of its window
  });
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
  t.same(failed, [5, 255, 256, 400, N - 1, N], 'exactly the duplicates after the first, and the missing entry, failed');
  t.match((results[256] as PromiseRejectedResult).reason, { name: 'NetlinkError', code: 'EEXIST', op: 'neighAdd', object: ip(N + 1) });
  t.match((results[N] as PromiseRejectedResult).reason, { name: 'NetlinkError', code: 'ENOENT', op: 'neighDel', object: '172.31.0.1' });
  const listed = new Set(h.neighList({ link: a0, family: 4 }).map((n) => n.address));
  const want = [...Array(N).keys()].filter((i) => !dup.has(i)).map(ip).concat(ip(N + 1));
  t.equal(listed.size, want.length, 'every request reported as done is in the kernel');
  t.ok(want.every((a) => listed.has(a)), 'each one by its address');
  t.equal(ipJson<unknown[]>('neigh', 'show', 'dev', 'a0').length, want.length, 'iproute2 agrees');
  assertHome(t);
  t.end();
});

t.test('a batch too big to spread its values as call arguments (over 16,384) passes them as an array: same outcome', (t) => {
  const { h, ipJson } = testNs(t, 'big');
  h.linkAdd({ kind: 'veth', name: 'a0', up: true, peer: { name: 'b0' } });
  const a0 = h.linkGet('a0').index;
  const N = 5000; // 4 fields each: 20,000 values
  const ip = (i: number) => `172.16.${i >> 8}.${i & 255}`;
  const mac = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  const results = h.batch((b) => {
    for (let i = 0; i < N; i++) b.neighAdd({ link: a0, address: ip(i), lladdr: mac(i), state: 'permanent' });
    b.neighAdd({ link: a0, address: ip(4321), lladdr: mac(1), state: 'permanent' }); // EEXIST
  });
  t.same(results.flatMap((r, i) => (r.status === 'rejected' ? [i] : [])), [N], 'only the duplicate failed');
  t.match((results[N] as PromiseRejectedResult).reason, { name: 'NetlinkError', code: 'EEXIST', op: 'neighAdd', object: ip(4321) }, 'named by its own label');
  const got = new Map(h.neighList({ link: a0, family: 4 }).map((n) => [n.address, n.lladdr]));
  t.equal(got.size, N, 'every entry is in the kernel');
  t.ok([0, 1, 4321, N - 1].every((i) => got.get(ip(i)) === mac(i)), 'each with its own MAC: no value went to another request');
  t.equal(ipJson<unknown[]>('neigh', 'show', 'dev', 'a0').length, N, 'iproute2 agrees');
  assertHome(t);
  t.end();
});

t.test('the bytes of a batch: NLM_F_ACK on the last request of a window and on requests answered with data only', (t) => {
  const flags = (buf: Buffer) => {
    const out: number[] = [];
    for (let at = 0; at < buf.length; at += (buf.readUInt32LE(at) + 3) & ~3) out.push(buf.readUInt16LE(at + 6) & NLM_F_ACK);
    return out;
  };
  const one = encodeRequests((b) => b.linkSetUp('x0'));
  t.same(flags(one), [NLM_F_ACK], 'a request alone asks for its ack, as iproute2 does');
  const five = encodeRequests((b) => {
    b.linkSetUp('x0');
    b.linkSetUp('x1');
    b.linkGet('x1');
    b.linkSetUp('x2');
    b.linkSetDown('x3');
  });
  t.same(flags(five), [0, 0, NLM_F_ACK, 0, NLM_F_ACK]);
  const many = flags(encodeRequests((b) => { for (let i = 0; i < 300; i++) b.linkSetUp(`x${i}`); }));
  t.same(many.flatMap((f, i) => (f ? [i] : [])), [255, 299], 'one ack per window of 256');
  t.end();
});
