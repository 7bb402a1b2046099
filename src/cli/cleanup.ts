/** `tessera cleanup`: one sweep of expired sessions, as the app's manager runs on its timer. */
import { InvalidOptionError, type SessionEvent } from '../core/index.js';
import type { Command, Output } from './command.js';
import { help, parse, printJson, storeTarget, withStore } from './options.js';

const HELP = `usage: tessera cleanup [--store URL] [--json]

Removes expired sessions once (the app's manager does this on a timer) and prints what it removed:
each session's id and subject. An expired session is never served either way; this frees the space.`;

/** `tessera cleanup`. */
export const cleanupCommand: Command = {
  usage: '  remove expired sessions once; print what was removed',
  run: runCleanup,
};

async function runCleanup(args: string[], out: Output, _err: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parse(args, {});
  if (parsed.help) return help(out, HELP);
  if (parsed.positionals.length > 0) throw new InvalidOptionError(`cleanup takes no argument, got ${parsed.positionals[0]}`);
  const removed = await withStore(storeTarget(parsed, env), env, async (manager) => {
    const sessions: Array<{ id: string; subject: string | null }> = [];
    // The sweep reports each removal as an `expired` event: the same list the app would see.
    manager.on('expired', (event: Extract<SessionEvent, { type: 'expired' }>) => {
      sessions.push({ id: event.session.id, subject: event.session.subject });
    });
    await manager.sweep();
    return sessions;
  });
  if (parsed.json) printJson(out, { removed: removed.length, sessions: removed });
  else {
    for (const s of removed) out(`removed ${s.id}${s.subject !== null ? ` (${s.subject})` : ''}`);
    out(`removed ${removed.length} expired session(s)`);
  }
  return 0;
}
