/**
 * What the Redis store says when it cannot serve: where it connects (never with the password) and
 * why, from node-redis's error: a refused connection, an unknown host, a password or database the
 * server refuses, TLS on one side only, a server that does not answer. And the connection's
 * failures as `onError` hears of them.
 */
import { StoreUnavailableError, describeNetworkError } from '../../store-kit/index.js';
import type { RedisConnection } from './options.js';

/** Where the store's commands go, as its messages show it. */
export interface Endpoint {
  /** `redis://host:port/db` without credentials, `cluster host:port, ...`, or null for a given client. */
  readonly where: string | null;
  /** `host:port`, or the seeds' list. */
  readonly address: string;
  /** The database number the URL picks. */
  readonly database: number;
  readonly tls: boolean;
}

export function endpointOf(connection: RedisConnection): Endpoint {
  if ('client' in connection) return { where: null, address: 'the server', database: 0, tls: false };
  const urls = ('url' in connection ? [connection.url] : connection.cluster.rootNodes).map((url) => new URL(url));
  const first = urls[0] as URL;
  const address = urls.map((url) => `${url.hostname}:${url.port || '6379'}`).join(', ');
  const database = Number(first.pathname.slice(1) || '0');
  const tls = first.protocol === 'rediss:';
  const where = 'url' in connection ? `${first.protocol}//${address}${database === 0 ? '' : `/${database}`}` : `cluster ${address}`;
  return { where, address, database, tls };
}

/**
 * Replies with which the server refuses the connection itself rather than one command: a password
 * wrong, missing or not expected (and an unauthenticated command too long to be read), an ACL user
 * without the rights, a database it does not have.
 */
export const REFUSED_REPLY =
  /^(NOAUTH|WRONGPASS|NOPERM)\b|^ERR (AUTH|Client sent AUTH|invalid password|DB index is out of range|Protocol error: unauthenticated)/;

/** Where and when: `first` while no connection was ever made, when TLS on one side only is a likely cause. */
export interface Situation {
  readonly endpoint: Endpoint;
  readonly timeout: number;
  readonly first: boolean;
}

const USE_PLAIN = 'if the server does not speak TLS, use a redis:// URL';
const USE_TLS = 'if the server expects TLS, use a rediss:// URL';

/** A connection that came to nothing within the time allowed: no error to show for it. */
export function noAnswer({ endpoint, timeout, first }: Situation): string {
  const silent = `no answer from ${endpoint.address} within ${timeout} ms`;
  return endpoint.tls && first && endpoint.where !== null ? `${silent} to the TLS handshake: ${USE_PLAIN}` : silent;
}

/** Why, in an operator's words, keeping what the server or Node said. */
export function describeRedisError(error: unknown, situation: Situation): string {
  if (!(error instanceof Error)) return String(error);
  const { endpoint, timeout } = situation;
  const message = error.message.trim();
  if (/^WRONGPASS\b|^ERR invalid password/.test(message))
    return `authentication failed (${message}): check the user and password in the URL`;
  if (/^ERR (AUTH|Client sent AUTH)/.test(message))
    return `authentication failed: the URL gives a password and the server has none set (${message})`;
  if (/^NOAUTH\b|^ERR Protocol error: unauthenticated/.test(message))
    return `authentication required (${message}): put the password in the URL, redis://:password@host:port`;
  if (/^NOPERM\b/.test(message)) return `permission denied (${message}): the ACL user needs the commands, scripts and keys the store uses`;
  if (/DB index is out of range/.test(message)) {
    return `database ${endpoint.database} does not exist (${message}): the URL's path picks the database, and the server has fewer (its databases setting)`;
  }
  const name = error.constructor.name;
  const code = String((error as { code?: unknown }).code);
  // TLS on one side only shows as a handshake that fails or never ends, or a connection dropped.
  const hint = situation.first && endpoint.where !== null;
  if (hint && endpoint.tls && (code.startsWith('ERR_SSL_') || /secure TLS connection/.test(message)))
    return `TLS handshake failed (${message}): ${USE_PLAIN}`;
  if (name === 'ConnectionTimeoutError') return noAnswer(situation);
  const network = describeNetworkError(error) ?? (name === 'SocketClosedUnexpectedlyError' ? 'the server closed the connection' : null);
  if (network !== null)
    return hint && !endpoint.tls && (code === 'ECONNRESET' || name === 'SocketClosedUnexpectedlyError')
      ? `${network}: ${USE_TLS}`
      : network;
  if (name === 'TimeoutError') return `no reply within ${timeout} ms`;
  if (name === 'ClientOfflineError') return 'the connection is down';
  return `${name}: ${message}`;
}

/** The store's error for `error`, saying where and why, with `error` as its cause. */
export function unavailableError(error: unknown, situation: Situation): StoreUnavailableError {
  return unavailable(describeRedisError(error, situation), situation.endpoint, error);
}

/** The store's error for `reason`. */
export function unavailable(reason: string, endpoint: Endpoint, cause?: unknown): StoreUnavailableError {
  const where = endpoint.where === null ? '' : ` (${endpoint.where})`;
  return new StoreUnavailableError(`the Redis session store${where} is unavailable: ${reason}`, cause === undefined ? {} : { cause });
}

/**
 * The latest failure of a connection the store opened (node-redis's `error` events: a connection
 * lost, each failed reconnection), reported to `onError` once per distinct cause until the
 * connection is ready again: node-redis emits one at every attempt, several a second.
 */
export class ConnectionFailures {
  readonly #describe: (error: unknown) => StoreUnavailableError;
  readonly #onError: ((error: StoreUnavailableError) => void) | undefined;
  #last: unknown = null;
  #reported: string | null = null;
  #wasReady = false;

  constructor(describe: (error: unknown) => StoreUnavailableError, onError: ((error: StoreUnavailableError) => void) | undefined) {
    this.#describe = describe;
    this.#onError = onError;
  }

  /** The failure since the connection was last ready, or null. */
  get last(): unknown {
    return this.#last;
  }

  /** Whether the connection was ready once: its failures since are outages, not a wrong configuration. */
  get wasReady(): boolean {
    return this.#wasReady;
  }

  failed(error: unknown): void {
    this.#last = error;
    if (this.#onError === undefined) return;
    const reported = this.#describe(error);
    if (reported.message === this.#reported) return;
    this.#reported = reported.message;
    try {
      this.#onError(reported);
    } catch {
      // Called from inside node-redis's reconnection: a throwing hook must not break it.
    }
  }

  recovered(): void {
    this.#wasReady = true;
    this.#last = null;
    this.#reported = null;
  }
}
