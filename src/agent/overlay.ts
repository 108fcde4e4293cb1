/**
 * The node agent's dataplane: one nolearning VXLAN device whose permanent
 * neighbours, unicast FDB entries and onlink routes are reconciled with the
 * cluster's membership, flannel style. Per remote node: the VTEP address (the
 * first address of its subnet) → its VTEP MAC as a permanent neighbour, that
 * MAC → its underlay address as an FDB entry, and its subnet via the VTEP
 * address `onlink`. Every sync reads what the kernel holds and applies only
 * the difference, in one batch, so a route that is still right is never
 * touched.
 * @module
 */
import { type Batch, type FdbEntry, type Handle, type Link, type Neighbour, NetlinkError, type Netns, type Route, RtnlInputError, type RtnlEvent, type Subscription, assertBatch, subscribe } from '../index.js';
import { type Cidr, bits, contains, formatIp, isNetwork, parseCidr, parseIp, withPrefix } from '../primitives/ip.js';
import { isUnicastMac as isVtepMac } from '../primitives/names.js';
import type { NodeRecord } from './types.js';

/**
 * The rtm_protocol the overlay's routes carry (`ip route show proto 62`):
 * unassigned in iproute2's rt_protos, so rtnl's routes are told apart from
 * anyone else's, and a sync only ever removes routes it made.
 */
export const OVERLAY_ROUTE_PROTOCOL = 62;

/** Bytes VXLAN adds over an IPv4 underlay (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14); IPv6 adds 20 more. */
const ENCAP_V4 = 50;
const ENCAP_V6 = 70;

/** Options of an {@link Overlay}. */
export interface OverlayOptions {
  /** A handle in the node's namespace; every change goes through it. */
  handle: Handle;
  /** The node's namespace, for the event subscription of {@link Overlay.startWatching}; undefined: the current one. */
  netns?: Netns;
  /** The VXLAN device's name. */
  device: string;
  /** VXLAN network identifier. */
  vni: number;
  /** VXLAN UDP destination port. */
  port: number;
  /** This node's underlay address (IPv4 or IPv6): the tunnel's source. */
  local: string;
  /** This node's pod subnet; its first address is the VTEP address. */
  subnet: string;
  /** The VTEP MAC: the device is made with it, and one with another MAC is replaced. */
  mac?: string;
  /** The device's MTU; default: the underlay device's minus 50 (IPv4) or 70 (IPv6) bytes. */
  mtu?: number;
  /** The underlay device's name; default: the device holding `local`. */
  underlayDevice?: string;
  /** rtm_protocol of the overlay's routes; default {@link OVERLAY_ROUTE_PROTOCOL}. */
  protocol?: number;
}

/** What {@link Overlay.ensure} found or made. */
export interface OverlayDevice {
  index: number;
  mac: string;
  mtu: number;
  /** An existing device that did not match was deleted and made again. */
  replaced: boolean;
}

/** What one {@link Overlay.sync} did, counted in remote nodes. */
export interface OverlaySyncResult {
  /** Peers whose route was missing and was put in (with its neighbour and FDB entry as needed). */
  added: number;
  /** Peers whose route was there but something of theirs differed (MAC, underlay, a missing neighbour or FDB entry). */
  updated: number;
  /** Peers (or leftovers of them: a route, neighbour or FDB entry) no longer in the membership, deleted. */
  removed: number;
  /** Peers already exactly right: nothing was sent for them. */
  unchanged: number;
  /** Wall time of the sync, dumps included. */
  durationMs: number;
  /** Records ignored: malformed, of the wrong address family, overlapping this node's subnet or an earlier record's. */
  skipped: number;
  /** Peers not programmed because a route to their subnet that the overlay did not make is in the way (it is never replaced). */
  refused: { subnet: string; reason: string }[];
}

/** A request of a sync's batch that the kernel refused. */
export interface OverlayFailure {
  /** The operation, e.g. `routeReplace`. */
  op: string;
  /** What it was about, e.g. `10.244.2.0/24`. */
  object: string;
  error: Error;
}

/** Some requests of a sync's batch failed; the others were applied. A later sync retries what is still wrong. */
export class OverlaySyncError extends Error {
  override readonly name = 'OverlaySyncError';
  /** Each refused request. */
  readonly failures: readonly OverlayFailure[];
  /** The counts of the sync as planned. */
  readonly result: OverlaySyncResult;

  /** @param failures the refused requests @param result what the sync planned */
  constructor(failures: OverlayFailure[], result: OverlaySyncResult) {
    const first = failures[0]!;
    super(`overlay sync: ${failures.length} request(s) failed; first: ${first.op} ${first.object}: ${first.error.message}`);
    this.failures = failures;
    this.result = result;
  }
}

/** A remote node as the kernel should hold it; addresses in canonical text. */
interface Peer {
  subnet: string;
  vtep: string;
  mac: string;
  underlay: string;
}

interface Op {
  op: string;
  object: string;
  add(b: Batch): void;
  /** Errors meaning "already as wanted" (a delete of what is gone). */
  ok?: readonly string[];
}

const GONE = ['ENOENT', 'ESRCH', 'ENODEV'];

// Peers' addresses are compared as text with what the kernel reports: both
// are canonical (formatIp is RFC 5952, the addon's inet_ntop agrees).
const canonIp = (s: string): string | undefined => {
  const ip = parseIp(s);
  return ip && formatIp(ip);
};

/**
 * The overlay of one node: {@link Overlay.ensure} makes the VXLAN device,
 * {@link Overlay.sync} reconciles its peers with the membership,
 * {@link Overlay.startWatching} reports changes made behind its back.
 */
export class Overlay {
  readonly #o: OverlayOptions;
  readonly #h: Handle;
  readonly #subnet: Cidr;
  readonly #local: string;
  readonly #localFamily: 4 | 6;
  readonly #vtep: string;
  readonly #protocol: number;
  /** The device's ifindex and MTU as ensure() or sync() last saw them. */
  #index: number | undefined;
  #mtu: number | undefined;
  /** The remote nodes of the last sync: what drift is judged against. */
  #peers: Map<string, Peer> | undefined;
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** Checks the options; nothing is sent until {@link Overlay.ensure} or {@link Overlay.sync}. */
  constructor(o: OverlayOptions) {
    const subnet = parseCidr(o.subnet);
    if (!subnet || !isNetwork(subnet)) throw new RtnlInputError('subnet', `expected a prefix without host bits, got ${o.subnet}`);
    const local = parseIp(o.local);
    if (!local) throw new RtnlInputError('local', `expected an IPv4 or IPv6 address, got ${o.local}`);
    if (o.mac !== undefined && !isVtepMac(o.mac.toLowerCase())) throw new RtnlInputError('mac', `expected a unicast MAC, got ${o.mac}`);
    this.#o = o;
    this.#h = o.handle;
    this.#subnet = subnet.cidr;
    this.#local = formatIp(local);
    this.#localFamily = local.family;
    this.#vtep = formatIp(subnet.cidr.net);
    this.#protocol = o.protocol ?? OVERLAY_ROUTE_PROTOCOL;
  }

  /** The VXLAN device's name. */
  get device(): string {
    return this.#o.device;
  }

  /** This node's VTEP address: the first address of its subnet, held by the device as a host address. */
  get vtepIp(): string {
    return this.#vtep;
  }

  /**
   * Makes the device right: adopts an existing one that matches (vxlan, VNI,
   * port, local address, nolearning, MAC when given, underlay device when
   * given), else deletes it and creates it again; sets it up with the MTU,
   * and leaves the VTEP address (/32 or /128) as its only address (IPv6
   * link-local ones aside).
   */
  ensure(): OverlayDevice {
    const o = this.#o;
    const h = this.#h;
    const ul = this.#underlay();
    const mtu = o.mtu ?? ul.mtu - (this.#localFamily === 4 ? ENCAP_V4 : ENCAP_V6);
    let link = this.#find();
    let replaced = false;
    if (link && !this.#adoptable(link, ul.index)) {
      h.linkDel(link.index);
      link = undefined;
      replaced = true;
    }
    if (!link) {
      h.linkAdd({
        kind: 'vxlan', name: o.device, vni: o.vni, port: o.port, local: this.#local, device: ul.index, learning: false, mtu, up: true,
        ...(o.mac === undefined ? {} : { address: o.mac.toLowerCase() }),
      });
      link = h.linkGet(o.device);
    } else if (!link.up || link.mtu !== mtu) {
      h.linkSet(link.index, { up: true, mtu });
    }
    this.#index = link.index;
    this.#mtu = mtu;
    this.#ensureAddress(link.index);
    return { index: link.index, mac: link.address!, mtu, replaced };
  }

  /**
   * Makes the device's permanent neighbours, unicast FDB entries and routes
   * of the overlay's protocol exactly match the remote nodes among `nodes`
   * (this node, by subnet or underlay address, is left out). Reads the
   * current state with three dumps filtered to the device and sends only the
   * difference, in one batch. Throws {@link OverlaySyncError} if some of it
   * was refused, and the kernel's error if the device is missing.
   */
  sync(nodes: readonly NodeRecord[]): OverlaySyncResult {
    const t0 = performance.now();
    const h = this.#h;
    const link = h.linkGet(this.#o.device).index;
    this.#index = link;
    const { peers, skipped } = this.#desired(nodes);
    this.#peers = peers;
    const { ops, result } = this.#plan(link, peers);
    result.skipped = skipped;
    const failures: OverlayFailure[] = [];
    if (ops.length > 0) {
      h.batch((b) => ops.forEach((op) => op.add(b))).forEach((r, i) => {
        if (r.status === 'fulfilled') return;
        const op = ops[i]!;
        const e = r.reason as Error;
        if (!(e instanceof NetlinkError && op.ok?.includes(e.code))) failures.push({ op: op.op, object: op.object, error: e });
      });
    }
    result.durationMs = performance.now() - t0;
    if (failures.length > 0) throw new OverlaySyncError(failures, result);
    return result;
  }

  /**
   * Watches the node's links, neighbours, FDB entries and routes, and calls
   * onDrift when the device or its entries no longer match the last sync: a
   * route, neighbour or FDB entry deleted or altered by someone else, the
   * device set down, renamed or deleted; and whenever the kernel reports
   * lost events (`resync`). Events about the device are debounced
   * (`debounceMs` of quiet, default 100), then the device is re-read and
   * compared with the last sync's plan: the echoes of the overlay's own
   * changes, in whatever order they arrive, find nothing to do and are
   * ignored. The caller answers with {@link Overlay.ensure} and
   * {@link Overlay.sync}. Calling it again replaces the previous watch.
   */
  startWatching(onDrift: () => void, o: { debounceMs?: number } = {}): void {
    this.stopWatching();
    const debounceMs = o.debounceMs ?? 100;
    let certain = false;
    const schedule = (sure: boolean) => {
      certain ||= sure;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        const fire = certain || this.#drifted();
        certain = false;
        if (fire) onDrift();
      }, debounceMs);
    };
    const open = () => {
      const sub = subscribe({ kinds: ['link', 'neighbour', 'fdb', 'route'], ...(this.#o.netns ? { netns: this.#o.netns } : {}) });
      sub.on('event', (ev) => {
        if (this.#concerns(ev)) schedule(false);
      });
      sub.on('resync', () => schedule(true));
      sub.on('error', () => {
        // The socket failed: what happened meanwhile is unknown, so resync on a new one.
        if (this.#sub === sub) this.#sub = open();
        schedule(true);
      });
      return sub;
    };
    this.#sub = open();
  }

  /** Stops watching; a pending onDrift is cancelled. Safe to call when not watching. */
  stopWatching(): void {
    const sub = this.#sub;
    this.#sub = undefined;
    sub?.close();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Stops watching and deletes the device; its routes, neighbours and FDB entries go with it. A missing device is fine. */
  cleanup(): void {
    this.stopWatching();
    try {
      this.#h.linkDel(this.#o.device);
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === 'ENODEV')) throw e;
    }
    this.#index = undefined;
    this.#mtu = undefined;
    this.#peers = undefined;
  }

  /**
   * Reads the device's neighbours, FDB entries and routes (three dumps
   * filtered by the kernel) and returns what would make them match peers:
   * deletes of stale entries first, then per peer its FDB entry, neighbour
   * and route (so a route never points at an unresolved VTEP).
   */
  #plan(link: number, peers: Map<string, Peer>): { ops: Op[]; result: OverlaySyncResult } {
    const h = this.#h;
    const family = this.#subnet.net.family;
    const routes = new Map<string, Route>();
    const staleRoutes: Route[] = [];
    /** Routes in the main table the overlay did not make (a connected route, someone's static one): never replaced. */
    const foreign = new Map<string, Route>();
    for (const r of h.routeList({ family })) {
      if (r.link !== link || r.protocol !== this.#protocol) foreign.set(r.dst, r);
      // The kernel keys routes by prefix, TOS and metric: ours have neither, one of another metric or TOS is stale.
      else if (r.priority || r.tos) staleRoutes.push(r);
      else routes.set(r.dst, r);
    }
    const neighs = new Map<string, Neighbour>();
    for (const n of h.neighList({ link, family })) if (n.state === 'permanent') neighs.set(n.address, n);
    const fdb = new Map<string, FdbEntry[]>();
    for (const e of h.fdbList({ link })) {
      if (e.target !== 'self' || e.dst === undefined || !isVtepMac(e.mac)) continue;
      const remotes = fdb.get(e.mac);
      if (remotes) remotes.push(e);
      else fdb.set(e.mac, [e]);
    }

    const deletes: Op[] = [];
    const puts: Op[] = [];
    const res: OverlaySyncResult = { added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: 0, skipped: 0, refused: [] };
    const wantNeigh = new Map<string, string>(); // VTEP address → MAC
    const wantFdb = new Set<string>(); // MACs
    const oldMacs = new Set<string>(); // MACs of peers that changed MAC: their stale FDB entries are part of the update
    for (const p of peers.values()) {
      const theirs = foreign.get(p.subnet);
      if (theirs) {
        res.refused.push({ subnet: p.subnet, reason: `a route to ${p.subnet} the agent did not make is in the way (protocol ${theirs.protocol}, ifindex ${theirs.link ?? 'none'}); it is left alone` });
        continue;
      }
      wantNeigh.set(p.vtep, p.mac);
      wantFdb.add(p.mac);
      const before = puts.length;
      const remotes = fdb.get(p.mac) ?? [];
      const exact = (e: FdbEntry) => e.dst === p.underlay && e.vni === undefined && e.port === undefined;
      const others = remotes.filter((e) => !exact(e));
      if (others.length === remotes.length) {
        // Replace rewrites the entry's first remote (or makes the entry): the rest go.
        puts.push({ op: 'fdbReplace', object: p.mac, add: (b) => b.fdbReplace({ link, mac: p.mac, dst: p.underlay, target: 'self', state: 'permanent' }) });
        others.shift();
      }
      for (const e of others) puts.push(fdbRemoteDel(link, e));
      const n = neighs.get(p.vtep);
      if (n?.lladdr !== p.mac) {
        if (n?.lladdr) oldMacs.add(n.lladdr);
        puts.push({ op: 'neighReplace', object: p.vtep, add: (b) => b.neighReplace({ link, address: p.vtep, lladdr: p.mac, state: 'permanent' }) });
      }
      const r = routes.get(p.subnet);
      if (!r || r.gateway !== p.vtep || !r.flags.includes('onlink')) {
        puts.push({
          op: 'routeReplace', object: p.subnet,
          add: (b) => b.routeReplace({ dst: p.subnet, gateway: p.vtep, link, flags: ['onlink'], protocol: this.#protocol }),
        });
      }
      if (puts.length === before) res.unchanged++;
      else if (r) res.updated++;
      else res.added++;
    }

    // Stale entries, counted once per peer they belonged to (keyed by its VTEP address, else its MAC).
    const gone = new Set<string>();
    for (const [dst, r] of routes) if (!peers.has(dst)) staleRoutes.push(r);
    for (const r of staleRoutes) {
      if (r.gateway === undefined || !wantNeigh.has(r.gateway)) gone.add(`ip ${r.gateway ?? r.dst}`); // else a live peer's leftover
      deletes.push({
        op: 'routeDel', object: r.dst, ok: GONE,
        add: (b) => b.routeDel({ dst: r.dst, link, protocol: this.#protocol, ...(r.priority ? { priority: r.priority } : {}), ...(r.tos ? { tos: r.tos } : {}) }),
      });
    }
    const staleMacOwner = new Map<string, string>();
    for (const [addr, n] of neighs) {
      if (wantNeigh.has(addr)) continue;
      gone.add(`ip ${addr}`);
      if (n.lladdr) staleMacOwner.set(n.lladdr, `ip ${addr}`);
      deletes.push({ op: 'neighDel', object: addr, ok: GONE, add: (b) => b.neighDel({ link, address: addr }) });
    }
    for (const mac of fdb.keys()) {
      if (wantFdb.has(mac)) continue;
      if (!oldMacs.has(mac)) gone.add(staleMacOwner.get(mac) ?? `mac ${mac}`);
      deletes.push({ op: 'fdbDel', object: mac, ok: GONE, add: (b) => b.fdbDel({ link, mac, target: 'self' }) });
    }
    res.removed = gone.size;
    return { ops: [...deletes, ...puts], result: res };
  }

  /** The underlay device: named, or the one holding the local address. */
  #underlay(): { index: number; mtu: number } {
    const h = this.#h;
    if (this.#o.underlayDevice !== undefined) {
      const l = h.linkGet(this.#o.underlayDevice);
      return { index: l.index, mtu: l.mtu! };
    }
    const a = h.addrList({ family: this.#localFamily }).find((x) => canonIp(x.local) === this.#local);
    if (!a) throw new RtnlInputError('local', `no device in this namespace has the address ${this.#local}; name the underlay device`);
    const l = h.linkGet(a.link);
    return { index: l.index, mtu: l.mtu! };
  }

  #find(): Link | undefined {
    try {
      return this.#h.linkGet(this.#o.device);
    } catch (e) {
      if (e instanceof NetlinkError && e.code === 'ENODEV') return undefined;
      throw e;
    }
  }

  /** Whether l is the device as configured; the underlay device is checked when named and its index given. */
  #adoptable(l: Link, underlay?: number): boolean {
    const o = this.#o;
    return l.kind === 'vxlan' && l.vni === o.vni && l.port === o.port && l.learning === false
      && l.local !== undefined && canonIp(l.local) === this.#local
      && (o.mac === undefined || l.address === o.mac.toLowerCase())
      && (o.underlayDevice === undefined || underlay === undefined || l.device === underlay);
  }

  /** The VTEP address as the device's only address; IPv6 link-local addresses are the kernel's and stay. */
  #ensureAddress(link: number): void {
    const want = withPrefix(this.#subnet.net, bits(this.#subnet.net.family));
    const have = this.#h.addrList({ link });
    const extra = have.filter((a) => a.address !== want && !(a.family === 6 && a.local.toLowerCase().startsWith('fe80:')));
    const missing = !have.some((a) => a.address === want);
    if (extra.length === 0 && !missing) return;
    assertBatch(this.#h.batch((b) => {
      for (const a of extra) b.addrDel({ link, address: a.address });
      if (missing) b.addrAdd({ link, address: want, ...(this.#subnet.net.family === 6 ? { flags: ['nodad'] as const } : {}) });
    }));
  }

  /** The remote nodes by subnet, validated; this node left out, bad or overlapping records counted as skipped. */
  #desired(nodes: readonly NodeRecord[]): { peers: Map<string, Peer>; skipped: number } {
    const family = this.#subnet.net.family;
    const peers = new Map<string, Peer>();
    const accepted = new PrefixSet(family);
    const macs = new Set<string>();
    const underlays = new Set<string>();
    let skipped = 0;
    for (const n of nodes) {
      const sub = typeof n?.subnet === 'string' ? parseCidr(n.subnet) : undefined;
      const ul = typeof n?.underlay === 'string' ? parseIp(n.underlay) : undefined;
      const mac = typeof n?.vtepMac === 'string' ? n.vtepMac.toLowerCase() : '';
      if (sub && ul && ul.family === this.#localFamily) {
        const underlay = formatIp(ul);
        const self = sub.cidr.net.family === family && sub.cidr.net.value === this.#subnet.net.value && sub.cidr.prefix === this.#subnet.prefix;
        if (self || underlay === this.#local) continue;
        const subnet = withPrefix(sub.cidr.net, sub.cidr.prefix);
        const ok = sub.cidr.net.family === family && isNetwork(sub) && isVtepMac(mac)
          && !overlaps(sub.cidr, this.#subnet) && !accepted.overlaps(sub.cidr)
          && !macs.has(mac) && !underlays.has(underlay);
        if (ok) {
          accepted.add(sub.cidr);
          macs.add(mac);
          underlays.add(underlay);
          peers.set(subnet, { subnet, vtep: formatIp(sub.cidr.net), mac, underlay });
          continue;
        }
      }
      skipped++;
    }
    return { peers, skipped };
  }

  /** Whether an event is about the device or something on it. */
  #concerns(ev: RtnlEvent): boolean {
    if (ev.kind === 'link') return ev.value.index === this.#index || ev.value.name === this.#o.device;
    return this.#index !== undefined && ev.kind !== 'rule' && ev.value.link === this.#index; // rules name devices, not ifindexes
  }

  /** Whether the device is gone, down, another one, altered, or its entries differ from what the last sync planned. */
  #drifted(): boolean {
    try {
      const l = this.#h.linkGet(this.#o.device);
      if (!l.up || !this.#adoptable(l) || (this.#index !== undefined && l.index !== this.#index) || (this.#mtu !== undefined && l.mtu !== this.#mtu)) return true;
      return this.#peers !== undefined && this.#plan(l.index, this.#peers).ops.length > 0;
    } catch {
      return true; // ENODEV, or the handle failed: the caller's ensure + sync will tell
    }
  }
}

/** Deletes one remote of a VXLAN FDB entry, named as the kernel reported it. */
function fdbRemoteDel(link: number, e: FdbEntry): Op {
  return {
    op: 'fdbDel', object: `${e.mac} dst ${e.dst}`, ok: GONE,
    add: (b) => b.fdbDel({ link, mac: e.mac, dst: e.dst!, target: 'self', ...(e.vni === undefined ? {} : { vni: e.vni }), ...(e.port === undefined ? {} : { port: e.port }) }),
  };
}

/** Whether two prefixes share an address (prefixes nest or are disjoint). */
function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.net) || contains(b, a.net);
}

/**
 * Prefixes of one family, checked for overlap in O(distinct lengths) rather
 * than against each one: membership uses one subnet length, so a sync of
 * 1,000 peers does 1,000 set lookups, not half a million comparisons.
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
