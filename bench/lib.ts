// Shared bench helpers: timing, medians, markdown tables, namespaces, and
// running iproute2 (spawned per operation, or one `ip -batch -` per script)
// so rtnl can be measured against it in the same run.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { type Netns, createNetns, deleteNetns } from '../src/index.js';

/** Microseconds since an arbitrary point (monotonic). */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1e3;
}

/** What a run cost: wall and CPU (user + system, every thread of the process) µs. */
export interface Cost {
  us: number;
  cpuUs: number;
}

/** Awaits fn once and returns how long it took, in µs. */
export async function timeUsAsync(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e3;
}

/** The median of xs (NaN for none). */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A µs figure for a table: thousands separators, one decimal below 100. */
export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '—';
  return us < 100 ? us.toFixed(1) : Math.round(us).toLocaleString('en-US');
}

/** a / b as a time ratio (`0.05×`: a takes 5% of b's time); '—' if either is missing. */
export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '—';
  const r = a / b;
  return `${r < 0.1 ? r.toFixed(3) : r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;
}

/** Prints a markdown table; columns after the first are right-aligned. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  console.log(line(headers));
  console.log(`| ${w.map((n, i) => (i === 0 ? '-'.repeat(n) : `${'-'.repeat(n - 1)}:`)).join(' | ')} |`);
  for (const r of rows) console.log(line(r));
}

/** Creates the named namespace, runs fn with it, and deletes it afterwards even if fn throws. */
export async function withNetns<T>(name: string, fn: (ns: Netns) => T | Promise<T>): Promise<T> {
  const ns = createNetns(name);
  try {
    return await fn(ns);
  } finally {
    ns.close();
    deleteNetns(name);
  }
}

/** The environment for child processes: NODE_EXTRA_CA_CERTS triples a node child's start-up, so it goes. */
export function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}
const ENV = childEnv();

/**
 * Runs one `ip` command (a process per operation), inside ns if given:
 * the child inherits the namespace of the thread that spawns it.
 */
export function ip(ns: Netns | undefined, args: readonly string[]): string {
  const run = () => execFileSync('ip', args, { encoding: 'utf8', env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  return ns ? ns.run(run) : run();
}

/** Feeds lines to one `ip -batch -` (inside ns if given); throws with ip's stderr if any line failed. */
export function ipBatch(ns: Netns | undefined, lines: readonly string[]): void {
  const run = () => spawnSync('ip', ['-batch', '-'], { input: lines.join('\n') + '\n', encoding: 'utf8', env: ENV, maxBuffer: 64 << 20 });
  const r = ns ? ns.run(run) : run();
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`ip -batch failed (${r.status}): ${r.stderr.trim().split('\n').slice(0, 3).join(' / ')}`);
}

function cpuTicks(): { idle: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
}

/**
 * Waits until the machine is idle (the kernel tears namespaces and links down
 * in the background, on workqueues) so one method's cleanup does not bill the
 * next one. Gives up after maxMs (on a machine shared with other work it
 * may never be idle). Returns the ms waited and whether it got there.
 */
export async function settle(maxMs = 2_000, windowMs = 100, idleBelow = 0.1): Promise<{ ms: number; idle: boolean }> {
  const t0 = Date.now();
  for (;;) {
    const a = cpuTicks();
    await new Promise((r) => setTimeout(r, windowMs));
    const b = cpuTicks();
    const busy = b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total);
    if (busy < idleBelow || Date.now() - t0 >= maxMs) return { ms: Date.now() - t0, idle: busy < idleBelow };
  }
}

/**
 * Network namespaces alive on the machine, as the slab allocator counts them
 * (a few freed ones may still count); undefined where the kernel does not say.
 */
export function liveNetns(): number | undefined {
  try {
    return Number(fs.readFileSync('/sys/kernel/slab/net_namespace/objects', 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/**
 * Waits until the kernel has freed the namespaces a run deleted. It tears
 * them down in the background (cleanup_net, on a workqueue), taking the RTNL
 * lock and the CPU in bursts and waiting on RCU in between (so the CPU can
 * look idle): after a thousand pods that goes on for seconds and would bill
 * whatever runs next. Done when the count is back to `before` (taken before
 * the run made its own) plus some slack; gives up after maxMs, as others on
 * the machine may make namespaces meanwhile. Returns the ms waited.
 */
export async function settleNetns(before: number | undefined, maxMs = 60_000, slack = 24): Promise<number> {
  const t0 = Date.now();
  for (let n = liveNetns(); before !== undefined && n !== undefined && n > before + slack && Date.now() - t0 < maxMs; n = liveNetns())
    await new Promise((r) => setTimeout(r, 100));
  return Date.now() - t0;
}

/** Runs fn(i) for i in [0, n) with at most `limit` promises outstanding. */
export async function pool(n: number, limit: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

/** `--key value` / `--key=value` / `--flag` options from argv. */
export function parseArgs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) out.set(a.slice(2), argv[++i]!);
    else out.set(a.slice(2), 'true');
  }
  return out;
}

/** 0, 1, ..., n-1. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Runs one `bridge` command (a process per operation), inside ns if given. */
export function bridge(ns: Netns | undefined, args: readonly string[]): string {
  const run = () => execFileSync('bridge', args, { encoding: 'utf8', env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  return ns ? ns.run(run) : run();
}

/** Feeds lines to one `<tool> -batch -` (`ip` or `bridge`), inside ns if given; throws with its stderr if any line failed. */
export function toolBatch(tool: 'ip' | 'bridge', ns: Netns | undefined, lines: readonly string[]): void {
  const run = () => spawnSync(tool, ['-batch', '-'], { input: lines.join('\n') + '\n', encoding: 'utf8', env: ENV, maxBuffer: 64 << 20 });
  const r = ns ? ns.run(run) : run();
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${tool} -batch failed (${r.status}): ${r.stderr.trim().split('\n').slice(0, 3).join(' / ')}`);
}

/** Runs `ip -j <args>` (inside ns if given) and parses its JSON: what a script reading iproute2 pays for one dump. */
export function ipJson(ns: Netns | undefined, args: readonly string[]): unknown[] {
  const run = () => spawnSync('ip', ['-j', ...args], { encoding: 'utf8', env: ENV, maxBuffer: 256 << 20 });
  const r = ns ? ns.run(run) : run();
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`ip -j ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as unknown[];
}

/** Reads (value undefined) or writes a sysctl of ns's network namespace: /proc/sys/net belongs to the namespace of the thread that opens it. */
export function sysctl(ns: Netns, key: string, value?: string): string {
  const path = `/proc/sys/${key.replace(/\./g, '/')}`;
  return ns.run(() => {
    if (value !== undefined) fs.writeFileSync(path, value);
    return fs.readFileSync(path, 'utf8').trim();
  });
}

/** One line about the machine and the tools, for a bench's header. */
export function envLine(): string {
  const ipv = execFileSync('ip', ['-V'], { encoding: 'utf8' }).trim();
  return `Linux ${os.release()}, ${os.cpus().length} CPUs, node ${process.version}, ${ipv}; load average at start ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

/**
 * Runs every method `runs` times, interleaved (run 1 of each, then run 2...),
 * letting the machine settle before each; once(m, tag) measures one run in
 * fresh namespaces named with tag. With `alternate`, every other run goes
 * through the methods backwards, so that of two methods compared neither
 * always runs first (on a machine whose load drifts). Returns the samples per
 * method and how many runs started on a machine that was still busy.
 */
export async function sampleMethods<M, S>(
  methods: readonly M[], runs: number, once: (m: M, tag: string) => Promise<S>, log?: (m: M, run: number, s: S, idle: boolean) => void, alternate = false,
): Promise<{ samples: Map<M, S[]>; busy: number }> {
  const samples = new Map<M, S[]>(methods.map((m) => [m, []]));
  let busy = 0;
  for (let r = 0; r < runs; r++) {
    const order = [...methods.entries()];
    if (alternate && r % 2) order.reverse();
    for (const [mi, m] of order) {
      const { idle } = await settle();
      if (!idle) busy++;
      const x = await once(m, `${r}${mi}`);
      samples.get(m)!.push(x);
      log?.(m, r + 1, x, idle);
    }
  }
  return { samples, busy };
}
