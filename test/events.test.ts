import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { type LinkEvent, type Subscription, type SubscriptionItem, subscribe } from '../src/index.js';
import { assertHome, testNs } from './lib.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Records everything a subscription emits, and waits for a matching item.
function collect(sub: Subscription) {
  const items: SubscriptionItem[] = [];
  const waiters: { pred: (i: SubscriptionItem) => boolean; resolve: (i: SubscriptionItem) => void }[] = [];
  const take = (i: SubscriptionItem) => {
    items.push(i);
    for (const w of [...waiters]) {
      if (w.pred(i)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(i);
      }
    }
  };
  sub.on('event', take);
  sub.on('resync', take);
  return {
    items,
    /** The first item so far (or to come) matching pred; rejects after ms. */
    waitFor<T extends SubscriptionItem>(pred: (i: SubscriptionItem) => i is T, what: string, ms = 5000): Promise<T> {
      const seen = items.find(pred);
      if (seen) return Promise.resolve(seen as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
        waiters.push({ pred, resolve: (i) => { clearTimeout(timer); resolve(i as T); } });
      });
    },
  };
}

const linkEv = (action: 'new' | 'del', match: (v: LinkEvent['value']) => boolean) =>
  (i: SubscriptionItem): i is LinkEvent => i.kind === 'link' && i.action === action && match(i.value);

t.test('link events from our Handle and from ip, decoded like linkGet', async (t) => {
  const { ns, h, ip, ipJson } = testNs(t, 'ev');
  const sub = subscribe({ kinds: ['link'], netns: ns });
  t.teardown(() => sub.close());
  const c = collect(sub);

  h.linkAdd({ kind: 'bridge', name: 'evbr0' });
  const created = await c.waitFor(linkEv('new', (v) => v.name === 'evbr0'), 'evbr0 created');
  const index = created.value.index;
  t.equal(index, ipJson('link', 'show', 'evbr0')[0].ifindex, 'the ifindex iproute2 reports');
  t.equal(created.value.kind, 'bridge');

  // (the kernel notifies alias changes of up links only)
  h.linkSet('evbr0', { up: true, mtu: 1400, alias: 'watched' });
  await c.waitFor(linkEv('new', (v) => v.index === index && v.up && v.mtu === 1400 && v.alias === 'watched'), 'up+mtu+alias change');
  await sleep(50);  // let any trailing notification arrive
  const last = c.items.filter((i): i is LinkEvent => i.kind === 'link' && i.value.index === index).pop()!;
  // counters move on their own (an up bridge sends IPv6 solicitations): compare all but their values
  const { stats, ...rest } = last.value;
  const { stats: nowStats, ...now } = h.linkGet(index, { stats: true });
  t.strictSame(rest, now, 'the last event carries the object linkGet returns, field for field');
  t.strictSame(Object.keys(stats ?? {}), Object.keys(nowStats ?? {}), 'stats included, like linkGet with { stats: true }');
  const j = ipJson('-d', 'link', 'show', 'evbr0')[0];
  t.equal(last.value.mtu, j.mtu);
  t.equal(last.value.alias, j.ifalias);
  t.equal(last.value.address, j.address);

  // changes made by someone else (iproute2) arrive too
  ip('link', 'add', 'evbr1', 'type', 'bridge');
  const other = await c.waitFor(linkEv('new', (v) => v.name === 'evbr1'), 'evbr1 created by ip');
  t.equal(other.value.kind, 'bridge');
  ip('link', 'set', 'evbr1', 'up');
  await c.waitFor(linkEv('new', (v) => v.name === 'evbr1' && v.up), 'evbr1 up (ip)');
  ip('link', 'del', 'evbr1');
  const gone = await c.waitFor(linkEv('del', (v) => v.index === other.value.index), 'evbr1 deleted by ip');
  t.equal(gone.value.name, 'evbr1');

  h.linkDel('evbr0');
  const del = await c.waitFor(linkEv('del', (v) => v.index === index), 'evbr0 deleted');
  t.equal(del.value.name, 'evbr0');
  t.equal(del.value.kind, 'bridge');

  // only the kinds asked for: an address change sends no event here
  ip('addr', 'add', '10.7.0.1/24', 'dev', 'lo');
  await sleep(100);
  t.ok(c.items.length > 0 && c.items.every((i) => i.kind === 'link'), 'only link events');
  assertHome(t);
});

t.test('a subscription sees its own namespace only', async (t) => {
  const a = testNs(t, 'eva');
  const b = testNs(t, 'evb');
  const subA = subscribe({ kinds: ['link'], netns: { name: a.name } });
  const subB = subscribe({ kinds: ['link'], netns: b.ns });
  t.teardown(() => { subA.close(); subB.close(); });
  const ca = collect(subA), cb = collect(subB);
  b.h.linkAdd({ kind: 'bridge', name: 'inb0' });
  a.ip('link', 'add', 'ina0', 'type', 'bridge');
  await cb.waitFor(linkEv('new', (v) => v.name === 'inb0'), 'inb0 in B');
  await ca.waitFor(linkEv('new', (v) => v.name === 'ina0'), 'ina0 in A');
  await sleep(100);
  t.notOk(ca.items.some((i) => i.kind === 'link' && i.value.name === 'inb0'), "A does not see B's link");
  t.notOk(cb.items.some((i) => i.kind === 'link' && i.value.name === 'ina0'), "B does not see A's link");
  // by path, too
  const subP = subscribe({ kinds: ['link'], netns: { path: `/run/netns/${a.name}` } });
  t.teardown(() => subP.close());
  const cp = collect(subP);
  a.h.linkSetUp('ina0');
  await cp.waitFor(linkEv('new', (v) => v.name === 'ina0' && v.up), 'ina0 up, seen via path');
  assertHome(t);
});

t.test('the event loop keeps turning while subscribed', async (t) => {
  const { ns, h } = testNs(t, 'evl');
  const sub = subscribe({ kinds: ['link'], netns: ns });
  t.teardown(() => sub.close());
  const c = collect(sub);
  let ticks = 0, immediates = 0;
  const iv = setInterval(() => ticks++, 5);
  let stop = false;
  const spin = () => { immediates++; if (!stop) setImmediate(spin); };
  setImmediate(spin);
  h.linkAdd({ kind: 'bridge', name: 'loop0', up: true });
  for (let i = 0; i < 50; i++) await h.async.linkSet('loop0', { alias: `a${i}` });
  await c.waitFor(linkEv('new', (v) => v.alias === 'a49'), 'the last change');
  await sleep(200);
  stop = true;
  clearInterval(iv);
  t.ok(ticks >= 10, `a 5 ms timer fired ${ticks} times`);
  t.ok(immediates >= 100, `setImmediate ran ${immediates} times`);
  t.ok(c.items.filter((i) => i.kind === 'link').length >= 50, 'and every change arrived');
});

t.test('close() stops delivery and closes the socket', async (t) => {
  const { ns, h } = testNs(t, 'evc');
  const sub = subscribe({ kinds: ['link'], netns: ns });
  t.teardown(() => sub.close());
  const c = collect(sub);
  let closes = 0;
  sub.on('close', () => closes++);
  h.linkAdd({ kind: 'bridge', name: 'cl0' });
  await c.waitFor(linkEv('new', (v) => v.name === 'cl0'), 'cl0');
  t.notOk(sub.closed);
  sub.close();
  t.ok(sub.closed);
  const n = c.items.length;
  h.linkSetUp('cl0');
  h.linkDel('cl0');
  await sleep(200);
  t.equal(c.items.length, n, 'nothing after close');
  sub.close();
  t.equal(closes, 1, "close is idempotent ('close' emitted once)");
});

t.test('the process exits once the subscription is closed (or unref’d), not before', (t) => {
  const lib = path.join(__dirname, '..', 'src', 'index.js');
  const run = (body: string) => spawnSync(process.execPath, ['-e', `const r = require(${JSON.stringify(lib)}); ${body}`], { timeout: 3000, encoding: 'utf8' });
  const closed = run(`const s = r.subscribe({ kinds: ['link'] }); setTimeout(() => s.close(), 50);`);
  t.equal(closed.status, 0, `closed: exits (${closed.stderr})`);
  t.equal(closed.signal, null);
  const unrefd = run(`r.subscribe({ kinds: ['link'] }).unref();`);
  t.equal(unrefd.status, 0, `unref'd: exits (${unrefd.stderr})`);
  const open = run(`r.subscribe({ kinds: ['link'] });`);
  t.equal(open.signal, 'SIGTERM', 'open: keeps the process alive until killed');
  t.end();
});

t.test('a receive-buffer overflow is reported as a resync, and events continue after it', async (t) => {
  const { ns, h } = testNs(t, 'evo');
  h.linkAdd({ kind: 'bridge', name: 'burst0', up: true });
  const burst = (n: number, tag: string) => {
    // one pipelined batch, all before the event loop turns: nobody reads meanwhile
    const res = h.batch((b) => { for (let i = 0; i < n; i++) b.linkSet('burst0', { alias: `${tag}${i}` }); });
    t.ok(res.every((r) => r.status === 'fulfilled'), `${n} changes made`);
  };

  const small = subscribe({ kinds: ['link'], netns: ns, rcvbuf: 4096 });
  t.teardown(() => small.close());
  const cs = collect(small);
  burst(2000, 's');
  const resync = await cs.waitFor((i): i is SubscriptionItem => i.kind === 'resync', 'a resync');
  t.same(resync, { kind: 'resync', reason: 'overflow' });
  // the consumer re-dumps, and later changes still arrive
  t.equal(h.linkGet('burst0').alias, 's1999', 're-dump shows the final state');
  h.linkSet('burst0', { alias: 'after' });
  await cs.waitFor(linkEv('new', (v) => v.alias === 'after'), 'an event after the resync');
  t.ok(cs.items.filter((i) => i.kind === 'link').length < 2000, 'events were indeed lost');

  // the same burst with the default 8 MiB buffer loses nothing
  const big = subscribe({ kinds: ['link'], netns: ns });
  t.teardown(() => big.close());
  const cb = collect(big);
  burst(1000, 'b');
  await cb.waitFor(linkEv('new', (v) => v.alias === 'b999'), 'the last of the burst');
  t.notOk(cb.items.some((i) => i.kind === 'resync'), 'no resync');
  const aliases = cb.items.filter((i): i is LinkEvent => i.kind === 'link').map((i) => i.value.alias).filter((a) => a?.startsWith('b'));
  t.strictSame(aliases, Array.from({ length: 1000 }, (_, i) => `b${i}`), 'all 1000 changes arrived, in order');
});

t.test('async iteration, a slow consumer, and return() closing', async (t) => {
  const { ns, h } = testNs(t, 'evi');
  const sub = subscribe({ kinds: ['link'], netns: ns });
  t.teardown(() => sub.close());
  setTimeout(() => {
    h.linkAdd({ kind: 'bridge', name: 'it0' });
    h.linkDel('it0');
  }, 20);
  const seen: string[] = [];
  for await (const ev of sub) {
    if (ev.kind !== 'link') continue;
    seen.push(`${ev.action} ${ev.value.name}`);
    if (ev.action === 'del') break;  // calls return()
  }
  t.equal(seen[0], 'new it0');
  t.equal(seen[seen.length - 1], 'del it0');
  t.ok(sub.closed, 'leaving the loop closed the subscription');

  // a consumer too slow for its queue gets a resync in place of what was dropped
  const slow = subscribe({ kinds: ['link'], netns: ns, queueLimit: 5 });
  t.teardown(() => slow.close());
  const it = slow[Symbol.asyncIterator]();
  h.linkAdd({ kind: 'bridge', name: 'it1', up: true });
  for (let i = 0; i < 30; i++) h.linkSet('it1', { alias: `q${i}` });
  await sleep(200);  // events arrive; nobody reads
  const first = await it.next();
  t.same(first.value, { kind: 'resync', reason: 'queue' }, 'the first item is a resync');
  let last: SubscriptionItem | undefined;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    last = r.value;
    if (last.kind === 'link' && last.value.alias === 'q29') break;
  }
  t.ok(last?.kind === 'link' && last.value.alias === 'q29', 'the newest events were kept');
  await it.return!();
  t.ok(slow.closed, 'return() closed it');
  t.same(await it.next(), { value: undefined, done: true }, 'and the iterator is done');
});

t.test('input is checked before anything is opened, and failures leak no fd', (t) => {
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const before = fds();
  t.throws(() => subscribe({ kinds: [] }), { name: 'RtnlInputError', field: 'kinds' });
  t.throws(() => subscribe({ kinds: ['links' as never] }), { name: 'RtnlInputError', field: 'kinds[0]' });
  t.throws(() => subscribe({ kinds: ['link'], rcvbuf: 10 }), { name: 'RtnlInputError', field: 'rcvbuf' });
  t.throws(() => subscribe({ kinds: ['link'], queueLimit: 0 }), { name: 'RtnlInputError', field: 'queueLimit' });
  t.throws(() => subscribe({ kinds: ['link'], extra: 1 } as never), { name: 'RtnlInputError', field: 'extra' });
  t.throws(() => subscribe({ kinds: ['link'], netns: { name: 'no-such-ns' } }), { name: 'NetlinkError', code: 'ENOENT' });
  t.throws(() => subscribe({ kinds: ['link'], netns: { path: '/proc/self/status' } }), { name: 'NetlinkError', code: 'EINVAL' });
  t.equal(fds(), before, 'no file descriptor left open');
  assertHome(t);
  t.end();
});
