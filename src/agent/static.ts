/**
 * Static-file membership, for clusters without etcd: one JSON file
 * `{ "network": NetworkConfig, "nodes": NodeRecord[] }` shared by every
 * node (e.g. by configuration management). It is validated strictly, and
 * watched: an edit is delivered as the new membership, a bad edit is
 * reported and the last good one kept.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { contains, parseCidr, parseIp } from '../primitives/ip.js';
import { isObj } from '../primitives/json.js';
import { validateNetworkConfig } from './lease.js';
import { checkNodeRecord } from './record.js';
import type { Members, Membership, NetworkConfig, NodeRecord } from './types.js';

/** A parsed static membership file. */
export interface StaticFile {
  network: NetworkConfig;
  /** The nodes, with canonical addresses and lower-case MACs. */
  nodes: NodeRecord[];
}

/** A static file that cannot be used; the message names the file, the field and the node. */
export class StaticFileError extends Error {
  override readonly name = 'StaticFileError';
  /** The file. */
  readonly path: string;

  /** @param file the file @param message what is wrong, naming the field */
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.path = file;
  }
}


/**
 * Parses and validates a static file's text: known fields only, the network
 * a prefix without host bits, every node a valid record (the agent's one
 * record validator; the VTEP MAC may be left out for host-gw), every subnet
 * of length `subnetLen` inside the network, underlays of one family; names,
 * subnets, underlays and MACs unique. Throws {@link StaticFileError} naming the first fault.
 */
export function parseStaticFile(text: string, file: string): StaticFile {
  const fail = (msg: string): never => {
    throw new StaticFileError(file, msg);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON: ${(e as Error).message}`);
  }
  if (!isObj(doc)) return fail('expected an object { "network": {...}, "nodes": [...] }');
  onlyKeys(doc, '', ['network', 'nodes'], fail);
  const network = parseNetwork(doc.network, fail);
  if (!Array.isArray(doc.nodes)) return fail('nodes: expected an array of { name, underlay, vtepMac, subnet }');
  const net = parseCidr(network.network)!.cidr;
  const seen = { name: new Map<string, number>(), subnet: new Map<string, number>(), underlay: new Map<string, number>(), vtepMac: new Map<string, number>() };
  let underlayFamily: 4 | 6 | undefined;
  const nodes = doc.nodes.map((x: unknown, i): NodeRecord => {
    const at = (field: string) => `nodes[${i}]${isObj(x) && typeof x.name === 'string' ? ` (${JSON.stringify(x.name)})` : ''}${field ? `.${field}` : ''}`;
    if (!isObj(x)) return fail(`${at('')}: expected an object { name, underlay, vtepMac, subnet }`);
    onlyKeys(x, `${at('')}.`, ['name', 'underlay', 'vtepMac', 'subnet'], fail);
    let rec: NodeRecord;
    try {
      rec = checkNodeRecord(x, `${at('')}.`);
    } catch (e) {
      return fail((e as Error).message);
    }
    const family = parseIp(rec.underlay)!.family;
    underlayFamily ??= family;
    if (family !== underlayFamily) return fail(`${at('underlay')}: IPv${family}, but nodes[0] has an IPv${underlayFamily} underlay`);
    const sub = parseCidr(rec.subnet)!.cidr;
    if (sub.prefix !== network.subnetLen) return fail(`${at('subnet')}: ${rec.subnet} is not a /${network.subnetLen} (network.subnetLen)`);
    if (!contains(net, sub.net)) return fail(`${at('subnet')}: ${rec.subnet} is not inside network ${network.network}`);
    for (const k of ['name', 'subnet', 'underlay', 'vtepMac'] as const) {
      const v = rec[k];
      if (v === undefined) continue;
      const j = seen[k].get(v);
      if (j !== undefined) return fail(`${at(k)}: ${v} is also nodes[${j}]'s`);
      seen[k].set(v, i);
    }
    return rec;
  });
  return { network, nodes };
}

/** The file's "network": the same settings and checks as the one stored in etcd, and no unknown field. */
function parseNetwork(x: unknown, fail: (msg: string) => never): NetworkConfig {
  if (!isObj(x)) return fail('network: expected an object { network, subnetLen, vni?, port?, mtu? }');
  onlyKeys(x, 'network.', ['network', 'subnetLen', 'vni', 'port', 'mtu'], fail);
  try {
    return validateNetworkConfig(x, 'network');
  } catch (e) {
    return fail((e as Error).message);
  }
}

function onlyKeys(x: Record<string, unknown>, prefix: string, known: readonly string[], fail: (msg: string) => never): void {
  for (const k of Object.keys(x)) if (!known.includes(k)) fail(`${prefix}${k}: unknown field (expected ${known.join(', ')})`);
}

/** Reads and parses a static file; throws {@link StaticFileError} (also when it cannot be read). */
export function readStaticFile(file: string): StaticFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new StaticFileError(file, `cannot read: ${(e as Error).message}`);
  }
  return parseStaticFile(text, file);
}

/** Options of a {@link StaticMembership}. */
export interface StaticMembershipOptions {
  /** Told about an edit that cannot be used (the last good membership stays). */
  onWarning?(msg: string): void;
  /** Quiet time after a change before the file is read again, in ms (default 100): editors write in several steps. */
  debounceMs?: number;
}

/**
 * Membership from a static file: the nodes at start, and again after every
 * change of the file. The file's directory is watched, so an editor's or a
 * config manager's atomic replace (write a temporary file, rename it over)
 * is seen like an in-place write. An edit that does not parse goes to
 * `onWarning`; an edit that changes nothing delivers nothing.
 */
export class StaticMembership implements Membership {
  readonly #file: string;
  readonly #o: StaticMembershipOptions;
  #watcher: fs.FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last = '';
  #chain: Promise<void> = Promise.resolve();

  /** @param file the static file @param o warning callback and debounce */
  constructor(file: string, o: StaticMembershipOptions = {}) {
    this.#file = path.resolve(file);
    this.#o = o;
  }

  /** Watches the file, reads it (a bad or missing one rejects) and delivers its nodes. */
  async start(onPeers: (members: Members) => void | Promise<void>): Promise<void> {
    const base = path.basename(this.#file);
    // Watch before the first read, so that an edit in between is not missed.
    this.#watcher = fs.watch(path.dirname(this.#file), (_event, name) => {
      if (name !== null && name !== base) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#reload(onPeers), this.#o.debounceMs ?? 100);
    });
    let first: StaticFile;
    try {
      first = readStaticFile(this.#file);
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.#last = JSON.stringify(first.nodes);
    await this.#deliver(onPeers, first.nodes);
  }

  /** Stops watching and waits for a delivery in progress. */
  async stop(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#chain;
  }

  #reload(onPeers: (members: Members) => void | Promise<void>): void {
    if (!this.#watcher) return;
    let nodes: NodeRecord[];
    try {
      nodes = readStaticFile(this.#file).nodes;
    } catch (e) {
      this.#o.onWarning?.(`${(e as Error).message}; keeping the last good membership`);
      return;
    }
    const text = JSON.stringify(nodes);
    if (text === this.#last) return;
    this.#last = text;
    void this.#deliver(onPeers, nodes);
  }

  // Deliveries run one after another: onPeers is never called concurrently with itself.
  #deliver(onPeers: (members: Members) => void | Promise<void>, nodes: NodeRecord[]): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      try {
        await onPeers({ records: nodes.map((record, i) => ({ key: `${this.#file} nodes[${i}]`, record })), malformed: [] });
      } catch (e) {
        this.#o.onWarning?.(`membership update failed: ${(e as Error).message}`);
      }
    });
    return this.#chain;
  }
}
