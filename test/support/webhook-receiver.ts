/**
 * A webhook receiver on 127.0.0.1 that checks every delivery the way a receiver in production
 * would: with the `standardwebhooks` package and the endpoint's secret. What it answers is set per
 * test (`respond`); it can hold a delivery unanswered, or stop listening and start again on the
 * same port (a receiver that is down, then back).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Delivery {
  /** The `webhook-id` header: the notice's id, the same at every attempt. */
  id: string;
  /** Whether `standardwebhooks` accepted the signature and timestamp. */
  verified: boolean;
  /** The parsed body (null when it was not JSON). */
  payload: { type: string; timestamp: string; data: Record<string, unknown> } | null;
  /** What this receiver answered. */
  status: number;
}

/** What to answer a delivery: a status (with headers), or `hold` (answer only when released). */
export type Answer = { status: number; headers?: Record<string, string> } | 'hold';

export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  /** Deliveries held unanswered, in arrival order: `release` answers them. */
  readonly held: Array<{ id: string; answer(status: number): void }> = [];
  respond: (id: string) => Answer = () => ({ status: 204 });
  #server: http.Server | null = null;
  #port = 0;
  readonly #verifier: Webhook;
  readonly #sockets = new Set<import('node:net').Socket>();

  constructor(secret: string) {
    this.#verifier = new Webhook(secret);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hooks/sessions`;
  }

  /** Unique ids verified and answered 2xx. */
  get delivered(): Set<string> {
    return new Set(this.deliveries.filter((d) => d.verified && d.status >= 200 && d.status < 300).map((d) => d.id));
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.listen(this.#port, '127.0.0.1');
    await once(server, 'listening');
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening (connections refused) and drops open connections; `start` listens again on the same port. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once `condition` holds, checking after each delivery; rejects after `ms` with `what`. */
  async until(condition: () => boolean, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.deliveries.length} deliveries`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      let verified = false;
      try {
        this.#verifier.verify(body, {
          'webhook-id': id,
          'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
        });
        verified = true;
      } catch {
        verified = false;
      }
      let payload: Delivery['payload'] = null;
      try {
        payload = JSON.parse(body) as Delivery['payload'];
      } catch {
        payload = null;
      }
      const answer = (status: number, headers: Record<string, string> = {}) => {
        this.deliveries.push({ id, verified, payload, status });
        res.writeHead(status, headers).end();
      };
      const chosen = verified ? this.respond(id) : { status: 400 };
      if (chosen === 'hold') this.held.push({ id, answer: (status) => answer(status) });
      else answer(chosen.status, chosen.headers);
    });
  }
}
