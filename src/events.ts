/**
 * Event subscriptions: the kernel's rtnetlink notifications (links,
 * addresses, routes, neighbours, FDB entries, rules, next-hop objects) as typed events, decoded by
 * the same code as dumps. The socket is polled on the Node event loop, so
 * subscribing never blocks it and needs no thread.
 *
 * ```ts
 * const sub = subscribe({ kinds: ['link'], netns: { name: 'pod1' } });
 * for await (const ev of sub) {
 *   if (ev.kind === 'resync') relist(); // events were lost: re-dump
 *   else console.log(ev.action, ev.value.name);
 * }
 * ```
 * @module
 */
import { EventEmitter } from 'node:events';
import { RtnlInputError } from './errors.js';
import type { Address } from './addr.js';
import type { FdbEntry } from './fdb.js';
import type { Link } from './link.js';
import type { Neighbour } from './neigh.js';
import type { NexthopObject } from './nexthop.js';
import type { Route } from './route.js';
import type { Rule } from './rule.js';
import { addon, type Native } from './native.js';
import { type NsRef, nsNative } from './netns.js';
import * as v from './validate.js';

/** What can be subscribed to. `fdb` is bridge/vxlan forwarding entries; `neighbour` is ARP/NDP entries. */
export type EventKind = 'link' | 'address' | 'route' | 'neighbour' | 'fdb' | 'rule' | 'nexthop';

/** Every {@link EventKind}. */
export const EVENT_KINDS: readonly EventKind[] = ['link', 'address', 'route', 'neighbour', 'fdb', 'rule', 'nexthop'];

/**
 * `new`: the object was created or changed (the kernel sends the whole object
 * either way, as RTM_NEW*); `del`: it was deleted, and `value` is its last state.
 */
export type EventAction = 'new' | 'del';

/** A link was created, changed or deleted; `value` is what {@link Verbs.linkGet} would return. */
export interface LinkEvent {
  kind: 'link';
  action: EventAction;
  value: Link;
}

/** An address was added, changed or removed; the value is what {@link Verbs.addrList} returns. */
export interface AddressEvent {
  kind: 'address';
  action: EventAction;
  value: Address;
}

/** A route was added, changed or removed; the value is what {@link Verbs.routeList} returns. */
export interface RouteEvent {
  kind: 'route';
  action: EventAction;
  value: Route;
}

/** A neighbour (ARP/NDP) entry was added, changed or removed; the value is what {@link Verbs.neighList} returns. */
export interface NeighbourEvent {
  kind: 'neighbour';
  action: EventAction;
  value: Neighbour;
}

/** A bridge/vxlan FDB entry was added, changed or removed; the value is what {@link Verbs.fdbList} returns. */
export interface FdbEntryEvent {
  kind: 'fdb';
  action: EventAction;
  value: FdbEntry;
}

/** A policy rule was added or removed; the value is what {@link Verbs.ruleList} returns. */
export interface RuleEvent {
  kind: 'rule';
  action: EventAction;
  value: Rule;
}

/** A next-hop object was created, replaced or deleted; the value is what {@link Verbs.nexthopGet} returns. */
export interface NexthopEvent {
  kind: 'nexthop';
  action: EventAction;
  value: NexthopObject;
}

/** A change notification, discriminated by `kind`. */
export type RtnlEvent = LinkEvent | AddressEvent | RouteEvent | NeighbourEvent | FdbEntryEvent | RuleEvent | NexthopEvent;

/**
 * Why events were lost: `overflow`, the kernel dropped notifications because
 * the socket's receive buffer was full; `queue`, the async iterator's queue
 * overflowed because the consumer was slower than the events.
 */
export type ResyncReason = 'overflow' | 'queue';

/** Events were lost: anything built from earlier events may be stale, so re-dump (e.g. `linkList()`) and carry on. */
export interface ResyncEvent {
  kind: 'resync';
  reason: ResyncReason;
}

/** What a {@link Subscription} yields when iterated. */
export type SubscriptionItem = RtnlEvent | ResyncEvent;

/** Options for {@link subscribe}. */
export interface SubscribeOptions {
  /** The kinds of events wanted (at least one); others are never delivered. */
  kinds: EventKind[];
  /** The namespace to watch (default: the calling thread's). */
  netns?: NsRef;
  /**
   * Socket receive buffer in bytes (default 8 MiB; the kernel doubles it for
   * bookkeeping). Bursts larger than this are reported as a `resync`.
   */
  rcvbuf?: number;
  /** Most items an async iterator holds for a slow consumer before it drops them for a `resync` (default 10000). */
  queueLimit?: number;
}

/** The events a {@link Subscription} emits. */
export type SubscriptionEvents = {
  /** A change notification. */
  event: [RtnlEvent];
  /** Notifications were lost: re-dump. */
  resync: [ResyncEvent];
  /** Reading the socket failed; the subscription is closed. */
  error: [Error];
  /** The subscription closed (by {@link Subscription.close} or after an error). */
  close: [];
};

type NativeSubscription = InstanceType<Native['Subscription']>;

const DEFAULT_RCVBUF = 8 * 1024 * 1024;
const DEFAULT_QUEUE_LIMIT = 10_000;

// One async iterator's bounded queue.
class Reader {
  #items: SubscriptionItem[] = [];
  #head = 0;
  #wait: { resolve: (r: IteratorResult<SubscriptionItem, undefined>) => void; reject: (e: Error) => void } | undefined;
  #error: Error | undefined;
  #ended = false;

  constructor(readonly limit: number) {}

  push(item: SubscriptionItem): void {
    if (this.#wait) {
      const w = this.#wait;
      this.#wait = undefined;
      w.resolve({ value: item, done: false });
      return;
    }
    if (this.#items.length - this.#head >= this.limit) {
      // The consumer fell behind: what is queued is no better than a re-dump.
      this.#items = [{ kind: 'resync', reason: 'queue' }];
      this.#head = 0;
      if (item.kind === 'resync') return;
    }
    this.#items.push(item);
  }

  next(): Promise<IteratorResult<SubscriptionItem, undefined>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head++]!;
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#error) {
      const e = this.#error;
      this.#error = undefined;
      return Promise.reject(e);
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#wait = { resolve, reject };
    });
  }

  // Ends the iteration: close() drops what is queued; an error is thrown by the next next().
  end(error?: Error): void {
    this.#ended = true;
    this.#items = [];
    this.#head = 0;
    const w = this.#wait;
    this.#wait = undefined;
    if (error && w) w.reject(error);
    else if (error) this.#error = error;
    else w?.resolve({ value: undefined, done: true });
  }
}

/**
 * A live subscription: an EventEmitter (`event`, `resync`, `error`, `close`)
 * and an async iterable of {@link SubscriptionItem}s. While open it keeps the
 * process alive (unless {@link Subscription.unref}); {@link Subscription.close}
 * stops it for good.
 */
export class Subscription extends EventEmitter<SubscriptionEvents> implements AsyncIterable<SubscriptionItem> {
  /** The kinds subscribed to. */
  readonly kinds: readonly EventKind[];
  readonly #native: NativeSubscription;
  readonly #readers = new Set<Reader>();
  readonly #queueLimit: number;
  #closed = false;

  /** @internal use {@link subscribe}. */
  constructor(kinds: EventKind[], ns: number | string | undefined, rcvbuf: number, queueLimit: number) {
    super();
    this.kinds = kinds;
    this.#queueLimit = queueLimit;
    this.#native = new (addon().Subscription)(ns, kinds, rcvbuf, (items, error) => this.#deliver(items, error));
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Stops listening and closes the socket; no event is delivered afterwards. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
    for (const r of this.#readers) r.end();
    this.#readers.clear();
    this.emit('close');
  }

  /** Lets the process exit while this subscription is open (like `timer.unref()`). */
  unref(): this {
    this.#native.unref();
    return this;
  }

  /** Undoes {@link Subscription.unref}: the open subscription keeps the process alive again. */
  ref(): this {
    this.#native.ref();
    return this;
  }

  /**
   * Iterates over events and resyncs as they come, holding at most
   * `queueLimit` for a slow consumer (then a `resync` replaces them).
   * Ends when the subscription closes; leaving the loop (`break`, `return`)
   * closes the subscription.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<SubscriptionItem, undefined> {
    const r = new Reader(this.#queueLimit);
    if (this.#closed) r.end();
    else this.#readers.add(r);
    const it: AsyncIterableIterator<SubscriptionItem, undefined> = {
      next: () => r.next(),
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  #deliver(items: SubscriptionItem[], error: Error | undefined): void {
    for (const item of items) {
      if (this.#closed) return;  // a listener closed it: nothing more
      for (const r of this.#readers) r.push(item);
      if (item.kind === 'resync') this.emit('resync', item);
      else this.emit('event', item);
    }
    if (error && !this.#closed) {
      // The native side has already stopped polling.
      this.#closed = true;
      for (const r of this.#readers) r.end(error);
      // An iterator reports the error itself; otherwise 'error' with no listener throws, as EventEmitters do.
      if (this.#readers.size === 0 || this.listenerCount('error') > 0) this.emit('error', error);
      this.#readers.clear();
      this.emit('close');
    }
  }
}

/**
 * Subscribes to change notifications of the given kinds in a namespace.
 *
 * ```ts
 * const sub = subscribe({ kinds: ['link', 'address'] });
 * sub.on('event', (ev) => { if (ev.kind === 'link') console.log(ev.action, ev.value.name); });
 * sub.on('resync', () => relist());
 * ```
 */
export function subscribe(opts: SubscribeOptions): Subscription {
  if (!opts || typeof opts !== 'object') throw new RtnlInputError('opts', 'expected { kinds, netns?, rcvbuf?, queueLimit? }');
  v.noExtraKeys(opts, '', new Set(['kinds', 'netns', 'rcvbuf', 'queueLimit']));
  if (!Array.isArray(opts.kinds) || opts.kinds.length === 0)
    throw new RtnlInputError('kinds', `expected a non-empty array of ${EVENT_KINDS.join(', ')}`);
  const kinds = [...new Set(opts.kinds.map((k, i) => v.oneOf(`kinds[${i}]`, k, EVENT_KINDS)))];
  const rcvbuf = opts.rcvbuf === undefined ? DEFAULT_RCVBUF : v.uint('rcvbuf', opts.rcvbuf, 1 << 30, 1024);
  const queueLimit = opts.queueLimit === undefined ? DEFAULT_QUEUE_LIMIT : v.uint('queueLimit', opts.queueLimit, 0x7fffffff, 1);
  const ns = opts.netns === undefined ? undefined : nsNative(opts.netns);
  return new Subscription(kinds, ns, rcvbuf, queueLimit);
}
