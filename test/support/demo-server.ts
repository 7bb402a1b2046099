/**
 * Starts the built demo (`node dist/demo/server.js`) on a free loopback port, as `npm start`
 * would, and stops it again. Tests talk to it over real HTTP only; nothing from dist/ is imported.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const serverScript = join(repoRoot, 'dist', 'demo', 'server.js');
const LISTENING = /^tessera demo listening on (http:\/\/\S+)$/m;
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

export interface DemoServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`; changes after `restart()` (a new free port). */
  readonly url: string;
  /** The SQLite file in use, or null for other stores. */
  readonly sqlitePath: string | null;
  /** Everything the process printed so far (stdout and stderr). */
  readonly output: string;
  /**
   * Stops the server with `signal` (SIGKILL if it hangs) and waits for it to exit; resolves with
   * how it exited, or null if it was not running.
   */
  stop(signal?: 'SIGTERM' | 'SIGINT'): Promise<Exit | null>;
  /** Stops it and starts it again with the same environment, hence the same store. */
  restart(): Promise<void>;
  /** Stops it and removes its temporary directory. */
  dispose(): Promise<void>;
}

export interface DemoServerOptions {
  /** Extra environment; `TESSERA_STORE` defaults to a fresh SQLite file in a temporary directory. */
  env?: Record<string, string>;
}

function assertBuilt(): void {
  if (!existsSync(serverScript)) throw new Error(`${serverScript} is missing: build first (npx tsc -p tsconfig.build.json)`);
}

/** The parent's environment without any demo settings, so a developer's shell cannot change the tests. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name.startsWith('TESSERA_') || name === 'PORT' || name === 'HOST') continue;
    env[name] = value;
  }
  return env;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Running {
  child: ChildProcess;
  url: string;
  exited: Promise<Exit>;
}

function launch(env: Record<string, string>, log: (text: string) => void): Promise<Running> {
  const child = spawn(process.execPath, [serverScript], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise<Running>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`demo server did not start within ${START_TIMEOUT_MS} ms\n${stdout}${stderr}`));
    }, START_TIMEOUT_MS);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      log(chunk);
      stdout += chunk;
      const found = LISTENING.exec(stdout);
      if (found?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: found[1], exited });
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      log(chunk);
      stderr += chunk;
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`demo server exited (${code ?? signal}) before listening\n${stdout}${stderr}`));
    });
  });
}

async function terminate(running: Running, signal: 'SIGTERM' | 'SIGINT'): Promise<Exit> {
  const { child, exited } = running;
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const exit = await exited;
  clearTimeout(timer);
  return exit;
}

export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  assertBuilt();
  const dir = await mkdtemp(join(tmpdir(), 'tessera-demo-'));
  // The demo creates the data directory itself, which this path also checks.
  const defaultPath = join(dir, 'data', 'tessera.db');
  const env = { ...baseEnv(), PORT: '0', HOST: '127.0.0.1', TESSERA_STORE: `sqlite:${defaultPath}`, ...options.env };
  const store = env.TESSERA_STORE ?? '';
  const sqlitePath = store.startsWith('sqlite:') ? resolve(repoRoot, store.slice('sqlite:'.length)) : null;
  let output = '';
  const log = (text: string) => {
    output += text;
  };
  let running: Running | null = await launch(env, log).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const server: DemoServer = {
    get url() {
      if (running === null) throw new Error('the demo server is stopped');
      return running.url;
    },
    sqlitePath,
    get output() {
      return output;
    },
    async stop(signal = 'SIGTERM') {
      if (running === null) return null;
      const current = running;
      running = null;
      return terminate(current, signal);
    },
    async restart() {
      await server.stop();
      running = await launch(env, log);
    },
    async dispose() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Runs the demo expecting it to refuse to start; resolves with its exit code and output. */
export async function runDemoExpectingFailure(
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assertBuilt();
  const dir = await mkdtemp(join(tmpdir(), 'tessera-demo-'));
  const child = spawn(process.execPath, [serverScript], {
    cwd: repoRoot,
    env: { ...baseEnv(), PORT: '0', HOST: '127.0.0.1', TESSERA_STORE: `sqlite:${join(dir, 'data', 'tessera.db')}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    // It started after all: stop it so the test fails quickly instead of hanging.
    if (LISTENING.test(stdout)) child.kill('SIGTERM');
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  await rm(dir, { recursive: true, force: true });
  return { code, stdout, stderr };
}
