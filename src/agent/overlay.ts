/**
 * The VXLAN backend: one nolearning VXLAN device whose permanent
 * neighbours, unicast FDB entries and onlink routes are reconciled with the
 * cluster's membership, flannel style. Per remote node: the VTEP address (the
 * first address of its subnet) → its VTEP MAC as a permanent neighbour, that
 * MAC → its underlay address as an FDB entry, and its subnet via the VTEP
 * address `onlink`. Every sync reads what the kernel holds and applies only
 * the difference ({@link planVxlan}), in one batch, so a route that is still
 * right is never touched. The device I/O is `VxlanDevice`'s (vxlan-device.ts),
 * the sync and watch {@link Reconciler}'s.
 * @module
 */
import { type EventKind, NetlinkError, type Netns, RtnlInputError, type RtnlEvent } from '../index.js';
import type { Handle } from '../handle.js';
import { formatIp } from '../ipam/ip.js';
import type { Backend, BackendOptions, BackendReady, BackendSyncResult } from './backend.js';
import { type Plan, planVxlan } from './plan.js';
import { Reconciler } from './reconciler.js';
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
 * The VXLAN overlay of one node: {@link Overlay.ensure} makes the device;
 * {@link Overlay.sync} makes its permanent neighbours, unicast FDB entries
 * and routes of the overlay's protocol exactly match the peers (three dumps,
 * then only the difference, in one batch; the kernel's ENODEV when the
 * device is missing); {@link Overlay.startWatching} reports changes made
 * behind its back: a route, neighbour or FDB entry deleted or altered, the
 * device set down, renamed or deleted, lost events.
 */
export class Overlay extends Reconciler implements Backend {
  /** {@inheritDoc Backend.kind} */
  readonly kind = 'vxlan' as const;
  readonly #dev: VxlanDevice;
  readonly #protocol: number;
  /** The device's ifindex and MTU as ensure() or the last plan saw them. */
  #index: number | undefined;
  #mtu: number | undefined;

  /** Checks the options; nothing is sent until {@link Overlay.ensure} or {@link Overlay.sync}. */
  constructor(o: OverlayOptions) {
    super(o.handle, o.netns, o.subnet, o.local, true);
    const mac = o.mac?.toLowerCase();
    if (mac !== undefined && !isVtepMac(mac)) throw new RtnlInputError('mac', `expected a unicast MAC, got ${o.mac}`);
    const local = this.local;
    this.#protocol = o.protocol ?? OVERLAY_ROUTE_PROTOCOL;
    this.#dev = new VxlanDevice({
      device: o.device, vni: o.vni, port: o.port, local: local.underlay, localFamily: local.underlayFamily, subnet: local.subnet,
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
    return formatIp(this.local.subnet.net);
  }

  /** Makes the device right (`VxlanDevice.ensure`): adopted when it matches, else made again. */
  ensure(): OverlayDevice & BackendReady {
    const d = this.#dev.ensure();
    this.#index = d.index;
    this.#mtu = d.mtu;
    return { ...d, device: { name: this.device, index: d.index, mac: d.mac, mtu: d.mtu } };
  }

  /** Stops watching and deletes the device; its routes, neighbours and FDB entries go with it. A missing device is fine. */
  cleanup(): void {
    this.stop();
    try {
      this.handle.linkDel(this.device);
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === 'ENODEV')) throw e;
    }
    this.#index = undefined;
    this.#mtu = undefined;
    this.forget();
  }

  /** Plans against the device as it is now (the kernel's ENODEV when it is gone). */
  protected plan(peers: ReadonlyMap<string, NodeRecord>): Plan {
    const link = this.handle.linkGet(this.device).index;
    this.#index = link;
    return planVxlan(link, this.#protocol, this.#dev.dump(link), peers);
  }

  /** The event kinds the drift watch subscribes to. */
  protected watchKinds(): EventKind[] {
    return ['link', 'neighbour', 'fdb', 'route'];
  }

  /** Whether an event is about the device or something on it. */
  protected concerns(ev: RtnlEvent): boolean {
    if (ev.kind === 'link') return ev.value.index === this.#index || ev.value.name === this.device;
    return this.#index !== undefined && ev.value.link === this.#index;
  }

  /** Whether the device is gone, down, another one, altered, or its entries differ from what the last sync planned. */
  protected override drifted(): boolean {
    const before = this.#index;
    try {
      const l = this.handle.linkGet(this.device);
      if (!l.up || !this.#dev.adoptable(l) || (before !== undefined && l.index !== before) || (this.#mtu !== undefined && l.mtu !== this.#mtu)) return true;
    } catch {
      return true; // ENODEV, or the handle failed: the caller's ensure + sync will tell
    }
    return super.drifted();
  }
}
