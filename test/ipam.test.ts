// rtnl-ipam driven as a runtime drives it: the executable spawned with the
// CNI_* environment and the config on stdin, the store inspected on disk, and
// (when installed) the reference host-local reading our store and vice versa;
// run in-process (runIpam), it must answer exactly as the executable.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { execIpam } from '../src/cni/exec.js';
import type { CniCommand } from '../src/cni/types.js';
import { runIpam } from '../src/ipam/invoke.js';
import { untapped } from './lib.js';

const BIN = path.resolve(__dirname, '../../bin/rtnl-ipam');
const HOST_LOCAL = '/usr/lib/cni/host-local';

interface Call {
  cmd?: string;
  id?: string;
  ifname?: string;
  args?: string;
  netns?: string | undefined;
  plugin?: string;
  env?: Record<string, string>;
}
interface Out {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  json: any;
}

function childEnv(c: Call): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env, CNI_COMMAND: c.cmd ?? 'ADD', CNI_CONTAINERID: c.id ?? 'c1', CNI_IFNAME: c.ifname ?? 'eth0',
    CNI_PATH: '/usr/lib/cni', CNI_ARGS: c.args ?? '', ...c.env,
  };
  if (c.netns !== undefined || !('netns' in c)) env.CNI_NETNS = c.netns ?? '/run/netns/x';
  delete env.NODE_EXTRA_CA_CERTS; // triples Node's start-up time
  return env;
}
const parse = (s: string): any => { try { return s.trim() ? JSON.parse(s) : undefined; } catch { return undefined; } };

/** Runs the plugin once, synchronously. */
function run(conf: object, c: Call = {}): Out {
  const r = spawnSync(...untapped(c.plugin ?? BIN), { input: JSON.stringify(conf), env: childEnv(c), encoding: 'utf8' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, json: parse(r.stdout) };
}

/** Runs the plugin asynchronously; `killAfterMs` SIGKILLs it after that delay. */
function runAsync(conf: object, c: Call = {}, killAfterMs?: number): Promise<Out> {
  return new Promise((resolve) => {
    const child = spawn(...untapped(c.plugin ?? BIN), { env: childEnv(c), stdio: ['pipe', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(conf));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, json: parse(stdout) }); });
  });
}

function tmpDir(t: Test): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-ipam-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function netConf(dataDir: string, ipam: object = {}, top: object = {}): Record<string, any> {
  return { cniVersion: '1.1.0', name: 'net1', type: 'bridge', ipam: { type: 'rtnl-ipam', dataDir, ranges: [[{ subnet: '10.10.0.0/24' }]], ...ipam }, ...top };
}

/** The address files of a store: name -> content. */
function store(dir: string, name = 'net1'): Map<string, string> {
  const d = path.join(dir, name);
  return new Map(fs.readdirSync(d).filter((f) => /^[0-9a-f.:]+$/.test(f) && /[.:]/.test(f) && !f.startsWith('.'))
    .map((f) => [f, fs.readFileSync(path.join(d, f), 'utf8')]));
}
const debris = (dir: string, name = 'net1') => fs.readdirSync(path.join(dir, name)).filter((f) => f.startsWith('.'));
const addrs = (o: Out): string[] => (o.json?.ips ?? []).map((ip: { address: string }) => ip.address);

t.test('ADD, dual stack: result, store files in host-local format', (t) => {
  const dir = tmpDir(t);
  const resolv = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolv, '# comment\nnameserver 10.10.0.53\nnameserver fd10::53\nsearch a.example b.example\ndomain example\noptions ndots:2\n');
  const conf = netConf(dir, {
    ranges: [[{ subnet: '10.10.0.0/24', gateway: '10.10.0.254' }], [{ subnet: 'fd10::/64' }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.10.0.254' }], resolvConf: resolv,
  });
  const r = run(conf, { id: 'ctr-a', ifname: 'net0' });
  t.equal(r.code, 0, r.stdout);
  t.same(r.json, {
    cniVersion: '1.1.0',
    ips: [{ address: '10.10.0.1/24', gateway: '10.10.0.254' }, { address: 'fd10::2/64', gateway: 'fd10::1' }],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.10.0.254' }],
    dns: { nameservers: ['10.10.0.53', 'fd10::53'], domain: 'example', search: ['a.example', 'b.example'], options: ['ndots:2'] },
  }, 'gateway and network address skipped; routes and resolv.conf passed through');
  t.same([...store(dir)], [['10.10.0.1', 'ctr-a\r\nnet0'], ['fd10::2', 'ctr-a\r\nnet0']], 'one file per address, "<id>\\r\\n<ifname>"');
  const d = path.join(dir, 'net1');
  t.equal(fs.readFileSync(path.join(d, 'last_reserved_ip.0'), 'utf8'), '10.10.0.1');
  t.equal(fs.readFileSync(path.join(d, 'last_reserved_ip.1'), 'utf8'), 'fd10::2');
  t.ok(fs.existsSync(path.join(d, 'lock')), 'lock file present');
  t.same(debris(dir), [], 'no temp files left');
  for (const f of ['10.10.0.1', 'fd10::2']) t.equal(fs.statSync(path.join(d, f)).nlink, 1, `${f} has its own inode`);
  const old = run({ ...conf, cniVersion: '0.3.1' }, { id: 'ctr-b' });
  t.same(old.json.ips, [{ version: '4', address: '10.10.0.2/24', gateway: '10.10.0.254' }, { version: '6', address: 'fd10::3/64', gateway: 'fd10::1' }], '0.3.1 result has ips[].version');
  t.end();
});

t.test('re-ADD returns the same allocation; another ifname gets its own', (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir, { ranges: [[{ subnet: '10.10.0.0/24' }], [{ subnet: 'fd10::/120' }]] });
  const a = run(conf);
  const again = run(conf);
  t.equal(again.code, 0);
  t.same(addrs(again), addrs(a), 'same addresses');
  const other = run(conf, { ifname: 'eth1' });
  t.same(addrs(other), ['10.10.0.3/24', 'fd10::3/120']);
  t.equal(store(dir).size, 4, 'no extra reservations');
  t.end();
});

t.test('DEL releases by container and ifname, and is idempotent', (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir);
  run(conf, { id: 'a' });
  run(conf, { id: 'a', ifname: 'eth1' });
  run(conf, { id: 'b' });
  const del = run(conf, { cmd: 'DEL', id: 'a' });
  t.equal(del.code, 0);
  t.equal(del.stdout, '', 'DEL prints nothing');
  t.same([...store(dir).values()].sort(), ['a\r\neth1', 'b\r\neth0'], 'only a/eth0 released');
  t.equal(run(conf, { cmd: 'DEL', id: 'a' }).code, 0, 'again: still success');
  t.equal(run(conf, { cmd: 'DEL', id: 'never-added', netns: undefined }).code, 0, 'unknown container, no netns: success');
  t.equal(store(dir).size, 2);
  t.end();
});

t.test('round robin continues after last_reserved_ip across DELs, then wraps', (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir, { ranges: [[{ subnet: '10.10.0.0/24', rangeStart: '10.10.0.10', rangeEnd: '10.10.0.13' }]] });
  t.same(addrs(run(conf, { id: 'a' })), ['10.10.0.10/24']);
  t.same(addrs(run(conf, { id: 'b' })), ['10.10.0.11/24']);
  run(conf, { cmd: 'DEL', id: 'a' });
  t.same(addrs(run(conf, { id: 'c' })), ['10.10.0.12/24'], 'the freed .10 is not reused at once');
  t.same(addrs(run(conf, { id: 'd' })), ['10.10.0.13/24']);
  t.same(addrs(run(conf, { id: 'e' })), ['10.10.0.10/24'], 'wraps to the start');
  t.end();
});

t.test('exhaustion is error 100 naming the range; STATUS is 50 until an address frees', (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir, { ranges: [[{ subnet: '10.10.0.0/29' }], [{ subnet: 'fd10::/64' }]] });
  const got = [];
  for (let i = 0; i < 4; i++) got.push(...addrs(run(conf, { id: `c${i}` })).filter((a) => !a.includes(':')));
  const st0 = run(conf, { cmd: 'STATUS' });
  t.same([st0.code, st0.stdout], [0, ''], 'STATUS ok (no output) while one is left');
  got.push(...addrs(run(conf, { id: 'c4' })).filter((a) => !a.includes(':')));
  t.same(got, ['10.10.0.2/29', '10.10.0.3/29', '10.10.0.4/29', '10.10.0.5/29', '10.10.0.6/29'], 'gateway .1 and broadcast .7 never handed out');
  const full = run(conf, { id: 'c5' });
  t.equal(full.code, 1);
  t.match(full.json, { code: 100, msg: /no IP addresses available in range set 0/, details: '10.10.0.0/29 (10.10.0.1-10.10.0.6)' });
  t.equal(store(dir).size, 10, 'the failed ADD kept nothing (its IPv6 was not taken or was released)');
  const st = run(conf, { cmd: 'STATUS' });
  t.match(st.json, { code: 50, details: /range set 0 is exhausted: 10\.10\.0\.0\/29/ });
  run(conf, { cmd: 'DEL', id: 'c2' });
  t.equal(run(conf, { cmd: 'STATUS' }).code, 0, 'STATUS ok again');
  t.same(addrs(run(conf, { id: 'c5' }))[0], '10.10.0.4/29');
  t.end();
});

t.test('requested addresses: CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips', (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir, { ranges: [[{ subnet: '10.10.0.0/24' }], [{ subnet: 'fd10::/64' }]] });
  t.same(addrs(run(conf, { id: 'a', args: 'IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.10.0.50,fd10::50' })), ['10.10.0.50/24', 'fd10::50/64']);
  t.same(addrs(run({ ...conf, args: { cni: { ips: ['10.10.0.51'] } } }, { id: 'b' })), ['10.10.0.51/24', 'fd10::51/64'], 'round robin resumes after a requested address (as host-local)');
  t.same(addrs(run({ ...conf, runtimeConfig: { ips: ['fd10::60/64'] } }, { id: 'c' })), ['10.10.0.52/24', 'fd10::60/64']);
  const taken = run(conf, { id: 'd', args: 'IP=10.10.0.50' });
  t.match(taken.json, { code: 101, msg: /10\.10\.0\.50 is not available/, details: /another container/ });
  t.match(run(conf, { id: 'd', args: 'IP=10.10.0.1' }).json, { code: 101, details: /gateway/ });
  t.match(run(conf, { id: 'd', args: 'IP=10.99.0.1' }).json, { code: 101, msg: /requested IPs/, details: /10\.99\.0\.1 not in any range set/ });
  t.match(run(conf, { id: 'd', args: 'IP=nope' }).json, { code: 4 });
  t.match(run({ ...conf, args: { cni: { ips: [7] } } }, { id: 'd' }).json, { code: 7 });
  t.equal(store(dir).size, 6, 'failed requests kept nothing');
  t.same(addrs(run(conf, { id: 'a', args: 'IP=10.10.0.50' })), ['10.10.0.50/24', 'fd10::50/64'], 're-ADD with the held address');
  t.end();
});

t.test('config validation', (t) => {
  const dir = tmpDir(t);
  const bad = (ipam: object, code: number, re: RegExp, top: object = {}) => {
    const r = run(netConf(dir, ipam, top));
    t.equal(r.code, 1);
    t.match(r.json, { code }, JSON.stringify(ipam));
    t.match(`${r.json?.msg} ${r.json?.details}`, re);
  };
  bad({}, 7, /name/, { name: '../escape' });
  bad({}, 7, /name/, { name: 'a/b' });
  bad({}, 7, /cannot name a store/, { name: 'a..b' });
  bad({ ranges: undefined }, 7, /no IP ranges/);
  bad({ ranges: [[{ subnet: '10.10.0.1/24' }]] }, 7, /host bits/);
  bad({ ranges: [[{ subnet: '10.10.0.0/31' }]] }, 7, /too small/);
  bad({ ranges: [[{ subnet: '10.10.0.0/24', rangeStart: '10.11.0.1' }]] }, 7, /not in 10\.10\.0\.0\/24/);
  bad({ ranges: [[{ subnet: '10.10.0.0/24', rangeStart: '10.10.0.9', rangeEnd: '10.10.0.8' }]] }, 7, /after rangeEnd/);
  bad({ ranges: [[{ subnet: '10.10.0.0/24' }], [{ subnet: '10.10.0.0/25' }]] }, 7, /overlaps/);
  bad({ ranges: [[{ subnet: '10.10.0.0/24' }, { subnet: 'fd10::/64' }]] }, 7, /mixes/);
  bad({ routes: [{ dst: 'x' }] }, 7, /not a CIDR/);
  bad({ allocation: 'fifo' }, 2, /allocation.*fifo/);
  bad({ resolvConf: path.join(dir, 'missing') }, 5, /resolvConf/);
  t.same(fs.readdirSync(dir), [], 'nothing created for refused configs');
  const legacy = run(netConf(dir, { ranges: undefined, subnet: '10.12.0.0/16', rangeStart: '10.12.1.0', rangeEnd: '10.12.1.9', gateway: '10.12.0.1' }));
  t.same(legacy.json.ips, [{ address: '10.12.1.0/16', gateway: '10.12.0.1' }], 'legacy single-range form');
  t.end();
});

t.test('CHECK', (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir, { ranges: [[{ subnet: '10.10.0.0/24' }], [{ subnet: 'fd10::/64' }]] });
  const a = run(conf);
  t.equal(run({ ...conf, prevResult: a.json }, { cmd: 'CHECK' }).code, 0, 'holds what prevResult says');
  t.match(run(conf, { cmd: 'CHECK', id: 'other' }).json, { code: 102, msg: /no address allocated to other eth0 in range set 0/ });
  const wrong = { ...a.json, ips: [{ address: '10.10.0.77/24' }] };
  t.match(run({ ...conf, prevResult: wrong }, { cmd: 'CHECK' }).json, { code: 102, msg: /10\.10\.0\.77/ });
  t.match(run({ ...conf, cniVersion: '0.3.1' }, { cmd: 'CHECK' }).json, { code: 1, msg: /does not allow CHECK/ });
  t.end();
});

t.test('GC releases every entry not in valid-attachments', (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir);
  for (const id of ['a', 'b', 'c']) run(conf, { id });
  run(conf, { id: 'a', ifname: 'eth1' });
  fs.writeFileSync(path.join(dir, 'net1', '10.10.0.100'), 'legacy-keep'); // host-local's old id-only format
  fs.writeFileSync(path.join(dir, 'net1', '10.10.0.101'), 'legacy-drop');
  const gc = (list: object[], key = 'cni.dev/valid-attachments', v = '1.1.0') =>
    run({ ...conf, cniVersion: v, [key]: list }, { cmd: 'GC', id: '', ifname: '', netns: undefined });
  const r = gc([{ containerID: 'a', ifname: 'eth0' }, { containerID: 'c', ifname: 'eth0' }, { containerID: 'legacy-keep', ifname: 'eth0' }]);
  t.equal(r.code, 0, r.stdout);
  t.same([...store(dir).values()].sort(), ['a\r\neth0', 'c\r\neth0', 'legacy-keep']);
  t.equal(gc([{ containerID: 'a', ifname: 'eth0' }], 'cni.dev/attachments').code, 0, 'the older key');
  t.same([...store(dir).values()], ['a\r\neth0']);
  t.match(gc([], 'cni.dev/valid-attachments', '1.0.0').json, { code: 1, msg: /does not allow GC/ });
  t.equal(store(dir).size, 1);
  t.match(run({ ...conf }, { cmd: 'GC' }).json, { code: 7 }, 'GC without the list is refused, not a wipe');
  // Debris: an empty address file (a host-local writer killed between create and
  // write) goes once it is a minute old; a live process's temp file stays until old.
  const d = path.join(dir, 'net1');
  const ago = new Date(Date.now() - 120_000);
  for (const f of ['10.10.0.200', '10.10.0.201', `.rtnl-tmp.${process.pid}.0.a`, `.rtnl-tmp.${process.pid}.1.b`]) fs.writeFileSync(path.join(d, f), '');
  fs.utimesSync(path.join(d, '10.10.0.200'), ago, ago);
  fs.utimesSync(path.join(d, `.rtnl-tmp.${process.pid}.1.b`), ago, ago);
  t.equal(gc([]).code, 0);
  t.same([...store(dir).keys()], ['10.10.0.201'], 'an empty list releases every owned entry; a fresh empty file stays');
  t.same(debris(dir), [`.rtnl-tmp.${process.pid}.0.a`], 'a live process\'s fresh temp file stays, an old one goes');
  t.end();
});

t.test('random allocation for a large IPv6 block', (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir, { ranges: [[{ subnet: 'fd10:0:0:1::/64' }]], allocation: 'random' });
  const got = new Set<string>();
  for (let i = 0; i < 6; i++) got.add(addrs(run(conf, { id: `r${i}` }))[0]!);
  t.equal(got.size, 6, 'distinct');
  t.notOk([...got].some((a) => /^fd10:0:0:1::[0-9a-f]{1,2}\/64$/.test(a)), `not sequential from the start: ${[...got].join(' ')}`);
  t.equal(store(dir).size, 6);
  const tiny = netConf(dir, { ranges: [[{ subnet: '10.10.0.0/29' }]], allocation: 'random' }, { name: 'tiny' });
  const small = new Set<string>();
  for (let i = 0; i < 5; i++) small.add(addrs(run(tiny, { id: `s${i}` }))[0]!);
  t.equal(small.size, 5, 'random also fills a small range completely');
  t.match(run(tiny, { id: 's5' }).json, { code: 100 });
  t.end();
});

t.test('100 parallel ADDs get 100 distinct addresses', async (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir, { ranges: [[{ subnet: '10.10.0.0/24' }]] });
  const outs = await Promise.all(Array.from({ length: 100 }, (_, i) => runAsync(conf, { id: `p${i}` })));
  t.same(outs.filter((o) => o.code !== 0).map((o) => o.stdout), [], 'all succeeded');
  const got = outs.map((o) => addrs(o)[0]);
  t.equal(new Set(got).size, 100, '100 distinct addresses');
  const s = store(dir);
  t.equal(s.size, 100, 'exactly 100 address files');
  t.same(new Set([...s.values()]), new Set(outs.map((_, i) => `p${i}\r\neth0`)), 'each container holds one');
  outs.forEach((o, i) => { if (s.get(addrs(o)[0]!.split('/')[0]!) !== `p${i}\r\neth0`) t.fail(`p${i}'s address is not on file as its own`); });
  t.same(debris(dir), [], 'no temp files left');
  const dels = await Promise.all(Array.from({ length: 100 }, (_, i) => runAsync(conf, { cmd: 'DEL', id: `p${i}` })));
  t.ok(dels.every((o) => o.code === 0), 'parallel DELs succeed');
  t.equal(store(dir).size, 0, 'all released');
});

t.test('a process SIGKILLed mid-ADD: no double allocation, DEL/GC clean up', async (t) => {
  const dir = tmpDir(t);
  const conf = netConf(dir, { ranges: [[{ subnet: '10.10.0.0/24' }], [{ subnet: 'fd10::/64' }]] });
  // Deterministic kills at the named points of a reservation.
  for (const point of ['before-link', 'after-link', 'before-last']) {
    const r = run(conf, { id: `k-${point}`, env: { RTNL_IPAM_TEST_CRASH: point } });
    t.equal(r.signal, 'SIGKILL', `killed at ${point}`);
  }
  const s1 = store(dir);
  t.same([...s1.values()].sort(), ['k-after-link\r\neth0', 'k-before-last\r\neth0'], 'complete reservations or none: never an empty file');
  t.ok(debris(dir).length > 0, 'temp files left by the killed processes');
  const next = run(conf, { id: 'n1' });
  t.notOk(addrs(next).some((a) => s1.has(a.split('/')[0]!)), 'a held address is not handed out again');
  t.same(addrs(run(conf, { id: 'k-after-link' }))[0], `${[...s1].find(([, v]) => v.startsWith('k-after-link'))![0]}/24`, 're-ADD after the crash reuses the half-made allocation');
  t.equal(run(conf, { cmd: 'DEL', id: 'k-after-link' }).code, 0);
  t.equal(run(conf, { cmd: 'DEL', id: 'k-before-last' }).code, 0);
  t.same([...store(dir).values()], ['n1\r\neth0', 'n1\r\neth0'], 'DEL released the crashed ones');
  t.same(debris(dir), [], 'DEL swept the dead processes\' temp files');

  // Kills at random moments while others allocate concurrently.
  const victims = Array.from({ length: 30 }, (_, i) => runAsync(conf, { id: `v${i}` }, Math.floor(Math.random() * 80)));
  const normal = Array.from({ length: 30 }, (_, i) => runAsync(conf, { id: `w${i}` }));
  const outs = await Promise.all([...victims, ...normal]);
  const ok = outs.filter((o) => o.code === 0);
  t.equal(outs.slice(30).filter((o) => o.code === 0).length, 30, 'the unkilled all succeeded');
  const okAddrs = ok.flatMap(addrs);
  t.equal(new Set(okAddrs).size, okAddrs.length, `no address handed out twice (${ok.length} succeeded, ${outs.filter((o) => o.signal).length} killed)`);
  const s2 = store(dir);
  for (const a of okAddrs) if (!s2.has(a.split('/')[0]!)) t.fail(`${a} answered but not on file`);
  t.notOk([...s2.values()].some((v) => v === ''), 'no empty address files');
  const valid = ['n1', ...Array.from({ length: 30 }, (_, i) => `w${i}`)].map((id) => ({ containerID: id, ifname: 'eth0' }));
  t.equal(run({ ...conf, 'cni.dev/valid-attachments': valid }, { cmd: 'GC', netns: undefined }).code, 0);
  const s3 = store(dir);
  t.equal(s3.size, 62, 'after GC: exactly the valid attachments\' two addresses each');
  t.same(new Set(s3.values()), new Set(valid.map((v) => `${v.containerID}\r\neth0`)));
  t.same(debris(dir), [], 'GC swept the temp files');
});

const hasHostLocal = fs.existsSync(HOST_LOCAL);
t.test('interoperates with the reference host-local', { skip: hasHostLocal ? false : `${HOST_LOCAL} absent (apt-get install containernetworking-plugins)` }, (t) => {
  const dir = tmpDir(t);
  // The Debian host-local speaks up to 1.0.0.
  const conf = netConf(dir, { ranges: [[{ subnet: '10.10.0.0/24' }], [{ subnet: 'fd10::/120' }]] }, { cniVersion: '1.0.0' });
  const ours = run(conf, { id: 'ours' });
  const theirs = run(conf, { id: 'theirs', plugin: HOST_LOCAL });
  t.equal(theirs.code, 0, theirs.stdout);
  t.same(addrs(ours), ['10.10.0.2/24', 'fd10::2/120']);
  t.same(addrs(theirs), ['10.10.0.3/24', 'fd10::3/120'], 'host-local continues after our last_reserved_ip, skips our files');
  t.same(addrs(run(conf, { id: 'ours2' })), ['10.10.0.4/24', 'fd10::4/120'], 'we continue after host-local\'s');
  t.same(store(dir).get('10.10.0.3'), 'theirs\r\neth0', 'same file format');
  t.same(addrs(run(conf, { id: 'theirs' })), addrs(theirs), 'our re-ADD recognises host-local\'s allocation');
  t.equal(run(conf, { cmd: 'CHECK', id: 'ours', plugin: HOST_LOCAL }).code, 0, 'host-local CHECK finds our allocation');
  t.equal(run(conf, { cmd: 'CHECK', id: 'theirs' }).code, 0, 'our CHECK finds host-local\'s');
  t.equal(run(conf, { cmd: 'DEL', id: 'ours', plugin: HOST_LOCAL }).code, 0);
  t.equal(run(conf, { cmd: 'DEL', id: 'theirs' }).code, 0);
  t.same([...store(dir).values()], ['ours2\r\neth0', 'ours2\r\neth0'], 'each released the other\'s entries');
  const dup = run(conf, { id: 'x', args: 'IP=10.10.0.4', plugin: HOST_LOCAL });
  t.equal(dup.code, 1, 'host-local refuses an address we hold');
  // Concurrent mix: 20 of ours and 20 of host-local's at once never collide.
  return Promise.all(Array.from({ length: 40 }, (_, i) => runAsync(conf, { id: `m${i}`, plugin: i % 2 ? HOST_LOCAL : BIN }))).then((outs) => {
    t.ok(outs.every((o) => o.code === 0), 'all 40 succeeded');
    const all = outs.flatMap(addrs);
    t.equal(new Set(all).size, 80, '80 distinct addresses');
    t.equal(store(dir).size, 82);
  });
});

t.test('in-process runIpam answers exactly as the exec\'d executable: results, errors, store', async (t) => {
  const inProc = tmpDir(t), exec = tmpDir(t);
  const ipam = { ranges: [[{ subnet: '10.10.0.0/29' }], [{ subnet: 'fd10::/120' }]] };
  // The same call through both paths (each with its own store); outcomes compared with the dataDir masked.
  const both = async (cmd: CniCommand, c: Call = {}, top: object = {}, ipamOver: object = {}) => {
    const conf = (dir: string) => netConf(dir, { ...ipam, ...ipamOver }, top);
    const settle = (p: Promise<unknown>, dir: string) => p.then(
      (ok) => JSON.stringify({ ok }).replaceAll(dir, '<dataDir>'),
      (e: { code: number; msg: string; details?: string }) => JSON.stringify({ err: [e.code, e.msg, e.details] }).replaceAll(dir, '<dataDir>'));
    const a = await settle(runIpam(cmd, conf(inProc), childEnv(c)), inProc);
    const b = await settle(execIpam('rtnl-ipam', cmd, conf(exec), childEnv({ ...c, env: { CNI_PATH: path.dirname(BIN) } })), exec);
    t.equal(a, b, `${cmd} ${JSON.stringify(c)}: ${a.slice(0, 90)}`);
    return JSON.parse(a) as { ok?: any; err?: [number, string, string?] };
  };
  const a = await both('ADD', { id: 'a' });
  t.same(a.ok?.ips?.map((ip: { address: string }) => ip.address), ['10.10.0.2/29', 'fd10::2/120'], 'a real allocation');
  await both('ADD', { id: 'a' });
  await both('ADD', { id: 'b', args: 'IP=10.10.0.5' });
  t.equal((await both('ADD', { id: 'c', args: 'IP=10.10.0.5' })).err?.[0], 101);
  await both('ADD', { id: 'c', args: 'IP=10.10.0.1' });
  for (const id of ['c', 'd', 'e']) await both('ADD', { id });
  t.equal((await both('ADD', { id: 'f' })).err?.[0], 100, 'exhausted');
  t.equal((await both('STATUS')).err?.[0], 50);
  await both('CHECK', { id: 'a' }, { prevResult: { cniVersion: '1.1.0', ...a.ok } });
  t.equal((await both('CHECK', { id: 'zz' })).err?.[0], 102);
  await both('CHECK', { id: 'a' }, { cniVersion: '0.3.1' });
  await both('DEL', { id: 'b' });
  await both('DEL', { id: 'b' });
  await both('DEL', { id: 'never', netns: undefined });
  await both('ADD', { id: 'g' }, { cniVersion: '0.3.1' });
  await both('GC', { id: '', ifname: '', netns: undefined }, { 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }, { containerID: 'g', ifname: 'eth0' }] });
  await both('GC', { netns: undefined });
  await both('STATUS');
  await both('VERSION');
  t.equal((await both('ADD', { id: 'h', args: 'IP=nope' })).err?.[0], 4);
  await both('ADD', { id: '' });
  await both('ADD', { id: 'h' }, { name: '../escape' });
  await both('ADD', { id: 'h' }, {}, { allocation: 'fifo' });
  await both('ADD', { id: 'h' }, {}, { ranges: [[{ subnet: '10.10.0.1/24' }]] });
  const files = (dir: string) => {
    const d = path.join(dir, 'net1');
    return fs.readdirSync(d).sort().map((f) => [f, fs.readFileSync(path.join(d, f), 'utf8')]);
  };
  t.same(files(inProc), files(exec), 'the same store: address files, last_reserved_ip.*, lock, no temp files');
  t.same(files(inProc).map(([f]) => f), ['10.10.0.2', '10.10.0.5', 'fd10::2', 'fd10::7', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
});
