#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidOptionError } from '../core/index.js';
import type { Command } from './command.js';
import { keysCommand } from './keys.js';

/** Every command, by the name typed after `tessera`: a new command is a file and a row here. */
const COMMANDS: Readonly<Record<string, Command>> = Object.freeze({
  keys: keysCommand,
});

const USAGE = `usage: tessera <command>

commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name} ${command.usage}`)
  .join('\n')}`;

export async function main(
  argv: string[],
  out: (line: string) => void = console.log,
  err: (line: string) => void = console.error,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help') {
    out(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    err(`unknown command: ${name}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command.run(rest, out, err);
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
  process.exitCode = await main(process.argv.slice(2));
}
