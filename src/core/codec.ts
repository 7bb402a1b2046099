import type { JsonValue } from './store.js';

/** Where a value lives, which an encrypting codec binds its ciphertext to. */
export interface CodecContext {
  /** The session's public id. */
  sessionId: string;
  /** The field's name. */
  field: string;
}

/**
 * Turns app values into what the store keeps and back. The default keeps plain JSON; an
 * encrypting codec stores ciphertext bound to the session id and field name.
 */
export interface ValueCodec {
  /**
   * True when an encoded integer is that integer, so a store may add to it in place. When
   * false, `increment` becomes a compare-and-set on the record's version.
   */
  readonly additive: boolean;
  /** The stored form of an app value. */
  encode(value: JsonValue, context: CodecContext): JsonValue;
  /** Throws if the stored value cannot be read (for example, its key was removed). */
  decode(stored: JsonValue, context: CodecContext): JsonValue;
}

/** The default: values are stored as the JSON they are. */
export const jsonCodec: ValueCodec = Object.freeze({
  additive: true,
  encode: (value: JsonValue) => value,
  decode: (stored: JsonValue) => stored,
});
