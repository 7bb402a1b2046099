import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BadRequestError,
  compareCreation,
  listingCursor,
  lookahead,
  pageOf,
  pageSize,
  parseListingCursor,
  removedSessions,
} from './index.js';

describe('paging', () => {
  it('a page is the first `limit` found, with a cursor only when one more came back', () => {
    const cursorOf = (n: number) => String(n);
    assert.deepEqual(pageOf([1, 2, 3], 3, cursorOf), { items: [1, 2, 3], nextCursor: null });
    assert.deepEqual(pageOf([1, 2, 3, 4], 3, cursorOf), { items: [1, 2, 3], nextCursor: '3' });
    assert.deepEqual(pageOf([], 3, cursorOf), { items: [], nextCursor: null });
    assert.equal(lookahead(3), 4);
  });

  it('page sizes are whole and positive, or 0', () => {
    assert.deepEqual([5, 2.7, 0, -3, Number.NaN].map(pageSize), [5, 2, 0, 0, 0]);
  });

  it('a listing cursor reads back as the key it was made from, and keeps listing order', () => {
    const key = fc.record({ createdAt: fc.integer({ min: 0, max: 2 ** 48 }), id: fc.string({ minLength: 1 }) });
    fc.assert(
      fc.property(key, key, (a, b) => {
        assert.deepEqual(parseListingCursor(listingCursor(a)), { ...a });
        assert.equal(Math.sign(compareCreation(parseListingCursor(listingCursor(a)), b)), Math.sign(compareCreation(a, b)));
      }),
    );
  });

  it('anything else is the caller’s mistake', () => {
    for (const bad of ['', 'abc', ':id', 'x:id', '1.5:id', `${2 ** 60}:id`])
      assert.throws(() => parseListingCursor(bad), BadRequestError, bad);
  });

  it('a removal reports the id and subject only', () => {
    assert.deepEqual(
      removedSessions([{ id: 'a', subject: null, created_at: 1, pg_notify: '' } as { id: string; subject: string | null }]),
      [{ id: 'a', subject: null }],
    );
  });
});
