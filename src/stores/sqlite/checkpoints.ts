/**
 * WAL checkpoints off the event loop. By default SQLite checkpoints in the connection that commits,
 * once the log passes 1,000 pages: it copies the log into the database file and syncs it, tens of
 * milliseconds on an idle disk and far more on a busy one, inside a synchronous better-sqlite3
 * call. A sweep of 500,000 expired sessions pays that every few slices. So the store's own
 * connection does not checkpoint (`wal_autocheckpoint = 0`); a worker thread with a connection of
 * its own runs a PASSIVE checkpoint (which never waits for a reader or a writer) every second.
 * If the worker cannot run, the connection checkpoints as SQLite would by default.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { SqliteDatabase } from './driver.js';

const CHECKPOINT_EVERY_MS = 1000;
/** SQLite's default `wal_autocheckpoint`, restored when the worker fails. */
const DEFAULT_AUTOCHECKPOINT = 1000;

/** Plain JavaScript, so that it runs the same from the built package and under a TypeScript loader. */
const WORKER_SOURCE = `
  const { parentPort, workerData } = require('node:worker_threads');
  const Database = require(workerData.driver);
  const db = new Database(workerData.path, { timeout: 5 });
  const checkpoint = () => {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Busy or unavailable: the next tick tries again.
    }
  };
  const timer = setInterval(checkpoint, workerData.everyMs);
  parentPort.on('message', () => {
    clearInterval(timer);
    checkpoint();
    db.close();
    parentPort.close();
  });
`;

export class Checkpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;

  /** Starts checkpointing `path` from a worker thread and turns it off on `db`, the store's connection. */
  constructor(path: string, db: SqliteDatabase) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, everyMs: CHECKPOINT_EVERY_MS } });
    // It keeps nothing alive: a process with nothing else to do may exit (closing checkpoints).
    this.#worker.unref();
    db.pragma('wal_autocheckpoint = 0');
    this.#exited = new Promise<void>((resolve) => {
      this.#worker.once('exit', () => resolve());
      this.#worker.once('error', () => {
        if (db.open) db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
        resolve();
      });
    });
  }

  /** Runs a last checkpoint and ends the worker. */
  async stop(): Promise<void> {
    // Whoever waits for this keeps the process alive until it is done.
    this.#worker.ref();
    this.#worker.postMessage('stop');
    await this.#exited;
  }
}
