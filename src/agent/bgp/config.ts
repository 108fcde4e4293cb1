/**
 * The BGP backend's speaker configuration: BIRD 2's configuration file for
 * one node, as a pure function of the node, its peers and the settings.
 * Every value that reaches the text is parsed and written back from its
 * parsed form (addresses, prefixes, numbers): a record from etcd can never
 * put configuration text of its own into the file, whatever it holds.
 * @module
 */
import { RtnlInputError } from '../../index.js';
import { type Cidr, formatIp, isNetwork, parseCidr, parseIp } from '../../primitives/ip.js';

/** The BGP backend's settings (`--bgp-as`, `--bgp-route-reflector`, `--bgp-hold-time`). */
export interface BgpSettings {
  /** The cluster's AS number: every node speaks iBGP in it. */
  asn: number;
  /** Route reflectors' underlay addresses; empty: a full mesh of the members. A node whose own address is listed reflects. */
  routeReflectors: string[];
  /** BGP hold time in seconds: a silent peer's routes go after it. */
  holdTimeSec: number;
  /** Where the speaker's configuration, control socket and pid file live. */
  dir: string;
  /** The speaker's executable; default `/usr/sbin/bird`. */
  binary?: string;
}

/** Defaults of {@link BgpSettings}: a private AS, BIRD's own hold time range. */
export const BGP_DEFAULTS = { asn: 64512, holdTimeSec: 30 } as const;

/** One member's route, as the import filter accepts it: its subnet, with its underlay address as next hop. */
export interface BgpMember {
  underlay: string;
  subnet: string;
}

/** What {@link birdConfig} writes. */
export interface BirdConfigInput {
  asn: number;
  /** This node's underlay address: the router id and the sessions' local address. */
  local: string;
  /** This node's pod subnet, announced. */
  subnet: string;
  /** The peers: in a full mesh, each gets a session; with route reflectors only their routes are accepted. */
  members: readonly BgpMember[];
  routeReflectors: readonly string[];
  holdTimeSec: number;
}

/** An IPv4 address, in canonical text; throws naming `field`. */
export function ipv4(field: string, s: unknown): string {
  const ip = typeof s === 'string' ? parseIp(s) : undefined;
  if (!ip || ip.family !== 4) throw new RtnlInputError(field, `expected an IPv4 address, got ${JSON.stringify(s)}`);
  return formatIp(ip);
}

/** An IPv4 prefix without host bits, in canonical text; throws naming `field`. */
export function prefix4(field: string, s: unknown): { text: string; cidr: Cidr } {
  const p = typeof s === 'string' ? parseCidr(s) : undefined;
  if (!p || p.addr.family !== 4 || !isNetwork(p)) throw new RtnlInputError(field, `expected an IPv4 prefix without host bits, got ${JSON.stringify(s)}`);
  return { text: `${formatIp(p.cidr.net)}/${p.cidr.prefix}`, cidr: p.cidr };
}

/** An integer in [min, max]; throws naming `field`. */
export function intIn(field: string, x: unknown, min: number, max: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw new RtnlInputError(field, `expected an integer from ${min} to ${max}, got ${JSON.stringify(x)}`);
  return x;
}

/** A BIRD symbol for a peer: its address with the dots made underscores. */
const peerName = (ip: string): string => `peer_${ip.replace(/\./g, '_')}`;

/**
 * BIRD 2's configuration for one node. The kernel protocol installs the
 * routes learned over BGP into the main table (`proto bird`) and reads
 * nothing from it; a static protocol holds the node's subnet so it can be
 * announced (it is never installed: the pods' bridge has the connected
 * route). The import filter accepts a route only for a member's subnet with
 * that member's underlay as next hop, so a default route, an underlay
 * prefix, a prefix outside the cluster network or another node's subnet is
 * refused whoever announces it. Sessions are direct iBGP (the underlay is
 * one L2 segment, as with host-gw) with graceful restart, so a speaker that
 * dies and comes back (its supervisor restarts it) does not make the others
 * drop this node's routes; one that stays dead loses them after the hold
 * time, the restart time it advertises.
 *
 * Without route reflectors every member gets a session (a full mesh). With
 * them a node peers only with the reflectors; a node whose own address is a
 * reflector peers with every member as its client and with the other
 * reflectors, and passes the clients' routes on (next hop unchanged).
 */
export function birdConfig(i: BirdConfigInput): string {
  const asn = intIn('asn', i.asn, 1, 0xffffffff);
  const hold = intIn('holdTimeSec', i.holdTimeSec, 3, 65535);
  const local = ipv4('local', i.local);
  const own = prefix4('subnet', i.subnet).text;
  const rrs = [...new Set(i.routeReflectors.map((r, k) => ipv4(`routeReflectors[${k}]`, r)))];
  const members = i.members.map((m, k) => ({ underlay: ipv4(`members[${k}].underlay`, m.underlay), subnet: prefix4(`members[${k}].subnet`, m.subnet).text }));
  const reflector = rrs.includes(local);
  // Sessions: the full mesh, or the reflectors (a reflector: every member, the other reflectors not as clients).
  const sessions: Array<{ ip: string; client: boolean }> = rrs.length === 0
    ? members.map((m) => ({ ip: m.underlay, client: false }))
    : reflector
      ? [...new Set([...rrs.filter((r) => r !== local), ...members.map((m) => m.underlay)])].map((ip) => ({ ip, client: !rrs.includes(ip) }))
      : rrs.map((ip) => ({ ip, client: false }));
  const accept = members.map((m) => `  if net = ${m.subnet} && bgp_next_hop = ${m.underlay} then accept;`);
  return [
    '# Written by rtnl-agent (--backend bgp) for this node; it is rewritten on every change.',
    `router id ${local};`,
    '',
    'protocol device { scan time 10; }',
    '',
    '# Routes learned over BGP go into the main table (proto bird); nothing is read from it.',
    'protocol kernel rtnl_kernel {',
    '  ipv4 { import none; export where source = RTS_BGP; };',
    '  graceful restart on;',
    '}',
    '',
    "# This node's pod subnet, to announce (never installed: the pods' bridge has the connected route).",
    'protocol static rtnl_subnet {',
    '  ipv4 { import all; export none; };',
    `  route ${own} unreachable;`,
    '}',
    '',
    "# A member's subnet, with that member's underlay address as next hop; nothing else.",
    'filter rtnl_import {',
    ...accept,
    '  reject;',
    '}',
    '',
    'filter rtnl_export {',
    '  if proto = "rtnl_subnet" then accept;',
    ...(reflector ? ['  if source = RTS_BGP then accept;'] : []),
    '  reject;',
    '}',
    '',
    'template bgp rtnl_peer {',
    `  local ${local} as ${asn};`,
    '  direct;',
    `  hold time ${hold}; keepalive time ${Math.max(1, Math.floor(hold / 3))};`,
    '  connect delay time 1; connect retry time 5; error wait time 1, 30;',
    // A speaker that died keeps its routes on the peers while it restarts, for one hold time at most.
    `  graceful restart on; graceful restart time ${hold};`,
    '  ipv4 { import filter rtnl_import; export filter rtnl_export; };',
    '}',
    '',
    ...sessions.map((s) => `protocol bgp ${peerName(s.ip)} from rtnl_peer { neighbor ${s.ip} as ${asn};${s.client ? ` rr client; rr cluster id ${local};` : ''} }`),
    '',
  ].join('\n');
}
