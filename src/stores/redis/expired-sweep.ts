/**
 * The Redis store's `deleteExpired`: SWEEP steps over every node's expiry indexes, and HEAL over a
 * slice of them (see "Expired sessions and the sweep" and "Healing" in docs/stores/redis.md).
 */
import { ID_SHARDS, type RemovedSession } from '../../store-kit/index.js';
import type { RedisKeys } from './keys.js';
import { asString, type Reply } from './reply.js';
import { HEAL_SHARDS, SWEEP_STEP, type Scripts } from './scripts/index.js';
import type { RedisTransport, Target } from './transport.js';

export class ExpiredSweep {
  readonly #transport: RedisTransport;
  readonly #keys: RedisKeys;
  readonly #scripts: Scripts;
  readonly #targets: () => Promise<Target[]>;
  /** Where this instance's next deleteExpired starts, by the first index key of a target: see deleteExpired. */
  readonly #sweptTo = new Map<string, number>();
  /** Where this instance's next sweep starts healing (see "Healing" in docs/stores/redis.md); instances start apart. */
  #healNext = Math.floor(Math.random() * ID_SHARDS.length);

  constructor(transport: RedisTransport, keys: RedisKeys, scripts: Scripts, targets: () => Promise<Target[]>) {
    this.#transport = transport;
    this.#keys = keys;
    this.#scripts = scripts;
    this.#targets = targets;
  }

  /** `notice`: each SWEEP step records the `session.ended` notices of the sessions it removes. */
  async deleteExpired(now: number, limit: number, notice: boolean): Promise<RemovedSession[]> {
    const heal = this.#healSlice();
    const removed: RemovedSession[] = [];
    for (const target of await this.#targets()) {
      // From the index where this instance's last call stopped, round all of them, in steps of
      // SWEEP_STEP sessions that each go on where the one before stopped: no step walks again
      // the indexes emptied before it (1,024 of them cost some 3 ms late in a large sweep).
      const first = target.indexes[0] as string;
      const from = (this.#sweptTo.get(first) ?? 0) % target.indexes.length;
      const order = from === 0 ? target.indexes : [...target.indexes.slice(from), ...target.indexes.slice(0, from)];
      let done = 0;
      while (removed.length < limit && done < order.length) {
        const step = Math.min(SWEEP_STEP, limit - removed.length);
        const reply = (await this.#transport.runOn(target, this.#scripts.sweep, [
          String(now),
          String(step),
          done === 0 ? '1' : '0',
          notice ? '1' : '0',
          ...order.slice(done),
        ])) as Reply[];
        done += Number(reply[0]);
        for (let i = 1; i + 2 < reply.length; i += 3) {
          removed.push({ id: asString(reply[i]), subject: asString(reply[i + 2]) === '1' ? asString(reply[i + 1]) : null });
        }
      }
      this.#sweptTo.set(first, (from + done) % target.indexes.length);
      // Every call heals its slice on every node, past the limit too: see "Healing".
      const healing = target.indexes.filter((key) => heal.has(key));
      if (healing.length > 0) await this.#transport.runOn(target, this.#scripts.heal, [String(now), ...healing]);
    }
    return removed;
  }

  /** The next `HEAL_SHARDS` expiry indexes of this instance's round robin. */
  #healSlice(): Set<string> {
    const keys = this.#keys.expiryIndexes;
    const start = this.#healNext;
    this.#healNext = (start + HEAL_SHARDS) % keys.length;
    const slice = new Set<string>();
    for (let i = 0; i < HEAL_SHARDS; i++) slice.add(keys[(start + i) % keys.length] as string);
    return slice;
  }
}
