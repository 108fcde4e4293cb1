// The rtnl plugin in macvlan and ipvlan modes: the link created directly in
// the pod's namespace (parent looked up in the node's) in one request; pods
// on one master reach each other; DEL is idempotent. ipvlan is skipped on
// kernels without it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { createNetns, deleteNetns } from '../src/index.js';
import { assertHome, kernelHasKind, testNs, type TestNs } from './lib.js';
import { exec, installPlugins, ping, tmpDir, type Call } from './plugin-runtime.js';

function setup(t: Test): { node: TestNs; cniPath: string; held: () => string[]; conf: (o?: Record<string, unknown>) => Record<string, unknown>; call: (pod: string, o?: Partial<Call>) => Call } {
  const node = testNs(t, 'pn');
  // A master for the macvlans: one end of a veth pair, both ends up (carrier).
  node.h.linkAdd({ kind: 'veth', name: 'up0', peer: { name: 'up0p' } });
  node.h.batch((b) => { b.linkSetUp('up0'); b.linkSetUp('up0p'); });
  const cniPath = installPlugins(t);
  const dataDir = tmpDir(t);
  return {
    node, cniPath,
    held: () => (fs.existsSync(path.join(dataDir, 'mv')) ? fs.readdirSync(path.join(dataDir, 'mv')).filter((f) => f.startsWith('10.')) : []), // none: IPAM never ran
    conf: (o = {}) => ({
      cniVersion: '1.1.0', name: 'mv', type: 'rtnl', mode: 'macvlan', master: 'up0', mtu: 1400,
      ipam: { type: 'rtnl-ipam', dataDir, ranges: [[{ subnet: '10.70.0.0/24' }]] }, ...o,
    }),
    call: (pod, o = {}) => ({ netns: `/run/netns/${pod}`, node: node.name, cniPath, id: pod, ...o }),
  };
}

t.test('macvlan: created in the pod, pods ping each other, result and kernel agree', (t) => {
  const e = setup(t);
  const p1 = testNs(t, 'pa'), p2 = testNs(t, 'pb');
  const a = exec('ADD', e.conf({ runtimeConfig: { mac: '02:00:00:00:70:02' } }), e.call(p1.name));
  t.equal(a.code, 0, a.stdout + a.stderr);
  t.same(a.json.interfaces, [{ name: 'eth0', mac: '02:00:00:00:70:02', mtu: 1400, sandbox: `/run/netns/${p1.name}` }]);
  t.same(a.json.ips, [{ address: '10.70.0.2/24', gateway: '10.70.0.1', interface: 0 }]);
  const l = p1.ipJson('-d', 'link', 'show', 'eth0')[0];
  t.equal(l.linkinfo.info_kind, 'macvlan');
  t.equal(l.linkinfo.info_data.mode, 'bridge', 'macvlanMode default bridge');
  t.equal(l.address, '02:00:00:00:70:02');
  t.equal(l.mtu, 1400);
  t.ok(l.link_netnsid !== undefined, 'its parent is in another namespace');
  t.same(e.node.h.linkList({ kind: 'macvlan' }), [], 'nothing left in the node namespace');
  const b = exec('ADD', e.conf({ macvlanMode: 'bridge' }), e.call(p2.name));
  t.equal(b.code, 0, b.stdout);
  t.ok(ping(p1.name, '10.70.0.3'), 'pod 1 pings pod 2 through the master');
  const ok = exec('CHECK', e.conf({ prevResult: a.json }), e.call(p1.name));
  t.equal(ok.code, 0, `CHECK: ${ok.stdout}`);
  p1.ip('link', 'set', 'eth0', 'address', '02:00:00:00:70:99');
  const bad = exec('CHECK', e.conf({ prevResult: a.json }), e.call(p1.name));
  t.equal(bad.json?.code, 110);
  t.match(bad.json?.msg, /eth0 has MAC 02:00:00:00:70:99/);

  t.equal(exec('DEL', e.conf(), e.call(p1.name)).code, 0);
  t.throws(() => p1.h.linkGet('eth0'), { code: 'ENODEV' }, 'DEL removed the macvlan');
  t.equal(exec('DEL', e.conf(), e.call(p1.name)).code, 0, 'DEL again');
  const gone = `pa-gone-${process.pid}`;
  createNetns(gone).close();
  t.equal(exec('ADD', e.conf(), e.call(gone)).code, 0);
  deleteNetns(gone);
  t.equal(exec('DEL', e.conf(), e.call(gone)).code, 0, 'DEL after the netns is gone');
  t.equal(exec('DEL', e.conf(), e.call(p2.name, { netns: '' })).code, 0, 'DEL with an empty CNI_NETNS');
  assertHome(t);
  t.end();
});

t.test('macvlan: a missing master is a clear error', (t) => {
  const e = setup(t);
  const p = testNs(t, 'pa');
  const r = exec('ADD', e.conf({ master: 'nope0' }), e.call(p.name));
  t.equal(r.json?.code, 7);
  t.match(r.json?.msg, /master interface nope0 not found/);
  const st = exec('STATUS', e.conf({ master: 'nope0' }), e.call('', { netns: '' }));
  t.equal(st.json?.code, 50, 'STATUS: not available without its master');
  t.equal(exec('ADD', e.conf({ mode: 'macvlan', master: undefined }), e.call(p.name)).json?.code, 7, 'no master');
  t.end();
});

t.test('macvlan: a failed ADD keeps the pod\'s own interface of that name and releases the address', (t) => {
  const e = setup(t);
  const p = testNs(t, 'pa');
  p.h.linkAdd({ kind: 'bridge', name: 'eth0' });
  const r = exec('ADD', e.conf(), e.call(p.name));
  t.equal(r.code, 1);
  t.match(r.json?.msg, /already has an interface named eth0/);
  t.equal(p.h.linkGet('eth0').kind, 'bridge', 'the existing eth0 is untouched');
  t.same(e.held(), [], 'the address was released');
  t.end();
});

t.test('ipvlan: created in the pod, pods ping each other', { skip: kernelHasKind('ipvlan') ? false : 'this kernel has no ipvlan (EOPNOTSUPP)' }, (t) => {
  const e = setup(t);
  const p1 = testNs(t, 'pa'), p2 = testNs(t, 'pb');
  const conf = e.conf({ mode: 'ipvlan', ipvlanMode: 'l2' });
  const a = exec('ADD', conf, e.call(p1.name));
  t.equal(a.code, 0, a.stdout);
  t.equal(exec('ADD', conf, e.call(p2.name)).code, 0);
  t.equal(p1.ipJson('-d', 'link', 'show', 'eth0')[0].linkinfo.info_kind, 'ipvlan');
  t.ok(ping(p1.name, '10.70.0.3'));
  t.equal(exec('DEL', conf, e.call(p1.name)).code, 0);
  t.equal(exec('DEL', conf, e.call(p2.name)).code, 0);
  t.end();
});

t.test('ipvlan on this kernel: the kernel refusal is reported, nothing is kept', { skip: kernelHasKind('ipvlan') ? 'the kernel has ipvlan' : false }, (t) => {
  const e = setup(t);
  const p = testNs(t, 'pa');
  const r = exec('ADD', e.conf({ mode: 'ipvlan' }), e.call(p.name));
  t.equal(r.code, 1);
  t.match(r.json?.msg, /EOPNOTSUPP/);
  t.equal(exec('DEL', e.conf({ mode: 'ipvlan' }), e.call(p.name)).code, 0, 'DEL after the failed ADD');
  t.end();
});
