// The rtnl plugin in bridge mode, exec'd as a runtime does inside a "node"
// namespace, pods in their own namespaces: results per spec version, the
// kernel state read back (rtnl and iproute2), pings, CHECK, idempotent DEL,
// rollback of a failed ADD, STATUS and GC delegated to IPAM.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { createNetns, deleteNetns, Handle } from '../src/index.js';
import { hostVethName } from '../src/plugin/plugin.js';
import { assertHome, testNs, type TestNs } from './lib.js';
import { exec, installPlugins, ping, tmpDir, type Call } from './plugin-runtime.js';

interface Env {
  node: TestNs;
  cniPath: string;
  dataDir: string;
  conf: (o?: Record<string, unknown>) => Record<string, any>;
  call: (pod: string, o?: Partial<Call>) => Call;
  store: () => string[];
}

function setup(t: Test): Env {
  const node = testNs(t, 'pn');
  const cniPath = installPlugins(t);
  const dataDir = tmpDir(t);
  return {
    node, cniPath, dataDir,
    conf: (o = {}) => ({
      cniVersion: '1.1.0', name: 'net1', type: 'rtnl', isGateway: true, isDefaultGateway: true, mtu: 1400,
      ipam: { type: 'rtnl-ipam', dataDir, ranges: [[{ subnet: '10.50.0.0/24' }], [{ subnet: 'fd50::/64' }]] }, ...o,
    }),
    call: (pod, o = {}) => ({ netns: `/run/netns/${pod}`, node: node.name, cniPath, id: pod, ...o }),
    // No directory: IPAM never ran (an ADD refused before it).
    store: () => (fs.existsSync(path.join(dataDir, 'net1')) ? fs.readdirSync(path.join(dataDir, 'net1')).filter((f) => /^[0-9a-f]+[.:]/.test(f)).sort() : []),
  };
}

t.test('bridge ADD: result, kernel state, pings to the gateway and between pods', (t) => {
  const e = setup(t);
  const p1 = testNs(t, 'pp'), p2 = testNs(t, 'pp');
  const forwarding = (v?: string) => e.node.ns.run(() => [
    '/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding',
  ].map((f) => { if (v !== undefined) fs.writeFileSync(f, v); return fs.readFileSync(f, 'utf8').trim(); }));
  forwarding('0');
  const a = exec('ADD', e.conf(), e.call(p1.name));
  t.equal(a.code, 0, a.stdout + a.stderr);
  const r = a.json;
  const host = hostVethName(p1.name, 'eth0');
  t.equal(r.cniVersion, '1.1.0');
  t.same(r.interfaces.map((i: any) => i.name), ['cni0', host, 'eth0'], 'bridge, host veth, container interface');
  t.equal(r.interfaces[2].sandbox, `/run/netns/${p1.name}`);
  t.notOk(r.interfaces[0].sandbox ?? r.interfaces[1].sandbox, 'host interfaces have no sandbox');
  t.same(r.ips, [
    { address: '10.50.0.2/24', gateway: '10.50.0.1', interface: 2 },
    { address: 'fd50::2/64', gateway: 'fd50::1', interface: 2 },
  ]);
  t.same(r.routes, [{ dst: '0.0.0.0/0', gw: '10.50.0.1' }, { dst: '::/0', gw: 'fd50::1' }], 'isDefaultGateway: a default route per family');
  t.same(r.dns, {});

  // The pod, read back through rtnl and iproute2.
  const eth0 = p1.h.linkGet('eth0');
  t.equal(eth0.address, r.interfaces[2].mac, 'container MAC as reported');
  t.equal(eth0.mtu, 1400);
  t.ok(eth0.up);
  const ipAddrs = p1.ipJson('addr', 'show', 'eth0')[0].addr_info.filter((x: any) => x.scope === 'global');
  t.same(ipAddrs.map((x: any) => `${x.local}/${x.prefixlen}`), ['10.50.0.2/24', 'fd50::2/64'], 'iproute2 sees the addresses');
  t.notOk(ipAddrs.some((x: any) => x.tentative), 'IPv6 address not tentative (nodad)');
  const routes = p1.ipJson('route', 'show', 'default');
  t.same(routes.map((x: any) => [x.dst, x.gateway, x.dev]), [['default', '10.50.0.1', 'eth0']]);
  t.same(p1.ipJson('-6', 'route', 'show', 'default').map((x: any) => x.gateway), ['fd50::1']);

  // The node: bridge with the gateways, host veth as its port, MAC as reported.
  const br = e.node.ipJson('-d', 'link', 'show', 'cni0')[0];
  t.equal(br.linkinfo.info_kind, 'bridge');
  t.equal(br.address, r.interfaces[0].mac, 'bridge MAC as reported');
  t.equal(br.mtu, 1400);
  const gws = e.node.ipJson('addr', 'show', 'cni0')[0].addr_info.filter((x: any) => x.scope === 'global');
  t.same(gws.map((x: any) => `${x.local}/${x.prefixlen}`), ['10.50.0.1/24', 'fd50::1/64'], 'isGateway: gateways on cni0');
  t.same(forwarding(), ['1', '1'], 'isGateway: the node forwards IPv4 and IPv6');
  const hv = e.node.ipJson('-d', 'link', 'show', host)[0];
  t.equal(hv.master, 'cni0', 'host veth is a port of cni0');
  t.equal(hv.address, r.interfaces[1].mac);
  t.equal(hv.mtu, 1400);

  const b = exec('ADD', e.conf(), e.call(p2.name));
  t.equal(b.code, 0, b.stdout);
  t.equal(b.json.interfaces[0].mac, r.interfaces[0].mac, 'the bridge is reused and keeps its MAC');
  t.equal(e.node.h.linkList({ kind: 'bridge' }).length, 1, 'one bridge');
  t.ok(ping(p1.name, '10.50.0.1'), 'pod 1 pings the gateway');
  t.ok(ping(p1.name, '10.50.0.3'), 'pod 1 pings pod 2');
  t.ok(ping(p2.name, 'fd50::2'), 'pod 2 pings pod 1 over IPv6');
  t.same(e.store(), ['10.50.0.2', '10.50.0.3', 'fd50::2', 'fd50::3']);
  assertHome(t);
  t.end();
});

t.test('result shape per cniVersion', (t) => {
  const e = setup(t);
  const pod = testNs(t, 'pp');
  for (const v of ['1.1.0', '1.0.0', '0.4.0', '0.3.1']) {
    const a = exec('ADD', e.conf({ cniVersion: v }), e.call(pod.name));
    t.equal(a.code, 0, `${v}: ${a.stdout}`);
    const r = a.json;
    t.equal(r.cniVersion, v, `${v}: cniVersion`);
    t.same(Object.keys(r).sort(), ['cniVersion', 'dns', 'interfaces', 'ips', 'routes'], `${v}: top-level keys`);
    t.equal(r.interfaces.length, 3);
    for (const i of r.interfaces) t.match(i.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, `${v}: ${i.name} has a MAC`);
    const old = v === '0.4.0' || v === '0.3.1';
    t.same(r.ips.map((ip: any) => ip.version), old ? ['4', '6'] : [undefined, undefined], `${v}: ips[].version ${old ? 'present' : 'absent'}`);
    t.equal(r.interfaces[2].mtu, v === '1.1.0' ? 1400 : undefined, `${v}: interface mtu only in 1.1.0`);
    t.ok(r.ips.every((ip: any) => ip.interface === 2), `${v}: ips point at the container interface`);
    t.equal(exec('DEL', e.conf({ cniVersion: v }), e.call(pod.name)).code, 0, `${v}: DEL`);
  }
  t.same(e.store(), [], 'everything released');
  t.end();
});

t.test('CHECK passes, then fails naming the missing address or route', (t) => {
  const e = setup(t);
  const pod = testNs(t, 'pp');
  const a = exec('ADD', e.conf(), e.call(pod.name));
  t.equal(a.code, 0, a.stdout);
  const withPrev = e.conf({ prevResult: a.json });
  const ok = exec('CHECK', withPrev, e.call(pod.name));
  t.equal(ok.code, 0, `CHECK ok: ${ok.stdout}`);
  t.equal(ok.stdout, '');
  const old = exec('CHECK', { ...withPrev, cniVersion: '0.4.0' }, e.call(pod.name));
  t.equal(old.code, 0, `CHECK with a 0.4.0 prevResult: ${old.stdout}`);

  pod.ip('route', 'del', 'default');
  const noRoute = exec('CHECK', withPrev, e.call(pod.name));
  t.equal(noRoute.code, 1);
  t.equal(noRoute.json.code, 110);
  t.match(noRoute.json.msg, /route 0\.0\.0\.0\/0 via 10\.50\.0\.1 missing/);
  pod.ip('route', 'add', 'default', 'via', '10.50.0.1');

  pod.ip('addr', 'del', 'fd50::2/64', 'dev', 'eth0');
  const noAddr = exec('CHECK', withPrev, e.call(pod.name));
  t.equal(noAddr.code, 1, 'CHECK fails after the address is deleted');
  t.equal(noAddr.json.code, 110);
  t.match(noAddr.json.msg, /address fd50::2\/64 missing on eth0/);

  e.node.ip('link', 'set', hostVethName(pod.name, 'eth0'), 'nomaster');
  const detached = exec('CHECK', withPrev, e.call(pod.name));
  t.equal(detached.json.code, 110);
  t.match(detached.json.msg, /host interface rtv[0-9a-f]{12} is not a port of cni0/, 'host veth taken off the bridge');
  const noPrev = exec('CHECK', e.conf(), e.call(pod.name));
  t.equal(noPrev.json.code, 7, 'CHECK without prevResult');
  t.end();
});

t.test('DEL is idempotent: twice, after the netns is gone, with an empty CNI_NETNS', (t) => {
  const e = setup(t);
  const p1 = testNs(t, 'pp');
  t.equal(exec('ADD', e.conf(), e.call(p1.name)).code, 0);
  t.equal(exec('DEL', e.conf(), e.call(p1.name)).code, 0, 'DEL');
  t.throws(() => e.node.h.linkGet(hostVethName(p1.name, 'eth0')), { code: 'ENODEV' }, 'host veth gone');
  t.throws(() => p1.h.linkGet('eth0'), { code: 'ENODEV' }, 'pod interface gone');
  const again = exec('DEL', e.conf(), e.call(p1.name));
  t.equal(again.code, 0, 'DEL again');
  t.equal(again.stdout, '');

  // The container's namespace deleted before DEL.
  const name = `pp-gone-${process.pid}`;
  createNetns(name).close();
  t.equal(exec('ADD', e.conf(), e.call(name)).code, 0);
  deleteNetns(name);
  t.equal(exec('DEL', e.conf(), e.call(name)).code, 0, 'DEL after the netns is deleted');
  t.equal(exec('DEL', e.conf(), e.call(name, { netns: '' })).code, 0, 'DEL with empty CNI_NETNS for a gone container');

  // An empty CNI_NETNS while the namespace still exists (ctr run --rm): the veth is found by name.
  const p3 = testNs(t, 'pp');
  t.equal(exec('ADD', e.conf(), e.call(p3.name)).code, 0);
  t.equal(e.store().length, 2);
  t.equal(exec('DEL', e.conf(), e.call(p3.name, { netns: '' })).code, 0, 'DEL with empty CNI_NETNS');
  t.throws(() => p3.h.linkGet('eth0'), { code: 'ENODEV' }, 'pod interface removed through its host end');
  t.same(e.store(), [], 'IPAM released in every case');
  t.same(e.node.h.linkList({ kind: 'veth' }), [], 'no veth left on the node');
  t.equal(exec('DEL', e.conf(), e.call('never-added')).code, 0, 'DEL of an unknown container, missing netns path');
  t.end();
});

t.test('container MAC from runtimeConfig, CNI_ARGS; a bad mode refused', (t) => {
  const e = setup(t);
  const p1 = testNs(t, 'pp'), p2 = testNs(t, 'pp');
  const a = exec('ADD', e.conf({ runtimeConfig: { mac: '02:aa:bb:cc:dd:01' } }), e.call(p1.name));
  t.equal(a.json.interfaces[2].mac, '02:aa:bb:cc:dd:01');
  t.equal(p1.h.linkGet('eth0').address, '02:aa:bb:cc:dd:01', 'runtimeConfig.mac applied');
  const b = exec('ADD', e.conf(), e.call(p2.name, { args: 'IgnoreUnknown=1;MAC=02:aa:bb:cc:dd:02' }));
  t.equal(p2.h.linkGet('eth0').address, '02:aa:bb:cc:dd:02', 'CNI_ARGS MAC applied');
  t.equal(b.json.interfaces[2].mac, '02:aa:bb:cc:dd:02');
  const bad = exec('ADD', e.conf({ mode: 'tunnel' }), e.call(p1.name, { id: 'y' }));
  t.equal(bad.json?.code, 7);
  t.match(bad.json?.msg, /invalid mode/);
  t.end();
});

t.test('hairpinMode and promiscMode: host veth in hairpin mode, bridge promiscuous, CHECK verifies both', (t) => {
  const e = setup(t);
  const [p1, p2, p3, p4] = [1, 2, 3, 4].map(() => testNs(t, 'pp'));
  const host = (pod: TestNs) => hostVethName(pod.name, 'eth0');
  const port = (pod: TestNs) => e.node.ipJson('-d', 'link', 'show', host(pod))[0].linkinfo.info_slave_data;
  const promisc = (br: string) => e.node.ipJson('link', 'show', br)[0].flags.includes('PROMISC');
  t.equal(exec('ADD', e.conf(), e.call(p1!.name)).code, 0);
  t.equal(port(p1!).hairpin, false, 'hairpin off by default');
  t.notOk(promisc('cni0'), 'bridge not promiscuous by default');

  const on = e.conf({ hairpinMode: true, promiscMode: true });
  const a = exec('ADD', on, e.call(p2!.name));
  t.equal(a.code, 0, a.stdout + a.stderr);
  t.equal(port(p2!).hairpin, true, 'hairpinMode: the host veth is in hairpin mode (iproute2)');
  t.match(e.node.h.linkGet(host(p2!)), { bridgePort: { hairpin: true }, alias: `rtnl:net1:${p2!.name}:eth0` }, 'and rtnl agrees; the alias went in the same request');
  t.equal(port(p1!).hairpin, false, "the other pod's port is left alone");
  t.ok(promisc('cni0'), 'promiscMode: the existing bridge is made promiscuous');
  t.equal(exec('CHECK', { ...on, prevResult: a.json }, e.call(p2!.name)).code, 0, 'CHECK passes');
  e.node.h.linkSet(host(p2!), { bridgePort: { hairpin: false } });
  const noHairpin = exec('CHECK', { ...on, prevResult: a.json }, e.call(p2!.name));
  t.equal(noHairpin.json?.code, 110, 'CHECK fails without hairpin');
  t.match(noHairpin.json?.msg, /not in hairpin mode/);
  e.node.h.linkSet(host(p2!), { bridgePort: { hairpin: true } });
  e.node.h.linkSet('cni0', { promisc: false });
  const noPromisc = exec('CHECK', { ...on, prevResult: a.json }, e.call(p2!.name));
  t.equal(noPromisc.json?.code, 110, 'CHECK fails with the bridge not promiscuous');
  t.match(noPromisc.json?.msg, /cni0 is not in promiscuous mode/);

  // A bridge created by such an ADD is promiscuous from its creation request; vxlan mode's too.
  t.equal(exec('ADD', e.conf({ bridge: 'cni1', promiscMode: true }), e.call(p3!.name)).code, 0);
  t.ok(promisc('cni1'), 'a new bridge created promiscuous');
  const vx = exec('ADD', e.conf({ mode: 'vxlan', vni: 5, local: '192.0.2.1', stateDir: path.join(tmpDir(t), 'state'), hairpinMode: true, promiscMode: true }), e.call(p4!.name));
  t.equal(vx.code, 0, vx.stdout + vx.stderr);
  t.ok(promisc('br5'), 'vxlan mode: br5 promiscuous');
  t.equal(port(p4!).hairpin, true, 'vxlan mode: hairpin on the host veth');

  for (const k of ['hairpinMode', 'promiscMode']) {
    const r = exec('ADD', e.conf({ mode: 'macvlan', master: 'eth9', [k]: true }), e.call(p1!.name, { id: 'x' }));
    t.equal(r.json?.code, 2, `${k} in macvlan mode: error 2 (unsupported field)`);
    t.match(r.json?.msg, `unsupported field: ${k}=true`);
    t.match(r.json?.details, /no bridge/);
  }
  t.equal(exec('ADD', e.conf({ mode: 'macvlan', master: 'eth9', hairpinMode: false }), e.call(p1!.name, { id: 'y' })).json?.code, 7, 'false is no request: the missing master is the error');
  t.end();
});

t.test('a failed ADD leaves no link and no address behind', (t) => {
  const e = setup(t);
  const pod = testNs(t, 'pp');
  pod.h.linkAdd({ kind: 'bridge', name: 'eth0' }); // the name the pod interface needs is taken
  const a = exec('ADD', e.conf(), e.call(pod.name));
  t.equal(a.code, 1);
  t.match(a.json.msg, /already has an interface named eth0/);
  t.same(e.store(), [], 'IPAM released');
  t.same(e.node.h.linkList({ kind: 'veth' }), [], 'no host veth');

  // IPAM fails while the links are being made (they overlap): the links are undone.
  const p2 = testNs(t, 'pp');
  const one = e.conf({ ipam: { ...e.conf().ipam, ranges: [[{ subnet: '10.50.0.0/24', rangeStart: '10.50.0.9', rangeEnd: '10.50.0.9' }]] } });
  t.equal(exec('ADD', one, e.call(p2.name, { id: 'first' })).code, 0);
  const full = exec('ADD', one, e.call(p2.name, { id: 'second', ifname: 'eth1' }));
  t.equal(full.code, 1);
  t.match(full.json?.msg, /no IP addresses available|exhausted/i, `IPAM's error passed on: ${full.json?.msg}`);
  t.throws(() => p2.h.linkGet('eth1'), { code: 'ENODEV' }, 'no pod interface left');
  t.throws(() => e.node.h.linkGet(hostVethName('second', 'eth1')), { code: 'ENODEV' }, 'no host veth left');
  t.end();
});

t.test('STATUS and GC: delegated to IPAM; GC also removes stale host veths of this network', (t) => {
  const e = setup(t);
  const p1 = testNs(t, 'pp'), p2 = testNs(t, 'pp');
  exec('ADD', e.conf(), e.call(p1.name));
  exec('ADD', e.conf(), e.call(p2.name));
  // A port of cni0 that is not this network's: GC must leave it alone.
  e.node.h.linkAdd({ kind: 'veth', name: 'other0', master: e.node.h.linkGet('cni0').index, peer: { name: 'other0p' } });
  e.node.h.linkSet('other0', { alias: 'rtnl:othernet:x:eth0' });
  t.equal(exec('STATUS', e.conf(), e.call('', { netns: '' })).code, 0, 'STATUS ok');
  const full = e.conf({ ipam: { ...e.conf().ipam, ranges: [[{ subnet: '10.50.0.0/24', rangeStart: '10.50.0.2', rangeEnd: '10.50.0.3' }]] } });
  const st = exec('STATUS', full, e.call('', { netns: '' }));
  t.equal(st.json?.code, 50, 'STATUS: exhausted range is error 50, from IPAM');
  const gc = exec('GC', e.conf({ 'cni.dev/valid-attachments': [{ containerID: p2.name, ifname: 'eth0' }] }), e.call('', { netns: '' }));
  t.equal(gc.code, 0, gc.stdout);
  t.same(e.store(), ['10.50.0.3', 'fd50::3'], 'GC released what no valid attachment holds');
  t.throws(() => e.node.h.linkGet(hostVethName(p1.name, 'eth0')), { code: 'ENODEV' }, 'GC removed the stale host veth');
  t.ok(e.node.h.linkGet('other0'), 'another network\'s veth on the same bridge is kept');
  t.equal(e.node.ipJson('link', 'show', hostVethName(p2.name, 'eth0'))[0].ifalias, `rtnl:net1:${p2.name}:eth0`, 'the valid one stays; its alias names the owner');
  t.end();
});

t.test('the pod namespace handle in tests is untouched by the plugin', (t) => {
  // Guards the fixtures: a plugin run never moves the test process between namespaces.
  const h = new Handle();
  t.ok(h.linkGet('lo'));
  h.close();
  assertHome(t);
  t.end();
});
