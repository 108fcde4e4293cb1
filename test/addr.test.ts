import t from 'tap';
import { type Address, type Handle, NetlinkError, RtnlInputError } from '../src/index.js';
import { type TestNs, assertHome, churn, testNs } from './lib.js';

// A veth pair, both ends up, in a fresh namespace.
function pair(t: Parameters<typeof testNs>[0]): TestNs & { a: number; b: number } {
  const n = testNs(t, 'addr');
  n.h.linkAdd({ kind: 'veth', name: 'va', peer: { name: 'vb' } });
  n.h.linkSetUp('va');
  n.h.linkSetUp('vb');
  return { ...n, a: n.h.linkGet('va').index, b: n.h.linkGet('vb').index };
}

// iproute2's JSON key for each of our flag names.
const IP_FLAG: Record<string, string> = {
  secondary: 'secondary', temporary: 'temporary', nodad: 'nodad', optimistic: 'optimistic', dadfailed: 'dadfailed',
  homeaddress: 'home', deprecated: 'deprecated', tentative: 'tentative', managetempaddr: 'mngtmpaddr',
  noprefixroute: 'noprefixroute', mcautojoin: 'autojoin', stableprivacy: 'stable-privacy',
};
const IP_SCOPE: Record<string, string> = { universe: 'global', site: 'site', link: 'link', host: 'host', nowhere: 'nowhere' };
const FOREVER = 4294967295;

// Checks every field of ours against `ip -j -d addr show` for the same address.
function agree(t: Parameters<typeof testNs>[0], n: TestNs, a: Address): void {
  const dev = n.ipJson('-d', 'addr', 'show').find((l: { ifindex: number }) => l.ifindex === a.link);
  const ip = dev?.addr_info.find((x: { local: string; prefixlen: number }) => x.local === a.local && x.prefixlen === a.prefixLen);
  if (!t.ok(ip, `ip shows ${a.address}`)) return;
  t.equal(ip.family, a.family === 4 ? 'inet' : 'inet6', 'family');
  t.equal(ip.address, a.peer, 'peer');
  t.equal(ip.broadcast, a.broadcast, 'broadcast');
  t.equal(ip.label, a.label, 'label');
  t.equal(ip.scope, typeof a.scope === 'number' ? String(a.scope) : IP_SCOPE[a.scope], 'scope');
  for (const [ours, theirs] of Object.entries(IP_FLAG)) t.equal(ip[theirs] === true, a.flags.includes(ours as never), `flag ${ours}`);
  t.equal(ip.dynamic === true, !a.flags.includes('permanent'), 'permanent');
  // Lifetimes count down: allow a couple of seconds between the two reads.
  const lft = (x: number | undefined) => (x === Infinity ? FOREVER : x);
  t.ok(Math.abs(ip.valid_life_time - lft(a.validLft)!) <= 2, `valid lifetime ${a.validLft} ~ ${ip.valid_life_time}`);
  t.ok(Math.abs(ip.preferred_life_time - lft(a.preferredLft)!) <= 2, `preferred lifetime ${a.preferredLft} ~ ${ip.preferred_life_time}`);
}

const find = (h: Handle, link: number, address: string) => h.addrList({ link }).find((a) => a.address === address);

t.test('IPv4 addresses: every field written, read back, and as iproute2 sees it', (t) => {
  const n = pair(t);
  n.h.addrAdd({ link: n.a, address: '10.1.0.2/24', broadcast: '10.1.0.255', label: 'va:one', validLft: 1000, preferredLft: 500 });
  n.h.addrAdd({ link: n.a, address: '10.1.0.3/24', flags: ['noprefixroute'] });
  n.h.addrAdd({ link: n.a, address: '10.6.0.1/24', scope: 'host' });
  t.throws(() => n.h.addrAdd({ link: n.a, address: '10.6.0.2/24', scope: 'site' }), { code: 'EINVAL', extack: 'ipv4: Invalid scope value' },
    'a secondary must share its primary\'s scope');
  n.h.addrAdd({ link: n.a, address: '10.9.0.1/32', peer: '10.9.0.2', scope: 'link' });
  n.h.addrAdd({ link: n.b, address: '10.1.0.9', scope: 100 });

  const one = find(n.h, n.a, '10.1.0.2/24')!;
  t.match(one, { family: 4, link: n.a, local: '10.1.0.2', prefixLen: 24, broadcast: '10.1.0.255', label: 'va:one', scope: 'universe', validLft: Number, preferredLft: Number });
  t.ok(one.validLft! <= 1000 && one.validLft! > 990 && one.preferredLft! <= 500 && one.preferredLft! > 490, 'lifetimes');
  t.notOk(one.flags.includes('permanent'), 'an address with lifetimes is not permanent');
  t.equal(one.peer, undefined, 'no peer on a broadcast address');
  const two = find(n.h, n.a, '10.1.0.3/24')!;
  t.equal(find(n.h, n.a, '10.6.0.1/24')?.scope, 'host');
  t.match(two, { scope: 'universe', validLft: Infinity, preferredLft: Infinity });
  t.ok(two.flags.includes('noprefixroute') && two.flags.includes('permanent') && two.flags.includes('secondary'), `flags ${two.flags}`);
  t.notOk(n.h.routeList().some((r) => r.dst === '10.1.0.0/24' && r.prefsrc === '10.1.0.3'), 'noprefixroute added no prefix route');
  const p2p = find(n.h, n.a, '10.9.0.1/32')!;
  t.match(p2p, { local: '10.9.0.1', peer: '10.9.0.2', scope: 'link', label: 'va' });
  t.equal(find(n.h, n.b, '10.1.0.9/32')?.scope, 100, 'a scope without a name is a number');

  for (const a of n.h.addrList({ family: 4 })) agree(t, n, a);
  assertHome(t);
  t.end();
});

t.test('IPv6 addresses: flags, lifetimes, peer, and iproute2 agrees', (t) => {
  const n = pair(t);
  n.h.addrAdd({ link: n.a, address: 'fd00::2/64', flags: ['nodad', 'noprefixroute', 'homeaddress'] });
  n.h.addrAdd({ link: n.a, address: 'fd01::2/64', flags: ['nodad', 'managetempaddr'], validLft: 3600, preferredLft: 1800 });
  n.h.addrAdd({ link: n.a, address: 'fd02::1/128', peer: 'fd02::2', flags: ['nodad'] });
  n.h.addrAdd({ link: n.b, address: 'ff0e::1:2/128', flags: ['mcautojoin', 'nodad'] });

  const a = find(n.h, n.a, 'fd00::2/64')!;
  t.match(a, { family: 6, local: 'fd00::2', prefixLen: 64, scope: 'universe', validLft: Infinity });
  t.same(a.flags.filter((f) => f !== 'permanent').sort(), ['homeaddress', 'nodad', 'noprefixroute']);
  const b = find(n.h, n.a, 'fd01::2/64')!;
  t.ok(b.flags.includes('managetempaddr') && b.validLft! <= 3600 && b.preferredLft! <= 1800, 'managetempaddr and lifetimes');
  t.match(find(n.h, n.a, 'fd02::1/128'), { local: 'fd02::1', peer: 'fd02::2' });
  t.ok(find(n.h, n.b, 'ff0e::1:2/128')?.flags.includes('mcautojoin'), 'mcautojoin');
  const linkLocal = n.h.addrList({ link: n.a, family: 6 }).find((x) => x.local.startsWith('fe80::'));
  t.equal(linkLocal?.scope, 'link', 'the kernel-made link-local address, scope link');

  for (const x of n.h.addrList({ family: 6 })) agree(t, n, x);
  assertHome(t);
  t.end();
});

t.test('add, replace, delete: EEXIST, updates in place, EADDRNOTAVAIL with extack', (t) => {
  const n = pair(t);
  const spec = { link: n.a, address: '10.2.0.1/24' };
  n.h.addrAdd(spec);
  t.throws(() => n.h.addrAdd(spec), { name: 'NetlinkError', code: 'EEXIST', op: 'addrAdd', object: '10.2.0.1/24 on ifindex ' + n.a });
  n.h.addrReplace({ ...spec, validLft: 600, preferredLft: 300, label: 'va:r' });
  const r = find(n.h, n.a, '10.2.0.1/24')!;
  t.ok(r.validLft! <= 600 && r.preferredLft! <= 300, 'replace set lifetimes');
  t.equal(r.label, 'va', 'replace leaves the label (the kernel updates flags and lifetimes only)');
  t.equal(n.h.addrList({ link: n.a, family: 4 }).length, 1, 'replace did not add a second address');
  n.h.addrReplace({ link: n.a, address: 'fd00::5/64', flags: ['nodad'] });
  t.ok(find(n.h, n.a, 'fd00::5/64'), 'replace creates what is missing');

  n.h.addrDel(spec);
  t.notOk(find(n.h, n.a, '10.2.0.1/24'), 'gone');
  t.notOk(n.ip('addr', 'show', 'dev', 'va').includes('10.2.0.1'), 'ip agrees it is gone');
  const e4 = t.throws(() => n.h.addrDel(spec), { name: 'NetlinkError', code: 'EADDRNOTAVAIL', op: 'addrDel' }) as NetlinkError;
  t.match(e4?.extack, /not found/i, `extack: ${e4?.extack}`);
  n.h.addrDel({ link: n.a, address: 'fd00::5/64' });
  t.throws(() => n.h.addrDel({ link: n.a, address: 'fd00::5/64' }), { code: 'EADDRNOTAVAIL', extack: /not found/i });
  n.h.addrAdd({ link: n.a, address: '10.9.0.1/32', peer: '10.9.0.2' });
  n.h.addrDel({ link: n.a, address: '10.9.0.1/32' });
  t.notOk(find(n.h, n.a, '10.9.0.1/32'), 'a point-to-point address goes without naming its peer');
  t.throws(() => n.h.addrAdd({ link: 999, address: '10.3.0.1/24' }), { name: 'NetlinkError', code: 'ENODEV' });
  assertHome(t);
  t.end();
});

t.test('the kernel filters by link and family', (t) => {
  const n = pair(t);
  n.h.batch((b) => {
    b.addrAdd({ link: n.a, address: '10.3.0.1/24' });
    b.addrAdd({ link: n.a, address: 'fd03::1/64', flags: ['nodad'] });
    b.addrAdd({ link: n.b, address: '10.3.0.2/24' });
    b.addrAdd({ link: n.b, address: 'fd03::2/64', flags: ['nodad'] });
  });
  const key = (a: { link: number; address: string }) => `${a.link} ${a.address}`;
  const theirs = (args: string[]) => n.ipJson(...args.filter((x) => x.startsWith('-')), 'addr', 'show', ...args.filter((x) => !x.startsWith('-'))).flatMap((l: { ifindex: number; addr_info: { local: string; prefixlen: number }[] }) =>
    l.addr_info.map((x) => `${l.ifindex} ${x.local}/${x.prefixlen}`)).sort();
  t.same(n.h.addrList({ link: n.a }).map(key).sort(), theirs(['dev', 'va']), 'by link');
  t.ok(n.h.addrList({ link: n.a }).every((a) => a.link === n.a), 'only that link');
  t.same(n.h.addrList({ family: 4 }).map(key).sort(), theirs(['-4']), 'by family 4');
  t.same(n.h.addrList({ family: 6 }).map(key).sort(), theirs(['-6']), 'by family 6');
  t.same(n.h.addrList({ link: n.b, family: 6 }).map(key).sort(), theirs(['-6', 'dev', 'vb']), 'both');
  t.same(n.h.addrList().map(key).sort(), theirs([]), 'unfiltered');
  assertHome(t);
  t.end();
});

t.test('async and batch run the same verbs', async (t) => {
  const n = pair(t);
  await n.h.async.addrAdd({ link: n.a, address: '10.4.0.1/24' });
  const [ok, dup] = await n.h.async.batch((b) => {
    b.addrAdd({ link: n.a, address: '10.4.0.2/24' });
    b.addrAdd({ link: n.a, address: '10.4.0.1/24' });
  });
  t.equal(ok?.status, 'fulfilled');
  t.match(dup, { status: 'rejected', reason: { code: 'EEXIST' } });
  t.same((await n.h.async.addrList({ link: n.a, family: 4 })).map((a) => a.address).sort(), ['10.4.0.1/24', '10.4.0.2/24']);
  assertHome(t);
});

t.test('input is checked before anything is sent', (t) => {
  const n = pair(t);
  const bad: [unknown, string][] = [
    [{ link: n.a, address: '10.0.0.1/33' }, 'address'],
    [{ link: n.a, address: 'nope' }, 'address'],
    [{ address: '10.0.0.1/24' }, 'link'],
    [{ link: 0, address: '10.0.0.1/24' }, 'link'],
    [{ link: n.a, address: '10.0.0.1/24', peer: 'fd00::1' }, 'peer'],
    [{ link: n.a, address: 'fd00::1/64', broadcast: '10.0.0.255' }, 'broadcast'],
    [{ link: n.a, address: '10.0.0.1/24', flags: ['permanent'] }, 'flags[0]'],
    [{ link: n.a, address: '10.0.0.1/24', scope: 'galaxy' }, 'scope'],
    [{ link: n.a, address: '10.0.0.1/24', validLft: 10, preferredLft: 20 }, 'preferredLft'],
    [{ link: n.a, address: '10.0.0.1/24', label: 'x'.repeat(16) }, 'label'],
    [{ link: n.a, address: '10.0.0.1/24', colour: 'red' }, 'colour'],
  ];
  for (const [spec, field] of bad) t.throws(() => n.h.addrAdd(spec as never), { name: 'RtnlInputError', field }, field);
  t.throws(() => n.h.addrList({ family: 5 as never }), RtnlInputError);
  t.equal(n.h.addrList({ link: n.a, family: 4 }).length, 0, 'nothing was added');
  assertHome(t);
  t.end();
});

// Address dumps are checked for consistency by the kernel (NLM_F_DUMP_INTR
// when addresses change mid-dump; `ip addr` warns about it in this very
// setup). rtnl retries such a dump; it must come back complete or fail with
// EINTR, never partial.
t.test('an address dump while another process adds and deletes addresses', async (t) => {
  const n = pair(t);
  const res = n.h.batch((b) => { for (let i = 0; i < 10000; i++) b.addrAdd({ link: n.a, address: `10.100.${i >> 8}.${i & 255}/32` }); });
  t.ok(res.every((r) => r.status === 'fulfilled'), '10,000 addresses in one batch');
  const lines: string[] = [];
  for (let i = 0; i < 50; i++) lines.push(`addr add 10.201.0.${i}/32 dev vb`);
  for (let i = 0; i < 50; i++) lines.push(`addr del 10.201.0.${i}/32 dev vb`);
  const stopChurn = churn(t, n.name, lines);
  await new Promise((r) => setTimeout(r, 200));
  let complete = 0, interrupted = 0, churned = 0, rounds = 0;
  // At least 20 dumps, and on until one overlapped the churn (a dump takes a
  // few ms, and each `ip -batch` of the churn starts a process first).
  for (; rounds < 500 && (rounds < 20 || (churned === 0 && interrupted === 0)); rounds++) {
    try {
      const all = await n.h.async.addrList({ family: 4 });
      const stable = all.filter((a) => a.link === n.a);
      if (stable.length !== 10000 || new Set(stable.map((a) => a.address)).size !== 10000) {
        t.fail(`partial dump: ${stable.length} of 10,000 stable addresses`);
        continue;
      }
      churned += all.filter((a) => a.link === n.b).length;
      complete++;
    } catch (e) {
      t.match(e, { name: 'NetlinkError', code: 'EINTR', op: 'addrList', extack: /NLM_F_DUMP_INTR/ });
      interrupted++;
    }
  }
  stopChurn();
  t.equal(complete + interrupted, rounds, `${complete} complete, ${interrupted} EINTR; ${churned} churned addresses seen in flight`);
  t.ok(churned > 0 || interrupted > 0, 'the churn was really going on during the dumps');
  assertHome(t);
});
