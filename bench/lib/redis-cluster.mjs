// A three-master Redis Cluster the bench starts itself: redis-server processes on free loopback
// ports in a temporary directory, joined with redis-cli, stopped by PID.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether redis-server and redis-cli are on PATH. */
export function hasRedisClusterBinaries() {
  return spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0;
}

/** A three-master Redis Cluster of our own on free loopback ports; `stop()` kills it by PID. */
export async function startRedisCluster() {
  const freePort = () =>
    new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      // Cluster bus ports are port + 10000: stay below 55536.
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => (port < 55_000 ? resolve(port) : resolve(freePort())));
      });
    });
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-cluster-'));
  const ports = [];
  for (let i = 0; i < 3; i++) ports.push(await freePort());
  const children = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = () => {
    for (const child of children)
      if (child.pid !== undefined)
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {}
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ping = (port) => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG';
    for (let i = 0; i < 100 && !ports.every(ping); i++) await new Promise((r) => setTimeout(r, 50));
    const created = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create: ${created.stdout}${created.stderr}`);
    const ok = (port) =>
      spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout.includes('cluster_state:ok');
    for (let i = 0; i < 200 && !ports.every(ok); i++) await new Promise((r) => setTimeout(r, 50));
    if (!ports.every(ok)) throw new Error('the cluster did not reach cluster_state:ok');
  } catch (error) {
    stop();
    throw error;
  }
  return { ports, stop };
}
