// Routed pods, no tunnel (kube-router's design), as a cluster runs it: a real
// etcd, three node namespaces on one L2 underlay, one `rtnl-agent --backend
// bgp` per node. Each agent leases its node's subnet, runs a BIRD in the
// node's namespace that announces it over iBGP (full mesh) and installs the
// others' (`proto bird`), and writes the conflist its pods are attached from.
// Pods ping and TCP-echo across nodes; then the agents stop (the speakers
// stay, so nothing flaps), and `--cleanup` stops each speaker and removes
// what each agent made.
//
//   npm run demo:routed
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createNetns } from '../src/index.js';
import type { AgentStatus } from '../src/agent/state.js';
import { cniExec } from './cni-exec.js';
import { Cluster, ping, tcpEcho, tearDown, underlayIp } from './cluster.js';
import { startEtcd } from './etcd.js';

const NODES = 3;
const BIN = path.resolve(__dirname, '../../bin');
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-demo-routed-'));
  const etcd = await startEtcd();
  const c = new Cluster('drt');
  const agents = new Map<number, ReturnType<typeof spawn>>();
  const pods: Array<{ name: string; node: number; ip: string }> = [];
  const dir = (i: number) => `${tmp}/node${i}`;
  const args = (i: number) => [
    '--backend', 'bgp', '--bgp-as', '64512', '--bgp-hold-time', '9',
    '--etcd-endpoints', etcd.endpoint, '--node-name', `node${i}`, '--netns', `drt-node${i}`, '--public-ip', underlayIp(i),
    '--network', '10.244.0.0/16', '--subnet-len', '24', '--state-dir', dir(i),
    '--cni-conf-dir', `${dir(i)}/net.d`, '--ipam-data-dir', `${dir(i)}/ipam`, '--log-level', 'warn',
  ];
  const status = (i: number): AgentStatus | undefined => {
    try { return JSON.parse(fs.readFileSync(`${dir(i)}/status.json`, 'utf8')) as AgentStatus; } catch { return undefined; }
  };
  const ip = (ns: string, ...a: string[]) => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  try {
    const cniPath = `${tmp}/bin`;
    execFileSync(`${BIN}/rtnl-cni-install`, ['--bin-dir', cniPath, '--no-conf'], { env, stdio: 'ignore' });
    c.underlay();
    const nodes = Array.from({ length: NODES }, (_, k) => c.addBareNode(k + 1));
    const t0 = Date.now();
    for (let i = 1; i <= NODES; i++) agents.set(i, spawn(`${BIN}/rtnl-agent`, args(i), { env, stdio: ['ignore', 'inherit', 'inherit'] }));
    while (![1, 2, 3].every((i) => status(i)?.routes?.learned.length === NODES - 1)) {
      if (Date.now() - t0 > 60_000) throw new Error('the speakers did not converge in 60 s');
      await sleep(50);
    }
    console.log(`${NODES} agents started, subnets leased, BIRD sessions up and routes installed everywhere in ${Date.now() - t0} ms\n`);
    console.log(execFileSync(`${BIN}/rtnl-agent`, ['status', '--state-dir', dir(1)], { env, encoding: 'utf8' }));
    console.log(`\nnode1's routing table (ip route): the peers' subnets via their underlay addresses, installed by BIRD\n${ip('drt-node1', 'route')}`);
    const kinds = JSON.parse(ip('drt-node1', '-j', '-d', 'link', 'show')).map((l: { ifname: string; linkinfo?: { info_kind: string } }) => `${l.ifname}${l.linkinfo ? ` (${l.linkinfo.info_kind})` : ''}`);
    console.log(`node1's links: ${kinds.join(', ')}: no tunnel device\n`);

    for (const [k, node] of nodes.entries()) {
      const list = JSON.parse(fs.readFileSync(`${dir(k + 1)}/net.d/10-rtnl.conflist`, 'utf8'));
      const name = `drt-pod${k + 1}`;
      createNetns(name).close();
      const res = cniExec('ADD', list, node.ns, name, cniPath);
      const addr = res.ips[0].address.replace(/\/\d+$/, '');
      pods.push({ name, node: k + 1, ip: addr });
      console.log(`${name}: ${addr} on node${k + 1} (bridge cni0, gateway ${res.ips[0].gateway})`);
    }
    const from = pods[0]!;
    console.log(`\nFrom ${from.name} (${from.ip}):`);
    for (const p of pods.slice(1)) console.log(`  ping ${p.ip} (${p.name} on node${p.node}): ${ping(from.name, p.ip)} ms`);
    const to = pods[2]!;
    const seen = await tcpEcho(from.name, to.name, to.ip);
    console.log(`  TCP echo ${to.ip}:7777 answered; the server saw the client as ${seen}${seen === from.ip ? ' (its pod address: no NAT, no tunnel)' : ''}`);

    for (const a of agents.values()) a.kill('SIGTERM');
    await Promise.all([...agents.values()].map((a) => new Promise((r) => a.once('exit', r))));
    agents.clear();
    const kept = ip('drt-node1', 'route', 'show', 'proto', 'bird').trim().split('\n').length;
    console.log(`\nAgents stopped (SIGTERM): each node's BIRD keeps running and node1 keeps its ${kept} BGP routes; a restarted agent adopts its speaker.`);
    const t1 = Date.now();
    execFileSync(`${BIN}/rtnl-agent`, [...args(3), '--cleanup'], { env, stdio: 'inherit' });
    while (ip('drt-node1', 'route', 'show', 'proto', 'bird').includes(status(1)!.peers.find((p) => p.name === 'node3')!.subnet)) await sleep(20);
    console.log(`node3 --cleanup: its speaker stopped (BGP Cease) and node1 dropped node3's subnet ${Date.now() - t1} ms after the cleanup began.`);
    for (let i = 1; i < NODES; i++) execFileSync(`${BIN}/rtnl-agent`, [...args(i), '--cleanup'], { env, stdio: 'inherit' });
    console.log(`--cleanup on every node: node1 has ${ip('drt-node1', 'route', 'show', 'proto', 'bird').trim() === '' ? 'no' : 'some'} BGP routes left.`);
  } finally {
    await tearDown({
      agents: agents.values(), pods: pods.map((p) => p.name), cluster: c, etcd, tmp, what: 'process',
      // A speaker of an agent that failed before its --cleanup: stop it by its pid file.
      speakers: () => {
        for (let i = 1; i <= NODES; i++) try { process.kill(Number(fs.readFileSync(`${dir(i)}/bgp/bird.pid`, 'utf8')), 'SIGKILL'); } catch { /* none */ }
      },
    });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
