// The variants, in the order of the tables, and the two workloads every variant runs.
// `backend` decides what is counted per request (Redis commands, SQL statements, or nothing);
// `sessions: false` variants get cookies but ignore them; `letter` is how results.md names them.
// `server` names the bench/servers/ file when the variant reuses another's (default: its id), and
// `cache: true` runs that server with tessera's in-process session cache (`cache: true`).

export const REF_REDIS = 'express-session-redis';
export const REF_PG = 'express-session-pg';

export const ALL_VARIANTS = [
  { id: 'node-bare', letter: 'a', label: 'node:http, no sessions (ceiling)', backend: null, sessions: false },
  { id: 'redis-floor', letter: 'b', label: 'node:http + pipelined HINCRBY+PEXPIRE (floor)', backend: 'redis', sessions: true },
  { id: 'express-session-redis', letter: 'c', label: 'express-session + connect-redis', backend: 'redis', sessions: true },
  { id: 'fastify-session-redis', letter: 'd', label: 'fastify + @fastify/session + connect-redis', backend: 'redis', sessions: true },
  { id: 'express-bare', letter: 'e', label: 'express, no sessions', backend: null, sessions: false },
  { id: 'tessera-express-redis', letter: 'f', label: 'tessera + Express + Redis', backend: 'redis', sessions: true, tessera: true },
  { id: 'tessera-node-redis', letter: 'g', label: 'tessera + node:http + Redis', backend: 'redis', sessions: true, tessera: true },
  { id: 'tessera-node-sqlite', letter: 'h', label: 'tessera + node:http + SQLite', backend: 'sqlite', sessions: true, tessera: true },
  {
    id: 'tessera-node-postgres',
    letter: 'i',
    label: 'tessera + node:http + PostgreSQL',
    backend: 'postgres',
    sessions: true,
    tessera: true,
  },
  { id: 'express-session-pg', letter: 'j', label: 'express-session + connect-pg-simple', backend: 'postgres', sessions: true },
  {
    id: 'tessera-node-memory',
    letter: 'k',
    label: 'tessera + node:http + MemoryStore (extra)',
    backend: null,
    sessions: true,
    tessera: true,
  },
  {
    id: 'redis-layout-floor',
    letter: 'l',
    label: "node:http + tessera's Redis layout and scripts, no library (extra)",
    backend: 'redis',
    sessions: true,
  },
  {
    id: 'tessera-node-redis-cache',
    server: 'tessera-node-redis',
    cache: true,
    letter: 'm',
    label: 'tessera + node:http + Redis + cache',
    backend: 'redis',
    sessions: true,
    tessera: true,
  },
  {
    id: 'tessera-express-redis-cache',
    server: 'tessera-express-redis',
    cache: true,
    letter: 'n',
    label: 'tessera + Express + Redis + cache',
    backend: 'redis',
    sessions: true,
    tessera: true,
  },
  {
    id: 'tessera-node-postgres-cache',
    server: 'tessera-node-postgres',
    cache: true,
    letter: 'o',
    label: 'tessera + node:http + PostgreSQL + cache',
    backend: 'postgres',
    sessions: true,
    tessera: true,
  },
  { id: 'fastify-bare', letter: 'p', label: 'fastify, no sessions', backend: null, sessions: false },
  { id: 'tessera-fastify-redis', letter: 'q', label: 'tessera + Fastify + Redis', backend: 'redis', sessions: true, tessera: true },
  {
    id: 'tessera-fastify-redis-cache',
    server: 'tessera-fastify-redis',
    cache: true,
    letter: 'r',
    label: 'tessera + Fastify + Redis + cache',
    backend: 'redis',
    sessions: true,
    tessera: true,
  },
];

export const WORKLOADS = [
  { id: 'increment', path: '/inc' },
  { id: 'read', path: '/read' },
];
