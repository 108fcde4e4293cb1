// A real single-member etcd (Debian's etcd-server) on 127.0.0.1 with free
// random ports and a temporary data dir, for the tests, demos and benches of
// the node agent. Run it inside scripts/sandbox: it listens on loopback only.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** A running etcd started by {@link startEtcd}. */
export interface EtcdServer {
  /** Its client URL, e.g. `http://127.0.0.1:41234`. */
  endpoint: string;
  /** Its data directory. */
  dataDir: string;
  /** SIGTERM, wait for exit, and remove the data dir if startEtcd made it. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), wait for exit; the data dir stays for {@link restart}. */
  kill(): Promise<void>;
  /** Stops it if running and starts it again on the same ports; `wipe` empties the data dir first (etcd "restored" from nothing). */
  restart(o?: { wipe?: boolean }): Promise<void>;
  /** Its output so far (the last 256 KiB), across restarts. */
  log(): string;
}

const LOG_MAX = 256 * 1024;
const HEALTH_TIMEOUT_MS = 15_000;

async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

/** Whether `GET /health` says the member is healthy (it has a leader). */
function healthy(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${endpoint}/health`, { timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(/"health":\s*"true"/.test(body)));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * Starts etcd and resolves once it reports itself healthy. `dataDir`, if
 * given, is used (and kept) instead of a fresh temporary one. The process
 * is killed if this process exits first.
 */
export async function startEtcd(o: { dataDir?: string } = {}): Promise<EtcdServer> {
  const ownDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'rtnl', '--data-dir', dataDir,
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `rtnl=${peer}`,
    '--logger', 'zap', '--log-outputs', 'stderr',
  ];
  let log = '';
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);

  const start = async () => {
    const c = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    const append = (b: Buffer) => {
      log += b.toString('utf8');
      if (log.length > LOG_MAX) log = log.slice(-LOG_MAX);
    };
    c.stdout!.on('data', append);
    c.stderr!.on('data', append);
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    while (!(await healthy(endpoint))) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`etcd exited (${c.exitCode ?? c.signalCode}) before becoming healthy:\n${log.slice(-4000)}`);
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`etcd not healthy after ${HEALTH_TIMEOUT_MS} ms:\n${log.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill(signal);
    await exited;
  };

  await start();
  return {
    endpoint,
    dataDir,
    async stop() {
      await halt('SIGTERM');
      process.off('exit', killOnExit);
      if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
    kill: () => halt('SIGKILL'),
    async restart(r = {}) {
      await halt('SIGTERM');
      if (r.wipe) {
        fs.rmSync(dataDir, { recursive: true, force: true });
        fs.mkdirSync(dataDir, { mode: 0o700 });
      }
      await start();
    },
    log: () => log,
  };
}
