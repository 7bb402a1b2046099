/** The options of `sessionWebhooks`, their defaults and their checks. */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { InvalidOptionError } from '../core/errors.js';
import { decodeSecret } from './signing.js';

/**
 * Deliveries as OpenID Connect back-channel logout requests (for receivers that already speak
 * OIDC): each `session.ended` notice is POSTed as `logout_token=<JWT>`
 * (`application/x-www-form-urlencoded`), the JWT signed with `privateKey`.
 */
export interface OidcBackChannelLogoutFormat {
  /** Selects this format. */
  type: 'oidc-backchannel-logout';
  /** The token's `iss`: the issuer the receiver trusts. */
  issuer: string;
  /** The token's `aud`: the receiver's client id (or several). */
  audience: string | string[];
  /** The signing key: a node `KeyObject` or a PEM string (P-256 for ES256, Ed25519 for EdDSA). */
  privateKey: KeyObject | string;
  /** The JWS algorithm. */
  algorithm: 'ES256' | 'EdDSA';
  /**
   * The JWT header's `kid`, so that the receiver picks the key from the issuer's JWKS.
   * @default none
   */
  keyId?: string;
}

/** The options of {@link sessionWebhooks}. Point them only at receivers you trust (your own services). */
export interface WebhookOptions {
  /** Where deliveries are POSTed: an `http:` or `https:` URL. Redirects are never followed. */
  url: string | URL;
  /**
   * The signing secret in the `whsec_<base64>` form (at least 24 bytes), or several while one is
   * rotated: each delivery is signed with each, and a receiver that knows any one of them verifies
   * it. Optional with the OIDC format (the JWT is signed), required otherwise.
   */
  secret?: string | readonly string[];
  /**
   * The notices delivered besides `session.ended` (always delivered).
   * @default { created: false, loggedIn: false }
   */
  events?: {
    /** `session.created`: an anonymous session was first saved. @default false */
    created?: boolean;
    /** `session.logged_in`: a session logged in. @default false */
    loggedIn?: boolean;
  };
  /**
   * Seconds a receiver has to answer before the attempt is cut and counted as failed.
   * @default 10
   */
  timeout?: number;
  /**
   * Seconds to wait after each failed attempt before the next (after the immediate first one),
   * each jittered by ±20%; past the last, the notice is given up (`webhook` event `failed`). A
   * receiver's `Retry-After` (seconds or an HTTP date, at most 24 hours) replaces the delay.
   * @default [5, 300, 1800, 7200, 18000, 36000, 36000] (the Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h)
   */
  retrySchedule?: readonly number[];
  /**
   * The outbox's cap: at each poll, when it holds more notices, the oldest beyond it are dropped
   * undelivered and an `outboxFull` event says how many.
   * @default 10000
   */
  maxBacklog?: number;
  /**
   * Seconds between two looks at the outbox (an ending wakes the worker at once; polling finds
   * retries coming due and notices another instance recorded).
   * @default 1
   */
  pollInterval?: number;
  /**
   * Notices claimed from the outbox at once.
   * @default 50
   */
  batchSize?: number;
  /**
   * Deliveries in flight at once.
   * @default 4
   */
  concurrency?: number;
  /**
   * The deliveries' form: Standard Webhooks JSON, or OpenID Connect back-channel logout tokens.
   * @default 'standard-webhooks'
   */
  format?: 'standard-webhooks' | OidcBackChannelLogoutFormat;
  /**
   * Called when the outbox cannot be read or written (the store is down); the worker tries again at the next poll.
   * @default logs with console.error
   */
  onError?: (error: unknown) => void;
  /**
   * `false`: this process records notices (its manager asks the store to) and delivers none, so that
   * delivery costs the app's requests nothing; a process of its own delivers them, with a manager
   * on the same store and a notifier left at `true` (several such processes share the work), which
   * also keeps the outbox's cap.
   * @default true
   */
  deliver?: boolean;
}

/** The schedule of the Standard Webhooks specification, in seconds after each failed attempt. */
export const defaultRetrySchedule: readonly number[] = Object.freeze([5, 300, 1800, 7200, 18000, 36000, 36000]);

/** The {@link WebhookOptions} defaults, in one place. */
export const defaultWebhookOptions = Object.freeze({
  /** Seconds. */
  timeout: 10,
  /** Seconds after each failed attempt. */
  retrySchedule: defaultRetrySchedule,
  /** Notices. */
  maxBacklog: 10_000,
  /** Seconds. */
  pollInterval: 1,
  /** Notices per claim. */
  batchSize: 50,
  /** Deliveries in flight. */
  concurrency: 4,
});

/** The OIDC format, its key parsed. */
export interface ResolvedOidcFormat {
  /** See {@link OidcBackChannelLogoutFormat.issuer}. */
  readonly issuer: string;
  /** See {@link OidcBackChannelLogoutFormat.audience}. */
  readonly audience: string | readonly string[];
  /** The signing key, parsed. */
  readonly privateKey: KeyObject;
  /** See {@link OidcBackChannelLogoutFormat.algorithm}. */
  readonly algorithm: 'ES256' | 'EdDSA';
  /** See {@link OidcBackChannelLogoutFormat.keyId}; null without one. */
  readonly keyId: string | null;
}

/** The options checked, with defaults filled in. */
export interface ResolvedWebhookOptions {
  /** See {@link WebhookOptions.url}, normalised. */
  readonly url: string;
  /** See {@link WebhookOptions.secret}: empty for the OIDC format without one. */
  readonly secrets: readonly string[];
  /** See {@link WebhookOptions.events}. */
  readonly created: boolean;
  /** See {@link WebhookOptions.events}. */
  readonly loggedIn: boolean;
  /** See {@link WebhookOptions.timeout}. */
  readonly timeout: number;
  /** See {@link WebhookOptions.retrySchedule}. */
  readonly retrySchedule: readonly number[];
  /** See {@link WebhookOptions.maxBacklog}. */
  readonly maxBacklog: number;
  /** See {@link WebhookOptions.pollInterval}. */
  readonly pollInterval: number;
  /** See {@link WebhookOptions.batchSize}. */
  readonly batchSize: number;
  /** See {@link WebhookOptions.concurrency}. */
  readonly concurrency: number;
  /** See {@link WebhookOptions.format}; null for Standard Webhooks. */
  readonly oidc: ResolvedOidcFormat | null;
  /** See {@link WebhookOptions.onError}. */
  readonly onError: (error: unknown) => void;
  /** See {@link WebhookOptions.deliver}. */
  readonly deliver: boolean;
}

function positive(name: string, value: number, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new InvalidOptionError(`webhooks ${name} must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

function checkUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidOptionError('webhooks url must be an absolute http: or https: URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new InvalidOptionError('webhooks url must be http: or https:');
  if (parsed.username !== '' || parsed.password !== '') throw new InvalidOptionError('webhooks url must not carry credentials');
  return parsed.href;
}

function checkSecrets(secret: string | readonly string[] | undefined, required: boolean): readonly string[] {
  if (secret === undefined) {
    if (required) throw new InvalidOptionError('webhooks secret is required (whsec_<base64>)');
    return [];
  }
  const list = typeof secret === 'string' ? [secret] : secret;
  if (!Array.isArray(list) || list.length === 0)
    throw new InvalidOptionError('webhooks secret must be a whsec_ string or a non-empty list');
  for (const s of list) decodeSecret(s);
  return Object.freeze([...list]);
}

function checkOidc(format: OidcBackChannelLogoutFormat): ResolvedOidcFormat {
  const { issuer, audience, algorithm, keyId } = format;
  if (typeof issuer !== 'string' || issuer === '') throw new InvalidOptionError('webhooks format.issuer must be a non-empty string');
  const audiences = typeof audience === 'string' ? [audience] : audience;
  if (!Array.isArray(audiences) || audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a === '')) {
    throw new InvalidOptionError('webhooks format.audience must be a non-empty string or list of them');
  }
  if (keyId !== undefined && (typeof keyId !== 'string' || keyId === ''))
    throw new InvalidOptionError('webhooks format.keyId must be a string');
  let privateKey: KeyObject;
  try {
    privateKey = typeof format.privateKey === 'string' ? createPrivateKey(format.privateKey) : format.privateKey;
  } catch (error) {
    throw new InvalidOptionError(`webhooks format.privateKey is not a private key: ${(error as Error).message}`);
  }
  if (privateKey?.type !== 'private') throw new InvalidOptionError('webhooks format.privateKey must be a private key');
  const fits =
    algorithm === 'ES256'
      ? privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1'
      : algorithm === 'EdDSA'
        ? privateKey.asymmetricKeyType === 'ed25519'
        : false;
  if (!fits) throw new InvalidOptionError('webhooks format.algorithm must be ES256 with a P-256 key or EdDSA with an Ed25519 key');
  return Object.freeze({
    issuer,
    audience: typeof audience === 'string' ? audience : Object.freeze([...audience]),
    privateKey,
    algorithm,
    keyId: keyId ?? null,
  });
}

/** Checks the options (an `InvalidOptionError` for the first wrong one) and fills in the defaults. */
export function resolveWebhookOptions(options: WebhookOptions): ResolvedWebhookOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('webhooks options are required');
  const url = checkUrl(options.url);
  const format = options.format ?? 'standard-webhooks';
  if (format !== 'standard-webhooks' && (typeof format !== 'object' || format === null || format.type !== 'oidc-backchannel-logout')) {
    throw new InvalidOptionError("webhooks format must be 'standard-webhooks' or { type: 'oidc-backchannel-logout', ... }");
  }
  const oidc = format === 'standard-webhooks' ? null : checkOidc(format);
  const secrets = checkSecrets(options.secret, oidc === null);
  const created = options.events?.created ?? false;
  const loggedIn = options.events?.loggedIn ?? false;
  if (typeof created !== 'boolean' || typeof loggedIn !== 'boolean') throw new InvalidOptionError('webhooks events.* must be booleans');
  if (oidc !== null && (created || loggedIn)) {
    throw new InvalidOptionError(
      'the OIDC back-channel logout format carries session.ended only: leave events.created and events.loggedIn off',
    );
  }
  const retrySchedule = options.retrySchedule ?? defaultWebhookOptions.retrySchedule;
  if (!Array.isArray(retrySchedule) || retrySchedule.some((s) => typeof s !== 'number' || !Number.isFinite(s) || s < 0)) {
    throw new InvalidOptionError('webhooks retrySchedule must be a list of seconds (numbers >= 0)');
  }
  const onError = options.onError ?? ((error: unknown) => console.error('tessera: webhook outbox failed', error));
  if (typeof onError !== 'function') throw new InvalidOptionError('webhooks onError must be a function');
  const deliver = options.deliver ?? true;
  if (typeof deliver !== 'boolean') throw new InvalidOptionError('webhooks deliver must be true or false');
  return Object.freeze({
    deliver,
    url,
    secrets,
    created,
    loggedIn,
    timeout: positive('timeout', options.timeout ?? defaultWebhookOptions.timeout, false),
    retrySchedule: Object.freeze([...retrySchedule]),
    maxBacklog: positive('maxBacklog', options.maxBacklog ?? defaultWebhookOptions.maxBacklog, true),
    pollInterval: positive('pollInterval', options.pollInterval ?? defaultWebhookOptions.pollInterval, false),
    batchSize: positive('batchSize', options.batchSize ?? defaultWebhookOptions.batchSize, true),
    concurrency: positive('concurrency', options.concurrency ?? defaultWebhookOptions.concurrency, true),
    oidc,
    onError,
  });
}
