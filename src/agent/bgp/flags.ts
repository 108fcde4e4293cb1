/**
 * The bgp backend's command-line flags (`--bgp-as`, `--bgp-route-reflector`,
 * `--bgp-hold-time`), parsed into {@link BgpSettings}; wrong values are
 * usage errors naming the flag.
 * @module
 */
import { join } from 'node:path';
import { UsageError, intFlag } from '../../cli.js';
import { RtnlInputError } from '../../index.js';
import { BGP_DEFAULTS, type BgpSettings, ipv4 } from './config.js';

/** The flags' values as given (undefined: not given). */
export interface BgpFlags {
  as?: string | undefined;
  routeReflector?: string | undefined;
  holdTime?: string | undefined;
}

/** The `--bgp-*` lines of `rtnl-agent --help`. */
export const BGP_USAGE = `  --bgp-as N             bgp: the cluster's AS number, iBGP between all nodes (default ${BGP_DEFAULTS.asn})
  --bgp-route-reflector IPS  bgp: comma-separated underlay addresses of route reflectors; nodes peer
                         only with them (a node whose address is listed reflects); default: a full mesh
  --bgp-hold-time SEC    bgp: BGP hold time, a silent peer's routes go after it (default ${BGP_DEFAULTS.holdTimeSec})`;

/** A flag's comma-separated IPv4 addresses, canonical; a bad one is a usage error naming the flag. */
export function ipv4ListFlag(flag: string, value: string): string[] {
  try {
    return value.split(',').filter(Boolean).map((a) => ipv4(flag, a));
  } catch (e) {
    throw new UsageError((e as RtnlInputError).message);
  }
}

/** The settings for `--backend bgp` (the speaker's files under `<stateDir>/bgp`), or undefined for another backend, which must have no `--bgp-*` flag. */
export function bgpSettings(backend: string, f: BgpFlags, stateDir: string): BgpSettings | undefined {
  if (backend !== 'bgp') {
    const given = Object.entries({ 'bgp-as': f.as, 'bgp-route-reflector': f.routeReflector, 'bgp-hold-time': f.holdTime }).find(([, v]) => v !== undefined);
    if (given) throw new UsageError(`--${given[0]} applies to --backend bgp`);
    return undefined;
  }
  const routeReflectors = f.routeReflector === undefined ? [] : ipv4ListFlag('--bgp-route-reflector', f.routeReflector);
  return {
    asn: f.as === undefined ? BGP_DEFAULTS.asn : intFlag('--bgp-as', f.as, 1, 0xffffffff),
    holdTimeSec: f.holdTime === undefined ? BGP_DEFAULTS.holdTimeSec : intFlag('--bgp-hold-time', f.holdTime, 3, 65535),
    routeReflectors, dir: join(stateDir, 'bgp'),
  };
}
