/**
 * Picks addresses from a range set: round robin after last_reserved_ip (as
 * host-local does), or random probing for blocks too large to walk.
 * @module
 */
import { CniError } from '../cni/index.js';
import { rangeText, type Range } from './config.js';
import { formatIp, lastOf, type Ip } from '../primitives/ip.js';
import type { Store } from './store.js';

/** Plugin-specific error codes of the IPAM plugin. */
export const IpamErrorCode = {
  /** A range set has no free address. */
  Exhausted: 100,
  /** A requested address is outside every range, the gateway, or held by another container. */
  RequestedUnavailable: 101,
  /** CHECK: the container holds no (or not the expected) address. */
  NotAllocated: 102,
} as const;

/** Text of a range set for messages, e.g. `10.1.0.0/24 (10.1.0.2-10.1.0.254)`. */
export function rangeSetText(set: Range[]): string {
  return set.map((r) => `${formatIp(r.subnet.net)}/${r.subnet.prefix} (${rangeText(r)})`).join(', ');
}

/** Whether `ip` may be handed out from `r`: inside start..end, not the gateway, network or IPv4 broadcast. */
export function usable(r: Range, value: bigint): boolean {
  return value >= r.start && value <= r.end && value !== r.gateway.value && value !== r.subnet.net.value
    && !(r.subnet.net.family === 4 && value === lastOf(r.subnet));
}

/** The range of the set holding `ip` within start..end, if any. */
export function rangeFor(set: Range[], ip: Ip): Range | undefined {
  return set.find((r) => r.subnet.net.family === ip.family && ip.value >= r.start && ip.value <= r.end);
}

/** Candidate addresses of a set in order, starting at position (range i, value v), wrapping around once. */
function* walk(set: Range[], i: number, v: bigint): Generator<[Range, bigint]> {
  const first = [i, v] as const;
  for (;;) {
    const r = set[i]!;
    yield [r, v];
    v += 1n;
    if (v > r.end) { i = (i + 1) % set.length; v = set[i]!.start; }
    if (i === first[0] && v === first[1]) return;
  }
}

/** Where round robin resumes: just after the last reserved address when it lies in the set. */
function resumePoint(set: Range[], last: Ip | undefined): [number, bigint] {
  const i = last ? set.findIndex((r) => r.subnet.net.family === last.family && last.value >= r.start && last.value <= r.end) : -1;
  if (i < 0 || !last) return [0, set[0]!.start];
  if (last.value < set[i]!.end) return [i, last.value + 1n];
  const n = (i + 1) % set.length;
  return [n, set[n]!.start];
}

/** A random bigint below n: spreading addresses needs no crypto (and node:crypto costs start-up time). */
function randomBelow(n: bigint): bigint {
  let r = 0n;
  for (let i = 0; i < 6; i++) r = (r << 32n) | BigInt(Math.floor(Math.random() * 2 ** 32));
  return r % n;
}

/** A uniformly random position in the set. */
function randomPoint(set: Range[]): [number, bigint] {
  const sizes = set.map((r) => r.end - r.start + 1n);
  let off = randomBelow(sizes.reduce((a, b) => a + b, 0n));
  for (let i = 0; i < set.length; i++) {
    if (off < sizes[i]!) return [i, set[i]!.start + off];
    off -= sizes[i]!;
  }
  return [0, set[0]!.start];
}

/** How many random probes before walking from the last one. */
const RANDOM_TRIES = 16;

/**
 * Reserves a free address of `set` for (id, ifname) and returns it with its
 * range; `taken` (names known to be held) is updated as collisions are found.
 * Exhaustion is error 100, naming the range set.
 */
export function allocate(
  store: Store, set: Range[], index: number, id: string, ifname: string, taken: Set<string>, mode: 'sequential' | 'random',
): { ip: Ip; range: Range } {
  const family = set[0]!.subnet.net.family;
  const tryAt = (r: Range, value: bigint): Ip | undefined => {
    if (!usable(r, value)) return undefined;
    const ip = { family, value };
    const name = formatIp(ip);
    if (taken.has(name)) return undefined;
    if (store.reserve(ip, id, ifname)) return ip;
    taken.add(name);
    return undefined;
  };
  let start: [number, bigint];
  if (mode === 'random') {
    for (let k = 0; k < RANDOM_TRIES; k++) {
      const [i, v] = randomPoint(set);
      const ip = tryAt(set[i]!, v);
      if (ip) return { ip, range: set[i]! };
    }
    start = randomPoint(set);
  } else {
    start = resumePoint(set, store.lastReserved(index));
  }
  for (const [r, v] of walk(set, ...start)) {
    const ip = tryAt(r, v);
    if (!ip) continue;
    if (mode === 'sequential') store.setLastReserved(index, ip);
    return { ip, range: r };
  }
  throw new CniError(IpamErrorCode.Exhausted, `no IP addresses available in range set ${index}`, rangeSetText(set));
}

/** Whether a set has at least one address free, judged by `taken` (for STATUS). */
export function hasFree(set: Range[], taken: Set<string>): boolean {
  const family = set[0]!.subnet.net.family;
  for (const [r, v] of walk(set, 0, set[0]!.start)) {
    if (usable(r, v) && !taken.has(formatIp({ family, value: v }))) return true;
  }
  return false;
}
