// The README's demo: what a CNI bridge plugin does on a Kubernetes node,
// spoken straight to the kernel. A "node" namespace gets a bridge cni0; each
// pod gets a namespace and a veth whose host end is a port of cni0 and whose
// peer eth0 is created directly inside the pod, all up, mtu 1450. Each pod
// step is a function of its own, so addresses, routes and a ping slot in.
//
//   npm run demo
import { execFileSync } from 'node:child_process';
import { Handle, type Link, type Netns, assertBatch, createNetns, deleteNetns, listNetns } from '../src/index.js';

const NODE = 'node';
const BRIDGE = 'cni0';
const MTU = 1450;
const PODS = ['pod-a', 'pod-b', 'pod-c'];

interface NodeNs {
  ns: Netns;
  h: Handle;
  /** ifindex of cni0. */
  bridge: number;
}

interface Pod {
  name: string;
  /** The veth's host end, a port of cni0. */
  hostIf: string;
  ns?: Netns;
  h?: Handle;
  /** µs per step, in order. */
  steps: [string, number][];
}

function us(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e3;
}

// ---- the node ----

function setupNode(): NodeNs {
  const ns = createNetns(NODE);
  const h = new Handle(ns);
  h.linkAdd({ kind: 'bridge', name: BRIDGE, mtu: MTU, up: true });
  return { ns, h, bridge: h.linkGet(BRIDGE).index };
}

// ---- the pod steps, in order ----

function createPodNs(pod: Pod): void {
  pod.ns = createNetns(pod.name);
  pod.h = new Handle(pod.ns);
}

/**
 * One request: host end on the bridge and up, peer eth0 born inside the pod.
 * (The peer is not brought up here: Linux 6.18 answers ENOTCONN to a veth
 * peer created up, with iproute2 too.)
 */
function addPodVeth(node: NodeNs, pod: Pod): void {
  node.h.linkAdd({
    kind: 'veth', name: pod.hostIf, mtu: MTU, master: node.bridge, up: true,
    peer: { name: 'eth0', mtu: MTU, netns: pod.ns! },
  });
}

/** eth0 and lo up inside the pod: two requests in one pipelined exchange. */
function podLinksUp(pod: Pod): void {
  assertBatch(pod.h!.batch((b) => { b.linkSetUp('eth0'); b.linkSetUp('lo'); }));
}

const POD_STEPS: [string, (node: NodeNs, pod: Pod) => void][] = [
  ['netns', (_, pod) => createPodNs(pod)],
  ['veth', addPodVeth],
  ['eth0+lo up', (_, pod) => podLinksUp(pod)],
];

function setupPod(node: NodeNs, pod: Pod): void {
  for (const [label, step] of POD_STEPS) pod.steps.push([label, us(() => step(node, pod))]);
}

// ---- reporting ----

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

function linksTable(h: Handle): string {
  const links = h.linkList().sort((a, b) => a.index - b.index);
  const byIndex = new Map(links.map((l) => [l.index, l.name]));
  const state = (l: Link) => `${l.up ? 'up' : 'down'}${l.operstate ? ` (${l.operstate})` : ''}`;
  return table([
    ['index', 'name', 'kind', 'mtu', 'mac', 'master', 'state'],
    ...links.map((l) => [String(l.index), l.name, l.kind, String(l.mtu ?? ''), l.address ?? '', l.master ? byIndex.get(l.master) ?? String(l.master) : '', state(l)]),
  ]);
}

/** The bridge's ports and each pod's eth0, as rtnl and as `ip -j` see them; returns the differences. */
function crossCheck(node: NodeNs, pods: Pod[]): string[] {
  const ipj = <T>(ns: string, ...args: string[]): T =>
    JSON.parse(execFileSync('ip', ['-n', ns, '-j', ...args], { encoding: 'utf8' })) as T;
  const diffs: string[] = [];
  const ours = node.h.linkList({ master: node.bridge }).map((l) => l.name).sort();
  const theirs = ipj<{ ifname: string }[]>(NODE, 'link', 'show', 'master', BRIDGE).map((l) => l.ifname).sort();
  if (ours.join() !== theirs.join()) diffs.push(`ports of ${BRIDGE}: rtnl [${ours}] vs ip [${theirs}]`);
  for (const pod of pods) {
    const l = pod.h!.linkGet('eth0');
    const [j] = ipj<{ ifindex: number; mtu: number; address: string; operstate: string }[]>(pod.name, 'link', 'show', 'dev', 'eth0');
    for (const [k, a, b] of [['ifindex', l.index, j?.ifindex], ['mtu', l.mtu, j?.mtu], ['mac', l.address, j?.address], ['operstate', l.operstate, j?.operstate]] as const)
      if (a !== b) diffs.push(`${pod.name} eth0 ${k}: rtnl ${String(a)} vs ip ${String(b)}`);
  }
  return diffs;
}

// ---- main ----

function main(): void {
  if (process.env.RTNL_SANDBOX !== '1') throw new Error('run me under scripts/sandbox (npm run demo)');
  const pods: Pod[] = PODS.map((name) => ({ name, hostIf: `veth-${name}`, steps: [] }));
  let node: NodeNs | undefined;
  try {
    const tNode = us(() => (node = setupNode()));
    console.log(`node: namespace '${NODE}' with bridge ${BRIDGE} (mtu ${MTU}, up) in ${fmt(tNode)} µs`);
    for (const pod of pods) {
      setupPod(node!, pod);
      const total = pod.steps.reduce((s, [, t]) => s + t, 0);
      console.log(`${pod.name}: ${fmt(total)} µs (${pod.steps.map(([l, t]) => `${l} ${fmt(t)}`).join(' · ')})`);
    }

    console.log(`\nlinks in '${NODE}':\n${linksTable(node!.h)}`);
    for (const pod of pods) console.log(`\nlinks in '${pod.name}':\n${linksTable(pod.h!)}`);

    const diffs = crossCheck(node!, pods);
    if (diffs.length) {
      console.log(`\niproute2 DISAGREES:\n  ${diffs.join('\n  ')}`);
      process.exitCode = 1;
    } else {
      console.log(`\niproute2 agrees: the ports of ${BRIDGE}, and each pod's eth0 (ifindex, mtu, mac, operstate)`);
    }
  } finally {
    const names = [NODE, ...PODS].filter((n) => listNetns().includes(n));
    node?.h.close();
    node?.ns.close();
    for (const pod of pods) {
      pod.h?.close();
      pod.ns?.close();
    }
    for (const name of names) deleteNetns(name);
    const left = listNetns();
    console.log(`\ncleaned up: deleted namespaces ${names.join(', ')} (the veths and the bridge go with them); ${left.length ? `left: ${left.join(', ')}` : 'none left'}`);
  }
}

main();
