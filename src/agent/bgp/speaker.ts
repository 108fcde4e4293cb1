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
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Netns } from '../../index.js';
import { writeFileAtomic } from '../../primitives/file.js';
import { type BirdReply, birdCommand } from './control.js';
import { daemonPid, launchDaemon, stopPid, waitReady } from './daemon.js';

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
    return daemonPid(this.#pidFile, this.conf);
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
    writeFileAtomic(this.conf, config, 0o600);
    await launchDaemon(this.#o.binary ?? '/usr/sbin/bird', ['-c', this.conf, '-s', this.socket, '-P', this.#pidFile], { netns: this.#o.netns, errFile: this.#errFile, timeoutMs: this.#timeout });
    await waitReady(`bird started but does not answer on ${this.socket}`, () => this.command('show status'), this.#timeout);
  }

  /**
   * Replaces the configuration file with `config` and has the running
   * speaker load it. BIRD applies only what changed: sessions whose
   * configuration is the same are not touched. Refused (parse error): the
   * running configuration stays and this throws.
   */
  async configure(config: string): Promise<void> {
    writeFileAtomic(this.conf, config, 0o600);
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
    if (pid !== undefined) await stopPid(pid, this.#timeout);
    for (const f of [this.socket, this.#pidFile, this.conf, this.#errFile]) fs.rmSync(f, { force: true });
    try { fs.rmdirSync(this.#o.dir); } catch { /* not empty or absent */ }
  }
}
