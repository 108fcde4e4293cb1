/**
 * Handles: a netlink socket bound to one network namespace.
 * @module
 */
import { NetlinkError, RtnlInputError } from './errors.js';
import { NativeBatch, addon, execArgs, type Native, type NativeRequest } from './native.js';
import { type NsRef, nsNative } from './netns.js';
import type { Request } from './request.js';
import { Verbs } from './verbs.js';

type NativeHandle = InstanceType<Native['Handle']>;

/** One request's outcome in a batch, shaped like `Promise.allSettled`'s. */
export type BatchResult = PromiseSettledResult<unknown>;

/** Records verbs for {@link Handle.batch}; each call adds one request. */
export class Batch extends Verbs<'batch'> {
  /** @internal */
  readonly requests = new NativeBatch();
  /** @internal Each request's Request.post, by index. */
  readonly posts: ((result: never) => unknown)[] = [];
  /** @internal */
  protected run<T>(build: () => Request<T>): void {
    const r = build();
    if (r.post) this.posts[this.requests.length] = r.post;
    this.requests.add(r.native);
  }
}

// The addon leaves a hole for a request that returns nothing: Array.from
// reads it as undefined (map and forEach would skip it).
function settle(results: unknown[], b: Batch): BatchResult[] {
  return Array.from(results, (r, i) => {
    if (r instanceof Error) return { status: 'rejected', reason: r };
    const post = b.posts[i];
    return { status: 'fulfilled', value: post ? post(r as never) : r };
  });
}

function record(fill: (b: Batch) => void): Batch {
  const b = new Batch();
  fill(b);
  return b;
}

interface Queued {
  req: NativeRequest;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * The same verbs as {@link Handle}, returning Promises; the kernel work runs
 * on the libuv threadpool. Calls made in the same tick go to the kernel
 * together, as one pipelined batch, so `Promise.all` over many verbs costs
 * about what {@link Handle.batch} does.
 */
export class AsyncHandle extends Verbs<'async'> {
  readonly #h: () => NativeHandle;
  #queue: Queued[] = [];

  /** @internal */
  constructor(h: () => NativeHandle) {
    super();
    this.#h = h;
  }

  /** @internal */
  protected run<T>(build: () => Request<T>): Promise<T> {
    let r: Request<T>;
    try {
      r = build();
    } catch (e) {
      return Promise.reject(e);
    }
    const post = r.post;
    return new Promise<T>((resolve, reject) => {
      const done = (post ? (v: unknown) => resolve(post(v as never) as T) : resolve) as (v: unknown) => void;
      if (this.#queue.push({ req: r.native, resolve: done, reject }) === 1) queueMicrotask(() => this.#flush());
    });
  }

  // Sends everything queued this tick in one native crossing.
  #flush(): void {
    const q = this.#queue;
    this.#queue = [];
    try {
      const h = this.#h();
      if (q.length === 1) {
        addon().execAsync(...execArgs(h.socket, q[0]!.req)).then(q[0]!.resolve, q[0]!.reject);
        return;
      }
      const b = new NativeBatch();
      for (const x of q) b.add(x.req);
      addon().batchAsync(h.socket, ...b.args()).then(
        (results) => {
          for (let i = 0; i < q.length; i++) {
            const r = results[i]; // a hole (nothing returned) reads as undefined
            if (r instanceof Error) q[i]!.reject(r);
            else q[i]!.resolve(r);
          }
        },
        (e) => q.forEach((x) => x.reject(e)),
      );
    } catch (e) {
      q.forEach((x) => x.reject(e));
    }
  }

  /** Like {@link Handle.batch}, off the main thread. */
  async batch(fill: (b: Batch) => void): Promise<BatchResult[]> {
    const b = record(fill); // async: a throw in fill rejects
    return settle(await addon().batchAsync(this.#h().socket, ...b.requests.args()), b);
  }
}

/**
 * A netlink socket in one network namespace, with every verb as a
 * synchronous call; `handle.async` has the same verbs as Promises, and
 * `handle.batch` sends many requests in one pipelined exchange.
 *
 * ```ts
 * const h = new Handle({ name: 'pod1' });
 * h.linkSetUp('lo');
 * await h.async.linkList();
 * ```
 */
export class Handle extends Verbs<'sync'> {
  /** The same verbs returning Promises. */
  readonly async: AsyncHandle;
  #native: NativeHandle | undefined;

  /** Opens a socket in ns (default: the calling thread's namespace). */
  constructor(ns?: NsRef) {
    super();
    this.#native = new (addon().Handle)(ns === undefined ? undefined : nsNative(ns));
    this.async = new AsyncHandle(() => this.#live());
  }

  /**
   * Sends every request recorded by fill in one native crossing, pipelined
   * (many per send, acks collected after), and reports each one's outcome in
   * order. A failed request does not stop the ones after it.
   *
   * ```ts
   * h.batch((b) => { b.linkAdd(spec); b.linkSetUp(spec.name); });
   * ```
   */
  batch(fill: (b: Batch) => void): BatchResult[] {
    const b = record(fill);
    return settle(addon().batch(this.#live().socket, ...b.requests.args()), b);
  }

  /** Closes the socket; any later call throws. */
  close(): void {
    this.#native?.close();
    this.#native = undefined;
  }

  /** @internal */
  protected run<T>(build: () => Request<T>): T {
    const r = build();
    const out = addon().exec(...execArgs(this.#live().socket, r.native));
    return (r.post ? r.post(out as never) : out) as T;
  }

  #live(): NativeHandle {
    if (!this.#native) throw new RtnlInputError('handle', 'this Handle has been closed');
    return this.#native;
  }
}

/**
 * Throws the first failure among a batch's results, in order; a
 * NetlinkError whose code is in `ok` (e.g. `['EEXIST']` for idempotent
 * adds) counts as success. For callers that want all or an exception.
 */
export function assertBatch(results: readonly BatchResult[], ok: readonly string[] = []): void {
  for (const r of results) {
    if (r.status === 'rejected' && !(r.reason instanceof NetlinkError && ok.includes(r.reason.code))) throw r.reason;
  }
}

/**
 * The bytes a batch would send, without sending them (sequence numbers from
 * 1, port id 0): for comparing rtnl's requests with other tools' byte for
 * byte, or on a kernel that lacks a link kind.
 */
export function encodeRequests(fill: (b: Batch) => void): Buffer {
  return addon().encode(...record(fill).requests.args());
}

let defaultHandle: Handle | undefined;

/** A handle for the namespace the process started in, opened on first use. */
export function getDefaultHandle(): Handle {
  return (defaultHandle ??= new Handle());
}
