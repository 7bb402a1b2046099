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

/** The per-address limits a manager enforces (see `SessionManagerOptions`). */
export interface ClientLimits {
  /** Unknown tokens per address and minute before a `bruteForce` event; false: not counted. */
  bruteForceLimit: number | false;
  /** Past `bruteForceLimit`: only report (`'detect'`) or also refuse (`'block'`). */
  bruteForceAction: 'detect' | 'block';
  /** New anonymous sessions per address and minute; false: not counted. */
  anonymousSessionLimit: number | false;
}

/**
 * The policy over the per-address counts: what counts, when an address is reported, when it is
 * refused. Requests without an address (a socket already gone) are never counted: they would
 * all share one count, and one client could then lock everyone else out.
 */
export class ClientLimiter {
  readonly #limits: ClientLimits;
  readonly #onBruteForce: (ip: string, attempts: number, now: number) => void;

  readonly #failures = new WindowCounter();
  readonly #anonymous = new WindowCounter();

  /** @param onBruteForce Called once per address and minute, when the address first passes `bruteForceLimit`. */
  constructor(limits: ClientLimits, onBruteForce: (ip: string, attempts: number, now: number) => void) {
    this.#limits = limits;
    this.#onBruteForce = onBruteForce;
  }

  /**
   * Counts a well-formed token from `ip` that opened nothing. Returns the seconds until the
   * address may try again when it is to be refused (past the limit with `'block'`), else null.
   */
  unknownToken(ip: string | null, now: number): number | null {
    if (this.#limits.bruteForceLimit === false || ip === null) return null;
    return this.judgeUnknownTokens(ip, this.#failures.hit(ip, now), now);
  }

  /**
   * As `unknownToken`, with the address's count this minute (`attempts`, this one included) kept
   * elsewhere: in a store every instance shares.
   */
  judgeUnknownTokens(ip: string, attempts: number, now: number): number | null {
    const limit = this.#limits.bruteForceLimit;
    if (limit === false || attempts <= limit) return null;
    if (attempts === limit + 1) this.#onBruteForce(ip, attempts, now);
    return this.#limits.bruteForceAction === 'block' ? WindowCounter.secondsLeft(now) : null;
  }

  /**
   * Counts an anonymous session about to be stored for `ip`. Returns the seconds until the
   * address may create another when it is past `anonymousSessionLimit`, else null.
   */
  anonymousSession(ip: string | null, now: number): number | null {
    const limit = this.#limits.anonymousSessionLimit;
    if (limit === false || ip === null) return null;
    return this.#anonymous.hit(ip, now) > limit ? WindowCounter.secondsLeft(now) : null;
  }
}
