// rtnl-cni-daemon and its client against hostile callers and faults (issue
// 10): identity from the kernel, FIFOs that must never block, resource
// bounds; the client's own VERSION and deadlines; the daemon's command line.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import t from 'tap';
import { invokePlugin } from '../src/cni/skel.js';
import { Handle } from '../src/index.js';
import { hostVethName, rtnlHandlers } from '../src/plugin/plugin.js';
import { VERSION } from '../src/cli.js';
import { answer, connect, DAEMON, Daemon, daemonSetup, frame, nsIds } from './daemon-harness.js';
import { testNs, type TestNs } from './lib.js';
import { execAsync, tmpDir, type Call } from './plugin-runtime.js';

const BRIDGE = 'hst0';
const { cniPath, rtnl, sock, dataDir } = daemonSetup(t);
const conf = {
  cniVersion: '1.1.0', name: 'hst', type: 'rtnl', bridge: BRIDGE,
  ipam: { type: 'rtnl-ipam', dataDir, ranges: [[{ subnet: '10.95.0.0/24' }]] },
};
const call = (pod: TestNs, extra: Partial<Call> = {}): Call => ({ netns: `/run/netns/${pod.name}`, cniPath, id: pod.name, ...extra });
const cniEnv = (pod: TestNs, id: string) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${pod.name}`, CNI_IFNAME: 'eth0', CNI_PATH: cniPath });
const home = new Handle();
const hasLink = (name: string) => home.linkList().some((l) => l.name === name);
/** Runs a plugin call, SIGKILLed after 60 s: a hang shows as a failed assertion, not a stuck suite. */
const bounded = (cmd: string, c: object, ca: Call) => execAsync(cmd, c, ca, { killAfterMs: 60_000 });
t.teardown(() => {
  try { home.linkDel(BRIDGE); } catch { /* never made */ }
  home.close();
});

/** Sends `bytes` from a process with no capabilities in new network and mount namespaces; returns what it got and what it was. */
function sendAsCapless(bytes: Buffer): Promise<{ answer: string; capEff: string; net: number }> {
  const script = `
    const net = require('node:net'), fs = require('node:fs');
    const capEff = fs.readFileSync('/proc/self/status', 'utf8').match(/CapEff:\\s*(\\w+)/)[1];
    const s = net.connect(process.argv[1], () => s.write(Buffer.from(process.argv[2], 'hex')));
    let got = Buffer.alloc(0);
    s.on('data', (d) => { got = Buffer.concat([got, d]); });
    s.on('error', () => undefined);
    s.on('close', () => console.log(JSON.stringify({ answer: got.toString('latin1', 0, 1) || 'closed', capEff, net: fs.statSync('/proc/self/ns/net').ino })));`;
  const child = spawn('unshare', ['--net', '--mount', '--', 'setpriv', '--bounding-set=-all', '--inh-caps=-all', '--',
    'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', script, sock, bytes.toString('hex')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve) => child.on('close', () => resolve(JSON.parse(out))));
}

t.test('a capability-less caller in its own namespaces forging the daemon\'s identities gets no work done; a legitimate one is served', async (t) => {
  const d = await Daemon.start(t, sock);
  const pod = testNs(t, 'hf');
  // The daemon's (dev, ino) pairs are ours: it runs in this process's namespaces.
  const forged = frame(cniEnv(pod, 'forged'), JSON.stringify(conf), nsIds(), 1);
  const r = await sendAsCapless(forged);
  t.equal(r.capEff, '0000000000000000', 'the caller has no capabilities');
  t.not(r.net, fs.statSync('/proc/self/ns/net').ino, 'and another network namespace');
  t.equal(r.answer, 'F', 'told to fall back (run the plugin itself, with its own privileges)');
  await d.logged(1);
  t.match(d.requests()[0], { served: 'fallback', untrusted: 'other namespaces' });
  t.notOk(hasLink(BRIDGE), 'no bridge made in the daemon\'s namespace');
  t.notOk(hasLink(hostVethName('forged', 'eth0')), 'no veth');
  t.same(pod.h.linkList().map((l) => l.name), ['lo'], 'nothing in the pod');

  // The same frame from a caller that is in the daemon's namespaces (the identities it claims are ignored either way).
  const ours = await connect(sock);
  const got = answer(ours);
  ours.write(frame(cniEnv(pod, 'legit'), JSON.stringify(conf), [0n, 0n, 0n, 0n]));
  t.match(await got, { kind: 'A', code: 0 }, 'a root caller in the daemon\'s namespaces is served, whatever it claims');
  ours.destroy();
  t.ok(hasLink(hostVethName('legit', 'eth0')), 'its veth made');
  t.equal((await bounded('DEL', conf, call(pod, { id: 'legit' }))).code, 0);
  await d.logged(3);
  t.same(d.served(), ['ADD legit', 'DEL legit']);
});

t.test('FIFOs as CNI_NETNS or resolvConf: an error at once, and other callers are served meanwhile', async (t) => {
  const d = await Daemon.start(t, sock);
  const dir = tmpDir(t);
  const fifo = path.join(dir, 'fifo');
  spawnSync('mkfifo', [fifo]);
  const pod = testNs(t, 'hq');
  const viaDaemon = await bounded('ADD', conf, call(pod, { netns: fifo, id: 'q1' }));
  t.equal(viaDaemon.json?.code, 4, `CNI_NETNS a FIFO: error 4 from the daemon (${viaDaemon.stdout})`);
  t.match(viaDaemon.json?.details, /not a network namespace/);
  const dns = { ...conf, ipam: { ...conf.ipam, resolvConf: fifo } };
  const viaDns = await bounded('ADD', dns, call(pod, { id: 'q2' }));
  t.equal(viaDns.json?.code, 5, `resolvConf a FIFO: error 5 (${viaDns.stdout})`);
  t.match(viaDns.json?.details, /not a regular file/);
  const ok = await bounded('ADD', conf, call(pod, { id: 'q3' }));
  t.equal(ok.code, 0, 'the next ADD is served');
  await d.logged(3);
  t.same(d.served(), ['ADD q1', 'ADD q2', 'ADD q3'], 'all three by the daemon');
  t.equal((await bounded('DEL', conf, call(pod, { id: 'q3' }))).code, 0);
  // The plugin run without a daemon: the same error, not a hang.
  process.env.RTNL_CNI_SOCKET = '/nonexistent/rtnl.sock';
  try {
    const alone = await bounded('ADD', conf, call(pod, { netns: fifo, id: 'q4' }));
    t.equal(alone.json?.code, 4, `without the daemon too (${alone.stdout})`);
  } finally {
    process.env.RTNL_CNI_SOCKET = sock;
  }
});

t.test('bounds: an empty or oversized frame is answered at once; a trickling client is cut; excess connections are closed', async (t) => {
  const d = await Daemon.start(t, sock, ['--request-timeout', '1000', '--max-connections', '3']);
  const empty = await connect(sock);
  const emptyGot = answer(empty);
  empty.write(Buffer.concat([Buffer.from('RTNLCNI1'), Buffer.alloc(4)]));
  t.match(await emptyGot, { kind: 'F' }, 'a zero-length frame: fallback at once');
  const big = await connect(sock);
  const bigGot = answer(big);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(32 << 20);
  big.write(Buffer.concat([Buffer.from('RTNLCNI1'), head]));
  t.match(await bigGot, { kind: 'F' }, 'a 32 MiB frame: fallback before its body is read');

  // One byte every 200 ms: never idle for long, but the whole request is late.
  const slow = await connect(sock);
  const slowGot = answer(slow);
  const partial = frame({ CNI_COMMAND: 'DEL' }, '{}');
  let sent = 0;
  const drip = setInterval(() => { if (sent < partial.length - 1) slow.write(partial.subarray(sent, ++sent)); }, 200);
  t.teardown(() => clearInterval(drip));
  t.equal(await slowGot, 'closed', 'the trickling connection is cut at the request deadline');
  t.ok(sent < partial.length - 1, `cut while still sending (${sent} of ${partial.length} bytes sent)`);
  clearInterval(drip);

  // Three connections held open with partial frames: a fourth is closed at once.
  const held = await Promise.all([0, 1, 2].map(() => connect(sock)));
  for (const h of held) h.write('RTNL');
  const extra = await connect(sock);
  t.equal(await answer(extra), 'closed', 'the connection beyond --max-connections is closed');
  for (const h of held) h.destroy();
  t.ok(d.requests().every((l) => l.served === 'fallback'), 'none ran the plugin');
});

t.test('SIGTERM with a request stuck mid-frame: the daemon exits after --shutdown-timeout', async (t) => {
  const d = await Daemon.start(t, sock, ['--request-timeout', '600000', '--shutdown-timeout', '300']);
  const stuck = await connect(sock);
  const got = answer(stuck);
  stuck.write(frame({ CNI_COMMAND: 'DEL' }, '{}').subarray(0, 20));
  t.equal(await d.stop('SIGTERM'), 0, 'exit 0');
  t.equal(await got, 'closed', 'the stuck connection was cut');
  t.notOk(fs.existsSync(sock), 'the socket file removed');
});

t.test('the client answers VERSION itself, exactly as the Node plugin does', async (t) => {
  // A daemon that would never answer: the client must not ask it.
  const fake = path.join(tmpDir(t), 'fake.sock');
  let connections = 0;
  const server = net.createServer(() => { connections++; });
  await new Promise<void>((r) => server.listen(fake, r));
  t.teardown(() => { server.close(); });
  const stdins = [
    '', '{}', '{"cniVersion":"0.4.0"}', '{"cniVersion":"1.0.0","cniVersion":5}', '{"a":{"cniVersion":"0.3.0"}}', '[{"cniVersion":"0.3.1"}]',
    '{"cni\\u0056ersion":"0.3.1"}', ' \n{"x":[1,{"y":null}],"cniVersion":"1.0.0"}\t', '{"cniVersion":"0.4.0",}', '{"cniVersion":"9.9.9"}',
    '\uFEFF{"cniVersion":"0.4.0"}', '{"cniVersion":"0.4.0"} x', '"1.0.0"', 'null', '{"cniVersion":"0.4.0","n":-0.5e+3,"s":"\\"}"}',
    '{"cniVersion":"0.4.0","s":"a\u0001"}', `${'['.repeat(100000)}${']'.repeat(100000)}`,
  ];
  for (const stdin of stdins) {
    const env = { ...process.env, CNI_COMMAND: 'VERSION', CNI_IFNAME: 'bad/name', RTNL_CNI_SOCKET: fake };
    const r = spawnSync(rtnl, [], { input: stdin, env, encoding: 'utf8', timeout: 10_000 });
    const node = await invokePlugin(rtnlHandlers, env, stdin);
    t.same([r.status, r.stdout], [node.exitCode, node.stdout], `stdin ${JSON.stringify(stdin.slice(0, 50))}`);
  }
  t.equal(connections, 0, 'no connection to the daemon');
});

t.test('a daemon that never answers: the client falls back after RTNL_CNI_TIMEOUT_MS', async (t) => {
  const fake = path.join(tmpDir(t), 'mute.sock');
  const server = net.createServer((c) => c.on('data', () => undefined)); // reads, never answers
  await new Promise<void>((r) => server.listen(fake, r));
  t.teardown(() => { server.close(); });
  const pod = testNs(t, 'hm');
  process.env.RTNL_CNI_SOCKET = fake;
  process.env.RTNL_CNI_TIMEOUT_MS = '500';
  try {
    const add = await bounded('ADD', conf, call(pod, { id: 'm1' }));
    t.equal(add.code, 0, `ADD completed by the fallback: ${add.stdout}${add.stderr}`);
    t.same(pod.h.linkList().map((l) => l.name).sort(), ['eth0', 'lo']);
    t.equal((await bounded('DEL', conf, call(pod, { id: 'm1' }))).code, 0);
  } finally {
    process.env.RTNL_CNI_SOCKET = sock;
    delete process.env.RTNL_CNI_TIMEOUT_MS;
  }
});

t.test('the daemon\'s command line: --help, --version, a bad flag', (t) => {
  const run = (...args: string[]) => spawnSync(DAEMON, args, { encoding: 'utf8', timeout: 30_000 });
  const help = run('--help');
  t.same([help.status, help.stderr], [0, ''], '--help: exit 0');
  t.match(help.stdout, /^usage: rtnl-cni-daemon/);
  t.match(help.stdout, /--max-connections N/);
  const version = run('--version');
  t.same([version.status, version.stdout.startsWith(`rtnl-cni-daemon ${VERSION} `)], [0, true], version.stdout);
  const bad = run('--bogus');
  t.equal(bad.status, 2, 'an unknown flag: exit 2');
  t.match(bad.stderr, /--bogus/);
  const badNumber = run('--max-frame', 'lots');
  t.equal(badNumber.status, 2, 'a bound that is not a number: exit 2');
  t.match(badNumber.stderr, /--max-frame: "lots" is not an integer/);
  t.end();
});
