import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { Handle, createNetns, currentNetns, deleteNetns, listNetns, openNetns, runInNetns, threadNetnsInode } from '../src/index.js';
import { HOME_NS, assertHome, testNs } from './lib.js';

t.test('a named namespace is what `ip netns` expects', (t) => {
  const ns = createNetns('rtnl-named');
  t.ok(listNetns().includes('rtnl-named'));
  t.match(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), /^rtnl-named\b/m, 'ip netns list shows it');
  // ip netns exec runs in the very namespace we hold
  const inode = execFileSync('ip', ['netns', 'exec', 'rtnl-named', 'stat', '-L', '-c', '%i', '/proc/self/ns/net'], { encoding: 'utf8' }).trim();
  t.equal(Number(inode), ns.inode, 'ip netns exec enters the same namespace');
  t.not(ns.inode, HOME_NS, 'a new namespace, not ours');
  assertHome(t);
  ns.close();
  deleteNetns('rtnl-named');
  t.notOk(listNetns().includes('rtnl-named'), 'gone after delete');
  t.notOk(fs.existsSync('/run/netns/rtnl-named'));
  t.throws(() => deleteNetns('rtnl-named'), { name: 'NetlinkError', code: 'ENOENT', op: 'netnsDelete' }, 'deleting twice is ENOENT');
  t.throws(() => createNetns('a/b'), { name: 'RtnlInputError', field: 'name' });
  t.end();
});

t.test('every named namespace is a shared mount, as `ip netns add` leaves it', (t) => {
  // The directory is made rshared once per process; the mounts made there after are shared by inheritance.
  const names = ['rtnl-shared-a', 'rtnl-shared-b', 'rtnl-shared-c'];
  for (const name of names) createNetns(name).close();
  t.teardown(() => names.forEach((n) => deleteNetns(n)));
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '));
  for (const path of ['/run/netns', ...names.map((n) => `/run/netns/${n}`)]) {
    const top = mounts.filter((f) => f[4] === path).at(-1); // the one on top, what a lookup of path finds
    t.ok(top?.slice(6, top.indexOf('-')).some((o) => o.startsWith('shared:')), `${path} is mounted shared`);
  }
  t.end();
});

t.test('creating a namespace that exists fails and leaves the first intact', (t) => {
  const { name, ns } = testNs(t);
  t.throws(() => createNetns(name), { name: 'NetlinkError', code: 'EEXIST' });
  t.equal(openNetns({ name }).inode, ns.inode);
  assertHome(t);
  t.end();
});

t.test('open by name, path, pid and fd agree on identity', (t) => {
  const { name, ns } = testNs(t);
  t.equal(openNetns({ path: `/run/netns/${name}` }).inode, ns.inode);
  t.equal(openNetns({ fd: ns.fd }).inode, ns.inode);
  t.equal(openNetns({ pid: process.pid }).inode, HOME_NS);
  t.equal(currentNetns().inode, HOME_NS);
  t.throws(() => openNetns({ path: '/etc/hostname' }), { name: 'NetlinkError', code: 'EINVAL', message: /not a network namespace/ });
  t.throws(() => new Handle({ path: '/proc/self/status' }), { code: 'EINVAL' }, 'a handle on a non-namespace path');
  t.throws(() => new Handle({ name: 'no-such-ns' }), { code: 'ENOENT' });
  assertHome(t);
  t.end();
});

t.test('runInNetns runs inside and always comes back', (t) => {
  const { name, ns } = testNs(t);
  t.equal(runInNetns({ name }, () => threadNetnsInode()), ns.inode, 'inside');
  assertHome(t);
  t.throws(() => ns.run(() => { throw new Error('boom'); }), /boom/);
  assertHome(t);
  // a socket opened inside belongs to the namespace it was opened in
  const h = ns.run(() => new Handle());
  h.linkAdd({ kind: 'bridge', name: 'inside0' });
  t.ok(execFileSync('ip', ['-n', name, '-br', 'link'], { encoding: 'utf8' }).includes('inside0'));
  h.close();
  t.throws(() => h.linkList(), { name: 'RtnlInputError' }, 'a closed handle says so');
  assertHome(t);
  t.end();
});
