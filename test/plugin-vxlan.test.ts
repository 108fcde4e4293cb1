// The rtnl plugin in vxlan mode: two "nodes" (namespaces joined by a veth
// underlay through a bridge in a third), the plugin exec'd inside each node
// with that node's config. Pods on one VNI reach each other across nodes,
// pods on another VNI (same subnet) do not; the shared br<VNI>/vx<VNI> are
// reference-counted under a lock, also under 20 concurrent ADDs and DELs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { createNetns, deleteNetns } from '../src/index.js';
import { hostVethName } from '../src/plugin/plugin.js';
import { assertHome, testNs, type TestNs } from './lib.js';
import { exec, execAsync, installPlugins, ping, tmpDir, type Call } from './plugin-runtime.js';

const underlayIp = (i: number) => `192.168.77.${i}`;

interface Node {
  i: number;
  ns: TestNs;
  stateDir: string;
  dataDir: string;
}

/** Two nodes on an underlay; the plugin installed once. */
function cluster(t: Test): { nodes: Node[]; cniPath: string } {
  const ul = testNs(t, 'pu');
  ul.h.linkAdd({ kind: 'bridge', name: 'ul0', up: true });
  const ulBridge = ul.h.linkGet('ul0').index;
  const nodes = [1, 2].map((i): Node => {
    const ns = testNs(t, `pn${i}`);
    ul.h.linkAdd({ kind: 'veth', name: `n${i}`, master: ulBridge, up: true, peer: { name: 'underlay', netns: ns.ns } });
    const link = ns.h.linkGet('underlay').index;
    ns.h.batch((b) => {
      b.linkSetUp(link);
      b.addrAdd({ link, address: `${underlayIp(i)}/24` });
    });
    const dir = tmpDir(t);
    return { i, ns, stateDir: path.join(dir, 'state'), dataDir: path.join(dir, 'ipam') };
  });
  return { nodes, cniPath: installPlugins(t) };
}

/** Node n's config for VNI `vni`, handing out `first`..`last` of 10.60.0.0/24. */
function conf(n: Node, vni: number, first: number, last: number, o: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.1.0', name: `vx${vni}`, type: 'rtnl', mode: 'vxlan', vni,
    local: underlayIp(n.i), device: 'underlay', peers: [1, 2].filter((p) => p !== n.i).map((p) => ({ underlayIp: underlayIp(p) })),
    stateDir: n.stateDir,
    ipam: { type: 'rtnl-ipam', dataDir: n.dataDir, ranges: [[{ subnet: '10.60.0.0/24', rangeStart: `10.60.0.${first}`, rangeEnd: `10.60.0.${last}` }]] },
    ...o,
  };
}

const call = (n: Node, pod: string, cniPath: string, o: Partial<Call> = {}): Call => ({ netns: `/run/netns/${pod}`, node: n.ns.name, cniPath, id: pod, ...o });
const users = (n: Node, vni: number) => { try { return fs.readdirSync(path.join(n.stateDir, `vxlan-${vni}.users`)); } catch { return []; } };
const has = (n: Node, name: string) => n.ns.h.linkList().some((l) => l.name === name);

t.test('pods on one VNI ping across nodes; another VNI is isolated', (t) => {
  const { nodes: [n1, n2], cniPath } = cluster(t);
  const a = testNs(t, 'pa'), b = testNs(t, 'pb'), c = testNs(t, 'pc');
  const ra = exec('ADD', conf(n1!, 100, 10, 99), call(n1!, a.name, cniPath));
  t.equal(ra.code, 0, ra.stdout + ra.stderr);
  const rb = exec('ADD', conf(n2!, 100, 100, 199), call(n2!, b.name, cniPath));
  t.equal(rb.code, 0, rb.stdout + rb.stderr);
  const rc = exec('ADD', conf(n2!, 200, 200, 250), call(n2!, c.name, cniPath));
  t.equal(rc.code, 0, rc.stdout + rc.stderr);
  t.same([ra.json.ips[0].address, rb.json.ips[0].address, rc.json.ips[0].address], ['10.60.0.10/24', '10.60.0.100/24', '10.60.0.200/24']);
  t.same(ra.json.interfaces.map((i: any) => i.name), ['br100', hostVethName(a.name, 'eth0'), 'eth0']);

  // Kernel state on node 1, through iproute2.
  const vx = n1!.ns.ipJson('-d', 'link', 'show', 'vx100')[0];
  t.equal(vx.linkinfo.info_kind, 'vxlan');
  t.equal(vx.linkinfo.info_data.id, 100);
  t.equal(vx.linkinfo.info_data.port, 4789, 'dstport default 4789');
  t.equal(vx.linkinfo.info_data.learning, false, 'nolearning');
  t.equal(vx.linkinfo.info_data.local, underlayIp(1));
  t.equal(vx.linkinfo.info_data.link, 'underlay');
  t.equal(vx.master, 'br100');
  t.equal(vx.mtu, 1450, 'vx MTU: underlay 1500 - 50');
  const fdb = JSON.parse(spawnSync('bridge', ['-n', n1!.ns.name, '-j', 'fdb', 'show', 'dev', 'vx100'], { encoding: 'utf8' }).stdout);
  t.same(fdb.filter((e: any) => e.mac === '00:00:00:00:00:00').map((e: any) => e.dst), [underlayIp(2)], 'flood entry to the peer');
  t.equal(a.h.linkGet('eth0').mtu, 1450, 'pod MTU reduced by 50');
  t.equal(ra.json.interfaces[2].mtu, 1450);

  t.ok(ping(a.name, '10.60.0.100'), 'VNI 100: node 1 pod pings node 2 pod');
  t.ok(ping(b.name, '10.60.0.10'), 'and back');
  t.notOk(ping(a.name, '10.60.0.200', 1), 'VNI 100 pod cannot reach the VNI 200 pod (same subnet)');
  t.notOk(ping(c.name, '10.60.0.10', 1), 'nor the other way');
  t.ok(has(n2!, 'br200') && has(n2!, 'vx200') && !has(n1!, 'br200'), 'br200/vx200 only on node 2');

  for (const [n, p, v, f, l] of [[n1, a, 100, 10, 99], [n2, b, 100, 100, 199], [n2, c, 200, 200, 250]] as const) {
    t.equal(exec('DEL', conf(n!, v, f, l), call(n!, p.name, cniPath)).code, 0);
  }
  for (const n of [n1!, n2!]) t.same(n.ns.h.linkList().map((l) => l.name).sort(), ['lo', 'underlay'], `node ${n.i}: nothing left`);
  assertHome(t);
  t.end();
});

t.test('reference counting: br/vx stay while a pod uses them', (t) => {
  const { nodes: [n1], cniPath } = cluster(t);
  const p1 = testNs(t, 'pa'), p2 = testNs(t, 'pb');
  const cf = conf(n1!, 100, 10, 99, { mtu: 1400, peers: [{ underlayIp: underlayIp(2), vtepMac: '02:00:00:00:00:02' }] });
  t.equal(exec('ADD', cf, call(n1!, p1.name, cniPath)).code, 0);
  t.equal(exec('ADD', cf, call(n1!, p2.name, cniPath)).code, 0);
  t.equal(p1.h.linkGet('eth0').mtu, 1400, 'mtu given: used as is');
  const vx = n1!.ns.h.linkGet('vx100');
  const entries = n1!.ns.h.fdbList({ link: vx.index }).filter((e) => e.dst === underlayIp(2)).map((e) => e.mac).sort();
  t.same(entries, ['00:00:00:00:00:00', '02:00:00:00:00:02'], 'flood entry and the peer VTEP MAC');
  t.same(users(n1!, 100).length, 2, 'two users');
  t.equal(exec('DEL', cf, call(n1!, p1.name, cniPath)).code, 0);
  t.ok(has(n1!, 'br100') && has(n1!, 'vx100'), 'one DEL: br100 and vx100 remain');
  t.equal(n1!.ns.h.linkGet('vx100').index, vx.index, 'the same vx100');
  t.equal(exec('DEL', cf, call(n1!, p1.name, cniPath)).code, 0, 'the same DEL again');
  t.ok(has(n1!, 'br100'), 'a repeated DEL does not drop the count twice');
  t.equal(exec('DEL', cf, call(n1!, p2.name, cniPath)).code, 0);
  t.notOk(has(n1!, 'br100') || has(n1!, 'vx100'), 'last DEL: br100 and vx100 gone');
  t.same(users(n1!, 100), []);
  t.end();
});

t.test('GC: users and veths of attachments that were never DELeted go, br/vx with the last', (t) => {
  const { nodes: [n1], cniPath } = cluster(t);
  const keep = testNs(t, 'pa');
  const gone = `pg-${process.pid}`;
  createNetns(gone).close();
  t.teardown(() => { try { deleteNetns(gone); } catch { /* gone */ } });
  const cf = conf(n1!, 100, 10, 99);
  t.equal(exec('ADD', cf, call(n1!, keep.name, cniPath)).code, 0);
  t.equal(exec('ADD', cf, call(n1!, gone, cniPath)).code, 0);
  t.equal(exec('ADD', cf, call(n1!, 'third', cniPath, { netns: `/run/netns/${keep.name}`, ifname: 'net1' })).code, 0);
  deleteNetns(gone); // its veth goes with it; no DEL is sent
  t.equal(users(n1!, 100).length, 3);
  const gc = (valid: object[]) => exec('GC', { ...cf, 'cni.dev/valid-attachments': valid }, call(n1!, '', cniPath, { netns: '', id: '' }));
  t.equal(gc([{ containerID: keep.name, ifname: 'eth0' }]).code, 0);
  t.same(users(n1!, 100), [`vx100:${keep.name}:eth0`], 'only the valid attachment is still a user');
  t.throws(() => n1!.ns.h.linkGet(hostVethName('third', 'net1')), { code: 'ENODEV' }, 'the stale veth of a live namespace removed');
  t.ok(has(n1!, 'br100') && has(n1!, 'vx100'), 'br/vx kept for the remaining user');
  t.equal(gc([]).code, 0);
  t.notOk(has(n1!, 'br100') || has(n1!, 'vx100'), 'no users left: br/vx gone');
  t.same(fs.readdirSync(path.join(n1!.dataDir, 'vx100')).filter((f) => f.startsWith('10.')), [], 'IPAM GC released every address');
  t.end();
});

t.test('a lock left by a killed plugin is broken', (t) => {
  const { nodes: [n1], cniPath } = cluster(t);
  const p1 = testNs(t, 'pa');
  const dead = spawnSync('true').pid!; // a pid that no longer runs
  fs.mkdirSync(n1!.stateDir, { recursive: true });
  fs.writeFileSync(path.join(n1!.stateDir, 'vxlan-100.lock'), String(dead));
  const r = exec('ADD', conf(n1!, 100, 10, 99), call(n1!, p1.name, cniPath));
  t.equal(r.code, 0, r.stdout);
  t.notOk(fs.existsSync(path.join(n1!.stateDir, 'vxlan-100.lock')), 'lock released after ADD');
  t.end();
});

t.test('20 concurrent ADDs then 20 concurrent DELs on one VNI leave nothing behind', async (t) => {
  const { nodes: [n1], cniPath } = cluster(t);
  const names = Array.from({ length: 20 }, (_, i) => `pq-${process.pid}-${i}`);
  for (const n of names) createNetns(n).close();
  t.teardown(() => { for (const n of names) try { deleteNetns(n); } catch { /* gone */ } });
  const cf = conf(n1!, 300, 10, 99);
  const adds = await Promise.all(names.map((n) => execAsync('ADD', cf, call(n1!, n, cniPath))));
  t.same(adds.filter((r) => r.code !== 0).map((r) => r.stdout + r.stderr), [], 'every ADD succeeded');
  t.equal(new Set(adds.map((r) => r.json?.ips?.[0]?.address)).size, 20, '20 distinct addresses');
  const br = n1!.ns.h.linkGet('br300').index;
  t.equal(n1!.ns.h.linkList({ master: br }).length, 21, 'vx300 and 20 veths on br300');
  t.equal(n1!.ns.h.linkList({ kind: 'vxlan' }).length, 1, 'one vx300');
  t.equal(users(n1!, 300).length, 20);
  const dels = await Promise.all(names.map((n) => execAsync('DEL', cf, call(n1!, n, cniPath))));
  t.same(dels.filter((r) => r.code !== 0).map((r) => r.stdout + r.stderr), [], 'every DEL succeeded');
  t.same(n1!.ns.h.linkList().map((l) => l.name).sort(), ['lo', 'underlay'], 'no br, vx or veth left');
  t.same(users(n1!, 300), []);
  t.same(fs.readdirSync(n1!.stateDir).filter((f) => !f.endsWith('.users')), [], 'no lock or temp file left');
  t.same(fs.readdirSync(path.join(n1!.dataDir, 'vx300')).filter((f) => f.startsWith('10.')), [], 'every address released');
});
