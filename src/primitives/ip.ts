/**
 * IP addresses and prefixes: parsing (no `node:net`: it costs a CNI plugin
 * ~10 ms of start-up), arithmetic on bigints, and the canonical text form
 * (RFC 5952, as Go's net.IP.String) that names host-local's files and keys
 * the agent's records.
 * @module
 */
/** An address: family and value (32 or 128 bits). */
export interface Ip {
  family: 4 | 6;
  value: bigint;
}

/** A prefix: the network address and the prefix length. */
export interface Cidr {
  /** The network address (host bits zero). */
  net: Ip;
  prefix: number;
}

/** Bits in an address of `family`. */
export const bits = (family: 4 | 6): number => (family === 4 ? 32 : 128);

/** Groups read by {@link scan}: one buffer, no allocation per address (validation reads thousands a batch). */
const groups = new Uint16Array(8);

/** The family of a textual IPv4 or IPv6 address (no zone), or undefined when it is not one: the check alone, without the value. */
export function ipFamily(s: string): 4 | 6 | undefined {
  return scan(s);
}

/** Parses a textual IPv4 or IPv6 address (no zone); undefined when not one. */
export function parseIp(s: string): Ip | undefined {
  const family = scan(s);
  if (family === undefined) return undefined;
  let value = 0n;
  for (let i = family === 4 ? 6 : 0; i < 8; i++) value = (value << 16n) | BigInt(groups[i]!);
  return { family, value };
}

/**
 * Reads `s` into {@link groups} (IPv4: the last two) and returns its family.
 * IPv4 is a dotted quad without leading zeros (as Go and inet_pton read it);
 * IPv6 is up to eight groups of 1-4 hex digits, one `::` for one or more zero
 * groups, and an optional dotted-quad tail counting as two.
 */
function scan(s: string): 4 | 6 | undefined {
  if (!s.includes(':')) {
    const v = v4(s, 0);
    if (v < 0) return undefined;
    groups[6] = v / 65536;
    groups[7] = v % 65536;
    return 4;
  }
  let i = 0, n = 0, gap = -1;
  if (s.charCodeAt(0) === COLON) {
    if (s.charCodeAt(1) !== COLON) return undefined;
    gap = 0;
    i = 2;
  }
  while (i < s.length) {
    if (n === 8) return undefined;
    let j = i, g = 0;
    for (let d; j < s.length && j - i < 5 && (d = hexDigit(s.charCodeAt(j))) >= 0; j++) g = g * 16 + d;
    if (s.charCodeAt(j) === DOT) {
      const v = n > 6 ? -1 : v4(s, i);
      if (v < 0) return undefined;
      groups[n++] = v / 65536;
      groups[n++] = v % 65536;
      break;
    }
    if (j === i || j - i > 4) return undefined;
    groups[n++] = g;
    if (j === s.length) break;
    if (s.charCodeAt(j) !== COLON) return undefined;
    i = j + 1;
    if (s.charCodeAt(i) === COLON) {
      if (gap >= 0) return undefined;
      gap = n;
      i++;
    } else if (i === s.length) return undefined; // a trailing single ':'
  }
  if (gap < 0) return n === 8 ? 6 : undefined;
  if (n > 7) return undefined; // '::' stands for one group at least
  const tail = n - gap;
  groups.copyWithin(8 - tail, gap, n);
  groups.fill(0, gap, 8 - tail);
  return 6;
}

const COLON = 58, DOT = 46;

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20; // ASCII lower case
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** The dotted quad from `start` to the end of `s`, as a number; -1 when it is not one. */
function v4(s: string, start: number): number {
  let value = 0, i = start;
  for (let part = 0; part < 4; part++) {
    if (part > 0 && s.charCodeAt(i++) !== DOT) return -1;
    const begin = i;
    let o = 0;
    for (let c; i < s.length && i - begin < 4 && (c = s.charCodeAt(i) - 48) >= 0 && c <= 9; i++) o = o * 10 + c;
    const len = i - begin;
    if (len === 0 || len > 3 || o > 255 || (len > 1 && s.charCodeAt(begin) === 48)) return -1;
    value = value * 256 + o;
  }
  return i === s.length ? value : -1;
}

/**
 * The canonical text of an address, as Go prints it: dotted quad (also for
 * IPv4-mapped IPv6), or RFC 5952 (longest run of 2+ zero groups as `::`).
 */
export function formatIp(ip: Ip): string {
  if (ip.family === 6 && ip.value >> 32n === 0xffffn) return formatIp({ family: 4, value: ip.value & 0xffffffffn });
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 0xffn)).join('.');
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Parses `addr/len` (host bits allowed: see {@link isNetwork}). Undefined when malformed. */
export function parseCidr(s: string): { addr: Ip; cidr: Cidr } | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIp(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (!addr || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  if (prefix > bits(addr.family)) return undefined;
  return { addr, cidr: { net: { family: addr.family, value: addr.value & mask(addr.family, prefix) }, prefix } };
}

/** The netmask of a prefix length, as a value. */
function mask(family: 4 | 6, prefix: number): bigint {
  const b = BigInt(bits(family));
  return ((1n << b) - 1n) ^ ((1n << (b - BigInt(prefix))) - 1n);
}

/** The last address of a prefix (the IPv4 broadcast). */
export function lastOf(c: Cidr): bigint {
  return c.net.value | ((1n << BigInt(bits(c.net.family) - c.prefix)) - 1n);
}

/** Whether `ip` lies in `c`. */
export function contains(c: Cidr, ip: Ip): boolean {
  return ip.family === c.net.family && (ip.value & mask(ip.family, c.prefix)) === c.net.value;
}

/** Whether a parsed `addr/len` has no host bits set: it names a network, e.g. `10.1.0.0/16`. */
export function isNetwork(p: { addr: Ip; cidr: Cidr }): boolean {
  return p.addr.value === p.cidr.net.value;
}

/** `a/len` text of an address within a prefix. */
export function withPrefix(ip: Ip, prefix: number): string {
  return `${formatIp(ip)}/${prefix}`;
}
