/**
 * The cache's hold on a store's invalidation channel: subscribes, probes it every quarter of
 * `maxStaleness`, and says whether it may be believed now. A channel is believed until
 * `maxStaleness` after the start of the last probe that succeeded, and not at all from the moment
 * it reports itself down or a probe fails, until a probe succeeds again.
 */
import type { Clock } from './clock.js';
import type { InvalidationListener, InvalidationSource, InvalidationSubscription } from './store.js';

export class CacheChannel {
  readonly #source: InvalidationSource;
  readonly #clock: Clock;
  readonly #maxStaleness: number;
  /** Called whenever everything cached must go: the channel went down or a probe failed. */
  readonly #onLost: () => void;
  #subscription: InvalidationSubscription | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** When the last probe that succeeded started; null while down or not yet probed. */
  #heardAt: number | null = null;
  /** Bumped by every loss: a probe that started before one proves nothing. */
  #losses = 0;

  constructor(source: InvalidationSource, clock: Clock, maxStaleness: number, onLost: () => void) {
    this.#source = source;
    this.#clock = clock;
    this.#maxStaleness = maxStaleness;
    this.#onLost = onLost;
  }

  /** Whether the store reports this cache's own writes back to it (see `InvalidationSubscription.echoesOwnWrites`). */
  get echoesOwnWrites(): boolean {
    return this.#subscription?.echoesOwnWrites === true;
  }

  /** Whether what the channel has said may be believed at `now`. */
  believed(now: number): boolean {
    const heardAt = this.#heardAt;
    return heardAt !== null && now >= heardAt && now - heardAt < this.#maxStaleness;
  }

  /** Subscribes `listener`, whose `down` is wrapped so that the channel stops being believed at once. */
  open(listener: InvalidationListener): void {
    if (this.#subscription !== null) return;
    this.#subscription = this.#source.subscribeInvalidations({
      invalidate: (ids) => listener.invalidate(ids),
      invalidateAll: () => listener.invalidateAll(),
      down: () => {
        this.#lose();
        listener.down();
      },
    });
    this.#probe();
  }

  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const subscription = this.#subscription;
    this.#subscription = null;
    this.#heardAt = null;
    subscription?.close().catch(() => {
      // Its connection is going away either way; nothing is served from the cache any more.
    });
  }

  #lose(): void {
    this.#losses++;
    this.#heardAt = null;
  }

  #probe(): void {
    const subscription = this.#subscription;
    if (subscription === null) return;
    const startedAt = this.#clock.now();
    const losses = this.#losses;
    subscription
      .probe()
      .then(
        () => {
          if (this.#subscription !== subscription || this.#losses !== losses) return;
          if (this.#heardAt === null || startedAt > this.#heardAt) this.#heardAt = startedAt;
        },
        () => {
          if (this.#subscription !== subscription) return;
          const wasBelieved = this.#heardAt !== null;
          this.#lose();
          if (wasBelieved) this.#onLost();
        },
      )
      .finally(() => {
        if (this.#subscription !== subscription) return;
        this.#timer = setTimeout(() => this.#probe(), Math.max(5, Math.floor(this.#maxStaleness / 4)));
        this.#timer.unref();
      });
  }
}
