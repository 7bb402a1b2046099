/**
 * A subject's sessions, through its index (see "A subject's sessions, a page at a time" in
 * docs/stores/redis.md): listing, revoking, trimming, counting and querying them, in scripts that
 * each walk a bounded part of the index, in the subject's slot.
 */
import {
  SHARD_LENGTH,
  pageOf,
  unkeyedPartition,
  type NoticeRequest,
  type RemovedSession,
  type SessionPage,
  type SessionRecord,
} from '../../store-kit/index.js';
import { decodeHash } from './hash-codec.js';
import { keysOf, type RedisKeys, type SubjectIndexes } from './keys.js';
import { listCursor, parseListCursor } from './list-cursor.js';
import { asString, flatHash, type Reply } from './reply.js';
import { SCAN_BUDGET, type Scripts } from './scripts/index.js';
import type { RedisTransport } from './transport.js';

/** DROP's and TRIM's last arguments: the reason and time of the notices to record, or none. */
function noticeArgs(notice: NoticeRequest | undefined): [string, string] {
  return notice === undefined ? ['', ''] : [notice.reason, String(notice.at)];
}

export class SubjectSessions {
  readonly #transport: RedisTransport;
  readonly #keys: RedisKeys;
  readonly #scripts: Scripts;
  /** The subject's keyed partition (`RedisStore.subjectPartition`). */
  readonly #partition: (subject: string) => Promise<string>;

  constructor(transport: RedisTransport, keys: RedisKeys, scripts: Scripts, partition: (subject: string) => Promise<string>) {
    this.#transport = transport;
    this.#keys = keys;
    this.#scripts = scripts;
    this.#partition = partition;
  }

  /**
   * One LIST script per page (two on a cluster for the page where 0.1's index, in another slot,
   * gives way to the keyed one): the cursor names the index, the score (createdAt) and the id of
   * the last session listed, and the page starts right after it, however many sessions precede.
   */
  async list(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage> {
    const { now, limit } = options;
    const after = options.cursor == null ? null : parseListCursor(options.cursor);
    const indexes = await this.#indexes(subject);
    const start =
      after === null
        ? 0
        : Math.max(
            0,
            indexes.pairs.findIndex((pair) => pair.legacy === after.legacy),
          );
    // One more than the page, to know whether another follows.
    const want = limit + 1;
    const found: Array<{ pair: number; score: string; record: SessionRecord }> = [];
    for (const group of indexes.groups) {
      const first = Math.max(group[0] as number, start);
      if (found.length >= want || first > (group[group.length - 1] as number)) continue;
      const resume = after !== null && first === start;
      const reply = (await this.#transport.run(this.#scripts.list, keysOf(indexes, group), [
        subject,
        String(now),
        String(first - (group[0] as number) + 1),
        resume ? after.score : '',
        resume ? after.id : '',
        String(want - found.length),
      ])) as Reply[];
      for (let i = 0; i + 3 < reply.length; i += 4) {
        const record = decodeHash(asString(reply[i + 2]), reply[i + 3]);
        found.push({ pair: group[Number(reply[i]) - 1] as number, score: asString(reply[i + 1]), record });
      }
    }
    const { items, nextCursor } = pageOf(found, limit, (last) =>
      listCursor(indexes.pairs[last.pair]?.legacy === true, last.score, last.record.id),
    );
    return { sessions: items.map((entry) => entry.record), nextCursor };
  }

  /** Up to `limit` in one DROP script (two on a cluster where 0.1's index is in another slot). */
  async drop(subject: string, options: { now: number; except?: string; limit: number; notice?: NoticeRequest }): Promise<RemovedSession[]> {
    const indexes = await this.#indexes(subject);
    const removed: RemovedSession[] = [];
    for (const group of indexes.groups) {
      if (removed.length >= options.limit) break;
      const reply = (await this.#transport.run(this.#scripts.drop, keysOf(indexes, group), [
        subject,
        String(options.now),
        options.except ?? '',
        String(options.limit - removed.length),
        ...noticeArgs(options.notice),
      ])) as Reply[];
      for (const id of reply) removed.push({ id: asString(id), subject });
    }
    return removed;
  }

  /**
   * One TRIM script, in the subject's slot. 0.1's sessions (see "Partition key") are trimmed first,
   * being the oldest, where the same script reaches their index: always on a single node, on a
   * cluster only when it shares the keyed index's slot.
   */
  async trim(
    subject: string,
    options: { now: number; max: number; keep: string; batch: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    const { now, max, keep, batch } = options;
    if (!Number.isSafeInteger(max) || !Number.isSafeInteger(batch) || batch < 1) return [];
    const indexes = await this.#indexes(subject);
    const group = indexes.groups[indexes.groups.length - 1] as number[];
    const reply = (await this.#transport.run(this.#scripts.trim, keysOf(indexes, group), [
      subject,
      String(now),
      String(max),
      keep,
      String(batch),
      ...noticeArgs(options.notice),
    ])) as Reply[];
    return reply.map((id) => ({ id: asString(id), subject }));
  }

  /** count({ subject }): one COUNT_SUBJECT script per slot the subject's indexes are in. */
  async count(subject: string, now: number): Promise<number> {
    const indexes = await this.#indexes(subject);
    const replies = await Promise.all(
      indexes.groups.map((group) => this.#transport.run(this.#scripts.countSubject, keysOf(indexes, group), [subject, String(now)])),
    );
    return replies.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  /**
   * query({ subject }): the live sessions with the `wanted` smallest ids past `cursor`. A subject
   * index is ordered by createdAt, not id, so it is read whole, but in SCAN_SUBJECT steps of
   * `SCAN_BUDGET` entries, so that the server serves others between them; then one HGETALL each.
   */
  async query(
    subject: string,
    now: number,
    cursor: string,
    displayNamePrefix: string | undefined,
    wanted: number,
  ): Promise<SessionRecord[]> {
    const indexes = await this.#indexes(subject);
    let smallest: string[] = [];
    for (const pair of indexes.pairs) {
      let from: [string, string] = ['', ''];
      for (;;) {
        const reply = (await this.#transport.run(this.#scripts.scanSubject, pair.keys, [
          subject,
          String(now),
          ...from,
          String(SCAN_BUDGET),
          cursor,
          displayNamePrefix === undefined ? '0' : '1',
          displayNamePrefix ?? '',
        ])) as Reply[];
        for (let i = 2; i < reply.length; i++) smallest.push(asString(reply[i]));
        // Ids are ASCII, so the default order is byte order.
        if (smallest.length > wanted) smallest = smallest.sort().slice(0, wanted);
        const score = asString(reply[0]);
        if (score === '') break;
        from = [score, asString(reply[1])];
      }
    }
    const records = await Promise.all(
      smallest.map(async (id) => {
        const key = this.#keys.session(id);
        const flat = flatHash(await this.#transport.send(key, ['HGETALL', key]));
        return flat.length === 0 ? null : decodeHash(id, flat);
      }),
    );
    return records.filter((record): record is SessionRecord => record !== null);
  }

  /** A subject's indexes: its keyed partition's, and 0.1's unkeyed one (see "Partition key" in docs/stores/redis.md). */
  async #indexes(subject: string): Promise<SubjectIndexes> {
    const keyed = (await this.#partition(subject)).slice(0, SHARD_LENGTH);
    return this.#keys.subjectIndexes(subject, keyed, unkeyedPartition(subject).slice(0, SHARD_LENGTH), this.#transport.cluster);
  }
}
