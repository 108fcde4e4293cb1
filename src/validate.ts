// Checks run on every argument before it crosses into native code, so that
// bad input fails with a clear RtnlInputError and nothing is half-made.
import { RtnlInputError } from './errors.js';
import { ipFamily } from './primitives/ip.js';
import { isPlainObject, show } from './primitives/json.js';
import { IFINDEX_MAX, cStringProblem, ifnameProblem, isIfindex, isMac } from './primitives/names.js';

export { show } from './primitives/json.js';

/** Interface names as the kernel's dev_valid_name() accepts them. */
export function ifname(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new RtnlInputError(field, 'expected a non-empty interface name');
  const problem = ifnameProblem(v);
  if (problem) throw new RtnlInputError(field, `${show(v)} is not a valid interface name: it ${problem}`);
  return v;
}

/** An MTU: the kernel keeps it in an int, so 2^31 and above would be read as negative. */
export function mtu(field: string, v: unknown): number {
  return uint(field, v, 0x7fffffff);
}

/** An ifindex: the kernel keeps it in an int, and 0 names no interface. */
export function ifindex(field: string, v: unknown): number {
  if (!isIfindex(v)) throw new RtnlInputError(field, `expected an ifindex (an integer from 1 to ${IFINDEX_MAX}), got ${show(v)}`);
  return v;
}

export function uint(field: string, v: unknown, max = 0xffffffff, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RtnlInputError(field, `expected an integer from ${min} to ${max}, got ${show(v)}`);
  return v;
}

export function bool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new RtnlInputError(field, `expected true or false, got ${show(v)}`);
  return v;
}

export function str(field: string, v: unknown, maxBytes = 255): string {
  if (typeof v !== 'string') throw new RtnlInputError(field, 'expected a string');
  const problem = cStringProblem(v, maxBytes);
  if (problem) throw new RtnlInputError(field, problem);
  return v;
}

export function mac(field: string, v: unknown): string {
  if (!isMac(v))
    throw new RtnlInputError(field, `expected a MAC address like 02:00:00:00:00:01, got ${show(v)}`);
  return v.toLowerCase();
}

export function ip(field: string, v: unknown, family?: 4 | 6): string {
  // No zone ("fe80::1%eth0"): netlink carries none.
  const f = typeof v === 'string' ? ipFamily(v) : undefined;
  if (!f || (family && f !== family)) throw new RtnlInputError(field, `expected an IPv${family ?? '4 or IPv6'} address, got ${show(v)}`);
  return v as string;
}

export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new RtnlInputError(field, `expected one of ${allowed.join(', ')}, got ${show(v)}`);
  return v as T;
}

/**
 * Copies the defined fields of src through their checkers into out (a new
 * object unless given): `undefined` stays "not sent".
 */
export function pick<T extends object>(src: T, prefix: string, checks: { [K in keyof T]?: (field: string, v: unknown) => unknown }, out: Record<string, unknown> = {}): Record<string, unknown> {
  // for-in, not Object.keys: no array per call (checks are plain object literals).
  for (const key in checks) {
    const v = src[key];
    if (v !== undefined) out[key] = checks[key]!(prefix + key, v);
  }
  return out;
}

/** Rejects keys the caller passed that the spec does not know (likely typos). */
export function noExtraKeys(src: object, prefix: string, known: ReadonlySet<string>): void {
  if (!isPlainObject(src)) throw new RtnlInputError(prefix ? prefix.slice(0, -1) : 'filter', `expected an object, got ${show(src)}`);
  for (const k of Object.keys(src)) {
    if (!known.has(k) && (src as Record<string, unknown>)[k] !== undefined) throw new RtnlInputError(prefix + k, 'unknown field');
  }
}
