// Bridge port settings and promiscuous mode on the real kernel: each setting
// is changed through linkSet on a veth enslaved to a bridge and read back
// through rtnl (linkGet and the dump) and through `ip -j -d link show`, which
// must agree; hairpin is shown to reflect frames; bad input and kernel
// refusals throw the right typed errors and change nothing.
import t, { type Test } from 'tap';
import { type BridgePortInfo, type BridgePortSettings, type Link } from '../src/index.js';
import { assertHome, testNs, type TestNs, waitFor } from './lib.js';
import { ping } from './plugin-runtime.js';

/** `info_slave_data` of `ip -j -d link show`, mapped onto rtnl's names. */
function portFromIp(d: Record<string, any>): BridgePortInfo {
  return {
    state: d.state, priority: d.priority, cost: d.cost, guard: d.guard, hairpin: d.hairpin, fastLeave: d.fastleave,
    rootBlock: d.root_block, learning: d.learning, flood: d.flood, proxyArp: d.proxy_arp, proxyArpWifi: d.proxy_arp_wifi,
    mcastFlood: d.mcast_flood, bcastFlood: d.bcast_flood, mcastToUnicast: d.mcast_to_unicast, neighSuppress: d.neigh_suppress,
    isolated: d.isolated, id: Number(d.id), no: Number(d.no), // iproute2 prints these two in hex
  };
}

/** The link through iproute2: its flags and (when a bridge port) its port settings. */
function ipView(n: TestNs, name: string): { flags: string[]; promiscuity: number; kind?: string; port?: BridgePortInfo } {
  const j = n.ipJson('-d', 'link', 'show', 'dev', name)[0];
  const port = j.linkinfo?.info_slave_kind === 'bridge' ? portFromIp(j.linkinfo.info_slave_data) : undefined;
  return { flags: j.flags, promiscuity: j.promiscuity, kind: j.linkinfo?.info_kind, ...(port ? { port } : {}) };
}

/** A bridge br0 with the veth ve0 as its port (both ends up, ve0 operationally too), in a fresh namespace. */
function bridgeWithPort(t: Test, prefix: string, stp = false): TestNs & { br: Link } {
  const n = testNs(t, prefix);
  n.h.linkAdd({ kind: 'bridge', name: 'br0', up: true, stp });
  const br = n.h.linkGet('br0');
  n.h.linkAdd({ kind: 'veth', name: 've0', master: br.index, up: true, peer: { name: 've1' } });
  n.h.linkSetUp('ve1');
  if (!waitFor(() => n.h.linkGet('ve0').operstate === 'UP')) throw new Error('ve0 did not come up');
  return { ...n, br };
}

/** rtnl's bridgePort for ve0, from linkGet and from the dump, agrees with iproute2's; returns it. */
function agreed(t: Test, n: TestNs & { br: Link }, what: string): BridgePortInfo | undefined {
  const got = n.h.linkGet('ve0').bridgePort;
  const dumped = n.h.linkList({ master: n.br.index }).find((l) => l.name === 've0')?.bridgePort;
  t.same(dumped, got, `${what}: the dump reports what linkGet does`);
  t.same(got, ipView(n, 've0').port, `${what}: rtnl and iproute2 agree`);
  return got;
}

// Each setting to a value that is not the kernel's default for a new port.
// Not `state`: without STP the bridge puts an up port back to forwarding at
// once, and with kernel STP (the only STP in a namespace) it refuses the
// change; both are shown in the refusals test.
const changes: BridgePortSettings[] = [
  { hairpin: true }, { learning: false }, { flood: false }, { mcastFlood: false }, { bcastFlood: false }, { proxyArp: true },
  { proxyArpWifi: true }, { guard: true }, { fastLeave: true }, { rootBlock: true }, { cost: 7 }, { priority: 9 },
  { isolated: true }, { neighSuppress: true }, { mcastToUnicast: true },
];

t.test('each bridge port setting, alone: set, read back through rtnl and iproute2, others left alone', (t) => {
  const n = bridgeWithPort(t, 'bp');
  const first = agreed(t, n, 'a new port');
  t.match(first, { state: 'forwarding', priority: 32, hairpin: false, learning: true, flood: true, mcastFlood: true, bcastFlood: true, isolated: false }, 'kernel defaults');
  t.equal(n.h.linkGet('ve0').portKind, 'bridge');
  let want = first!;
  for (const change of changes) {
    const [key] = Object.keys(change) as (keyof BridgePortSettings)[];
    n.h.linkSet('ve0', { bridgePort: change });
    want = { ...want, ...change };
    // The port id is (priority << 10 | number): it changes with the priority.
    const got = agreed(t, n, `${key}=${String(change[key!])}`);
    t.same(got, { ...want, id: got?.id }, `${key} is set, and nothing else changed`);
  }
  n.h.linkSet('ve0', { bridgePort: { state: 'blocking' } });
  t.equal(agreed(t, n, 'state=blocking')?.state, 'forwarding', 'state: accepted, but without STP the bridge puts an up port back to forwarding at once');
  t.equal(n.h.linkGet('ve0').bridgePort?.id, (9 << 10) | n.h.linkGet('ve0').bridgePort!.no!, 'the port id carries the priority set (priority << 10 | number)');
  assertHome(t);
  t.end();
});

t.test('every setting in one request, then back', (t) => {
  const n = bridgeWithPort(t, 'bp');
  const defaults = agreed(t, n, 'before')!;
  const all: BridgePortSettings = Object.assign({}, ...changes);
  n.h.linkSet('ve0', { bridgePort: all });
  t.match(agreed(t, n, 'all at once'), all, 'every setting applied');
  const { id: _id, no: _no, ...back } = defaults;
  n.h.linkSet('ve0', { bridgePort: back });
  t.same(agreed(t, n, 'restored'), defaults, 'every setting restored');
  t.end();
});

t.test('a port of a kind rtnl only decodes (tap) reports its bridge port settings too', (t) => {
  const n = testNs(t, 'bp');
  n.h.linkAdd({ kind: 'bridge', name: 'br0' });
  n.ip('tuntap', 'add', 'tap0', 'mode', 'tap');
  n.h.linkSet('tap0', { master: n.h.linkGet('br0').index });
  n.h.linkSet('tap0', { bridgePort: { hairpin: true, cost: 100 } });
  const tap = n.h.linkGet('tap0');
  t.match(tap, { kind: 'tun', mode: 'tap', portKind: 'bridge', bridgePort: { hairpin: true, cost: 100, state: 'disabled' } });
  t.same(tap.bridgePort, ipView(n, 'tap0').port, 'rtnl and iproute2 agree');
  n.h.linkDel('tap0');
  t.end();
});

t.test('promiscuous mode: on and off through linkSet, on at creation, read back both ways', (t) => {
  const n = bridgeWithPort(t, 'pr');
  const { h } = n;
  const both = (name: string) => ({ rtnl: h.linkGet(name).promisc, flag: h.linkGet(name).flags.includes('PROMISC'), ip: ipView(n, name).flags.includes('PROMISC') });
  t.same(both('ve1'), { rtnl: false, flag: false, ip: false }, 'off by default');
  t.same(both('ve0'), { rtnl: false, flag: false, ip: false }, "a bridge port's own promiscuity is not the flag");
  t.equal(ipView(n, 've0').promiscuity, 1, '(the port is promiscuous through the bridge)');
  h.linkSet('ve1', { promisc: true });
  t.same(both('ve1'), { rtnl: true, flag: true, ip: true }, 'on');
  t.equal(ipView(n, 've1').promiscuity, 1);
  h.linkSet('ve0', { promisc: true });
  t.equal(ipView(n, 've0').promiscuity, 2, 'the flag adds to the bridge port promiscuity');
  t.same(both('ve0'), { rtnl: true, flag: true, ip: true });
  h.linkSet('ve1', { promisc: false });
  t.same(both('ve1'), { rtnl: false, flag: false, ip: false }, 'off again');
  h.linkSet('ve0', { promisc: false, bridgePort: { hairpin: true } });
  t.same(both('ve0'), { rtnl: false, flag: false, ip: false }, 'off, with a port setting in the same request');
  t.equal(h.linkGet('ve0').bridgePort?.hairpin, true);
  t.equal(h.linkGet('ve0').up, true, 'up is left alone');

  h.linkAdd({ kind: 'bridge', name: 'br1', promisc: true });
  t.same(both('br1'), { rtnl: true, flag: true, ip: true }, 'linkAdd with promisc: true');
  t.end();
});

t.test('hairpin reflects frames back out of the port they came in on', (t) => {
  // Two macvlans in VEPA mode on ve1 send everything, even to each other, out of ve1 into the bridge:
  // they reach each other only if the bridge sends the frames back out of ve0.
  const n = bridgeWithPort(t, 'hp');
  const a = testNs(t, 'hpa'), b = testNs(t, 'hpb');
  const ve1 = n.h.linkGet('ve1').index;
  for (const [i, pod] of [a, b].entries()) {
    n.h.linkAdd({ kind: 'macvlan', name: 'eth0', link: ve1, mode: 'vepa', netns: pod.ns });
    pod.h.linkSetUp('eth0');
    pod.h.addrAdd({ link: pod.h.linkGet('eth0').index, address: `10.9.0.${i + 1}/24` });
  }
  t.notOk(ping(a.name, '10.9.0.2', 1), 'hairpin off: no reply');
  n.h.linkSet('ve0', { bridgePort: { hairpin: true } });
  t.ok(ping(a.name, '10.9.0.2'), 'hairpin on: the pods reach each other through the bridge');
  n.h.linkSet('ve0', { bridgePort: { hairpin: false } });
  t.notOk(ping(a.name, '10.9.0.2', 1), 'hairpin off again: no reply');
  assertHome(t);
  t.end();
});

t.test('refusals: bad input before anything is sent; not a port, port down, STP running', (t) => {
  const n = bridgeWithPort(t, 'er');
  const { h } = n;
  const before = ipView(n, 've0');
  const bad: [string, Record<string, unknown>][] = [
    ['bridgePort.cost', { bridgePort: { cost: 0 } }],
    ['bridgePort.cost', { bridgePort: { cost: 65536 } }],
    ['bridgePort.priority', { bridgePort: { priority: 64 } }],
    ['bridgePort.priority', { bridgePort: { priority: -1 } }],
    ['bridgePort.state', { bridgePort: { state: 3 } }],
    ['bridgePort.state', { bridgePort: { state: 'off' } }],
    ['bridgePort.hairpin', { bridgePort: { hairpin: 'on' } }],
    ['bridgePort.hairpinMode', { bridgePort: { hairpinMode: true } }],
    ['bridgePort', { bridgePort: true }],
    ['bridgePort', { master: n.br.index, bridgePort: { hairpin: true } }],
    ['promisc', { promisc: 1 }],
  ];
  for (const [field, update] of bad) {
    // Valid fields alongside: a half-applied request would show.
    t.throws(() => h.linkSet('ve0', { mtu: 1280, ...update } as never), { name: 'RtnlInputError', field }, `${JSON.stringify(update)}: ${field}`);
  }
  t.throws(() => h.linkAdd({ kind: 'bridge', name: 'br9', promisc: 'yes' as never }), { name: 'RtnlInputError', field: 'promisc' });
  t.same(ipView(n, 've0'), before, 've0 is as it was');
  t.throws(() => h.linkGet('br9'), { code: 'ENODEV' }, 'br9 was not made');

  t.throws(() => h.linkSet('ve1', { bridgePort: { hairpin: true } }), { name: 'NetlinkError', code: 'EOPNOTSUPP', op: 'linkSet', object: 've1' }, 'a link that is no port');
  t.throws(() => h.linkSet('br0', { bridgePort: { hairpin: true } }), { name: 'NetlinkError', code: 'EOPNOTSUPP' }, 'the bridge itself');
  t.equal(ipView(n, 've1').port, undefined, 've1 is still no port');

  h.linkSetDown('ve1'); // ve0 loses its carrier
  t.ok(waitFor(() => h.linkGet('ve0').operstate !== 'UP'), 've0 is operationally down');
  t.throws(() => h.linkSet('ve0', { bridgePort: { state: 'forwarding' } }), { name: 'NetlinkError', code: 'ENETDOWN' }, 'a state but disabled on a port without carrier');
  h.linkSet('ve0', { bridgePort: { state: 'disabled' } });
  t.equal(ipView(n, 've0').port?.state, 'disabled', 'disabled is fine');
  h.linkSetDown('ve0');
  t.throws(() => h.linkSet('ve0', { bridgePort: { state: 'disabled' } }), { name: 'NetlinkError', code: 'ENETDOWN' }, 'no state at all on a port that is down');

  const stp = bridgeWithPort(t, 'stp', true);
  t.throws(() => stp.h.linkSet('ve0', { bridgePort: { state: 'blocking' } }), { name: 'NetlinkError', code: 'EBUSY' }, 'no state change while kernel STP runs');
  stp.h.linkSet('ve0', { bridgePort: { cost: 50 } });
  t.equal(ipView(stp, 've0').port?.cost, 50, 'but other settings are');
  assertHome(t);
  t.end();
});
