// Imports every subpath export of the built package by its public name, as an app would.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown> };

const expected: Record<string, string[]> = {
  'tessera-session': [
    'SessionManager',
    'Session',
    'ManualClock',
    'StoreUnavailableError',
    'SessionLimitError',
    'errorResponse',
    'hasSessionIndex',
    'defaultOptions',
    'createSessionCookie',
    'createBlankSessionCookie',
    'sessionCookieHeaders',
    'isBlankCookie',
    'setCookiesAfterError',
  ],
  'tessera-session/stores/memory': ['MemoryStore'],
  'tessera-session/stores/sqlite': ['SqliteStore'],
  'tessera-session/stores/redis': ['RedisStore'],
  'tessera-session/stores/postgres': ['PostgresStore'],
  'tessera-session/adapters/node': ['loadSession', 'setSessionCookie', 'toSessionRequest'],
  'tessera-session/adapters/express': ['session', 'errorHandler', 'requireAuth'],
  'tessera-session/adapters/fastify': ['session', 'requireAuth', 'errorHandler'],
  'tessera-session/adapters/hono': ['session', 'onError'],
  'tessera-session/adapters/koa': ['session'],
  'tessera-session/adapters/fetch': ['loadSession', 'withSession', 'sessionErrorResponse', 'isSessionError'],
  'tessera-session/adapters/express-session-compat': ['session'],
  'tessera-session/migrate/express-session': [
    'adoptExpressSessions',
    'connectRedisSource',
    'connectPgSimpleSource',
    'signCookie',
    'unsignCookie',
  ],
  'tessera-session/webhooks': [
    'sessionWebhooks',
    'SessionWebhooks',
    'signWebhook',
    'verifyWebhook',
    'noticePayload',
    'defaultWebhookOptions',
    'defaultRetrySchedule',
    'BACKCHANNEL_LOGOUT_EVENT',
  ],
  'tessera-session/opentelemetry': ['instrumentSessions'],
  'tessera-session/prometheus': ['prometheusMetrics'],
  'tessera-session/store-kit': [
    'defineCapabilities',
    'newRecord',
    'applyChangeSet',
    'secretAccepted',
    'touched',
    'recordFromRow',
    'matchesQuery',
    'listingPage',
    'StoreUnavailableError',
  ],
  'tessera-session/admin': ['createAdminHandler', 'staticConsole'],
  'tessera-session/testing': [
    'runStoreConformance',
    'countingStore',
    'faultyStore',
    'opaqueTestCodec',
    'ManualClock',
    'loginCookie',
    'runAdapterConformance',
  ],
};

/**
 * Store-author and internal pieces the root leaves out: it is the app's API. A store takes what it
 * needs from `tessera-session/store-kit`; the rest are the core's own.
 */
const notFromRoot = [
  'applyChangeSet',
  'touched',
  'hashesEqual',
  'secretAccepted',
  'sessionsToEvict',
  'newRecord',
  'expiresAt',
  'isLive',
  'isTouchDue',
  'touchIntervalMs',
  'cookieMaxAge',
  'issueToken',
  'renewToken',
  'parseToken',
  'hashSecret',
  'keyedPartition',
  'unkeyedPartition',
  'partitionOfId',
  'ID_SHARDS',
  'SHARD_LENGTH',
  'PARTITION_LENGTH',
  'hasSubjectPartitions',
  'toSessionInfo',
];

/** What each built module of `dist/src/<folder>/` imports. */
function importsOf(folder: string): Array<{ file: string; specifier: string }> {
  const dir = new URL(`../dist/src/${folder}/`, import.meta.url);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .flatMap((file) =>
      [...readFileSync(new URL(file, dir), 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map(([, specifier]) => ({
        file,
        specifier: specifier!,
      })),
    );
}

describe('package exports', () => {
  it('lists every module this test checks, and no other', () => {
    const names = Object.keys(pkg.exports)
      .filter((key) => key !== './package.json')
      .map((key) => (key === '.' ? 'tessera-session' : `tessera-session/${key.slice(2)}`));
    assert.deepEqual(names.sort(), Object.keys(expected).sort());
  });

  for (const [specifier, names] of Object.entries(expected)) {
    it(`${specifier} loads from the build and exports ${names.join(', ')}`, async () => {
      const module = (await import(specifier)) as Record<string, unknown>;
      for (const name of names) assert.ok(module[name] !== undefined, `${specifier} exports ${name}`);
    });
  }

  it('tessera-session exports none of the store-author and internal pieces', async () => {
    const root = (await import('tessera-session')) as Record<string, unknown>;
    assert.deepEqual(
      notFromRoot.filter((name) => name in root),
      [],
    );
  });

  it('the core imports nothing but node: built-ins and itself', () => {
    for (const { file, specifier } of importsOf('core')) {
      assert.ok(specifier.startsWith('./') || specifier.startsWith('node:'), `${file} imports ${specifier}`);
    }
  });

  it('the admin API imports nothing but node: built-ins, the core and itself', () => {
    for (const { file, specifier } of importsOf('admin')) {
      assert.ok(/^(\.\/|\.\.\/core\/|node:)/.test(specifier), `${file} imports ${specifier}`);
    }
  });

  it('the store kit imports nothing but node: built-ins, the core and itself', () => {
    for (const { file, specifier } of importsOf('store-kit')) {
      assert.ok(/^(\.\/|\.\.\/core\/|node:)/.test(specifier), `${file} imports ${specifier}`);
    }
  });
});
