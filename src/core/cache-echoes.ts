/**
 * Redis reports a write made inside a script even to the connection that ran it (`NOLOOP` counts
 * the script as the writer), and every tessera write is a script: without this, each save would
 * drop the entry it just stored and cost the next request a round trip. So for a channel that
 * says it echoes (`echoesOwnWrites`), each write the cache sends expects one invalidation of its
 * session within `maxStaleness`, and the first one that comes is taken as that echo. Redis may
 * fold another client's change made in the same instant into that one message: the entry is then
 * served for at most `maxStaleness` after the echo (unless a newer answer replaces it), the bound
 * that holds without a channel.
 */

/** Echoes of the cache's own writes of one session still to come, and until when one is taken as such. */
interface Expected {
  count: number;
  until: number;
}

export class ExpectedEchoes {
  readonly #expected = new Map<string, Expected>();
  readonly #maxStaleness: number;

  constructor(maxStaleness: number) {
    this.#maxStaleness = maxStaleness;
  }

  /** A write of `id` was sent at `now`: one more echo is due. */
  expect(id: string, now: number): void {
    const expected = this.#expected.get(id);
    const until = now + this.#maxStaleness;
    if (expected === undefined || expected.until < now) this.#expected.set(id, { count: 1, until });
    else {
      expected.count++;
      expected.until = until;
    }
  }

  /** A write that changed nothing has no echo coming. */
  cancel(id: string): void {
    const expected = this.#expected.get(id);
    if (expected === undefined) return;
    if (--expected.count <= 0) this.#expected.delete(id);
  }

  /** Whether an invalidation of `id` at `now` is taken as an expected echo (using it up). */
  take(id: string, now: number): boolean {
    const expected = this.#expected.get(id);
    if (expected === undefined) return false;
    if (--expected.count <= 0 || expected.until < now) this.#expected.delete(id);
    return expected.until >= now;
  }
}
