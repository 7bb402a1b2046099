/**
 * One POST to the receiver, with node:http(s) and a keep-alive agent per notifier: a delivery costs
 * less CPU than through `fetch`, and runs in the same process as the requests (measured by
 * `npm run bench:webhooks`). Redirects are not followed (node:http never does).
 */
import http from 'node:http';
import https from 'node:https';

/** What the receiver answered, or null fields when it did not (refused, reset, timed out). */
export interface PostAnswer {
  status: number | null;
  retryAfter: string | null;
}

export type PostAgent = http.Agent;

export function postAgent(url: URL, concurrency: number): PostAgent {
  const options = { keepAlive: true, maxSockets: concurrency };
  return url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}

/** Sends `body`; resolves with the answer's status once it has been read, never rejects. */
export function post(url: URL, agent: PostAgent, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostAnswer> {
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: PostAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const request = send(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (response) => {
        const answer = { status: response.statusCode ?? null, retryAfter: headerValue(response.headers['retry-after']) };
        // The answer's body means nothing here; reading it to the end frees the connection for the next.
        response.on('end', () => done(answer));
        response.on('error', () => done(answer));
        response.resume();
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      done({ status: null, retryAfter: null });
    }, timeoutMs);
    timer.unref();
    request.on('error', () => done({ status: null, retryAfter: null }));
    request.end(body);
  });
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}
