// Address, route, neighbour and FDB events, caused by iproute2 and decoded
// by the same decoders as the dumps of each object.
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { type EventAction, type EventKind, type RtnlEvent, type Subscription, type SubscriptionItem, subscribe } from '../src/index.js';
import { type TestNs, assertHome, testNs } from './lib.js';

type Tap = Test;
type Ev = Exclude<RtnlEvent, { kind: 'link' }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Records a subscription's items; waitFor finds (or awaits) the first match.
function collect(t: Tap, env: TestNs, kinds: EventKind[]) {
  const sub: Subscription = subscribe({ kinds, netns: env.ns });
  t.teardown(() => sub.close());
  const items: SubscriptionItem[] = [];
  const waiters = new Set<{ pred: (i: SubscriptionItem) => boolean; done: (i: SubscriptionItem) => void }>();
  const take = (i: SubscriptionItem) => {
    items.push(i);
    for (const w of waiters) if (w.pred(i)) { waiters.delete(w); w.done(i); }
  };
  sub.on('event', take);
  sub.on('resync', take);
  return {
    items,
    waitFor<K extends Ev['kind']>(kind: K, action: EventAction, match: (v: Extract<Ev, { kind: K }>['value']) => boolean, what: string): Promise<Extract<Ev, { kind: K }>> {
      type E = Extract<Ev, { kind: K }>;
      const pred = (i: SubscriptionItem): i is E => i.kind === kind && i.action === action && match((i as E).value as never);
      const seen = items.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${kind} ${action}: ${what}`)), 5000);
        waiters.add({ pred, done: (i) => { clearTimeout(timer); resolve(i as E); } });
      });
    },
  };
}

// veth0 (10.1.0.2/24 once addressed) <-> veth1, both up.
function vethPair(env: TestNs) {
  env.ip('link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
  env.ip('link', 'set', 'veth0', 'up');
  env.ip('link', 'set', 'veth1', 'up');
  return { veth0: env.h.linkGet('veth0').index, veth1: env.h.linkGet('veth1').index };
}

t.test('address events', async (t) => {
  const env = testNs(t, 'eva');
  const { veth0 } = vethPair(env);
  const c = collect(t, env, ['address']);

  env.ip('addr', 'add', '10.1.0.2/24', 'dev', 'veth0');
  const v4 = await c.waitFor('address', 'new', (v) => v.address === '10.1.0.2/24', '10.1.0.2/24');
  t.equal(v4.value.link, veth0, 'on veth0');
  const info = env.ipJson('addr', 'show', 'dev', 'veth0')[0].addr_info.find((a: { local: string }) => a.local === '10.1.0.2');
  t.equal(v4.value.address, `${info.local}/${info.prefixlen}`, 'as ip -j addr shows it');

  env.ip('addr', 'add', '2001:db8::2/64', 'dev', 'veth0', 'nodad');
  const v6 = await c.waitFor('address', 'new', (v) => v.address === '2001:db8::2/64', '2001:db8::2/64');
  t.equal(v6.value.link, veth0);

  env.ip('addr', 'del', '10.1.0.2/24', 'dev', 'veth0');
  const del = await c.waitFor('address', 'del', (v) => v.address === '10.1.0.2/24', '10.1.0.2/24 removed');
  t.equal(del.value.link, veth0);
  env.ip('addr', 'del', '2001:db8::2/64', 'dev', 'veth0');
  await c.waitFor('address', 'del', (v) => v.address === '2001:db8::2/64', '2001:db8::2/64 removed');
  t.ok(c.items.every((i) => i.kind === 'address'), 'only address events');
  assertHome(t);
});

t.test('route events', async (t) => {
  const env = testNs(t, 'evr');
  const { veth0 } = vethPair(env);
  env.ip('addr', 'add', '10.1.0.2/24', 'dev', 'veth0');
  env.ip('addr', 'add', '2001:db8::2/64', 'dev', 'veth0', 'nodad');
  const c = collect(t, env, ['route']);

  env.ip('route', 'add', '10.9.0.0/16', 'via', '10.1.0.1', 'dev', 'veth0');
  const r = await c.waitFor('route', 'new', (v) => v.dst === '10.9.0.0/16', '10.9.0.0/16');
  t.equal(r.value.gateway, '10.1.0.1');
  t.equal(r.value.link, veth0);
  const j = env.ipJson('route', 'show', '10.9.0.0/16')[0];
  t.equal(r.value.dst, j.dst, 'dst as ip -j route shows it');
  t.equal(r.value.gateway, j.gateway, 'gateway as ip -j route shows it');

  env.ip('route', 'add', 'default', 'via', '10.1.0.1');
  const def = await c.waitFor('route', 'new', (v) => v.dst === 'default', 'default');
  t.equal(def.value.gateway, '10.1.0.1');

  env.ip('-6', 'route', 'add', '2001:db8:9::/48', 'via', '2001:db8::1', 'dev', 'veth0');
  const r6 = await c.waitFor('route', 'new', (v) => v.dst === '2001:db8:9::/48', '2001:db8:9::/48');
  t.equal(r6.value.gateway, '2001:db8::1');
  t.equal(r6.value.link, veth0);

  env.ip('route', 'del', '10.9.0.0/16');
  const del = await c.waitFor('route', 'del', (v) => v.dst === '10.9.0.0/16', '10.9.0.0/16 removed');
  t.equal(del.value.gateway, '10.1.0.1');
  env.ip('route', 'del', 'default');
  await c.waitFor('route', 'del', (v) => v.dst === 'default', 'default removed');
  t.ok(c.items.every((i) => i.kind === 'route'), 'only route events');
  assertHome(t);
});

// The NUD state(s) whatever the shape: 'permanent' or ['permanent'].
t.test('neighbour and fdb events, told apart although they share a group', async (t) => {
  const env = testNs(t, 'evn');
  const { veth0, veth1 } = vethPair(env);
  env.ip('addr', 'add', '10.1.0.2/24', 'dev', 'veth0');
  env.ip('link', 'add', 'br0', 'type', 'bridge');
  env.ip('link', 'set', 'br0', 'up');
  const neigh = collect(t, env, ['neighbour']);
  const fdb = collect(t, env, ['fdb']);
  const both = collect(t, env, ['neighbour', 'fdb']);

  env.ip('neigh', 'add', '10.1.0.7', 'lladdr', '02:00:00:00:00:07', 'dev', 'veth0', 'nud', 'permanent');
  const n = await neigh.waitFor('neighbour', 'new', (v) => v.address === '10.1.0.7', '10.1.0.7');
  t.equal(n.value.lladdr, '02:00:00:00:00:07');
  t.equal(n.value.link, veth0);
  t.equal(n.value.state, 'permanent');
  const jn = env.ipJson('neigh', 'show', '10.1.0.7', 'dev', 'veth0')[0];
  t.equal(n.value.lladdr, jn.lladdr, 'lladdr as ip -j neigh shows it');
  await both.waitFor('neighbour', 'new', (v) => v.address === '10.1.0.7', '10.1.0.7 (both)');

  env.ip('link', 'set', 'veth1', 'master', 'br0');
  execBridge(env, 'fdb', 'add', '02:00:00:00:00:09', 'dev', 'veth1', 'master', 'static');
  const f = await fdb.waitFor('fdb', 'new', (v) => v.mac === '02:00:00:00:00:09', '02:00:00:00:00:09');
  t.equal(f.value.link, veth1);
  const jf = JSON.parse(execBridge(env, '-j', 'fdb', 'show', 'dev', 'veth1')).find((e: { mac: string }) => e.mac === '02:00:00:00:00:09');
  t.ok(jf, 'bridge -j fdb shows it');
  t.equal(f.value.mac, jf.mac);
  await both.waitFor('fdb', 'new', (v) => v.mac === '02:00:00:00:00:09', '02:00:00:00:00:09 (both)');

  env.ip('neigh', 'del', '10.1.0.7', 'dev', 'veth0');
  await neigh.waitFor('neighbour', 'del', (v) => v.address === '10.1.0.7', '10.1.0.7 removed');
  execBridge(env, 'fdb', 'del', '02:00:00:00:00:09', 'dev', 'veth1', 'master');
  const fd = await fdb.waitFor('fdb', 'del', (v) => v.mac === '02:00:00:00:00:09', '02:00:00:00:00:09 removed');
  t.equal(fd.value.link, veth1);
  await sleep(100);
  t.ok(neigh.items.every((i) => i.kind === 'neighbour'), 'the neighbour subscription got no fdb event');
  t.ok(fdb.items.every((i) => i.kind === 'fdb'), 'the fdb subscription got no neighbour event');
  assertHome(t);
});

t.test('vxlan fdb events carry dst and vni', async (t) => {
  const env = testNs(t, 'evx');
  vethPair(env);
  env.ip('addr', 'add', '10.1.0.2/24', 'dev', 'veth0');
  env.ip('link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'dstport', '4789', 'local', '10.1.0.2', 'nolearning');
  const vx0 = env.h.linkGet('vx0').index;
  const c = collect(t, env, ['fdb']);
  execBridge(env, 'fdb', 'add', '02:00:00:00:00:0a', 'dev', 'vx0', 'dst', '10.1.0.9', 'vni', '4242');
  const f = await c.waitFor('fdb', 'new', (v) => v.mac === '02:00:00:00:00:0a', '02:00:00:00:00:0a');
  t.equal(f.value.link, vx0);
  t.equal(f.value.dst, '10.1.0.9');
  t.equal(f.value.vni, 4242);
  const j = JSON.parse(execBridge(env, '-j', 'fdb', 'show', 'dev', 'vx0')).find((e: { mac: string }) => e.mac === '02:00:00:00:00:0a');
  t.equal(f.value.dst, j.dst, 'dst as bridge -j fdb shows it');
  t.equal(f.value.vni, j.vni, 'vni as bridge -j fdb shows it');
  execBridge(env, 'fdb', 'del', '02:00:00:00:00:0a', 'dev', 'vx0', 'dst', '10.1.0.9', 'vni', '4242'); // without the vni the kernel matches nothing (and says 0)
  await c.waitFor('fdb', 'del', (v) => v.mac === '02:00:00:00:00:0a', '02:00:00:00:00:0a removed');
  assertHome(t);
});

function execBridge(env: TestNs, ...args: string[]): string {
  return execFileSync('bridge', ['-n', env.name, ...args], { encoding: 'utf8' });
}
