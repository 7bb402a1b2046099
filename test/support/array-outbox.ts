// An in-memory SessionOutbox that keeps the contract of src/core/outbox.ts in the plainest way
// (a list walked on every call), for the webhook tests until the memory store has its own; and a
// MemoryStore that records its endings' notices into one.
import type { NoticeRequest, RemovedSession, SessionNotice, SessionOutbox } from '../../src/core/index.js';
import { endedNotices } from '../../src/core/outbox.js';
import { defineCapabilities } from '../../src/store-kit/index.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

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

/**
 * A MemoryStore with an outbox: each ending records its notices just after the removal (the same
 * turn of the event loop, so nothing comes between them in one process). An expired session's
 * notice takes the sweep's `now` as its time, since RemovedSession does not carry `expiresAt`.
 */
export class OutboxMemoryStore extends MemoryStore implements SessionOutbox {
  override readonly capabilities = defineCapabilities({ index: true, invalidation: 'everywhere', outbox: true });
  readonly outbox = new ArrayOutbox();

  #notice(removed: readonly RemovedSession[], notice: NoticeRequest | undefined): void {
    if (notice !== undefined) this.outbox.record(endedNotices(removed, notice));
  }

  override async delete(id: string, options?: { notice?: NoticeRequest }): Promise<RemovedSession | null> {
    const removed = await super.delete(id);
    if (removed !== null) this.#notice([removed], options?.notice);
    return removed;
  }

  override async trimSubject(
    subject: string,
    options: { now: number; max: number; keep: string; batch: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    const removed = await super.trimSubject(subject, options);
    this.#notice(removed, options.notice);
    return removed;
  }

  override async deleteBySubject(
    subject: string,
    options: { now: number; except?: string; limit: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    const removed = await super.deleteBySubject(subject, options);
    this.#notice(removed, options.notice);
    return removed;
  }

  override async deleteExpired(now: number, limit: number, options?: { notice?: boolean }): Promise<RemovedSession[]> {
    const removed = await super.deleteExpired(now, limit);
    if (options?.notice === true) this.#notice(removed, { reason: 'expired', at: now });
    return removed;
  }

  addNotices(notices: readonly Omit<SessionNotice, 'attempts'>[]): Promise<void> {
    return this.outbox.addNotices(notices);
  }
  claimNotices(options: { now: number; limit: number; leaseUntil: number }): Promise<SessionNotice[]> {
    return this.outbox.claimNotices(options);
  }
  removeNotices(ids: readonly string[]): Promise<void> {
    return this.outbox.removeNotices(ids);
  }
  deferNotice(id: string, dueAt: number): Promise<void> {
    return this.outbox.deferNotice(id, dueAt);
  }
  countNotices(): Promise<number> {
    return this.outbox.countNotices();
  }
  trimNotices(max: number): Promise<number> {
    return this.outbox.trimNotices(max);
  }
}
