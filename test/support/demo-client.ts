/**
 * A tiny HTTP client for the demo's JSON API: `fetch` plus a one-cookie-name jar, like a browser
 * tab that only talks to one site. Every token any client receives is recorded in `issuedTokens`
 * so a test can later check that none of them reached the store.
 */

/** Every session token set by the server during this test process. */
export const issuedTokens = new Set<string>();

export const COOKIE_NAME = 'tessera';

export interface ParsedSetCookie {
  name: string;
  value: string;
  /** Attribute names in lower case → value ('' for flags such as HttpOnly). */
  attributes: Map<string, string>;
  raw: string;
}

export function parseSetCookie(raw: string): ParsedSetCookie {
  const [pair = '', ...rest] = raw.split(';');
  const eq = pair.indexOf('=');
  const attributes = new Map<string, string>();
  for (const part of rest) {
    const index = part.indexOf('=');
    const key = (index === -1 ? part : part.slice(0, index)).trim().toLowerCase();
    attributes.set(key, index === -1 ? '' : part.slice(index + 1).trim());
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes, raw };
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or null for an empty or non-JSON body. */
  body: any;
  text: string;
  setCookies: ParsedSetCookie[];
}

export interface RequestOptions {
  /** Sent as JSON with `Content-Type: application/json`. */
  json?: unknown;
  /** Sent as is; set `contentType` to go with it. */
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** Leave the jar out of this request. */
  noCookie?: boolean;
}

export interface DemoClientOptions {
  /** The session cookie's name: `__Host-tessera` when the server sees HTTPS (behind a TLS proxy). */
  cookieName?: string;
  /** Sent with every request, e.g. the `X-Forwarded-*` headers a proxy would add. */
  headers?: Record<string, string>;
}

export class DemoClient {
  readonly #base: () => string;
  readonly userAgent: string;
  readonly cookieName: string;
  readonly #headers: Record<string, string>;
  /** The session token this client holds, if any. */
  token: string | null = null;

  /** `base` is read on every request, so a client survives a server restart on a new port. */
  constructor(base: () => string, userAgent = 'tessera-e2e/1.0', options: DemoClientOptions = {}) {
    this.#base = base;
    this.userAgent = userAgent;
    this.cookieName = options.cookieName ?? COOKIE_NAME;
    this.#headers = options.headers ?? {};
  }

  /** A client holding the same token (another tab of the same browser). */
  clone(userAgent = this.userAgent): DemoClient {
    const copy = new DemoClient(this.#base, userAgent, { cookieName: this.cookieName, headers: this.#headers });
    copy.token = this.token;
    return copy;
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...this.#headers, ...options.headers };
    if (this.token !== null && options.noCookie !== true) headers.cookie = `${this.cookieName}=${this.token}`;
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.raw !== undefined) {
      body = options.raw;
      if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    }
    const response = await fetch(new URL(path, this.#base()), {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      redirect: 'manual',
    });
    const text = await response.text();
    let parsed: unknown = null;
    if ((response.headers.get('content-type') ?? '').startsWith('application/json') && text.length > 0) parsed = JSON.parse(text);
    const setCookies = response.headers.getSetCookie().map(parseSetCookie);
    for (const cookie of setCookies) {
      if (cookie.name !== this.cookieName) continue;
      if (cookie.attributes.get('max-age') === '0' || cookie.value === '') this.token = null;
      else {
        this.token = cookie.value;
        issuedTokens.add(cookie.value);
      }
    }
    return { status: response.status, headers: response.headers, body: parsed, text, setCookies };
  }

  get(path: string, options?: RequestOptions) {
    return this.request('GET', path, options);
  }
  post(path: string, json?: unknown, options: RequestOptions = {}) {
    return this.request('POST', path, json === undefined ? options : { ...options, json });
  }
  put(path: string, json?: unknown, options: RequestOptions = {}) {
    return this.request('PUT', path, json === undefined ? options : { ...options, json });
  }
  delete(path: string, options?: RequestOptions) {
    return this.request('DELETE', path, options);
  }

  login(username: string, ttl?: number) {
    return this.post('/api/login', ttl === undefined ? { username } : { username, ttl });
  }
}
