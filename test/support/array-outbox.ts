// An in-memory SessionOutbox that keeps the contract of src/core/outbox.ts in the plainest way (a
// list walked on every call), with counters of its calls: the delivery worker's own tests use it to
// see what the worker asks of an outbox. The stores' outboxes are tested by the conformance suite
// and test/webhooks-stores.test.ts.
import type { SessionNotice, SessionOutbox } from '../../src/core/index.js';

interface Held {
  notice: SessionNotice;
  dueAt: number;
}

export class ArrayOutbox implements SessionOutbox {
  readonly held: Held[] = [];
  /** Calls made, for tests that count claims. */
  claims = 0;

  /** Ending notices: recorded with `at` as their due time, like the ending calls do. */
  record(notices: readonly Omit<SessionNotice, 'attempts'>[]): void {
    for (const notice of notices) {
      if (this.held.some((h) => h.notice.id === notice.id)) continue;
      this.held.push({ notice: { ...notice, attempts: 0 }, dueAt: notice.at });
    }
  }

  async addNotices(notices: readonly Omit<SessionNotice, 'attempts'>[]): Promise<void> {
    this.record(notices);
  }

  async claimNotices({ now, limit, leaseUntil }: { now: number; limit: number; leaseUntil: number }): Promise<SessionNotice[]> {
    this.claims++;
    const due = this.held
      .filter((h) => h.dueAt <= now)
      .sort((a, b) => a.dueAt - b.dueAt)
      .slice(0, limit);
    for (const h of due) {
      h.dueAt = leaseUntil;
      h.notice.attempts++;
    }
    return due.map((h) => ({ ...h.notice }));
  }

  async removeNotices(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const index = this.held.findIndex((h) => h.notice.id === id);
      if (index >= 0) this.held.splice(index, 1);
    }
  }

  async deferNotice(id: string, dueAt: number): Promise<void> {
    const held = this.held.find((h) => h.notice.id === id);
    if (held !== undefined) held.dueAt = dueAt;
  }

  async countNotices(): Promise<number> {
    return this.held.length;
  }

  async trimNotices(max: number): Promise<number> {
    if (this.held.length <= max) return 0;
    const newestFirst = [...this.held].sort((a, b) => b.notice.at - a.notice.at);
    const drop = new Set(newestFirst.slice(max));
    const before = this.held.length;
    for (let i = this.held.length - 1; i >= 0; i--) if (drop.has(this.held[i] as Held)) this.held.splice(i, 1);
    return before - this.held.length;
  }
}
