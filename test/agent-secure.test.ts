// The node agent on a production-like etcd: three members on loopback with
// TLS (certificates made here with openssl; clients must present one) and
// authentication on (a user limited to the overlay's prefix, tokens that
// expire after 3 s). Three agent processes with client certificates and
// credentials. Hostile records written with etcdctl are refused without a
// kernel change; a node's own record overwritten is restored; the agents
// ride out a frozen member, a killed one and a lost quorum without a route
// flap or a lost lease; refused certificates and credentials exit clearly.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { Cluster, underlayIp } from '../demo/cluster.js';
import { makeCerts, startEtcdCluster } from '../demo/etcd.js';
import { subnetKey } from '../src/agent/lease.js';
import type { AgentStatus } from '../src/agent/state.js';
import { type RtnlEvent, subscribe } from '../src/index.js';
import { AGENT, AgentProc, runAgent, waitFor } from './agent-harness.js';
import { assertHome } from './lib.js';
import { tmpDir } from './plugin-runtime.js';

/** Wide margins: a busy 2-CPU machine may take seconds to restart a process. */
const TTL = 15;
const PREFIX = '/rtnl/network';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('three agents on a 3-member etcd with TLS and auth', async (t) => {
  const tmp = tmpDir(t, 'rtnl-agent-secure-');
  const certs = makeCerts(tmp);
  const etcd = await startEtcdCluster({ certs, root: 'rootpw', tokenTtlSec: 3 });
  t.teardown(() => etcd.stop());
  const ctl = etcd.etcdctl;
  // What an operator sets up: a role limited to the overlay's keys, one user per purpose.
  ctl('role', 'add', 'rtnl');
  ctl('role', 'grant-permission', 'rtnl', '--prefix=true', 'readwrite', '/rtnl/');
  for (const u of ['rtnl', 'rtnl4']) {
    ctl('user', 'add', `${u}:s3cret`);
    ctl('user', 'grant-role', u, 'rtnl');
  }
  fs.writeFileSync(`${tmp}/password`, 's3cret\n', { mode: 0o600 });

  const c = new Cluster('asec');
  t.teardown(() => c.destroy());
  c.underlay();
  const nodes = [1, 2, 3, 4].map((i) => c.addBareNode(i));
  const dir = (i: number) => `${tmp}/node${i}`;
  const tlsArgs = ['--etcd-cafile', certs.ca, '--etcd-certfile', certs.client.cert, '--etcd-keyfile', certs.client.key];
  const args = (i: number, extra: string[] = []) => [
    '--etcd-endpoints', etcd.endpoints.join(','), ...tlsArgs, '--node-name', `node${i}`, '--netns', nodes[i - 1]!.name,
    '--public-ip', underlayIp(i), '--network', '10.244.0.0/16', '--lease-ttl', String(TTL), '--state-dir', dir(i), '--no-cni', '--log-level', 'debug',
    // node3 gives its password on the command line, the others in a file
    ...(i === 3 ? ['--etcd-username', 'rtnl', '--etcd-password', 's3cret'] : ['--etcd-username', i === 4 ? 'rtnl4' : 'rtnl', '--etcd-password-file', `${tmp}/password`]),
    ...extra,
  ];
  const agents = new Map<number, AgentProc>();
  t.teardown(async () => { for (const a of agents.values()) await a.stop('SIGKILL'); });
  const status = (i: number): AgentStatus => JSON.parse(fs.readFileSync(`${dir(i)}/status.json`, 'utf8'));
  const routed = (i: number) => nodes[i - 1]!.h.routeList({ family: 4 }).filter((r) => r.gateway !== undefined).map((r) => r.dst).sort();
  const live = [1, 2, 3];
  const subnetOf = (i: number) => status(i).self!.subnet;
  const converged = (members: number[], ms = 60_000) => waitFor(() => members.every((i) => {
    try {
      return JSON.stringify(routed(i)) === JSON.stringify(members.filter((j) => j !== i).map(subnetOf).sort());
    } catch {
      return false;
    }
  }), ms, `nodes ${members.join(',')} to route to each other`);
  /** The lease a key is attached to, in decimal (etcdctl's JSON has it as an int64 that JSON.parse would round). */
  const leaseOf = (key: string) => /"lease":(\d+)/.exec(ctl('get', key, '-w', 'json'))?.[1];
  const underlayRoute = (i: number) => JSON.stringify(nodes[i - 1]!.h.routeList({ family: 4 }).filter((r) => r.dst === '192.168.100.0/24'));

  for (const i of live) agents.set(i, new AgentProc(args(i)));
  for (const i of live) await agents.get(i)!.logged('joined', 60_000);
  await converged(live);
  const leases = live.map((i) => status(i).lease!.id);
  const underlays = live.map(underlayRoute);
  t.match(underlays[0], /"protocol":"kernel"/, 'each node has its connected underlay route');

  /** Every route, overlay neighbour and FDB entry change on the three nodes, from now on. */
  const watchKernel = () => {
    const seen: string[] = [];
    const subs = live.map((i) => {
      const s = subscribe({ kinds: ['route', 'neighbour', 'fdb'], netns: { name: nodes[i - 1]!.name } });
      const dev = nodes[i - 1]!.h.linkGet('rtnl.1').index;
      s.on('event', (e: RtnlEvent) => {
        if (e.kind === 'route' && e.value.family !== 4) return; // IPv6 link-local routes come and go on their own
        if ((e.kind === 'neighbour' || e.kind === 'fdb') && e.value.link !== dev) return; // the underlay's ARP cache ages on its own
        // The agent's entries are permanent unicast ones; the kernel ages the device's IPv6 multicast neighbours on its own.
        if (e.kind === 'neighbour' && e.value.state !== 'permanent') return;
        if (e.kind === 'fdb' && (parseInt(e.value.mac.slice(0, 2), 16) & 1) === 1) return;
        seen.push(`node${i} ${e.kind} ${e.action} ${JSON.stringify(e.value)}`);
      });
      return s;
    });
    return { seen, close: () => { for (const s of subs) s.close(); } };
  };

  t.test('hostile records are refused, logged with their reason once, and change nothing in any kernel', async (t) => {
    const s2 = subnetOf(2);
    const taken = new Set(live.map(subnetOf));
    const free = [...Array(250).keys()].map((k) => `10.244.${k + 1}.0/24`).filter((s) => !taken.has(s));
    const hostile: Array<{ subnet: string; name: string; underlay?: string; vtepMac?: string; reason: RegExp }> = [
      { subnet: '192.168.100.0/24', name: 'underlay-net', reason: /not inside the cluster network 10\.244\.0\.0\/16/ },
      { subnet: '128.0.0.0/1', name: 'half-the-internet', reason: /not inside the cluster network/ },
      { subnet: '172.16.0.0/12', name: 'rfc1918', reason: /not inside the cluster network/ },
      { subnet: s2.replace('/24', '/25'), name: 'aaa-sorts-first', reason: /is a \/25, not a \/24/ },
      { subnet: '10.244.0.0/24', name: 'reserved', reason: /first subnet, which is reserved/ },
      // sorts before node2 by name, but node2's record is older: node2 keeps its underlay
      { subnet: free[0]!, name: 'aaa-steals-node2', underlay: underlayIp(2), reason: /underlay 192\.168\.100\.2 is (already the earlier record .*'s|this node's own address)/ },
      ...['127.0.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255'].map((u, k) => ({
        subnet: free[1 + k]!, name: `bad-underlay-${u}`, underlay: u, reason: /underlay: .* is (a loopback|an unspecified|a multicast|the broadcast)/,
      })),
      { subnet: free[5]!, name: 'multicast-mac', vtepMac: '01:00:5e:00:00:01', reason: /vtepMac: expected a unicast MAC like .*, got "01:00:5e:00:00:01"/ },
    ];
    const kernel = watchKernel();
    t.teardown(kernel.close);
    const before = live.map((i) => JSON.stringify(routed(i)));
    for (const [k, h] of hostile.entries()) {
      const value = JSON.stringify({ name: h.name, underlay: h.underlay ?? `192.168.100.${100 + k}`, vtepMac: h.vtepMac ?? `02:ee:00:00:00:${(k + 16).toString(16)}`, subnet: h.subnet });
      ctl('put', subnetKey(PREFIX, h.subnet), value);
    }
    const keys = hostile.map((h) => subnetKey(PREFIX, h.subnet));
    const rejectedLogs = (i: number) => agents.get(i)!.logs.filter((l) => l.msg === 'record rejected' && l.level === 'warn');
    for (const i of live) {
      await waitFor(() => keys.every((k) => rejectedLogs(i).some((l) => l.key === k)), 30_000, `node${i} to log every hostile record`);
      for (const [k, h] of hostile.entries()) t.match(rejectedLogs(i).find((l) => l.key === keys[k]), { name: h.name, reason: h.reason }, `node${i}: ${h.name} refused`);
    }
    await waitFor(() => live.every((i) => status(i).rejected.length === hostile.length), 10_000, 'status to list the rejected records');
    const st = runAgent(['status', '--state-dir', dir(1)]);
    t.equal(st.code, 0, 'rejected records do not make the node unhealthy');
    t.match(st.stdout, /peers\s+2\n/, 'status: two peers, the rejected ones are not peers');
    t.match(st.stdout, new RegExp(`rejected\\s+${hostile.length} `), 'status: the rejected records, counted');
    t.match(st.stdout, /192\.168\.100\.0-24 \(underlay-net\): subnet 192\.168\.100\.0\/24 is not inside the cluster network/, 'each with its key, name and reason');
    const piped = spawnSync('bash', ['-c', 'set -o pipefail; env -u NODE_OPTIONS "$0" status --state-dir "$1" | true', AGENT, dir(1)], { encoding: 'utf8' });
    t.equal(piped.stderr, '', '`rtnl-agent status | true`: no EPIPE trace');

    // Rewritten with the same content: no new log line; with another reason: one more.
    const count = rejectedLogs(1).length;
    ctl('put', keys[1]!, JSON.stringify({ name: 'half-the-internet', underlay: '192.168.100.101', vtepMac: '02:ee:00:00:00:11', subnet: '128.0.0.0/1' }));
    ctl('put', keys[2]!, JSON.stringify({ name: 'rfc1918', underlay: '192.168.100.102', vtepMac: '02:ee:00:00:00:12', subnet: '172.16.0.0/12' }));
    ctl('put', keys[0]!, 'not json');
    await waitFor(() => rejectedLogs(1).length > count, 10_000, 'the changed record to be logged');
    await sleep(1000);
    t.match(rejectedLogs(1).slice(count), [{ key: keys[0], reason: /malformed: record: not JSON/ }], 'once per change: only the record whose reason changed');

    await sleep(1000);
    t.same(kernel.seen, [], 'no route, overlay neighbour or FDB entry changed on any node');
    t.same(live.map((i) => JSON.stringify(routed(i))), before, 'the same routes');
    t.same(live.map(underlayRoute), underlays, 'the underlay route untouched on every node');
    for (const k of keys) ctl('del', k);
    await waitFor(() => live.every((i) => status(i).rejected.length === 0), 10_000, 'the rejected list to empty');
    t.same(live.map(underlayRoute), underlays, 'deleting the records deletes nothing either');
    t.same(kernel.seen, [], 'still no kernel change');
  });

  t.test("a node's own record overwritten: reported, unhealthy, restored on its lease", async (t) => {
    const key = subnetKey(PREFIX, subnetOf(1));
    const original = JSON.parse(ctl('get', key, '--print-value-only'));
    ctl('put', key, JSON.stringify({ ...original, underlay: '192.168.100.99' })); // no lease: it would never expire
    const a = agents.get(1)!;
    const l = await a.logged("this node's record was changed by someone else; restoring it", 20_000);
    t.match(l, { level: 'error', why: /no longer on this node's lease/ }, 'logged at error, naming what changed');
    await waitFor(() => runAgent(['status', '--state-dir', dir(1)]).code === 3, 20_000, 'status to report the node unhealthy');
    t.match(status(1).problem, /own record changed by someone else/, 'status names the problem');
    await waitFor(() => leaseOf(key) !== undefined, 20_000, 'the record to be back on a lease');
    t.equal(leaseOf(key), status(1).lease!.id, "on this node's lease");
    t.same(JSON.parse(ctl('get', key, '--print-value-only')), original, 'with its own content');
    await waitFor(() => [2, 3].every((i) => nodes[i - 1]!.h.fdbList({ link: nodes[i - 1]!.h.linkGet('rtnl.1').index }).some((e) => e.dst === underlayIp(1))), 20_000, "the others' FDB to point at node1 again");
    await a.logged("this node's record is its own again", (TTL + 10) * 1000);
    await waitFor(() => runAgent(['status', '--state-dir', dir(1)]).code === 0, 20_000, 'the node to be healthy again');
  });

  t.test('a frozen member, a killed one, a lost quorum: no route flaps, the leases hold', async (t) => {
    // The agents talk to the first member. Frozen (SIGSTOP), it keeps their
    // connections open and silent: the watch must notice and move on.
    const [m0, m1] = etcd.members as [typeof etcd.members[0], typeof etcd.members[0]];
    m0.freeze();
    const lease9 = ctl('lease', 'grant', '120').match(/lease ([0-9a-f]+) granted/)![1]!;
    const taken = new Set(live.map(subnetOf));
    const subnet = [...Array(250).keys()].map((k) => `10.244.${k + 1}.0/24`).find((x) => !taken.has(x))!;
    const node9 = { name: 'node9', underlay: '192.168.100.9', vtepMac: '02:00:00:00:00:09', subnet };
    ctl('put', subnetKey(PREFIX, node9.subnet), JSON.stringify(node9), '--lease', lease9);
    const ms = await waitFor(() => live.every((i) => routed(i).includes(node9.subnet)), 90_000, 'every agent to see a record written while its member is frozen');
    t.pass(`the watches left the frozen member: the record was routed on every node ${ms} ms after it was written`);
    m0.thaw();
    ctl('lease', 'revoke', lease9);
    await converged(live);

    const kernel = watchKernel();
    t.teardown(kernel.close);
    await etcd.healthy();
    await m1.kill(); // where the agents went after the freeze (the next endpoint)
    await m0.kill(); // and a second one: no quorum left
    await sleep(5000);
    t.ok(live.every((i) => routed(i).length === 2), 'routes stay while etcd has no quorum');
    await m0.start();
    await m1.start();
    await etcd.healthy(undefined, 60_000);
    // Long enough for every lease to have needed renewals through the new members.
    await sleep((TTL + 5) * 1000);
    await waitFor(() => live.every((i) => status(i).problem === undefined), 60_000, 'every agent to report no problem')
      .catch((e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(live.map((i) => status(i).problem))}`); });
    t.same(live.map((i) => status(i).lease!.id), leases, 'the same leases throughout');
    for (const i of live) {
      t.equal(leaseOf(subnetKey(PREFIX, subnetOf(i))), leases[i - 1], `node${i}'s record still on its lease`);
    }
    t.same(kernel.seen, [], 'no route, overlay neighbour or FDB entry changed on any node');
  });

  t.test('refused certificates and credentials: a clear error and a documented exit code', async (t) => {
    const extra = ['--state-dir', `${tmp}/bad`];
    const cases: Array<[string, string[], number, RegExp]> = [
      ['a wrong CA', args(4, [...extra, '--etcd-cafile', certs.otherCa]), 4, /TLS: unable to verify the first certificate/],
      ['no client certificate', args(4, extra).filter((a, k, all) => !['--etcd-certfile', '--etcd-keyfile'].includes(a) && !['--etcd-certfile', '--etcd-keyfile'].includes(all[k - 1]!)), 4, /TLS: .*(bad certificate|certificate required)/],
      ['a wrong password', args(4, extra).map((a) => (a === `${tmp}/password` ? `${tmp}/wrong` : a)), 5, /authentication as \\"rtnl4\\" failed: etcdserver: authentication failed, invalid user ID or password/],
    ];
    fs.writeFileSync(`${tmp}/wrong`, 'guess\n');
    for (const [what, argv, code, message] of cases) {
      const r = runAgent(argv);
      t.equal(r.code, code, `${what}: exit ${code}`);
      t.match(r.stderr, message, `${what}: named in the log`);
    }
    t.notOk(nodes[3]!.h.linkList().some((l) => l.kind === 'vxlan'), 'nothing was made on the node');

    // A token that expires while the password changed: the agent authenticates again, is refused, and exits.
    const a = new AgentProc(args(4));
    agents.set(4, a);
    await a.logged('joined', 60_000);
    etcd.etcdctlInput('changed\n', 'user', 'passwd', 'rtnl4', '--interactive=false');
    t.equal(await a.exited, 5, 'exit 5 once the token expired and authenticating again failed');
    t.ok(a.logs.some((l) => l.msg === 'etcd refused the agent; exiting' && /authentication as "rtnl4" failed/.test(String(l.error))), 'the log names the cause');
  });
  assertHome(t);
});
