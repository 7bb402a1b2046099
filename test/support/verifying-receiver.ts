/**
 * The webhook receiver of test/support/webhook-receiver.ts, checking every delivery the way a
 * receiver in production would: with the `standardwebhooks` package and the endpoint's secret, its
 * clock being the sender's. A delivery that does not verify is answered 400; one that does gets
 * what `respond` says, or is held unanswered until the test answers it.
 */
import type { Clock } from '../../src/core/index.js';
import { verifyDelivery, WebhookReceiver, type Answer } from './webhook-receiver.js';

export interface VerifiedDelivery {
  /** The `webhook-id` header: the notice's id, the same at every attempt. */
  id: string;
  /** Whether `standardwebhooks` accepted the signature and timestamp. */
  verified: boolean;
  /** The parsed body (null when it did not verify). */
  payload: { type: string; timestamp: string; data: Record<string, unknown> } | null;
  /** What the receiver answered. */
  status: number;
}

export class VerifyingReceiver {
  readonly deliveries: VerifiedDelivery[] = [];
  /** Deliveries held unanswered, in arrival order. */
  readonly held: Array<{ id: string; answer(status: number): void }> = [];
  respond: (id: string) => Answer | 'hold' = () => ({ status: 204 });
  readonly #secret: string;
  readonly #clock: Clock;
  #receiver: WebhookReceiver | null = null;
  #running = false;

  // The real Date.now, bound now: verifyDelivery stands the clock in for Date.now while it checks.
  constructor(secret: string, clock: Clock = { now: Date.now.bind(Date) }) {
    this.#secret = secret;
    this.#clock = clock;
  }

  get url(): string {
    if (this.#receiver === null) throw new Error('start the receiver first');
    return this.#receiver.url;
  }

  /** Unique ids verified and answered 2xx. */
  get delivered(): Set<string> {
    return new Set(this.deliveries.filter((d) => d.verified && d.status >= 200 && d.status < 300).map((d) => d.id));
  }

  /** Listens (again, on the same port, after `stop`). */
  async start(): Promise<void> {
    if (this.#running) return;
    if (this.#receiver === null) {
      this.#receiver = await WebhookReceiver.start();
      this.#receiver.respond = (delivery) => this.#answer(delivery.headers, delivery.body);
    } else await this.#receiver.up();
    this.#running = true;
  }

  /** Stops listening: connections are refused until `start`. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.#receiver?.down();
  }

  /** Resolves once `condition` holds (checked every 10 ms); rejects after `ms` naming `what`. */
  async until(condition: () => boolean, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.deliveries.length} deliveries`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  #answer(headers: Record<string, string>, body: string): Answer | Promise<Answer> {
    const id = headers['webhook-id'] ?? '';
    let payload: VerifiedDelivery['payload'] = null;
    try {
      payload = verifyDelivery(this.#secret, { headers, body }, this.#clock) as VerifiedDelivery['payload'];
    } catch {
      payload = null;
    }
    const record = (status: number): Answer => {
      this.deliveries.push({ id, verified: payload !== null, payload, status });
      return { status };
    };
    if (payload === null) return record(400);
    const chosen = this.respond(id);
    if (chosen !== 'hold') {
      this.deliveries.push({ id, verified: true, payload, status: chosen.status });
      return chosen;
    }
    return new Promise((resolve) => this.held.push({ id, answer: (status) => resolve(record(status)) }));
  }
}
