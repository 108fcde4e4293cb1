// The rtnl plugin (bridge mode, rtnl-ipam) under concurrency and faults, as
// issue 4 part 5 asks: 100 ADDs as concurrent processes, plugins SIGKILLed
// at random points of ADD then DELed, ADDs and DELs interleaved, and at the
// end the node namespace (links, addresses, routes, neighbours) and the IPAM
// store exactly as they were before the first pod. The bridge cni0 (and its
// gateway address) stays, as the reference bridge plugin leaves its bridge:
// the snapshot to compare against is taken after one warm-up ADD+DEL, and
// its difference from the pristine namespace is checked to be only cni0.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { hostVethName } from '../src/plugin/plugin.js';
import { testNs, type TestNs } from './lib.js';
import { execAsync, installPlugins, pingAll, tmpDir, type Call, type Out } from './plugin-runtime.js';

const N = 100, KILLED = 20, SUBNET = '10.70.0', GATEWAY = `${SUBNET}.1`;

const node = testNs(t, 'sn');
const cniPath = installPlugins(t);
const dataDir = tmpDir(t);
const conf = {
  cniVersion: '1.1.0', name: 'scale', type: 'rtnl', bridge: 'cni0', isGateway: true,
  ipam: { type: 'rtnl-ipam', dataDir, ranges: [[{ subnet: `${SUBNET}.0/24` }]] },
};
const call = (pod: string): Call => ({ netns: `/run/netns/${pod}`, node: node.name, cniPath, id: pod });
const run = (cmd: 'ADD' | 'DEL', pods: readonly TestNs[]): Promise<Out[]> => Promise.all(pods.map((p) => execAsync(cmd, conf, call(p.name))));
const pods = (n: number, prefix: string): TestNs[] => Array.from({ length: n }, () => testNs(t, prefix));
const address = (o: Out): string => o.json?.ips?.[0]?.address;
const failures = (outs: Out[]) => outs.map((o, i) => [i, o] as const).filter(([, o]) => o.code !== 0).map(([i, o]) => `#${i}: ${o.code} ${o.stdout}${o.stderr}`);

/** The store's files (addresses, last_reserved_ip, lock, any temp file). */
const storeFiles = (): string[] => {
  try { return fs.readdirSync(path.join(dataDir, 'scale')).sort(); } catch { return []; }
};
/** Addresses reserved in the store. */
const reserved = () => storeFiles().filter((f) => f.startsWith(SUBNET));
/** The bridge's ports, by iproute2. */
const ports = (): string[] => node.ipJson('link', 'show', 'master', 'cni0').map((l: any) => l.ifname).sort();
const rtv = (): string[] => node.ipJson('link', 'show').map((l: any) => l.ifname).filter((n: string) => n.startsWith('rtv'));

/** Drops what changes with time alone (bridge timers). */
const stable = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (k, x) => (k.endsWith('_timer') ? undefined : x)));
/** The node namespace as iproute2 sees it, and the store's file list. */
function snapshot() {
  return {
    link: stable(node.ipJson('-d', 'link', 'show')),
    addr: stable(node.ipJson('-d', 'addr', 'show')),
    route: node.ipJson('route', 'show', 'table', 'all'),
    route6: node.ipJson('-6', 'route', 'show', 'table', 'all'),
    neigh: node.ipJson('neigh', 'show'),
    neigh6: node.ipJson('-6', 'neigh', 'show'),
    store: storeFiles(),
  };
}

/** Resolves once pred() holds (polled), or after `ms` (the caller's assertion then fails). */
async function until(pred: () => boolean, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !pred() && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
}
const cni0 = () => node.ipJson('addr', 'show', 'cni0')[0];
/** cni0 at rest with no ports: carrier gone (the kernel notices asynchronously), IPv6 DAD done while it had one. */
const idle = () => cni0().operstate === 'DOWN' && !cni0().addr_info.some((a: any) => a.tentative);

let pristine: ReturnType<typeof snapshot>;
let base: ReturnType<typeof snapshot>;
let addMs = 300; // a single ADD's wall time under load; measured by the first test

t.test('warm-up ADD+DEL leaves only the bridge cni0 and its gateway', async (t) => {
  pristine = snapshot();
  const [w] = pods(1, 'sw');
  t.equal((await run('ADD', [w!]))[0]!.code, 0, 'ADD');
  await until(() => !cni0().addr_info.some((a: any) => a.tentative), 5000); // its link-local address, as it will be after the pods
  t.equal((await run('DEL', [w!]))[0]!.code, 0, 'DEL');
  await until(idle, 5000);
  t.ok(idle(), 'cni0 at rest');
  base = snapshot();
  const names = (s: typeof base) => (s.link as any[]).map((l) => l.ifname);
  t.same(names(base), [...names(pristine), 'cni0'], 'links: cni0 added');
  t.same((base.route as any[]).filter((r) => r.dev !== 'cni0'), pristine.route, 'IPv4 routes: only cni0\'s added');
  t.same((base.addr as any[]).find((a) => a.ifname === 'cni0').addr_info.filter((a: any) => a.family === 'inet').map((a: any) => a.local), [GATEWAY]);
  t.same(base.store, ['last_reserved_ip.0', 'lock'], 'store: no address, only host-local\'s bookkeeping files');
});

t.test(`${N} concurrent ADDs: distinct addresses, ${N} bridge ports, pods reach each other`, async (t) => {
  const ps = pods(N, 'sp');
  const t0 = Date.now();
  const outs = await run('ADD', ps);
  const wall = Date.now() - t0;
  t.same(failures(outs), [], 'every ADD succeeded');
  const addrs = outs.map(address);
  t.equal(new Set(addrs).size, N, `${N} distinct addresses`);
  t.ok(addrs.every((a) => a?.startsWith(`${SUBNET}.`) && a.endsWith('/24')), 'all from the range');
  t.equal(reserved().length, N, `${N} reservations in the store`);
  t.same(ports(), ps.map((p) => hostVethName(p.name, 'eth0')).sort(), `cni0 has exactly the ${N} host veths as ports`);
  const seen = ps.map((p) => p.ipJson('-4', 'addr', 'show', 'eth0')[0]?.addr_info?.[0]);
  t.same(seen.map((a) => `${a?.local}/${a?.prefixlen}`), addrs, 'each pod holds the address of its result (iproute2)');
  const ips = addrs.map((a) => a.split('/')[0]!);
  t.same(await pingAll(ps.map((p, i) => [p, ips[(i + 1) % N]!])), [], 'each pod pings the next one');
  t.comment(`${N} concurrent ADDs: ${wall} ms wall`);
  addMs = Math.max(50, wall / (N / 4)); // ~4 ADDs run at once on 2 CPUs (each waits on its IPAM child)

  const d0 = Date.now();
  t.same(failures(await run('DEL', ps)), [], 'every DEL succeeded');
  t.comment(`${N} concurrent DELs: ${Date.now() - d0} ms wall`);
  t.same(ports(), [], 'no port left');
  t.same(reserved(), [], 'no reservation left');
});

t.test(`${KILLED} plugins SIGKILLed at random points of ADD, then DEL cleans everything`, async (t) => {
  const ps = pods(KILLED, 'sk');
  // Stratified random points over a whole ADD and a bit after: start-up, IPAM running, links being made, addresses going on.
  const delays = ps.map((_, i) => Math.round((addMs * 1.5 * (i + Math.random())) / KILLED));
  const outs = await Promise.all(ps.map((p, i) => execAsync('ADD', conf, call(p.name), { killAfterMs: delays[i] })));
  const killed = outs.filter((o) => o.signal === 'SIGKILL').length;
  t.comment(`killed ${killed} of ${KILLED} mid-ADD (delays 0-${delays.at(-1)} ms), ${KILLED - killed} finished first; ${rtv().length} host veths and ${reserved().length} reservations left behind`);
  t.ok(killed >= KILLED / 2, 'most were killed before finishing');

  // The runtime's reaction to a failed ADD: DEL, at once (orphaned IPAM ADDs may still be running).
  t.same(failures(await run('DEL', ps)), [], 'every DEL succeeded');
  const deadline = Date.now() + 20_000;
  const running = () => outs.map((o) => o.pgid!).filter((g) => { try { process.kill(-g, 0); return true; } catch { return false; } });
  while (running().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.same(running(), [], 'orphaned IPAM processes have finished');
  t.same(rtv(), [], 'no host veth left');
  t.same(ports(), [], 'no bridge port left');
  t.same(reserved(), [], 'no reservation left (an orphaned IPAM ADD whose caller died releases its own)');
  t.same(storeFiles(), base.store, 'no temp file left in the store');
  t.same(ps.filter((p) => p.h.linkList().some((l) => l.name === 'eth0')).map((p) => p.name), [], 'no pod has eth0');
});

t.test('an IPAM ADD whose caller is gone releases what it reserved', async (t) => {
  const ipam = { ...conf, type: conf.ipam.type }; // the network config, as a plugin hands it to its IPAM
  const at = (id: string): Call => ({ cniPath, id, netns: `/run/netns/${node.name}` }); // IPAM only checks it is set
  const ok = await execAsync('ADD', ipam, at('heard'));
  t.equal(ok.code, 0, `ADD with a listening caller: ${ok.stdout}`);
  const lost = await execAsync('ADD', ipam, at('deaf'), { deaf: true });
  t.equal(lost.code, 1, 'ADD whose result cannot be written fails');
  t.same(reserved(), [address(ok).split('/')[0]], 'only the delivered reservation is kept');
  t.equal((await execAsync('DEL', ipam, at('heard'))).code, 0, 'DEL');
  t.same(reserved(), []);
});

t.test('ADDs and DELs interleaved: the survivors keep their addresses, nothing else is left', async (t) => {
  const first = pods(40, 'si');
  const a = await run('ADD', first);
  t.same(failures(a), [], 'first 40 ADDs');
  const gone = first.slice(0, 20), kept = first.slice(20);
  const fresh = pods(20, 'sj');
  // DELs of half, ADDs of new pods, in one concurrent wave: freed addresses may be handed out again at once.
  const [d, b] = await Promise.all([run('DEL', gone), run('ADD', fresh)]);
  t.same(failures(d), [], '20 DELs');
  t.same(failures(b), [], '20 ADDs');
  const live = [...kept, ...fresh];
  const liveAddrs = [...a.slice(20), ...b].map(address);
  t.equal(new Set(liveAddrs).size, 40, '40 distinct addresses among the live pods');
  t.same(reserved().sort(), liveAddrs.map((x) => x.split('/')[0]).sort(), 'the store holds exactly the live pods\' addresses');
  t.same(ports(), live.map((p) => hostVethName(p.name, 'eth0')).sort(), 'the bridge has exactly the live pods\' veths');
  t.same(await pingAll(live.map((p, i) => [p, liveAddrs[(i + 1) % live.length]!.split('/')[0]!])), [], 'each live pod pings another');
  t.same(failures(await run('DEL', live)), [], 'DEL of the rest');
});

t.test('after DEL of everything the node and the store are exactly as after the warm-up', async (t) => {
  await until(idle, 5000);
  const now = snapshot();
  for (const k of Object.keys(base) as Array<keyof typeof base>) t.same(now[k], base[k], k);
});
