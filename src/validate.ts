// Checks run on every argument before it crosses into native code, so that
// bad input fails with a clear RtnlInputError and nothing is half-made.
import { isIP } from 'node:net';
import { RtnlInputError } from './errors.js';

/** A value for an error message: never throws (String() does on Object.create(null) and on objects whose toString throws). */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** Interface names as the kernel's dev_valid_name() accepts them. */
export function ifname(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new RtnlInputError(field, 'expected a non-empty interface name');
  if (Buffer.byteLength(v) > 15) throw new RtnlInputError(field, `${show(v)} is longer than 15 bytes (IFNAMSIZ - 1)`);
  // NUL too: the kernel reads the name as a C string, so 'br0\0x' would name br0.
  if (v === '.' || v === '..' || /[/:\s\0]/.test(v)) throw new RtnlInputError(field, `${show(v)} is not a valid interface name (no '/', ':', whitespace or NUL)`);
  return v;
}

/** An MTU: the kernel keeps it in an int, so 2^31 and above would be read as negative. */
export function mtu(field: string, v: unknown): number {
  return uint(field, v, 0x7fffffff);
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
  if (Buffer.byteLength(v) > maxBytes) throw new RtnlInputError(field, `longer than ${maxBytes} bytes`);
  if (v.includes('\0')) throw new RtnlInputError(field, 'contains a NUL byte (the kernel would cut the string there)');
  return v;
}

export function mac(field: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v))
    throw new RtnlInputError(field, `expected a MAC address like 02:00:00:00:00:01, got ${show(v)}`);
  return v.toLowerCase();
}

export function ip(field: string, v: unknown, family?: 4 | 6): string {
  // isIP accepts zoned IPv6 ("fe80::1%eth0"); netlink carries no zone.
  const f = typeof v === 'string' && !v.includes('%') ? isIP(v) : 0;
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
  // A plain object only: a Map, a Date or a Buffer has no fields of ours and would read as an empty spec.
  const proto = src && typeof src === 'object' ? Object.getPrototypeOf(src) : undefined;
  if (proto !== Object.prototype && proto !== null) throw new RtnlInputError(prefix ? prefix.slice(0, -1) : 'filter', `expected an object, got ${show(src)}`);
  for (const k of Object.keys(src)) {
    if (!known.has(k) && (src as Record<string, unknown>)[k] !== undefined) throw new RtnlInputError(prefix + k, 'unknown field');
  }
}
