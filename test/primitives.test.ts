// The shared primitives (src/primitives): addresses against RFC 5952's own
// examples and node:net, interface names against the kernel (through `ip`,
// which leaves all but the length to it), MACs, JSON shapes, and atomic file
// replacement on its failure paths.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import {
  IFNAME_MAX_BYTES, alive, bits, contains, cStringProblem, formatIp, ifnameProblem, ipFamily, isFileName, isIfindex, isIfname, isMac, localMac,
  isNetwork, isObj, isPlainObject, isStringArray, isUnicastMac, lastOf, parseCidr, parseIp, replaceFile, show, withPrefix, writeFileAtomic,
} from '../src/primitives/index.js';
import { testNs } from './lib.js';

/** A name for a test line: spaces and controls outside ASCII escaped (U+2028 would end a TAP line). */
const label = (s: string): string => JSON.stringify(s).replace(/[^\x20-\x7e\p{L}\p{So}\p{Sc}]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

const canonical = (s: string): string | undefined => {
  const ip = parseIp(s);
  return ip && formatIp(ip);
};

t.test('RFC 5952: the text of an IPv6 address', async (t) => {
  // Section 2's six spellings of one address, all printed as section 4 says.
  for (const s of ['2001:db8:0:0:1:0:0:1', '2001:0db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', '2001:db8::0:1:0:0:1', '2001:0db8::1:0:0:1', '2001:db8:0:0:1::1', '2001:db8:0000:0:1::1', '2001:DB8:0:0:1::1']) {
    t.equal(canonical(s), '2001:db8::1:0:0:1', `${s}: the first of two equal runs of zeros is the one shortened (4.2.3)`);
  }
  const cases: Array<[string, string, string]> = [
    ['2001:0db8::0001', '2001:db8::1', 'leading zeros suppressed (4.1)'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1', '"::" takes the whole run (4.2.1)'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 'a single 16-bit 0 is not shortened (4.2.2)'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1', 'the longest run is shortened (4.2.3)'],
    ['2001:DB8::ABCD', '2001:db8::abcd', 'lower case (4.3)'],
    ['0:0:0:0:0:0:0:0', '::', 'all zeros'],
    ['0:0:0:0:0:0:0:1', '::1', 'loopback'],
    ['1:0:0:0:0:0:0:0', '1::', 'a trailing run'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::', 'a link-local prefix'],
    ['::ffff:c000:0201', '192.0.2.1', 'IPv4-mapped: the dotted quad, as Go prints it (host-local names its files so)'],
    ['::ffff:192.0.2.1', '192.0.2.1', 'IPv4-mapped in mixed notation'],
    ['::192.0.2.1', '::c000:201', 'IPv4-compatible (deprecated): plain hex'],
    ['10.1.2.3', '10.1.2.3', 'IPv4 as given'],
  ];
  for (const [s, want, why] of cases) t.equal(canonical(s), want, `${s} → ${want}: ${why}`);
});

t.test('parseIp accepts exactly what node:net does (zones aside)', async (t) => {
  for (const s of ['fe80::1%eth0', '01.2.3.4', '1.2.3.04', '256.1.1.1', '1.2.3', '1:2:3:4:5:6:7:8:9', '1::2::3', '::1:2:3:4:5:6:7:8', '[::1]', ' 1.2.3.4', '0x1.2.3.4', '']) {
    t.equal(parseIp(s), undefined, `${JSON.stringify(s)} is not an address`);
  }
  // Mutations of valid addresses (a seeded generator: a failure is reproducible).
  let seed = 5952;
  const rnd = (k: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % k; };
  const seeds = ['1.2.3.4', '::', '::1', '1:2:3:4:5:6:7:8', '::ffff:1.2.3.4', '2001:db8::1', 'fe80::1:2', '1:2:3:4:5:6:1.2.3.4', '255.255.255.255'];
  const alphabet = '0123456789abcdefABCDEF:.x ';
  const differ: string[] = [], misread: string[] = [];
  let valid = 0;
  for (let i = 0; i < 50_000; i++) {
    let s = seeds[rnd(seeds.length)]!;
    for (let j = 1 + rnd(3); j > 0; j--) {
      const at = rnd(s.length + 1);
      const op = rnd(3);
      s = s.slice(0, at) + (op === 1 ? '' : alphabet[rnd(alphabet.length)]) + s.slice(op === 0 ? at : at + 1);
    }
    const ip = parseIp(s);
    if ((ip?.family ?? 0) !== isIP(s) || ipFamily(s) !== ip?.family) differ.push(s);
    if (!ip) continue;
    valid++;
    // The WHATWG URL parser as a second reader and printer: its IPv6 text is RFC 5952's too, but for mapped addresses.
    const url = new URL(`http://${ip.family === 6 ? `[${s}]` : s}/`).hostname.replace(/^\[(.*)\]$/, '$1');
    const mapped = ip.family === 6 && ip.value >> 32n === 0xffffn;
    if (!mapped && formatIp(ip) !== url) misread.push(`${s}: ${formatIp(ip)}, URL ${url}`);
  }
  t.same(differ.slice(0, 10), [], 'no string on which they differ');
  t.same(misread.slice(0, 10), [], 'each address read and printed as the URL parser does');
  t.ok(valid > 5000 && valid < 45_000, `both kinds were tried (${valid} of 50000 valid)`);
});

t.test('prefixes', async (t) => {
  const p = parseCidr('10.1.2.3/16')!;
  t.same(p.addr, { family: 4, value: 0x0a010203n }, 'the address as given');
  t.equal(withPrefix(p.cidr.net, p.cidr.prefix), '10.1.0.0/16', 'the network');
  t.notOk(isNetwork(p), 'host bits set');
  t.ok(isNetwork(parseCidr('10.1.0.0/16')!), 'no host bits');
  t.equal(formatIp({ family: 4, value: lastOf(p.cidr) }), '10.1.255.255', 'the last address');
  t.ok(contains(p.cidr, parseIp('10.1.255.1')!), 'inside');
  t.notOk(contains(p.cidr, parseIp('10.2.0.1')!), 'outside');
  t.notOk(contains(p.cidr, parseIp('::ffff:10.1.0.1')!), 'another family is never inside');
  const v6 = parseCidr('2001:DB8:0:0:1::1/64')!;
  t.equal(withPrefix(v6.cidr.net, v6.cidr.prefix), '2001:db8::/64', 'IPv6 network in RFC 5952 text');
  t.equal(formatIp({ family: 6, value: lastOf(v6.cidr) }), '2001:db8::ffff:ffff:ffff:ffff');
  t.equal(bits(4), 32);
  t.equal(bits(6), 128);
  t.same(parseCidr('0.0.0.0/0')?.cidr, { net: { family: 4, value: 0n }, prefix: 0 }, 'the default route');
  for (const s of ['10.0.0.0/33', '::/129', '10.0.0.0/', '/8', '10.0.0.0', '10.0.0.0/-1', '10.0.0.0/1e1', 'x/8']) t.equal(parseCidr(s), undefined, `${s} is not a prefix`);
});

t.test('interface names: bytes, NUL, and what the kernel refuses', async (t) => {
  t.equal(IFNAME_MAX_BYTES, 15);
  const verdicts: Array<[string, boolean]> = [
    ['eth0', true], ['fifteen-bytes-x', true], ['sixteen-bytes-xx', false],
    ['ééééééé', true], ['éééééééx', true], ['éééééééé', false], // 2 bytes each: 14, 15, 16
    ['€€€€€', true], ['€€€€€x', false], // 3 bytes each: 15, 16
    ['😀😀😀x', true], ['😀😀😀😀', false], // 4 bytes each: 13, 16
    ['à', false], ['xà', false], ['\u00a0x', false], // their UTF-8 holds 0xA0, which the kernel's isspace() matches
    ['a\u3000', true], ['a\u2028', true], // spaces to Unicode, not to the kernel
    ['a b', false], ['a\tb', false], ['a\nb', false], ['a:b', false], ['a/b', false], ['.', false], ['..', false], ['...', true], ['-x', true], ['', false],
  ];
  for (const [name, ok] of verdicts) {
    t.equal(ifnameProblem(name) === undefined, ok, `${label(name)} (${Buffer.byteLength(name)} bytes): ${ok ? 'valid' : ifnameProblem(name)}`);
    t.equal(isIfname(name), ok);
  }
  t.match(ifnameProblem('éééééééé'), /longer than 15 bytes/, 'the length in bytes, not characters');
  t.match(ifnameProblem('eth0\0x'), /NUL/, 'NUL: the kernel would read eth0');
  t.notOk(isIfname(5), 'not a string');

  // The kernel's verdict, through `ip`: it refuses too long a name, '/' and ASCII whitespace itself, and leaves the rest to the kernel.
  const n = testNs(t, 'prim');
  for (const [name, ok] of verdicts.filter(([s]) => s !== '' && !s.includes('\n'))) {
    const r = spawnSync('ip', ['-n', n.name, 'link', 'add', 'name', name, 'type', 'bridge'], { encoding: 'utf8' });
    t.equal(r.status === 0, ok, `ip link add ${ok ? 'takes' : 'refuses'} ${label(name)}${r.status ? `: ${r.stderr.trim()}` : ''}`);
    if (r.status === 0) {
      t.ok(n.ipJson<Array<{ ifname: string }>>('link', 'show').some((l) => l.ifname === name), 'and lists it by that name');
      n.ip('link', 'del', 'dev', name);
    }
  }
});

t.test('other names and numbers', async (t) => {
  for (const [v, ok] of [['ns1', true], ['a.b', true], ['é'.repeat(127), true], ['é'.repeat(128), false], ['', false], ['.', false], ['..', false], ['a/b', false], ['a\0', false], [7, false]] as const) {
    t.equal(isFileName(v), ok, `file name ${JSON.stringify(v)}`);
  }
  t.equal(cStringProblem('abc', 3), undefined);
  t.match(cStringProblem('abcd', 3), /longer than 3 bytes/);
  t.match(cStringProblem('éé', 3), /longer than 3 bytes/, 'bytes, not characters');
  t.match(cStringProblem('a\0b', 9), /NUL/);
  for (const [v, ok] of [[1, true], [0x7fffffff, true], [0, false], [-1, false], [0x80000000, false], [1.5, false], ['1', false], [NaN, false]] as const) {
    t.equal(isIfindex(v), ok, `ifindex ${String(v)}`);
  }
});

t.test('MACs', async (t) => {
  for (const [v, mac, unicast] of [
    ['02:00:00:00:00:01', true, true], ['02:AB:cd:00:00:01', true, true], ['00:00:00:00:00:00', true, false], ['01:00:5e:00:00:01', true, false],
    ['ff:ff:ff:ff:ff:ff', true, false], ['03:00:00:00:00:01', true, false], ['02:00:00:00:00', false, false], ['02-00-00-00-00-01', false, false],
    ['2:0:0:0:0:1', false, false], ['02:00:00:00:00:01:02', false, false], ['0g:00:00:00:00:01', false, false], [' 02:00:00:00:00:01', false, false], [2, false, false],
  ] as const) {
    t.equal(isMac(v), mac, `${JSON.stringify(v)} is ${mac ? '' : 'not '}a MAC`);
    t.equal(isUnicastMac(v), unicast, `${JSON.stringify(v)} is ${unicast ? '' : 'not '}a station's MAC`);
  }
  t.equal(localMac([0xff, 0xab, 0, 1, 2, 0xfe]), 'fe:ab:00:01:02:fe', 'local: group bit cleared, local bit set');
  t.equal(localMac(Buffer.from('0123456789', 'hex')), '02:23:45:67:89:00', 'from a Buffer; missing bytes are zeros');
  t.equal(localMac([0, 0, 0, 0, 0, 0]), '02:00:00:00:00:00');
  t.ok(isUnicastMac(localMac([0x01, 0, 0, 0, 0, 0])), 'always a station\'s MAC');
});

t.test('JSON shapes', async (t) => {
  t.ok(isObj({}) && isObj(Object.create(null)) && isObj(new Map()), 'objects');
  t.notOk(isObj(null) || isObj([]) || isObj('x') || isObj(1), 'not null, arrays or scalars');
  t.ok(isPlainObject({ a: 1 }) && isPlainObject(Object.create(null)), 'literals and null-prototype objects are plain');
  t.notOk(isPlainObject(new Map()) || isPlainObject(new Date()) || isPlainObject(Buffer.alloc(1)) || isPlainObject([]), 'a Map, a Date, a Buffer, an array are not');
  t.ok(isStringArray([]) && isStringArray(['a', '']));
  t.notOk(isStringArray(['a', 1]) || isStringArray('a') || isStringArray({ length: 0 }));
  const hostile = { toString() { throw new Error('no'); } };
  t.equal(show('a"b'), '"a\\"b"', 'strings quoted');
  t.equal(show(Object.create(null)), '[object Object]', 'never throws');
  t.equal(show(hostile), '[object Object]', 'not even on a throwing toString');
  t.equal(show(10n), '10');
});

t.test('atomic file replacement', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-prim-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'conf.json');
  const others = () => fs.readdirSync(dir).filter((f) => f !== 'conf.json' && f !== 'sub').sort();

  writeFileAtomic(file, 'one\n', 0o600);
  t.equal(fs.readFileSync(file, 'utf8'), 'one\n', 'written');
  t.equal(fs.statSync(file).mode & 0o777, 0o600 & ~process.umask(), 'with its mode');
  writeFileAtomic(file, 'two\n');
  t.equal(fs.readFileSync(file, 'utf8'), 'two\n', 'replaced');
  t.same(others(), [], 'no temporary file left');

  t.throws(() => replaceFile(file, (tmp) => { fs.writeFileSync(tmp, 'half'); throw new Error('disk full'); }), /disk full/, 'a failing fill throws');
  t.equal(fs.readFileSync(file, 'utf8'), 'two\n', 'the file is unchanged');
  t.same(others(), [], 'and its temporary file is gone');

  const sub = path.join(dir, 'sub');
  fs.mkdirSync(sub);
  fs.writeFileSync(path.join(sub, 'keep'), '');
  t.throws(() => writeFileAtomic(sub, 'x'), { code: 'EISDIR' }, 'a rename that fails (over a directory) throws');
  t.same(fs.readdirSync(sub), ['keep'], 'the directory is intact');
  t.same(others(), [], 'no temporary file left');

  t.throws(() => writeFileAtomic(path.join(dir, 'missing', 'f'), 'x'), { code: 'ENOENT' }, 'a missing directory throws');
  t.same(others(), [], 'nothing made');

  replaceFile(file, (tmp) => fs.symlinkSync('/etc/hostname', tmp));
  t.equal(fs.readlinkSync(file), '/etc/hostname', 'a symbolic link replaces the file too');
  t.same(others(), [], 'no temporary file left');
});

t.test('pid liveness', async (t) => {
  t.ok(alive(process.pid), 'this process');
  t.ok(alive(1), 'init');
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  t.notOk(alive(Number(child.stdout)), 'an exited child');
  for (const v of [0, -1, NaN, 1.5]) t.notOk(alive(v), `not a pid: ${v}`);
});
