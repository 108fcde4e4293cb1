// The rtnl plugin and the library against hostile input and faults (issue
// 10): a repeat or failed ADD never harms an earlier attachment; NUL bytes
// and over-long names refused before anything reaches the kernel; the right
// CNI codes; a full IPAM store; long container ids; odd values in the API.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { invokePlugin } from '../src/cni/skel.js';
import { Handle, RtnlInputError, createNetns, openNetns } from '../src/index.js';
import { hostVethName, rtnlHandlers } from '../src/plugin/plugin.js';
import { testNs, type TestNs } from './lib.js';
import { exec, installPlugins, tmpDir, type Call } from './plugin-runtime.js';

const cniPath = installPlugins(t);

/** What fn throws: [its class name, the field it names], or 'returned'. */
function thrown(fn: () => unknown): [string, string | undefined] | 'returned' {
  try {
    fn();
    return 'returned';
  } catch (e) {
    return [(e as Error).constructor.name, e instanceof RtnlInputError ? e.field : undefined];
  }
}

interface Env {
  node: TestNs;
  dataDir: string;
  conf: (o?: Record<string, unknown>) => Record<string, any>;
  call: (pod: string, o?: Partial<Call>) => Call;
  store: () => string[];
}

function setup(t: Test, dataDir = tmpDir(t)): Env {
  const node = testNs(t, 'hn');
  return {
    node, dataDir,
    conf: (o = {}) => ({
      cniVersion: '1.1.0', name: 'hostile', type: 'rtnl', isGateway: true,
      ipam: { type: 'rtnl-ipam', dataDir, ranges: [[{ subnet: '10.51.0.0/24' }]] }, ...o,
    }),
    call: (pod, o = {}) => ({ netns: `/run/netns/${pod}`, node: node.name, cniPath, id: pod, ...o }),
    store: () => { try { return fs.readdirSync(path.join(dataDir, 'hostile')).sort(); } catch { return []; } },
  };
}

/** Everything an attachment is made of, as the kernel and the store have it. */
function attachment(e: Env, pod: TestNs, id: string) {
  const eth0 = pod.h.linkList().find((l) => l.name === 'eth0');
  const host = e.node.h.linkList().find((l) => l.name === hostVethName(id, 'eth0'));
  return {
    eth0: eth0 && { index: eth0.index, mac: eth0.address, up: eth0.up, addrs: pod.h.addrList({ link: eth0.index, family: 4 }).map((a) => a.address) },
    host: host && { index: host.index, master: host.master },
    store: e.store(),
  };
}

t.test('a repeat ADD is refused and leaves the attachment exactly as it was, whatever makes it fail', (t) => {
  const e = setup(t);
  const p1 = testNs(t, 'hp'), p2 = testNs(t, 'hp');
  const first = exec('ADD', e.conf(), e.call(p1.name, { id: 'c1' }));
  t.equal(first.code, 0, first.stdout + first.stderr);
  const before = attachment(e, p1, 'c1');
  t.ok(before.eth0 && before.host, 'attached');

  const badNetns = exec('ADD', e.conf(), e.call(p1.name, { id: 'c1', netns: '/run/netns/missing-ns' }));
  t.same([badNetns.json?.code, badNetns.json?.msg], [3, 'container namespace /run/netns/missing-ns not found'], 'a missing CNI_NETNS: error 3');
  t.same(attachment(e, p1, 'c1'), before, 'untouched by the failed ADD: eth0, host veth, address');

  const again = exec('ADD', e.conf(), e.call(p1.name, { id: 'c1' }));
  t.equal(again.json?.code, 4, `the same ADD again: error 4 (${again.stdout})`);
  t.match(again.json?.msg, /already has an interface named eth0/);
  t.same(attachment(e, p1, 'c1'), before, 'untouched: same MAC, same ifindex, same address');

  const elsewhere = exec('ADD', e.conf(), e.call(p2.name, { id: 'c1' }));
  t.equal(elsewhere.json?.code, 4, `the same (container, ifname) into another namespace: error 4 (${elsewhere.stdout})`);
  t.same(p2.h.linkList().map((l) => l.name), ['lo'], 'nothing made there');
  t.same(attachment(e, p1, 'c1'), before, 'the first attachment untouched');

  t.equal(exec('CHECK', { ...e.conf(), prevResult: first.json }, e.call(p1.name, { id: 'c1' })).code, 0, 'the cached result still CHECKs');
  t.equal(exec('DEL', e.conf(), e.call(p1.name, { id: 'c1' })).code, 0);
  t.same(attachment(e, p1, 'c1'), { eth0: undefined, host: undefined, store: ['last_reserved_ip.0', 'lock'] });
  t.end();
});

t.test('CNI_NETNS that is not a network namespace (a file): error 4, nothing made', (t) => {
  const e = setup(t);
  const file = path.join(tmpDir(t), 'not-a-netns');
  fs.writeFileSync(file, '');
  const r = exec('ADD', e.conf(), e.call('x', { netns: file }));
  t.same([r.json?.code, r.json?.details], [4, `${file} is not a network namespace`]);
  t.same([e.node.h.linkList({ kind: 'veth' }), e.store().filter((f) => f.startsWith('10.'))], [[], []]);
  t.end();
});

t.test('NUL bytes and multibyte names: refused before anything reaches the kernel', async (t) => {
  const pod = testNs(t, 'hz');
  const dataDir = tmpDir(t);
  const conf = { cniVersion: '1.1.0', name: 'nul', type: 'rtnl', bridge: 'hz0', ipam: { type: 'rtnl-ipam', dataDir, ranges: [[{ subnet: '10.52.0.0/24' }]] } };
  const env = (o: Record<string, string>) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'z1', CNI_NETNS: `/run/netns/${pod.name}`, CNI_IFNAME: 'eth0', CNI_PATH: cniPath, ...o });
  // The resident helper's frames carry environment values with NUL bytes; execve cannot, so the skeleton is called directly.
  for (const [what, o, c, code] of [
    ['CNI_IFNAME with a NUL', { CNI_IFNAME: 'eth0\0x' }, conf, 4],
    ['a multibyte CNI_IFNAME over 15 bytes', { CNI_IFNAME: 'éééééééé' }, conf, 4],
    ['a bridge name with a NUL', {}, { ...conf, bridge: 'hz0\0x' }, 7],
    ['a bridge name over 15 bytes', {}, { ...conf, bridge: 'ééééééééé' }, 7],
  ] as const) {
    const out = await invokePlugin(rtnlHandlers, env(o), JSON.stringify(c));
    t.equal(JSON.parse(out.stdout).code, code, `${what}: error ${code} (${out.stdout})`);
  }
  const h = new Handle();
  t.teardown(() => h.close());
  const mine = new Set(['hz0', hostVethName('z1', 'eth0'), hostVethName('z1', 'eth0\0x'), hostVethName('z1', 'éééééééé')]);
  t.same([h.linkList().filter((l) => mine.has(l.name)), pod.h.linkList().map((l) => l.name)], [[], ['lo']], 'no link made');
  t.notOk(fs.existsSync(path.join(dataDir, 'nul')), 'IPAM never ran: no address reserved');

  // The library: a NUL would cut the name in the kernel, naming another link.
  pod.h.linkAdd({ kind: 'bridge', name: 'br0' });
  const refused = (fn: () => unknown, field: string) => t.same(thrown(fn), ['RtnlInputError', field], `refused, naming ${field}`);
  refused(() => pod.h.linkDel('br0\0tmp'), 'link');
  refused(() => pod.h.linkGet('br0\0tmp'), 'link');
  refused(() => pod.h.linkAdd({ kind: 'bridge', name: 'br1\0x' }), 'name');
  refused(() => pod.h.linkAdd({ kind: 'veth', name: 'v1', peer: { name: 'v2\0x' } }), 'peer.name');
  refused(() => pod.h.linkSet('br0', { alias: 'a\0b' }), 'alias');
  refused(() => pod.h.addrAdd({ link: pod.h.linkGet('br0').index, address: '10.9.0.1/24', label: 'br0\0x' }), 'label');
  refused(() => pod.h.linkAdd({ kind: 'bridge', name: 'éééééééé' }), 'name');
  refused(() => openNetns({ path: `/run/netns/${pod.name}\0x` }), 'netns');
  refused(() => createNetns('a\0b'), 'name');
  t.same(pod.h.linkList().map((l) => [l.name, l.alias]), [['lo', undefined], ['br0', undefined]], 'br0 still there, no alias; nothing else made');
});

t.test('a full IPAM store: error 5 naming the path, no temp file left, STATUS says the store is unusable', (t) => {
  const dataDir = tmpDir(t);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'rtnl-full', dataDir], { encoding: 'utf8' });
  t.equal(mount.status, 0, mount.stderr);
  t.teardown(() => { spawnSync('umount', [dataDir]); });
  const e = setup(t, dataDir);
  fs.mkdirSync(path.join(dataDir, 'hostile'));
  fs.closeSync(fs.openSync(path.join(dataDir, 'hostile', 'lock'), 'a'));
  const filler = path.join(dataDir, 'filler');
  try {
    for (;;) fs.appendFileSync(filler, Buffer.alloc(4096));
  } catch (x) {
    t.equal((x as NodeJS.ErrnoException).code, 'ENOSPC', 'the store\'s filesystem is full');
  }
  const pod = testNs(t, 'hs');
  const add = exec('ADD', e.conf(), e.call(pod.name));
  t.equal(add.json?.code, 5, `ADD: error 5 (${add.stdout})`);
  t.match(add.json?.msg, `cannot write to the store ${path.join(dataDir, 'hostile')}`);
  t.match(add.json?.details, /ENOSPC/);
  t.same(e.store(), ['lock'], 'no temp file, no reservation');
  t.same([e.node.h.linkList({ kind: 'veth' }), pod.h.linkList().map((l) => l.name)], [[], ['lo']], 'no link left');
  const status = exec('STATUS', e.conf(), e.call(pod.name));
  t.equal(status.json?.code, 50, `STATUS: error 50 (${status.stdout})`);
  t.match(status.json?.msg, /is not writable/);
  t.same(e.store(), ['lock'], 'STATUS left no temp file either');
  t.end();
});

t.test('a 300-character container id attaches, CHECKs, survives GC and DELs', (t) => {
  const e = setup(t);
  const pod = testNs(t, 'hl');
  const id = `c${'0123456789abcdef'.repeat(19)}`.slice(0, 300);
  const add = exec('ADD', e.conf(), e.call(pod.name, { id }));
  t.equal(add.code, 0, add.stdout + add.stderr);
  const host = e.node.h.linkGet(hostVethName(id, 'eth0'));
  t.ok(host.alias!.startsWith('rtnl:hostile:c0123456789'), `a bounded alias: ${host.alias}`);
  t.ok(Buffer.byteLength(host.alias!) <= 255);
  t.equal(exec('CHECK', { ...e.conf(), prevResult: add.json }, e.call(pod.name, { id })).code, 0, 'CHECK');
  const gc = exec('GC', { ...e.conf(), 'cni.dev/valid-attachments': [{ containerID: id, ifname: 'eth0' }] }, e.call(pod.name, { id: '' }));
  t.equal(gc.code, 0, gc.stdout);
  t.ok(e.node.h.linkList().some((l) => l.name === host.name), 'GC kept it (the alias it compares is derived the same way)');
  t.equal(exec('DEL', e.conf(), e.call(pod.name, { id })).code, 0);
  t.same([e.node.h.linkList({ kind: 'veth' }), e.store().filter((f) => f.startsWith('10.'))], [[], []]);
  t.end();
});

t.test('CHECK with a prevResult route outside the kernel\'s ranges: error 7', (t) => {
  const e = setup(t);
  const pod = testNs(t, 'hr');
  const add = exec('ADD', e.conf(), e.call(pod.name));
  t.equal(add.code, 0);
  for (const route of [{ dst: '10.9.0.0/16', table: 2 ** 32 }, { dst: '10.9.0.0/16', table: -1 }, { dst: '10.9.0.0/16', scope: 256 }]) {
    const prev = { ...add.json, routes: [route] };
    const r = exec('CHECK', { ...e.conf(), prevResult: prev }, e.call(pod.name));
    t.equal(r.json?.code, 7, `${JSON.stringify(route)}: error 7 (${r.stdout})`);
  }
  t.equal(exec('DEL', e.conf(), e.call(pod.name)).code, 0);
  t.end();
});

t.test('the library: odd values give RtnlInputError naming the field; MTU 2^31 and bad list filters refused', (t) => {
  const pod = testNs(t, 'ho');
  const h = pod.h;
  const refused = (fn: () => unknown, field: string, what: string) => t.same(thrown(fn), ['RtnlInputError', field], `${what}: RtnlInputError naming ${field}`);
  const bare = Object.create(null) as never;
  refused(() => h.linkAdd({ kind: 'bridge', name: 'b1', mtu: bare }), 'mtu', 'Object.create(null) as mtu');
  refused(() => h.linkAdd({ kind: 'bridge', name: 'b1', up: bare }), 'up', 'as up');
  refused(() => h.linkAdd({ kind: 'bridge', name: 'b1', address: bare }), 'address', 'as address');
  refused(() => h.linkAdd({ kind: bare, name: 'b1' } as never), 'kind', 'as kind');
  refused(() => h.addrAdd({ link: 1, address: bare }), 'address', 'as an address');
  refused(() => h.addrAdd({ link: 1, address: '10.0.0.1/24', scope: bare }), 'scope', 'as a scope');
  refused(() => h.neighAdd({ link: 1, address: bare, lladdr: '02:00:00:00:00:01' }), 'address', 'as a neighbour address');
  refused(() => h.linkAdd({ kind: 'bridge', name: 'b1', mtu: 2 ** 31 }), 'mtu', 'MTU 2^31');
  refused(() => h.linkSet(1, { mtu: 2 ** 32 - 1 }), 'mtu', 'MTU 2^32-1 in linkSet');
  refused(() => h.linkList(null as never), 'filter', 'linkList(null)');
  refused(() => h.linkList(-1 as never), 'filter', 'linkList(-1)');
  refused(() => h.linkList('x' as never), 'filter', 'linkList(\'x\')');
  refused(() => h.addrList([] as never), 'filter', 'addrList([])');
  refused(() => h.routeList(7 as never), 'filter', 'routeList(7)');
  t.same(h.linkList().map((l) => l.name), ['lo'], 'nothing made');
  h.linkAdd({ kind: 'bridge', name: 'b1', mtu: 1500 });
  t.same(thrown(() => h.linkSet('b1', { mtu: 2 ** 31 - 1 })), ['NetlinkError', undefined], 'below 2^31 the kernel is asked (and refuses)');
  t.end();
});
