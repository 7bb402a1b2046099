import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cookieMaxAge, expiresAt, isLive, isTouchDue, touchIntervalMs } from './expiry.js';

const time = fc.integer({ min: 1_000_000_000_000, max: 4_000_000_000_000 });
const timeout = fc.integer({ min: 1, max: 10 * 365 * 86_400 });
const policy = fc.record({ maxIntervalMs: fc.integer({ min: 1000, max: 600_000 }), idleFraction: fc.constantFrom(0.05, 0.1, 0.25, 0.5) });

describe('expiry arithmetic', () => {
  it('a session is live exactly while now < lastSeenAt + idle and now < absolute expiry', () => {
    fc.assert(
      fc.property(
        time,
        timeout,
        fc.integer({ min: 0, max: 400 * 86_400_000 }),
        fc.integer({ min: -1e9, max: 1e10 }),
        (lastSeenAt, idle, absoluteAfter, offset) => {
          const absolute = lastSeenAt + absoluteAfter;
          const end = expiresAt(lastSeenAt, idle, absolute);
          const now = lastSeenAt + offset;
          assert.equal(isLive({ expiresAt: end }, now), now < lastSeenAt + idle * 1000 && now < absolute);
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it('sliding never passes the absolute expiry, however often the session is touched', () => {
    fc.assert(
      fc.property(
        time,
        timeout,
        fc.integer({ min: 1, max: 86_400_000 }),
        fc.array(fc.integer({ min: 0, max: 3_600_000 }), { maxLength: 50 }),
        policy,
        (start, idle, lifetime, gaps, p) => {
          const absolute = start + lifetime;
          let record = { lastSeenAt: start, idleTimeout: idle, expiresAt: expiresAt(start, idle, absolute) };
          let now = start;
          for (const gap of gaps) {
            now += gap;
            if (!isLive(record, now)) break;
            if (isTouchDue(record, now, p)) record = { ...record, lastSeenAt: now, expiresAt: expiresAt(now, idle, absolute) };
            assert.ok(record.expiresAt <= absolute);
            assert.ok(record.expiresAt > now || record.expiresAt === absolute);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('the touch interval is at most the cap and a tenth (the fraction) of the idle timeout, so throttling never ends a session', () => {
    fc.assert(
      fc.property(timeout, policy, (idle, p) => {
        const interval = touchIntervalMs(idle, p);
        assert.ok(interval <= p.maxIntervalMs);
        assert.ok(interval <= idle * 1000 * p.idleFraction);
        assert.ok(interval < idle * 1000);
      }),
    );
    assert.equal(touchIntervalMs(1800, { maxIntervalMs: 60_000, idleFraction: 0.1 }), 60_000);
    assert.equal(touchIntervalMs(120, { maxIntervalMs: 60_000, idleFraction: 0.1 }), 12_000);
  });

  it('cookie Max-Age covers the remaining life, rounded up to the second, and is 0 once expired', () => {
    fc.assert(
      fc.property(time, fc.integer({ min: -1e7, max: 1e10 }), (now, remaining) => {
        const maxAge = cookieMaxAge(now + remaining, now);
        assert.ok(Number.isInteger(maxAge) && maxAge >= 0);
        if (remaining <= 0) assert.equal(maxAge, 0);
        else {
          assert.ok(maxAge * 1000 >= remaining);
          assert.ok((maxAge - 1) * 1000 < remaining);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
