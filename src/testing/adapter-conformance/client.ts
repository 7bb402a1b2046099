import assert from 'node:assert/strict';

/** One `Set-Cookie` value, split into its name, value and attributes (names lower-cased). */
export interface SetCookie {
  name: string;
  value: string;
  /** Attribute names lower-cased; a flag such as `HttpOnly` maps to `true`. */
  attributes: Map<string, string | true>;
  /** Whether it deletes the cookie (`Max-Age=0`, empty value). */
  clears: boolean;
  raw: string;
}

/** A response as the suite checked it. */
export interface Reply {
  status: number;
  headers: Headers;
  /** The parsed JSON body (every route and every error answers JSON). */
  json: unknown;
  /** The session cookie the response sets or clears, if any (there is at most one). */
  sessionCookie: SetCookie | null;
}

/** What a request sends beyond its method and path. */
export interface Sent {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
}

/** The `{ id, subject, data }` of `GET /session`. */
export interface SessionBody {
  id: string | null;
  subject: string | null;
  data: Record<string, unknown>;
}

// A V8 stack frame ("    at handler (/app/server.js:12:5)"), as an error page would show it.
const STACK_FRAME = /\bat\s+\S.*[:(][^\s()]*:\d+:\d+\)?/;

export function parseSetCookie(raw: string): SetCookie {
  const [pair = '', ...rest] = raw.split(';');
  const eq = pair.indexOf('=');
  const name = (eq === -1 ? pair : pair.slice(0, eq)).trim();
  const value = eq === -1 ? '' : pair.slice(eq + 1).trim();
  const attributes = new Map<string, string | true>();
  for (const part of rest) {
    const at = part.indexOf('=');
    const key = (at === -1 ? part : part.slice(0, at)).trim().toLowerCase();
    if (key !== '') attributes.set(key, at === -1 ? true : part.slice(at + 1).trim());
  }
  return { name, value, attributes, clears: value === '' && attributes.get('max-age') === '0', raw };
}

/**
 * An app under test, reached over real HTTP on the loopback interface. Every response is checked
 * against the rules that hold for all of them: no 500 and no stack trace, at most one session
 * `Set-Cookie` and with it `Cache-Control: no-store` and the cookie's required attributes, and
 * every error answered `{error:{code,message}}` as JSON.
 */
export class AppClient {
  constructor(
    /** Shown in assertion messages. */
    readonly label: string,
    readonly url: string,
    /** The session cookie's name over plain HTTP; over HTTPS it is this with `__Host-` in front. */
    readonly cookieName: string,
  ) {}

  async send(path: string, sent: Sent = {}): Promise<Reply> {
    const what = `${this.label}: ${sent.method ?? 'GET'} ${path}`;
    const res = await fetch(`${this.url}${path}`, { method: sent.method ?? 'GET', headers: sent.headers ?? {}, redirect: 'manual' });
    const text = await res.text();
    assert.notEqual(res.status, 500, `${what} answered 500: ${text.slice(0, 300)}`);
    assert.doesNotMatch(text, STACK_FRAME, `${what} shows a stack trace`);
    const sessionCookies = res.headers
      .getSetCookie()
      .map(parseSetCookie)
      .filter((cookie) => cookie.name === this.cookieName || cookie.name === `__Host-${this.cookieName}`);
    assert.ok(
      sessionCookies.length <= 1,
      `${what} sets the session cookie ${sessionCookies.length} times: ${JSON.stringify(sessionCookies)}`,
    );
    const sessionCookie = sessionCookies[0] ?? null;
    if (sessionCookie !== null) {
      assert.match(
        res.headers.get('cache-control') ?? '',
        /\bno-store\b/,
        `${what} sets the session cookie without Cache-Control: no-store`,
      );
      checkAttributes(sessionCookie, what);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      assert.fail(`${what} answered ${res.status} with a body that is not JSON: ${text.slice(0, 300)}`);
    }
    if (res.status >= 400) {
      assert.match(res.headers.get('content-type') ?? '', /application\/json/, `${what}: an error answered without a JSON content type`);
      const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      assert.ok(typeof error?.code === 'string' && typeof error.message === 'string', `${what}: not {error:{code,message}}: ${text}`);
    }
    return { status: res.status, headers: res.headers, json, sessionCookie };
  }
}

function checkAttributes(cookie: SetCookie, what: string): void {
  const { attributes } = cookie;
  const show = `${what}: ${cookie.raw}`;
  assert.equal(attributes.get('httponly'), true, `${show}: not HttpOnly`);
  assert.equal(String(attributes.get('samesite')).toLowerCase(), 'lax', `${show}: not SameSite=Lax`);
  assert.equal(attributes.get('path'), '/', `${show}: not Path=/`);
  assert.equal(attributes.has('domain'), false, `${show}: has a Domain`);
  assert.match(String(attributes.get('max-age')), /^\d+$/, `${show}: no Max-Age`);
  const hostPrefixed = cookie.name.startsWith('__Host-');
  assert.equal(attributes.get('secure') === true, hostPrefixed, `${show}: Secure must go with the __Host- prefix, and only with it`);
  if (!cookie.clears) assert.ok(Number(attributes.get('max-age')) > 0, `${show}: a token with Max-Age=0`);
}

/**
 * One browser on one app: it keeps the session cookie the app last set (and drops it when the
 * app clears it) and sends it back, with any headers it was made with.
 */
export class Browser {
  /** The session cookie it holds, as `name=value`; null when it holds none. */
  cookie: string | null = null;

  constructor(
    readonly app: AppClient,
    readonly headers: Record<string, string> = {},
  ) {}

  get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return this.send(path, { method: 'GET', headers });
  }

  post(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return this.send(path, { method: 'POST', headers });
  }

  /** `GET /session`, expected to answer 200. */
  async session(): Promise<SessionBody> {
    const reply = await this.get('/session');
    assert.equal(reply.status, 200, `GET /session: ${JSON.stringify(reply.json)}`);
    return reply.json as SessionBody;
  }

  /** The token it holds (the cookie's value); fails when it holds none. */
  get token(): string {
    assert.ok(this.cookie !== null, 'the browser holds no session cookie');
    return this.cookie.slice(this.cookie.indexOf('=') + 1);
  }

  async send(path: string, sent: Sent): Promise<Reply> {
    const headers = { ...this.headers, ...sent.headers };
    if (this.cookie !== null && headers.cookie === undefined) headers.cookie = this.cookie;
    const reply = await this.app.send(path, { ...sent, headers });
    const set = reply.sessionCookie;
    if (set !== null) this.cookie = set.clears ? null : `${set.name}=${set.value}`;
    return reply;
  }
}

/** Asserts a 200 and returns its JSON body. */
export function ok<T>(reply: Reply, what: string): T {
  assert.equal(reply.status, 200, `${what}: ${reply.status} ${JSON.stringify(reply.json)}`);
  return reply.json as T;
}
