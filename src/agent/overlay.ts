/**
 * The VXLAN backend: one nolearning VXLAN device whose permanent
 * neighbours, unicast FDB entries and onlink routes are reconciled with the
 * cluster's membership, flannel style. Per remote node: the VTEP address (the
 * first address of its subnet) → its VTEP MAC as a permanent neighbour, that
 * MAC → its underlay address as an FDB entry, and its subnet via the VTEP
 * address `onlink`. Every sync reads what the kernel holds and applies only
 * the difference ({@link planVxlan}), in one batch, so a route that is still
 * right is never touched. The device I/O is `VxlanDevice`'s (vxlan-device.ts),
 * the watching {@link DriftWatcher}'s.
 * @module
 */
import { NetlinkError, type Netns, RtnlInputError, type RtnlEvent } from '../index.js';
import type { Handle } from '../handle.js';
import { formatIp } from '../ipam/ip.js';
import { OverlaySyncError, applyRequests } from './apply.js';
import type { Backend, BackendOptions, BackendReady, BackendSyncResult, RouteReport } from './backend.js';
import { DriftWatcher } from './drift.js';
import { type Local, type Plan, localOf, planVxlan, wantedPeers } from './plan.js';
import { isVtepMac } from './record.js';
import type { NodeRecord } from './types.js';
import { type OverlayDevice, VxlanDevice } from './vxlan-device.js';

export { type OverlayFailure, OverlaySyncError } from './apply.js';
export type { OverlayDevice } from './vxlan-device.js';

/**
 * The rtm_protocol the agent's routes carry (`ip route show proto 62`):
 * unassigned in iproute2's rt_protos, so the agent's routes are told apart
 * from anyone else's, and a sync only ever removes routes it made.
 */
export const OVERLAY_ROUTE_PROTOCOL = 62;

/** Options of an {@link Overlay}. */
export interface OverlayOptions {
  /** A handle in the node's namespace; every change goes through it. */
  handle: Handle;
  /** The node's namespace, for the event subscription of {@link Overlay.startWatching}; undefined: the current one. */
  netns?: Netns;
  /** The VXLAN device's name. */
  device: string;
  /** VXLAN network identifier. */
  vni: number;
  /** VXLAN UDP destination port. */
  port: number;
  /** This node's underlay address (IPv4 or IPv6): the tunnel's source. */
  local: string;
  /** This node's pod subnet; its first address is the VTEP address. */
  subnet: string;
  /** The VTEP MAC: the device is made with it, and one with another MAC is replaced. */
  mac?: string;
  /** The device's MTU; default: the underlay device's minus 50 (IPv4) or 70 (IPv6) bytes. */
  mtu?: number;
  /** The underlay device's name; default: the device holding `local`. */
  underlayDevice?: string;
  /** rtm_protocol of the overlay's routes; default {@link OVERLAY_ROUTE_PROTOCOL}. */
  protocol?: number;
}

/** What one {@link Overlay.sync} did, counted in remote nodes. */
export type OverlaySyncResult = BackendSyncResult;

/**
 * The VXLAN overlay of one node: {@link Overlay.ensure} makes the device,
 * {@link Overlay.sync} reconciles its peers with the membership,
 * {@link Overlay.startWatching} reports changes made behind its back.
 */
export class Overlay implements Backend {
  /** {@inheritDoc Backend.kind} */
  readonly kind = 'vxlan' as const;
  readonly #h: Handle;
  readonly #netns: Netns | undefined;
  readonly #dev: VxlanDevice;
  readonly #local: Local;
  readonly #protocol: number;
  /** The device's ifindex and MTU as ensure() or sync() last saw them. */
  #index: number | undefined;
  #mtu: number | undefined;
  /** The remote nodes of the last sync: what drift is judged against. */
  #peers: Map<string, NodeRecord> | undefined;
  #watch: DriftWatcher | undefined;

  /** Checks the options; nothing is sent until {@link Overlay.ensure} or {@link Overlay.sync}. */
  constructor(o: OverlayOptions) {
    this.#local = localOf(o.subnet, o.local);
    const mac = o.mac?.toLowerCase();
    if (mac !== undefined && !isVtepMac(mac)) throw new RtnlInputError('mac', `expected a unicast MAC, got ${o.mac}`);
    this.#h = o.handle;
    this.#netns = o.netns;
    this.#protocol = o.protocol ?? OVERLAY_ROUTE_PROTOCOL;
    this.#dev = new VxlanDevice({
      device: o.device, vni: o.vni, port: o.port, local: this.#local.underlay, localFamily: this.#local.underlayFamily, subnet: this.#local.subnet,
      ...(mac === undefined ? {} : { mac }), ...(o.mtu === undefined ? {} : { mtu: o.mtu }), ...(o.underlayDevice === undefined ? {} : { underlayDevice: o.underlayDevice }),
    }, o.handle);
  }

  /** The VXLAN backend of the agent: device `rtnl.<vni>` unless named, the node's VTEP MAC, the network's VNI, port and MTU. */
  static fromBackendOptions(o: BackendOptions): Overlay {
    const vni = o.network.vni ?? 1;
    return new Overlay({
      handle: o.handle, ...(o.netns === undefined ? {} : { netns: o.netns }), device: o.device ?? `rtnl.${vni}`, vni, port: o.network.port ?? 4789,
      local: o.self.underlay, subnet: o.self.subnet, ...(o.self.vtepMac === undefined ? {} : { mac: o.self.vtepMac }),
      ...(o.network.mtu === undefined ? {} : { mtu: o.network.mtu }), ...(o.underlayDevice === undefined ? {} : { underlayDevice: o.underlayDevice }),
    });
  }

  /** The VXLAN device's name. */
  get device(): string {
    return this.#dev.spec.device;
  }

  /** This node's VTEP address: the first address of its subnet, held by the device as a host address. */
  get vtepIp(): string {
    return formatIp(this.#local.subnet.net);
  }

  /** Makes the device right (`VxlanDevice.ensure`): adopted when it matches, else made again. */
  ensure(): OverlayDevice & BackendReady {
    const d = this.#dev.ensure();
    this.#index = d.index;
    this.#mtu = d.mtu;
    return { ...d, device: { name: this.device, index: d.index, mac: d.mac, mtu: d.mtu } };
  }

  /**
   * Makes the device's permanent neighbours, unicast FDB entries and routes
   * of the overlay's protocol exactly match the remote nodes among `nodes`
   * (this node, by subnet or underlay address, is left out; unusable
   * records are skipped). Reads the current state with three dumps and
   * sends only the difference, in one batch. Throws {@link OverlaySyncError}
   * if some of it was refused, and the kernel's error if the device is
   * missing.
   */
  sync(nodes: readonly NodeRecord[]): OverlaySyncResult {
    const t0 = performance.now();
    const link = this.#h.linkGet(this.device).index;
    this.#index = link;
    const { peers, skipped } = wantedPeers(nodes, this.#local, true);
    this.#peers = peers;
    const { requests, counts } = this.#plan(link, peers);
    const failures = applyRequests(this.#h, requests);
    const result = { ...counts, skipped, durationMs: performance.now() - t0 };
    if (failures.length > 0) throw new OverlaySyncError(failures, result);
    return result;
  }

  /** The routes on the device against the last sync's peers. */
  status(): RouteReport {
    const link = this.#h.linkGet(this.device).index;
    return this.#plan(link, this.#peers ?? new Map()).routes;
  }

  /**
   * Watches the node's links, neighbours, FDB entries and routes, and calls
   * onDrift when the device or its entries no longer match the last sync: a
   * route, neighbour or FDB entry deleted or altered by someone else, the
   * device set down, renamed or deleted; and whenever the kernel reports
   * lost events. Events about the device are debounced (`debounceMs` of
   * quiet, default 100). The caller answers with {@link Overlay.ensure} and
   * {@link Overlay.sync}. Calling it again replaces the previous watch.
   */
  startWatching(onDrift: () => void, o: { debounceMs?: number } = {}): void {
    this.stop();
    this.#watch = new DriftWatcher({
      ...(this.#netns ? { netns: this.#netns } : {}), kinds: ['link', 'neighbour', 'fdb', 'route'],
      ...(o.debounceMs === undefined ? {} : { debounceMs: o.debounceMs }),
      concerns: (ev) => this.#concerns(ev),
      drifted: () => this.#drifted(),
    }, onDrift);
  }

  /** Stops watching; a pending onDrift is cancelled. Safe to call when not watching. The device and its entries stay. */
  stop(): void {
    this.#watch?.close();
    this.#watch = undefined;
  }

  /** Stops watching and deletes the device; its routes, neighbours and FDB entries go with it. A missing device is fine. */
  cleanup(): void {
    this.stop();
    try {
      this.#h.linkDel(this.device);
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === 'ENODEV')) throw e;
    }
    this.#index = undefined;
    this.#mtu = undefined;
    this.#peers = undefined;
  }

  #plan(link: number, peers: Map<string, NodeRecord>): Plan {
    return planVxlan(link, this.#protocol, this.#dev.dump(link), peers);
  }

  /** Whether an event is about the device or something on it. */
  #concerns(ev: RtnlEvent): boolean {
    if (ev.kind === 'link') return ev.value.index === this.#index || ev.value.name === this.device;
    return this.#index !== undefined && ev.value.link === this.#index;
  }

  /** Whether the device is gone, down, another one, altered, or its entries differ from what the last sync planned. */
  #drifted(): boolean {
    try {
      const l = this.#h.linkGet(this.device);
      if (!l.up || !this.#dev.adoptable(l) || (this.#index !== undefined && l.index !== this.#index) || (this.#mtu !== undefined && l.mtu !== this.#mtu)) return true;
      return this.#peers !== undefined && this.#plan(l.index, this.#peers).requests.length > 0;
    } catch {
      return true; // ENODEV, or the handle failed: the caller's ensure + sync will tell
    }
  }
}
