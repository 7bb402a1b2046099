/** `tessera sessions list|show|revoke|revoke-all`: find, inspect and end sessions on a store. */
import { InvalidOptionError, type SessionInfo, type SessionQueryOptions } from '../core/index.js';
import type { Command, Output } from './command.js';
import { help, parse, printJson, storeTarget, wholeNumber, withStore } from './options.js';
import { sessionJson, sessionTable, showLines } from './render.js';

const HELP = `usage:
  tessera sessions list [--subject S] [--name PREFIX] [--id ID] [--limit N] [--all] [--cursor C]
  tessera sessions show ID
  tessera sessions revoke ID
  tessera sessions revoke-all SUBJECT [--except ID]

options (every subcommand):
  --store URL   the store (else TESSERA_STORE): sqlite:PATH, redis://…, redis-cluster://…, postgres://…
  --json        machine-readable output only
  --help        this text

list prints a page (--limit, default 50, at most 1000) and the cursor of the next; --all follows
the cursor to the end. Revocations go through a session manager, with reason "admin".`;

/** `tessera sessions …`. */
export const sessionsCommand: Command = {
  usage: 'list|show|revoke|revoke-all   find, inspect and end sessions (see tessera sessions --help)',
  run: runSessions,
};

async function runSessions(args: string[], out: Output, err: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case 'list':
      return list(rest, out, env);
    case 'show':
      return show(rest, out, err, env);
    case 'revoke':
      return revoke(rest, out, err, env);
    case 'revoke-all':
      return revokeAll(rest, out, env);
    case '--help':
    case '-h':
    case 'help':
      return help(out, HELP);
    default:
      throw new InvalidOptionError(
        action === undefined ? `sessions needs a subcommand\n\n${HELP}` : `unknown subcommand: sessions ${action}\n\n${HELP}`,
      );
  }
}

async function list(args: string[], out: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parse(args, {
    subject: { type: 'string' },
    name: { type: 'string' },
    id: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    all: { type: 'boolean' },
  });
  if (parsed.help) return help(out, HELP);
  if (parsed.positionals.length > 0) throw new InvalidOptionError(`sessions list takes no argument, got ${parsed.positionals[0]}`);
  const v = parsed.values;
  const limit = wholeNumber(v.limit, 'limit', 1, 1000, 50);
  const query: SessionQueryOptions = {
    limit,
    ...(typeof v.subject === 'string' ? { subject: v.subject } : {}),
    ...(typeof v.name === 'string' ? { displayNamePrefix: v.name } : {}),
    ...(typeof v.id === 'string' ? { id: v.id } : {}),
  };
  const { sessions, nextCursor } = await withStore(storeTarget(parsed, env), env, async (manager) => {
    const found: SessionInfo[] = [];
    let cursor = typeof v.cursor === 'string' ? v.cursor : null;
    do {
      const page = await manager.query({ ...query, cursor });
      found.push(...page.sessions);
      cursor = page.nextCursor;
    } while (v.all === true && cursor !== null);
    return { sessions: found, nextCursor: cursor };
  });
  if (parsed.json) printJson(out, { sessions: sessions.map((s) => sessionJson(s)), nextCursor });
  else {
    out(sessionTable(sessions));
    out(nextCursor === null ? `${sessions.length} session(s)` : `${sessions.length} session(s); more: --cursor ${nextCursor} (or --all)`);
  }
  return 0;
}

/** The one positional argument a subcommand takes. */
function oneArgument(positionals: string[], what: string): string {
  const [value, extra] = positionals;
  if (value === undefined || value === '') throw new InvalidOptionError(`name the ${what}`);
  if (extra !== undefined) throw new InvalidOptionError(`one ${what} only, got also ${extra}`);
  return value;
}

async function show(args: string[], out: Output, err: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parse(args, {});
  if (parsed.help) return help(out, HELP);
  const id = oneArgument(parsed.positionals, 'session id');
  const found = await withStore(storeTarget(parsed, env), env, async (manager, store) => {
    const info = await manager.get(id);
    if (info === null) return null;
    // Field names and sizes only: the values are the app's (and may be secrets), as in the admin
    // API. With TESSERA_ENCRYPTION_KEYS the size is the value's, decrypted; without, the stored form's.
    const record = await store.load(id, { now: Date.now() });
    const { codec } = manager.options;
    const fields = Object.entries(record?.data ?? {}).map(([name, stored]) => {
      let value = stored;
      try {
        value = codec.decode(stored, { sessionId: id, field: name });
      } catch {
        // A key no longer in the ring: the stored size is still worth showing.
      }
      return { name, bytes: Buffer.byteLength(JSON.stringify(value)) };
    });
    // By name: stores keep their own key order (PostgreSQL's jsonb sorts by length first).
    fields.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { info, fields };
  });
  if (found === null) {
    err(`tessera: no live session ${JSON.stringify(id)}`);
    return 1;
  }
  if (parsed.json) printJson(out, { session: sessionJson(found.info, found.fields) });
  else out(showLines(found.info, found.fields));
  return 0;
}

async function revoke(args: string[], out: Output, err: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parse(args, {});
  if (parsed.help) return help(out, HELP);
  const id = oneArgument(parsed.positionals, 'session id');
  const revoked = await withStore(storeTarget(parsed, env), env, (manager) => manager.revoke(id, 'admin'));
  if (!revoked) {
    err(`tessera: no live session ${JSON.stringify(id)}`);
    return 1;
  }
  if (parsed.json) printJson(out, { revoked: 1, id });
  else out(`revoked ${id}`);
  return 0;
}

async function revokeAll(args: string[], out: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parse(args, { except: { type: 'string' } });
  if (parsed.help) return help(out, HELP);
  const subject = oneArgument(parsed.positionals, 'subject');
  const except = typeof parsed.values.except === 'string' ? parsed.values.except : null;
  const revoked = await withStore(storeTarget(parsed, env), env, (manager) => manager.revokeAll(subject, { except, reason: 'admin' }));
  if (parsed.json) printJson(out, { revoked, subject });
  else out(`revoked ${revoked} session(s) of ${subject}${except !== null ? ` (kept ${except})` : ''}`);
  return 0;
}
