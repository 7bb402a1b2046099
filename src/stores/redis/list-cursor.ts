import { BadRequestError, isSessionId } from '../../store-kit/index.js';

/**
 * A listing cursor: the last session of a page as `<score>:<id>`, the score being its createdAt,
 * its index score (as 0.1 wrote it) after an `l` in 0.1's index.
 */
export function listCursor(legacy: boolean, score: string, id: string): string {
  return `${legacy ? 'l' : ''}${score}:${id}`;
}

export function parseListCursor(cursor: string): { legacy: boolean; score: string; id: string } {
  const match = /^(l?)(-?\d{1,17}):(.+)$/.exec(cursor);
  if (match === null || !isSessionId(match[3] as string)) throw new BadRequestError('not a listing cursor');
  return { legacy: match[1] === 'l', score: match[2] as string, id: match[3] as string };
}
