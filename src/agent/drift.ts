/**
 * The backends' drift watcher: an event subscription in the node's
 * namespace that turns changes made behind a backend's back into a call for
 * a resync. Events the backend says concern it are debounced, then the
 * backend re-reads the kernel and compares it with its last plan, so the
 * echoes of its own changes, in whatever order they arrive, find nothing to
 * do and are ignored. Lost events (`resync`) and a failed socket always call.
 * @module
 */
import { type EventKind, type Netns, type RtnlEvent, subscribe, type Subscription } from '../index.js';

/** What a {@link DriftWatcher} watches and how it judges. */
export interface DriftWatchOptions {
  /** The node's namespace; undefined: the current one. */
  netns?: Netns;
  /** The event kinds to subscribe to. */
  kinds: EventKind[];
  /** Whether an event is about something the backend made or depends on. */
  concerns(ev: RtnlEvent): boolean;
  /** After the quiet time: whether the kernel differs from what the backend last planned (re-read now). */
  drifted(): boolean;
  /** Quiet time after the last concerning event, in ms (default 100). */
  debounceMs?: number;
}

/** Watches until {@link close}, calling onDrift when the backend's state drifted. */
export class DriftWatcher {
  readonly #o: DriftWatchOptions;
  readonly #onDrift: () => void;
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** A lost-events resync or socket failure is pending: fire without asking drifted(). */
  #certain = false;

  /** Subscribes at once. */
  constructor(o: DriftWatchOptions, onDrift: () => void) {
    this.#o = o;
    this.#onDrift = onDrift;
    this.#sub = this.#open();
  }

  /** Stops watching; a pending onDrift is cancelled. Safe to call twice. */
  close(): void {
    const sub = this.#sub;
    this.#sub = undefined;
    sub?.close();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #open(): Subscription {
    const sub = subscribe({ kinds: this.#o.kinds, ...(this.#o.netns ? { netns: this.#o.netns } : {}) });
    sub.on('event', (ev) => {
      if (this.#o.concerns(ev)) this.#schedule(false);
    });
    sub.on('resync', () => this.#schedule(true));
    sub.on('error', () => {
      // The socket failed: what happened meanwhile is unknown, so resync on a new one.
      if (this.#sub === sub) this.#sub = this.#open();
      this.#schedule(true);
    });
    return sub;
  }

  #schedule(sure: boolean): void {
    if (!this.#sub) return;
    this.#certain ||= sure;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const fire = this.#certain || this.#o.drifted();
      this.#certain = false;
      if (fire) this.#onDrift();
    }, this.#o.debounceMs ?? 100);
  }
}
