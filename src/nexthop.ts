/**
 * Next-hop objects (`ip nexthop`): a gateway and/or device, a blackhole, or
 * a group of other next hops, kept by the kernel under an id that routes
 * then use (`nhid` in a route spec) instead of carrying their own
 * paths, as modern kernels and FRR do. Changing the object changes every
 * route that uses it.
 * @module
 */
import { familyArg } from './addr.js';
import { RtnlInputError } from './errors.js';
import type { NexthopFlag, RouteProtocol } from './route.js';
import { protocolArg } from './route.js';
import { ipFamily } from './primitives/ip.js';
import { type Check, checks, lazy, schema } from './schema.js';
import * as v from './validate.js';

/** How a group spreads flows: `mpath` (hash-threshold, the default) or `resilient` (hash buckets that move slowly). */
export type NexthopGroupType = 'mpath' | 'resilient';

/** A member of a next-hop group. */
export interface NexthopGroupMember {
  /** The id of an existing single next hop. */
  id: number;
  /** Relative weight, 1 to 256 (default 1). */
  weight?: number;
}

/** Settings of a resilient group (`type resilient buckets N idle_timer S unbalanced_timer S`). */
export interface ResilientSpec {
  /** Number of hash buckets, 1 to 65535 (kernel default 128). */
  buckets?: number;
  /** Seconds a bucket must be idle before it may move to another next hop. */
  idleTimer?: number;
  /** Seconds the group may stay unbalanced before buckets move even if busy (0: never). */
  unbalancedTimer?: number;
}

/**
 * A next-hop object to create or replace (`ip nexthop add|replace`). Give
 * exactly one of: `gateway` and/or `link`; `blackhole`; `group`.
 */
export interface NexthopObjectSpec {
  /** The id routes refer to, 1 to 2^32-1; without one the kernel picks it (and it is only seen in a list). */
  id?: number;
  /** Default: the gateway's family, else 4 (as `ip nexthop`). Groups have none. */
  family?: 4 | 6;
  /** Gateway address (`via`). */
  gateway?: string;
  /** ifindex of the outgoing device (`dev`). */
  link?: number;
  /** `onlink`: use the gateway even if no route on the device covers it. */
  flags?: 'onlink'[];
  /** Drop packets (`blackhole`). */
  blackhole?: boolean;
  /** A next hop of bridge FDB entries (vxlan remotes), not of routes (`fdb`): gateway only, or a group of such. */
  fdb?: boolean;
  /** Members of a group (`group ID[,WEIGHT]/...`). */
  group?: NexthopGroupMember[];
  /** Group type; default mpath. */
  groupType?: NexthopGroupType;
  /** Resilient group settings (with `groupType: 'resilient'`). */
  resilient?: ResilientSpec;
  /** Who installed it (`proto`). */
  protocol?: RouteProtocol | number;
}

/** A next-hop object as the kernel reports it. */
export interface NexthopObject {
  id: number;
  /** Absent for groups. */
  family?: 4 | 6;
  protocol: RouteProtocol | number;
  flags: NexthopFlag[];
  gateway?: string;
  link?: number;
  blackhole?: boolean;
  fdb?: boolean;
  /** Members, each with its weight. */
  group?: Required<NexthopGroupMember>[];
  groupType?: NexthopGroupType;
  /** A resilient group's settings, in seconds, and how long it has been unbalanced. */
  resilient?: Required<ResilientSpec> & { unbalancedTime: number };
}

/**
 * Filters of a next-hop list (`ip nexthop show dev X | groups | master M |
 * fdb | id N`). `family`, `link`, `master` and `groups` are applied by the
 * kernel. It takes no id in a dump and ignores an FDB filter there (`ip
 * nexthop show fdb` lists every next hop), so rtnl applies `id` and `fdb`
 * to what it returns (still one request).
 */
export interface NexthopFilter {
  /** Only the next hop with this id (an empty list if there is none; {@link Verbs.nexthopGet} throws ENOENT instead). */
  id?: number;
  family?: 4 | 6;
  /** Only next hops out of this ifindex. */
  link?: number;
  /** Only next hops whose device is a port of this master (v.ifindex, e.g. a VRF). */
  master?: number;
  /** Only groups. */
  groups?: boolean;
  /** Only FDB next hops. */
  fdb?: boolean;
}

// ---- validation: what the native codec reads ----

// The attributes' checks come from the addon's table (native/codec_nexthop.cc);
// written here: nhmsg's fields, the group and resilient structs, and the
// rules between fields.
const seconds = (f: string, x: unknown) => v.uint(f, x, Math.floor(0xffffffff / 100)); // clock_t ticks in a u32
const ONLINK = ['onlink'] as const;
const MEMBER_KEYS = new Set(['id', 'weight']);
const RESILIENT_KEYS = new Set(['buckets', 'idleTimer', 'unbalancedTimer']);
const resilientChecks = { buckets: (f: string, x: unknown) => v.uint(f, x, 0xffff, 1), idleTimer: seconds, unbalancedTimer: seconds };

function groupArg(f: string, x: unknown): Record<string, unknown>[] {
  if (!Array.isArray(x) || x.length === 0) throw new RtnlInputError(f, 'expected a non-empty array of { id, weight }');
  return x.map((m: unknown, i) => {
    if (!m || typeof m !== 'object') throw new RtnlInputError(`${f}[${i}]`, 'expected { id, weight }');
    v.noExtraKeys(m, `${f}[${i}].`, MEMBER_KEYS);
    if ((m as NexthopGroupMember).id === undefined) throw new RtnlInputError(`${f}[${i}].id`, 'required');
    return v.pick(m as NexthopGroupMember, `${f}[${i}].`, compiled().member);
  });
}

function resilientArg(f: string, x: unknown): Record<string, unknown> {
  if (!x || typeof x !== 'object') throw new RtnlInputError(f, 'expected an object');
  v.noExtraKeys(x, `${f}.`, RESILIENT_KEYS);
  return v.pick(x as ResilientSpec, `${f}.`, resilientChecks);
}

// Field sets and checkers made once (on first use), not per request.
const compiled = lazy(() => {
  const s = schema().nexthop;
  const attrs = checks(s.attrs);
  const id = attrs.id!;
  const spec: Record<string, Check> = {
    ...attrs, group: groupArg, groupType: (f, x) => v.oneOf(f, x, s.groupTypes), resilient: resilientArg, protocol: protocolArg,
    // Of the next-hop flags, the one a request sets.
    flags: (f, x) => {
      if (!Array.isArray(x)) throw new RtnlInputError(f, 'expected an array of flag names');
      return x.map((fl, i) => v.oneOf(`${f}[${i}]`, fl, ONLINK));
    },
  };
  return {
    id, spec, specKeys: new Set([...Object.keys(spec), 'family']),
    member: { id, weight: (f: string, x: unknown) => v.uint(f, x, 256, 1) },
    filter: { id, family: familyArg, link: attrs.link!, master: v.ifindex, groups: v.bool, fdb: v.bool },
  };
});
const FILTER_KEYS = new Set(['id', 'family', 'link', 'master', 'groups', 'fdb']);

/** @internal Validates a next-hop spec into the native codec's argument. */
export function nexthopSpecArg(s: NexthopObjectSpec): Record<string, unknown> {
  if (!s || typeof s !== 'object') throw new RtnlInputError('nexthop', 'expected a next-hop spec object');
  const c = compiled();
  v.noExtraKeys(s, '', c.specKeys);
  const out = v.pick(s, '', c.spec);
  const group = out.group !== undefined;
  if (group) {
    for (const k of ['gateway', 'link', 'blackhole', 'flags', 'family'] as const)
      if ((k === 'family' ? s.family : out[k]) !== undefined) throw new RtnlInputError(k, 'a group takes only its members, groupType, resilient, fdb and protocol');
  } else {
    if (out.groupType !== undefined || out.resilient !== undefined) throw new RtnlInputError(out.groupType !== undefined ? 'groupType' : 'resilient', 'only for a group');
    if (out.blackhole && (out.gateway !== undefined || out.link !== undefined)) throw new RtnlInputError('blackhole', 'takes no gateway or link');
    if (!out.blackhole && out.gateway === undefined && out.link === undefined) throw new RtnlInputError('nexthop', 'needs a gateway, a link, blackhole or a group');
    // The family: the gateway's, else as given, else IPv4 (as `ip nexthop`).
    const gw = out.gateway === undefined ? undefined : ipFamily(out.gateway as string);
    const family = s.family === undefined ? (gw ?? 4) : familyArg('family', s.family);
    if (gw && gw !== family) throw new RtnlInputError('gateway', `must be IPv${family}`);
    out.family = family;
  }
  if (out.resilient !== undefined && out.groupType !== 'resilient') throw new RtnlInputError('resilient', "needs groupType 'resilient'");
  return out;
}

/** @internal An id argument of nexthopDel/nexthopGet. */
export function nexthopIdArg(x: number): Record<string, unknown> {
  return { id: compiled().id('id', x) };
}

/** @internal */
export function nexthopFilterArg(f: NexthopFilter = {}): Record<string, unknown> {
  v.noExtraKeys(f, '', FILTER_KEYS);
  return v.pick(f, '', compiled().filter); // groups/fdb: false filters nothing, as if not given
}

/** @internal The id and FDB filters, on what the kernel returns (arg as nexthopFilterArg made it). */
export function nexthopListPost(arg: NexthopFilter): ((nhs: NexthopObject[]) => NexthopObject[]) | undefined {
  const { id, fdb } = arg;
  if (id === undefined && !fdb) return undefined;
  return (nhs) => nhs.filter((nh) => (id === undefined || nh.id === id) && (!fdb || nh.fdb));
}

/** @internal How a next hop is named in errors. */
export function nexthopLabel(s: NexthopObjectSpec | number): string {
  const n = typeof s === 'number' ? s : s?.id;
  return n === undefined ? '' : `id ${String(n)}`;
}
