/**
 * rtnl-agent's command line: `run` (the default), `status`, and `--cleanup`.
 * Parsing is strict (an unknown flag or a bad value is an error naming it),
 * so a typo in a DaemonSet spec fails at start rather than running with a
 * default the operator did not mean.
 * @module
 */
import * as os from 'node:os';
import type { CniHandOff } from './cni.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { DEFAULT_STATE_DIR } from './state.js';
import type { NetworkConfig } from './types.js';

/** Where membership comes from. */
export type Source =
  | { kind: 'etcd'; endpoints: string[]; prefix: string; leaseTtlSec: number; network?: NetworkConfig }
  | { kind: 'static'; file: string };

/** Everything `run` and `--cleanup` need. */
export interface AgentOptions {
  nodeName: string;
  source: Source;
  /** The node's network namespace (a name under /run/netns or a path); undefined: the agent's own. */
  netns?: string;
  /** This node's underlay address; undefined: the first global address of `iface`. */
  publicIp?: string;
  /** The underlay device; undefined: the device of the default route. */
  iface?: string;
  /** The VXLAN device's name; undefined: `rtnl.<vni>`, once the network settings are known. */
  device?: string;
  stateDir: string;
  /** Undefined: no conflist is written (`--no-cni`). */
  cni?: CniHandOff;
  /** Serve the rtnl plugin's resident-helper socket here (`--cni-socket`); undefined: don't. */
  cniSocket?: string;
  logLevel: LogLevel;
}

/** A parsed command line. */
export type Command =
  | { cmd: 'run'; opts: AgentOptions }
  | { cmd: 'cleanup'; opts: AgentOptions }
  | { cmd: 'status'; stateDir: string; json: boolean }
  | { cmd: 'help' };

/** The `--help` text. */
export const USAGE = `rtnl-agent: keeps a node's VXLAN overlay in sync with the cluster (etcd or a static file)

usage:
  rtnl-agent [run] --etcd-endpoints URLS [options]   lease a subnet, publish, watch, program the overlay
  rtnl-agent [run] --static FILE [options]           membership from a JSON file (watched for changes)
  rtnl-agent --cleanup [same options]                remove what the agent made: device, lease, conflist, state
  rtnl-agent status [--state-dir DIR] [--json]       the node's lease, peers and last sync; exit 0 if healthy

membership:
  --etcd-endpoints URLS  comma-separated etcd client URLs, e.g. http://127.0.0.1:2379
  --etcd-prefix KEY      key prefix of this overlay's records (default /rtnl/network)
  --lease-ttl SEC        subnet lease TTL; a stopped node's routes vanish from the others after it (default 30)
  --network CIDR         cluster CIDR; stored in etcd if no agent has stored one yet
  --subnet-len N         prefix length of each node's subnet (default 24)
  --vni N                VXLAN network identifier (default 1)
  --port N               VXLAN UDP port (default 4789)
  --mtu N                pod MTU (default: the underlay MTU minus the encapsulation)
  --static FILE          {"network": {...}, "nodes": [{"name","underlay","vtepMac","subnet"}, ...]}

node:
  --node-name NAME       this node's name (default: the host name)
  --netns NAME|PATH      configure this network namespace instead of the agent's own
  --public-ip IP         this node's underlay address (default: the first global address of --iface)
  --iface NAME           the underlay device (default: the device of the default route)
  --device NAME          the VXLAN device (default rtnl.<vni>)
  --state-dir DIR        local state: last lease, status (default ${DEFAULT_STATE_DIR})

CNI hand-off:
  --cni-conf-dir DIR     write the node's conflist here (default /etc/cni/net.d)
  --cni-name NAME        network name and file 10-NAME.conflist (default rtnl)
  --cni-bridge NAME      the pods' bridge (default cni0)
  --ipam-data-dir DIR    rtnl-ipam's store (default its own)
  --no-cni               write no conflist
  --cni-socket PATH      also serve the rtnl plugin's resident-helper socket (as rtnl-cni-daemon does),
                         so pods' ADD/DEL cost no Node.js start; serves callers in the agent's namespaces

  --log-level LEVEL      debug | info | warn | error (default info); logs are JSON lines on stderr
  -h, --help             this text

Signals: SIGTERM/SIGINT stop the agent and leave the overlay and the lease's
subnet in place (a restart within the lease TTL changes nothing);
--cleanup removes them.`;

/** A command-line error (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

function int(flag: string, s: string, min: number, max: number): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < min || n > max) throw new UsageError(`${flag}: ${JSON.stringify(s)} is not an integer from ${min} to ${max}`);
  return n;
}

/** Parses argv (without node and script). */
export function parseCommand(argv: string[]): Command {
  const args = [...argv];
  let cmd: 'run' | 'status' | 'cleanup' = 'run';
  if (args[0] === 'run' || args[0] === 'status') cmd = args.shift() as 'run' | 'status';
  const f: Record<string, string> = {};
  const bools = new Set(['--cleanup', '--no-cni', '--json', '-h', '--help']);
  const valued = new Set(['--etcd-endpoints', '--etcd-prefix', '--lease-ttl', '--network', '--subnet-len', '--vni', '--port', '--mtu',
    '--static', '--node-name', '--netns', '--public-ip', '--iface', '--device', '--state-dir', '--cni-conf-dir', '--cni-name',
    '--cni-bridge', '--ipam-data-dir', '--cni-socket', '--log-level']);
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    let v: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) [a, v] = [a.slice(0, eq), a.slice(eq + 1)];
    if (bools.has(a)) {
      if (v !== undefined) throw new UsageError(`${a} takes no value`);
      f[a] = '1';
    } else if (valued.has(a)) {
      v ??= args[++i];
      if (v === undefined || v === '') throw new UsageError(`${a} needs a value`);
      f[a] = v;
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(a)} (see --help)`);
    }
  }
  if (f['-h'] || f['--help']) return { cmd: 'help' };
  const stateDir = f['--state-dir'] ?? DEFAULT_STATE_DIR;
  if (cmd === 'status') return { cmd, stateDir, json: !!f['--json'] };
  if (f['--cleanup']) cmd = 'cleanup';

  if (!!f['--etcd-endpoints'] === !!f['--static']) throw new UsageError('give exactly one of --etcd-endpoints and --static');
  let source: Source;
  const vni = f['--vni'] === undefined ? undefined : int('--vni', f['--vni'], 1, 0xffffff);
  if (f['--static']) {
    for (const k of ['--network', '--subnet-len', '--vni', '--port', '--mtu', '--etcd-prefix', '--lease-ttl']) {
      if (f[k] !== undefined) throw new UsageError(`${k} does not apply with --static (the file's "network" holds the settings)`);
    }
    source = { kind: 'static', file: f['--static'] };
  } else {
    const endpoints = f['--etcd-endpoints']!.split(',').filter(Boolean);
    for (const e of endpoints) if (!/^https?:\/\/[^/]+\/?$/.test(e)) throw new UsageError(`--etcd-endpoints: ${JSON.stringify(e)} is not a URL like http://127.0.0.1:2379`);
    const prefix = (f['--etcd-prefix'] ?? '/rtnl/network').replace(/\/+$/, '');
    if (!prefix.startsWith('/')) throw new UsageError('--etcd-prefix must start with /');
    source = { kind: 'etcd', endpoints, prefix, leaseTtlSec: f['--lease-ttl'] === undefined ? 30 : int('--lease-ttl', f['--lease-ttl'], 2, 3600) };
    if (f['--network'] !== undefined) {
      source.network = {
        network: f['--network'],
        subnetLen: f['--subnet-len'] === undefined ? 24 : int('--subnet-len', f['--subnet-len'], 1, 128),
        ...(vni === undefined ? {} : { vni }),
        ...(f['--port'] === undefined ? {} : { port: int('--port', f['--port'], 1, 65535) }),
        ...(f['--mtu'] === undefined ? {} : { mtu: int('--mtu', f['--mtu'], 68, 65535) }),
      };
    } else {
      for (const k of ['--subnet-len', '--vni', '--port', '--mtu']) {
        if (f[k] !== undefined) throw new UsageError(`${k} is part of the network settings: give it with --network (it is stored in etcd once)`);
      }
    }
  }
  const level = (f['--log-level'] ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}`);
  const device = f['--device'];
  if (device !== undefined && (device.length > 15 || /[/:\s]/.test(device))) throw new UsageError(`--device: ${JSON.stringify(device)} is not an interface name`);
  const opts: AgentOptions = {
    nodeName: f['--node-name'] ?? os.hostname(),
    source, stateDir, logLevel: level,
    ...(device === undefined ? {} : { device }),
    ...(f['--netns'] === undefined ? {} : { netns: f['--netns'] }),
    ...(f['--public-ip'] === undefined ? {} : { publicIp: f['--public-ip'] }),
    ...(f['--iface'] === undefined ? {} : { iface: f['--iface'] }),
    ...(f['--cni-socket'] === undefined ? {} : { cniSocket: f['--cni-socket'] }),
  };
  if (!f['--no-cni']) {
    opts.cni = {
      confDir: f['--cni-conf-dir'] ?? '/etc/cni/net.d',
      name: f['--cni-name'] ?? 'rtnl',
      bridge: f['--cni-bridge'] ?? 'cni0',
      ...(f['--ipam-data-dir'] === undefined ? {} : { dataDir: f['--ipam-data-dir'] }),
    };
  }
  return { cmd, opts };
}
