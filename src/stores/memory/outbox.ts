import type { SessionNotice, SessionOutbox } from '../../store-kit/index.js';
import { MinHeap } from './min-heap.js';

/** Stale heap entries tolerated beyond one per notice before a heap is rebuilt. */
const COMPACT_SLACK = 1024;

interface Held {
  notice: SessionNotice;
  /** When it is next due: recorded, deferred, or the end of its lease. */
  due: number;
}

/**
 * The memory store's notices. Claims walk a min-heap on due time and trims one on `at`, never the
 * whole queue; an entry goes stale when its notice is removed or moves, and is dropped when it
 * reaches the top. Its size is what the delivery worker's `trimNotices` lets it be.
 */
export class MemoryOutbox implements SessionOutbox {
  readonly #held = new Map<string, Held>();
  readonly #byDue = new MinHeap<string>();
  readonly #byAt = new MinHeap<string>();

  /** @internal Entries in both heaps, stale ones included (for tests of their bound). */
  get heapSize(): number {
    return this.#byDue.size + this.#byAt.size;
  }

  /** Records notices due at `due` (each at its own `at` when not given); ids already held are left as they are. */
  record(notices: readonly Omit<SessionNotice, 'attempts'>[], due?: number): void {
    for (const notice of notices) {
      if (this.#held.has(notice.id)) continue;
      const held = { notice: { ...notice, attempts: 0 }, due: due ?? notice.at };
      this.#held.set(notice.id, held);
      this.#push(this.#byDue, held.due, notice.id);
      this.#push(this.#byAt, notice.at, notice.id);
    }
  }

  async addNotices(notices: readonly Omit<SessionNotice, 'attempts'>[]): Promise<void> {
    this.record(notices);
  }

  async claimNotices(options: { now: number; limit: number; leaseUntil: number }): Promise<SessionNotice[]> {
    const { now, limit, leaseUntil } = options;
    const claimed: SessionNotice[] = [];
    const seen = new Set<string>();
    const requeue: string[] = [];
    while (claimed.length < limit) {
      const top = this.#byDue.peekKey();
      if (top === undefined || top > now) break;
      const { key, value: id } = this.#byDue.pop() as { key: number; value: string };
      const held = this.#held.get(id);
      if (held === undefined || held.due !== key) continue;
      // A notice deferred to the time it already had is in the heap twice: claimed once.
      if (seen.has(id)) continue;
      seen.add(id);
      held.due = leaseUntil;
      held.notice.attempts++;
      requeue.push(id);
      claimed.push({ ...held.notice });
    }
    // Pushed back after the walk, so a lease that ends at or before `now` is not claimed again by this call.
    for (const id of requeue) this.#push(this.#byDue, leaseUntil, id);
    return claimed;
  }

  async removeNotices(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#held.delete(id);
  }

  async deferNotice(id: string, dueAt: number): Promise<void> {
    const held = this.#held.get(id);
    if (held === undefined || held.due === dueAt) return;
    held.due = dueAt;
    this.#push(this.#byDue, dueAt, id);
  }

  async countNotices(): Promise<number> {
    return this.#held.size;
  }

  async trimNotices(max: number): Promise<number> {
    let removed = 0;
    while (this.#held.size > max) {
      const top = this.#byAt.pop();
      if (top === undefined) break;
      const held = this.#held.get(top.value);
      if (held === undefined || held.notice.at !== top.key) continue;
      this.#held.delete(top.value);
      removed++;
    }
    return removed;
  }

  clear(): void {
    this.#held.clear();
    this.#byDue.clear();
    this.#byAt.clear();
  }

  /** Removed and moved notices leave entries behind: past twice the notices held, a heap is rebuilt from them. */
  #push(heap: MinHeap<string>, key: number, id: string): void {
    heap.push(key, id);
    if (heap.size <= 2 * this.#held.size + COMPACT_SLACK) return;
    heap.clear();
    for (const [held, { notice, due }] of this.#held) heap.push(heap === this.#byDue ? due : notice.at, held);
  }
}
