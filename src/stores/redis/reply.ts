/**
 * Replies as node-redis hands them over. A client given to the store may speak RESP2 or RESP3 and
 * may map types its own way, so nothing here assumes more than the reply's shape.
 */
export type Reply = unknown;

/** A bulk string, whether the client gives it as a string or a Buffer. */
export function asString(value: Reply): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString();
  return String(value);
}

/**
 * An `HGETALL` reply as a flat field, value, ... list. RESP2 sends one; a client given to the store
 * that speaks RESP3 turns the reply into an object (or, with its own type mapping, a Map).
 * Script replies need none of this: Lua returns the flat list under either protocol.
 */
export function flatHash(reply: Reply): Reply[] {
  if (Array.isArray(reply)) return reply as Reply[];
  if (reply instanceof Map) return [...(reply as Map<Reply, Reply>)].flat();
  if (reply !== null && typeof reply === 'object') return Object.entries(reply).flat();
  return [];
}
