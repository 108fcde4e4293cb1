/**
 * The bridge forwarding database, as `bridge fdb`: MAC entries on bridge
 * ports and on VXLAN devices (remote VTEPs). Every FDB request is AF_BRIDGE;
 * it can never create an ARP/NDP entry (see {@link Neighbour} for those).
 * @module
 */
import { RtnlInputError } from './errors.js';
import { checks, lazy, lazyList, schema } from './schema.js';
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
/** Every {@link FdbState}. */
export const FDB_STATES: readonly FdbState[] = lazyList(() => schema().fdb.states);

/**
 * Flags an entry can be written with: `extern_learn` (learned by a control
 * plane), `sticky` (the bridge never moves it to another port), `router`
 * (vxlan: the remote is a router), `use` (only refresh the entry).
 */
export type FdbWriteFlag = 'extern_learn' | 'sticky' | 'router' | 'use';
/** Flags the kernel reports on an entry: the writable ones and `offload` (in hardware). */
export type FdbFlag = Exclude<FdbWriteFlag, 'use'> | 'offload';

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
// NTF_SELF / NTF_MASTER: ndm_flags bits, not an attribute.
const TARGETS = ['self', 'master'] as const;
// Checkers (the attributes' from the addon's table) and field sets, made on first use.
const compiled = lazy(() => {
  const s = schema().fdb;
  const keyChecks = { link: ifindex, target: (f: string, x: unknown) => v.oneOf(f, x, TARGETS), ...checks(s.attrs) };
  const refKeys = new Set(Object.keys(keyChecks));
  return { keyChecks, refKeys, specKeys: new Set([...refKeys, 'state', 'flags']), states: s.states, writeFlags: s.writeFlags };
});
const FILTER_KEYS = new Set(['link', 'master']);
const filterChecks = { link: ifindex, master: ifindex };

function fdbKey(x: FdbRef, spec: boolean): Record<string, unknown> {
  if (!x || typeof x !== 'object') throw new RtnlInputError('spec', 'expected an FDB entry object');
  const c = compiled();
  v.noExtraKeys(x, '', spec ? c.specKeys : c.refKeys);
  if (x.mac === undefined) throw new RtnlInputError('mac', 'required');
  if (x.link === undefined) throw new RtnlInputError('link', 'required');
  const out = v.pick(x, '', c.keyChecks);
  out.target ??= 'self';
  return out;
}

/** @internal */
export function fdbSpecArg(s: FdbSpec): Record<string, unknown> {
  const c = compiled(), out = fdbKey(s, true);
  out.state = s.state === undefined ? 'permanent' : v.oneOf('state', s.state, c.states);
  if (s.flags !== undefined) {
    if (!Array.isArray(s.flags)) throw new RtnlInputError('flags', 'expected an array of flag names');
    out.flags = s.flags.map((f, i) => v.oneOf(`flags[${i}]`, f, c.writeFlags));
  }
  return out;
}

/** @internal */
export function fdbRefArg(r: FdbRef): Record<string, unknown> {
  return fdbKey(r, false);
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
