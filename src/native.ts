// Loads the addon (a prebuild if one matches, else the local build) on first
// use, and routes its errors through NetlinkError.
import * as path from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { NetlinkError } from './errors.js';

/** A validated request before it crosses: op id, argument object, the object named in errors ({@link execArgs} and {@link NativeBatch} lay it out for the addon). */
export type NativeRequest = [op: number, arg: object, object: string];

/** A handle's socket, as exec takes it (an External). */
export type NativeSocket = { readonly __nativeSocket: unique symbol };
/** One request as exec takes it: the socket, op, the object named in errors, then its fields ({@link execArgs}). */
type ExecArgs = unknown[];

interface NativeHandle {
  readonly socket: NativeSocket;
  close(): void;
}

interface NativeSubscription {
  close(): void;
  ref(): void;
  unref(): void;
}

/** The addon's exports. */
export interface Native {
  /** A multicast subscription polled on the event loop; onItems gets decoded events (native/events.cc). */
  Subscription: new (ns: number | string | undefined, kinds: string[], rcvbuf: number, onItems: (items: never[], error?: Error) => void) => NativeSubscription;
  ops: Record<string, number>;
  Handle: new (ns?: number | string) => NativeHandle;
  /** One request on a handle's socket, its reply decoded or its error thrown (native/handle.h). */
  exec(...args: ExecArgs): unknown;
  execAsync(...args: ExecArgs): Promise<unknown>;
  /** One entry per request, in order; a request that returns nothing is a hole (reads as undefined). */
  batch(socket: NativeSocket, ...args: BatchArgs): unknown[];
  batchAsync(socket: NativeSocket, ...args: BatchArgs): Promise<unknown[]>;
  encode(...args: BatchArgs): Buffer;
  setErrorFactory(f: (...args: ConstructorParameters<typeof NetlinkError>) => NetlinkError): void;
  /** The addon's id for a property name (by content: the same name, the same id). */
  keyId(name: string): number;
  nsOpen(path: string): number;
  nsInode(fd: number): number;
  threadNsInode(): number;
  nsCreate(dir: string, name: string): number;
  nsDelete(dir: string, name: string): void;
  nsRun<T>(fd: number, fn: () => T): T;
  /** A unix socket's peer from the kernel, its namespaces read pid-reuse-safely (native/peercred.cc). */
  peerCred(fd: number): PeerCred;
  /** "dev:ino" of a namespace file, in the form of {@link PeerCred}'s. */
  nsIdentity(path: string): string;
}

/** A unix socket's peer: SO_PEERCRED and its namespace identities (undefined when they could not be read for that process). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
  net: string | undefined;
  mnt: string | undefined;
}

let loaded: Native | undefined;

/**
 * The addon, loaded on first use: a command that needs no netlink (a CNI
 * VERSION) never pays for it, and a startup snapshot, which cannot hold an
 * addon, loads it after deserialization.
 */
export function addon(): Native {
  if (!loaded) {
    loaded = nodeGypBuild(path.join(__dirname, '..', '..')) as Native;
    loaded.setErrorFactory((...args) => new NetlinkError(...args));
  }
  return loaded;
}

/** The addon's id for an operation; throws if the addon does not know it. */
export function opId(name: string): number {
  const id = addon().ops[name];
  if (id === undefined) throw new Error(`rtnl: the native addon has no operation '${name}' (stale build?)`);
  return id;
}

// A dictionary object rather than a Map: V8's keyed-load cache makes this
// lookup cheaper, and it runs for every field of every request.
const keyIds: Record<string, number> = Object.create(null);
const keyId = (k: string): number => (keyIds[k] ??= addon().keyId(k));

/**
 * A request on socket as exec's arguments: the socket, op, the object named
 * in errors, then arg's defined fields as (key id, value) pairs. The addon
 * reads call arguments in one step and then looks a key up with no call
 * into the engine, where reading an object costs it two calls for every key
 * its encoder looks for, present or not (native/arg.h).
 */
export function execArgs(socket: NativeSocket, [op, arg, object]: NativeRequest): unknown[] {
  const out: unknown[] = [socket, op, object];
  for (const k in arg) {
    const v = (arg as Record<string, unknown>)[k];
    if (v !== undefined) out.push(keyId(k), v);
  }
  return out;
}

/**
 * A batch as the addon takes it: meta (per request: op, field count, key
 * ids), the labels, then the values, spread as the call's arguments (one
 * read for all), or for a batch too big to spread as an array.
 */
type BatchArgs = [meta: Uint32Array, labels: string[], values: unknown[] | undefined, ...spread: unknown[]];

// Spread arguments sit on the stack: past this many values a batch passes
// them as an array instead (an element read each).
const MAX_SPREAD = 16384;

/**
 * Requests for one batch in the form the addon reads fastest: the key ids
 * as numbers in one typed array (read straight from memory), the values
 * apart, the labels apart (read only for a failed request).
 */
export class NativeBatch {
  // Grown by doubling and sent as a view: no copy of a number[] at the end.
  #meta = new Uint32Array(256);
  #metaLen = 0;
  // The values after three slots that args() fills: the call's arguments
  // as they go, with no copy.
  #values: unknown[] = [undefined, undefined, undefined];
  #labels: string[] = [];

  /** How many requests it holds. */
  get length(): number {
    return this.#labels.length;
  }

  add([op, arg, object]: NativeRequest): void {
    const values = this.#values;
    const at = this.#metaLen;
    let end = at + 2;
    for (const k in arg) {
      const v = (arg as Record<string, unknown>)[k];
      if (v === undefined) continue;
      if (end === this.#meta.length) this.#grow();
      this.#meta[end++] = keyId(k);
      values.push(v);
    }
    if (end + 2 > this.#meta.length) this.#grow();
    this.#meta[at] = op;
    this.#meta[at + 1] = end - at - 2;
    this.#metaLen = end;
    this.#labels.push(object);
  }

  #grow(): void {
    const bigger = new Uint32Array(this.#meta.length * 2);
    bigger.set(this.#meta);
    this.#meta = bigger;
  }

  args(): BatchArgs {
    const meta = this.#meta.subarray(0, this.#metaLen), v = this.#values;
    if (v.length - 3 > MAX_SPREAD) return [meta, this.#labels, v.slice(3)];
    v[0] = meta;
    v[1] = this.#labels;
    v[2] = undefined;
    return v as BatchArgs;
  }
}
