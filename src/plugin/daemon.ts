/**
 * rtnl-cni-daemon: a resident process that runs the `rtnl` plugin for the
 * small client installed as the plugin (native/cni_client.c), so a pod's ADD
 * or DEL costs no Node.js start-up. Started explicitly (a systemd unit, the
 * node agent); never spawned by the client. Run via `bin/rtnl-cni-daemon`.
 *
 * ```
 * rtnl-cni-daemon [--socket /run/rtnl-cni/rtnl.sock] [--debug]
 * ```
 * Each connection carries one invocation: the caller's CNI_* environment, its
 * stdin, and the identities of its network and mount namespaces. The plugin
 * resolves names (the bridge, CNI_NETNS paths, the IPAM store, /proc/sys) in
 * the namespaces it runs in, so a caller in other namespaces than the daemon's
 * is told to fall back (run the plugin itself). Otherwise the plugin runs in
 * this process through the same skeleton as its executable; concurrent
 * invocations run concurrently (the IPAM store and the plugin's locks are
 * link(2)-based, so they exclude invocations within one process as well as
 * across processes). The wire format is described in the client's source.
 * @module
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { dirname } from 'node:path';
import { invokePlugin, type PluginOutcome } from '../cni/skel.js';
import { rtnlHandlers } from './plugin.js';

/** Where the daemon listens unless told otherwise (the client's default too). */
export const DEFAULT_SOCKET = '/run/rtnl-cni/rtnl.sock';

/** What {@link startDaemon} does. */
export interface DaemonOptions {
  /** The unix socket path (mode 0600; a stale file there is replaced). */
  socket: string;
  /** Log one JSON line per request to stderr. */
  debug: boolean;
}

/** A running daemon. */
export interface Daemon {
  /** Stops listening, removes the socket file and resolves once in-flight requests have been answered. */
  close(): Promise<void>;
}

const MAGIC = 'RTNLCNI1';
const HEADER = MAGIC.length + 4;
/** The client sends larger stdin to the Node plugin itself; anything bigger here is not a client's. */
const MAX_BODY = (64 << 20) + (1 << 20);
/** How long a client may take to send its request (it sends it at once). */
const REQUEST_TIMEOUT_MS = 10_000;

/** A namespace's identity: st_dev and st_ino of /proc/self/ns/KIND, as the client sends them. */
function nsId(kind: 'net' | 'mnt'): string {
  const st = fs.statSync(`/proc/self/ns/${kind}`, { bigint: true });
  return `${st.dev}:${st.ino}`;
}

/** One decoded request. */
interface Request {
  pid: number;
  net: string;
  mnt: string;
  env: Record<string, string>;
  stdin: string;
}

/** Decodes a request body; throws on a malformed one. */
function decode(body: Buffer): Request {
  let off = 0;
  const u32 = () => { const v = body.readUInt32LE(off); off += 4; return v; };
  const id = () => { const v = `${body.readBigUInt64LE(off)}:${body.readBigUInt64LE(off + 8)}`; off += 16; return v; };
  const bytes = () => {
    const n = u32();
    if (off + n > body.length) throw new RangeError('truncated');
    const s = body.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  const pid = u32(), net = id(), mnt = id();
  const env: Record<string, string> = {};
  for (let n = u32(); n > 0; n--) {
    const kv = bytes(), eq = kv.indexOf('=');
    if (kv.startsWith('CNI_') && eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const stdin = bytes();
  if (off !== body.length) throw new RangeError('trailing bytes');
  return { pid, net, mnt, env, stdin };
}

/** The response frame: 'A' with the exit code and stdout, or 'F' (fallback). */
function encode(out: PluginOutcome | undefined): Buffer {
  const stdout = Buffer.from(out?.stdout ?? '');
  const head = Buffer.alloc(9);
  head.write(out ? 'A' : 'F', 0, 'latin1');
  head.writeUInt32LE(out ? out.exitCode >>> 0 : 0, 1);
  head.writeUInt32LE(stdout.length, 5);
  return Buffer.concat([head, stdout]);
}

/** Reads one framed request from `sock`: its body, or undefined when the frame is not one (wrong magic, too large, closed early, too slow). */
function readRequest(sock: net.Socket): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let have = 0, need = HEADER;
    const done = (body: Buffer | undefined) => {
      sock.off('data', onData).off('end', onEnd).off('close', onEnd).setTimeout(0).pause();
      resolve(body);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      have += c.length;
      if (need === HEADER && have >= HEADER) {
        const head = Buffer.concat(chunks, HEADER);
        if (head.toString('latin1', 0, MAGIC.length) !== MAGIC) return done(undefined);
        need = HEADER + head.readUInt32LE(MAGIC.length);
        if (need > HEADER + MAX_BODY) return done(undefined);
      }
      if (need > HEADER && have >= need) done(Buffer.concat(chunks).subarray(HEADER, need));
    };
    const onEnd = () => done(undefined);
    // A client that stalls mid-request must not hold a shutdown forever.
    sock.on('data', onData).on('end', onEnd).on('close', onEnd).setTimeout(REQUEST_TIMEOUT_MS, () => sock.destroy());
  });
}

/** The client's byte after an answer: 'k' delivered, 'u' not (undo); undefined when it went away without one. */
function readAck(sock: net.Socket): Promise<string | undefined> {
  return new Promise((resolve) => {
    sock.once('data', (c: Buffer) => resolve(c.toString('latin1', 0, 1)));
    sock.once('close', () => resolve(undefined));
    sock.resume();
  });
}

/** Whether something answers on the unix socket `path`. */
function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** Removes the socket file at `path` if there is one; anything else there is an error, never removed. */
function removeSocket(path: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`);
  fs.rmSync(path);
}

/**
 * Starts serving on `o.socket`. Refuses (throws) when another daemon answers
 * there; a stale socket file is replaced.
 */
export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const home = { net: nsId('net'), mnt: nsId('mnt') };
  let served = 0;
  const log = (fields: object) => { if (o.debug) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`); };

  const handle = async (sock: net.Socket): Promise<void> => {
    const started = process.hrtime.bigint();
    const body = await readRequest(sock);
    let req: Request | undefined;
    try {
      req = body && decode(body);
    } catch { /* an unknown frame: the client falls back */ }
    const ours = req !== undefined && req.net === home.net && req.mnt === home.mnt;
    const out = ours ? await invokePlugin(rtnlHandlers, req!.env, req!.stdin) : undefined;
    const delivered = await new Promise<boolean>((resolve) => sock.write(encode(out), (e) => resolve(!e)));
    // As the executable undoes an ADD whose result it cannot print (EPIPE on stdout).
    const undo = out?.undo;
    const undone = undo !== undefined && (!delivered || (await readAck(sock)) === 'u');
    if (undone) await Promise.resolve(undo()).catch(() => undefined);
    sock.end();
    log({
      n: ++served, pid: req?.pid, command: req?.env.CNI_COMMAND, containerId: req?.env.CNI_CONTAINERID, ifname: req?.env.CNI_IFNAME,
      served: ours ? 'daemon' : 'fallback', exitCode: out?.exitCode, ...(undone ? { undone } : {}),
      ms: Number(process.hrtime.bigint() - started) / 1e6,
    });
  };

  if (await listening(o.socket)) throw new Error(`another daemon is listening on ${o.socket}`);
  fs.mkdirSync(dirname(o.socket), { recursive: true, mode: 0o700 });
  removeSocket(o.socket);
  const inflight = new Set<Promise<void>>();
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined); // a client gone mid-answer; handle() sees it as undelivered
    const p = handle(sock).catch((e: unknown) => { log({ error: String(e) }); sock.destroy(); });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  });
  // Created 0600 from the start (no window in which another user could connect).
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(o.socket, resolve));
  } finally {
    process.umask(umask);
  }
  return {
    async close() {
      server.close();
      try { removeSocket(o.socket); } catch { /* replaced by something else meanwhile: not ours to remove */ }
      await Promise.all(inflight);
    },
  };
}

/** Parses the command line; throws on an unknown flag. */
export function parseArgs(argv: string[]): DaemonOptions {
  const o: DaemonOptions = { socket: DEFAULT_SOCKET, debug: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--socket': {
        const v = argv[++i];
        if (v === undefined) throw new Error(`${a} needs a value`);
        o.socket = v;
        break;
      }
      case '--debug': o.debug = true; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  return o;
}

/** The command: serves until SIGTERM or SIGINT, then removes the socket and exits 0; exit 1 when it cannot start. */
export async function main(argv: string[]): Promise<void> {
  let d: Daemon;
  try {
    const o = parseArgs(argv);
    d = await startDaemon(o);
    if (o.debug) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), listening: o.socket, pid: process.pid })}\n`);
  } catch (e) {
    console.error(`rtnl-cni-daemon: ${(e as Error).message}`);
    console.error('usage: rtnl-cni-daemon [--socket PATH] [--debug]');
    process.exitCode = 1;
    return;
  }
  const stop = () => { void d.close().then(() => process.exit(0)); };
  process.once('SIGTERM', stop).once('SIGINT', stop);
}
