// Real runtimes invoking the rtnl plugin and rtnl-ipam: podman 4.3 (CNI
// backend) and containerd 1.6 (`ctr run --cni`), set up by
// runtime-harness.ts in a node namespace of their own, on the conflist
// bin/rtnl-cni-install writes, unchanged (rtnl + rtnl-ipam, then portmap).
// Each runs a container that prints its address and is removed (ADD then
// DEL), then two long-running containers that ping the bridge gateway and
// each other, then removes them: the host veths and the IPAM reservations go
// with them. podman also publishes a container's port (portmap after rtnl):
// fetched from the node namespace through the host port.
import * as fs from 'node:fs';
import t, { type Test } from 'tap';
import { hostVethName } from '../src/plugin/plugin.js';
import { assertHome, eventually } from './lib.js';
import { containerd, missing, network, podman, run, type Engine, type Network } from './runtime-harness.js';

/** Namespaces a runtime bind-mounts under /run/netns for its containers (podman: netns-<uuid>). */
const runtimeNetns = () => fs.readdirSync('/run/netns').filter((n) => /^(netns|cni)-/.test(n));
const ownLinks = () => JSON.parse(run('ip', ['-j', 'link', 'show']).stdout).map((l: { ifname: string }) => l.ifname);

function bridgePorts(e: Engine, net: Network): string[] {
  const r = run('ip', ['-n', e.node.name, '-j', 'link', 'show', 'master', net.bridge]);
  return r.code === 0 ? JSON.parse(r.stdout || '[]').map((l: { ifname: string }) => l.ifname).sort() : [];
}

/** The IPv4 address on eth0 of the container whose init is `pid` (iproute2 entered into its namespace). */
function containerAddr(pid: number): string | undefined {
  const r = run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-j', '-4', 'addr', 'show', 'eth0']);
  return JSON.parse(r.stdout || '[]')[0]?.addr_info?.[0]?.local;
}
const pingFrom = (pid: number, dst: string) => run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ping', '-c1', '-W2', dst]).code === 0;

/** The node namespace's nat table. */
const nat = (e: Engine) => run('nsenter', [`--net=/run/netns/${e.node.name}`, 'iptables-save', '-t', 'nat']).stdout;

/** A container serving HTTP on its port 80, published on the node's port 8080, fetched through it. */
async function portMapping(t: Test, net: Network, e: Engine, publish: NonNullable<Engine['publish']>): Promise<void> {
  const pid = await publish('web', 8080, ['sh', '-c', 'mkdir /www && echo hello-rtnl >/www/index.html && exec httpd -f -p 80 -h /www']);
  const addr = containerAddr(pid);
  t.match(nat(e), new RegExp(`--dport 8080 -j DNAT --to-destination ${addr!.replace(/\./g, '\\.')}:80`), 'portmap maps the node\'s port 8080 to the container');
  // (busybox wget's own -T timeout crashes it: run's timeout bounds a try instead.)
  const fetch = () => run('nsenter', [`--net=/run/netns/${e.node.name}`, 'busybox', 'wget', '-q', '-O', '-', `http://${net.gateway}:8080/`], {}, 5_000);
  let got: ReturnType<typeof fetch> | undefined;
  t.ok(await eventually(() => (got = fetch()).stdout === 'hello-rtnl\n', 30_000), 'the node fetches the container\'s page through the host port', { got });
  await e.remove('web');
  t.notMatch(nat(e), /--to-destination/, 'the mapping goes with the container');
}

async function exercise(t: Test, net: Network, e: Engine): Promise<void> {
  t.comment(e.version);
  const links = ownLinks();
  const conflist = JSON.parse(fs.readFileSync(`${net.confDir}/10-${net.name}.conflist`, 'utf8'));
  t.same([conflist.cniVersion, conflist.plugins.map((p: { type: string }) => p.type)], ['1.0.0', ['rtnl', 'portmap']], 'the installer\'s conflist');

  let t0 = Date.now();
  const r = e.runRm('once', ['ip', '-o', '-4', 'addr', 'show', 'eth0']);
  t.equal(r.code, 0, `run --rm exits 0${r.code ? `: ${r.stderr}` : ''}`);
  t.match(r.stdout, new RegExp(`inet ${net.subnet.replace(/\.0\/24$/, '').replace(/\./g, '\\.')}\\.\\d+/24`), `the container's eth0 has an address from ${net.subnet}`);
  t.comment(`run --rm (create, CNI ADD, run, CNI DEL): ${Date.now() - t0} ms`);
  t.same(bridgePorts(e, net), [], 'its host veth is gone');
  t.same(net.reservations(), [], 'its reservation is released');

  t0 = Date.now();
  const p1 = await e.start('c1');
  const p2 = await e.start('c2');
  t.comment(`two containers started: ${Date.now() - t0} ms`);
  const held = net.reservations();
  const a1 = containerAddr(p1), a2 = containerAddr(p2);
  t.same(held.map((h) => h.ip).sort(), [a1, a2].sort(), 'the containers hold the addresses rtnl-ipam reserved');
  t.same(bridgePorts(e, net), held.map((h) => hostVethName(h.id, 'eth0')).sort(), 'the bridge ports are the veths named for the runtime\'s container ids');
  t.ok(pingFrom(p1, net.gateway), 'container 1 pings the bridge gateway');
  t.ok(pingFrom(p1, a2!), 'container 1 pings container 2');
  t.ok(pingFrom(p2, a1!), 'container 2 pings container 1');

  await e.remove('c1');
  t.same(net.reservations().map((h) => h.ip), [a2], 'removing container 1 releases its address only');
  t.equal(bridgePorts(e, net).length, 1, 'and removes its veth');
  await e.remove('c2');
  if (e.publish) await portMapping(t, net, e, e.publish);
  t.same(net.reservations(), [], 'no reservation left');
  t.same(bridgePorts(e, net), [], 'no bridge port left');
  t.same(e.node.h.linkList().map((l) => l.name).filter((n) => n.startsWith('rtv')), [], 'no host veth left in the node namespace');
  t.same(runtimeNetns(), [], 'no container namespace left under /run/netns');
  t.same(ownLinks(), links, 'our own namespace untouched');
}

t.test('podman 4.3 (CNI backend) runs containers on the rtnl plugin', { skip: missing('podman') }, async (t) => {
  const net = network(t, 91);
  await exercise(t, net, podman(t, net));
});

t.test('containerd 1.6 (ctr run --cni) runs containers on the rtnl plugin', { skip: missing('containerd') }, async (t) => {
  const net = network(t, 92);
  await exercise(t, net, await containerd(t, net));
});

t.test('the test process is back in its namespace', (t) => {
  assertHome(t);
  t.end();
});
