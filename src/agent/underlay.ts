/**
 * The node's underlay device, which the backends size their MTU by (and the
 * VXLAN device sits on): named (`--iface`), or the device holding the
 * node's underlay address.
 * @module
 */
import { type Handle, RtnlInputError } from '../index.js';
import { formatIp, parseIp } from '../primitives/ip.js';

/**
 * An address in canonical text (RFC 5952), as the addon's inet_ntop reports
 * addresses: so the kernel's and a record's can be compared as strings.
 */
export const canonIp = (s: string): string | undefined => {
  const ip = parseIp(s);
  return ip && formatIp(ip);
};

/** The underlay device's ifindex and MTU: `name`, else the device holding `local` (canonical). */
export function underlayLink(h: Handle, local: string, family: 4 | 6, name?: string): { index: number; mtu: number } {
  if (name !== undefined) {
    const l = h.linkGet(name);
    return { index: l.index, mtu: l.mtu! };
  }
  const a = h.addrList({ family }).find((x) => canonIp(x.local) === local);
  if (!a) throw new RtnlInputError('local', `no device in this namespace has the address ${local}; name the underlay device`);
  const l = h.linkGet(a.link);
  return { index: l.index, mtu: l.mtu! };
}
