/**
 * Neighbours: the ARP (IPv4) and NDP (IPv6) tables, as `ip neigh`. The
 * address family always follows the IP address, so a neighbour request can
 * never reach the bridge FDB (see {@link FdbEntry} for that).
 * @module
 */
import { RtnlInputError } from './errors.js';
import { checks, lazy, lazyList, schema } from './schema.js';
import * as v from './validate.js';

/** Neighbour Unreachability Detection state (NUD_*), as `ip neigh ... nud X` names it. */
export type NeighState = 'permanent' | 'noarp' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed' | 'incomplete' | 'none';
/** Every {@link NeighState}. */
export const NEIGH_STATES: readonly NeighState[] = lazyList(() => schema().neigh.states);

/**
 * Flags a neighbour can be written with: `proxy` (a proxy ARP/NDP entry, kept
 * in its own table), `router` (IPv6: the neighbour is a router),
 * `extern_learn` (learned by a control plane, kept across link flaps),
 * `use` (only refresh the entry's use time), `managed` (the kernel keeps it
 * resolved; kernel 5.16+).
 */
export type NeighWriteFlag = 'proxy' | 'router' | 'extern_learn' | 'use' | 'managed';
/** Flags the kernel reports on a neighbour: the writable ones and `offload` (in hardware). */
export type NeighFlag = Exclude<NeighWriteFlag, 'use'> | 'offload';

/** A neighbour to write (`ip neigh add/replace`). */
export interface NeighSpec {
  /** The neighbour's IPv4 or IPv6 address; it chooses the table (ARP or NDP). */
  address: string;
  /** ifindex of the device the neighbour is on. */
  link: number;
  /** Its link-layer (MAC) address; not needed for `proxy` entries. */
  lladdr?: string;
  /** Default `permanent`, as `ip neigh add`. Ignored by the kernel for `proxy` entries. */
  state?: NeighState;
  flags?: NeighWriteFlag[];
}

/** A neighbour to delete. */
export interface NeighRef {
  address: string;
  link: number;
  /** Delete from the proxy table instead. */
  proxy?: boolean;
}

/** Filters applied by the kernel to a neighbour dump. */
export interface NeighFilter {
  /** Only neighbours on this device (ifindex). */
  link?: number;
  /** Only neighbours on ports of this master (ifindex): a VRF, a bridge. */
  master?: number;
  /** Only ARP (4) or NDP (6). */
  family?: 4 | 6;
  /** List the proxy table instead of the neighbour cache (`ip neigh show proxy`). */
  proxy?: boolean;
}

/**
 * A neighbour as the kernel reports it. `family` (4 or 6) tells it apart
 * from an {@link FdbEntry} (`family: 'bridge'`) when both arrive as
 * RTM_NEWNEIGH/RTM_DELNEIGH events.
 */
export interface Neighbour {
  family: 4 | 6;
  address: string;
  /** ifindex of the device. */
  link: number;
  lladdr?: string;
  /** A number only for a combination of NUD bits rtnl has no name for. */
  state: NeighState | number;
  flags: NeighFlag[];
}

// ---- validation: what the native codec reads ----

const ifindex = v.ifindex;

// Checkers from the addon's tables, made on first use.
const compiled = lazy(() => {
  const s = schema().neigh;
  const { address, lladdr } = checks(s.attrs, ['address', 'lladdr']);
  return { address: address!, lladdr: lladdr!, states: s.states, writeFlags: [...s.writeFlags, ...s.extFlags] };
});
// Field sets made once, not per request.
const SPEC_KEYS = new Set(['address', 'link', 'lladdr', 'state', 'flags']);
const REF_KEYS = new Set(['address', 'link', 'proxy']);
const FILTER_KEYS = new Set(['link', 'master', 'family', 'proxy']);
const filterChecks = {
  link: ifindex, master: ifindex, proxy: v.bool,
  family: (fl: string, x: unknown) => { if (x !== 4 && x !== 6) throw new RtnlInputError(fl, `expected 4 or 6, got ${v.show(x)}`); return x; },
};

function flagList(x: unknown): string[] {
  if (!Array.isArray(x)) throw new RtnlInputError('flags', 'expected an array of flag names');
  const names = compiled().writeFlags;
  return x.map((f, i) => v.oneOf(`flags[${i}]`, f, names));
}

/** @internal */
export function neighSpecArg(s: NeighSpec): Record<string, unknown> {
  if (!s || typeof s !== 'object') throw new RtnlInputError('spec', 'expected a neighbour spec object');
  v.noExtraKeys(s, '', SPEC_KEYS);
  const c = compiled(), out = neighKey(s);
  if (s.lladdr !== undefined) out.lladdr = c.lladdr('lladdr', s.lladdr);
  out.state = s.state === undefined ? 'permanent' : v.oneOf('state', s.state, c.states);
  if (s.flags !== undefined) out.flags = flagList(s.flags);
  return out;
}

/** @internal */
export function neighRefArg(r: NeighRef): Record<string, unknown> {
  if (!r || typeof r !== 'object') throw new RtnlInputError('ref', 'expected { address, link }');
  v.noExtraKeys(r, '', REF_KEYS);
  const out = neighKey(r);
  if (r.proxy !== undefined && v.bool('proxy', r.proxy)) out.flags = ['proxy'];
  return out;
}

function neighKey(x: { address?: unknown; link?: unknown }): Record<string, unknown> {
  if (x.address === undefined) throw new RtnlInputError('address', 'required');
  if (x.link === undefined) throw new RtnlInputError('link', 'required');
  return { address: compiled().address('address', x.address), link: ifindex('link', x.link) };
}

/** @internal */
export function neighFilterArg(f: NeighFilter = {}): Record<string, unknown> {
  if (typeof f !== 'object' || f === null) throw new RtnlInputError('filter', 'expected an object');
  v.noExtraKeys(f, '', FILTER_KEYS);
  return v.pick(f, '', filterChecks);
}

/** @internal A short name for a neighbour in error messages. */
export function neighLabel(x: { address?: unknown; link?: unknown }): string {
  return `${String(x?.address)} dev ${String(x?.link)}`;
}
