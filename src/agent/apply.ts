/**
 * Sending a backend's plan: its requests in one batch (one crossing into
 * the addon), the kernel's refusals collected rather than thrown, so one bad
 * request does not stop the others and a later sync retries what is still
 * wrong.
 * @module
 */
import { type BatchResult, type Handle, NetlinkError } from '../index.js';
import type { BackendSyncResult } from './backend.js';
import type { Request } from './plan.js';

/** A request of a sync's batch that the kernel refused. */
export interface OverlayFailure {
  /** The operation, e.g. `routeReplace`. */
  op: string;
  /** What it was about, e.g. `10.244.2.0/24`. */
  object: string;
  error: Error;
}

const GONE = ['ENOENT', 'ESRCH', 'ENODEV'];

/** Sends a plan's requests in one batch; returns those the kernel refused (a delete of what is already gone is no failure). */
export function applyRequests(h: Handle, requests: readonly Request[]): OverlayFailure[] {
  if (requests.length === 0) return [];
  const results: BatchResult[] = h.batch((b) => {
    for (const r of requests) (b[r.op] as (a: typeof r.args) => void).call(b, r.args);
  });
  const failures: OverlayFailure[] = [];
  results.forEach((res, i) => {
    if (res.status === 'fulfilled') return;
    const r = requests[i]!;
    const e = res.reason as Error;
    if (!(r.del && e instanceof NetlinkError && GONE.includes(e.code))) failures.push({ op: r.op, object: r.object, error: e });
  });
  return failures;
}

/** Some requests of a sync's batch failed; the others were applied. A later sync retries what is still wrong. */
export class OverlaySyncError extends Error {
  override readonly name = 'OverlaySyncError';
  /** Each refused request. */
  readonly failures: readonly OverlayFailure[];
  /** The counts of the sync as planned. */
  readonly result: BackendSyncResult;

  /** @param failures the refused requests @param result what the sync planned */
  constructor(failures: OverlayFailure[], result: BackendSyncResult) {
    const first = failures[0]!;
    super(`sync: ${failures.length} request(s) failed; first: ${first.op} ${first.object}: ${first.error.message}`);
    this.failures = failures;
    this.result = result;
  }
}
