/**
 * The node agent's dataplane backends, behind one small interface: the
 * agent leases the subnet and decides which records are peers; a backend
 * makes the node's kernel (or a routing daemon it supervises) route to
 * exactly those peers' subnets. `--backend vxlan` ({@link Overlay}: a VXLAN
 * device with a neighbour, an FDB entry and an onlink route per peer),
 * `--backend host-gw` ({@link HostGw}: a route per peer via its underlay
 * address, nodes sharing an L2 underlay).
 * @module
 */
import { type Handle, type Netns } from '../index.js';
import type { BgpSettings } from './bgp/config.js';
import type { NetworkConfig, NodeRecord } from './types.js';

/** The backends `rtnl-agent --backend` accepts. */
export type BackendKind = 'vxlan' | 'host-gw' | 'bgp';

/** Everything a backend is made from: the node's namespace, its own record and the network's settings. */
export interface BackendOptions {
  /** A handle in the node's namespace; every change goes through it. */
  handle: Handle;
  /** The node's namespace, for event subscriptions; undefined: the current one. */
  netns?: Netns;
  /** This node's record (its leased subnet and underlay address; the VTEP MAC for vxlan). */
  self: NodeRecord;
  /** The cluster's settings (VNI, port, MTU). */
  network: NetworkConfig;
  /** The backend's own device name, for backends that make one (`--device`); undefined: the backend's default. */
  device?: string;
  /** The underlay device (`--iface`); undefined: the device holding the node's underlay address. */
  underlayDevice?: string;
  /** The bgp backend's settings (`--bgp-*`). */
  bgp?: BgpSettings;
}

/**
 * A backend as `--backend` names it: how the agent makes one, and what node
 * records must carry for it (known before the node's record is published).
 */
export interface BackendType {
  /** Whether node records carry a VTEP MAC: the agent publishes one, and the policy refuses peers without one. */
  needsVtepMac: boolean;
  /** Makes the backend for this node; nothing is sent until {@link Backend.ensure}. */
  create(o: BackendOptions): Backend;
}

/** What {@link Backend.ensure} found or made. */
export interface BackendReady {
  /** The MTU pods should use (the underlay's, less any encapsulation). */
  mtu: number;
  /** The device the backend made or adopted, if it makes one. */
  device?: { name: string; index: number; mac?: string; mtu: number };
  /** An existing device that did not match was deleted and made again. */
  replaced: boolean;
}

/** A peer the backend does not program, and why (logged and shown like the policy's refusals). */
export interface RefusedPeer {
  /** The peer's subnet. */
  subnet: string;
  reason: string;
}

/** What one {@link Backend.sync} did, counted in peers. */
export interface BackendSyncResult {
  /** Peers whose route was missing and was put in. */
  added: number;
  /** Peers whose route (or what it depends on) was there but differed. */
  updated: number;
  /** Peers (or leftovers of them) no longer in the set, deleted. */
  removed: number;
  /** Peers already exactly right: nothing was sent for them. */
  unchanged: number;
  /** Wall time of the sync, reading the state included. */
  durationMs: number;
  /** Records ignored as unusable (a backend's own last line of defence; the agent's policy filters first). */
  skipped: number;
  /** Peers not programmed, with the reason (a route the agent did not make in the way, an unreachable underlay). */
  refused: RefusedPeer[];
}

/** The routes a backend holds, compared with the peers it was last given (subnets). */
export interface RouteReport {
  /** Peers with their route in place. */
  learned: string[];
  /** Peers without it (refused, or not yet programmed). */
  missing: string[];
  /** Routes of the backend's making for subnets that are no peer's. */
  stale: string[];
}

/**
 * A dataplane backend. The agent calls {@link ensure} once at start and
 * again after drift, {@link sync} with the full peer set on every change,
 * {@link status} after each sync; {@link stop} on SIGTERM (the dataplane
 * stays), {@link cleanup} on `--cleanup`. Methods may complete synchronously
 * (netlink) or return a promise (a supervised routing daemon); the agent
 * awaits them, one at a time.
 */
export interface Backend {
  /** Which backend this is. */
  readonly kind: BackendKind;
  /** Makes (or adopts) whatever the backend needs before routes can go in: a device, a daemon. */
  ensure(): BackendReady | Promise<BackendReady>;
  /** Makes the routes match exactly `peers` (this node's own record is left out); only the difference is applied. */
  sync(peers: readonly NodeRecord[]): BackendSyncResult | Promise<BackendSyncResult>;
  /** The routes as the kernel holds them now, against the peers of the last sync. */
  status(): RouteReport | Promise<RouteReport>;
  /** Calls onDrift when what the backend made is changed behind its back (the agent answers with ensure + sync). */
  startWatching(onDrift: () => void): void;
  /** Stops watching (and supervising); what the backend made stays in place. */
  stop(): void | Promise<void>;
  /** Stops, and removes everything the backend made. */
  cleanup(): void | Promise<void>;
}
