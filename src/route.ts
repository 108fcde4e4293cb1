/**
 * Routes: what you install ({@link RouteSpec}) and what the kernel reports
 * ({@link Route}), for IPv4 and IPv6, in any table, with metrics and
 * multipath next hops.
 * @module
 */
import { type Scope, cidr, familyArg, scopeArg } from './addr.js';
import { RtnlInputError } from './errors.js';
import { ipFamily } from './primitives/ip.js';
import { type Check, checks, lazy, lazyList, schema } from './schema.js';
import * as v from './validate.js';

/** Route types (rtm_type). */
export type RouteType = 'unspec' | 'unicast' | 'local' | 'broadcast' | 'anycast' | 'multicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw' | 'nat' | 'xresolve';
/** Who installed a route (rtm_protocol), as iproute2 names it; other values are numbers. */
export type RouteProtocol = 'unspec' | 'redirect' | 'kernel' | 'boot' | 'static' | 'gated' | 'ra' | 'mrt' | 'zebra' | 'bird' | 'dnrouted' | 'xorp' | 'ntk' | 'dhcp' | 'mrouted' | 'keepalived' | 'babel' | 'openr' | 'bgp' | 'isis' | 'ospf' | 'rip' | 'eigrp';
/** A routing table: an id (1 to 2^32-1) or one of the reserved names. Reported tables are always numbers (main = 254). */
export type RouteTable = number | 'main' | 'local' | 'default';
/** Next-hop flags; only `onlink` can be set. */
export type NexthopFlag = 'onlink' | 'dead' | 'pervasive' | 'offload' | 'linkdown' | 'unresolved' | 'trap';
/** Route flags: the next-hop flags of a single-path route, and flags of the route itself. */
export type RouteFlag = NexthopFlag | 'notify' | 'cloned' | 'equalize' | 'prefix' | 'offload_failed';

/** IPv6 router preference (RTA_PREF). */
export type RoutePref = 'low' | 'medium' | 'high';

/** Per-route metrics (RTA_METRICS), in the kernel's units. */
export interface RouteMetrics {
  mtu?: number;
  window?: number;
  rtt?: number;
  rttvar?: number;
  ssthresh?: number;
  cwnd?: number;
  advmss?: number;
  reordering?: number;
  hoplimit?: number;
  initcwnd?: number;
  features?: number;
  rtoMin?: number;
  initrwnd?: number;
  quickack?: number;
  /** Congestion control algorithm, e.g. `cubic`. */
  congctl?: string;
  fastopenNoCookie?: number;
}

/** One path of a multipath route. */
export interface NexthopSpec {
  /** Gateway; an IPv6 gateway on an IPv4 route goes out as RTA_VIA. */
  gateway?: string;
  /** ifindex of the outgoing interface. */
  link?: number;
  /** Relative weight, 1 to 256 (default 1). */
  weight?: number;
  /** `onlink`: use the gateway even if no route on the link covers it. */
  flags?: 'onlink'[];
}

/** A route to install or delete (`ip route add|replace|append|del`). */
export interface RouteSpec {
  /** `default`, or a prefix like `10.2.0.0/16` / `fd00:2::/64` (without a length: a host route). */
  dst: string;
  /** Needed only when nothing else tells the family (`default` without a same-family gateway). */
  family?: 4 | 6;
  /** Source prefix (IPv6 source routing). */
  src?: string;
  /** Gateway (`via`); an IPv6 gateway on an IPv4 route goes out as RTA_VIA. */
  gateway?: string;
  /** ifindex of the outgoing interface (`dev`). */
  link?: number;
  /** Preferred source address (`src` in iproute2). */
  prefsrc?: string;
  /** Table; default main. Ids above 255 go in RTA_TABLE. */
  table?: RouteTable;
  /** Default: as iproute2 chooses it from the type and whether there is a gateway. */
  scope?: Scope | number;
  /** Default `boot`, as iproute2. */
  protocol?: RouteProtocol | number;
  /** Default `unicast`. */
  type?: RouteType | number;
  /** Metric (`metric`/`priority`). */
  priority?: number;
  tos?: number;
  metrics?: RouteMetrics;
  flags?: 'onlink'[];
  /** IPv6 router preference. */
  pref?: RoutePref;
  /** Multipath next hops (RTA_MULTIPATH); give these instead of gateway/link. */
  nexthops?: NexthopSpec[];
  /** A next-hop object's id (`nhid`, see {@link Verbs.nexthopAdd}); give this instead of gateway/link/nexthops. */
  nhid?: number;
}

/** A path of a multipath route, as reported. */
export interface Nexthop {
  gateway?: string;
  link?: number;
  weight: number;
  flags: NexthopFlag[];
}

/** A route as the kernel reports it. */
export interface Route {
  family: 4 | 6;
  /** `default` or `prefix/len`. */
  dst: string;
  src?: string;
  gateway?: string;
  /** ifindex of the outgoing interface. */
  link?: number;
  /** Input interface (route get with `iif`). */
  iif?: number;
  prefsrc?: string;
  /** Table id (main = 254, local = 255). */
  table: number;
  scope: Scope | number;
  protocol: RouteProtocol | number;
  type: RouteType | number;
  priority?: number;
  tos?: number;
  mark?: number;
  metrics?: RouteMetrics;
  flags: RouteFlag[];
  /** IPv6 router preference. */
  pref?: RoutePref;
  nexthops?: Nexthop[];
  /** The next-hop object the route uses; the kernel reports its paths in gateway/link or nexthops too. */
  nhid?: number;
}

/** Options of a route lookup (`ip route get DST from SRC oif X iif Y mark M`). */
export interface RouteGetOptions {
  src?: string;
  /** ifindex of the outgoing interface. */
  oif?: number;
  /** ifindex of the input interface (simulates a forwarded packet; give `src` too for IPv4). */
  iif?: number;
  mark?: number;
}

/**
 * Filters applied by the kernel to a route dump. `table` defaults to main,
 * like `ip route`; `'all'` lists every table. Cached (cloned) routes are
 * never listed. On IPv4, a table that does not exist is ENOENT.
 */
export interface RouteFilter {
  table?: RouteTable | 'all';
  /** Only routes out of this ifindex. */
  link?: number;
  protocol?: RouteProtocol | number;
  family?: 4 | 6;
  type?: RouteType | number;
}

/** Every named {@link RouteType}. */
export const ROUTE_TYPES: readonly RouteType[] = lazyList(() => schema().route.types);
/** Every named {@link RouteProtocol}. */
export const ROUTE_PROTOCOLS: readonly RouteProtocol[] = lazyList(() => schema().route.protocols);

const ifindex = v.ifindex;
const u32 = (f: string, x: unknown) => v.uint(f, x);
// rtmsg fields: a name from the addon's list or a number up to max.
const named = (names: () => readonly string[], max: number, min = 0): Check => (f, x) => (typeof x === 'number' ? v.uint(f, x, max, min) : v.oneOf(f, x, names()));
const typeArg = named(() => compiled().types, 0xff);
/** @internal */
export const protocolArg = named(() => compiled().protocols, 0xff);
/** @internal */
export const tableArg = named(() => compiled().tables, 0xffffffff, 1);
// The one next-hop flag user space sets.
const ONLINK = ['onlink'] as const;
const onlinkOnly: Check = (f, x) => {
  if (!Array.isArray(x)) throw new RtnlInputError(f, 'expected an array of flag names');
  return x.map((fl, i) => v.oneOf(`${f}[${i}]`, fl, ONLINK));
};

// Checkers from the addon's tables and field sets, made on first use.
const compiled = lazy(() => {
  const s = schema().route;
  const metrics = checks(s.metrics);
  return { ...s, attrChecks: checks(s.attrs), metricChecks: metrics, metricKeys: new Set(Object.keys(metrics)) };
});
const NEXTHOP_KEYS = new Set(['gateway', 'link', 'weight', 'flags']);
const nexthopChecks = { gateway: v.ip, link: ifindex, weight: (fl: string, y: unknown) => v.uint(fl, y, 256, 1), flags: onlinkOnly };

function metricsArg(f: string, x: unknown): Record<string, unknown> {
  if (!x || typeof x !== 'object') throw new RtnlInputError(f, 'expected an object');
  const c = compiled();
  v.noExtraKeys(x, `${f}.`, c.metricKeys);
  return v.pick(x as Record<string, unknown>, `${f}.`, c.metricChecks);
}

function nexthopsArg(f: string, x: unknown): Record<string, unknown>[] {
  if (!Array.isArray(x) || x.length === 0) throw new RtnlInputError(f, 'expected a non-empty array of next hops');
  return x.map((nh: NexthopSpec, i) => {
    const p = `${f}[${i}].`;
    if (!nh || typeof nh !== 'object') throw new RtnlInputError(`${f}[${i}]`, 'expected { gateway, link, weight, flags }');
    v.noExtraKeys(nh, p, NEXTHOP_KEYS);
    if (nh.gateway === undefined && nh.link === undefined) throw new RtnlInputError(`${f}[${i}]`, 'needs a gateway or a link');
    return v.pick(nh, p, nexthopChecks);
  });
}

// The family from dst, else the explicit family, else a gateway.
function familyOf(s: RouteSpec, dst: { family: 4 | 6 } | undefined): 4 | 6 {
  if (s.family !== undefined) familyArg('family', s.family);
  if (dst) {
    if (s.family !== undefined && s.family !== dst.family) throw new RtnlInputError('family', `dst is IPv${dst.family}`);
    return dst.family;
  }
  if (s.family) return s.family;
  const gw = s.gateway ?? s.nexthops?.[0]?.gateway;
  const f = typeof gw === 'string' ? ipFamily(gw) : undefined;
  if (f) return f;
  throw new RtnlInputError('family', "required for a 'default' route without a gateway");
}

// rtmsg fields and attributes that need the family or a struct; the rest is the addon's table (compiled().attrChecks).
const headerChecks = { table: tableArg, scope: scopeArg, protocol: protocolArg, type: typeArg, tos: (f: string, x: unknown) => v.uint(f, x, 0xff), metrics: metricsArg, flags: onlinkOnly, nexthops: nexthopsArg, gateway: v.ip };
const specKeys = lazy(() => new Set(['dst', 'family', 'src', ...Object.keys(headerChecks), ...Object.keys(compiled().attrChecks)]));
const GET_KEYS = new Set(['src', 'oif', 'iif', 'mark']);
const getChecks = { oif: ifindex, iif: ifindex, mark: u32 };
const FILTER_KEYS = new Set(['table', 'link', 'protocol', 'family', 'type']);
const filterChecks = {
  table: (fl: string, x: unknown) => (x === 'all' ? x : tableArg(fl, x)), link: ifindex, protocol: protocolArg, type: typeArg,
  family: familyArg,
};

/** @internal Validates a route spec into the native codec's argument. */
export function routeSpecArg(s: RouteSpec): Record<string, unknown> {
  if (!s || typeof s !== 'object') throw new RtnlInputError('route', 'expected { dst, ... }');
  v.noExtraKeys(s, '', specKeys());
  if (s.dst === undefined) throw new RtnlInputError('dst', "required: a prefix or 'default'");
  const dst = s.dst === 'default' ? undefined : cidr('dst', s.dst);
  const family = familyOf(s, dst);
  const out: Record<string, unknown> = { family };
  if (dst && dst.len > 0) {
    out.dst = dst.ip;
    out.dstLen = dst.len;
  }
  if (s.src !== undefined) {
    const src = cidr('src', s.src);
    if (src.family !== family) throw new RtnlInputError('src', `must be IPv${family} like dst`);
    out.src = src.ip;
    out.srcLen = src.len;
  }
  if (s.gateway !== undefined && s.nexthops !== undefined) throw new RtnlInputError('gateway', 'give gateway/link or nexthops, not both');
  v.pick(s, '', headerChecks, out);
  // prefsrc is checked against the route's family after pick (the checkers are shared, the family is not).
  v.pick(s, '', compiled().attrChecks, out);
  if (out.prefsrc !== undefined) v.ip('prefsrc', out.prefsrc, family);
  if (out.pref !== undefined && family !== 6) throw new RtnlInputError('pref', 'IPv6 routes only');
  return out;
}

/** @internal */
export function routeGetArg(dst: string, o: RouteGetOptions = {}): Record<string, unknown> {
  const family = ipFamily(v.ip('dst', dst))!;
  v.noExtraKeys(o, '', GET_KEYS);
  const out: Record<string, unknown> = { family, dst };
  if (o.src !== undefined) out.src = v.ip('src', o.src, family);
  return v.pick(o, '', getChecks, out);
}

/** @internal */
export function routeFilterArg(f: RouteFilter = {}): Record<string, unknown> {
  v.noExtraKeys(f, '', FILTER_KEYS);
  const out = v.pick(f, '', filterChecks);
  // Main by default, like `ip route`; 'all' sends no table filter.
  if (out.table === undefined) out.table = 'main';
  else if (out.table === 'all') delete out.table;
  return out;
}

/** @internal How a route is named in errors. */
export function routeLabel(s: RouteSpec): string {
  return typeof s?.dst === 'string' ? s.dst : '';
}
