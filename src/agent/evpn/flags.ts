/**
 * The EVPN role's command-line flags (`--evpn`, `--evpn-route-reflector`,
 * `--evpn-reflector`, `--evpn-as`, `--evpn-hold-time`), parsed into
 * {@link EvpnSettings}; wrong values are usage errors naming the flag.
 * @module
 */
import { createHash } from 'node:crypto';
import { UsageError, intFlag } from '../../cli.js';
import { RtnlInputError } from '../../index.js';
import { BGP_DEFAULTS, prefix4 } from '../bgp/config.js';
import { ipv4ListFlag } from '../bgp/flags.js';

/** What the EVPN role runs: a VTEP (client of `routeReflectors`) or a reflector (for the VTEPs of `listenRange`). */
export interface EvpnSettings {
  /** The AS every VTEP and reflector speaks iBGP in. */
  asn: number;
  /** BGP hold time in seconds: a silent peer's VNIs and MACs go after it. */
  holdTimeSec: number;
  /** A VTEP: the reflectors' underlay addresses. */
  routeReflectors?: string[];
  /** A reflector: the underlay prefix its clients come from. */
  listenRange?: string;
  /** FRR's pathspace for this node (`-N`), from its name: the daemons' files are in `/run/frr/<pathspace>`. */
  pathspace: string;
}

/** The flags' values as given (undefined: not given). */
export interface EvpnFlags {
  evpn?: boolean | undefined;
  as?: string | undefined;
  routeReflector?: string | undefined;
  reflector?: string | undefined;
  holdTime?: string | undefined;
}

/** The `--evpn*` lines of `rtnl-agent --help`. */
export const EVPN_USAGE = `  --evpn                 also run this node's BGP EVPN speaker (FRR: zebra + bgpd, advertise-all-vni, in
                         the node's namespace, files in /run/frr/rtnl-<node>) for the rtnl plugin's
                         "evpn": true networks; with any --backend; give one of the next two
  --evpn-route-reflector IPS  evpn: a VTEP: comma-separated underlay addresses of the EVPN route reflectors
  --evpn-reflector CIDR  evpn: a route reflector (no VTEP): accepts the VTEPs of this underlay prefix
  --evpn-as N            evpn: the AS number, iBGP (default ${BGP_DEFAULTS.asn})
  --evpn-hold-time SEC   evpn: BGP hold time, a silent peer's VNIs and MACs go after it (default ${BGP_DEFAULTS.holdTimeSec})`;

/**
 * FRR's pathspace for a node: `rtnl-<name>`, or, when the name has
 * characters FRR does not take or is long, its first characters made safe
 * and a hash of the whole (two nodes on one machine never share one).
 */
export function evpnPathspace(nodeName: string): string {
  const safe = nodeName.replace(/[^A-Za-z0-9_-]/g, '-');
  if (safe === nodeName && safe.length <= 27) return `rtnl-${safe}`;
  return `rtnl-${safe.slice(0, 18)}-${createHash('sha256').update(nodeName).digest('hex').slice(0, 8)}`;
}

/** The EVPN role's settings with `--evpn`, or undefined without it (and then no `--evpn-*` flag may be given). */
export function evpnSettings(f: EvpnFlags, nodeName: string): EvpnSettings | undefined {
  if (!f.evpn) {
    const given = Object.entries({ 'evpn-as': f.as, 'evpn-route-reflector': f.routeReflector, 'evpn-reflector': f.reflector, 'evpn-hold-time': f.holdTime }).find(([, v]) => v !== undefined);
    if (given) throw new UsageError(`--${given[0]} applies with --evpn`);
    return undefined;
  }
  if ((f.routeReflector === undefined) === (f.reflector === undefined)) throw new UsageError('--evpn needs one of --evpn-route-reflector (a VTEP) and --evpn-reflector (a route reflector)');
  const common = {
    asn: f.as === undefined ? BGP_DEFAULTS.asn : intFlag('--evpn-as', f.as, 1, 0xffffffff),
    holdTimeSec: f.holdTime === undefined ? BGP_DEFAULTS.holdTimeSec : intFlag('--evpn-hold-time', f.holdTime, 3, 65535),
    pathspace: evpnPathspace(nodeName),
  };
  if (f.reflector !== undefined) {
    try {
      return { ...common, listenRange: prefix4('--evpn-reflector', f.reflector).text };
    } catch (e) {
      throw new UsageError((e as RtnlInputError).message);
    }
  }
  const routeReflectors = ipv4ListFlag('--evpn-route-reflector', f.routeReflector!);
  if (routeReflectors.length === 0) throw new UsageError('--evpn-route-reflector: give at least one address');
  return { ...common, routeReflectors };
}
