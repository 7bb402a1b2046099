/**
 * Framework-free helpers for `node:http`: load a request's session and write its cookie, read a
 * JSON body with limits, and answer errors as `{error:{code,message}}`. Other adapters reuse them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { BadRequestError, errorResponse, type Session, type SessionManager } from '../../core/index.js';

export interface NodeSessionOptions {
  /**
   * Trust `X-Forwarded-Proto` and `X-Forwarded-For` from a reverse proxy in front of the app.
   * Leave off unless a proxy you control sets them; otherwise clients could spoof them.
   * @default false
   */
  trustProxy?: boolean;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Whether the request reached this app over HTTPS. */
export function isSecureRequest(req: IncomingMessage, trustProxy = false): boolean {
  if ((req.socket as Partial<TLSSocket>).encrypted === true) return true;
  return trustProxy && header(req, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https';
}

export function clientIp(req: IncomingMessage, trustProxy = false): string | null {
  if (trustProxy) {
    const forwarded = header(req, 'x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  return req.socket.remoteAddress ?? null;
}

/**
 * Sets the session cookie on a response, replacing one set earlier in the same response, with
 * `Cache-Control: no-store` so no cache keeps a response that carries a token. Once the headers
 * are sent nothing can be set, and this does nothing.
 */
export function setSessionCookie(res: ServerResponse, setCookie: string): void {
  if (res.headersSent) return;
  const name = setCookie.slice(0, setCookie.indexOf('=') + 1);
  const existing = res.getHeader('set-cookie');
  const others = (Array.isArray(existing) ? existing : existing === undefined ? [] : [String(existing)]).filter((c) => !c.startsWith(name));
  res.setHeader('set-cookie', [...others, setCookie]);
  res.setHeader('cache-control', 'no-store');
}

/** The session of a `node:http` request; its cookie changes are written to `res`. */
export function loadSession(manager: SessionManager, req: IncomingMessage, res: ServerResponse, options: NodeSessionOptions = {}): Promise<Session> {
  const trustProxy = options.trustProxy ?? false;
  return manager.load({
    cookie: header(req, 'cookie'),
    authorization: header(req, 'authorization'),
    secure: isSecureRequest(req, trustProxy),
    ip: clientIp(req, trustProxy),
    userAgent: header(req, 'user-agent'),
    setCookie: (value) => setSessionCookie(res, value),
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (text.length > 0) res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/** Answers any error safely: tessera errors with their status and code, anything else as a bare 500. */
export function sendError(res: ServerResponse, error: unknown): void {
  const response = errorResponse(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A failed request must not set a session cookie it had started to set.
  res.removeHeader('set-cookie');
  sendJson(res, response.status, response.body, response.headers);
}

/**
 * Reads a JSON request body. Refuses bodies over `limit` bytes, other content types and
 * invalid JSON with `BadRequestError`.
 */
export async function readJson(req: IncomingMessage, limit = 16 * 1024): Promise<unknown> {
  const type = header(req, 'content-type') ?? '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BadRequestError(`request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  if (!/^application\/json\b/i.test(type)) throw new BadRequestError('expected Content-Type: application/json');
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new BadRequestError('invalid JSON');
  }
}
