// The etcd client, subnet leases and etcd membership against a real etcd
// (started here on loopback with a temporary data dir); etcdctl is the oracle.
import { execFileSync } from 'node:child_process';
import t, { type Test as Tap } from 'tap';
import { type EtcdServer, startEtcd, startEtcdCluster } from '../demo/etcd.js';
import {
  EtcdAuthError, EtcdClient, EtcdCompactedError, EtcdError, EtcdUnavailableError, type WatchEvent, compare, op,
} from '../src/etcd/index.js';
import {
  SubnetExhaustedError, SubnetLease, configKey, ensureNetworkConfig, parseNodeRecord, readNetworkConfig, subnetKey, subnetsPrefix,
} from '../src/agent/lease.js';
import { EtcdMembership } from '../src/agent/registry.js';
import type { NetworkConfig, NodeRecord, RejectedRecord } from '../src/agent/types.js';
import { eventually } from './lib.js';

const NET: NetworkConfig = { network: '10.244.0.0/16', subnetLen: 24 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function etcdctl(e: EtcdServer, ...args: string[]): string {
  return execFileSync('etcdctl', ['--endpoints', e.endpoint, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
}

/** What node i publishes. */
const who = (i: number) => ({ nodeName: `node${i}`, underlay: `192.168.100.${i}`, vtepMac: `02:00:00:00:00:${i.toString(16).padStart(2, '0')}` });

let etcd: EtcdServer;
let prefixes = 0;
/** A key prefix of its own for each test. */
const freshPrefix = () => `/rtnl-test/${++prefixes}`;

function client(t: Tap, endpoints = [etcd.endpoint]): EtcdClient {
  const c = new EtcdClient({ endpoints, timeoutMs: 2000 });
  t.teardown(() => c.close());
  return c;
}

t.before(async () => {
  etcd = await startEtcd();
});
t.teardown(() => etcd.stop());

t.test('client: keys, transactions, leases', async (t) => {
  const c = client(t);
  const p = freshPrefix();
  const rev = await c.put(`${p}/a`, 'héllo wörld');
  t.equal(etcdctl(etcd, 'get', `${p}/a`, '--print-value-only').trim(), 'héllo wörld', 'etcdctl reads what put wrote (UTF-8 through base64)');
  t.match(await c.get(`${p}/a`), { key: `${p}/a`, value: 'héllo wörld', createRevision: rev, modRevision: rev, version: 1 }, 'get');
  t.equal(await c.get(`${p}/none`), undefined, 'get of an absent key');
  etcdctl(etcd, 'put', `${p}/b`, 'from etcdctl');
  etcdctl(etcd, 'put', `${p}0`, 'outside the prefix');
  const l = await c.list(`${p}/`);
  t.same(l.kvs.map((kv) => [kv.key, kv.value]), [[`${p}/a`, 'héllo wörld'], [`${p}/b`, 'from etcdctl']], 'list: the prefix only, in key order');
  t.ok(l.revision > rev, 'list carries the store revision');

  // create-if-absent, then compare-and-swap on the mod revision
  const k = `${p}/txn`;
  const create = () => c.txn({ compare: [compare.createRevision(k, '==', 0)], success: [op.put(k, 'first')], failure: [op.get(k)] });
  const first = await create();
  t.match(first, { succeeded: true, results: [{ type: 'put' }] }, 'create-if-absent: created');
  const second = await create();
  t.equal(second.succeeded, false, 'create-if-absent: refused the second time');
  t.match(second.results, [{ type: 'get', kvs: [{ value: 'first', modRevision: first.revision }] }], 'failure branch read the key');
  const cas = (rev: number, v: string) => c.txn({ compare: [compare.modRevision(k, '==', rev)], success: [op.put(k, v)] });
  t.equal((await cas(first.revision, 'second')).succeeded, true, 'CAS at the current mod revision');
  t.equal((await cas(first.revision, 'third')).succeeded, false, 'CAS at a stale mod revision fails');
  t.equal((await c.get(k))?.value, 'second', 'the stale CAS wrote nothing');
  t.equal((await c.txn({ compare: [compare.value(k, '==', 'second'), compare.version(k, '>', 1)], success: [op.delete(k)] })).succeeded, true, 'value and version compares');
  t.equal(await c.get(k), undefined, 'deleted by the transaction');

  t.equal(await c.delete(`${p}/a`), 1, 'delete');
  t.equal(await c.delete(`${p}/a`), 0, 'delete of an absent key');
  t.equal(await c.deletePrefix(`${p}/`), 1, 'deletePrefix');
  t.equal(etcdctl(etcd, 'get', `${p}0`, '--print-value-only').trim(), 'outside the prefix', 'deletePrefix left a sibling key alone');

  // leases
  const lease = await c.leaseGrant(30);
  t.match(lease, { id: /^\d+$/, ttl: 30 }, 'lease id as a decimal string');
  await c.put(`${p}/leased`, 'x', { lease: lease.id });
  t.match(await c.get(`${p}/leased`), { lease: lease.id }, 'key attached to the lease');
  t.match(await c.leaseTimeToLive(lease.id), { grantedTtl: 30, keys: [`${p}/leased`] }, 'timetolive lists the keys');
  t.equal(etcdctl(etcd, 'lease', 'timetolive', BigInt(lease.id).toString(16)).includes('granted with TTL(30s)'), true, 'etcdctl sees the same lease');
  t.equal(await c.leaseKeepAlive(lease.id), 30, 'keepalive renews to the full TTL');
  t.equal(await c.leaseRevoke(lease.id), true, 'revoke');
  t.equal(await c.get(`${p}/leased`), undefined, 'revoking deleted the attached key');
  t.equal(await c.leaseKeepAlive(lease.id), 0, 'keepalive of a gone lease says 0');
  t.equal(await c.leaseTimeToLive(lease.id), undefined, 'timetolive of a gone lease');
  t.equal(await c.leaseRevoke(lease.id), false, 'revoking twice');
  const bad = await c.put(`${p}/x`, 'y', { lease: '12345' }).catch((e: unknown) => e);
  t.ok(bad instanceof EtcdError && !(bad instanceof EtcdUnavailableError), 'put on an unknown lease: EtcdError');
  t.match(bad, { code: 5, etcdMessage: /lease not found/, path: '/v3/kv/put', endpoint: etcd.endpoint }, 'it carries the gRPC code, message, path and endpoint');
});

t.test('client: endpoint failover and unavailability', async (t) => {
  const dead = 'http://127.0.0.1:1'; // nothing listens on port 1
  const c = client(t, [dead, etcd.endpoint]);
  await c.put('/rtnl-test/failover', 'ok');
  t.equal((await c.get('/rtnl-test/failover'))?.value, 'ok', 'a dead first endpoint is skipped');
  const none = client(t, [dead, 'http://127.0.0.2:1']);
  const e = await none.get('/x').catch((err: unknown) => err);
  t.ok(e instanceof EtcdUnavailableError, 'no endpoint answers: EtcdUnavailableError');
  t.match((e as Error).message, /127\.0\.0\.1:1.*127\.0\.0\.2:1/, 'naming every endpoint tried');
  const w = await new Promise<EtcdError>((resolve) => none.watch('/x', { onEvents: () => {}, onError: resolve }));
  t.ok(w instanceof EtcdUnavailableError, 'a watch with no endpoint reports EtcdUnavailableError');
  for (const bad of ['127.0.0.1:2379', 'ftp://127.0.0.1:2379', 'http://127.0.0.1:2379/v3', 'http://user:pw@127.0.0.1:2379']) {
    t.throws(() => new EtcdClient({ endpoints: [bad] }), /is not an etcd endpoint like https:\/\/127\.0\.0\.1:2379/, `${bad} refused clearly`);
  }
});

t.test('client: watch', async (t) => {
  const c = client(t);
  const p = freshPrefix();
  const start = await c.put(`${p}/a`, '1');
  await c.put(`${p}/b`, '2');
  const seen: WatchEvent[] = [];
  const errors: EtcdError[] = [];
  const w = c.watch(`${p}/`, { startRevision: start, onEvents: (evs) => seen.push(...evs), onError: (e) => errors.push(e) });
  await c.put(`${p}0`, 'not under the prefix');
  await sleep(200);
  await c.delete(`${p}/a`);
  t.ok(await eventually(() => seen.length === 3, 20_000), 'three events');
  t.same(seen.map((e) => [e.type, e.kv.key, e.kv.value]), [['put', `${p}/a`, '1'], ['put', `${p}/b`, '2'], ['delete', `${p}/a`, '']],
    'history from startRevision, then live changes, in order');
  w.cancel();
  await c.put(`${p}/c`, '3');
  await sleep(200);
  t.equal(seen.length, 3, 'nothing after cancel()');
  t.same(errors, [], 'no error');

  const last = await c.put(`${p}/d`, '4');
  etcdctl(etcd, 'compaction', String(last));
  const e = await new Promise<EtcdError>((resolve) => c.watch(`${p}/`, { startRevision: start, onEvents: () => {}, onError: resolve }));
  t.ok(e instanceof EtcdCompactedError, 'watching compacted history: EtcdCompactedError');
  t.equal((e as EtcdCompactedError).compactRevision, last, 'with the compaction revision');
});

t.test('network config: ensure, conflict, validation', async (t) => {
  const c = client(t);
  const p = freshPrefix();
  t.equal(await readNetworkConfig(c, p), undefined, 'nothing stored yet');
  const racers = await Promise.all([1, 2, 3, 4, 5].map(() => ensureNetworkConfig(client(t), p, { ...NET, vni: 7 })));
  t.ok(racers.every((r) => r.network === NET.network && r.vni === 7), 'five agents ensuring at once all get it');
  t.same(JSON.parse(etcdctl(etcd, 'get', configKey(p), '--print-value-only')), { ...NET, vni: 7 }, 'stored once as JSON under P/config');
  t.same(await readNetworkConfig(c, p), { ...NET, vni: 7 }, 'readNetworkConfig');
  const conflict = await ensureNetworkConfig(c, p, { ...NET, vni: 8 }).catch((e: Error) => e.message);
  t.match(conflict, /already holds different network settings.*"vni":7.*"vni":8/, 'a conflict names both settings');
  t.same(await ensureNetworkConfig(c, p, { ...NET, vni: 7, port: 4789 }), { ...NET, vni: 7 }, 'defaults spelt out are not a conflict');

  const invalid: [Partial<NetworkConfig> & Record<string, unknown>, RegExp][] = [
    [{ network: '10.244.0.0', subnetLen: 24 }, /network: expected an IPv4 or IPv6 CIDR/],
    [{ network: '10.244.1.0/16', subnetLen: 24 }, /host bits set: did you mean 10\.244\.0\.0\/16/],
    [{ network: '10.244.0.0/16', subnetLen: 16 }, /subnetLen: expected an integer from 17 to 32/],
    [{ network: '10.244.0.0/16', subnetLen: 33 }, /subnetLen/],
    [{ network: 'fd00::/48', subnetLen: 129 }, /subnetLen: expected an integer from 49 to 128/],
    [{ ...NET, vni: 0 }, /vni: expected an integer from 1 to 16777215/],
    [{ ...NET, vni: 1 << 24 }, /vni/],
    [{ ...NET, port: 0 }, /port: expected an integer from 1 to 65535/],
    [{ ...NET, mtu: 67 }, /mtu: expected an integer from 68 to 65535/],
  ];
  for (const [cfg, msg] of invalid) {
    await t.rejects(ensureNetworkConfig(c, freshPrefix(), cfg as NetworkConfig), msg, `refused: ${JSON.stringify(cfg)}`);
  }
  t.same(await ensureNetworkConfig(c, freshPrefix(), { network: 'fd00:0::/48', subnetLen: 64 }), { network: 'fd00::/48', subnetLen: 64 }, 'IPv6, canonicalised');
  await c.put(configKey(p), '{"network": 5}');
  await t.rejects(readNetworkConfig(c, p), new RegExp(`${configKey(p)}\\.network: expected`), 'a bad stored config names its key');
});

t.test('keys and records', async (t) => {
  t.equal(subnetKey('/rtnl/network', '10.244.3.0/24'), '/rtnl/network/subnets/10.244.3.0-24');
  t.equal(subnetKey('/p', 'fd00:0:0:5::/64'), '/p/subnets/fd00:0:0:5::-64');
  t.equal(subnetsPrefix('/p'), '/p/subnets/');
  t.throws(() => subnetKey('/p', '10.244.3.1/24'), /no host bits/);
  const rec = { name: 'n1', underlay: '192.168.1.1', vtepMac: '02:AA:00:00:00:01', subnet: '10.244.3.0/24' };
  t.same(parseNodeRecord(JSON.stringify(rec)), { ...rec, vtepMac: '02:aa:00:00:00:01' }, 'parseNodeRecord');
  t.throws(() => parseNodeRecord('{'), /not JSON/);
  t.throws(() => parseNodeRecord(JSON.stringify({ ...rec, underlay: 'nope' })), /record\.underlay/);
  t.throws(() => parseNodeRecord(JSON.stringify({ ...rec, vtepMac: 1 })), /record\.vtepMac/);
  t.throws(() => parseNodeRecord(JSON.stringify({ ...rec, name: '' })), /record\.name/);
  t.throws(() => parseNodeRecord(JSON.stringify({ ...rec, subnet: '10.244.3.0' })), /record\.subnet/);
});

t.test('lease: acquire, restart keeps the subnet, update, release', async (t) => {
  const c = client(t);
  const p = freshPrefix();
  const renewed: NodeRecord[] = [];
  const a = new SubnetLease(c, p, NET, { onRenewed: (r) => renewed.push(r) });
  const self = await a.acquire({ ...who(1), ttlSec: 30 });
  t.match(self, { name: 'node1', underlay: '192.168.100.1', vtepMac: '02:00:00:00:00:01', subnet: /^10\.244\.\d+\.0\/24$/ }, 'acquired');
  t.not(self.subnet, '10.244.0.0/24', 'not the network\'s own subnet');
  t.same(renewed, [self], 'onRenewed after the first acquire');
  const key = subnetKey(p, self.subnet);
  t.same(JSON.parse(etcdctl(etcd, 'get', key, '--print-value-only')), self, 'the record is in etcd under P/subnets/<addr>-<len>');
  const info = a.info!;
  t.match(info, { id: /^\d+$/, ttlSec: 30 }, 'info');
  t.match(await c.leaseTimeToLive(info.id), { keys: [key] }, 'the record is attached to the lease');

  const moved = await a.update({ underlay: '192.168.100.101' });
  t.equal(moved.underlay, '192.168.100.101', 'update');
  t.equal(JSON.parse((await c.get(key))!.value).underlay, '192.168.100.101', 'update written');
  t.equal((await c.get(key))!.lease, info.id, 'still on the same lease');

  // A restart within the TTL: stop (no revoke), a new instance takes the record over.
  a.stop();
  const b = new SubnetLease(client(t), p, NET);
  const again = await b.acquire({ ...who(1), ttlSec: 30, preferredSubnet: '10.244.77.0/24' });
  t.equal(again.subnet, self.subnet, 'same subnet after a restart (the existing record beats preferredSubnet)');
  t.not(b.info!.id, info.id, 'on a new lease');
  t.equal(await c.leaseTimeToLive(info.id), undefined, 'the old process\'s lease was revoked');
  t.equal((await c.list(subnetsPrefix(p))).kvs.length, 1, 'still one record');

  const other = new SubnetLease(client(t), p, NET);
  t.equal((await other.acquire({ ...who(2), ttlSec: 30, preferredSubnet: '10.244.77.0/24' })).subnet, '10.244.77.0/24', 'preferredSubnet when free');
  const third = new SubnetLease(client(t), p, NET);
  const r3 = await third.acquire({ ...who(3), ttlSec: 30, preferredSubnet: '10.244.77.0/24' });
  t.not(r3.subnet, '10.244.77.0/24', 'a preferredSubnet held by another node is not taken');
  await t.rejects(new SubnetLease(c, p, NET).acquire({ ...who(4), ttlSec: 30, vtepMac: 'zz' }), /vtepMac/, 'bad input refused');

  await b.release();
  t.equal(await c.get(key), undefined, 'release deletes the record at once');
  t.equal(await c.leaseTimeToLive(b.info?.id ?? info.id), undefined, 'and revokes the lease');
  const l3 = third.info!.id;
  third.stop();
  t.equal(await SubnetLease.releaseNode(c, p, 'node3'), r3.subnet, 'releaseNode returns the subnet');
  t.equal(await c.get(subnetKey(p, r3.subnet)), undefined, 'releaseNode deleted the record');
  t.equal(await c.leaseTimeToLive(l3), undefined, 'and revoked its lease');
  t.equal(await SubnetLease.releaseNode(c, p, 'node3'), undefined, 'releaseNode of an unknown node');
  other.stop();
});

t.test('lease: TTL expiry frees the subnet', async (t) => {
  const c = client(t);
  const p = freshPrefix();
  const a = new SubnetLease(c, p, NET);
  const self = await a.acquire({ ...who(1), ttlSec: 2 });
  await sleep(3000);
  t.ok(await c.get(subnetKey(p, self.subnet)), 'kept alive past its TTL while renewed');
  t.ok(a.info?.renewedAt, 'renewedAt set by the keepalive');
  a.stop();
  t.ok(await eventually(async () => !(await c.get(subnetKey(p, self.subnet))), 20_000), 'the record disappears after the TTL once stopped');
  const b = new SubnetLease(c, p, NET);
  t.equal((await b.acquire({ ...who(2), ttlSec: 30, preferredSubnet: self.subnet })).subnet, self.subnet, 'another node can take the freed subnet');
  b.stop();
});

t.test('lease: 50 agents race for distinct subnets; a small pool runs out clearly', async (t) => {
  const p = freshPrefix();
  const leases = Array.from({ length: 50 }, () => new SubnetLease(client(t), p, NET));
  const t0 = Date.now();
  const got = await Promise.all(leases.map((l, i) => l.acquire({ ...who(i + 1), ttlSec: 30 })));
  t.comment(`50 concurrent acquisitions: ${Date.now() - t0} ms`);
  t.teardown(() => leases.forEach((l) => l.stop()));
  t.equal(new Set(got.map((r) => r.subnet)).size, 50, '50 distinct subnets');
  t.notOk(got.some((r) => r.subnet === '10.244.0.0/24'), 'none is the network\'s own subnet');
  const stored = (await client(t).list(subnetsPrefix(p))).kvs.map((kv) => JSON.parse(kv.value) as NodeRecord);
  t.same(stored.map((r) => r.name).sort(), got.map((r) => r.name).sort(), 'etcd holds exactly the 50 records');

  // /27s of a /24: 8 subnets, the first skipped, 7 to share among 10 nodes
  const small: NetworkConfig = { network: '10.10.0.0/24', subnetLen: 27 };
  const q = freshPrefix();
  const racers = Array.from({ length: 10 }, () => new SubnetLease(client(t), q, small));
  t.teardown(() => racers.forEach((l) => l.stop()));
  const results = await Promise.allSettled(racers.map((l, i) => l.acquire({ ...who(i + 1), ttlSec: 30 })));
  const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.subnet] : []));
  const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  t.equal(won.length, 7, 'seven nodes got a subnet');
  t.same([...won].sort(), ['10.10.0.128/27', '10.10.0.160/27', '10.10.0.192/27', '10.10.0.224/27', '10.10.0.32/27', '10.10.0.64/27', '10.10.0.96/27'], 'every usable subnet once, never 10.10.0.0/27');
  t.equal(lost.length, 3, 'three did not');
  t.ok(lost.every((e) => e instanceof SubnetExhaustedError), 'with SubnetExhaustedError');
  t.match(lost[0]?.message, /all 7 \/27 subnets of 10\.10\.0\.0\/24 are leased/, 'saying so clearly');
  t.equal((await client(t).list(subnetsPrefix(q))).kvs.length, 7, 'the losers left nothing behind');

  // IPv6: 2^16 subnets are enumerated, 2^32 sampled at random
  for (const [network, re] of [['fd00:10::/48', /^fd00:10:0:[0-9a-f]{1,4}::\/64$/], ['fd00:10::/32', /^fd00:10:[0-9a-f:]+\/64$/]] as const) {
    const v6 = new SubnetLease(client(t), freshPrefix(), { network, subnetLen: 64 });
    const r6 = await v6.acquire({ ...who(1), ttlSec: 30 });
    t.match(r6.subnet, re, `IPv6 ${network}: ${r6.subnet}`);
    t.not(r6.subnet, network.replace(/\/\d+$/, '/64'), 'not the network\'s own subnet');
    v6.stop();
  }
});

/** A membership started on prefix p, recording what it delivers; checks deliveries never overlap. */
async function watchMembers(t: Tap, c: EtcdClient, p: string) {
  const deliveries: NodeRecord[][] = [];
  const malformed: RejectedRecord[][] = [];
  const warnings: string[] = [];
  let running = 0;
  let overlapped = false;
  const m = new EtcdMembership(c, p, { onWarning: (w) => warnings.push(w), debounceMs: 20 });
  await m.start(async (members) => {
    overlapped ||= running++ > 0;
    await sleep(30); // a slow consumer: changes meanwhile must queue, not overlap
    deliveries.push(members.records.map((c) => c.record));
    malformed.push(members.malformed);
    running--;
  });
  t.teardown(() => m.stop());
  const last = () => deliveries.at(-1) ?? [];
  const names = () => last().map((n) => n.name).join(',');
  return { m, deliveries, malformed, warnings, last, names, overlapped: () => overlapped };
}

t.test('membership: join, update, leave by lease expiry', async (t) => {
  const c = client(t);
  const p = freshPrefix();
  const n1 = new SubnetLease(client(t), p, NET);
  await n1.acquire({ ...who(1), ttlSec: 30 });
  t.teardown(() => n1.stop());
  const w = await watchMembers(t, c, p);
  t.equal(w.names(), 'node1', 'start() resolves after delivering the initial set');
  await t.rejects(new EtcdMembership(client(t, ['http://127.0.0.1:1']), p).start(() => {}), EtcdUnavailableError, 'start() rejects when etcd is unreachable');

  const n2 = new SubnetLease(client(t), p, NET);
  const r2 = await n2.acquire({ ...who(2), ttlSec: 5 }); // short, for the expiry below; long enough for a busy machine
  t.ok(await eventually(() => w.names() === 'node1,node2', 10_000), 'join delivered');
  await n2.update({ vtepMac: '02:00:00:00:00:22' });
  t.ok(await eventually(() => w.last().find((n) => n.name === 'node2')?.vtepMac === '02:00:00:00:00:22', 10_000), 'update delivered');
  t.same(w.last().find((n) => n.name === 'node2'), { ...r2, vtepMac: '02:00:00:00:00:22' }, 'the full record');

  await c.put(`${subnetsPrefix(p)}10.244.99.0-24`, 'not json');
  await c.put(`${subnetsPrefix(p)}10.244.98.0-24`, JSON.stringify({ ...r2, name: 'liar' })); // its subnet is not its key
  t.ok(await eventually(() => w.malformed.at(-1)?.length === 2, 10_000), 'malformed records delivered apart');
  t.match(w.malformed.at(-1), [
    { key: `${subnetsPrefix(p)}10.244.99.0-24`, reason: /not JSON/ },
    { key: `${subnetsPrefix(p)}10.244.98.0-24`, name: 'liar', reason: /does not match the key/ },
  ]);
  t.equal(w.names(), 'node1,node2', 'and not among the records');

  const stoppedAt = Date.now();
  n2.stop();
  t.ok(await eventually(() => w.names() === 'node1', 30_000), 'leave delivered once node2\'s lease expires');
  t.comment(`node2 left ${Date.now() - stoppedAt} ms after it stopped renewing (TTL 5 s)`);
  await w.m.stop();
  const count = w.deliveries.length;
  await n1.release();
  await sleep(200);
  t.equal(w.deliveries.length, count, 'nothing delivered after stop()');
  t.notOk(w.overlapped(), 'deliveries never overlapped');
});

t.test('etcd restarted with its data: leases renew, membership resyncs', async (t) => {
  const e = await startEtcd();
  t.teardown(() => e.stop());
  const p = '/rtnl/network';
  const c = client(t, [e.endpoint]);
  await ensureNetworkConfig(c, p, NET);
  const lost: string[] = [];
  const warnings: string[] = [];
  const a = new SubnetLease(c, p, NET, { onLost: (why) => lost.push(why), onWarning: (w) => warnings.push(w) });
  const self = await a.acquire({ ...who(1), ttlSec: 3 });
  t.teardown(() => a.stop());
  const w = await watchMembers(t, client(t, [e.endpoint]), p);
  const before = w.deliveries.length;

  await e.restart();
  const up = Date.now();
  t.ok(await eventually(() => w.deliveries.length > before, 20_000), 'membership delivered again after the restart');
  t.comment(`membership re-delivered ${Date.now() - up} ms after etcd was healthy again`);
  t.same(w.last(), [self], 'the same set');
  t.match(w.warnings, [/watching \/rtnl\/network\/subnets\/ failed/], 'the broken watch was reported');
  const renewedAt = a.info?.renewedAt;
  t.ok(await eventually(() => a.info?.renewedAt !== renewedAt, 20_000), 'the keepalive renews again');
  t.same(lost, [], 'the lease was never lost');
  t.equal(JSON.parse((await c.get(subnetKey(p, self.subnet)))!.value).name, 'node1', 'the record is still there');

  // A crash and a short outage: renewals fail (reported), then succeed; still never lost.
  await e.kill();
  t.ok(await eventually(() => warnings.some((x) => /keepalive failed/.test(x)), 20_000), 'failed renewals are reported as warnings');
  const resyncs = w.deliveries.length;
  await e.restart();
  t.ok(await eventually(() => w.deliveries.length > resyncs, 20_000), 'membership delivered again after the crash');
  const renewedAgain = a.info?.renewedAt;
  t.ok(await eventually(() => a.info?.renewedAt !== renewedAgain, 20_000), 'the keepalive renews again after the crash');
  t.same(lost, [], 'the lease survived the outage');

  // A change after the resync arrives: the new watch is live.
  const n2 = new SubnetLease(c, p, NET);
  await n2.acquire({ ...who(2), ttlSec: 30 });
  t.ok(await eventually(() => w.names() === 'node1,node2', 20_000), 'changes after the resync are delivered');
  n2.stop();
});

t.test('etcd wiped: the lease is lost, then the same subnet is re-acquired; membership recovers', async (t) => {
  const e = await startEtcd();
  t.teardown(() => e.stop());
  const p = '/rtnl/network';
  const c = client(t, [e.endpoint]);
  await ensureNetworkConfig(c, p, NET);
  const events: string[] = [];
  const renewed: NodeRecord[] = [];
  const a = new SubnetLease(c, p, NET, {
    onLost: (why) => events.push(`lost: ${why}`), onRenewed: (r) => renewed.push(r), onWarning: (w) => events.push(`warning: ${w}`),
  });
  const self = await a.acquire({ ...who(1), ttlSec: 3 });
  t.teardown(() => a.stop());
  const firstLease = a.info!.id;
  const w = await watchMembers(t, client(t, [e.endpoint]), p);
  const before = w.deliveries.length;

  await e.restart({ wipe: true });
  const up = Date.now();
  t.ok(await eventually(() => renewed.length === 2, 20_000), 're-acquired');
  t.comment(`subnet re-acquired ${Date.now() - up} ms after the wiped etcd was healthy`);
  t.match(events.find((x) => x.startsWith('lost')), /no longer exists in etcd/, 'onLost said why');
  t.same(renewed[1], self, 'the same subnet and record, announced through onRenewed');
  t.not(a.info?.id, firstLease, 'on a new lease');
  t.same(await readNetworkConfig(c, p), NET, 'the network settings were put back');
  t.ok(await eventually(() => w.deliveries.length > before && w.names() === 'node1', 20_000), 'membership re-lists and delivers the node again');
  t.same(w.last(), [self]);
});

t.test('client: authentication, token expiry, a frozen member under a watch', async (t) => {
  const e = await startEtcdCluster({ n: 1, root: 'pw', tokenTtlSec: 1 });
  t.teardown(() => e.stop());
  const refused: EtcdError[] = [];
  const c = new EtcdClient({ endpoints: e.endpoints, auth: { username: 'root', password: 'pw' }, timeoutMs: 1000, watchProbeMs: 500, onRefused: (x) => refused.push(x) });
  t.teardown(() => c.close());
  await c.put('/auth/a', '1');
  await sleep(2500); // the token expired
  t.equal((await c.get('/auth/a'))?.value, '1', 'a request after the token expired authenticates again and succeeds');
  t.same(refused, [], 'nothing refused');

  const wrong = new EtcdClient({ endpoints: e.endpoints, auth: { username: 'root', password: 'nope' }, onRefused: (x) => refused.push(x) });
  t.teardown(() => wrong.close());
  const err = await wrong.get('/auth/a').catch((x: unknown) => x);
  t.ok(err instanceof EtcdAuthError, 'a wrong password: EtcdAuthError');
  t.match((err as Error).message, /authentication as "root" failed: etcdserver: authentication failed, invalid user ID or password/);
  t.equal(refused[0], err, 'and onRefused heard of it');
  const anon = new EtcdClient({ endpoints: e.endpoints });
  t.teardown(() => anon.close());
  await t.rejects(anon.get('/auth/a'), { name: 'EtcdAuthError', message: /no etcd user was given/ }, 'no user while auth is on: said so');

  const errors: EtcdError[] = [];
  c.watch('/auth/', { onEvents: () => {}, onError: (x) => errors.push(x) });
  await sleep(300);
  e.members[0]!.freeze();
  t.ok(await eventually(() => errors.length > 0, 10_000), 'the watch on a frozen member ends');
  e.members[0]!.thaw();
  t.ok(errors[0] instanceof EtcdUnavailableError, 'with EtcdUnavailableError');
  t.match(errors[0]!.message, /did not answer a read/, 'saying the member stopped answering');
});
