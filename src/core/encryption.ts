/**
 * Encryption of session data at rest: each value is sealed with AES-256-GCM under a random 96-bit
 * nonce, tagged with the id of the key that sealed it, and bound by associated data to its session
 * id and field name, so a ciphertext copied to another session or field does not open.
 *
 * What stays readable in the store: field names, the subject, the display name, timestamps, device
 * metadata and the secret's hash (lookup and management need them). What is encrypted: every
 * data value, counters included.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { CodecContext, ValueCodec } from './codec.js';
import { InvalidOptionError } from './errors.js';
import type { JsonValue } from './store.js';

/** One key of an encryption key ring (see `parseKeyRing` and `generateKey`). */
export interface EncryptionKey {
  /** Written beside each ciphertext: 1-32 of A-Z a-z 0-9 _ -. */
  id: string;
  /** At least 32 bytes of secret key material. */
  key: Uint8Array;
}

/** A value that could not be decrypted: its key is gone, or it was tampered with or moved. */
export class UnreadableValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableValueError';
  }
}

const PREFIX = 'enc1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

function aad(context: CodecContext): Buffer {
  return Buffer.from(`tessera\0${context.sessionId}\0${context.field}`, 'utf8');
}

/**
 * A codec that encrypts every data value. The first key encrypts; every key decrypts, so keys can
 * be rotated by putting a new one first and removing the old one once its data has been rewritten
 * (values are re-encrypted under the first key whenever they are written, and all of a session's
 * values on login and rotation).
 */
export function encryptionCodec(keys: readonly EncryptionKey[]): ValueCodec {
  if (keys.length === 0) throw new InvalidOptionError('encryption needs at least one key');
  const ring = new Map<string, Buffer>();
  for (const { id, key } of keys) {
    if (!KEY_ID.test(id)) throw new InvalidOptionError(`encryption key id ${JSON.stringify(id)} must be 1-32 of A-Z a-z 0-9 _ -`);
    if (!(key instanceof Uint8Array) || key.length < 32) {
      throw new InvalidOptionError(
        `encryption key "${id}" is ${key?.length ?? 0} bytes; keys must be at least 32 bytes (generate one with: tessera keys generate)`,
      );
    }
    if (ring.has(id)) throw new InvalidOptionError(`encryption key id "${id}" appears twice`);
    // Derive the AES key so that key material of any length ≥ 32 bytes gives a uniform 256-bit key.
    ring.set(id, Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'tessera aes-256-gcm v1', 32)));
  }
  const primaryId = (keys[0] as EncryptionKey).id;
  const primary = ring.get(primaryId) as Buffer;
  return Object.freeze({
    additive: false,
    encode(value: JsonValue, context: CodecContext): JsonValue {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', primary, nonce);
      cipher.setAAD(aad(context));
      const sealed = Buffer.concat([nonce, cipher.update(JSON.stringify(value), 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${PREFIX}.${primaryId}.${sealed.toString('base64url')}`;
    },
    decode(stored: JsonValue, context: CodecContext): JsonValue {
      if (typeof stored !== 'string') throw new UnreadableValueError('not an encrypted value');
      const [prefix, keyId, body, extra] = stored.split('.');
      if (prefix !== PREFIX || keyId === undefined || body === undefined || extra !== undefined)
        throw new UnreadableValueError('not an encrypted value');
      const key = ring.get(keyId);
      if (key === undefined) throw new UnreadableValueError(`no key "${keyId}" in the key ring`);
      const sealed = Buffer.from(body, 'base64url');
      if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new UnreadableValueError('ciphertext too short');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES));
        decipher.setAAD(aad(context));
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
        return JSON.parse(plain.toString('utf8')) as JsonValue;
      } catch {
        throw new UnreadableValueError('ciphertext does not open under its key for this session and field');
      }
    },
  });
}

/**
 * Reads a key ring written as `keyId:base64key,keyId:base64key` (the first is the primary), as in
 * the `TESSERA_ENCRYPTION_KEYS` environment variable.
 */
export function parseKeyRing(text: string): EncryptionKey[] {
  const keys = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const colon = entry.indexOf(':');
      if (colon <= 0) throw new InvalidOptionError('each encryption key is written keyId:base64key');
      const id = entry.slice(0, colon);
      const encoded = entry.slice(colon + 1);
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) throw new InvalidOptionError(`encryption key "${id}" is not base64`);
      return { id, key: new Uint8Array(Buffer.from(encoded, 'base64')) };
    });
  encryptionCodec(keys); // validates lengths and ids with clear messages
  return keys;
}

/** A new random 32-byte key, written `keyId:base64key`. */
export function generateKey(id = `k${Date.now().toString(36)}`): string {
  if (!KEY_ID.test(id)) throw new InvalidOptionError('key id must be 1-32 of A-Z a-z 0-9 _ -');
  return `${id}:${randomBytes(32).toString('base64')}`;
}
