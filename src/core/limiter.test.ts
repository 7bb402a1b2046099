import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WindowCounter } from './limiter.js';

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
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 300_000 })), { maxLength: 300 }), (max, hits) => {
        const counter = new WindowCounter(max);
        let time = 0;
        for (const [key, step] of hits) {
          time += step;
          const count = counter.hit(String(key), time);
          assert.ok(count >= 1);
          assert.ok(counter.size <= max);
        }
      }),
    );
  });
});
