/**
 * The BGP backend (`--backend bgp`, kube-router's design): routed pods, no
 * tunnel. The agent leases the subnet as with the other backends; a BGP
 * speaker (BIRD 2, {@link BirdSpeaker}) in the node's namespace announces
 * the node's subnet to its peers — the members in a full mesh, or route
 * reflectors — and installs theirs into the main table. This backend writes
 * the speaker's configuration ({@link birdConfig}), starts or adopts the
 * speaker, restarts it when it dies, and reports the routes it installed as
 * the kernel holds them ({@link reportRoutes}), kept current by route
 * events.
 *
 * Why BIRD and not FRR for this job: one process per node (FRR needs zebra
 * and bgpd, each with its own pathspace per namespace), a configuration
 * that is reloaded atomically with only the changed sessions touched, and
 * filters that can say "this member's subnet via this member's address" per
 * route. FRR is the speaker for EVPN, which BIRD 2.0 does not speak.
 * @module
 */
import { type Handle, type Netns, RtnlInputError } from '../../index.js';
import type { Backend, BackendOptions, BackendReady, BackendSyncResult, RefusedPeer, RouteReport } from '../backend.js';
import { DriftWatcher } from '../drift.js';
import { type Local, localOf, wantedPeers } from '../plan.js';
import type { NetworkConfig, NodeRecord } from '../types.js';
import { underlayLink } from '../underlay.js';
import { type BgpMember, type BgpSettings, birdConfig } from './config.js';
import { reportRoutes } from './routes.js';
import { BirdSpeaker } from './speaker.js';

/** Options of a {@link BgpBackend}. */
export interface BgpBackendOptions {
  /** A handle in the node's namespace (reads the routes; cleans up leftovers). */
  handle: Handle;
  /** The node's namespace: the speaker runs there; undefined: the agent's own. */
  netns?: Netns;
  /** This node's record: its underlay address (router id, sessions) and its subnet (announced). */
  self: NodeRecord;
  network: NetworkConfig;
  /** The underlay device (for the pods' MTU); default: the device holding the underlay address. */
  underlayDevice?: string;
  settings: BgpSettings;
}

/** How often the supervisor checks that the speaker still runs, ms. */
const HEALTH_MS = 2000;

/** One node's BGP speaker and the routes it installs. */
export class BgpBackend implements Backend {
  /** {@inheritDoc Backend.kind} */
  readonly kind = 'bgp' as const;
  readonly #o: BgpBackendOptions;
  readonly #local: Local;
  readonly #speaker: BirdSpeaker;
  /** The peers of the last sync. */
  #peers: BgpMember[] = [];
  /** The configuration the running speaker was last given; undefined: unknown (adopted), so the next sync sends it. */
  #loaded: string | undefined;
  #watch: DriftWatcher | undefined;
  #health: NodeJS.Timeout | undefined;
  #report = '';

  /** Checks the options (IPv4 network and underlay: BGP here carries IPv4 routes over IPv4 sessions); nothing runs until {@link ensure}. */
  constructor(o: BgpBackendOptions) {
    this.#local = localOf(o.self.subnet, o.self.underlay);
    if (this.#local.underlayFamily !== 4 || this.#local.subnet.net.family !== 4) {
      throw new RtnlInputError('self', `the bgp backend needs an IPv4 subnet and underlay, got ${o.self.subnet} over ${o.self.underlay}`);
    }
    this.#o = o;
    this.#speaker = new BirdSpeaker({ dir: o.settings.dir, ...(o.netns ? { netns: o.netns } : {}), ...(o.settings.binary ? { binary: o.settings.binary } : {}) });
    birdConfig(this.#input([])); // validates the settings now, before anything starts
  }

  /** The bgp backend of the agent; `o.bgp` holds its settings. */
  static fromBackendOptions(o: BackendOptions): BgpBackend {
    if (!o.bgp) throw new RtnlInputError('bgp', 'the bgp backend needs its settings (AS, hold time, state directory)');
    return new BgpBackend({
      handle: o.handle, ...(o.netns === undefined ? {} : { netns: o.netns }), self: o.self, network: o.network,
      ...(o.underlayDevice === undefined ? {} : { underlayDevice: o.underlayDevice }), settings: o.bgp,
    });
  }

  /** The speaker (its control socket, for status and tests). */
  get speaker(): BirdSpeaker {
    return this.#speaker;
  }

  #input(peers: readonly BgpMember[]) {
    const s = this.#o.settings;
    return { asn: s.asn, local: this.#local.underlay, subnet: this.#o.self.subnet, members: peers, routeReflectors: s.routeReflectors, holdTimeSec: s.holdTimeSec };
  }

  /**
   * Adopts the node's running speaker, or starts one with the peers of the
   * last sync (none at first: the agent's first sync adds them). An adopted
   * speaker keeps its sessions: the next sync only reloads the
   * configuration, which changes nothing when the membership did not.
   */
  async ensure(): Promise<BackendReady> {
    const ul = underlayLink(this.#o.handle, this.#local.underlay, 4, this.#o.underlayDevice);
    if (this.#speaker.pid() === undefined) {
      const text = birdConfig(this.#input(this.#peers));
      await this.#speaker.start(text);
      this.#loaded = text;
    }
    return { mtu: this.#o.network.mtu ?? ul.mtu, replaced: false };
  }

  /** Configures the speaker's sessions and import filter for exactly `nodes` (IPv4 records; others are refused); reloads it only if that changed. */
  async sync(nodes: readonly NodeRecord[]): Promise<BackendSyncResult> {
    const t0 = performance.now();
    const { peers, skipped } = wantedPeers(nodes, this.#local, false);
    const next: BgpMember[] = [...peers.values()].map((r) => ({ underlay: r.underlay, subnet: r.subnet }));
    const refused: RefusedPeer[] = [];
    const before = new Map(this.#peers.map((p) => [p.subnet, p.underlay]));
    let added = 0, updated = 0, unchanged = 0;
    for (const p of next) {
      const was = before.get(p.subnet);
      if (was === undefined) added++;
      else if (was !== p.underlay) updated++;
      else unchanged++;
      before.delete(p.subnet);
    }
    const text = birdConfig(this.#input(next));
    if (text !== this.#loaded) {
      await this.#speaker.configure(text);
      this.#loaded = text;
    }
    this.#peers = next;
    return { added, updated, removed: before.size, unchanged, skipped, refused, durationMs: performance.now() - t0 };
  }

  /** The speaker's routes in the kernel against the last sync's peers: learned, missing, stale. */
  status(): RouteReport {
    const r = reportRoutes(this.#o.handle.routeList({ family: 4, protocol: 'bird' }), this.#peers);
    this.#report = JSON.stringify(r);
    return r;
  }

  /**
   * Calls onDrift when the speaker's routes change (learned, withdrawn,
   * removed by someone), so the agent's status follows BGP, and when the
   * speaker is no longer running (the agent's ensure then starts it again).
   */
  startWatching(onDrift: () => void): void {
    this.stop();
    this.#watch = new DriftWatcher({
      ...(this.#o.netns ? { netns: this.#o.netns } : {}), kinds: ['route'],
      concerns: (ev) => ev.kind === 'route' && ev.value.protocol === 'bird',
      drifted: () => {
        try {
          return JSON.stringify(reportRoutes(this.#o.handle.routeList({ family: 4, protocol: 'bird' }), this.#peers)) !== this.#report;
        } catch {
          return true;
        }
      },
    }, onDrift);
    this.#health = setInterval(() => {
      if (this.#speaker.pid() === undefined) onDrift();
    }, HEALTH_MS);
    this.#health.unref();
  }

  /** Stops watching and supervising; the speaker keeps running, with its sessions and routes (a restarted agent adopts it). */
  stop(): void {
    this.#watch?.close();
    this.#watch = undefined;
    clearInterval(this.#health);
    this.#health = undefined;
  }

  /**
   * Stops the speaker (its sessions close, so the peers withdraw this
   * node's subnet at once; BIRD removes the routes it installed), removes
   * its files, and deletes any `bird` route a speaker that was killed left
   * behind.
   */
  async cleanup(): Promise<void> {
    this.stop();
    await this.#speaker.stop();
    const h = this.#o.handle;
    const left = h.routeList({ family: 4, protocol: 'bird' });
    if (left.length > 0) h.batch((b) => { for (const r of left) b.routeDel({ dst: r.dst, protocol: 'bird', ...(r.priority === undefined ? {} : { priority: r.priority }) }); });
    this.#peers = [];
  }
}
