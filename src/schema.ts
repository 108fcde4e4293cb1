/**
 * The addon's attribute tables (native/attrs.h: one declaration per
 * attribute, with its netlink type, wire format, limits and enum names) and
 * the validators derived from them. Validation here is the only check of
 * what crosses into the encoder; the codec modules (link, route...) add
 * hand-written code only for rules a table cannot say (a veth needs a peer,
 * remote excludes group...).
 *
 * The tables are read on first use, not at import: a startup snapshot (see
 * src/plugin/snapshot.ts) evaluates the modules where no addon can load.
 * @module
 */
import { addon } from './native.js';
import * as v from './validate.js';

/** How an attribute is carried (the C++ `Wire`). */
export type WireType = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 'be16' | 'be32' | 'bool8' | 'bool32' | 'flag' | 'str' | 'ifname' | 'mac' | 'ip' | 'ip4' | 'ip6' | 'enum';

/** One attribute as the addon declares it. */
export interface AttrSchema {
  /** The JS field. */
  key: string;
  wire: WireType;
  /** Integers: the accepted range; strings: `max` is the byte limit. */
  min: number;
  max: number;
  /** `enum`: the accepted names. */
  names?: string[];
}

/** A link kind: its attributes (IFLA_INFO_DATA), the fields a spec must give, and whether rtnl only decodes it (tun). */
export interface KindSchema {
  attrs: AttrSchema[];
  required: string[];
  decodeOnly: boolean;
}

/** What the addon's `schema()` returns, per message type. */
export interface Schema {
  link: { common: AttrSchema[]; state: AttrSchema[]; bridgePort: AttrSchema[]; operStates: string[]; flags: string[]; kinds: Record<string, KindSchema>; ports: Record<string, AttrSchema[]> };
  addr: { attrs: AttrSchema[]; scopes: string[]; flags4: string[]; flags6: string[]; settableFlags: string[] };
  route: { attrs: AttrSchema[]; metrics: AttrSchema[]; types: string[]; protocols: string[]; scopes: string[]; tables: string[]; nexthopFlags: string[]; flags: string[] };
  neigh: { attrs: AttrSchema[]; states: string[]; flags: string[]; extFlags: string[]; writeFlags: string[] };
  fdb: { attrs: AttrSchema[]; states: string[]; flags: string[]; writeFlags: string[] };
  rule: { attrs: AttrSchema[]; actions: string[]; flags: string[] };
  nexthop: { attrs: AttrSchema[]; groupTypes: string[] };
  tc: { htb: AttrSchema[]; qdiscKinds: string[]; classKinds: string[] };
  tcFilter: { kinds: string[]; protocols: string[]; actionKinds: string[]; directions: string[]; mirredActions: string[]; controls: string[] };
}

/** A field's validator: returns the value the codec reads, or throws RtnlInputError naming `field`. */
export type Check = (field: string, x: unknown) => unknown;

let loaded: Schema | undefined;

/** The addon's tables (loaded once). */
export function schema(): Schema {
  return (loaded ??= (addon() as unknown as { schema(): Schema }).schema());
}

/** make(), computed on the first call and kept. */
export function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

/** The validator an attribute's declaration implies. */
export function check(a: AttrSchema): Check {
  switch (a.wire) {
    case 'bool8': case 'bool32': case 'flag': return v.bool;
    case 'str': return (f, x) => v.str(f, x, a.max);
    case 'ifname': return v.ifname;
    case 'mac': return v.mac;
    case 'ip': return v.ip;
    case 'ip4': return (f, x) => v.ip(f, x, 4);
    case 'ip6': return (f, x) => v.ip(f, x, 6);
    case 'enum': {
      const names = a.names!;
      return (f, x) => v.oneOf(f, x, names);
    }
    default: return (f, x) => v.uint(f, x, a.max, a.min);
  }
}

/** Validators by field for attrs, as v.pick takes them; only the keys in `only` when given (in that order). */
export function checks(attrs: readonly AttrSchema[], only?: readonly string[]): Record<string, Check> {
  const out: Record<string, Check> = {};
  if (only) for (const k of only) out[k] = check(attrs.find((a) => a.key === k) ?? missing(k));
  else for (const a of attrs) out[a.key] = check(a);
  return out;
}

/** The names of an `enum` attribute. */
export function enumNames(attrs: readonly AttrSchema[], key: string): string[] {
  return (attrs.find((a) => a.key === key) ?? missing(key)).names!;
}

function missing(key: string): never {
  throw new Error(`rtnl: the addon declares no attribute '${key}' (stale build?)`);
}

/**
 * A read-only list filled from the addon on first read, for the exported
 * name lists (LINK_KINDS...): importing them loads nothing.
 */
export function lazyList<T extends string>(names: () => readonly string[]): readonly T[] {
  const list: T[] = [];
  const fill = () => {
    if (list.length === 0) list.push(...(names() as T[]));
    return list;
  };
  return new Proxy(list, {
    get: (_, p) => Reflect.get(fill(), p),
    has: (_, p) => Reflect.has(fill(), p),
    ownKeys: () => Reflect.ownKeys(fill()),
    getOwnPropertyDescriptor: (_, p) => Reflect.getOwnPropertyDescriptor(fill(), p),
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  });
}
