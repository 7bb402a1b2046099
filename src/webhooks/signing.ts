/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * `{id}.{timestamp}.{body}` with a `whsec_<base64>` secret's bytes, `v1,<base64>` per secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../core/errors.js';

const PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Decodes a `whsec_<base64>` secret to its key bytes; an `InvalidOptionError` when it is not one. */
export function decodeSecret(secret: string): Buffer {
  if (typeof secret !== 'string' || !secret.startsWith(PREFIX)) {
    throw new InvalidOptionError('webhook secrets must be strings of the form whsec_<base64>');
  }
  const encoded = secret.slice(PREFIX.length);
  if (!BASE64.test(encoded) || encoded.length % 4 !== 0) throw new InvalidOptionError('a webhook secret after whsec_ must be base64');
  const key = Buffer.from(encoded, 'base64');
  // A short key could be found offline from one signed delivery; the specification asks for at least 24 bytes.
  if (key.length < 24) throw new InvalidOptionError('a webhook secret must hold at least 24 bytes (whsec_ + base64)');
  return key;
}

/** What a delivery is signed over: its `webhook-id`, its `webhook-timestamp` (unix seconds) and its body. */
export interface SignedContent {
  /** The `webhook-id` header: the notice's id. */
  id: string;
  /** The `webhook-timestamp` header: unix seconds. */
  timestamp: number;
  /** The body exactly as sent. */
  body: string;
}

/**
 * The `webhook-signature` header value for a delivery: one `v1,<base64 HMAC-SHA256>` entry per
 * secret (several while a secret is rotated), separated by spaces.
 * @param secrets `whsec_<base64>` secrets.
 */
export function signWebhook(content: SignedContent, secrets: string | readonly string[]): string {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  return list.map((secret) => `v1,${hmac(decodeSecret(secret), content)}`).join(' ');
}

/**
 * Whether a `webhook-signature` header holds a valid `v1` signature of the content under the
 * secret, compared in constant time. It does not check the timestamp's age: a receiver should also
 * refuse a `webhook-timestamp` far from its own clock (the `standardwebhooks` package does both).
 */
export function verifyWebhook(content: SignedContent, signatureHeader: string, secret: string): boolean {
  const expected = Buffer.from(hmac(decodeSecret(secret), content));
  let valid = false;
  for (const entry of signatureHeader.split(' ')) {
    const [version, signature] = entry.split(',', 2);
    if (version !== 'v1' || signature === undefined) continue;
    const given = Buffer.from(signature);
    if (given.length === expected.length && timingSafeEqual(given, expected)) valid = true;
  }
  return valid;
}

function hmac(key: Buffer, { id, timestamp, body }: SignedContent): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
}
