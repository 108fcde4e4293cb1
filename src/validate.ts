// Checks run on every argument before it crosses into native code, so that
// bad input fails with a clear RtnlInputError and nothing is half-made.
import { RtnlInputError } from './errors.js';
import { isPlainObject, show } from './primitives/json.js';

export { show } from './primitives/json.js';
export { bool, ifindex, ifname, ip, mac, mtu, str, uint } from './primitives/check.js';

export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new RtnlInputError(field, `expected one of ${allowed.join(', ')}, got ${show(v)}`);
  return v as T;
}

/**
 * Copies the defined fields of src through their checkers into out (a new
 * object unless given): `undefined` stays "not sent". Fields without a
 * checker are left for the caller (src is a plain object, its keys already
 * checked by {@link noExtraKeys}).
 */
export function pick<T extends object>(src: T, prefix: string, checks: { [K in keyof T]?: (field: string, v: unknown) => unknown }, out: Record<string, unknown> = {}): Record<string, unknown> {
  // src's keys, not the checkers': a request names a few of the many fields
  // it could, and this runs for every request. for-in: no array per call.
  for (const key in src) {
    const check = checks[key];
    const v = src[key];
    if (check !== undefined && v !== undefined && Object.hasOwn(checks, key)) out[key] = check(prefix + key, v);
  }
  return out;
}

/** Rejects keys the caller passed that the spec does not know (likely typos). */
export function noExtraKeys(src: object, prefix: string, known: ReadonlySet<string>): void {
  if (!isPlainObject(src)) throw new RtnlInputError(prefix ? prefix.slice(0, -1) : 'filter', `expected an object, got ${show(src)}`);
  for (const k in src) {
    if (!known.has(k) && (src as Record<string, unknown>)[k] !== undefined) throw new RtnlInputError(prefix + k, 'unknown field');
  }
}
