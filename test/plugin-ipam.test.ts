// The rtnl plugin runs rtnl-ipam in its own process (src/ipam/invoke.ts):
// the same ADD/CHECK/DEL/GC outcomes, errors and store as when the same IPAM
// is exec'd through CNI_PATH (forced here by installing it under another
// type name), and no rtnl-ipam executable needed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { testNs } from './lib.js';
import { exec, installPlugins, tmpDir, type Call } from './plugin-runtime.js';

const EXEC_TYPE = 'rtnl-ipam-exec';

t.test('in-process rtnl-ipam answers as the exec\'d one', (t) => {
  const cniPath = installPlugins(t);
  const bin = cniPath.split(':')[0]!;
  fs.symlinkSync(path.join(bin, 'rtnl-ipam'), path.join(bin, EXEC_TYPE));
  // Per IPAM type: a node namespace, a store, two pods; the same calls on each side.
  const sides = ['rtnl-ipam', EXEC_TYPE].map((type) => {
    const node = testNs(t, 'pn'), dataDir = tmpDir(t);
    const conf = (o: Record<string, unknown> = {}) => ({
      cniVersion: '1.1.0', name: 'net1', type: 'rtnl', bridge: 'br0', isGateway: true,
      ipam: { type, dataDir, ranges: [[{ subnet: '10.60.0.0/30' }], [{ subnet: 'fd60::/120' }]], routes: [{ dst: '0.0.0.0/0' }] }, ...o,
    });
    const files = () => fs.readdirSync(path.join(dataDir, 'net1')).sort().map((f) => [f, fs.readFileSync(path.join(dataDir, 'net1', f), 'utf8')]);
    const pods = [testNs(t, 'pp'), testNs(t, 'pp')];
    const call = (pod: number, o: Partial<Call>): Call => ({ netns: `/run/netns/${pods[pod]!.name}`, node: node.name, cniPath, id: `c${pod}`, ...o });
    return { conf, files, call };
  });
  // Each call through both sides; what a runtime sees compared, with the MACs (random) and pod namespace names masked.
  const added: unknown[] = []; // each side's last ADD result
  // `o`: config fields, or per side (its index).
  const both = (what: string, cmd: string, pod: number, o: Record<string, unknown> | ((side: number) => Record<string, unknown>) = {}, c: Partial<Call> = {}) => {
    const outs = sides.map((s, i) => exec(cmd, s.conf(typeof o === 'function' ? o(i) : o), s.call(pod, c)));
    const view = outs.map((r) => JSON.stringify({ code: r.code, out: r.json }).replace(/"mac":"[0-9a-f:]+"/g, '"mac":"…"').replace(/pp-[0-9a-f]{6}/g, 'pp-…'));
    t.equal(view[0], view[1], `${what}: ${view[0]!.slice(0, 100)}`);
    if (cmd === 'ADD' && outs[0]!.code === 0) added.splice(0, 2, ...outs.map((r) => r.json));
    return outs[0]!;
  };
  const a = both('ADD', 'ADD', 0);
  t.equal(a.code, 0, a.stdout + a.stderr);
  t.same(a.json.ips.map((ip: { address: string }) => ip.address), ['10.60.0.2/30', 'fd60::2/120']);
  t.equal(both('ADD, range exhausted', 'ADD', 1).json?.code, 100);
  t.equal(both('ADD, requested address taken', 'ADD', 1, {}, { args: 'IP=10.60.0.2' }).json?.code, 101);
  const prev = (i: number) => ({ prevResult: added[i] });
  t.equal(both('CHECK', 'CHECK', 0, prev).code, 0);
  t.equal(both('CHECK, nothing allocated', 'CHECK', 1, prev).json?.code, 102);
  t.equal(both('STATUS, exhausted', 'STATUS', 0).json?.code, 50);
  t.equal(both('GC keeping c0', 'GC', 0, { 'cni.dev/valid-attachments': [{ containerID: 'c0', ifname: 'eth0' }] }, { id: '', ifname: '', netns: '' }).code, 0);
  t.same(sides[0]!.files(), sides[1]!.files(), 'the same store after ADDs, failures and GC');
  t.equal(both('DEL', 'DEL', 0).code, 0);
  t.equal(both('DEL again', 'DEL', 0).code, 0);
  t.same(sides[0]!.files(), sides[1]!.files());
  t.same(sides[0]!.files().map(([f]) => f), ['last_reserved_ip.0', 'last_reserved_ip.1', 'lock'], 'all released');
  t.end();
});

t.test('rtnl-ipam needs no executable of its own: CNI_PATH without it', (t) => {
  const bin = installPlugins(t).split(':')[0]!;
  fs.rmSync(path.join(bin, 'rtnl-ipam'));
  const node = testNs(t, 'pn'), pod = testNs(t, 'pp'), dataDir = tmpDir(t);
  const conf = { cniVersion: '1.1.0', name: 'net1', type: 'rtnl', ipam: { type: 'rtnl-ipam', dataDir, subnet: '10.61.0.0/24' } };
  const c: Call = { netns: `/run/netns/${pod.name}`, node: node.name, cniPath: bin, id: 'c0' };
  const a = exec('ADD', conf, c);
  t.equal(a.code, 0, a.stdout + a.stderr);
  t.same(pod.ipJson('addr', 'show', 'eth0')[0].addr_info.filter((x: { scope: string }) => x.scope === 'global').map((x: { local: string }) => x.local), ['10.61.0.2'], 'the address is on the pod');
  t.equal(exec('DEL', conf, c).code, 0);
  t.same(fs.readdirSync(path.join(dataDir, 'net1')).filter((f) => f.startsWith('10.')), [], 'released');
  const blocked = path.join(dataDir, 'a-file');
  fs.writeFileSync(blocked, '');
  const failing = exec('DEL', { ...conf, ipam: { ...conf.ipam, dataDir: blocked } }, c);
  t.match([failing.code, failing.json], [1, { code: 5, msg: /cannot open the store/ }], 'an IPAM error on DEL is the plugin\'s error JSON, not a crash');
  const other = exec('ADD', { ...conf, ipam: { ...conf.ipam, type: 'host-local-missing' } }, c);
  t.match(other.json, { code: 7, msg: /failed to find plugin "host-local-missing"/ }, 'other types are still looked up in CNI_PATH');
  t.end();
});
