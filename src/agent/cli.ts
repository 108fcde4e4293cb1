/**
 * rtnl-agent's command line: `run` (the default), `status`, and `--cleanup`.
 * Parsing is strict (an unknown flag or a bad value is an error naming it),
 * so a typo in a DaemonSet spec fails at start rather than running with a
 * default the operator did not mean.
 * @module
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { UsageError, intFlag, parseCommandLine } from '../cli.js';
import { type EtcdTlsOptions, parseEndpoint } from '../etcd/index.js';
import type { BackendKind } from './backend.js';
import { ifnameProblem } from '../primitives/names.js';
import { BACKENDS } from './backends.js';
import type { BgpSettings } from './bgp/config.js';
import { BGP_USAGE, bgpSettings } from './bgp/flags.js';
import { EVPN_USAGE, type EvpnSettings, evpnSettings } from './evpn/flags.js';
import type { CniHandOff } from './cni.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { DEFAULT_STATE_DIR } from './state.js';
import type { NetworkConfig } from './types.js';

/** Where membership comes from. */
export type Source =
  | {
    kind: 'etcd'; endpoints: string[]; prefix: string; leaseTtlSec: number; network?: NetworkConfig;
    /** PEM contents of `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`. */
    tls?: EtcdTlsOptions;
    /** `--etcd-username` and its password (`--etcd-password` or `--etcd-password-file`). */
    auth?: { username: string; password: string };
  }
  | { kind: 'static'; file: string };

/** Everything `run` and `--cleanup` need. */
export interface AgentOptions {
  nodeName: string;
  source: Source;
  /** The dataplane (`--backend`); undefined: `vxlan`. */
  backend?: BackendKind;
  /** The bgp backend's settings (`--bgp-*`); undefined: another backend. */
  bgp?: BgpSettings;
  /** The EVPN role's settings (`--evpn*`); undefined: no EVPN speaker. */
  evpn?: EvpnSettings;
  /** The node's network namespace (a name under /run/netns or a path); undefined: the agent's own. */
  netns?: string;
  /** This node's underlay address; undefined: the first global address of `iface`. */
  publicIp?: string;
  /** The underlay device; undefined: the device of the default route. */
  iface?: string;
  /** The VXLAN device's name (vxlan backend); undefined: `rtnl.<vni>`, once the network settings are known. */
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
  | { cmd: 'help' }
  | { cmd: 'version' };

/** The `--help` text. */
export const USAGE = `rtnl-agent: keeps a node's routes to the other nodes' pod subnets in sync with the cluster
(etcd or a static file), over a VXLAN overlay or, on a shared L2 underlay, as host-gw routes

usage:
  rtnl-agent [run] --etcd-endpoints URLS [options]   lease a subnet, publish, watch, program the routes
  rtnl-agent [run] --static FILE [options]           membership from a JSON file (watched for changes)
  rtnl-agent --cleanup [same options]                remove what the agent made: device/routes, lease, conflist, state
  rtnl-agent status [--state-dir DIR] [--json]       the node's lease, peers, routes, last sync; exit 0 if healthy

membership:
  --etcd-endpoints URLS  comma-separated etcd client URLs, e.g. https://10.0.0.5:2379,https://10.0.0.6:2379
  --etcd-cafile FILE     CA certificate that signed etcd's certificates (https; default: the system's CAs)
  --etcd-certfile FILE   client certificate for etcd (PEM; with --etcd-keyfile); it must have no CN (etcd's gateway refuses one)
  --etcd-keyfile FILE    the client certificate's key
  --etcd-username NAME   etcd user (etcd authentication); with --etcd-password or --etcd-password-file
  --etcd-password PASS   its password (visible in ps: prefer the file)
  --etcd-password-file FILE  a file holding the password (one line)
  --etcd-prefix KEY      key prefix of this overlay's records (default /rtnl/network)
  --lease-ttl SEC        subnet lease TTL; a stopped node's routes vanish from the others after it (default 30)
  --network CIDR         cluster CIDR; stored in etcd if no agent has stored one yet
  --subnet-len N         prefix length of each node's subnet (default 24)
  --vni N                VXLAN network identifier (default 1)
  --port N               VXLAN UDP port (default 4789)
  --mtu N                pod MTU (default: the underlay MTU minus the encapsulation)
  --static FILE          {"network": {...}, "nodes": [{"name","underlay","vtepMac","subnet"}, ...]}
                         (vtepMac: vxlan only)

backend:
  --backend NAME         vxlan (default): a VXLAN device, per peer a neighbour, an FDB entry and an
                         onlink route; host-gw: per peer a route to its subnet via its underlay address,
                         no tunnel (every node's underlay on one L2 segment: a peer whose underlay is on
                         no directly connected subnet is refused); bgp: a BIRD 2 speaker in the node's
                         namespace announces the node's subnet and installs the peers' (proto bird), no
                         tunnel. Every node of a cluster runs the same.
${BGP_USAGE}

EVPN (VPCs: the rtnl plugin's vxlan mode with "evpn": true):
${EVPN_USAGE}

node:
  --node-name NAME       this node's name (default: the host name)
  --netns NAME|PATH      configure this network namespace instead of the agent's own
  --public-ip IP         this node's underlay address (default: the first global address of --iface)
  --iface NAME           the underlay device (default: the device of the default route)
  --device NAME          the VXLAN device (default rtnl.<vni>; vxlan only)
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
  --version              rtnl-agent's version

Exit codes: 0 done (status: healthy), 1 failure, 2 bad command line, 3 status: unhealthy
or not running, 4 etcd's TLS failed (certificate not signed by --etcd-cafile, wrong host,
client certificate refused), 5 etcd refused the user (wrong user or password, permission denied).

Signals: SIGTERM/SIGINT stop the agent and leave the overlay, the lease's
subnet and the speakers (BIRD, FRR) in place (a restart within the lease TTL
changes nothing); --cleanup removes them.`;

/** A file's content, read now so that a bad path is a usage error before anything starts. */
function readArg(flag: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const FLAGS = {
  'cleanup': { type: 'boolean' }, 'no-cni': { type: 'boolean' }, 'json': { type: 'boolean' },
  'etcd-endpoints': { type: 'string' }, 'etcd-prefix': { type: 'string' }, 'lease-ttl': { type: 'string' },
  'etcd-cafile': { type: 'string' }, 'etcd-certfile': { type: 'string' }, 'etcd-keyfile': { type: 'string' },
  'etcd-username': { type: 'string' }, 'etcd-password': { type: 'string' }, 'etcd-password-file': { type: 'string' },
  'network': { type: 'string' }, 'subnet-len': { type: 'string' }, 'vni': { type: 'string' }, 'port': { type: 'string' }, 'mtu': { type: 'string' },
  'static': { type: 'string' }, 'node-name': { type: 'string' }, 'netns': { type: 'string' }, 'public-ip': { type: 'string' },
  'iface': { type: 'string' }, 'device': { type: 'string' }, 'state-dir': { type: 'string' }, 'cni-conf-dir': { type: 'string' },
  'cni-name': { type: 'string' }, 'cni-bridge': { type: 'string' }, 'ipam-data-dir': { type: 'string' }, 'cni-socket': { type: 'string' },
  'log-level': { type: 'string' }, 'backend': { type: 'string' },
  'bgp-as': { type: 'string' }, 'bgp-route-reflector': { type: 'string' }, 'bgp-hold-time': { type: 'string' },
  'evpn': { type: 'boolean' }, 'evpn-as': { type: 'string' }, 'evpn-route-reflector': { type: 'string' }, 'evpn-reflector': { type: 'string' }, 'evpn-hold-time': { type: 'string' },
} as const;
type Values = { [K in keyof typeof FLAGS]?: (typeof FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

/** The etcd flags that only apply with --etcd-endpoints. */
const ETCD_ONLY = ['etcd-prefix', 'lease-ttl', 'etcd-cafile', 'etcd-certfile', 'etcd-keyfile', 'etcd-username', 'etcd-password', 'etcd-password-file'] as const;

/** Parses argv (without node and script); throws {@link UsageError} (exit 2) on anything wrong. */
export function parseCommand(argv: string[]): Command {
  const p = parseCommandLine<Values>(argv, FLAGS, true);
  if (p.kind !== 'run') return { cmd: p.kind };
  const f = p.values;
  for (const [k, v] of Object.entries(f)) if (v === '') throw new UsageError(`--${k} needs a value`);
  let cmd: 'run' | 'status' | 'cleanup' = 'run';
  const [sub, ...extra] = p.positionals;
  if (sub === 'run' || sub === 'status') cmd = sub;
  else if (sub !== undefined) throw new UsageError(`unknown command ${JSON.stringify(sub)} (expected run or status; see --help)`);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  const stateDir = f['state-dir'] ?? DEFAULT_STATE_DIR;
  if (cmd === 'status') return { cmd, stateDir, json: !!f.json };
  if (f.cleanup) cmd = 'cleanup';

  if (!!f['etcd-endpoints'] === !!f.static) throw new UsageError('give exactly one of --etcd-endpoints and --static');
  let source: Source;
  const vni = f.vni === undefined ? undefined : intFlag('--vni', f.vni, 1, 0xffffff);
  if (f.static) {
    for (const k of ['network', 'subnet-len', 'vni', 'port', 'mtu', ...ETCD_ONLY] as const) {
      if (f[k] !== undefined) throw new UsageError(`--${k} does not apply with --static (the file's "network" holds the settings)`);
    }
    source = { kind: 'static', file: f.static };
  } else {
    const endpoints = f['etcd-endpoints']!.split(',').filter(Boolean).map((e) => {
      try {
        return parseEndpoint(e);
      } catch (err) {
        throw new UsageError(`--etcd-endpoints: ${(err as Error).message}`);
      }
    });
    const prefix = (f['etcd-prefix'] ?? '/rtnl/network').replace(/\/+$/, '');
    if (!prefix.startsWith('/')) throw new UsageError('--etcd-prefix must start with /');
    source = { kind: 'etcd', endpoints, prefix, leaseTtlSec: f['lease-ttl'] === undefined ? 30 : intFlag('--lease-ttl', f['lease-ttl'], 2, 3600) };
    if ((f['etcd-certfile'] === undefined) !== (f['etcd-keyfile'] === undefined)) throw new UsageError('--etcd-certfile and --etcd-keyfile go together');
    const tls: EtcdTlsOptions = {
      ...(f['etcd-cafile'] === undefined ? {} : { ca: readArg('--etcd-cafile', f['etcd-cafile']) }),
      ...(f['etcd-certfile'] === undefined ? {} : { cert: readArg('--etcd-certfile', f['etcd-certfile']), key: readArg('--etcd-keyfile', f['etcd-keyfile']!) }),
    };
    if (Object.keys(tls).length > 0) {
      if (!endpoints.every((e) => e.startsWith('https:'))) throw new UsageError('--etcd-cafile/--etcd-certfile apply to https:// endpoints: every endpoint must be https://');
      source.tls = tls;
    }
    if (f['etcd-password'] !== undefined && f['etcd-password-file'] !== undefined) throw new UsageError('give --etcd-password or --etcd-password-file, not both');
    const password = f['etcd-password'] ?? (f['etcd-password-file'] === undefined ? undefined : readArg('--etcd-password-file', f['etcd-password-file']).replace(/\r?\n$/, ''));
    if ((f['etcd-username'] === undefined) !== (password === undefined)) throw new UsageError('--etcd-username needs --etcd-password or --etcd-password-file, and they need it');
    if (f['etcd-username'] !== undefined) source.auth = { username: f['etcd-username'], password: password! };
    if (f.network !== undefined) {
      source.network = {
        network: f.network,
        subnetLen: f['subnet-len'] === undefined ? 24 : intFlag('--subnet-len', f['subnet-len'], 1, 128),
        ...(vni === undefined ? {} : { vni }),
        ...(f.port === undefined ? {} : { port: intFlag('--port', f.port, 1, 65535) }),
        ...(f.mtu === undefined ? {} : { mtu: intFlag('--mtu', f.mtu, 68, 65535) }),
      };
    } else {
      for (const k of ['subnet-len', 'vni', 'port', 'mtu'] as const) {
        if (f[k] !== undefined) throw new UsageError(`--${k} is part of the network settings: give it with --network (it is stored in etcd once)`);
      }
    }
  }
  const level = (f['log-level'] ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}`);
  const device = f.device;
  const problem = device === undefined ? undefined : ifnameProblem(device);
  if (problem) throw new UsageError(`--device: ${JSON.stringify(device)} is not an interface name: it ${problem}`);
  const backend = (f.backend ?? 'vxlan') as BackendKind;
  if (!Object.hasOwn(BACKENDS, backend)) throw new UsageError(`--backend: expected one of ${Object.keys(BACKENDS).join(', ')}, got ${JSON.stringify(f.backend)}`);
  if (backend !== 'vxlan' && device !== undefined) throw new UsageError(`--device applies to the vxlan backend (${backend} makes no device)`);
  const bgp = bgpSettings(backend, { as: f['bgp-as'], routeReflector: f['bgp-route-reflector'], holdTime: f['bgp-hold-time'] }, stateDir);
  const nodeName = f['node-name'] ?? os.hostname();
  const evpn = evpnSettings({ evpn: f.evpn, as: f['evpn-as'], routeReflector: f['evpn-route-reflector'], reflector: f['evpn-reflector'], holdTime: f['evpn-hold-time'] }, nodeName);
  const opts: AgentOptions = {
    nodeName, source, backend, stateDir, logLevel: level,
    ...(device === undefined ? {} : { device }), ...(bgp === undefined ? {} : { bgp }), ...(evpn === undefined ? {} : { evpn }),
    ...(f.netns === undefined ? {} : { netns: f.netns }),
    ...(f['public-ip'] === undefined ? {} : { publicIp: f['public-ip'] }),
    ...(f.iface === undefined ? {} : { iface: f.iface }),
    ...(f['cni-socket'] === undefined ? {} : { cniSocket: f['cni-socket'] }),
  };
  if (!f['no-cni']) {
    opts.cni = {
      confDir: f['cni-conf-dir'] ?? '/etc/cni/net.d',
      name: f['cni-name'] ?? 'rtnl',
      bridge: f['cni-bridge'] ?? 'cni0',
      ...(f['ipam-data-dir'] === undefined ? {} : { dataDir: f['ipam-data-dir'] }),
    };
  }
  return { cmd, opts };
}
