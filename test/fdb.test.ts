import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { type FdbEntry, type FdbSpec, Handle, type NetlinkError, createNetns, deleteNetns, encodeRequests } from '../src/index.js';
import { type TestNs, assertHome, testNs } from './lib.js';

type Tap = Test;

// From <linux/socket.h>, <linux/rtnetlink.h>, <linux/neighbour.h>: only to read request bytes back.
const AF_INET = 2, AF_INET6 = 10, AF_BRIDGE = 7;
const RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29, RTM_GETNEIGH = 30;
const NLM_F_REPLACE = 0x100, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400, NLM_F_APPEND = 0x800;
const NTF_SELF = 0x02, NTF_MASTER = 0x04, NDA_VLAN = 5;
const ZERO = '00:00:00:00:00:00';

interface BridgeFdb { mac: string; ifname?: string; dst?: string; port?: number; vni?: number; src_vni?: number; vlan?: number; master?: string; flags: string[]; state: string }

interface Net extends TestNs { br: number; p0: number; vx: number; names: Map<number, string>; bridge(...args: string[]): BridgeFdb[] }

/**
 * br0 (up, 192.0.2.1/24) with veth port p0 (peer p1), and vx0: a
 * nolearning VXLAN (vni 42, dstport 4789) whose local address is br0's.
 */
function setup(t: Tap): Net {
  const n = testNs(t, 'fdb');
  n.h.linkAdd({ kind: 'bridge', name: 'br0', up: true });
  const br = n.h.linkGet('br0').index;
  n.h.linkAdd({ kind: 'veth', name: 'p0', peer: { name: 'p1' } });
  n.h.linkSet('p0', { master: br, up: true });
  n.h.linkSetUp('p1');
  n.ip('addr', 'add', '192.0.2.1/24', 'dev', 'br0');
  n.h.linkAdd({ kind: 'vxlan', name: 'vx0', vni: 42, local: '192.0.2.1', port: 4789, learning: false, up: true });
  const names = new Map(n.h.linkList().map((l) => [l.index, l.name]));
  // unfiltered, so that bridge prints ifname for every entry
  const bridge = (...args: string[]) => JSON.parse(execFileSync('bridge', ['-n', n.name, '-j', '-d', 'fdb', 'show', ...args], { encoding: 'utf8' }) || '[]') as BridgeFdb[];
  return { ...n, br, p0: n.h.linkGet('p0').index, vx: n.h.linkGet('vx0').index, names, bridge };
}

const iprouteState = { permanent: 'permanent', static: 'static', dynamic: '', stale: 'stale' } as Record<string, string>;

/** Our entry and `bridge -j -d fdb show`'s agree field by field. */
function agree(t: Tap, n: Net, ours: FdbEntry | undefined, label: string): void {
  if (!ours) return void t.fail(`${label}: listed by fdbList`);
  const theirs = n.bridge().find((b) => b.mac === ours.mac && b.ifname === n.names.get(ours.link) && b.dst === ours.dst);
  if (!theirs) return void t.fail(`${label}: listed by bridge fdb show`);
  t.same(
    { mac: theirs.mac, ifname: theirs.ifname, dst: theirs.dst, port: theirs.port, vni: theirs.vni, src_vni: theirs.src_vni, vlan: theirs.vlan,
      master: theirs.master, self: theirs.flags.includes('self'), state: theirs.state, flags: theirs.flags.filter((f) => f !== 'self').sort() },
    { mac: ours.mac, ifname: n.names.get(ours.link), dst: ours.dst, port: ours.port, vni: ours.vni, src_vni: ours.srcVni, vlan: ours.vlan,
      master: ours.master === undefined ? undefined : n.names.get(ours.master), self: ours.target === 'self', state: iprouteState[String(ours.state)],
      flags: [...ours.flags].sort() },
    `${label}: bridge fdb show agrees`);
}

const find = (list: FdbEntry[], mac: string, dst?: string) => list.find((e) => e.mac === mac && e.dst === dst);

t.test('VXLAN entries: dst, vni, port read back and agree with bridge fdb', (t) => {
  const n = setup(t);
  n.h.fdbAdd({ mac: '02:00:00:00:00:05', link: n.vx, dst: '192.0.2.12', vni: 43, port: 4790 });
  n.h.fdbAdd({ mac: '02:00:00:00:00:06', link: n.vx, dst: '192.0.2.13', state: 'static', flags: ['router'] });
  n.h.fdbAdd({ mac: '02:00:00:00:00:07', link: n.vx, dst: '192.0.2.14', vni: 44, state: 'dynamic' });
  const list = n.h.fdbList({ link: n.vx });
  t.same(find(list, '02:00:00:00:00:05', '192.0.2.12'), {
    family: 'bridge', mac: '02:00:00:00:00:05', link: n.vx, target: 'self', state: 'permanent', flags: [], dst: '192.0.2.12', vni: 43, port: 4790,
  }, 'permanent entry with dst, vni and port, exactly');
  t.same(find(list, '02:00:00:00:00:06', '192.0.2.13'), {
    family: 'bridge', mac: '02:00:00:00:00:06', link: n.vx, target: 'self', state: 'static', flags: ['router'], dst: '192.0.2.13',
  }, 'vni and port equal to the device\'s are not reported');
  t.match(find(list, '02:00:00:00:00:07', '192.0.2.14'), { state: 'dynamic', vni: 44 });
  agree(t, n, find(list, '02:00:00:00:00:05', '192.0.2.12'), 'permanent');
  agree(t, n, find(list, '02:00:00:00:00:06', '192.0.2.13'), 'static router');
  agree(t, n, find(list, '02:00:00:00:00:07', '192.0.2.14'), 'dynamic');

  // an IPv6 underlay takes IPv6 remotes
  n.h.linkAdd({ kind: 'vxlan', name: 'vx6', vni: 6, local: '2001:db8::1', port: 4791, learning: false, up: true });
  const vx6 = n.h.linkGet('vx6').index;
  n.names.set(vx6, 'vx6');
  n.h.fdbAppend({ mac: ZERO, link: vx6, dst: '2001:db8::10', port: 4792 });
  const v6 = find(n.h.fdbList({ link: vx6 }), ZERO, '2001:db8::10');
  t.match(v6, { dst: '2001:db8::10', port: 4792, target: 'self' }, 'an IPv6 remote');
  agree(t, n, v6, 'IPv6 remote');
  assertHome(t);
  t.end();
});

t.test('the all-zeros flood entry takes one remote per append', (t) => {
  const n = setup(t);
  n.h.fdbAppend({ mac: ZERO, link: n.vx, dst: '192.0.2.10' });
  n.h.fdbAppend({ mac: ZERO, link: n.vx, dst: '192.0.2.11' });
  const flood = n.h.fdbList({ link: n.vx }).filter((e) => e.mac === ZERO);
  t.same(flood.map((e) => e.dst).sort(), ['192.0.2.10', '192.0.2.11'], 'both remotes listed');
  t.ok(flood.every((e) => e.state === 'permanent' && e.target === 'self'), 'permanent, self');
  t.same(n.bridge().filter((b) => b.mac === ZERO && b.ifname === 'vx0').map((b) => b.dst).sort(), ['192.0.2.10', '192.0.2.11'], 'bridge fdb shows both');
  for (const e of flood) agree(t, n, e, `flood to ${e.dst}`);

  t.throws(() => n.h.fdbAdd({ mac: ZERO, link: n.vx, dst: '192.0.2.12' }), { name: 'NetlinkError', code: 'EEXIST', op: 'fdbAdd' }, 'add (EXCL) will not extend it');
  n.h.fdbAppend({ mac: ZERO, link: n.vx, dst: '192.0.2.11' });
  t.equal(n.h.fdbList({ link: n.vx }).filter((e) => e.mac === ZERO).length, 2, 'appending a remote that is there changes nothing');
  n.h.fdbDel({ mac: ZERO, link: n.vx, dst: '192.0.2.10' });
  t.same(n.h.fdbList({ link: n.vx }).filter((e) => e.mac === ZERO).map((e) => e.dst), ['192.0.2.11'], 'deleting with dst removes one remote');
  n.h.fdbAppend({ mac: ZERO, link: n.vx, dst: '192.0.2.10' });
  n.h.fdbDel({ mac: ZERO, link: n.vx });
  t.same(n.h.fdbList({ link: n.vx }).filter((e) => e.mac === ZERO), [], 'deleting without dst removes the whole entry');
  t.same(n.bridge().filter((b) => b.mac === ZERO), [], 'bridge fdb agrees');
  assertHome(t);
  t.end();
});

t.test('master entries on a bridge port and self entries are told apart', (t) => {
  const n = setup(t);
  n.h.fdbAdd({ mac: '02:00:00:00:00:08', link: n.p0, target: 'master', state: 'static', flags: ['sticky'] });
  n.h.fdbAdd({ mac: '02:00:00:00:00:09', link: n.p0, target: 'master', state: 'dynamic' });
  n.h.fdbAdd({ mac: '02:00:00:00:00:0a', link: n.p0, target: 'master', state: 'permanent' });
  // the bridge keeps externally learned entries dynamic, whatever the state asked
  n.h.fdbAdd({ mac: '02:00:00:00:00:0b', link: n.p0, target: 'master', state: 'static', flags: ['extern_learn'] });
  n.h.fdbAdd({ mac: '02:00:00:00:00:0c', link: n.p0 }); // self: p0's own unicast filter
  const list = n.h.fdbList({ link: n.p0 });
  t.same(find(list, '02:00:00:00:00:08'), { family: 'bridge', mac: '02:00:00:00:00:08', link: n.p0, target: 'master', master: n.br, state: 'static', flags: ['sticky'] }, 'static sticky, exactly');
  t.match(find(list, '02:00:00:00:00:09'), { target: 'master', master: n.br, state: 'dynamic' });
  t.match(find(list, '02:00:00:00:00:0a'), { target: 'master', master: n.br, state: 'permanent' });
  t.match(find(list, '02:00:00:00:00:0b'), { target: 'master', state: 'dynamic', flags: ['extern_learn'] });
  t.same(find(list, '02:00:00:00:00:0c'), { family: 'bridge', mac: '02:00:00:00:00:0c', link: n.p0, target: 'self', state: 'permanent', flags: [] }, 'self entry, no master');
  for (const mac of ['08', '09', '0a', '0b', '0c']) agree(t, n, find(list, `02:00:00:00:00:${mac}`), `02:..:${mac}`);
  const b = n.bridge();
  t.equal(b.find((x) => x.mac === '02:00:00:00:00:08')?.master, 'br0', 'bridge shows master br0');
  t.notOk(b.find((x) => x.mac === '02:00:00:00:00:08')?.flags.includes('self'), '... and not self');
  t.same(b.find((x) => x.mac === '02:00:00:00:00:0c')?.flags, ['self'], 'the self entry is self');
  t.throws(() => n.h.fdbAdd({ mac: '02:00:00:00:00:0d', link: n.vx, target: 'master' }), { name: 'NetlinkError', op: 'fdbAdd' }, 'master on a device with no bridge is refused');
  assertHome(t);
  t.end();
});

t.test('add refuses an existing entry, replace overwrites, delete removes once', (t) => {
  const n = setup(t);
  const spec: FdbSpec = { mac: '02:00:00:00:00:20', link: n.p0, target: 'master', state: 'static' };
  n.h.fdbAdd(spec);
  t.throws(() => n.h.fdbAdd(spec), { name: 'NetlinkError', code: 'EEXIST', op: 'fdbAdd', object: `02:00:00:00:00:20 dev ${n.p0}` });
  n.h.fdbReplace({ ...spec, state: 'dynamic', flags: ['sticky'] });
  const got = find(n.h.fdbList({ link: n.p0 }), spec.mac);
  t.match(got, { state: 'dynamic', flags: ['sticky'] }, 'replace changed state and flags');
  agree(t, n, got, 'replaced');

  n.h.fdbAdd({ mac: '02:00:00:00:00:21', link: n.vx, dst: '192.0.2.20' });
  n.h.fdbReplace({ mac: '02:00:00:00:00:21', link: n.vx, dst: '192.0.2.21', port: 4800 });
  const vx = n.h.fdbList({ link: n.vx }).filter((e) => e.mac === '02:00:00:00:00:21');
  t.same(vx.map((e) => [e.dst, e.port]), [['192.0.2.21', 4800]], 'vxlan replace moved the entry to the new remote');
  agree(t, n, vx[0], 'vxlan replaced');
  n.h.fdbReplace({ mac: '02:00:00:00:00:22', link: n.vx, dst: '192.0.2.22' });
  t.ok(find(n.h.fdbList({ link: n.vx }), '02:00:00:00:00:22', '192.0.2.22'), 'replace creates a missing entry');

  n.h.fdbDel({ mac: spec.mac, link: n.p0, target: 'master' });
  t.notOk(find(n.h.fdbList({ link: n.p0 }), spec.mac), 'deleted');
  t.notOk(n.bridge().find((b) => b.mac === spec.mac), 'bridge fdb agrees');
  t.throws(() => n.h.fdbDel({ mac: spec.mac, link: n.p0, target: 'master' }), { name: 'NetlinkError', code: 'ENOENT', op: 'fdbDel' });
  n.h.fdbDel({ mac: '02:00:00:00:00:21', link: n.vx });
  t.throws(() => n.h.fdbDel({ mac: '02:00:00:00:00:21', link: n.vx }), { code: 'ENOENT' });
  assertHome(t);
  t.end();
});

t.test('srcVni on a VXLAN device in external mode', (t) => {
  const n = setup(t);
  n.h.linkAdd({ kind: 'vxlan', name: 'vxe', vni: 0, external: true, port: 4790, up: true } as never);
  const vxe = n.h.linkGet('vxe');
  t.match(vxe, { kind: 'vxlan', external: true }, 'an external (collect metadata) device');
  n.names.set(vxe.index, 'vxe');
  n.h.fdbAdd({ mac: '02:00:00:00:00:30', link: vxe.index, dst: '192.0.2.30', srcVni: 100, vni: 100 });
  const got = find(n.h.fdbList({ link: vxe.index }), '02:00:00:00:00:30', '192.0.2.30');
  t.match(got, { srcVni: 100, vni: 100 });
  agree(t, n, got, 'src_vni');
  assertHome(t);
  t.end();
});

/** Why vlan entries cannot be tested here, or undefined if they can. */
function noVlanFiltering(): string | undefined {
  const name = `probe-${process.pid}`;
  const ns = createNetns(name);
  const h = new Handle(ns);
  try {
    h.linkAdd({ kind: 'bridge', name: 'brv', vlanFiltering: true });
    return undefined;
  } catch (e) {
    if ((e as NetlinkError).code === 'EOPNOTSUPP') return 'this kernel has no bridge vlan_filtering (EOPNOTSUPP), so no bridge accepts an NDA_VLAN entry';
    throw e;
  } finally {
    h.close();
    ns.close();
    deleteNetns(name);
  }
}

t.test('vlan entries (need a vlan_filtering bridge)', { skip: noVlanFiltering() }, (t) => {
  const n = setup(t);
  n.h.linkAdd({ kind: 'bridge', name: 'brv', vlanFiltering: true });
  const brv = n.h.linkGet('brv').index;
  n.h.linkAdd({ kind: 'veth', name: 'q0', peer: { name: 'q1' } });
  n.h.linkSet('q0', { master: brv, up: true });
  const q0 = n.h.linkGet('q0').index;
  n.names.set(brv, 'brv').set(q0, 'q0');
  n.h.fdbAdd({ mac: '02:00:00:00:00:40', link: q0, target: 'master', state: 'static', vlan: 1 });
  const got = n.h.fdbList({ link: q0 }).find((e) => e.mac === '02:00:00:00:00:40');
  t.match(got, { vlan: 1, target: 'master' });
  agree(t, n, got, 'vlan 1');
  t.end();
});

t.test('vlan is encoded as NDA_VLAN (u16) even where the kernel cannot store it', (t) => {
  const bytes = encodeRequests((b) => b.fdbAdd({ mac: '02:00:00:00:00:40', link: 3, target: 'master', vlan: 100 }));
  const attrs = new Map<number, Buffer>();
  for (let at = 16 + 12; at < bytes.length;) {
    const len = bytes.readUInt16LE(at);
    attrs.set(bytes.readUInt16LE(at + 2), bytes.subarray(at + 4, at + len));
    at += (len + 3) & ~3;
  }
  t.equal(attrs.get(NDA_VLAN)?.length, 2, 'a u16');
  t.equal(attrs.get(NDA_VLAN)?.readUInt16LE(0), 100, 'host order, as the kernel reads it');
  t.end();
});

t.test('dump filters are applied: port, device, master', (t) => {
  const n = setup(t);
  n.h.fdbAdd({ mac: '02:00:00:00:00:50', link: n.p0, target: 'master', state: 'static' });
  n.h.fdbAdd({ mac: '02:00:00:00:00:51', link: n.vx, dst: '192.0.2.51' });
  const all = n.h.fdbList();
  t.ok(find(all, '02:00:00:00:00:50') && find(all, '02:00:00:00:00:51', '192.0.2.51'), 'unfiltered: both');
  t.ok(all.every((e) => e.family === 'bridge'), 'no neighbours in an FDB dump');
  const onP0 = n.h.fdbList({ link: n.p0 });
  t.ok(onP0.length > 0 && onP0.every((e) => e.link === n.p0), 'link filter: only p0');
  t.ok(find(onP0, '02:00:00:00:00:50') && !find(onP0, '02:00:00:00:00:51', '192.0.2.51'), '... with its entry, without vx0\'s');
  // learned and multicast entries come and go on their own (traffic, MLD); compare the rest
  const mine = (e: { mac: string; state: unknown }) => e.mac.startsWith('02:') && e.state !== 'dynamic' && e.state !== '';
  t.same(onP0.filter(mine).map((e) => e.mac).sort(), n.bridge().filter((b) => b.ifname === 'p0').filter(mine).map((b) => b.mac).sort(), 'same set as bridge fdb for p0');
  const onVx = n.h.fdbList({ link: n.vx });
  t.ok(onVx.every((e) => e.link === n.vx) && find(onVx, '02:00:00:00:00:51', '192.0.2.51'), 'link filter: only vx0');
  const underBr = n.h.fdbList({ master: n.br });
  t.ok(underBr.length > 0 && underBr.every((e) => e.link === n.br || e.link === n.p0), 'master filter: br0 and its ports only');
  t.notOk(find(underBr, '02:00:00:00:00:51', '192.0.2.51'), 'vx0 (not a port) is left out');
  const theirs = JSON.parse(execFileSync('bridge', ['-n', n.name, '-j', 'fdb', 'show', 'br', 'br0'], { encoding: 'utf8' })) as BridgeFdb[];
  t.same(underBr.filter(mine).map((e) => e.mac).sort(), theirs.filter(mine).map((b) => b.mac).sort(), 'same set as bridge fdb show br br0');
  t.ok(underBr.filter(mine).length >= 1, '... which is not empty');
  assertHome(t);
  t.end();
});

t.test('bad input is refused before anything is sent', (t) => {
  const n = setup(t);
  const ok: FdbSpec = { mac: '02:00:00:00:00:60', link: n.vx, dst: '192.0.2.60' };
  const bad: [Record<string, unknown>, string][] = [
    [{ mac: '02:00:00:00:00' }, 'mac'],
    [{ mac: '02-00-00-00-00-60' }, 'mac'],
    [{ mac: undefined }, 'mac'],
    [{ dst: '192.0.2' }, 'dst'],
    [{ dst: 'fe80::1%vx0' }, 'dst'],
    [{ link: undefined }, 'link'],
    [{ link: -1 }, 'link'],
    [{ state: 'noarp' }, 'state'],
    [{ state: 'reachable' }, 'state'],
    [{ target: 'both' }, 'target'],
    [{ vni: 0x1000000 }, 'vni'],
    [{ srcVni: -1 }, 'srcVni'],
    [{ port: 0 }, 'port'],
    [{ vlan: 4095 }, 'vlan'],
    [{ flags: ['proxy'] }, 'flags[0]'],
    [{ address: '192.0.2.60' }, 'address'],
  ];
  for (const [change, field] of bad) {
    const spec = { ...ok, ...change } as unknown as FdbSpec;
    t.throws(() => n.h.fdbAdd(spec), { name: 'RtnlInputError', field }, `${JSON.stringify(change)} -> ${field}`);
    t.throws(() => encodeRequests((b) => b.fdbAppend(spec)), { name: 'RtnlInputError', field }, 'refused while recording a batch too');
  }
  t.throws(() => n.h.fdbDel({ mac: ok.mac, link: n.vx, state: 'permanent' } as never), { name: 'RtnlInputError', field: 'state' }, 'delete takes no state');
  t.throws(() => n.h.fdbList({ family: 4 } as never), { name: 'RtnlInputError', field: 'family' });
  t.notOk(find(n.h.fdbList({ link: n.vx }), ok.mac, ok.dst), 'nothing reached the kernel');
  assertHome(t);
  t.end();
});

interface Msg { type: number; flags: number; family: number; ndmFlags: number }
function messages(buf: Buffer): Msg[] {
  const out: Msg[] = [];
  for (let at = 0; at < buf.length;) {
    const len = buf.readUInt32LE(at);
    out.push({ type: buf.readUInt16LE(at + 4), flags: buf.readUInt16LE(at + 6), family: buf[at + 16]!, ndmFlags: buf[at + 16 + 10]! }); // ndmsg: family, pad1, pad2(2), ifindex(4), state(2), flags
    at += (len + 3) & ~3;
  }
  return out;
}

t.test('an FDB request is always AF_BRIDGE, a neighbour request never', (t) => {
  const fdb = messages(encodeRequests((b) => {
    b.fdbAdd({ mac: '02:00:00:00:00:01', link: 1, dst: '192.0.2.1' });
    b.fdbAppend({ mac: ZERO, link: 1, dst: '2001:db8::1' });
    b.fdbReplace({ mac: '02:00:00:00:00:01', link: 1, target: 'master', state: 'static' });
    b.fdbDel({ mac: '02:00:00:00:00:01', link: 1, dst: '192.0.2.1' });
    b.fdbList();
    b.fdbList({ link: 1, master: 2 });
  }));
  t.same(fdb.map((m) => m.family), Array(6).fill(AF_BRIDGE), 'every FDB request is AF_BRIDGE, whatever dst is');
  t.same(fdb.map((m) => m.type), [RTM_NEWNEIGH, RTM_NEWNEIGH, RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH, RTM_GETNEIGH]);
  const mode = (m: Msg) => m.flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_REPLACE | NLM_F_APPEND);
  t.equal(mode(fdb[0]!), NLM_F_CREATE | NLM_F_EXCL, 'add: CREATE|EXCL');
  t.equal(mode(fdb[1]!), NLM_F_CREATE | NLM_F_APPEND, 'append: CREATE|APPEND');
  t.equal(mode(fdb[2]!), NLM_F_CREATE | NLM_F_REPLACE, 'replace: CREATE|REPLACE');
  t.equal(fdb[0]!.ndmFlags & (NTF_SELF | NTF_MASTER), NTF_SELF, 'self by default');
  t.equal(fdb[2]!.ndmFlags & (NTF_SELF | NTF_MASTER), NTF_MASTER, 'master when asked');
  t.equal(fdb[4]!.ndmFlags, 0, 'a dump request has a clean header (strict checking)');

  const neigh = messages(encodeRequests((b) => {
    b.neighAdd({ address: '192.0.2.1', lladdr: '02:00:00:00:00:01', link: 1 });
    b.neighAdd({ address: '2001:db8::1', lladdr: '02:00:00:00:00:01', link: 1 });
    b.neighList();
  }));
  t.same(neigh.map((m) => m.family), [AF_INET, AF_INET6, 0], 'neighbours: the address family, or AF_UNSPEC for a full dump');
  t.end();
});
