/** How the SQLite store tells an outage (`StoreUnavailableError`) from a bug or bad input in a driver error. */
import { StoreUnavailableError } from '../../store-kit/index.js';
import { isBusy } from './lock-wait.js';

/** Driver error codes that mean the database cannot serve now, rather than a bug or bad input. */
const OUTAGE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM|READONLY|CORRUPT|NOTADB|NOLFS|AUTH|PERM)/;

export function errorCode(error: unknown): string | null {
  const code = error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : null;
}

/** A driver error as the store reports it: an unusable database is `StoreUnavailableError`; anything else is left as it is. */
export function translateError(error: unknown, open: boolean, lockDeadline: number): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const code = errorCode(error);
  if (isBusy(error))
    return new StoreUnavailableError(`the SQLite session store is locked by another connection (waited ${lockDeadline} ms)`, {
      cause: error,
    });
  if ((code !== null && OUTAGE.test(code)) || !open) {
    return new StoreUnavailableError(`the SQLite session store is unavailable (${code ?? 'database closed'})`, { cause: error });
  }
  return error;
}
