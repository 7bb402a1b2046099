#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidOptionError } from '../core/index.js';
import { keysCommand } from './keys.js';

const USAGE = `usage: tessera <command>

commands:
  keys generate [keyId]   print a new encryption key (keyId:base64key) for TESSERA_ENCRYPTION_KEYS`;

export function main(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): number {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'keys':
        return keysCommand(rest, out);
      case undefined:
      case 'help':
      case '--help':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        err(`unknown command: ${command}\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof InvalidOptionError) {
      err(`tessera: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

// Run only as the `tessera` binary (npm links it, so compare real paths), not when imported.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
