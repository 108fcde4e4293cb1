/**
 * The IPAM configuration (host-local's, plus `allocation`), validated and
 * canonicalised: ranges with their defaults filled in, requested IPs gathered
 * from CNI_ARGS, `args.cni.ips` and `runtimeConfig.ips`.
 * @module
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { CniError, CniErrorCode, parseRoute, type CniDns, type CniEnv, type CniRoute, type NetConf } from '../cni/index.js';
import { bits, contains, formatIp, lastOf, parseCidr, parseIp, withPrefix, type Cidr, type Ip } from '../primitives/ip.js';
import { type Obj, isObj, isStringArray } from '../primitives/json.js';

/** Where host-local keeps its store unless `dataDir` says otherwise. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

/** One range: addresses `start`..`end` of `subnet`, `gateway` never handed out. */
export interface Range {
  subnet: Cidr;
  start: bigint;
  end: bigint;
  gateway: Ip;
}

/** A validated IPAM config. */
export interface IpamConfig {
  /** The network name (the store's directory). */
  name: string;
  dataDir: string;
  /** Range sets: one address is allocated from each. */
  rangeSets: Range[][];
  routes: CniRoute[];
  dns: CniDns;
  /** `sequential` (host-local's round robin, the default) or `random` (for large IPv6 blocks). */
  allocation: 'sequential' | 'random';
  /** Addresses asked for by the runtime, each to be served by the range set containing it. */
  requested: Ip[];
}

const invalid = (field: string, what: string): CniError => new CniError(CniErrorCode.InvalidNetworkConfig, `invalid ${field}`, what);

function optString(o: Obj, k: string, field: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(`${field}.${k}`, 'must be a string');
  return v;
}

function ipIn(o: Obj, k: string, field: string, subnet: Cidr): Ip | undefined {
  const s = optString(o, k, field);
  if (s === undefined) return undefined;
  const ip = parseIp(s);
  if (!ip) throw invalid(`${field}.${k}`, `${JSON.stringify(s)} is not an IP address`);
  if (!contains(subnet, ip)) throw invalid(`${field}.${k}`, `${s} is not in ${withPrefix(subnet.net, subnet.prefix)}`);
  return ip;
}

/** Canonicalises one range as host-local does: start = network+1, end = last (IPv4: broadcast-1), gateway = network+1. */
function parseRange(o: Obj, field: string): Range {
  const s = optString(o, 'subnet', field);
  if (!s) throw invalid(`${field}.subnet`, 'is required');
  const p = parseCidr(s);
  if (!p) throw invalid(`${field}.subnet`, `${JSON.stringify(s)} is not a CIDR`);
  const subnet = p.cidr;
  if (p.addr.value !== subnet.net.value) {
    throw invalid(`${field}.subnet`, `${s} has host bits set; the network is ${withPrefix(subnet.net, subnet.prefix)}`);
  }
  const fam = subnet.net.family;
  if (subnet.prefix > bits(fam) - 2) throw invalid(`${field}.subnet`, `${s} is too small to allocate from`);
  const last = lastOf(subnet);
  const start = ipIn(o, 'rangeStart', field, subnet)?.value ?? subnet.net.value + 1n;
  const end = ipIn(o, 'rangeEnd', field, subnet)?.value ?? (fam === 4 ? last - 1n : last);
  if (start > end) throw invalid(field, `rangeStart ${formatIp({ family: fam, value: start })} is after rangeEnd ${formatIp({ family: fam, value: end })}`);
  const gateway = ipIn(o, 'gateway', field, subnet) ?? { family: fam, value: subnet.net.value + 1n };
  return { subnet, start, end, gateway };
}

/** `a.b.c.d-w.x.y.z` of a range, for messages. */
export function rangeText(r: Range): string {
  const f = r.subnet.net.family;
  return `${formatIp({ family: f, value: r.start })}-${formatIp({ family: f, value: r.end })}`;
}

function parseRangeSets(ipam: Obj): Range[][] {
  const sets: Range[][] = [];
  if (optString(ipam, 'subnet', 'ipam') !== undefined) sets.push([parseRange(ipam, 'ipam')]); // legacy single-range form
  const ranges = ipam.ranges;
  if (ranges !== undefined) {
    if (!Array.isArray(ranges)) throw invalid('ipam.ranges', 'must be a list of range sets');
    ranges.forEach((set: unknown, i) => {
      if (!Array.isArray(set) || set.length === 0 || !set.every(isObj)) throw invalid(`ipam.ranges[${i}]`, 'must be a non-empty list of ranges');
      sets.push(set.map((r, j) => parseRange(r, `ipam.ranges[${i}][${j}]`)));
    });
  }
  if (sets.length === 0) throw invalid('ipam', 'no IP ranges specified (ranges or subnet)');
  const all = sets.flatMap((set, i) => set.map((r, j) => ({ r, at: `ipam.ranges[${i}][${j}]`, i })));
  for (const set of sets) {
    if (set.some((r) => r.subnet.net.family !== set[0]!.subnet.net.family)) throw invalid('ipam.ranges', 'a range set mixes IPv4 and IPv6');
  }
  for (let a = 0; a < all.length; a++) {
    for (let b = a + 1; b < all.length; b++) {
      const x = all[a]!, y = all[b]!;
      if (x.r.subnet.net.family === y.r.subnet.net.family && x.r.start <= y.r.end && y.r.start <= x.r.end) {
        throw invalid(y.at, `${rangeText(y.r)} overlaps ${x.at} (${rangeText(x.r)})`);
      }
    }
  }
  return sets;
}

/** Reads nameserver/domain/search/options from a resolv.conf-style file. */
function readResolvConf(path: string): CniDns {
  let text: string;
  try {
    // Non-blocking and a regular file only: a FIFO there must fail at once, not hang every caller (the resident helper's too).
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) throw new Error('not a regular file');
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new CniError(CniErrorCode.IoFailure, `cannot read resolvConf ${path}`, (e as Error).message);
  }
  const dns: Required<CniDns> = { nameservers: [], domain: '', search: [], options: [] };
  for (const line of text.split('\n')) {
    const [key, ...vals] = line.replace(/[#;].*/, '').trim().split(/\s+/);
    if (key === 'nameserver' && vals[0]) dns.nameservers.push(vals[0]);
    else if (key === 'domain' && vals[0]) dns.domain = vals[0];
    else if (key === 'search') dns.search = vals;
    else if (key === 'options') dns.options.push(...vals);
  }
  return Object.fromEntries(Object.entries(dns).filter(([, v]) => v.length > 0)) as CniDns;
}

function requestedIp(text: string, field: string, code: number): Ip {
  const s = text.trim();
  const ip = s.includes('/') ? parseCidr(s)?.addr : parseIp(s);
  if (!ip) throw new CniError(code, `invalid ${field}`, `${JSON.stringify(s)} is not an IP address`);
  return ip;
}

function ipList(v: unknown, field: string): Ip[] {
  if (v === undefined) return [];
  if (!isStringArray(v)) throw invalid(field, 'must be a list of strings');
  return v.map((s) => requestedIp(s, field, CniErrorCode.InvalidNetworkConfig));
}

/** Validates the `ipam` section of `conf` (errors: 7 invalid, 2 unsupported value, 4 bad CNI_ARGS IP). */
export function loadIpamConfig(conf: NetConf, env: CniEnv): IpamConfig {
  const ipam = conf.ipam;
  if (!isObj(ipam)) throw invalid('ipam', 'the network config has no ipam section');
  const rangeSets = parseRangeSets(ipam);
  const routes = ipam.routes === undefined ? [] : (() => {
    if (!Array.isArray(ipam.routes) || !ipam.routes.every(isObj)) throw invalid('ipam.routes', 'must be a list of {dst, gw?}');
    return ipam.routes.map((r, i) => {
      const route = parseRoute(r, `ipam.routes[${i}]`);
      if (!parseCidr(route.dst)) throw invalid(`ipam.routes[${i}].dst`, `${JSON.stringify(route.dst)} is not a CIDR`);
      if (route.gw !== undefined && !parseIp(route.gw)) throw invalid(`ipam.routes[${i}].gw`, `${JSON.stringify(route.gw)} is not an IP address`);
      return route;
    });
  })();
  const allocation = ipam.allocation ?? 'sequential';
  if (allocation !== 'sequential' && allocation !== 'random') {
    throw new CniError(CniErrorCode.UnsupportedField, 'unsupported field ipam.allocation', `value ${JSON.stringify(allocation)}; use "sequential" or "random"`);
  }
  const resolvConf = optString(ipam, 'resolvConf', 'ipam');
  const requested: Ip[] = [];
  for (const [k, v] of env.args) {
    if (k === 'IP') requested.push(...v.split(',').map((s) => requestedIp(s, 'CNI_ARGS IP', CniErrorCode.InvalidEnvironment)));
  }
  const cniArgs = isObj(conf.args) && isObj(conf.args.cni) ? conf.args.cni : {};
  requested.push(...ipList(cniArgs.ips, 'args.cni.ips'));
  requested.push(...ipList(isObj(conf.runtimeConfig) ? conf.runtimeConfig.ips : undefined, 'runtimeConfig.ips'));
  return {
    name: conf.name,
    dataDir: optString(ipam, 'dataDir', 'ipam') ?? DEFAULT_DATA_DIR,
    rangeSets, routes,
    dns: resolvConf ? readResolvConf(resolvConf) : {},
    allocation, requested,
  };
}
