/**
 * The agent's checks of its callers' options and of what it reads from etcd,
 * on the shared primitives: each failure is an {@link RtnlInputError}
 * naming the field.
 * @module
 */
import { RtnlInputError } from '../index.js';
import { ipFamily } from '../primitives/ip.js';
import { show } from '../primitives/json.js';
import { cStringProblem, isMac } from '../primitives/names.js';

/** A string of at most 255 bytes without NUL (names and keys end up in C strings and etcd keys). */
export function str(field: string, v: unknown): string {
  if (typeof v !== 'string') throw new RtnlInputError(field, `expected a string, got ${show(v)}`);
  const problem = cStringProblem(v, 255);
  if (problem) throw new RtnlInputError(field, problem);
  return v;
}

/** An integer from `min` to `max`. */
export function uint(field: string, v: unknown, max: number, min: number): number {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw new RtnlInputError(field, `expected an integer from ${min} to ${max}, got ${show(v)}`);
  return v as number;
}

/** An IPv4 or IPv6 address, as given. */
export function ip(field: string, v: unknown): string {
  if (typeof v !== 'string' || !ipFamily(v)) throw new RtnlInputError(field, `expected an IPv4 or IPv6 address, got ${show(v)}`);
  return v;
}

/** A MAC address, in lower case. */
export function mac(field: string, v: unknown): string {
  if (!isMac(v)) throw new RtnlInputError(field, `expected a MAC address like 02:00:00:00:00:01, got ${show(v)}`);
  return v.toLowerCase();
}
