// Agents as real processes for the node agent's tests and benches: spawn
// bin/rtnl-agent for a node namespace, read its JSON log lines, stop it with
// a signal, and wait for conditions on the kernel's state.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { eventually, untapped } from './lib.js';

/** bin/rtnl-agent. */
export const AGENT = path.resolve(__dirname, '../../bin/rtnl-agent');

/** A running rtnl-agent process and the log lines it has written. */
export class AgentProc {
  readonly logs: Array<Record<string, unknown>> = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(readonly args: string[]) {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    this.child = spawn(...untapped(AGENT, args), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let buf = '';
    this.child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try { this.logs.push(JSON.parse(line)); } catch { this.logs.push({ msg: line, level: 'raw' }); }
      }
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Waits for a log line with this `msg`; throws after `ms`. */
  async logged(msg: string, ms = 30_000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitFor(() => (found = this.logs.find((l) => l.msg === msg)) !== undefined, ms, `log "${msg}" from agent ${this.args.join(' ')}\n${this.dump()}`);
    return found!;
  }

  /** The log so far, for failure messages. */
  dump(): string {
    return this.logs.map((l) => JSON.stringify(l)).join('\n');
  }

  /** Sends `sig` and waits for the exit code. */
  async stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
    return this.exited;
  }
}

/** Polls `cond` until it holds and returns the ms that took; throws `what` after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  if (!(await eventually(cond, ms))) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  return Date.now() - t0;
}

/** `rtnl-agent` run to completion (status, --cleanup, --help, a start that must fail); killed after 60 s. */
export function runAgent(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(...untapped(AGENT, args), { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
