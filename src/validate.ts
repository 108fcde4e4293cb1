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
