// BGP EVPN for the plugin's vxlan mode, with real FRRs run by the agents:
// three node namespaces and a route reflector on one veth underlay, an
// rtnl-agent per namespace with --evpn (zebra + bgpd under the node's FRR
// pathspace; nobody starts FRR by hand), two VPCs (VNI 100 on every node,
// VNI 200 on nodes 1 and 2) with the same pod range, pods attached by the rtnl
// plugin with "evpn": true and no peers list. Pods reach their own VPC only;
// each node's FDB holds exactly the VTEPs and MACs of the VNIs it has pods
// in; status shows sessions, VNIs and remote VTEPs; an agent restart is
// hitless; the last pod of a VNI on a node withdraws it from the others; an
// agent restarts its node's killed bgpd (the reflector's) or zebra (a VTEP's)
// and the VTEPs reconverge; --cleanup leaves no daemon. Convergence times are reported, not asserted.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { Cluster, ping, underlayIp } from '../demo/cluster.js';
import { RtnlInputError, createNetns, deleteNetns, subscribe } from '../src/index.js';
import { frrEvpnConfig } from '../src/agent/bgp/evpn.js';
import type { AgentStatus } from '../src/agent/state.js';
import { AgentProc, runAgent, waitFor } from './agent-harness.js';
import { daemonsUnder } from './bgp-harness.js';
import { assertHome } from './lib.js';
import { type Conflist, Runtime, installPlugins } from './plugin-runtime.js';

const ASN = 65010;
const NODES = [1, 2, 3];
const RR = 9;
const FRR_RUN = '/run/frr';
const VPCS = { a: { vni: 100, nodes: [1, 2, 3] }, b: { vni: 200, nodes: [1, 2] } } as const;
type Vpc = keyof typeof VPCS;

t.test('bgpd\'s EVPN configuration: accepted by bgpd\'s own dry run; values that are not what they claim are refused', async (t) => {
  const dir = fs.mkdtempSync('/run/rtnl-evpn-conf-');
  fs.mkdirSync('/run/frr', { recursive: true }); // where bgpd makes its pathspace's directory (the sandbox's own /run)
  t.teardown(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const n of ['vtep', 'rr', 'bad']) fs.rmSync(`/run/frr/rtnl-dry-${n}`, { recursive: true, force: true });
  });
  fs.chmodSync(dir, 0o755);
  const check = (name: string, text: string): string => {
    fs.writeFileSync(`${dir}/${name}.conf`, text, { mode: 0o644 });
    // bgpd -C parses and exits; it reports every line it cannot take (its exit code stays 0).
    return execFileSync('/usr/lib/frr/bgpd', ['-C', '-f', `${dir}/${name}.conf`, '-N', `rtnl-dry-${name}`, '--log', 'stdout'], { encoding: 'utf8' }).trim();
  };
  const vtep = frrEvpnConfig({ asn: ASN, routerId: '192.168.100.1', holdTimeSec: 9, routeReflectors: ['192.168.100.9', '192.168.100.8'] });
  const rr = frrEvpnConfig({ asn: ASN, routerId: '192.168.100.9', holdTimeSec: 9, listenRange: '192.168.100.0/24' });
  t.equal(check('vtep', vtep), '', 'a VTEP\'s configuration: bgpd takes every line');
  t.equal(check('rr', rr), '', 'a reflector\'s configuration: bgpd takes every line');
  t.match(check('bad', 'router bgp 1\n bogus line\n'), /No such command/, 'the dry run does report a bad line');
  t.match(vtep, /^ {2}advertise-all-vni$/m);
  t.match(rr, /^ bgp listen range 192\.168\.100\.0\/24 peer-group vteps$/m);
  for (const [field, o] of [
    ['routerId', { routerId: '192.168.100.1\n neighbor 6.6.6.6 remote-as 1', routeReflectors: ['192.168.100.9'] }],
    ['routeReflectors[0]', { routerId: '192.168.100.1', routeReflectors: ['192.168.100.9 remote-as 1'] }],
    ['listenRange', { routerId: '192.168.100.9', listenRange: '0.0.0.0/0 peer-group x' }],
    ['routeReflectors', { routerId: '192.168.100.1' }],
    ['routeReflectors', { routerId: '192.168.100.1', routeReflectors: [] }],
  ] as const) {
    let e: unknown;
    try { frrEvpnConfig({ asn: ASN, holdTimeSec: 9, ...o }); } catch (x) { e = x; }
    t.ok(e instanceof RtnlInputError && e.field === field, `${field}: refused (${String(e)})`);
  }
});

t.test('the plugin\'s evpn flag: static peers, a missing local address and another mode are refused (code 7, naming the field)', async (t) => {
  const cniPath = installPlugins(t);
  createNetns('ev-conf').close();
  t.teardown(() => deleteNetns('ev-conf'));
  const base = { type: 'rtnl', mode: 'vxlan', vni: 100, evpn: true, local: '192.168.100.1', ipam: { type: 'rtnl-ipam', subnet: '10.10.0.0/24', dataDir: '/run/rtnl-evpn-conf-ipam' } };
  for (const [field, plugin] of [
    ['peers', { ...base, peers: [{ underlayIp: '192.168.100.2' }] }],
    ['local', { ...base, local: undefined }],
    ['evpn', { ...base, mode: 'bridge' }],
  ] as const) {
    const out = new Runtime({ cniVersion: '1.0.0', name: 'evpn-conf', plugins: [plugin] }).add({ netns: '/run/netns/ev-conf', id: field, cniPath });
    t.equal(out.code, 1, `${field}: exit code 1 (the error result on stdout carries the code) ${out.stdout}`);
    t.match(out.json, { code: 7, msg: `invalid ${field}` }, `${field}: ${out.json?.details}`);
  }
});

t.test('EVPN through the agents: two VPCs with overlapping pod ranges, FDB by membership, status, restarts, withdrawal, cleanup', async (t) => {
  const tmp = fs.mkdtempSync('/run/rtnl-evpn-');
  const c = new Cluster('ev');
  const agents = new Map<number, AgentProc>();
  const pods: string[] = [];
  t.teardown(async () => {
    for (const a of agents.values()) await a.stop('SIGKILL');
    for (const pid of daemonsUnder(FRR_RUN, ['zebra', 'bgpd'])) process.kill(pid, 'SIGKILL');
    for (const d of fs.readdirSync('/run/frr')) if (d.startsWith('rtnl-ev-')) fs.rmSync(`/run/frr/${d}`, { recursive: true, force: true });
    for (const p of pods) try { deleteNetns(p); } catch { /* gone */ }
    c.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const cniPath = installPlugins(t);
  c.underlay();
  const nodes = new Map([...NODES, RR].map((i) => [i, c.addBareNode(i)]));
  // The cluster network (host-gw, from a static file) is the agents' usual job; --evpn adds the speaker beside it.
  const file = `${tmp}/cluster.json`;
  fs.writeFileSync(file, JSON.stringify({ network: { network: '10.97.0.0/16', subnetLen: 24 }, nodes: [...NODES, RR].map((i) => ({ name: nodes.get(i)!.name, underlay: underlayIp(i), subnet: `10.97.${i}.0/24` })) }));
  const args = (i: number) => [
    '--static', file, '--backend', 'host-gw', '--node-name', nodes.get(i)!.name, '--netns', nodes.get(i)!.name, '--public-ip', underlayIp(i),
    '--state-dir', `${tmp}/state${i}`, '--no-cni', '--log-level', 'debug', '--evpn', '--evpn-as', String(ASN), '--evpn-hold-time', '9',
    ...(i === RR ? ['--evpn-reflector', '192.168.100.0/24'] : ['--evpn-route-reflector', underlayIp(RR)]),
  ];
  const start = (i: number) => {
    const a = new AgentProc(args(i));
    agents.set(i, a);
    return a;
  };
  const status = (i: number): AgentStatus => JSON.parse(fs.readFileSync(`${tmp}/state${i}/status.json`, 'utf8'));
  const ps = (i: number) => `rtnl-${nodes.get(i)!.name}`;
  for (const i of [RR, ...NODES]) await start(i).logged('evpn speaker started', 60_000);
  for (const i of [RR, ...NODES]) t.equal(daemonsUnder(`${FRR_RUN}/${ps(i)}/`, ['zebra', 'bgpd']).length, 2, `${nodes.get(i)!.name}: its agent runs zebra and bgpd in ${FRR_RUN}/${ps(i)}; no node was given a peer`);

  const conflist = (vpc: Vpc, i: number): Conflist => ({
    cniVersion: '1.0.0', name: `vpc-${vpc}`,
    plugins: [{
      type: 'rtnl', mode: 'vxlan', vni: VPCS[vpc].vni, evpn: true, local: underlayIp(i), stateDir: `${tmp}/cni${i}`,
      // The same range in both VPCs; each node hands out its own slice of it.
      ipam: { type: 'rtnl-ipam', ranges: [[{ subnet: '10.10.0.0/24', rangeStart: `10.10.0.${i * 10 + 1}`, rangeEnd: `10.10.0.${i * 10 + 9}` }]], dataDir: `${tmp}/ipam${i}` },
    }],
  });
  const runtimes = new Map<string, Runtime>();
  const info = new Map<string, { ip: string; mac: string }>();
  const podName = (vpc: Vpc, i: number) => `ev-${vpc}${i}`;
  const t0 = Date.now();
  for (const vpc of ['a', 'b'] as const) {
    for (const i of VPCS[vpc].nodes) {
      const name = podName(vpc, i);
      createNetns(name).close();
      pods.push(name);
      const rt = new Runtime(conflist(vpc, i));
      runtimes.set(name, rt);
      const out = rt.add({ netns: `/run/netns/${name}`, node: nodes.get(i)!.name, id: name, cniPath });
      if (out.code !== 0) throw new Error(`ADD ${name}: ${out.stdout}${out.stderr}`);
      const eth0 = out.json.interfaces.find((x: { sandbox?: string }) => x.sandbox);
      info.set(name, { ip: out.json.ips[0].address.replace(/\/\d+$/, ''), mac: eth0.mac });
    }
  }
  t.equal(info.get(podName('a', 1))!.ip, info.get(podName('b', 1))!.ip, `the two VPCs' pods on node1 have the same address (${info.get(podName('a', 1))!.ip})`);

  const fdb = (i: number, vni: number): any[] => {
    try {
      return JSON.parse(execFileSync('bridge', ['-n', nodes.get(i)!.name, '-j', 'fdb', 'show', 'dev', `vx${vni}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    } catch {
      return []; // no such device
    }
  };
  /** What node i's vx<VNI> FDB says about remote VTEPs: flood destinations and MAC -> VTEP, sorted. */
  const remote = (i: number, vni: number): string[] => fdb(i, vni).filter((e) => e.dst !== undefined)
    .map((e) => (e.mac === '00:00:00:00:00:00' ? `flood ${e.dst}` : `${e.mac} ${e.dst}`)).sort();
  const expected = (i: number, vpc: Vpc, members: readonly number[] = VPCS[vpc].nodes): string[] => (members.includes(i) ? members.filter((j) => j !== i)
    .flatMap((j) => [`flood ${underlayIp(j)}`, `${info.get(podName(vpc, j))!.mac} ${underlayIp(j)}`]).sort() : []);
  const converged = (b: Record<Vpc, readonly number[]> = { a: VPCS.a.nodes, b: VPCS.b.nodes }) => waitFor(() => NODES.every((i) => (['a', 'b'] as const)
    .every((vpc) => JSON.stringify(remote(i, VPCS[vpc].vni)) === JSON.stringify(expected(i, vpc, b[vpc])))), 90_000, 'EVPN FDB contents');
  await converged();
  t.pass(`FDBs converged ${Date.now() - t0} ms after the first pod's ADD began (reported, not asserted)`);

  t.test('each node\'s FDB holds exactly the VTEPs and MACs of the VNIs it has pods in', async (t) => {
    for (const i of NODES) {
      for (const vpc of ['a', 'b'] as const) t.strictSame(remote(i, VPCS[vpc].vni), expected(i, vpc), `node${i} vx${VPCS[vpc].vni}: ${expected(i, vpc).join(', ') || 'no device'}`);
      t.ok(fdb(i, 100).filter((e) => e.dst !== undefined).every((e) => e.flags?.includes('extern_learn') || e.mac === '00:00:00:00:00:00'), `node${i}: MAC entries installed by the speaker (extern_learn)`);
    }
    t.throws(() => execFileSync('ip', ['-n', nodes.get(3)!.name, 'link', 'show', 'vx200'], { stdio: 'ignore' }), 'node3, without VPC B, has no vx200');
    const all3 = JSON.parse(execFileSync('bridge', ['-n', nodes.get(3)!.name, '-j', 'fdb', 'show'], { encoding: 'utf8' })) as any[];
    const bMacs = VPCS.b.nodes.map((j) => info.get(podName('b', j))!.mac);
    t.notOk(all3.some((e) => bMacs.includes(e.mac)), 'node3 has no FDB entry for a VPC B pod');
  });

  t.test('pods reach their own VPC only, across nodes, with the same addresses in both', async (t) => {
    for (const vpc of ['a', 'b'] as const) {
      for (const i of VPCS[vpc].nodes) for (const j of VPCS[vpc].nodes) {
        if (i !== j) t.ok(ping(podName(vpc, i), info.get(podName(vpc, j))!.ip) >= 0, `${podName(vpc, i)} -> ${podName(vpc, j)} (${info.get(podName(vpc, j))!.ip})`);
      }
    }
    for (const vpc of ['a', 'b'] as const) {
      const other = vpc === 'a' ? 'b' : 'a';
      const target = info.get(podName(vpc, 2))!;
      const neigh = JSON.parse(execFileSync('ip', ['-n', podName(vpc, 1), '-j', 'neigh', 'show', target.ip], { encoding: 'utf8' }))[0];
      t.equal(neigh?.lladdr, target.mac, `${podName(vpc, 1)} resolved ${target.ip} to its own VPC's pod, not ${info.get(podName(other, 2))!.mac}`);
    }
  });

  t.test('status shows the EVPN state: sessions, VNIs, remote VTEPs read from the FDB', async (t) => {
    const vnis1 = [{ vni: 100, device: 'vx100', remoteVteps: [underlayIp(2), underlayIp(3)], remoteMacs: 2 }, { vni: 200, device: 'vx200', remoteVteps: [underlayIp(2)], remoteMacs: 1 }];
    await waitFor(() => JSON.stringify(status(1).evpn?.vnis) === JSON.stringify(vnis1), 30_000, 'node1\'s status to list its VNIs');
    t.match(status(1).evpn, { role: 'vtep', pathspace: ps(1), sessions: [{ peer: underlayIp(RR), state: 'Established' }], vnis: vnis1 }, 'node1: one session (the reflector), VNIs 100 and 200 with their VTEPs');
    t.notOk('problem' in status(1).evpn!, 'node1: no EVPN problem');
    await waitFor(() => status(RR).evpn?.sessions.filter((x) => x.state === 'Established').length === 3, 30_000, 'the reflector\'s status to list three sessions');
    t.match(status(RR).evpn, { role: 'reflector', vnis: [] }, 'the reflector: three client sessions up, no VNI of its own');
    const st = runAgent(['status', '--state-dir', `${tmp}/state1`]);
    t.equal(st.code, 0, `status: healthy ${st.stderr}`);
    t.match(st.stdout, /evpn\s+vtep, pathspace rtnl-ev-node1, zebra \d+ bgpd \d+, sessions 1\/1 up, 2 VNIs/);
    t.match(st.stdout, new RegExp(`vni 100\\s+vx100\\s+VTEPs ${underlayIp(2)} ${underlayIp(3)}, remote MACs 2`));
  });

  t.test('an agent restart without --cleanup: the speaker is adopted, no FDB change on the others', async (t) => {
    const seen: string[] = [];
    const subs = [2, 3].map((i) => {
      const sub = subscribe({ kinds: ['fdb'], netns: nodes.get(i)!.ns });
      sub.on('event', (e) => { if (e.kind === 'fdb' && e.value.dst !== undefined) seen.push(`node${i} ${e.action} ${e.value.mac} ${e.value.dst}`); });
      return sub;
    });
    t.teardown(() => { for (const s of subs) s.close(); });
    const before = daemonsUnder(`${FRR_RUN}/${ps(1)}/`, ['zebra', 'bgpd']).sort();
    t.equal(await agents.get(1)!.stop('SIGTERM'), 0, 'SIGTERM: clean exit');
    t.strictSame(daemonsUnder(`${FRR_RUN}/${ps(1)}/`, ['zebra', 'bgpd']).sort(), before, 'zebra and bgpd outlive the agent');
    await start(1).logged('evpn speaker adopted');
    await new Promise((r) => setTimeout(r, 4000));
    t.strictSame(daemonsUnder(`${FRR_RUN}/${ps(1)}/`, ['zebra', 'bgpd']).sort(), before, 'the restarted agent adopted them');
    t.strictSame(seen, [], 'nodes 2 and 3 saw no FDB entry of a remote VTEP change');
    t.ok(ping(podName('a', 2), info.get(podName('a', 1))!.ip) >= 0, 'node2\'s VPC A pod still reaches node1\'s');
  });

  t.test('the last pod of a VNI on a node withdraws it from the others', async (t) => {
    const name = podName('b', 2);
    const out = runtimes.get(name)!.run('DEL', { netns: `/run/netns/${name}`, node: nodes.get(2)!.name, id: name, cniPath });
    t.equal(out.code, 0, `DEL ${name}: ${out.stderr}`);
    t.throws(() => execFileSync('ip', ['-n', nodes.get(2)!.name, 'link', 'show', 'vx200'], { stdio: 'ignore' }), 'node2\'s vx200 went with its last pod');
    const t1 = Date.now();
    await converged({ a: VPCS.a.nodes, b: [1] });
    t.pass(`node1's vx200 dropped node2's VTEP and MAC ${Date.now() - t1} ms after the DEL`);
    t.strictSame(remote(1, 200), [], 'node1\'s vx200 has no remote entry left');
    t.strictSame(remote(1, 100), expected(1, 'a'), 'VPC A is untouched');
    await waitFor(() => status(1).evpn?.vnis.find((v) => v.vni === 200)?.remoteVteps.length === 0, 30_000, 'node1\'s status to show vx200 without VTEPs');
    t.pass(`node1's status followed ${Date.now() - t1} ms after the DEL (FDB events, not the 2 s check)`);
  });

  t.test('the reflector\'s bgpd killed: its agent starts the speaker again and the VTEPs reconverge; a reflector agent restart changes nothing', async (t) => {
    const [bgpd] = daemonsUnder(`${FRR_RUN}/${ps(RR)}/`, ['bgpd']);
    process.kill(bgpd!, 'SIGKILL');
    const t1 = Date.now();
    await agents.get(RR)!.logged('evpn speaker not running; starting it again');
    await waitFor(() => daemonsUnder(`${FRR_RUN}/${ps(RR)}/`, ['zebra', 'bgpd']).length === 2 && !daemonsUnder(`${FRR_RUN}/${ps(RR)}/`, ['bgpd']).includes(bgpd!), 30_000, 'a new bgpd on the reflector');
    await converged({ a: VPCS.a.nodes, b: [1] });
    t.pass(`FDBs as before ${Date.now() - t1} ms after the reflector's bgpd was killed (reported, not asserted)`);
    t.ok(ping(podName('a', 1), info.get(podName('a', 3))!.ip) >= 0, 'VPC A pods on nodes 1 and 3 reach each other again');
    t.equal(await agents.get(RR)!.stop('SIGTERM'), 0, 'the reflector\'s agent: SIGTERM');
    await start(RR).logged('evpn speaker adopted');
    t.strictSame([remote(1, 100), remote(1, 200)], [expected(1, 'a'), []], 'node1\'s FDB unchanged');
    t.ok(ping(podName('a', 3), info.get(podName('a', 2))!.ip) >= 0, 'VPC A pods on nodes 3 and 2 reach each other');
  });

  t.test('an agent restarted with other --evpn flags: it restarts FRR with the new configuration', async (t) => {
    t.equal(await agents.get(3)!.stop('SIGTERM'), 0, 'node3\'s agent: SIGTERM');
    const a = new AgentProc(args(3).map((x, k, all) => (all[k - 1] === '--evpn-hold-time' ? '12' : x)));
    agents.set(3, a);
    await a.logged('evpn speaker started');
    t.match(fs.readFileSync(`${FRR_RUN}/${ps(3)}/bgpd.conf`, 'utf8'), /^ timers bgp 4 12$/m, 'bgpd.conf has the new hold time');
    const t1 = Date.now();
    await converged({ a: VPCS.a.nodes, b: [1] });
    t.pass(`FDBs as before ${Date.now() - t1} ms after the new speaker ran (reported, not asserted)`);
  });

  t.test('a VTEP\'s zebra killed: its agent starts zebra and bgpd again and the FDBs reconverge', async (t) => {
    const before = daemonsUnder(`${FRR_RUN}/${ps(3)}/`, ['zebra', 'bgpd']);
    const [zebra] = daemonsUnder(`${FRR_RUN}/${ps(3)}/`, ['zebra']);
    const logs = agents.get(3)!.logs.length;
    process.kill(zebra!, 'SIGKILL');
    const t1 = Date.now();
    await waitFor(() => agents.get(3)!.logs.slice(logs).some((l) => l.msg === 'evpn speaker not running; starting it again'), 30_000, 'node3\'s agent to notice');
    await waitFor(() => { const now = daemonsUnder(`${FRR_RUN}/${ps(3)}/`, ['zebra', 'bgpd']); return now.length === 2 && !now.some((p) => before.includes(p)); }, 30_000, 'a new zebra and bgpd on node3');
    await converged({ a: VPCS.a.nodes, b: [1] });
    t.pass(`FDBs as before ${Date.now() - t1} ms after node3's zebra was killed (reported, not asserted)`);
    t.ok(ping(podName('a', 3), info.get(podName('a', 1))!.ip) >= 0, 'node3\'s VPC A pod reaches node1\'s');
  });

  t.test('--cleanup: no zebra or bgpd left, no FRR run directory', async (t) => {
    for (const i of [...NODES, RR]) {
      t.equal(await agents.get(i)!.stop('SIGTERM'), 0, `${nodes.get(i)!.name}: SIGTERM`);
      const r = runAgent([...args(i), '--cleanup']);
      t.equal(r.code, 0, `${nodes.get(i)!.name}: --cleanup ${r.stderr}`);
      t.notOk(fs.existsSync(`${FRR_RUN}/${ps(i)}`), `${nodes.get(i)!.name}: no ${FRR_RUN}/${ps(i)}`);
    }
    t.strictSame(daemonsUnder(FRR_RUN, ['zebra', 'bgpd']), [], 'no zebra or bgpd of an FRR pathspace');
  });
  assertHome(t);
});
