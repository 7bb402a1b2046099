/**
 * Waiting for a lock another connection holds, without holding the event loop. better-sqlite3 is
 * synchronous: SQLite's own `busy_timeout` sleeps inside the call, so a write lock held elsewhere
 * for seconds would stop every request of the process for seconds. Instead the connection gives
 * up after a few milliseconds (`LOCK_POLL_MS`), and the work waits in line: one try at a time,
 * repeated from a timer with backoff until the store's deadline. With one try at a time, a
 * thousand waiting writes block the event loop no longer than one would.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';

/** `busy_timeout` of the databases the store opens: the longest one try holds the event loop. */
export const LOCK_POLL_MS = 5;
const FIRST_RETRY_MS = 1;
const LONGEST_RETRY_MS = 25;

/** Whether the error is SQLite's "another connection holds the lock" (`SQLITE_BUSY` and its extended codes). */
export function isBusy(error: unknown): boolean {
  const code = error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

interface Waiter {
  attempt(): unknown;
  giveUpAt: number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Busy to the end: what a waiter that never got the lock fails with. */
function gaveUp(waitedMs: number): Error {
  return Object.assign(new Error(`waited ${waitedMs} ms for a lock held by another connection`), { code: 'SQLITE_BUSY' });
}

export class LockWait {
  readonly #deadlineMs: number;
  /** Work that met a lock, oldest first; the first one is the one being tried. */
  readonly #waiting: Waiter[] = [];
  #polling = false;

  /** `deadlineMs`: how long a piece of work may wait, from its first try (wall clock). */
  constructor(deadlineMs: number) {
    this.#deadlineMs = deadlineMs;
  }

  /**
   * Runs `attempt` (synchronous work that either completes or changes nothing, such as a
   * `BEGIN IMMEDIATE` transaction). It runs at once, unless it is a write and writes already wait
   * for the lock: then it waits behind them without trying. Failing with `SQLITE_BUSY`, it waits
   * in line until it succeeds or its deadline passes; any other error is thrown as it is.
   */
  run<T>(attempt: () => T, options: { write: boolean }): Promise<T> {
    const startedAt = performance.now();
    if (!options.write || this.#waiting.length === 0) {
      try {
        return Promise.resolve(attempt());
      } catch (error) {
        if (!isBusy(error) || this.#deadlineMs === 0) return Promise.reject(error);
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ attempt, giveUpAt: startedAt + this.#deadlineMs, resolve: resolve as (value: unknown) => void, reject });
      void this.#poll();
    });
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    let delay = FIRST_RETRY_MS;
    try {
      while (this.#waiting.length > 0) {
        const head = this.#waiting[0] as Waiter;
        let busy = false;
        try {
          head.resolve(head.attempt());
        } catch (error) {
          if (isBusy(error)) busy = true;
          else head.reject(error);
        }
        if (!busy) {
          this.#waiting.shift();
          delay = FIRST_RETRY_MS;
          // The lock is probably free: the next one tries at once, after any I/O that is ready.
          await nextTurn();
          continue;
        }
        const now = performance.now();
        for (let i = this.#waiting.length - 1; i >= 0; i--) {
          const waiter = this.#waiting[i] as Waiter;
          if (now < waiter.giveUpAt) continue;
          this.#waiting.splice(i, 1);
          waiter.reject(gaveUp(this.#deadlineMs));
        }
        if (this.#waiting.length === 0) break;
        const soonest = this.#waiting.reduce((min, waiter) => Math.min(min, waiter.giveUpAt), Number.POSITIVE_INFINITY);
        // Jittered, so that processes waiting for the same lock do not try in step.
        await sleep(Math.max(0, Math.min(delay * (0.5 + Math.random()), soonest - now)));
        delay = Math.min(delay * 2, LONGEST_RETRY_MS);
      }
    } finally {
      this.#polling = false;
    }
  }
}
