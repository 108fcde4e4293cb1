// Loads the addon (a prebuild if one matches, else the local build) on first
// use, and routes its errors through NetlinkError.
import * as path from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { NetlinkError } from './errors.js';

/** A request as the addon takes it: op id, argument object, the object named in errors. */
export type NativeRequest = [op: number, arg: object, object: string];
/**
 * Requests for one batch, their triples laid end to end (op, arg, object,
 * op...): the addon reads two values per request, where an array per
 * request would cost a third read.
 */
export type NativeRequests = NativeRequest[number][];

interface NativeHandle {
  exec(op: number, arg: object, object: string): unknown;
  execAsync(op: number, arg: object, object: string): Promise<unknown>;
  /** One entry per request, in order; a request that returns nothing is a hole (reads as undefined). */
  batch(reqs: NativeRequests): unknown[];
  batchAsync(reqs: NativeRequests): Promise<unknown[]>;
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
  encode(reqs: NativeRequests): Buffer;
  setErrorFactory(f: (...args: ConstructorParameters<typeof NetlinkError>) => NetlinkError): void;
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
