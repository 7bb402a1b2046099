import { generateKey } from '../core/index.js';
import type { Command } from './command.js';

/** `tessera keys generate [keyId]`: prints a new 32-byte key as keyId:base64key. */
export const keysCommand: Command = {
  usage: 'generate [keyId]        print a new encryption key (keyId:base64key) for TESSERA_ENCRYPTION_KEYS',
  run: runKeys,
};

function runKeys(args: string[], out: (line: string) => void): number {
  const [action, id] = args;
  if (action !== 'generate') {
    out('usage: tessera keys generate [keyId]');
    return 2;
  }
  out(generateKey(id));
  return 0;
}
