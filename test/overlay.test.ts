// The VXLAN overlay end to end: nodes, pods and peers programmed only through
// rtnl; packets (ICMP and TCP) cross from a pod on one node to a pod on another.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { Cluster, gatewayIp, ping, podSubnet, tcpEcho, underlayIp, vtepIp } from '../demo/cluster.js';
import { assertHome } from './lib.js';

t.test('two, then three nodes: pods reach each other across the overlay', async (t) => {
  const c = new Cluster('ovt');
  t.teardown(() => c.destroy());
  c.underlay();
  const [n1, n2] = [c.addNode(1), c.addNode(2)];
  for (const n of [n1, n2]) for (const j of [1, 2]) c.addPod(n, j);
  c.syncPeers(n1);
  c.syncPeers(n2);
  assertHome(t);

  // The kernel's own lookup agrees with what we programmed: via the peer's VTEP, onlink.
  const got = JSON.parse(execFileSync('ip', ['-n', n1.name, '-j', 'route', 'get', n2.pods[0]!.ip], { encoding: 'utf8' }))[0];
  t.match(got, { dev: 'vxlan0', gateway: vtepIp(2) }, 'ip route get: via the peer VTEP on vxlan0');
  const shown = JSON.parse(execFileSync('ip', ['-n', n1.name, '-j', 'route', 'show', podSubnet(2)], { encoding: 'utf8' }))[0];
  t.match(shown, { dev: 'vxlan0', gateway: vtepIp(2), flags: ['onlink'] }, 'the programmed route is onlink');
  const fdb = JSON.parse(execFileSync('bridge', ['-n', n1.name, '-j', 'fdb', 'show', 'dev', 'vxlan0'], { encoding: 'utf8' }));
  t.ok(fdb.some((e: { mac: string; dst: string }) => e.mac === n2.vtepMac && e.dst === underlayIp(2)), 'unicast FDB entry for the peer');
  t.ok(fdb.some((e: { mac: string; dst: string }) => e.mac === '00:00:00:00:00:00' && e.dst === underlayIp(2)), 'flood entry for the peer');

  for (const p of n2.pods) t.ok(ping(n1.pods[0]!.name, p.ip) >= 0, `ping ${n1.pods[0]!.ip} -> ${p.ip}`);
  t.equal(await tcpEcho(n1.pods[1]!.name, n2.pods[1]!.name, n2.pods[1]!.ip), n1.pods[1]!.ip, 'TCP echo; the server sees the pod address (no NAT)');

  // A third node joins: it learns both peers, they learn it.
  const n3 = c.addNode(3);
  for (const j of [1, 2]) c.addPod(n3, j);
  c.syncPeers(n3);
  c.syncPeers(n1, [n3]);
  c.syncPeers(n2, [n3]);
  for (const from of [n1, n2]) t.ok(ping(from.pods[0]!.name, n3.pods[1]!.ip) >= 0, `ping ${from.name} pod -> node3 pod`);
  t.ok(ping(n3.pods[0]!.name, n1.pods[0]!.ip) >= 0, 'ping node3 pod -> node1 pod');
  t.equal(await tcpEcho(n3.pods[0]!.name, n1.pods[0]!.name, n1.pods[0]!.ip), n3.pods[0]!.ip, 'TCP echo node3 -> node1');
  // the pod's default route points at its node's bridge
  const dflt = JSON.parse(execFileSync('ip', ['-n', n3.pods[0]!.name, '-j', 'route', 'show', 'default'], { encoding: 'utf8' }))[0];
  t.equal(dflt.gateway, gatewayIp(3));
  assertHome(t);
});
