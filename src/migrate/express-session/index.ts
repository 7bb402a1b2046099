/**
 * Moving from express-session without logging anybody out: a request that carries no tessera
 * cookie but a valid express-session one (signed with one of the old secrets) gets a tessera
 * session made from the express-session record, once; the old cookie is cleared and the old
 * record deleted. Give the adopter to the manager, and every adapter does the rest.
 *
 * @example
 * import { adoptExpressSessions, connectRedisSource } from 'tessera-session/migrate/express-session';
 * const manager = new SessionManager({
 *   store,
 *   adopt: adoptExpressSessions({ source: connectRedisSource({ client: redisClient }), secrets: [process.env.OLD_SECRET] }),
 * });
 *
 * @module tessera-session/migrate/express-session
 */
import { systemClock, type Clock } from '../../core/clock.js';
import type { AdoptedSession, SessionAdopter } from '../../core/adopt.js';
import { readCookies } from '../../core/cookie.js';
import { InvalidOptionError } from '../../core/errors.js';
import type { SessionRequest } from '../../core/requests.js';
import { fromLegacy, parseFieldPath } from './legacy-session.js';
import { unsignCookie, type LegacySecret } from './signature.js';
import type { LegacySessionSource } from './sources.js';

export { signCookie, unsignCookie, type LegacySecret } from './signature.js';
export {
  connectPgSimpleSource,
  connectRedisSource,
  type ConnectPgSimpleSourceOptions,
  type ConnectRedisSourceOptions,
  type LegacyPgPool,
  type LegacyPgResult,
  type LegacyRecord,
  type LegacyRedisClient,
  type LegacySessionSource,
} from './sources.js';

/** The options of `adoptExpressSessions`. */
export interface ExpressSessionMigrationOptions {
  /** Where express-session kept its sessions: `connectRedisSource(…)` or `connectPgSimpleSource(…)`. */
  source: LegacySessionSource;
  /** express-session's `secret`: one, or the list it rotated through (any of them verifies a cookie). */
  secrets: readonly LegacySecret[];
  /**
   * express-session's cookie `name`.
   * @default 'connect.sid'
   */
  cookieName?: string;
  /**
   * Dotted path of the field that holds the user id (a string or a number), which becomes the
   * session's subject; a session without it is adopted anonymous. The field is not copied into
   * the data, nor an object it leaves empty.
   * @default 'passport.user'
   * @example 'userId'
   */
  subject?: string;
  /**
   * Clear the express-session cookie in the response that adopts it.
   * @default true
   */
  clearCookie?: boolean;
  /**
   * The `Path` of the express-session cookie (its `cookie.path`), which the clearing cookie must repeat.
   * @default '/'
   */
  cookiePath?: string;
  /**
   * The `Domain` of the express-session cookie, when it had one.
   * @default undefined (host-only)
   */
  cookieDomain?: string;
  /**
   * Delete the express-session record as it is adopted (atomically, so that of several processes
   * only one adopts it). Keep it (`false`) while express-session still serves part of the traffic.
   * @default true
   */
  deleteRecord?: boolean;
  /**
   * Seconds during which requests of this process that carry an adopted cookie (sent before the
   * browser had the tessera cookie) get the same tessera session.
   * @default 30
   */
  gracePeriod?: number;
  /**
   * The time, to turn the store's remaining lifetime into an expiry: give the manager's.
   * @default the system clock
   */
  clock?: Clock;
}

/** Most `connect.sid` values tried per request (a planted duplicate may come first). */
const MAX_CANDIDATES = 3;
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;
const COOKIE_ATTRIBUTE = /^[\x21-\x3a\x3c-\x7e]{1,1024}$/;

/**
 * The adopter for `SessionManagerOptions.adopt` that takes over express-session's sessions. A
 * forged, unsigned or unknown cookie is ignored. The legacy store down rejects with
 * `StoreUnavailableError` (503): the request cannot know whether its user was logged in.
 */
export function adoptExpressSessions(options: ExpressSessionMigrationOptions): SessionAdopter {
  const { source, secrets, cookieName = 'connect.sid', clearCookie = true, cookiePath = '/', cookieDomain } = options;
  const { deleteRecord = true, gracePeriod = 30, clock = systemClock } = options;
  if (typeof source?.claim !== 'function') throw new InvalidOptionError('source must be connectRedisSource(…) or connectPgSimpleSource(…)');
  if (
    !Array.isArray(secrets) ||
    secrets.length === 0 ||
    !secrets.every((s) => (typeof s === 'string' || s instanceof Uint8Array) && s.length > 0)
  )
    throw new InvalidOptionError('secrets must be a non-empty list of the secrets express-session signed with');
  if (!COOKIE_NAME.test(cookieName)) throw new InvalidOptionError(`cookieName is no cookie name: ${JSON.stringify(cookieName)}`);
  if (!COOKIE_ATTRIBUTE.test(cookiePath) || !cookiePath.startsWith('/'))
    throw new InvalidOptionError('cookiePath must be a path starting with /');
  if (cookieDomain !== undefined && !COOKIE_ATTRIBUTE.test(cookieDomain)) throw new InvalidOptionError('cookieDomain is no domain');
  if (!Number.isInteger(gracePeriod) || gracePeriod < 0 || gracePeriod > 3600)
    throw new InvalidOptionError('gracePeriod must be 0 to 3600 seconds');
  const subjectPath = parseFieldPath(options.subject ?? 'passport.user');
  const clearing = clearCookie
    ? [`${cookieName}=; Max-Age=0; Path=${cookiePath}${cookieDomain === undefined ? '' : `; Domain=${cookieDomain}`}`]
    : [];
  /** Adoptions in flight or within the grace period, by legacy session id. */
  const recent = new Map<string, Promise<AdoptedSession | null>>();

  const adopt = async (id: string): Promise<AdoptedSession | null> => {
    const record = await source.claim(id, deleteRecord);
    if (record === null) return null;
    const now = clock.now();
    const session = fromLegacy(record.text, subjectPath, now, record.remainingMs);
    if (session === null) return null;
    // Given back, the record is adopted afresh by the next request, not from this copy.
    const restore = deleteRecord
      ? () => {
          recent.delete(id);
          return source.restore(id, record);
        }
      : undefined;
    return { ...session, setCookies: clearing, ...(restore !== undefined ? { restore } : {}) };
  };

  return async (request: SessionRequest) => {
    const values = readCookies(request.cookie, cookieName).slice(0, MAX_CANDIDATES);
    for (const value of values) {
      const id = unsignCookie(value, secrets);
      if (id === null) continue;
      let adoption = recent.get(id);
      if (adoption === undefined) {
        adoption = adopt(id);
        recent.set(id, adoption);
        const forget = (): void => void recent.delete(id);
        adoption.then(
          (adopted) => (adopted === null || gracePeriod === 0 ? forget() : setTimeout(forget, gracePeriod * 1000).unref()),
          forget,
        );
      }
      const adopted = await adoption;
      if (adopted !== null) return adopted;
    }
    return null;
  };
}
