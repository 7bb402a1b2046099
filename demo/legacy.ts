/**
 * The express-session migration (`TESSERA_LEGACY_STORE`): the adopter for the manager, on a Redis
 * client or a PostgreSQL pool of the demo's own, which it closes.
 */
import type { SessionAdopter } from 'tessera-session';
import {
  adoptExpressSessions,
  connectPgSimpleSource,
  connectRedisSource,
  type LegacySessionSource,
} from 'tessera-session/migrate/express-session';
import { ConfigError, type LegacyConfig } from './config.js';

export interface OpenedLegacy {
  adopt: SessionAdopter;
  /** What to print at start-up, the password hidden. */
  label: string;
  close(): Promise<void>;
}

export async function openLegacy(config: LegacyConfig): Promise<OpenedLegacy> {
  const label = `${config.store.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')} (${config.kind === 'redis' ? `prefix ${config.prefix}` : `table ${config.table}`}, cookie ${config.cookie}, subject ${config.subject})`;
  let source: LegacySessionSource;
  let close: () => Promise<void>;
  try {
    if (config.kind === 'redis') {
      const { createClient } = await import('redis');
      // Without the offline queue a command fails at once while Redis is down: a 503, not a hung request.
      const client = createClient({ url: config.store, disableOfflineQueue: true });
      client.on('error', () => {});
      const connecting = client.connect().catch(() => {});
      // Serve once the legacy Redis answers, or after 3 s without it (until it does, the requests
      // it would answer get 503): a request right after start-up would otherwise find no connection.
      await Promise.race([connecting, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
      source = connectRedisSource({ client, prefix: config.prefix });
      // A client that never connected has nothing to close.
      close = () =>
        client.isOpen
          ? client.close().then(
              () => undefined,
              () => undefined,
            )
          : Promise.resolve();
    } else {
      const { default: pg } = await import('pg');
      const pool = new pg.Pool({ connectionString: config.store, connectionTimeoutMillis: 2000 });
      pool.on('error', () => {});
      const dot = config.table.indexOf('.');
      const table = dot === -1 ? { table: config.table } : { schema: config.table.slice(0, dot), table: config.table.slice(dot + 1) };
      source = connectPgSimpleSource({ pool, ...table });
      close = () => pool.end();
    }
  } catch (error) {
    throw new ConfigError(`TESSERA_LEGACY_STORE: ${(error as Error).message}`);
  }
  const adopt = adoptExpressSessions({ source, secrets: config.secrets, cookieName: config.cookie, subject: config.subject });
  return { adopt, label, close };
}
