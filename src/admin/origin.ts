import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** How the handler learns the app's own origin, to check a mutating request's `Origin`. */
export interface OriginOptions {
  /**
   * The app's origin as browsers send it (`https://admin.example.com`). When set, it is the only
   * accepted `Origin`; otherwise the origin is the request's scheme and `Host` header.
   */
  origin?: string;
  /**
   * Whether to believe `X-Forwarded-Proto` for the scheme (behind a TLS-terminating proxy). Under
   * Express, `req.protocol` (which follows the app's `trust proxy`) is used when present.
   * @default false
   */
  trustProxy?: boolean;
}

/** The app's own origin for this request, or null when the `Host` header is missing. */
function ownOrigin(req: IncomingMessage, options: OriginOptions): string | null {
  if (options.origin !== undefined) return options.origin;
  const host = req.headers.host;
  if (host === undefined || host === '') return null;
  const express = (req as { protocol?: unknown }).protocol;
  let scheme: string;
  if (typeof express === 'string') scheme = express;
  else if (options.trustProxy === true && typeof req.headers['x-forwarded-proto'] === 'string') {
    scheme = req.headers['x-forwarded-proto'].split(',')[0]?.trim() ?? 'http';
  } else scheme = (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
  return `${scheme}://${host}`.toLowerCase();
}

/**
 * Whether a mutating request proves it comes from the app's own pages: a browser's
 * `Sec-Fetch-Site: same-origin`, or an `Origin` equal to the app's. A cross-site form sends
 * `Sec-Fetch-Site: cross-site` and its own `Origin`, so it can never revoke a session.
 */
export function sameOrigin(req: IncomingMessage, options: OriginOptions): boolean {
  const site = req.headers['sec-fetch-site'];
  // A browser that sends Sec-Fetch-Site is believed first: anything but same-origin is refused,
  // even with an Origin that looks right (same-site is another origin).
  if (site !== undefined) return site === 'same-origin';
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return false;
  const own = ownOrigin(req, options);
  return own !== null && origin.toLowerCase() === own.toLowerCase();
}
