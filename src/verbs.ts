/**
 * The verbs, written once: {@link Handle} runs them synchronously,
 * {@link AsyncHandle} on the threadpool, {@link Batch} records them for one
 * pipelined send.
 * @module
 */
import { type FdbEntry, type FdbFilter, type FdbRef, type FdbSpec, fdbFilterArg, fdbLabel, fdbRefArg, fdbSpecArg } from './fdb.js';
import { type Link, type LinkFilter, type LinkGetOptions, type LinkRef, type LinkSpec, type LinkUpdate, linkFilterArg, linkGetArg, linkLabel, linkRefArg, linkSpecArg, linkUpdateArg } from './link.js';
import { type Neighbour, type NeighFilter, type NeighRef, type NeighSpec, neighFilterArg, neighLabel, neighRefArg, neighSpecArg } from './neigh.js';
import type { NsRef } from './netns.js';
import { type AddrFilter, type AddrRef, type AddrSpec, type Address, addrFilterArg, addrLabel, addrRefArg, addrSpecArg } from './addr.js';
import { type Route, type RouteFilter, type RouteGetOptions, type RouteSpec, routeFilterArg, routeGetArg, routeLabel, routeSpecArg } from './route.js';
import { type Rule, type RuleFilter, type RuleSpec, ruleFilterArg, ruleListPost, ruleLabel, ruleSpecArg } from './rule.js';
import { type NexthopFilter, type NexthopObject, type NexthopObjectSpec, nexthopFilterArg, nexthopIdArg, nexthopLabel, nexthopListPost, nexthopSpecArg } from './nexthop.js';
import { type Request, request } from './request.js';
import { type ClassFilter, type ClassRef, type ClassSpec, type Qdisc, type QdiscFilter, type QdiscRef, type QdiscSpec, type TcClass, classFilterArg, classRefArg, classSpecArg, qdiscFilterArg, qdiscRefArg, qdiscSpecArg, tcLabel } from './tc.js';
import { type FilterListFilter, type FilterRef, type FilterSpec, type TcFilter, filterLabel, filterListArg, filterRefArg, filterSpecArg } from './tc-filter.js';
import * as v from './validate.js';

/** How a verb's result arrives: a value, a Promise, or (in a batch) later, in the batch's results. */
export type Mode = 'sync' | 'async' | 'batch';
/** The return type of a verb in mode M. */
export type Out<M extends Mode, T> = M extends 'sync' ? T : M extends 'async' ? Promise<T> : void;

/** Object+Verb operations, Go netlink style. Each is one request to the kernel: none hides a second round trip. */
export abstract class Verbs<M extends Mode> {
  /**
   * @internal Runs the request that build() makes. build() validates, so it
   * is called inside run: the async mode turns a validation error into a
   * rejected Promise instead of a synchronous throw.
   */
  protected abstract run<T>(build: () => Request<T>): Out<M, T>;

  /** Creates a link (`ip link add`). Fails with EEXIST if the name is taken. */
  linkAdd(spec: LinkSpec): Out<M, void> {
    return this.run(() => request<void>('linkAdd', linkSpecArg(spec), spec?.name ?? ''));
  }

  /** Deletes a link (`ip link del`); deleting one end of a veth deletes both. */
  linkDel(ref: LinkRef): Out<M, void> {
    return this.run(() => request<void>('linkDel', linkRefArg(ref), linkLabel(ref)));
  }

  /** Deletes every link in an interface group at once (`ip link del group N`): far cheaper than one by one. */
  linkDelGroup(group: number): Out<M, void> {
    return this.run(() => request<void>('linkDel', { linkGroup: v.uint('group', group, 0xffffffff, 1) }, `group ${group}`));
  }

  /** Reads one link (`ip link show dev X`); throws ENODEV if there is none. Counters only with `{ stats: true }`. */
  linkGet(ref: LinkRef, opts?: LinkGetOptions): Out<M, Link> {
    return this.run(() => request<Link>(opts?.stats ? 'linkGetStats' : 'linkGet', linkGetArg(ref, opts), linkLabel(ref)));
  }

  /** Lists links; filters are applied by the kernel. Counters only with `{ stats: true }`. */
  linkList(filter?: LinkFilter): Out<M, Link[]> {
    return this.run(() => request<Link[]>(filter?.stats ? 'linkListStats' : 'linkList', linkFilterArg(filter), ''));
  }

  /**
   * Changes a link in one request: any of up, promisc, mtu, name, address,
   * master, txqlen, alias, group, namespace, and (on a port of a bridge) its
   * `bridgePort` settings: hairpin, learning, flooding, STP cost and
   * priority... (`ip link set X type bridge_slave ...`).
   */
  linkSet(ref: LinkRef, update: LinkUpdate): Out<M, void> {
    return this.run(() => request<void>('linkSet', linkUpdateArg(ref, update), linkLabel(ref)));
  }

  /** `ip link set X up`. */
  linkSetUp(ref: LinkRef): Out<M, void> {
    return this.linkSet(ref, { up: true });
  }

  /** `ip link set X down`. */
  linkSetDown(ref: LinkRef): Out<M, void> {
    return this.linkSet(ref, { up: false });
  }

  /** `ip link set X master M` (M as ifindex). */
  linkSetMaster(ref: LinkRef, master: number): Out<M, void> {
    return this.linkSet(ref, { master });
  }

  /** `ip link set X nomaster`. */
  linkSetNoMaster(ref: LinkRef): Out<M, void> {
    return this.linkSet(ref, { master: null });
  }

  /** `ip link set X netns NS`: moves the link into another namespace. */
  linkSetNs(ref: LinkRef, ns: NsRef): Out<M, void> {
    return this.linkSet(ref, { netns: ns });
  }

  // ---- addresses: verbs go below this line (types and validation in src/addr.ts) ----

  /** Assigns an address (`ip addr add`). Fails with EEXIST if the interface has it already. */
  addrAdd(addr: AddrSpec): Out<M, void> {
    return this.run(() => request<void>('addrAdd', addrSpecArg(addr), addrLabel(addr)));
  }

  /** Assigns an address or updates the one there (`ip addr replace`): flags, lifetimes, label. */
  addrReplace(addr: AddrSpec): Out<M, void> {
    return this.run(() => request<void>('addrReplace', addrSpecArg(addr), addrLabel(addr)));
  }

  /** Removes an address (`ip addr del`); one that is not there is EADDRNOTAVAIL. */
  addrDel(addr: AddrRef): Out<M, void> {
    return this.run(() => request<void>('addrDel', addrRefArg(addr), addrLabel(addr)));
  }

  /** Lists addresses; filters are applied by the kernel. */
  addrList(filter?: AddrFilter): Out<M, Address[]> {
    return this.run(() => request<Address[]>('addrList', addrFilterArg(filter), ''));
  }

  // ---- routes: verbs go below this line (types and validation in src/route.ts) ----

  /** Installs a route (`ip route add`). Fails with EEXIST if the same route exists. */
  routeAdd(route: RouteSpec): Out<M, void> {
    return this.run(() => request<void>('routeAdd', routeSpecArg(route), routeLabel(route)));
  }

  /** Installs a route or replaces the one with the same key (`ip route replace`). */
  routeReplace(route: RouteSpec): Out<M, void> {
    return this.run(() => request<void>('routeReplace', routeSpecArg(route), routeLabel(route)));
  }

  /** Adds a route after existing ones with the same key (`ip route append`): IPv6 merges it into a multipath route. */
  routeAppend(route: RouteSpec): Out<M, void> {
    return this.run(() => request<void>('routeAppend', routeSpecArg(route), routeLabel(route)));
  }

  /** Deletes the first route matching every field given (`ip route del`); none is ESRCH. */
  routeDel(route: RouteSpec): Out<M, void> {
    return this.run(() => request<void>('routeDel', routeSpecArg(route), routeLabel(route)));
  }

  /** Asks the kernel which route it would use for dst (`ip route get`). */
  routeGet(dst: string, opts?: RouteGetOptions): Out<M, Route> {
    return this.run(() => request<Route>('routeGet', routeGetArg(dst, opts), dst));
  }

  /** Lists routes of the main table unless `table` says otherwise; filters are applied by the kernel. */
  routeList(filter?: RouteFilter): Out<M, Route[]> {
    return this.run(() => request<Route[]>('routeList', routeFilterArg(filter), ''));
  }

  // ---- neighbours: verbs go below this line (types and validation in src/neigh.ts) ----

  /** Adds an ARP/NDP entry (`ip neigh add`); fails with EEXIST if there is one for the address on that device. */
  neighAdd(spec: NeighSpec): Out<M, void> {
    return this.run(() => request<void>('neighAdd', neighSpecArg(spec), neighLabel(spec)));
  }

  /** Creates or overwrites an ARP/NDP entry (`ip neigh replace`). */
  neighReplace(spec: NeighSpec): Out<M, void> {
    return this.run(() => request<void>('neighReplace', neighSpecArg(spec), neighLabel(spec)));
  }

  /** Deletes an ARP/NDP entry (`ip neigh del`); ENOENT if there is none. */
  neighDel(ref: NeighRef): Out<M, void> {
    return this.run(() => request<void>('neighDel', neighRefArg(ref), neighLabel(ref)));
  }

  /** Lists ARP and NDP entries (never FDB entries); filters are applied by the kernel. */
  neighList(filter?: NeighFilter): Out<M, Neighbour[]> {
    return this.run(() => request<Neighbour[]>('neighList', neighFilterArg(filter), ''));
  }


  // ---- bridge FDB: verbs go below this line (types and validation in src/fdb.ts) ----

  /** Adds a bridge FDB entry (`bridge fdb add`); fails with EEXIST if the MAC is there already. */
  fdbAdd(spec: FdbSpec): Out<M, void> {
    return this.run(() => request<void>('fdbAdd', fdbSpecArg(spec), fdbLabel(spec)));
  }

  /**
   * Adds one more remote to a VXLAN FDB entry, creating it if needed
   * (`bridge fdb append`): with the MAC `00:00:00:00:00:00`, once per remote
   * VTEP, this builds the flood list of a `learning: false` VXLAN device.
   */
  fdbAppend(spec: FdbSpec): Out<M, void> {
    return this.run(() => request<void>('fdbAppend', fdbSpecArg(spec), fdbLabel(spec)));
  }

  /** Creates or overwrites a bridge FDB entry (`bridge fdb replace`). */
  fdbReplace(spec: FdbSpec): Out<M, void> {
    return this.run(() => request<void>('fdbReplace', fdbSpecArg(spec), fdbLabel(spec)));
  }

  /** Deletes a bridge FDB entry, or one VXLAN remote of it when `dst` is given (`bridge fdb del`). */
  fdbDel(ref: FdbRef): Out<M, void> {
    return this.run(() => request<void>('fdbDel', fdbRefArg(ref), fdbLabel(ref)));
  }

  /** Lists bridge FDB entries (never ARP/NDP entries); filters are applied by the kernel. */
  fdbList(filter?: FdbFilter): Out<M, FdbEntry[]> {
    return this.run(() => request<FdbEntry[]>('fdbList', fdbFilterArg(filter), ''));
  }


  // ---- policy rules: verbs go below this line (types and validation in src/rule.ts) ----

  /** Adds a policy routing rule (`ip rule add`); an identical rule is EEXIST. */
  ruleAdd(rule: RuleSpec): Out<M, void> {
    return this.run(() => request<void>('ruleAdd', ruleSpecArg(rule), ruleLabel(rule)));
  }

  /** Deletes the first rule matching every field given (`ip rule del`); none is ENOENT. */
  ruleDel(rule: RuleSpec): Out<M, void> {
    return this.run(() => request<void>('ruleDel', ruleSpecArg(rule), ruleLabel(rule)));
  }

  /** Lists IPv4 and IPv6 rules in priority order (`ip rule show`); see {@link RuleFilter} for which filters the kernel applies. */
  ruleList(filter?: RuleFilter): Out<M, Rule[]> {
    return this.run(() => {
      const arg = ruleFilterArg(filter);
      return request<Rule[]>('ruleList', arg, '', ruleListPost(arg));
    });
  }

  // ---- next-hop objects: verbs go below this line (types and validation in src/nexthop.ts) ----

  /** Creates a next-hop object (`ip nexthop add`); fails with EEXIST if the id is taken. */
  nexthopAdd(spec: NexthopObjectSpec): Out<M, void> {
    return this.run(() => request<void>('nexthopAdd', nexthopSpecArg(spec), nexthopLabel(spec)));
  }

  /** Creates a next-hop object or changes the one with its id (`ip nexthop replace`): routes using it follow. */
  nexthopReplace(spec: NexthopObjectSpec): Out<M, void> {
    return this.run(() => request<void>('nexthopReplace', nexthopSpecArg(spec), nexthopLabel(spec)));
  }

  /** Deletes a next-hop object and the routes that use it (`ip nexthop del id N`); none is ENOENT. */
  nexthopDel(id: number): Out<M, void> {
    return this.run(() => request<void>('nexthopDel', nexthopIdArg(id), nexthopLabel(id)));
  }

  /** Reads one next-hop object (`ip nexthop get id N`); none is ENOENT. */
  nexthopGet(id: number): Out<M, NexthopObject> {
    return this.run(() => request<NexthopObject>('nexthopGet', nexthopIdArg(id), nexthopLabel(id)));
  }

  /** Lists next-hop objects (`ip nexthop show`); see {@link NexthopFilter} for the filters. */
  nexthopList(filter?: NexthopFilter): Out<M, NexthopObject[]> {
    return this.run(() => {
      const arg = nexthopFilterArg(filter);
      return request<NexthopObject[]>('nexthopList', arg, '', nexthopListPost(arg));
    });
  }

  // ---- traffic control: verbs go below this line (types and validation in src/tc.ts) ----

  /**
   * Attaches a qdisc (`tc qdisc add`); EEXIST if the parent has one already (other than the device's default).
   *
   * ```ts
   * // tc qdisc add dev veth0 root handle 1: tbf rate 8mbit burst 125000 latency 25ms
   * h.qdiscAdd({ kind: 'tbf', link: veth0, handle: '1:', rate: 1_000_000, burst: 125_000, latency: 25_000 });
   * h.qdiscAdd({ kind: 'ingress', link: veth0 });
   * ```
   */
  qdiscAdd(spec: QdiscSpec): Out<M, void> {
    return this.run(() => request<void>('qdiscAdd', qdiscSpecArg(spec), tcLabel(spec)));
  }

  /**
   * Attaches a qdisc, or changes the one at the same parent (`tc qdisc replace`).
   *
   * ```ts
   * h.qdiscReplace({ kind: 'tbf', link: veth0, handle: '1:', rate: 2_000_000, burst: 250_000, limit: 300_000 });
   * ```
   */
  qdiscReplace(spec: QdiscSpec): Out<M, void> {
    return this.run(() => request<void>('qdiscReplace', qdiscSpecArg(spec), tcLabel(spec)));
  }

  /**
   * Removes a qdisc and its classes (`tc qdisc del`); the device falls back to its default.
   *
   * ```ts
   * h.qdiscDel({ link: veth0 });                    // tc qdisc del dev veth0 root
   * h.qdiscDel({ link: veth0, kind: 'ingress' });   // tc qdisc del dev veth0 ingress
   * ```
   */
  qdiscDel(ref: QdiscRef): Out<M, void> {
    return this.run(() => request<void>('qdiscDel', qdiscRefArg(ref), tcLabel(ref)));
  }

  /**
   * Lists qdiscs, the devices' defaults (`noqueue`...) included, as `tc
   * qdisc show`. The kernel dumps every device's: `link` is applied here.
   * Counters only with `{ stats: true }`.
   *
   * ```ts
   * const tbf = h.qdiscList({ link: veth0 }).find((q) => q.kind === 'tbf'); // tbf?.rate: bytes/s
   * ```
   */
  qdiscList(filter?: QdiscFilter): Out<M, Qdisc[]> {
    return this.run(() => {
      const { link, stats } = qdiscFilterArg(filter);
      const mine = link === undefined ? undefined : (all: Qdisc[]) => all.filter((q) => q.link === link);
      return request<Qdisc[]>(stats ? 'qdiscListStats' : 'qdiscList', {}, '', mine);
    });
  }

  /**
   * Adds a class to a classful qdisc (`tc class add`). Named after `tc
   * class` (Object+Verb, as Go netlink's ClassAdd); the kernel's message is
   * RTM_NEWTCLASS, hence "tclass" nowhere in the API.
   *
   * ```ts
   * // tc qdisc add dev eth0 root handle 1: htb default 10
   * h.qdiscAdd({ kind: 'htb', link: eth0, handle: '1:', defaultClass: 0x10 });
   * // tc class add dev eth0 parent 1: classid 1:10 htb rate 1mbit ceil 10mbit
   * h.classAdd({ kind: 'htb', link: eth0, parent: '1:', handle: '1:10', rate: 125_000, ceil: 1_250_000 });
   * ```
   */
  classAdd(spec: ClassSpec): Out<M, void> {
    return this.run(() => request<void>('classAdd', classSpecArg(spec), tcLabel(spec)));
  }

  /**
   * Adds a class or changes the one with the same id (`tc class replace`).
   *
   * ```ts
   * h.classReplace({ kind: 'htb', link: eth0, parent: '1:', handle: '1:10', rate: 250_000 });
   * ```
   */
  classReplace(spec: ClassSpec): Out<M, void> {
    return this.run(() => request<void>('classReplace', classSpecArg(spec), tcLabel(spec)));
  }

  /**
   * Removes a class (`tc class del`); EBUSY while it has child classes.
   *
   * ```ts
   * h.classDel({ link: eth0, handle: '1:10' });
   * ```
   */
  classDel(ref: ClassRef): Out<M, void> {
    return this.run(() => request<void>('classDel', classRefArg(ref), tcLabel(ref)));
  }

  /**
   * Lists one device's classes (`tc class show dev X`). Counters only with `{ stats: true }`.
   *
   * ```ts
   * for (const c of h.classList({ link: eth0, stats: true })) console.log(c.handle, c.stats?.bytes);
   * ```
   */
  classList(filter: ClassFilter): Out<M, TcClass[]> {
    return this.run(() => request<TcClass[]>(filter?.stats ? 'classListStats' : 'classList', classFilterArg(filter), ''));
  }

  /**
   * Attaches a filter (`tc filter add`): on a match, it classifies the
   * packet (`classid`) and runs its actions. The bandwidth plugin's egress
   * shaping sends everything arriving on the host veth to an ifb, whose
   * qdisc then shapes it:
   *
   * ```ts
   * // tc filter add dev hv0 parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ifb0
   * h.qdiscAdd({ kind: 'ingress', link: hv0 });
   * h.filterAdd({ kind: 'u32', link: hv0, parent: 'ffff:', actions: [{ kind: 'mirred', direction: 'egress', action: 'redirect', link: ifb0 }] });
   * // tc filter add dev eth0 parent ffff: protocol ip prio 3 u32 match u32 0x0a000001 0xffffffff at 16 action mirred ingress mirror dev eth1
   * h.filterAdd({ kind: 'u32', link: eth0, parent: 'ffff:', protocol: 'ip', prio: 3,
   *   match: [{ value: 0x0a000001, mask: 0xffffffff, offset: 16 }], actions: [{ kind: 'mirred', direction: 'ingress', action: 'mirror', link: eth1 }] });
   * ```
   */
  filterAdd(spec: FilterSpec): Out<M, void> {
    return this.run(() => request<void>('filterAdd', filterSpecArg(spec), filterLabel(spec)));
  }

  /**
   * Adds a filter, or changes the one with the same prio, protocol and
   * handle (`tc filter replace`). A u32 key node is changed only when its
   * `handle` (`'800::800'`) is given, else one is added; the kernel then
   * takes its classid and actions and keeps its keys.
   *
   * ```ts
   * h.filterReplace({ kind: 'u32', link: hv0, parent: 'ffff:', prio: 1, handle: '800::800', actions: [{ kind: 'mirred', direction: 'egress', action: 'redirect', link: ifb1 }] });
   * ```
   */
  filterReplace(spec: FilterSpec): Out<M, void> {
    return this.run(() => request<void>('filterReplace', filterSpecArg(spec), filterLabel(spec)));
  }

  /**
   * Removes filters (`tc filter del`): those of `prio` at the parent, or
   * every filter there without one; ENOENT if there is none.
   *
   * ```ts
   * h.filterDel({ link: hv0, parent: 'ffff:', prio: 1 });  // tc filter del dev hv0 parent ffff: prio 1
   * ```
   */
  filterDel(ref: FilterRef): Out<M, void> {
    return this.run(() => request<void>('filterDel', filterRefArg(ref), filterLabel(ref)));
  }

  /**
   * Lists the filters of one device at one parent, as `tc filter show dev X
   * parent P` (u32 lists its hash table and key nodes too: see `U32Filter`).
   *
   * ```ts
   * const redirect = h.filterList({ link: hv0, parent: 'ffff:' }).find((f) => f.kind === 'u32' && f.actions);
   * ```
   */
  filterList(filter: FilterListFilter): Out<M, TcFilter[]> {
    return this.run(() => request<TcFilter[]>('filterList', filterListArg(filter), ''));
  }

  // ---- end of verbs ----
}
