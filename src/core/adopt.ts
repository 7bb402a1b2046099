/**
 * Taking over sessions that another library wrote (`SessionManagerOptions.adopt`): a request with
 * no tessera token but one the adopter recognises gets a tessera session made from it, once.
 */
import { decodeData } from './changes.js';
import type { RequestContext } from './context.js';
import { toSessionInfo } from './events.js';
import { isLive } from './expiry.js';
import { MAX_SUBJECT_LENGTH, replace, type Replacement } from './replace.js';
import type { SessionRequest } from './requests.js';
import { Session } from './session.js';
import type { ResolvedOptions } from './options.js';
import type { JsonValue } from './store.js';
import { hashSecret, parseToken } from './token.js';
import { assertText, checkFields, withFields } from './values.js';

/** A session another library wrote, as an adopter hands it to the manager to take over. */
export interface AdoptedSession {
  /** The user it belongs to (what `login()` would be given), or null for an anonymous session. */
  readonly subject: string | null;
  /** Its fields, checked as `login()`'s `data` is (keys, JSON values, the size caps). */
  readonly data: Readonly<Record<string, unknown>>;
  /**
   * When it would have ended, in ms since the epoch: the new session's absolute expiry is the
   * earlier of this and `absoluteTimeout` from now, so adopting never lengthens a session's life.
   */
  readonly expiresAt: number;
  /** `Set-Cookie` values for the response besides tessera's own (clearing the other library's cookie, say). */
  readonly setCookies?: readonly string[];
  /**
   * Called when the tessera session could not be made (its store was down), to give the old
   * session back so that the user can retry without losing it.
   */
  readonly restore?: () => Promise<void>;
}

/**
 * Recognises another library's session in a request that carries no tessera token, and claims it
 * (reading it and, typically, removing it where it was), or answers null. A rejection (its store
 * down: `StoreUnavailableError`) fails the request like tessera's own store would, never
 * "no session". Requests given the same `AdoptedSession` object share one tessera session: an
 * adopter that returns one object to concurrent requests of one browser makes one session for them.
 */
export type SessionAdopter = (request: SessionRequest) => Promise<AdoptedSession | null>;

/** The sessions made from adopted ones, per manager (its options) and by the object the adopter returned. */
const madeBy = new WeakMap<ResolvedOptions, WeakMap<AdoptedSession, Promise<Replacement>>>();

/**
 * The session of a request that carries no tessera token: adopted when the manager has an adopter
 * that recognises the request (not for bearer requests, which have no cookie to set), else
 * `otherwise()`. Answers synchronously without an adopter, which costs such requests no turn.
 */
export function adoptOr(
  request: SessionRequest,
  context: RequestContext,
  viaBearer: boolean,
  otherwise: () => Session,
): Session | Promise<Session> {
  const { adopt } = context.options;
  if (adopt === null || viaBearer) return otherwise();
  return open(adopt, request, context).then((session) => session ?? otherwise());
}

async function open(adopter: SessionAdopter, request: SessionRequest, context: RequestContext): Promise<Session | null> {
  const adopted = await adopter(request);
  if (adopted === null) return null;
  const { store, clock, codec } = context.options;
  let sessions = madeBy.get(context.options);
  if (sessions === undefined) madeBy.set(context.options, (sessions = new WeakMap()));
  const made = sessions.get(adopted);
  if (made === undefined) {
    if (!(adopted.expiresAt > clock.now())) return null;
    const making = make(adopted, context);
    sessions.set(adopted, making);
    making.catch(() => sessions.delete(adopted));
    const replacement = await making;
    for (const value of adopted.setCookies ?? []) context.setCookie?.(value);
    context.writeCookie(replacement.token, replacement.record.absoluteExpiresAt);
    return new Session(context, replacement.record, replacement.token, replacement.data, replacement.token);
  }
  // Another request made it: it is opened as its token would open it, so this request sees its writes.
  const { token } = await made;
  // The token was issued here a moment ago: it parses.
  const { id, secret } = parseToken(token) as { id: string; secret: string };
  const now = clock.now();
  const record = await store.load(id, { now, secretHash: hashSecret(secret) });
  if (record === null || !isLive(record, now)) return null;
  for (const value of adopted.setCookies ?? []) context.setCookie?.(value);
  context.writeCookie(token, record.absoluteExpiresAt);
  return new Session(context, record, token, decodeData(record, codec), token);
}

async function make(adopted: AdoptedSession, context: RequestContext): Promise<Replacement> {
  const { options, events } = context;
  const { subject, expiresAt } = adopted;
  let made: Replacement | null;
  try {
    // What login() checks of its arguments: a subject it would refuse is refused here too.
    if (subject !== null) assertText('subject', subject, MAX_SUBJECT_LENGTH);
    const given = checkFields(adopted.data, options);
    made = await replace(context, null, new Map<string, JsonValue>(), {
      subject,
      fields: (_, now) => ({
        idleTimeout: options.idleTimeout,
        absoluteExpiresAt: Math.min(now + options.absoluteTimeout * 1000, expiresAt),
        displayName: null,
        authenticatedAt: subject === null ? null : now,
      }),
      data: () => withFields(new Map(), given, options),
      whenEnded: 'start afresh',
    });
  } catch (error) {
    await adopted.restore?.().catch(() => undefined);
    throw error;
  }
  // A plan that starts afresh always makes a session.
  const replacement = made as Replacement;
  const session = toSessionInfo(replacement.record);
  events.emit(
    subject === null
      ? { type: 'created', at: replacement.at, session }
      : { type: 'loggedIn', at: replacement.at, session, previousId: null },
  );
  return replacement;
}
