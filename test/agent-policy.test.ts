// The agent's record policy, without a kernel: which records become peers,
// and the reason given for each one that does not.
import t from 'tap';
import { admitPeers } from '../src/agent/policy.js';
import { underlayProblem } from '../src/agent/record.js';
import type { Candidate, NetworkConfig, NodeRecord } from '../src/agent/types.js';
import { parseIp } from '../src/primitives/ip.js';

const NET: NetworkConfig = { network: '10.244.0.0/16', subnetLen: 24 };
const self: NodeRecord = { name: 'node1', underlay: '192.168.100.1', vtepMac: '02:00:00:00:00:01', subnet: '10.244.1.0/24' };
const rec = (i: number, o: Partial<NodeRecord> = {}): Candidate => {
  const record = { name: `node${i}`, underlay: `192.168.100.${i}`, vtepMac: `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`, subnet: `10.244.${i}.0/24`, ...o };
  return { key: `/k/${record.subnet}`, record };
};

t.test('good records are peers, this node is neither peer nor rejected', async (t) => {
  const a = admitPeers([rec(1, self), rec(2), rec(3)], NET, self);
  t.same(a.peers.map((c) => c.record.name), ['node2', 'node3']);
  t.same(a.rejected, []);
});

t.test('every hostile record of issue 11 is rejected with its reason', async (t) => {
  const hostile: Array<[Candidate, RegExp]> = [
    [rec(50, { subnet: '192.168.100.0/24' }), /subnet 192\.168\.100\.0\/24 is not inside the cluster network 10\.244\.0\.0\/16/],
    [rec(51, { subnet: '128.0.0.0/1' }), /not inside the cluster network/],
    [rec(52, { subnet: '172.16.0.0/12' }), /not inside the cluster network/],
    [rec(53, { subnet: '10.0.0.0/8' }), /not inside the cluster network/],
    [rec(54, { name: 'aaa', subnet: '10.244.2.0/25' }), /is a \/25, not a \/24/],
    [rec(55, { subnet: '10.244.0.0/24' }), /the network's first subnet, which is reserved/],
    [rec(56, { subnet: 'fd00::/64' }), /not inside the cluster network/],
    [rec(57, { underlay: '127.0.0.1' }), /underlay: 127\.0\.0\.1 is a loopback address/],
    [rec(58, { underlay: '0.0.0.0' }), /underlay: 0\.0\.0\.0 is an unspecified/],
    [rec(59, { underlay: '224.0.0.1' }), /underlay: 224\.0\.0\.1 is a multicast address/],
    [rec(60, { underlay: '255.255.255.255' }), /the broadcast address/],
    [rec(61, { underlay: 'fd00::61' }), /is IPv6, but this node's underlay is IPv4/],
    [rec(62, { underlay: self.underlay }), /this node's own address/],
    [rec(63, { vtepMac: '01:00:5e:00:00:01' }), /vtepMac: expected a unicast MAC like .*, got \"01:00:5e:00:00:01\"/],
    [rec(64, { vtepMac: self.vtepMac }), /VTEP MAC 02:00:00:00:00:01 is this node's/],
    [rec(65, { subnet: self.subnet }), /subnet 10\.244\.1\.0\/24 overlaps this node's/],
    [rec(66, { name: 'node1' }), /names this node \(node1\) but is not its record/],
  ];
  const a = admitPeers([rec(2), ...hostile.map(([c]) => c)], NET, self);
  t.same(a.peers.map((c) => c.record.name), ['node2'], 'only the good record is a peer');
  t.equal(a.rejected.length, hostile.length, 'every hostile record rejected');
  for (const [i, [c, reason]] of hostile.entries()) {
    t.match(a.rejected[i], { key: c.key, name: c.record.name, reason }, `${c.key}: ${a.rejected[i]?.reason}`);
  }
});

t.test('conflicts go to the earlier record, whatever the names', async (t) => {
  // "aaa" sorts first by name, but node2 was created first: node2 keeps its underlay and MAC.
  const late = [rec(3, { name: 'aaa', underlay: '192.168.100.2' }), rec(4, { name: 'aab', vtepMac: '02:00:00:00:00:02' })];
  const a = admitPeers([rec(2), ...late], NET, self);
  t.same(a.peers.map((c) => c.record.name), ['node2']);
  t.match(a.rejected, [
    { name: 'aaa', reason: /underlay 192\.168\.100\.2 is already the earlier record \/k\/10\.244\.2\.0\/24's/ },
    { name: 'aab', reason: /VTEP MAC 02:00:00:00:00:02 is already the earlier record/ },
  ]);
  const b = admitPeers([...late, rec(2)], NET, self);
  t.same(b.peers.map((c) => c.record.name), ['aaa', 'aab'], 'in the other order, the other way round');
  t.match(b.rejected, [{ name: 'node2' }]);
});

t.test('IPv6 networks and underlays', async (t) => {
  const net6: NetworkConfig = { network: 'fd00:244::/48', subnetLen: 64 };
  const me: NodeRecord = { name: 'n1', underlay: 'fd00:100::1', vtepMac: '02:00:00:00:00:01', subnet: 'fd00:244:0:1::/64' };
  const c = (n: string, o: Partial<NodeRecord>): Candidate => ({ key: n, record: { name: n, underlay: 'fd00:100::2', vtepMac: '02:00:00:00:00:02', subnet: 'fd00:244:0:2::/64', ...o } });
  const a = admitPeers([c('good', {}), c('mcast', { underlay: 'ff02::1', vtepMac: '02:00:00:00:00:03', subnet: 'fd00:244:0:3::/64' }),
    c('lo', { underlay: '::1', vtepMac: '02:00:00:00:00:04', subnet: 'fd00:244:0:4::/64' }), c('first', { underlay: 'fd00:100::5', vtepMac: '02:00:00:00:00:05', subnet: 'fd00:244::/64' })], net6, me);
  t.same(a.peers.map((p) => p.key), ['good']);
  t.match(a.rejected, [{ key: 'mcast', reason: /multicast/ }, { key: 'lo', reason: /loopback/ }, { key: 'first', reason: /reserved/ }]);
});

t.test('underlayProblem: only unicast addresses pass', async (t) => {
  for (const ok of ['192.168.100.1', '10.0.0.1', '8.8.8.8', 'fd00::1', '2001:db8::1']) t.equal(underlayProblem(parseIp(ok)!), undefined, ok);
  for (const bad of ['127.0.0.2', '0.1.2.3', '239.1.1.1', '255.255.255.255', '240.0.0.1', '::', '::1', 'ff05::2', '::ffff:10.0.0.1']) {
    t.type(underlayProblem(parseIp(bad)!), 'string', `${bad}: ${underlayProblem(parseIp(bad)!)}`);
  }
});
