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
import type { EventKind, Handle, Netns, RtnlEvent } from '../index.js';
import { OverlaySyncError, applyRequests } from './apply.js';
import type { Backend, BackendOptions, BackendReady } from './backend.js';
import { OVERLAY_ROUTE_PROTOCOL } from './overlay.js';
import { type Plan, planHostGw } from './plan.js';
import { Reconciler } from './reconciler.js';
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

/**
 * One node's host-gw routes: {@link HostGw.sync} reconciles them with the
 * membership (one dump of the main table, then only the difference);
 * {@link HostGw.startWatching} reports routes deleted or altered and
 * connected subnets gone or come (so a peer's route must go, or can now be
 * made), and lost events.
 */
export class HostGw extends Reconciler implements Backend {
  /** {@inheritDoc Backend.kind} */
  readonly kind = 'host-gw' as const;
  readonly #o: HostGwOptions;
  readonly #protocol: number;

  /** Checks the options; nothing is sent until {@link HostGw.sync}. */
  constructor(o: HostGwOptions) {
    super(o.handle, o.netns, o.subnet, o.local, false);
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
    const ul = underlayLink(this.handle, this.local.underlay, this.local.underlayFamily, this.#o.underlayDevice);
    return { mtu: this.#o.mtu ?? ul.mtu, replaced: false };
  }

  /** Stops watching and deletes every route of the backend's protocol in the main table (of this node's family). */
  cleanup(): void {
    this.stop();
    const failures = applyRequests(this.handle, this.plan(new Map()).requests);
    this.forget();
    if (failures.length > 0) throw new OverlaySyncError(failures, { added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: 0, skipped: 0, refused: [] });
  }

  /** Per peer its subnet via its underlay address on the connected device; peers behind someone's route, or off the L2 segment, refused. */
  protected plan(peers: ReadonlyMap<string, NodeRecord>): Plan {
    return planHostGw(this.#protocol, this.handle.routeList({ family: this.local.subnet.net.family }), peers);
  }

  /** The event kinds the drift watch subscribes to. */
  protected watchKinds(): EventKind[] {
    return ['route', 'address', 'link'];
  }

  /** Routes of the main table (of the family) and any address or link change (a connected subnet may have come or gone). */
  protected concerns(ev: RtnlEvent): boolean {
    if (ev.kind === 'route') return ev.value.table === 254 && ev.value.family === this.local.subnet.net.family;
    return ev.kind === 'address' || ev.kind === 'link';
  }
}
