import type { Clock } from './clock.js';
import { StoreUnavailableError } from './errors.js';

/** Most compensations waiting at once; past it new ones are dropped (the orphans then expire by themselves). */
const MAX_PENDING = 10_000;
const FIRST_RETRY_MS = 100;
const LONGEST_RETRY_MS = 2_000;

/**
 * Undoes store writes whose outcome is unknown. A store that timed out may still run the write
 * (Redis runs a command a client gave up on once it is unpaused), so a login answered 503 can
 * leave a session whose token nobody holds. The undo is sent at once (on one connection it then
 * runs right behind the write it undoes) and retried with backoff while the store is unavailable,
 * until `until` passes (by then what it undoes has expired anyway).
 */
export class Compensations {
  readonly #clock: Clock;
  readonly #timers = new Set<NodeJS.Timeout>();
  #pending = 0;
  #closed = false;
  #idle: Array<() => void> = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Compensations not yet done. */
  get pending(): number {
    return this.#pending;
  }

  run(undo: () => Promise<void>, until: number): void {
    if (this.#closed || this.#pending >= MAX_PENDING) return;
    this.#pending++;
    this.#attempt(undo, until, FIRST_RETRY_MS);
  }

  /**
   * Resolves once no compensation is pending. Retries keep the process alive only while someone
   * waits here: otherwise a process with nothing else to do may exit and leave them to expiry.
   */
  settled(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    for (const timer of this.#timers) timer.ref();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Stops retrying; what is still pending is left to expire. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#pending = 0;
    this.#wake();
  }

  #attempt(undo: () => Promise<void>, until: number, delay: number): void {
    undo().then(
      () => this.#done(),
      (error: unknown) => {
        if (this.#closed || !(error instanceof StoreUnavailableError) || this.#clock.now() >= until) return this.#done();
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#attempt(undo, until, Math.min(delay * 2, LONGEST_RETRY_MS));
        }, delay);
        if (this.#idle.length === 0) timer.unref();
        this.#timers.add(timer);
      },
    );
  }

  #done(): void {
    if (this.#pending > 0) this.#pending--;
    if (this.#pending === 0) this.#wake();
  }

  #wake(): void {
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }
}
