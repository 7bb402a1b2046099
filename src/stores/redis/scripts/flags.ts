/**
 * Every script starts with a Redis 7 shebang that declares its flags. Without one, Redis checks
 * `maxmemory` only at a script's first write, and a script whose first write removes nothing (as
 * CREATE's trim of the subject index did) was let through however full Redis was; with one, a
 * script that may grow memory is refused before it starts.
 */
export type ScriptFlag = 'allow-oom' | 'no-writes' | 'allow-cross-slot-keys';

/**
 * Each script's flags. Scripts that only remove entries, rewrite fields in place (a touch) or read
 * run when Redis is out of memory (`allow-oom`), so that users can still be served, logged out and
 * swept; create and apply are refused then, before any write, and the store reports
 * `StoreUnavailableError`. QUERY only reads. A window count (a failed attempt counted) is refused
 * too: it adds a key. The ending scripts record their notices even then (each frees a session
 * far larger than its notice); addNotices is refused, and a claim only rewrites in place. A notice
 * count or trim may rebuild the set of shards that hold notices (`oh`), so it is not `no-writes`.
 */
export const SCRIPT_FLAGS = {
  load: ['allow-oom'],
  apply: [],
  increment: [],
  create: [],
  delete: ['allow-oom'],
  superseded: ['no-writes'],
  list: ['allow-oom'],
  drop: ['allow-oom'],
  countSubject: ['allow-oom'],
  trim: ['allow-oom'],
  scanSubject: ['allow-oom'],
  count: ['allow-oom'],
  sweep: ['allow-oom'],
  heal: ['allow-oom'],
  query: ['no-writes'],
  windowCount: [],
  noticeClaim: ['allow-oom'],
  noticePeek: ['no-writes'],
  noticeCount: ['allow-oom'],
  noticeOldest: ['allow-oom'],
  noticeAdd: [],
  noticeRemove: ['allow-oom'],
  noticeDefer: ['allow-oom'],
} as const satisfies Record<string, readonly ScriptFlag[]>;

/** A script's text: its shebang with flags, then its body. */
export function withShebang(body: string, flags: readonly ScriptFlag[]): string {
  return `#!lua${flags.length > 0 ? ` flags=${flags.join(',')}` : ''}\n${body}`;
}
