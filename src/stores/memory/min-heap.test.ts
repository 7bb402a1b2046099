import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MinHeap } from './min-heap.js';

describe('MinHeap', () => {
  it('pops every pushed pair in key order, interleaved pushes and pops included', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: -1e12, max: 1e12 }), fc.constant<'pop'>('pop')), { maxLength: 300 }), (steps) => {
        const heap = new MinHeap<number>();
        const model: number[] = [];
        steps.forEach((step, i) => {
          if (step === 'pop') {
            model.sort((a, b) => a - b);
            const expected = model.shift();
            const popped = heap.pop();
            assert.equal(popped?.key, expected);
          } else {
            heap.push(step, i);
            model.push(step);
          }
          assert.equal(heap.size, model.length);
          assert.equal(heap.peekKey(), model.length === 0 ? undefined : Math.min(...model));
        });
      }),
      { numRuns: 500 },
    );
  });

  it('keeps each value with its key, and empties by clear()', () => {
    const heap = new MinHeap<string>();
    for (const [key, value] of [
      [3, 'c'],
      [1, 'a'],
      [2, 'b'],
      [1, 'a2'],
    ] as const)
      heap.push(key, value);
    const popped = [heap.pop(), heap.pop(), heap.pop()].map((p) => `${p?.key}${p?.value}`);
    assert.deepEqual(popped.slice(0, 2).sort(), ['1a', '1a2']);
    assert.equal(popped[2], '2b');
    heap.clear();
    assert.equal(heap.size, 0);
    assert.equal(heap.pop(), undefined);
  });
});
