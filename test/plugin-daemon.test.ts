// The rtnl plugin served by rtnl-cni-daemon (issue 4 part 6): the installed
// `rtnl` is the native client, which has a daemon in its own namespaces run the
// plugin and otherwise runs the Node plugin itself. The daemon runs as a child
// in this process's (the sandbox's) namespaces; pods are test namespaces.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import t from 'tap';
import { Handle } from '../src/index.js';
import { hostVethName } from '../src/plugin/plugin.js';
import { DAEMON, Daemon, daemonSetup } from './daemon-harness.js';
import { testNs, type TestNs } from './lib.js';
import { execAsync, pingAll, Runtime, tmpDir, type Call, type Out } from './plugin-runtime.js';

const BRIDGE = 'dmn0', SUBNET = '10.93.0';
const { cniPath, rtnl, sock, dataDir } = daemonSetup(t);
const conf = {
  cniVersion: '1.1.0', name: 'dmn', type: 'rtnl', bridge: BRIDGE, isGateway: true, isDefaultGateway: true,
  ipam: { type: 'rtnl-ipam', dataDir, ranges: [[{ subnet: `${SUBNET}.0/24` }]] },
};
const list = { cniVersion: conf.cniVersion, name: conf.name, plugins: [conf] };
const call = (pod: TestNs, extra: Partial<Call> = {}): Call => ({ netns: `/run/netns/${pod.name}`, cniPath, id: pod.name, ...extra });
const reserved = (): string[] => {
  try { return fs.readdirSync(path.join(dataDir, 'dmn')).filter((f) => f.startsWith(SUBNET)).sort(); } catch { return []; }
};
const home = new Handle();
const ports = (): string[] => home.linkList().filter((l) => l.master !== undefined && l.name.startsWith('rtv')).map((l) => l.name).sort();
t.teardown(() => {
  try { home.linkDel(BRIDGE); } catch { /* never made */ }
  home.close();
});

/** A pod as iproute2 sees it: eth0's IPv4 addresses and the routes. */
const podView = (p: TestNs) => ({
  addrs: p.ipJson('-4', 'addr', 'show').find((l: any) => l.ifname === 'eth0')?.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`),
  routes: p.ipJson('route', 'show').map((r: any) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev })),
});
/** A result without what differs between any two pods (MACs, host veth name, sandbox, address). */
const shape = (json: any) => JSON.parse(JSON.stringify(json)
  .replace(/"mac":"[0-9a-f:]+"/g, '"mac":"M"').replace(/rtv[0-9a-f]+/g, 'rtv').replace(/\/run\/netns\/[^"]+/g, 'NS').replace(new RegExp(`${SUBNET}\\.\\d+/`, 'g'), 'A/'));
/** Runs fn with the client pointed at `socket` instead of the daemon's. */
function via<T>(socket: string, fn: () => T): T {
  process.env.RTNL_CNI_SOCKET = socket;
  try { return fn(); } finally { process.env.RTNL_CNI_SOCKET = sock; }
}
const failures = (outs: Out[]) => outs.filter((o) => o.code !== 0).map((o) => `${o.code} ${o.stdout}${o.stderr}`);

t.test('ADD, CHECK, DEL served by the daemon: the same results and kernel state as without it', async (t) => {
  const d = await Daemon.start(t, sock);
  const rt = new Runtime(list);
  const a = testNs(t, 'da'), b = testNs(t, 'db');
  const addA = rt.add(call(a));
  t.equal(addA.code, 0, addA.stdout + addA.stderr);
  const addB = via('/nonexistent/rtnl.sock', () => rt.add(call(b)));
  t.equal(addB.code, 0, addB.stdout + addB.stderr);
  await d.logged(1);
  t.same(d.served(), [`ADD ${a.name}`], 'the daemon ran only the ADD sent to it');
  t.same([addA.json.ips[0].address, addB.json.ips[0].address], [`${SUBNET}.2/24`, `${SUBNET}.3/24`]);
  t.same(shape(addA.json), shape(addB.json), 'results alike');
  t.same(podView(a), { addrs: [`${SUBNET}.2/24`], routes: [{ dst: 'default', gateway: `${SUBNET}.1`, dev: 'eth0' }, { dst: `${SUBNET}.0/24`, gateway: undefined, dev: 'eth0' }] });
  t.same(podView(b).routes, podView(a).routes, 'the pods\' routes alike');
  t.same(ports(), [hostVethName(a.name, 'eth0'), hostVethName(b.name, 'eth0')].sort(), 'both veths on the bridge');
  t.equal(rt.run('CHECK', call(a)).code, 0, 'CHECK via the daemon');
  t.equal(via('/nonexistent/rtnl.sock', () => rt.run('CHECK', call(b))).code, 0, 'CHECK without');

  // The client alone serves the call: the only program started is the client itself.
  const log = path.join(tmpDir(t), 'strace');
  const s = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-o', log, rtnl], {
    input: JSON.stringify({ ...conf, prevResult: addA.json }),
    env: { ...process.env, CNI_COMMAND: 'CHECK', CNI_CONTAINERID: a.name, CNI_NETNS: `/run/netns/${a.name}`, CNI_IFNAME: 'eth0', CNI_PATH: cniPath },
  });
  t.equal(s.status, 0, s.stderr.toString());
  t.same(fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => l.replace(/^\d+\s+/, '').split('(')[0]), ['execve'], 'one execve (the client\'s), no node');

  t.equal(rt.run('DEL', call(a)).code, 0);
  t.equal(via('/nonexistent/rtnl.sock', () => rt.run('DEL', call(b))).code, 0);
  await d.logged(4);
  t.same(d.served(), [`ADD ${a.name}`, `CHECK ${a.name}`, `CHECK ${a.name}`, `DEL ${a.name}`]);
  t.same([podView(a).addrs, ports(), reserved()], [undefined, [], []], 'no pod interface, veth or address left');
  const second = spawnSync(DAEMON, ['--socket', sock], { encoding: 'utf8', timeout: 10_000 });
  t.same([second.status, second.stderr.split('\n')[0]], [1, `rtnl-cni-daemon: another daemon is listening on ${sock}`], 'a second daemon on the socket refuses to start');
  t.equal(await d.stop('SIGTERM'), 0, 'SIGTERM: exit 0');
  t.notOk(fs.existsSync(sock), 'the socket file removed');
  const file = path.join(tmpDir(t), 'not-a-socket');
  fs.writeFileSync(file, 'keep');
  const onFile = spawnSync(DAEMON, ['--socket', file], { encoding: 'utf8', timeout: 10_000 });
  t.same([onFile.status, fs.readFileSync(file, 'utf8')], [1, 'keep'], 'a path that is not a socket is left alone');
});

t.test('a caller in other namespaces than the daemon runs the plugin itself', async (t) => {
  const d = await Daemon.start(t, sock);
  const node = testNs(t, 'dn'), pod = testNs(t, 'dp');
  const rt = new Runtime({ ...list, name: 'dmn-node' });
  const c = call(pod, { node: node.name }); // ip netns exec: another network and mount namespace
  const add = rt.add(c);
  t.equal(add.code, 0, add.stdout + add.stderr);
  t.equal(node.h.linkGet(BRIDGE).kind, 'bridge', 'the bridge made in the caller\'s namespace');
  t.same(podView(pod).addrs, [add.json.ips[0].address]);
  t.equal(rt.run('DEL', c).code, 0);
  await d.logged(2);
  t.same(d.requests().map((l) => `${l.command} ${l.served}`), ['ADD fallback', 'DEL fallback']);
  t.same(d.served(), []);
});

t.test('a connection broken before the answer: the client runs the plugin itself, with the stdin it read', async (t) => {
  const fake = path.join(tmpDir(t), 'fake.sock');
  const got: number[] = [];
  // Reads the whole request, then drops the connection unanswered (a daemon dying mid-request).
  const server = net.createServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 12 && buf.length >= 12 + buf.readUInt32LE(8)) { got.push(buf.length); c.destroy(); }
    });
  });
  await new Promise<void>((r) => server.listen(fake, r));
  t.teardown(() => { server.close(); });
  const pod = testNs(t, 'dk');
  const big = { ...conf, args: { padding: 'x'.repeat(512 << 10) } }; // stdin far beyond one pipe buffer, within what the client sends (in `args`: the plugin refuses unknown keys)
  const add = await via(fake, () => execAsync('ADD', big, call(pod)));
  t.equal(add.code, 0, add.stdout + add.stderr);
  t.equal(got.length, 1, 'the fake daemon got the request');
  t.ok(got[0]! > 512 << 10, 'all of stdin with it');
  t.same(podView(pod).addrs, [add.json.ips[0].address], 'the plugin ran on the same config');
  // Async: a synchronous run would block the fake daemon in this process.
  t.equal((await via(fake, () => execAsync('DEL', conf, call(pod)))).code, 0);
  t.same([ports(), reserved()], [[], []]);
});

t.test('the daemon killed amid concurrent ADDs: each call completes or fails cleanly; DEL leaves nothing', async (t) => {
  const d = await Daemon.start(t, sock);
  const pods = Array.from({ length: 20 }, () => testNs(t, 'dx'));
  const adds = Promise.all(pods.map((p) => execAsync('ADD', conf, call(p))));
  await d.until(() => d.served().length > 0);
  await d.stop('SIGKILL');
  const outs = await adds;
  const served = d.served().length;
  t.ok(served < pods.length, `killed with requests in flight (${served} of ${pods.length} answered)`);
  t.ok(fs.existsSync(sock), 'a stale socket file left behind');
  outs.forEach((o, i) => {
    if (o.code === 0) t.same(podView(pods[i]!).addrs, [o.json.ips[0].address], `${pods[i]!.name}: added`);
    else t.type(o.json?.code, 'number', `${pods[i]!.name}: a CNI error, ${o.stdout}`);
  });
  t.same(failures(outs), [], 'all completed (the rest by the fallback)');
  const again = await Daemon.start(t, sock); // the stale socket file is replaced
  const dels = await Promise.all(pods.map((p) => execAsync('DEL', conf, call(p))));
  t.same(failures(dels), []);
  await again.logged(pods.length);
  t.equal(again.served().length, pods.length, 'the restarted daemon served the DELs');
  t.same([ports(), reserved()], [[], []], 'no veth or address left');
  t.same(fs.readdirSync(path.join(dataDir, 'dmn')).filter((f) => f.startsWith('.')), [], 'no temp file left in the store');
  await again.stop('SIGTERM');
});

t.test('50 concurrent ADDs through the daemon: distinct addresses, pods reach each other', async (t) => {
  const N = 50;
  const d = await Daemon.start(t, sock);
  const pods = Array.from({ length: N }, () => testNs(t, 'dc'));
  const outs = await Promise.all(pods.map((p) => execAsync('ADD', conf, call(p))));
  t.same(failures(outs), []);
  const ips = outs.map((o) => o.json.ips[0].address as string);
  t.equal(new Set(ips).size, N, 'distinct addresses');
  await d.logged(N);
  t.equal(d.served().filter((s) => s.startsWith('ADD')).length, N, 'all served by the daemon');
  t.same(await pingAll(pods.map((p, i) => [p, ips[(i + 1) % N]!.split('/')[0]!])), [], 'each pod pings the next one');
  const dels = await Promise.all(pods.map((p) => execAsync('DEL', conf, call(p))));
  t.same(failures(dels), []);
  t.same([ports(), reserved()], [[], []], 'no veth or address left');
  await d.stop('SIGTERM');
});

t.test('vxlan mode, concurrent ADDs and DELs in the daemon: its lock and user counts hold within one process', async (t) => {
  const N = 10, VNI = 4242;
  const d = await Daemon.start(t, sock);
  const stateDir = tmpDir(t);
  const vx = { ...conf, name: 'dmn-vx', mode: 'vxlan', vni: VNI, stateDir, ipam: { ...conf.ipam, ranges: [[{ subnet: '10.94.0.0/24' }]] } };
  const pods = Array.from({ length: N }, () => testNs(t, 'dv'));
  const adds = await Promise.all(pods.map((p) => execAsync('ADD', vx, call(p))));
  t.same(failures(adds), []);
  await d.logged(N);
  t.equal(d.served().length, N, 'served by the daemon');
  t.equal(home.linkList().filter((l) => l.master === home.linkGet(`br${VNI}`).index).length, N + 1, `br${VNI}: the VXLAN device and ${N} veths`);
  t.equal(fs.readdirSync(path.join(stateDir, `vxlan-${VNI}.users`)).length, N, 'one user per pod');
  const dels = await Promise.all(pods.map((p) => execAsync('DEL', vx, call(p))));
  t.same(failures(dels), []);
  t.same(home.linkList().map((l) => l.name).filter((n) => n === `br${VNI}` || n === `vx${VNI}`), [], 'the last DEL removed the shared devices');
  t.same(fs.readdirSync(stateDir).filter((f) => !f.endsWith('.users')), [], 'no lock or temp file left');
  await d.stop('SIGTERM');
});
