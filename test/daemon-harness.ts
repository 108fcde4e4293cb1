// rtnl-cni-daemon as a child process for the tests, with its debug log
// parsed: one JSON object per request.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Test } from 'tap';
import { untapped } from './lib.js';
import { installPlugins, tmpDir } from './plugin-runtime.js';

/** The daemon's launcher. */
export const DAEMON = path.resolve(__dirname, '../../bin/rtnl-cni-daemon');

/**
 * The plugins installed for a daemon test: `cniPath`, the installed client
 * `rtnl`, the daemon's socket `sock` (exported as RTNL_CNI_SOCKET: the plugin
 * runners pass the test's environment on to the client) and an IPAM `dataDir`.
 */
export function daemonSetup(t: Test): { cniPath: string; rtnl: string; sock: string; dataDir: string } {
  const cniPath = installPlugins(t);
  const sock = path.join(tmpDir(t, 'rtnl-daemon-'), 'rtnl.sock');
  process.env.RTNL_CNI_SOCKET = sock;
  return { cniPath, rtnl: path.join(cniPath.split(':')[0]!, 'rtnl'), sock, dataDir: tmpDir(t) };
}

/** A daemon child with its debug log parsed: one JSON object per request. */
export class Daemon {
  readonly log: any[] = [];
  readonly #proc: ChildProcess;
  readonly #exited: Promise<number | null>;
  #waiters: Array<() => void> = [];
  #gone = false;

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.on('exit', (code) => { this.#gone = true; resolve(code); for (const w of this.#waiters.splice(0)) w(); }));
    let rest = '';
    proc.stderr!.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop()!;
      for (const l of lines) this.log.push(JSON.parse(l));
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Starts one on `sock` (with `args` besides) and resolves once it listens; killed at teardown. */
  static async start(tt: Test, sock: string, args: readonly string[] = []): Promise<Daemon> {
    const d = new Daemon(spawn(...untapped(DAEMON, ['--socket', sock, '--debug', ...args]), { stdio: ['ignore', 'inherit', 'pipe'] }));
    tt.teardown(() => { d.#proc.kill('SIGKILL'); });
    await d.until(() => d.log.some((l) => l.listening));
    return d;
  }

  /** Resolves when pred holds over the log (checked as lines arrive), or once the daemon is gone. */
  async until(pred: () => boolean): Promise<void> {
    while (!pred() && !this.#gone) await new Promise<void>((r) => this.#waiters.push(r));
  }

  /** The requests it ran itself, as "COMMAND id". */
  served(): string[] {
    return this.requests().filter((l) => l.served === 'daemon').map((l) => `${l.command} ${l.containerId}`);
  }

  /** Its log lines for requests. */
  requests(): any[] {
    return this.log.filter((l) => l.served);
  }

  /** Resolves once it has logged `n` requests: a synchronous plugin run blocks our reading of its log meanwhile. */
  logged(n: number): Promise<void> {
    return this.until(() => this.requests().length >= n);
  }

  /** Sends `signal`; resolves to the exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null> {
    this.#proc.kill(signal);
    return this.#exited;
  }
}

/** A request frame as the client builds it; `ids` go in its reserved bytes, where clients once claimed their netns and mntns (dev, ino). */
export function frame(env: Record<string, string>, stdin: string, ids: readonly bigint[] = [0n, 0n, 0n, 0n], pid = process.pid): Buffer {
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
  const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(n); return b; };
  const str = (s: string) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
  const vars = Object.entries(env).map(([k, v]) => str(`${k}=${v}`));
  const body = Buffer.concat([u32(pid), ...ids.map(u64), u32(vars.length), ...vars, str(stdin)]);
  return Buffer.concat([Buffer.from('RTNLCNI1'), u32(body.length), body]);
}

/** Our namespaces' (dev, ino) pairs, net then mnt, as the client would send them. */
export function nsIds(): bigint[] {
  return ['net', 'mnt'].flatMap((k) => { const st = fs.statSync(`/proc/self/ns/${k}`, { bigint: true }); return [st.dev, st.ino]; });
}

/** What a connection got: the answer's kind ('A' or 'F') and exit code, or 'closed' when it closed without one. */
export function answer(sock: net.Socket): Promise<{ kind: string; code: number } | 'closed'> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 9) resolve({ kind: buf.toString('latin1', 0, 1), code: buf.readUInt32LE(1) });
    });
    sock.on('close', () => resolve('closed'));
    sock.on('error', () => undefined);
  });
}

/** Connects to `path`; resolves once connected. */
export function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    s.once('connect', () => resolve(s)).once('error', reject);
  });
}
