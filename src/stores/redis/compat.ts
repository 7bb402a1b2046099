/**
 * What the Redis store reports when a server cannot run its scripts. Every script starts with a
 * Redis 7 shebang (`#!lua flags=...`, see scripts/flags.ts). Redis 6 and older compile a script as the
 * body of a Lua function, so the shebang is a syntax error there, and the server's reply ("Error
 * compiling script ... unexpected symbol near '#'") says nothing about why.
 */
import { InvalidOptionError } from '../../store-kit/index.js';

/** The reply to a script sent with EVAL, as the error the caller gets. */
export function scriptNotCompiled(reply: Error): Error {
  if (!reply.message.includes('Error compiling script')) return reply;
  return new InvalidOptionError(
    `the Redis server could not compile tessera's scripts, which need Redis 7.0 or newer, or Valkey (the server said: ${reply.message.trim()})`,
  );
}
