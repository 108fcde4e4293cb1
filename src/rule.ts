/**
 * Policy routing rules (`ip rule`): which routing table a packet is looked
 * up in, chosen by its source, destination, marks, interfaces, uid, ports...
 * What you install is a {@link RuleSpec}; what the kernel reports a {@link Rule}.
 * @module
 */
import { cidr, familyArg } from './addr.js';
import { RtnlInputError } from './errors.js';
import type { RouteProtocol, RouteTable } from './route.js';
import { protocolArg, tableArg } from './route.js';
import { type Check, checks, lazy, schema } from './schema.js';
import * as v from './validate.js';

/**
 * What a matching rule does (fib_rule_hdr.action): `table`, look the packet
 * up in {@link RuleSpec.table}; `goto`, continue at the rule with priority
 * {@link RuleSpec.goto}; `nop`, nothing; `blackhole`, `unreachable`,
 * `prohibit`, drop it (silently, with ENETUNREACH, with EACCES).
 */
export type RuleAction = 'table' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit';

/** Rule flags as reported: `invert` (the rule matches what its selectors do not), and the kernel's state flags. */
export type RuleFlag = 'permanent' | 'invert' | 'unresolved' | 'iif_detached' | 'oif_detached';

/** An inclusive range, of ports or of uids. */
export interface RuleRange {
  start: number;
  end: number;
}

/** What a rule matches on, and its action's parameters: the fields written and reported alike. */
export interface RuleMatch {
  /** Source prefix (`from`), e.g. `10.0.0.0/8`; an address without a length is a host. Reported as `prefix/len`. */
  src?: string;
  /** Destination prefix (`to`). */
  dst?: string;
  /** Type of service (IPv4) or traffic class (IPv6), as in the header. */
  tos?: number;
  /** Firewall mark (`fwmark`). */
  fwmark?: number;
  /** Mask applied to the mark before comparing (`fwmark M/MASK`). */
  fwmask?: number;
  /** Input interface name (`iif`); `lo` matches locally generated packets. The device need not exist yet. */
  iif?: string;
  /** Output interface name (`oif`), for sockets bound to a device. */
  oif?: string;
  /** IP protocol number (`ipproto`), e.g. 6 for TCP. */
  ipProto?: number;
  /** Source port range (`sport`); a single port is `{ start: p, end: p }`. */
  sport?: RuleRange;
  /** Destination port range (`dport`). */
  dport?: RuleRange;
  /** Socket uid range (`uidrange`). */
  uidRange?: RuleRange;
  /** Look up the table of the L3 master device (VRF) of iif/oif (`l3mdev`); only `true` is sent. */
  l3mdev?: boolean;
  /** The priority of the rule to continue at (`goto`). */
  goto?: number;
  /** Reject a route found by this rule whose prefix is this long or shorter (`suppress_prefixlength`). */
  suppressPrefixlen?: number;
  /** Reject a route found by this rule out of a device in this group (`suppress_ifgroup`). */
  suppressIfgroup?: number;
}

/** A rule to add or delete (`ip rule add|del`). A delete removes the first rule matching every field given. */
export interface RuleSpec extends RuleMatch {
  /** 4 or 6; default: the family of `src`/`dst`, else 4, as `ip rule`. */
  family?: 4 | 6;
  /** `pref`: rules are tried in increasing priority. Default: the kernel picks one below the last rule's. */
  priority?: number;
  /** Match the opposite of the selectors (`not`). */
  invert?: boolean;
  /** Default `table` when a table is given or nothing else is, `goto` when {@link RuleMatch.goto} is given. */
  action?: RuleAction;
  /** The table to look up (`lookup`); a new `table` rule without one uses main. Ids above 255 go in FRA_TABLE. */
  table?: RouteTable;
  /** Who installed the rule (`proto`). */
  protocol?: RouteProtocol | number;
}

/** A rule as the kernel reports it. */
export interface Rule extends RuleMatch {
  family: 4 | 6;
  priority: number;
  /** A number only for an action rtnl has no name for. */
  action: RuleAction | number;
  /** The table looked up (0 when the action is not `table`). */
  table: number;
  /** `invert` for a `not` rule, and the kernel's state flags. */
  flags: RuleFlag[];
  protocol: RouteProtocol | number;
}

/**
 * Filters for a rule list. `family` is applied by the kernel (the default
 * lists both IPv4 and IPv6 rules); the kernel takes no other filter in a
 * rule dump, so `table` and `priority` are applied to what it returns.
 */
export interface RuleFilter {
  family?: 4 | 6;
  /** A table id, as {@link Rule.table} reports it (main is 254). */
  table?: number;
  priority?: number;
}

// ---- validation: what the native codec reads ----

// The attributes' checks come from the addon's table (native/codec_rule.cc);
// written here: fib_rule_hdr's fields, the range structs, and the rules
// between fields.
const u8 = (f: string, x: unknown) => v.uint(f, x, 0xff);
const rangeOf = (max: number) => (f: string, x: unknown): RuleRange => {
  if (!x || typeof x !== 'object') throw new RtnlInputError(f, 'expected { start, end }');
  const r = x as RuleRange;
  v.noExtraKeys(r, `${f}.`, RANGE_KEYS);
  const start = v.uint(`${f}.start`, r.start, max);
  const end = v.uint(`${f}.end`, r.end, max);
  if (end < start) throw new RtnlInputError(f, `end ${end} is below start ${start}`);
  return { start, end };
};
const RANGE_KEYS = new Set(['start', 'end']);

// Field sets and checkers made once (on first use), not per request.
const compiled = lazy(() => {
  const s = schema().rule;
  const spec: Record<string, Check> = {
    ...checks(s.attrs), invert: v.bool, tos: u8, sport: rangeOf(0xffff), dport: rangeOf(0xffff), uidRange: rangeOf(0xffffffff),
    action: (f, x) => v.oneOf(f, x, s.actions), table: tableArg, protocol: protocolArg,
  };
  return {
    spec, specKeys: new Set([...Object.keys(spec), 'family', 'src', 'dst']),
    filter: { family: familyArg, table: (f: string, x: unknown) => v.uint(f, x), ...checks(s.attrs, ['priority']) },
  };
});
const FILTER_KEYS = new Set(['family', 'table', 'priority']);

/** @internal Validates a rule spec into the native codec's argument. */
export function ruleSpecArg(s: RuleSpec): Record<string, unknown> {
  if (!s || typeof s !== 'object') throw new RtnlInputError('rule', 'expected a rule spec object');
  const c = compiled();
  v.noExtraKeys(s, '', c.specKeys);
  if (s.family !== undefined) familyArg('family', s.family);
  const out: Record<string, unknown> = {};
  for (const key of ['src', 'dst'] as const) {
    if (s[key] === undefined) continue;
    const p = cidr(key, s[key]);
    const family = (out.family as 4 | 6 | undefined) ?? s.family ?? p.family;
    if (p.family !== family) throw new RtnlInputError(key, `must be IPv${family}`);
    out.family = family;
    out[key] = p.ip;
    out[`${key}Len`] = p.len;
  }
  out.family ??= s.family ?? 4;
  v.pick(s, '', c.spec, out);
  if (out.l3mdev === false) delete out.l3mdev; // the kernel takes only 1
  if (out.goto !== undefined && out.action !== undefined && out.action !== 'goto') throw new RtnlInputError('goto', `needs action 'goto', not ${v.show(out.action)}`);
  if (out.action === 'goto' && out.goto === undefined) throw new RtnlInputError('goto', "required with action 'goto'");
  return out;
}

/** @internal */
export function ruleFilterArg(f: RuleFilter = {}): Record<string, unknown> {
  v.noExtraKeys(f, '', FILTER_KEYS);
  return v.pick(f, '', compiled().filter);
}

/** @internal The filters the kernel does not apply to a rule dump, on what it returns (arg as ruleFilterArg made it). */
export function ruleListPost(arg: RuleFilter): ((rules: Rule[]) => Rule[]) | undefined {
  const { table, priority } = arg;
  if (table === undefined && priority === undefined) return undefined;
  return (rules) => rules.filter((r) => (table === undefined || r.table === table) && (priority === undefined || r.priority === priority));
}

/** @internal How a rule is named in errors. */
export function ruleLabel(s: RuleSpec): string {
  return s && typeof s === 'object' && s.priority !== undefined ? `pref ${String(s.priority)}` : '';
}
