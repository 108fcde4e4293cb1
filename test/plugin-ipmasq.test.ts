// `ipMasq: true`: the rtnl plugin writes the nat rules the reference bridge
// plugin writes (compared with /usr/lib/cni/bridge run the same way, in a
// node namespace of its own), a pod reaches a peer that has no route back to
// the pod subnet (only masquerading makes that work), and DEL (also with an
// empty CNI_NETNS) and GC remove the rules. Also: keys neither the plugin
// nor the CNI spec defines are refused on ADD, and do not block DEL.
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { chainName } from '../src/plugin/ipmasq.js';
import { testNs, type TestNs } from './lib.js';
import { exec, installPlugins, ping, REF_DIR, tmpDir, type Call } from './plugin-runtime.js';

/** iptables-save's nat table of `ns` and family `fam`, without its timestamped comment lines. */
const natTable = (ns: string, fam: 4 | 6 = 4) =>
  execFileSync('ip', ['netns', 'exec', ns, fam === 4 ? 'iptables-save' : 'ip6tables-save', '-t', 'nat'], { encoding: 'utf8' })
    .split('\n').filter((l) => !l.startsWith('#')).join('\n');

function conf(type: 'rtnl' | 'bridge', dataDir: string, o: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0', name: 'mq', type, bridge: 'mqbr', isGateway: true, isDefaultGateway: true, ipMasq: true,
    ipam: { type: type === 'rtnl' ? 'rtnl-ipam' : 'host-local', dataDir, ranges: [[{ subnet: '10.66.0.0/24' }], [{ subnet: 'fd66::/64' }]] },
    ...o,
  };
}

interface Side { node: TestNs; call: (pod: TestNs, id: string, o?: Partial<Call>) => Call }

function side(t: Test, cniPath: string): Side {
  const node = testNs(t, 'qn');
  return { node, call: (pod, id, o = {}) => ({ netns: `/run/netns/${pod.name}`, node: node.name, cniPath, id, ...o }) };
}

t.test('ADD writes the reference bridge plugin\'s rules; DEL removes them', (t) => {
  const ours = side(t, installPlugins(t)), ref = side(t, REF_DIR);
  const c1 = conf('rtnl', tmpDir(t)), r1 = conf('bridge', tmpDir(t));
  const id = 'f00dfeed0123';
  const pod = testNs(t, 'qp');
  const a = exec('ADD', c1, ours.call(pod, id));
  t.equal(a.code, 0, a.stdout + a.stderr);
  const b = exec('ADD', r1, ref.call(testNs(t, 'qp'), id));
  t.equal(b.code, 0, b.stdout + b.stderr);
  t.same(a.json.ips.map((i: { address: string }) => i.address), b.json.ips.map((i: { address: string }) => i.address), 'the same addresses');
  const chain = chainName('mq', id);
  t.match(natTable(ours.node.name), `-A POSTROUTING -s 10.66.0.2/32 -m comment --comment "name: \\"mq\\" id: \\"${id}\\"" -j ${chain}`);
  t.equal(natTable(ours.node.name), natTable(ref.node.name), 'IPv4 nat table: as the reference plugin\'s');
  t.match(natTable(ours.node.name, 6), `-A ${chain} ! -d ff00::/8 -m comment --comment "name: \\"mq\\" id: \\"${id}\\"" -j MASQUERADE`);
  t.equal(natTable(ours.node.name, 6), natTable(ref.node.name, 6), 'IPv6 nat table: as the reference plugin\'s');

  const before = natTable(ours.node.name);
  const again = exec('ADD', c1, ours.call(pod, id));
  t.equal(JSON.parse(again.stdout).code, 4, 'a repeat ADD is refused');
  t.equal(natTable(ours.node.name), before, 'and the attachment\'s rules stay as they were (none removed, none added twice)');

  const d = exec('DEL', c1, ours.call(pod, id, { netns: '' }));
  t.equal(d.code, 0, d.stdout + d.stderr);
  for (const fam of [4, 6] as const) t.notMatch(natTable(ours.node.name, fam), /CNI-/, `DEL with an empty CNI_NETNS: no IPv${fam} chain or rule left`);
  t.equal(exec('DEL', c1, ours.call(pod, id)).code, 0, 'DEL again: nothing to remove, success');
  t.end();
});

t.test('a pod reaches a peer with no route back to the pod subnet: masqueraded', (t) => {
  const ours = side(t, installPlugins(t));
  const ext = testNs(t, 'qx');
  ours.node.h.linkAdd({ kind: 'veth', name: 'up0', up: true, peer: { name: 'up0', netns: ext.ns } });
  ours.node.h.addrAdd({ link: ours.node.h.linkGet('up0').index, address: '192.168.66.1/24' });
  ext.h.linkSetUp('up0');
  ext.h.addrAdd({ link: ext.h.linkGet('up0').index, address: '192.168.66.2/24' });
  const dataDir = tmpDir(t);
  const pod = testNs(t, 'qp');
  const without = exec('ADD', conf('rtnl', dataDir, { ipMasq: false }), ours.call(pod, 'plain'));
  t.equal(without.code, 0, without.stdout + without.stderr);
  t.notOk(ping(pod.name, '192.168.66.2', 1), 'without ipMasq: no answer (the peer cannot route to 10.66.0.0/24)');
  t.equal(exec('DEL', conf('rtnl', dataDir, { ipMasq: false }), ours.call(pod, 'plain')).code, 0);
  const a = exec('ADD', conf('rtnl', dataDir), ours.call(pod, 'masq'));
  t.equal(a.code, 0, a.stdout + a.stderr);
  t.ok(ping(pod.name, '192.168.66.2', 5), 'with ipMasq: the peer answers the node\'s address');
  t.end();
});

t.test('GC removes the rules of attachments not in the valid list', (t) => {
  const ours = side(t, installPlugins(t));
  const c = conf('rtnl', tmpDir(t), { cniVersion: '1.1.0' }); // GC is 1.1.0's
  for (const id of ['keep1', 'gone1']) t.equal(exec('ADD', c, ours.call(testNs(t, 'qp'), id)).code, 0);
  const g = exec('GC', { ...c, 'cni.dev/valid-attachments': [{ containerID: 'keep1', ifname: 'eth0' }] }, ours.call(testNs(t, 'qp'), ''));
  t.equal(g.code, 0, g.stdout + g.stderr);
  for (const fam of [4, 6] as const) {
    const nat = natTable(ours.node.name, fam);
    t.match(nat, `-j ${chainName('mq', 'keep1')}`, `IPv${fam}: the valid attachment's rules stay`);
    t.notMatch(nat, chainName('mq', 'gone1'), `IPv${fam}: the other's chain and rules are gone`);
  }
  t.end();
});

t.test('unknown keys: ADD refuses them (code 7, naming them); DEL goes on', (t) => {
  const ours = side(t, installPlugins(t));
  const dataDir = tmpDir(t);
  const pod = testNs(t, 'qp');
  const typo = conf('rtnl', dataDir, { ipMasq: false, hairpin: true, 'cni.dev/attachments': [], cniVersions: ['1.0.0'], args: {}, runtimeConfig: {}, capabilities: {} });
  const a = exec('ADD', typo, ours.call(pod, 'k1'));
  t.equal(a.code, 1);
  t.equal(a.json.code, 7);
  t.equal(a.json.msg, 'unknown field "hairpin"', 'only the unknown one: the spec\'s keys pass');
  t.match(a.json.details, '"hairpin" (did you mean "hairpinMode"?)');
  t.notOk(ours.node.h.linkList().some((l) => l.name === 'mqbr'), 'nothing made');
  t.equal(exec('DEL', typo, ours.call(pod, 'k1')).code, 0, 'DEL of a config with a typo succeeds');
  const mv = exec('ADD', conf('rtnl', dataDir, { mode: 'macvlan', master: 'up0', bridge: undefined, isGateway: undefined, isDefaultGateway: undefined }), ours.call(pod, 'k2'));
  t.same([mv.json.code, mv.json.msg], [2, 'unsupported field: ipMasq=true'], 'ipMasq in macvlan mode (no bridge) is refused as the other bridge options are');
  t.end();
});
