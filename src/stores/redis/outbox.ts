/**
 * The Redis store's outbox (see "The outbox" in docs/stores/redis.md): each shard holds the
 * notices of its sessions, so the script that ends a session records its notice; claims, counts
 * and trims walk every shard of each node in one script per node.
 */
import {
  ID_SHARDS,
  SHARD_LENGTH,
  isSessionId,
  noticeId,
  type EndReason,
  type NoticeType,
  type SessionNotice,
  type SessionOutbox,
} from '../../store-kit/index.js';
import type { RedisKeys } from './keys.js';
import { asString, type Reply } from './reply.js';
import { HINT_MISSING, type Script, type Scripts } from './scripts/index.js';
import { isReply, type RedisTransport, type Target } from './transport.js';

/** A notice's body as the scripts store it (see `ended` in scripts/fragments.ts). */
interface Body {
  t: NoticeType;
  s: string;
  u: string | null;
  r: EndReason | null;
  a: string;
  n: number;
}

function decode(text: string): SessionNotice {
  const body = JSON.parse(text) as Body;
  return {
    id: noticeId(body.t, body.s),
    type: body.t,
    sessionId: body.s,
    subject: body.u,
    reason: body.r,
    at: Number(body.a),
    attempts: body.n,
  };
}

/**
 * The shard a session's notices live in: the session's own, so that the script that ends it
 * records them there. A session id of another form (`addNotices` takes any) gets one of the
 * shards by a hash of it, since the claims walk only those.
 */
function shardOfSession(sessionId: string): string {
  if (isSessionId(sessionId)) return sessionId.slice(0, SHARD_LENGTH);
  let hash = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) hash = Math.imul(hash ^ sessionId.charCodeAt(i), 0x01000193) >>> 0;
  return ID_SHARDS[hash % ID_SHARDS.length] as string;
}

/** The shard a notice id (`{type}:{sessionId}`) lives in, or null for an id no notice has. */
function shardOf(id: string): string | null {
  const colon = id.indexOf(':');
  return colon < 0 ? null : shardOfSession(id.slice(colon + 1));
}

/** A target's shards as the outbox scripts take them: two characters each, from its expiry index keys (`P x:{<shard>}`). */
function shardList(target: Target): string {
  let list = '';
  for (const key of target.indexes) list += key.slice(-1 - SHARD_LENGTH, -1);
  return list;
}

/** Groups `items` by the shard `shard` names, leaving out those it names none for. */
function byShard<T>(items: readonly T[], shard: (item: T) => string | null): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = shard(item);
    if (key === null) continue;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

export class RedisOutbox implements SessionOutbox {
  readonly #transport: RedisTransport;
  readonly #keys: RedisKeys;
  readonly #scripts: Scripts;
  readonly #targets: () => Promise<Target[]>;

  constructor(transport: RedisTransport, keys: RedisKeys, scripts: Scripts, targets: () => Promise<Target[]>) {
    this.#transport = transport;
    this.#keys = keys;
    this.#scripts = scripts;
    this.#targets = targets;
  }

  /**
   * An admin script of the outbox on one node: on a single node first without the node's shards
   * (the script reads those that hold notices from `oh`), again with them when `oh` is missing.
   */
  async #walk(target: Target, script: Script, args: string[]): Promise<Reply> {
    if (this.#transport.cluster) return this.#transport.runOn(target, script, [...args, shardList(target)]);
    try {
      return await this.#transport.runOn(target, script, args);
    } catch (error) {
      if (!(isReply(error) && error.message.includes(HINT_MISSING.slice(4)))) throw error;
      return this.#transport.runOn(target, script, [...args, shardList(target)]);
    }
  }

  /** One NOTICE_ADD script per shard; each notice is due at its `at`. */
  async addNotices(notices: readonly Omit<SessionNotice, 'attempts'>[]): Promise<void> {
    const groups = byShard(notices, (notice) => shardOfSession(notice.sessionId));
    await Promise.all(
      [...groups].map(([shard, group]) => {
        const args: string[] = [];
        for (const n of group) {
          const body: Body = { t: n.type, s: n.sessionId, u: n.subject, r: n.reason, a: String(n.at), n: 0 };
          args.push(noticeId(n.type, n.sessionId), String(n.at), String(n.at), JSON.stringify(body));
        }
        return this.#transport.run(this.#scripts.noticeAdd, this.#keys.outbox(shard), args);
      }),
    );
  }

  /**
   * One NOTICE_CLAIM script on a single node. On a cluster each node first says when its earliest
   * `limit` notices are due (NOTICE_CLAIM's look ahead, which writes nothing), so that the limit is
   * shared among the nodes by due time; then each claims its share.
   */
  async claimNotices(options: { now: number; limit: number; leaseUntil: number }): Promise<SessionNotice[]> {
    const { now, limit, leaseUntil } = options;
    if (!Number.isSafeInteger(limit) || limit < 1) return [];
    const targets = await this.#targets();
    const args = (n: number) => [String(now), String(n), String(leaseUntil)];
    let shares = targets.map(() => limit);
    if (targets.length > 1) {
      const due = await Promise.all(targets.map((target) => this.#walk(target, this.#scripts.noticePeek, args(limit))));
      const all = due.flatMap((reply, node) => (reply as Reply[]).map((score) => ({ due: Number(asString(score)), node })));
      shares = targets.map(() => 0);
      for (const entry of all.sort((x, y) => x.due - y.due).slice(0, limit)) shares[entry.node] = (shares[entry.node] as number) + 1;
    }
    const claimed = await Promise.all(
      targets.map((target, i) => (shares[i] === 0 ? [] : this.#walk(target, this.#scripts.noticeClaim, args(shares[i] as number)))),
    );
    const notices: Array<{ due: number; notice: SessionNotice }> = [];
    for (const reply of claimed as Reply[][]) {
      for (let i = 0; i + 1 < reply.length; i += 2)
        notices.push({ due: Number(asString(reply[i])), notice: decode(asString(reply[i + 1])) });
    }
    // Each node's come in due order; the nodes' together are put in it too.
    if (targets.length > 1) notices.sort((x, y) => x.due - y.due);
    return notices.map((entry) => entry.notice);
  }

  /** One NOTICE_REMOVE script per shard. */
  async removeNotices(ids: readonly string[]): Promise<void> {
    await this.#remove(ids);
  }

  async #remove(ids: readonly string[]): Promise<number> {
    const removed = await Promise.all(
      [...byShard(ids, shardOf)].map(([shard, group]) => this.#transport.run(this.#scripts.noticeRemove, this.#keys.outbox(shard), group)),
    );
    return removed.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  /** One NOTICE_DEFER script in the notice's shard. */
  async deferNotice(id: string, dueAt: number): Promise<void> {
    const shard = shardOf(id);
    if (shard === null) return;
    const [due] = this.#keys.outbox(shard);
    await this.#transport.run(this.#scripts.noticeDefer, [due], [id, String(dueAt)]);
  }

  /** One NOTICE_COUNT script per node. */
  async countNotices(): Promise<number> {
    const targets = await this.#targets();
    const counts = await Promise.all(targets.map((target) => this.#walk(target, this.#scripts.noticeCount, [])));
    return counts.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  /**
   * A count, then (only when over `max`) each node's oldest notices beyond it (NOTICE_OLDEST), of
   * which the oldest over all nodes are removed. A notice that another call removed in between is
   * not counted twice.
   */
  async trimNotices(max: number): Promise<number> {
    const excess = (await this.countNotices()) - Math.max(0, max);
    if (excess <= 0) return 0;
    const targets = await this.#targets();
    const replies = await Promise.all(targets.map((target) => this.#walk(target, this.#scripts.noticeOldest, [String(excess)])));
    const oldest: Array<{ id: string; at: number }> = [];
    for (const reply of replies as Reply[][]) {
      for (let i = 0; i + 1 < reply.length; i += 2) oldest.push({ id: asString(reply[i]), at: Number(asString(reply[i + 1])) });
    }
    oldest.sort((x, y) => x.at - y.at || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    return this.#remove(oldest.slice(0, excess).map((entry) => entry.id));
  }
}
