/**
 * The one validator of a node record, used wherever a record enters the
 * agent: read from etcd (`parseNodeRecord`), from a static file, and
 * again by the policy and the backends (which may be handed records by a
 * caller of their own). It checks what a record says on its own; what it
 * means next to other records (overlaps, the network's bounds, duplicates)
 * is the policy's and the static file's concern.
 * @module
 */
import { RtnlInputError } from '../errors.js';
import { type Cidr, type Ip, formatIp, isNetwork, parseCidr, parseIp, withPrefix } from '../ipam/ip.js';
import type { NodeRecord } from './types.js';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Whether m (lower case) can name one VTEP: a well-formed MAC, not multicast/broadcast, not all zeros. */
export const isVtepMac = (m: string): boolean => MAC_RE.test(m) && (parseInt(m.slice(0, 2), 16) & 1) === 0 && m !== '00:00:00:00:00:00';

/** Why `ip` cannot be a node's underlay address (loopback, unspecified, multicast, broadcast); undefined when it is a unicast address. */
export function underlayProblem(ip: Ip): string | undefined {
  const v = ip.value;
  if (ip.family === 4) {
    if (v >> 24n === 127n) return 'a loopback address';
    if (v >> 24n === 0n) return 'an unspecified ("this network") address';
    if (v >> 28n === 0xen) return 'a multicast address';
    if (v === 0xffffffffn) return 'the broadcast address';
    if (v >> 28n === 0xfn) return 'a reserved (240.0.0.0/4) address';
    return undefined;
  }
  if (v === 1n) return 'a loopback address';
  if (v === 0n) return 'the unspecified address';
  if (v >> 120n === 0xffn) return 'a multicast address';
  if (v >> 32n === 0xffffn) return 'an IPv4-mapped address';
  return undefined;
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** A record that passed {@link checkNodeRecord}, with its subnet and underlay parsed (so callers need not parse them again). */
export interface CheckedRecord {
  record: NodeRecord;
  subnet: Cidr;
  underlay: Ip;
}

/**
 * Checks a node record and returns it canonical (RFC 5952 addresses, a
 * lower-case MAC, the subnet as prefix/len): `name` a non-empty string,
 * `underlay` a unicast IPv4 or IPv6 address, `subnet` a prefix without host
 * bits, `vtepMac` a unicast MAC when present (and present when `needsVtepMac`:
 * the VXLAN backend's records carry one, host-gw's need none). Throws
 * {@link RtnlInputError} naming `${at}field`.
 */
export function checkNodeRecord(x: unknown, at = '', needsVtepMac = false): NodeRecord {
  return checkRecord(x, at, needsVtepMac).record;
}

/** {@link checkNodeRecord}, also returning the parsed subnet and underlay. */
export function checkRecord(x: unknown, at = '', needsVtepMac = false): CheckedRecord {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new RtnlInputError(at.replace(/\.$/, '') || 'record', `expected an object { name, underlay, vtepMac, subnet }, got ${show(x)}`);
  const { name, underlay, vtepMac, subnet } = x as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') throw new RtnlInputError(`${at}name`, `expected a non-empty string, got ${show(name)}`);
  const ul = typeof underlay === 'string' ? parseIp(underlay) : undefined;
  if (!ul) throw new RtnlInputError(`${at}underlay`, `expected an IPv4 or IPv6 address, got ${show(underlay)}`);
  const bad = underlayProblem(ul);
  if (bad) throw new RtnlInputError(`${at}underlay`, `${underlay as string} is ${bad}`);
  const sub = typeof subnet === 'string' ? parseCidr(subnet) : undefined;
  if (!sub || !isNetwork(sub)) throw new RtnlInputError(`${at}subnet`, `expected a prefix without host bits, got ${show(subnet)}`);
  let mac: string | undefined;
  if (vtepMac !== undefined || needsVtepMac) {
    mac = typeof vtepMac === 'string' ? vtepMac.toLowerCase() : '';
    if (!isVtepMac(mac)) throw new RtnlInputError(`${at}vtepMac`, `expected a unicast MAC like 02:42:0a:f4:01:00, got ${show(vtepMac)}`);
  }
  // In the order the lease writes them: the agent compares its own record as etcd holds it with what it wrote.
  const record: NodeRecord = {
    name, underlay: canonical(underlay as string, ul), ...(mac === undefined ? {} : { vtepMac: mac }), subnet: canonical(subnet as string, sub.cidr.net, sub.cidr.prefix),
  };
  return { record, subnet: sub.cidr, underlay: ul };
}

/**
 * The canonical text of an address (with `/prefix` when given). Dotted quads
 * that parsed are canonical already (the parser refuses leading zeros), so
 * only IPv6 text, whose spellings vary, is formatted again.
 */
function canonical(text: string, ip: Ip, prefix?: number): string {
  if (prefix === undefined) return ip.family === 4 ? text : formatIp(ip);
  return ip.family === 4 ? `${text.slice(0, text.indexOf('/'))}/${prefix}` : withPrefix(ip, prefix);
}
