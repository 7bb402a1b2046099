// A webhook receiver on 127.0.0.1 for the webhook tests: records each POST, answers as the test
// says (or holds the answer), and can go down and come back on the same port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { Clock } from '../../src/core/index.js';

export interface Delivery {
  headers: Record<string, string>;
  body: string;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
}

export class WebhookReceiver {
  readonly received: Delivery[] = [];
  /** How the next POST is answered; may return a promise to hold the answer. */
  respond: (delivery: Delivery) => Answer | Promise<Answer> = () => ({ status: 204 });
  #server: Server;
  #port = 0;
  #waiters: { count: number; resolve: () => void }[] = [];

  private constructor() {
    this.#server = this.#create();
  }

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await receiver.#listen(0);
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hooks`;
  }

  /** Resolves once `count` deliveries in all have arrived. */
  arrived(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Stops listening (connections refused from now on) until `up()`. */
  async down(): Promise<void> {
    const server = this.#server;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Listens again on the same port. */
  async up(): Promise<void> {
    this.#server = this.#create();
    await this.#listen(this.#port);
  }

  close(): Promise<void> {
    return this.down();
  }

  #create(): Server {
    return createServer((req, res) => void this.#handle(req, res));
  }

  async #listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
    const delivery = { headers, body: Buffer.concat(chunks).toString('utf8') };
    this.received.push(delivery);
    for (const waiter of this.#waiters.filter((w) => this.received.length >= w.count)) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
    const answer = await this.respond(delivery);
    if (res.destroyed) return;
    res.writeHead(answer.status, answer.headers ?? {});
    res.end();
  }
}

/**
 * Verifies a delivery with the `standardwebhooks` package, as a receiver would, its clock being
 * the sender's (the tests move a ManualClock; the package checks the timestamp against Date.now()).
 */
export function verifyDelivery(secret: string, delivery: Delivery, clock: Clock): unknown {
  const realNow = Date.now;
  Date.now = () => clock.now();
  try {
    return new Webhook(secret).verify(delivery.body, delivery.headers);
  } finally {
    Date.now = realNow;
  }
}
