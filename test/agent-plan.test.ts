// The backends' pure planners, without a kernel: given dumps (as the kernel
// reports them) and the wanted peers, exactly which requests a sync sends,
// and what it counts. The kernel-facing half is in agent-overlay.test.ts
// and agent-hostgw.test.ts.
import t from 'tap';
import type { FdbEntry, Neighbour, Route } from '../src/index.js';
import { type Local, type Request, planHostGw, planVxlan, wantedPeers } from '../src/agent/plan.js';
import type { NodeRecord } from '../src/agent/types.js';

const LINK = 7; // the VXLAN device
const UL = 2; // the underlay device
const P = 62;
const mac = (i: number) => `02:aa:00:00:00:${i.toString(16).padStart(2, '0')}`;
const rec = (i: number, o: Partial<NodeRecord> = {}): NodeRecord => ({ name: `n${i}`, underlay: `192.168.100.${i}`, vtepMac: mac(i), subnet: `10.244.${i}.0/24`, ...o });
const LOCAL: Local = { subnet: { net: { family: 4, value: 0x0af40100n }, prefix: 24 }, underlay: '192.168.100.1', underlayFamily: 4 };
const peersOf = (recs: NodeRecord[], needsMac = true) => wantedPeers(recs, LOCAL, needsMac).peers;

const route = (dst: string, o: Partial<Route> = {}): Route => ({ family: 4, dst, table: 254, scope: 'universe', protocol: P, type: 'unicast', flags: [], ...o });
/** What the kernel holds for VXLAN peer i, exactly as a sync makes it. */
const vxlanHeld = (i: number) => ({
  route: route(`10.244.${i}.0/24`, { gateway: `10.244.${i}.0`, link: LINK, flags: ['onlink'] }),
  neigh: { family: 4, link: LINK, address: `10.244.${i}.0`, lladdr: mac(i), state: 'permanent', flags: [] } as unknown as Neighbour,
  fdb: { family: 'bridge', link: LINK, mac: mac(i), dst: `192.168.100.${i}`, target: 'self', state: 'permanent', flags: [] } as unknown as FdbEntry,
});
const held = (...is: number[]) => ({ routes: is.map((i) => vxlanHeld(i).route), neighs: is.map((i) => vxlanHeld(i).neigh), fdb: is.map((i) => vxlanHeld(i).fdb) });
const CONNECTED = route('192.168.100.0/24', { protocol: 'kernel', scope: 'link', link: UL, prefsrc: '192.168.100.1' });
const ops = (rs: Request[]) => rs.map((r) => `${r.op} ${r.object}`);

t.test('wantedPeers: this node left out, bad and overlapping records skipped, canonical records', async (t) => {
  const { peers, skipped } = wantedPeers([
    rec(1), rec(2), rec(3, { vtepMac: '02:AA:00:00:00:03' }),
    rec(4, { vtepMac: undefined }), rec(5, { subnet: '10.244.5.1/24' }), rec(6, { subnet: '10.244.1.128/25' }),
    rec(7, { subnet: '10.244.2.0/24' }), rec(8, { vtepMac: mac(2) }), rec(9, { underlay: '127.0.0.1' }), rec(10, { underlay: 'fd00::10' }),
  ], LOCAL, true);
  t.strictSame([...peers.keys()], ['10.244.2.0/24', '10.244.3.0/24'], 'node 2 and 3');
  t.equal(peers.get('10.244.3.0/24')!.vtepMac, mac(3), 'the MAC lower-cased');
  t.equal(skipped, 7, 'no MAC, host bits, inside ours, a taken subnet, a taken MAC, loopback, another family');
  t.strictSame([...wantedPeers([rec(4, { vtepMac: undefined })], LOCAL, false).peers.keys()], ['10.244.4.0/24'], 'host-gw needs no MAC');
});

t.test('vxlan: an empty device gets an FDB entry, a neighbour and an onlink route per peer, nothing deleted', async (t) => {
  const p = planVxlan(LINK, P, { routes: [CONNECTED], neighs: [], fdb: [] }, peersOf([rec(2), rec(3)]));
  t.strictSame(ops(p.requests), [
    `fdbReplace ${mac(2)}`, 'neighReplace 10.244.2.0', 'routeReplace 10.244.2.0/24',
    `fdbReplace ${mac(3)}`, 'neighReplace 10.244.3.0', 'routeReplace 10.244.3.0/24',
  ], 'FDB entry and neighbour before the route that uses them');
  t.strictSame(p.requests[2]!.args, { dst: '10.244.2.0/24', gateway: '10.244.2.0', link: LINK, flags: ['onlink'], protocol: P });
  t.strictSame(p.requests[0]!.args, { link: LINK, mac: mac(2), dst: '192.168.100.2', target: 'self', state: 'permanent' });
  t.strictSame(p.requests[1]!.args, { link: LINK, address: '10.244.2.0', lladdr: mac(2), state: 'permanent' });
  t.match(p.counts, { added: 2, updated: 0, removed: 0, unchanged: 0, refused: [] });
  t.strictSame(p.routes, { learned: [], missing: ['10.244.2.0/24', '10.244.3.0/24'], stale: [] });
});

t.test('vxlan: steady state sends nothing', async (t) => {
  const p = planVxlan(LINK, P, held(2, 3), peersOf([rec(1), rec(2), rec(3)]));
  t.strictSame(p.requests, []);
  t.match(p.counts, { added: 0, updated: 0, removed: 0, unchanged: 2 });
  t.strictSame(p.routes, { learned: ['10.244.2.0/24', '10.244.3.0/24'], missing: [], stale: [] });
});

t.test('vxlan: a departed peer: its route, neighbour and FDB entry deleted first, counted once', async (t) => {
  const p = planVxlan(LINK, P, held(2, 3), peersOf([rec(2)]));
  t.strictSame(ops(p.requests), ['routeDel 10.244.3.0/24', 'neighDel 10.244.3.0', `fdbDel ${mac(3)}`]);
  t.ok(p.requests.every((r) => r.del), 'deletes of what is gone already are no failure');
  t.strictSame(p.requests[0]!.args, { dst: '10.244.3.0/24', protocol: P, link: LINK });
  t.match(p.counts, { removed: 1, unchanged: 1 });
  t.strictSame(p.routes.stale, ['10.244.3.0/24']);
});

t.test('vxlan: a changed MAC or underlay is an update of only what differs', async (t) => {
  const moved = planVxlan(LINK, P, held(2), peersOf([rec(2, { underlay: '192.168.100.22' })]));
  t.strictSame(ops(moved.requests), [`fdbReplace ${mac(2)}`], 'a new underlay: the FDB entry alone');
  t.match(moved.counts, { updated: 1, added: 0, removed: 0 });
  const remade = planVxlan(LINK, P, held(2), peersOf([rec(2, { vtepMac: mac(0x22) })]));
  t.strictSame(ops(remade.requests), [`fdbDel ${mac(2)}`, `fdbReplace ${mac(0x22)}`, 'neighReplace 10.244.2.0'], "a new MAC: the old MAC's FDB entry goes, the route stays");
  t.match(remade.counts, { updated: 1, removed: 0 }, 'the old entry is part of the update, not a removal');
  const extra = held(2);
  extra.fdb.push({ ...vxlanHeld(2).fdb, dst: '192.168.100.99' });
  t.strictSame(ops(planVxlan(LINK, P, extra, peersOf([rec(2)])).requests), [`fdbDel ${mac(2)} dst 192.168.100.99`], 'a second remote of the MAC goes');
  const noNeigh = held(2);
  noNeigh.neighs.length = 0;
  t.strictSame(ops(planVxlan(LINK, P, noNeigh, peersOf([rec(2)])).requests), ['neighReplace 10.244.2.0'], 'a missing neighbour alone');
});

t.test('vxlan: adopting what a previous run left: stale metric routes and strays go, the right ones stay', async (t) => {
  const h = held(2, 9);
  h.routes.push(route('10.244.2.0/24', { gateway: '10.244.2.0', link: LINK, flags: ['onlink'], priority: 5 }));
  h.fdb.push({ ...vxlanHeld(9).fdb, mac: '00:00:00:00:00:00' }); // a flood entry: not a VTEP, not ours to judge
  const p = planVxlan(LINK, P, h, peersOf([rec(2)]));
  t.strictSame(ops(p.requests), ['routeDel 10.244.2.0/24', 'routeDel 10.244.9.0/24', 'neighDel 10.244.9.0', `fdbDel ${mac(9)}`]);
  t.strictSame(p.requests[0]!.args, { dst: '10.244.2.0/24', protocol: P, link: LINK, priority: 5 }, 'the metric route deleted by its metric');
  t.match(p.counts, { removed: 1, unchanged: 1 }, "node 2's leftover is no removal of node 2");
});

t.test('vxlan: routes not ours are never touched; a peer behind one is refused', async (t) => {
  const theirs = [
    route('10.244.3.0/24', { protocol: 'static', gateway: '192.168.100.3', link: UL }),
    route('10.244.4.0/24', { protocol: 'boot', link: 9, scope: 'link' }),
    route('10.244.5.0/24', { protocol: 63, gateway: '10.244.5.0', link: LINK, flags: ['onlink'] }), // another protocol on our device
    CONNECTED,
  ];
  const p = planVxlan(LINK, P, { routes: theirs, neighs: [], fdb: [] }, peersOf([rec(2), rec(3), rec(4)]));
  t.strictSame(ops(p.requests).filter((o) => o.startsWith('route')), ['routeReplace 10.244.2.0/24'], 'only the free peer is routed');
  t.notOk(p.requests.some((r) => r.op === 'routeDel'), 'nothing deleted');
  t.match(p.counts.refused, [
    { subnet: '10.244.3.0/24', reason: /a route to 10\.244\.3\.0\/24 the agent did not make is in the way \(protocol static, ifindex 2\)/ },
    { subnet: '10.244.4.0/24', reason: /protocol boot, ifindex 9/ },
  ]);
  t.strictSame(p.routes.missing, ['10.244.2.0/24', '10.244.3.0/24', '10.244.4.0/24'], 'missing: the one about to be made, and the refused');
});

t.test('host-gw: a route per peer via its underlay on the connected device; steady; departed; changed', async (t) => {
  const peers = peersOf([rec(2, { vtepMac: undefined }), rec(3, { vtepMac: undefined })], false);
  const fresh = planHostGw(P, [CONNECTED], peers);
  t.strictSame(ops(fresh.requests), ['routeReplace 10.244.2.0/24', 'routeReplace 10.244.3.0/24']);
  t.strictSame(fresh.requests[0]!.args, { dst: '10.244.2.0/24', gateway: '192.168.100.2', link: UL, protocol: P }, 'no onlink: the gateway is on a connected subnet');
  t.match(fresh.counts, { added: 2 });
  const mine = (i: number, o: Partial<Route> = {}) => route(`10.244.${i}.0/24`, { gateway: `192.168.100.${i}`, link: UL, ...o });
  const steady = planHostGw(P, [CONNECTED, mine(2), mine(3)], peers);
  t.strictSame(steady.requests, [], 'steady: nothing');
  t.strictSame(steady.routes, { learned: ['10.244.2.0/24', '10.244.3.0/24'], missing: [], stale: [] });
  const gone = planHostGw(P, [CONNECTED, mine(2), mine(3), mine(9, { priority: 3 })], peersOf([rec(2)], false));
  t.strictSame(ops(gone.requests), ['routeDel 10.244.9.0/24', 'routeDel 10.244.3.0/24'], 'departed peers deleted');
  t.strictSame(gone.requests[0]!.args, { dst: '10.244.9.0/24', protocol: P, link: UL, priority: 3 });
  t.match(gone.counts, { removed: 2, unchanged: 1 });
  t.strictSame(gone.routes.stale, ['10.244.9.0/24', '10.244.3.0/24']);
  const moved = planHostGw(P, [CONNECTED, mine(2, { gateway: '192.168.100.20' }), mine(3, { flags: ['onlink'] })], peers);
  t.strictSame(ops(moved.requests), ['routeReplace 10.244.2.0/24', 'routeReplace 10.244.3.0/24'], 'another gateway, an onlink route: replaced');
  t.match(moved.counts, { updated: 2 });
});

t.test('host-gw: a peer whose underlay is on no connected subnet is refused; the longest connected prefix wins', async (t) => {
  const far = rec(4, { vtepMac: undefined, underlay: '10.9.9.9' });
  const other = route('10.9.0.0/16', { protocol: 'static', gateway: '192.168.100.254', link: UL }); // reachable, but via a router
  const p = planHostGw(P, [CONNECTED, other], peersOf([rec(2), far], false));
  t.strictSame(ops(p.requests), ['routeReplace 10.244.2.0/24']);
  t.match(p.counts.refused, [{ subnet: '10.244.4.0/24', reason: /underlay 10\.9\.9\.9 is on no directly connected subnet of this node/ }]);
  t.strictSame(p.routes.missing, ['10.244.2.0/24', '10.244.4.0/24']);
  const wide = route('192.168.0.0/16', { protocol: 'kernel', scope: 'link', link: 5 });
  const q = planHostGw(P, [wide, CONNECTED], peersOf([rec(2)], false));
  t.match(q.requests[0]!.args, { link: UL }, 'on the /24, not the /16');
});

t.test('host-gw: routes not ours are never touched, whatever their protocol or device', async (t) => {
  const theirs = [CONNECTED, route('10.244.3.0/24', { protocol: 'static', gateway: '192.168.100.3', link: UL }), route('10.244.8.0/24', { protocol: 'static', gateway: '192.168.100.8', link: UL })];
  const p = planHostGw(P, theirs, peersOf([rec(2), rec(3)], false));
  t.strictSame(ops(p.requests), ['routeReplace 10.244.2.0/24'], "10.244.8.0/24 is no peer's, but not ours to delete either");
  t.match(p.counts.refused, [{ subnet: '10.244.3.0/24', reason: /protocol static/ }]);
  t.strictSame(planHostGw(P, theirs, new Map()).requests, [], 'with no peers: nothing at all');
});
