/**
 * `tessera-session/admin`: the admin HTTP API (and console) over a `SessionManager`, mountable in
 * node:http or Express.
 * @module
 */
export { createAdminHandler, type AdminHandler, type AdminHandlerOptions } from './handler.js';
export { staticConsole, type ConsolePage } from './console-files.js';
export type { OriginOptions } from './origin.js';
export type { AdminSession, AdminDataField } from './views.js';
export type { RecentCounts } from './stats.js';
