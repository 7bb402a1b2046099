/**
 * The Lua side of the Redis store. Each script is one atomic step and one round trip; together
 * they implement `core/expiry.ts` and `core/record-ops.ts` (touch rule, expiry formula, change-set
 * order; a subject's sessions ordered by createdAt, then id) exactly.
 */
export { APPLY, INCREMENT } from './apply.js';
export { compileScripts, type Script, type ScriptName, type Scripts } from './compile.js';
export { CREATE, DELETE, SUPERSEDED } from './create-delete.js';
export { COUNT_ALL, QUERY, QUERY_BUDGET } from './expiry-index.js';
export { SCRIPT_FLAGS, withShebang, type ScriptFlag } from './flags.js';
export { COUNT_WALK, EXPIRED_WALK, prelude } from './fragments.js';
export { LOAD } from './load.js';
export { HINT_MISSING, NOTICE_ADD, NOTICE_CLAIM, NOTICE_COUNT, NOTICE_DEFER, NOTICE_OLDEST, NOTICE_REMOVE } from './outbox.js';
export { COUNT_SUBJECT, DROP, LIST, SCAN_BUDGET, SCAN_SUBJECT, TRIM } from './subject-index.js';
export { HEAL, HEAL_SHARDS, SWEEP, SWEEP_STEP } from './sweep.js';
export { WINDOW_COUNT } from './window.js';
