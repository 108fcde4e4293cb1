/**
 * The host-gw backend (flannel's): when the nodes share an L2 underlay,
 * each peer's pod subnet is routed via the peer's underlay address, with no
 * tunnel and no encapsulation. Same diff/sync as the VXLAN backend
 * ({@link planHostGw}: only the difference, in one batch), same ownership
 * (the routes carry {@link OVERLAY_ROUTE_PROTOCOL}; a route the agent did not
 * make is never replaced), and a peer whose underlay is on no directly
 * connected subnet is refused: its packets would need a router, which
 * host-gw does not have.
 * @module
 */
import type { Handle, Netns, RtnlEvent } from '../index.js';
import { OverlaySyncError, applyRequests } from './apply.js';
import type { Backend, BackendOptions, BackendReady, BackendSyncResult, RouteReport } from './backend.js';
import { DriftWatcher } from './drift.js';
import { OVERLAY_ROUTE_PROTOCOL } from './overlay.js';
import { type Local, type Plan, localOf, planHostGw, wantedPeers } from './plan.js';
import type { NodeRecord } from './types.js';
import { underlayLink } from './underlay.js';

/** Options of a {@link HostGw}. */
export interface HostGwOptions {
  /** A handle in the node's namespace; every change goes through it. */
  handle: Handle;
  /** The node's namespace, for the event subscription of {@link HostGw.startWatching}; undefined: the current one. */
  netns?: Netns;
  /** This node's underlay address. */
  local: string;
  /** This node's pod subnet. */
  subnet: string;
  /** The pods' MTU; default: the underlay device's (nothing is encapsulated). */
  mtu?: number;
  /** The underlay device's name; default: the device holding `local`. */
  underlayDevice?: string;
  /** rtm_protocol of the routes; default {@link OVERLAY_ROUTE_PROTOCOL}. */
  protocol?: number;
}

/** One node's host-gw routes: {@link HostGw.sync} reconciles them with the membership. */
export class HostGw implements Backend {
  /** {@inheritDoc Backend.kind} */
  readonly kind = 'host-gw' as const;
  readonly #o: HostGwOptions;
  readonly #local: Local;
  readonly #protocol: number;
  /** The peers of the last sync, and the subnets it refused: what drift is judged against. */
  #peers: Map<string, NodeRecord> | undefined;
  #refused = '';
  #watch: DriftWatcher | undefined;

  /** Checks the options; nothing is sent until {@link HostGw.sync}. */
  constructor(o: HostGwOptions) {
    this.#local = localOf(o.subnet, o.local);
    this.#o = o;
    this.#protocol = o.protocol ?? OVERLAY_ROUTE_PROTOCOL;
  }

  /** The host-gw backend of the agent: the node's underlay and subnet, the network's MTU. */
  static fromBackendOptions(o: BackendOptions): HostGw {
    return new HostGw({
      handle: o.handle, ...(o.netns === undefined ? {} : { netns: o.netns }), local: o.self.underlay, subnet: o.self.subnet,
      ...(o.network.mtu === undefined ? {} : { mtu: o.network.mtu }), ...(o.underlayDevice === undefined ? {} : { underlayDevice: o.underlayDevice }),
    });
  }

  /** Nothing to make: finds the underlay device (which must exist) for the pods' MTU. */
  ensure(): BackendReady {
    const ul = underlayLink(this.#o.handle, this.#local.underlay, this.#local.underlayFamily, this.#o.underlayDevice);
    return { mtu: this.#o.mtu ?? ul.mtu, replaced: false };
  }

  /**
   * Makes the routes of the backend's protocol exactly one per peer among
   * `nodes` (this node left out, unusable records skipped): its subnet via
   * its underlay address. Reads the main table with one dump and sends only
   * the difference, in one batch. Peers behind a route the agent did not
   * make, or whose underlay is on no connected subnet, are refused. Throws
   * {@link OverlaySyncError} if some of it was refused by the kernel.
   */
  sync(nodes: readonly NodeRecord[]): BackendSyncResult {
    const t0 = performance.now();
    const { peers, skipped } = wantedPeers(nodes, this.#local, false);
    this.#peers = peers;
    const { requests, counts } = this.#plan(peers);
    this.#refused = refusedKey(counts.refused);
    const failures = applyRequests(this.#o.handle, requests);
    const result = { ...counts, skipped, durationMs: performance.now() - t0 };
    if (failures.length > 0) throw new OverlaySyncError(failures, result);
    return result;
  }

  /** The routes against the last sync's peers. */
  status(): RouteReport {
    return this.#plan(this.#peers ?? new Map()).routes;
  }

  /**
   * Watches the node's routes, addresses and links and calls onDrift when
   * the routes no longer match the last sync (a route deleted or altered,
   * a connected subnet gone or come, so a peer's route must go or can be
   * made), and whenever events were lost. Debounced by `debounceMs` (default
   * 100). Calling it again replaces the previous watch.
   */
  startWatching(onDrift: () => void, o: { debounceMs?: number } = {}): void {
    this.stop();
    this.#watch = new DriftWatcher({
      ...(this.#o.netns ? { netns: this.#o.netns } : {}), kinds: ['route', 'address', 'link'],
      ...(o.debounceMs === undefined ? {} : { debounceMs: o.debounceMs }),
      concerns: (ev) => this.#concerns(ev),
      drifted: () => this.#drifted(),
    }, onDrift);
  }

  /** Stops watching; the routes stay. */
  stop(): void {
    this.#watch?.close();
    this.#watch = undefined;
  }

  /** Stops watching and deletes every route of the backend's protocol in the main table (of this node's family). */
  cleanup(): void {
    this.stop();
    const failures = applyRequests(this.#o.handle, this.#plan(new Map()).requests);
    this.#peers = undefined;
    if (failures.length > 0) throw new OverlaySyncError(failures, { added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: 0, skipped: 0, refused: [] });
  }

  #plan(peers: ReadonlyMap<string, NodeRecord>): Plan {
    return planHostGw(this.#protocol, this.#o.handle.routeList({ family: this.#local.subnet.net.family }), peers);
  }

  /** Routes of the main table (of the family) and any address or link change (a connected subnet may have come or gone). */
  #concerns(ev: RtnlEvent): boolean {
    if (ev.kind === 'route') return ev.value.table === 254 && ev.value.family === this.#local.subnet.net.family;
    return ev.kind === 'address' || ev.kind === 'link';
  }

  #drifted(): boolean {
    if (this.#peers === undefined) return false;
    try {
      const p = this.#plan(this.#peers);
      return p.requests.length > 0 || refusedKey(p.counts.refused) !== this.#refused;
    } catch {
      return true; // the handle failed: the caller's sync will tell
    }
  }
}

/** The refused subnets, as one comparable string. */
const refusedKey = (refused: readonly { subnet: string }[]): string => refused.map((r) => r.subnet).join(',');
