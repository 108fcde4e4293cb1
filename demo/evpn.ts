// VPCs over BGP EVPN: each VPC is its own CNI network and VXLAN VNI (the rtnl
// plugin's vxlan mode with "evpn": true: `vx<VNI>` on `br<VNI>`, made with a
// VNI's first pod on a node and deleted with its last), and on every node
// `rtnl-agent --evpn` runs FRR (zebra + bgpd, advertise-all-vni), which tells
// the others which VNIs and MACs are behind it, through a route reflector
// (the reflector node's agent, `--evpn-reflector`). No node is given a peers
// list, and nobody starts FRR by hand.
// Three nodes, two VPCs with the same pod range: A on every node, B on nodes
// 1 and 2. Pods reach their own VPC only; node3, without B, has no FDB entry
// for it; the last B pod on node2 going withdraws node2 from node1's vx200.
//
//   npm run demo:evpn
//
//   node1 ─┐                  ┌─ node3          ul0: the underlay (one L2 segment)
//   node2 ─┴─ ul0 ── rr (9) ──┘                 rr: bgpd, l2vpn evpn, listen range
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createNetns } from '../src/index.js';
import { cniExec } from './cni-exec.js';
import { Cluster, ping, tearDown, underlayIp } from './cluster.js';

const BIN = `${__dirname}/../../bin`;
const NODES = [1, 2, 3];
const RR = 9;
const VPCS = [{ name: 'vpc-a', vni: 100, nodes: [1, 2, 3] }, { name: 'vpc-b', vni: 200, nodes: [1, 2] }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync('/run/rtnl-demo-evpn-');
  const c = new Cluster('dev');
  const agents: Array<ReturnType<typeof spawn>> = [];
  const pods: string[] = [];
  const frr = (i: number) => `/run/frr/rtnl-dev-node${i}`;
  // The cluster network (host-gw routes, from a static file) is the agents' usual job; --evpn adds the speaker.
  const file = `${tmp}/cluster.json`;
  const args = (i: number) => [
    '--static', file, '--backend', 'host-gw', '--node-name', `dev-node${i}`, '--netns', `dev-node${i}`, '--public-ip', underlayIp(i),
    '--state-dir', `${tmp}/state${i}`, '--no-cni', '--log-level', 'warn', '--evpn', '--evpn-as', '65010', '--evpn-hold-time', '9',
    ...(i === RR ? ['--evpn-reflector', '192.168.100.0/24'] : ['--evpn-route-reflector', underlayIp(RR)]),
  ];
  try {
    const cniPath = `${tmp}/bin`;
    execFileSync(`${BIN}/rtnl-cni-install`, ['--bin-dir', cniPath, '--no-conf'], { stdio: 'ignore' });
    c.underlay();
    const nodes = new Map([...NODES, RR].map((i) => [i, c.addBareNode(i)]));
    fs.writeFileSync(file, JSON.stringify({ network: { network: '10.97.0.0/16', subnetLen: 24 }, nodes: [...NODES, RR].map((i) => ({ name: `dev-node${i}`, underlay: underlayIp(i), subnet: `10.97.${i}.0/24` })) }));
    for (const i of [RR, ...NODES]) agents.push(spawn(`${BIN}/rtnl-agent`, args(i), { env, stdio: ['ignore', 'inherit', 'inherit'] }));
    const t00 = Date.now();
    while (![RR, ...NODES].every((i) => fs.existsSync(`${frr(i)}/bgpd.vty`))) {
      if (Date.now() - t00 > 60_000) throw new Error('the agents did not start their speakers in 60 s');
      await sleep(50);
    }
    console.log(`rtnl-agent --evpn on each node started zebra + bgpd in its namespace (${Date.now() - t00} ms). The reflector's ${frr(RR)}/bgpd.conf:\n${fs.readFileSync(`${frr(RR)}/bgpd.conf`, 'utf8')}\nnode1's:\n${fs.readFileSync(`${frr(1)}/bgpd.conf`, 'utf8')}`);

    const conflist = (vpc: (typeof VPCS)[number], i: number) => ({
      cniVersion: '1.0.0', name: vpc.name,
      plugins: [{
        type: 'rtnl', mode: 'vxlan', vni: vpc.vni, evpn: true, local: underlayIp(i), stateDir: `${tmp}/cni${i}`,
        ipam: { type: 'rtnl-ipam', ranges: [[{ subnet: '10.10.0.0/24', rangeStart: `10.10.0.${i * 10 + 1}`, rangeEnd: `10.10.0.${i * 10 + 9}` }]], dataDir: `${tmp}/ipam${i}` },
      }],
    });
    console.log(`node1's conflist for VPC A (no peers list: the speaker finds them):\n${JSON.stringify(conflist(VPCS[0]!, 1), null, 2)}\n`);
    const t0 = Date.now();
    const ips = new Map<string, string>();
    for (const vpc of VPCS) {
      for (const i of vpc.nodes) {
        const name = `dev-${vpc.name.slice(-1)}${i}`;
        createNetns(name).close();
        pods.push(name);
        const r = cniExec('ADD', conflist(vpc, i), nodes.get(i)!.ns, name, cniPath);
        ips.set(name, r.ips[0].address.replace(/\/\d+$/, ''));
        console.log(`${name}: ${ips.get(name)} in ${vpc.name} (VNI ${vpc.vni}) on node${i}`);
      }
    }
    const fdb = (i: number, vni: number): string[] => {
      try {
        return (JSON.parse(execFileSync('bridge', ['-n', nodes.get(i)!.name, '-j', 'fdb', 'show', 'dev', `vx${vni}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as any[])
          .filter((e) => e.dst !== undefined).map((e) => `${e.mac} dst ${e.dst}${e.flags?.includes('extern_learn') ? ' extern_learn' : ''}`);
      } catch {
        return ['(no device)'];
      }
    };
    // Complete: per other member of a VNI, a flood entry (type-3) and its pod's MAC (type-2).
    const complete = () => VPCS.every((vpc) => vpc.nodes.every((i) => fdb(i, vpc.vni).length === 2 * (vpc.nodes.length - 1)));
    while (!complete()) {
      if (Date.now() - t0 > 60_000) throw new Error('EVPN did not converge in 60 s');
      await sleep(20);
    }
    console.log(`\nFDBs converged ${Date.now() - t0} ms after the first ADD began:`);
    for (const i of NODES) for (const vpc of VPCS) console.log(`  node${i} vx${vpc.vni}: ${fdb(i, vpc.vni).join(', ') || '(none)'}`);

    console.log('\nPings inside each VPC (the same addresses in both):');
    for (const [from, to] of [['dev-a1', 'dev-a3'], ['dev-a2', 'dev-a1'], ['dev-b1', 'dev-b2']] as const) console.log(`  ${from} -> ${to} (${ips.get(to)}): ${ping(from, ips.get(to)!)} ms`);
    const neigh = (pod: string, ip: string) => JSON.parse(execFileSync('ip', ['-n', pod, '-j', 'neigh', 'show', ip], { encoding: 'utf8' }))[0]?.lladdr;
    const mac = (pod: string) => JSON.parse(execFileSync('ip', ['-n', pod, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }))[0].address;
    console.log(`  dev-a1 resolved ${ips.get('dev-a2')} to ${neigh('dev-a1', ips.get('dev-a2')!)}: dev-a2's MAC is ${mac('dev-a2')}, dev-b2's (same address, VPC B) ${mac('dev-b2')}`);

    const t1 = Date.now();
    cniExec('DEL', conflist(VPCS[1]!, 2), nodes.get(2)!.ns, 'dev-b2', cniPath);
    while (fdb(1, 200).length > 0) {
      if (Date.now() - t1 > 30_000) throw new Error('node2 was not withdrawn from VNI 200');
      await sleep(20);
    }
    console.log(`\nThe last VPC B pod on node2 deleted: node2's vx200 went with it, and node1's vx200 FDB was empty ${Date.now() - t1} ms later.\n`);
    // The agent reads the FDB back on its events: its status follows within moments.
    const status1 = (): string => execFileSync(`${BIN}/rtnl-agent`, ['status', '--state-dir', `${tmp}/state1`], { env, encoding: 'utf8' });
    while (!/vx200\s+VTEPs \(none\)/.test(status1())) {
      if (Date.now() - t1 > 30_000) throw new Error('node1\'s status did not follow the withdrawal');
      await sleep(100);
    }
    console.log(`rtnl-agent status on node1, ${Date.now() - t1} ms after the DEL:\n${status1()}`);
    // SIGTERM leaves FRR running (a restarted agent adopts it); each agent must be gone before its --cleanup.
    await Promise.all(agents.map((a) => new Promise((r) => { a.once('exit', r); a.kill('SIGTERM'); })));
    for (const i of [...NODES, RR]) execFileSync(`${BIN}/rtnl-agent`, [...args(i), '--cleanup'], { env, stdio: 'inherit' });
    console.log(`SIGTERM and --cleanup on every node: ${[...NODES, RR].filter((i) => fs.existsSync(frr(i))).length} FRR run directories left.`);
  } finally {
    await tearDown({
      agents, pods, cluster: c, tmp, what: 'FRR daemon',
      // The daemons of an agent that failed before its --cleanup: stop them by their pid files.
      speakers: () => {
        for (const i of [...NODES, RR]) {
          for (const d of ['bgpd', 'zebra']) try { process.kill(Number(fs.readFileSync(`${frr(i)}/${d}.pid`, 'utf8')), 'SIGKILL'); } catch { /* none */ }
          fs.rmSync(frr(i), { recursive: true, force: true });
        }
      },
    });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
