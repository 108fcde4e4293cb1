/**
 * Interface addresses: what you assign ({@link AddrSpec}) and what the
 * kernel reports ({@link Address}). Lifetimes are seconds; `Infinity` is the
 * kernel's "forever" both ways (note that `JSON.stringify` prints it as null).
 * @module
 */
import { RtnlInputError } from './errors.js';
import { ipFamily } from './primitives/ip.js';
import { checks, lazy, lazyList, schema } from './schema.js';
import * as v from './validate.js';

/** Address (and route) scopes as iproute2 names them; other scopes are numbers. */
export type Scope = 'universe' | 'site' | 'link' | 'host' | 'nowhere';

/** Flags an address can be created with (IFA_FLAGS). */
export type AddrSettableFlag = 'nodad' | 'optimistic' | 'homeaddress' | 'managetempaddr' | 'noprefixroute' | 'mcautojoin';
/** Flags the kernel reports; `secondary` (IPv4) and `temporary` (IPv6) are the same bit. */
export type AddrFlag = AddrSettableFlag | 'secondary' | 'temporary' | 'dadfailed' | 'deprecated' | 'tentative' | 'permanent' | 'stableprivacy';

/** An address to assign (`ip addr add`). */
export interface AddrSpec {
  /** ifindex of the interface. */
  link: number;
  /** The address with its prefix length, e.g. `10.1.0.2/24` or `fd00::2/64`; without one, a host prefix (/32, /128). */
  address: string;
  /** The remote end on a point-to-point link (`peer`); the prefix length of `address` then applies to it. */
  peer?: string;
  /** IPv4 broadcast address. */
  broadcast?: string;
  /** IPv4 label, e.g. `eth0:1` (at most 15 bytes); the kernel defaults it to the interface name. */
  label?: string;
  scope?: Scope | number;
  flags?: AddrSettableFlag[];
  /** Valid lifetime in seconds, or Infinity (the default). */
  validLft?: number;
  /** Preferred lifetime in seconds, or Infinity; defaults to `validLft` (the kernel refuses preferred > valid). */
  preferredLft?: number;
}

/** Identifies an address to delete: the interface and the address with its prefix; `peer` narrows the match but is not needed. */
export type AddrRef = Pick<AddrSpec, 'link' | 'address' | 'peer'>;

/** An address as the kernel reports it. */
export interface Address {
  family: 4 | 6;
  /** ifindex of the interface. */
  link: number;
  /** `local/prefixLen`, e.g. `10.1.0.2/24`. */
  address: string;
  /** The address itself (IFA_LOCAL, or IFA_ADDRESS when there is no IFA_LOCAL). */
  local: string;
  prefixLen: number;
  /** The remote end, on point-to-point addresses. */
  peer?: string;
  broadcast?: string;
  /** IPv4 label. */
  label?: string;
  scope: Scope | number;
  flags: AddrFlag[];
  /** Seconds left, or Infinity. */
  validLft?: number;
  /** Seconds left, or Infinity. */
  preferredLft?: number;
}

/** Filters applied by the kernel to an address dump. */
export interface AddrFilter {
  /** Only addresses on this ifindex. */
  link?: number;
  /** Only IPv4 or only IPv6 addresses. */
  family?: 4 | 6;
}

/** Every named {@link Scope}. */
export const SCOPES: readonly Scope[] = lazyList(() => schema().addr.scopes);
/** Every {@link AddrSettableFlag}. */
export const ADDR_SETTABLE_FLAGS: readonly AddrSettableFlag[] = lazyList(() => schema().addr.settableFlags);
const scopes = lazy(() => schema().addr.scopes);
const settable = lazy(() => schema().addr.settableFlags);

/** @internal An IP address with an optional `/len`, split; the length defaults to the host length. */
export function cidr(field: string, x: unknown): { ip: string; len: number; family: 4 | 6 } {
  if (typeof x !== 'string') throw new RtnlInputError(field, `expected an address like 10.0.0.1/24 or fd00::1/64, got ${v.show(x)}`);
  // indexOf, not split: no array per address.
  const slash = x.indexOf('/');
  const ip = slash < 0 ? x : x.slice(0, slash), len = slash < 0 ? undefined : x.slice(slash + 1);
  const family = ipFamily(ip);
  if (!family || len?.includes('/')) throw new RtnlInputError(field, `expected an address like 10.0.0.1/24 or fd00::1/64, got ${x}`);
  const max = family === 4 ? 32 : 128;
  if (len === undefined) return { ip, len: max, family };
  // 1 to 3 decimal digits, read by hand: this runs for every route.
  let n = len.length > 0 && len.length <= 3 ? 0 : -1;
  for (let i = 0; n >= 0 && i < len.length; i++) {
    const d = len.charCodeAt(i) - 48;
    n = d >= 0 && d <= 9 ? n * 10 + d : -1;
  }
  if (n < 0 || n > max) throw new RtnlInputError(field, `prefix length must be 0 to ${max}, got ${len}`);
  return { ip, len: n, family };
}

/** @internal A scope name or number. */
export function scopeArg(field: string, x: unknown): Scope | number {
  return typeof x === 'number' ? v.uint(field, x, 0xff) : v.oneOf(field, x, scopes() as readonly Scope[]);
}

/** @internal An IP family as a filter takes it. */
export function familyArg(field: string, x: unknown): 4 | 6 {
  if (x !== 4 && x !== 6) throw new RtnlInputError(field, `expected 4 or 6, got ${v.show(x)}`);
  return x;
}

const ifindex = v.ifindex;
const lifetime = (f: string, x: unknown) => (x === Infinity ? x : v.uint(f, x, 0xfffffffe));

// Field sets and checkers made once, not per request.
const REF_KEYS = new Set(['link', 'address', 'peer']);
const specKeys = lazy(() => new Set([...REF_KEYS, ...Object.keys(specChecks), ...Object.keys(attrChecks())]));
const FILTER_KEYS = new Set(['link', 'family']);
// broadcast and label from the addon's table; the header fields and lifetimes by hand.
const attrChecks = lazy(() => checks(schema().addr.attrs));
const specChecks = {
  scope: scopeArg,
  flags: (f: string, x: unknown) => {
    if (!Array.isArray(x)) throw new RtnlInputError(f, 'expected an array of flag names');
    const names = settable();
    return x.map((fl, i) => v.oneOf(`${f}[${i}]`, fl, names));
  },
  validLft: lifetime, preferredLft: lifetime,
};
const filterChecks = { link: ifindex, family: familyArg };

function addrBase(a: AddrRef, known: ReadonlySet<string>): Record<string, unknown> {
  if (!a || typeof a !== 'object') throw new RtnlInputError('address', 'expected { link, address, ... }');
  v.noExtraKeys(a, '', known);
  if (a.link === undefined) throw new RtnlInputError('link', 'required');
  const c = cidr('address', a.address);
  const out: Record<string, unknown> = { link: ifindex('link', a.link), local: c.ip, prefixLen: c.len };
  if (a.peer !== undefined) out.peer = v.ip('peer', a.peer, c.family);
  return out;
}

/** @internal Validates an address spec into the native codec's argument. */
export function addrSpecArg(a: AddrSpec): Record<string, unknown> {
  const out = v.pick(a, '', attrChecks(), v.pick(a, '', specChecks, addrBase(a, specKeys())));
  if (out.broadcast !== undefined) {
    if (cidr('address', a.address).family !== 4) throw new RtnlInputError('broadcast', 'IPv4 addresses only');
    v.ip('broadcast', out.broadcast, 4);
  }
  const valid = (out.validLft ?? Infinity) as number, pref = (out.preferredLft ?? valid) as number;
  if (pref > valid) throw new RtnlInputError('preferredLft', `must not exceed validLft (${valid})`);
  return out;
}

/** @internal */
export function addrRefArg(a: AddrRef): Record<string, unknown> {
  return addrBase(a, REF_KEYS);
}

/** @internal */
export function addrFilterArg(f: AddrFilter = {}): Record<string, unknown> {
  v.noExtraKeys(f, '', FILTER_KEYS);
  return v.pick(f, '', filterChecks);
}

/** @internal How an address is named in errors. */
export function addrLabel(a: AddrRef): string {
  return `${String(a?.address)} on ifindex ${String(a?.link)}`;
}
