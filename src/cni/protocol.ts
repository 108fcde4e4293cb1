/**
 * The CNI exec protocol (spec 1.1.0, compatible back to 0.3.0): the CNI_*
 * environment, the network config on stdin, results in the config's version.
 * Pure functions; {@link runPlugin} wires them to a process.
 * @module
 */
import {
  CniError, CniErrorCode, SUPPORTED_VERSIONS,
  type CniAttachment, type CniCommand, type CniDns, type CniEnv, type CniInterface, type CniIpConfig,
  type CniResult, type CniRoute, type CniVersion, type NetConf,
} from './types.js';
import { type Obj, isObj, isStringArray } from '../primitives/json.js';
import { ifnameProblem } from '../primitives/names.js';

const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'VERSION', 'GC'];

/** Which CNI_* variables each command needs (DEL may come without CNI_NETNS). */
const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: [],
};

/** The spec's container ID and network name syntax. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Compares two `x.y.z` versions: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether `v` is one of {@link SUPPORTED_VERSIONS}. */
export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Parses CNI_ARGS (`K=V;K=V`); a pair without `=` or with an empty key is error 4. */
export function parseCniArgs(raw: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CniErrorCode.InvalidEnvironment, 'invalid CNI_ARGS', `pair ${JSON.stringify(pair)} is not KEY=VALUE`);
    out.push([pair.slice(0, eq), pair.slice(eq + 1)]);
  }
  return out;
}

/** Checks an interface name against Linux's rules, as the spec asks (error 4). */
function checkIfname(name: string): void {
  const bad = ifnameProblem(name);
  if (bad) throw new CniError(CniErrorCode.InvalidEnvironment, 'invalid CNI_IFNAME', `${JSON.stringify(name)} ${bad}`);
}

/** Parses and validates the CNI_* environment for its command; failures are error 4. */
export function parseEnv(env: Record<string, string | undefined>): CniEnv {
  const command = env.CNI_COMMAND;
  if (!command) throw new CniError(CniErrorCode.InvalidEnvironment, 'required env variables [CNI_COMMAND] missing');
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(CniErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${command}`);
  }
  const cmd = command as CniCommand;
  // VERSION needs nothing else, so nothing else can fail it (the installed client answers it alone, without these checks).
  if (cmd === 'VERSION') return { command: cmd, containerId: '', netns: '', ifname: '', args: [], rawArgs: '', path: [] };
  const missing = REQUIRED[cmd].filter((k) => !env[k]);
  if (missing.length) throw new CniError(CniErrorCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId && !ID_RE.test(containerId)) {
    throw new CniError(CniErrorCode.InvalidEnvironment, 'invalid CNI_CONTAINERID',
      `${JSON.stringify(containerId)}: must start with a letter or digit, then letters, digits, "_", "." or "-"`);
  }
  const ifname = env.CNI_IFNAME ?? '';
  if (ifname) checkIfname(ifname);
  const rawArgs = env.CNI_ARGS ?? '';
  return {
    command: cmd, containerId, netns: env.CNI_NETNS ?? '', ifname,
    args: parseCniArgs(rawArgs), rawArgs,
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  };
}

// ---- JSON shape checks (the input is untrusted JSON) ----

function bad(field: string, what: string, code: number = CniErrorCode.InvalidNetworkConfig): CniError {
  return new CniError(code, `invalid ${field}`, what);
}
function optStr(o: Obj, k: string, field: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(`${field}.${k}`, 'must be a string');
  return v;
}
function optNum(o: Obj, k: string, field: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(`${field}.${k}`, 'must be an integer');
  if (v < 0 || v > max) throw bad(`${field}.${k}`, `${v} is outside 0..${max}`);
  return v;
}
function optStrs(o: Obj, k: string, field: string): string[] | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (!isStringArray(v)) throw bad(`${field}.${k}`, 'must be a list of strings');
  return v;
}
function optArr(o: Obj, k: string, field: string): Obj[] {
  const v = o[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every(isObj)) throw bad(`${field}.${k}`, 'must be a list of objects');
  return v;
}
/** Drops undefined members so printed JSON carries only what was set. */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Parses a DNS object (config `dns` or result `dns`). */
export function parseDns(v: unknown, field = 'dns'): CniDns {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw bad(field, 'must be an object');
  return clean({
    nameservers: optStrs(v, 'nameservers', field), domain: optStr(v, 'domain', field),
    search: optStrs(v, 'search', field), options: optStrs(v, 'options', field),
  });
}

const U32 = 0xffffffff;

/** Parses a route object: `dst` required, 1.1.0 attributes optional. */
export function parseRoute(r: Obj, field = 'route'): CniRoute {
  const dst = optStr(r, 'dst', field);
  if (!dst) throw bad(`${field}.dst`, 'is required');
  return clean({
    // The kernel's ranges (u32 metrics, priority and table; u8 scope): a value outside is a bad config, not a kernel error.
    dst, gw: optStr(r, 'gw', field), mtu: optNum(r, 'mtu', field, U32), advmss: optNum(r, 'advmss', field, U32),
    priority: optNum(r, 'priority', field, U32), table: optNum(r, 'table', field, U32), scope: optNum(r, 'scope', field, 0xff),
  });
}

/**
 * Parses a result in any supported version's shape (a plugin's output, an IPAM
 * plugin's output or a `prevResult`) into the 1.1.0 shape: `ips[].version` dropped.
 * A 0.1/0.2 result (`ip4`/`ip6`) is error 1.
 */
export function parseResult(v: unknown, field = 'result'): CniResult {
  if (!isObj(v)) throw bad(field, 'must be a JSON object', CniErrorCode.DecodingFailure);
  if ('ip4' in v || 'ip6' in v) throw new CniError(CniErrorCode.IncompatibleVersion, `${field} is in the 0.1/0.2 format`, 'results older than 0.3.0 are not supported');
  const cniVersion = optStr(v, 'cniVersion', field);
  const interfaces = optArr(v, 'interfaces', field).map((i, n): CniInterface => {
    const f = `${field}.interfaces[${n}]`;
    const name = optStr(i, 'name', f);
    if (name === undefined) throw bad(`${f}.name`, 'is required');
    return clean({
      name, mac: optStr(i, 'mac', f), mtu: optNum(i, 'mtu', f), sandbox: optStr(i, 'sandbox', f),
      socketPath: optStr(i, 'socketPath', f), pciID: optStr(i, 'pciID', f),
    });
  });
  const ips = optArr(v, 'ips', field).map((ip, n): CniIpConfig => {
    const f = `${field}.ips[${n}]`;
    const address = optStr(ip, 'address', f);
    if (!address) throw bad(`${f}.address`, 'is required');
    const iface = optNum(ip, 'interface', f);
    if (iface !== undefined && (iface < 0 || iface >= interfaces.length)) throw bad(`${f}.interface`, `index ${iface} has no interface`);
    return clean({ address, gateway: optStr(ip, 'gateway', f), interface: iface });
  });
  const routes = optArr(v, 'routes', field).map((r, n) => parseRoute(r, `${field}.routes[${n}]`));
  return clean({
    cniVersion,
    interfaces: interfaces.length ? interfaces : undefined,
    ips: ips.length ? ips : undefined,
    routes: routes.length ? routes : undefined,
    dns: v.dns === undefined ? undefined : parseDns(v.dns, `${field}.dns`),
  });
}

/** A result as printed for `version`: the shape of that version of the spec. */
export interface VersionedResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: Array<CniIpConfig & { version?: '4' | '6' }>;
  routes?: CniRoute[];
  dns: CniDns;
}

/**
 * Converts a result to the shape of spec `version`: 0.3.x/0.4.0 carry
 * `ips[].version`; 1.1.0-only fields (interface mtu/socketPath/pciID, route
 * mtu/advmss/priority/table/scope) are dropped below 1.1.0.
 */
export function convertResult(result: CniResult, version: CniVersion): VersionedResult {
  const v1 = compareVersions(version, '1.0.0') >= 0;
  const v11 = compareVersions(version, '1.1.0') >= 0;
  const interfaces = result.interfaces?.map((i) =>
    v11 ? clean({ ...i }) : clean({ name: i.name, mac: i.mac, sandbox: i.sandbox }));
  const ips = result.ips?.map((ip) => clean({
    ...(v1 ? {} : { version: ip.address.includes(':') ? '6' as const : '4' as const }),
    address: ip.address, gateway: ip.gateway, interface: ip.interface,
  }));
  const routes = result.routes?.map((r) => (v11 ? clean({ ...r }) : clean({ dst: r.dst, gw: r.gw })));
  return clean({
    cniVersion: version,
    interfaces: interfaces?.length ? interfaces : undefined,
    ips: ips?.length ? ips : undefined,
    routes: routes?.length ? routes : undefined,
    dns: result.dns ?? {},
  });
}

/**
 * Parses the network config from stdin and checks it against the command:
 * bad JSON is error 6, an unsupported or missing cniVersion error 1, CHECK
 * below 0.4.0 and GC/STATUS below 1.1.0 error 1, a wrong field error 7.
 */
export function parseConfig(stdin: string, command: CniCommand): { conf: NetConf; raw: Obj } {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CniErrorCode.DecodingFailure, 'failed to decode the network config', (e as Error).message);
  }
  if (!isObj(raw)) throw new CniError(CniErrorCode.DecodingFailure, 'failed to decode the network config', 'not a JSON object');
  const version = raw.cniVersion;
  if (version === undefined) {
    // A config without cniVersion is a 0.1.0 config by the spec's old rule: not ours.
    throw new CniError(CniErrorCode.IncompatibleVersion, 'incompatible CNI versions',
      `config has no cniVersion (meaning 0.1.0), plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`);
  }
  if (typeof version !== 'string') throw bad('cniVersion', 'must be a string');
  if (!isSupportedVersion(version)) {
    throw new CniError(CniErrorCode.IncompatibleVersion, 'incompatible CNI versions',
      `config is ${JSON.stringify(version)}, plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`);
  }
  if (command === 'CHECK' && compareVersions(version, '0.4.0') < 0) {
    throw new CniError(CniErrorCode.IncompatibleVersion, 'config version does not allow CHECK', `cniVersion ${version} < 0.4.0`);
  }
  if ((command === 'GC' || command === 'STATUS') && compareVersions(version, '1.1.0') < 0) {
    throw new CniError(CniErrorCode.IncompatibleVersion, `config version does not allow ${command}`, `cniVersion ${version} < 1.1.0`);
  }
  const name = raw.name;
  if (typeof name !== 'string' || !name) throw bad('name', 'a network name is required');
  if (!ID_RE.test(name)) throw bad('name', `${JSON.stringify(name)}: must start with a letter or digit, then letters, digits, "_", "." or "-"`);
  if (typeof raw.type !== 'string' || !raw.type) throw bad('type', 'a plugin type is required');
  for (const k of ['args', 'runtimeConfig', 'capabilities'] as const) {
    if (raw[k] !== undefined && !isObj(raw[k])) throw bad(k, 'must be an object');
  }
  if (raw.ipam !== undefined && (!isObj(raw.ipam) || typeof raw.ipam.type !== 'string' || !raw.ipam.type)) {
    throw bad('ipam', 'must be an object with a "type"');
  }
  const conf = { ...raw, cniVersion: version, name } as NetConf;
  if (raw.dns !== undefined) conf.dns = parseDns(raw.dns);
  if (raw.prevResult !== undefined && raw.prevResult !== null) conf.prevResult = parseResult(raw.prevResult, 'prevResult');
  else delete conf.prevResult;
  return { conf, raw };
}

/**
 * The attachments a GC must keep: `cni.dev/valid-attachments`, or the older
 * `cni.dev/attachments` (libcni sends both). Neither present is error 7:
 * a GC without the list would release everything.
 */
export function parseAttachments(conf: Obj): CniAttachment[] {
  const key = conf['cni.dev/valid-attachments'] !== undefined ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const list = conf[key];
  if (list === undefined) throw bad('cni.dev/valid-attachments', 'GC needs the list of valid attachments');
  if (!Array.isArray(list)) throw bad(key, 'must be a list');
  return list.map((a, n) => {
    if (!isObj(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw bad(`${key}[${n}]`, 'must be {"containerID": string, "ifname": string}');
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}
