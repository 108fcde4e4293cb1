// A real single-member etcd (Debian's etcd-server) on 127.0.0.1 with free
// random ports and a temporary data dir, for the tests, demos and benches of
// the node agent; and a multi-member cluster with TLS and authentication
// (certificates made with openssl). Run them inside scripts/sandbox: they
// listen on loopback only.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
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

/** Certificates made by {@link makeCerts}: PEM file paths. */
export interface EtcdCerts {
  dir: string;
  /** The CA that signed everything below. */
  ca: string;
  /** etcd's certificate (for 127.0.0.1 and localhost; also valid as a client certificate, which etcd's gateway needs) and key. */
  server: { cert: string; key: string };
  /** A client certificate (no CN: etcd's gateway refuses one with a CN) and key. */
  client: { cert: string; key: string };
  /** A second, unrelated CA: what a wrong `--etcd-cafile` looks like. */
  otherCa: string;
}

/** Makes a CA, a server and a client certificate with openssl in `dir` (EC P-256, valid one day). */
export function makeCerts(dir: string): EtcdCerts {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) => ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`);
  ca('ca');
  ca('other-ca');
  const leaf = (name: string, subject: string, ext: string) => {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  };
  leaf('etcd', '/CN=etcd', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  leaf('rtnl-agent', '/O=rtnl-agent', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string) => path.join(dir, f);
  return {
    dir, ca: p('ca.pem'), otherCa: p('other-ca.pem'),
    server: { cert: p('etcd.pem'), key: p('etcd.key') }, client: { cert: p('rtnl-agent.pem'), key: p('rtnl-agent.key') },
  };
}

/** One member of an {@link EtcdCluster}. */
export interface EtcdMember {
  name: string;
  /** Its client URL. */
  endpoint: string;
  /** SIGKILL, wait for exit (the data dir stays). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data; resolves when it runs (the cluster's health is the caller's to wait for). */
  start(): Promise<void>;
  /** SIGSTOP: frozen, its sockets open and silent. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
}

/** A multi-member etcd on loopback, with TLS (client certificates required) when `certs` are given. */
export interface EtcdCluster {
  members: EtcdMember[];
  /** Every member's client URL, in member order. */
  endpoints: string[];
  /** Runs etcdctl against the cluster's running members (as root, with the client certificate if TLS). */
  etcdctl(...args: string[]): string;
  /** The same, with `input` on its stdin (e.g. `user passwd NAME --interactive=false`). */
  etcdctlInput(input: string, ...args: string[]): string;
  /** Resolves once `etcdctl endpoint health` passes for the given members (default all); throws after `ms`. */
  healthy(members?: EtcdMember[], ms?: number): Promise<void>;
  /** Stops every member and removes the data dirs. */
  stop(): Promise<void>;
  /** Every member's output so far. */
  log(): string;
}

/**
 * Starts an `n`-member etcd cluster on 127.0.0.1 (free random ports) and
 * waits until it is healthy. With `certs`, client and peer traffic is TLS
 * and clients must present a certificate signed by the CA. With `root`,
 * authentication is enabled with a root user of that password (etcdctl
 * uses it from then on); `tokenTtlSec` sets the simple tokens' TTL.
 */
export async function startEtcdCluster(o: { n?: number; certs?: EtcdCerts; root?: string; tokenTtlSec?: number } = {}): Promise<EtcdCluster> {
  const n = o.n ?? 3;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'rtnl-etcd-cluster-'));
  const scheme = o.certs ? 'https' : 'http';
  const ports: (readonly [number, number])[] = [];
  for (let i = 0; i < n; i++) ports.push([await freePort(), await freePort()] as const);
  const names = ports.map((_, i) => `m${i}`);
  const peerUrl = (i: number) => `${scheme}://127.0.0.1:${ports[i]![1]}`;
  const initial = names.map((name, i) => `${name}=${peerUrl(i)}`).join(',');
  const tls = o.certs ? [
    '--cert-file', o.certs.server.cert, '--key-file', o.certs.server.key, '--trusted-ca-file', o.certs.ca, '--client-cert-auth',
    '--peer-cert-file', o.certs.server.cert, '--peer-key-file', o.certs.server.key, '--peer-trusted-ca-file', o.certs.ca, '--peer-client-cert-auth',
  ] : [];
  const token = o.tokenTtlSec === undefined ? [] : ['--auth-token', 'simple', '--auth-token-ttl', String(o.tokenTtlSec)];
  let log = '';
  const children = new Map<number, ChildProcess>();
  const frozen = new Set<number>();
  const killAll = () => { for (const c of children.values()) c.kill('SIGKILL'); };
  process.on('exit', killAll);
  let user: string[] = [];
  const ctlBase = () => [
    '--endpoints', endpoints.filter((_, i) => children.has(i) && !frozen.has(i)).join(','), '--dial-timeout', '3s', '--command-timeout', '10s', ...user,
    ...(o.certs ? ['--cacert', o.certs.ca, '--cert', o.certs.client.cert, '--key', o.certs.client.key] : []),
  ];
  const endpoints = ports.map(([c]) => `${scheme}://127.0.0.1:${c}`);
  const etcdctlInput = (input: string, ...args: string[]) =>
    execFileSync('etcdctl', [...ctlBase(), ...args], { input, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, ETCDCTL_API: '3' } });
  const etcdctl = (...args: string[]) => etcdctlInput('', ...args);
  const launch = async (i: number, state: 'new' | 'existing') => {
    const c = spawn('etcd', [
      '--name', names[i]!, '--data-dir', path.join(base, names[i]!),
      '--listen-client-urls', endpoints[i]!, '--advertise-client-urls', endpoints[i]!,
      '--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i),
      '--initial-cluster', initial, '--initial-cluster-state', state, '--initial-cluster-token', path.basename(base),
      '--logger', 'zap', '--log-outputs', 'stderr', ...tls, ...token,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (b: Buffer) => {
      log += `[${names[i]}] ${b.toString('utf8')}`;
      if (log.length > LOG_MAX) log = log.slice(-LOG_MAX);
    };
    c.stdout!.on('data', append);
    c.stderr!.on('data', append);
    children.set(i, c);
    await new Promise((r) => setTimeout(r, 100));
    if (c.exitCode !== null) throw new Error(`etcd ${names[i]} exited at once:\n${log.slice(-4000)}`);
  };
  const halt = async (i: number, signal: NodeJS.Signals) => {
    const c = children.get(i);
    children.delete(i);
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    frozen.delete(i);
    c.kill('SIGCONT');
    c.kill(signal);
    await exited;
  };
  const healthy = async (ms: EtcdMember[] = members, timeoutMs = HEALTH_TIMEOUT_MS) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        execFileSync('etcdctl', [...ctlBase().slice(2), '--endpoints', ms.map((m) => m.endpoint).join(','), 'endpoint', 'health'],
          { stdio: 'pipe', env: { ...process.env, ETCDCTL_API: '3' } });
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`etcd cluster not healthy after ${timeoutMs} ms: ${(e as { stderr?: Buffer }).stderr}\n${log.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const members: EtcdMember[] = names.map((name, i) => ({
    name, endpoint: endpoints[i]!,
    kill: () => halt(i, 'SIGKILL'),
    start: () => launch(i, 'existing'),
    freeze: () => { frozen.add(i); children.get(i)?.kill('SIGSTOP'); },
    thaw: () => { frozen.delete(i); children.get(i)?.kill('SIGCONT'); },
  }));
  for (let i = 0; i < n; i++) await launch(i, 'new');
  await healthy();
  if (o.root !== undefined) {
    etcdctl('user', 'add', `root:${o.root}`);
    etcdctl('auth', 'enable');
    user = ['--user', `root:${o.root}`];
  }
  return {
    members, endpoints, etcdctl, etcdctlInput, healthy,
    async stop() {
      for (let i = 0; i < n; i++) await halt(i, 'SIGTERM');
      process.off('exit', killAll);
      fs.rmSync(base, { recursive: true, force: true });
    },
    log: () => log,
  };
}
