#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidOptionError, TesseraError } from '../core/index.js';
import type { Command, Output } from './command.js';
import { cleanupCommand } from './cleanup.js';
import { keysCommand } from './keys.js';
import { migrateCommand } from './migrate.js';
import { sessionsCommand } from './sessions.js';
import { statsCommand } from './stats.js';

/** Every command, by the name typed after `tessera`: a new command is a file and a row here. */
const COMMANDS: Readonly<Record<string, Command>> = Object.freeze({
  sessions: sessionsCommand,
  stats: statsCommand,
  cleanup: cleanupCommand,
  migrate: migrateCommand,
  keys: keysCommand,
});

const USAGE = `usage: tessera <command> [--store URL] [--json] [--help]

commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => {
    // A usage is "arguments   description": the descriptions line up in one column.
    const [args = '', description = ''] = command.usage.trimEnd().split(/\s{2,}/);
    return `  ${`${name} ${args}`.padEnd(44)}${description}`;
  })
  .join('\n')}

The store is --store URL or TESSERA_STORE; TESSERA_ENCRYPTION_KEYS where data is encrypted.
Exit status: 0 done, 1 failed (the reason on stderr), 2 usage error.`;

/** An error as one line: drivers' messages may span lines, and a stack trace helps no operator. */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // tessera's own errors name their cause already; a driver's may need the one underneath.
  const cause = !(error instanceof TesseraError) && error instanceof Error && error.cause instanceof Error ? error.cause.message : '';
  const text = cause !== '' && !message.includes(cause) ? `${message} (${cause})` : message;
  return text.replace(/\s*\n\s*/g, ' ').trim() || 'failed';
}

export async function main(
  argv: string[],
  out: Output = console.log,
  err: Output = console.error,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    (name === undefined ? err : out)(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    err(`unknown command: ${name}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command.run(rest, out, err, env);
  } catch (error) {
    if (error instanceof InvalidOptionError) {
      err(`tessera: ${error.message}`);
      return 2;
    }
    err(`tessera: ${oneLine(error)}`);
    return 1;
  }
}

// Run only as the `tessera` binary (npm links it, so compare real paths), not when imported.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const code = await main(process.argv.slice(2));
  // A driver that never connected can keep a reconnect timer alive: the answer is given, so go.
  process.exit(code);
}
