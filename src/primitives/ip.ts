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

/** Parses a textual IPv4 or IPv6 address (no zone); undefined when not one. */
export function parseIp(s: string): Ip | undefined {
  if (!s.includes(':')) {
    const v = v4(s);
    return v === undefined ? undefined : { family: 4, value: v };
  }
  let text = s;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // An embedded IPv4 tail (e.g. ::ffff:1.2.3.4) is two groups.
    const t = v4(text.slice(lastColon + 1));
    if (t === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}${(t >> 16n).toString(16)}:${(t & 0xffffn).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const group = (h: string): number[] | undefined => {
    if (h === '') return [];
    const gs = h.split(':');
    return gs.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) ? gs.map((g) => parseInt(g, 16)) : undefined;
  };
  const head = group(halves[0]!);
  const tail = halves.length === 2 ? group(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  return { family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) };
}

/** Dotted quad to value; no leading zeros (as Go). */
function v4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
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
