/**
 * Field checks on the shared rules: each returns the value or throws an
 * {@link RtnlInputError} naming the field. The library validates every
 * argument with them before it crosses into native code; the consumers (the
 * agent's records and options) use the same ones.
 * @module
 */
import { RtnlInputError } from './input-error.js';
import { ipFamily } from './ip.js';
import { show } from './json.js';
import { IFINDEX_MAX, cStringProblem, ifnameProblem, isIfindex, isMac } from './names.js';

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

/** An integer from `min` to `max`. */
export function uint(field: string, v: unknown, max = 0xffffffff, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RtnlInputError(field, `expected an integer from ${min} to ${max}, got ${show(v)}`);
  return v;
}

/** true or false. */
export function bool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new RtnlInputError(field, `expected true or false, got ${show(v)}`);
  return v;
}

/** A string of at most `maxBytes` bytes of UTF-8, without NUL (it ends up in a C string). */
export function str(field: string, v: unknown, maxBytes = 255): string {
  if (typeof v !== 'string') throw new RtnlInputError(field, `expected a string, got ${show(v)}`);
  const problem = cStringProblem(v, maxBytes);
  if (problem) throw new RtnlInputError(field, problem);
  return v;
}

/** A MAC address, returned in lower case. */
export function mac(field: string, v: unknown): string {
  if (!isMac(v))
    throw new RtnlInputError(field, `expected a MAC address like 02:00:00:00:00:01, got ${show(v)}`);
  return v.toLowerCase();
}

/** An IPv4 or IPv6 address (of `family` when given), without a zone. */
export function ip(field: string, v: unknown, family?: 4 | 6): string {
  // No zone ("fe80::1%eth0"): netlink carries none.
  const f = typeof v === 'string' ? ipFamily(v) : undefined;
  if (!f || (family && f !== family)) throw new RtnlInputError(field, `expected an IPv${family ?? '4 or IPv6'} address, got ${show(v)}`);
  return v as string;
}
