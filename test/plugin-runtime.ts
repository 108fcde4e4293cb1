// A small CNI runtime for the plugin tests: exec's plugins as containerd/
// libcni do (CNI_* env, config on stdin, result on stdout), optionally inside
// a "node" namespace (`ip netns exec NODE`), and chains a conflist: name and
// cniVersion injected per plugin, runtimeConfig by capabilities, prevResult
// passed along on ADD, the cached final result given to CHECK (in order) and
// DEL (in reverse), as /work/shared/tools/cni-exec.sh does.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';
import { type TestNs, untapped } from './lib.js';

export const REF_DIR = '/usr/lib/cni';
const INSTALLER = path.resolve(__dirname, '../../bin/rtnl-cni-install');

/** Where a call runs and for which attachment. */
export interface Call {
  netns?: string;
  ifname?: string;
  id?: string;
  /** Run the plugin inside this named namespace (its host side). */
  node?: string;
  args?: string;
  cniPath: string;
}

/** One plugin run's outcome. */
export interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
  /** The signal that ended it, if one did. */
  signal?: NodeJS.Signals;
  /** Its process group, when started with {@link AsyncOptions.killAfterMs}. */
  pgid?: number;
}

const parse = (s: string): any => { try { return s.trim() ? JSON.parse(s) : undefined; } catch { return undefined; } };

function env(cmd: string, c: Call): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env, CNI_COMMAND: cmd, CNI_CONTAINERID: c.id ?? 'c1', CNI_NETNS: c.netns ?? '', CNI_IFNAME: c.ifname ?? 'eth0',
    CNI_PATH: c.cniPath, CNI_ARGS: c.args ?? '',
  };
  delete e.NODE_EXTRA_CA_CERTS; // triples Node's start-up time
  return e;
}

/** The plugin's command line: without tap's loaders, inside the node's namespace when `c.node` is set. */
function argv(type: string, c: Call): [string, string[]] {
  const bin = c.cniPath.split(':').map((d) => path.join(d, type)).find((f) => fs.existsSync(f));
  if (!bin) throw new Error(`plugin ${type} not in ${c.cniPath}`);
  const [file, args] = untapped(bin);
  return c.node ? ['ip', ['netns', 'exec', c.node, file, ...args]] : [file, args];
}

/** Runs plugin `conf.type` once, synchronously. */
export function exec(cmd: string, conf: object, c: Call): Out {
  const [file, args] = argv((conf as { type: string }).type, c);
  const r = spawnSync(file, args, { input: JSON.stringify(conf), env: env(cmd, c), encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: parse(r.stdout) };
}

/** Options of {@link execAsync}. */
export interface AsyncOptions {
  /**
   * SIGKILL the plugin this long after its start (a runtime or node dying
   * mid-call). The plugin then leads its own process group, whose id is
   * `Out.pgid`: children it leaves orphaned (its IPAM) stay findable by it.
   */
  killAfterMs?: number;
  /** Close our end of its stdout at once, as a caller that died would: its result cannot be delivered. */
  deaf?: boolean;
}

/** Runs plugin `conf.type` once, asynchronously (for concurrency tests). */
export function execAsync(cmd: string, conf: object, c: Call, o: AsyncOptions = {}): Promise<Out> {
  const [file, args] = argv((conf as { type: string }).type, c);
  return new Promise((resolve) => {
    const kill = o.killAfterMs !== undefined;
    const child = spawn(file, args, { env: env(cmd, c), stdio: ['pipe', 'pipe', 'pipe'], detached: kill });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    if (o.deaf) child.stdout.destroy();
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(conf));
    const timer = kill ? setTimeout(() => child.kill('SIGKILL'), o.killAfterMs) : undefined;
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, json: parse(stdout), ...(signal ? { signal } : {}), ...(kill ? { pgid: child.pid! } : {}) });
    });
  });
}

/** A conflist: network name, version and plugin configs. */
export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown>>;
}

const key = (c: Call) => `${c.id ?? 'c1'}/${c.ifname ?? 'eth0'}`;

/** Chains a conflist like libcni; `cache` keeps the ADD result for CHECK/DEL. */
export class Runtime {
  readonly #cache = new Map<string, unknown>();
  constructor(readonly list: Conflist, readonly runtimeConfig: Record<string, unknown> = {}) {}

  #conf(p: Record<string, unknown>, prev: unknown): object {
    const caps = (p.capabilities ?? {}) as Record<string, boolean>;
    const rc = Object.fromEntries(Object.entries(this.runtimeConfig).filter(([k]) => caps[k]));
    return {
      ...p, name: this.list.name, cniVersion: this.list.cniVersion,
      ...(Object.keys(rc).length ? { runtimeConfig: rc } : {}),
      ...(prev !== undefined ? { prevResult: prev } : {}),
    };
  }

  /** ADD through every plugin; returns the last output (the final result, or the failing plugin's error). */
  add(c: Call): Out {
    let prev: unknown;
    let out: Out = { code: 0, stdout: '', stderr: '', json: undefined };
    for (const p of this.list.plugins) {
      out = exec('ADD', this.#conf(p, prev), c);
      if (out.code !== 0) return out;
      prev = out.json;
    }
    this.#cache.set(key(c), prev);
    return out;
  }

  /** CHECK (in order) or DEL (in reverse) with the cached result as prevResult, except plugins of `skipTypes`; stops at the first failure. */
  run(cmd: 'CHECK' | 'DEL', c: Call, skipTypes: readonly string[] = []): Out {
    const prev = this.#cache.get(key(c));
    const plugins = (cmd === 'DEL' ? [...this.list.plugins].reverse() : this.list.plugins).filter((p) => !skipTypes.includes(p.type as string));
    let out: Out = { code: 0, stdout: '', stderr: '', json: undefined };
    for (const p of plugins) {
      out = exec(cmd, this.#conf(p, prev), c);
      if (out.code !== 0) return out;
    }
    if (cmd === 'DEL') this.#cache.delete(key(c));
    return out;
  }
}

/** A temp directory removed at teardown. */
export function tmpDir(t: Test, prefix = 'rtnl-plugin-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Installs `rtnl` and `rtnl-ipam` into a temp bin dir with bin/rtnl-cni-install; returns a CNI_PATH with the reference plugins after it. */
export function installPlugins(t: Test): string {
  const bin = path.join(tmpDir(t, 'rtnl-bin-'), 'bin');
  const r = spawnSync(...untapped(INSTALLER, ['--bin-dir', bin, '--no-conf']), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`install failed: ${r.stderr}`);
  return `${bin}:${REF_DIR}`;
}

const pingArgs = (ns: string, dst: string, waitS: number) => ['netns', 'exec', ns, 'ping', '-c1', '-W', String(waitS), dst];

/** Pings `dst` once from namespace `ns`: true when answered. */
export function ping(ns: string, dst: string, waitS = 2): boolean {
  return spawnSync('ip', pingArgs(ns, dst, waitS), { stdio: 'ignore' }).status === 0;
}

/** {@link ping} without blocking, so many pods can ping at once. */
export function pingAsync(ns: string, dst: string, waitS = 2): Promise<boolean> {
  return new Promise((resolve) => { spawn('ip', pingArgs(ns, dst, waitS), { stdio: 'ignore' }).on('close', (code) => resolve(code === 0)); });
}

/** Pings from each pod to its destination (up to `width` at a time); resolves to the pairs that got no answer. */
export async function pingAll(pairs: Array<[TestNs, string]>, width = 16): Promise<string[]> {
  const failed: string[] = [];
  for (let i = 0; i < pairs.length; i += width) {
    await Promise.all(pairs.slice(i, i + width).map(async ([p, dst]) => { if (!(await pingAsync(p.name, dst, 3))) failed.push(`${p.name} -> ${dst}`); }));
  }
  return failed;
}
