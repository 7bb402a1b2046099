/**
 * Session-end webhooks for the demo: `TESSERA_WEBHOOK_URL` (an `http:` or `https:` receiver) and
 * `TESSERA_WEBHOOK_SECRET` (its `whsec_…` secret; several, comma-separated, while rotating).
 */
import { InvalidOptionError } from 'tessera-session';
import { sessionWebhooks, type SessionWebhooks } from 'tessera-session/webhooks';

type Env = Record<string, string | undefined>;

/** A mistake in the webhook settings, reported like the rest of the demo's configuration. */
export class WebhookConfigError extends Error {
  override name = 'WebhookConfigError';
}

/** The notifier the settings ask for, or null when `TESSERA_WEBHOOK_URL` is unset. */
export function loadWebhooks(env: Env): SessionWebhooks | null {
  const url = env.TESSERA_WEBHOOK_URL || null;
  const secret = env.TESSERA_WEBHOOK_SECRET || null;
  if (url === null) {
    if (secret !== null) throw new WebhookConfigError('TESSERA_WEBHOOK_SECRET is set but TESSERA_WEBHOOK_URL is not');
    return null;
  }
  if (secret === null) throw new WebhookConfigError('TESSERA_WEBHOOK_URL needs TESSERA_WEBHOOK_SECRET (whsec_…) to sign its deliveries');
  try {
    return sessionWebhooks({ url, secret: secret.split(',') });
  } catch (error) {
    if (error instanceof InvalidOptionError) throw new WebhookConfigError(`TESSERA_WEBHOOK_URL/TESSERA_WEBHOOK_SECRET: ${error.message}`);
    throw error;
  }
}
