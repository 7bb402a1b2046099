import { generateKey } from '../core/index.js';

/** `tessera keys generate [keyId]`: prints a new 32-byte key as keyId:base64key. */
export function keysCommand(args: string[], out: (line: string) => void): number {
  const [action, id] = args;
  if (action !== 'generate') {
    out('usage: tessera keys generate [keyId]');
    return 2;
  }
  out(generateKey(id));
  return 0;
}
