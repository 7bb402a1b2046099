// Counts the Redis commands one benchmark server sends, split into top-level commands (network
// round trips' worth of commands) and commands run inside server-side scripts. INFO commandstats
// cannot tell the two apart (it counts a script's inner calls under their own names) and counts
// every client of the server; MONITOR shows both, labelled: inner calls as `[db lua]`, the rest
// with the client's address. Only lines that touch this variant's key prefix are kept, plus
// anything else the same client connections sent (MULTI/EXEC carry no key). MONITOR slows Redis
// down, so it runs only during a short separate probe, never during a measured run.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';

const LINE = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/;

export async function startMonitor(redisUrl) {
  const url = new URL(redisUrl);
  const socket = net.connect({ host: url.hostname || '127.0.0.1', port: Number(url.port || 6379) });
  socket.setEncoding('utf8');
  const lines = [];
  let buffer = '';
  let _ok = 0;
  let onOk = null;
  socket.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\r\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 2);
      if (line.startsWith('+OK') || line.startsWith('-')) {
        _ok++;
        onOk?.(line);
      } else if (lines.length < 2_000_000) lines.push(line);
    }
  });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
    setTimeout(() => reject(new Error('MONITOR connect timeout')), 2000).unref();
  });
  const commands = [];
  const password = decodeURIComponent(url.password ?? '');
  const user = decodeURIComponent(url.username ?? '');
  if (password) commands.push(user ? ['AUTH', user, password] : ['AUTH', password]);
  commands.push(['MONITOR']);
  for (const args of commands) {
    await new Promise((resolve, reject) => {
      onOk = (line) => (line.startsWith('-') ? reject(new Error(line)) : resolve());
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
      setTimeout(() => reject(new Error(`${args[0]} timeout`)), 2000).unref();
    });
  }
  return {
    /**
     * Stops monitoring and counts what touched `prefix`; `ownPorts` (local ports of the server
     * process's connections to Redis, see `redisClientPorts`) are counted apart as `own`: every
     * command the process sent on any connection, keys or not (the cache's channel and its probes
     * included).
     */
    async stop(prefix, ownPorts = new Set()) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      socket.destroy();
      const clients = new Set();
      const parsed = [];
      for (const line of lines) {
        const m = LINE.exec(line);
        if (m === null) continue;
        parsed.push(m);
        if (m[1] !== 'lua' && m[2].includes(prefix)) clients.add(m[1]);
      }
      let topLevel = 0;
      let inScripts = 0;
      let own = 0;
      const byCommand = {};
      const ownByCommand = {};
      for (const [, source, args] of parsed) {
        const name = (/^"([^"]*)"/.exec(args)?.[1] ?? '?').toLowerCase();
        if (source !== 'lua' && ownPorts.has(source.slice(source.lastIndexOf(':') + 1))) {
          own++;
          ownByCommand[name] = (ownByCommand[name] ?? 0) + 1;
        }
        if (source === 'lua') {
          if (!args.includes(prefix)) continue;
          inScripts++;
          byCommand[`lua:${name}`] = (byCommand[`lua:${name}`] ?? 0) + 1;
        } else if (clients.has(source)) {
          topLevel++;
          byCommand[name] = (byCommand[name] ?? 0) + 1;
        }
      }
      return { topLevel, inScripts, byCommand, own, ownByCommand };
    },
  };
}

/**
 * The local ports of process `pid`'s TCP connections to port `redisPort` (Linux: its socket
 * inodes from `/proc/<pid>/fd`, their addresses from `/proc/<pid>/net/tcp` and `tcp6`), as
 * strings; an empty set elsewhere. MONITOR names a client by its address, so these tell the
 * commands of one server process from those of every other client of the same Redis.
 */
export function redisClientPorts(pid, redisPort) {
  const ports = new Set();
  try {
    const inodes = new Set();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        // closed meanwhile
      }
    }
    for (const table of ['tcp', 'tcp6']) {
      let text = '';
      try {
        text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || !inodes.has(f[9])) continue;
        const local = Number.parseInt(f[1].split(':')[1], 16);
        const remote = Number.parseInt(f[2].split(':')[1], 16);
        if (remote === redisPort) ports.add(String(local));
      }
    }
  } catch {
    // not Linux, or the process is gone
  }
  return ports;
}

/** Calls per command from `INFO commandstats`. */
export async function commandStats(client) {
  const text = await client.info('commandstats');
  const calls = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2]);
  return calls;
}

/** Commands between two `commandStats` snapshots, without the bench's own INFO calls. */
export function commandsBetween(before, after) {
  let total = 0;
  const byCommand = {};
  for (const [name, calls] of Object.entries(after)) {
    if (name === 'info' || name.startsWith('client') || name === 'hello' || name === 'ping') continue;
    const diff = calls - (before[name] ?? 0);
    if (diff > 0) {
      total += diff;
      byCommand[name] = diff;
    }
  }
  return { total, byCommand };
}
