/**
 * The stores the demo can run on in tests, each with what the demo needs in its environment and a
 * way to dump everything the store holds as text (to search for tokens and plaintext).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StoreInstance {
  env: Record<string, string>;
  /** Every byte the store holds for this test, as text. */
  dump(): Promise<string>;
  cleanup(): Promise<void>;
}

export interface StoreTarget {
  name: string;
  /** A reason to skip, or false. */
  skip: string | false;
  create(): Promise<StoreInstance>;
}

function sqliteTarget(): StoreTarget {
  return {
    name: 'sqlite',
    skip: false,
    async create() {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
      const path = join(dir, 'sessions.db');
      return {
        env: { TESSERA_STORE: `sqlite:${path}` },
        async dump() {
          // The database and its write-ahead log, as raw bytes.
          return readdirSync(dir)
            .map((file) => readFileSync(join(dir, file)).toString('latin1'))
            .join('\n');
        },
        async cleanup() {
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

export function storeTargets(): StoreTarget[] {
  return [sqliteTarget()];
}
