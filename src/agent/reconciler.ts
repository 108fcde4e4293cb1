/**
 * What the netlink backends ({@link Overlay}, {@link HostGw}) share: a sync
 * validates the peers, plans against what the kernel holds (the backend's
 * planner), and sends the plan in one batch; the drift watch re-plans
 * against the last sync's peers. Each backend supplies its planner and what
 * its watch listens to.
 * @module
 */
import type { EventKind, Handle, Netns, RtnlEvent, RtnlInputError } from '../index.js';
import { OverlaySyncError, applyRequests } from './apply.js';
import type { BackendSyncResult, RouteReport } from './backend.js';
import { DriftWatcher } from './drift.js';
import { type Local, type Plan, localOf, wantedPeers } from './plan.js';
import type { NodeRecord } from './types.js';

/** The refused subnets of a plan, as one comparable string. */
const refusedKey = (p: Plan): string => p.counts.refused.map((r) => r.subnet).join(',');

/** The sync, status and watch of a backend that reconciles the kernel through a pure planner. */
export abstract class Reconciler {
  /** A handle in the node's namespace. */
  protected readonly handle: Handle;
  /** This node, as the planner sees it. @internal */
  protected readonly local: Local;
  readonly #netns: Netns | undefined;
  readonly #needsVtepMac: boolean;
  /** The peers of the last sync, and the subnets it refused: what drift is judged against. */
  #peers: Map<string, NodeRecord> | undefined;
  #refused = '';
  #watch: DriftWatcher | undefined;

  /**
   * Checks this node's subnet and underlay address (throws
   * {@link RtnlInputError} naming the bad one).
   * @param handle the node's handle @param netns its namespace (for the watch)
   * @param subnet this node's pod subnet @param underlay its underlay address
   * @param needsVtepMac whether peers need a VTEP MAC
   */
  constructor(handle: Handle, netns: Netns | undefined, subnet: string, underlay: string, needsVtepMac: boolean) {
    this.handle = handle;
    this.#netns = netns;
    this.local = localOf(subnet, underlay);
    this.#needsVtepMac = needsVtepMac;
  }

  /** Reads what the kernel holds and plans for `peers`. */
  protected abstract plan(peers: ReadonlyMap<string, NodeRecord>): Plan;
  /** Whether an event is about something the backend made or depends on. */
  protected abstract concerns(ev: RtnlEvent): boolean;

  /**
   * Makes the kernel's state exactly match the peers among `nodes` (this
   * node, by subnet or underlay address, is left out; unusable records are
   * skipped): reads the state, sends only the difference, in one batch.
   * Throws {@link OverlaySyncError} if some of it was refused.
   */
  sync(nodes: readonly NodeRecord[]): BackendSyncResult {
    const t0 = performance.now();
    const { peers, skipped } = wantedPeers(nodes, this.local, this.#needsVtepMac);
    const plan = this.plan(peers);
    this.#peers = peers;
    this.#refused = refusedKey(plan);
    const failures = applyRequests(this.handle, plan.requests);
    const result = { ...plan.counts, skipped, durationMs: performance.now() - t0 };
    if (failures.length > 0) throw new OverlaySyncError(failures, result);
    return result;
  }

  /** The routes as the kernel holds them, against the last sync's peers. */
  status(): RouteReport {
    return this.plan(this.#peers ?? new Map()).routes;
  }

  /**
   * Calls onDrift when the kernel no longer matches the last sync (see
   * {@link DriftWatcher}); `debounceMs` of quiet first (default 100).
   * Calling it again replaces the previous watch.
   */
  startWatching(onDrift: () => void, o: { debounceMs?: number } = {}): void {
    this.stop();
    this.#watch = new DriftWatcher({
      ...(this.#netns ? { netns: this.#netns } : {}), kinds: this.watchKinds(),
      ...(o.debounceMs === undefined ? {} : { debounceMs: o.debounceMs }),
      concerns: (ev) => this.concerns(ev),
      drifted: () => this.drifted(),
    }, onDrift);
  }

  /** Stops watching; a pending onDrift is cancelled. What the backend made stays. */
  stop(): void {
    this.#watch?.close();
    this.#watch = undefined;
  }

  /** Forgets the last sync (after a cleanup). */
  protected forget(): void {
    this.#peers = undefined;
  }

  /** The event kinds the watch subscribes to. */
  protected abstract watchKinds(): EventKind[];

  /** Whether a plan for the last sync's peers would send something, or refuses other peers. */
  protected drifted(): boolean {
    if (this.#peers === undefined) return false;
    try {
      const p = this.plan(this.#peers);
      return p.requests.length > 0 || refusedKey(p) !== this.#refused;
    } catch {
      return true; // the device is gone, or the handle failed: the caller's ensure + sync will tell
    }
  }
}
