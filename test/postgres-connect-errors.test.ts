// Why the PostgreSQL store cannot serve, named in its StoreUnavailableError (refused, unknown host,
// a role or a database the server does not have), and `ready()`, against the local server.
import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import { StoreUnavailableError } from '../src/core/index.js';
import { PostgresStore } from '../src/stores/postgres/index.js';
import { makeRecord } from '../src/testing/index.js';
import { freePort } from './support/ports.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();

/** The local server's URL with `change` applied (another user, database, host or port). */
function variant(change: (url: URL) => void): string {
  const changed = new URL(url as string);
  change(changed);
  return changed.toString();
}

/** What a request's load gets from a new store on `connectionString`; the store is closed after. */
async function loadError(connectionString: string, t: TestContext): Promise<StoreUnavailableError> {
  const store = new PostgresStore({ connectionString, connectionTimeout: 1000 });
  const now = Date.now();
  try {
    const error = await store.load(makeRecord(now).record.id, { now }).then(
      () => null,
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof StoreUnavailableError, `a StoreUnavailableError, got ${String(error)}`);
    t.diagnostic(error.message);
    return error;
  } finally {
    await store.close();
  }
}

const codeOf = (error: unknown) => (error as { code?: unknown } | undefined)?.code;

describe('PostgreSQL store: why it cannot connect', { skip }, () => {
  const schemas: string[] = [];
  after(async () => {
    for (const schema of schemas) await dropSchema(url as string, schema);
  });

  it('names a refused connection', async (t) => {
    const port = await freePort();
    const error = await loadError(
      variant((u) => {
        u.hostname = '127.0.0.1';
        u.port = String(port);
      }),
      t,
    );
    assert.match(error.message, new RegExp(`connection refused by 127\\.0\\.0\\.1:${port}`));
    assert.equal(codeOf(error.cause), 'ECONNREFUSED');
  });

  it('names an unknown host', async (t) => {
    const error = await loadError(
      variant((u) => {
        u.hostname = 'tessera-no-such-host.invalid';
      }),
      t,
    );
    assert.match(error.message, /unknown host tessera-no-such-host\.invalid/);
    assert.ok(['ENOTFOUND', 'EAI_AGAIN'].includes(String(codeOf(error.cause))));
  });

  it('names a role the server refuses, as an authentication failure', async (t) => {
    const error = await loadError(
      variant((u) => {
        u.username = 'tessera_no_such_role';
        u.password = 'not-the-password';
      }),
      t,
    );
    assert.match(error.message, /authentication failed.*tessera_no_such_role/);
    assert.doesNotMatch(error.message, /not-the-password/);
    assert.match(String(codeOf(error.cause)), /^28/);
  });

  it('names a database the server does not have', async (t) => {
    const error = await loadError(
      variant((u) => {
        u.pathname = '/tessera_no_such_database';
      }),
      t,
    );
    assert.match(error.message, /database "tessera_no_such_database" does not exist/);
    assert.equal(codeOf(error.cause), '3D000');
  });

  it('ready() resolves once connected and migrated, and rejects naming the cause', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const good = new PostgresStore({ connectionString: url as string, schema });
    try {
      await good.ready();
    } finally {
      await good.close();
    }
    const bad = new PostgresStore({ connectionString: variant((u) => void (u.pathname = '/tessera_no_such_database')) });
    try {
      await assert.rejects(bad.ready(), (error: unknown) => {
        assert.ok(error instanceof StoreUnavailableError);
        assert.match(error.message, /database "tessera_no_such_database" does not exist/);
        return true;
      });
    } finally {
      await bad.close();
    }
  });
});
