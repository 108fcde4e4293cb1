// The CNI exec protocol layer: env/config parsing with the spec's error codes,
// result conversion per version, VERSION output, version gating, the plugin
// skeleton and IPAM delegation (against a scripted fake and the real rtnl-ipam).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import {
  CniError, SUPPORTED_VERSIONS, convertResult, execIpam, findPlugin, invokePlugin, parseAttachments, parseCniArgs,
  parseConfig, parseEnv, parseResult, type CniResult, type PluginHandlers,
} from '../src/cni/index.js';

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin:/usr/lib/cni' };
const conf = (o: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.1.0', name: 'net1', type: 'fake', ...o });

/** Asserts fn throws a CniError with `code` (and a message matching `msg`). */
function code(t: Tap, fn: () => unknown, want: number, msg?: RegExp, what?: string): void {
  try {
    fn();
    t.fail(`${what ?? 'call'} should throw CniError ${want}`);
  } catch (e) {
    t.type(e, CniError, what ?? 'a CniError');
    t.equal((e as CniError).code, want, `${what ?? (e as Error).message}: code ${want}`);
    if (msg) t.match((e as Error).message, msg);
  }
}
type Tap = Test;

t.test('env: required variables per command, syntax of id/ifname/args', (t) => {
  const e = parseEnv({ ...ENV, CNI_ARGS: 'IgnoreUnknown=1;IP=10.0.0.5;K=a=b' });
  t.same(e.args, [['IgnoreUnknown', '1'], ['IP', '10.0.0.5'], ['K', 'a=b']]);
  t.same(e.path, ['/opt/cni/bin', '/usr/lib/cni']);
  t.equal(e.command, 'ADD');
  code(t, () => parseEnv({}), 4, /CNI_COMMAND/, 'no CNI_COMMAND');
  code(t, () => parseEnv({ ...ENV, CNI_COMMAND: 'FROB' }), 4, /unknown CNI_COMMAND: FROB/, 'unknown command');
  code(t, () => parseEnv({ ...ENV, CNI_NETNS: undefined }), 4, /\[CNI_NETNS\]/, 'ADD without netns');
  code(t, () => parseEnv({ ...ENV, CNI_COMMAND: 'CHECK', CNI_IFNAME: '' }), 4, /CNI_IFNAME/, 'CHECK without ifname');
  code(t, () => parseEnv({ CNI_COMMAND: 'DEL', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }), 4, /CNI_CONTAINERID/, 'DEL without id');
  t.equal(parseEnv({ ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: undefined }).netns, '', 'DEL may come without netns');
  t.equal(parseEnv({ CNI_COMMAND: 'VERSION' }).command, 'VERSION', 'VERSION needs nothing');
  t.equal(parseEnv({ CNI_COMMAND: 'GC', CNI_PATH: '/x' }).command, 'GC', 'GC needs only CNI_PATH');
  code(t, () => parseEnv({ CNI_COMMAND: 'STATUS' }), 4, /CNI_PATH/, 'STATUS without CNI_PATH');
  code(t, () => parseEnv({ ...ENV, CNI_CONTAINERID: '-bad' }), 4, /CNI_CONTAINERID/, 'id starting with -');
  code(t, () => parseEnv({ ...ENV, CNI_CONTAINERID: 'a b' }), 4, undefined, 'id with a space');
  for (const bad of ['eth0123456789abc', 'a/b', 'a:b', 'a b', '.', '..']) code(t, () => parseEnv({ ...ENV, CNI_IFNAME: bad }), 4, /CNI_IFNAME/, `ifname ${bad}`);
  t.equal(parseEnv({ ...ENV, CNI_IFNAME: 'eth0123456789ab' }).ifname, 'eth0123456789ab', '15 characters are fine');
  code(t, () => parseCniArgs('A=1;novalue'), 4, /novalue/, 'pair without =');
  code(t, () => parseCniArgs('=x'), 4, undefined, 'empty key');
  t.same(parseCniArgs(''), []);
  t.end();
});

t.test('config: decoding, version, required fields', (t) => {
  const { conf: c, raw } = parseConfig(conf({ ipam: { type: 'host-local', x: 1 }, extra: true }), 'ADD');
  t.equal(c.cniVersion, '1.1.0');
  t.equal(c.ipam?.type, 'host-local');
  t.equal(raw.extra, true, 'plugin fields kept');
  code(t, () => parseConfig('{nope', 'ADD'), 6, /decode/, 'bad JSON');
  code(t, () => parseConfig('[1]', 'ADD'), 6, undefined, 'not an object');
  code(t, () => parseConfig('', 'DEL'), 6, undefined, 'empty stdin');
  code(t, () => parseConfig(JSON.stringify({ name: 'n', type: 't' }), 'ADD'), 1, /no cniVersion/, 'no cniVersion');
  code(t, () => parseConfig(conf({ cniVersion: '0.2.0' }), 'ADD'), 1, /0\.2\.0/, 'too old');
  code(t, () => parseConfig(conf({ cniVersion: '2.0.0' }), 'ADD'), 1, /plugin supports \[0\.3\.0 0\.3\.1 0\.4\.0 1\.0\.0 1\.1\.0\]/, 'too new');
  code(t, () => parseConfig(conf({ cniVersion: 1 }), 'ADD'), 7, /cniVersion/, 'version not a string');
  code(t, () => parseConfig(conf({ name: undefined }), 'ADD'), 7, /name/, 'no name');
  code(t, () => parseConfig(conf({ name: '../etc' }), 'ADD'), 7, /name/, 'name with a path');
  code(t, () => parseConfig(conf({ name: 'a/b' }), 'ADD'), 7, /name/, 'name with a slash');
  code(t, () => parseConfig(conf({ type: '' }), 'ADD'), 7, /type/, 'empty type');
  code(t, () => parseConfig(conf({ ipam: { subnet: '10.0.0.0/24' } }), 'ADD'), 7, /ipam/, 'ipam without type');
  code(t, () => parseConfig(conf({ args: [] }), 'ADD'), 7, /args/, 'args not an object');
  code(t, () => parseConfig(conf({ dns: { nameservers: 'x' } }), 'ADD'), 7, /nameservers/, 'bad dns');
  t.end();
});

t.test('version gating: CHECK needs 0.4.0, GC and STATUS need 1.1.0', (t) => {
  code(t, () => parseConfig(conf({ cniVersion: '0.3.1' }), 'CHECK'), 1, /does not allow CHECK/);
  t.ok(parseConfig(conf({ cniVersion: '0.4.0' }), 'CHECK'));
  for (const cmd of ['GC', 'STATUS'] as const) {
    for (const v of ['0.4.0', '1.0.0']) code(t, () => parseConfig(conf({ cniVersion: v }), cmd), 1, new RegExp(`does not allow ${cmd}`), `${cmd} at ${v}`);
    t.ok(parseConfig(conf({ cniVersion: '1.1.0' }), cmd), `${cmd} at 1.1.0`);
  }
  t.ok(parseConfig(conf({ cniVersion: '0.3.0' }), 'ADD'), 'ADD at 0.3.0');
  t.end();
});

const FULL: CniResult = {
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1400, sandbox: '/run/netns/x', socketPath: '/s', pciID: '0000:00:01.0' }],
  ips: [{ address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 0 }, { address: 'fd00::5/64', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1300, advmss: 1200, priority: 5, table: 100, scope: 0 }],
  dns: { nameservers: ['10.0.0.1'] },
};

t.test('results convert to the shape of each version', (t) => {
  const r11 = convertResult(FULL, '1.1.0');
  t.same(r11, { cniVersion: '1.1.0', ...FULL }, '1.1.0 keeps everything');
  const r10 = convertResult(FULL, '1.0.0');
  t.same(r10.interfaces, [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x' }], '1.0.0: no 1.1 interface fields');
  t.same(r10.routes, [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }], '1.0.0: no 1.1 route fields');
  t.notOk(r10.ips?.some((ip) => 'version' in ip), '1.0.0: no ips[].version');
  for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    const r = convertResult(FULL, v);
    t.equal(r.cniVersion, v);
    t.same(r.ips, [
      { version: '4', address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 0 },
      { version: '6', address: 'fd00::5/64', interface: 0 }], `${v}: ips carry version, keep interface index`);
    t.same(r.routes, [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }]);
  }
  const ipamOnly = convertResult({ ips: [{ address: '10.0.0.5/24' }] }, '1.0.0');
  t.same(ipamOnly, { cniVersion: '1.0.0', ips: [{ address: '10.0.0.5/24' }], dns: {} }, 'IPAM result: no interfaces, empty dns');
  // Round trip: a 0.4.0 result parses back into the 1.1.0 shape.
  t.same(parseResult(JSON.parse(JSON.stringify(convertResult(FULL, '0.4.0')))).ips, FULL.ips!.map((ip) => ip), 'version field dropped on parse');
  code(t, () => parseResult({ ip4: { ip: '10.0.0.5/24' } }), 1, /0\.1\/0\.2/, '0.2.0 result');
  code(t, () => parseResult({ ips: [{ address: '10.0.0.5/24', interface: 2 }], interfaces: [{ name: 'a' }] }), 7, /interface/, 'dangling interface index');
  code(t, () => parseResult({ ips: [{ gateway: '10.0.0.1' }] }), 7, /address/, 'ip without address');
  code(t, () => parseResult('x'), 6, undefined, 'not an object');
  t.end();
});

t.test('prevResult is parsed for chained plugins', (t) => {
  const prev = convertResult(FULL, '1.0.0');
  const { conf: c, raw } = parseConfig(conf({ cniVersion: '1.0.0', prevResult: prev }), 'DEL');
  t.same(c.prevResult?.ips, FULL.ips);
  t.same(raw.prevResult, prev, 'raw keeps it as received, for delegation');
  code(t, () => parseConfig(conf({ prevResult: { ips: 'x' } }), 'CHECK'), 7, /prevResult\.ips/);
  t.end();
});

t.test('GC attachments: valid-attachments, older attachments, none', (t) => {
  const list = [{ containerID: 'a', ifname: 'eth0' }, { containerID: 'b', ifname: 'net1' }];
  t.same(parseAttachments({ 'cni.dev/valid-attachments': list }), list);
  t.same(parseAttachments({ 'cni.dev/attachments': list }), list, 'the older key');
  t.same(parseAttachments({ 'cni.dev/valid-attachments': [], 'cni.dev/attachments': list }), [], 'valid-attachments wins');
  code(t, () => parseAttachments({}), 7, /valid attachments/, 'no list');
  code(t, () => parseAttachments({ 'cni.dev/valid-attachments': [{ containerID: 'a' }] }), 7, undefined, 'entry without ifname');
  t.end();
});

t.test('skeleton: VERSION, dispatch, errors as JSON with the config version', async (t) => {
  const seen: string[] = [];
  const h: PluginHandlers = {
    add: (ctx) => { seen.push(`add ${ctx.env.containerId}`); return { ips: [{ address: '10.0.0.9/24', gateway: '10.0.0.1' }] }; },
    del: () => { seen.push('del'); },
    gc: (ctx) => { seen.push(`gc ${ctx.validAttachments.map((a) => a.containerID).join(',')}`); },
  };
  let out = await invokePlugin(h, { CNI_COMMAND: 'VERSION' }, '');
  t.same(JSON.parse(out.stdout), { cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  t.equal(out.exitCode, 0);
  out = await invokePlugin(h, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
  t.equal(JSON.parse(out.stdout).cniVersion, '0.4.0', 'VERSION answers in the version asked');
  out = await invokePlugin(h, ENV, conf({ cniVersion: '0.3.1' }));
  t.same(JSON.parse(out.stdout), { cniVersion: '0.3.1', ips: [{ version: '4', address: '10.0.0.9/24', gateway: '10.0.0.1' }], dns: {} });
  out = await invokePlugin(h, { ...ENV, CNI_COMMAND: 'DEL' }, conf());
  t.same(out, { stdout: '', exitCode: 0 }, 'DEL prints nothing');
  out = await invokePlugin(h, { ...ENV, CNI_COMMAND: 'CHECK' }, conf());
  t.same(out, { stdout: '', exitCode: 0 }, 'no CHECK handler: success');
  out = await invokePlugin(h, { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf({ 'cni.dev/valid-attachments': [{ containerID: 'k', ifname: 'eth0' }] }));
  t.equal(out.exitCode, 0);
  t.same(seen, ['add c1', 'del', 'gc k']);
  out = await invokePlugin(h, { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf({ cniVersion: '1.0.0' }));
  t.same(JSON.parse(out.stdout), { cniVersion: '1.0.0', code: 1, msg: 'config version does not allow GC', details: 'cniVersion 1.0.0 < 1.1.0' });
  t.equal(out.exitCode, 1);
  out = await invokePlugin(h, { ...ENV, CNI_NETNS: '' }, conf());
  t.equal(JSON.parse(out.stdout).code, 4);
  t.equal(JSON.parse(out.stdout).cniVersion, '1.1.0', 'errors use the config version');
  out = await invokePlugin(h, ENV, '{}');
  t.equal(JSON.parse(out.stdout).cniVersion, '1.1.0', 'no version in the config: the current one');
  const failing: PluginHandlers = { add: () => { throw new CniError(123, 'boom', 'why'); }, del: () => { throw new Error('plain'); } };
  out = await invokePlugin(failing, ENV, conf({ cniVersion: '0.4.0' }));
  t.same(JSON.parse(out.stdout), { cniVersion: '0.4.0', code: 123, msg: 'boom', details: 'why' });
  out = await invokePlugin(failing, { ...ENV, CNI_COMMAND: 'DEL' }, conf());
  t.same(JSON.parse(out.stdout), { cniVersion: '1.1.0', code: 999, msg: 'plain' }, 'a non-CNI error is 999');
  out = await invokePlugin(h, ENV, conf({ cniVersion: '0.3.0' }), { versions: ['1.0.0', '1.1.0'] });
  t.equal(JSON.parse(out.stdout).code, 1, 'a version the plugin does not list');
  out = await invokePlugin(h, { CNI_COMMAND: 'VERSION' }, '', { versions: ['1.0.0', '1.1.0'] });
  t.same(JSON.parse(out.stdout).supportedVersions, ['1.0.0', '1.1.0']);
  // Handlers by a loader: called only once a command needs them.
  let loads = 0;
  const loader = () => { loads++; return h; };
  await invokePlugin(loader, { CNI_COMMAND: 'VERSION' }, '');
  await invokePlugin(loader, { ...ENV, CNI_NETNS: '' }, conf());
  t.equal(loads, 0, 'not for VERSION, nor for a call refused before dispatch');
  out = await invokePlugin(loader, ENV, conf());
  t.equal(loads, 1);
  t.same(JSON.parse(out.stdout).ips, [{ address: '10.0.0.9/24', gateway: '10.0.0.1' }], 'then dispatched to what it returned');
  out = await invokePlugin(() => { throw new Error('cannot load'); }, ENV, conf());
  t.same(JSON.parse(out.stdout), { cniVersion: '1.1.0', code: 999, msg: 'cannot load' }, 'a loader that fails: error 999');
});

t.test('execIpam: finds the plugin in CNI_PATH, passes env and stdin, reads result or error', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cni-exec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(empty);
  // A fake IPAM plugin: echoes what it got, fails on DEL with an error JSON, on CHECK without one.
  fs.writeFileSync(path.join(dir, 'fake'), `#!/bin/sh
in=$(cat)
case $CNI_COMMAND in
ADD) printf '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.0.7/16","gateway":"10.1.0.1"}],"dns":{"domain":"%s"}}' "$CNI_CONTAINERID-$CNI_IFNAME-$(printf %s "$in" | wc -c)";;
DEL) echo '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"later"}'; exit 1;;
CHECK) echo garbage; exit 3;;
esac
`, { mode: 0o755 });
  const env = { ...ENV, CNI_PATH: `${empty}:${dir}` };
  t.equal(findPlugin('fake', env.CNI_PATH), path.join(dir, 'fake'));
  t.equal(findPlugin('../fake', env.CNI_PATH), undefined, 'a type with a path is never looked up');
  const cfg = { cniVersion: '0.4.0', name: 'n', type: 'x', ipam: { type: 'fake' } };
  const r = await execIpam('fake', 'ADD', cfg, env);
  t.same(r, { cniVersion: '0.4.0', ips: [{ address: '10.1.0.7/16', gateway: '10.1.0.1' }], dns: { domain: `c1-eth0-${JSON.stringify(cfg).length}` } },
    'result parsed; the plugin saw the env and the whole config on stdin');
  await t.rejects(execIpam('fake', 'DEL', cfg, env), { name: 'CniError', code: 11, msg: 'busy', details: 'later' });
  await t.rejects(execIpam('fake', 'CHECK', cfg, env), { name: 'CniError', code: 999, details: /exit code 3: garbage/ });
  await t.rejects(execIpam('nope', 'ADD', cfg, env), { code: 7, message: /failed to find plugin "nope"/ });
});

t.test('execIpam drives the real rtnl-ipam', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cni-exec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.symlinkSync(path.resolve(__dirname, '../../bin/rtnl-ipam'), path.join(dir, 'rtnl-ipam'));
  const env: NodeJS.ProcessEnv = { ...process.env, ...ENV, CNI_PATH: dir };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  const cfg = { cniVersion: '1.0.0', name: 'deleg', type: 'bridge', ipam: { type: 'rtnl-ipam', dataDir: dir, ranges: [[{ subnet: '10.20.0.0/24' }]] } };
  const r = await execIpam('rtnl-ipam', 'ADD', cfg, env);
  t.same(r.ips, [{ address: '10.20.0.2/24', gateway: '10.20.0.1' }]);
  t.equal(fs.readFileSync(path.join(dir, 'deleg', '10.20.0.2'), 'utf8'), 'c1\r\neth0');
  t.equal(await execIpam('rtnl-ipam', 'DEL', cfg, env), undefined);
  t.notOk(fs.existsSync(path.join(dir, 'deleg', '10.20.0.2')), 'released');
});
