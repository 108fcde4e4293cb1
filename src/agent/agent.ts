/**
 * The node agent: leases this node's pod subnet, publishes the node, and
 * keeps the node's routes to the other nodes' subnets equal to the live
 * membership — flanneld's job with its etcd backend, on rtnl. Membership
 * comes from etcd ({@link EtcdMembership}) or from a static file
 * ({@link StaticMembership}); the dataplane is a {@link Backend} (`--backend`:
 * a VXLAN overlay, or host-gw routes), which only ever applies the
 * difference, so restarts and resyncs never flap a route that is still right.
 * @module
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Handle, type Netns, openNetns } from '../index.js';
import { EtcdAuthError, EtcdClient, type EtcdClientOptions, EtcdTlsError } from '../etcd/index.js';
import { type Daemon, startDaemon } from '../plugin/daemon.js';
import { localMac } from '../primitives/names.js';
import { removeConflist, writeConflist } from './cni.js';
import type { AgentOptions } from './cli.js';
import { SubnetLease, ensureNetworkConfig, readNetworkConfig, subnetKey } from './lease.js';
import type { Logger } from './log.js';
import type { Backend, BackendReady, BackendType } from './backend.js';
import { BACKENDS } from './backends.js';
import { type EvpnRole, cleanupEvpn, startEvpn } from './evpn/role.js';
import { admitPeers } from './policy.js';
import { EtcdMembership } from './registry.js';
import { type AgentStatus, StateDir } from './state.js';
import { StaticMembership, readStaticFile } from './static.js';
import type { Candidate, Members, Membership, NetworkConfig, NodeRecord, RejectedRecord } from './types.js';

/**
 * The VTEP MAC of a node: derived from its name and VNI, locally
 * administered and unicast. Stable across restarts and device re-creation,
 * so peers never need an update when an agent recreates its device.
 */
export function vtepMacFor(nodeName: string, vni: number): string {
  return localMac(createHash('sha256').update(`${nodeName}/${vni}`).digest());
}

/** The node's underlay address: `--public-ip`, else the first global address of `--iface` or of the default route's device. */
function underlayOf(h: Handle, o: AgentOptions): string {
  if (o.publicIp !== undefined) {
    if (!h.addrList().some((a) => a.local === o.publicIp)) throw new Error(`--public-ip ${o.publicIp} is not an address of this node`);
    return o.publicIp;
  }
  const link = o.iface !== undefined ? h.linkGet(o.iface).index
    : h.routeList({ family: 4 }).find((r) => r.dst === 'default')?.link;
  if (link === undefined) throw new Error('no default route to find the underlay device: give --iface or --public-ip');
  const a = h.addrList({ link }).find((x) => x.scope === 'universe');
  if (!a) throw new Error(`the underlay device (ifindex ${link}) has no global address: give --public-ip`);
  return a.local;
}

/** The etcd client of `--etcd-*` options; `onRefused` hears of certificates or credentials etcd refuses. */
export function etcdClientFor(source: Extract<AgentOptions['source'], { kind: 'etcd' }>, onRefused?: EtcdClientOptions['onRefused']): EtcdClient {
  return new EtcdClient({
    endpoints: source.endpoints, ...(source.tls ? { tls: source.tls } : {}), ...(source.auth ? { auth: source.auth } : {}), ...(onRefused ? { onRefused } : {}),
  });
}

/** The exit code for an error: 4 etcd's TLS failed, 5 etcd refused the user, 1 anything else. */
export const exitCodeFor = (e: unknown): number => (e instanceof EtcdTlsError ? 4 : e instanceof EtcdAuthError ? 5 : 1);

/** `--netns`: a name under /run/netns or a path; undefined: the agent's own namespace. */
function nodeNetns(o: AgentOptions): Netns | undefined {
  if (o.netns === undefined) return undefined;
  return openNetns(o.netns.includes('/') ? { path: o.netns } : { name: o.netns });
}

/** A running agent. `start` once; then `stop` (SIGTERM) or `cleanup`. */
export class Agent {
  readonly #o: AgentOptions;
  readonly #log: Logger;
  readonly #state: StateDir;
  #ns: Netns | undefined;
  #h!: Handle;
  #client: EtcdClient | undefined;
  #lease: SubnetLease | undefined;
  #membership: Membership | undefined;
  #backend: Backend | undefined;
  #evpn: EvpnRole | undefined;
  /** Syncs and repairs run one at a time (a backend may be asynchronous). */
  #chain: Promise<void> = Promise.resolve();
  #daemon: Daemon | undefined;
  #status: AgentStatus;
  #net: NetworkConfig | undefined;
  /** The membership as last delivered; the policy decides which of it are peers. */
  #members: Members = { records: [], malformed: [] };
  /** Rejected records already logged, with the reason logged: each is logged again only when its reason changes. */
  #rejectedLogged = new Map<string, string>();
  /** A problem that a successful sync does not clear (this node's record changed by someone else). */
  #sticky: string | undefined;
  #running = false;

  constructor(o: AgentOptions, log: Logger) {
    this.#o = o;
    this.#log = log;
    this.#state = new StateDir(o.stateDir);
    this.#status = { pid: process.pid, node: o.nodeName, membership: o.source.kind, backend: o.backend ?? 'vxlan', startedAt: new Date().toISOString(), peers: [], rejected: [] };
  }

  /** The `--backend`'s type. */
  get #type(): BackendType {
    return backendType(this.#o);
  }

  /** The agent's current view (what `rtnl-agent status` prints). */
  get status(): AgentStatus {
    return this.#status;
  }

  #open(): void {
    this.#ns = nodeNetns(this.#o);
    this.#h = new Handle(this.#ns);
  }

  /** Leases (or reads) this node's record and the network settings. */
  async #join(): Promise<{ self: NodeRecord; net: NetworkConfig }> {
    const o = this.#o;
    const underlay = underlayOf(this.#h, o);
    if (o.source.kind === 'static') {
      const file = readStaticFile(o.source.file);
      const self = file.nodes.find((n) => n.name === o.nodeName);
      if (!self) throw new Error(`${o.source.file}: no node named ${JSON.stringify(o.nodeName)}`);
      if (self.underlay !== underlay) throw new Error(`${o.source.file}: node ${o.nodeName} has underlay ${self.underlay}, but this node's address is ${underlay}`);
      if (this.#type.needsVtepMac && self.vtepMac === undefined) throw new Error(`${o.source.file}: node ${o.nodeName} has no vtepMac, which the vxlan backend needs`);
      this.#membership = new StaticMembership(o.source.file, { onWarning: (msg: string) => this.#problem(msg) });
      this.#leased(self); // in etcd mode the lease's onRenewed does this
      return { self, net: file.network };
    }
    const client = etcdClientFor(o.source, (e) => this.#refused(e));
    this.#client = client;
    const net = o.source.network !== undefined
      ? await ensureNetworkConfig(client, o.source.prefix, o.source.network)
      : await this.#awaitNetworkConfig(client, o.source.prefix);
    const lease = new SubnetLease(client, o.source.prefix, net, {
      onLost: (why: string) => this.#problem(`lease lost: ${why}`),
      onRenewed: (r: NodeRecord) => this.#leased(r),
      onWarning: (msg: string) => this.#problem(msg),
      // A keepalive failure may be the last thing reported after the final sync: clear it once renewals work again.
      onRecovered: () => {
        if (this.#sticky !== undefined || !this.#status.problem?.startsWith('lease ')) return;
        this.#log.info('lease renewed again');
        delete this.#status.problem;
        this.#save();
      },
      onOwnershipLost: (why: string) => {
        this.#log.error('this node\'s record was changed by someone else; restoring it', { why });
        this.#sticky = `own record changed by someone else: ${why}`;
        this.#problem(this.#sticky);
      },
      onOwned: () => {
        if (this.#sticky === undefined) return;
        this.#log.info('this node\'s record is its own again');
        this.#sticky = undefined;
        delete this.#status.problem;
        this.#save();
      },
    });
    this.#lease = lease;
    const self = await lease.acquire({
      nodeName: o.nodeName, underlay, ...(this.#type.needsVtepMac ? { vtepMac: vtepMacFor(o.nodeName, net.vni ?? 1) } : {}),
      preferredSubnet: this.#state.lastLease()?.subnet, ttlSec: o.source.leaseTtlSec,
    });
    this.#membership = new EtcdMembership(client, o.source.prefix, { onWarning: (msg: string) => this.#problem(msg) });
    return { self, net };
  }

  /** Without --network the settings come from etcd: wait for the agent (or operator) that stores them, as flanneld does. */
  async #awaitNetworkConfig(client: EtcdClient, prefix: string): Promise<NetworkConfig> {
    for (let waited = false; ; waited = true) {
      const net = await readNetworkConfig(client, prefix);
      if (net) return net;
      if (!waited) this.#problem(`no network settings at ${prefix}/config yet: waiting (give --network to store them)`);
      await new Promise((r) => setTimeout(r, 1000));
      if (this.#stopping) throw new Error('stopped while waiting for the network settings');
    }
  }

  #leased(self: NodeRecord): void {
    if (this.#status.self && this.#status.self.subnet !== self.subnet) {
      // Pods already hold addresses from the old subnet: only a restart can
      // re-plan the node, so say so loudly and exit for the supervisor.
      this.#log.error('subnet changed under the agent; exiting', { old: this.#status.self.subnet, new: self.subnet });
      process.exitCode = 1;
      void this.stop();
      return;
    }
    this.#state.saveLease(self);
    this.#status.self = self;
    this.#status.lease = this.#lease?.info;
    this.#save();
  }

  /** etcd refused the agent's certificates or credentials: retrying cannot help, so exit (4 or 5) for the operator to fix them. */
  #refused(e: EtcdTlsError | EtcdAuthError): void {
    if (!this.#running || this.#stopping) return; // during start(), start() throws it
    this.#log.error('etcd refused the agent; exiting', { error: e });
    process.exitCode = exitCodeFor(e);
    void this.stop();
  }

  #problem(msg: string): void {
    this.#log.warn(msg);
    this.#status.problem = msg;
    this.#save();
  }

  #save(): void {
    this.#state.saveStatus(this.#status);
  }

  /** Joins, programs the backend, writes the conflist, and keeps everything in sync until {@link stop}. */
  async start(): Promise<void> {
    const o = this.#o;
    this.#open();
    const { self, net } = await this.#join();
    this.#net = net;
    this.#log.info('joined', { backend: o.backend ?? 'vxlan', subnet: self.subnet, underlay: self.underlay, ...(self.vtepMac === undefined ? {} : { vtepMac: self.vtepMac }), network: net.network });
    // The node routes pod traffic between cni0 and the other nodes.
    const sysctl = self.subnet.includes(':') ? '/proc/sys/net/ipv6/conf/all/forwarding' : '/proc/sys/net/ipv4/ip_forward';
    const forward = (): void => fs.writeFileSync(sysctl, '1');
    if (this.#ns) this.#ns.run(forward);
    else forward();
    const backend = this.#type.create({
      handle: this.#h, ...(this.#ns === undefined ? {} : { netns: this.#ns }), self, network: net,
      ...(o.device === undefined ? {} : { device: o.device }), ...(o.iface === undefined ? {} : { underlayDevice: o.iface }), ...(o.bgp === undefined ? {} : { bgp: o.bgp }),
    });
    this.#backend = backend;
    const ready = await this.#ensure();
    if (o.evpn) {
      this.#evpn = await startEvpn({ handle: this.#h, ...(this.#ns === undefined ? {} : { netns: this.#ns }), routerId: self.underlay, settings: o.evpn, log: this.#log }, (s) => {
        this.#status.evpn = s;
        this.#save();
      });
    }
    if (o.cni) this.#status.cniConf = writeConflist(o.cni, self, net, ready.mtu);
    if (o.cniSocket !== undefined) {
      this.#daemon = await startDaemon({ socket: o.cniSocket, debug: false });
      this.#status.cniSocket = o.cniSocket;
    }
    this.#save();
    backend.startWatching(() => {
      // Someone changed what we manage (or events overflowed): the device may be gone or altered too.
      void this.#serial(async () => {
        try {
          await this.#ensure();
        } catch (e) {
          this.#problem(`backend repair failed: ${(e as Error).message}`);
          return;
        }
        await this.#sync('drift');
      });
    });
    await this.#membership!.start((members) => this.#serial(async () => {
      this.#members = members;
      this.#checkOwnRecord();
      await this.#sync('membership');
    }));
    this.#running = true;
  }

  /** Runs fn after every sync or repair before it; a failure is reported, and the next one still runs. */
  #serial(fn: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(fn).catch((e: unknown) => this.#problem(`sync failed: ${(e as Error).message}`));
    return this.#chain;
  }

  #stopping = false;

  /** In etcd, this node's key must hold exactly its record: anything else there is someone else's write, which the lease undoes. */
  #checkOwnRecord(): void {
    const self = this.#status.self;
    if (!self || !this.#lease || this.#o.source.kind !== 'etcd') return;
    const key = subnetKey(this.#o.source.prefix, self.subnet);
    const mine = this.#members.records.find((c) => c.key === key)?.record;
    if (!mine || JSON.stringify(mine) !== JSON.stringify(self)) void this.#lease.verify();
  }

  /** Logs each rejected record at warn once per change of its reason; status shows them all. */
  #reportRejected(rejected: RejectedRecord[]): void {
    const now = new Map<string, string>();
    for (const r of rejected) {
      now.set(r.key, r.reason);
      if (this.#rejectedLogged.get(r.key) !== r.reason) this.#log.warn('record rejected', { key: r.key, ...(r.name === undefined ? {} : { name: r.name }), reason: r.reason });
    }
    this.#rejectedLogged = now;
    this.#status.rejected = rejected;
  }

  /** Makes the backend ready (the VXLAN device adopted or made); a device made or replaced is logged. */
  async #ensure(): Promise<BackendReady> {
    const ready = await this.#backend!.ensure();
    const before = this.#status.device;
    const dev = ready.device;
    if (dev) {
      this.#status.device = { name: dev.name, index: dev.index, mac: dev.mac ?? '', mtu: dev.mtu };
      if (before?.index !== dev.index || ready.replaced) this.#log.info('device ready', { ...this.#status.device, replaced: ready.replaced });
    }
    return ready;
  }

  async #sync(reason: string): Promise<void> {
    const backend = this.#backend;
    const self = this.#status.self;
    if (!backend || !self || !this.#net) return;
    const { peers, rejected } = admitPeers(this.#members.records, this.#net, self, this.#type.needsVtepMac);
    const all = [...this.#members.malformed, ...rejected];
    try {
      const { refused, ...s } = await backend.sync(peers.map((c) => c.record));
      const bySubnet = new Map<string, Candidate>(peers.map((c) => [c.record.subnet, c]));
      for (const r of refused) all.push({ key: bySubnet.get(r.subnet)!.key, name: bySubnet.get(r.subnet)!.record.name, reason: r.reason });
      this.#reportRejected(all);
      const blocked = new Set(refused.map((r) => r.subnet));
      this.#status.peers = peers.filter((c) => !blocked.has(c.record.subnet)).map((c) => c.record);
      this.#status.routes = await backend.status();
      this.#status.lastSync = { at: new Date().toISOString(), reason, ...s };
      if (this.#sticky === undefined) delete this.#status.problem;
      else this.#status.problem = this.#sticky;
      this.#save();
      const changed = s.added + s.updated + s.removed > 0;
      this.#log[changed ? 'info' : 'debug']('synced', { reason, peers: this.#status.peers.length, ...s });
    } catch (e) {
      this.#reportRejected(all);
      this.#problem(`sync failed: ${(e as Error).message}`);
    }
  }

  /** SIGTERM: stops watching and renewing; the routes (and device) and the subnet stay (the lease runs out by its TTL unless the agent restarts). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#daemon?.close();
    await this.#membership?.stop();
    await this.#backend?.stop();
    this.#evpn?.stop();
    this.#lease?.stop();
    this.#client?.close();
    this.#h?.close();
    this.#ns?.close();
    this.#log.info('stopped; routes left in place');
  }
}

/** The backend `o` names; the command line only accepts available ones. */
function backendType(o: AgentOptions): BackendType {
  const t = BACKENDS[o.backend ?? 'vxlan'];
  if (!t) throw new Error(`backend ${o.backend} is not available`);
  return t;
}

/**
 * `--cleanup`: removes what an agent with these options made — the
 * backend's dataplane (the VXLAN device, and with it every neighbour, FDB
 * entry and route on it; host-gw's routes), the node's record and lease in
 * etcd, the EVPN speaker, the conflist and the state directory.
 */
export async function cleanup(o: AgentOptions, log: Logger): Promise<void> {
  const ns = nodeNetns(o);
  const h = new Handle(ns);
  const state = new StateDir(o.stateDir);
  try {
    let self = state.lastLease();
    let net: NetworkConfig | undefined;
    if (o.source.kind === 'etcd') {
      const client = etcdClientFor(o.source);
      try {
        net = (await readNetworkConfig(client, o.source.prefix).catch(() => undefined)) ?? o.source.network;
        const released = await SubnetLease.releaseNode(client, o.source.prefix, o.nodeName);
        log.info('lease released', { subnet: released ?? null });
      } finally {
        client.close();
      }
    } else {
      const file = readStaticFile(o.source.file);
      net = file.network;
      self = file.nodes.find((n) => n.name === o.nodeName) ?? self;
    }
    if (self) {
      // Settings no longer stored anywhere: the defaults (VNI 1...) the dataplane was then made with.
      const network = net ?? { network: self.subnet, subnetLen: Number(self.subnet.split('/')[1]) };
      await backendType(o).create({
        handle: h, ...(ns === undefined ? {} : { netns: ns }), self, network,
        ...(o.device === undefined ? {} : { device: o.device }), ...(o.iface === undefined ? {} : { underlayDevice: o.iface }), ...(o.bgp === undefined ? {} : { bgp: o.bgp }),
      }).cleanup();
      log.info('dataplane removed', { backend: o.backend ?? 'vxlan' });
    } else {
      log.warn('no record of this node (no state directory, not in etcd): its dataplane is left as it is');
    }
    if (o.evpn) {
      await cleanupEvpn(o.evpn);
      log.info('evpn speaker stopped', { pathspace: o.evpn.pathspace });
    }
    if (o.cni) removeConflist(o.cni);
    state.remove();
  } finally {
    h.close();
    ns?.close();
  }
}
