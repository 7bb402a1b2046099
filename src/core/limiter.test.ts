import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ClientLimiter, WindowCounter, type ClientLimits } from './limiter.js';

describe('WindowCounter', () => {
  it('counts per key in one-minute windows', () => {
    const counter = new WindowCounter();
    const t = Date.UTC(2030, 0, 1);
    assert.deepEqual([counter.hit('a', t), counter.hit('a', t + 1), counter.hit('b', t + 2), counter.hit('a', t + 59_999)], [1, 2, 1, 3]);
    assert.equal(counter.hit('a', t + 60_000), 1, 'a new minute starts over');
    assert.equal(WindowCounter.secondsLeft(t + 59_001), 1);
    assert.equal(WindowCounter.secondsLeft(t), 60);
  });

  it('stays within maxKeys by forgetting the least recently counted keys, never everyone at once', () => {
    const counter = new WindowCounter(1000);
    const t = Date.UTC(2030, 0, 1);
    for (let i = 0; i < 10; i++) counter.hit('attacker', t);
    // 100,001 other addresses in the same minute, the attacker still active among them.
    for (let i = 0; i < 100_001; i++) {
      counter.hit(`10.0.${i >> 8}.${i & 255}`, t + 1);
      if (i % 500 === 0) counter.hit('attacker', t + 1);
    }
    assert.ok(counter.size <= 1000);
    assert.ok(counter.hit('attacker', t + 2) > 200, 'an address that keeps counting keeps its count');
  });

  it('never holds more than maxKeys, whatever the sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 300_000 })), { maxLength: 300 }),
        (max, hits) => {
          const counter = new WindowCounter(max);
          let time = 0;
          for (const [key, step] of hits) {
            time += step;
            const count = counter.hit(String(key), time);
            assert.ok(count >= 1);
            assert.ok(counter.size <= max);
          }
        },
      ),
    );
  });
});

describe('ClientLimiter', () => {
  const t = Date.UTC(2030, 0, 1);
  const limiter = (limits: Partial<ClientLimits> = {}) => {
    const reports: Array<[string, number, number]> = [];
    const unit = new ClientLimiter(
      { bruteForceLimit: 3, bruteForceAction: 'detect', anonymousSessionLimit: 2, ...limits },
      (ip, attempts, now) => void reports.push([ip, attempts, now]),
    );
    return { unit, reports };
  };

  it('reports an address once a minute, when it first passes bruteForceLimit; detecting refuses nothing', () => {
    const { unit, reports } = limiter();
    const answers = Array.from({ length: 6 }, (_, i) => unit.unknownToken('192.0.2.1', t + i));
    assert.deepEqual(answers, [null, null, null, null, null, null]);
    assert.deepEqual(reports, [['192.0.2.1', 4, t + 3]]);
    assert.equal(unit.unknownToken('192.0.2.2', t + 10), null, 'another address has its own count');
    for (let i = 0; i < 4; i++) unit.unknownToken('192.0.2.1', t + 60_000 + i);
    assert.deepEqual(reports.at(-1), ['192.0.2.1', 4, t + 60_003], 'a new minute is counted and reported afresh');
  });

  it('blocking refuses past the limit until the minute ends, and says how long', () => {
    const { unit, reports } = limiter({ bruteForceAction: 'block' });
    for (let i = 0; i < 3; i++) assert.equal(unit.unknownToken('192.0.2.1', t + 1000), null);
    assert.equal(unit.unknownToken('192.0.2.1', t + 1000), 59);
    assert.equal(unit.unknownToken('192.0.2.1', t + 59_500), 1);
    assert.equal(reports.length, 1);
    assert.equal(unit.unknownToken('192.0.2.1', t + 60_000), null);
  });

  it('limits new anonymous sessions per address and minute', () => {
    const { unit, reports } = limiter();
    assert.deepEqual(
      [unit.anonymousSession('192.0.2.1', t), unit.anonymousSession('192.0.2.1', t), unit.anonymousSession('192.0.2.1', t + 30_000)],
      [null, null, 30],
    );
    assert.equal(unit.anonymousSession('192.0.2.2', t), null);
    assert.equal(unit.anonymousSession('192.0.2.1', t + 60_000), null);
    assert.equal(reports.length, 0, 'anonymous sessions are not unknown tokens');
  });

  it('counts nothing when a limit is off, nor for a request without an address', () => {
    const { unit, reports } = limiter({ bruteForceLimit: false, anonymousSessionLimit: false, bruteForceAction: 'block' });
    for (let i = 0; i < 10; i++) assert.deepEqual([unit.unknownToken('192.0.2.1', t), unit.anonymousSession('192.0.2.1', t)], [null, null]);
    const on = limiter({ bruteForceLimit: 1, anonymousSessionLimit: 1, bruteForceAction: 'block' });
    for (let i = 0; i < 10; i++) assert.deepEqual([on.unit.unknownToken(null, t), on.unit.anonymousSession(null, t)], [null, null]);
    assert.equal(reports.length + on.reports.length, 0);
  });
});
