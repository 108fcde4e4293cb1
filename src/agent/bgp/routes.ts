/**
 * What the speaker installed, read back from the kernel: the routes of
 * protocol `bird` in the main table, compared with the peers the speaker
 * was configured with. The kernel is the truth here, not the speaker's own
 * view: a route BIRD believes it installed but the kernel lacks is missing.
 * @module
 */
import type { Route } from '../../index.js';
import type { RouteReport } from '../backend.js';
import type { BgpMember } from './config.js';

/**
 * Sorts `routes` (a dump of the main table) against `peers`: a peer is
 * learned when a `bird` route to its subnet goes via its underlay address,
 * missing otherwise; a `bird` route that is no peer's (another subnet, or
 * another next hop) is stale.
 */
export function reportRoutes(routes: readonly Route[], peers: readonly BgpMember[]): RouteReport {
  const wanted = new Map(peers.map((p) => [p.subnet, p.underlay]));
  const found = new Set<string>();
  const stale: string[] = [];
  for (const r of routes) {
    if (r.protocol !== 'bird' || r.table !== 254) continue;
    if (wanted.get(r.dst) === r.gateway) found.add(r.dst);
    else stale.push(r.dst);
  }
  const subnets = [...wanted.keys()];
  return { learned: subnets.filter((s) => found.has(s)), missing: subnets.filter((s) => !found.has(s)), stale };
}
