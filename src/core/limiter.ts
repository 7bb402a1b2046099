/**
 * Counts events per key (a client address) in one-minute windows, in bounded memory. Past
 * `maxKeys` keys the least recently counted key is forgotten, one at a time: an attacker who
 * rotates through many addresses pushes out only the quietest entries, never everyone's count.
 */
export class WindowCounter {
  /** Insertion order is recency: a key is moved to the end each time it is counted. */
  readonly #counts = new Map<string, { window: number; count: number }>();
  readonly #maxKeys: number;

  constructor(maxKeys = 10_000) {
    this.#maxKeys = maxKeys;
  }

  /** Keys remembered now (at most `maxKeys`). */
  get size(): number {
    return this.#counts.size;
  }

  /** Counts one event for `key` at `now` (ms); returns the key's count in the current minute. */
  hit(key: string, now: number): number {
    const window = Math.floor(now / 60_000);
    const entry = this.#counts.get(key);
    const count = entry !== undefined && entry.window === window ? entry.count + 1 : 1;
    this.#counts.delete(key);
    this.#counts.set(key, { window, count });
    if (this.#counts.size > this.#maxKeys) this.#counts.delete(this.#counts.keys().next().value as string);
    return count;
  }

  /** Whole seconds until the current minute's window ends: a `Retry-After`. */
  static secondsLeft(now: number): number {
    return Math.max(1, Math.ceil((Math.floor(now / 60_000 + 1) * 60_000 - now) / 1000));
  }
}
