/** Where tessera gets the time. Every expiry decision goes through one, so tests can move it. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** `Date.now()`: the clock a manager uses unless given another. */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/** A clock that moves only when told to; for tests of expiry without sleeping. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = Date.UTC(2030, 0, 1)) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('a clock only moves forward');
    this.#now += ms;
  }
  /** Sets the time to `ms` milliseconds since the epoch, backwards too (a clock stepped back by NTP, say). */
  set(ms: number): void {
    this.#now = ms;
  }
}
