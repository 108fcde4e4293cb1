/**
 * Per-node subnet leases in etcd, as flanneld does them, and the overlay's
 * network settings stored beside them.
 *
 * Key layout under a prefix P (default `/rtnl/network`):
 * - `P/config`: the {@link NetworkConfig} JSON, written once (create-if-absent).
 * - `P/subnets/<addr>-<len>` (e.g. `P/subnets/10.244.3.0-24`): the
 *   {@link NodeRecord} JSON of the node holding that subnet, attached to the
 *   node's etcd lease, so it disappears when the node stops renewing it.
 *
 * A subnet is taken with a transaction `createRevision(key) == 0 → put`, so
 * two nodes can never hold the same one. The first subnet of the network
 * (the one holding the network address) is never handed out, as flannel
 * skips it.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type Ip, bits, formatIp, isNetwork, parseCidr, withPrefix } from '../primitives/ip.js';
import { RtnlInputError } from '../index.js';
import { Backoff, compare, type EtcdClient, EtcdError, type KeyValue, op, type TxnOpResult } from '../etcd/index.js';
import { isObj } from '../primitives/json.js';
import * as check from '../primitives/check.js';
import { checkNodeRecord } from './record.js';
import type { NetworkConfig, NodeRecord } from './types.js';

/** The key holding the network settings. */
export const configKey = (prefix: string): string => `${prefix}/config`;

/** The prefix of every node's subnet record. */
export const subnetsPrefix = (prefix: string): string => `${prefix}/subnets/`;

/** The key of a subnet's record: `P/subnets/10.244.3.0-24` for `10.244.3.0/24`. */
export function subnetKey(prefix: string, cidr: string): string {
  const c = parseCidr(cidr);
  if (!c || !isNetwork(c)) throw new RtnlInputError('subnet', `expected a subnet like 10.244.3.0/24 (no host bits), got ${JSON.stringify(cidr)}`);
  return `${subnetsPrefix(prefix)}${formatIp(c.cidr.net)}-${c.cidr.prefix}`;
}

/** A CIDR with no host bits, in canonical text; throws naming `field`. */
function networkCidr(field: string, v: unknown): { text: string; net: Ip; prefix: number } {
  const c = typeof v === 'string' ? parseCidr(v) : undefined;
  if (!c) throw new RtnlInputError(field, `expected an IPv4 or IPv6 CIDR like 10.244.0.0/16, got ${JSON.stringify(v)}`);
  const text = withPrefix(c.cidr.net, c.cidr.prefix);
  if (!isNetwork(c)) throw new RtnlInputError(field, `${v} has host bits set: did you mean ${text}?`);
  return { text, net: c.cidr.net, prefix: c.cidr.prefix };
}

function object(field: string, v: unknown): Record<string, unknown> {
  if (!isObj(v)) throw new RtnlInputError(field, `expected a JSON object, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function json(field: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RtnlInputError(field, `not JSON: ${text.slice(0, 200)}`);
  }
}

/** Parses a node record (from its JSON text, as etcd holds it) with the agent's one record validator; throws {@link RtnlInputError} naming the bad field (`record.*`). */
export function parseNodeRecord(text: string): NodeRecord {
  return checkNodeRecord(json('record', text), 'record.');
}

/**
 * Validates network settings: `network` an IPv4 or IPv6 CIDR, `subnetLen`
 * longer than its prefix and within the family, vni 1..16777215, port
 * 1..65535, mtu 68..65535. Returns a clean copy (network in canonical form).
 */
export function validateNetworkConfig(v: unknown, field = 'network config'): NetworkConfig {
  const o = object(field, v);
  const network = networkCidr(`${field}.network`, o['network']);
  const cfg: NetworkConfig = {
    network: network.text,
    subnetLen: check.uint(`${field}.subnetLen`, o['subnetLen'], bits(network.net.family), network.prefix + 1),
  };
  if (o['vni'] !== undefined) cfg.vni = check.uint(`${field}.vni`, o['vni'], 0xffffff, 1);
  if (o['port'] !== undefined) cfg.port = check.uint(`${field}.port`, o['port'], 65535, 1);
  if (o['mtu'] !== undefined) cfg.mtu = check.uint(`${field}.mtu`, o['mtu'], 65535, 68);
  return cfg;
}

/** Whether two settings mean the same overlay (defaults filled in: vni 1, port 4789). */
const sameConfig = (a: NetworkConfig, b: NetworkConfig): boolean =>
  a.network === b.network && a.subnetLen === b.subnetLen && (a.vni ?? 1) === (b.vni ?? 1) && (a.port ?? 4789) === (b.port ?? 4789) && a.mtu === b.mtu;

const parseConfig = (prefix: string, kv: KeyValue): NetworkConfig => validateNetworkConfig(json(configKey(prefix), kv.value), configKey(prefix));

/** The network settings stored under `prefix`; undefined when none are stored yet. Throws when the stored JSON is invalid. */
export async function readNetworkConfig(client: EtcdClient, prefix: string): Promise<NetworkConfig | undefined> {
  const kv = await client.get(configKey(prefix));
  return kv && parseConfig(prefix, kv);
}

/**
 * Stores `cfg` as the network settings if none are stored (atomically:
 * exactly one of several agents starting together writes them) and returns
 * what is stored. Throws when different settings are already stored.
 */
export async function ensureNetworkConfig(client: EtcdClient, prefix: string, cfg: NetworkConfig): Promise<NetworkConfig> {
  const want = validateNetworkConfig(cfg);
  const key = configKey(prefix);
  for (;;) {
    const t = await client.txn({
      compare: [compare.createRevision(key, '==', 0)], success: [op.put(key, JSON.stringify(want))], failure: [op.get(key)],
    });
    if (t.succeeded) return want;
    const kv = getResult(t.results[0]);
    if (!kv) continue; // deleted between the compare and the read: try creating again
    const have = parseConfig(prefix, kv);
    if (!sameConfig(have, want)) {
      throw new Error(`${key} already holds different network settings: stored ${JSON.stringify(have)}, requested ${JSON.stringify(want)}; `
        + `use the stored ones (start without them) or delete the key if no node uses it`);
    }
    return have;
  }
}

const getResult = (r: TxnOpResult | undefined): KeyValue | undefined => (r?.type === 'get' ? r.kvs[0] : undefined);

/** Every subnet of the network is held by a node. */
export class SubnetExhaustedError extends Error {
  override name = 'SubnetExhaustedError';

  /** @param cfg the network @param usable how many subnets nodes can hold */
  constructor(cfg: NetworkConfig, usable: bigint) {
    super(`no free subnet: all ${usable} /${cfg.subnetLen} subnets of ${cfg.network} are leased `
      + `(the first one, holding the network address, is never handed out); remove stale nodes or use a larger network`);
  }
}

/** Callbacks of a {@link SubnetLease}; none of them is called after stop(). */
export interface SubnetLeaseHooks {
  /** The lease is gone (etcd lost it); a re-acquisition of the same subnet starts right away. */
  onLost?(why: string): void;
  /** The node holds a subnet: after acquire() and after every re-acquisition. */
  onRenewed?(self: NodeRecord): void;
  /** A transient problem that is being retried (etcd unreachable...). */
  onWarning?(msg: string): void;
  /** After onWarning: the lease was renewed again. */
  onRecovered?(): void;
  /** Someone else changed or deleted the node's record, or detached it from the lease; it is being restored. */
  onOwnershipLost?(why: string): void;
  /** After onOwnershipLost: the record stayed as this node wrote it, on its lease, for a whole renewal period. */
  onOwned?(): void;
}

/** What {@link SubnetLease.acquire} publishes. */
export interface AcquireOptions {
  nodeName: string;
  underlay: string;
  /** The VTEP MAC (the VXLAN backend's); undefined: the record has none. */
  vtepMac?: string;
  /** A subnet to take if it is free (e.g. the one this node had before its lease expired); ignored unless a usable subnet of the network. */
  preferredSubnet?: string;
  /** The lease's TTL: a node that stops renewing vanishes from the others after it. */
  ttlSec: number;
}

/** Attempts of one acquisition (each re-lists) before giving up on a contended pool. */
const MAX_ATTEMPTS = 100;
/** Pools up to this size are enumerated to pick among free subnets; larger ones (IPv6) are sampled. */
const ENUMERATE_MAX = 1n << 16n;

/** A random bigint in [0, n). */
function randomBelow(n: bigint): bigint {
  const hex = randomBytes(Math.ceil(n.toString(16).length / 2) + 8).toString('hex');
  return BigInt(`0x${hex}`) % n;
}

/**
 * One node's subnet: leased with an etcd lease (TTL + keepalive every
 * TTL/3), published as its {@link NodeRecord}, and re-acquired (preferring
 * the same subnet) whenever etcd loses the lease. Never throws from its
 * timers: problems go to the hooks and are retried with backoff.
 */
export class SubnetLease {
  readonly #client: EtcdClient;
  readonly #prefix: string;
  readonly #config: NetworkConfig;
  readonly #hooks: SubnetLeaseHooks;
  readonly #net: { net: Ip; prefix: number };
  readonly #backoff = new Backoff(250, 5000);
  /** A keepalive failed and none has succeeded since. */
  #failing = false;
  #ttlSec = 0;
  #lease: { id: string; ttlSec: number; renewedAt?: string } | undefined;
  #record: NodeRecord | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** When someone else last changed the record (ms since the epoch); undefined when never, or since onOwned. */
  #lostAt: number | undefined;

  /** @param client etcd @param prefix the key prefix P @param config the network (validated) @param hooks callbacks */
  constructor(client: EtcdClient, prefix: string, config: NetworkConfig, hooks: SubnetLeaseHooks = {}) {
    this.#client = client;
    this.#prefix = prefix;
    this.#config = validateNetworkConfig(config);
    this.#net = networkCidr('network', this.#config.network);
    this.#hooks = hooks;
  }

  /** The etcd lease held now: id, granted TTL, and when it was last renewed (ISO time). */
  get info(): { id: string; ttlSec: number; renewedAt?: string } | undefined {
    return this.#lease && { ...this.#lease };
  }

  /**
   * Leases a subnet and publishes the node: the subnet this node's record
   * already holds (a restart before its TTL ran out), else `preferredSubnet`
   * if free, else a random free one. Throws {@link SubnetExhaustedError}
   * when every subnet is held. Then renews the lease until stop().
   */
  async acquire(o: AcquireOptions): Promise<NodeRecord> {
    if (this.#record) throw new Error('SubnetLease.acquire: already acquired');
    this.#ttlSec = check.uint('ttlSec', o.ttlSec, 0x7fffffff, 1);
    if (o.nodeName === '') throw new RtnlInputError('nodeName', 'empty');
    const self = await this.#acquire({
      name: check.str('nodeName', o.nodeName),
      underlay: check.ip('underlay', o.underlay),
      ...(o.vtepMac === undefined ? {} : { vtepMac: check.mac('vtepMac', o.vtepMac) }),
    }, o.preferredSubnet);
    this.#renewLater();
    this.#hooks.onRenewed?.(self);
    return self;
  }

  /** Changes what the node publishes (same subnet, same lease). */
  async update(p: Partial<Pick<NodeRecord, 'underlay' | 'vtepMac'>>): Promise<NodeRecord> {
    const cur = this.#record;
    const lease = this.#lease;
    if (!cur || !lease) throw new Error('SubnetLease.update: no subnet is held');
    const next: NodeRecord = {
      ...cur,
      ...(p.underlay === undefined ? {} : { underlay: check.ip('underlay', p.underlay) }),
      ...(p.vtepMac === undefined ? {} : { vtepMac: check.mac('vtepMac', p.vtepMac) }),
    };
    const key = subnetKey(this.#prefix, cur.subnet);
    const t = await this.#client.txn({ compare: [compare.lease(key, '==', lease.id)], success: [op.put(key, JSON.stringify(next), { lease: lease.id })] });
    if (!t.succeeded) throw new EtcdError(`${key} is no longer attached to this node's lease ${lease.id}`);
    this.#record = next;
    return next;
  }

  /**
   * Checks that the node's key still holds its record on its lease, and if
   * not (someone else wrote or deleted it, or detached it from the lease)
   * reports it to onOwnershipLost and writes the record back: the node's
   * subnet is its own as long as its lease lives. Runs after every renewal;
   * call it sooner when a watch shows the key changed. Never throws.
   */
  async verify(): Promise<void> {
    const self = this.#record;
    const lease = this.#lease;
    if (!self || !lease || this.#stopped) return;
    const key = subnetKey(this.#prefix, self.subnet);
    const value = JSON.stringify(self);
    try {
      const t = await this.#client.txn({ compare: [compare.value(key, '==', value), compare.lease(key, '==', lease.id)], failure: [op.get(key)] });
      if (t.succeeded) {
        // Restored and left alone for a renewal period: a one-off write, over.
        if (this.#lostAt !== undefined && Date.now() - this.#lostAt >= (lease.ttlSec * 1000) / 3) {
          this.#lostAt = undefined;
          this.#hooks.onOwned?.();
        }
        return;
      }
      if (this.#stopped || this.#lease !== lease) return;
      this.#lostAt = Date.now();
      const kv = getResult(t.results[0]);
      this.#hooks.onOwnershipLost?.(!kv ? `${key} was deleted` : kv.lease !== lease.id
        ? `${key} is no longer on this node's lease ${lease.id} (lease ${kv.lease ?? 'none'}), holding ${kv.value.slice(0, 200)}`
        : `${key} was overwritten with ${kv.value.slice(0, 200)}`);
      // Only over what was read: a concurrent write is seen by the next check.
      await this.#client.txn({ compare: [compare.modRevision(key, '==', kv?.modRevision ?? 0)], success: [op.put(key, value, { lease: lease.id })] });
    } catch (e) {
      if (!this.#stopped) this.#hooks.onWarning?.(`checking ${key} failed: ${(e as Error).message}`);
    }
  }

  /** Stops renewing. The lease is not revoked: the record stays until its TTL runs out, so a quick restart keeps everything. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Stops renewing, revokes the lease and deletes the node's record: the subnet is free at once. */
  async release(): Promise<void> {
    this.stop();
    const lease = this.#lease;
    const self = this.#record;
    if (lease) await this.#client.leaseRevoke(lease.id);
    if (self) {
      const key = subnetKey(this.#prefix, self.subnet);
      await this.#client.txn({ compare: [compare.value(key, '==', JSON.stringify(self))], success: [op.delete(key)] });
    }
    this.#lease = undefined;
  }

  /**
   * Deletes every record of the node named `nodeName` and revokes their
   * leases (`--cleanup`, or removing a dead node at once rather than after
   * its TTL). Returns the subnet it held, undefined when it held none.
   */
  static async releaseNode(client: EtcdClient, prefix: string, nodeName: string): Promise<string | undefined> {
    let subnet: string | undefined;
    for (const kv of (await client.list(subnetsPrefix(prefix))).kvs) {
      const rec = tryParse(kv.value);
      if (rec?.name !== nodeName) continue;
      // Only if unchanged since listed: a node re-acquiring meanwhile keeps its new record.
      const t = await client.txn({ compare: [compare.modRevision(kv.key, '==', kv.modRevision)], success: [op.delete(kv.key)] });
      if (t.succeeded && kv.lease) await client.leaseRevoke(kv.lease);
      subnet ??= rec.subnet;
    }
    return subnet;
  }

  /** Grants a lease and takes a subnet with it (retrying on contention); revokes the lease if no subnet could be taken. */
  async #acquire(who: Omit<NodeRecord, 'subnet'>, preferred: string | undefined): Promise<NodeRecord> {
    const lease = await this.#client.leaseGrant(this.#ttlSec);
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const self = await this.#attempt(who, lease.id, preferred);
        if (self) {
          this.#lease = { id: lease.id, ttlSec: lease.ttl };
          this.#record = self;
          return self;
        }
      }
      throw new EtcdError(`no subnet of ${this.#config.network} could be taken in ${MAX_ATTEMPTS} attempts: too many nodes joining at once`);
    } catch (e) {
      await this.#client.leaseRevoke(lease.id).catch(() => false); // best effort: it expires by its TTL anyway
      throw e;
    }
  }

  /** One try: lists the records, then takes over this node's record or creates one. Undefined when another node won a race. */
  async #attempt(who: Omit<NodeRecord, 'subnet'>, leaseId: string, preferred: string | undefined): Promise<NodeRecord | undefined> {
    const { kvs } = await this.#client.list(subnetsPrefix(this.#prefix));
    const taken = new Set<bigint>();
    let mine: { kv: KeyValue; subnet: string } | undefined;
    for (const kv of kvs) {
      const index = this.#indexOfKey(kv.key);
      if (index === undefined) continue;
      taken.add(index);
      const rec = tryParse(kv.value);
      if (!mine && rec?.name === who.name && subnetKey(this.#prefix, rec.subnet) === kv.key) mine = { kv, subnet: rec.subnet };
    }
    if (mine) {
      // A restart within the TTL: the same subnet, now on the new lease (CAS, in case it expires right now).
      const self = { ...who, subnet: mine.subnet };
      const t = await this.#client.txn({
        compare: [compare.modRevision(mine.kv.key, '==', mine.kv.modRevision)],
        success: [op.put(mine.kv.key, JSON.stringify(self), { lease: leaseId })],
      });
      if (!t.succeeded) return undefined;
      if (mine.kv.lease && mine.kv.lease !== leaseId) await this.#client.leaseRevoke(mine.kv.lease); // the old process's lease; it holds nothing now
      return self;
    }
    const index = this.#choose(taken, preferred);
    const self = { ...who, subnet: this.#subnetText(index) };
    const key = subnetKey(this.#prefix, self.subnet);
    const t = await this.#client.txn({ compare: [compare.createRevision(key, '==', 0)], success: [op.put(key, JSON.stringify(self), { lease: leaseId })] });
    return t.succeeded ? self : undefined;
  }

  /** The preferred subnet if it is a free, usable subnet of the network; else a random free one (random to cut contention). */
  #choose(taken: Set<bigint>, preferred: string | undefined): bigint {
    const p = preferred === undefined ? undefined : this.#indexOfKey(tryKey(this.#prefix, preferred));
    if (p !== undefined && !taken.has(p)) return p;
    const count = 1n << BigInt(this.#config.subnetLen - this.#net.prefix);
    const usable = count - 1n; // index 0, the network's own subnet, is skipped (and never in `taken`)
    if (BigInt(taken.size) >= usable) throw new SubnetExhaustedError(this.#config, usable);
    if (count <= ENUMERATE_MAX) {
      const free: bigint[] = [];
      for (let i = 1n; i < count; i++) if (!taken.has(i)) free.push(i);
      return free[Number(randomBelow(BigInt(free.length)))]!;
    }
    for (;;) {
      const i = 1n + randomBelow(usable); // a huge pool with few taken: a free one comes up almost at once
      if (!taken.has(i)) return i;
    }
  }

  /** The index of a subnet key within the network; undefined for other keys and for index 0 (the network's own subnet, never used). */
  #indexOfKey(key: string | undefined): bigint | undefined {
    const m = key?.startsWith(subnetsPrefix(this.#prefix)) ? /^(.+)-(\d+)$/.exec(key.slice(subnetsPrefix(this.#prefix).length)) : null;
    const c = m ? parseCidr(`${m[1]}/${m[2]}`) : undefined;
    if (!c || c.cidr.prefix !== this.#config.subnetLen || c.addr.family !== this.#net.net.family) return undefined;
    const shift = BigInt(bits(c.addr.family) - this.#config.subnetLen);
    const index = (c.addr.value - this.#net.net.value) >> shift;
    const inNetwork = c.addr.value >= this.#net.net.value && index < 1n << BigInt(this.#config.subnetLen - this.#net.prefix);
    return inNetwork && index > 0n && isNetwork(c) ? index : undefined;
  }

  #subnetText(index: bigint): string {
    const family = this.#net.net.family;
    const value = this.#net.net.value + (index << BigInt(bits(family) - this.#config.subnetLen));
    return withPrefix({ family, value }, this.#config.subnetLen);
  }

  #renewLater(delayMs = (this.#lease!.ttlSec * 1000) / 3): void {
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#renew(), delayMs);
  }

  async #renew(): Promise<void> {
    const lease = this.#lease!;
    let ttl: number;
    try {
      ttl = await this.#client.leaseKeepAlive(lease.id);
    } catch (e) {
      if (this.#stopped) return;
      // Retry well within the TTL: etcd keeps the lease through a short outage.
      const delay = Math.min(this.#backoff.next(), (lease.ttlSec * 1000) / 3);
      this.#hooks.onWarning?.(`lease ${lease.id} keepalive failed: ${(e as Error).message}; retrying in ${delay} ms`);
      this.#failing = true;
      return this.#renewLater(delay);
    }
    if (this.#stopped) return;
    if (ttl > 0) {
      this.#backoff.reset();
      if (this.#failing) {
        this.#failing = false;
        this.#hooks.onRecovered?.();
      }
      lease.renewedAt = new Date().toISOString();
      this.#renewLater();
      return this.verify();
    }
    this.#lease = undefined;
    this.#hooks.onLost?.(`lease ${lease.id} of ${this.#record!.subnet} no longer exists in etcd (etcd restarted without its data, or was unreachable for longer than the ${lease.ttlSec}s TTL)`);
    await this.#recover();
  }

  /** Re-acquires after the lease was lost, preferring the same subnet; retried with backoff until it works or stop(). */
  async #recover(): Promise<void> {
    if (this.#stopped) return;
    const was = this.#record!;
    let self: NodeRecord;
    try {
      // etcd may have lost the settings too: put them back, as this node still runs by them.
      await ensureNetworkConfig(this.#client, this.#prefix, this.#config);
      self = await this.#acquire(was, was.subnet);
    } catch (e) {
      if (this.#stopped) return;
      const delay = this.#backoff.next();
      this.#hooks.onWarning?.(`re-acquiring ${was.subnet} failed: ${(e as Error).message}; retrying in ${delay} ms`);
      this.#timer = setTimeout(() => void this.#recover(), delay);
      return;
    }
    if (this.#stopped) return; // the record lives on until its TTL, as after any stop()
    this.#backoff.reset();
    this.#renewLater();
    this.#hooks.onRenewed?.(self);
  }
}

function tryParse(text: string): NodeRecord | undefined {
  try {
    return parseNodeRecord(text);
  } catch {
    return undefined;
  }
}

function tryKey(prefix: string, cidr: string): string | undefined {
  try {
    return subnetKey(prefix, cidr);
  } catch {
    return undefined;
  }
}
