// The whole stack, as a cluster runs it: a real etcd on loopback, three node
// namespaces on a veth underlay, one `rtnl-agent` process per node (leasing
// the node's subnet, programming its VXLAN overlay, writing its conflist),
// and pods attached by the `rtnl` CNI plugin exec'd from each node's
// conflist exactly as a runtime would. Pods ping and TCP-echo across nodes;
// then the agents stop (SIGTERM: routes stay), `--cleanup` removes what each
// made, and the sandbox is left empty.
//
//   npm run demo:agent
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { subnetsPrefix } from '../src/agent/lease.js';
import type { AgentStatus } from '../src/agent/state.js';
import { EtcdClient } from '../src/etcd/index.js';
import { createNetns } from '../src/index.js';
import { Cluster, ping, tcpEcho, tearDown, underlayIp } from './cluster.js';
import { startEtcd } from './etcd.js';

const NODES = 3;
const PODS = 2;
const BIN = path.resolve(__dirname, '../../bin');
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const msSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Milliseconds a bare `node -e 0` takes now: an exec'd plugin's floor on this machine at this moment. */
function nodeStartMs(): number {
  const t0 = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0'], { env });
  return msSince(t0);
}

/** Runs the conflist's plugins for one pod, as a runtime does (CNI_* env, config on stdin), inside the node's namespace. */
function cni(cmd: 'ADD' | 'DEL', conflist: { name: string; cniVersion: string; plugins: object[] }, run: (f: () => void) => void, pod: string, cniPath: string): any {
  let result: any;
  for (const p of conflist.plugins) {
    const conf = { ...p, name: conflist.name, cniVersion: conflist.cniVersion };
    run(() => {
      const r = spawnSync(path.join(cniPath, (p as { type: string }).type), {
        input: JSON.stringify(conf), encoding: 'utf8',
        env: { ...env, CNI_COMMAND: cmd, CNI_CONTAINERID: pod, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: 'eth0', CNI_PATH: cniPath },
      });
      if (r.status !== 0) throw new Error(`CNI ${cmd} ${pod}: ${r.stdout}${r.stderr}`);
      result = r.stdout ? JSON.parse(r.stdout) : undefined;
    });
  }
  return result;
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-demo-agent-'));
  const etcd = await startEtcd();
  const c = new Cluster('dag');
  const agents: ChildProcess[] = [];
  const pods: Array<{ name: string; node: number; ip: string }> = [];
  const dir = (i: number) => `${tmp}/node${i}`;
  const args = (i: number) => [
    '--etcd-endpoints', etcd.endpoint, '--node-name', `node${i}`, '--netns', `dag-node${i}`, '--public-ip', underlayIp(i),
    '--network', '10.244.0.0/16', '--subnet-len', '24', '--lease-ttl', '10', '--state-dir', dir(i),
    '--cni-conf-dir', `${dir(i)}/net.d`, '--ipam-data-dir', `${dir(i)}/ipam`, '--log-level', 'warn',
  ];
  const status = (i: number): AgentStatus | undefined => {
    try { return JSON.parse(fs.readFileSync(`${dir(i)}/status.json`, 'utf8')) as AgentStatus; } catch { return undefined; }
  };
  try {
    const cniPath = `${tmp}/bin`;
    execFileSync(`${BIN}/rtnl-cni-install`, ['--bin-dir', cniPath, '--no-conf'], { env, stdio: 'ignore' });
    console.log(`etcd ${etcd.endpoint}; CNI plugins installed in ${cniPath}\n`);

    c.underlay();
    const nodes = Array.from({ length: NODES }, (_, k) => c.addBareNode(k + 1));
    for (let i = 1; i <= NODES; i++) agents.push(spawn(`${BIN}/rtnl-agent`, args(i), { env, stdio: ['ignore', 'inherit', 'inherit'] }));
    const t0 = Date.now();
    while (![1, 2, 3].every((i) => status(i)?.peers.length === NODES - 1)) {
      if (Date.now() - t0 > 30_000) throw new Error('the agents did not converge in 30 s');
      await sleep(20);
    }
    console.log(`${NODES} agents joined and converged in ${Date.now() - t0} ms (3 processes started, leases taken, overlays programmed)\n`);
    console.log(execFileSync(`${BIN}/rtnl-agent`, ['status', '--state-dir', dir(1)], { env, encoding: 'utf8' }));

    // An exec'd plugin run is one Node.js start-up plus ~10 ms of work. On a busy machine the
    // start-up stretches, and the ADD with it: each ADD is shown beside a bare start-up timed
    // just before it (README, "CNI ADD / DEL": 43 ms on an idle machine, 5 ms through the daemon).
    const addMs: number[] = [], startMs: number[] = [];
    for (const [k, node] of nodes.entries()) {
      const conflist = JSON.parse(fs.readFileSync(`${dir(k + 1)}/net.d/10-rtnl.conflist`, 'utf8'));
      for (let j = 1; j <= PODS; j++) {
        const name = `dag-pod${k + 1}-${j}`;
        createNetns(name).close();
        startMs.push(nodeStartMs());
        const t = process.hrtime.bigint();
        const r = cni('ADD', conflist, (f) => node.ns.run(f), name, cniPath);
        const ip = r.ips[0].address.replace(/\/\d+$/, '');
        addMs.push(msSince(t));
        pods.push({ name, node: k + 1, ip });
        console.log(`${name}: ${ip} on node${k + 1} (CNI ADD ${addMs.at(-1)!.toFixed(0)} ms; \`node -e 0\` just before: ${startMs.at(-1)!.toFixed(0)} ms)`);
      }
    }
    console.log(`CNI ADD median ${median(addMs).toFixed(0)} ms, \`node -e 0\` median ${median(startMs).toFixed(0)} ms: an exec'd plugin is one Node.js start-up plus its work`);
    const from = pods[0]!;
    console.log(`\nFrom ${from.name} (${from.ip}):`);
    for (const p of pods.filter((p) => p.node !== from.node)) console.log(`  ping ${p.ip} (${p.name}): ${ping(from.name, p.ip)} ms`);
    const to = pods[pods.length - 1]!;
    const seen = await tcpEcho(from.name, to.name, to.ip);
    console.log(`  TCP echo ${to.ip}:7777 answered; the server saw the client as ${seen}${seen === from.ip ? ' (its pod address: no NAT)' : ''}`);

    for (const p of pods) cni('DEL', JSON.parse(fs.readFileSync(`${dir(p.node)}/net.d/10-rtnl.conflist`, 'utf8')), (f) => nodes[p.node - 1]!.ns.run(f), p.name, cniPath);
    for (const a of agents) a.kill('SIGTERM');
    await Promise.all(agents.map((a) => new Promise((r) => a.once('exit', r))));
    const kept = nodes[0]!.h.routeList({ family: 4 }).filter((r) => r.gateway !== undefined).length;
    console.log(`\nAgents stopped (SIGTERM): node1 keeps its ${kept} overlay routes for a restart.`);
    for (let i = 1; i <= NODES; i++) execFileSync(`${BIN}/rtnl-agent`, [...args(i), '--cleanup'], { env, stdio: 'inherit' });
    const client = new EtcdClient({ endpoints: [etcd.endpoint] });
    const records = (await client.list(subnetsPrefix('/rtnl/network'))).kvs.length;
    client.close();
    console.log(`--cleanup on each node: node1 has ${nodes[0]!.h.linkList().filter((l) => l.kind === 'vxlan').length} VXLAN devices left, etcd ${records} node records.`);
  } finally {
    await tearDown({ agents, pods: pods.map((p) => p.name), cluster: c, etcd, tmp, what: 'process' });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
