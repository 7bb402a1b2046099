import { compareCreation, type CreationKey } from '../../store-kit/index.js';

/**
 * A subject's session ids kept in creation order (`createdAt`, then id), so that a page of them,
 * the oldest few or the newest few are found by a binary search and a short walk, never by sorting
 * all of the subject's sessions.
 */
export class ByCreation {
  readonly #keys: CreationKey[] = [];

  get size(): number {
    return this.#keys.length;
  }

  add(key: CreationKey): void {
    this.#keys.splice(this.#position(key), 0, { createdAt: key.createdAt, id: key.id });
  }

  delete(key: CreationKey): void {
    const at = this.#position(key);
    const found = this.#keys[at];
    if (found !== undefined && compareCreation(found, key) === 0) this.#keys.splice(at, 1);
  }

  /** Entries after `cursor` (all when null), oldest first. The list must not change during the walk. */
  *after(cursor: CreationKey | null): Generator<CreationKey> {
    let at = cursor === null ? 0 : this.#position(cursor);
    const found = this.#keys[at];
    if (cursor !== null && found !== undefined && compareCreation(found, cursor) === 0) at++;
    for (; at < this.#keys.length; at++) yield this.#keys[at] as CreationKey;
  }

  /** Entries newest first. The list must not change during the walk. */
  *newestFirst(): Generator<CreationKey> {
    for (let at = this.#keys.length - 1; at >= 0; at--) yield this.#keys[at] as CreationKey;
  }

  /** Where `key` is, or would be inserted. */
  #position(key: CreationKey): number {
    let low = 0;
    let high = this.#keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareCreation(this.#keys[middle] as CreationKey, key) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
