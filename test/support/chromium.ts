/**
 * What the browser tests share: Debian's Chromium with the flags this closed network needs (without
 * the networking ones Chromium floods it with refused connections), the skip rule, and waiting for
 * a page to reach a state.
 */
import { existsSync } from 'node:fs';
import type { Locator } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const WAIT_MS = 10_000;

/**
 * False where Chromium is installed; otherwise the reason, printed, for `describe`'s `skip`. With
 * TESSERA_REQUIRE_SERVICES=1 a missing Chromium is an error instead.
 */
export function chromiumSkipReason(testName: string): string | false {
  if (existsSync(CHROMIUM)) return false;
  const reason = `${CHROMIUM} not found (install Debian's chromium package)`;
  if (process.env.TESSERA_REQUIRE_SERVICES === '1') throw new Error(`browser test required (TESSERA_REQUIRE_SERVICES=1) but ${reason}`);
  console.log(`# skipping ${testName}: ${reason}`);
  return reason;
}

/** Resolves once `check` does, polling every 50 ms; rejects after `timeout` ms naming `what`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeout = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves once `locator`'s trimmed text equals `expected` (or matches it). */
export async function waitForText(locator: Locator, expected: string | RegExp, what: string): Promise<void> {
  let last: string | null = null;
  await waitUntil(`${what} to read ${String(expected)} (last: ${JSON.stringify(last)})`, async () => {
    last = (await locator.textContent())?.trim() ?? null;
    return last !== null && (typeof expected === 'string' ? last === expected : expected.test(last));
  }).catch((error: Error) => {
    throw new Error(`${error.message}; last text: ${JSON.stringify(last)}`);
  });
}
