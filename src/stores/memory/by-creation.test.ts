import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareCreation, type CreationKey } from '../../store-kit/index.js';
import { ByCreation } from './by-creation.js';

describe('ByCreation', () => {
  it('keeps entries in creation order through adds and deletes; pages after a cursor and the newest-first walk agree with a sorted model', () => {
    const key = fc.record({
      createdAt: fc.integer({ min: 0, max: 20 }),
      id: fc.string({ minLength: 1, maxLength: 3, unit: fc.constantFrom('a', 'b', 'c', 'd') }),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), key), { maxLength: 200 }), fc.option(key, { nil: null }), (steps, cursor) => {
        const list = new ByCreation();
        let model: CreationKey[] = [];
        for (const [add, entry] of steps) {
          const present = model.some((m) => compareCreation(m, entry) === 0);
          if (add && !present) {
            list.add(entry);
            model.push({ createdAt: entry.createdAt, id: entry.id });
          } else if (!add) {
            list.delete(entry);
            model = model.filter((m) => compareCreation(m, entry) !== 0);
          }
        }
        model.sort(compareCreation);
        assert.equal(list.size, model.length);
        assert.deepEqual([...list.after(null)], model);
        assert.deepEqual([...list.newestFirst()], [...model].reverse());
        if (cursor !== null)
          assert.deepEqual(
            [...list.after(cursor)],
            model.filter((m) => compareCreation(m, cursor) > 0),
          );
      }),
      { numRuns: 1000 },
    );
  });
});
