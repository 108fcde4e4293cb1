/**
 * Network namespaces: named ones kept the way `ip netns` keeps them (a bind
 * mount under `/run/netns`), opened ones held by file descriptor, and running
 * code inside one.
 * @module
 */
import * as fs from 'node:fs';
import { RtnlInputError } from './errors.js';
import { show } from './validate.js';
import { addon } from './native.js';
import { isFileName } from './primitives/names.js';

/** Where named namespaces live, as in iproute2 (NETNS_RUN_DIR). */
export const NETNS_RUN_DIR = '/run/netns';

/**
 * A reference to a network namespace: an open {@link Netns}, a name under
 * {@link NETNS_RUN_DIR}, a path (`/run/netns/x`, `/proc/PID/ns/net`), a
 * process id, or a file descriptor you own.
 */
export type NsRef = Netns | { name: string } | { path: string } | { pid: number } | { fd: number };

/** An open network namespace, held by a file descriptor until {@link Netns.close}. */
export class Netns {
  /** The namespace's file descriptor. */
  readonly fd: number;
  /** The path it was opened from. */
  readonly path: string;
  /** Its identity: the inode number of the namespace (`ip netns identify`, `ls -i`). */
  readonly inode: number;
  #closed = false;

  /** @internal use {@link openNetns} or {@link createNetns}. */
  constructor(fd: number, path: string) {
    this.fd = fd;
    this.path = path;
    this.inode = addon().nsInode(fd);
  }

  /** Runs fn synchronously with the calling thread inside this namespace; the thread returns even if fn throws. */
  run<T>(fn: () => T): T {
    this.#check();
    return addon().nsRun(this.fd, fn);
  }

  /** Closes the file descriptor (a named namespace itself lives on until {@link deleteNetns}). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    fs.closeSync(this.fd);
  }

  /** True once {@link Netns.close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  #check(): void {
    if (this.#closed) throw new RtnlInputError('netns', `the namespace handle for ${this.path} is closed`);
  }
}

function nsName(name: unknown): string {
  if (!isFileName(name))
    throw new RtnlInputError('name', `${show(name)} is not a valid namespace name`);
  return name;
}

/** @internal The path (or fd) the addon should open for ref. */
export function nsNative(ref: NsRef, field = 'netns'): number | string {
  if (ref instanceof Netns) {
    if (ref.closed) throw new RtnlInputError(field, `the namespace handle for ${ref.path} is closed`);
    return ref.fd;
  }
  if (ref && typeof ref === 'object') {
    if ('fd' in ref && Number.isInteger(ref.fd) && ref.fd >= 0) return ref.fd;
    if ('path' in ref && typeof ref.path === 'string' && ref.path) {
      if (ref.path.includes('\0')) throw new RtnlInputError(field, `path ${show(ref.path)} contains a NUL byte`);
      return ref.path;
    }
    if ('name' in ref) return `${NETNS_RUN_DIR}/${nsName(ref.name)}`;
    if ('pid' in ref && Number.isInteger(ref.pid) && ref.pid > 0) return `/proc/${ref.pid}/ns/net`;
  }
  throw new RtnlInputError(field, 'expected a Netns, { name }, { path }, { pid } or { fd }');
}

/**
 * Creates a named namespace exactly as `ip netns add NAME` does: it shows in
 * `ip netns list` and works with `ip netns exec`. Returns it opened.
 */
export function createNetns(name: string): Netns {
  const path = `${NETNS_RUN_DIR}/${nsName(name)}`;
  return new Netns(addon().nsCreate(NETNS_RUN_DIR, name), path);
}

/** Deletes a named namespace as `ip netns delete NAME` does (it lives on while something still holds it). */
export function deleteNetns(name: string): void {
  addon().nsDelete(NETNS_RUN_DIR, nsName(name));
}

/** Opens a namespace; throws a NetlinkError (EINVAL) if the path is not a network namespace. */
export function openNetns(ref: Exclude<NsRef, Netns>): Netns {
  const where = nsNative(ref);
  if (typeof where === 'number') {
    return new Netns(addon().nsOpen(`/proc/self/fd/${where}`), `/proc/self/fd/${where}`);
  }
  return new Netns(addon().nsOpen(where), where);
}

/** The namespace the calling thread is in now. */
export function currentNetns(): Netns {
  return new Netns(addon().nsOpen('/proc/thread-self/ns/net'), '/proc/thread-self/ns/net');
}

/** Names of the namespaces under {@link NETNS_RUN_DIR}, as `ip netns list` shows them. */
export function listNetns(): string[] {
  try {
    return fs.readdirSync(NETNS_RUN_DIR).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Runs fn synchronously inside the namespace ref; the caller's namespace is restored afterwards, even on throw. */
export function runInNetns<T>(ref: NsRef, fn: () => T): T {
  if (ref instanceof Netns) return ref.run(fn);
  const ns = openNetns(ref);
  try {
    return ns.run(fn);
  } finally {
    ns.close();
  }
}

/** The inode of the namespace the calling thread is in: cheap, for checking nothing was left switched. */
export function threadNetnsInode(): number {
  return addon().threadNsInode();
}
