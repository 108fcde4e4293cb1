/**
 * The agent's EVPN role (`--evpn`): this node's BGP EVPN speaker for the
 * rtnl plugin's `"evpn": true` networks (VPCs), run and supervised by the
 * agent. A role beside the backend, not a backend: a backend carries the
 * cluster network's pod subnets between the members the agent is told of,
 * while EVPN carries the VPCs' VNIs and MACs between whatever VTEPs the
 * reflectors know; it needs neither the membership nor the lease (only the
 * node's underlay address, its router id), and a node may have both, with
 * any backend.
 *
 * The role writes bgpd's configuration ({@link frrEvpnConfig}: values from
 * the parsed flags and the node's underlay address only) and runs FRR's
 * zebra and bgpd ({@link FrrSpeaker}) in the node's namespace under the
 * node's pathspace, so `vtysh -N <pathspace>` reaches them. As the BGP
 * backend's BIRD does, the speaker belongs to the node: SIGTERM leaves it
 * running with its sessions (the other VTEPs keep this node's entries), a
 * restarted agent adopts it through its pid files, and `--cleanup` stops it.
 * Every few seconds the role checks that both daemons run (one gone: both
 * are started again, bgpd registers with zebra only when it starts) and
 * reads the state back: sessions from bgpd's vty, VNIs and remote VTEPs
 * from the kernel's FDB (what is programmed, not what bgpd believes).
 * @module
 */
import * as fs from 'node:fs';
import type { Handle, Netns } from '../../index.js';
import { FrrSpeaker, frrEvpnConfig } from '../bgp/evpn.js';
import { DriftWatcher } from '../drift.js';
import type { Logger } from '../log.js';
import type { EvpnSettings } from './flags.js';
import { frrCommand } from './vty.js';

/** One VNI of this node, as its `vx<VNI>` device's FDB holds it. */
export interface EvpnVniStatus {
  vni: number;
  device: string;
  /** The VTEPs it floods to (type-3 routes installed), sorted. */
  remoteVteps: string[];
  /** How many remote pod MACs it holds (type-2 routes installed). */
  remoteMacs: number;
}

/** The EVPN role's state, in the agent's status. */
export interface EvpnStatus {
  role: 'vtep' | 'reflector';
  pathspace: string;
  /** The daemons' pids; absent: not running. */
  zebra?: number;
  bgpd?: number;
  /** bgpd's l2vpn evpn sessions: peer address and BGP state (`Established` when up). */
  sessions: Array<{ peer: string; state: string }>;
  /** The node's VNIs: the plugin's `vx<VNI>` devices, by VNI. */
  vnis: EvpnVniStatus[];
  /** Why the speaker is not running or could not be read; absent when all is well. */
  problem?: string;
}

/** Options of an {@link EvpnRole}. */
export interface EvpnRoleOptions {
  /** A handle in the node's namespace (reads the VXLAN devices and their FDB). */
  handle: Handle;
  /** The node's namespace: the daemons run there; undefined: the agent's own. */
  netns?: Netns;
  /** The node's underlay address: the router id, and the VTEP address zebra advertises. */
  routerId: string;
  settings: EvpnSettings;
  log: Logger;
}

/** How often the role checks the daemons and reads the state back, ms. */
const HEALTH_MS = 2000;

const ZERO_MAC = '00:00:00:00:00:00';

/** The node's EVPN speaker, supervised. */
export class EvpnRole {
  readonly #o: EvpnRoleOptions;
  readonly #speaker: FrrSpeaker;
  readonly #config: string;
  #timer: NodeJS.Timeout | undefined;
  #watch: DriftWatcher | undefined;
  #last = '';
  #busy = false;

  /** Writes nothing yet: builds (and so validates) the configuration. */
  constructor(o: EvpnRoleOptions) {
    const s = o.settings;
    this.#o = o;
    this.#config = frrEvpnConfig({
      asn: s.asn, routerId: o.routerId, holdTimeSec: s.holdTimeSec,
      ...(s.listenRange === undefined ? { routeReflectors: s.routeReflectors ?? [] } : { listenRange: s.listenRange }),
    });
    this.#speaker = speakerOf(s, o.netns);
  }

  /**
   * Adopts the node's zebra and bgpd when both run with this configuration;
   * otherwise stops whichever runs and starts both (another configuration:
   * the flags changed, and bgpd is given a new one only by a restart).
   */
  async ensure(): Promise<'adopted' | 'started'> {
    const p = this.#speaker.pids();
    let conf: string | undefined;
    try { conf = fs.readFileSync(this.#speaker.file('bgpd.conf'), 'utf8'); } catch { /* none */ }
    if (p.zebra !== undefined && p.bgpd !== undefined && conf === this.#config) return 'adopted';
    await this.#speaker.stop();
    await this.#speaker.start(this.#config);
    return 'started';
  }

  /** The speaker's state: its pids, its sessions (bgpd's vty), and the node's VNIs with their remote VTEPs (the kernel's FDB). */
  async status(): Promise<EvpnStatus> {
    const s = this.#o.settings;
    const p = this.#speaker.pids();
    const st: EvpnStatus = {
      role: s.listenRange === undefined ? 'vtep' : 'reflector', pathspace: s.pathspace,
      ...(p.zebra === undefined ? {} : { zebra: p.zebra }), ...(p.bgpd === undefined ? {} : { bgpd: p.bgpd }), sessions: [], vnis: [],
    };
    if (p.zebra === undefined || p.bgpd === undefined) st.problem = `FRR not running (${p.zebra === undefined ? 'zebra' : 'bgpd'} is not)`;
    else {
      try {
        const sum = JSON.parse(await frrCommand(this.#speaker.file('bgpd.vty'), 'show bgp l2vpn evpn summary json')) as { peers?: Record<string, { state?: unknown }> };
        st.sessions = Object.entries(sum.peers ?? {}).map(([peer, v]) => ({ peer, state: String(v.state) })).sort((a, b) => a.peer.localeCompare(b.peer));
      } catch (e) {
        st.problem = `bgpd's state unreadable: ${(e as Error).message}`;
      }
    }
    const h = this.#o.handle;
    for (const l of h.linkList({ kind: 'vxlan' })) {
      // The plugin's EVPN devices: vx<VNI> carrying that VNI.
      if (l.kind !== 'vxlan' || l.name !== `vx${l.vni}`) continue;
      const remote = h.fdbList({ link: l.index }).filter((e) => e.dst !== undefined);
      st.vnis.push({
        vni: l.vni, device: l.name,
        remoteVteps: [...new Set(remote.filter((e) => e.mac === ZERO_MAC).map((e) => e.dst!))].sort(),
        remoteMacs: remote.filter((e) => e.mac !== ZERO_MAC).length,
      });
    }
    st.vnis.sort((a, b) => a.vni - b.vni);
    return st;
  }

  /**
   * Every few seconds: starts the daemons again if one died, reads the
   * state back, and calls `onStatus` when it changed (and once now). A
   * change of a VXLAN device or of a remote FDB entry reads it back at once,
   * so the status follows EVPN without waiting for the next check.
   */
  supervise(onStatus: (s: EvpnStatus) => void): void {
    this.stop();
    const tick = async (): Promise<void> => {
      if (this.#busy) return;
      this.#busy = true;
      try {
        const p = this.#speaker.pids();
        if (p.zebra === undefined || p.bgpd === undefined) {
          this.#o.log.warn('evpn speaker not running; starting it again', { pathspace: this.#o.settings.pathspace, zebra: p.zebra ?? null, bgpd: p.bgpd ?? null });
          await this.ensure().catch((e: unknown) => this.#o.log.error('evpn speaker start failed', { error: e }));
        }
        const s = await this.status();
        const text = JSON.stringify(s);
        if (this.#timer !== undefined && text !== this.#last) {
          this.#last = text;
          onStatus(s);
        }
      } catch (e) {
        // Stopped meanwhile (the handle is closed), or the kernel refused a dump: the next tick reads again.
        if (this.#timer !== undefined) this.#o.log.warn('evpn state unreadable', { error: e });
      } finally {
        this.#busy = false;
      }
    };
    this.#timer = setInterval(() => void tick(), HEALTH_MS);
    this.#timer.unref();
    this.#watch = new DriftWatcher({
      ...(this.#o.netns === undefined ? {} : { netns: this.#o.netns }), kinds: ['link', 'fdb'],
      concerns: (ev) => (ev.kind === 'fdb' ? ev.value.dst !== undefined : ev.kind === 'link' && ev.value.kind === 'vxlan'),
      drifted: () => true, // tick compares the whole state
    }, () => void tick());
    void tick();
  }

  /** Stops supervising; the daemons keep running with their sessions (a restarted agent adopts them). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watch?.close();
    this.#watch = undefined;
  }
}

/** The FRR speaker of `settings` (its files in `/run/frr/<pathspace>`). */
const speakerOf = (s: EvpnSettings, netns?: Netns): FrrSpeaker => new FrrSpeaker({ pathspace: s.pathspace, ...(netns === undefined ? {} : { netns }) });

/**
 * `--cleanup` of the role: stops bgpd (its sessions close, so the reflectors
 * withdraw this node's VNIs and MACs at once) and zebra, and removes their
 * files. The VXLAN devices are the plugin's (its pods'), not touched.
 */
export async function cleanupEvpn(settings: EvpnSettings): Promise<void> {
  await speakerOf(settings).stop();
}

/** Starts (or adopts) the node's EVPN speaker and supervises it; `onStatus` hears of each new state. */
export async function startEvpn(o: EvpnRoleOptions, onStatus: (s: EvpnStatus) => void): Promise<EvpnRole> {
  const role = new EvpnRole(o);
  const how = await role.ensure();
  o.log.info(`evpn speaker ${how}`, { pathspace: o.settings.pathspace, role: o.settings.listenRange === undefined ? 'vtep' : 'reflector' });
  role.supervise(onStatus);
  return role;
}
