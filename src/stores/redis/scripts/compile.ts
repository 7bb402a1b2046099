import { createHash } from 'node:crypto';
import { APPLY, INCREMENT } from './apply.js';
import { CREATE, DELETE, SUPERSEDED } from './create-delete.js';
import { COUNT_ALL, QUERY } from './expiry-index.js';
import { SCRIPT_FLAGS, withShebang, type ScriptFlag } from './flags.js';
import { prelude } from './fragments.js';
import { LOAD } from './load.js';
import { NOTICE_ADD, NOTICE_CLAIM, NOTICE_COUNT, NOTICE_DEFER, NOTICE_OLDEST, NOTICE_REMOVE } from './outbox.js';
import { COUNT_SUBJECT, DROP, LIST, SCAN_SUBJECT, TRIM } from './subject-index.js';
import { HEAL, SWEEP } from './sweep.js';
import { WINDOW_COUNT } from './window.js';

/** A script's text (with its shebang) and the digest EVALSHA names it by. */
export interface Script {
  text: string;
  sha: string;
}

export type ScriptName = keyof typeof SCRIPT_FLAGS;

/** One store's scripts, by name. */
export type Scripts = Readonly<Record<ScriptName, Script>>;

function script(body: string, flags: readonly ScriptFlag[]): Script {
  const text = withShebang(body, flags);
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

/**
 * Every script, as one store sends them. `cluster`: no `n` counter (see `prelude`), and the admin
 * scripts may span the slots of the node they run on; keyed scripts stay in one slot.
 * `retention`: the `expiredRetention` option, written into the text.
 */
export function compileScripts(cluster: boolean, retention: number): Scripts {
  const shared = prelude(!cluster, retention);
  const walk: ScriptFlag[] = cluster ? ['allow-cross-slot-keys'] : [];
  return {
    load: script(LOAD(shared), SCRIPT_FLAGS.load),
    apply: script(APPLY(shared), SCRIPT_FLAGS.apply),
    increment: script(INCREMENT, SCRIPT_FLAGS.increment),
    create: script(CREATE(shared), SCRIPT_FLAGS.create),
    delete: script(DELETE(shared), SCRIPT_FLAGS.delete),
    superseded: script(SUPERSEDED(shared), SCRIPT_FLAGS.superseded),
    list: script(LIST(shared), SCRIPT_FLAGS.list),
    drop: script(DROP(shared), SCRIPT_FLAGS.drop),
    countSubject: script(COUNT_SUBJECT(shared), SCRIPT_FLAGS.countSubject),
    trim: script(TRIM(shared), SCRIPT_FLAGS.trim),
    scanSubject: script(SCAN_SUBJECT(shared), SCRIPT_FLAGS.scanSubject),
    count: script(COUNT_ALL(shared), [...SCRIPT_FLAGS.count, ...walk]),
    sweep: script(SWEEP(shared), [...SCRIPT_FLAGS.sweep, ...walk]),
    heal: script(HEAL(shared), [...SCRIPT_FLAGS.heal, ...walk]),
    query: script(QUERY(shared), [...SCRIPT_FLAGS.query, ...walk]),
    windowCount: script(WINDOW_COUNT, SCRIPT_FLAGS.windowCount),
    noticeClaim: script(NOTICE_CLAIM(shared, cluster, true), [...SCRIPT_FLAGS.noticeClaim, ...walk]),
    noticePeek: script(NOTICE_CLAIM(shared, cluster, false), [...SCRIPT_FLAGS.noticePeek, ...walk]),
    noticeCount: script(NOTICE_COUNT(shared, cluster), [...SCRIPT_FLAGS.noticeCount, ...walk]),
    noticeOldest: script(NOTICE_OLDEST(shared, cluster), [...SCRIPT_FLAGS.noticeOldest, ...walk]),
    noticeAdd: script(NOTICE_ADD(shared), SCRIPT_FLAGS.noticeAdd),
    noticeRemove: script(NOTICE_REMOVE(shared), SCRIPT_FLAGS.noticeRemove),
    noticeDefer: script(NOTICE_DEFER(shared), SCRIPT_FLAGS.noticeDefer),
  };
}
