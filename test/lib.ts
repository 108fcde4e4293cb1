// Test fixtures: every test runs in namespaces it creates (inside the
// sandbox from scripts/sandbox) and checks that the main thread is back home.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { Handle, type Netns, NetlinkError, createNetns, deleteNetns, threadNetnsInode } from '../src/index.js';

/** The namespace the test process started in. */
export const HOME_NS = threadNetnsInode();

/** A fresh named namespace and a handle in it; both go away at teardown. */
export interface TestNs {
  name: string;
  ns: Netns;
  h: Handle;
  /** Runs an iproute2 command inside the namespace and returns stdout. */
  ip(...args: string[]): string;
  /** `ip -j ...` parsed. */
  ipJson<T = any>(...args: string[]): T;
}

type Tap = Test;

/** Creates a namespace named `<prefix>-<random>` for the test t. */
export function testNs(t: Tap, prefix = 't'): TestNs {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const ns = createNetns(name);
  const h = new Handle(ns);
  const ip = (...args: string[]) => execFileSync('ip', ['-n', name, ...args], { encoding: 'utf8' });
  t.teardown(() => {
    h.close();
    ns.close();
    deleteNetns(name);
  });
  return { name, ns, h, ip, ipJson: (...args) => JSON.parse(ip('-j', ...args) || 'null') };
}

/** Asserts the main thread is in the namespace it started in. */
export function assertHome(t: Tap): void {
  t.equal(threadNetnsInode(), HOME_NS, 'main thread is back in its own namespace');
}

/** Polls until cond holds (operstate is set by the kernel's linkwatch work, after the request returns). */
export function waitFor(cond: () => boolean, ms = 3000): boolean {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) return false;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  return true;
}

/**
 * The command line that runs `file` without tap's loaders. tap's spawn hook
 * puts them back into NODE_OPTIONS whatever env a test passes (deleting or
 * emptying it does nothing); they make a Node child start several times
 * slower, and a runtime would not pass them. `env -u` drops them after the
 * hook, then execs `file` (same pid: signals reach it directly).
 */
export function untapped(file: string, args: readonly string[] = []): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', file, ...args]];
}

/** Polls cond (which may be async) every 50 ms without blocking the event loop: true once it holds, false after ms. */
export async function eventually(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (await cond()) return true;
  return cond();
}

/**
 * Whether the kernel can create a link of this kind (probed in a scratch
 * namespace, on a veth parent where the kind needs one: loopback cannot
 * carry a vlan, and says so with the same EOPNOTSUPP).
 */
export function kernelHasKind(kind: string): boolean {
  const name = `probe-${randomBytes(3).toString('hex')}`;
  const ns = createNetns(name);
  const h = new Handle(ns);
  try {
    h.linkAdd({ kind: 'veth', name: 'probep', peer: { name: 'probeq' } });
    const needsParent = ['macvlan', 'macvtap', 'ipvlan', 'ipvtap', 'vlan'].includes(kind);
    const parent = needsParent ? { link: h.linkGet('probep').index } : {};
    h.linkAdd({ kind, name: 'probe0', ...parent, ...(kind === 'vlan' ? { id: 1 } : kind === 'vrf' ? { table: 1 } : {}) } as never);
    return true;
  } catch (e) {
    if (!(e instanceof NetlinkError)) throw e; // a bad probe, not an answer from the kernel
    return !(e.code === 'EOPNOTSUPP' && (e.extack === undefined || /Unknown device type/.test(e.extack)));
  } finally {
    h.close();
    ns.close();
    deleteNetns(name);
  }
}

/**
 * Keeps iproute2 applying the given commands in namespace nsName, over and
 * over, in another process, until the returned stop() or the end of t
 * (then the process and its script file are removed): concurrent changes
 * for dump-consistency tests.
 */
export function churn(t: Tap, nsName: string, lines: string[]): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-churn-'));
  const file = path.join(dir, 'cmds');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const child = spawn('bash', ['-c', `while :; do ip -n ${nsName} -force -batch ${file} >/dev/null 2>&1; done`], { stdio: 'ignore', detached: true });
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  t.teardown(stop);
  return stop;
}
