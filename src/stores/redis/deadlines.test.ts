import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Deadlines, type Deadline } from './deadlines.js';

const noop = (): void => {};

/** The timeouts of the entries `expire` hands over at `now`, in the order it hands them. */
function expiredAt(list: Deadlines, now: number): number[] {
  const out: number[] = [];
  list.expire(now, (entry) => out.push(entry.timeout));
  return out;
}

describe('redis store: command deadlines', () => {
  it('expires exactly the entries whose deadline has passed, oldest first, and each only once', () => {
    const list = new Deadlines();
    assert.equal(list.isEmpty, true);
    list.add(500, noop, 1000); // due at 1500
    list.add(5000, noop, 1000); // 6000: an admin command's longer timeout, between two short ones
    list.add(500, noop, 1100); // 1600
    assert.equal(list.isEmpty, false);
    assert.deepEqual(expiredAt(list, 1499), []);
    assert.deepEqual(expiredAt(list, 1600), [500, 500]);
    assert.deepEqual(expiredAt(list, 1600), []);
    assert.deepEqual(expiredAt(list, 6000), [5000]);
    assert.equal(list.isEmpty, true);
  });

  it('an answered command is removed wherever it sits, and removing it again changes nothing', () => {
    const list = new Deadlines();
    const entries = [1, 2, 3, 4].map((timeout) => list.add(timeout, noop, 0));
    const [first, second, third, fourth] = entries as [Deadline, Deadline, Deadline, Deadline];
    list.remove(second); // middle
    list.remove(first); // head
    list.remove(fourth); // tail
    list.remove(second);
    assert.deepEqual(expiredAt(list, 10), [3]);
    list.remove(third);
    assert.equal(list.isEmpty, true);
    const next = list.add(7, noop, 0);
    assert.deepEqual(expiredAt(list, 10), [7]);
    list.remove(next);
    assert.equal(list.isEmpty, true);
  });

  it('matches a plain array under any mix of adds, removes and expiries', () => {
    type Step = { kind: 'add'; timeout: number } | { kind: 'remove'; pick: number } | { kind: 'expire'; advance: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), timeout: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('expire' as const), advance: fc.integer({ min: 0, max: 30 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const list = new Deadlines();
        // Every entry ever added, tracked or not: removing an untracked one must be harmless.
        const added: Deadline[] = [];
        let model: Deadline[] = [];
        let now = 0;
        for (const s of steps) {
          if (s.kind === 'add') {
            const entry = list.add(s.timeout, noop, now);
            added.push(entry);
            model.push(entry);
          } else if (s.kind === 'remove') {
            if (added.length === 0) continue;
            const entry = added[s.pick % added.length] as Deadline;
            list.remove(entry);
            model = model.filter((e) => e !== entry);
          } else {
            now += s.advance;
            const handed: Deadline[] = [];
            list.expire(now, (entry) => handed.push(entry));
            assert.deepEqual(
              handed,
              model.filter((e) => e.at <= now),
            );
            model = model.filter((e) => e.at > now);
          }
          assert.equal(list.isEmpty, model.length === 0);
        }
        const rest: Deadline[] = [];
        list.expire(Number.POSITIVE_INFINITY, (entry) => rest.push(entry));
        assert.deepEqual(rest, model);
      }),
      { numRuns: 2_000 },
    );
  });
});
