/**
 * The delivery worker: claims due notices from the store's outbox, POSTs them, and removes,
 * defers or gives them up by the answer. It runs on timers and on `wake()`, never on a request's path.
 */
import type { SessionEvent } from '../core/events.js';
import type { NotifierContext, SessionNotice, SessionNotifier } from '../core/outbox.js';
import { logoutBody, logoutToken } from './oidc.js';
import { type ResolvedWebhookOptions, resolveWebhookOptions, type WebhookOptions } from './options.js';
import { noticePayload } from './payload.js';
import { post, postAgent, type PostAgent } from './post.js';
import { signWebhook } from './signing.js';

/** Seconds a claim outlives two timeouts, so that only a crashed worker's claims come due again. */
const LEASE_MARGIN = 10;
/** The longest `Retry-After` honoured: a receiver cannot park a notice for longer. */
const MAX_RETRY_AFTER = 24 * 3600 * 1000;
const JITTER = 0.2;
/** How long a wake waits before its pass, so that the endings of a burst go out in one batch. */
const WAKE_DELAY_MS = 10;

type WebhookEvent = Extract<SessionEvent, { type: 'webhook' }>;

/** What one attempt came to: whether its notice leaves the outbox, and the event to send once it has. */
interface Attempt {
  id: string;
  remove: boolean;
  event: WebhookEvent | null;
}

/**
 * A `SessionNotifier` that delivers session notices as signed webhooks (Standard Webhooks,
 * or OIDC back-channel logout tokens), at least once: a notice leaves the outbox only after a
 * 2xx answer, a `410 Gone`, or its last retry. Give it to `SessionManagerOptions.webhooks`.
 */
export class SessionWebhooks implements SessionNotifier {
  /** The options checked, with defaults filled in. */
  readonly options: ResolvedWebhookOptions;
  /** Which notices the manager records besides `session.ended` (`events`). */
  readonly notices: {
    /** `session.created`. */
    readonly created: boolean;
    /** `session.logged_in`. */
    readonly loggedIn: boolean;
  };
  #context: NotifierContext | null = null;
  #closed = false;
  #disabled = false;
  #timer: NodeJS.Timeout | null = null;
  #woken: NodeJS.Timeout | null = null;
  /** Whether the next pass checks the outbox's size against the cap (polls and flushes do; wakes leave it to them). */
  #capDue = true;
  readonly #agent: PostAgent;
  readonly #url: URL;
  /** The pass under way (or a settled promise): passes run one after another. */
  #running: Promise<void> = Promise.resolve();
  /** A pass waiting for the running one, which every `wake()` and `flush()` until it starts joins. */
  #queued: Promise<void> | null = null;

  constructor(options: WebhookOptions) {
    this.options = resolveWebhookOptions(options);
    this.#url = new URL(this.options.url);
    this.#agent = postAgent(this.#url, this.options.concurrency);
    this.notices = Object.freeze({ created: this.options.created, loggedIn: this.options.loggedIn });
  }

  /** Whether a receiver answered `410 Gone`: nothing more is delivered (the outbox's cap still holds). */
  get disabled(): boolean {
    return this.#disabled;
  }

  /** Starts polling the outbox. Called by the manager; a notifier serves one manager. */
  start(context: NotifierContext): void {
    if (this.#context !== null) throw new Error('a webhook notifier serves one manager: create one per manager');
    this.#context = context;
    if (!this.#closed && this.options.deliver) this.#schedulePoll();
  }

  /** Starts a pass within a few milliseconds, never on the caller's path. */
  wake(): void {
    if (this.#context === null || this.#closed || this.#woken !== null || !this.options.deliver) return;
    this.#woken = setTimeout(() => {
      this.#woken = null;
      void this.#pass(false);
    }, WAKE_DELAY_MS);
    this.#woken.unref();
  }

  /**
   * Delivers every notice due now (retries due by the clock included) and resolves once each has
   * had its attempt; for tests and for a last pass at shutdown.
   */
  flush(): Promise<void> {
    return this.#pass(true);
  }

  /** Stops polling; resolves once the deliveries under way have ended. Notices not yet tried stay in the outbox. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#woken !== null) clearTimeout(this.#woken);
    this.#timer = null;
    this.#woken = null;
    await this.#running;
    this.#agent.destroy();
  }

  #schedulePoll(): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#pass(true).finally(() => {
        if (!this.#closed) this.#schedulePoll();
      });
    }, this.options.pollInterval * 1000);
    this.#timer.unref();
  }

  #pass(checkCap: boolean): Promise<void> {
    if (checkCap) this.#capDue = true;
    if (this.#queued !== null) return this.#queued;
    const queued = this.#running.then(() => {
      this.#queued = null;
      return this.#drain();
    });
    this.#queued = queued;
    this.#running = queued;
    return queued;
  }

  async #drain(): Promise<void> {
    const context = this.#context;
    if (context === null || this.#closed || !this.options.deliver) return;
    const { batchSize, timeout, onError } = this.options;
    try {
      if (this.#capDue) {
        this.#capDue = false;
        await this.#enforceCap(context);
      }
      while (!this.#disabled && !this.#closed) {
        const now = context.clock.now();
        const leaseUntil = now + (timeout * 2 + LEASE_MARGIN) * 1000;
        const batch = await context.outbox.claimNotices({ now, limit: batchSize, leaseUntil });
        if (batch.length === 0) break;
        await this.#deliverAll(context, batch);
      }
    } catch (error) {
      onError(error);
    }
  }

  async #enforceCap({ outbox, clock, emit }: NotifierContext): Promise<void> {
    const max = this.options.maxBacklog;
    if ((await outbox.countNotices()) <= max) return;
    const dropped = await outbox.trimNotices(max);
    if (dropped > 0) emit({ type: 'outboxFull', at: clock.now(), dropped, max });
  }

  async #deliverAll(context: NotifierContext, batch: readonly SessionNotice[]): Promise<void> {
    const finished: Attempt[] = [];
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let notice = batch[next++]; notice !== undefined; notice = batch[next++]) {
        try {
          // Claimed but no longer to be sent (closing, or disabled by a 410 meanwhile): due again at
          // once, for the next start or another instance, rather than at the end of the lease.
          if (this.#closed || this.#disabled) await context.outbox.deferNotice(notice.id, context.clock.now());
          else finished.push(await this.#deliver(context, notice));
        } catch (error) {
          this.options.onError(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, batch.length) }, lane));
    // One removal for the batch: a crash before it delivers these again, under the same ids.
    const done = finished.filter((attempt) => attempt.remove).map((attempt) => attempt.id);
    if (done.length > 0) await context.outbox.removeNotices(done);
    for (const { event } of finished) if (event !== null) context.emit(event);
  }

  /** One attempt; the notice deferred here when it is to be tried again, its removal left to the batch. */
  async #deliver({ outbox, clock }: NotifierContext, notice: SessionNotice): Promise<Attempt> {
    const { timeout, oidc } = this.options;
    if (oidc !== null && notice.type !== 'session.ended') {
      // Back-channel logout has nothing to say about a start; another manager's notifier recorded it.
      return { id: notice.id, remove: true, event: null };
    }
    const sentAt = clock.now();
    const body = oidc === null ? JSON.stringify(noticePayload(notice)) : logoutBody(logoutToken(notice, oidc, sentAt));
    const headers = this.#headers(notice.id, Math.floor(sentAt / 1000), body);
    // No answer (refused, reset, cut by the timeout) is retried like a 5xx.
    const { status, retryAfter } = await post(this.#url, this.#agent, headers, body, timeout * 1000);
    const at = clock.now();
    const event = (outcome: WebhookEvent['outcome']): WebhookEvent => ({
      type: 'webhook',
      at,
      outcome,
      notice: { id: notice.id, type: notice.type },
      attempt: notice.attempts,
      status,
    });
    if (status !== null && status >= 200 && status < 300) return { id: notice.id, remove: true, event: event('delivered') };
    if (status === 410) {
      this.#disabled = true;
      return { id: notice.id, remove: true, event: event('disabled') };
    }
    const delay = this.#retryDelay(notice.attempts, retryAfter, at);
    if (delay === null) return { id: notice.id, remove: true, event: event('failed') };
    await outbox.deferNotice(notice.id, at + delay);
    return { id: notice.id, remove: false, event: event('retrying') };
  }

  #headers(id: string, timestamp: number, body: string): Record<string, string> {
    const { secrets, oidc } = this.options;
    const headers: Record<string, string> = {
      'content-type': oidc === null ? 'application/json' : 'application/x-www-form-urlencoded',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
    };
    if (secrets.length > 0) headers['webhook-signature'] = signWebhook({ id, timestamp, body }, secrets);
    return headers;
  }

  /** Milliseconds until the next attempt after failed attempt `attempt` (from 1), or null when it was the last. */
  #retryDelay(attempt: number, retryAfter: string | null, now: number): number | null {
    const scheduled = this.options.retrySchedule[attempt - 1];
    if (scheduled === undefined) return null;
    const asked = parseRetryAfter(retryAfter, now);
    if (asked !== null) return Math.min(asked, MAX_RETRY_AFTER);
    // Jitter spreads the retries of notices that failed together (a receiver back from an outage).
    return Math.round(scheduled * 1000 * (1 - JITTER + 2 * JITTER * Math.random()));
  }
}

/** A `Retry-After` value in milliseconds from `now`: delay-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
