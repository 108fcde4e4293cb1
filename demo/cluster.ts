// A sandboxed VXLAN overlay, built only through rtnl: "node" namespaces joined
// by a veth underlay (a bridge in namespace `ul`), each node with a bridge
// `cni0`, pods behind it, and a nolearning `vxlan0` whose peers are programmed
// as flannel does (permanent neighbour + FDB entry + onlink route per peer).
// Used by demo/overlay.ts and test/overlay.test.ts.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import { Handle, type Netns, assertBatch, createNetns, deleteNetns } from '../src/index.js';

export const VNI = 1;
export const VXLAN_PORT = 4789;
export const POD_MTU = 1450; // 1500 underlay - 50 bytes of VXLAN encapsulation

/** Underlay address of node i. */
export const underlayIp = (i: number) => `192.168.100.${i}`;
/** The pod subnet of node i, its gateway (on cni0) and VTEP address (on vxlan0). */
export const podSubnet = (i: number) => `10.244.${i}.0/24`;
export const gatewayIp = (i: number) => `10.244.${i}.1`;
export const vtepIp = (i: number) => `10.244.${i}.0`;
export const podIp = (i: number, j: number) => `10.244.${i}.${10 + j}`;

export interface Pod {
  name: string;
  ns: Netns;
  ip: string;
  /** Microseconds the pod's setup took through rtnl. */
  setupUs: number;
}

export interface ClusterNode {
  i: number;
  name: string;
  ns: Netns;
  h: Handle;
  bridge: number;
  vxlan: number;
  vtepMac: string;
  pods: Pod[];
}

const usSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1000;

function sysctl(ns: Netns, key: string, value: string): void {
  // /proc/sys/net belongs to the namespace of the thread that opens it.
  ns.run(() => fs.writeFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, value));
}

export class Cluster {
  readonly prefix: string;
  readonly nodes: ClusterNode[] = [];
  readonly #names: string[] = [];
  readonly #handles: Handle[] = [];
  #ul!: { ns: Netns; h: Handle; bridge: number };

  constructor(prefix = 'ov') {
    this.prefix = prefix;
  }

  #netns(name: string): Netns {
    const ns = createNetns(name);
    this.#names.push(name);
    return ns;
  }

  #handle(ns: Netns): Handle {
    const h = new Handle(ns);
    this.#handles.push(h);
    return h;
  }

  /** The underlay: a bridge in its own namespace that every node plugs into. */
  underlay(): void {
    const ns = this.#netns(`${this.prefix}-ul`);
    const h = this.#handle(ns);
    h.linkAdd({ kind: 'bridge', name: 'ul0', up: true });
    this.#ul = { ns, h, bridge: h.linkGet('ul0').index };
  }

  /**
   * A bare node i: a namespace plugged into the underlay (`underlay`, with
   * the node's underlay address), loopback up, forwarding on. Returns the
   * namespace, a handle bound to it and the underlay ifindex.
   */
  addBareNode(i: number): { name: string; ns: Netns; h: Handle; underlay: number } {
    const name = `${this.prefix}-node${i}`;
    const ns = this.#netns(name);
    const h = this.#handle(ns);
    this.#ul.h.linkAdd({ kind: 'veth', name: `n${i}`, master: this.#ul.bridge, up: true, peer: { name: 'underlay', netns: ns } });
    sysctl(ns, 'net.ipv4.ip_forward', '1');
    const underlay = h.linkGet('underlay').index;
    assertBatch(h.batch((b) => {
      b.linkSetUp('lo');
      b.linkSetUp(underlay);
      b.addrAdd({ link: underlay, address: `${underlayIp(i)}/24` });
    }));
    return { name, ns, h, underlay };
  }

  /** Node i: a bare node plus cni0 with the gateway address and vxlan0 with the VTEP address. */
  addNode(i: number): ClusterNode {
    const { name, ns, h, underlay } = this.addBareNode(i);
    h.linkAdd({ kind: 'bridge', name: 'cni0', mtu: POD_MTU, up: true });
    h.linkAdd({ kind: 'vxlan', name: 'vxlan0', vni: VNI, port: VXLAN_PORT, learning: false, local: underlayIp(i), device: underlay, mtu: POD_MTU, up: true });
    const bridge = h.linkGet('cni0').index;
    const vx = h.linkGet('vxlan0');
    assertBatch(h.batch((b) => {
      b.addrAdd({ link: bridge, address: `${gatewayIp(i)}/24` });
      b.addrAdd({ link: vx.index, address: `${vtepIp(i)}/32` });
    }));
    const node: ClusterNode = { i, name, ns, h, bridge, vxlan: vx.index, vtepMac: vx.address!, pods: [] };
    this.nodes.push(node);
    return node;
  }

  /** Pod j on node: a veth into cni0, eth0 created directly in the pod's namespace, address and default route. */
  addPod(node: ClusterNode, j: number): Pod {
    const t0 = process.hrtime.bigint();
    const name = `${this.prefix}-pod${node.i}-${j}`;
    const ns = this.#netns(name);
    node.h.linkAdd({
      kind: 'veth', name: `vh${node.i}-${j}`, mtu: POD_MTU, master: node.bridge, up: true,
      peer: { name: 'eth0', mtu: POD_MTU, netns: ns },
    });
    const h = new Handle(ns);
    try {
      const eth0 = h.linkGet('eth0').index;
      assertBatch(h.batch((b) => {
        b.linkSetUp('lo');
        b.linkSetUp(eth0);
        b.addrAdd({ link: eth0, address: `${podIp(node.i, j)}/24`, flags: ['nodad'] });
        b.routeAdd({ dst: 'default', gateway: gatewayIp(node.i), link: eth0 });
      }));
    } finally {
      h.close();
    }
    const pod = { name, ns, ip: podIp(node.i, j), setupUs: usSince(t0) };
    node.pods.push(pod);
    return pod;
  }

  /**
   * The same pod setup through `ip` spawned per step, for comparison; the pod
   * is removed again. Returns microseconds.
   */
  podViaIp(node: ClusterNode, j: number): number {
    const name = `${this.prefix}-ippod${node.i}-${j}`;
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    const t0 = process.hrtime.bigint();
    ip('netns', 'add', name);
    ip('-n', node.name, 'link', 'add', `ip${node.i}-${j}`, 'mtu', String(POD_MTU), 'master', 'cni0', 'up', 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(POD_MTU), 'netns', name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
    ip('-n', name, 'link', 'set', 'eth0', 'up');
    ip('-n', name, 'addr', 'add', `${podIp(node.i, j)}/24`, 'dev', 'eth0', 'nodad');
    ip('-n', name, 'route', 'add', 'default', 'via', gatewayIp(node.i), 'dev', 'eth0');
    const us = usSince(t0);
    ip('netns', 'delete', name);
    return us;
  }

  /** Programs peers (default: every other node) on node as VXLAN peers: neighbour, FDB (unicast + flood) and onlink route, in one batch. */
  syncPeers(node: ClusterNode, peers: ClusterNode[] = this.nodes): void {
    assertBatch(node.h.batch((b) => {
      for (const peer of peers) {
        if (peer === node) continue;
        b.neighAdd({ link: node.vxlan, address: vtepIp(peer.i), lladdr: peer.vtepMac, state: 'permanent' });
        b.fdbAdd({ link: node.vxlan, mac: peer.vtepMac, dst: underlayIp(peer.i), target: 'self', state: 'permanent' });
        b.fdbAppend({ link: node.vxlan, mac: '00:00:00:00:00:00', dst: underlayIp(peer.i), target: 'self', state: 'permanent' });
        b.routeAdd({ dst: podSubnet(peer.i), gateway: vtepIp(peer.i), link: node.vxlan, flags: ['onlink'] });
      }
    }));
  }

  /** Removes every namespace made (and with them every link), closing all handles. */
  destroy(): void {
    for (const h of this.#handles) h.close();
    for (const node of this.nodes) for (const p of node.pods) p.ns.close();
    for (const node of this.nodes) node.ns.close();
    this.#ul?.ns.close();
    for (const name of this.#names.reverse()) {
      try {
        deleteNetns(name);
      } catch {
        // already gone
      }
    }
    this.#names.length = 0;
  }
}

const childEnv = { ...process.env, NODE_EXTRA_CA_CERTS: '' };

/**
 * A TCP echo across the overlay: a server in serverNs answers with the client
 * address it saw, then echoes; the client in clientNs sends "hello". Returns
 * the address the server saw (a pod address means no NAT on the way).
 */
export async function tcpEcho(clientNs: string, serverNs: string, serverIp: string, port = 7777): Promise<string> {
  const server = spawn('ip', ['netns', 'exec', serverNs, 'node', '-e',
    `require('net').createServer((s) => { s.write(s.remoteAddress + '\\n'); s.pipe(s); }).listen(${port}, () => console.log('ready'))`],
    { stdio: ['ignore', 'pipe', 'inherit'], env: childEnv });
  try {
    await once(server.stdout!, 'data');
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', clientNs, 'node', '-e',
      `const s = require('net').connect(${port}, '${serverIp}', () => s.end('hello\\n')); let d = ''; s.on('data', (c) => d += c).on('end', () => process.stdout.write(d));`],
      { env: childEnv, timeout: 10000 });
    const [seen, echoed] = stdout.trim().split('\n');
    if (echoed !== 'hello') throw new Error(`TCP echo from ${clientNs} to ${serverIp} failed: ${JSON.stringify(stdout)}`);
    return seen!.replace(/^::ffff:/, ''); // a dual-stack listener reports IPv4 clients v4-mapped
  } finally {
    server.kill();
  }
}

/** One ping from a namespace; returns the round-trip time in ms, throws if no answer. */
export function ping(fromNs: string, ip: string): number {
  const out = execFileSync('ip', ['netns', 'exec', fromNs, 'ping', '-n', '-c', '1', '-W', '2', ip], { encoding: 'utf8' });
  return Number(/time=([\d.]+) ms/.exec(out)?.[1] ?? NaN);
}

/**
 * The agent demos' last step, run whatever failed before it: kills the
 * agents, stops what `speakers` stops (daemons an agent left running), deletes
 * the pods' namespaces and the cluster, stops etcd and removes the scratch
 * directory.
 */
export async function tearDown(o: {
  agents: Iterable<{ kill(signal: NodeJS.Signals): unknown }>;
  speakers?: () => void;
  pods: Iterable<string>;
  cluster: Cluster;
  etcd?: { stop(): Promise<void> };
  tmp: string;
  what: string;
}): Promise<void> {
  for (const a of o.agents) a.kill('SIGKILL');
  o.speakers?.();
  for (const p of o.pods) try { deleteNetns(p); } catch { /* gone */ }
  o.cluster.destroy();
  await o.etcd?.stop();
  fs.rmSync(o.tmp, { recursive: true, force: true });
  console.log(`\nCleaned up: every namespace, ${o.what} and file the demo made is gone.`);
}
