/**
 * The backends' pure planners: given what the kernel holds (route,
 * neighbour and FDB dumps) and the wanted peers, the requests that make the
 * one equal to the other, and the counts to report. No I/O: the requests are
 * data, sent in one batch by `applyRequests`, so every decision here is
 * unit-tested without a kernel.
 *
 * Ownership: a backend's routes carry its rtm_protocol; a route to a peer's
 * subnet that does not is someone else's, never replaced or deleted, and the
 * peer is refused instead.
 * @module
 */
import { type Batch, type FdbEntry, type Neighbour, type Route, RtnlInputError } from '../index.js';
import { type Cidr, bits, contains, formatIp, isNetwork, parseCidr, parseIp } from '../ipam/ip.js';
import type { RefusedPeer, RouteReport } from './backend.js';
import { type CheckedRecord, checkRecord, isVtepMac } from './record.js';
import type { NodeRecord } from './types.js';

/** The verbs a plan uses. */
export type RequestOp = 'routeReplace' | 'routeDel' | 'neighReplace' | 'neighDel' | 'fdbReplace' | 'fdbDel';

/** One request of a plan: the {@link Batch} verb and its argument, and what it is about (for errors). */
export type Request = {
  [K in RequestOp]: {
    op: K;
    /** What it is about, e.g. `10.244.2.0/24`. */
    object: string;
    args: Parameters<Batch[K]>[0];
    /** A delete: ENOENT/ESRCH/ENODEV mean it is already as wanted. */
    del?: true;
  };
}[RequestOp];

/** Peers counted by what a plan does for them. */
export interface PlanCounts {
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  refused: RefusedPeer[];
}

/** A plan: the requests (deletes first), the counts, and the routes as they were found. */
export interface Plan {
  requests: Request[];
  counts: PlanCounts;
  routes: RouteReport;
}

/** This node, as the planners and {@link wantedPeers} see it. */
export interface Local {
  /** This node's pod subnet. */
  subnet: Cidr;
  /** This node's underlay address, canonical. */
  underlay: string;
  underlayFamily: 4 | 6;
}

/** This node as the planners see it, from its subnet and underlay address; throws {@link RtnlInputError} naming the bad one. */
export function localOf(subnet: string, underlay: string): Local {
  const sub = parseCidr(subnet);
  if (!sub || !isNetwork(sub)) throw new RtnlInputError('subnet', `expected a prefix without host bits, got ${subnet}`);
  const ul = parseIp(underlay);
  if (!ul) throw new RtnlInputError('local', `expected an IPv4 or IPv6 address, got ${underlay}`);
  return { subnet: sub.cidr, underlay: formatIp(ul), underlayFamily: ul.family };
}

/**
 * The peers among `nodes` by subnet, canonical: each passes the one record
 * validator (with a VTEP MAC when `needsVtepMac`), has a subnet of this
 * node's family and an underlay of its underlay's family, and overlaps
 * neither this node's subnet nor an earlier peer's; underlays and MACs are
 * unique. This node (by subnet or underlay) is left out; the rest count as
 * skipped. The agent's policy has filtered them already: this is each
 * backend's own last line of defence.
 */
export function wantedPeers(nodes: readonly NodeRecord[], local: Local, needsVtepMac: boolean): { peers: Map<string, NodeRecord>; skipped: number } {
  const family = local.subnet.net.family;
  const peers = new Map<string, NodeRecord>();
  // This node's subnet first: a peer overlapping it is refused like one overlapping an earlier peer.
  const accepted = new PrefixSet(family);
  accepted.add(local.subnet);
  const macs = new Set<string>();
  const underlays = new Set<string>();
  let skipped = 0;
  for (const n of nodes) {
    let c: CheckedRecord;
    try {
      c = checkRecord(n, '', needsVtepMac);
    } catch {
      skipped++;
      continue;
    }
    const { record: r, subnet: sub } = c;
    if ((sub.net.family === family && sub.net.value === local.subnet.net.value && sub.prefix === local.subnet.prefix) || r.underlay === local.underlay) continue;
    const ok = sub.net.family === family && c.underlay.family === local.underlayFamily && !accepted.overlaps(sub)
      && !(r.vtepMac !== undefined && macs.has(r.vtepMac)) && !underlays.has(r.underlay);
    if (!ok) {
      skipped++;
      continue;
    }
    accepted.add(sub);
    if (r.vtepMac !== undefined) macs.add(r.vtepMac);
    underlays.add(r.underlay);
    peers.set(r.subnet, r);
  }
  return { peers, skipped };
}

/** What the kernel holds for the VXLAN backend: the family's main-table routes, and the device's neighbours and FDB entries. */
export interface VxlanDump {
  routes: readonly Route[];
  neighs: readonly Neighbour[];
  fdb: readonly FdbEntry[];
}

/** The VTEP address of a canonical subnet (as the record validator returns it): its first address, the text before the slash. */
export const vtepOf = (subnet: string): string => subnet.slice(0, subnet.indexOf('/'));

/**
 * The VXLAN backend's plan for the device `link`: per peer (VTEP address =
 * the first address of its subnet) its MAC → underlay FDB entry, its VTEP →
 * MAC permanent neighbour, its subnet via the VTEP `onlink`, each sent only
 * when missing or different; stale routes (of `protocol` on the device),
 * neighbours and FDB entries deleted first. Peers need a `vtepMac`.
 */
export function planVxlan(link: number, protocol: number, dump: VxlanDump, peers: ReadonlyMap<string, NodeRecord>): Plan {
  const { mine, stale: staleRoutes, foreign } = splitRoutes(dump.routes, (r) => r.link === link && r.protocol === protocol);
  const neighs = new Map<string, Neighbour>();
  for (const n of dump.neighs) if (n.state === 'permanent') neighs.set(n.address, n);
  const fdb = new Map<string, FdbEntry[]>();
  for (const e of dump.fdb) {
    if (e.target !== 'self' || e.dst === undefined || !isVtepMac(e.mac)) continue;
    const remotes = fdb.get(e.mac);
    if (remotes) remotes.push(e);
    else fdb.set(e.mac, [e]);
  }

  const deletes: Request[] = [];
  const puts: Request[] = [];
  const counts: PlanCounts = { added: 0, updated: 0, removed: 0, unchanged: 0, refused: [] };
  const routes: RouteReport = { learned: [], missing: [], stale: [] };
  const wantNeigh = new Map<string, string>(); // VTEP address → MAC
  const wantFdb = new Set<string>(); // MACs
  const oldMacs = new Set<string>(); // MACs of peers that changed MAC: their stale FDB entries are part of the update
  for (const p of peers.values()) {
    if (refuseForeign(p.subnet, foreign, counts, routes)) continue;
    const vtep = vtepOf(p.subnet);
    const mac = p.vtepMac!;
    wantNeigh.set(vtep, mac);
    wantFdb.add(mac);
    const before = puts.length;
    const remotes = fdb.get(mac) ?? [];
    const exact = (e: FdbEntry) => e.dst === p.underlay && e.vni === undefined && e.port === undefined;
    const others = remotes.filter((e) => !exact(e));
    if (others.length === remotes.length) {
      // Replace rewrites the entry's first remote (or makes the entry): the rest go.
      puts.push({ op: 'fdbReplace', object: mac, args: { link, mac, dst: p.underlay, target: 'self', state: 'permanent' } });
      others.shift();
    }
    for (const e of others) puts.push(fdbRemoteDel(link, e));
    const n = neighs.get(vtep);
    if (n?.lladdr !== mac) {
      if (n?.lladdr) oldMacs.add(n.lladdr);
      puts.push({ op: 'neighReplace', object: vtep, args: { link, address: vtep, lladdr: mac, state: 'permanent' } });
    }
    const r = mine.get(p.subnet);
    const right = r !== undefined && r.gateway === vtep && r.flags.includes('onlink');
    (right ? routes.learned : routes.missing).push(p.subnet);
    if (!right) puts.push({ op: 'routeReplace', object: p.subnet, args: { dst: p.subnet, gateway: vtep, link, flags: ['onlink'], protocol } });
    count(counts, puts.length === before, r !== undefined);
  }

  // Stale entries, counted once per peer they belonged to (keyed by its VTEP address, else its MAC).
  const gone = new Set<string>();
  for (const [dst, r] of mine) if (!peers.has(dst)) staleRoutes.push(r);
  for (const r of staleRoutes) {
    if (r.gateway === undefined || !wantNeigh.has(r.gateway)) gone.add(`ip ${r.gateway ?? r.dst}`); // else a live peer's leftover
    routes.stale.push(r.dst);
    deletes.push(routeDelOf(r, protocol));
  }
  const staleMacOwner = new Map<string, string>();
  for (const [addr, n] of neighs) {
    if (wantNeigh.has(addr)) continue;
    gone.add(`ip ${addr}`);
    if (n.lladdr) staleMacOwner.set(n.lladdr, `ip ${addr}`);
    deletes.push({ op: 'neighDel', object: addr, del: true, args: { link, address: addr } });
  }
  for (const mac of fdb.keys()) {
    if (wantFdb.has(mac)) continue;
    if (!oldMacs.has(mac)) gone.add(staleMacOwner.get(mac) ?? `mac ${mac}`);
    deletes.push({ op: 'fdbDel', object: mac, del: true, args: { link, mac, target: 'self' } });
  }
  counts.removed = gone.size;
  return { requests: [...deletes, ...puts], counts, routes };
}

/**
 * The host-gw backend's plan: per peer, its subnet via its underlay address
 * on the device of the directly connected route that holds that address
 * (host-gw needs the nodes on one L2 segment: a peer whose underlay is on no
 * connected subnet is refused); stale routes of `protocol` deleted first.
 * `routes` is the family's main table.
 */
export function planHostGw(protocol: number, routes: readonly Route[], peers: ReadonlyMap<string, NodeRecord>): Plan {
  const { mine, stale, foreign } = splitRoutes(routes, (r) => r.protocol === protocol);
  // Connected: a unicast route without gateway, of link scope, on a device, not ours (longest prefix first).
  const connected = routes
    .filter((r) => r.protocol !== protocol && r.type === 'unicast' && r.scope === 'link' && r.gateway === undefined && r.link !== undefined && r.dst !== 'default')
    .map((r) => ({ cidr: parseCidr(r.dst)!.cidr, link: r.link! }))
    .sort((a, b) => b.cidr.prefix - a.cidr.prefix);
  const deletes: Request[] = [];
  const puts: Request[] = [];
  const counts: PlanCounts = { added: 0, updated: 0, removed: 0, unchanged: 0, refused: [] };
  const report: RouteReport = { learned: [], missing: [], stale: [] };
  for (const p of peers.values()) {
    if (refuseForeign(p.subnet, foreign, counts, report)) continue;
    const ul = parseIp(p.underlay)!;
    const on = connected.find((c) => c.cidr.net.family === ul.family && contains(c.cidr, ul));
    if (!on) {
      counts.refused.push({ subnet: p.subnet, reason: `underlay ${p.underlay} is on no directly connected subnet of this node (host-gw needs the nodes on one L2 segment)` });
      report.missing.push(p.subnet);
      continue;
    }
    const r = mine.get(p.subnet);
    const right = r !== undefined && r.gateway === p.underlay && r.link === on.link && !r.flags.includes('onlink');
    (right ? report.learned : report.missing).push(p.subnet);
    if (!right) puts.push({ op: 'routeReplace', object: p.subnet, args: { dst: p.subnet, gateway: p.underlay, link: on.link, protocol } });
    count(counts, right, r !== undefined);
  }
  for (const [dst, r] of mine) if (!peers.has(dst)) stale.push(r);
  for (const r of stale) {
    report.stale.push(r.dst);
    deletes.push(routeDelOf(r, protocol));
  }
  counts.removed = new Set(stale.map((r) => r.dst)).size;
  return { requests: [...deletes, ...puts], counts, routes: report };
}

/** A backend's routes by prefix (those with a metric or TOS apart, as stale: the kernel keys routes by prefix, TOS and metric), and everyone else's. */
function splitRoutes(routes: readonly Route[], ours: (r: Route) => boolean): { mine: Map<string, Route>; stale: Route[]; foreign: Map<string, Route> } {
  const mine = new Map<string, Route>();
  const stale: Route[] = [];
  const foreign = new Map<string, Route>();
  for (const r of routes) {
    if (!ours(r)) foreign.set(r.dst, r);
    else if (r.priority || r.tos) stale.push(r);
    else mine.set(r.dst, r);
  }
  return { mine, stale, foreign };
}

/** Refuses a peer whose subnet has a route the backend did not make (a connected route, someone's static one): it is never replaced. */
function refuseForeign(subnet: string, foreign: ReadonlyMap<string, Route>, counts: PlanCounts, report: RouteReport): boolean {
  const theirs = foreign.get(subnet);
  if (!theirs) return false;
  counts.refused.push({ subnet, reason: `a route to ${subnet} the agent did not make is in the way (protocol ${theirs.protocol}, ifindex ${theirs.link ?? 'none'}); it is left alone` });
  report.missing.push(subnet);
  return true;
}

function count(c: PlanCounts, unchanged: boolean, existed: boolean): void {
  if (unchanged) c.unchanged++;
  else if (existed) c.updated++;
  else c.added++;
}

/** Deletes a route of ours exactly as the kernel reported it. */
function routeDelOf(r: Route, protocol: number): Request {
  return {
    op: 'routeDel', object: r.dst, del: true,
    args: { dst: r.dst, protocol, ...(r.link === undefined ? {} : { link: r.link }), ...(r.priority ? { priority: r.priority } : {}), ...(r.tos ? { tos: r.tos } : {}) },
  };
}

/** Deletes one remote of a VXLAN FDB entry, named as the kernel reported it. */
function fdbRemoteDel(link: number, e: FdbEntry): Request {
  return {
    op: 'fdbDel', object: `${e.mac} dst ${e.dst}`, del: true,
    args: { link, mac: e.mac, dst: e.dst!, target: 'self', ...(e.vni === undefined ? {} : { vni: e.vni }), ...(e.port === undefined ? {} : { port: e.port }) },
  };
}

/**
 * Prefixes of one family, checked for overlap in O(distinct lengths) rather
 * than against each one: membership uses one subnet length, so 1,000 peers
 * cost 1,000 set lookups, not half a million comparisons.
 */
class PrefixSet {
  readonly #byLen = new Map<number, { nets: Set<bigint>; list: Cidr[] }>();

  constructor(readonly family: 4 | 6) {}

  /** Whether c overlaps a prefix already added. */
  overlaps(c: Cidr): boolean {
    for (const [len, { nets, list }] of this.#byLen) {
      if (len <= c.prefix ? nets.has(masked(c.net.value, this.family, len)) : list.some((x) => contains(c, x.net))) return true;
    }
    return false;
  }

  add(c: Cidr): void {
    let group = this.#byLen.get(c.prefix);
    if (!group) this.#byLen.set(c.prefix, (group = { nets: new Set(), list: [] }));
    group.nets.add(c.net.value);
    group.list.push(c);
  }
}

function masked(value: bigint, family: 4 | 6, len: number): bigint {
  const host = BigInt(bits(family) - len);
  return (value >> host) << host;
}
