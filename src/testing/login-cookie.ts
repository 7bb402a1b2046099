import type { LoginOptions, SessionManager } from '../core/index.js';

/** How {@link loginCookie} logs in. */
export interface LoginCookieOptions extends LoginOptions {
  /**
   * Whether the test's requests count as HTTPS. With `cookie.secure: 'auto'` an HTTPS request's
   * cookie is named `__Host-<name>`, so the cookie must be made for the kind of request that
   * will carry it.
   * @default false
   */
  secure?: boolean;
}

/**
 * The `Cookie` header value (`name=token`) of a new session logged in as `subject`, for a test
 * that calls a route as a logged-in user without going through the app's login route. It is made
 * through the manager's own `load` and `login`, so it is a session like any other: stored,
 * listed, counted against `maxSessionsPerSubject`, announced by a `loggedIn` event, and ended
 * by the idle and absolute timeouts on the manager's clock.
 *
 * @example
 * const cookie = await loginCookie(sessions, 'user-1');
 * const res = await fetch(`${base}/me`, { headers: { cookie } });
 */
export async function loginCookie(manager: SessionManager, subject: string, options: LoginCookieOptions = {}): Promise<string> {
  const { secure = false, ...login } = options;
  const session = await manager.load({ secure });
  await session.login(subject, login);
  const token = session.issuedToken;
  // A login that resolved has issued a token; this guards the helper against a change of that rule.
  if (token === null) throw new Error('login issued no token');
  return `${manager.cookieName(secure)}=${token}`;
}
