/** The types an app gives its sessions' data: declared once, or per manager. */
import type { JsonValue } from './store.js';

/**
 * The shape of every session's data, for the types, declared once by the app with declaration
 * merging (as Fastify users declare `FastifyRequest`): then `session.get`, `set` and `increment`
 * take only its keys and values, in every adapter. Empty, sessions hold any JSON
 * (`Record<string, JsonValue>`). A manager can also be given its own type:
 * `new SessionManager<CartData>(…)`.
 *
 * @example
 * declare module 'tessera-session' {
 *   interface SessionData { cart: string[]; views: number }
 * }
 */
// biome-ignore lint/suspicious/noEmptyInterface: empty until an app declares its data (declaration merging)
export interface SessionData {}

/** The data type of a session whose manager was given none: `SessionData` once declared, else any JSON. */
export type DefaultSessionData = keyof SessionData extends never ? Record<string, JsonValue> : SessionData;

/** The keys of a session's data. */
export type SessionKey<T> = keyof T & string;

/** The keys `increment` takes: the number fields (every key while the data is untyped). */
export type CounterKey<T> = {
  [K in SessionKey<T>]: string extends K ? K : [Exclude<T[K], undefined>] extends [number] ? K : never;
}[SessionKey<T>];
