// bin/rtnl-cni-install into temp directories: launchers that run from the
// bin dir (any cwd) from a startup snapshot, or without one, or symlinks; the
// daemon client as `rtnl` (no daemon here: it runs the launcher); the sample
// conflist drives a real ADD/DEL.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { findClient } from '../src/plugin/install.js';
import { testNs } from './lib.js';
import { Runtime, tmpDir, REF_DIR } from './plugin-runtime.js';

const INSTALLER = path.resolve(__dirname, '../../bin/rtnl-cni-install');
const CLIENT = path.resolve(__dirname, '../../build/Release/rtnl-cni-client');
const env = { ...process.env, NODE_OPTIONS: '', NODE_EXTRA_CA_CERTS: '' };
const install = (...args: string[]) => spawnSync(INSTALLER, args, { encoding: 'utf8', env });
const version = (file: string) => spawnSync(file, [], { encoding: 'utf8', env: { ...env, CNI_COMMAND: 'VERSION' }, cwd: '/', input: '' });

t.test('launchers: executable, run from the bin dir in any cwd, replaced in place', (t) => {
  const d = tmpDir(t);
  const bin = path.join(d, 'opt/cni/bin'), conf = path.join(d, 'etc/cni/net.d');
  const r = install('--bin-dir', bin, '--conf-dir', conf);
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.same(lines.filter((l) => l.startsWith('installed ')), [
    `installed ${bin}/rtnl.snapshot`, `installed ${bin}/.rtnl-node`, `installed ${bin}/rtnl`, `installed ${bin}/rtnl-ipam.snapshot`, `installed ${bin}/rtnl-ipam`, `installed ${conf}/10-rtnl.conflist`,
  ]);
  t.same(lines.filter((l) => !l.startsWith('installed ')), [
    `rtnl: client fast path (built from source ${CLIENT}; without a daemon it runs .rtnl-node: launcher + startup snapshot)`,
    'rtnl-ipam: launcher + startup snapshot',
  ], 'how each plugin runs, and why');
  for (const f of ['rtnl', '.rtnl-node', 'rtnl-ipam']) {
    const st = fs.lstatSync(path.join(bin, f));
    t.ok(st.isFile() && (st.mode & 0o111) === 0o111, `${f}: an executable file`);
    const v = version(path.join(bin, f));
    t.equal(v.status, 0, v.stderr);
    t.same(JSON.parse(v.stdout).supportedVersions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'], `${f} answers VERSION`);
  }
  t.same(fs.readFileSync(path.join(bin, 'rtnl')), fs.readFileSync(CLIENT), 'rtnl: the daemon client');
  t.match(fs.readFileSync(path.join(bin, '.rtnl-node'), 'utf8'), new RegExp(`^#!/bin/sh\n[^]*node='${process.execPath}'\n`), 'the node that installed it, by path');
  const again = install('--bin-dir', bin, '--no-conf');
  t.equal(again.status, 0, 'reinstall over existing files');
  t.same(fs.readdirSync(bin).sort(), ['.rtnl-node', 'rtnl', 'rtnl-ipam', 'rtnl-ipam.snapshot', 'rtnl.snapshot'], 'no temp files left');
  t.match(install('--bin-dir', bin, '--no-conf', '--no-daemon-client').stdout, /^rtnl: launcher \+ startup snapshot; no daemon client \(--no-daemon-client\)$/m);
  t.match(fs.readFileSync(path.join(bin, 'rtnl'), 'utf8'), /^#!\/bin\/sh\n/, '--no-daemon-client: rtnl is the launcher');
  t.same(fs.readdirSync(bin).sort(), ['rtnl', 'rtnl-ipam', 'rtnl-ipam.snapshot', 'rtnl.snapshot'], 'the hidden launcher removed');
  t.equal(version(path.join(bin, 'rtnl')).status, 0);
  t.end();
});

t.test('the daemon client: the package\'s own build, else the prebuilt one for this platform, CPU and libc', (t) => {
  const root = tmpDir(t);
  const prebuilt = path.join(root, `prebuilds/linux-${process.arch}/rtnl-cni-client.glibc`);
  t.same(findClient(root), { path: undefined, why: `no build/Release/rtnl-cni-client (no source build) and no prebuilds/linux-${process.arch}/rtnl-cni-client.glibc` });
  fs.mkdirSync(path.dirname(prebuilt), { recursive: true });
  fs.writeFileSync(prebuilt, '');
  t.same(findClient(root), { path: prebuilt, why: 'prebuilt' });
  const built = path.join(root, 'build/Release/rtnl-cni-client');
  fs.mkdirSync(path.dirname(built), { recursive: true });
  fs.writeFileSync(built, '');
  t.same(findClient(root), { path: built, why: 'built from source' }, 'a source build wins, as node-gyp-build prefers it for the addon');
  t.end();
});

t.test('--symlink: links into the package bin/', (t) => {
  const bin = path.join(tmpDir(t), 'bin');
  t.equal(install('--bin-dir', bin, '--symlink', '--no-conf').status, 0);
  t.equal(fs.readlinkSync(path.join(bin, 'rtnl')), path.resolve(__dirname, '../../bin/rtnl-cni'));
  t.equal(version(path.join(bin, 'rtnl')).status, 0, 'runs through the symlink');
  t.equal(version(path.join(bin, 'rtnl-ipam')).status, 0);
  t.end();
});

t.test('the launchers start from the snapshot; without one, or from a damaged one, they load the modules', (t) => {
  const bin = path.join(tmpDir(t), 'bin');
  t.equal(install('--bin-dir', bin, '--no-conf').status, 0);
  const rtnl = path.join(bin, 'rtnl'), blob = `${rtnl}.snapshot`;
  // What a run opens tells where its code came from: the blob, or the modules in dist/. A DEL
  // without CNI_CONTAINERID is refused (code 4, exit 1) by the plugin, however it started.
  const opened = (command = 'DEL'): { status: number | null; json: any; stderr: string; files: string } => {
    const log = path.join(tmpDir(t), 'strace');
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat', '-o', log, rtnl], { encoding: 'utf8', env: { ...env, CNI_COMMAND: command }, input: '{}' });
    return { status: r.status, json: JSON.parse(r.stdout), stderr: r.stderr, files: fs.readFileSync(log, 'utf8') };
  };
  const fromBlob = opened();
  t.same([fromBlob.status, fromBlob.json.code], [1, 4], 'the plugin\'s own exit code and error');
  t.match(fromBlob.files, /rtnl\.snapshot/, 'the snapshot is read');
  t.notMatch(fromBlob.files, /dist\/src\/cni\/skel\.js/, 'no module loaded from dist/');
  t.equal(fromBlob.stderr, '');
  const version = opened('VERSION');
  t.same([version.status, version.json.cniVersion], [0, '1.1.0']);
  t.notMatch(version.files, /rtnl\.snapshot/, 'VERSION starts without the snapshot (it needs no modules)');
  const damaged = (what: string, write: () => void) => {
    write();
    const r = opened();
    t.same([r.status, r.json.code], [1, 4], `${what}: still the plugin's answer`);
    t.match(r.files, /dist\/src\/cni\/skel\.js/, `${what}: the modules are loaded instead`);
    return r.stderr;
  };
  const full = fs.readFileSync(blob);
  // The Node.js version is in the blob's header: another version's blob is refused with exit 14.
  const otherNode = Buffer.from(full);
  const at = otherNode.indexOf(process.versions.node);
  t.ok(at > 0 && at < 64, 'the version in the header');
  otherNode.write('99.99.9'.padEnd(process.versions.node.length, '9'), at);
  t.match(damaged('another Node.js version\'s blob', () => fs.writeFileSync(blob, otherNode)), /rtnl: startup snapshot .*rtnl\.snapshot unusable \(exit 14\), starting without it/);
  t.match(damaged('a truncated blob', () => fs.writeFileSync(blob, full.subarray(0, 1000))), /unusable \(exit 1[0-9][0-9]\)/);
  t.match(damaged('junk', () => fs.writeFileSync(blob, 'not a snapshot')), /unusable \(exit 1[0-9][0-9]\)/);
  t.equal(damaged('no blob', () => fs.rmSync(blob)), '', 'no blob: silently without');
  t.equal(install('--bin-dir', bin, '--no-conf', '--no-snapshot').status, 0);
  t.same(fs.readdirSync(bin).sort(), ['.rtnl-node', 'rtnl', 'rtnl-ipam'], '--no-snapshot: no blobs, an earlier one removed');
  t.end();
});

t.test('bad arguments: usage, exit 1', (t) => {
  const r = install('--frob');
  t.equal(r.status, 1);
  t.match(r.stderr, /unknown argument --frob[\s\S]*usage:/);
  t.equal(install('--bin-dir').status, 1, 'a flag without its value');
  t.end();
});

t.test('the sample conflist works (bridge mode, rtnl-ipam)', (t) => {
  const d = tmpDir(t);
  const r = install('--bin-dir', path.join(d, 'bin'), '--conf-dir', path.join(d, 'net.d'), '--name', 'sample', '--subnet', '10.90.0.0/24', '--bridge', 'smp0');
  t.equal(r.status, 0, r.stderr);
  const list = JSON.parse(fs.readFileSync(path.join(d, 'net.d/10-sample.conflist'), 'utf8'));
  t.equal(list.name, 'sample');
  t.equal(list.plugins[0].type, 'rtnl');
  list.plugins[0].ipam.dataDir = path.join(d, 'ipam'); // never the host's /var/lib/cni
  const node = testNs(t, 'pn'), pod = testNs(t, 'pp');
  const rt = new Runtime(list);
  const call = { netns: `/run/netns/${pod.name}`, node: node.name, cniPath: `${path.join(d, 'bin')}:${REF_DIR}`, id: 's1' };
  const a = rt.add(call);
  t.equal(a.code, 0, a.stdout + a.stderr);
  t.same(a.json.ips[0].address, '10.90.0.2/24');
  t.equal(node.h.linkGet('smp0').kind, 'bridge');
  t.equal(rt.run('DEL', call).code, 0);
  t.end();
});
