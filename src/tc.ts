/**
 * Traffic control, as `tc qdisc` and `tc class`: the qdiscs a bandwidth
 * limit is built from (tbf, htb with its classes, ingress, clsact).
 *
 * Units: rates are **bytes per second** (what the kernel keeps and `tc -j`
 * prints; `tc ... rate 1mbit` is 125000), sizes are bytes, times are
 * microseconds (`tc -j`'s `lat`). Handles are tc's text, in hex: `'1:'` for
 * a qdisc, `'1:10'` for a class.
 * @module
 */
import { RtnlInputError } from './errors.js';
import { type Check, checks, lazy, schema } from './schema.js';
import * as v from './validate.js';

/** A tc handle as tc writes it, major and minor in hex: `'1:'` (a qdisc), `'1:10'` (a class). */
export type TcHandle = string;
/**
 * Where a qdisc or class is attached: `'root'` (the device's egress root),
 * the handle of a qdisc or class, or the ingress hook (`'ingress'` and
 * `'clsact'` name the same parent, `ffff:fff1`).
 */
export type TcParent = 'root' | 'ingress' | 'clsact' | TcHandle;

interface QdiscBase {
  /** ifindex of the device. */
  link: number;
  /** Default `'root'`. */
  parent?: TcParent;
  /** `'MAJ:'`; the kernel picks one when absent. */
  handle?: TcHandle;
}

/**
 * A token bucket filter (`tc qdisc ... tbf`): shapes everything through it to
 * `rate`, letting `burst` bytes through at once. Give the queue size either
 * as `limit` (bytes) or as `latency` (how long a packet may wait; rtnl sizes
 * the queue from it as tc does).
 */
export interface TbfSpec extends QdiscBase {
  kind: 'tbf';
  /** Bytes per second. */
  rate: number;
  /** Bucket size in bytes: at least the device's MTU, or nothing passes. */
  burst: number;
  /** Microseconds a packet may wait in the queue; this or `limit`. */
  latency?: number;
  /** Queue size in bytes; this or `latency`. */
  limit?: number;
  /** A second, faster bucket bounding bursts (bytes per second); needs `mtu`. */
  peakrate?: number;
  /** The peak bucket's size in bytes (at least the device's MTU); only with `peakrate`. */
  mtu?: number;
}

/** A hierarchical token bucket (`tc qdisc ... htb`); its classes are made with the class verbs. */
export interface HtbSpec extends QdiscBase {
  kind: 'htb';
  /**
   * The minor number of the class that gets unclassified traffic: `0x10`
   * for class `1:10` (tc's `default 10` is hex). Default 0: such traffic
   * goes out unshaped.
   */
  defaultClass?: number;
  /** Divides a class's rate into its quantum (bytes per turn) when the class sets none. Default 10, as tc. */
  r2q?: number;
  /** Packets queued for traffic sent directly (no class). */
  directQlen?: number;
}

/**
 * The ingress hook (`tc qdisc add dev X ingress`), where ingress filters
 * attach, or `clsact` (ingress and egress hooks, for BPF). Both sit at
 * parent `ffff:fff1` with handle `ffff:`.
 */
export interface IngressSpec {
  kind: 'ingress' | 'clsact';
  link: number;
}

/** A qdisc to create or replace, by kind. */
export type QdiscSpec = TbfSpec | HtbSpec | IngressSpec;
/** The qdisc kinds rtnl can create. */
export type QdiscKind = QdiscSpec['kind'];

/**
 * A qdisc to delete: the one at `parent` (default `'root'`) of the device.
 * With `kind: 'ingress'` or `'clsact'` and no parent, the one at the ingress
 * hook; a `kind` also makes the kernel check it (EINVAL if the qdisc there is
 * of another kind).
 */
export interface QdiscRef {
  link: number;
  parent?: TcParent;
  handle?: TcHandle;
  kind?: string;
}

/** Filters for {@link Verbs.qdiscList}. */
export interface QdiscFilter {
  /** Only this device's qdiscs (ifindex). */
  link?: number;
  /** Include each qdisc's counters (`stats`), as `tc -s`. Off by default: a dump is then cheaper to decode. */
  stats?: boolean;
}

/** A qdisc's or class's counters, as `tc -s -j` names them. */
export interface TcStats {
  bytes: bigint;
  packets: bigint;
  /** Packets dropped (queue full, or the qdisc's policy). */
  drops: number;
  /** Times a packet had to wait for tokens (shaping at work). */
  overlimits: number;
  requeues: number;
  /** Bytes queued now. */
  backlog: number;
  /** Packets queued now. */
  qlen: number;
}

/** What every qdisc and class reports. */
export interface TcBase {
  /** ifindex of the device. */
  link: number;
  /** As tc prints it: `'1:'`, `'1:10'`, `'0:'` for a default qdisc. */
  handle: TcHandle;
  /** `'root'`, or a handle: `'ffff:fff1'` for ingress and clsact, and an htb class's parent class. */
  parent: 'root' | TcHandle;
  /** Counters: only when asked for (`{ stats: true }`). */
  stats?: TcStats;
}

/** A tbf qdisc as the kernel reports it. */
export interface TbfQdisc extends TcBase {
  kind: 'tbf';
  /** Bytes per second. */
  rate: number;
  /** Bytes (the kernel keeps a transmit time: tc's rounding, as `tc -j` shows it). */
  burst: number;
  /** Queue size in bytes (given, or sized from `latency`). */
  limit: number;
  peakrate?: number;
  /** The peak bucket in bytes; may read one less than given (tc shows it as `minburst`). */
  mtu?: number;
}

/** An htb qdisc as the kernel reports it. */
export interface HtbQdisc extends TcBase {
  kind: 'htb';
  defaultClass: number;
  r2q: number;
  directQlen?: number;
}

/** An ingress or clsact qdisc. */
export interface IngressQdisc extends TcBase {
  kind: 'ingress' | 'clsact';
}

/** A qdisc of a kind rtnl does not decode (`noqueue`, `fq_codel`, `mq`...); `tcKind` is the kernel's name. */
export interface GenericQdisc extends TcBase {
  kind: 'generic';
  tcKind: string;
}

/** A qdisc as the kernel reports it, by kind. */
export type Qdisc = TbfQdisc | HtbQdisc | IngressQdisc | GenericQdisc;

/**
 * An htb class to create or replace (`tc class add ... htb`): guaranteed
 * `rate`, borrowing up to `ceil` from its parent.
 */
export interface HtbClassSpec {
  kind: 'htb';
  link: number;
  /** The class id, `'MAJ:MIN'` with MAJ the htb qdisc's major: `'1:10'`. */
  handle: TcHandle;
  /** The htb qdisc (`'1:'`) or a parent class (`'1:1'`). */
  parent: TcHandle;
  /** Guaranteed bytes per second. */
  rate: number;
  /** Bytes per second it may borrow up to; default `rate`. */
  ceil?: number;
  /** Bytes sent at ceil before yielding; default as tc (rate / clock Hz + 1600). */
  burst?: number;
  /** Bytes sent above ceil's rate at once; default as tc, from ceil. */
  cburst?: number;
  /** Lower goes first when borrowing; the kernel caps it at 7. */
  prio?: number;
  /** Bytes per round when sharing; default rate / the qdisc's r2q. */
  quantum?: number;
}

/** A class to create or replace (htb only). */
export type ClassSpec = HtbClassSpec;

/** A class to delete. */
export interface ClassRef {
  link: number;
  handle: TcHandle;
}

/** Whose classes {@link Verbs.classList} reads: the kernel lists one device's. */
export interface ClassFilter {
  link: number;
  /** Include each class's counters (`stats`), as `tc -s`. */
  stats?: boolean;
}

/** An htb class as the kernel reports it (top-level classes have parent `'root'`). */
export interface HtbClass extends TcBase {
  kind: 'htb';
  rate: number;
  ceil: number;
  burst: number;
  cburst: number;
  prio: number;
  /** As the kernel set it (from r2q when not given). */
  quantum: number;
  /** 0 for a leaf, higher for inner classes. */
  level: number;
}

/** A class as the kernel reports it; other kinds' (mq, ...) as {@link GenericQdisc}'s shape. */
export type TcClass = HtbClass | (TcBase & { kind: 'generic'; tcKind: string });

// ---- validation: what the native codec reads ----
// The kinds and htb's attributes come from the addon (native/codec_tc.cc);
// the rest of tc's options are fields of structs (tc_tbf_qopt, tc_htb_glob,
// tc_htb_opt) the codec fills by hand, checked here with the handle text and
// the rules between fields.

const u32 = (f: string, x: unknown) => v.uint(f, x);
const rate = (f: string, x: unknown) => v.uint(f, x, Number.MAX_SAFE_INTEGER, 1);
const size = (f: string, x: unknown) => v.uint(f, x, 0xffffffff, 1);

const HANDLE = /^[0-9a-f]{1,4}:([0-9a-f]{1,4})?$/i;
function handle(f: string, x: unknown): string {
  if (typeof x !== 'string' || !HANDLE.test(x)) throw new RtnlInputError(f, `expected a tc handle like '1:' or '1:10' (hex), got ${v.show(x)}`);
  return x;
}
const qdiscHandle = (f: string, x: unknown) => {
  if (!/:0*$/.test(handle(f, x))) throw new RtnlInputError(f, `a qdisc's handle has no minor number: expected 'MAJ:', got ${v.show(x)}`);
  return x;
};
const classHandle = (f: string, x: unknown) => {
  if (/:0*$/.test(handle(f, x))) throw new RtnlInputError(f, `a class id needs a minor number: expected 'MAJ:MIN', got ${v.show(x)}`);
  return x;
};
const parent = (f: string, x: unknown) => (x === 'root' || x === 'ingress' || x === 'clsact' ? x : handle(f, x));

// Checkers and field sets made once (on first use), not per request.
const compiled = lazy(() => {
  const s = schema().tc;
  const qdisc: Record<QdiscKind, Record<string, Check>> = {
    tbf: { link: v.ifindex, parent, handle: qdiscHandle, rate, burst: size, latency: u32, limit: u32, peakrate: rate, mtu: size },
    htb: { link: v.ifindex, parent, handle: qdiscHandle, defaultClass: (f, x) => v.uint(f, x, 0xffff), r2q: (f, x) => v.uint(f, x, 0xffffffff, 1), ...checks(s.htb) },
    ingress: { link: v.ifindex },
    clsact: { link: v.ifindex },
  };
  const kinds = s.qdiscKinds as QdiscKind[];
  const keys = Object.fromEntries(kinds.map((k) => [k, new Set(['kind', ...Object.keys(qdisc[k])])])) as Record<QdiscKind, Set<string>>;
  return { qdisc, kinds, keys, classKinds: s.classKinds as ClassSpec['kind'][] };
});
const classChecks = { link: v.ifindex, handle: classHandle, parent: handle, rate, ceil: rate, burst: size, cburst: size, prio: u32, quantum: u32 };
const CLASS_KEYS = new Set(['kind', ...Object.keys(classChecks)]);
const REF_KEYS = new Set(['link', 'parent', 'handle', 'kind']);
const refChecks = { link: v.ifindex, parent, handle, kind: (f: string, x: unknown) => v.str(f, x, 15) };
const CLASS_REF_KEYS = new Set(['link', 'handle']);
const FILTER_KEYS = new Set(['link', 'stats']);
const filterChecks = { link: v.ifindex, stats: v.bool };

function object(field: string, x: unknown, what: string): asserts x is Record<string, unknown> {
  if (!x || typeof x !== 'object') throw new RtnlInputError(field, `expected ${what}`);
}

function required(x: Record<string, unknown>, keys: readonly string[], what: string, prefix = ''): void {
  for (const k of keys) if (x[k] === undefined) throw new RtnlInputError(prefix + k, `required for ${what}`);
}

/** @internal */
export function qdiscSpecArg(s: QdiscSpec): Record<string, unknown> {
  object('spec', s, 'a qdisc spec object');
  const c = compiled();
  const kind = v.oneOf('kind', s.kind, c.kinds);
  const x = s as unknown as Record<string, unknown>;
  v.noExtraKeys(s, '', c.keys[kind]);
  required(x, kind === 'tbf' ? ['link', 'rate', 'burst'] : ['link'], `a ${kind} qdisc`);
  if (kind === 'tbf') {
    if ((x.latency === undefined) === (x.limit === undefined)) throw new RtnlInputError('latency', 'give either latency or limit (the queue size), not both or neither');
    if ((x.peakrate === undefined) !== (x.mtu === undefined)) throw new RtnlInputError(x.mtu === undefined ? 'mtu' : 'peakrate', 'peakrate and mtu go together');
  }
  return { kind, ...v.pick(x, '', c.qdisc[kind]) };
}

/** @internal */
export function qdiscRefArg(r: QdiscRef): Record<string, unknown> {
  object('ref', r, '{ link, parent?, handle?, kind? }');
  v.noExtraKeys(r, '', REF_KEYS);
  required(r as unknown as Record<string, unknown>, ['link'], 'a qdisc to delete');
  return v.pick(r, '', refChecks);
}

/** @internal */
export function qdiscFilterArg(f: QdiscFilter = {}): Record<string, unknown> {
  object('filter', f, 'an object');
  v.noExtraKeys(f, '', FILTER_KEYS);
  return v.pick(f, '', filterChecks);
}

/** @internal */
export function classSpecArg(s: ClassSpec): Record<string, unknown> {
  object('spec', s, 'a class spec object');
  v.oneOf('kind', s.kind, compiled().classKinds);
  v.noExtraKeys(s, '', CLASS_KEYS);
  required(s as unknown as Record<string, unknown>, ['link', 'handle', 'parent', 'rate'], 'an htb class');
  return { kind: s.kind, ...v.pick(s, '', classChecks) };
}

/** @internal */
export function classRefArg(r: ClassRef): Record<string, unknown> {
  object('ref', r, '{ link, handle }');
  v.noExtraKeys(r, '', CLASS_REF_KEYS);
  required(r as unknown as Record<string, unknown>, ['link', 'handle'], 'a class to delete');
  return v.pick(r, '', { link: v.ifindex, handle: classHandle });
}

/** @internal */
export function classFilterArg(f: ClassFilter): Record<string, unknown> {
  object('filter', f, '{ link }: the kernel lists the classes of one device');
  v.noExtraKeys(f, '', FILTER_KEYS);
  required(f as unknown as Record<string, unknown>, ['link'], 'a class list');
  return v.pick(f, '', filterChecks);
}

/** @internal A short name for a qdisc or class in error messages. */
export function tcLabel(x: { kind?: unknown; handle?: unknown; parent?: unknown; link?: unknown }): string {
  return [x?.kind, x?.handle ?? x?.parent ?? (x?.kind === 'ingress' || x?.kind === 'clsact' ? '' : 'root'), `dev ${String(x?.link)}`].filter(Boolean).join(' ');
}

/** @internal The checks src/tc-filter.ts shares. */
export const tcChecks = { object, required, handle, parent };
