/** `tessera stats [--subject S]`: live sessions, counted by the store's index (no scan). */
import { InvalidOptionError } from '../core/index.js';
import type { Command, Output } from './command.js';
import { help, parse, printJson, storeTarget, withStore } from './options.js';

const HELP = `usage: tessera stats [--subject S] [--store URL] [--json]

Prints the number of live sessions, overall or of one subject.`;

/** `tessera stats`. */
export const statsCommand: Command = {
  usage: '[--subject S]          live sessions, overall or of one user',
  run: runStats,
};

async function runStats(args: string[], out: Output, _err: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parse(args, { subject: { type: 'string' } });
  if (parsed.help) return help(out, HELP);
  if (parsed.positionals.length > 0) throw new InvalidOptionError(`stats takes no argument, got ${parsed.positionals[0]}`);
  const subject = typeof parsed.values.subject === 'string' ? parsed.values.subject : undefined;
  const live = await withStore(storeTarget(parsed, env), env, (manager) => manager.count(subject !== undefined ? { subject } : {}));
  if (parsed.json) printJson(out, subject !== undefined ? { live, subject } : { live });
  else out(subject !== undefined ? `live sessions of ${subject}: ${live}` : `live sessions: ${live}`);
  return 0;
}
