/**
 * The VXLAN backend's device I/O: makes or adopts the nolearning VXLAN
 * device with the VTEP address, and reads what it holds (the dumps the
 * planner diffs against).
 * @module
 */
import { type Handle, type Link, NetlinkError, assertBatch } from '../index.js';
import { type Cidr, bits, withPrefix } from '../ipam/ip.js';
import type { VxlanDump } from './plan.js';
import { canonIp, underlayLink } from './underlay.js';

/** Bytes VXLAN adds over an IPv4 underlay (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14); IPv6 adds 20 more. */
const ENCAP_V4 = 50;
const ENCAP_V6 = 70;

/** The device as configured. */
export interface VxlanDeviceSpec {
  device: string;
  vni: number;
  port: number;
  /** The tunnel's source, canonical. */
  local: string;
  localFamily: 4 | 6;
  /** This node's pod subnet; its first address is the VTEP address. */
  subnet: Cidr;
  /** The VTEP MAC, lower case. */
  mac?: string;
  mtu?: number;
  underlayDevice?: string;
}

/** What `VxlanDevice.ensure` found or made. */
export interface OverlayDevice {
  index: number;
  mac: string;
  mtu: number;
  /** An existing device that did not match was deleted and made again. */
  replaced: boolean;
}

/** One node's VXLAN device. */
export class VxlanDevice {
  constructor(readonly spec: VxlanDeviceSpec, readonly handle: Handle) {}

  /**
   * Makes the device right: adopts an existing one that matches (vxlan, VNI,
   * port, local address, nolearning, MAC when given, underlay device when
   * given), else deletes it and creates it again; sets it up with the MTU,
   * and leaves the VTEP address (/32 or /128) as its only address (IPv6
   * link-local ones aside).
   */
  ensure(): OverlayDevice {
    const o = this.spec;
    const h = this.handle;
    const ul = underlayLink(h, o.local, o.localFamily, o.underlayDevice);
    const mtu = o.mtu ?? ul.mtu - (o.localFamily === 4 ? ENCAP_V4 : ENCAP_V6);
    let link = this.find();
    let replaced = false;
    if (link && !this.adoptable(link, ul.index)) {
      h.linkDel(link.index);
      link = undefined;
      replaced = true;
    }
    if (!link) {
      h.linkAdd({
        kind: 'vxlan', name: o.device, vni: o.vni, port: o.port, local: o.local, device: ul.index, learning: false, mtu, up: true,
        ...(o.mac === undefined ? {} : { address: o.mac }),
      });
      link = h.linkGet(o.device);
    } else if (!link.up || link.mtu !== mtu) {
      h.linkSet(link.index, { up: true, mtu });
    }
    this.#ensureAddress(link.index);
    return { index: link.index, mac: link.address!, mtu, replaced };
  }

  /** The device, or undefined when there is none. */
  find(): Link | undefined {
    try {
      return this.handle.linkGet(this.spec.device);
    } catch (e) {
      if (e instanceof NetlinkError && e.code === 'ENODEV') return undefined;
      throw e;
    }
  }

  /** Whether l is the device as configured; the underlay device is checked when named and its index given. */
  adoptable(l: Link, underlay?: number): boolean {
    const o = this.spec;
    return l.kind === 'vxlan' && l.vni === o.vni && l.port === o.port && l.learning === false
      && l.local !== undefined && canonIp(l.local) === o.local
      && (o.mac === undefined || l.address === o.mac)
      && (o.underlayDevice === undefined || underlay === undefined || l.device === underlay);
  }

  /**
   * What the planner needs, read with three dumps: the family's main-table
   * routes (everyone's: a route in a peer's way must be seen), and the
   * device's permanent neighbours and FDB entries (filtered by the kernel).
   */
  dump(link: number): VxlanDump {
    const h = this.handle;
    const family = this.spec.subnet.net.family;
    return { routes: h.routeList({ family }), neighs: h.neighList({ link, family }), fdb: h.fdbList({ link }) };
  }

  /** The VTEP address as the device's only address; IPv6 link-local addresses are the kernel's and stay. */
  #ensureAddress(link: number): void {
    const net = this.spec.subnet.net;
    const want = withPrefix(net, bits(net.family));
    const have = this.handle.addrList({ link });
    const extra = have.filter((a) => a.address !== want && !(a.family === 6 && a.local.toLowerCase().startsWith('fe80:')));
    const missing = !have.some((a) => a.address === want);
    if (extra.length === 0 && !missing) return;
    assertBatch(this.handle.batch((b) => {
      for (const a of extra) b.addrDel({ link, address: a.address });
      if (missing) b.addrAdd({ link, address: want, ...(net.family === 6 ? { flags: ['nodad'] as const } : {}) });
    }));
  }
}
