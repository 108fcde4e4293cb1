/**
 * Traffic control filters, as `tc filter`: the classifiers u32 and matchall,
 * and the mirred action, which redirects or mirrors packets to another
 * device. With the qdiscs of src/tc.ts that is what the CNI `bandwidth`
 * plugin builds: shaping a pod's egress means redirecting the host veth's
 * ingress to an ifb and shaping the ifb's egress.
 *
 * ```ts
 * // tc filter add dev hv0 parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ifb0
 * h.filterAdd({ kind: 'u32', link: hv0, parent: 'ffff:', actions: [{ kind: 'mirred', direction: 'egress', action: 'redirect', link: ifb0 }] });
 * ```
 *
 * Not supported: u32 hash tables and links (`ht`, `link`, `hashkey`),
 * `nexthdr` offsets and 8/16-bit keys (give the 32-bit key they pack into),
 * hardware offload flags (skip_hw, skip_sw), chains, and actions other than
 * mirred (read back as `generic`).
 * @module
 */
import { RtnlInputError } from './errors.js';
import { lazy, schema } from './schema.js';
import { type TcHandle, tcChecks } from './tc.js';
import * as v from './validate.js';

/** An Ethernet protocol a filter matches (tc's names; ETH_P_* in the kernel). */
export type FilterProtocol = 'all' | 'ip' | 'ipv6' | 'arp' | '802.1Q' | '802.1ad';

/**
 * What becomes of the packet after an action, as tc names it: `'stolen'`
 * (consumed: it went elsewhere), `'pipe'` (on to the next action), `'pass'`
 * (accepted, classification ends), `'drop'`, `'reclassify'`, `'continue'`
 * (on to the next filter), `'trap'`.
 */
export type TcControl = 'continue' | 'pass' | 'reclassify' | 'drop' | 'pipe' | 'stolen' | 'trap';

/**
 * The mirred action (`action mirred egress redirect dev X`): sends the
 * packet (redirect) or a copy (mirror) out of (egress) or into (ingress)
 * the device `link`.
 */
export interface MirredAction {
  kind: 'mirred';
  direction: 'egress' | 'ingress';
  action: 'redirect' | 'mirror';
  /** ifindex of the target device (an ifb, to shape traffic arriving on another). */
  link: number;
  /** Default as tc: `'stolen'` for a redirect, `'pipe'` for a mirror. */
  control?: TcControl;
}

/** An action a filter runs on a match (mirred only). */
export type TcAction = MirredAction;

/**
 * One 32-bit u32 key (`match u32 VALUE MASK at OFFSET`): matches when the
 * 4 bytes at `offset` of the network header, masked, equal `value`. Numbers
 * are as tc writes them (`0x0a000001` for 10.0.0.1).
 */
export interface U32Key {
  value: number;
  mask: number;
  /** Bytes from the network header (negative: into the link layer header). */
  offset: number;
}

interface FilterSpecBase {
  /** ifindex of the device. */
  link: number;
  /** The qdisc or class it classifies for: `'ffff:'` for the ingress qdisc, `'1:'`... */
  parent: TcHandle;
  /** The filter's priority (tc's `prio`/`pref`), 1 to 65535; the kernel picks one (from 49152 down) when absent. */
  prio?: number;
  /** Default `'all'`. */
  protocol?: FilterProtocol;
  /** The class a match goes to (tc's `classid`/`flowid`), `'1:10'`. */
  classid?: TcHandle;
  /** Run in order on a match. */
  actions?: TcAction[];
}

/**
 * A u32 filter (`tc filter ... u32`): matches packets on 32-bit keys of
 * their headers. No `match` is tc's `match u32 0 0`: everything.
 */
export interface U32FilterSpec extends FilterSpecBase {
  kind: 'u32';
  /** All must match. Default: one key matching everything. */
  match?: U32Key[];
  /** The key node to replace (`'800::800'`): the kernel numbers new ones. */
  handle?: string;
}

/** A matchall filter (`tc filter ... matchall`): every packet. Needs the kernel's cls_matchall. */
export interface MatchallFilterSpec extends FilterSpecBase {
  kind: 'matchall';
  /** The filter's handle (tc's `handle N`); the kernel picks one when absent. */
  handle?: number;
}

/** A filter to add or replace, by kind. */
export type FilterSpec = U32FilterSpec | MatchallFilterSpec;

/**
 * Filters to delete: all at `parent` of the device, or only those of
 * `prio` (and `protocol`, `kind`, `handle` narrowing it, as tc's `filter del`).
 */
export interface FilterRef {
  link: number;
  parent: TcHandle;
  prio?: number;
  protocol?: FilterProtocol;
  kind?: FilterSpec['kind'];
  /** With `kind`: a u32 key node (`'800::800'`) or a matchall handle. */
  handle?: string | number;
}

/** Whose filters {@link Verbs.filterList} reads: the kernel lists one device's, at one parent. */
export interface FilterListFilter {
  link: number;
  /** The qdisc or class (`'ffff:'` for ingress); default the device's root qdisc. */
  parent?: TcHandle;
}

/** A mirred action as the kernel reports it. */
export interface MirredActionInfo extends Required<MirredAction> {
  /** The action's index in the namespace's mirred table (tc's `index`). */
  index: number;
}

/** An action as the kernel reports it; other kinds than mirred with the kernel's name. */
export type TcActionInfo = MirredActionInfo | { kind: 'generic'; tcKind: string };

/** What every filter reports. */
export interface FilterBase {
  link: number;
  /** As tc prints it: `'ffff:'`. */
  parent: TcHandle;
  /** tc's `pref`. */
  prio: number;
  /** A name, or the EtherType as a number for others. */
  protocol: FilterProtocol | number;
  chain?: number;
}

/**
 * A u32 filter as the kernel lists it: as `tc filter show`, a prio's entry
 * (no handle), its hash table (`'800:'`, with `divisor`) and each key node
 * (`'800::800'`, with `match`, `terminal`, `classid`, `actions`).
 */
export interface U32Filter extends FilterBase {
  kind: 'u32';
  handle?: string;
  divisor?: number;
  classid?: TcHandle;
  /** Set when the node classifies or acts (a match then ends the lookup). */
  terminal?: boolean;
  match?: U32Key[];
  actions?: TcActionInfo[];
}

/** A matchall filter as the kernel lists it. */
export interface MatchallFilter extends FilterBase {
  kind: 'matchall';
  handle?: number;
  classid?: TcHandle;
  actions?: TcActionInfo[];
}

/** A filter of another classifier (`bpf`, `flower`...); `tcKind` is the kernel's name. */
export interface GenericFilter extends FilterBase {
  kind: 'generic';
  tcKind: string;
  handle?: number;
}

/** A filter as the kernel reports it, by kind. */
export type TcFilter = U32Filter | MatchallFilter | GenericFilter;

// ---- validation: what native/codec_tc_filter.cc reads ----
// The names come from the addon's schema (tcFilter); the rest are fields of
// the structs the codec fills (tcmsg, tc_u32_sel and its keys, tc_mirred).

const { required, handle } = tcChecks;
const object: (f: string, x: unknown, what: string) => asserts x is Record<string, unknown> = tcChecks.object;
const U32_HANDLE = /^[0-9a-f]{1,3}:([0-9a-f]{1,2})?(:[0-9a-f]{1,3})?$/i;
const u32Handle = (f: string, x: unknown) => {
  if (typeof x !== 'string' || !U32_HANDLE.test(x)) throw new RtnlInputError(f, `expected a u32 handle like '800::800' (hex), got ${v.show(x)}`);
  return x;
};
const prio = (f: string, x: unknown) => v.uint(f, x, 0xffff, 1);
const u32 = (f: string, x: unknown) => v.uint(f, x);
const KEY_KEYS = new Set(['value', 'mask', 'offset']);
const MAX_KEYS = 128; // tc's own limit on a selector's keys

const compiled = lazy(() => {
  const s = schema().tcFilter;
  const protocol = (f: string, x: unknown) => v.oneOf(f, x, s.protocols);
  const action = (f: string, x: unknown) => {
    object(f, x, 'an action object');
    v.oneOf(`${f}.kind`, x.kind, s.actionKinds);
    v.noExtraKeys(x, `${f}.`, ACTION_KEYS);
    required(x, ['direction', 'action', 'link'], 'a mirred action', `${f}.`);
    return v.pick(x, `${f}.`, {
      kind: () => x.kind,
      direction: (g, y) => v.oneOf(g, y, s.directions),
      action: (g, y) => v.oneOf(g, y, s.mirredActions),
      link: v.ifindex,
      control: (g, y) => v.oneOf(g, y, s.controls),
    });
  };
  const list = <T>(f: string, x: unknown, one: (g: string, y: unknown) => T, max: number): T[] => {
    if (!Array.isArray(x) || x.length === 0 || x.length > max) throw new RtnlInputError(f, `expected a list of 1 to ${max}`);
    return x.map((y, i) => one(`${f}[${i}]`, y));
  };
  const key = (f: string, x: unknown) => {
    object(f, x, '{ value, mask, offset }');
    v.noExtraKeys(x, `${f}.`, KEY_KEYS);
    required(x, ['value', 'mask', 'offset'], 'a u32 key', `${f}.`);
    const k = v.pick(x, `${f}.`, { value: u32, mask: u32, offset: (g, y) => v.uint(g, y, 0x7fffffff, -0x80000000) });
    // The kernel keeps value & mask: other bits would not read back.
    if (((k.value as number) & ~(k.mask as number)) !== 0) throw new RtnlInputError(`${f}.value`, 'has bits outside the mask');
    return k;
  };
  const common = { link: v.ifindex, parent: handle, prio, protocol, classid: handle, actions: (f: string, x: unknown) => list(f, x, action, 32 /* TCA_ACT_MAX_PRIO */) };
  const spec: Record<FilterSpec['kind'], Record<string, (f: string, x: unknown) => unknown>> = {
    u32: { ...common, match: (f, x) => list(f, x, key, MAX_KEYS), handle: u32Handle },
    matchall: { ...common, handle: u32 },
  };
  const keys = Object.fromEntries(Object.entries(spec).map(([k, c]) => [k, new Set(['kind', ...Object.keys(c)])]));
  return { s, spec, keys, protocol };
});
const ACTION_KEYS = new Set(['kind', 'direction', 'action', 'link', 'control']);
const REF_KEYS = new Set(['link', 'parent', 'prio', 'protocol', 'kind', 'handle']);
const LIST_KEYS = new Set(['link', 'parent']);

/** @internal */
export function filterSpecArg(s: FilterSpec): Record<string, unknown> {
  object('spec', s, 'a filter spec object');
  const c = compiled();
  const kind = v.oneOf('kind', s.kind, c.s.kinds as FilterSpec['kind'][]);
  v.noExtraKeys(s, '', c.keys[kind]!);
  required(s as unknown as Record<string, unknown>, ['link', 'parent'], `a ${kind} filter`);
  return { kind, protocol: 'all', ...v.pick(s, '', c.spec[kind]) };
}

/** @internal */
export function filterRefArg(r: FilterRef): Record<string, unknown> {
  object('ref', r, '{ link, parent, prio?, protocol?, kind?, handle? }');
  const c = compiled();
  v.noExtraKeys(r, '', REF_KEYS);
  required(r as unknown as Record<string, unknown>, ['link', 'parent'], 'filters to delete');
  if (r.handle !== undefined && r.kind === undefined) throw new RtnlInputError('handle', 'a handle needs the kind it belongs to');
  const kind = r.kind === undefined ? undefined : v.oneOf('kind', r.kind, c.s.kinds as FilterSpec['kind'][]);
  return v.pick(r, '', { link: v.ifindex, parent: handle, prio, protocol: c.protocol, kind: () => kind, handle: kind === 'u32' ? u32Handle : u32 });
}

/** @internal */
export function filterListArg(f: FilterListFilter): Record<string, unknown> {
  object('filter', f, '{ link, parent? }: the kernel lists the filters of one device');
  v.noExtraKeys(f, '', LIST_KEYS);
  required(f as unknown as Record<string, unknown>, ['link'], 'a filter list');
  return v.pick(f, '', { link: v.ifindex, parent: handle });
}

/** @internal A short name for a filter in error messages. */
export function filterLabel(x: { kind?: unknown; parent?: unknown; prio?: unknown; link?: unknown }): string {
  return [x?.kind, x?.prio === undefined ? '' : `prio ${String(x.prio)}`, `parent ${String(x?.parent)}`, `dev ${String(x?.link)}`].filter(Boolean).join(' ');
}
