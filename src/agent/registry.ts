/**
 * Cluster membership from etcd: the live set of node records under
 * `P/subnets/` (written by `SubnetLease`), listed once and then kept current
 * by a watch; after any break of the watch (etcd restarted, compaction,
 * disconnect) the set is listed again in full, so nothing missed while
 * disconnected is lost.
 * @module
 */
import { Backoff } from '../etcd/backoff.js';
import type { EtcdClient, KeyValue, Watch, WatchEvent } from '../etcd/client.js';
import { parseNodeRecord, subnetKey, subnetsPrefix } from './lease.js';
import type { Candidate, Members, Membership, RejectedRecord } from './types.js';

/** Options of {@link EtcdMembership}. */
export interface EtcdMembershipOptions {
  /** Problems being handled: the watch broken and being re-established. */
  onWarning?(msg: string): void;
  /** Changes arriving within this many ms are delivered together (default 50). */
  debounceMs?: number;
}

/**
 * A {@link Membership} backed by etcd: delivers every node record under
 * `P/subnets/` (by creation revision: the oldest claim first; the malformed
 * ones apart) after the first listing, after changes (debounced) and after
 * every resync; never two deliveries at once.
 */
export class EtcdMembership implements Membership {
  readonly #client: EtcdClient;
  readonly #prefix: string;
  readonly #onWarning: (msg: string) => void;
  readonly #debounceMs: number;
  readonly #backoff = new Backoff(200, 5000);
  /** The live records by key, with their creation revision; or why they are malformed. */
  readonly #nodes = new Map<string, { candidate: Candidate; createRevision: number } | RejectedRecord>();
  #onPeers: ((members: Members) => void | Promise<void>) | undefined;
  #watch: Watch | undefined;
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #delivering: Promise<void> | undefined;
  #pending = false;
  #stopped = false;

  /** @param client etcd @param prefix the key prefix P @param o warnings and debounce */
  constructor(client: EtcdClient, prefix: string, o: EtcdMembershipOptions = {}) {
    this.#client = client;
    this.#prefix = prefix;
    this.#onWarning = o.onWarning ?? (() => {});
    this.#debounceMs = o.debounceMs ?? 50;
  }

  /** Lists the members, delivers them (resolving once that delivery is done), then watches. Rejects if the first listing fails. */
  async start(onPeers: (members: Members) => void | Promise<void>): Promise<void> {
    if (this.#onPeers) throw new Error('EtcdMembership.start: already started');
    this.#onPeers = onPeers;
    const revision = await this.#list();
    this.#watchFrom(revision + 1);
    await this.#deliver();
  }

  /** Stops watching and delivering; resolves after a delivery in progress ends. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watch?.cancel();
    clearTimeout(this.#timer);
    clearTimeout(this.#debounce);
    await this.#delivering;
  }

  /** Replaces the set with a full listing; returns its revision. */
  async #list(): Promise<number> {
    const { kvs, revision } = await this.#client.list(subnetsPrefix(this.#prefix));
    this.#nodes.clear();
    for (const kv of kvs) this.#apply({ type: 'put', kv });
    return revision;
  }

  #apply(e: WatchEvent): void {
    this.#nodes.delete(e.kv.key);
    if (e.type === 'delete') return;
    this.#nodes.set(e.kv.key, this.#parse(e.kv));
  }

  #parse(kv: KeyValue): { candidate: Candidate; createRevision: number } | RejectedRecord {
    try {
      const record = parseNodeRecord(kv.value);
      if (subnetKey(this.#prefix, record.subnet) !== kv.key) return { key: kv.key, name: record.name, reason: `its subnet ${record.subnet} does not match the key` };
      return { candidate: { key: kv.key, record }, createRevision: kv.createRevision };
    } catch (e) {
      const name = nameOf(kv.value);
      return { key: kv.key, ...(name === undefined ? {} : { name }), reason: `malformed: ${(e as Error).message}` };
    }
  }

  #watchFrom(revision: number): void {
    if (this.#stopped) return;
    this.#watch = this.#client.watch(subnetsPrefix(this.#prefix), {
      startRevision: revision,
      onEvents: (events) => {
        for (const e of events) this.#apply(e);
        this.#deliverSoon();
      },
      onError: (e) => this.#resyncLater(e),
    });
  }

  #resyncLater(e: Error): void {
    if (this.#stopped) return;
    const delay = this.#backoff.next();
    this.#onWarning(`watching ${subnetsPrefix(this.#prefix)} failed: ${e.message}; listing again in ${delay} ms`);
    this.#timer = setTimeout(() => void this.#resync(), delay);
  }

  async #resync(): Promise<void> {
    let revision: number;
    try {
      revision = await this.#list();
    } catch (e) {
      return this.#resyncLater(e as Error);
    }
    if (this.#stopped) return;
    this.#backoff.reset();
    this.#watchFrom(revision + 1);
    this.#deliverSoon();
  }

  #deliverSoon(): void {
    if (this.#debounce || this.#stopped) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      void this.#deliver();
    }, this.#debounceMs);
  }

  /** Delivers the current set; while a delivery runs, one more is queued (with the set as it is then). */
  #deliver(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#delivering) {
      this.#pending = true;
      return this.#delivering;
    }
    this.#delivering = (async () => {
      do {
        this.#pending = false;
        const good = [];
        const malformed = [];
        for (const n of this.#nodes.values()) {
          if ('candidate' in n) good.push(n);
          else malformed.push(n);
        }
        // Keys created in one transaction share a revision: then key order decides.
        good.sort((a, b) => a.createRevision - b.createRevision || (a.candidate.key < b.candidate.key ? -1 : 1));
        try {
          await this.#onPeers!({ records: good.map((n) => n.candidate), malformed });
        } catch (e) {
          this.#onWarning(`handling the membership failed: ${(e as Error).message}`);
        }
      } while (this.#pending && !this.#stopped);
      this.#delivering = undefined;
    })();
    return this.#delivering;
  }
}

/** The node name a record that failed validation gives, if it is JSON with a string name: for the log and status. */
function nameOf(text: string): string | undefined {
  try {
    const name = (JSON.parse(text) as { name?: unknown } | null)?.name;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}
