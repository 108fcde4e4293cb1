/**
 * rtnl-cni-daemon: a resident process that runs the `rtnl` plugin for the
 * small client installed as the plugin (native/cni_client.c), so a pod's ADD
 * or DEL costs no Node.js start-up. Started explicitly (a systemd unit, the
 * node agent); never spawned by the client. Run via `bin/rtnl-cni-daemon`;
 * see {@link USAGE}.
 *
 * Each connection carries one invocation: the caller's CNI_* environment and
 * its stdin. The plugin resolves names (the bridge, CNI_NETNS paths, the IPAM
 * store, /proc/sys) in the namespaces it runs in, and runs with the daemon's
 * privileges, so it runs here only for a caller the kernel vouches for:
 * SO_PEERCRED's uid is 0 (or allowed with --allow-uid) and the caller's
 * network and mount namespaces, read from /proc/<its pid> and pinned by a
 * pidfd, are the daemon's; nothing the client writes about itself counts (a
 * hostile client could forge it). Any other caller is told
 * to fall back (run the plugin itself, with its own privileges). Concurrent
 * invocations run concurrently (the IPAM store and the plugin's locks are
 * link(2)-based, so they exclude invocations within one process as well as
 * across processes). The wire format is described in the client's source.
 *
 * Bounds: a frame larger than --max-frame or a malformed one is answered
 * "fallback" at once, without reading the rest; at most --max-connections
 * at a time (others are closed at once: their clients fall back); a request
 * must arrive whole within --request-timeout; SIGTERM waits at most
 * --shutdown-timeout for requests in flight.
 * @module
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { dirname } from 'node:path';
import { UsageError, intFlag, parseCommandLine, versionLine } from '../cli.js';
import { invokePlugin, type PluginOutcome } from '../cni/index.js';
import { addon } from '../native.js';
import { rtnlHandlers } from './plugin.js';

/** Where the daemon listens unless told otherwise (the client's default too). */
export const DEFAULT_SOCKET = '/run/rtnl-cni/rtnl.sock';

/** The bounds {@link startDaemon} applies unless told otherwise. */
export const DEFAULT_BOUNDS = {
  /** The client sends at most 768 KiB of stdin itself (larger goes to the Node plugin): 1 MiB holds it and any environment. */
  maxFrame: 1 << 20,
  /** With maxFrame, at most 128 MiB held in partial requests. */
  maxConnections: 128,
  /** The client sends its request at once: 10 s is a client that is stuck or hostile. */
  requestTimeoutMs: 10_000,
  shutdownTimeoutMs: 10_000,
} as const;

/** What {@link startDaemon} does. */
export interface DaemonOptions {
  /** The unix socket path (mode 0600; a stale file there is replaced). */
  socket: string;
  /** Log one JSON line per request to stderr. */
  debug: boolean;
  /** Callers' uids served besides 0 (the socket's mode must let them connect too). */
  allowUids?: readonly number[];
  /** The largest request body, in bytes; a larger one is answered "fallback" unread. */
  maxFrame?: number;
  /** Connections served at once; more are closed at once (their clients fall back). */
  maxConnections?: number;
  /** How long a client may take to send its whole request. */
  requestTimeoutMs?: number;
  /** How long {@link Daemon.close} waits for requests in flight before cutting their connections. */
  shutdownTimeoutMs?: number;
}

/** A running daemon. */
export interface Daemon {
  /** Stops listening, removes the socket file and resolves once in-flight requests have been answered, or the shutdown timeout has passed. */
  close(): Promise<void>;
}

const MAGIC = 'RTNLCNI1';
const HEADER = MAGIC.length + 4;

/** One decoded request. */
interface Request {
  env: Record<string, string>;
  stdin: string;
}

/** Decodes a request body; throws on a malformed one. */
function decode(body: Buffer): Request {
  let off = 0;
  const u32 = () => { const v = body.readUInt32LE(off); off += 4; return v; };
  const bytes = () => {
    const n = u32();
    if (off + n > body.length) throw new RangeError('truncated');
    const s = body.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  off += 4 + 32; // the client's pid and reserved bytes: who calls is the kernel's word
  const env: Record<string, string> = {};
  for (let n = u32(); n > 0; n--) {
    const kv = bytes(), eq = kv.indexOf('=');
    if (kv.startsWith('CNI_') && eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const stdin = bytes();
  if (off !== body.length) throw new RangeError('trailing bytes');
  return { env, stdin };
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

/**
 * Reads one framed request from `sock`: its body; 'refused' when the frame
 * is not one (wrong magic, larger than `max`) as soon as its header says so;
 * undefined when the connection closed first.
 */
function readRequest(sock: net.Socket, max: number): Promise<Buffer | 'refused' | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let have = 0, need = -1;
    const done = (body: Buffer | 'refused' | undefined) => {
      sock.off('data', onData).off('end', onEnd).off('close', onEnd).pause();
      resolve(body);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      have += c.length;
      if (need < 0 && have >= HEADER) {
        const head = Buffer.concat(chunks, HEADER);
        if (head.toString('latin1', 0, MAGIC.length) !== MAGIC) return done('refused');
        need = HEADER + head.readUInt32LE(MAGIC.length);
        if (need > HEADER + max) return done('refused');
      }
      if (need >= 0 && have >= need) done(Buffer.concat(chunks).subarray(HEADER, need));
    };
    const onEnd = () => done(undefined);
    sock.on('data', onData).on('end', onEnd).on('close', onEnd);
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

/** Who is calling, from the kernel: its pid, and whether it may have the plugin run here. */
function caller(sock: net.Socket, home: { net: string; mnt: string }, uids: ReadonlySet<number>): { pid?: number; trusted: boolean; why?: string } {
  // Node has no public accessor for a socket's fd; its pipe handle carries it (-1 where there is none).
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return { trusted: false, why: 'no socket fd' };
  let cred;
  try {
    cred = addon().peerCred(fd);
  } catch (e) {
    return { trusted: false, why: (e as Error).message };
  }
  if (cred.uid !== 0 && !uids.has(cred.uid)) return { pid: cred.pid, trusted: false, why: `uid ${cred.uid}` };
  if (cred.net !== home.net || cred.mnt !== home.mnt) return { pid: cred.pid, trusted: false, why: 'other namespaces' };
  return { pid: cred.pid, trusted: true };
}

/**
 * Starts serving on `o.socket`. Refuses (throws) when another daemon answers
 * there; a stale socket file is replaced.
 */
export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const bounds = { ...DEFAULT_BOUNDS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as Required<DaemonOptions>;
  const home = { net: addon().nsIdentity('/proc/self/ns/net'), mnt: addon().nsIdentity('/proc/self/ns/mnt') };
  const uids = new Set(o.allowUids ?? []);
  let served = 0;
  const log = (fields: object) => { if (o.debug) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`); };

  const handle = async (sock: net.Socket): Promise<void> => {
    const started = process.hrtime.bigint();
    const who = caller(sock, home, uids);
    // The whole request within the deadline: a trickling client is cut, however often it sends.
    const deadline = setTimeout(() => sock.destroy(), bounds.requestTimeoutMs);
    const body = await readRequest(sock, bounds.maxFrame);
    clearTimeout(deadline);
    if (body === undefined) return void sock.destroy();
    let req: Request | undefined;
    try {
      req = body === 'refused' ? undefined : decode(body);
    } catch { /* an unknown frame: the client falls back */ }
    const ours = req !== undefined && who.trusted;
    const out = ours ? await invokePlugin(rtnlHandlers, req!.env, req!.stdin) : undefined;
    const delivered = await new Promise<boolean>((resolve) => sock.write(encode(out), (e) => resolve(!e)));
    // As the executable undoes an ADD whose result it cannot print (EPIPE on stdout).
    const undo = out?.undo;
    let undone = false;
    if (undo !== undefined) {
      const ackDeadline = setTimeout(() => sock.destroy(), bounds.requestTimeoutMs);
      undone = !delivered || (await readAck(sock)) === 'u';
      clearTimeout(ackDeadline);
    }
    if (undone) await Promise.resolve(undo!()).catch(() => undefined);
    sock.end();
    log({
      n: ++served, pid: who.pid, command: req?.env.CNI_COMMAND, containerId: req?.env.CNI_CONTAINERID, ifname: req?.env.CNI_IFNAME,
      served: ours ? 'daemon' : 'fallback', ...(who.trusted ? {} : { untrusted: who.why }), ...(body === 'refused' ? { refused: true } : {}),
      exitCode: out?.exitCode, ...(undone ? { undone } : {}),
      ms: Number(process.hrtime.bigint() - started) / 1e6,
    });
  };

  if (await listening(o.socket)) throw new Error(`another daemon is listening on ${o.socket}`);
  fs.mkdirSync(dirname(o.socket), { recursive: true, mode: 0o700 });
  removeSocket(o.socket);
  const inflight = new Set<Promise<void>>();
  const open = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    open.add(sock);
    sock.on('error', () => undefined).on('close', () => open.delete(sock)); // a client gone mid-answer; handle() sees it as undelivered
    const p = handle(sock).catch((e: unknown) => { log({ error: String(e) }); sock.destroy(); });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  });
  // Beyond this the server closes new connections at once: their clients fall back.
  server.maxConnections = bounds.maxConnections;
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
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, bounds.shutdownTimeoutMs); });
      await Promise.race([Promise.all(inflight), late]);
      clearTimeout(timer);
      for (const sock of open) sock.destroy();
    },
  };
}

/** The daemon's --help text. */
export const USAGE = `usage: rtnl-cni-daemon [options]

Serves the "rtnl" CNI plugin to the client installed as the plugin, without a
Node.js start-up per pod. Callers whose uid is not 0 (or allowed) or whose
network and mount namespaces are not the daemon's are told to run the plugin
themselves.

  --socket PATH            unix socket to listen on (default ${DEFAULT_SOCKET})
  --allow-uid UID          serve this uid too, besides 0 (repeatable)
  --max-frame BYTES        largest request accepted (default ${DEFAULT_BOUNDS.maxFrame})
  --max-connections N      connections served at once (default ${DEFAULT_BOUNDS.maxConnections})
  --request-timeout MS     time a client has to send its whole request (default ${DEFAULT_BOUNDS.requestTimeoutMs})
  --shutdown-timeout MS    on SIGTERM, longest wait for requests in flight (default ${DEFAULT_BOUNDS.shutdownTimeoutMs})
  --debug                  one JSON line per request on stderr
  -h, --help               this text
  --version                the version`;

/** A positive integer flag's value, `def` when not given. */
const count = (flag: string, v: string | undefined, def: number, max = 0x7fffffff): number => (v === undefined ? def : intFlag(`--${flag}`, v, 1, max));

type Flags = {
  socket?: string; debug?: boolean; 'allow-uid'?: string[]; 'max-frame'?: string;
  'max-connections'?: string; 'request-timeout'?: string; 'shutdown-timeout'?: string;
};

/** Parses the command line: options, or help/version; throws {@link UsageError}. */
export function parseArgs(argv: string[]): DaemonOptions | 'help' | 'version' {
  const r = parseCommandLine<Flags>(argv, {
    socket: { type: 'string' }, debug: { type: 'boolean' }, 'allow-uid': { type: 'string', multiple: true },
    'max-frame': { type: 'string' }, 'max-connections': { type: 'string' },
    'request-timeout': { type: 'string' }, 'shutdown-timeout': { type: 'string' },
  });
  if (r.kind !== 'run') return r.kind;
  const f = r.values;
  if (f.socket === '') throw new UsageError('--socket: a path is needed');
  return {
    socket: f.socket ?? DEFAULT_SOCKET,
    debug: f.debug ?? false,
    allowUids: (f['allow-uid'] ?? []).map((u) => count('allow-uid', u, 0, 0xfffffffe)),
    maxFrame: count('max-frame', f['max-frame'], DEFAULT_BOUNDS.maxFrame),
    maxConnections: count('max-connections', f['max-connections'], DEFAULT_BOUNDS.maxConnections),
    requestTimeoutMs: count('request-timeout', f['request-timeout'], DEFAULT_BOUNDS.requestTimeoutMs),
    shutdownTimeoutMs: count('shutdown-timeout', f['shutdown-timeout'], DEFAULT_BOUNDS.shutdownTimeoutMs),
  };
}

/**
 * The command: serves until SIGTERM or SIGINT, then removes the socket and
 * exits 0; --help and --version exit 0; a bad command line exits 2, a daemon
 * that cannot start 1.
 */
export async function main(argv: string[]): Promise<void> {
  let o: ReturnType<typeof parseArgs>;
  try {
    o = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`rtnl-cni-daemon: ${e.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (o === 'help' || o === 'version') {
    process.stdout.write(`${o === 'help' ? USAGE : versionLine('rtnl-cni-daemon')}\n`);
    return;
  }
  let d: Daemon;
  try {
    d = await startDaemon(o);
  } catch (e) {
    console.error(`rtnl-cni-daemon: ${(e as Error).message}`);
    process.exitCode = 1;
    return;
  }
  const stop = () => { void d.close().then(() => process.exit(0)); };
  process.once('SIGTERM', stop).once('SIGINT', stop);
  // Said once a SIGTERM is handled: whoever waits for this line may stop it at once.
  if (o.debug) process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), listening: o.socket, pid: process.pid })}\n`);
}
