/**
 * `node:http` for tessera: load a request's session, and put its cookie on the response by the
 * core's rules. Also the proxy-aware reading of the client's address, protocol and host, which
 * other adapters reuse.
 *
 * @module tessera-session/adapters/node
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { sessionCookieHeaders, type Session, type SessionManager, type SessionRequest } from '../../core/index.js';
import { trustedEntry, trustedHops } from '../../core/forwarded.js';

/** How `loadSession` reads a request. */
export interface NodeSessionOptions {
  /**
   * How many reverse proxies in front of the app to believe. Each proxy appends the address it
   * got the request from to `X-Forwarded-For`, so only the last `trustProxy` entries come from
   * proxies you run; anything to their left was sent by the client and may be forged. Of the list
   * [`X-Forwarded-For` entries…, socket address], the client address is the entry `trustProxy`
   * places from the right (the leftmost when the list is shorter), as Express counts hops; HTTPS
   * is the `X-Forwarded-Proto` entry found the same way. `true` means 1 (one reverse proxy);
   * `false` or `0` uses the socket alone. Count only proxies every request passes through: one
   * too many, and clients choose their address.
   * @default false
   * @example loadSession(manager, req, res, { trustProxy: 1 }) // behind one nginx
   */
  trustProxy?: boolean | number;
}

/** A client as the framework resolved it, following its own proxy settings. */
export interface ResolvedClient {
  /** The client's address (Express's `req.ip`). */
  ip: string | null | undefined;
  /** Whether the client's connection was HTTPS (Express's `req.secure`). */
  secure: boolean;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The entry `hops` from the right of a forwarded header's list followed by what the socket says.
 * Node joins repeated header lines with ", "; an array (from hand-built requests) is read alike.
 */
function fromTrustedHop(req: IncomingMessage, name: string, socketValue: string | null, hops: number): string | null {
  const raw = req.headers[name];
  return trustedEntry(raw === undefined ? [] : Array.isArray(raw) ? raw : [raw], socketValue, hops);
}

/**
 * Whether the client's connection was HTTPS: the socket's TLS state, or with `trustProxy` the
 * `X-Forwarded-Proto` entry of the proxy the client connected to (the rightmost for one hop).
 * That proxy's word wins over the socket: TLS between proxy and app says nothing of the client.
 */
export function isSecureRequest(req: IncomingMessage, trustProxy: boolean | number = false): boolean {
  const socketProtocol = (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
  return fromTrustedHop(req, 'x-forwarded-proto', socketProtocol, trustedHops(trustProxy))?.toLowerCase() === 'https';
}

/** The client's address: the socket's, or with `trustProxy` the one the proxy it connected to saw. */
export function clientIp(req: IncomingMessage, trustProxy: boolean | number = false): string | null {
  return fromTrustedHop(req, 'x-forwarded-for', req.socket.remoteAddress ?? null, trustedHops(trustProxy));
}

/**
 * The host the client asked for, for a same-origin check: the `Host` header, or with `trustProxy`
 * the `X-Forwarded-Host` entry found the same way as the address (a proxy that sets none and
 * passes `Host` through leaves `Host`).
 */
export function requestHost(req: IncomingMessage, trustProxy: boolean | number = false): string | null {
  return fromTrustedHop(req, 'x-forwarded-host', header(req, 'host') ?? null, trustedHops(trustProxy));
}

/**
 * Sets the session cookie on a response by the core's rules (see `sessionCookieHeaders`): it
 * replaces one set earlier in the same response, and comes with `Cache-Control: no-store`. Once
 * the headers are sent nothing can be set, and this does nothing.
 */
export function setSessionCookie(res: ServerResponse, setCookie: string): void {
  if (res.headersSent) return;
  const existing = res.getHeader('set-cookie');
  const headers = sessionCookieHeaders(typeof existing === 'number' ? String(existing) : existing, setCookie);
  res.setHeader('set-cookie', headers['set-cookie']);
  res.setHeader('cache-control', headers['cache-control']);
}

/**
 * What the core needs from a request whose client the caller has already resolved; for adapters
 * whose framework reads the proxy headers itself. Cookie changes are written to `res`.
 */
export function toSessionRequest(req: IncomingMessage, res: ServerResponse, client: ResolvedClient): SessionRequest {
  return {
    cookie: header(req, 'cookie'),
    authorization: header(req, 'authorization'),
    secure: client.secure,
    ip: client.ip,
    userAgent: header(req, 'user-agent'),
    setCookie: (value) => setSessionCookie(res, value),
    // Malformed keys are the core's to refuse (400), so an app sees one rule however it is reached.
    idempotencyKey: header(req, 'idempotency-key'),
  };
}

/**
 * The session of a `node:http` request; its cookie changes are written to `res`. Throws
 * `InvalidOptionError` when `trustProxy` is neither a boolean nor a whole number.
 */
export function loadSession(
  manager: SessionManager,
  req: IncomingMessage,
  res: ServerResponse,
  options: NodeSessionOptions = {},
): Promise<Session> {
  const trustProxy = options.trustProxy ?? false;
  return manager.load(toSessionRequest(req, res, { ip: clientIp(req, trustProxy), secure: isSecureRequest(req, trustProxy) }));
}
