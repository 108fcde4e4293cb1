/**
 * The BGP speaker process: BIRD 2, one per node, started by the agent in the
 * node's network namespace. Spawning a daemon is this backend's design
 * (rtnl itself never runs a program): the speaker is an existing BGP
 * implementation, and rtnl only writes its configuration, supervises it and
 * reads back the routes it installs.
 *
 * The speaker belongs to the node, as a VXLAN device does: it runs as a
 * daemon in its own session, outlives the agent (an agent restart must not
 * drop the BGP sessions, or every other node would withdraw and re-add this
 * node's routes), and a restarted agent adopts it through its pid file.
 * `--cleanup` stops it. Every wait is bounded; a speaker that does not stop
 * on SIGTERM is killed.
 * @module
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Netns } from '../../netns.js';
import { replaceFile } from '../state.js';
import { type BirdReply, birdCommand } from './control.js';

/** Where a {@link BirdSpeaker} keeps its files and how it runs. */
export interface SpeakerOptions {
  /** Its directory: `bird.conf`, `bird.ctl` (control socket), `bird.pid`, `bird.err` (start-up errors). */
  dir: string;
  /** The node's namespace; undefined: the agent's own. */
  netns?: Netns;
  /** The executable; default `/usr/sbin/bird` (Debian's bird2). */
  binary?: string;
  /** Bound of each wait (start, answer, stop), ms; default 10 s. */
  timeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether a process runs: it exists and is not a zombie waiting for its (init) parent to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** One node's BIRD: start or adopt, reconfigure, stop. */
export class BirdSpeaker {
  /** The configuration file. */
  readonly conf: string;
  /** The control socket. */
  readonly socket: string;
  readonly #pidFile: string;
  readonly #errFile: string;
  readonly #o: SpeakerOptions;
  readonly #timeout: number;

  constructor(o: SpeakerOptions) {
    this.#o = o;
    this.conf = join(o.dir, 'bird.conf');
    this.socket = join(o.dir, 'bird.ctl');
    this.#pidFile = join(o.dir, 'bird.pid');
    this.#errFile = join(o.dir, 'bird.err');
    this.#timeout = o.timeoutMs ?? 10_000;
  }

  /**
   * The pid of this directory's running speaker: the pid file's, if that
   * process lives and its command line names this configuration (a reused
   * pid of some other program is not ours); undefined otherwise.
   */
  pid(): number | undefined {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.#pidFile, 'utf8').trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv.includes(this.conf) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Sends one command to the speaker. */
  command(cmd: string): Promise<BirdReply> {
    return birdCommand(this.socket, cmd, this.#timeout);
  }

  /**
   * Writes `config` and starts the speaker as a daemon in the node's
   * namespace; resolves once it answers on its control socket. BIRD parses
   * its configuration before it daemonizes, so a bad one fails here with
   * BIRD's own message.
   */
  async start(config: string): Promise<void> {
    fs.mkdirSync(this.#o.dir, { recursive: true, mode: 0o700 });
    for (const f of [this.socket, this.#pidFile]) fs.rmSync(f, { force: true }); // a dead speaker's
    replaceFile(this.conf, config, 0o600);
    const err = fs.openSync(this.#errFile, 'w', 0o600);
    let launcher;
    try {
      const args = ['-c', this.conf, '-s', this.socket, '-P', this.#pidFile];
      // The child is forked from this thread, so it starts in the namespace the thread is in.
      const launch = () => spawn(this.#o.binary ?? '/usr/sbin/bird', args, { detached: true, stdio: ['ignore', 'ignore', err] });
      launcher = this.#o.netns ? this.#o.netns.run(launch) : launch();
    } finally {
      fs.closeSync(err);
    }
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        launcher.kill('SIGKILL');
        reject(new Error(`bird did not daemonize within ${this.#timeout} ms`));
      }, this.#timeout);
      launcher.once('error', (e) => { clearTimeout(timer); reject(e); });
      launcher.once('exit', (c) => { clearTimeout(timer); resolve(c); });
    });
    if (code !== 0) {
      const text = fs.readFileSync(this.#errFile, 'utf8').trim();
      throw new Error(`bird exited with ${code}${text ? `: ${text}` : ''}`);
    }
    const t0 = Date.now();
    for (;;) {
      try {
        await this.command('show status');
        return;
      } catch (e) {
        if (Date.now() - t0 > this.#timeout) throw new Error(`bird started but does not answer on ${this.socket}: ${(e as Error).message}`);
        await sleep(50);
      }
    }
  }

  /**
   * Replaces the configuration file with `config` and has the running
   * speaker load it. BIRD applies only what changed: sessions whose
   * configuration is the same are not touched. Refused (parse error): the
   * running configuration stays and this throws.
   */
  async configure(config: string): Promise<void> {
    replaceFile(this.conf, config, 0o600);
    await this.command('configure');
  }

  /**
   * Stops the speaker (SIGTERM: BIRD closes its sessions, so the peers
   * withdraw this node's routes at once, and removes the routes it
   * installed); SIGKILL if it is still there after the timeout. Then removes
   * its files.
   */
  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      const t0 = Date.now();
      while (alive(pid) && Date.now() - t0 < this.#timeout) await sleep(50);
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    for (const f of [this.socket, this.#pidFile, this.conf, this.#errFile]) fs.rmSync(f, { force: true });
    try { fs.rmdirSync(this.#o.dir); } catch { /* not empty or absent */ }
  }
}
