/**
 * `tessera-session/webhooks`: signed, durable webhooks when a session ends (and, if asked, when
 * one is created or logs in), following the Standard Webhooks specification, or as OpenID Connect
 * back-channel logout tokens.
 * @module
 */
import type { WebhookOptions } from './options.js';
import { SessionWebhooks } from './worker.js';

export { defaultRetrySchedule, defaultWebhookOptions } from './options.js';
export type { OidcBackChannelLogoutFormat, ResolvedOidcFormat, ResolvedWebhookOptions, WebhookOptions } from './options.js';
export { BACKCHANNEL_LOGOUT_EVENT } from './oidc.js';
export { noticePayload } from './payload.js';
export type { SessionCreatedPayload, SessionEndedPayload, SessionLoggedInPayload, WebhookPayload } from './payload.js';
export { signWebhook, verifyWebhook } from './signing.js';
export type { SignedContent } from './signing.js';
export { SessionWebhooks } from './worker.js';

/**
 * A notifier for `SessionManagerOptions.webhooks`: POSTs each session notice to `url`, signed,
 * retried on the Standard Webhooks schedule, at least once (a notice leaves the store's outbox
 * only once delivered, disabled by a `410`, or given up after its last retry).
 * @example
 * ```ts
 * const manager = new SessionManager({
 *   store,
 *   webhooks: sessionWebhooks({ url: 'https://accounts.internal/hooks/sessions', secret: process.env.WEBHOOK_SECRET! }),
 * });
 * ```
 */
export function sessionWebhooks(options: WebhookOptions): SessionWebhooks {
  return new SessionWebhooks(options);
}
