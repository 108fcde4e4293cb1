/**
 * A lock per shared device set (one per VNI) and its reference counts, in a
 * state directory, with the IPAM store's techniques (no flock in Node):
 *
 * - The lock is `<dir>/<key>.lock`, made by link(2)-ing a private temp file
 *   holding our pid to that name: link fails with EEXIST while another
 *   process holds it, and the file appears with its content complete.
 * - A holder killed while holding leaves its file behind: a waiter that finds
 *   the holder's pid dead renames the file to a private name (only one waiter
 *   can win that rename), checks it still names the dead pid, and removes it;
 *   if it renamed a live holder's file meanwhile it links it straight back.
 * - The users of a key are files `<dir>/<key>.users/<id>`, changed only under
 *   the lock, so "the last user left" is decided without a race.
 * @module
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { CniError, CniErrorCode } from '../cni/index.js';
import { alive, errno } from '../primitives/file.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;

/** How long a waiter keeps trying before giving up (error 11, try again later). */
const LOCK_TIMEOUT_MS = 30_000;

/** A key's lock and users in a state directory. */
export class SharedState {
  readonly #lock: string;
  readonly #users: string;
  readonly #dir: string;

  /** @param dir the state directory (created if missing) @param key a file-name-safe key, e.g. `vxlan-42` */
  constructor(dir: string, key: string) {
    this.#dir = dir;
    this.#lock = join(dir, `${key}.lock`);
    this.#users = join(dir, `${key}.users`);
  }

  /** Runs fn while holding the lock; the lock is released even if fn throws. */
  async locked<T>(fn: () => T | Promise<T>): Promise<T> {
    try {
      fs.mkdirSync(this.#users, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw new CniError(CniErrorCode.IoFailure, `cannot create the state directory ${this.#dir}`, (e as Error).message);
    }
    const tmp = join(this.#dir, `.tmp.${process.pid}.${seq++}`);
    fs.writeFileSync(tmp, String(process.pid), { flag: 'wx' });
    try {
      const deadline = Date.now() + LOCK_TIMEOUT_MS;
      for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
        try {
          fs.linkSync(tmp, this.#lock);
          break;
        } catch (e) {
          if (errno(e) !== 'EEXIST') throw e;
        }
        this.#breakIfStale();
        if (Date.now() > deadline) throw new CniError(CniErrorCode.TryAgainLater, `timed out waiting for the lock ${this.#lock}`);
        await sleep(wait * (0.5 + Math.random()));
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    try {
      return await fn();
    } finally {
      fs.rmSync(this.#lock, { force: true });
    }
  }

  /** Removes the lock file when its holder's process is gone. */
  #breakIfStale(): void {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.#lock, 'utf8'));
    } catch {
      return; // released meanwhile
    }
    if (alive(pid)) return;
    const mine = join(this.#dir, `.stale.${process.pid}.${seq++}`);
    try {
      fs.renameSync(this.#lock, mine);
    } catch {
      return; // another waiter took it
    }
    // Between our read and rename the file may have become a live holder's: give it back.
    if (Number(fs.readFileSync(mine, 'utf8')) !== pid) {
      try { fs.linkSync(mine, this.#lock); } catch { /* a third process took the lock meanwhile: nothing safer to do */ }
    }
    fs.rmSync(mine, { force: true });
  }

  /** Records user `id` (call under the lock). */
  addUser(id: string): void {
    fs.writeFileSync(join(this.#users, id), '');
  }

  /** Forgets user `id` and returns how many users remain (call under the lock). */
  removeUser(id: string): number {
    fs.rmSync(join(this.#users, id), { force: true });
    return fs.readdirSync(this.#users).length;
  }

  /** The current users' ids. */
  users(): string[] {
    try {
      return fs.readdirSync(this.#users).sort();
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      throw e;
    }
  }
}
