import { generateKey, InvalidOptionError } from '../core/index.js';
import type { Command, Output } from './command.js';
import { help, parse, printJson } from './options.js';

const HELP = `usage: tessera keys generate [keyId] [--json]

Prints a new 32-byte encryption key as keyId:base64key, for TESSERA_ENCRYPTION_KEYS (the first key
of that comma-separated list encrypts; the others still decrypt, for rotation). Needs no store.`;

/** `tessera keys generate [keyId]`: prints a new 32-byte key as keyId:base64key. */
export const keysCommand: Command = {
  usage: 'generate [keyId]        print a new encryption key (keyId:base64key) for TESSERA_ENCRYPTION_KEYS',
  run: runKeys,
};

function runKeys(args: string[], out: Output): number {
  const parsed = parse(args, {});
  if (parsed.help) return help(out, HELP);
  const [action, id, extra] = parsed.positionals;
  if (action !== 'generate' || extra !== undefined) throw new InvalidOptionError(`keys: expected generate [keyId]\n\n${HELP}`);
  const key = generateKey(id);
  if (parsed.json) printJson(out, { key });
  else out(key);
  return 0;
}
