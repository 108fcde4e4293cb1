/**
 * Jittered exponential backoff for retry loops that must never give up
 * (lease renewal, watch resync): spreads many agents' retries apart after
 * a shared outage.
 * @module
 */

/** Delays of `minMs`, doubling up to `maxMs`, each with ±25% jitter, until {@link Backoff.reset}. */
export class Backoff {
  readonly #minMs: number;
  readonly #maxMs: number;
  #attempt = 0;

  /** @param minMs first delay @param maxMs the ceiling */
  constructor(minMs: number, maxMs: number) {
    this.#minMs = minMs;
    this.#maxMs = maxMs;
  }

  /** The next delay, in ms. */
  next(): number {
    const base = Math.min(this.#maxMs, this.#minMs * 2 ** this.#attempt++);
    return Math.round(base * (0.75 + Math.random() / 2));
  }

  /** Starts over from `minMs` (after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}
