/**
 * Running a routing daemon in a node's namespace, with bounded waits: the
 * mechanics the BGP speakers (BIRD, FRR's zebra and bgpd) share. A daemon
 * is launched with its own daemonize option: the launcher must exit 0
 * within the timeout (the daemon parses its configuration first, so a bad
 * one fails here with the daemon's own words), and the daemon is then known
 * by its pid file, checked against its command line so that a reused pid
 * is never taken for it.
 * @module
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Netns } from '../../index.js';

/** Resolves after ms. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether a process runs: it exists and is not a zombie waiting for its (init) parent to reap it. */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The pid in `pidFile`, if that process runs and its command line has `marker` as an argument; undefined otherwise. */
export function daemonPid(pidFile: string, marker: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(marker) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `binary args` (which must daemonize) in `netns`; resolves when the
 * launcher exited 0, rejects with its stderr (kept in `errFile`) otherwise
 * or after `timeoutMs`.
 */
export async function launchDaemon(binary: string, args: readonly string[], o: { netns?: Netns | undefined; errFile: string; timeoutMs: number }): Promise<void> {
  const err = fs.openSync(o.errFile, 'w', 0o600);
  let launcher;
  try {
    // The child is forked from this thread, so it starts in the namespace the thread is in.
    const launch = () => spawn(binary, args, { detached: true, stdio: ['ignore', 'ignore', err] });
    launcher = o.netns ? o.netns.run(launch) : launch();
  } finally {
    fs.closeSync(err);
  }
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      launcher.kill('SIGKILL');
      reject(new Error(`${binary} did not daemonize within ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    launcher.once('error', (e) => { clearTimeout(timer); reject(e); });
    launcher.once('exit', (c) => { clearTimeout(timer); resolve(c); });
  });
  if (code !== 0) {
    const text = fs.readFileSync(o.errFile, 'utf8').trim();
    throw new Error(`${binary} exited with ${code}${text ? `: ${text}` : ''}`);
  }
}

/** Polls `ready` (which throws while not ready) until it succeeds; throws its last error after `timeoutMs`. */
export async function waitReady(what: string, ready: () => unknown, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      await ready();
      return;
    } catch (e) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: ${(e as Error).message}`);
      await sleep(50);
    }
  }
}

/** SIGTERM, then SIGKILL if the process still runs after `timeoutMs`. */
export async function stopPid(pid: number, timeoutMs: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  const t0 = Date.now();
  while (alive(pid) && Date.now() - t0 < timeoutMs) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}
