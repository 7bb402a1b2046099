/**
 * The demo's HTTP plumbing: JSON bodies in and out, errors as `{error:{code,message}}`, and the
 * server with every setting that bounds what one client can hold of it. Node's
 * defaults wait 300 s for a request body and 60 s for headers, and accept connections until the
 * process runs out of file descriptors: one slow or greedy client can hold the server. The same
 * settings suit any app; the README ("Running it in production") shows them for node:http and Express.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { BadRequestError, errorResponse } from 'tessera-session';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (text.length > 0) res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * Answers any error safely: tessera errors with their status and code, anything else as a bare 500.
 * An error answered before the request's body was read (one over the size limit, say) closes the
 * connection: reading the rest of the body would hold the connection, and any request the client
 * sends next on it, for as long as the client cares to keep sending.
 */
export function sendError(res: ServerResponse, error: unknown): void {
  const response = errorResponse(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A failed request must not set a session cookie it had started to set.
  res.removeHeader('set-cookie');
  if (res.req?.complete === false) res.setHeader('connection', 'close');
  sendJson(res, response.status, response.body, response.headers);
}

/**
 * Reads a JSON request body. Refuses bodies over `limit` bytes, other content types and
 * invalid JSON with `BadRequestError`.
 */
export async function readJson(req: IncomingMessage, limit = 16 * 1024): Promise<unknown> {
  const header = req.headers['content-type'];
  const type = (Array.isArray(header) ? header[0] : header) ?? '';
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

/** What bounds the server; times in seconds. */
export interface ServerLimits {
  /** Seconds to receive a whole request, headers and body; a slower one gets 408 and is closed. */
  requestTimeout: number;
  /** Seconds to receive a request's headers, also on a new connection that sends nothing. */
  headersTimeout: number;
  /** Seconds an idle keep-alive connection stays open between requests. */
  keepAliveTimeout: number;
  /** Open connections in all; more are closed at once. */
  maxConnections: number;
  /** Open connections from one client address; more are closed at once. Null: no cap per address. */
  maxConnectionsPerAddress: number | null;
}

/**
 * Every request the demo accepts is a few hundred bytes, so 15 s to send one is generous even on
 * a bad mobile link. One address may hold half the connections: an office or a carrier NAT puts
 * many people behind one address (a hundred browsers loading a page at once open a couple of
 * hundred connections), while one client can no longer take them all.
 */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  requestTimeout: 15,
  headersTimeout: 10,
  keepAliveTimeout: 5,
  maxConnections: 1000,
  maxConnectionsPerAddress: 500,
});

/**
 * How often Node checks the request and header timeouts. Its default (30 s) lets a timeout run
 * up to 30 s late; once a second costs one walk over the open connections.
 */
const TIMEOUT_CHECK_MS = 1000;

/** One line for the start-up log. */
export function describeLimits(limits: ServerLimits, trustProxy: number): string {
  const perAddress = limits.maxConnectionsPerAddress === null ? 'no cap per address' : `${limits.maxConnectionsPerAddress} per address`;
  return (
    `request ${limits.requestTimeout} s, headers ${limits.headersTimeout} s, keep-alive ${limits.keepAliveTimeout} s, ` +
    `${limits.maxConnections} connections, ${perAddress}, trust proxy ${trustProxy} hops`
  );
}

export function createLimitedServer(limits: ServerLimits, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer(
    {
      requestTimeout: limits.requestTimeout * 1000,
      headersTimeout: limits.headersTimeout * 1000,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    handler,
  );
  server.keepAliveTimeout = limits.keepAliveTimeout * 1000;
  // Node closes connections past this at once, before any byte is read.
  server.maxConnections = limits.maxConnections;
  if (limits.maxConnectionsPerAddress !== null) capPerAddress(server, limits.maxConnectionsPerAddress);
  return server;
}

/**
 * Closes a new connection at once when its address already has `max` open. The count lives only
 * as long as connections do, so it holds at most `maxConnections` entries. An IPv6 client may
 * have many addresses; the cap in all still bounds it.
 */
function capPerAddress(server: Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined) {
      // Already gone.
      socket.destroy();
      return;
    }
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
