/**
 * The on-disk store, file-compatible with host-local: `<dataDir>/<network>/`
 * holds one file per reserved address, named by the address and containing
 * `<containerid>\r\n<ifname>`, plus `last_reserved_ip.<range set index>` and
 * an empty `lock` file.
 *
 * Concurrency without flock (Node has none): every change is a single atomic
 * filesystem operation. A reservation is made by writing the owner into a
 * private temp file and link(2)-ing it to the address's name: link fails with
 * EEXIST when the name exists, so two processes can never both win an address,
 * and the address file appears with its content complete (never empty or
 * half-written, unlike O_CREAT|O_EXCL then write). Replacing last_reserved_ip
 * is write-temp + rename(2). A process killed at any point leaves at worst a
 * temp file (not an address name, so never a reservation) or a complete
 * reservation; there is no lock to go stale. host-local's own files stay
 * exclusive against ours for the same reason (it creates with O_EXCL).
 * @module
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { CniError, CniErrorCode } from '../cni/index.js';
import { alive, errno } from '../primitives/file.js';
import { formatIp, parseIp, type Ip } from '../primitives/ip.js';
import { isFileName } from '../primitives/names.js';

const LAST_PREFIX = 'last_reserved_ip.';
const TMP_PREFIX = '.rtnl-tmp.';
/** How old a temp file, or an empty address file (a crashed host-local writer), must be to count as debris. */
const DEBRIS_AGE_MS = 60_000;

/** Who holds an address: `ifname` is undefined for host-local's legacy id-only files. */
export interface Owner {
  id: string;
  ifname: string | undefined;
}

/** One address file in the store. */
export interface Entry {
  /** The file name (the address's canonical text). */
  name: string;
  ip: Ip;
  /** Undefined when the file is empty or unreadable. */
  owner: Owner | undefined;
}

/** The file content for an owner, exactly as host-local writes it. */
function ownerText(id: string, ifname: string): string {
  return `${id.trim()}\r\n${ifname}`;
}

function parseOwner(text: string): Owner | undefined {
  const t = text.trim();
  if (!t) return undefined;
  const nl = t.indexOf('\r\n');
  return nl < 0 ? { id: t, ifname: undefined } : { id: t.slice(0, nl), ifname: t.slice(nl + 2) };
}

/** Test hook: lets the tests SIGKILL this process at a named point of a reservation. */
function crashPoint(name: string): void {
  if (process.env.RTNL_IPAM_TEST_CRASH === name) process.kill(process.pid, 'SIGKILL');
}

let tmpSeq = 0;

/** A network's directory in the store. */
export class Store {
  /** The directory: `<dataDir>/<network>`. */
  readonly dir: string;
  private tmp: string | undefined;

  /**
   * Opens (creating if needed) the store of `network` under `dataDir`. The name
   * must be a single path component: one with `/` or equal to `.`/`..` is error 7.
   */
  constructor(dataDir: string, network: string) {
    if (!isFileName(network) || network.includes('..')) {
      throw new CniError(CniErrorCode.InvalidNetworkConfig, 'invalid name', `network name ${JSON.stringify(network)} cannot name a store directory`);
    }
    this.dir = join(dataDir, network);
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
      fs.closeSync(fs.openSync(join(this.dir, 'lock'), 'a', 0o644));
    } catch (e) {
      throw new CniError(CniErrorCode.IoFailure, `cannot open the store ${this.dir}`, (e as Error).message);
    }
  }

  /** Reads every address file (others — lock, last_reserved_ip.*, temp files — are skipped). */
  entries(): Entry[] {
    const out: Entry[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const ip = parseIp(name);
      if (!ip) continue;
      try {
        const path = join(this.dir, name);
        out.push({ name, ip, owner: parseOwner(fs.readFileSync(path, 'utf8')) });
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw e; // released meanwhile
      }
    }
    return out;
  }

  /** Names of the address files, without reading them. */
  names(): Set<string> {
    return new Set(fs.readdirSync(this.dir).filter((n) => parseIp(n) !== undefined));
  }

  /**
   * Writes a private temp file; the caller links or renames it into place.
   * A failed write (ENOSPC: the file exists, its content does not) removes
   * the file and is error 5 naming it.
   */
  private writeTemp(content: string): string {
    // pid + counter is unique among live processes; 'wx' refuses a leftover of a dead namesake.
    const path = join(this.dir, `${TMP_PREFIX}${process.pid}.${tmpSeq++}.${Math.floor(Math.random() * 2 ** 32).toString(16)}`);
    try {
      fs.writeFileSync(path, content, { mode: 0o644, flag: 'wx' });
    } catch (e) {
      this.releaseAny(path);
      throw new CniError(CniErrorCode.IoFailure, `cannot write to the store ${this.dir}`, `${path}: ${(e as Error).message}`);
    }
    return path;
  }

  /**
   * Reserves `ip` for (id, ifname): true when won, false when the address is
   * already taken. Atomic: see the module comment.
   */
  reserve(ip: Ip, id: string, ifname: string): boolean {
    const target = join(this.dir, formatIp(ip));
    for (;;) {
      this.tmp ??= this.writeTemp(ownerText(id, ifname));
      crashPoint('before-link');
      try {
        fs.linkSync(this.tmp, target);
        crashPoint('after-link');
        // One temp file per address: each address file gets its own inode.
        this.close();
        return true;
      } catch (e) {
        if (errno(e) === 'EEXIST') return false;
        // Our temp file was swept by another process (e.g. one in another PID namespace): write it again.
        if (errno(e) === 'ENOENT' && fs.existsSync(this.dir)) { this.tmp = undefined; continue; }
        throw e;
      }
    }
  }

  /** Removes this process's pending temp file (kept between collisions); call when done reserving. */
  close(): void {
    // unlink, not rmSync: this is on every ADD's path, and rmSync loads a module of Node's of its own.
    if (this.tmp) {
      try { fs.unlinkSync(this.tmp); } catch (e) { if (errno(e) !== 'ENOENT') throw e; }
    }
    this.tmp = undefined;
  }

  /** The last address reserved from range set `index`, if recorded and parseable. */
  lastReserved(index: number): Ip | undefined {
    try {
      return parseIp(fs.readFileSync(join(this.dir, LAST_PREFIX + index), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  /** Records the last address reserved from range set `index` (temp + rename). */
  setLastReserved(index: number, ip: Ip): void {
    const tmp = this.writeTemp(formatIp(ip));
    crashPoint('before-last');
    fs.renameSync(tmp, join(this.dir, LAST_PREFIX + index));
  }

  /** Removes an address file; false when it was already gone. */
  release(name: string): boolean {
    try {
      fs.unlinkSync(join(this.dir, name));
      return true;
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      throw e;
    }
  }

  /** Releases `name` only while it still holds (id, ifname): undoing a failed ADD never frees another's address. */
  releaseIfOwned(name: string, id: string, ifname: string): void {
    try {
      if (fs.readFileSync(join(this.dir, name), 'utf8').trim() === ownerText(id, ifname).trim()) this.release(name);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
  }

  /**
   * Releases what (id, ifname) holds, as host-local does: the exact matches, or
   * when there are none, legacy files holding the id alone. Returns the names released.
   */
  releaseOwner(id: string, ifname: string, entries = this.entries()): string[] {
    const cid = id.trim();
    let match = entries.filter((e) => e.owner?.id === cid && e.owner.ifname === ifname);
    if (match.length === 0) match = entries.filter((e) => e.owner?.id === cid && e.owner.ifname === undefined);
    return match.filter((e) => this.release(e.name)).map((e) => e.name);
  }

  /**
   * Removes temp files left by killed processes (their pid is gone, or they are
   * old), and, among `entries`, empty address files older than a minute (a
   * host-local writer killed between create and write). Returns how many files went.
   */
  sweep(entries: Entry[], now = Date.now()): number {
    let n = 0;
    const old = (path: string): boolean => {
      try { return now - fs.statSync(path).mtimeMs > DEBRIS_AGE_MS; } catch { return false; }
    };
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.startsWith(TMP_PREFIX)) continue;
      const path = join(this.dir, name);
      const pid = Number(name.slice(TMP_PREFIX.length).split('.')[0]);
      if ((pid !== process.pid && !alive(pid)) || old(path)) n += Number(this.releaseAny(path));
    }
    for (const e of entries) {
      const path = join(this.dir, e.name);
      if (e.owner === undefined && old(path)) n += Number(this.releaseAny(path));
    }
    return n;
  }

  private releaseAny(path: string): boolean {
    try { fs.unlinkSync(path); return true; } catch { return false; }
  }

  /** Checks that a reservation can be written in the store (for STATUS): a file with content, since a full filesystem still creates empty ones. */
  writable(): boolean {
    try {
      fs.rmSync(this.writeTemp(ownerText('status', 'eth0')));
      return true;
    } catch {
      return false;
    }
  }
}
