// Fuzzing (issue 10): random hostile values fed to the public API and to the
// CNI skeleton with the rtnl plugin's handlers, for a bounded time, seeded
// and reproducible (RTNL_FUZZ_SEED, RTNL_FUZZ_MS per part). Asserted: no
// crash, only typed errors (RtnlInputError / NetlinkError from the API, the
// spec's error JSON from the plugin), and the kernel and the IPAM store
// exactly as before each call.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { invokePlugin } from '../src/cni/skel.js';
import { Handle, NetlinkError, RtnlInputError } from '../src/index.js';
import { rtnlHandlers } from '../src/plugin/plugin.js';
import { testNs } from './lib.js';
import { tmpDir } from './plugin-runtime.js';

const SEED = Number(process.env.RTNL_FUZZ_SEED ?? 0x5eed10);
const MS = Number(process.env.RTNL_FUZZ_MS ?? 3000);

/** mulberry32: a small seeded PRNG, so that a failure replays with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Values no field of the API accepts: each must be refused before anything is sent. */
const hostile: Array<() => unknown> = [
  () => Object.create(null), () => ({ toString() { throw new Error('toString'); } }), () => Symbol('s'), () => 10n,
  () => NaN, () => -1, () => 1.5, () => 2 ** 53, () => Infinity, () => 'a\0b', () => 'x'.repeat(70000), () => () => 0,
  () => new Date(0), () => new Map(), () => /re/, () => Buffer.from('lo'),
];
/** Whole arguments that are no spec, reference or filter. */
const hostileArgs: Array<() => unknown> = [() => null, () => 42, () => -1, () => 'x\0', () => [], () => true, () => Symbol('arg'), ...hostile.slice(0, 2)];

/** Link fields the kernel changes by itself (counters, carrier, operstate): not state anyone's call made. */
const VOLATILE = new Set(['stats', 'operstate', 'carrier', 'carrierChanges', 'flags']);
/** The state of `h`'s namespace that a call could change: links, and IPv4 addresses, routes and neighbours (IPv6 ones come and go with link-local autoconfiguration). */
const snapshot = (h: Handle) => JSON.stringify(
  // Neighbours in state noarp (multicast groups) are the kernel's own, made and dropped as traffic goes.
  [h.linkList(), h.addrList({ family: 4 }), h.routeList({ table: 'all', family: 4 }), h.neighList({ family: 4 }).filter((n) => n.state !== 'noarp')],
  (k, x) => (VOLATILE.has(k) ? undefined : typeof x === 'bigint' ? String(x) : x),
);

/** Typed errors: what the API may throw. */
const typed = (e: unknown) => e instanceof RtnlInputError || e instanceof NetlinkError;

t.test(`the public API: hostile values for ${MS} ms (seed ${SEED})`, (t) => {
  const pod = testNs(t, 'fz');
  const h = pod.h;
  h.linkAdd({ kind: 'bridge', name: 'fz0', up: true });
  const idx = h.linkGet('fz0').index;
  h.addrAdd({ link: idx, address: '10.77.0.1/24' });
  const state = () => snapshot(h);
  const before = state();
  const rnd = prng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  // Each verb with a valid argument list; fields of its objects get hostile values.
  const verbs: Array<[string, () => unknown[]]> = [
    ['linkAdd', () => [{ kind: 'bridge', name: 'fz1', mtu: 1500, up: true, address: '02:00:00:00:00:01', txqlen: 100, master: idx }]],
    ['linkAdd', () => [{ kind: 'veth', name: 'fz2', peer: { name: 'fz3', mtu: 1400, address: '02:00:00:00:00:02' } }]],
    ['linkAdd', () => [{ kind: 'vxlan', name: 'fz4', vni: 7, port: 4789, local: '10.77.0.1', device: idx, ttl: 3, learning: false }]],
    ['linkSet', () => ['fz0', { mtu: 1400, alias: 'fuzz', promisc: true, address: '02:00:00:00:00:03', txqlen: 50 }]],
    ['linkDel', () => ['fz0']], ['linkGet', () => ['fz0']],
    ['linkList', () => [{ master: idx, kind: 'bridge' }]],
    ['addrAdd', () => [{ link: idx, address: '10.77.1.1/24', label: 'fz0', scope: 'global', broadcast: '10.77.1.255' }]],
    ['addrDel', () => [{ link: idx, address: '10.77.0.1/24' }]],
    ['addrList', () => [{ link: idx, family: 4 }]],
    ['routeAdd', () => [{ dst: '10.78.0.0/16', link: idx, table: 100, priority: 5, gateway: '10.77.0.9', metrics: { mtu: 1400 } }]],
    ['routeDel', () => [{ dst: '10.77.0.0/24', link: idx }]],
    ['routeList', () => [{ family: 4, table: 100, link: idx }]],
    ['neighAdd', () => [{ link: idx, address: '10.77.0.9', lladdr: '02:00:00:00:00:09', state: 'permanent' }]],
    ['neighList', () => [{ link: idx, family: 4 }]],
  ];
  /** Puts a hostile value at a random field (nested ones too), a hostile whole argument, or an unknown field. */
  const spoil = (args: unknown[]): unknown[] => {
    const i = Math.floor(rnd() * args.length);
    const r = rnd();
    if (r < 0.15 || typeof args[i] !== 'object') args[i] = pick(hostileArgs)();
    else {
      let o = args[i] as Record<string, unknown>;
      for (;;) {
        const keys = Object.keys(o);
        const k = r < 0.25 ? 'unknownField' : pick(keys);
        if (o[k] && typeof o[k] === 'object' && rnd() < 0.5) { o = o[k] as Record<string, unknown>; continue; }
        // Object.create(null) is an empty spec where an object belongs (peer, metrics): hostile only elsewhere.
        const plain = !!o[k] && Object.getPrototypeOf(o[k]) === Object.prototype;
        o[k] = pick(plain ? hostile.slice(1) : hostile)();
        break;
      }
    }
    return args;
  };
  let calls = 0;
  const untyped: string[] = [], changed: string[] = [];
  for (const end = Date.now() + MS; Date.now() < end; calls++) {
    const [verb, base] = pick(verbs);
    const args = spoil(base());
    const what = `${verb}(${args.map((a) => { try { return JSON.stringify(a, (_, v) => (typeof v === 'bigint' || typeof v === 'symbol' ? String(v) : v)); } catch { return '?'; } }).join(', ')})`;
    try {
      (h as unknown as Record<string, (...a: unknown[]) => unknown>)[verb]!(...args);
    } catch (e) {
      if (!typed(e)) untyped.push(`${what}: ${String(e)}`);
    }
    if (verb !== 'linkGet' && !verb.endsWith('List') && state() !== before) {
      changed.push(what);
      break; // later calls would see another state
    }
  }
  t.comment(`${calls} calls`);
  t.same(untyped.slice(0, 5), [], 'only RtnlInputError or NetlinkError thrown');
  t.same(changed, [], 'the kernel unchanged');
  t.end();
});

t.test(`the CNI skeleton with the rtnl handlers: hostile environments and configs for ${MS} ms (seed ${SEED})`, async (t) => {
  const pod = testNs(t, 'fc');
  const dataDir = tmpDir(t);
  // Relative paths in hostile values (a resolvConf, a stateDir) resolve in a scratch directory, not the worktree.
  const cwd = process.cwd();
  process.chdir(tmpDir(t));
  t.teardown(() => process.chdir(cwd));
  const home = new Handle();
  // The bridge exists beforehand, as shared devices do: an ADD that succeeds (a hostile value in a field it does not
  // use) and its DEL, or an ADD failing after ensuring its bridge, leave all as it was.
  home.linkAdd({ kind: 'bridge', name: 'fzb0', up: true, address: '02:00:00:00:0f:0f' }); // its own MAC: not its first port's
  t.teardown(() => { home.linkDel('fzb0'); home.close(); });
  const bridge = home.linkGet('fzb0').index;
  // Here only the bridge, its ports and its addresses: other tests run in this namespace at the same time.
  const kernel = () => JSON.stringify(
    [home.linkList().filter((l) => l.index === bridge || l.master === bridge), home.addrList({ link: bridge, family: 4 })],
    (k, x) => (VOLATILE.has(k) ? undefined : typeof x === 'bigint' ? String(x) : x),
  ) + snapshot(pod.h);
  /** The store's reservations and temp files (not its lock or last_reserved_ip, which a successful ADD leaves). */
  const store = () => { try { return fs.readdirSync(path.join(dataDir, 'fuzz')).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip')).sort().join(); } catch { return ''; } };
  const rnd = prng(SEED + 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const fifo = path.join(dataDir, 'fifo');
  fs.mkdirSync(dataDir, { recursive: true });
  spawnSync('mkfifo', [fifo]);
  const envValues = ['', 'a\0b', 'é'.repeat(16), 'x'.repeat(300), '../../etc', '/dev/null', fifo, dataDir, '/run/netns/missing', ';;=', 'eth0 x', '.', 'ADD', 'VERSION', 'BOGUS'];
  const jsonValues: unknown[] = [null, -1, 2 ** 32, 2 ** 53, 1.5, '', 'a\0b', 'é'.repeat(20), 'x'.repeat(5000), [], {}, [1, 'a'], { a: { b: [null] } }, true, '../..', fifo, '0.0.0.0/0', 'fe80::1%eth0'];
  const base = () => ({
    env: { CNI_COMMAND: pick(['ADD', 'ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION']), CNI_CONTAINERID: 'fz1', CNI_NETNS: `/run/netns/${pod.name}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', CNI_ARGS: '' } as Record<string, string>,
    conf: {
      cniVersion: pick(['1.1.0', '1.0.0', '0.4.0', '0.3.1']), name: 'fuzz', type: 'rtnl', bridge: 'fzb0', mtu: 1400, hairpinMode: true, mode: 'bridge',
      ipam: { type: 'rtnl-ipam', dataDir, ranges: [[{ subnet: '10.79.0.0/24', gateway: '10.79.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] },
      prevResult: { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ address: '10.79.0.2/24', interface: 0 }], routes: [{ dst: '10.0.0.0/8', table: 5 }] },
      'cni.dev/valid-attachments': [{ containerID: 'x', ifname: 'eth0' }],
    } as Record<string, unknown>,
  });
  /** A random object path inside conf, and a hostile value put there. */
  const spoilConf = (o: Record<string, unknown>) => {
    for (;;) {
      // Never dataDir: a hostile one is a store the config asks for elsewhere ('../..' is /), which IPAM rightly makes;
      // never bridge: a null or empty one means cni0, which other tests in this namespace may use.
      const k = pick(Object.keys(o).filter((x) => x !== 'dataDir' && x !== 'bridge'));
      const v = o[k];
      if (v && typeof v === 'object' && rnd() < 0.6) {
        const inner = Array.isArray(v) ? (v.length ? v : [{}]) : v;
        if (Array.isArray(inner)) { o = (inner[0] && typeof inner[0] === 'object' ? inner[0] : inner) as Record<string, unknown>; } else o = inner as Record<string, unknown>;
        if (Array.isArray(o) || !Object.keys(o).length) { (o as Record<string, unknown>)[k] = structuredClone(pick(jsonValues)); return; }
        continue;
      }
      o[k] = structuredClone(pick(jsonValues));
      return;
    }
  };
  const before = kernel();
  let calls = 0;
  const bad: string[] = [], changed: string[] = [];
  const codes = new Map<number, number>();
  for (const end = Date.now() + MS; Date.now() < end; calls++) {
    const { env, conf } = base();
    for (let n = 1 + Math.floor(rnd() * 2); n > 0; n--) {
      if (rnd() < 0.4) env[pick(Object.keys(env))] = pick(envValues);
      else spoilConf(conf);
    }
    const r = rnd();
    const stdin = r < 0.05 ? JSON.stringify(conf).slice(0, Math.floor(rnd() * 200)) : r < 0.08 ? Buffer.from(Array.from({ length: 64 }, () => Math.floor(rnd() * 256))).toString('latin1') : JSON.stringify(conf);
    const what = `${JSON.stringify(env)} ${stdin.slice(0, 400)}`;
    let out;
    try {
      out = await invokePlugin(rtnlHandlers, env, stdin);
    } catch (e) {
      bad.push(`threw ${String(e)}: ${what}`);
      continue;
    }
    if (out.exitCode === 0) {
      // A hostile value in a field the command does not use: it succeeded; undo an ADD so the state compares.
      if (env.CNI_COMMAND === 'ADD') await invokePlugin(rtnlHandlers, { ...env, CNI_COMMAND: 'DEL' }, stdin);
    } else {
      let err: { code?: unknown; msg?: unknown } | undefined;
      try { err = JSON.parse(out.stdout); } catch { /* below */ }
      if (typeof err?.code !== 'number' || typeof err.msg !== 'string') bad.push(`not an error JSON ${out.stdout}: ${what}`);
      else {
        codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
        if (err.code === 999) bad.push(`code 999 ${out.stdout}: ${what}`);
      }
    }
    const after = kernel();
    if (after !== before || store() !== '') {
      const at = [...after].findIndex((c, i) => c !== before[i]);
      changed.push(`${out.stdout}: ${what}; store [${store()}]; kernel at ${at}: ${after.slice(at - 30, at + 60)} was ${before.slice(at - 30, at + 60)}`);
      break;
    }
  }
  t.comment(`${calls} invocations; error codes ${JSON.stringify(Object.fromEntries(codes))}`);
  t.same(bad.slice(0, 5), [], 'only the spec\'s error JSON, each with a specific code (never 999)');
  t.same(changed, [], 'the kernel and the store unchanged');
});
