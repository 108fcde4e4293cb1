/**
 * The agent's local state directory: the subnet it last held (asked for
 * again after a restart, even if its etcd lease has expired meanwhile) and a
 * status snapshot that `rtnl-agent status` reads without talking to the agent.
 * Both are replaced atomically (temp file + rename).
 * @module
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../primitives/file.js';
import type { RouteReport } from './backend.js';
import type { EvpnStatus } from './evpn/role.js';
import type { NodeRecord, RejectedRecord } from './types.js';

/** Where the agent keeps its state unless `--state-dir` says otherwise. */
export const DEFAULT_STATE_DIR = '/run/rtnl-agent';

/** Counts from the last reconciliation of the overlay with the membership. */
export interface SyncSummary {
  /** When it finished (ISO 8601). */
  at: string;
  /** Why it ran: `membership` (a change or relist), `drift` (someone changed our entries), `start`. */
  reason: string;
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  durationMs: number;
}

/** What `rtnl-agent status` shows: the agent's view, written after every lease change and sync. */
export interface AgentStatus {
  pid: number;
  node: string;
  /** `etcd` or `static`. */
  membership: string;
  /** The dataplane backend (`vxlan`, `host-gw`); absent in an older agent's status. */
  backend?: string;
  startedAt: string;
  /** The node's own record (its leased subnet), once leased. */
  self?: NodeRecord;
  /** The etcd lease id and its TTL in seconds (etcd mode). */
  lease?: { id: string; ttlSec: number };
  /** The backend's device (vxlan). */
  device?: { name: string; index: number; mac: string; mtu: number };
  /** The peers' routes as the kernel held them after the last sync: learned, missing, stale. */
  routes?: RouteReport;
  /** The other live nodes, as last synced. */
  peers: NodeRecord[];
  /** Records not used, with the reason: malformed, refused by the policy, or blocked by a route the agent did not make. */
  rejected: RejectedRecord[];
  lastSync?: SyncSummary;
  /** The conflist written for the node's CNI runtime. */
  cniConf?: string;
  /** The rtnl plugin's resident-helper socket the agent serves (`--cni-socket`). */
  cniSocket?: string;
  /** The EVPN speaker's state (`--evpn`): sessions, VNIs, remote VTEPs. */
  evpn?: EvpnStatus;
  /** The last problem, cleared when things are well again (e.g. etcd unreachable). */
  problem?: string;
}

function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined; // absent or half-written by an older version: treated as no state
  }
}

/** The state directory's two files. */
export class StateDir {
  constructor(readonly dir: string) {}

  get #leaseFile(): string { return join(this.dir, 'lease.json'); }
  get #statusFile(): string { return join(this.dir, 'status.json'); }

  /** The record this node last held, if any. */
  lastLease(): NodeRecord | undefined {
    return readJson<NodeRecord>(this.#leaseFile);
  }

  /** Remembers the record this node holds. */
  saveLease(r: NodeRecord): void {
    fs.mkdirSync(this.dir, { recursive: true });
    writeJson(this.#leaseFile, r);
  }

  /** The last status written, if any. */
  status(): AgentStatus | undefined {
    return readJson<AgentStatus>(this.#statusFile);
  }

  /** Replaces the status snapshot. */
  saveStatus(s: AgentStatus): void {
    fs.mkdirSync(this.dir, { recursive: true });
    writeJson(this.#statusFile, s);
  }

  /** Removes both files (`--cleanup`), and the directory when it is left empty. */
  remove(): void {
    fs.rmSync(this.#leaseFile, { force: true });
    fs.rmSync(this.#statusFile, { force: true });
    try { fs.rmdirSync(this.dir); } catch { /* not empty or absent: leave it */ }
  }
}
