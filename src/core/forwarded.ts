/**
 * Reading `X-Forwarded-*` headers behind a counted number of trusted proxies, with no framework
 * in sight: the node adapter reads them from `IncomingMessage`, the fetch adapter from `Headers`.
 */
import { InvalidOptionError } from './errors.js';

/** The number of proxies `trustProxy` trusts: `true` is 1, `false` 0, else a whole number. */
export function trustedHops(trustProxy: boolean | number): number {
  if (typeof trustProxy === 'boolean') return trustProxy ? 1 : 0;
  if (!Number.isInteger(trustProxy) || trustProxy < 0)
    throw new InvalidOptionError(`trustProxy must be a boolean or a whole number of proxies, not ${trustProxy}`);
  return trustProxy;
}

/**
 * Of [the comma-separated entries of a forwarded header's `lines`…, `own`] (`own`: what the
 * connection itself says), the entry `hops` from the right. Each proxy appends what it saw, so
 * only the last `hops` entries come from proxies the app runs; with fewer entries than that, the
 * farthest there is.
 */
export function trustedEntry(lines: readonly string[], own: string | null, hops: number): string | null {
  if (hops === 0) return own;
  const entries: Array<string | null> = lines.flatMap((line) =>
    String(line)
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
  );
  entries.push(own);
  return entries[Math.max(0, entries.length - 1 - hops)] ?? null;
}
