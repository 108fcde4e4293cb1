/**
 * The bridge forwarding database, as `bridge fdb`: MAC entries on bridge
 * ports and on VXLAN devices (remote VTEPs). Every FDB request is AF_BRIDGE;
 * it can never create an ARP/NDP entry (see {@link Neighbour} for those).
 * @module
 */
import { RtnlInputError } from './errors.js';
import * as v from './validate.js';

/**
 * Which table the entry goes to: `self` is the device's own FDB (a VXLAN
 * device's remote VTEPs, a NIC's unicast filter), `master` the FDB of the
 * bridge the device is a port of.
 */
export type FdbTarget = 'self' | 'master';

/**
 * `permanent`: never ages; on a bridge (`master`) it means the MAC is local to
 * this host and frames to it are not forwarded to the port. `static`: never
 * ages, forwarded to the port. `dynamic`: ages out like a learned entry.
 */
export type FdbState = 'permanent' | 'static' | 'dynamic';
const STATES: readonly FdbState[] = ['permanent', 'static', 'dynamic'];

/**
 * Flags an entry can be written with: `extern_learn` (learned by a control
 * plane), `sticky` (the bridge never moves it to another port), `router`
 * (vxlan: the remote is a router), `use` (only refresh the entry).
 */
export type FdbWriteFlag = 'extern_learn' | 'sticky' | 'router' | 'use';
/** Flags the kernel reports on an entry: the writable ones and `offload` (in hardware). */
export type FdbFlag = Exclude<FdbWriteFlag, 'use'> | 'offload';
const WRITE_FLAGS: readonly FdbWriteFlag[] = ['extern_learn', 'sticky', 'router', 'use'];

/** An FDB entry to write (`bridge fdb add/append/replace`). */
export interface FdbSpec {
  /** The MAC address; `00:00:00:00:00:00` on a VXLAN device is the flood entry (one remote per {@link Verbs.fdbAppend}). */
  mac: string;
  /** ifindex of the bridge port or VXLAN device. */
  link: number;
  /** Default `self`, as `bridge fdb add` (what a VXLAN device needs); `master` for a bridge's table. */
  target?: FdbTarget;
  /** Default `permanent`, as `bridge fdb add`; use `static` for a bridge port entry. */
  state?: FdbState;
  /** vxlan: the remote VTEP's IP. */
  dst?: string;
  /** vxlan: the VNI to send with (default: the device's). */
  vni?: number;
  /** vxlan: the remote's UDP port (default: the device's). */
  port?: number;
  /** vxlan with `external`: the source VNI the entry belongs to. */
  srcVni?: number;
  /** The VLAN (1-4094): needs a bridge with vlan_filtering. */
  vlan?: number;
  flags?: FdbWriteFlag[];
}

/**
 * An FDB entry to delete. On a VXLAN device, `dst` (with `vni`/`port`)
 * deletes one remote of the entry; without it, the whole entry goes.
 */
export type FdbRef = Omit<FdbSpec, 'state' | 'flags'>;

/** Filters applied by the kernel to an FDB dump. */
export interface FdbFilter {
  /** Only entries on this port or device (ifindex). */
  link?: number;
  /** Only entries of this bridge and its ports (ifindex). */
  master?: number;
}

/**
 * An FDB entry as the kernel reports it. `family: 'bridge'` tells it apart
 * from a {@link Neighbour} (family 4 or 6) when both arrive as
 * RTM_NEWNEIGH/RTM_DELNEIGH events. A VXLAN entry with several remotes comes
 * as one FdbEntry per remote.
 */
export interface FdbEntry {
  family: 'bridge';
  mac: string;
  /** ifindex of the port or device. */
  link: number;
  target: FdbTarget;
  /** ifindex of the bridge, for `master` entries. */
  master?: number;
  /** `stale`: a dynamic entry past its ageing time. A number for NUD bits rtnl has no name for. */
  state: FdbState | 'stale' | number;
  flags: FdbFlag[];
  dst?: string;
  /** Only when it differs from the device's VNI. */
  vni?: number;
  /** Only when it differs from the device's port. */
  port?: number;
  srcVni?: number;
  vlan?: number;
}

// ---- validation: what the native codec reads ----

const ifindex = v.ifindex;
// v.ip lets through a zone (`fe80::1%eth0`), which has no place on the wire.
const ipAddr = (f: string, x: unknown) => {
  if (v.ip(f, x).includes('%')) throw new RtnlInputError(f, `expected an address without a zone, got ${v.show(x)}`);
  return x as string;
};
const vni = (f: string, x: unknown) => v.uint(f, x, 0xffffff);
const TARGETS = ['self', 'master'] as const;
const keyChecks = {
  mac: v.mac, link: ifindex, target: (f: string, x: unknown) => v.oneOf(f, x, TARGETS), dst: ipAddr,
  vni, port: (f: string, x: unknown) => v.uint(f, x, 0xffff, 1), srcVni: vni, vlan: (f: string, x: unknown) => v.uint(f, x, 4094, 1),
};
// Field sets made once, not per request.
const REF_KEYS = new Set(Object.keys(keyChecks));
const SPEC_KEYS = new Set([...REF_KEYS, 'state', 'flags']);
const FILTER_KEYS = new Set(['link', 'master']);
// The keys of most entries: with no other, `common` tells the codec not to
// look for vni, port, srcVni and vlan (each look a crossing into the JS engine).
const COMMON_KEYS = new Set(['mac', 'link', 'target', 'dst', 'state', 'flags']);

function markCommon(out: Record<string, unknown>): Record<string, unknown> {
  for (const k in out) if (!COMMON_KEYS.has(k)) return out;
  out.common = true;
  return out;
}
const filterChecks = { link: ifindex, master: ifindex };

function fdbKey(x: FdbRef, known: ReadonlySet<string>): Record<string, unknown> {
  if (!x || typeof x !== 'object') throw new RtnlInputError('spec', 'expected an FDB entry object');
  v.noExtraKeys(x, '', known);
  if (x.mac === undefined) throw new RtnlInputError('mac', 'required');
  if (x.link === undefined) throw new RtnlInputError('link', 'required');
  const out = v.pick(x, '', keyChecks);
  out.target ??= 'self';
  return out;
}

/** @internal */
export function fdbSpecArg(s: FdbSpec): Record<string, unknown> {
  const out = fdbKey(s, SPEC_KEYS);
  out.state = s.state === undefined ? 'permanent' : v.oneOf('state', s.state, STATES);
  if (s.flags !== undefined) {
    if (!Array.isArray(s.flags)) throw new RtnlInputError('flags', 'expected an array of flag names');
    out.flags = s.flags.map((f, i) => v.oneOf(`flags[${i}]`, f, WRITE_FLAGS));
  }
  return markCommon(out);
}

/** @internal */
export function fdbRefArg(r: FdbRef): Record<string, unknown> {
  return markCommon(fdbKey(r, REF_KEYS));
}

/** @internal */
export function fdbFilterArg(f: FdbFilter = {}): Record<string, unknown> {
  if (typeof f !== 'object' || f === null) throw new RtnlInputError('filter', 'expected an object');
  v.noExtraKeys(f, '', FILTER_KEYS);
  return v.pick(f, '', filterChecks);
}

/** @internal A short name for an entry in error messages. */
export function fdbLabel(x: { mac?: unknown; link?: unknown }): string {
  return `${String(x?.mac)} dev ${String(x?.link)}`;
}
