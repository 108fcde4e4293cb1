// Checks run on every argument before it crosses into native code, so that
// bad input fails with a clear RtnlInputError and nothing is half-made.
import { isIP } from 'node:net';
import { RtnlInputError } from './errors.js';

/** Interface names as the kernel's dev_valid_name() accepts them. */
export function ifname(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new RtnlInputError(field, 'expected a non-empty interface name');
  if (Buffer.byteLength(v) > 15) throw new RtnlInputError(field, `'${v}' is longer than 15 bytes (IFNAMSIZ - 1)`);
  if (v === '.' || v === '..' || /[/:\s]/.test(v)) throw new RtnlInputError(field, `'${v}' is not a valid interface name (no '/', ':' or whitespace)`);
  return v;
}

export function uint(field: string, v: unknown, max = 0xffffffff, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RtnlInputError(field, `expected an integer from ${min} to ${max}, got ${String(v)}`);
  return v;
}

export function bool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new RtnlInputError(field, `expected true or false, got ${String(v)}`);
  return v;
}

export function str(field: string, v: unknown, maxBytes = 255): string {
  if (typeof v !== 'string') throw new RtnlInputError(field, 'expected a string');
  if (Buffer.byteLength(v) > maxBytes) throw new RtnlInputError(field, `longer than ${maxBytes} bytes`);
  return v;
}

export function mac(field: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v))
    throw new RtnlInputError(field, `expected a MAC address like 02:00:00:00:00:01, got ${String(v)}`);
  return v.toLowerCase();
}

export function ip(field: string, v: unknown, family?: 4 | 6): string {
  // isIP accepts zoned IPv6 ("fe80::1%eth0"); netlink carries no zone.
  const f = typeof v === 'string' && !v.includes('%') ? isIP(v) : 0;
  if (!f || (family && f !== family)) throw new RtnlInputError(field, `expected an IPv${family ?? '4 or IPv6'} address, got ${String(v)}`);
  return v as string;
}

export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new RtnlInputError(field, `expected one of ${allowed.join(', ')}, got ${String(v)}`);
  return v as T;
}

/** Copies the defined fields of src through their checkers: `undefined` stays "not sent". */
export function pick<T extends object>(src: T, prefix: string, checks: { [K in keyof T]?: (field: string, v: unknown) => unknown }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // for-in, not Object.keys: no array per call (checks are plain object literals).
  for (const key in checks) {
    const v = src[key];
    if (v !== undefined) out[key] = checks[key]!(prefix + key, v);
  }
  return out;
}

/** Rejects keys the caller passed that the spec does not know (likely typos). */
export function noExtraKeys(src: object, prefix: string, known: ReadonlySet<string>): void {
  for (const k of Object.keys(src)) {
    if (!known.has(k) && (src as Record<string, unknown>)[k] !== undefined) throw new RtnlInputError(prefix + k, 'unknown field');
  }
}
