/**
 * The Fetch API's `Request` and `Response` for tessera, for any framework built on them (Next.js
 * route handlers, Remix and React Router, SvelteKit, Astro, H3, Bun, Deno, Hono): load a
 * request's session, then add its cookie headers to whatever response the app builds.
 *
 * A `Request` carries no connection, so the client's address comes from the platform (`ip`) and
 * HTTPS from the request's URL. Check what that URL says on yours: behind a proxy that ends TLS,
 * the app is reached over plain HTTP and the URL says `http:` (then set `trustProxy` to read the
 * proxy's `X-Forwarded-Proto`, or `secure: true`); some servers build the URL from what the
 * client sent (on `@hono/node-server` an absolute request target such as
 * `GET https://host/ HTTP/1.1` makes it `https:` over plain HTTP, for that client's own request).
 * Headers are no better unless a proxy you run writes them: Next.js fills `X-Forwarded-For` in
 * only when a request has none, so a client that reaches `next start` directly picks its own.
 *
 * @example
 * const { session, headers } = await loadSession(manager, request, { ip: server.requestIP(request)?.address });
 * const count = await session.increment('views');
 * return withSession(Response.json({ count }), headers);
 *
 * @module tessera-session/adapters/fetch
 */
import { errorResponse, sessionCookieHeaders, setCookiesAfterError } from '../../core/index.js';
import type { DefaultSessionData, Session, SessionManager, TesseraError } from '../../core/index.js';
import { trustedEntry, trustedHops } from '../../core/forwarded.js';

/** How `loadSession` reads a request. */
export interface FetchSessionOptions {
  /**
   * The client's address, as the platform knows it: Bun's `server.requestIP(request)?.address`,
   * Deno's `info.remoteAddr.hostname`, `getConnInfo(c).remote.address` on `@hono/node-server`.
   * Where the platform is itself the proxy (Vercel, Netlify), its `X-Forwarded-For` entry with
   * `trustProxy: 1`, or the header it documents. Recorded on the session; keys the per-address limits.
   * @default null
   */
  ip?: string | null | undefined;
  /**
   * How many reverse proxies in front of the app to believe, counted as the node adapter counts
   * them: of [`X-Forwarded-For` entries…, `ip`], the client is the entry `trustProxy` places from
   * the right; HTTPS is the `X-Forwarded-Proto` entry found the same way, with the URL's protocol
   * in place of `ip`. `true` means 1; `false` or `0` reads neither header, as a client can forge both.
   * @default false
   */
  trustProxy?: boolean | number;
  /**
   * Whether the client's connection was HTTPS, when the app knows better than the URL: the
   * cookie is then `Secure` and named `__Host-…`.
   * @default the request URL is `https:` (or, with `trustProxy`, the trusted `X-Forwarded-Proto` says `https`)
   */
  secure?: boolean | undefined;
}

/** A request's session (`T`: its data type, the manager's) and the headers its response must carry. */
export interface LoadedSession<T extends object = DefaultSessionData> {
  /** The request's session. */
  session: Session<T>;
  /**
   * The session's `Set-Cookie` (at most one, the latest) and `Cache-Control: no-store` once the
   * session cookie is set or cleared; empty until then. Live: it follows the session's writes, so
   * read it after awaiting them, or give it to `withSession`, which reads it when called.
   */
  headers: Headers;
}

function setSessionCookie(target: Headers, values: readonly string[]): void {
  let cookies = target.getSetCookie();
  for (const value of values) cookies = sessionCookieHeaders(cookies, value)['set-cookie'];
  target.delete('set-cookie');
  for (const cookie of cookies) target.append('set-cookie', cookie);
  target.set('cache-control', 'no-store');
}

/**
 * The session of a Fetch API `Request`. Throws what `manager.load` throws (a `StoreUnavailableError`
 * when the store is down: answer it with `sessionErrorResponse`), and `InvalidOptionError` when
 * `trustProxy` is neither a boolean nor a whole number.
 */
export async function loadSession<T extends object = DefaultSessionData>(
  manager: SessionManager<T>,
  request: Request,
  options: FetchSessionOptions = {},
): Promise<LoadedSession<T>> {
  const hops = trustedHops(options.trustProxy ?? false);
  const header = (name: string): string[] => {
    const value = request.headers.get(name);
    return value === null ? [] : [value];
  };
  const protocol = trustedEntry(header('x-forwarded-proto'), request.url.startsWith('https:') ? 'https' : 'http', hops);
  const headers = new Headers();
  const session = await manager.load({
    cookie: request.headers.get('cookie'),
    authorization: request.headers.get('authorization'),
    secure: options.secure ?? protocol?.toLowerCase() === 'https',
    ip: trustedEntry(header('x-forwarded-for'), options.ip ?? null, hops),
    userAgent: request.headers.get('user-agent'),
    setCookie: (value) => setSessionCookie(headers, [value]),
    idempotencyKey: request.headers.get('idempotency-key'),
  });
  return { session, headers };
}

/**
 * `response` with the session's headers from `loadSession`: its `Set-Cookie` replaces a session
 * cookie of the same name already there (the app's other cookies stay), and `Cache-Control:
 * no-store` replaces any other caching. Returns `response` itself, changed, or a copy when its
 * headers are immutable (`Response.redirect()`, a `fetch()` response); unchanged when the session
 * set no cookie. Call it once the session's writes are awaited: a write after it is not sent.
 */
export function withSession(response: Response, headers: Headers): Response {
  const values = headers.getSetCookie();
  if (values.length === 0) return response;
  try {
    setSessionCookie(response.headers, values);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    // Immutable headers refuse the first change, so nothing was half-written.
    const copy = new Response(response.body, response);
    setSessionCookie(copy.headers, values);
    return copy;
  }
}

/** Whether `sessionErrorResponse` answers `error`: a tessera error other than a mistake in the app's code or configuration. */
export function isSessionError(error: unknown): error is TesseraError {
  return errorResponse(error).body.error.code !== 'INTERNAL';
}

/**
 * A tessera error as a JSON `Response`: `{error:{code,message}}` with its status, 503 with
 * `Retry-After` when the store is down (never "no session"), 429 with `Retry-After`. Given the
 * request's session `headers`, its cookies follow `setCookiesAfterError`. Anything else (a bug, tessera's `INVALID_OPTION` and `INVALID_VALUE` too) is thrown again, for
 * the framework's own error handling to log and answer.
 *
 * @example
 * try { … } catch (error) { return sessionErrorResponse(error); }
 */
export function sessionErrorResponse(error: unknown, headers?: Headers): Response {
  if (!isSessionError(error)) throw error;
  const { status, headers: errorHeaders, body } = errorResponse(error);
  const { 'set-cookie': errorCookie, ...rest } = errorHeaders;
  const response = new Response(JSON.stringify(body), { status, headers: rest });
  for (const value of setCookiesAfterError(headers?.getSetCookie() ?? [], errorCookie)) response.headers.append('set-cookie', value);
  return response;
}
